"""Identifiability analysis: which regularity conditions of maximum likelihood hold, and why.

* `identifiability` — the rank of the Fisher information at θ, its null
  space in words, and whether the known symmetries explain it (Rothenberg 1971:
  θ is locally identifiable iff the information is nonsingular), with a
  *certified* verdict — "identifiable", "not identifiable" or "undecided" — from
  exact rational or interval arithmetic (``RANK_RTOL``: the numerical rank
  convention, which the verdict does not rest on), optionally with an exact rank at
  rational points (``exact=True``, python-flint).
* `is_reducible` and `reduce` — Sussmann's (1992) reductions, giving
  a smaller network with the same function (`is_reducible` is true exactly when
  `reduce` removes a unit).
* `regularity` — the classical regularity conditions of the MLE, each with
  a verdict and a one-line reason for this model.
* `cluster_optima` — a multi-start fit's optima grouped modulo the
  discrete symmetry group.
* `profile` and `profile_conf_int` — practical identifiability by profile
  likelihood (a flat profile is a non-identified direction); they live in
  `symmle.fitting` (inference on a fit) and are re-exported here.

Modules: ``_report`` (`identifiability`), ``_certify`` (certified bounds on the rank),
``_nulls`` (null directions of exact reducibility), ``_arith`` (the Jacobian in exact rational
and in ball arithmetic), ``_exact`` (exact rank over
ℚ(e^{1/D})), ``_reduction`` (`is_reducible`, `reduce`), ``_regularity`` (`regularity`),
``_optima`` (`cluster_optima`).
"""

from ..fitting import Profile, profile, profile_conf_int
from ._optima import OptimaClusters, cluster_optima
from ._reduction import REDUCE_TOL, is_reducible, reduce
from ._regularity import RegularityCondition, RegularityTable, regularity
from ._report import RANK_RTOL, IdentifiabilityReport, identifiability

__all__ = [
    "RANK_RTOL",
    "REDUCE_TOL",
    "IdentifiabilityReport",
    "identifiability",
    "is_reducible",
    "reduce",
    "RegularityCondition",
    "RegularityTable",
    "regularity",
    "Profile",
    "profile",
    "profile_conf_int",
    "OptimaClusters",
    "cluster_optima",
]
