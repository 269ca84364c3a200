"""Inference that stays valid where the weights are not identified: per-row scores, the robust
(sandwich) covariance, the penalised estimator's covariance and effective degrees of freedom,
Wald tests of estimable hypotheses, and delta-method predictions and functionals.

Everything here works on the *identified subspace* of the information (the information rule's
generalised inverse, `symmle._information`): a linear function ``c·θ`` is estimable when ``c``
is orthogonal to the information's null space, and then its variance ``cᵀ I⁻ c`` is the same
for every generalised inverse ``I⁻``. The regression function ``f(x; θ)`` is invariant under
every symmetry of the network, so its gradient is orthogonal to every symmetry direction: a
prediction stays estimable when the weights are not, as long as the null space holds only
symmetry directions (and not, say, a reducible truth's extra directions). Estimable functions
use a generalised inverse *without* the NaN mask of unidentified parameters
(`restricted_cov(..., mask=False)`): a combination of unidentified parameters (all weights of a
ReLU unit, say) can be estimable, and zeroing their rows would understate its variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.stats as st

from .._checks import as_real_array, check_choice, check_int, check_probability, check_real
from .._information import InformationRank
from ..display import html_report
from ..errors import DataError, SymmleTypeError, SymmleValueError, require
from ._records import frozen_array, frozen_flags, real_or_nan, str_tuple

__all__ = ["TestResult", "Prediction", "score_rows", "sandwich", "wald", "delta_prediction",
           "delta_functional", "subspace_inverse", "restricted_cov", "effective_df",
           "value_and_gradient", "ESTIMABLE_TOL"]

#: a linear function c·θ is estimable when its component along the information's (orthonormal)
#: null space is at most this fraction of ‖c‖ (the information rule's NULL_COMPONENT_TOL).
ESTIMABLE_TOL = 1e-6


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test: statistic, degrees of freedom, p-value and how it was computed.

    Attributes
    ----------
    statistic : float
    df : int
    pvalue : float
    method : str
        ``"wald"``, ``"chi2"`` (likelihood ratio against χ²) or ``"bootstrap"``.
    note : str
        A caveat (e.g. a singular restricted point) or ``""``.
    """

    __test__ = False  # not a pytest test class

    statistic: float
    df: int
    pvalue: float
    method: str
    note: str = ""

    def __post_init__(self):
        stat = real_or_nan(self.statistic, "TestResult: statistic")
        if not stat >= 0:   # +inf is a statistic beyond float64, NaN none at all
            raise SymmleValueError(f"TestResult: statistic must be >= 0, got {stat!r}")
        object.__setattr__(self, "statistic", stat)
        object.__setattr__(self, "df", check_int(self.df, "TestResult: df"))
        p = real_or_nan(self.pvalue, "TestResult: pvalue")
        if not (0.0 <= p <= 1.0 or math.isnan(p)):   # NaN: no reference distribution
            raise SymmleValueError(f"TestResult: pvalue must be in [0, 1] (or NaN), got {p!r}")
        object.__setattr__(self, "pvalue", p)
        object.__setattr__(self, "method", check_choice(self.method, "TestResult: method",
                                                        ("wald", "chi2", "bootstrap")))
        if not isinstance(self.note, str):
            raise SymmleTypeError(f"TestResult: note must be a str, got "
                                  f"{type(self.note).__name__}")

    def __str__(self) -> str:
        text = (f"{self.method} test: statistic = {self.statistic:.6g}, df = {self.df}, "
                f"p-value = {self.pvalue:.4g}")
        return text + (f"\n  note: {self.note}" if self.note else "")


def score_rows(model, theta, X, y) -> np.ndarray:
    """Per-row scores ``∂ℓ_i/∂θ``, shape (n, P) (the network block from the Jacobian, the
    family's own parameters from `Family.grad_extra`)."""
    cm = model.compile()
    fam = model.family
    Pn = model.n_network_params
    theta = np.asarray(theta, dtype=float)
    yv = fam.check_y(y, X.shape[0], model.architecture.n_outputs)
    J = cm.jacobian(theta, X)  # (n, K, Pn)
    eta = cm.linear_predictor(theta, X)
    g = fam.grad_eta(eta, yv, theta[Pn:])  # (n, K)
    rows = np.einsum("nk,nkp->np", g, J)
    if model.n_params > Pn:
        rows = np.concatenate([rows, fam.grad_extra(eta, yv, theta[Pn:])], axis=1)
    return rows


