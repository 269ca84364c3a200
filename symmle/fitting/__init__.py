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
* Every family: damped Fisher scoring (``"scoring"``, the default:
  Levenberg–Marquardt steps with the expected information; for a Gaussian
  family this is exactly Levenberg–Marquardt on the residuals), or
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

Modules: ``_fit`` (`fit`), ``_result`` (`FitResult`, `FitStart`,
`CovarianceMatrix`, JSON), ``_scoring`` (the Fisher-scoring optimiser),
``_problem`` (the validated data and model of one fit), ``_nonsmooth`` (convergence at
kinks), ``_profile`` (profile likelihood from arrays), ``_ridge`` (starts moved along the
symmetries), ``_profile_fit`` (its wrappers for a `FitResult`), ``_root`` (a root of the
information).
"""

from ._fit import fit
from ._profile import Profile, profile_intervals, profile_likelihood
from ._profile_fit import profile, profile_conf_int
from ._result import INFO_RTOL, METHODS, NULL_COMPONENT_TOL, CovarianceMatrix, FitResult, FitStart

__all__ = [
    "fit",
    "FitResult",
    "FitStart",
    "CovarianceMatrix",
    "METHODS",
    "INFO_RTOL",
    "NULL_COMPONENT_TOL",
    "Profile",
    "profile",
    "profile_conf_int",
    "profile_likelihood",
    "profile_intervals",
]
