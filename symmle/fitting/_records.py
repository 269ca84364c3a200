"""The records a fit is made of: `FitStart` (one start of a multi-start fit) and
`CovarianceMatrix` (``FitResult.cov``: an array that can be called for another kind)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import _short, as_real_array, check_bool, check_int
from ..errors import SymmleTypeError, SymmleValueError
from ._persist import json_float

__all__ = ["FitStart", "CovarianceMatrix", "frozen_array", "real_or_nan"]


def frozen_array(a, shape=None, *, name: str = "array") -> np.ndarray:
    """A read-only float64 copy of ``a`` (of ``shape`` when given), refusing non-numbers."""
    arr = np.array(as_real_array(a, name=name, expected="an array of real numbers"),
                   dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise SymmleValueError(f"{name} must have shape {shape}, got {arr.shape}")
    arr.flags.writeable = False
    return arr


def real_or_nan(value, name: str) -> float:
    """``value`` as a float (NaN and ±inf allowed: a failed start's log-likelihood)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise SymmleTypeError(f"{name} must be a real number, got {type(value).__name__} "
                              f"{_short(value)}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        raise SymmleValueError(f"{name} must be a real number of float64 range, got an "
                               f"integer beyond it") from None


@dataclass(frozen=True)
class FitStart:
    """The outcome of one start of a multi-start fit.

    Attributes
    ----------
    start : ndarray, shape (P,)
        The starting θ.
    params : ndarray, shape (P,)
        Where the optimiser stopped.
    loglik : float
        The log-likelihood there (``-inf`` when the start failed).
    converged : bool
    n_iter : int
    message : str
        The optimiser's status message.
    objective : float
        The penalised log-likelihood ``ℓ − (penalty/2)·Σw²`` there, which the starts are
        ranked by (the log-likelihood itself without a penalty; defaults to ``loglik``).
    """

    start: np.ndarray
    params: np.ndarray
    loglik: float
    converged: bool
    n_iter: int
    message: str = ""
    objective: float | None = None

    def __post_init__(self):
        start = frozen_array(self.start, name="FitStart: start")
        if start.ndim != 1:
            raise SymmleValueError(f"FitStart: start must be a vector θ of shape (P,), got shape "
                                   f"{start.shape}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "params", frozen_array(self.params, start.shape,
                                                        name="FitStart: params"))
        object.__setattr__(self, "loglik", real_or_nan(self.loglik, "FitStart: loglik"))
        object.__setattr__(self, "converged", check_bool(self.converged, "FitStart: converged"))
        object.__setattr__(self, "n_iter", check_int(self.n_iter, "FitStart: n_iter", 0))
        if not isinstance(self.message, str):
            raise SymmleTypeError(f"FitStart: message must be a str, got "
                                  f"{type(self.message).__name__}")
        object.__setattr__(self, "objective", self.loglik if self.objective is None
                           else real_or_nan(self.objective, "FitStart: objective"))

    def to_dict(self) -> dict:
        doc = {"start": self.start.tolist(), "params": self.params.tolist(),
               "loglik": json_float(self.loglik), "converged": self.converged,
               "n_iter": self.n_iter, "message": self.message}
        if self.objective != self.loglik:
            doc["objective"] = json_float(self.objective)
        return doc


class CovarianceMatrix(np.ndarray):
    """The covariance at θ̂ of the fit's ``cov_type``, callable for another kind.

    ``res.cov`` is this (P × P) array; ``res.cov(kind="observed")`` returns the
    inverse observed information instead, ``res.cov(kind="robust")`` the sandwich
    (``res.cov()`` the expected one, as a plain array). Arithmetic on it gives
    plain numpy arrays.
    """

    def __new__(cls, values, result):
        obj = np.asarray(values, dtype=np.float64).view(cls)
        obj._result = result
        return obj

    def __array_finalize__(self, obj):
        self._result = getattr(obj, "_result", None)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        arr = np.asarray(arr).view(np.ndarray)
        return arr[()] if return_scalar else arr

    def __call__(self, kind: str = "expected") -> np.ndarray:
        if self._result is None:
            raise SymmleTypeError("this covariance matrix is detached from its FitResult")
        return self._result.covariance(kind)
