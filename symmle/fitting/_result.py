"""The record of a fit: `FitResult` (estimate, information, standard errors, intervals, summary),
`FitStart` (one start of a multi-start fit), `CovarianceMatrix`, and a fit's JSON persistence.

A singular information matrix is a finding, not a crash. Its rank, null space, identified
parameters and standard errors come from the library's one information rule
(`symmle._information.information_rank`: equilibrated eigenvalues at relative tolerance
``INFO_RTOL``), the same rule `identifiability` and the consistency study use. Parameters with a
component along the null space get NaN standard errors; the others are still reported (their
variance ``eᵢᵀ I⁺ eᵢ`` is the same for every generalised inverse ``I⁺``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.stats as st

from .._checks import check_int, check_probability, check_real, json_dumps, read_json
from ..architecture import Architecture
from ..display import html_report
from ..errors import PersistenceError, SymmleTypeError, SymmleValueError
from .._information import INFO_RTOL, NULL_COMPONENT_TOL, information_rank
from ._profile import profile_intervals
from ._root import information_root
from ..families import family_from_dict
from ..model import Model

__all__ = ["FitResult", "FitStart", "CovarianceMatrix", "METHODS", "INFO_RTOL",
           "NULL_COMPONENT_TOL"]

#: the optimisation methods `fit` accepts (a `FitResult` records which one it used).
METHODS = ("scoring", "lm", "trf", "trust-exact")

_SCHEMA = "symmle.FitResult"
_SCHEMA_VERSION = 1


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
    info_rtol : float or None
        Relative tolerance of the information rule (`symmle._information`); None (the default)
        takes the rule's own: ``ROOT_RTOL = 1e-8`` on the singular values of the information's
        root when the data (or a saved root) are at hand, ``INFO_RTOL = 1e-10`` on the
        eigenvalues of the matrix otherwise.
    information_root_ : ndarray or None
        A saved root ``R`` (``RᵀR`` = the information); computed from ``X`` when None.

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
    info_rtol: float | None = None
    observed_information_: np.ndarray | None = field(default=None, repr=False)
    information_root_: np.ndarray | None = field(default=None, repr=False)

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
        object.__setattr__(self, "n_obs", check_int(self.n_obs, "n_obs", 1))
        object.__setattr__(self, "starts", tuple(self.starts))
        if self.method not in METHODS:
            raise SymmleValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.info_rtol is not None:
            object.__setattr__(self, "info_rtol", check_real(
                self.info_rtol, "info_rtol", minimum=0.0, maximum=1.0, strict_minimum=True,
                strict_maximum=True))
        if self.information_root_ is not None:
            object.__setattr__(self, "information_root_",
                               _frozen_array(self.information_root_, (P, P)))

    # ------------------------------------------------------------ basics
    @property
    def param_names(self) -> tuple[str, ...]:
        return self.model.param_names

    @property
    def n_params(self) -> int:
        return self.model.n_params

    @property
    def aic(self) -> float:
        """Akaike's criterion ``2k - 2ℓ(θ̂)``, where k = `information_rank` counts the identified
        parameters (P minus the null-space dimension of the information at θ̂, by the library's
        information rule), not P: directions of θ that do not change the distribution (the
        softmax shift of a multinomial logit, ReLU rescaling, ...) are not parameters of the
        model. For ``mlp(d, K)`` with `symmle.families.Categorical` this is statsmodels'
        ``MNLogit`` AIC.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 3), sm.Categorical())    # 6 raw parameters, 4 identified
        >>> X, y = model.simulate(np.array([1.0, -1.0, 0.0, 0.5, 0.0, 0.0]), n=400, rng=0)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", sm.NonIdentifiableWarning)
        ...     res = sm.fit(model, X, y, rng=0)
        >>> res.information_rank, bool(np.isclose(res.aic, 2 * 4 - 2 * res.loglik))
        (4, True)
        """
        return 2.0 * self.information_rank - 2.0 * self.loglik

    @property
    def bic(self) -> float:
        """Schwarz's criterion ``k log n - 2ℓ(θ̂)`` with k = `information_rank`, the identified
        parameters (as `aic`)."""
        return self.information_rank * math.log(self.n_obs) - 2.0 * self.loglik

    @property
    def sigma(self) -> float | None:
        """The Gaussian noise σ (``exp(log_sigma)``, or the known one); None for other families."""
        return self.model.family.noise_scale(self.params[self.model.n_network_params:])

    # ------------------------------------------------------ information
    @cached_property
    def rank_verdict(self):
        """The information rule's verdict on the expected information at θ̂
        (`symmle._information.InformationRank`: rank, null space, identified parameters, the
        tolerance policy in words)."""
        return information_rank(self.information, root=self.information_root,
                                rtol=self.info_rtol)

    @cached_property
    def information_root(self) -> np.ndarray | None:
        """An upper-triangular ``R`` with ``RᵀR`` = `information` (from the data, or saved);
        None for a fit loaded without data or root."""
        if self.information_root_ is not None:
            return self.information_root_
        if self.X is None:
            return None
        return _frozen_array(information_root(self.model, self.params, self.X))

    @property
    def information_rank(self) -> int:
        """Numerical rank of the expected information (the library's one information rule,
        `symmle._information`; `rank_verdict` says how it was decided)."""
        return self.rank_verdict.rank

    @property
    def null_space(self) -> np.ndarray:
        """An orthonormal basis (P × k) of the information's numerical null space."""
        return self.rank_verdict.null_space.copy()

    @property
    def null_space_dim(self) -> int:
        return self.rank_verdict.null_dim

    @property
    def condition_number(self) -> float:
        """Largest over smallest eigenvalue of the equilibrated expected information (inf when
        singular)."""
        return self.rank_verdict.condition_number

    @property
    def identified(self) -> np.ndarray:
        """Mask of the parameters with no component (> ``NULL_COMPONENT_TOL``) in the null space."""
        return self.rank_verdict.identified.copy()

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
            verdict = self.rank_verdict
        elif kind == "observed":
            verdict = information_rank(self.observed_information)
        else:
            raise SymmleValueError(f"kind must be 'expected' or 'observed', got {kind!r}")
        return verdict.cov.copy()

    @property
    def cov(self) -> CovarianceMatrix:
        """Covariance from the expected information; call it as ``cov(kind="observed")`` for the
        observed one."""
        return CovarianceMatrix(self.covariance("expected"), self)

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors from the expected information (NaN for unidentified parameters)."""
        return self.rank_verdict.stderr

    def conf_int(self, alpha: float = 0.05, method: str = "wald", *, kind: str = "expected"):
        """Confidence intervals at level ``1 - alpha``, shape (P, 2).

        Parameters
        ----------
        alpha : float
            In (0, 1).
        method : {"wald", "profile"}
            ``"wald"``: θ̂ ± z₁₋α/₂ · stderr. ``"profile"``: profile-likelihood
            intervals, computed by `symmle.fitting.profile_intervals` (as
            `symmle.fitting.profile_conf_int` does).
        kind : {"expected", "observed"}
            Which information the Wald standard errors use.
        """
        alpha = check_probability(alpha, "alpha")
        if method == "profile":
            if self.X is None or self.y is None:
                raise SymmleValueError(
                    "this FitResult has no data (X, y): profile likelihoods re-optimise, so "
                    "use a FitResult from sm.fit rather than one loaded from JSON")
            return profile_intervals(self.model, self.X, self.y, self.params, alpha=alpha,
                                     loglik=self.loglik, information=self.information)
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
        information: rank 3 of 3 at relative tolerance 1e-08 on the singular values of its equilibrated root; equilibrated condition number 1.03
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
            f"information: {self.rank_verdict.describe()}; equilibrated condition number "
            + ("inf" if math.isinf(cond) else f"{cond:.3g}"),
        ]
        if self.information_rank < self.n_params:
            lines.append(f"AIC counts {self.information_rank} identified parameters of "
                         f"{self.n_params} (the rank of the information; so does BIC)")
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
            "information_root": (None if self.information_root is None
                                 else self.information_root.tolist()),
            "starts": [s.to_dict() for s in self.starts],
        }
        text = json_dumps(doc)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_json(cls, source) -> "FitResult":
        """Load a result written by `to_json`: JSON text, or a path to such a file.

        A ``str`` whose first non-blank character is ``{`` (or ``[``) is read
        as JSON text, anything else as a path. The JSON is read strictly
        (`symmle._checks.read_json`) and the document validated; anything
        malformed raises `symmle.errors.PersistenceError`.
        """
        return _result_from_doc(read_json(source, what="FitResult JSON"))


def _fmt(v, digits=4) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}g}"


def _json_float(v):
    v = float(v)
    return v if math.isfinite(v) else None


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
    root = doc.get("information_root")
    rtol = doc.get("info_rtol")
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
            info_rtol=None if rtol is None else number("info_rtol"),
            observed_information_=None if obs is None else _matrix(obs, (P, P),
                                                                   "observed_information"),
            information_root_=None if root is None else _matrix(root, (P, P),
                                                                "information_root"),
        )
    except (SymmleValueError, SymmleTypeError) as exc:
        if isinstance(exc, PersistenceError):
            raise
        raise PersistenceError(f"FitResult JSON: {exc}") from None

