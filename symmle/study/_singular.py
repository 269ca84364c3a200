"""`singular_study`: the likelihood ratio and the Bayes generalisation error at a reducible truth.

At a reducible truth the regular asymptotics fail in two measurable ways:

(a) the likelihood-ratio statistic ``2(ℓ̂_large − ℓ̂_small)`` for surplus hidden units is not
    χ² with ``P_large − P_small`` degrees of freedom: for networks with at least two redundant
    units it grows like ``log n`` (Fukumizu 2003, Ann. Statist. 31:833–851) — the study fits
    ``c · log n`` to its mean and prints the χ² quantiles next to it;
(b) the Bayes generalisation error ``G_n = E_x KL(q(·|x) ‖ p(·|x, Dⁿ))`` of the large model
    is ``λ/n`` with the learning coefficient λ, not ``d/2n`` (Watanabe 2009).

The data come from the small model at θ* (inputs uniform on [−2, 2] by default: compact
support, as singular learning theory needs an analytic K); both models are fitted by
`symmle.fit` with several starts, the large one also from the small fit with its surplus units
switched off, so that ``ℓ̂_large ≥ ℓ̂_small`` up to the fit tolerance. G_n is computed from
posterior draws of the large model (`symmle.singular.posterior_draws`, HMC on the
exact score, one chain started at the embedded small fit) with Gauss–Hermite quadrature over y
for each of ``n_test`` test inputs.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp
from scipy.stats import chi2

from .._checks import as_rng, check_bool, check_choice, check_int, check_real
from ..errors import (
    ConvergenceError,
    PersistenceError,
    SymmleTypeError,
    SymmleValueError,
    require,
)
from ..fitting import fit
from ..model import Model
from ..singular import MAX_DRAWS, learning_coefficient_theory, posterior_draws
from ._study import MAX_ROWS, MAX_SIZES, MAX_STARTS

__all__ = ["singular_study", "SingularStudyResult", "SINGULAR_SCHEMA"]

#: The ``schema`` field of `SingularStudyResult.to_json`.
SINGULAR_SCHEMA = "symmle.singular_study/1"

#: Gauss–Hermite nodes over y for the generalisation error (exact for polynomials of degree
#: 39 in y; the log of a Gaussian mixture is smooth).
_HERMITE_NODES = 20


def _embed(small: Model, large: Model, theta) -> np.ndarray:
    """θ of ``small`` in ``large``'s coordinates (one hidden layer each, the surplus units with
    zero weights): the same function."""
    (W1, b1), (W2, b2) = small.architecture.unflatten(theta[:small.n_network_params])
    H = large.architecture.widths[1]
    W1l = np.zeros((H, W1.shape[1]))
    b1l = np.zeros(H)
    W2l = np.zeros((W2.shape[0], H))
    W1l[:W1.shape[0]], b1l[:W1.shape[0]], W2l[:, :W1.shape[0]] = W1, b1, W2
    net = large.architecture.flatten([(W1l, b1l), (W2l, b2)])
    return np.concatenate([net, theta[small.n_network_params:]])


def _check_pair(small, large):
    for name, m in (("small", small), ("large", large)):
        if not isinstance(m, Model):
            raise SymmleTypeError(f"{name} must be a Model, got {type(m).__name__}")
        w = m.architecture.widths
        if w is None or len(w) != 3 or m.family.name != "gaussian":
            raise SymmleValueError(f"{name} must be a Gaussian model on a one-hidden-layer mlp, "
                                   f"got {m!r}")
    ws, wl = small.architecture.widths, large.architecture.widths
    if (ws[0], ws[2]) != (wl[0], wl[2]) or wl[1] <= ws[1] or \
            small.n_params - small.n_network_params != large.n_params - large.n_network_params:
        raise SymmleValueError(f"large must be small with more hidden units (same inputs, "
                               f"outputs and family): got {ws} and {wl}")


@dataclass(frozen=True)
class SingularStudyResult:
    """The record of `singular_study`.

    Attributes
    ----------
    sizes : tuple of int
        The n.
    llf_small, llf_large : ndarray, shape (reps, len(sizes))
        Maximised log-likelihoods.
    lr : ndarray, shape (reps, len(sizes))
        ``2(llf_large − llf_small)``.
    data_seeds : ndarray of int, shape (reps, len(sizes))
        Data of a cell are ``small.simulate(theta, n, rng=seed, X=X)`` with
        ``X = np.random.default_rng(seed).uniform(-2, 2, (n, d))`` (or ``standard_normal``
        for ``inputs="normal"``).
    params_small, params_large : list of list of list of float
        The fitted parameters, per replication and size.
    df : int
        ``P_large − P_small``: the χ² degrees of freedom of the regular theory.
    log_coef : float
        The least-squares c of ``mean LR ≈ c · log n``.
    gen_error : ndarray or None, shape (reps, len(sizes))
        The Bayes generalisation error of the large model, when computed.
    lambda_ : str or None
        λ of the large model at the truth, from `learning_coefficient_theory` (a fraction
        as text), when known.
    settings : dict
        Models, θ*, starts, prior, draws, inputs, rng.
    """

    sizes: tuple
    llf_small: np.ndarray
    llf_large: np.ndarray
    lr: np.ndarray
    data_seeds: np.ndarray
    params_small: list = field(repr=False)
    params_large: list = field(repr=False)
    df: int
    log_coef: float
    gen_error: np.ndarray | None
    lambda_: str | None
    settings: dict = field(repr=False)

    def chi2_quantiles(self, probs=(0.5, 0.95)) -> dict:
        """The regular theory's quantiles of the LR statistic, χ²(df)."""
        return {float(p): float(chi2.ppf(p, self.df)) for p in probs}

    def summary(self) -> str:
        q = self.chi2_quantiles()
        lines = [f"LR 2(llf_large - llf_small) against n; regular theory chi2({self.df}): "
                 f"median {q[0.5]:.2f}, 95% {q[0.95]:.2f}; fitted c log n with c = "
                 f"{self.log_coef:.3f}"]
        lines.append("       n   mean LR  median LR  95% LR   c log n" +
                     ("   n*G_n (lambda " + str(self.lambda_) + ")"
                      if self.gen_error is not None else ""))
        for j, n in enumerate(self.sizes):
            col = self.lr[:, j]
            row = (f"{n:8d}  {col.mean():8.2f}  {np.median(col):9.2f}  "
                   f"{np.quantile(col, 0.95):6.2f}  {self.log_coef * math.log(n):8.2f}")
            if self.gen_error is not None:
                row += f"   {n * np.nanmean(self.gen_error[:, j]):.3f}"
            lines.append(row)
        return "\n".join(lines)

    def to_json(self) -> str:
        def arr(a):   # NaN (a failed cell) as null: strict JSON
            if a is None:
                return None
            a = np.asarray(a)
            if a.dtype.kind == "f":
                return [[v if math.isfinite(v) else None for v in row] for row in a.tolist()]
            return a.tolist()
        return json.dumps(allow_nan=False, obj={
            "schema": SINGULAR_SCHEMA, "sizes": list(self.sizes),
            "llf_small": arr(self.llf_small), "llf_large": arr(self.llf_large),
            "lr": arr(self.lr), "data_seeds": arr(self.data_seeds),
            "params_small": self.params_small, "params_large": self.params_large,
            "df": self.df, "log_coef": self.log_coef, "gen_error": arr(self.gen_error),
            "lambda": self.lambda_, "settings": self.settings})

    @classmethod
    def from_json(cls, text: str) -> SingularStudyResult:
        try:
            d = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise PersistenceError(f"not a singular-study JSON document: {exc}") from None
        if not isinstance(d, dict) or d.get("schema") != SINGULAR_SCHEMA:
            raise PersistenceError(f"expected schema {SINGULAR_SCHEMA!r}")
        gen = d["gen_error"]
        return cls(tuple(int(n) for n in d["sizes"]), np.asarray(d["llf_small"], float),
                   np.asarray(d["llf_large"], float), np.asarray(d["lr"], float),
                   np.asarray(d["data_seeds"], dtype=np.int64), d["params_small"],
                   d["params_large"], int(d["df"]), float(d["log_coef"]),
                   None if gen is None else np.asarray(gen, float), d["lambda"],
                   d["settings"])

    def plot(self, path=None):
        """Two panels: the LR statistic against n (replications, mean, c·log n, the χ²
        median and 95 % quantile), and n·G_n against n with λ. Needs matplotlib (the extra
        ``symmle[plot]``); saved to ``path`` (SVG or PNG by its suffix) when given."""
        require("matplotlib", "plot")
        from matplotlib.figure import Figure
        panels = 2 if self.gen_error is not None else 1
        fig = Figure(figsize=(5.2 * panels, 3.8))
        ax = fig.add_subplot(1, panels, 1)
        n = np.asarray(self.sizes, float)
        for row in self.lr:
            ax.plot(n, row, "o", color="0.6", ms=3)
        ax.plot(n, self.lr.mean(axis=0), "o-", color="C0", label="mean LR")
        grid = np.geomspace(n.min(), n.max(), 50)
        ax.plot(grid, self.log_coef * np.log(grid), "--", color="C1",
                label=f"{self.log_coef:.2f} log n")
        q = self.chi2_quantiles()
        ax.axhline(q[0.5], color="C2", lw=1, label=f"χ²({self.df}) median")
        ax.axhline(q[0.95], color="C2", lw=1, ls=":", label=f"χ²({self.df}) 95 %")
        ax.set_xscale("log"), ax.set_xlabel("n"), ax.set_ylabel("2(ℓ̂_large − ℓ̂_small)")
        ax.legend(fontsize=8)
        if self.gen_error is not None:
            ax2 = fig.add_subplot(1, 2, 2)
            ng = n * self.gen_error
            for row in ng:
                ax2.plot(n, row, "o", color="0.6", ms=3)
            ax2.plot(n, np.nanmean(ng, axis=0), "o-", color="C0", label="n · G_n (mean)")
            if self.lambda_ is not None:
                from fractions import Fraction
                lam = float(Fraction(self.lambda_))
                ax2.axhline(lam, color="C3", label=f"λ = {self.lambda_}")
                d2 = self.settings["large_params"] / 2
                ax2.axhline(d2, color="C2", ls=":", label=f"d/2 = {d2:g}")
            ax2.set_xscale("log"), ax2.set_xlabel("n"), ax2.set_ylabel("n · G_n")
            ax2.legend(fontsize=8)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


