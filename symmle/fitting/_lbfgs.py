"""The first phase of `fit`'s method ``"lbfgs"``, and the rule by which ``"auto"`` picks a method.

Each iteration of damped Fisher scoring (`symmle.fitting._scoring`) forms the expected
information, ``n·P²`` work, where a gradient is ``n·P``: for a network of a few hundred
parameters one information costs as much as 5–8 log-likelihood-and-score evaluations on one
thread (mlp(10, 20, 1), n = 10⁵). Method ``"lbfgs"`` therefore runs
`scipy.optimize.minimize` (L-BFGS-B) on the exact score first, to a relative reduction of the
objective of 10⁻⁸ a step (`LBFGS_FTOL`), and then hands over to trust-region Newton steps on the exact
Hessian (`symmle.fitting._newton`: conjugate gradients on Hessian-vector products,
preconditioned by the information), whose convergence criterion is scoring's with the Newton
model's prediction; where those are not available (a family whose derivatives leave float64)
or do not converge, the damped scoring iterations finish the fit from there.

`choose_method` is the rule of ``method="auto"`` (measured in ``benchmarks/bench_fit.py``; the
figures are in ``benchmarks/README.md`` and ``docs/fitting.md``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize as opt

__all__ = ["AUTO_LBFGS_PARAMS", "LBFGS_FTOL", "LBFGS_ITER_FACTOR", "LBFGS_MEMORY",
           "choose_method", "lbfgs_phase"]

#: ``method="auto"`` runs ``"lbfgs"`` from this many parameters on (and ``"scoring"`` below, or
#: for a GLM, whose concave log-likelihood Newton–Raphson maximises in a few steps). Measured on
#: one thread: mlp(2, 3, 1) (P = 14) is fitted fastest by scoring (15 iterations, each
#: information as cheap as a score); mlp(10, 20, 1) (P = 242) by L-BFGS first (each information
#: costs 5–10 scores, and scoring needs hundreds of iterations in its flat valleys). Only those
#: two sizes were measured: 100 is a round value between them, not a measured crossover.
AUTO_LBFGS_PARAMS = 100

#: the L-BFGS phase stops when a step reduces the (start-scaled) objective by less than this
#: fraction; trust-region Newton steps on the exact Hessian (`symmle.fitting._newton`) finish
#: from there. Measured on mlp(10, 20, 1), α = 1, one thread (grads = score evaluations, a
#: Hessian-vector product counted as 2.7 and an information as 8): at n = 10⁵ one start took
#: L-BFGS 2 617 iterations to a reduction of 10⁻¹⁴ a step (95 s); Newton from its 500th, 900th,
#: 1 400th or 2 000th iterate converged in 115, 87, 66 or 3 steps (48, 40, 31.5, 2.5 s), each
#: sooner than L-BFGS from the same iterate (77, 62, 44, 22 s); at n = 2·10⁴, three starts,
#: handing over at 10⁻⁷…10⁻⁹ a step cost 0.65–0.85 of L-BFGS to 10⁻¹⁴ in grads.
LBFGS_FTOL = 1e-8

#: the L-BFGS phase runs at most this many iterations per ``max_iter`` (an L-BFGS iteration
#: costs a score, a scoring iteration an information: 5–10 scores for P = 241). Converging runs
#: of mlp(10, 20, 1) took 1 437–3 415 iterations; where the likelihood has no maximum at finite
#: weights (units cancelling each other ever more steeply) the phase runs to this limit, so it is
#: kept to a few thousand: the scoring phase then goes on, up to ``max_iter`` informations.
LBFGS_ITER_FACTOR = 5

#: correction pairs L-BFGS keeps (scipy's default, and scikit-learn's, is 10). Measured on
#: mlp(10, 20, 1), n = 2·10⁴, two starts: 10 pairs took 2582 and 3415 iterations to converge,
#: 20 pairs 2043 and 2164, 50 pairs 1602 and 1437, 100 pairs 1265 and 1330; scipy's own work
#: per iteration (P = 241) is 0.4–0.9 ms for 10–20 pairs, 2–3 ms for 50 and 15 ms for 100,
#: beside 12–45 ms for one score at n = 10⁵.
LBFGS_MEMORY = 50


def choose_method(pb) -> str:
    """The method ``fit(..., method="auto")`` runs on the problem ``pb``: ``"lbfgs"`` for a
    network of at least `AUTO_LBFGS_PARAMS` parameters, else ``"scoring"``."""
    if pb.concave or pb.P < AUTO_LBFGS_PARAMS:
        return "scoring"
    return "lbfgs"


def lbfgs_phase(objective, x0, max_iter):
    """Minimise ``objective`` (``x ↦ (f, ∇f)``, f bounded below near the optimum) from ``x0`` by
    L-BFGS-B; return ``(x, n_iter)``, x the best finite point evaluated.

    The objective is scaled by ``1 / max(|f(x0)|, 1)`` so that scipy's relative reduction
    criterion (`LBFGS_FTOL`) reads relative to the start. At most ``LBFGS_ITER_FACTOR · max_iter`` iterations.
    """
    x0 = np.asarray(x0, dtype=float)
    f0, _ = objective(x0)
    if not np.isfinite(f0) or x0.size == 0:
        return x0, 0
    scale = 1.0 / max(abs(f0), 1.0)
    best = [f0, x0.copy()]

    def fun(x):
        f, g = objective(x)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            # L-BFGS-B's line search backtracks from a non-finite value
            return math.inf, np.zeros_like(x)
        if f < best[0]:
            best[0], best[1] = f, x.copy()
        return f * scale, g * scale

    iters = min(LBFGS_ITER_FACTOR * max_iter, 2 ** 31 - 1)
    r = opt.minimize(fun, x0, jac=True, method="L-BFGS-B",
                     options={"maxiter": iters, "maxfun": min(2 * iters, 2 ** 31 - 1),
                              "ftol": LBFGS_FTOL, "gtol": 0.0,
                              "maxcor": LBFGS_MEMORY})
    return best[1], int(r.nit)
