"""Transitional alias of :mod:`symmle._checks` (removed once every module imports it)."""

from ._checks import as_real_array, check_int  # noqa: F401
