"""Convergence at non-smooth points: a one-sided (directional) check, and stepping past a kink.

With ReLU-type units the log-likelihood is only piecewise smooth: where a row sits exactly at a
unit's kink, the compiled score is the derivative of one side only, an optimiser can stop there
with a small step and a nonzero score, and a zero score would not prove a maximum either. The
test of a maximum is then one-sided: no direction ``d`` along which ℓ increases,
``ℓ(θ + s d) > ℓ(θ)`` for small ``s > 0``. (Here ℓ is the problem's objective,
`symmle.fitting._problem._Problem.objective`: the log-likelihood minus the weight penalty.)

`ascent` looks for such a direction at θ: one-sided finite differences of the compiled
log-likelihood along ``±e_j`` for every free coordinate, along the score and along the
steepest one-sided combination of the coordinate slopes, then a line search along the best
few. A maximum of a piecewise-smooth ℓ often lies *on* a kink (a row pinned at a unit's kink,
where ℓ bends down on both sides): an optimiser of the smooth pieces zig-zags across it and
stalls short of the maximum along it. `polish` therefore alternates two moves, a few times:
damped Fisher scoring on the *kink manifold* (the rows within `_ACTIVE_RTOL` of a kink kept
there: steps in the null space of the pre-activations' Jacobian, then projected back), on
which ℓ is smooth and the compiled score exact; and a step along an ascent direction that
`ascent` finds, followed by a fresh run of the optimiser. When no ascent direction is left, the
start has converged; when one is still left after `MAX_ESCAPES` rounds, it has not, and says
where.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ascent", "manifold_scoring", "polish"]

#: one-sided finite-difference step, relative to max(1, |θ_j|): past a kink that the optimiser
#: converged onto (within ~1e-9), and far above the rounding level of ℓ.
FD_STEP = 1e-7
#: a change of ℓ below this, relative to max(1, |ℓ|), is rounding (the sum over rows).
_NOISE_RTOL = 1e-12
#: an ascent direction counts when a line search along it gains more than this multiple of
#: ``tol · max(1, |ℓ|)`` (the optimiser's own convergence scale).
_GAIN_FACTOR = 10.0
#: at most this many directions (the steepest) get a line search.
_MAX_LINE = 6
#: line-search steps FD_STEP · 4^k, k = 0 … _LINE_STEPS (up to ~1e8 relative).
_LINE_STEPS = 26
#: steps past kinks (each followed by a fresh run of the optimiser) before giving up.
MAX_ESCAPES = 5
#: a row whose pre-activation at a kinked unit is within this (relative to max(1, max |z|) of
#: the unit) of 0 is on the kink: optimisers of the smooth pieces stop within ~1e-8 of it.
_ACTIVE_RTOL = 1e-6
#: iteration limit of the scoring on the kink manifold.
_MANIFOLD_MAX_ITER = 200
#: Gauss–Newton projections back onto the kink manifold per step (exact in one for units of
#: the first layer, whose pre-activations are linear in θ).
_PROJECTIONS = 3
#: central finite-difference step of the pre-activations' Jacobian, relative to max(1, |θ_j|).
_JAC_STEP = 1e-6
#: a singular value of that Jacobian below this fraction of the largest is a dependent row.
_JAC_RTOL = 1e-10
#: initial and largest damping of the manifold's Levenberg–Marquardt steps (relative to the
#: diag of the reduced information), as in `symmle.fitting._scoring`.
_MU0, _MU_MAX = 1e-3, 1e16


def _kinked_units(arch):
    """The units whose activation has a kink (positively homogeneous, not linear)."""
    return tuple(v for v in (*arch.hidden_nodes, *arch.output_nodes)
                 if arch.activation_of(v).positively_homogeneous
                 and not arch.activation_of(v).linear)


def _preactivations(arch, theta, X, units):
    """``{unit: z (n,)}``: the pre-activations of ``units`` (a forward pass of the network)."""
    h = {v: X[:, i] for i, v in enumerate(arch.input_nodes)}
    out = {}
    with np.errstate(all="ignore"):
        for L, (W, b) in zip(arch.layers, arch.unflatten(theta[:arch.n_params])):
            A = np.stack([h[u] for u in L.sources], axis=1) @ W.T + b
            for j, v in enumerate(L.units):
                if v in units:
                    out[v] = A[:, j]
                h[v] = arch.activation_of(v).numpy(A[:, j])
    return out


class _KinkManifold:
    """The rows pinned at a kink at θ, and the pre-activations ``c(θ)`` that keep them there."""

    def __init__(self, pb, theta):
        self.arch = pb.model.architecture
        self.X = pb.X
        self.units = _kinked_units(self.arch)
        z = _preactivations(self.arch, theta, self.X, self.units)
        self.active = []
        for v in self.units:
            rows = np.flatnonzero(np.abs(z[v]) <= _ACTIVE_RTOL * max(1.0, float(np.max(np.abs(z[v])))))
            if rows.size:
                self.active.append((v, rows))

    def __bool__(self):
        return bool(self.active)

    def __call__(self, theta):
        z = _preactivations(self.arch, theta, self.X, {v for v, _ in self.active})
        return np.concatenate([z[v][rows] for v, rows in self.active])

    def jacobian(self, theta, free):
        """``∂c/∂θ_free`` by central differences (c is smooth near the manifold)."""
        C = np.empty((sum(r.size for _, r in self.active), free.size))
        for k, j in enumerate(free):
            h = _JAC_STEP * max(1.0, abs(theta[j]))
            up, dn = theta.copy(), theta.copy()
            up[j] += h
            dn[j] -= h
            C[:, k] = (self(up) - self(dn)) / (2.0 * h)
        return C


def _project(manifold, theta, free, C_pinv):
    """θ moved back onto the manifold by Gauss–Newton steps ``θ -= C⁺ c(θ)``."""
    for _ in range(_PROJECTIONS):
        c = manifold(theta)
        if not np.all(np.isfinite(c)):
            return None
        theta = theta.copy()
        theta[free] -= C_pinv @ c
    return theta


def manifold_scoring(pb, theta, ll, free, tol):
    """Damped Fisher scoring of ℓ on the kink manifold through θ (rows at kinks kept there).

    Returns
    -------
    (theta, loglik, n_iter)
        θ unchanged when no row is at a kink or no step gains.
    """
    manifold = _KinkManifold(pb, theta)
    if not manifold:
        return theta, ll, 0
    mu, nu, n_iter = _MU0, 2.0, 0
    while n_iter < _MANIFOLD_MAX_ITER:
        C = manifold.jacobian(theta, free)
        if not np.all(np.isfinite(C)):
            break
        _, sv, Vt = np.linalg.svd(C, full_matrices=True)
        rank = int(np.sum(sv > _JAC_RTOL * sv[0])) if sv.size and sv[0] > 0 else 0
        T = Vt[rank:].T  # tangent directions (free coordinates)
        if T.shape[1] == 0:
            break
        C_pinv = np.linalg.pinv(C, rcond=_JAC_RTOL)
        with np.errstate(all="ignore"):
            v = pb.penalised_derivatives(theta, ("score", "fisher"))
        g = T.T @ v["score"][free]
        A = T.T @ v["fisher"][np.ix_(free, free)] @ T
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(A))):
            break
        d = np.maximum(np.diag(A), 1e-12 * max(float(np.max(np.diag(A))), 1e-300))
        accepted = False
        while mu <= _MU_MAX:
            try:
                step = np.linalg.solve(A + mu * np.diag(d), g)
            except np.linalg.LinAlgError:
                mu *= nu
                continue
            pred = 0.5 * float(step @ (g + mu * d * step))
            trial = theta.copy()
            trial[free] += T @ step
            trial = _project(manifold, trial, free, C_pinv)
            n_iter += 1
            ll_new = -np.inf if trial is None else pb.objective(trial)
            if ll_new > ll:
                gain = ll_new - ll
                theta, ll = trial, ll_new
                mu, nu, accepted = max(mu / 3.0, 1e-12), 2.0, True
                break
            mu *= nu
            nu *= 2.0
        if not accepted or (gain <= tol * max(1.0, abs(ll)) and pred <= tol * max(1.0, abs(ll))):
            break
    return theta, ll, n_iter


def _line_search(pb, theta, ll, d):
    """The best ``(gain, θ + s d)`` over ``s = FD_STEP · 4^k``, stopping once ℓ falls."""
    best_gain, best = 0.0, None
    for k in range(_LINE_STEPS + 1):
        trial = theta + (FD_STEP * 4.0 ** k) * d
        gain = pb.objective(trial) - ll
        if gain > best_gain:
            best_gain, best = gain, trial
        elif best is not None:
            break
    return best_gain, best


def ascent(pb, theta, ll, free, tol):
    """A point with a higher ℓ along a one-sided ascent direction at θ, or None.

    Parameters
    ----------
    pb : symmle.fitting._problem._Problem
    theta : ndarray, shape (P,)
    ll : float
        ℓ(θ).
    free : ndarray of int
        The coordinates that may move.
    tol : float
        The optimiser's tolerance: a direction counts when its line search gains more than
        ``_GAIN_FACTOR · tol · max(1, |ℓ|)``.

    Returns
    -------
    (ndarray, float, str) or None
        The better point, its ℓ and the direction in words.
    """
    if free.size == 0 or not np.isfinite(ll):
        return None
    names = pb.model.param_names
    scale = np.maximum(1.0, np.abs(theta))
    noise = _NOISE_RTOL * max(1.0, abs(ll))
    slopes = np.zeros((2, free.size))  # one-sided slopes along +e_j and -e_j
    for s, sign in enumerate((1.0, -1.0)):
        for k, j in enumerate(free):
            trial = theta.copy()
            trial[j] += sign * FD_STEP * scale[j]
            slopes[s, k] = (pb.objective(trial) - ll) / FD_STEP
    dirs = []
    for k, j in enumerate(free):
        for s, sign in enumerate((1.0, -1.0)):
            if slopes[s, k] * FD_STEP > noise:
                d = np.zeros_like(theta)
                d[j] = sign * scale[j]
                dirs.append((slopes[s, k], d, f"{'+' if sign > 0 else '-'}{names[j]}"))
    # the steepest one-sided combination: each coordinate's better side, if it ascends
    up = np.where(slopes[0] >= slopes[1], slopes[0], -slopes[1])
    up = np.where(np.maximum(slopes[0], slopes[1]) * FD_STEP > noise, up, 0.0)
    combos = [(up, "the steepest one-sided combination of the coordinates")]
    with np.errstate(all="ignore"):
        g = pb.penalised_derivatives(theta, ("score",))["score"][free]
    if np.all(np.isfinite(g)):
        combos.append((g * scale[free], "the score"))
    for c, what in combos:
        norm = float(np.linalg.norm(c))
        if norm == 0.0:
            continue
        d = np.zeros_like(theta)
        d[free] = c / norm * scale[free]
        slope = (pb.objective(theta + FD_STEP * d) - ll) / FD_STEP
        if slope * FD_STEP > noise:
            dirs.append((slope, d, what))
    if not dirs:
        return None
    dirs.sort(key=lambda t: -t[0])
    threshold = _GAIN_FACTOR * tol * max(1.0, abs(ll))
    best = None
    for _, d, what in dirs[:_MAX_LINE]:
        gain, point = _line_search(pb, theta, ll, d)
        if point is not None and gain > threshold and (best is None or gain > best[0]):
            best = (gain, point, what)
    if best is None:
        return None
    return best[1], ll + best[0], best[2]


def polish(pb, run, theta, ll, converged, n_iter, message, free, tol):
    """Check a converged start one-sidedly; step past kinks and re-run the optimiser.

    ``run(θ0) -> (θ, ℓ, converged, n_iter, message)`` is the optimiser. Only for a problem
    that is not smooth (`symmle.fitting._problem._Problem.smooth`) and a start that claims
    convergence; anything else is returned unchanged.

    Returns
    -------
    (theta, loglik, converged, n_iter, message)
    """
    if pb.smooth or not converged:
        return theta, ll, converged, n_iter, message
    free = np.asarray(free, dtype=np.intp)
    for _ in range(MAX_ESCAPES):
        theta, ll, nit = manifold_scoring(pb, theta, ll, free, tol)
        n_iter += nit
        found = ascent(pb, theta, ll, free, tol)
        if found is None:
            return theta, ll, converged, n_iter, message
        start, ll0, _ = found
        try:
            with np.errstate(all="ignore"):
                t1, l1, ok1, n1, m1 = run(start)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            t1, l1, ok1, n1, m1 = start, ll0, True, 0, message
        n_iter += n1
        if not (np.isfinite(l1) and l1 >= ll0 and np.all(np.isfinite(t1))):
            t1, l1, ok1, m1 = start, ll0, True, message
        theta, ll, converged, message = t1, l1, ok1, m1
        if not converged:
            return theta, ll, converged, n_iter, message
    theta, ll, nit = manifold_scoring(pb, theta, ll, free, tol)
    n_iter += nit
    found = ascent(pb, theta, ll, free, tol)
    if found is None:
        return theta, ll, converged, n_iter, message
    return theta, ll, False, n_iter, (
        f"stopped at a non-smooth point (a kink of a ReLU-type unit) where the log-likelihood "
        f"still increases, by {found[1] - ll:.3g} along {found[2]}, after {MAX_ESCAPES} steps "
        f"past kinks; try more starts")