def sandwich(verdict: InformationRank, scores: np.ndarray | None = None, *,
             outer: np.ndarray | None = None) -> np.ndarray:
    """The robust covariance ``A⁻ B A⁻`` (HC0): ``A⁻`` the information rule's generalised
    inverse, ``B = Σ sᵢ sᵢᵀ`` from the per-row scores (or ``outer``, B itself). Rows and columns
    of unidentified parameters are NaN."""
    G = verdict.cov
    ok = verdict.identified
    B = scores.T @ scores if outer is None else np.asarray(outer, dtype=float)
    C = np.full_like(G, np.nan)
    Gi = G[np.ix_(ok, ok)]
    with np.errstate(over="ignore", invalid="ignore"):  # a near-null information: inf variances
        C[np.ix_(ok, ok)] = Gi @ B[np.ix_(ok, ok)] @ Gi
    return C


def _estimable(verdict: InformationRank, rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows`` (m, P): whether it is orthogonal to the null space."""
    N = verdict.null_space
    if N.shape[1] == 0:
        return np.ones(rows.shape[0], dtype=bool)
    norms = np.linalg.norm(rows, axis=1)
    along = np.linalg.norm(rows @ N, axis=1)
    return along <= ESTIMABLE_TOL * np.maximum(norms, np.finfo(float).tiny)


def _full_cov(verdict: InformationRank, cov: np.ndarray) -> np.ndarray:
    """``cov`` with the NaN rows of unidentified parameters read as the generalised inverse's
    (for estimable functions the value does not matter, but NaN · 0 would poison them)."""
    return np.where(np.isnan(cov), 0.0, cov)


def wald(theta, verdict: InformationRank, cov: np.ndarray, R, q=None,
         names=None) -> TestResult:
    """Wald test of the linear hypothesis ``R θ = q`` (``R`` of shape (m, P)).

    Refuses an ``R`` with a row that is not estimable (a component along the information's null
    space): such a hypothesis is about a direction the data do not identify.
    """
    theta = np.asarray(theta, dtype=float)
    P = theta.size
    R = as_real_array(R, name="R", expected=f"a matrix with {P} columns")
    if R.ndim == 1:
        R = R[None, :]
    if R.ndim != 2 or R.shape[1] != P or R.shape[0] == 0:
        raise SymmleValueError(f"R must have shape (m, {P}) with m ≥ 1, got {R.shape}")
    if not np.all(np.isfinite(R)):
        raise SymmleValueError("R must be finite")
    q = np.zeros(R.shape[0]) if q is None else as_real_array(
        q, name="q", expected=f"a vector of {R.shape[0]} numbers").ravel()
    if q.shape != (R.shape[0],) or not np.all(np.isfinite(q)):
        raise SymmleValueError(f"q must be {R.shape[0]} finite numbers, got shape {q.shape}")
    bad = np.flatnonzero(~_estimable(verdict, R))
    if bad.size:
        raise SymmleValueError(
            f"R is not estimable: row(s) {bad.tolist()} have a component along the "
            f"information's null space ({verdict.null_dim} unidentified direction(s)); a "
            f"hypothesis must be about identified combinations of θ (invariant under the "
            f"symmetries), e.g. about predictions, not single weights of a symmetric network")
    with np.errstate(all="ignore"):   # overflow is checked for below
        V = R @ _full_cov(verdict, cov) @ R.T
        d = R @ theta - q
    if not (np.all(np.isfinite(V)) and np.all(np.isfinite(d))):
        raise SymmleValueError("the Wald test cannot be computed: the covariance of Rθ̂ (or Rθ̂ "
                               "- q) is not finite at this fit (an information that is not "
                               "finite, or entries of R, θ̂ or q too large)")
    rank = int(np.linalg.matrix_rank(V, hermitian=True))
    if rank < R.shape[0]:
        raise SymmleValueError(f"R's rows are linearly dependent given the covariance (rank "
                               f"{rank} of {R.shape[0]}); drop the redundant rows")
    with np.errstate(all="ignore"):
        stat = float(d @ np.linalg.solve(V, d))
    if not math.isfinite(stat):
        raise SymmleValueError(f"the Wald statistic is not finite ({stat}): the covariance of "
                               f"Rθ̂ is too ill-conditioned at this fit")
    df = R.shape[0]
    return TestResult(statistic=stat, df=df, pvalue=float(st.chi2.sf(stat, df)), method="wald")


@dataclass(frozen=True, eq=False)
class Prediction:
    """Predictions with delta-method standard errors (`FitResult.get_prediction`).

    Attributes
    ----------
    mean : ndarray, shape (n,) or (n, K)
        ``E[y | x]`` at θ̂.
    se : ndarray
        Delta-method standard error of the mean (NaN where the mean is not estimable).
    alpha : float
        Default level ``1 - alpha`` of the intervals.
    sigma : float or None
        The Gaussian noise σ̂ (for `pred_int`); None for other families.
    estimable : ndarray of bool
        Per row (and output): whether the mean's gradient is orthogonal to the information's
        null space, so that its standard error is valid whatever the weights' identification.
    names : tuple of str
        Output names for `summary_frame`.
    """

    mean: np.ndarray
    se: np.ndarray
    alpha: float
    sigma: float | None
    estimable: np.ndarray = field(repr=False)
    names: tuple = ()

    def __post_init__(self):
        mean = frozen_array(self.mean, name="Prediction: mean")
        if mean.ndim > 2 or not np.all(np.isfinite(mean)):
            raise SymmleValueError(f"Prediction: mean must be finite, of shape (), (n,) or "
                                   f"(n, K), got shape {mean.shape}")
        se = frozen_array(self.se, mean.shape, name="Prediction: se")
        if np.any(se < 0) or np.any(np.isinf(se)):   # NaN: not estimable
            raise SymmleValueError("Prediction: se must hold finite values >= 0 (or NaN)")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "se", se)
        object.__setattr__(self, "alpha", check_probability(self.alpha, "Prediction: alpha"))
        if self.sigma is not None:
            object.__setattr__(self, "sigma", check_real(
                self.sigma, "Prediction: sigma", minimum=0.0, finite=False))
        object.__setattr__(self, "estimable", frozen_flags(self.estimable, mean.shape,
                                                           "Prediction: estimable"))
        names = str_tuple(self.names, "Prediction: names")
        outputs = mean.shape[1] if mean.ndim == 2 else 1
        if names and len(names) != outputs:
            raise SymmleValueError(f"Prediction: names must name the {outputs} output(s), got "
                                   f"{len(names)}")
        object.__setattr__(self, "names", names)

    def conf_int(self, alpha: float | None = None) -> np.ndarray:
        """Confidence interval of the mean, ``mean ± z·se``; shape ``mean.shape + (2,)``."""
        alpha = self.alpha if alpha is None else check_probability(alpha, "alpha")
        z = st.norm.ppf(1.0 - alpha / 2.0)
        with np.errstate(over="ignore", invalid="ignore"):  # an infinite se: an infinite interval
            return np.stack([self.mean - z * self.se, self.mean + z * self.se], axis=-1)

    def pred_int(self, alpha: float | None = None) -> np.ndarray:
        """Prediction interval of a new ``y`` (Gaussian outputs): ``mean ± z·√(se² + σ̂²)``."""
        if self.sigma is None:
            raise SymmleValueError("prediction intervals are for Gaussian outputs (a continuous "
                                   "y with noise σ); use conf_int for the mean")
        alpha = self.alpha if alpha is None else check_probability(alpha, "alpha")
        z = st.norm.ppf(1.0 - alpha / 2.0)
        with np.errstate(over="ignore", invalid="ignore"):  # σ̂ or se beyond 1e154: inf
            s = np.hypot(self.se, np.float64(self.sigma))
            return np.stack([self.mean - z * s, self.mean + z * s], axis=-1)

    def summary_frame(self, alpha: float | None = None):
        """A pandas DataFrame (``mean``, ``mean_se``, ``mean_ci_lower``, ``mean_ci_upper`` and,
        for Gaussian outputs, ``obs_ci_lower``, ``obs_ci_upper``), as statsmodels names them."""
        pd = require("pandas", "pandas")
        ci = self.conf_int(alpha)
        cols = {"mean": self.mean, "mean_se": self.se, "mean_ci_lower": ci[..., 0],
                "mean_ci_upper": ci[..., 1]}
        if self.sigma is not None:
            pi = self.pred_int(alpha)
            cols.update(obs_ci_lower=pi[..., 0], obs_ci_upper=pi[..., 1])
        if self.mean.ndim == 1:
            return pd.DataFrame(cols)
        frames = {name: pd.DataFrame({k: v[:, j] for k, v in cols.items()})
                  for j, name in enumerate(self.names or range(self.mean.shape[1]))}
        return pd.concat(frames, axis=1)

    def _repr_html_(self) -> str:
        ci = self.conf_int()
        rows = [[i, f"{m:.4g}", f"{s:.4g}", f"[{lo:.4g}, {hi:.4g}]"]
                for i, (m, s, (lo, hi)) in enumerate(zip(np.ravel(self.mean), np.ravel(self.se),
                                                         ci.reshape(-1, 2)))][:20]
        return html_report(f"Prediction ({1 - self.alpha:.0%} intervals)",
                           headers=["row", "mean", "std. err.", "interval"], rows=rows)


def delta_prediction(model, theta, X, verdict: InformationRank, cov: np.ndarray,
                     alpha: float = 0.05, names=()) -> Prediction:
    """Delta-method predictions of ``E[y | x]`` at θ̂ for the rows of ``X``."""
    alpha = check_probability(alpha, "alpha")
    cm = model.compile()
    arch, fam = model.architecture, model.family
    X = arch.check_X(X)
    theta = np.asarray(theta, dtype=float)
    Pn, P = model.n_network_params, model.n_params
    eta = cm.linear_predictor(theta, X)
    mean = fam.mean(eta, theta[Pn:])
    if not np.all(np.isfinite(mean)):
        raise DataError("the predicted mean is not finite at some rows of X (|η| too large)")
    J = cm.jacobian(theta, X)  # (n, K, Pn): ∂η/∂θ
    with np.errstate(all="ignore"):  # overflow is read below: no finite variance, se NaN
        dmu = _mean_jacobian(fam, eta, theta[Pn:], mean)  # (n, C, K): ∂μ/∂η
        G = np.einsum("nkl,nlp->nkp", dmu, J)
        if P > Pn:
            G = np.concatenate([G, np.zeros(G.shape[:2] + (P - Pn,))], axis=2)
        rows = G.reshape(-1, P)
        finite = np.all(np.isfinite(rows), axis=1)
        ok = np.zeros(rows.shape[0], dtype=bool)
        ok[finite] = _estimable(verdict, rows[finite])
        C = _full_cov(verdict, cov)
        var = np.einsum("ip,pq,iq->i", np.where(finite[:, None], rows, 0.0), C,
                        np.where(finite[:, None], rows, 0.0))
        se = np.where(ok & (var >= 0) & np.isfinite(var), np.sqrt(np.abs(var)), np.nan)
    shape = mean.shape
    if shape[1] == 1:
        mean, se, ok = mean[:, 0], se.reshape(-1), ok.reshape(-1)
    else:
        se, ok = se.reshape(shape), ok.reshape(shape)
    sigma = fam.noise_scale(theta[Pn:]) if fam.least_squares else None
    # the outputs' names name the mean's columns unless those are classes (Categorical: one
    # response column of labels, a column of probabilities per class)
    names = tuple(names) if len(names) == (1 if mean.ndim == 1 else mean.shape[1]) else ()
    return Prediction(mean=mean, se=se, alpha=alpha, sigma=sigma, estimable=ok, names=names)


def _mean_jacobian(fam, eta, extra, mean) -> np.ndarray:
    """``∂μ/∂η`` per row, (n, C, K): for canonical links it is the Fisher weight (Gaussian:
    identity, Bernoulli: p(1-p), Poisson: exp(η), Categorical: diag(p) - ppᵀ) — divided by the
    weight's scale 1/σ² for the Gaussian. A mean with one column more than the outputs has a
    reference class (`Categorical(reference=True)`) first, whose probability is one minus the
    others': its row is minus the sum of theirs."""
    W = np.asarray(fam.weight(eta, extra), dtype=float)
    if fam.least_squares:
        sigma = np.float64(fam.noise_scale(extra))   # numpy: σ² beyond 1e308 is inf, not an error
        return W * (sigma * sigma)
    C, K = mean.shape[1], eta.shape[1]
    if C == K:
        return W
    if C == K + 1:
        return np.concatenate([-W.sum(axis=1, keepdims=True), W], axis=1)
    raise SymmleValueError(f"the family's mean has {C} columns for {K} outputs: expected {K} "
                           f"or {K + 1} (a reference class)")


# ------------------------------------------------------------ the identified subspace
def _identified_basis(verdict: InformationRank) -> np.ndarray:
    """An orthonormal basis (P × rank), in the verdict's equilibrated coordinates
    ``θ̃ = scale ⊙ θ``, of the complement of the information's null space."""
    P = verdict.n_params
    N = verdict.null_space * verdict.scale[:, None]
    if N.shape[1] == 0:
        return np.eye(P)
    Q = np.linalg.qr(N, mode="complete")[0]
    return Q[:, N.shape[1]:]


def subspace_inverse(verdict: InformationRank, A) -> np.ndarray:
    """The inverse of ``A`` (P × P, positive definite on the identified subspace) restricted to
    the identified subspace of the information: ``S Ũ (Ũᵀ S A S Ũ)⁻¹ Ũᵀ S`` with ``S`` the
    verdict's equilibration and ``Ũ`` `_identified_basis`. For ``A`` the information itself it
    is a generalised inverse (the same variances for every estimable function as the verdict's
    `InformationRank.cov`)."""
    if not verdict.finite:
        return np.full((verdict.n_params,) * 2, np.nan)
    s = verdict.scale
    U = _identified_basis(verdict)
    with np.errstate(all="ignore"):   # an overflow is read below: no finite inverse
        At = np.asarray(A, dtype=float) / s[:, None] / s[None, :]
        M = U.T @ At @ U
    M = 0.5 * (M + M.T)
    if not np.all(np.isfinite(M)):
        return np.full((verdict.n_params,) * 2, np.nan)
    try:
        Ht = U @ np.linalg.solve(M, U.T)
    except np.linalg.LinAlgError:
        # exactly singular in floating point although the rule found the rank (an information
        # whose identified block underflowed): the Moore–Penrose inverse on the subspace
        Ht = U @ np.linalg.pinv(M, hermitian=True) @ U.T
    with np.errstate(all="ignore"):
        return Ht / s[:, None] / s[None, :]


def restricted_cov(verdict: InformationRank, bread, meat=None, *, mask: bool = True) -> np.ndarray:
    """The sandwich ``A⁻ M A⁻`` on the identified subspace (`subspace_inverse` of the bread
    ``A``; ``M`` the meat: the information for a penalised fit, per-row score products for the
    robust covariance; ``A⁻`` alone when ``meat`` is None). With ``mask``, rows and columns of
    unidentified parameters are NaN; without, the matrix is a generalised inverse whose
    quadratic forms ``cᵀCc`` are the variances of the estimable functions ``c·θ`` (including
    combinations of unidentified parameters, which a NaN mask would hide)."""
    H = subspace_inverse(verdict, bread)
    with np.errstate(over="ignore", invalid="ignore"):  # a near-null information: inf variances
        C = H if meat is None else H @ np.asarray(meat, dtype=float) @ H
        C = 0.5 * C + 0.5 * C.T
    if not mask:
        return C
    ok = verdict.identified
    C[~ok, :] = np.nan
    C[:, ~ok] = np.nan
    return C


def effective_df(verdict: InformationRank, information, penalty_diag) -> float:
    """``tr[(I + λD)⁻ I]`` on the identified subspace: the effective number of parameters of a
    penalised fit (the rank of the information without a penalty)."""
    if not verdict.finite:
        return math.nan
    I = np.asarray(information, dtype=float)
    H = subspace_inverse(verdict, I + np.diag(penalty_diag))
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.trace(H @ I))


