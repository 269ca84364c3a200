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

from .._checks import as_rng, check_choice, check_int, check_real
from ..errors import ConvergenceError, SymmleTypeError, SymmleValueError, require
from ..fitting import fit
from ..model import Model
from ._theory import _check_model_theta

__all__ = ["LearningCoefficientEstimate", "learning_coefficient", "posterior_draws", "METHODS",
           "MAX_DRAWS", "LOCAL_TWO_BETAS"]

#: The estimators `learning_coefficient` knows.
METHODS = ("wbic", "local")

#: The second inverse temperature of the WBIC estimator, as a multiple of β = 1/log n: far
#: enough from the first for the difference of the two means to dominate their Monte-Carlo
#: error, near enough for both to be in the asymptotic regime.
WBIC_BETA_RATIO = 1.5

#: The two inverse temperatures, as multiples of 1/log n, that ``learning_coefficient``'s
#: ``betas`` argument is best given for the two-temperature ``"local"`` estimator: a factor 4
#: apart, their geometric mean Watanabe's 1/log n. A factor 4 keeps the Monte-Carlo error of the
#: difference within 1.4 times that of one temperature (its variance is about
#: ``(λ/ESS)(1 + 1/r²)/(1 − 1/r)²`` for a ratio r: 1.9 at r = 4, 5 at r = 2, 13 at r = 1.5).
LOCAL_TWO_BETAS = (0.5, 2.0)

#: the smallest and largest multiple of 1/log n an inverse temperature may be given as.
MIN_BETA_MULTIPLE, MAX_BETA_MULTIPLE = 1e-3, 1e3

#: the most chains and draws per chain (far beyond any use; a typo is refused before hours of
#: sampling).
MAX_CHAINS = 64
MAX_DRAWS = 1_000_000

#: the most sampler iterations per temperature, chains × (warm-up + draws): above it the call
#: is refused before any work (at one gradient per iteration it would already take hours).
MAX_ITERATIONS = 2_000_000

#: the largest prior scale and localisation, and the inverse of the smallest (their squares and
#: inverse squares stay in the float range).
MAX_SCALE = 1e100

#: Target acceptance statistic of the step-size adaptation (Stan's and mici's default).
TARGET_ACCEPT = 0.8

#: Default of ``max_tree_depth``: the dynamic HMC trajectory doubles at most this often, so an
#: iteration costs at most ``2**max_tree_depth`` gradients (mici's and Stan's default is 10).
MAX_TREE_DEPTH = 10

#: Default of ``max_mean_steps``, the gradient budget per iteration: the call stops once the
#: gradients used exceed it times (iterations done + `BUDGET_SLACK`) — an average tree of
#: depth 8 (singular posteriors need deep trees: 126 steps per iteration for mlp(5, 3, 5) at
#: a zero truth). A density that is nearly improper or badly scaled (a huge prior scale over a flat
#: ridge, a localisation that localises nothing, an input column that is zero) makes every
#: iteration hit the depth limit; the budget ends that within seconds instead of hours.
MAX_MEAN_STEPS = 256

#: Iterations of slack in the gradient budget: the first warm-up iterations, with a step size
#: still far from adapted, build deep trees (mlp(1, 3, 1) tanh at a zero truth: 656 steps an
#: iteration over its first 64; a slack of 100 stopped 4 of 5 legitimate runs).
BUDGET_SLACK = 300

#: A chain whose post-warm-up transitions diverge more often than this stops the estimate
#: (the remaining chains and temperatures are not run): its draws do not represent the density.
DIVERGENCE_STOP = 0.5


class _BudgetExceeded(Exception):
    """Raised from the gradient when the gradient budget is spent (not a mici error, so it
    leaves the sampler at once)."""


class _StepSizeFailure(Exception):
    """The step-size search of the adaptation failed (re-raised as a SymmleValueError)."""


