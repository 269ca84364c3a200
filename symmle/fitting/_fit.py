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

from .._checks import as_rng, check_choice, check_int, check_real
from .._information import information_rank
from ..errors import (
    ConvergenceError,
    ConvergenceWarning,
    NonIdentifiableWarning,
    SymmleTypeError,
    SymmleValueError,
)
from ..model import Model
from ..symmetry import canonicalize
from ._diagnostics import (
    SATURATED_FRACTION,
    diverging_weights,
    interpolation,
    names_list,
    saturated_units,
    separation,
    separation_message,
)
from ._lbfgs import choose_method
from ._names import check_names, render_param_names, split_X, split_y
from ._nonsmooth import polish
from ._problem import _Problem
from ._result import COV_TYPES, METHODS, FitResult, FitStart
from ._root import information_root
from ._scoring import cho_factor, cho_solve, maximise

__all__ = ["fit"]

_LSQ_METHODS = ("lm", "trf")

#: The most starts one `fit` runs: each start is a whole optimisation (milliseconds to minutes),
#: so more is days of work nobody meant; refused up front instead of spawning 10²⁰ generators.
MAX_STARTS = 10_000

#: scipy's optimisers pass their iteration limit to C as an ``int``: a larger ``max_iter`` is
#: handed on as this (no run gets near it; ``scoring`` stops on its own, see `_scoring`).
_SCIPY_MAX_ITER = 2 ** 31 - 1


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
    """Mean negative penalised log-likelihood with its exact derivatives, cached per θ."""

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
            self.vals.update(self.pb.penalised_derivatives(theta, missing))
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
    """Run one start; return ``(params, objective, converged, n_iter, message)`` (the objective
    is the penalised log-likelihood, ℓ itself without a penalty).

    Where ℓ is not smooth (ReLU-type units), a start that claims convergence is checked
    one-sidedly and stepped past kinks that still have an ascent direction
    (`symmle.fitting._nonsmooth.polish`)."""
    if method in ("scoring", "lbfgs"):
        return maximise(pb, theta0, tol, max_iter, warm=method == "lbfgs")

    def run(start):
        return _run_method(pb, start, method, tol, max_iter)

    return polish(pb, run, *run(theta0), np.arange(pb.P), tol)


def _run_method(pb, theta0, method, tol, max_iter):
    """One run of a least-squares or Newton method from ``theta0``."""
    if method in _LSQ_METHODS:
        tn0 = theta0[: pb.Pn]
        if not pb.penalty:
            res_fn, jac_fn = pb.residuals, pb.residual_jacobian
        else:
            # RSS/(2σ²) + (λ/2)Σw² is half the sum of squares of the residuals and √λ·σ·w
            c = math.sqrt(pb.penalty) * pb.family.noise_scale(())
            mask = pb.penalised[: pb.Pn]
            rows = c * np.eye(pb.Pn)[mask]

            def res_fn(tn):
                return np.concatenate([pb.residuals(tn), c * tn[mask]])

            def jac_fn(tn):
                return np.vstack([pb.residual_jacobian(tn), rows])

        r = opt.least_squares(res_fn, tn0, jac=jac_fn, method=method,
                              ftol=tol, xtol=tol, gtol=tol, x_scale="jac",
                              max_nfev=min(max_iter, _SCIPY_MAX_ITER))
        theta = pb.profile_sigma(r.x)
        if theta is None:
            raise FloatingPointError("the residuals are all zero: sigma-hat = 0")
        return theta, pb.objective(theta), r.status > 0, int(r.njev or r.nfev), r.message
    obj = _Objective(pb)
    if pb.family.least_squares and pb.family.estimates_scale:
        prof = pb.profile_sigma(theta0[: pb.Pn])
        if prof is not None:
            theta0 = prof
    with warnings.catch_warnings():
        # trust-region solvers warn (and report it in status) when a step hits machine precision
        warnings.simplefilter("ignore", RuntimeWarning)
        r = opt.minimize(obj.fun, theta0, method=method, jac=obj.jac, hess=obj.hess,
                         options={"gtol": tol, "maxiter": min(max_iter, _SCIPY_MAX_ITER)})
    x = r.x
    if not np.all(np.isfinite(x)) or not (obj.fun(x) <= obj.best_f):
        # the solver ended on a non-finite or worse point (trlib can return NaN steps once the
        # gradient is ~0): report the best point it evaluated
        x = obj.best_theta
        r.jac = obj.jac(x)
    ll = pb.objective(x)
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