def _gen_error(large, draws, theta_large, sigma, d, n_test, gen, inputs):
    """``E_x KL(N(f*(x), σ²) ‖ (1/S) Σ_s N(f(x, w_s), σ²))`` by Monte Carlo over x and
    Gauss–Hermite quadrature over y (one output)."""
    compiled = large.compile()
    Xt = _inputs(gen, n_test, d, inputs)
    f0 = compiled.predict(theta_large, Xt).reshape(n_test)
    fs = np.stack([compiled.predict(w, Xt).reshape(n_test) for w in draws])   # (S, n_test)
    t, wts = np.polynomial.hermite.hermgauss(_HERMITE_NODES)
    y = f0[:, None] + sigma * math.sqrt(2) * t[None, :]                        # (n_test, Q)
    # log q − log p* = −(y−f0)²/2σ² − logmeanexp_s(−(y−f_s)²/2σ²)
    log_mix = logsumexp(-(y[None] - fs[:, :, None]) ** 2 / (2 * sigma ** 2), axis=0) \
        - math.log(len(draws))
    integrand = -(y - f0[:, None]) ** 2 / (2 * sigma ** 2) - log_mix
    return float(np.mean(integrand @ wts) / math.sqrt(math.pi))


def _inputs(gen, n, d, inputs):
    return gen.uniform(-2.0, 2.0, (n, d)) if inputs == "uniform" else gen.standard_normal((n, d))


