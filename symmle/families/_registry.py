"""Families by name (the CLI) and from their JSON form."""

from __future__ import annotations

from dataclasses import fields

from .._checks import _short
from ..errors import PersistenceError, SymmleTypeError, SymmleValueError
from ._base import Family
from ._discrete import Bernoulli, Categorical, Poisson
from ._gaussian import Gaussian

__all__ = ["family_from_name", "family_from_dict"]

_FAMILIES = {"gaussian": Gaussian, "bernoulli": Bernoulli, "poisson": Poisson,
             "categorical": Categorical}


def family_from_name(name: str, **options) -> Family:
    """Build a family from its lower-case name (``"gaussian"``, ``"bernoulli"``, ...).

    Examples
    --------
    >>> sm.family_from_name("gaussian", sigma=1.0)
    Gaussian(sigma=1.0)
    """
    if isinstance(name, Family):
        if options:
            raise SymmleTypeError(f"family_from_name: options {sorted(options)} cannot be "
                                  f"applied to the family {name!r} passed as name")
        return name
    if not isinstance(name, str):
        raise SymmleTypeError(f"family_from_name: name must be a family name (one of "
                              f"{', '.join(_FAMILIES)}) or a Family, got {type(name).__name__}")
    if name.lower() not in _FAMILIES:
        raise SymmleValueError(f"family_from_name: unknown family {name[:60]!r}; known: "
                               f"{', '.join(_FAMILIES)}")
    cls = _FAMILIES[name.lower()]
    takes = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise SymmleTypeError(
            f"family_from_name: the {cls.name} family takes "
            f"{'the options ' + ', '.join(takes) if takes else 'no options'}, got "
            f"{', '.join(repr(u) for u in unknown)}")
    return cls(**options) if options else cls()


def family_from_dict(data) -> Family:
    """Rebuild a family written by `Family.to_dict`."""
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) \
            or data["name"] not in _FAMILIES:
        raise PersistenceError(f"family: expected {{'name': one of {list(_FAMILIES)}}}, "
                               f"got {_short(data)}")
    if data["name"] == "gaussian":
        sigma = data.get("sigma")
        if sigma is not None and (isinstance(sigma, bool) or not isinstance(sigma, (int, float))):
            raise PersistenceError("family: sigma must be a number or null")
        return Gaussian(sigma=sigma)
    if data["name"] == "categorical" and data.get("reference", False) is not False:
        if data["reference"] is not True:
            raise PersistenceError("family: reference must be true or false")
        return Categorical(reference=True)
    return _FAMILIES[data["name"]]()
