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
from ._problem import _Problem
from ._records import frozen_array
from ._ridge import balance, orbit_images, symmetry_basis, transport
from ._scoring import maximise

__all__ = ["Profile", "profile_likelihood", "profile_intervals"]

#: the smallest ``alpha`` of a profile interval: the cut χ²₁(1 − α) grows without bound as α → 0
#: (41.8 at 1e-10), and the search for where the profile crosses it would walk out to the
#: float range; 1e-10 is far beyond any confidence level in use.
MIN_PROFILE_ALPHA = 1e-10

#: a profile whose deviance stays below this over the whole grid is flat (no information).
_FLAT_DEVIANCE = 1e-6

#: The most points a profile curve may have: each is a refit of the model, so a larger grid is
#: hours of work that a caller asking for a curve did not mean (refused instead of hanging).
MAX_PROFILE_POINTS = 10_000

#: a profile above ℓ(θ̂) by more than this (relative to max(1, |ℓ(θ̂)|)) means the fit stopped
#: short of the maximum.
_ABOVE_FIT_RTOL = 1e-6
#: iteration limit of each inner maximisation (damped Fisher scoring).
_INNER_MAX_ITER = 500
#: an inner maximum within this (relative to max(1, |ℓ̂|)) of ℓ(θ̂) is the profile's value: no
#: other start can do better, so the remaining starts at that value are skipped.
_CEILING_RTOL = 1e-9
#: images of θ̂ under the discrete group tried at each value (those whose coordinate i is
#: nearest the value).
_ORBIT_STARTS = 2
#: starts closer than this (relative, per coordinate) are the same start.
_SAME_START_RTOL = 1e-12
#: relative tolerance of Brent's root finder for an interval's end point.
_BRENT_RTOL = 1e-10
#: an end point within this many root-finder tolerances of 0 is 0: the profile is flat up to a
#: symmetry orbit that ends there (a ReLU unit's bias or output weight rescaled towards 0).
_ZERO_SNAP = 4.0