class _Budget:
    """Counts gradient evaluations and sampler iterations; stops the sampler once the
    gradients exceed ``rate × (iterations + BUDGET_SLACK)``."""

    def __init__(self, rate: int):
        self.rate, self.used, self.iterations = rate, 0, 0

    def charge(self):
        self.used += 1
        if self.used > self.rate * (self.iterations + BUDGET_SLACK):
            raise _BudgetExceeded

    def tick(self):
        self.iterations += 1


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
        ``divergences`` (divergent transitions after warm-up), ``mean_steps`` (mean leapfrog
        steps per iteration after warm-up: near ``2**max_tree_depth``, the trajectories are
        cut short), ``gradient_evals`` (gradients used), and for
        ``"wbic"`` the value ``wbic`` of Watanabe's criterion at β = 1/log n.
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

    def summary(self) -> str:
        """One line: the estimate, its standard error, n and the sampler's diagnostics.

        Examples
        --------
        >>> from symmle.singular import LearningCoefficientEstimate
        >>> est = LearningCoefficientEstimate(
        ...     6.3, 0.12, "local", {"rhat": 1.004, "ess": 410.0, "acceptance": 0.83,
        ...                          "divergences": 0, "mean_steps": 31.0}, {"n": 2000})
        >>> print(est.summary())
        local, n = 2000: λ̂ = 6.3 ± 0.12   (R-hat 1.004, ESS 410, acceptance 0.83, divergences 0, 31 leapfrog steps an iteration)
        """
        d = self.diagnostics
        return (f"{self.method}, n = {self.settings['n']}: λ̂ = {self.estimate:.4g} ± "
                f"{self.stderr:.2g}   (R-hat {d['rhat']:.3f}, ESS {d['ess']:.0f}, acceptance "
                f"{d['acceptance']:.2f}, divergences {d['divergences']}, "
                f"{d['mean_steps']:.0f} leapfrog steps an iteration)")


def _samplers():
    mici = require("mici", "singular")
    with warnings.catch_warnings():  # ArviZ announces its refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        arviz = require("arviz", "singular")
    return mici, arviz


def _step_size_adapter(mici, budget):
    """mici's dual-averaging step-size adapter whose failed initial search leaves the sampler
    as `_StepSizeFailure` (mici itself swallows its AdaptationError and then fails to collate
    the chains), and which counts the warm-up iterations for the budget."""

    class Adapter(mici.adapters.DualAveragingStepSizeAdapter):
        def initialize(self, chain_state, transition):
            try:
                return super().initialize(chain_state, transition)
            except mici.errors.AdaptationError as exc:
                raise _StepSizeFailure(str(exc)) from None

        def update(self, *args, **kwargs):
            budget.tick()
            return super().update(*args, **kwargs)

    return Adapter(TARGET_ACCEPT)


def _guard(mici, U, dU, budget):
    """U and dU for mici: a non-finite value ends the trajectory as a divergence (mici's
    HamiltonianDivergenceError), and every gradient is charged to the budget."""

    def neg_log_dens(w):
        value = U(w)
        if not math.isfinite(value):
            raise mici.errors.HamiltonianDivergenceError(f"non-finite potential {value}")
        return value

    def grad(w):
        budget.charge()
        g = dU(w)
        if not np.all(np.isfinite(g)):
            raise mici.errors.HamiltonianDivergenceError("non-finite gradient")
        return g

    return neg_log_dens, grad


def _chains(mici, neg_log_dens, grad, centre, scale, n_chains, n_warmup, n_draws, loss, gen,
            max_tree_depth, label, budget):
    """``n_chains`` HMC chains of the density ``exp(−neg_log_dens)``, one after another; the
    traced ``loss`` (n·L_n) as an array (chains, draws), the mean acceptance, the divergences
    and the mean integrator steps per main iteration. A chain with more than `DIVERGENCE_STOP`
    divergent transitions raises `ConvergenceError` before the next one is run."""
    system = mici.systems.EuclideanMetricSystem(neg_log_dens=neg_log_dens,
                                                grad_neg_log_dens=grad)
    integrator = mici.integrators.LeapfrogIntegrator(system)
    sampler = mici.samplers.DynamicMultinomialHMC(system, integrator, gen,
                                                  max_tree_depth=max_tree_depth)
    traces, accepts, steps, divergences = [], [], [], 0
    for k in range(n_chains):
        init = centre + scale * gen.standard_normal(centre.shape)
        adapters = [_step_size_adapter(mici, budget),
                    mici.adapters.OnlineVarianceMetricAdapter()]

        def trace(state):
            budget.tick()
            return {"nL": loss(state.pos)}

        out = sampler.sample_chains(
            n_warm_up_iter=n_warmup, n_main_iter=n_draws, init_states=[init],
            adapters=adapters, trace_funcs=[trace],
            n_worker=1, display_progress=False)
        stats = out.statistics
        diverging = int(np.sum(stats["diverging"]))
        if diverging > DIVERGENCE_STOP * n_draws:
            raise ConvergenceError(
                f"{label}: chain {k + 1} diverged on {diverging} of its {n_draws} transitions "
                f"after warm-up (the stop is {DIVERGENCE_STOP:.0%}); its draws do not "
                f"represent the density. Rescale the data, use a smaller prior_scale or a "
                f"larger localization, or a longer warm-up")
        traces.append(np.asarray(out.traces["nL"], dtype=float).reshape(n_draws))
        accepts.append(float(np.mean(stats["accept_stat"])))
        steps.append(float(np.mean(stats["n_step"])))
        divergences += diverging
    return np.stack(traces), float(np.mean(accepts)), divergences, float(np.mean(steps))


