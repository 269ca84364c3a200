"""A `FitResult` as a JSON document and back: what is saved (everything but the data X, y, with
the observed information, the information's root and the per-row score products when they can
be computed, so that a loaded result gives every kind of covariance), and the strict validation
of a document read back (anything malformed raises `symmle.errors.PersistenceError`).

The functions take the record classes as arguments, so that this module does not import
`symmle.fitting._result` (which imports this one).
"""

from __future__ import annotations

import math

import numpy as np

from ..architecture import Architecture
from ..errors import PersistenceError, SymmleTypeError, SymmleValueError
from ..families import family_from_dict
from ..model import Model

__all__ = ["SCHEMA", "SCHEMA_VERSION", "result_to_doc", "result_from_doc", "json_float"]

SCHEMA = "symmle.FitResult"
SCHEMA_VERSION = 1


def json_float(v):
    """A float for JSON: None for a non-finite one."""
    v = float(v)
    return v if math.isfinite(v) else None


def _tolist(a):
    return None if a is None else np.asarray(a).tolist()


def result_to_doc(res) -> dict:
    """The JSON document of ``res`` (data excluded)."""
    has_data = res.X is not None and res.y is not None
    obs = res.observed_information if (res.observed_information_ is not None or has_data) \
        else None
    outer = res.score_outer if (res.score_outer_ is not None or has_data) else None
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "architecture": res.model.architecture.to_dict(),
        "family": res.model.family.to_dict(),
        "param_names": list(res.model.param_names),
        "params": res.params.tolist(),
        "loglik": json_float(res.loglik),
        "converged": res.converged,
        "n_iter": res.n_iter,
        "n_obs": res.n_obs,
        "method": res.method,
        "message": res.message,
        "info_rtol": res.info_rtol,
        "information": res.information.tolist(),
        "observed_information": _tolist(obs),
        "information_root": _tolist(res.information_root),
        "score_outer": _tolist(outer),
        "penalty": res.penalty,
        "cov_type": res.cov_type,
        "input_names": None if res.input_names is None else list(res.input_names),
        "output_names": None if res.output_names is None else list(res.output_names),
        "diagnostics": list(res.diagnostics),
        "tol": res.tol,
        "max_iter": res.max_iter,
        "refined": res.refined,
        "starts": [s.to_dict() for s in res.starts],
    }


def _get(doc, key, types, what):
    if key not in doc:
        raise PersistenceError(f"FitResult JSON: missing field {key!r}")
    v = doc[key]
    if not isinstance(v, types) or (isinstance(v, bool) and types is not bool):
        raise PersistenceError(f"FitResult JSON: field {key!r} must be {what}, got {v!r}")
    return v


def _matrix(v, shape, key):
    try:
        arr = np.array(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise PersistenceError(f"FitResult JSON: field {key!r} must be numbers") from None
    if arr.shape != shape:
        raise PersistenceError(f"FitResult JSON: field {key!r} must have shape {shape}, "
                               f"got {arr.shape}")
    return arr


def _strings(doc, key):
    """An optional list of strings (None when absent or null)."""
    v = doc.get(key)
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise PersistenceError(f"FitResult JSON: field {key!r} must be a list of strings")
    return tuple(v)


def result_from_doc(doc, result_cls, start_cls):
    """Validate a document and build the result (``result_cls``) and its starts
    (``start_cls``)."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise PersistenceError(f"not a FitResult document (expected \"schema\": {SCHEMA!r})")
    version = doc.get("version")
    if version != SCHEMA_VERSION:
        raise PersistenceError(f"FitResult JSON version {version!r} is not supported "
                               f"(this symmle reads version {SCHEMA_VERSION})")
    arch = Architecture.from_dict(_get(doc, "architecture", dict, "an object"))
    family = family_from_dict(_get(doc, "family", dict, "an object"))
    try:
        model = Model(arch, family)
    except (SymmleTypeError, SymmleValueError) as exc:
        raise PersistenceError(f"FitResult JSON: inconsistent model: {exc}") from None
    P = model.n_params
    names = _get(doc, "param_names", list, "a list of names")
    if tuple(names) != model.param_names:
        raise PersistenceError("FitResult JSON: param_names do not match the architecture")

    def number(key, allow_null=False):
        v = doc.get(key, "missing")
        if v is None and allow_null:
            return -math.inf
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise PersistenceError(f"FitResult JSON: field {key!r} must be a number, got {v!r}")
        return float(v)

    starts = []
    for i, s in enumerate(_get(doc, "starts", list, "a list")):
        if not isinstance(s, dict):
            raise PersistenceError(f"FitResult JSON: starts[{i}] must be an object")
        try:
            ll = s["loglik"]
            if ll is not None and (isinstance(ll, bool) or not isinstance(ll, (int, float))):
                raise TypeError
            if not isinstance(s["converged"], bool) or not isinstance(s["n_iter"], int) \
                    or not isinstance(s.get("message", ""), str):
                raise TypeError
            obj = s.get("objective")
            if obj is not None and (isinstance(obj, bool) or not isinstance(obj, (int, float))):
                raise TypeError
            starts.append(start_cls(_matrix(s["start"], (P,), f"starts[{i}].start"),
                                    _matrix(s["params"], (P,), f"starts[{i}].params"),
                                    -math.inf if ll is None else float(ll), s["converged"],
                                    s["n_iter"], s.get("message", ""),
                                    None if obj is None else float(obj)))
        except (KeyError, TypeError):
            raise PersistenceError(f"FitResult JSON: starts[{i}] needs start, params, loglik, "
                                   f"converged (bool), n_iter (int)") from None

    def optional_matrix(key):
        v = doc.get(key)
        return None if v is None else _matrix(v, (P, P), key)

    rtol = doc.get("info_rtol")
    diagnostics = _strings(doc, "diagnostics") or ()
    try:
        return result_cls(
            model=model,
            params=_matrix(_get(doc, "params", list, "a list"), (P,), "params"),
            loglik=number("loglik", allow_null=True),
            converged=_get(doc, "converged", bool, "true or false"),
            n_iter=_get(doc, "n_iter", int, "an integer"),
            n_obs=_get(doc, "n_obs", int, "an integer"),
            method=_get(doc, "method", str, "a string"),
            message=_get(doc, "message", str, "a string"),
            information=_matrix(_get(doc, "information", list, "a list"), (P, P), "information"),
            starts=tuple(starts),
            info_rtol=None if rtol is None else number("info_rtol"),
            observed_information_=optional_matrix("observed_information"),
            information_root_=optional_matrix("information_root"),
            score_outer_=optional_matrix("score_outer"),
            penalty=number("penalty") if "penalty" in doc else 0.0,
            cov_type=doc.get("cov_type", "expected"),
            input_names=_strings(doc, "input_names"),
            output_names=_strings(doc, "output_names"),
            diagnostics=diagnostics,
            tol=None if doc.get("tol") is None else number("tol"),
            max_iter=doc.get("max_iter"),
            refined=doc.get("refined", 0),
        )
    except (SymmleValueError, SymmleTypeError) as exc:
        if isinstance(exc, PersistenceError):
            raise
        raise PersistenceError(f"FitResult JSON: {exc}") from None
