"""Families by name (the CLI) and from their JSON form."""

from __future__ import annotations

from ..errors import PersistenceError, SymmleValueError
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
        return name
    if not isinstance(name, str) or name.lower() not in _FAMILIES:
        raise SymmleValueError(f"unknown family {name!r}; known: {', '.join(_FAMILIES)}")
    cls = _FAMILIES[name.lower()]
    return cls(**options) if options else cls()


def family_from_dict(data) -> Family:
    """Rebuild a family written by `Family.to_dict`."""
    if not isinstance(data, dict) or data.get("name") not in _FAMILIES:
        raise PersistenceError(f"family: expected {{'name': one of {list(_FAMILIES)}}}, got {data!r}")
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
