"""Maximum-likelihood fitting with exact derivatives: `fit` and `FitResult`.

Every derivative comes from the compiled model (`Model.compile`); there
are no finite differences anywhere.

* Gaussian family: the maximum-likelihood estimate of the network parameters
  is the least-squares fit of the residuals ``y - f(x; θ)``, solved by
  `scipy.optimize.least_squares` (Levenberg–Marquardt ``"lm"`` or the
  trust-region reflective ``"trf"``) with the exact Jacobian ``∂f/∂θ``. When σ
  is unknown it is profiled out exactly: ``σ̂² = RSS / (n K)``, which is the
  joint maximum because, for any network parameters, the log-likelihood is
  maximised over σ at that value.
* Other families (and Gaussian on request): trust-region Newton on the
  log-likelihood with the exact score and observed Hessian
  (``"trust-exact"`` from `scipy.optimize.minimize`), or, the default for
  every family, damped Fisher scoring (``"scoring"``: Levenberg–Marquardt steps
  with the expected information; for a Gaussian family this is exactly
  Levenberg–Marquardt on the residuals). The safeguard is the same in both: a
  step is taken only when it increases the log-likelihood.

Standard errors come from the inverse of the expected information at θ̂
(``kind="observed"`` for minus the inverse Hessian). A singular information
matrix is a finding, not a crash: its null space is the set of eigenvectors
whose eigenvalue is at most ``INFO_RTOL`` times the largest one; parameters
with a component larger than ``NULL_COMPONENT_TOL`` along that null space get
NaN standard errors, the others are still reported (their variance
``eᵢᵀ I⁺ eᵢ`` is the same for every generalised inverse ``I⁺``), and a
`symmle.errors.NonIdentifiableWarning` is issued.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.optimize as opt
import scipy.stats as st

from .architecture import Architecture
from ._validation import check_int
from .errors import (
    ConvergenceError,
    ConvergenceWarning,
    NonIdentifiableWarning,
    PersistenceError,
    SymmleTypeError,
    SymmleValueError,
)
from .families import Bernoulli, Categorical, Gaussian, family_from_dict
from .model import Model, as_rng

__all__ = ["fit", "FitResult", "FitStart", "CovarianceMatrix", "METHODS", "INFO_RTOL",
           "NULL_COMPONENT_TOL"]

#: the optimisation methods `fit` accepts.
METHODS = ("scoring", "lm", "trf", "trust-exact")
_LSQ_METHODS = ("lm", "trf")

#: an eigenvalue of the information at most ``INFO_RTOL × largest`` spans the null space.
INFO_RTOL = 1e-10
#: a parameter whose unit vector has a component above this along the null space is unidentified.
NULL_COMPONENT_TOL = 1e-6
#: a Bernoulli/Categorical fitted probability this close to 0 or 1 counts as degenerate.
_SEPARATION_EPS = 1e-10

#: initial Levenberg–Marquardt damping of "scoring", relative to the (Moré-scaled) diag of the
#: information: short, gradient-like first steps keep starts out of saturated-unit basins (measured
#: on 2-3-1 tanh fits: far more starts reach the global maximum than with 1e-3 or 1, and faster).
_MU0 = 100.0
#: the same for a GLM (no hidden unit, identity output: concave log-likelihood): Newton-like steps.
_MU0_CONCAVE = 1e-3
_SCHEMA = "symmle.FitResult"
_SCHEMA_VERSION = 1


# ---------------------------------------------------------------------------- records
def _frozen_array(a, shape=None) -> np.ndarray:
    arr = np.array(a, dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise SymmleValueError(f"expected an array of shape {shape}, got {arr.shape}")
    arr.flags.writeable = False
    return arr


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
    """

    start: np.ndarray
    params: np.ndarray
    loglik: float
    converged: bool
    n_iter: int
    message: str = ""

    def __post_init__(self):
        object.__setattr__(self, "start", _frozen_array(self.start))
        object.__setattr__(self, "params", _frozen_array(self.params, self.start.shape))
        object.__setattr__(self, "loglik", float(self.loglik))
        object.__setattr__(self, "converged", bool(self.converged))
        object.__setattr__(self, "n_iter", int(self.n_iter))

    def to_dict(self) -> dict:
        return {"start": self.start.tolist(), "params": self.params.tolist(),
                "loglik": _json_float(self.loglik), "converged": self.converged,
                "n_iter": self.n_iter, "message": self.message}