def _summary(arviz, trace):
    # ArviZ's R-hat needs two chains: one chain is split into its halves (its own split R-hat
    # then compares the four quarters)
    halves = trace if trace.shape[0] > 1 else trace[:, :trace.shape[1] // 2 * 2].reshape(2, -1)
    rhat = float(np.ravel(arviz.rhat(halves))[0])
    ess = float(np.ravel(arviz.ess(trace))[0])
    mcse = float(np.ravel(arviz.mcse(trace))[0])
    return float(np.mean(trace)), mcse, rhat, ess


def _check_betas(betas, method: str) -> tuple[float, ...]:
    """The inverse temperatures of `learning_coefficient` as multiples of 1/log n."""
    if betas is None:
        return (1.0, WBIC_BETA_RATIO) if method == "wbic" else (1.0,)
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
        raise SymmleTypeError(f"betas must be a sequence of one or two real numbers (multiples "
                              f"of 1/log n), got {type(betas).__name__}")
    out = tuple(check_real(b, "betas entry", minimum=MIN_BETA_MULTIPLE,
                           maximum=MAX_BETA_MULTIPLE) for b in betas)
    sizes = (2,) if method == "wbic" else (1, 2)
    if len(out) not in sizes or (len(out) == 2 and out[0] == out[1]):
        want = "two distinct" if method == "wbic" else "one, or two distinct,"
        raise SymmleValueError(f"betas for method={method!r} must be {want} multiples of "
                               f"1/log n, got {betas!r}")
    return out


def learning_coefficient(model, X, y, theta=None, method: str = "wbic", rng=0, *,
                         n_chains: int = 4, n_warmup: int = 500, n_draws: int = 1000,
                         prior_scale: float = 10.0, localization: float = 1.0,
                         max_tree_depth: int = MAX_TREE_DEPTH,
                         max_mean_steps: int | None = None, betas=None
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
      Metropolis-corrected HMC on the exact gradient. With two inverse temperatures
      (``betas=(b₁, b₂)``, e.g. `LOCAL_TWO_BETAS` = (0.5, 2)) the same localised density is
      sampled at ``β₁ = b₁/log n`` and ``β₂ = b₂/log n`` and
      ``λ̂ = (E_β₁[n L_n] − E_β₂[n L_n]) / (1/β₁ − 1/β₂)``, WBIC's difference under the
      localisation: L_n(θ̂) drops out, and with it the term of order β that the
      one-temperature estimate carries (see Notes).

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
        Chains (run one after another), adaptation iterations (at least 2: the step size's
        adaptation needs two) and kept draws per chain and temperature.
    prior_scale : float
        Standard deviation of the ``"wbic"`` prior ``N(0, prior_scale² I)``.
    localization : float
        γ of the ``"local"`` estimator's Gaussian localisation around θ̂. It shrinks λ̂ by
        about ``nβ/(nβ + γ)`` (exactly so for a regular model), so keep it well below
        ``n/log n``.
    max_tree_depth : int
        The most doublings of a dynamic HMC trajectory (1 to 15): an iteration costs at most
        ``2**max_tree_depth`` gradients.
    max_mean_steps : int, optional
        The gradient budget per iteration (1 to ``2**max_tree_depth``; by default
        `MAX_MEAN_STEPS` = 256 or ``2**max_tree_depth`` if smaller): once the gradients
        used exceed ``max_mean_steps × (iterations done + 300)`` the call raises
        `ConvergenceError` at once, so the work is bounded whatever the density.
    betas : sequence of float, optional
        The inverse temperatures as multiples of ``1/log n`` (each in [0.001, 1000]). ``"wbic"``
        takes two distinct ones (default ``(1, 1.5)``, `WBIC_BETA_RATIO`); ``"local"`` one
        (default ``(1,)``, the local learning coefficient above) or two distinct ones (the
        two-temperature estimate; `LOCAL_TWO_BETAS` = (0.5, 2) is the tested choice, at twice
        the sampling cost).

    Returns
    -------
    LearningCoefficientEstimate

    Raises
    ------
    MissingDependencyError
        mici or ArviZ is not installed (``pip install 'symmle[singular]'``).
    SymmleValueError
        An unknown method, ``betas`` of the wrong length or out of range, fewer than 3 rows
        (log n must exceed 1), more than `MAX_ITERATIONS` iterations per temperature, or a
        density on which the step-size search finds no usable step (a prior scale or
        localisation, or data, so extreme that a single leapfrog step of size 2⁻¹⁰⁰ still
        changes the energy by more than log 2).
    ConvergenceError
        The gradient budget was spent (every iteration hitting the tree-depth limit: a
        nearly improper or badly scaled density), or a chain diverged on more than half of
        its transitions (`DIVERGENCE_STOP`).

    Notes
    -----
    λ is a large-n quantity: both estimators carry ``O(1/log n)`` relative bias (WBIC) or
    depend on γ (local), and the diagnostics say whether the chains mixed (R-hat near 1, an
    ESS in the hundreds). Writing ``E_β[n L_n] = n L_n(w₀) + λ/β + R(β)``, the one-temperature
    ``"local"`` estimate is ``λ + β (R(β) + n L_n(w₀) − n L_n(θ̂))``. In a regular model the
    bracket vanishes (``R = −χ²/2``, the fit's own gain); in a singular one it is a data-driven
    quantity of order one that need not cancel. In reduced-rank regression of a zero truth
    with ``N ≥ M + H`` outputs, given the output weights B the tempered posterior of the input
    weights is Gaussian and contributes ``HM/2 = λ`` exactly, but B's column space is barely
    informed at ``β = 1/log n`` and leaves about ``(1 − H/N)`` of the noise's squared
    projection unfitted where θ̂ leaves only its smallest part: ``mlp(4, 3, 8)`` is +15 % at
    n = 2000 and still +8 % at n = 10⁶ (a bias of order β = 1/log n; on the exact population
    loss, with no data, it is 0). Two temperatures cancel any R that is constant in β, and
    the fit's gain with it, leaving a remainder of order ``β₁β₂ R′(β)`` (``mlp(4, 3, 8)``:
    −4.8 % with ``betas=(0.5, 2)``, benchmarks/bench_singular.py). mici was chosen because it
    takes a numpy log density and its gradient directly (no autodiff framework between it and
    symmle's exact score) and has an adaptive dynamic HMC sampler.

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
    method = check_choice(method, "method", METHODS)
    n_chains = check_int(n_chains, "n_chains", 1, maximum=MAX_CHAINS)
    n_warmup = check_int(n_warmup, "n_warmup", 2, maximum=MAX_DRAWS)  # mici adapts from 2
    n_draws = check_int(n_draws, "n_draws", 4, maximum=MAX_DRAWS)
    if n_chains * (n_warmup + n_draws) > MAX_ITERATIONS:
        raise SymmleValueError(
            f"n_chains × (n_warmup + n_draws) = {n_chains * (n_warmup + n_draws)} sampler "
            f"iterations per temperature is more than {MAX_ITERATIONS}; ask for fewer draws or "
            f"chains")
    max_tree_depth = check_int(max_tree_depth, "max_tree_depth", 1, maximum=15)
    if max_mean_steps is None:
        max_mean_steps = min(MAX_MEAN_STEPS, 2 ** max_tree_depth)
    max_mean_steps = check_int(max_mean_steps, "max_mean_steps", 1,
                               maximum=2 ** max_tree_depth)
    prior_scale = check_real(prior_scale, "prior_scale", maximum=MAX_SCALE)
    localization = check_real(localization, "localization", maximum=MAX_SCALE)
    if not prior_scale > 0 or not localization > 0:
        raise SymmleValueError(f"prior_scale and localization must be positive, got "
                               f"{prior_scale!r} and {localization!r}")
    if min(prior_scale, localization) < 1 / MAX_SCALE:
        raise SymmleValueError(f"prior_scale and localization must be at least "
                               f"{1 / MAX_SCALE:g}, got {prior_scale!r} and {localization!r}")
    multiples = _check_betas(betas, method)
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

    last = {}   # the last position's n·L_n and score: mici asks for both at each position

    def at(w):
        key = w.tobytes()
        if last.get("key") != key:
            out = compiled.evaluate(w, X, y, ("loglik", "score"))
            last.update(key=key, nL=-float(out["loglik"]), score=out["score"])
        return last

    def nL(w):
        return at(w)["nL"]

    def score(w):
        return at(w)["score"]

    budget = _Budget(max_mean_steps)

    def run(U, dU, scale, label):
        neg_log_dens, grad = _guard(mici, U, dU, budget)
        try:
            return _chains(mici, neg_log_dens, grad, values, scale, n_chains, n_warmup,
                           n_draws, nL, gen, max_tree_depth, label, budget)
        except _StepSizeFailure as exc:
            raise SymmleValueError(
                f"{label}: no usable HMC step size at the starting point ({exc}) — the "
                f"density is too sharp or too flat there: prior_scale={prior_scale:g}, "
                f"localization={localization:g}, inputs up to {np.max(np.abs(X)):.3g} and "
                f"responses up to {np.max(np.abs(y)):.3g}. Standardise the data or use a "
                f"prior scale and localisation nearer 1") from None
        except _BudgetExceeded:
            raise ConvergenceError(
                f"{label}: {budget.used} gradients in {budget.iterations} iterations, over "
                f"the budget of max_mean_steps={max_mean_steps} per iteration (the "
                f"trajectories keep reaching the tree-depth limit 2**{max_tree_depth}): the "
                f"density is nearly improper or badly scaled — a "
                f"flat direction (a constant or zero input column, a wide prior over a "
                f"singular ridge, a localisation too weak to localise). Use a smaller "
                f"prior_scale or a larger localization, standardise the data, or raise "
                f"max_mean_steps") from None

    start_scale = 1.0 / math.sqrt(n)   # start the chains within the posterior's own spread
    betas = tuple(b * beta for b in multiples)
    settings = {"n": n, "beta": beta, "betas": betas, "n_chains": n_chains,
                "n_warmup": n_warmup, "n_draws": n_draws, "theta": values.copy(),
                "max_tree_depth": max_tree_depth, "max_mean_steps": max_mean_steps,
                "sampler": "mici DynamicMultinomialHMC, dual-averaging step size, diagonal "
                           "metric"}
    means, mcses, rhats, esss, accs, divs, stepss = [], [], [], [], [], 0, []
    for b in betas:
        if method == "local":
            def U(w, b=b):
                d = w - values
                return b * nL(w) + 0.5 * localization * float(d @ d)

            def dU(w, b=b):
                return -b * score(w) + localization * (w - values)
        else:
            def U(w, b=b):
                return b * nL(w) + 0.5 * float(w @ w) / prior_scale ** 2

            def dU(w, b=b):
                return -b * score(w) + w / prior_scale ** 2

        label = method if len(betas) == 1 else f"{method} at beta={b:.4g}"
        trace, acc, div, steps = run(U, dU, start_scale, label)
        mean, mcse, rhat, ess = _summary(arviz, trace)
        means.append(mean), mcses.append(mcse), rhats.append(rhat), esss.append(ess)
        accs.append(acc), stepss.append(steps)
        divs += div
    if len(betas) == 1:   # the local learning coefficient at θ̂
        estimate = betas[0] * (means[0] - nL(values))
        stderr = betas[0] * mcses[0]
    else:
        gap = 1.0 / betas[0] - 1.0 / betas[1]
        estimate = (means[0] - means[1]) / gap
        stderr = math.hypot(*mcses) / abs(gap)
    if method == "local":
        settings.update(localization=localization)
    else:
        settings.update(prior_scale=prior_scale)
    diagnostics = {"rhat": max(rhats), "ess": min(esss), "acceptance": float(np.mean(accs)),
                   "divergences": divs, "mean_steps": float(np.mean(stepss)),
                   "gradient_evals": budget.used}
    if method == "wbic":
        diagnostics["wbic"] = means[0]
    return LearningCoefficientEstimate(estimate, stderr, method, diagnostics, settings)


def posterior_draws(model, X, y, theta, *, prior_scale: float = 1.0, n_warmup: int = 200,
                    n_draws: int = 200, rng=0, max_tree_depth: int = MAX_TREE_DEPTH
                    ) -> np.ndarray:
    """Draws of the Bayes posterior ``∝ exp(ℓ_n(w)) N(w; 0, prior_scale² I)`` (β = 1).

    One chain of mici's dynamic multinomial HMC on the exact log-likelihood and score, started
    at θ, with the step size and a diagonal metric adapted over the warm-up — the sampler of
    `learning_coefficient` at inverse temperature 1, for posterior predictive quantities such
    as the Bayes generalisation error (`symmle.study.singular_study`).

    Parameters
    ----------
    model : Model
    X : array_like, shape (n, d)
    y : array_like
    theta : array_like, shape (P,)
        The chain's starting point (a point near the posterior's bulk: a fit, or the truth
        embedded in a larger model; a start far in the prior's tail may not come back within a
        short warm-up).
    prior_scale : float
        Standard deviation of the prior ``N(0, prior_scale² I)`` (positive).
    n_warmup, n_draws : int
        Adaptation iterations (at least 2) and kept draws (at least 1).
    rng : Generator, int or None
    max_tree_depth : int
        The most doublings of a trajectory (1 to 15): an iteration costs at most
        ``2**max_tree_depth`` gradients.

    Returns
    -------
    ndarray, shape (n_draws, P)

    Raises
    ------
    MissingDependencyError
        mici or ArviZ is not installed (``pip install 'symmle[singular]'``).
    ConvergenceError
        The chain diverged on more than half of its transitions after warm-up
        (`DIVERGENCE_STOP`), or no usable step size was found.

    Examples
    --------
    >>> from symmle.singular import posterior_draws
    >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(1.0))
    >>> X, y = model.simulate(np.array([0.5, -1.0]), 400, rng=1)
    >>> draws = posterior_draws(model, X, y, [0.5, -1.0], n_warmup=100, n_draws=100)
    >>> draws.shape
    (100, 2)
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(
            f"model must be a Model (sm.Model(sm.mlp(...), family)), got {type(model).__name__}")
    values = _check_model_theta(model, theta).astype(float)
    prior_scale = check_real(prior_scale, "prior_scale", minimum=1 / MAX_SCALE,
                             maximum=MAX_SCALE)
    n_warmup = check_int(n_warmup, "n_warmup", 2, maximum=MAX_DRAWS)  # mici adapts from 2
    n_draws = check_int(n_draws, "n_draws", 1, maximum=MAX_DRAWS)
    max_tree_depth = check_int(max_tree_depth, "max_tree_depth", 1, maximum=15)
    mici, _ = _samplers()
    compiled = model.compile()
    X = model.architecture.check_X(X)
    y = model.family.check_y(y, X.shape[0], model.architecture.n_outputs)
    gen = as_rng(rng)
    budget = _Budget(2 ** max_tree_depth)   # at most 2**max_tree_depth gradients an iteration

    def U(w):
        return -compiled.loglik(w, X, y) + 0.5 * float(w @ w) / prior_scale ** 2

    def dU(w):
        return -compiled.score(w, X, y) + w / prior_scale ** 2

    neg_log_dens, grad = _guard(mici, U, dU, budget)
    draws = []

    def keep(pos):
        draws.append(np.array(pos, dtype=float))
        return 0.0

    try:
        _chains(mici, neg_log_dens, grad, values, 1.0 / math.sqrt(len(X)), 1, n_warmup,
                n_draws, keep, gen, max_tree_depth, "posterior", budget)
    except (_StepSizeFailure, _BudgetExceeded) as exc:
        raise ConvergenceError(f"posterior sampling failed ({type(exc).__name__}: {exc}); "
                               f"try a smaller prior_scale") from None
    # mici calls the trace function once on the initial state to learn its shape, before the
    # draws: that first position is the start, not a draw
    return np.stack(draws[-n_draws:])
