"""Tests between fits: likelihood ratio (χ² or parametric bootstrap), input relevance, and a
comparison table for choosing the number of hidden units.

Degrees of freedom count *identified* parameters (the information rule's ranks), never P. When
the restricted model is a singular point of the full one — fewer hidden units is exactly that
case — the χ² reference is wrong (Fukumizu 2003: the likelihood ratio grows like log n), and the
test says so and offers the parametric bootstrap.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.stats as st

from .._checks import check_choice, check_int, spawn
from ..architecture import Architecture
from ..display import html_report
from ..errors import NonIdentifiableWarning, SymmleTypeError, SymmleValueError, require
from ..model import Model
from ._fit import fit
from ._inference import TestResult
from ._result import FitResult

__all__ = ["lr_test", "input_relevance", "compare", "ComparisonTable", "RelevanceTable"]


def _check_result(res, name):
    if not isinstance(res, FitResult):
        raise SymmleTypeError(f"{name} must be a FitResult (from sm.fit), got "
                              f"{type(res).__name__}")
    if res.X is None or res.y is None:
        raise SymmleValueError(f"{name} has no data (X, y): use a FitResult from sm.fit rather "
                               f"than one loaded from JSON")


def _same_data(a: FitResult, b: FitResult) -> bool:
    """The same rows and responses (the inputs may differ: a model without an input is nested
    in the one with it)."""
    return a.X.shape[0] == b.X.shape[0] and np.array_equal(np.asarray(a.y), np.asarray(b.y))


def _singular_nesting(restricted: FitResult, full: FitResult) -> bool:
    """Whether the restricted model embeds into the full one at a singular point: fewer hidden
    units (a reducible point of the full network, Sussmann's and Fukumizu's case)."""
    return len(restricted.model.architecture.hidden_nodes) < len(
        full.model.architecture.hidden_nodes)


def lr_test(restricted, full, method: str = "chi2", *, n_boot: int = 199, rng=None,
            n_jobs: int = 1) -> TestResult:
    """Likelihood-ratio test of a restricted fit against a full one on the same data.

    ``statistic = 2 (ℓ̂_full − ℓ̂_restricted)``; ``df`` is the difference of the identified
    ranks of the two informations (when the full fit identifies no more parameters than the
    restricted one — a reducible point — the χ² p-value is NaN, with a warning; the bootstrap
    still applies).

    Parameters
    ----------
    restricted, full : FitResult
        Fits on the same X and y; ``restricted``'s model nested in ``full``'s.
    method : {"chi2", "bootstrap"}
        χ²(df) reference, or the parametric bootstrap: ``n_boot`` data sets drawn from the
        restricted fit (X kept), both models refitted on each (same number of starts and method
        as the originals), p-value ``(1 + #{T_b ≥ T}) / (n_boot + 1)``.
    n_boot : int
    rng : seed, Generator or SeedSequence
        One child seed per bootstrap replicate (`SeedSequence.spawn`): results do not depend on
        ``n_jobs``.
    n_jobs : int
        Parallel processes for the bootstrap (joblib; the ``parallel`` extra).

    Warns
    -----
    NonIdentifiableWarning
        With ``method="chi2"`` when the restricted model is a singular point of the full one
        (fewer hidden units).

    Examples
    --------
    Does the second input matter in a logistic regression?

    >>> full = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    >>> X, y = full.simulate(np.array([1.0, 0.0, 0.5]), n=400, rng=0)
    >>> big = sm.fit(full, X, y, rng=0)
    >>> small = sm.fit(sm.Model(sm.mlp(1, 1), sm.Bernoulli()), X[:, :1], y, rng=0)
    >>> t = sm.lr_test(small, big)
    >>> t.df, bool(0 < t.pvalue < 1), t.method
    (1, True, 'chi2')
    """
    _check_result(restricted, "restricted")
    _check_result(full, "full")
    if not _same_data(restricted, full):
        raise SymmleValueError("restricted and full must be fitted to the same rows and y")
    method = check_choice(method, "method", ("chi2", "bootstrap"))
    if full.n_params <= restricted.n_params:
        raise SymmleValueError(
            f"the full model has {full.n_params} parameters and the restricted "
            f"{restricted.n_params}: the full one must be the bigger model")
    df = full.rank_verdict.rank - restricted.rank_verdict.rank
    stat = max(0.0, 2.0 * (full.loglik - restricted.loglik))
    singular = _singular_nesting(restricted, full)
    note = ("the restricted model is a singular point of the full one (fewer hidden units): "
            "the χ² reference does not hold there (Fukumizu 2003); use method='bootstrap'"
            if singular else "")
    if df < 1:
        # the full fit sits where it identifies no more than the restricted one (a reducible
        # point: a unit switched off or duplicated): no χ² reference at all
        note = "; ".join(filter(None, [note, (
            f"the full fit identifies {full.rank_verdict.rank} parameters, no more than the "
            f"restricted one ({restricted.rank_verdict.rank}): it sits at a singular point, "
            f"where the χ² reference has no degrees of freedom; use method='bootstrap'")]))
    if method == "chi2":
        if singular or df < 1:
            warnings.warn(note, NonIdentifiableWarning, stacklevel=2)
        if df < 1:
            return TestResult(statistic=stat, df=df, pvalue=math.nan, method="chi2", note=note)
        if restricted.penalty or full.penalty:
            note = "; ".join(filter(None, [note, (
                "penalised fits: the statistic compares the log-likelihoods at the penalised "
                "estimates, and the χ² reference holds only as the penalty vanishes; "
                "method='bootstrap' calibrates the penalised procedure itself")]))
        return TestResult(statistic=stat, df=df, pvalue=float(st.chi2.sf(stat, df)),
                          method="chi2", note=note)
    n_boot = check_int(n_boot, "n_boot", 1, maximum=100_000)
    n_jobs = check_int(n_jobs, "n_jobs", 1)
    seeds = spawn(rng, n_boot)
    tasks = [(restricted, full, s) for s in seeds]
    if n_jobs == 1:
        stats = [_boot_one(*t) for t in tasks]
    else:
        joblib = require("joblib", "parallel")
        stats = joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(_boot_one)(*t) for t in tasks)
    stats = np.array(stats)
    ok = np.isfinite(stats)
    p = (1.0 + np.count_nonzero(stats[ok] >= stat)) / (1.0 + np.count_nonzero(ok))
    failed = "" if ok.all() else f"; {np.count_nonzero(~ok)} of {n_boot} refits failed"
    return TestResult(statistic=stat, df=df, pvalue=float(p), method="bootstrap",
                      note=(f"{np.count_nonzero(ok)} parametric bootstrap replicates" + failed))


def _refit(res: FitResult, X, y, rng, model=None):
    """``res``'s fit (as many starts before the refinement, the same method, tolerance,
    iteration limit, penalty and covariance kind) on other data, or of another ``model``: the
    bootstrap calibrates the procedure actually used."""
    options = {k: v for k, v in (("tol", res.tol), ("max_iter", res.max_iter)) if v is not None}
    return fit(res.model if model is None else model, X, y,
               n_starts=max(1, len(res.starts) - res.refined), rng=rng, method=res.method,
               penalty=res.penalty, cov_type=res.cov_type, refine=res.refined > 0, **options)


def _boot_one(restricted: FitResult, full: FitResult, seed) -> float:
    data_seed, r_seed, f_seed = seed.spawn(3)
    _, y = restricted.model.simulate(restricted.params, restricted.X.shape[0], rng=data_seed,
                                     X=restricted.X)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = _refit(restricted, restricted.X, y, np.random.default_rng(r_seed))
            # the full model starts from the restricted optimum embedded where possible, and
            # from random starts: its maximum is at least the restricted one's
            b = _refit(full, full.X, y, np.random.default_rng(f_seed))
    except (SymmleValueError, ArithmeticError, RuntimeError):
        return math.nan
    return max(0.0, 2.0 * (b.loglik - a.loglik))


# ------------------------------------------------------------------ input relevance
@dataclass(frozen=True, eq=False)
class RelevanceTable:
    """`input_relevance`: one row per input (name, statistic, df, p-value, note)."""

    rows: tuple
    method: str

    def __str__(self) -> str:
        w = max([12] + [len(r["input"]) for r in self.rows])
        head = f"{'input':<{w}} {'statistic':>11} {'df':>4} {'p-value':>10}  note"
        lines = [f"Input relevance ({self.method}): all outgoing weights of the input are 0",
                 head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['input']:<{w}} {r['statistic']:>11.4g} {r['df']:>4} "
                         f"{r['pvalue']:>10.4g}  {r['note']}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_report(f"Input relevance ({self.method})",
                           headers=["input", "statistic", "df", "p-value", "note"],
                           rows=[[r["input"], f"{r['statistic']:.4g}", r["df"],
                                  f"{r['pvalue']:.4g}", r["note"]] for r in self.rows])


def _without_input(arch: Architecture, node) -> Architecture:
    G = nx.DiGraph(arch.graph)
    G.remove_node(node)
    return Architecture.from_graph(G)


def input_relevance(res, method: str = "wald", *, names=None) -> RelevanceTable:
    """For each input, the joint test that all its outgoing weights are zero.

    ``"wald"``: the Wald χ² of ``R θ = 0`` with R selecting the input's outgoing weights (as
    interpretnn does), refused (NaN with a note) where those weights are not estimable (e.g.
    ReLU rescaling moves them). ``"lr"``: the likelihood ratio against a refit without the
    input (df = difference of identified ranks).
    """
    _check_result(res, "res")
    method = check_choice(method, "method", ("wald", "lr"))
    arch = res.model.architecture
    labels = list(names) if names is not None else list(
        res.input_names or [str(v) for v in arch.input_nodes])
    if len(labels) != arch.n_inputs:
        raise SymmleValueError(f"names must have {arch.n_inputs} entries, got {len(labels)}")
    rows = []
    for i, v in enumerate(arch.input_nodes):
        idx = [arch.edge_index[(v, w)] for w in arch.graph.successors(v)]
        if method == "wald":
            R = np.zeros((len(idx), res.model.n_params))
            R[np.arange(len(idx)), idx] = 1.0
            try:
                t = res.wald_test(R)
                rows.append(dict(input=labels[i], statistic=t.statistic, df=t.df,
                                 pvalue=t.pvalue, note=""))
            except SymmleValueError as exc:
                rows.append(dict(input=labels[i], statistic=math.nan, df=len(idx),
                                 pvalue=math.nan, note=f"not estimable: {str(exc)[:60]}..."))
            continue
        if arch.n_inputs == 1:
            raise SymmleValueError("the LR relevance of the only input needs a model without "
                                   "inputs; use method='wald'")
        small = Model(_without_input(arch, v), res.model.family)
        keep = [j for j in range(arch.n_inputs) if j != i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r0 = _refit(res, res.X[:, keep], res.y, i, model=small)
        stat = max(0.0, 2.0 * (res.loglik - r0.loglik))
        df = res.rank_verdict.rank - r0.rank_verdict.rank
        rows.append(dict(input=labels[i], statistic=stat, df=df,
                         pvalue=float(st.chi2.sf(stat, df)) if df > 0 else math.nan, note=""))
    return RelevanceTable(rows=tuple(rows), method=method)


# ------------------------------------------------------------------ comparison
@dataclass(frozen=True, eq=False)
class ComparisonTable:
    """`compare`: one row per fit (model, loglik, identified parameters, AIC, BIC, LR against
    the previous row)."""

    rows: tuple

    def __str__(self) -> str:
        edf = any(r["penalty"] for r in self.rows)
        head = (f"{'model':<38} {'loglik':>11} {'k':>4} " + (f"{'edf':>6} " if edf else "")
                + f"{'AIC':>11} {'BIC':>11} {'LR':>9} {'df':>3} {'p(χ²)':>9}")
        lines = ["Model comparison (k = identified parameters; LR against the row above; χ² "
                 "p-values are not valid across hidden-unit counts — see lr_test)",
                 head, "-" * len(head)]
        for r in self.rows:
            lr = "" if r["lr"] is None else f"{r['lr']:>9.4g} {r['df']:>3} {r['pvalue']:>9.3g}"
            lines.append((f"{r['model'][:38]:<38} {r['loglik']:>11.6g} {r['k']:>4} "
                          + (f"{r['edf']:>6.4g} " if edf else "")
                          + f"{r['aic']:>11.6g} {r['bic']:>11.6g} {lr}").rstrip())
        if edf:
            lines.append("edf: effective degrees of freedom of a penalised fit, "
                         "tr[(I + penalty·D)⁻¹ I]; its loglik is the unpenalised ℓ at the "
                         "penalised estimate")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_report("Model comparison", headers=["model", "loglik", "k", "AIC", "BIC",
                                                        "LR", "df", "p(χ²)"],
                           rows=[[r["model"], f"{r['loglik']:.6g}", r["k"], f"{r['aic']:.6g}",
                                  f"{r['bic']:.6g}", "" if r["lr"] is None else f"{r['lr']:.4g}",
                                  "" if r["df"] is None else r["df"],
                                  "" if r["pvalue"] is None else f"{r['pvalue']:.3g}"]
                                 for r in self.rows])


def compare(*results) -> ComparisonTable:
    """A table of fits on the same data, to choose the number of hidden units: log-likelihood,
    identified parameters ``k``, ``AIC = 2k − 2ℓ̂``, ``BIC = k log n − 2ℓ̂`` and the LR statistic
    between neighbouring rows (the χ² p-value is shown with the caveat of `lr_test`)."""
    if not results:
        raise SymmleValueError("compare needs at least one FitResult")
    for i, r in enumerate(results):
        _check_result(r, f"results[{i}]")
    rows = []
    for i, r in enumerate(results):
        k = r.rank_verdict.rank
        n = r.n_obs
        row = dict(model=repr(r.model.architecture), loglik=r.loglik, k=k,
                   aic=2.0 * k - 2.0 * r.loglik, bic=k * math.log(n) - 2.0 * r.loglik,
                   lr=None, df=None, pvalue=None, penalty=r.penalty, edf=r.effective_df)
        if i and _same_data(results[i - 1], r):
            prev = results[i - 1]
            small, big = (prev, r) if prev.rank_verdict.rank <= k else (r, prev)
            df = big.rank_verdict.rank - small.rank_verdict.rank
            lr = max(0.0, 2.0 * (big.loglik - small.loglik))
            row.update(lr=lr, df=df, pvalue=float(st.chi2.sf(lr, df)) if df > 0 else math.nan)
        rows.append(row)
    return ComparisonTable(rows=tuple(rows))