def fit(model, X, y, *, start=None, n_starts: int = 1, rng=None, method: str | None = None,
        tol: float = 1e-10, max_iter: int = 1000, info_rtol: float | None = None,
        penalty: float = 0.0, cov_type: str = "expected", input_names=None,
        refine: bool | None = None) -> FitResult:
    """Maximum-likelihood fit of ``model`` to ``(X, y)`` with exact derivatives.

    Parameters
    ----------
    model : Model
    X : array_like or pandas.DataFrame, shape (n, d)
        A DataFrame's column names become the fit's input names (``res.param_names``,
        summaries, predictions, JSON).
    y : array_like or pandas.Series
        Responses in the family's layout (``(n,)`` or ``(n, K)``; class labels
        ``0..K-1`` for Categorical). A named Series names the response.
    start : array_like, shape (P,) or (m, P), optional
        Explicit starting points; they are run first. For a Gaussian fit by
        least squares the ``log_sigma`` entry of a start is ignored (σ is
        profiled out).
    n_starts : int
        Total number of starts: ``max(n_starts, m)``, at most `MAX_STARTS`; starts beyond
        the explicit ones are drawn by ``model.random_params`` with generators spawned from
        ``rng`` (``SeedSequence.spawn``), so the result is reproducible for a
        given seed and independent of anything else.
    rng : Generator, int, SeedSequence or None
    method : str, optional
        ``"auto"`` or one of `METHODS`. Default ``"auto"``: ``"scoring"`` below
        `symmle.fitting._lbfgs.AUTO_LBFGS_PARAMS` parameters (100) and for a GLM, ``"lbfgs"``
        from there on (measured: ``docs/fitting.md``); ``res.method`` names the one that ran.
        ``"scoring"`` is damped Fisher scoring (for a Gaussian family, Levenberg–Marquardt on
        the residuals with σ profiled out); ``"lbfgs"`` runs L-BFGS-B on the exact score
        first and then the same scoring iterations, which confirm (or finish) convergence
        with scoring's criterion and need the information only at the end. ``"lm"`` and ``"trf"`` are
        `scipy.optimize.least_squares` on the residuals (Gaussian only;
        ``"lm"`` needs at least as many residuals as network parameters),
        ``"trust-exact"`` is trust-region Newton on the log-likelihood with
        the exact observed Hessian.
    tol : float
        Convergence tolerance, in (0, 1): the relative change of the
        log-likelihood and of θ for ``"scoring"`` and ``"lbfgs"``, ``ftol = xtol = gtol`` for
        least squares, the gradient tolerance of the mean log-likelihood for
        ``"trust-exact"``.
    max_iter : int
        Maximum iterations per start (function evaluations for least squares); for
        ``"lbfgs"``, of its scoring phase, the L-BFGS phase getting
        ``LBFGS_ITER_FACTOR · max_iter`` (5×) cheaper ones.
    info_rtol : float or None
        Relative tolerance of the information rule (`symmle._information`); None takes the
        rule's default (1e-8 on the singular values of the information's root).
    penalty : float
        λ ≥ 0: maximise ``ℓ(θ) − (λ/2)·Σ w²`` over the network's weights (biases and the
        family's parameters unpenalised). For ``Gaussian(sigma=1.0)`` this is exactly
        scikit-learn's ``MLPRegressor(alpha=λ)`` objective in total-sum units (sklearn
        minimises ``RSS/(2n) + (α/2n)·Σ w²``, i.e. ``(−ℓ + λ/2·Σw²)/n`` up to a constant), and
        ``MLPClassifier(alpha=λ)`` for `Bernoulli` / `Categorical`; R nnet's ``decay`` is
        ``λ`` for least squares and ``λ/2`` for entropy and softmax fits (nnet also decays the
        biases). The starts are ranked by this penalised log-likelihood.
    cov_type : {"expected", "observed", "robust"}
        The covariance behind ``res.cov``, ``res.stderr``, intervals, predictions and tests
        (`FitResult.covariance`).
    input_names : sequence of str, optional
        Names of X's columns (a DataFrame's columns by default).
    refine : bool, optional
        After the starts, re-draw each hidden unit of the best fit in turn (fresh incoming
        weights and bias, outgoing weights 0: a start next to the optimum with that unit
        free to take another role) and refit from there, keeping any improvement, for up to
        `REFINE_ROUNDS` passes; each such refit is appended to ``result.starts``. It escapes
        the local optima where two units duplicate each other, which random starts fall into
        often on real data. Default: on for a penalised fit of a network with hidden units
        (the penalised objective has a maximum to find), off otherwise.

    Returns
    -------
    FitResult
        At the start with the highest (penalised) log-likelihood; every start is in
        ``result.starts``; ``result.diagnostics`` lists what qualifies the estimate.

    Warns
    -----
    ConvergenceWarning
        The best start did not converge; the MLE does not exist (separated
        Bernoulli/Categorical data, found by a linear programme; a Gaussian fit that
        interpolates with σ estimated); hidden units saturate or weights diverge.
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

    A penalty: at the optimum the score balances the weights' shrinkage, ``s(θ̂) = λ·D θ̂``
    (to the convergence tolerance, here a relative 1e-10 on the objective):

    >>> res = sm.fit(model, X, y, n_starts=2, rng=0, penalty=5.0)
    >>> s = model.compile().score(res.params, X, y)
    >>> res.converged, bool(np.max(np.abs(s - 5.0 * res.penalised * res.params)) < 1e-3)
    (True, True)
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(f"model must be a Model (sm.Model(arch, family)), "
                              f"got {type(model).__name__}")
    X, frame_names = split_X(X)
    y, output_names = split_y(y)
    penalty = check_real(penalty, "penalty", minimum=0.0)
    cov_type = check_choice(cov_type, "cov_type", COV_TYPES)
    pb = _Problem(model, X, y, penalty)
    input_names = check_names(frame_names if input_names is None else input_names,
                              model.architecture.n_inputs, "input_names")
    if method is None:
        method = "auto"
    method = check_choice(method, "method", ("auto", *METHODS))
    if method == "auto":
        method = choose_method(pb)
    if method in _LSQ_METHODS and not model.family.least_squares:
        raise SymmleValueError(f"method {method!r} (least squares) needs a Gaussian family; "
                               f"use 'scoring' or 'trust-exact'")
    if method in _LSQ_METHODS and penalty and model.family.estimates_scale:
        raise SymmleValueError(f"method {method!r} cannot penalise a fit with σ estimated (the "
                               f"penalty then weighs σ²·Σw², not a sum of squares); use "
                               f"'scoring' or 'trust-exact', or a known sigma")
    if method == "lm" and pb.n * pb.K < pb.Pn:
        raise SymmleValueError(f"method 'lm' needs at least as many residuals ({pb.n * pb.K}) as "
                               f"network parameters ({pb.Pn}); use method='trf'")
    tol = check_real(tol, "tol", minimum=0.0, maximum=1.0, strict_minimum=True,
                     strict_maximum=True)
    max_iter = check_int(max_iter, "max_iter", 1)
    n_starts = check_int(n_starts, "n_starts", 1, maximum=MAX_STARTS)
    explicit = np.empty((0, pb.P))
    if start is not None:
        explicit = model.check_theta(start, name="start")
        explicit = np.atleast_2d(explicit)
        if explicit.ndim != 2:
            raise SymmleValueError(f"start must have shape (P,) or (m, P) with P = {pb.P}")
        if explicit.shape[0] > MAX_STARTS:
            raise SymmleValueError(f"start holds {explicit.shape[0]} starting points, more than "
                                   f"the {MAX_STARTS} one fit runs")
    total = max(n_starts, explicit.shape[0])
    gens = _start_generators(rng, total + 1)  # the last one draws the refinement's units

    starts = []
    for i in range(total):
        theta0 = explicit[i].copy() if i < explicit.shape[0] else model.random_params(gens[i])
        starts.append(_run_start(pb, theta0, method, tol, max_iter))

    if refine is None:
        refine = bool(penalty) and bool(model.architecture.hidden_nodes)
    refined = []
    if refine and model.architecture.hidden_nodes:
        refined = _refine(pb, starts, method, tol, max_iter, gens[total])
        starts += refined
    finite = [s for s in starts if np.isfinite(s.objective)]
    if not finite:
        raise ConvergenceError(
            f"none of the {total} starts reached a finite log-likelihood; first message: "
            f"{starts[0].message!r}. Try other starts (start=, rng=) or another method")
    best = max(finite, key=lambda s: s.objective)
    message, converged = best.message, best.converged
    info = pb.cm.fisher(best.params, pb.X)
    root = information_root(model, best.params, pb.X)
    with np.errstate(over="ignore"):
        # separated data: θ̂ far out where the information underflowed (columns of the root
        # ~1e-160); its inverse is beyond float64, and an infinite variance is the answer
        verdict = information_rank(info, root=root, rtol=info_rtol)
    names = render_param_names(model, input_names)
    findings, missing, advice = _diagnose(pb, best.params, verdict, names)
    if missing:
        message, converged = missing, False
        warnings.warn(missing, ConvergenceWarning, stacklevel=2)
    elif not converged:
        warnings.warn(f"the best of {total} starts did not converge ({best.message}); "
                      f"raise max_iter or try more starts", ConvergenceWarning, stacklevel=2)
    if advice:
        warnings.warn("; ".join(advice), ConvergenceWarning, stacklevel=2)
    result = FitResult(model=model, params=best.params, loglik=best.loglik, converged=converged,
                       n_iter=best.n_iter, n_obs=pb.n, method=method, message=message,
                       information=info, starts=tuple(starts), X=pb.X, y=pb.y,
                       info_rtol=info_rtol, information_root_=root, penalty=penalty,
                       cov_type=cov_type, input_names=input_names, output_names=output_names,
                       diagnostics=findings, tol=tol, max_iter=max_iter, refined=len(refined))
    if result.null_space_dim and not missing:  # when the MLE does not exist, that is the finding
        unidentified = [n for n, ok in zip(result.param_names, result.identified) if not ok]
        warnings.warn(
            f"the information matrix at the estimate is singular (null-space dimension "
            f"{result.null_space_dim} of {pb.P}): some directions of θ are not identified; "
            f"standard errors are NaN for {', '.join(unidentified) or 'no single parameter'}",
            NonIdentifiableWarning, stacklevel=2)
    return result


#: passes of `fit`'s ``refine`` over the hidden units of the best fit (each pass that improves it
#: is followed by another).
REFINE_ROUNDS = 3


def _run_start(pb, theta0, method, tol, max_iter):
    """One start as a `FitStart` (a failed one has objective -inf)."""
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            theta, obj, ok, nit, msg = _fit_one(pb, theta0, method, tol, max_iter)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        theta, obj, ok, nit, msg = theta0, -math.inf, False, 0, f"failed: {exc}"
    if not np.isfinite(obj) or not np.all(np.isfinite(theta)):
        if obj != math.inf:
            theta, obj, ok = theta0, -math.inf, False
    ll = pb.loglik(theta) if np.isfinite(obj) else obj
    return FitStart(theta0, theta, ll, ok, nit, msg, obj)


def _refine(pb, starts, method, tol, max_iter, gen):
    """Refits of the best start with one hidden unit re-drawn at a time (see `fit`)."""
    finite = [s for s in starts if np.isfinite(s.objective)]
    if not finite:
        return []
    model, arch = pb.model, pb.model.architecture
    best = max(finite, key=lambda s: s.objective)
    out = []
    for _ in range(REFINE_ROUNDS):
        improved = False
        for v in arch.hidden_nodes:
            fresh = model.random_params(gen)
            theta0 = np.array(best.params, dtype=float)
            for (a, b), i in arch.edge_index.items():
                if b == v:
                    theta0[i] = fresh[i]
                elif a == v:
                    theta0[i] = 0.0
            if v in arch.bias_index:
                theta0[arch.bias_index[v]] = fresh[arch.bias_index[v]]
            trial = _run_start(pb, theta0, method, tol, max_iter)
            out.append(trial)
            if trial.objective > best.objective + tol * max(1.0, abs(best.objective)):
                best, improved = trial, True
        if not improved:
            break
    return out


def _diagnose(pb, theta, verdict, names):
    """``(findings, missing, advice)``: every finding in words; why the MLE does not exist
    ('' when it does); the findings that only qualify the estimate (saturated units, diverging
    weights, an interpolating fit with σ known)."""
    findings, advice, missing = [], [], ""
    found = separation(pb, theta)
    if found is not None:
        missing = separation_message(found)
        findings.append(missing)
    text, fatal = interpolation(pb, theta, verdict.rank - pb.family.n_extra)
    if text:
        findings.append(text)
        if fatal and not missing:
            missing = text
        elif not fatal:
            advice.append(text)
    arch = pb.model.architecture
    if arch.hidden_nodes:
        # in the canonical form's numbering, the one the summary prints
        canon = canonicalize(pb.model, theta)
        numbering = " (units numbered as in the canonical form)" if not np.array_equal(
            canon, theta) else ""
        sat = saturated_units(pb, canon)
        if sat:
            listed = names_list(f"{v} ({100 * f:.0f}% of rows)" for v, f in sat)
            advice.append(
                f"saturated hidden units{numbering}: {listed} — the activation is flat "
                f"(beyond its linear range) on at least {100 * SATURATED_FRACTION:.0f}% of the "
                f"rows, so their incoming weights are barely determined by the data and can "
                f"drift without bound; add a penalty (fit(..., penalty=...)) or standardise X")
        div = diverging_weights(pb, canon)
        if div:
            advice.append(
                f"diverging weights{numbering}: {names_list(names[i] for i in div)} — each "
                f"contributes a term far wider than its unit's whole pre-activation (units "
                f"cancelling each other with ever larger weights), so their estimates and "
                f"standard errors mean nothing; add a penalty (fit(..., penalty=...))")
        findings += [a for a in advice if a not in findings]
    return tuple(findings), missing, advice
