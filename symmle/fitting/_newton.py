"""Trust-region Newton steps on the exact Hessian, solved matrix-free: the finish of method ``"lbfgs"``.

After the L-BFGS phase (`symmle.fitting._lbfgs`) a network of a few hundred parameters sits in
a long curved valley, where Gauss–Newton (Fisher-scoring) steps converge only linearly: the
residuals' curvature ``Σ_i r_i ∇²η_i`` that scoring leaves out is as large as the penalty's
in the valley's weak directions. Newton steps on the exact Hessian converge quadratically
there, and they never form it: each step solves ``H δ = −∇f`` by Steihaug–Toint conjugate
gradients (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.2) on exact
Hessian-vector products (`symmle.compiled.CompiledModel.hessian_times`, about three scores each),
preconditioned by the Cholesky factor of the expected information plus the penalty's
curvature (refreshed only when the solves grow long: one information costs 5–10 scores), in
the trust region ``‖δ‖_M ≤ Δ`` of that metric. A direction of negative curvature (a saddle)
is followed to the region's boundary. Written here because scipy's matrix-free trust-region
methods (``trust-ncg``, ``trust-krylov``) take no preconditioner, and without one the
information's condition number (10⁵ and more) takes them hundreds of products a step.

Convergence is `symmle.fitting._scoring`'s criterion with the Newton model's prediction:
after an accepted step both the actual and the predicted relative decrease of ``f`` are at
most ``tol`` (or the step is at most ``tol`` relative to ``‖θ‖``), and the next step, a full Newton step inside the
trust region (solved to `CG_RTOL`, no negative curvature met), predicts at most ``tol`` too.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla

__all__ = ["trust_newton"]

#: relative residual (in the preconditioner's inverse norm) at which a step's solve stops
#: near the optimum (and for a step that may confirm convergence).
CG_RTOL = 1e-2
#: the loosest relative residual of a step's solve, far from the optimum.
CG_RTOL_FAR = 0.1
#: the most conjugate-gradient iterations (Hessian-vector products) of one step.
CG_MAX = 50
#: a step's solve longer than this many products refreshes the preconditioner (the
#: information at the current point) before the next step.
REFRESH_AFTER = 8
#: the metric's least curvature relative to the information's largest diagonal entry.
METRIC_FLOOR = 1e-6
#: the most Newton steps of one finish: beyond them the damped scoring iterations go on
#: (mlp(10, 20, 1) converged in 3–130).
NEWTON_MAX_STEPS = 300
#: accept a step when the actual decrease is at least this fraction of the predicted one.
_ETA = 1e-4


def cho_factor(M):
    return sla.cho_factor(M, lower=False, check_finite=False)


def cho_solve(c, b):
    return sla.cho_solve(c, b, check_finite=False)


def _boundary(z, p, Mz, Mp, delta):
    """τ ≥ 0 with ``‖z + τ p‖_M = Δ`` (``Mz = M z``, ``Mp = M p``)."""
    a, b, c = float(p @ Mp), 2.0 * float(z @ Mp), float(z @ Mz) - delta * delta
    disc = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    return (-b + disc) / (2.0 * a) if a > 0 else 0.0


def steihaug(g, hessp, M, chol, delta, rtol=CG_RTOL):
    """An approximate minimiser of ``gᵀδ + ½ δᵀHδ`` in ``‖δ‖_M ≤ Δ``: ``(δ, Hδ, products,
    interior)``, ``interior`` when δ is the Newton step solved to `CG_RTOL` inside the region
    (not cut at its boundary, no negative curvature met, within `CG_MAX` products)."""
    z, Hz, Mz = np.zeros_like(g), np.zeros_like(g), np.zeros_like(g)
    r = -g
    y = cho_solve(chol, r)
    p, ry = y.copy(), float(r @ y)
    if ry <= 0.0:  # g = 0: the Newton step is 0
        return z, Hz, 0, True
    stop = rtol * rtol * ry
    for k in range(1, CG_MAX + 1):
        Hp = hessp(p)
        Mp = M @ p
        kappa = float(p @ Hp)
        if not math.isfinite(kappa):
            raise FloatingPointError("the Hessian-vector product is not finite")
        if kappa <= 0.0:  # negative curvature: to the boundary along p
            t = _boundary(z, p, Mz, Mp, delta)
            return z + t * p, Hz + t * Hp, k, False
        alpha = ry / kappa
        zn, Mzn = z + alpha * p, Mz + alpha * Mp
        if float(zn @ Mzn) >= delta * delta:
            t = _boundary(z, p, Mz, Mp, delta)
            return z + t * p, Hz + t * Hp, k, False
        z, Mz, Hz = zn, Mzn, Hz + alpha * Hp
        r = r - alpha * Hp
        y = cho_solve(chol, r)
        ry_new = float(r @ y)
        if ry_new <= stop:
            return z, Hz, k, True
        p = y + (ry_new / ry) * p
        ry = ry_new
    return z, Hz, CG_MAX, False


def _factor(M, floor):
    """``(M + c I, its Cholesky factor)`` with ``c`` the larger of ``floor`` and
    `METRIC_FLOOR` × M's largest diagonal entry (raised by powers of 100 until positive
    definite). Without it a direction the information does not see (the bias of a unit whose
    outgoing weight is 0: ``∂η/∂b = 0`` while ``∂²η/∂b∂v ≠ 0``) would have no length in the
    trust region's metric, and a step along its negative curvature no bound."""
    top = float(np.max(np.abs(np.diag(M)), initial=0.0))
    c = max(float(floor), METRIC_FLOOR * top, 1e-300)
    for _ in range(12):
        Md = M + c * np.eye(M.shape[0])
        try:
            return Md, cho_factor(Md)
        except np.linalg.LinAlgError:
            c *= 100.0
    raise np.linalg.LinAlgError("the information is not positive definite however damped")


