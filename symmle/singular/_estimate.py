"""`learning_coefficient`: λ estimated by Hamiltonian Monte Carlo on the exact score.

Two estimators (Watanabe 2013, JMLR 14:867–897; Lau et al. 2023, the local learning
coefficient), both from tempered posteriors sampled with mici's dynamic multinomial HMC (the
NUTS-like sampler; step size by dual averaging, a diagonal metric from the warm-up) on the
exact log-likelihood and score of `symmle.compiled`; R-hat, effective sample size and the Monte
Carlo standard error from ArviZ. mici and ArviZ are the optional extra ``symmle[singular]``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._checks import as_rng, check_int, check_real
from ..errors import SymmleTypeError, SymmleValueError, require
from ..fitting import fit
from ..model import Model
from ._theory import _check_model_theta

__all__ = ["LearningCoefficientEstimate", "learning_coefficient", "METHODS"]

#: The estimators `learning_coefficient` knows.
METHODS = ("wbic", "local")

#: The second inverse temperature of the WBIC estimator, as a multiple of β = 1/log n: far
#: enough from the first for the difference of the two means to dominate their Monte-Carlo
#: error, near enough for both to be in the asymptotic regime.
WBIC_BETA_RATIO = 1.5

#: the most chains and draws per chain (far beyond any use; a typo is refused before hours of
#: sampling).
MAX_CHAINS = 64
MAX_DRAWS = 1_000_000

#: the largest prior scale and localisation, and the inverse of the smallest (their squares and
#: inverse squares stay in the float range).
MAX_SCALE = 1e100

#: Target acceptance statistic of the step-size adaptation (Stan's and mici's default).
TARGET_ACCEPT = 0.8


@dataclass(frozen=True)
class LearningCoefficientEstimate:
    """An estimate of the learning coefficient from `learning_coefficient`.

    Attributes
    ----------
    estimate : float
        λ̂.
    stderr : float
        Its Monte-Carlo standard error (from the effective sample size of the chains).
    method : str
        ``"wbic"`` or ``"local"``.
    diagnostics : dict
        ``rhat`` (the largest split R-hat of the traced loss over the temperatures), ``ess``
        (the smallest bulk effective sample size), ``acceptance`` (mean acceptance statistic),
        ``divergences`` (divergent transitions after warm-up), and for ``"wbic"`` the value
        ``wbic`` of Watanabe's criterion at β = 1/log n.
    settings : dict
        Everything the estimate depends on: n, the inverse temperatures, the prior or the
        localisation, chains, warm-up and draws, the centre θ̂.
    """

    estimate: float
    stderr: float
    method: str
    diagnostics: dict = field(repr=False)
    settings: dict = field(repr=False)

    def __repr__(self):
        return (f"LearningCoefficientEstimate(estimate={self.estimate:.4g}, "
                f"stderr={self.stderr:.2g}, method={self.method!r}, "
                f"rhat={self.diagnostics['rhat']:.3f}, ess={self.diagnostics['ess']:.0f})")


def _samplers():
    mici = require("mici", "singular")
    with warnings.catch_warnings():  # ArviZ announces its refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        arviz = require("arviz", "singular")
    return mici, arviz


def _chains(mici, neg_log_dens, grad, centre, scale, n_chains, n_warmup, n_draws, loss, gen):
    """``n_chains`` HMC chains of the density ``exp(−neg_log_dens)``; the traced ``loss``
    (n·L_n) as an array (chains, draws) and the sampler statistics."""
    system = mici.systems.EuclideanMetricSystem(neg_log_dens=neg_log_dens,
                                                grad_neg_log_dens=grad)
    integrator = mici.integrators.LeapfrogIntegrator(system)
    sampler = mici.samplers.DynamicMultinomialHMC(system, integrator, gen)
    inits = [centre + scale * gen.standard_normal(centre.shape) for _ in range(n_chains)]
    adapters = [mici.adapters.DualAveragingStepSizeAdapter(TARGET_ACCEPT),
                mici.adapters.OnlineVarianceMetricAdapter()]
    out = sampler.sample_chains(
        n_warm_up_iter=n_warmup, n_main_iter=n_draws, init_states=inits, adapters=adapters,
        trace_funcs=[lambda state: {"nL": loss(state.pos)}], n_worker=1,
        display_progress=False)
    stats = out.statistics
    return (np.asarray(out.traces["nL"], dtype=float).reshape(n_chains, n_draws),
            float(np.mean(stats["accept_stat"])), int(np.sum(stats["diverging"])))


def _summary(arviz, trace):
    rhat = float(np.ravel(arviz.rhat(trace))[0])
    ess = float(np.ravel(arviz.ess(trace))[0])
    mcse = float(np.ravel(arviz.mcse(trace))[0])
    return float(np.mean(trace)), mcse, rhat, ess


def learning_coefficient(model, X, y, theta=None, method: str = "wbic", rng=0, *,
                         n_chains: int = 4, n_warmup: int = 500, n_draws: int = 1000,
                         prior_scale: float = 10.0, localization: float = 1.0
                         ) -> LearningCoefficientEstimate:
    """Estimate the learning coefficient λ from data, with HMC on the exact score.

    ``L_n(w) = −(1/n) Σ log p(y_i | x_i, w)`` is the empirical loss and ``β = 1/log n``.

    * ``"wbic"`` (Watanabe 2013): sample ``p_β(w) ∝ exp(−nβ L_n(w)) φ(w)`` with the prior
      ``φ = N(0, prior_scale² I)`` at β and at ``β' = 1.5 β`` (`WBIC_BETA_RATIO`); since
      ``E_β[n L_n] = n L_n(w₀) + λ/β + O_p(√log n)``,
      ``λ̂ = (E_β[n L_n] − E_β'[n L_n]) / (1/β − 1/β')``. ``E_β[n L_n]`` is the WBIC.
    * ``"local"`` (the local learning coefficient at θ̂): sample
      ``p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − θ̂‖²)`` with ``γ = localization`` and
      ``λ̂ = nβ (E[L_n(w)] − L_n(θ̂))`` — the quantity devinterp estimates with SGLD, here with
      Metropolis-corrected HMC on the exact gradient.

    Parameters
    ----------
    model : Model
    X : array_like, shape (n, d)
    y : array_like
    theta : array_like, shape (P,), optional
        The centre θ̂ (``"local"``) or the chains' starting point (``"wbic"``); by default
        the maximum-likelihood estimate (`symmle.fit`, 4 starts). For ``"local"`` it should
        be a local minimum of L_n: centred at the truth instead, λ̂ is low by about
        β·(n L_n(θ*) − n L_n(θ̂)), a χ²/2 times β.
    method : {"wbic", "local"}
    rng : Generator, int or None
        For the starting points, the fit and the sampler.
    n_chains, n_warmup, n_draws : int
        Chains (run one after another), adaptation iterations and kept draws per chain and
        temperature.
    prior_scale : float
        Standard deviation of the ``"wbic"`` prior ``N(0, prior_scale² I)``.
    localization : float
        γ of the ``"local"`` estimator's Gaussian localisation around θ̂. It shrinks λ̂ by
        about ``nβ/(nβ + γ)`` (exactly so for a regular model), so keep it well below
        ``n/log n``.

    Returns
    -------
    LearningCoefficientEstimate

    Raises
    ------
    MissingDependencyError
        mici or ArviZ is not installed (``pip install 'symmle[singular]'``).
    SymmleValueError
        An unknown method, or fewer than 3 rows (log n must exceed 1).

    Notes
    -----
    λ is a large-n quantity: both estimators carry ``O(1/log n)`` relative bias (WBIC) or
    depend on γ (local), and the diagnostics say whether the chains mixed (R-hat near 1, an
    ESS in the hundreds). mici was chosen because it takes a numpy log density and its gradient
    directly (no autodiff framework between it and symmle's exact score) and has an adaptive
    dynamic HMC sampler.

    References
    ----------
    Watanabe, S. (2013). A widely applicable Bayesian information criterion. JMLR 14:867–897.
    Lau, E., Furman, Z., Wang, G., Murfet, D. & Wei, S. (2023). The local learning coefficient:
    a singularity-aware complexity measure. arXiv:2308.12108.
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(
            f"model must be a Model (sm.Model(sm.mlp(...), family)), got {type(model).__name__}")
    values = None if theta is None else _check_model_theta(model, theta)
    if method not in METHODS:
        raise SymmleValueError(f"method must be one of {METHODS}, got {method!r}")
    n_chains = check_int(n_chains, "n_chains", 1, maximum=MAX_CHAINS)
    n_warmup = check_int(n_warmup, "n_warmup", 1, maximum=MAX_DRAWS)
    n_draws = check_int(n_draws, "n_draws", 4, maximum=MAX_DRAWS)
    prior_scale = check_real(prior_scale, "prior_scale", maximum=MAX_SCALE)
    localization = check_real(localization, "localization", maximum=MAX_SCALE)
    if not prior_scale > 0 or not localization > 0:
        raise SymmleValueError(f"prior_scale and localization must be positive, got "
                               f"{prior_scale!r} and {localization!r}")
    if min(prior_scale, localization) < 1 / MAX_SCALE:
        raise SymmleValueError(f"prior_scale and localization must be at least "
                               f"{1 / MAX_SCALE:g}, got {prior_scale!r} and {localization!r}")
    mici, arviz = _samplers()
    compiled = model.compile()
    X = model.architecture.check_X(X)
    n = X.shape[0]
    y = model.family.check_y(y, n, model.architecture.n_outputs)
    if n < 3:
        raise SymmleValueError(f"need at least 3 rows (β = 1/log n), got {n}")
    gen = as_rng(rng)
    if values is None:
        values = np.asarray(fit(model, X, y, n_starts=4, rng=gen).params, dtype=float)
    beta = 1.0 / math.log(n)

    def nL(w):
        return -compiled.loglik(w, X, y)

    def run(neg_log_dens, grad, scale):
        return _chains(mici, neg_log_dens, grad, values, scale, n_chains, n_warmup, n_draws,
                       nL, gen)

    start_scale = 1.0 / math.sqrt(n)   # start the chains within the posterior's own spread
    settings = {"n": n, "beta": beta, "n_chains": n_chains, "n_warmup": n_warmup,
                "n_draws": n_draws, "theta": values.copy(), "sampler": "mici "
                "DynamicMultinomialHMC, dual-averaging step size, diagonal metric"}
    if method == "local":
        def U(w):
            d = w - values
            return beta * nL(w) + 0.5 * localization * float(d @ d)

        def dU(w):
            return -beta * compiled.score(w, X, y) + localization * (w - values)

        trace, acc, div = run(U, dU, start_scale)
        mean, mcse, rhat, ess = _summary(arviz, trace)
        estimate = beta * (mean - nL(values))
        stderr = beta * mcse
        settings.update(localization=localization)
        diagnostics = {"rhat": rhat, "ess": ess, "acceptance": acc, "divergences": div}
        return LearningCoefficientEstimate(estimate, stderr, method, diagnostics, settings)

    betas = (beta, WBIC_BETA_RATIO * beta)
    means, mcses, rhats, esss, accs, divs = [], [], [], [], [], 0
    for b in betas:
        def U(w, b=b):
            return b * nL(w) + 0.5 * float(w @ w) / prior_scale ** 2

        def dU(w, b=b):
            return -b * compiled.score(w, X, y) + w / prior_scale ** 2

        trace, acc, div = run(U, dU, start_scale)
        mean, mcse, rhat, ess = _summary(arviz, trace)
        means.append(mean), mcses.append(mcse), rhats.append(rhat), esss.append(ess)
        accs.append(acc)
        divs += div
    gap = 1.0 / betas[0] - 1.0 / betas[1]
    estimate = (means[0] - means[1]) / gap
    stderr = math.hypot(*mcses) / gap
    settings.update(betas=betas, prior_scale=prior_scale)
    diagnostics = {"rhat": max(rhats), "ess": min(esss), "acceptance": float(np.mean(accs)),
                   "divergences": divs, "wbic": means[0]}
    return LearningCoefficientEstimate(estimate, stderr, method, diagnostics, settings)