def singular_study(small, large, theta, *, sizes=(100, 300, 1000), reps: int = 5,
                   n_starts: int = 4, bayes: bool = True, prior_scale: float = 1.0,
                   n_warmup: int = 200, n_draws: int = 200, n_test: int = 2000,
                   max_tree_depth: int = 7, inputs: str = "uniform", rng=0
                   ) -> SingularStudyResult:
    """Likelihood ratio and Bayes generalisation error at a reducible truth.

    Parameters
    ----------
    small, large : Model
        Gaussian models on one-hidden-layer mlps; ``large`` is ``small`` with more hidden
        units. The truth is ``small`` at θ, embedded in ``large`` with the surplus units off.
    theta : array_like
        θ* of ``small``.
    sizes : sequence of int
        The n (each at least 10).
    reps : int
        Replications per n.
    n_starts : int
        Starts of each fit (`symmle.fit`); the large fit also starts from the small fit.
    bayes : bool
        Compute the Bayes generalisation error of ``large`` (HMC posterior, σ known).
    prior_scale, n_warmup, n_draws : float, int, int
        The prior ``N(0, prior_scale² I)`` and the one chain's warm-up and draws.
    n_test : int
        Test inputs of the generalisation error.
    max_tree_depth : int
        Of the HMC trajectories (at most ``2**max_tree_depth`` gradients an iteration). A cell
        whose chain diverges on more than half its draws gets a NaN generalisation error and
        its reason in ``settings["sampling_failures"]``.
    inputs : {"uniform", "normal"}
        Inputs uniform on [−2, 2] (compact support) or standard normal.
    rng : int, Generator or None
        Seeds the data (one seed per cell, from ``SeedSequence.spawn``), fits and sampler.

    Returns
    -------
    SingularStudyResult

    Examples
    --------
    >>> from symmle.study import singular_study
    >>> small = sm.Model(sm.mlp(1, 1, 1, activation="tanh", bias=False), sm.Gaussian(1.0))
    >>> large = sm.Model(sm.mlp(1, 3, 1, activation="tanh", bias=False), sm.Gaussian(1.0))
    >>> res = singular_study(small, large, [0.0, 0.0], sizes=(50, 100), reps=2, n_starts=2,
    ...                      bayes=False)
    >>> res.lr.shape, res.df, bool((res.lr > -1e-6).all())
    ((2, 2), 4, True)
    """
    _check_pair(small, large)
    theta = small.check_theta(theta, name="theta")
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise SymmleTypeError(f"sizes must be a sequence of integers (each at least 10), got "
                              f"{type(sizes).__name__}")
    sizes = tuple(itertools.islice(sizes, MAX_SIZES + 1))
    if len(sizes) > MAX_SIZES:
        raise SymmleValueError(f"sizes may hold at most {MAX_SIZES} sample sizes")
    sizes = tuple(check_int(n, f"sizes[{i}]", 10, maximum=MAX_ROWS) for i, n in enumerate(sizes))
    if not sizes:
        raise SymmleValueError("sizes must name at least one n")
    reps = check_int(reps, "reps", 1, maximum=10_000)
    n_starts = check_int(n_starts, "n_starts", 1, maximum=MAX_STARTS)
    bayes = check_bool(bayes, "bayes")
    prior_scale = check_real(prior_scale, "prior_scale", minimum=1e-6, maximum=1e6)
    n_warmup = check_int(n_warmup, "n_warmup", 1, maximum=MAX_DRAWS)
    n_draws = check_int(n_draws, "n_draws", 1, maximum=MAX_DRAWS)
    n_test = check_int(n_test, "n_test", 10, maximum=MAX_ROWS)
    max_tree_depth = check_int(max_tree_depth, "max_tree_depth", 1, maximum=15)
    inputs = check_choice(inputs, "inputs", ("uniform", "normal"))
    if bayes and (small.n_params != small.n_network_params
                  or small.architecture.widths[2] != 1):
        raise SymmleValueError("bayes=True needs a known σ (sm.Gaussian(sigma)) and one output")
    theta_large = _embed(small, large, theta)
    rec = learning_coefficient_theory(large, theta_large)
    d = small.architecture.n_inputs
    seq = np.random.SeedSequence(as_rng(rng).integers(2 ** 63))
    children = seq.spawn(reps * len(sizes))
    seeds = np.array([int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
                      for c in children], dtype=np.int64).reshape(reps, len(sizes))
    shape = (reps, len(sizes))
    llf_s, llf_l = np.empty(shape), np.empty(shape)
    gen_err = np.empty(shape) if bayes else None
    p_s = [[None] * len(sizes) for _ in range(reps)]
    p_l = [[None] * len(sizes) for _ in range(reps)]
    failures = []
    for i in range(reps):
        for j, n in enumerate(sizes):
            seed = int(seeds[i, j])
            X = _inputs(np.random.default_rng(seed), n, d, inputs)
            X, y = small.simulate(theta, n, rng=seed, X=X)
            fs = fit(small, X, y, n_starts=n_starts, rng=seed)
            start = _embed(small, large, np.asarray(fs.params, float))
            fl = fit(large, X, y, start=start, n_starts=max(n_starts, 2), rng=seed)
            llf_s[i, j], llf_l[i, j] = float(fs.loglik), float(fl.loglik)
            p_s[i][j] = np.asarray(fs.params, float).tolist()
            p_l[i][j] = np.asarray(fl.params, float).tolist()
            if bayes:
                try:
                    # from the embedded small fit, near the truth: the large fit of an
                    # over-parametrised tanh net may sit at huge weights, far in the prior's
                    # tail, where a short warm-up does not come back from
                    draws = posterior_draws(large, X, y, start,
                                            prior_scale=prior_scale, n_warmup=n_warmup,
                                            n_draws=n_draws, rng=seed,
                                            max_tree_depth=max_tree_depth)
                except ConvergenceError as exc:   # recorded, not fatal: NaN and the reason
                    gen_err[i, j] = np.nan
                    failures.append(f"n={n}, rep {i}: {exc}")
                    continue
                gen_err[i, j] = _gen_error(large, draws, theta_large, large.family.sigma, d,
                                           n_test, np.random.default_rng(seed + 1), inputs)
    lr = 2.0 * (llf_l - llf_s)
    logs = np.log(np.asarray(sizes, float))
    log_coef = float(logs @ lr.mean(axis=0) / (logs @ logs))
    settings = {"small": repr(small), "large": repr(large), "theta": theta.tolist(),
                "theta_large": theta_large.tolist(), "n_starts": n_starts, "reps": reps,
                "bayes": bayes, "prior_scale": prior_scale, "n_warmup": n_warmup,
                "n_draws": n_draws, "n_test": n_test, "inputs": inputs,
                "large_params": large.n_params, "max_tree_depth": max_tree_depth,
                "sampling_failures": failures,
                "lambda_case": None if rec is None else rec.case}
    return SingularStudyResult(sizes, llf_s, llf_l, lr, seeds, p_s, p_l,
                               large.n_params - small.n_params, log_coef, gen_err,
                               None if rec is None else str(rec.lambda_), settings)