class CovarianceMatrix(np.ndarray):
    """The covariance at θ̂ from the expected information, callable for the other kind.

    ``res.cov`` is this (P × P) array; ``res.cov(kind="observed")`` returns the
    inverse observed information instead (``res.cov()`` the expected one again,
    as a plain array). Arithmetic on it gives plain numpy arrays.
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


@dataclass(frozen=True, eq=False)
class FitResult:
    """The result of `fit`: the maximum-likelihood estimate and its uncertainty.

    Attributes
    ----------
    model : Model
    params : ndarray, shape (P,)
        θ̂ in the model's parameter order (``model.param_names``).
    loglik : float
        The maximised log-likelihood ℓ(θ̂), summed over rows.
    converged : bool
        Whether the best start met its convergence criterion (and the MLE
        exists: see ``message``).
    n_iter : int
        Iterations of the best start.
    n_obs : int
        Number of rows.
    method : str
        The optimisation method used (one of `METHODS`).
    message : str
        A status message: the optimiser's, or why the fit is not trustworthy.
    information : ndarray, shape (P, P)
        The expected (Fisher) information at θ̂, summed over rows.
    starts : tuple of FitStart
        Every start's outcome, in the order they were run.
    X, y : ndarray or None
        The data (kept so that profile likelihoods can re-optimise; not saved
        by `to_json`).
    info_rtol : float
        Relative eigenvalue tolerance that defines the information's null space.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(sigma=1.0))
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array([1.0, 3.0, 5.0, 7.5])
    >>> res = sm.fit(model, X, y, rng=0)
    >>> res.params.round(3)
    array([2.15, 0.9 ])
    >>> res.stderr.round(4)            # sqrt(diag((XᵀX)⁻¹)) with σ = 1
    array([0.4472, 0.8367])
    >>> res.conf_int(0.05).shape
    (2, 2)
    """

    model: Model
    params: np.ndarray
    loglik: float
    converged: bool
    n_iter: int
    n_obs: int
    method: str
    message: str
    information: np.ndarray
    starts: tuple = ()
    X: np.ndarray | None = field(default=None, repr=False)
    y: np.ndarray | None = field(default=None, repr=False)
    info_rtol: float = INFO_RTOL
    observed_information_: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        if not isinstance(self.model, Model):
            raise SymmleTypeError(f"model must be a Model, got {type(self.model).__name__}")
        P = self.model.n_params
        object.__setattr__(self, "params", _frozen_array(self.params, (P,)))
        object.__setattr__(self, "information", _frozen_array(self.information, (P, P)))
        if self.observed_information_ is not None:
            object.__setattr__(self, "observed_information_",
                               _frozen_array(self.observed_information_, (P, P)))
        object.__setattr__(self, "loglik", float(self.loglik))
        object.__setattr__(self, "converged", bool(self.converged))
        object.__setattr__(self, "n_iter", int(self.n_iter))
        object.__setattr__(self, "n_obs", int(self.n_obs))
        object.__setattr__(self, "starts", tuple(self.starts))
        if self.method not in METHODS:
            raise SymmleValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not (0 < self.info_rtol < 1):
            raise SymmleValueError(f"info_rtol must be in (0, 1), got {self.info_rtol!r}")

    # ------------------------------------------------------------ basics
    @property
    def param_names(self) -> tuple[str, ...]:
        return self.model.param_names

    @property
    def n_params(self) -> int:
        return self.model.n_params

    @property
    def aic(self) -> float:
        """Akaike's criterion ``2P - 2ℓ(θ̂)`` with P = ``n_params`` (all parameters counted)."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def bic(self) -> float:
        """Schwarz's criterion ``P log n - 2ℓ(θ̂)``."""
        return self.n_params * math.log(self.n_obs) - 2.0 * self.loglik

    @property
    def sigma(self) -> float | None:
        """The Gaussian noise σ (``exp(log_sigma)``, or the known one); None for other families."""
        fam = self.model.family
        if not isinstance(fam, Gaussian):
            return None
        if fam.sigma is not None:
            return fam.sigma
        return float(np.exp(self.params[-1]))

    # ------------------------------------------------------ information
    @cached_property
    def _eig(self):
        return _spectrum(self.information, self.info_rtol)

    @property
    def information_rank(self) -> int:
        """Numerical rank of the expected information (eigenvalues above ``info_rtol × max``)."""
        return self.n_params - self._eig[2].shape[1]

    @property
    def null_space(self) -> np.ndarray:
        """An orthonormal basis (P × k) of the information's numerical null space."""
        return self._eig[2].copy()

    @property
    def null_space_dim(self) -> int:
        return self._eig[2].shape[1]

    @property
    def condition_number(self) -> float:
        """Largest over smallest eigenvalue of the expected information (inf when singular)."""
        w = self._eig[0]
        if w[-1] <= 0 or self.null_space_dim:
            return math.inf
        return float(w[-1] / w[0])

    @property
    def identified(self) -> np.ndarray:
        """Mask of the parameters with no component (> ``NULL_COMPONENT_TOL``) in the null space."""
        return _identified_mask(self._eig[2])

    @cached_property
    def observed_information(self) -> np.ndarray:
        """Minus the Hessian of the log-likelihood at θ̂ (needs the data, or a saved value)."""
        if self.observed_information_ is not None:
            return self.observed_information_
        if self.X is None or self.y is None:
            raise SymmleValueError(
                "the observed information needs the data: this FitResult was loaded without "
                "X and y and without a saved observed information")
        H = self.model.compile().hessian(self.params, self.X, self.y)
        return _frozen_array(-0.5 * (H + H.T))

    def covariance(self, kind: str = "expected") -> np.ndarray:
        """Inverse information at θ̂; rows/columns of unidentified parameters are NaN.

        Parameters
        ----------
        kind : {"expected", "observed"}
            Fisher (expected) information, or minus the Hessian (observed).
        """
        if kind == "expected":
            w, V, N = self._eig
        elif kind == "observed":
            w, V, N = _spectrum(self.observed_information, self.info_rtol)
        else:
            raise SymmleValueError(f"kind must be 'expected' or 'observed', got {kind!r}")
        keep = V.shape[1] - N.shape[1]
        Vr, wr = V[:, -keep:] if keep else V[:, :0], w[-keep:] if keep else w[:0]
        C = (Vr / wr) @ Vr.T
        bad = ~_identified_mask(N)
        C[bad, :] = np.nan
        C[:, bad] = np.nan
        return C

    @property
    def cov(self) -> CovarianceMatrix:
        """Covariance from the expected information; call it as ``cov(kind="observed")`` for the
        observed one."""
        return CovarianceMatrix(self.covariance("expected"), self)

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors from the expected information (NaN for unidentified parameters)."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diag(self.covariance("expected")))

    def conf_int(self, alpha: float = 0.05, method: str = "wald", *, kind: str = "expected"):
        """Confidence intervals at level ``1 - alpha``, shape (P, 2).

        Parameters
        ----------
        alpha : float
            In (0, 1).
        method : {"wald", "profile"}
            ``"wald"``: θ̂ ± z₁₋α/₂ · stderr. ``"profile"``: profile-likelihood
            intervals, computed by `symmle.identifiability.profile_conf_int`.
        kind : {"expected", "observed"}
            Which information the Wald standard errors use.
        """
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
                or not (0 < alpha < 1):
            raise SymmleValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        if method == "profile":
            from .identifiability import profile_conf_int

            return profile_conf_int(self, alpha=alpha)
        if method != "wald":
            raise SymmleValueError(f"method must be 'wald' or 'profile', got {method!r}")
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.diag(self.covariance(kind)))
        z = st.norm.ppf(1.0 - alpha / 2.0)
        return np.column_stack([self.params - z * se, self.params + z * se])

    # ------------------------------------------------------------ report
    def summary(self, alpha: float = 0.05) -> str:
        """A text table: name, estimate, std. err., z, p, interval; with a header.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian())
        >>> X, y = model.simulate(np.array([2.0, 1.0, np.log(0.5)]), n=200, rng=0)
        >>> print(sm.fit(model, X, y, rng=0).summary())
        Maximum-likelihood fit: mlp(1, 1) with Gaussian()
        n = 200   log-likelihood = -149.73   AIC = 305.461   BIC = 315.356
        method = scoring   converged = yes (3 iterations)   starts = 1 (1 converged)
        information: rank 3 of 3, condition number 1.92
        sigma = 0.511562
        name         estimate   std. err.         z    P>|z|              95% interval
        ------------------------------------------------------------------------------
        W1_1_1          1.965     0.03763      52.2        0            [1.892, 2.039]
        b1_1           0.9563     0.03618      26.4  5.73e-154           [0.8854, 1.027]
        log_sigma     -0.6703        0.05     -13.4  5.6e-41        [-0.7683, -0.5723]
        """
        title, lines, headers, rows = self._summary_parts(alpha)
        w = max(8, max(len(n) for n in self.param_names))
        head = (f"{headers[0]:<{w}}  {headers[1]:>10}  {headers[2]:>10}  {headers[3]:>8}  "
                f"{headers[4]:>7}  {headers[5]:>24}")
        lines = [title, *lines, head, "-" * len(head)]
        for name, est, se, z, p, ci in rows:
            lines.append(f"{name:<{w}}  {est:>10}  {se:>10}  {z:>8}  {p:>7}  {ci:>24}")
        return "\n".join(lines)

    def _summary_parts(self, alpha: float):
        """Title, header lines, column headers and formatted rows shared by the text and HTML."""
        lo_hi = self.conf_int(alpha)
        se = self.stderr
        with np.errstate(invalid="ignore", divide="ignore"):
            z = self.params / se
        p = 2.0 * st.norm.sf(np.abs(z))
        n_conv = sum(s.converged for s in self.starts)
        model = self.model
        cond = self.condition_number
        title = f"Maximum-likelihood fit: {model.architecture!r} with {model.family!r}"
        lines = [
            f"n = {self.n_obs}   log-likelihood = {self.loglik:.6g}   AIC = {self.aic:.6g}   "
            f"BIC = {self.bic:.6g}",
            f"method = {self.method}   converged = {'yes' if self.converged else 'NO'} "
            f"({self.n_iter} iterations)   starts = {len(self.starts)} ({n_conv} converged)",
            f"information: rank {self.information_rank} of {self.n_params}, condition number "
            + ("inf" if math.isinf(cond) else f"{cond:.3g}"),
        ]
        if self.sigma is not None and model.family.sigma is None:
            lines.append(f"sigma = {self.sigma:.6g}")
        if self.null_space_dim:
            names = [n for n, ok in zip(self.param_names, self.identified) if not ok]
            lines.append(f"WARNING: the information is singular: null-space dimension "
                         f"{self.null_space_dim}; not identified: {', '.join(names)}")
        if not self.converged and self.message:
            lines.append(f"WARNING: {self.message}")
        pct = f"{100 * (1 - alpha):g}%"
        headers = ["name", "estimate", "std. err.", "z", "P>|z|", pct + " interval"]
        rows = [[name, _fmt(self.params[i]), _fmt(se[i]), _fmt(z[i], 3), _fmt(p[i], 3),
                 f"[{_fmt(lo_hi[i, 0])}, {_fmt(lo_hi[i, 1])}]"]
                for i, name in enumerate(self.param_names)]
        return title, lines, headers, rows

    def _repr_html_(self) -> str:
        """The `summary` (at ``alpha = 0.05``) as HTML, for notebooks."""
        from .display import html_report

        title, lines, headers, rows = self._summary_parts(0.05)
        return html_report(title, lines=lines, headers=headers, rows=rows)

    def __repr__(self):
        return (f"FitResult(model={self.model!r}, loglik={self.loglik:.6g}, "
                f"converged={self.converged}, n_obs={self.n_obs}, method={self.method!r})")

    # ------------------------------------------------------- persistence
    def to_json(self, path=None) -> str:
        """The result as JSON text (data ``X``, ``y`` excluded); also written to ``path`` if given.

        The observed information is saved too when it can be computed (the
        data are on the result), so a loaded result still gives both kinds of
        covariance.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        >>> X, y = model.simulate(np.array([1.0, -1.0, 0.5]), n=300, rng=0)
        >>> res = sm.fit(model, X, y, rng=0)
        >>> back = sm.FitResult.from_json(res.to_json())
        >>> bool(np.array_equal(back.params, res.params)), back.loglik == res.loglik
        (True, True)
        """
        obs = None
        if self.observed_information_ is not None or (self.X is not None and self.y is not None):
            obs = self.observed_information.tolist()
        doc = {
            "schema": _SCHEMA,
            "version": _SCHEMA_VERSION,
            "architecture": self.model.architecture.to_dict(),
            "family": self.model.family.to_dict(),
            "param_names": list(self.param_names),
            "params": self.params.tolist(),
            "loglik": _json_float(self.loglik),
            "converged": self.converged,
            "n_iter": self.n_iter,
            "n_obs": self.n_obs,
            "method": self.method,
            "message": self.message,
            "info_rtol": self.info_rtol,
            "information": self.information.tolist(),
            "observed_information": obs,
            "starts": [s.to_dict() for s in self.starts],
        }
        text = json.dumps(doc, allow_nan=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_json(cls, source) -> "FitResult":
        """Load a result written by `to_json`: JSON text, or a path to such a file.

        A ``str`` whose first non-blank character is ``{`` is read as JSON
        text, anything else as a path. The document is validated; anything
        malformed raises `symmle.errors.PersistenceError`.
        """
        if isinstance(source, (str, os.PathLike)) and not (
                isinstance(source, str) and source.lstrip().startswith("{")):
            try:
                with open(source, encoding="utf-8") as fh:
                    source = fh.read()
            except OSError as exc:
                raise PersistenceError(
                    f"cannot read FitResult JSON from {source!r}: {exc}") from None
        if not isinstance(source, str):
            raise SymmleTypeError(
                f"source must be JSON text or a path, got {type(source).__name__}")
        try:
            doc = json.loads(source)
        except json.JSONDecodeError as exc:
            raise PersistenceError(f"not valid JSON: {exc}") from None
        return _result_from_doc(doc)


def _fmt(v, digits=4) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}g}"