def trust_newton(fg, info, hessp_at, x, tol, max_iter, signed=False, floor=0.0):
    """Minimise ``f`` from ``x`` by preconditioned trust-region Newton–CG (see the module).

    ``fg(x) → (f, ∇f)``; ``info(x) → M`` (positive semi-definite, the preconditioner);
    ``hessp_at(x) → (p ↦ ∇²f(x) p)``. ``signed``: f may be negative (relative changes are
    taken against ``max(|f|, 1)``). ``floor``: the least curvature of the metric in any
    direction (the penalty's, which the information plus the penalty has on the weights
    only). At most `NEWTON_MAX_STEPS` steps (or ``max_iter``). Returns ``(x, converged, n_iter, message)``; raises
    FloatingPointError where f, its gradient or a product is not finite at x.
    """
    f, g = fg(x)
    if not (math.isfinite(f) and np.all(np.isfinite(g))):
        raise FloatingPointError("the objective is not finite at the start")
    if not np.any(g):
        return x, True, 0, "the score is zero"
    M, chol = _factor(info(x), floor)
    y0 = cho_solve(chol, -g)
    delta = max(math.sqrt(max(float(y0 @ M @ y0), 0.0)), 1e-8)
    pending, n_iter, refresh = "", 0, False
    g0 = math.sqrt(max(-float(g @ y0), 0.0))  # ‖∇f‖ in the preconditioner's inverse norm
    max_iter = min(max_iter, NEWTON_MAX_STEPS)
    while n_iter < max_iter:
        fs = max(abs(f), 1.0) if signed else max(f, 1e-300)
        if refresh:
            M, chol = _factor(info(x), floor)
            refresh = False
        # inexact Newton: the solves tighten as the gradient falls (Eisenstat & Walker's
        # forcing sequence √(‖g‖/‖g₀‖)), from `CG_RTOL_FAR` to `CG_RTOL`
        gn = math.sqrt(max(float(g @ cho_solve(chol, g)), 0.0))
        rtol = min(CG_RTOL_FAR, max(CG_RTOL, math.sqrt(gn / g0))) if g0 > 0 else CG_RTOL
        if pending:  # a step that may confirm convergence: its prediction to `CG_RTOL`
            rtol = CG_RTOL
        step, Hstep, k, interior = steihaug(g, hessp_at(x), M, chol, delta, rtol)
        pred = -(float(g @ step) + 0.5 * float(step @ Hstep))
        # a step cut by the region predicts little while the optimum may still be far: only
        # the full Newton step's prediction confirms convergence
        if pending and interior and pred <= tol * fs:
            return x, True, n_iter, pending
        n_iter += 1
        refresh = k > REFRESH_AFTER
        trial = x + step
        try:
            f_new, g_new = fg(trial)
        except (FloatingPointError, ValueError):
            f_new, g_new = math.inf, None
        actual = f - f_new
        rho = actual / pred if pred > 0 and math.isfinite(f_new) else -1.0
        size = math.sqrt(max(float(step @ M @ step), 0.0))
        if rho < 0.25:
            delta = 0.25 * size
        elif rho > 0.75 and size >= 0.99 * delta:
            delta = 2.0 * delta
        if rho > _ETA and np.all(np.isfinite(g_new)):
            small_x = float(np.linalg.norm(step)) <= tol * (float(np.linalg.norm(x)) + tol)
            small_f = abs(actual) <= tol * fs and pred <= tol * fs
            x, f, g = trial, f_new, g_new
            pending = ("" if not (small_f or small_x) else
                       "relative change of the log-likelihood below tol" if small_f
                       else "relative step below tol")
        elif delta <= 1e-15 * (1.0 + float(np.linalg.norm(x))):
            return x, False, n_iter, "the trust region shrank to working precision"
    return x, False, n_iter, "the maximum number of iterations is reached"
