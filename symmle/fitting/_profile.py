"""Profile likelihood: inference on one parameter of a fit by re-optimising all the others.

The array-level core takes a model, the data, θ̂ and what it needs of the fit (its
log-likelihood and information): `profile_likelihood` (the curve ``ℓ_p(t)``, a `Profile`) and
`profile_intervals` (``{t : 2(ℓ(θ̂) - ℓ_p(t)) ≤ χ²₁(1 - α)}``). `profile` and
`profile_conf_int` are the same for a `FitResult` (so is ``FitResult.conf_int(method="profile")``).
A flat profile is a direction the data do not identify (practical identifiability).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize as so
import scipy.stats as st

from .._checks import as_real_array, check_int, check_probability, check_real
from .._information import information_rank
from ..errors import (
    ConvergenceWarning,
    NonIdentifiableWarning,
    ParamsError,
    SymmleTypeError,
    SymmleValueError,
)
from ..model import Model

__all__ = ["Profile", "profile_likelihood", "profile_intervals"]

#: a profile whose deviance stays below this over the whole grid is flat (no information).
_FLAT_DEVIANCE = 1e-6
#: a profile above ℓ(θ̂) by more than this (relative to max(1, |ℓ(θ̂)|)) means the fit stopped
#: short of the maximum.
_ABOVE_FIT_RTOL = 1e-6
#: iteration limit and function tolerance of the inner L-BFGS-B maximisations: the gradient
#: tolerance ``tol`` is what stops them, not these.
_INNER_MAXITER = 2000
_INNER_FTOL = 1e-15
#: relative tolerance of Brent's root finder for an interval's end point.
_BRENT_RTOL = 1e-10


class _Profiler:
    """Maximises the log-likelihood over all coordinates but one, with warm starts."""

    def __init__(self, model, theta_hat, X, y, i, tol):
        self.cm = model.compile()
        self.X, self.y, self.i = X, y, i
        self.theta_hat = theta_hat
        self.free = np.array([j for j in range(model.n_params) if j != i], dtype=np.intp)
        self.scale = float(X.shape[0])
        self.tol = tol
        self.solved = {}  # value -> (profile loglik, θ)

    def _neg(self, z, t):
        th = self.theta_hat.copy()
        th[self.free] = z
        th[self.i] = t
        try:
            with np.errstate(all="ignore"):
                out = self.cm.evaluate(th, self.X, self.y, ("loglik", "score"))
        except (ValueError, FloatingPointError):
            return np.inf, np.zeros(len(z))
        ll = out["loglik"]
        if not np.isfinite(ll):
            return np.inf, np.zeros(len(z))
        return -ll / self.scale, -out["score"][self.free] / self.scale

    def __call__(self, t: float) -> float:
        t = float(t)
        if t in self.solved:
            return self.solved[t][0]
        if self.solved:
            near = min(self.solved, key=lambda s: abs(s - t))
            z0 = self.solved[near][1][self.free]
        else:
            z0 = self.theta_hat[self.free]
        best = None
        for start in (z0, self.theta_hat[self.free]):
            if self.free.size == 0:
                val = -self._neg(start, t)[0] * self.scale
                z = start
            else:
                r = so.minimize(self._neg, start, args=(t,), jac=True, method="L-BFGS-B",
                                options={"maxiter": _INNER_MAXITER, "ftol": _INNER_FTOL,
                                         "gtol": self.tol})
                val, z = -r.fun * self.scale, r.x
            if best is None or val > best[0]:
                best = (val, z)
            if start is z0 and np.allclose(z0, self.theta_hat[self.free]):
                break
        th = self.theta_hat.copy()
        th[self.free] = best[1]
        th[self.i] = t
        self.solved[t] = (best[0], th)
        return best[0]


@dataclass(frozen=True, eq=False)
class Profile:
    """The profile log-likelihood of one parameter, ``ℓ_p(t) = max_{θ: θ_i = t} ℓ(θ)``.

    Attributes
    ----------
    param : str
    index : int
    estimate : float
        θ̂_i.
    loglik_max : float
        ℓ(θ̂).
    values : ndarray
        The grid of t, ascending.
    loglik : ndarray
        ℓ_p at each t.
    params : ndarray, shape (len(values), P)
        The maximising θ at each t.
    """

    param: str
    index: int
    estimate: float
    loglik_max: float
    values: np.ndarray = field(repr=False)
    loglik: np.ndarray = field(repr=False)
    params: np.ndarray = field(repr=False)

    @property
    def deviance(self) -> np.ndarray:
        """``2 (ℓ(θ̂) - ℓ_p(t))``, compared with χ²₁ quantiles."""
        return 2.0 * (self.loglik_max - self.loglik)

    @property
    def flat(self) -> bool:
        """Whether the profile stays within 1e-6 of the maximum over the whole grid."""
        return bool(np.all(self.deviance < _FLAT_DEVIANCE))


# ------------------------------------------------------------------ checks
def _param_index(model, param) -> int:
    """The index of a parameter given by name or by (possibly negative) index."""
    P = model.n_params
    if isinstance(param, str):
        try:
            return model.param_names.index(param)
        except ValueError:
            raise SymmleValueError(f"param {param!r} is not one of the model's parameters "
                                   f"{model.param_names}") from None
    return check_int(param, "param (a parameter name or index)", -P, maximum=P - 1) % P


def _param_indices(model, params) -> list[int]:
    """Indices of ``params`` (one name or index, or a sequence of them); all when None."""
    if params is None:
        return list(range(model.n_params))
    if not isinstance(params, (list, tuple, np.ndarray)):
        params = [params]
    return [_param_index(model, p) for p in params]


def _check_problem(model, X, y, theta_hat, loglik, information):
    """Validated ``(X, y, θ̂, ℓ(θ̂) or None, information or None)`` of ``model``."""
    if not isinstance(model, Model):
        raise SymmleTypeError(f"model must be a Model (sm.Model(arch, family)), "
                              f"got {type(model).__name__}")
    arch, P = model.architecture, model.n_params
    X = arch.check_X(X)
    y = model.family.check_y(y, X.shape[0], arch.n_outputs)
    theta_hat = np.array(model.check_theta(theta_hat, name="theta_hat"), dtype=np.float64)
    if theta_hat.ndim != 1:
        raise ParamsError(f"theta_hat must be one vector of length {P}, got shape "
                          f"{theta_hat.shape}")
    if loglik is not None:
        loglik = check_real(loglik, "loglik", finite=False)
    if information is not None:
        information = as_real_array(information, name="information",
                                    expected=f"a ({P}, {P}) matrix")
        if information.shape != (P, P):
            raise SymmleValueError(f"information must have shape ({P}, {P}), got "
                                   f"{information.shape}")
    return X, y, theta_hat, loglik, information


def _stderrs(information) -> np.ndarray | None:
    """The Wald standard errors from the information (the library's information rule: NaN for
    unidentified parameters), or None without an information matrix."""
    if information is None:
        return None
    return information_rank(information).stderr


def _stderr(stderrs, i) -> float:
    return math.nan if stderrs is None else float(stderrs[i])


# ------------------------------------------------------------------ curves
def _curve(model, X, y, theta_hat, i, values, n_points, width, loglik, information,
           tol) -> tuple[Profile, str]:
    """The profile of θ_i and a warning message ('' when none) when it rises above the fit."""
    tol = check_real(tol, "tol", minimum=0.0, maximum=1.0, strict_minimum=True,
                     strict_maximum=True)
    pr = _Profiler(model, theta_hat, X, y, i, tol)
    if values is None:
        n_points = check_int(n_points, "n_points", 2)
        se = _stderr(_stderrs(information), i)
        half = width * (se if np.isfinite(se) and se > 0 else 0.25 * (1 + abs(theta_hat[i])))
        values = np.linspace(theta_hat[i] - half, theta_hat[i] + half, n_points)
        values = np.sort(np.concatenate([values, [theta_hat[i]]]))
        values = np.unique(values)
    else:
        values = np.unique(np.asarray(values, dtype=float))
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise SymmleValueError("values must be a non-empty 1-D array of finite numbers")
    ll_hat = pr(theta_hat[i])
    # solve outwards from the estimate so each point warm-starts from its neighbour
    order = np.argsort(np.abs(values - theta_hat[i]), kind="stable")
    for t in values[order]:
        pr(t)
    ll = np.array([pr.solved[float(t)][0] for t in values])
    thetas = np.array([pr.solved[float(t)][1] for t in values])
    ll_max = ll_hat if loglik is None else max(ll_hat, loglik)
    message = ""
    if ll.max() > ll_max + _ABOVE_FIT_RTOL * max(1.0, abs(ll_max)):
        message = (f"the profile of {model.param_names[i]} exceeds the fitted log-likelihood "
                   f"by {ll.max() - ll_max:.3g}: the fit did not reach the maximum")
    prof = Profile(param=model.param_names[i], index=i, estimate=float(theta_hat[i]),
                   loglik_max=ll_max, values=values, loglik=ll, params=thetas)
    return prof, message


def profile_likelihood(model, X, y, theta_hat, param, *, values=None, n_points: int = 21,
                       width: float = 4.0, loglik=None, information=None,
                       tol: float = 1e-8) -> Profile:
    """Profile log-likelihood of one parameter at a maximum θ̂, from arrays.

    Parameters
    ----------
    model : Model
    X, y : array_like
        The data θ̂ was fitted to.
    theta_hat : array_like, shape (P,)
        The maximum-likelihood estimate.
    param : str or int
        The parameter's name or index.
    values : array_like, optional
        The grid of values of the parameter; default ``n_points`` values over
        θ̂ ± ``width`` standard errors (± ``width · 0.25 (1 + |θ̂|)`` when the
        standard error is not finite or ``information`` is not given).
    n_points : int
    width : float
    loglik : float, optional
        ℓ(θ̂) as fitted (``Profile.loglik_max`` is the larger of it and ℓ_p(θ̂_i)).
    information : array_like, shape (P, P), optional
        The information at θ̂, for the standard error that sets the default grid.
    tol : float
        Gradient tolerance of the inner L-BFGS-B maximisations (mean log-likelihood).

    Returns
    -------
    Profile

    Warns
    -----
    ConvergenceWarning
        The profile rises above ℓ(θ̂): θ̂ is not the maximum.

    Examples
    --------
    >>> from symmle.fitting import profile_likelihood
    >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    >>> X, y = model.simulate(np.array([1.0, -0.5]), n=300, rng=0)
    >>> res = sm.fit(model, X, y, rng=0)
    >>> pr = profile_likelihood(model, X, y, res.params, 0, values=[0.5, 1.0, 1.5])
    >>> pr.param, bool(pr.deviance.min() < 1), pr.flat
    ('W1_1_1', True, False)
    """
    X, y, theta_hat, loglik, information = _check_problem(model, X, y, theta_hat, loglik,
                                                          information)
    i = _param_index(model, param)
    prof, message = _curve(model, X, y, theta_hat, i, values, n_points, width, loglik,
                           information, tol)
    if message:
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return prof


# --------------------------------------------------------------- intervals
def _side(pr: _Profiler, t_hat, ll_hat, crit, direction, h0, max_steps):
    """Bound of the interval on one side, or ±inf when the profile stays below the cut."""
    def dev(t):
        return 2.0 * (ll_hat - pr(t)) - crit

    inner, step = t_hat, h0
    for _ in range(max_steps):
        outer = t_hat + direction * step
        if dev(outer) > 0:
            a, b = sorted((inner, outer))
            return so.brentq(dev, a, b, xtol=_BRENT_RTOL * max(1.0, abs(t_hat)),
                             rtol=_BRENT_RTOL)
        inner, step = outer, step * 2.0
    return direction * math.inf


def _intervals(model, X, y, theta_hat, idx, alpha, loglik, information, max_steps,
               tol) -> tuple[np.ndarray, str]:
    """The intervals of θ_idx, and a warning message ('' when none) naming unbounded ones."""
    alpha = check_probability(alpha, "alpha")
    max_steps = check_int(max_steps, "max_steps", 1)
    tol = check_real(tol, "tol", minimum=0.0, maximum=1.0, strict_minimum=True,
                     strict_maximum=True)
    crit = float(st.chi2.ppf(1.0 - alpha, df=1))
    out = np.empty((len(idx), 2))
    unbounded = []
    stderrs = _stderrs(information)
    for k, i in enumerate(idx):
        pr = _Profiler(model, theta_hat, X, y, i, tol)
        t_hat = float(theta_hat[i])
        ll_hat = pr(t_hat) if loglik is None else max(pr(t_hat), loglik)
        se = _stderr(stderrs, i)
        h0 = se if np.isfinite(se) and se > 0 else 0.1 * (1.0 + abs(t_hat))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = _side(pr, t_hat, ll_hat, crit, -1.0, h0, max_steps)
            hi = _side(pr, t_hat, ll_hat, crit, +1.0, h0, max_steps)
        out[k] = lo, hi
        if not (np.isfinite(lo) and np.isfinite(hi)):
            unbounded.append(model.param_names[i])
    message = ""
    if unbounded:
        message = (f"the profile likelihood is flat (unbounded interval) for "
                   f"{', '.join(unbounded)}: these directions are not identified by the data")
    return out, message


def profile_intervals(model, X, y, theta_hat, params=None, *, alpha: float = 0.05, loglik=None,
                      information=None, max_steps: int = 25, tol: float = 1e-8) -> np.ndarray:
    """Profile-likelihood confidence intervals at a maximum θ̂, from arrays.

    ``{t : 2(ℓ(θ̂) - ℓ_p(t)) ≤ χ²₁(1 - α)}`` for each parameter asked for; see
    `profile_conf_int` for the method.

    Parameters
    ----------
    model : Model
    X, y : array_like
        The data θ̂ was fitted to.
    theta_hat : array_like, shape (P,)
        The maximum-likelihood estimate.
    params : str, int or sequence of them, optional
        Which parameters (names or indices); all when None.
    alpha : float
        Level ``1 - alpha``.
    loglik : float, optional
        ℓ(θ̂) as fitted (the cut is taken from the larger of it and ℓ_p(θ̂_i)).
    information : array_like, shape (P, P), optional
        The information at θ̂: one standard error is the first step out (else
        ``0.1 (1 + |θ̂|)``).
    max_steps : int
        Step doublings per side before the side is declared unbounded.
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
    >>> from symmle.fitting import profile_intervals
    >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    >>> X, y = model.simulate(np.array([1.0, -0.5]), n=300, rng=0)
    >>> res = sm.fit(model, X, y, rng=0)
    >>> ci = profile_intervals(model, X, y, res.params, alpha=0.05, loglik=res.loglik)
    >>> bool(np.allclose(ci, sm.profile_conf_int(res, 0.05), atol=1e-6))
    True
    """
    X, y, theta_hat, loglik, information = _check_problem(model, X, y, theta_hat, loglik,
                                                          information)
    out, message = _intervals(model, X, y, theta_hat, _param_indices(model, params), alpha,
                              loglik, information, max_steps, tol)
    if message:
        warnings.warn(message, NonIdentifiableWarning, stacklevel=2)
    return out
