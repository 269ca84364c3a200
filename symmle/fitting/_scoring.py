"""The damped Fisher-scoring optimiser of `fit` (method ``"scoring"``) and its Cholesky helpers.

`fisher_scoring` works on a fit's problem (`symmle.fitting._problem._Problem`: the compiled model,
the data and the parameter counts), so it knows nothing of starts or results; it maximises over
all coordinates or over a subset (the profile likelihood fixes one). `maximise` is scoring
followed by the one-sided check at non-smooth points (`symmle.fitting._nonsmooth.polish`).
"""

from __future__ import annotations

import math

import numpy as np

from ._lbfgs import lbfgs_phase
from ._newton import cho_factor, cho_solve, trust_newton
from ._nonsmooth import polish

__all__ = ["fisher_scoring", "maximise", "cho_factor", "cho_solve", "newton_gain"]

#: initial Levenberg–Marquardt damping of "scoring", relative to the (Moré-scaled) diag of the
#: information: short, gradient-like first steps keep starts out of saturated-unit basins (measured
#: on 2-3-1 tanh fits: far more starts reach the global maximum than with 1e-3 or 1, and faster).
MU0 = 100.0
#: the same for a GLM (no hidden unit, identity output: concave log-likelihood): Newton-like steps.
MU0_CONCAVE = 1e-3
#: smallest damping scale relative to the largest diag entry, so that a parameter with no
#: curvature at all (a dead unit) is still damped and the damped matrix stays positive definite.
_SCALE_FLOOR = 1e-12
#: damping beyond which a step is below working precision: no ascent direction is left.
_MU_MAX = 1e16
#: the damping a refused step restarts from when a long run of accepted steps took it to 0
#: (separated data: Newton steps while the information underflows); without it ``0·ν`` stays 0
#: (then ``0·∞`` is NaN) and the refused steps repeat until ``max_iter``, however large.
_MU_MIN = 1e-30


#: a penalised start claiming convergence must also have an undamped Newton gain ½ gᵀA⁺g below
#: this multiple of ``tol·|f|``; else the damping is reset (at most `_MAX_RESTARTS` times).
_STATIONARY = 10.0
_MAX_RESTARTS = 5
#: relative eigenvalue tolerance of the pseudo-inverse in `newton_gain` (the information rule's
#: INFO_RTOL for a computed matrix): the softmax shift leaves the biases' block singular.
_GAIN_RTOL = 1e-10


def newton_gain(g, A) -> float:
    """``½ gᵀ A⁺ g``: the gain of a full Newton step, A equilibrated and pseudo-inverted."""
    diag = np.diag(A)
    s = 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0))
    gs = g * s
    return 0.5 * float(gs @ np.linalg.pinv(A * s[:, None] * s[None, :], rcond=_GAIN_RTOL,
                                           hermitian=True) @ gs)


def fisher_scoring(pb, theta0, tol, max_iter, free=None, warm=False):
    """Damped Fisher scoring: Levenberg–Marquardt steps ``(A + μ diag A) δ = s`` on the exact score
    ``s`` and ``A = I + penalty·D`` (the expected information plus the penalty's curvature, D the
    indicator of the network's weights) of the penalised log-likelihood
    ``ℓ(θ) − (penalty/2)·Σ w²``, accepted only when the objective increases.

    ``free`` (indices, default all) are the coordinates that move; the others keep their values
    from ``theta0``. ``warm`` (method ``"lbfgs"``): first minimise the same objective over the
    same coordinates by L-BFGS on the exact score (`symmle.fitting._lbfgs.lbfgs_phase`), then
    run these iterations from there with Newton-like damping (`MU0_CONCAVE`); the criterion
    below is the same, and ``n_iter`` counts the iterations of both phases.

    For a Gaussian family this is Levenberg–Marquardt on the residuals (``I = JᵀJ/σ²``); with σ
    unknown the network parameters are fitted at σ = 1 and σ is profiled out afterwards (with a
    penalty, which then weighs ``σ²·Σ w²`` against the RSS, the network and ``log σ`` are
    fitted jointly, from σ̂ of the start). For a GLM with
    canonical link ``I`` is minus the Hessian, so this is damped Newton–Raphson (IRLS).
    Convergence (MINPACK's ``ftol``/``xtol``, confirmed once): after an accepted step both the
    actual and the predicted relative changes of ``f = -ℓ - const ≥ 0`` are at most ``tol`` (or
    the step is at most ``tol`` relative to ``‖θ‖``), and the next step predicts a relative gain
    of at most ``tol`` too.

    Returns
    -------
    (theta, converged, n_iter, message)
    """
    fam, Pn = pb.family, pb.Pn
    free = np.arange(pb.P) if free is None else np.asarray(free, dtype=np.intp)
    # σ free and least squares: fit the network at σ = 1, then profile σ out exactly
    profile = fam.least_squares and fam.estimates_scale and bool(np.any(free >= Pn))
    idx = free[free < Pn] if profile else free
    theta = np.array(theta0, dtype=float)
    if not profile:
        return _damped(pb, theta, idx, tol, max_iter, pb.penalty, warm=warm)
    if pb.penalty:
        # penalised: σ̂ depends on the weights' shrinkage too (the penalty weighs σ²·Σw²
        # against the RSS at σ fixed), so (network, log σ) are fitted jointly, from σ̂ of the start
        theta = _profiled(pb, theta)
        return _damped(pb, theta, free, tol, max_iter, pb.penalty, signed=True, warm=warm)
    theta[Pn:] = 0.0  # σ = 1 while fitting the network
    theta, converged, n_iter, message = _damped(pb, theta, idx, tol, max_iter, 0.0, warm=warm)
    return _profiled(pb, theta), converged, n_iter, message