class _Profiler:
    """Maximises the log-likelihood over all coordinates but one.

    At each value t of θ_i it runs damped Fisher scoring (with the one-sided check at kinks,
    `symmle.fitting._scoring.maximise`) from several starts and keeps the best: the solved
    neighbours of t on both sides with θ_i set to t; the same neighbours moved along their
    continuous-symmetry orbit until θ_i = t (`symmle.fitting._ridge.transport`: on a flat ridge
    this is the maximum at t); the nearest neighbour balanced along the symmetry directions
    that keep θ_i (`symmle.fitting._ridge.balance`); θ̂ with θ_i set to t; and the images of θ̂
    under the discrete symmetry group whose coordinate i is nearest t, with θ_i set to t (the
    same fit with another unit in the role of coordinate i: `symmle.fitting._ridge.orbit_images`).
    Starts are run best first, and once one reaches ℓ(θ̂) the rest are skipped.
    """

    def __init__(self, model, theta_hat, X, y, i, tol, ceiling=None):
        self.model = model
        self.pb = _Problem(model, X, y)
        self.i = i
        self.theta_hat = theta_hat
        self.free = np.array([j for j in range(model.n_params) if j != i], dtype=np.intp)
        self.tol = tol
        self.symmetric = symmetry_basis(model, theta_hat).shape[1] > 0
        images = orbit_images(model, theta_hat)
        keep = [k for k in range(images.shape[0])
                if not np.allclose(images[k], theta_hat, rtol=_SAME_START_RTOL,
                                   atol=_SAME_START_RTOL)]
        self.images = images[keep]
        self.ceiling = ceiling
        self.solved = {}  # value -> (profile loglik, θ)

    def _reached(self, ll) -> bool:
        """Whether ``ll`` is the fit's log-likelihood (within `_CEILING_RTOL`)."""
        c = self.ceiling
        return c is not None and ll >= c - _CEILING_RTOL * max(1.0, abs(c))

    def _starts(self, t, neighbours):
        """The starts at t, transported ones first (each with its ℓ), then the rest best first."""
        i = self.i
        moved, others = [], []
        for theta in neighbours:
            warm = theta.copy()
            warm[i] = t
            others.append(warm)
            if self.symmetric:
                tr = transport(self.model, theta, i, t)
                if tr is not None:
                    moved.append(tr)
        for s in moved:
            yield self.pb.loglik(s), s
        if self.symmetric and others:
            balanced = balance(self.model, others[0], i)
            if balanced is not None:
                others.append(balanced)
        hat = self.theta_hat.copy()
        hat[i] = t
        others.append(hat)
        nearest = np.argsort(np.abs(self.images[:, i] - t), kind="stable")[:_ORBIT_STARTS]
        for k in nearest:
            image = self.images[k].copy()
            image[i] = t
            others.append(image)
        unique = []
        for s in others:
            if not any(np.allclose(s, u, rtol=_SAME_START_RTOL, atol=_SAME_START_RTOL)
                       for u in unique + moved):
                unique.append(s)
        scored = [(self.pb.loglik(s), k, s) for k, s in enumerate(unique)]
        for ll, _, s in sorted(scored, key=lambda r: (-r[0], r[1])):
            yield ll, s

    def _best(self, t, neighbours):
        best = None
        for ll0, start in self._starts(t, neighbours):
            if not np.isfinite(ll0):
                continue
            try:
                theta, ll, _, _, _ = maximise(self.pb, start, self.tol, _INNER_MAX_ITER,
                                              self.free, ceiling=self.ceiling)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                theta, ll = start, ll0
            if not (np.all(np.isfinite(theta)) and ll >= ll0):
                theta, ll = start, ll0
            if best is None or ll > best[0]:
                best = (ll, theta)
            if self._reached(best[0]):
                break
        if best is None:  # no start with a finite log-likelihood
            theta = self.theta_hat.copy()
            theta[self.i] = t
            best = (-math.inf, theta)
        return best

    def _neighbours(self, t, sides=(-1, 1)):
        """The solved θ nearest to t below (side -1) and above (side +1)."""
        out = []
        for side in sides:
            near = [s for s in self.solved if (s - t) * side > 0]
            if near:
                out.append(self.solved[min(near, key=lambda s: abs(s - t))][1])
        return out

    def __call__(self, t: float) -> float:
        t = float(t)
        if t not in self.solved:
            self.solved[t] = self._best(t, self._neighbours(t))
        return self.solved[t][0]

    def refine(self, t: float, side: int) -> None:
        """Solve at t again from its solved neighbour on ``side`` (warm starts from the other
        direction of the sweep); keep the better."""
        t = float(t)
        current = self.solved[t]
        if self._reached(current[0]):
            return
        neighbours = self._neighbours(t, (side,))
        if neighbours:
            again = self._best(t, neighbours)
            if again[0] > current[0]:
                self.solved[t] = again


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

    def __post_init__(self):
        if not isinstance(self.param, str):
            raise SymmleTypeError(f"Profile: param must be a str, got {type(self.param).__name__}")
        object.__setattr__(self, "estimate", check_real(self.estimate, "Profile: estimate"))
        object.__setattr__(self, "loglik_max", check_real(self.loglik_max, "Profile: loglik_max",
                                                          finite=False))
        t = frozen_array(self.values, name="Profile: values")
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise SymmleValueError(f"Profile: values must be a non-empty ascending grid of finite "
                                   f"numbers, got shape {t.shape}")
        ll = frozen_array(self.loglik, t.shape, name="Profile: loglik")
        if np.any(np.isnan(ll)) or np.any(ll == np.inf):   # -inf: no θ with θ_i = t fits
            raise SymmleValueError("Profile: loglik must hold real values < inf (not NaN)")
        th = frozen_array(self.params, name="Profile: params")
        if th.ndim != 2 or th.shape[0] != t.size or not np.all(np.isfinite(th)):
            raise SymmleValueError(f"Profile: params must be {t.size} finite rows θ (one per "
                                   f"value), got shape {th.shape}")
        index = check_int(self.index, "Profile: index", 0, maximum=th.shape[1] - 1)
        for name, value in (("index", index), ("values", t), ("loglik", ll), ("params", th)):
            object.__setattr__(self, name, value)

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
    pr = _Profiler(model, theta_hat, X, y, i, tol, ceiling=loglik)
    if values is None:
        n_points = check_int(n_points, "n_points", 2, maximum=MAX_PROFILE_POINTS)
        width = check_real(width, "width", minimum=0.0, strict_minimum=True)
        se = _stderr(_stderrs(information), i)
        half = width * (se if np.isfinite(se) and se > 0 else 0.25 * (1 + abs(theta_hat[i])))
        values = np.linspace(theta_hat[i] - half, theta_hat[i] + half, n_points)
        values = np.sort(np.concatenate([values, [theta_hat[i]]]))
        values = np.unique(values)
    else:
        values = as_real_array(values, name="values", expected="a non-empty 1-D array of "
                               "finite numbers")
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise SymmleValueError(f"values must be a non-empty 1-D array of finite numbers, "
                                   f"got shape {values.shape}")
        if values.size > MAX_PROFILE_POINTS:
            raise SymmleValueError(f"values may hold at most {MAX_PROFILE_POINTS} points (each "
                                   f"is a refit), got {values.size}")
        values = np.unique(values)
    t_hat = float(theta_hat[i])
    ll_hat = pr(t_hat)
    pr.ceiling = ll_hat if loglik is None else max(ll_hat, loglik)
    # sweep outwards from the estimate on each side, each point warm-started from the optimum
    # next to it (and moved along the symmetry orbit); then back inwards, each point started
    # again from its outer neighbour's optimum
    right = values[values > t_hat]
    left = values[values < t_hat][::-1]
    for t in (*right, *left):
        pr(t)
    for side, sweep in ((1, right), (-1, left)):
        for t in sweep[::-1]:
            pr.refine(t, side)
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
        Convergence tolerance of the inner maximisations (damped Fisher scoring over the other
        parameters, as `symmle.fit`'s ``tol``).

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
    xtol = _BRENT_RTOL * max(1.0, abs(t_hat))
    for _ in range(max_steps):
        outer = t_hat + direction * step
        if dev(outer) > 0:
            if inner * outer < 0:
                # the bracket straddles 0, where a symmetry orbit may end (a ReLU unit rescaled
                # to 0) and the profile jump: look on both sides of 0 first, so that Brent's
                # method does not bisect its way onto the jump
                eps = 0.5 * _ZERO_SNAP * xtol
                near_inner, near_outer = math.copysign(eps, inner), math.copysign(eps, outer)
                if dev(near_inner) > 0:
                    outer = near_inner
                elif dev(near_outer) > 0:
                    return 0.0
                else:
                    inner = near_outer
            a, b = sorted((inner, outer))
            root = so.brentq(dev, a, b, xtol=xtol, rtol=_BRENT_RTOL)
            return 0.0 if abs(root) <= _ZERO_SNAP * xtol else root
        inner, step = outer, step * 2.0
    return direction * math.inf


def _intervals(model, X, y, theta_hat, idx, alpha, loglik, information, max_steps,
               tol) -> tuple[np.ndarray, str]:
    """The intervals of θ_idx, and a warning message ('' when none) naming unbounded ones."""
    alpha = check_probability(alpha, "alpha")
    if alpha < MIN_PROFILE_ALPHA:
        raise SymmleValueError(
            f"alpha must be at least {MIN_PROFILE_ALPHA:g} for profile intervals (a cut of "
            f"χ²₁ = {float(st.chi2.isf(MIN_PROFILE_ALPHA, df=1)):.1f} log-likelihood units "
            f"already reaches far beyond where the quadratic picture holds), got {alpha!r}")
    max_steps = check_int(max_steps, "max_steps", 1)
    tol = check_real(tol, "tol", minimum=0.0, maximum=1.0, strict_minimum=True,
                     strict_maximum=True)
    crit = float(st.chi2.isf(alpha, df=1))  # isf: 1 − α would round to 1 for tiny α
    out = np.empty((len(idx), 2))
    unbounded = []
    stderrs = _stderrs(information)
    for k, i in enumerate(idx):
        pr = _Profiler(model, theta_hat, X, y, i, tol, ceiling=loglik)
        t_hat = float(theta_hat[i])
        ll_hat = pr(t_hat) if loglik is None else max(pr(t_hat), loglik)
        pr.ceiling = ll_hat
        se = _stderr(stderrs, i)
        h0 = se if np.isfinite(se) and se > 0 else 0.1 * (1.0 + abs(t_hat))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = _side(pr, t_hat, ll_hat, crit, -1.0, h0, max_steps)
            hi = _side(pr, t_hat, ll_hat, crit, +1.0, h0, max_steps)
        out[k] = lo, hi
        sides = [w for w, v in (("below", lo), ("above", hi)) if not np.isfinite(v)]
        if sides:
            unbounded.append(f"{model.param_names[i]} ({' and '.join(sides)})")
    message = ""
    if unbounded:
        message = (f"the profile likelihood is flat (unbounded interval, reported as ±inf) for "
                   f"{', '.join(unbounded)}: it stays above the cut for as far as the search "
                   f"went, so the data do not bound these directions")
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
