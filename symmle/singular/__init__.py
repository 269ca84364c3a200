"""Singular learning theory: exact learning coefficients and exact population losses.

* `rrr_learning_coefficient` — λ and m of reduced-rank regression (Aoyagi & Watanabe 2005),
  exact `fractions.Fraction`.
* `odd_1h1_learning_coefficient` — λ and m of a one-input, one-output network of H odd units
  at a zero truth (Aoyagi 2019).
* `learning_coefficient_theory` — λ, m and the case for a model at its truth where theory knows
  it (regular truths, reduced-rank regression, 1-H-1 odd networks at a zero truth), else None;
  a `LearningCoefficient` record; `rank_r_truth` draws a reduced-rank regression truth.
* `learning_coefficient` — λ estimated from data (WBIC or the local learning coefficient) by
  HMC on the exact score (mici and ArviZ, the extra ``symmle[singular]``); a
  `LearningCoefficientEstimate` record.
* `posterior_draws` — draws of the Bayes posterior (β = 1) by the same HMC sampler, for
  posterior predictive quantities (the Bayes generalisation error of `singular_study`).
* `simulate_truth` — data from a truth with standard normal or uniform inputs (the input laws
  the exact cases assume); `read_theta` — a truth θ* from JSON.
* `population_kl` — the exact population KL divergence K(θ) of Gaussian linear and bias-free
  erf networks with standard normal inputs, as a sympy expression; `population_kl_function`
  compiles it with its gradient.

Modules: ``_theory`` (the exact learning coefficients), ``_estimate`` (`learning_coefficient`,
`posterior_draws`), ``_truths`` (`simulate_truth`, `read_theta`), ``_population``
(`population_kl`).
"""

from ._estimate import (
    LOCAL_TWO_BETAS,
    MAX_DRAWS,
    METHODS,
    WBIC_BETA_RATIO,
    LearningCoefficientEstimate,
    learning_coefficient,
    posterior_draws,
)
from ._population import population_kl, population_kl_function
from ._theory import (
    ODD_1H1_REFERENCE,
    REGULAR_REFERENCE,
    RRR_REFERENCE,
    LearningCoefficient,
    learning_coefficient_theory,
    odd_1h1_learning_coefficient,
    rank_r_truth,
    rrr_learning_coefficient,
)
from ._truths import INPUTS, read_theta, simulate_truth

__all__ = [
    "rrr_learning_coefficient",
    "odd_1h1_learning_coefficient",
    "learning_coefficient_theory",
    "rank_r_truth",
    "LearningCoefficient",
    "learning_coefficient",
    "LearningCoefficientEstimate",
    "posterior_draws",
    "MAX_DRAWS",
    "METHODS",
    "WBIC_BETA_RATIO",
    "LOCAL_TWO_BETAS",
    "simulate_truth",
    "read_theta",
    "INPUTS",
    "population_kl",
    "population_kl_function",
    "RRR_REFERENCE",
    "REGULAR_REFERENCE",
    "ODD_1H1_REFERENCE",
]