def _profiled(pb, theta):
    theta = pb.profile_sigma(theta[:pb.Pn])
    if theta is None:
        raise FloatingPointError("the residuals are all zero: sigma-hat = 0")
    return theta


def _damped(pb, theta, idx, tol, max_iter, lam, signed=False, warm=False):
    """The damped scoring iterations over the coordinates ``idx``, with penalty ``lam`` on the
    weights among them (see `fisher_scoring`). ``signed``: the objective ``f`` may be negative
    (σ estimated jointly), so relative changes are taken against ``max(|f|, 1)``. ``warm``: the
    L-BFGS phase first (see `fisher_scoring`)."""
    fam, Pn = pb.family, pb.Pn
    # f = -ℓ - offset is ½ RSS / σ² for least squares, -ℓ otherwise
    offset = -fam.loglik_constant(pb.n * pb.K, theta[Pn:])
    D = lam * pb.penalised[idx]

    def evaluate(th, what=("loglik", "score", "fisher")):
        v = pb.cm.evaluate(th, pb.X, pb.y, what)
        f = -v["loglik"] - offset
        g = v["score"][idx]
        A = v["fisher"][np.ix_(idx, idx)] if "fisher" in what else None
        if lam:
            w = th[idx]
            f = f + 0.5 * float(w @ (D * w))
            g = g - D * w
            A = None if A is None else A + np.diag(D)
        return f, g, A

    n_warm, n_newton = 0, 0  # L-BFGS iterations and Newton steps before the scoring ones

    def after(message):
        if not n_warm:
            return message
        newton = f" and {n_newton} Newton steps" if n_newton else ""
        return f"{message} (after {n_warm} L-BFGS iterations{newton})"

    if warm and idx.size:
        def descent(x):  # f and its gradient over the coordinates idx (L-BFGS minimises)
            trial = theta.copy()
            trial[idx] = x
            try:
                f, g, _ = evaluate(trial, ("loglik", "score"))
            except (FloatingPointError, ValueError):
                return math.inf, np.zeros_like(x)
            return f, -g

        theta = theta.copy()
        theta[idx], n_warm = lbfgs_phase(descent, theta[idx], max_iter)
        done = _newton_finish(pb, theta, idx, tol, max_iter, D, evaluate, signed)
        if done is not None:
            theta, converged, n_newton, message = done
            max_iter -= n_newton  # the scoring iterations below have what is left
            if converged or max_iter <= 0:
                return theta, converged, n_warm + n_newton, after(message)
    f, g, A = evaluate(theta)
    if not np.isfinite(f):
        raise FloatingPointError("the log-likelihood is not finite at the start")
    mu, nu = (MU0_CONCAVE if pb.concave or warm else MU0), 2.0
    dscale, pending, restarts = None, "", 0
    n_iter, converged, message = 0, False, "the maximum number of iterations is reached"
    if idx.size == 0:
        converged, message = True, "nothing to optimise"
    while n_iter < max_iter and not converged:
        if f <= 0.0 and not signed:
            converged, message = True, "exact fit (the objective is zero)"
            break
        fs = max(abs(f), 1.0) if signed else f
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(A))):
            message = "the score or information is not finite"
            break
        # Moré's scaling: the running maximum of diag(I), so that a direction whose curvature
        # fades (a saturating unit) keeps its damping
        dscale = np.diag(A) if dscale is None else np.maximum(dscale, np.diag(A))
        dmax = float(np.max(dscale)) if dscale.size else 0.0
        d = np.maximum(dscale, _SCALE_FLOOR * dmax if dmax > 0 else 1.0)
        try:
            c = cho_factor(A + mu * np.diag(d))
        except np.linalg.LinAlgError:
            mu = max(mu, _MU_MIN) * nu
            nu *= 2.0
            n_iter += 1
            if mu > _MU_MAX:   # not positive definite however damped (a non-finite entry)
                message = "the damped information is not positive definite at any damping"
                break
            continue
        step = cho_solve(c, g)
        pred = 0.5 * float(step @ (g + mu * d * step))  # predicted decrease of f (> 0)
        if pending and pred <= tol * fs:
            # the last step was small and the next one is predicted to gain nothing either;
            # with a penalty (a maximum to reach), confirm with the undamped Newton gain: heavy
            # damping in a narrow valley predicts nothing while the optimum is still far
            if lam and restarts < _MAX_RESTARTS and newton_gain(g, A) > _STATIONARY * tol * fs:
                restarts += 1
                mu, pending = min(mu, MU0_CONCAVE), ""
                continue
            converged, message = True, pending
            break
        trial = theta.copy()
        trial[idx] += step
        n_iter += 1
        try:
            f_new, g_new, A_new = evaluate(trial)
        except (FloatingPointError, ValueError):
            f_new = math.inf
        actual = f - f_new
        rho = actual / pred if pred > 0 else -1.0
        if np.isfinite(f_new) and rho > 0:
            size = float(np.linalg.norm(theta[idx]))
            small_x = float(np.linalg.norm(step)) <= tol * (size + tol)
            small_f = abs(actual) <= tol * fs and pred <= tol * fs
            theta, f, g, A = trial, f_new, g_new, A_new
            mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            nu = 2.0
            pending = ("" if not (small_f or small_x) else
                       "relative change of the log-likelihood below tol" if small_f
                       else "relative step below tol")
        else:
            mu = max(mu, _MU_MIN) * nu
            nu *= 2.0
            if mu > _MU_MAX:
                # no ascent direction is left at working precision: a stationary point
                converged = float(np.max(np.abs(g))) <= math.sqrt(tol) * max(abs(f), 1.0)
                message = "no further increase possible at machine precision"
                break
    return theta, converged, n_iter + n_warm + n_newton, after(message)


