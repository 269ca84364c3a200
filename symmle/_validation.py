"""Shared argument checks: numeric arrays of a known shape, finite, float64."""

from __future__ import annotations

import numpy as np

from .errors import SymmleTypeError, SymmleValueError

__all__ = ["as_real_array", "check_int"]


def as_real_array(x, *, name: str, expected: str, error=SymmleValueError) -> np.ndarray:
    """Return ``x`` as a float64 array, refusing strings, complex numbers and objects.

    Parameters
    ----------
    x : array_like
    name : str
        The argument's name, used in the message.
    expected : str
        What was expected, e.g. ``"an array of shape (n, 2)"``.
    error : type
        The ``SymmleError`` subclass raised for a non-numeric value.
    """
    if isinstance(x, (str, bytes, dict, set)):
        raise SymmleTypeError(f"{name} must be {expected}, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):  # ragged nested lists
        raise error(f"{name} must be {expected} (could not read it as an array)") from None
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise error(f"{name} must be {expected}: it holds non-numeric values") from None
    if arr.dtype.kind not in "biuf":
        raise error(f"{name} must be {expected}: got values of dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        return arr.astype(np.float64, copy=False)


def check_int(value, name: str, minimum: int) -> int:
    """Return ``value`` as an int, or raise :class:`SymmleValueError` unless it is an integer
    (not a bool) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SymmleValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