def _json_float(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _spectrum(A, rtol):
    """Eigenvalues (ascending), eigenvectors and the null-space basis of a symmetric matrix."""
    A = 0.5 * (A + A.T)
    if not np.all(np.isfinite(A)):
        P = A.shape[0]
        return np.full(P, np.nan), np.eye(P), np.eye(P)
    w, V = np.linalg.eigh(A)
    top = np.max(np.abs(w)) if w.size else 0.0
    small = np.abs(w) <= rtol * top if top > 0 else np.ones_like(w, dtype=bool)
    # eigh sorts ascending; reorder so that the null directions come first
    order = np.concatenate([np.flatnonzero(small), np.flatnonzero(~small)])
    w, V = w[order], V[:, order]
    return w, V, V[:, : int(small.sum())]


def _identified_mask(N) -> np.ndarray:
    if N.shape[1] == 0:
        return np.ones(N.shape[0], dtype=bool)
    return np.linalg.norm(N, axis=1) <= NULL_COMPONENT_TOL


# -------------------------------------------------------------------------- loading
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


def _result_from_doc(doc) -> FitResult:
    if not isinstance(doc, dict) or doc.get("schema") != _SCHEMA:
        raise PersistenceError(f"not a FitResult document (expected \"schema\": {_SCHEMA!r})")
    version = doc.get("version")
    if version != _SCHEMA_VERSION:
        raise PersistenceError(f"FitResult JSON version {version!r} is not supported "
                               f"(this symmle reads version {_SCHEMA_VERSION})")
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
            starts.append(FitStart(_matrix(s["start"], (P,), f"starts[{i}].start"),
                                   _matrix(s["params"], (P,), f"starts[{i}].params"),
                                   -math.inf if ll is None else float(ll), s["converged"],
                                   s["n_iter"], s.get("message", "")))
        except (KeyError, TypeError):
            raise PersistenceError(f"FitResult JSON: starts[{i}] needs start, params, loglik, "
                                   f"converged (bool), n_iter (int)") from None
    obs = doc.get("observed_information")
    try:
        return FitResult(
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
            info_rtol=number("info_rtol"),
            observed_information_=None if obs is None else _matrix(obs, (P, P),
                                                                   "observed_information"),
        )
    except (SymmleValueError, SymmleTypeError) as exc:
        if isinstance(exc, PersistenceError):
            raise
        raise PersistenceError(f"FitResult JSON: {exc}") from None


# -------------------------------------------------------------------------- fitting
def _start_generators(rng, n):
    """``n`` independent generators spawned from ``rng`` (reproducible for a seed)."""
    if isinstance(rng, np.random.Generator):
        return rng.spawn(n)
    if isinstance(rng, np.random.SeedSequence):
        seq = rng
    else:
        as_rng(rng)  # validates the type and sign of a seed
        seq = np.random.SeedSequence(None if rng is None else int(rng))
    return [np.random.default_rng(s) for s in seq.spawn(n)]


class _Problem:
    """The data and compiled model of one fit, validated once."""

    def __init__(self, model, X, y):
        self.model = model
        self.cm = model.compile()
        arch = model.architecture
        self.X = arch.check_X(X)
        self.y = model.family.check_y(y, self.X.shape[0], arch.n_outputs)
        self.n = self.X.shape[0]
        self.K = arch.n_outputs
        self.Pn = model.n_network_params
        self.P = model.n_params
        self.family = model.family
        # no hidden unit and identity outputs: a GLM with canonical link, concave in θ
        self.concave = not arch.hidden_nodes and all(
            arch.activation_of(v).linear for v in arch.output_nodes)

    # Gaussian least squares on the network parameters
    def residuals(self, tn):
        eta = self.cm.linear_predictor(self._full(tn), self.X)
        return (eta - self.y).ravel()

    def residual_jacobian(self, tn):
        J = self.cm.jacobian(self._full(tn), self.X)  # (n, K, Pn)
        return J.reshape(self.n * self.K, self.Pn)

    def _full(self, tn):
        if self.P == self.Pn:
            return tn
        return np.concatenate([tn, np.zeros(self.P - self.Pn)])

    def profile_sigma(self, tn):
        """θ with the Gaussian ``log_sigma`` at its profile MLE ``log sqrt(RSS / nK)``."""
        if self.P == self.Pn:
            return tn
        rss = float(np.sum(self.residuals(tn) ** 2))
        if rss <= 0.0:
            return None
        return np.concatenate([tn, [0.5 * math.log(rss / (self.n * self.K))]])


class _Objective:
    """Mean negative log-likelihood with its exact derivatives, cached per θ."""

    def __init__(self, problem):
        self.pb = problem
        self.key = None
        self.vals = {}
        self.best_f, self.best_theta = np.inf, None  # the best point evaluated (a safeguard)

    def _get(self, theta, what):
        key = theta.tobytes()
        if key != self.key:
            self.key, self.vals = key, {}
        missing = [w for w in what if w not in self.vals]
        if missing:
            if "loglik" not in self.vals and "loglik" not in missing:
                missing.append("loglik")
            pb = self.pb
            self.vals.update(pb.cm.evaluate(theta, pb.X, pb.y, missing))
        return self.vals

    def fun(self, theta):
        if not np.all(np.isfinite(theta)):
            return np.inf
        ll = self._get(theta, ("loglik",))["loglik"]
        f = -ll / self.pb.n if np.isfinite(ll) else np.inf
        if f < self.best_f:
            self.best_f, self.best_theta = f, theta.copy()
        return f

    def jac(self, theta):
        if not np.all(np.isfinite(theta)):
            return np.full(theta.shape, np.nan)
        return -self._get(theta, ("score",))["score"] / self.pb.n

    def hess(self, theta):
        if not np.all(np.isfinite(theta)):
            return np.full((theta.size, theta.size), np.nan)
        return -self._get(theta, ("hessian",))["hessian"] / self.pb.n


def _scoring(pb, theta0, tol, max_iter):
    """Damped Fisher scoring: Levenberg–Marquardt steps ``(I + μ D) δ = s`` on the exact score
    ``s`` and expected information ``I`` (``D = diag I``), accepted only when ℓ increases.

    For a Gaussian family this is Levenberg–Marquardt on the residuals (``I = JᵀJ/σ²``); with σ
    unknown the network parameters are fitted at σ = 1 and σ is profiled out afterwards. For a
    GLM with canonical link ``I`` is minus the Hessian, so this is damped Newton–Raphson (IRLS).
    Convergence (MINPACK's ``ftol``/``xtol``, confirmed once): after an accepted step both the
    actual and the predicted relative changes of ``f = -ℓ - const ≥ 0`` are at most ``tol`` (or
    the step is at most ``tol`` relative to ``‖θ‖``), and the next step predicts a relative gain
    of at most ``tol`` too.
    """
    fam, Pn = pb.family, pb.Pn
    profile = isinstance(fam, Gaussian) and fam.sigma is None
    npar = Pn if profile else pb.P
    theta = theta0.copy()
    if profile:
        theta[Pn:] = 0.0  # σ = 1 while fitting the network
    offset = 0.0  # f = -ℓ - offset is ½ RSS / σ² for a Gaussian, -ℓ ≥ 0 otherwise
    if isinstance(fam, Gaussian):
        sig = 1.0 if profile else fam.sigma
        offset = pb.n * pb.K * (math.log(sig) + 0.5 * math.log(2.0 * math.pi))
    what = ("loglik", "score", "fisher")

    def evaluate(th):
        v = pb.cm.evaluate(th, pb.X, pb.y, what)
        f = -v["loglik"] - offset
        return f, v["score"][:npar], v["fisher"][:npar, :npar]

    f, g, A = evaluate(theta)
    if not np.isfinite(f):
        raise FloatingPointError("the log-likelihood is not finite at the start")
    mu, nu = (_MU0_CONCAVE if pb.concave else _MU0), 2.0
    dscale, pending = None, ""
    n_iter, converged, message = 0, False, "the maximum number of iterations is reached"
    while n_iter < max_iter:
        if f <= 0.0:
            converged, message = True, "exact fit (the objective is zero)"
            break
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(A))):
            message = "the score or information is not finite"
            break
        # Moré's scaling: the running maximum of diag(I), so that a direction whose curvature
        # fades (a saturating unit) keeps its damping
        dscale = np.diag(A) if dscale is None else np.maximum(dscale, np.diag(A))
        dmax = float(np.max(dscale)) if dscale.size else 0.0
        d = np.maximum(dscale, 1e-12 * dmax if dmax > 0 else 1.0)
        try:
            c = _chol(A + mu * np.diag(d))
        except np.linalg.LinAlgError:
            mu *= nu
            nu *= 2.0
            n_iter += 1
            continue
        step = _cho_solve(c, g)
        pred = 0.5 * float(step @ (g + mu * d * step))  # predicted decrease of f (> 0)
        if pending and pred <= tol * f:
            # the last step was small and the next one is predicted to gain nothing either
            converged, message = True, pending
            break
        trial = theta.copy()
        trial[:npar] += step
        n_iter += 1
        try:
            f_new, g_new, A_new = evaluate(trial)
        except (FloatingPointError, ValueError):
            f_new = math.inf
        actual = f - f_new
        rho = actual / pred if pred > 0 else -1.0
        if np.isfinite(f_new) and rho > 0:
            size = float(np.linalg.norm(theta[:npar]))
            small_x = float(np.linalg.norm(step)) <= tol * (size + tol)
            small_f = abs(actual) <= tol * f and pred <= tol * f
            theta, f, g, A = trial, f_new, g_new, A_new
            mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            nu = 2.0
            pending = ("" if not (small_f or small_x) else
                       "relative change of the log-likelihood below tol" if small_f
                       else "relative step below tol")
        else:
            mu *= nu
            nu *= 2.0
            if mu > 1e16:
                # no ascent direction is left at working precision: a stationary point
                converged = float(np.max(np.abs(g))) <= math.sqrt(tol) * max(f, 1.0)
                message = "no further increase possible at machine precision"
                break
    if profile:
        theta = pb.profile_sigma(theta[:Pn])
        if theta is None:
            raise FloatingPointError("the residuals are all zero: sigma-hat = 0")
    return theta, converged, n_iter, message