def _newton_finish(pb, theta, idx, tol, max_iter, D, evaluate, signed):
    """Trust-region Newton–CG on the exact Hessian over the coordinates ``idx``
    (`symmle.fitting._newton`), from the L-BFGS phase's point: ``(θ, converged, n_iter,
    message)``, or None where a Hessian-vector product is not available in float64 (the
    damped scoring iterations then go on from θ)."""
    def at(x):
        trial = theta.copy()
        trial[idx] = x
        return trial

    def fg(x):
        f, g, _ = evaluate(at(x), ("loglik", "score"))
        return f, -g

    def info(x):
        A = pb.cm.evaluate(at(x), pb.X, None, ("fisher",))["fisher"][np.ix_(idx, idx)]
        return A + np.diag(D)

    def hessp_at(x):
        H = pb.cm.hessian_operator(at(x), pb.X, pb.y)  # one step's products share x

        def hessp(p):
            v = np.zeros(pb.P)
            v[idx] = p
            return -H.matvec(v)[idx] + D * p
        return hessp

    try:
        x, ok, n_iter, message = trust_newton(fg, info, hessp_at, theta[idx], tol, max_iter,
                                              signed, floor=pb.penalty)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError):
        return None
    return at(x), ok, n_iter, message


def maximise(pb, theta0, tol, max_iter, free=None, ceiling=None, warm=False):
    """Fisher scoring from ``theta0`` over ``free`` (default all), then the one-sided check at
    non-smooth points (stepping past kinks that still have an ascent direction).

    The value returned is the objective `_Problem.objective` (ℓ itself without a penalty).
    ``ceiling``, when given, is a log-likelihood known not to be exceeded (the fit's, for a
    profile): a run that reaches it (within ``tol``) is a maximum and needs no one-sided check.
    ``warm``: the L-BFGS phase first (method ``"lbfgs"``, see `fisher_scoring`).

    Returns
    -------
    (theta, loglik, converged, n_iter, message)
    """
    free = np.arange(pb.P) if free is None else np.asarray(free, dtype=np.intp)

    def run(start):
        theta, ok, nit, msg = fisher_scoring(pb, start, tol, max_iter, free, warm)
        return theta, pb.objective(theta), ok, nit, msg

    theta, ll, ok, nit, msg = run(theta0)
    if ceiling is not None and ok and ll >= ceiling - tol * max(1.0, abs(ceiling)):
        return theta, ll, ok, nit, msg
    return polish(pb, run, theta, ll, ok, nit, msg, free, tol)
