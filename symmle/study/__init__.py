"""The consistency study: is the MLE of a neural network consistent, and in what sense?

`consistency_study` simulates data from a true θ*, fits the model by
maximum likelihood from random starts, and measures, for growing sample sizes
``n``, three errors per replication:

* ``raw_error`` ``‖θ̂ − θ*‖``: does not go to 0 when the model has parameter
  symmetries, since θ̂ lands anywhere on θ*'s orbit;
* ``aligned_error``: the orbit distance ``min_g ‖g(θ̂) − θ*‖`` (θ̂ aligned to
  θ* by the discrete symmetry group). When θ* is irreducible this is the error
  that goes to 0 at the rate ``n^{-1/2}``: the MLE is consistent *modulo the
  group*;
* ``function_error``: the root-mean-square distance between ``f(x; θ̂)`` and
  ``f(x; θ*)`` on a fixed test set of inputs, which needs no alignment at all.

and, after alignment, Wald coverage (share of the parameters whose interval
covers θ*), efficiency ``tr(n·Cov_emp(g(θ̂))) / tr(I₁(θ*)⁻¹)`` against the
Cramér–Rao bound, and Kolmogorov–Smirnov statistics of the standardized
aligned estimates ``√n (g(θ̂) − θ*)_j / √[I₁(θ*)⁻¹]_jj`` against ``N(0, 1)``.

The estimator is honest: each fit runs ``n_starts`` random starts (drawn by
`symmle.fit` from the task's own random stream) and keeps the best; the
truth is used only *after* fitting, to measure errors, to align, and to flag
fits whose log-likelihood is below the truth's (``below_truth``: those fits
certainly missed the global maximum).

Reproducibility: the task (n, r) — replication ``r`` at sample size ``n`` —
draws from ``SeedSequence(entropy).spawn(n + 1)[n].spawn(r + 1)[r]`` (built
directly as ``SeedSequence(entropy, spawn_key=(n, r))``), so every task's data
and starts depend only on the study's seed and on (n, r), never on which
worker runs it or in which order; the table is identical for any ``n_jobs``
and any backend, and a study that adds sample sizes or replications reuses
the tasks it already has.

The package's modules: ``_study`` (`consistency_study`, its arguments, the seed's model and
θ*), ``_execution`` (the per-task function and the sequential, joblib and Dask runners),
``_result`` (`StudyResult`, the aggregation of task records, JSON), ``_checkpoint``
(checkpoint files) and ``_plot`` (the figure).
"""

from ._execution import STUDY_ALIGN_MAX_NODES, STUDY_ALIGN_TIME_LIMIT
from ._result import SCHEMA_VERSION, StudyResult
from ._singular import SINGULAR_SCHEMA, SingularStudyResult, singular_study
from ._study import (
    DEFAULT_SIZES,
    QUICK_REPS,
    QUICK_SIZES,
    QUICK_STARTS,
    REDUCIBLE_THETA,
    SEED_THETA,
    consistency_study,
    seed_model,
)

__all__ = [
    "consistency_study",
    "StudyResult",
    "singular_study",
    "SingularStudyResult",
    "SINGULAR_SCHEMA",
    "seed_model",
    "SEED_THETA",
    "REDUCIBLE_THETA",
    "QUICK_SIZES",
    "QUICK_REPS",
    "QUICK_STARTS",
    "DEFAULT_SIZES",
    "SCHEMA_VERSION",
    "STUDY_ALIGN_MAX_NODES",
    "STUDY_ALIGN_TIME_LIMIT",
]
