"""Profile likelihoods of a fit: `profile` and `profile_conf_int`, thin wrappers that hand a
`FitResult`'s model, data, estimate, log-likelihood and information to the array-level core in
`symmle.fitting._profile` (`profile_likelihood`, `profile_intervals`)."""

from __future__ import annotations

import warnings

import numpy as np

from .._checks import check_probability
from ..errors import ConvergenceWarning, NonIdentifiableWarning, SymmleTypeError, SymmleValueError
from ._profile import Profile, _curve, _intervals, _param_index, _param_indices
from ._result import FitResult

__all__ = ["profile", "profile_conf_int"]


def _result_parts(result):
    """``(model, X, y, θ̂, ℓ(θ̂), information)`` of a FitResult that still has its data."""
    if not isinstance(result, FitResult):
        raise SymmleTypeError(f"result must be a FitResult (from sm.fit), "
                              f"got {type(result).__name__}")
    if result.X is None or result.y is None:
        raise SymmleValueError("result has no data (X, y): profile likelihoods re-optimise, so "
                               "use a FitResult from sm.fit rather than one loaded from JSON")
    return (result.model, result.X, result.y, np.array(result.params, dtype=float),
            float(result.loglik), result.information)



def profile(result, param, *, values=None, n_points: int = 21, width: float = 4.0,
            tol: float = 1e-8) -> Profile:
    """Profile log-likelihood of one parameter, re-optimising all the others.

    `profile_likelihood` for a fit's model, data, estimate, log-likelihood and information.

    Parameters
    ----------
    result : FitResult
        From `symmle.fit` (it keeps X and y).
    param : str or int
        The parameter's name or index.
    values : array_like, optional
        The grid of values of the parameter; default ``n_points`` values over
        θ̂ ± ``width`` standard errors (± ``width · 0.25 (1 + |θ̂|)`` when the
        standard error is not finite).
    n_points : int
    width : float
    tol : float
        Gradient tolerance of the inner L-BFGS-B maximisations (mean log-likelihood).

    Returns
    -------
    Profile

    Examples
    --------
    >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    >>> X, y = model.simulate(np.array([1.0, -0.5]), n=300, rng=0)
    >>> res = sm.fit(model, X, y, rng=0)
    >>> pr = sm.profile(res, "W1_1_1", n_points=5)
    >>> bool(pr.deviance.min() < 1e-6), bool(pr.deviance[0] > 1), pr.flat
    (True, True, False)
    """
    model, X, y, theta_hat, loglik, information = _result_parts(result)
    i = _param_index(model, param)
    prof, message = _curve(model, X, y, theta_hat, i, values, n_points, width, loglik,
                           information, tol)
    if message:
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return prof


def profile_conf_int(result, alpha: float = 0.05, params=None, *, max_steps: int = 25,
                     tol: float = 1e-8) -> np.ndarray:
    """Profile-likelihood confidence intervals: ``{t : 2(ℓ(θ̂) - ℓ_p(t)) ≤ χ²₁(1 - α)}``.

    Each side steps outward from θ̂ (doubling the step) until the profile
    deviance crosses the χ²₁ quantile, then finds the crossing by Brent's
    method; a side that never crosses within ``max_steps`` doublings is
    unbounded (``±inf``), a direction the data do not identify.
    `profile_intervals` for a fit's model, data, estimate, log-likelihood and
    information.

    Parameters
    ----------
    result : FitResult
    alpha : float
        Level ``1 - alpha``.
    params : sequence of str or int, optional
        Which parameters; all when None.
    max_steps : int
        Step doublings per side before the side is declared unbounded (from a
        first step of one standard error, or ``0.1 (1 + |θ̂|)`` when that is not
        finite).
    tol : float
        Gradient tolerance of the inner maximisations.

    Returns
    -------
    ndarray, shape (len(params), 2)

    Warns
    -----
    NonIdentifiableWarning
        Naming the parameters whose interval is unbounded.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    >>> X, y = model.simulate(np.array([1.0, -0.5]), n=300, rng=0)
    >>> res = sm.fit(model, X, y, rng=0)
    >>> ci = sm.profile_conf_int(res, 0.05)
    >>> ci.shape, bool(np.all(ci[:, 0] < res.params)), bool(np.all(res.params < ci[:, 1]))
    ((2, 2), True, True)
    """
    model, X, y, theta_hat, loglik, information = _result_parts(result)
    alpha = check_probability(alpha, "alpha")
    out, message = _intervals(model, X, y, theta_hat, _param_indices(model, params), alpha,
                              loglik, information, max_steps, tol)
    if message:
        warnings.warn(message, NonIdentifiableWarning, stacklevel=2)
    return out