def _chol(M):
    import scipy.linalg as sla

    return sla.cho_factor(M, lower=False, check_finite=False)


def _cho_solve(c, b):
    import scipy.linalg as sla

    return sla.cho_solve(c, b, check_finite=False)


def _fit_one(pb, theta0, method, tol, max_iter):
    """Run one start; return ``(params, loglik, converged, n_iter, message)``."""
    if method == "scoring":
        theta, ok, nit, msg = _scoring(pb, theta0, tol, max_iter)
        return theta, pb.cm.loglik(theta, pb.X, pb.y), ok, nit, msg
    if method in _LSQ_METHODS:
        tn0 = theta0[: pb.Pn]
        r = opt.least_squares(pb.residuals, tn0, jac=pb.residual_jacobian, method=method,
                              ftol=tol, xtol=tol, gtol=tol, x_scale="jac", max_nfev=max_iter)
        theta = pb.profile_sigma(r.x)
        if theta is None:
            raise FloatingPointError("the residuals are all zero: sigma-hat = 0")
        ll = pb.cm.loglik(theta, pb.X, pb.y)
        return theta, ll, r.status > 0, int(r.njev or r.nfev), r.message
    obj = _Objective(pb)
    if isinstance(pb.family, Gaussian) and pb.family.sigma is None:
        prof = pb.profile_sigma(theta0[: pb.Pn])
        if prof is not None:
            theta0 = prof
    with warnings.catch_warnings():
        # trust-region solvers warn (and report it in status) when a step hits machine precision
        warnings.simplefilter("ignore", RuntimeWarning)
        r = opt.minimize(obj.fun, theta0, method=method, jac=obj.jac, hess=obj.hess,
                         options={"gtol": tol, "maxiter": max_iter})
    x = r.x
    if not np.all(np.isfinite(x)) or not (obj.fun(x) <= obj.best_f):
        # the solver ended on a non-finite or worse point (trlib can return NaN steps once the
        # gradient is ~0): report the best point it evaluated
        x = obj.best_theta
        r.jac = obj.jac(x)
    ll = pb.cm.loglik(x, pb.X, pb.y)
    ok = bool(r.success) or _newton_gap(obj, x, ll) <= tol * max(1.0, abs(ll))
    return x, ll, ok, int(r.nit), str(r.message)


