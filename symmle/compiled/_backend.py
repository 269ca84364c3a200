"""The evaluation backends of `symmle.compiled.CompiledModel` and how one is chosen."""

from __future__ import annotations

import importlib.util
import os

from ..errors import SymmleValueError, require

__all__ = ["BACKENDS", "default_backend", "resolve_backend"]

#: the evaluation backends: ``"numpy"`` (the default) and ``"numba"`` (the ``fast`` extra:
#: vectorised activation kernels and fused programs, `symmle.compiled._numba_fused`).
BACKENDS = ("numpy", "numba")


def default_backend() -> str:
    """The backend of ``model.compile()`` without one: ``SYMMLE_BACKEND`` if set, else numpy.

    ``SYMMLE_BACKEND=auto`` picks numba when it is installed.

    Examples
    --------
    >>> from symmle.compiled import default_backend
    >>> default_backend() in ("numpy", "numba")
    True
    """
    return resolve_backend(os.environ.get("SYMMLE_BACKEND", "").strip() or "numpy",
                           "SYMMLE_BACKEND")


def resolve_backend(backend=None, name="backend") -> str:
    """Check a backend name (``None``: `default_backend`); ``"auto"`` is numba if installed.

    Raises `symmle.errors.MissingDependencyError` for numba when it is not installed.

    Examples
    --------
    >>> from symmle.compiled import resolve_backend
    >>> resolve_backend("numpy")
    'numpy'
    >>> resolve_backend("jax")
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: backend must be one of ('numpy', 'numba', 'auto'), got 'jax'
    """
    if backend is None:
        return default_backend()
    if not isinstance(backend, str) or backend not in BACKENDS + ("auto",):
        raise SymmleValueError(f"{name} must be one of {BACKENDS + ('auto',)}, got {backend!r}")
    if backend == "auto":
        return "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    if backend == "numba":
        require("numba", "fast")
    return backend
