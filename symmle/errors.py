"""The exception and warning tree of symmle.

Every error that symmle raises on purpose is a `SymmleError`. The
subclasses are also the builtin exception a Python user would expect
(``ValueError`` for a bad value, ``TypeError`` for a bad type), so
``except ValueError`` keeps working.
"""

from __future__ import annotations

import importlib

__all__ = [
    "SymmleError",
    "SymmleValueError",
    "SymmleTypeError",
    "ArchitectureError",
    "UnknownActivationError",
    "DataError",
    "ParamsError",
    "ConvergenceError",
    "PersistenceError",
    "MissingDependencyError",
    "SymmleResourceError",
    "SymmleWarning",
    "NonIdentifiableWarning",
    "ConvergenceWarning",
]


class SymmleError(Exception):
    """Base class of every error symmle raises on purpose."""


class SymmleValueError(SymmleError, ValueError):
    """An argument has the right type but a wrong value."""


class SymmleTypeError(SymmleError, TypeError):
    """An argument has the wrong type."""


class ArchitectureError(SymmleValueError):
    """A network graph or width list that symmle cannot use."""


class UnknownActivationError(SymmleValueError):
    """An activation name that is not in the registry."""


class DataError(SymmleValueError):
    """Data (``X``, ``y``) of the wrong shape, with non-finite values or out of support."""


class ParamsError(SymmleValueError):
    """A parameter vector of the wrong length or with non-finite values."""


class ConvergenceError(SymmleError, RuntimeError):
    """An optimisation that could not produce any usable result."""


class PersistenceError(SymmleValueError):
    """A JSON document that is malformed or not one symmle wrote."""


class MissingDependencyError(SymmleError, ImportError):
    """An optional dependency (an extra) is not installed."""


class SymmleResourceError(SymmleError, MemoryError):
    """A computation that would need more memory than the machine has available now
    (raised before the allocation, saying how much and what to do instead)."""


class SymmleWarning(UserWarning):
    """Base class of every warning symmle issues."""


class NonIdentifiableWarning(SymmleWarning):
    """The information matrix is singular: some directions of θ are not identified."""


class ConvergenceWarning(SymmleWarning):
    """An optimisation stopped before its convergence criterion was met."""


def require(module: str, extra: str):
    """Import an optional dependency or raise `MissingDependencyError`.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"matplotlib.pyplot"``.
    extra : str
        The symmle extra that installs it, named in the message.
    """


    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module!r} is needed for this feature but is not installed; "
            f"install it with: pip install 'symmle[{extra}]'"
        ) from exc