def _newton_gap(obj, x, ll):
    """``½ sᵀ(-H)⁻¹s``: the gain a full Newton step predicts (inf unless -H is positive definite).

    A trust-region solver may stop on its iteration limit or on machine precision (trlib returns
    NaN steps once the gradient is ~0); when this gap is negligible the fit has converged anyway.
    """
    if not np.isfinite(ll):
        return math.inf
    g, H = -obj.jac(x) * obj.pb.n, obj.hess(x) * obj.pb.n  # score and observed information
    try:
        c = _chol(H)
    except np.linalg.LinAlgError:
        return math.inf
    return 0.5 * float(g @ _cho_solve(c, g))


def _separation_message(pb, theta):
    """A message when fitted probabilities reach 0 or 1 on correctly predicted rows, else ''."""
    fam = pb.family
    if not isinstance(fam, (Bernoulli, Categorical)):
        return ""
    eta = pb.cm.linear_predictor(theta, pb.X)
    if isinstance(fam, Bernoulli):
        # log P(observed y) and log P(other value) per row and output
        s = np.where(pb.y == 1, 1.0, -1.0) * eta
        wrong = -np.logaddexp(0.0, s)  # log P(the value not observed)
        degenerate = wrong < math.log(_SEPARATION_EPS)
    else:
        mu = fam.mean(eta, ())
        p_obs = mu[np.arange(pb.n), pb.y]
        degenerate = (1.0 - p_obs) < _SEPARATION_EPS
    k = int(np.count_nonzero(degenerate))
    if k == 0:
        return ""
    return (f"the maximum-likelihood estimate does not exist: the data are (quasi-)separated "
            f"({k} rows are fitted with probability 1 for their observed class), so the "
            f"log-likelihood keeps increasing as some parameters go to infinity; the estimates "
            f"reported are where the optimiser stopped")