# ------------------------------------------------------------ functionals of θ
#: central-difference step of a functional's gradient, relative to max(1, |θ_j|): the error
#: (~1e-12 relative for a smooth g) is far below any standard error.
FD_STEP = 1e-6
#: a functional is invariant when g(h(θ̂)) stays within this (relative to max(1, |g(θ̂)|)) of
#: g(θ̂) for the group elements tried.
INVARIANCE_RTOL = 1e-8


def value_and_gradient(g, theta):
    """``(g(θ), ∇g(θ))``: from ``g`` itself when it returns a pair (value, gradient), else by
    central differences (step `FD_STEP`)."""
    theta = np.asarray(theta, dtype=float)
    out = g(theta.copy())
    if isinstance(out, tuple):
        if len(out) != 2:
            raise SymmleValueError("g must return a number, or a pair (value, gradient)")
        value, grad = out
        grad = as_real_array(grad, name="the gradient g returned",
                             expected=f"{theta.size} numbers").ravel()
        if grad.shape != theta.shape:
            raise SymmleValueError(f"the gradient g returned has {grad.size} entries, "
                                   f"expected {theta.size}")
        return _scalar(value), grad
    value = _scalar(out)
    grad = np.empty_like(theta)
    for j in range(theta.size):
        h = FD_STEP * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        with np.errstate(over="ignore", invalid="ignore"):
            grad[j] = (_scalar(_value(g(up))) - _scalar(_value(g(dn)))) / (2.0 * h)
    if not np.all(np.isfinite(grad)):
        raise SymmleValueError(f"the central-difference gradient of g is not finite at θ̂ "
                               f"(entries {np.flatnonzero(~np.isfinite(grad)).tolist()}): g "
                               f"varies too fast there; return (value, gradient) from g instead")
    return value, grad


