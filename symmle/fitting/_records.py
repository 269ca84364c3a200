"""The records a fit is made of: `FitStart` (one start of a multi-start fit) and
`CovarianceMatrix` (``FitResult.cov``: an array that can be called for another kind)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import _short, as_real_array, check_bool, check_int, check_real
from ..errors import SymmleTypeError, SymmleValueError
from ..model import Model
from ._names import check_names
from ._persist import json_float

__all__ = ["FitStart", "CovarianceMatrix", "frozen_array", "frozen_flags", "frozen_ints",
           "real_or_nan", "str_tuple"]


def frozen_array(a, shape=None, *, name: str = "array") -> np.ndarray:
    """A read-only float64 copy of ``a`` (of ``shape`` when given), refusing non-numbers."""
    arr = np.array(as_real_array(a, name=name, expected="an array of real numbers"),
                   dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise SymmleValueError(f"{name} must have shape {shape}, got {arr.shape}")
    arr.flags.writeable = False
    return arr


def frozen_ints(a, name: str, *, minimum: int | None = None) -> np.ndarray:
    """A read-only int64 copy of the integer array ``a`` (bools, floats and strings refused)."""
    if isinstance(a, (str, bytes, dict, set)):
        raise SymmleTypeError(f"{name} must be an array of integers, got {type(a).__name__}")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError, OverflowError):
        raise SymmleValueError(f"{name} must be an array of integers (could not read it as an "
                               f"array)") from None
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise SymmleTypeError(f"{name} must be an array of integers, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.int64)
    if minimum is not None and np.any(arr < minimum):
        raise SymmleValueError(f"{name} must hold integers >= {minimum}, got {arr.min()}")
    arr.flags.writeable = False
    return arr


def frozen_flags(a, shape, name: str) -> np.ndarray:
    """A read-only bool copy of ``a`` (of ``shape``), refusing anything but booleans."""
    arr = np.asarray(a) if not isinstance(a, (str, bytes, dict, set)) else None
    if arr is None or arr.dtype.kind != "b":
        raise SymmleTypeError(f"{name} must be an array of booleans, got "
                              f"{type(a).__name__ if arr is None else arr.dtype}")
    if arr.shape != shape:
        raise SymmleValueError(f"{name} must have shape {shape}, got {arr.shape}")
    arr = np.array(arr, dtype=bool)
    arr.flags.writeable = False
    return arr


def str_tuple(values, name: str) -> tuple:
    """``values`` (a sequence of str) as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not all(
            isinstance(v, str) for v in values):
        raise SymmleTypeError(f"{name} must be a tuple of str, got {_short(values)}")
    return tuple(values)


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


def check_result_fields(res, methods, cov_types) -> None:
    """Check and normalise every field of a `FitResult` ``res`` in place (frozen arrays of the
    model's shapes, ints, reals and bools checked, names and diagnostics as tuples of str)."""
    if not isinstance(res.model, Model):
        raise SymmleTypeError(f"model must be a Model, got {type(res.model).__name__}")
    P = res.model.n_params

    def put(name, value):
        object.__setattr__(res, name, value)

    put("params", frozen_array(res.params, (P,), name="params"))
    for name in ("information", "observed_information_", "information_root_", "score_outer_"):
        if name == "information" or getattr(res, name) is not None:
            put(name, frozen_array(getattr(res, name), (P, P), name=name))
    put("loglik", real_or_nan(res.loglik, "loglik"))
    put("converged", check_bool(res.converged, "converged"))
    put("n_iter", check_int(res.n_iter, "n_iter", 0))
    put("n_obs", check_int(res.n_obs, "n_obs", 1))
    put("starts", tuple(res.starts))
    if res.method not in methods:
        raise SymmleValueError(f"method must be one of {methods}, got {res.method!r}")
    if res.info_rtol is not None:
        put("info_rtol", check_real(res.info_rtol, "info_rtol", minimum=0.0, maximum=1.0,
                                    strict_minimum=True, strict_maximum=True))
    put("penalty", check_real(res.penalty, "penalty", minimum=0.0))
    if res.cov_type not in cov_types:
        raise SymmleValueError(f"cov_type must be one of {cov_types}, got {res.cov_type!r}")
    put("input_names", check_names(res.input_names, res.model.architecture.n_inputs,
                                   "input_names"))
    if res.output_names is not None:
        put("output_names", tuple(str(n) for n in res.output_names))
    put("diagnostics", tuple(str(d) for d in res.diagnostics))
    if res.tol is not None:
        put("tol", check_real(res.tol, "tol", minimum=0.0))
    if res.max_iter is not None:
        put("max_iter", check_int(res.max_iter, "max_iter", 1))
    put("refined", check_int(res.refined, "refined", 0, maximum=len(res.starts)))
