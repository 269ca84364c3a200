"""The evaluation backends of `symmle.compiled.CompiledModel` and how one is chosen."""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import time

import numpy as np

from .._checks import check_choice
from ..errors import require

__all__ = ["BACKENDS", "default_backend", "resolve_backend"]

#: the evaluation backends: ``"numpy"`` and ``"numba"`` (the ``fast`` extra:
#: vectorised activation kernels and fused programs, `symmle.compiled._numba_fused`).
BACKENDS = ("numpy", "numba")


#: float64 ``np.tanh`` slower than this many ns a value (best of a few runs) is NumPy's
#: scalar libm loop (13 ns on AVX2 CPUs), which makes the numpy backend's log-likelihood
#: 3–5× JAX; NumPy's SIMD loop (AVX-512: 0.8 ns, 3 ns on a loaded 2-core VM) is at parity
#: (docs/performance.md).
SCALAR_TANH_NS = 6.0


@functools.cache
def measured_backend() -> str:
    """The default backend of this machine, measured once per process: numba where it is
    installed and NumPy's float64 ``tanh`` is the scalar loop (over `SCALAR_TANH_NS` a
    value, best of 7 runs over 2¹⁴ values: about a millisecond), else numpy.

    Examples
    --------
    >>> from symmle.compiled._backend import measured_backend
    >>> measured_backend() in ("numpy", "numba")
    True
    """
    if importlib.util.find_spec("numba") is None:
        return "numpy"
    return "numba" if tanh_ns() > SCALAR_TANH_NS else "numpy"


def tanh_ns(values: int = 2 ** 14, runs: int = 7) -> float:
    """Nanoseconds a value of NumPy's float64 ``tanh`` (the best of ``runs``)."""
    x = np.linspace(-3.0, 3.0, values)
    out = np.empty_like(x)
    best = math.inf
    for _ in range(runs):
        t0 = time.perf_counter()
        np.tanh(x, out=out)
        best = min(best, time.perf_counter() - t0)
    return best / values * 1e9


def default_backend() -> str:
    """The backend of ``model.compile()`` without one: ``SYMMLE_BACKEND`` if set (``auto``:
    numba when it is installed), else `measured_backend` (numpy on CPUs whose NumPy has a
    SIMD float64 tanh, numba where it is installed and NumPy's tanh is a scalar loop).

    Examples
    --------
    >>> from symmle.compiled import default_backend
    >>> default_backend() in ("numpy", "numba")
    True
    """
    env = os.environ.get("SYMMLE_BACKEND", "").strip()
    if not env:
        return measured_backend()
    return resolve_backend(env, "SYMMLE_BACKEND")


def resolve_backend(backend=None, name="backend") -> str:
    """Check a backend name (``None``: `default_backend`); ``"auto"`` is numba if installed.

    Raises `symmle.errors.SymmleTypeError` for a backend that is not a string,
    `symmle.errors.SymmleValueError` for an unknown name and
    `symmle.errors.MissingDependencyError` for numba when it is not installed.

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
    backend = check_choice(backend, name, BACKENDS + ("auto",))
    if backend == "auto":
        return "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    if backend == "numba":
        require("numba", "fast")
    return backend