def _value(out):
    return out[0] if isinstance(out, tuple) else out


def _scalar(v) -> float:
    arr = as_real_array(v, name="the value g returned", expected="one real number",
                        error=SymmleTypeError)
    if arr.size != 1:
        raise SymmleValueError(f"g must return one number (a scalar function of θ), got shape "
                               f"{arr.shape}")
    x = float(arr.reshape(()))
    if not math.isfinite(x):
        raise SymmleValueError(f"g(θ̂) is not finite: {x}")
    return x


def delta_functional(g, theta, verdict: InformationRank, cov, images, alpha=0.05,
                     name="g") -> Prediction:
    """Delta-method estimate and standard error of a scalar ``g(θ)`` at θ̂.

    ``images`` are θ̂'s images under some group elements: ``g`` must take the same value there
    (it is a function of the distribution, not of the labelling of units), and its gradient
    must have no component along the information's null space; otherwise a
    `SymmleValueError` says which.
    """
    alpha = check_probability(alpha, "alpha")
    if not callable(g):
        raise SymmleTypeError(f"g must be a callable g(theta) -> float, got {type(g).__name__}")
    value, grad = value_and_gradient(g, theta)
    tol = INVARIANCE_RTOL * max(1.0, abs(value))
    for image in images:
        other = _scalar(_value(g(np.array(image, dtype=float))))
        if abs(other - value) > tol:
            raise SymmleValueError(
                f"g is not invariant under the symmetry group: g(θ̂) = {value:.10g} but "
                f"g(h(θ̂)) = {other:.10g} for a symmetry h that leaves the distribution "
                f"unchanged, so g depends on how the units are labelled and its estimate means "
                f"nothing; use a function of the network's output (a prediction, an average "
                f"effect) instead of single weights")
    if not _estimable(verdict, grad[None, :])[0]:
        raise SymmleValueError(
            f"g's gradient has a component along the information's null space "
            f"({verdict.null_dim} unidentified direction(s)): g changes along a direction the "
            f"data do not determine (a continuous symmetry or a reducible point), so it is not "
            f"estimable")
    C = _full_cov(verdict, cov)
    with np.errstate(all="ignore"):
        var = float(grad @ C @ grad)
    if not math.isfinite(var):
        raise SymmleValueError(f"the delta-method variance of {name} is not finite ({var}): "
                               f"its gradient or the fit's covariance is too large")
    se = math.sqrt(var) if var >= 0 else math.nan
    return Prediction(mean=np.array(value), se=np.array(se), alpha=alpha, sigma=None,
                      estimable=np.array(True), names=(str(name),))