def fit(model, X, y, *, start=None, n_starts: int = 1, rng=None, method: str | None = None,
        tol: float = 1e-10, max_iter: int = 1000, info_rtol: float = INFO_RTOL) -> FitResult:
    """Maximum-likelihood fit of ``model`` to ``(X, y)`` with exact derivatives.

    Parameters
    ----------
    model : Model
    X : array_like, shape (n, d)
    y : array_like
        Responses in the family's layout (``(n,)`` or ``(n, K)``; class labels
        ``0..K-1`` for Categorical).
    start : array_like, shape (P,) or (m, P), optional
        Explicit starting points; they are run first. For a Gaussian fit by
        least squares the ``log_sigma`` entry of a start is ignored (σ is
        profiled out).
    n_starts : int
        Total number of starts: ``max(n_starts, m)``; starts beyond the explicit
        ones are drawn by ``model.random_params`` with generators spawned from
        ``rng`` (``SeedSequence.spawn``), so the result is reproducible for a
        given seed and independent of anything else.
    rng : Generator, int, SeedSequence or None
    method : str, optional
        One of `METHODS`. Default: ``"lm"`` for Gaussian (``"trf"`` when
        there are fewer residuals than network parameters), ``"trust-exact"``
        otherwise.
    tol : float
        Convergence tolerance: ``ftol = xtol = gtol`` for least squares, the
        gradient tolerance of the mean log-likelihood for the Newton methods.
    max_iter : int
        Maximum iterations per start (function evaluations for least squares).
    info_rtol : float
        Relative eigenvalue tolerance defining the information's null space.

    Returns
    -------
    FitResult
        At the start with the highest log-likelihood; every start is in
        ``result.starts``.

    Warns
    -----
    ConvergenceWarning
        The best start did not converge, or the MLE does not exist (separated
        Bernoulli/Categorical data).
    NonIdentifiableWarning
        The expected information at θ̂ is singular.

    Raises
    ------
    ConvergenceError
        When no start produced a finite log-likelihood.

    Examples
    --------
    Logistic regression is ``mlp(d, 1)`` with ``Bernoulli()``:

    >>> model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    >>> X, y = model.simulate(np.array([1.0, -2.0, 0.5]), n=2000, rng=0)
    >>> res = sm.fit(model, X, y, rng=0)
    >>> res.converged, res.params.round(1)
    (True, array([ 1. , -2.1,  0.5]))
    >>> bool(np.max(np.abs(model.compile().score(res.params, X, y))) < 1e-6)
    True

    A network with several random starts:

    >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    >>> theta = np.array([1.5, -1, -0.5, 2, 1, 1, 0.5, -0.5, 0, 2, -1.5, 1, 0.3, np.log(0.5)])
    >>> X, y = model.simulate(theta, n=500, rng=2)
    >>> res = sm.fit(model, X, y, n_starts=4, rng=0)
    >>> len(res.starts), res.loglik == max(s.loglik for s in res.starts)
    (4, True)
    >>> res.converged, bool(res.loglik >= model.compile().loglik(theta, X, y))
    (True, True)
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(f"model must be a Model (sm.Model(arch, family)), "
                              f"got {type(model).__name__}")
    pb = _Problem(model, X, y)
    gaussian = isinstance(model.family, Gaussian)
    if method is None:
        method = "scoring"
    if method not in METHODS:
        raise SymmleValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in _LSQ_METHODS and not gaussian:
        raise SymmleValueError(f"method {method!r} (least squares) needs a Gaussian family; "
                               f"use 'scoring' or 'trust-exact'")
    if method == "lm" and pb.n * pb.K < pb.Pn:
        raise SymmleValueError(f"method 'lm' needs at least as many residuals ({pb.n * pb.K}) as "
                               f"network parameters ({pb.Pn}); use method='trf'")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not (0 < tol < 1):
        raise SymmleValueError(f"tol must be a number in (0, 1), got {tol!r}")
    max_iter = check_int(max_iter, "max_iter", 1)
    n_starts = check_int(n_starts, "n_starts", 1)
    explicit = np.empty((0, pb.P))
    if start is not None:
        explicit = model.check_theta(start, name="start")
        explicit = np.atleast_2d(explicit)
        if explicit.ndim != 2:
            raise SymmleValueError(f"start must have shape (P,) or (m, P) with P = {pb.P}")
    total = max(n_starts, explicit.shape[0])
    gens = _start_generators(rng, total)

    starts = []
    for i in range(total):
        theta0 = explicit[i].copy() if i < explicit.shape[0] else model.random_params(gens[i])
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                theta, ll, ok, nit, msg = _fit_one(pb, theta0, method, float(tol), max_iter)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            theta, ll, ok, nit, msg = theta0, -math.inf, False, 0, f"failed: {exc}"
        if not np.isfinite(ll) or not np.all(np.isfinite(theta)):
            if ll != math.inf:
                theta, ll, ok = theta0, -math.inf, False
        starts.append(FitStart(theta0, theta, ll, ok, nit, msg))

    finite = [s for s in starts if np.isfinite(s.loglik)]
    if not finite:
        raise ConvergenceError(
            f"none of the {total} starts reached a finite log-likelihood; first message: "
            f"{starts[0].message!r}. Try other starts (start=, rng=) or another method")
    best = max(finite, key=lambda s: s.loglik)
    message, converged = best.message, best.converged
    sep = _separation_message(pb, best.params)
    if sep:
        message, converged = sep, False
        warnings.warn(sep, ConvergenceWarning, stacklevel=2)
    elif not converged:
        warnings.warn(f"the best of {total} starts did not converge ({best.message}); "
                      f"raise max_iter or try more starts", ConvergenceWarning, stacklevel=2)
    info = pb.cm.fisher(best.params, pb.X)
    result = FitResult(model=model, params=best.params, loglik=best.loglik, converged=converged,
                       n_iter=best.n_iter, n_obs=pb.n, method=method, message=message,
                       information=info, starts=tuple(starts), X=pb.X, y=pb.y,
                       info_rtol=info_rtol)
    if result.null_space_dim and not sep:  # when the MLE does not exist, that is the finding
        names = [n for n, ok in zip(model.param_names, result.identified) if not ok]
        warnings.warn(
            f"the information matrix at the estimate is singular (null-space dimension "
            f"{result.null_space_dim} of {pb.P}): some directions of θ are not identified; "
            f"standard errors are NaN for {', '.join(names) or 'no single parameter'}",
            NonIdentifiableWarning, stacklevel=2)
    return result
