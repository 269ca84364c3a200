"""Singular learning theory: exact learning coefficients and exact population losses.

* `rrr_learning_coefficient` — λ and m of reduced-rank regression (Aoyagi & Watanabe 2005),
  exact `fractions.Fraction`.
* `odd_1h1_learning_coefficient` — λ and m of a one-input, one-output network of H odd units
  at a zero truth (Aoyagi 2019).
* `learning_coefficient_theory` — λ, m and the case for a model at its truth where theory knows
  it (regular truths, reduced-rank regression, 1-H-1 odd networks at a zero truth), else None;
  a `LearningCoefficient` record.
* `learning_coefficient` — λ estimated from data (WBIC or the local learning coefficient) by
  HMC on the exact score (mici and ArviZ, the extra ``symmle[singular]``); a
  `LearningCoefficientEstimate` record.
* `population_kl` — the exact population KL divergence K(θ) of Gaussian linear and bias-free
  erf networks with standard normal inputs, as a sympy expression; `population_kl_function`
  compiles it with its gradient.

Modules: ``_theory`` (the exact learning coefficients), ``_estimate`` (`learning_coefficient`),
``_population`` (`population_kl`).
"""

from ._estimate import (
    METHODS,
    WBIC_BETA_RATIO,
    LearningCoefficientEstimate,
    learning_coefficient,
)
from ._population import population_kl, population_kl_function
from ._theory import (
    ODD_1H1_REFERENCE,
    REGULAR_REFERENCE,
    RRR_REFERENCE,
    LearningCoefficient,
    learning_coefficient_theory,
    odd_1h1_learning_coefficient,
    rrr_learning_coefficient,
)

__all__ = [
    "rrr_learning_coefficient",
    "odd_1h1_learning_coefficient",
    "learning_coefficient_theory",
    "LearningCoefficient",
    "learning_coefficient",
    "LearningCoefficientEstimate",
    "METHODS",
    "WBIC_BETA_RATIO",
    "population_kl",
    "population_kl_function",
    "RRR_REFERENCE",
    "REGULAR_REFERENCE",
    "ODD_1H1_REFERENCE",
]
