"""Maximum-likelihood fitting with exact derivatives: `fit`, `FitResult` and profile likelihoods.

Every derivative comes from the compiled model (`Model.compile`). The one use of finite
differences is where there is no derivative: at a kink of ReLU-type units a start counts as
converged only when one-sided differences of the log-likelihood find no ascent direction.

* Gaussian family: the maximum-likelihood estimate of the network parameters
  is the least-squares fit of the residuals ``y - f(x; θ)``. When σ is unknown
  it is profiled out exactly: ``σ̂² = RSS / (n K)``, which is the joint maximum
  because, for any network parameters, the log-likelihood is maximised over σ
  at that value. Besides the default, `scipy.optimize.least_squares`
  (Levenberg–Marquardt ``"lm"`` or the trust-region reflective ``"trf"``)
  solves it with the exact Jacobian ``∂f/∂θ``.
* Every family: damped Fisher scoring (``"scoring"``: Levenberg–Marquardt
  steps with the expected information; for a Gaussian family this is exactly
  Levenberg–Marquardt on the residuals), L-BFGS on the exact score followed by
  those scoring steps (``"lbfgs"``: the information only at the end, for
  networks of hundreds of parameters; the default ``"auto"`` picks it from 100
  parameters on and ``"scoring"`` below), or
  trust-region Newton on the log-likelihood with the exact score and observed
  Hessian (``"trust-exact"`` from `scipy.optimize.minimize`). The safeguard is
  the same in both: a step is taken only when it increases the log-likelihood.

Standard errors come from the inverse of the expected information at θ̂
(``kind="observed"`` for minus the inverse Hessian). A singular information
matrix is a finding, not a crash: parameters along its null space
(``INFO_RTOL``, ``NULL_COMPONENT_TOL``) get NaN standard errors, the others are
still reported, and a `symmle.errors.NonIdentifiableWarning` is issued.
Profile likelihoods (`profile`, `profile_conf_int`, and the array-level
`profile_likelihood`, `profile_intervals`) re-optimise all parameters but one, from several
starts, moving along the known symmetries where the likelihood is flat. AIC and BIC count the
identified parameters (the rank of the information).

Inference that stays valid where the weights are not identified: penalised fits
(``fit(..., penalty=)``), predictions with delta-method intervals (`FitResult.get_prediction`,
a `Prediction`), functionals (`FitResult.functional`), robust (HC0) covariances, Wald tests
(`FitResult.wald_test`, a `TestResult`), likelihood-ratio tests (`lr_test`, with a parametric
bootstrap), input relevance (`input_relevance`) and model comparison (`compare`); diagnostics
of separation, saturation, diverging weights and interpolation; the canonical form of a fit;
a DataFrame's column names in parameter names.

Modules: ``_fit`` (`fit`, its diagnostics run), ``_result`` (`FitResult`), ``_records``
(`FitStart`, `CovarianceMatrix`), ``_summary`` (the summary table), ``_persist`` (JSON),
``_canonical`` (the canonical form), ``_names`` (column names), ``_diagnostics`` (separation by
linear programming, saturation, divergence, interpolation), ``_inference`` (scores, sandwich,
Wald, delta method, the identified subspace), ``_tests`` (LR, relevance, comparison),
``_scoring`` (the Fisher-scoring optimiser), ``_lbfgs`` (the L-BFGS phase and the rule of
``method="auto"``), ``_problem`` (the validated data, model and
penalty of one fit), ``_nonsmooth`` (convergence at kinks), ``_profile`` (profile likelihood
from arrays), ``_ridge`` (starts moved along the symmetries), ``_profile_fit`` (its wrappers
for a `FitResult`), ``_root`` (a root of the information).
"""

from ._fit import fit
from ._inference import Prediction, TestResult
from ._profile import Profile, profile_intervals, profile_likelihood
from ._profile_fit import profile, profile_conf_int
from ._records import CovarianceMatrix, FitStart
from ._result import COV_TYPES, INFO_RTOL, METHODS, NULL_COMPONENT_TOL, FitResult
from ._tests import ComparisonTable, RelevanceTable, compare, input_relevance, lr_test

__all__ = [
    "fit",
    "FitResult",
    "FitStart",
    "CovarianceMatrix",
    "METHODS",
    "COV_TYPES",
    "Prediction",
    "TestResult",
    "lr_test",
    "input_relevance",
    "compare",
    "ComparisonTable",
    "RelevanceTable",
    "INFO_RTOL",
    "NULL_COMPONENT_TOL",
    "Profile",
    "profile",
    "profile_conf_int",
    "profile_likelihood",
    "profile_intervals",
]
