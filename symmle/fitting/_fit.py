"""`fit`: multi-start maximum likelihood with exact derivatives, and the problem it solves.

Every derivative comes from the compiled model (`Model.compile`); there are no finite
differences in the optimisers (the one-sided convergence check at kinks of ReLU-type units,
`symmle.fitting._nonsmooth`, is the exception: a kink has no derivative). This module holds
`fit`, the objective of the Newton methods (`_Objective`), one start (`_fit_one`) and the
generators of the random starts. The validated problem of one fit (`_Problem`) is in
`symmle.fitting._problem`, the default optimiser, damped Fisher scoring, in
`symmle.fitting._scoring`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.optimize as opt

from .._checks import as_rng, check_int, check_real
from ..errors import (
    ConvergenceError,
    ConvergenceWarning,
    NonIdentifiableWarning,
    SymmleTypeError,
    SymmleValueError,
)
from ..model import Model
from ._nonsmooth import polish
from ._problem import _Problem
from ._result import METHODS, FitResult, FitStart
from ._scoring import cho_factor, cho_solve, maximise

__all__ = ["fit"]

_LSQ_METHODS = ("lm", "trf")
#: a Bernoulli/Categorical fitted probability this close to 0 or 1 counts as degenerate.
_SEPARATION_EPS = 1e-10


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



def _fit_one(pb, theta0, method, tol, max_iter):
    """Run one start; return ``(params, loglik, converged, n_iter, message)``.

    Where ℓ is not smooth (ReLU-type units), a start that claims convergence is checked
    one-sidedly and stepped past kinks that still have an ascent direction
    (`symmle.fitting._nonsmooth.polish`)."""
    if method == "scoring":
        return maximise(pb, theta0, tol, max_iter)

    def run(start):
        return _run_method(pb, start, method, tol, max_iter)

    return polish(pb, run, *run(theta0), np.arange(pb.P), tol)


def _run_method(pb, theta0, method, tol, max_iter):
    """One run of a least-squares or Newton method from ``theta0``."""
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
    if pb.family.least_squares and pb.family.estimates_scale:
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
        c = cho_factor(H)
    except np.linalg.LinAlgError:
        return math.inf
    return 0.5 * float(g @ cho_solve(c, g))


def _separation_message(pb, theta):
    """A message when fitted probabilities reach 0 or 1 on correctly predicted rows, else ''."""
    fam = pb.family
    if not fam.separable:
        return ""
    eta = pb.cm.linear_predictor(theta, pb.X)
    degenerate = fam.degenerate_rows(eta, pb.y, _SEPARATION_EPS)
    k = int(np.count_nonzero(degenerate))
    if k == 0:
        return ""
    return (f"the maximum-likelihood estimate does not exist: the data are (quasi-)separated "
            f"({k} rows are fitted with probability 1 for their observed class), so the "
            f"log-likelihood keeps increasing as some parameters go to infinity; the estimates "
            f"reported are where the optimiser stopped")


def fit(model, X, y, *, start=None, n_starts: int = 1, rng=None, method: str | None = None,
        tol: float = 1e-10, max_iter: int = 1000, info_rtol: float | None = None) -> FitResult:
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
        One of `METHODS`. Default: ``"scoring"`` for every family (damped
        Fisher scoring; for a Gaussian family, Levenberg–Marquardt on the
        residuals with σ profiled out). ``"lm"`` and ``"trf"`` are
        `scipy.optimize.least_squares` on the residuals (Gaussian only;
        ``"lm"`` needs at least as many residuals as network parameters),
        ``"trust-exact"`` is trust-region Newton on the log-likelihood with
        the exact observed Hessian.
    tol : float
        Convergence tolerance, in (0, 1): the relative change of the
        log-likelihood and of θ for ``"scoring"``, ``ftol = xtol = gtol`` for
        least squares, the gradient tolerance of the mean log-likelihood for
        ``"trust-exact"``.
    max_iter : int
        Maximum iterations per start (function evaluations for least squares).
    info_rtol : float or None
        Relative tolerance of the information rule (`symmle._information`); None takes the
        rule's default (1e-8 on the singular values of the information's root).

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
    if method is None:
        method = "scoring"
    if method not in METHODS:
        raise SymmleValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in _LSQ_METHODS and not model.family.least_squares:
        raise SymmleValueError(f"method {method!r} (least squares) needs a Gaussian family; "
                               f"use 'scoring' or 'trust-exact'")
    if method == "lm" and pb.n * pb.K < pb.Pn:
        raise SymmleValueError(f"method 'lm' needs at least as many residuals ({pb.n * pb.K}) as "
                               f"network parameters ({pb.Pn}); use method='trf'")
    tol = check_real(tol, "tol", minimum=0.0, maximum=1.0, strict_minimum=True,
                     strict_maximum=True)
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
                theta, ll, ok, nit, msg = _fit_one(pb, theta0, method, tol, max_iter)
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

