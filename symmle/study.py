"""The consistency study: is the MLE of a neural network consistent, and in what sense?

`consistency_study` simulates data from a true θ*, fits the model by
maximum likelihood from random starts, and measures, for growing sample sizes
``n``, three errors per replication:

* ``raw_error`` ``‖θ̂ − θ*‖``: does not go to 0 when the model has parameter
  symmetries, since θ̂ lands anywhere on θ*'s orbit;
* ``aligned_error``: the orbit distance ``min_g ‖g(θ̂) − θ*‖`` (θ̂ aligned to
  θ* by the discrete symmetry group). When θ* is irreducible this is the error
  that goes to 0 at the rate ``n^{-1/2}``: the MLE is consistent *modulo the
  group*;
* ``function_error``: the root-mean-square distance between ``f(x; θ̂)`` and
  ``f(x; θ*)`` on a fixed test set of inputs, which needs no alignment at all.

and, after alignment, Wald coverage (share of the parameters whose interval
covers θ*), efficiency ``tr(n·Cov_emp(g(θ̂))) / tr(I₁(θ*)⁻¹)`` against the
Cramér–Rao bound, and Kolmogorov–Smirnov statistics of the standardized
aligned estimates ``√n (g(θ̂) − θ*)_j / √[I₁(θ*)⁻¹]_jj`` against ``N(0, 1)``.

The estimator is honest: each fit runs ``n_starts`` random starts (drawn by
`symmle.fit` from the task's own random stream) and keeps the best; the
truth is used only *after* fitting, to measure errors, to align, and to flag
fits whose log-likelihood is below the truth's (``below_truth``: those fits
certainly missed the global maximum).

Reproducibility: the task (n, r) — replication ``r`` at sample size ``n`` —
draws from ``SeedSequence(entropy).spawn(n + 1)[n].spawn(r + 1)[r]`` (built
directly as ``SeedSequence(entropy, spawn_key=(n, r))``), so every task's data
and starts depend only on the study's seed and on (n, r), never on which
worker runs it or in which order; the table is identical for any ``n_jobs``
and any backend, and a study that adds sample sizes or replications reuses
the tasks it already has.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import check_int
from .errors import (
    PersistenceError,
    SymmleError,
    SymmleTypeError,
    SymmleValueError,
    require,
)
from .model import Model

__all__ = [
    "consistency_study",
    "StudyResult",
    "seed_model",
    "SEED_THETA",
    "REDUCIBLE_THETA",
    "QUICK_SIZES",
    "QUICK_REPS",
    "QUICK_STARTS",
    "DEFAULT_SIZES",
    "SCHEMA_VERSION",
]

#: version of the JSON written by `StudyResult.to_json` and of checkpoint files.
SCHEMA_VERSION = 1

#: θ* of the seed's experiment, mlp(2, 3, 1, tanh) with Gaussian(sigma=0.5), in DESIGN order:
#: W1 = [[1.5, -1], [-0.5, 2], [1, 1]], b1 = [0.5, -0.5, 0], v = [2, -1.5, 1], c = 0.3.
#: Irreducible (no zero weight vector, no zero output weight, no two units equal or
#: opposite), so the 48-element group is all its non-identifiability (Sussmann 1992).
SEED_THETA = np.array([1.5, -1.0, -0.5, 2.0, 1.0, 1.0, 0.5, -0.5, 0.0, 2.0, -1.5, 1.0, 0.3])
SEED_THETA.flags.writeable = False

#: A reducible truth for the same model (scenario 2): SEED_THETA with the third output
#: weight set to 0, so hidden unit 3 does not reach the output and its incoming
#: weights and bias are not identified at all.
REDUCIBLE_THETA = SEED_THETA.copy()
REDUCIBLE_THETA[11] = 0.0
REDUCIBLE_THETA.flags.writeable = False

#: sample sizes, replications and random starts of the quick study that ``symmle study``
#: runs with no options (about a minute on 2 cores).
QUICK_SIZES = (250, 1000, 4000, 16000)
QUICK_REPS = 40
QUICK_STARTS = 4

#: sample sizes of the full study (with 50 replications).
DEFAULT_SIZES = (100, 300, 1000, 3000, 10000, 30000)

_CHECKPOINT_KIND = "symmle-study-checkpoint"
_RESULT_KIND = "symmle-study"

# ------------------------------------------------------------------ the seed's model


def seed_model() -> Model:
    """The seed's model: ``mlp(2, 3, 1, activation="tanh")`` with ``Gaussian(sigma=0.5)``.

    Its true parameter is `SEED_THETA` (scenario 1) or `REDUCIBLE_THETA`
    (scenario 2).

    Examples
    --------
    >>> from symmle.study import seed_model, SEED_THETA
    >>> model = seed_model()
    >>> model.n_params, len(SEED_THETA)
    (13, 13)
    >>> model.family
    Gaussian(sigma=0.5)
    """
    from .architecture import mlp
    from .families import Gaussian

    return Model(mlp(2, 3, 1, activation="tanh"), Gaussian(sigma=0.5))


# ------------------------------------------------------------------ per-process task context

#: models rebuilt from their JSON description, one per process (workers compile once).
_MODELS: dict[str, Model] = {}
#: fixed test inputs and f(X_test; θ*) per study, one per process.
_TEST_SETS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _model_key(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True)


def _model_from_spec(spec: dict) -> Model:
    key = _model_key(spec)
    model = _MODELS.get(key)
    if model is None:
        from .architecture import Architecture
        from .families import family_from_dict

        model = Model(Architecture.from_dict(spec["architecture"]),
                      family_from_dict(spec["family"]))
        _MODELS[key] = model
    return model


def _root_seed(config: dict, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(config["entropy"],
                                  spawn_key=tuple(config["spawn_key"]) + tuple(key))


def _test_set(config: dict, model: Model, theta_true: np.ndarray):
    """The fixed test inputs (key (0,), never a task's) and the true network output on them."""
    key = _config_token(config)
    cached = _TEST_SETS.get(key)
    if cached is None:
        rng = np.random.default_rng(_root_seed(config, 0))
        X_test = rng.standard_normal((config["n_test"], model.architecture.n_inputs))
        f_true = model.architecture.forward(theta_true[: model.n_network_params], X_test)
        cached = _TEST_SETS[key] = (X_test, f_true)
    return cached


def _config_token(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _wald_stderr(F: np.ndarray) -> np.ndarray:
    """Standard errors from an information matrix; NaN for all when it is (numerically) singular."""
    if not np.all(np.isfinite(F)):
        return np.full(F.shape[0], np.nan)
    w, V = np.linalg.eigh(F)
    if w[0] <= 1e-12 * max(w[-1], 0.0) or w[-1] <= 0.0:
        return np.full(F.shape[0], np.nan)
    return np.sqrt(np.einsum("ij,j,ij->i", V, 1.0 / w, V))


#: True once this process runs its BLAS on one thread for the study's tasks.
_BLAS_PINNED = False


def _pin_blas():
    """Run BLAS on one thread in this process (once), so results do not depend on the machine.

    A multi-threaded BLAS may sum in another order and change the last bits of
    a fit, and a worker process gets one core anyway. In the calling process
    the limit is scoped to the study instead (see `_blas_scope`).
    """
    global _BLAS_PINNED
    if not _BLAS_PINNED:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl comes with the parallel extra
            return
        threadpool_limits(1)
        _BLAS_PINNED = True


class _blas_scope:
    """One BLAS thread in the calling process for the duration of a study, then restored."""

    def __enter__(self):
        global _BLAS_PINNED
        self.saved, self.limits = _BLAS_PINNED, None
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover
            return self
        if not _BLAS_PINNED:
            self.limits = threadpool_limits(1)
            _BLAS_PINNED = True
        return self

    def __exit__(self, *exc):
        global _BLAS_PINNED
        if self.limits is not None:
            self.limits.restore_original_limits()
        _BLAS_PINNED = self.saved
        return False


def _run_task(config: dict, n: int, rep: int) -> dict:
    """Simulate, fit, align and measure one replication. Runs in any worker; returns plain JSON.

    Tasks already run in parallel (processes or cluster workers), so each one evaluates the
    model on a single thread, whatever ``SYMMLE_NUM_THREADS`` says.
    """
    from .compiled import threads

    with threads(1):
        return _run_task_single_threaded(config, n, rep)


def _run_task_single_threaded(config: dict, n: int, rep: int) -> dict:
    from scipy.stats import norm

    _pin_blas()
    from .fitting import fit
    from .symmetry import align

    start_time = time.perf_counter()
    model = _model_from_spec(config["model"])
    arch = model.architecture
    cm = model.compile()
    theta_true = np.asarray(config["theta_true"], dtype=float)
    X_test, f_true = _test_set(config, model, theta_true)
    data_seed, fit_seed = _root_seed(config, n, rep).spawn(2)
    X, y = model.simulate(theta_true, n, rng=np.random.default_rng(data_seed))
    record = {"n": n, "rep": rep}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = fit(model, X, y, n_starts=config["n_starts"],
                      rng=np.random.default_rng(fit_seed), **config["fit_options"])
        except SymmleError as exc:
            record.update(status="failed", message=f"{type(exc).__name__}: {exc}",
                          seconds=time.perf_counter() - start_time)
            return record
        theta_hat = np.asarray(res.params, dtype=float)
        aligned = np.asarray(align(arch, theta_hat, theta_true), dtype=float)
        stderr = _wald_stderr(cm.fisher(aligned, X))
    z = norm.ppf(0.5 + config["level"] / 2)
    covered = np.abs(aligned - theta_true) <= z * stderr  # False where stderr is NaN
    f_hat = arch.forward(theta_hat[: model.n_network_params], X_test)
    loglik_hat = float(res.loglik)
    loglik_true = cm.loglik(theta_true, X, y)
    record.update(
        status="ok",
        raw_error=float(np.linalg.norm(theta_hat - theta_true)),
        aligned_error=float(np.linalg.norm(aligned - theta_true)),
        function_error=float(np.sqrt(np.mean((f_hat - f_true) ** 2))),
        covered=int(np.sum(covered)),
        converged=bool(res.converged),
        loglik=loglik_hat,
        loglik_true=float(loglik_true),
        theta_hat=theta_hat.tolist(),
        theta_aligned=aligned.tolist(),
        stderr=stderr.tolist(),
        seconds=time.perf_counter() - start_time,
    )
    return record


# ------------------------------------------------------------------ JSON helpers


def _jsonable(obj):
    """Replace NaN/inf floats by None so the document is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


_RECORD_FLOATS = ("raw_error", "aligned_error", "function_error", "loglik", "loglik_true")
_RECORD_VECTORS = ("theta_hat", "theta_aligned", "stderr")


def _check_record(rec, P: int, where: str) -> dict:
    """Validate one task record read from JSON; NaN restored from null."""
    bad = PersistenceError(f"{where}: expected a task record with n, rep, status, ...; got {rec!r:.200}")
    if not isinstance(rec, dict):
        raise bad
    n, rep, status = rec.get("n"), rec.get("rep"), rec.get("status")
    if not (isinstance(n, int) and isinstance(rep, int) and n >= 1 and rep >= 0):
        raise bad
    if status == "failed":
        if not isinstance(rec.get("message"), str):
            raise bad
        return dict(rec)
    if status != "ok":
        raise bad
    out = dict(rec)
    try:
        for k in _RECORD_FLOATS:
            v = rec[k]
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise bad
            out[k] = np.nan if v is None else float(v)
        for k in _RECORD_VECTORS:
            v = rec[k]
            if not isinstance(v, list) or len(v) != P:
                raise bad
            if any(x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)))
                   for x in v):
                raise bad
            out[k] = _floats(v).tolist()
        if not isinstance(rec["covered"], int) or not 0 <= rec["covered"] <= P:
            raise bad
        if not isinstance(rec["converged"], bool):
            raise bad
    except KeyError:
        raise bad from None
    return out


# ------------------------------------------------------------------ aggregation


def _quartiles(x: np.ndarray):
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float(med), float(q1), float(q3)


#: 1 / Φ⁻¹(3/4): the median absolute deviation of N(0, σ²) times this is σ.
_MAD_TO_SD = 1.482602218505602


def _aggregate(records, sample_sizes, theta_true, crlb_var, level) -> list[dict]:
    """One table row per sample size from the task records (order-independent)."""
    from scipy.stats import kstest

    P = len(theta_true)
    trace_inv = float(np.sum(crlb_var))
    sd = np.sqrt(crlb_var)
    table = []
    for n in sample_sizes:
        recs = sorted((r for r in records if r["n"] == n), key=lambda r: r["rep"])
        ok = [r for r in recs if r["status"] == "ok"]
        row = {"n": int(n), "reps": len(ok), "failures": len(recs) - len(ok)}
        for name in ("raw_error", "aligned_error", "function_error"):
            med, q1, q3 = _quartiles(np.array([r[name] for r in ok], dtype=float))
            row[name], row[name + "_q1"], row[name + "_q3"] = med, q1, q3
        if ok:
            row["coverage"] = float(np.mean([r["covered"] / P for r in ok]))
            row["converged"] = float(np.mean([r["converged"] for r in ok]))
            row["below_truth"] = float(np.mean([r["loglik"] < r["loglik_true"] for r in ok]))
        else:
            row["coverage"] = row["converged"] = row["below_truth"] = np.nan
        if len(ok) >= 2:
            A = np.array([r["theta_aligned"] for r in ok])
            cov = np.cov(A, rowvar=False, ddof=1).reshape(P, P)
            row["efficiency"] = float(n * np.trace(cov) / trace_inv)
            mad = np.median(np.abs(A - np.median(A, axis=0)), axis=0)
            row["efficiency_robust"] = float(n * np.sum((_MAD_TO_SD * mad) ** 2) / trace_inv)
            Z = np.sqrt(n) * (A - theta_true) / sd
            ks = [kstest(Z[:, j], "norm").statistic if np.isfinite(sd[j]) else np.nan
                  for j in range(P)]
            row["ks_max"] = float(np.nanmax(ks)) if np.any(np.isfinite(ks)) else np.nan
            row["ks_median"] = float(np.nanmedian(ks)) if np.any(np.isfinite(ks)) else np.nan
        else:
            row["efficiency"] = row["efficiency_robust"] = np.nan
            row["ks_max"] = row["ks_median"] = np.nan
        row["level"] = float(level)
        table.append(row)
    return table


def _loglog_slope(ns, values) -> float:
    ns, values = np.asarray(ns, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(values) & (values > 0)
    if np.count_nonzero(keep) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[keep]), np.log(values[keep]), 1)[0])


# ------------------------------------------------------------------ the result


#: the columns of the printed table: (key of a ``StudyResult.table`` row, header, format).
_COLUMNS = (("n", "n", "{:d}"), ("reps", "reps", "{:d}"),
            ("raw_error", "raw ‖θ̂−θ*‖", "{:.3g}"), ("aligned_error", "aligned", "{:.3g}"),
            ("function_error", "function", "{:.3g}"), ("coverage", "coverage", "{:.3f}"),
            ("efficiency", "efficiency", "{:.3g}"), ("efficiency_robust", "robust eff.", "{:.2f}"),
            ("ks_max", "KS max", "{:.3f}"), ("below_truth", "below θ*", "{:.2f}"))


@dataclass(frozen=True, eq=False)
class StudyResult:
    """The outcome of `consistency_study`.

    Attributes
    ----------
    table : list of dict
        One row per sample size: ``n``, ``reps`` (finished fits), ``failures``;
        medians and quartiles (``_q1``, ``_q3``) of ``raw_error``,
        ``aligned_error`` and ``function_error``; ``coverage`` (mean share of
        the parameters whose Wald interval at the aligned estimate covers θ*),
        ``efficiency`` (``tr(n·Cov_emp(aligned θ̂)) / tr(I₁(θ*)⁻¹)``, → 1 for an
        efficient estimator; a few fits stuck in a poor local optimum inflate
        it), ``efficiency_robust`` (the same ratio with each parameter's
        variance estimated as (1.4826·MAD)², insensitive to such outliers),
        ``ks_max`` / ``ks_median`` (Kolmogorov–Smirnov
        statistics of the standardized aligned estimates against N(0, 1), over
        the parameters), ``converged`` (share of fits whose optimiser
        converged), ``below_truth`` (share of fits whose log-likelihood is below
        the truth's: a missed global maximum) and ``level``.
    slope : float
        Log-log least-squares slope of the median aligned error against n
        (≈ −0.5 when the MLE is consistent modulo the symmetry group).
    records : tuple of dict
        One record per task (sorted by n, then replication): errors, estimates,
        aligned estimates, standard errors, log-likelihoods, seconds.
    theta_true, param_names, model, sample_sizes, replications, n_starts, level
        The study's set-up; ``model`` is ``{"architecture": ..., "family": ...}``.
    crlb_var : numpy.ndarray
        ``diag(I₁(θ*)⁻¹)``: per-row Cramér–Rao variances.
    seed : dict
        ``{"entropy": int, "spawn_key": list}``: rerun with
        ``rng=np.random.SeedSequence(entropy, spawn_key=spawn_key)``.
    """

    table: list
    slope: float
    records: tuple
    theta_true: np.ndarray
    param_names: tuple
    model: dict
    sample_sizes: tuple
    replications: int
    n_starts: int
    level: float
    crlb_var: np.ndarray
    seed: dict = field(default_factory=dict)

    def __post_init__(self):
        P = len(self.theta_true)
        if len(self.param_names) != P or len(self.crlb_var) != P:
            raise SymmleValueError("theta_true, param_names and crlb_var must have the same length")
        if len(self.table) != len(self.sample_sizes):
            raise SymmleValueError("table must have one row per sample size")
        for row, n in zip(self.table, self.sample_sizes):
            if row.get("n") != n:
                raise SymmleValueError(f"table row {row!r:.80} does not match sample size {n}")

    # ---------------------------------------------------------------- derived
    @property
    def raw_slope(self) -> float:
        """Log-log slope of the median raw error ‖θ̂ − θ*‖ in n."""
        return _loglog_slope(self.sample_sizes, [r["raw_error"] for r in self.table])

    @property
    def function_slope(self) -> float:
        """Log-log slope of the median function error in n."""
        return _loglog_slope(self.sample_sizes, [r["function_error"] for r in self.table])

    @property
    def cramer_rao_scale(self) -> np.ndarray:
        """``√(tr I₁(θ*)⁻¹ / n)`` per sample size: the typical aligned error of an efficient MLE."""
        return np.sqrt(np.sum(self.crlb_var) / np.asarray(self.sample_sizes, dtype=float))

    def standardized(self, n: int) -> np.ndarray:
        """Standardized aligned estimates ``√n (g(θ̂) − θ*) / √diag(I₁⁻¹)`` at size n.

        Returns an array of shape (finished replications, P).
        """
        if n not in self.sample_sizes:
            raise SymmleValueError(
                f"n must be one of the study's sample sizes {self.sample_sizes}, got {n!r}")
        A = np.array([r["theta_aligned"] for r in self.records if r["n"] == n and r["status"] == "ok"],
                     dtype=float).reshape(-1, len(self.theta_true))
        return np.sqrt(n) * (A - self.theta_true) / np.sqrt(self.crlb_var)

    def ks_statistics(self, n: int) -> np.ndarray:
        """Per-parameter Kolmogorov–Smirnov statistics against N(0, 1) at size n, (P,)."""
        from scipy.stats import kstest

        Z = self.standardized(n)
        return np.array([kstest(Z[:, j], "norm").statistic for j in range(Z.shape[1])])

    # ---------------------------------------------------------------- output
    def _text_parts(self):
        """Header line, column headers, formatted rows and footer shared by ``str`` and HTML."""
        headers = [h for _, h, _ in _COLUMNS]
        rows = [["nan" if isinstance(row[key], float) and not math.isfinite(row[key])
                 else fmt.format(row[key]) for key, _, fmt in _COLUMNS] for row in self.table]
        arch = self.model.get("architecture", {})
        n_hidden = sum(1 for _, a in arch.get("nodes", []) if a.get("role") == "hidden")
        head = (f"consistency study: {len(self.theta_true)} parameters, {n_hidden} hidden units, "
                f"{self.replications} replications, {self.n_starts} random starts per fit")
        tail = (f"median error slopes in log n: aligned {self.slope:.3f}, raw {self.raw_slope:.3f}, "
                f"function {self.function_slope:.3f} (n^-1/2 is -0.5); "
                f"coverage at level {self.level:g}")
        return head, headers, rows, tail

    def __str__(self):
        head, headers, rows, tail = self._text_parts()
        cells = [headers, *rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([head, *lines, tail])

    def _repr_html_(self) -> str:
        """The ``str`` table as HTML, for notebooks."""
        from .display import html_report

        head, headers, rows, tail = self._text_parts()
        return html_report(head, headers=headers, rows=rows, notes=[tail])

    def __repr__(self):
        return (f"StudyResult(sample_sizes={self.sample_sizes}, replications={self.replications}, "
                f"slope={self.slope:.3f})")

    def to_dict(self) -> dict:
        """A strict-JSON-ready dict (NaN written as null)."""
        return _jsonable({
            "kind": _RESULT_KIND,
            "schema": SCHEMA_VERSION,
            "model": self.model,
            "theta_true": np.asarray(self.theta_true, dtype=float).tolist(),
            "param_names": list(self.param_names),
            "sample_sizes": list(self.sample_sizes),
            "replications": self.replications,
            "n_starts": self.n_starts,
            "level": self.level,
            "crlb_var": np.asarray(self.crlb_var, dtype=float).tolist(),
            "seed": self.seed,
            "slope": self.slope,
            "table": self.table,
            "records": list(self.records),
        })

    def to_json(self, path=None) -> str:
        """Write the study as JSON (to ``path`` if given) and return the text.

        Examples
        --------
        >>> import json
        >>> doc = json.loads(_tiny_result().to_json())
        >>> doc["kind"], doc["schema"]
        ('symmle-study', 1)
        """
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data) -> "StudyResult":
        """Rebuild a result from `to_dict`'s output, validating it."""
        if not isinstance(data, dict) or data.get("kind") != _RESULT_KIND:
            raise PersistenceError("study: not a symmle study document (kind 'symmle-study' missing)")
        if data.get("schema") != SCHEMA_VERSION:
            raise PersistenceError(
                f"study: schema {data.get('schema')!r} is not supported (this symmle reads "
                f"schema {SCHEMA_VERSION})")
        try:
            theta_true = _floats(data["theta_true"])
            P = len(theta_true)
            names = tuple(data["param_names"])
            sizes = tuple(data["sample_sizes"])
            reps, n_starts, level = data["replications"], data["n_starts"], float(data["level"])
            crlb_var = _floats(data["crlb_var"])
            model, seed, table = data["model"], data["seed"], data["table"]
            records = data["records"]
        except (KeyError, TypeError, ValueError):
            raise PersistenceError("study: missing or malformed fields; expected the keys written "
                                   "by StudyResult.to_json") from None
        if (not all(isinstance(s, str) for s in names) or len(names) != P or len(crlb_var) != P
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)
                or not isinstance(reps, int) or not isinstance(n_starts, int)
                or not isinstance(model, dict) or not isinstance(seed, dict)
                or not isinstance(table, list) or not isinstance(records, list)):
            raise PersistenceError("study: a field has the wrong type")
        records = tuple(_check_record(r, P, "study record") for r in records)
        rebuilt = _aggregate(records, sizes, theta_true, crlb_var, level)
        if not _tables_match(rebuilt, table):
            raise PersistenceError("study: the table does not match the task records; the file was "
                                   "edited or is corrupt")
        slope = _loglog_slope(sizes, [r["aligned_error"] for r in rebuilt])
        return cls(table=rebuilt, slope=slope, records=records, theta_true=theta_true,
                   param_names=names, model=model, sample_sizes=sizes, replications=reps,
                   n_starts=n_starts, level=level, crlb_var=crlb_var, seed=seed)

    @classmethod
    def from_json(cls, source) -> "StudyResult":
        """Read a study written by `to_json` (a path or the JSON text).

        Raises
        ------
        PersistenceError
            When the document is not valid JSON, not a symmle study, of another
            schema version, or its table does not follow from its records.
        """
        if isinstance(source, os.PathLike) or (isinstance(source, str)
                                                and not source.lstrip().startswith("{")):
            try:
                source = Path(source).read_text(encoding="utf-8")
            except OSError as exc:
                raise PersistenceError(f"study: cannot read {source!s}: {exc}") from None
        if not isinstance(source, str):
            raise SymmleTypeError(f"source must be a path or JSON text, got {type(source).__name__}")
        try:
            data = json.loads(source)
        except json.JSONDecodeError as exc:
            raise PersistenceError(f"study: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    def to_csv(self, path=None) -> str:
        """Write the table as CSV (to ``path`` if given) and return the text.

        Examples
        --------
        >>> print(_tiny_result().to_csv().splitlines()[0][:40])
        n,reps,failures,raw_error,raw_error_q1,r
        """
        import io

        buf = io.StringIO()
        keys = list(self.table[0]) if self.table else ["n"]
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for row in self.table:
            writer.writerow({k: ("nan" if isinstance(v, float) and not math.isfinite(v) else v)
                             for k, v in row.items()})
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def plot(self, path=None):
        """Draw the study: errors against n (log-log) and a normal QQ plot at the largest n.

        Left panel: medians (with interquartile bars) of the raw, aligned and
        function errors, and the Cramér–Rao scale ``√(tr I₁⁻¹ / n)`` as the
        ``n^{-1/2}`` reference line. Right panel: normal QQ plot of the
        standardized aligned estimates of all parameters at the largest n.
        Uses matplotlib's Agg canvas (no display, no pyplot state).

        Parameters
        ----------
        path : str or path-like, optional
            Where to save the figure (PNG by the suffix); not saved if None.

        Returns
        -------
        matplotlib.figure.Figure
        """
        require("matplotlib", "plot")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from scipy.stats import norm

        fig = Figure(figsize=(11, 4.6), layout="constrained")
        FigureCanvasAgg(fig)
        ax, qq = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
        ns = np.asarray(self.sample_sizes, dtype=float)
        styles = [("raw_error", "raw  ‖θ̂ − θ*‖", "tab:red", "s"),
                  ("aligned_error", "aligned  min_g ‖g(θ̂) − θ*‖", "tab:blue", "o"),
                  ("function_error", "function  RMS f(x; θ̂) − f(x; θ*)", "tab:green", "^")]
        for key, label, color, marker in styles:
            med = np.array([r[key] for r in self.table], dtype=float)
            lo = np.array([r[key + "_q1"] for r in self.table], dtype=float)
            hi = np.array([r[key + "_q3"] for r in self.table], dtype=float)
            ax.errorbar(ns, med, yerr=[med - lo, hi - med], color=color, marker=marker,
                        capsize=3, label=label)
        crs = self.cramer_rao_scale
        if np.all(np.isfinite(crs)):
            ax.plot(ns, crs, color="k", ls="--", lw=1,
                    label=r"$\sqrt{\mathrm{tr}\,I_1^{-1}/n}$  ($n^{-1/2}$, Cramér–Rao)")
        else:  # singular information at θ*: no Cramér–Rao scale, anchor n^-1/2 on the function error
            f0 = self.table[0]["function_error"]
            ax.plot(ns, f0 * np.sqrt(ns[0] / ns), color="k", ls="--", lw=1,
                    label=r"$\propto n^{-1/2}$ (no Cramér–Rao bound: $I_1(\theta^*)$ singular)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sample size n")
        ax.set_ylabel("median error (bars: quartiles)")
        ax.set_title(f"aligned slope {self.slope:.2f}, raw {self.raw_slope:.2f}, "
                     f"function {self.function_slope:.2f}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
        n_max = max(self.sample_sizes)
        Z = self.standardized(n_max)
        robust = not np.all(np.isfinite(self.crlb_var))
        if robust:  # no Cramér–Rao scale: centre and scale each parameter by median and MAD
            A = np.array([r["theta_aligned"] for r in self.records
                          if r["n"] == n_max and r["status"] == "ok"], dtype=float)
            med = np.median(A, axis=0)
            scale = _MAD_TO_SD * np.median(np.abs(A - med), axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                Z = (A - med) / scale
        Z = np.sort(Z[np.isfinite(Z)].ravel())
        if Z.size:
            probs = (np.arange(1, Z.size + 1) - 0.5) / Z.size
            q = norm.ppf(probs)
            qq.plot(q, Z, ".", color="tab:blue", ms=3, alpha=0.7)
            lim = max(4.0, float(np.max(np.abs(q))))
            qq.plot([-lim, lim], [-lim, lim], "k--", lw=1)
            qq.set_xlim(-lim, lim)
            if robust:
                qq.set_yscale("symlog", linthresh=2.0)
        qq.set_xlabel("N(0, 1) quantile")
        if robust:
            qq.set_ylabel("(aligned θ̂ − median) / (1.4826·MAD), per parameter")
            qq.set_title(f"normal QQ at n = {n_max} (I₁(θ*) singular: robust scale)")
        else:
            qq.set_ylabel(r"$\sqrt{n}\,(g(\hat\theta)-\theta^*)_j / \sqrt{[I_1^{-1}]_{jj}}$")
            qq.set_title(f"normal QQ, all parameters pooled, n = {n_max}")
        qq.grid(True, alpha=0.3)
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def _tables_match(a, b) -> bool:
    if not isinstance(b, list) or len(a) != len(b):
        return False
    for ra, rb in zip(a, b):
        if not isinstance(rb, dict) or set(ra) != set(rb):
            return False
        for k, va in ra.items():
            vb = rb[k]
            if vb is None:
                vb = float("nan")
            if isinstance(vb, bool) or not isinstance(vb, (int, float)):
                return False
            if not (va == vb or (math.isnan(va) and math.isnan(vb))
                    or math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-12)):
                return False
    return True


def _tiny_result() -> StudyResult:
    """A two-row result for the doctests (no fitting)."""
    theta = np.array([1.0, 0.5])
    recs = []
    for n in (100, 400):
        for rep in range(3):
            d = np.array([rep - 1.0, 0.5 - rep / 2]) / np.sqrt(n)
            recs.append({"n": n, "rep": rep, "status": "ok", "raw_error": float(np.linalg.norm(d)),
                         "aligned_error": float(np.linalg.norm(d)),
                         "function_error": float(np.linalg.norm(d)) / 2, "covered": 2,
                         "converged": True, "loglik": 0.0, "loglik_true": -1.0,
                         "theta_hat": (theta + d).tolist(), "theta_aligned": (theta + d).tolist(),
                         "stderr": [0.1, 0.1], "seconds": 0.0})
    crlb = np.array([1.0, 0.25])
    table = _aggregate(recs, (100, 400), theta, crlb, 0.95)
    return StudyResult(table=table, slope=_loglog_slope((100, 400), [r["aligned_error"] for r in table]),
                       records=tuple(recs), theta_true=theta, param_names=("a", "b"),
                       model={}, sample_sizes=(100, 400), replications=3, n_starts=1, level=0.95,
                       crlb_var=crlb, seed={"entropy": 0, "spawn_key": []})


# ------------------------------------------------------------------ checkpoints


def _read_checkpoint(path: Path, config: dict | None, P: int):
    """(header config, {(n, rep): record}) from a checkpoint; a torn last line is dropped."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete, torn = lines[:-1], lines[-1]
    if torn.strip():
        # the writer was killed mid-line: drop the partial record so appends stay valid
        path.write_text("\n".join(complete) + ("\n" if complete else ""), encoding="utf-8")
    if not complete:
        return None, {}
    try:
        header = json.loads(complete[0])
    except json.JSONDecodeError:
        raise PersistenceError(f"checkpoint {path}: first line is not a symmle study header") from None
    if not isinstance(header, dict) or header.get("kind") != _CHECKPOINT_KIND:
        raise PersistenceError(f"checkpoint {path}: not a symmle study checkpoint; choose another path")
    if header.get("schema") != SCHEMA_VERSION:
        raise PersistenceError(f"checkpoint {path}: schema {header.get('schema')!r} is not "
                               f"supported (this symmle writes schema {SCHEMA_VERSION})")
    stored = header.get("config")
    if not isinstance(stored, dict):
        raise PersistenceError(f"checkpoint {path}: the header has no study configuration")
    if config is not None:
        seeded = config["entropy"] is not None
        mismatch = [k for k in config if k not in ("entropy", "spawn_key") and config[k] != stored.get(k)]
        if seeded and (config["entropy"], config["spawn_key"]) != (stored.get("entropy"),
                                                                  stored.get("spawn_key")):
            mismatch.append("rng")
        if mismatch:
            raise PersistenceError(
                f"checkpoint {path} was written by a different study (differs in "
                f"{', '.join(mismatch)}); delete it or pass another checkpoint path")
    done = {}
    for i, line in enumerate(complete[1:], start=2):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise PersistenceError(f"checkpoint {path}, line {i}: not valid JSON") from None
        rec = _check_record(rec, P, f"checkpoint {path}, line {i}")
        done[(rec["n"], rec["rep"])] = rec
    return stored, done


# ------------------------------------------------------------------ execution backends


def _run_sequential(config, todo):
    for n, rep in todo:
        yield _run_task(config, n, rep)


def _run_joblib(config, todo, n_jobs):
    joblib = require("joblib", "parallel")
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    yield from parallel(joblib.delayed(_run_task)(config, n, rep) for n, rep in todo)


def _run_dask(config, todo, client):
    distributed = require("distributed", "parallel")
    own = isinstance(client, str)
    if own:
        client = distributed.Client(client)
    token = _config_token(config)
    futures = [client.submit(_run_task, config, n, rep, key=f"symmle-study-{token}-{n}-{rep}")
               for n, rep in todo]
    try:
        for future in distributed.as_completed(futures):
            yield future.result()
    finally:
        client.cancel(futures)
        if own:
            client.close()


# ------------------------------------------------------------------ the study


def _check_sizes(sample_sizes) -> tuple[int, ...]:
    try:
        sizes = tuple(sample_sizes)
    except TypeError:
        raise SymmleTypeError(f"sample_sizes must be a sequence of integers, got "
                              f"{type(sample_sizes).__name__}") from None
    if not sizes or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2
                        for n in sizes):
        raise SymmleValueError(f"sample_sizes must be integers ≥ 2, got {sample_sizes!r}")
    sizes = tuple(int(n) for n in sizes)
    if len(set(sizes)) != len(sizes):
        raise SymmleValueError(f"sample_sizes must be distinct, got {sizes!r}")
    return tuple(sorted(sizes))


def _seed_from(rng):
    """(entropy, spawn_key) of the study's root SeedSequence; entropy None when rng is None."""
    if rng is None:
        return None, ()
    if isinstance(rng, np.random.SeedSequence):
        return rng.entropy, tuple(int(k) for k in rng.spawn_key)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(2**63)), ()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return int(rng), ()
    raise SymmleTypeError("rng must be a non-negative int seed, a numpy.random.SeedSequence, "
                          f"a numpy.random.Generator or None, got {rng!r:.60}")


def consistency_study(model, theta_true, sample_sizes, replications=50, n_starts=4, rng=None,
                      n_jobs=1, client=None, *, checkpoint=None, progress=False, level=0.95,
                      n_test=2000, n_fisher=100_000, fit_options=None) -> StudyResult:
    """Simulate, fit and measure: is the MLE consistent, and modulo what?

    For each sample size ``n`` and replication, simulate ``(X, y)`` from θ*
    (``X ~ N(0, I)``), fit the model by maximum likelihood with ``n_starts``
    random starts (`symmle.fit`), align θ̂ to θ* by the symmetry group
    (`symmle.align`) and record the raw, aligned and function errors,
    Wald coverage at the aligned estimate and the log-likelihoods. See the
    module docstring for the measures and `StudyResult` for the table.

    Parameters
    ----------
    model : Model
    theta_true : array_like, shape (P,)
        The true parameter θ* (network parameters, then the family's).
    sample_sizes : sequence of int
        Distinct sample sizes (sorted in the result).
    replications : int
        Fits per sample size.
    n_starts : int
        Random starts per fit; the best log-likelihood is kept. Nothing in the
        fit uses θ*.
    rng : int, SeedSequence, Generator or None
        The study's seed. With ``None`` a fresh seed is drawn (and stored in
        the result), unless ``checkpoint`` names an existing file, whose seed
        is then reused.
    n_jobs : int
        Worker processes for joblib (``-1``: all cores); 1 runs in this process.
    client : dask.distributed.Client or str, optional
        Run the tasks on this Dask cluster (or on the scheduler at this
        address). A worker that dies has its tasks rerun by the scheduler.
        Cannot be combined with ``n_jobs`` other than 1.
    checkpoint : str or path-like, optional
        A JSON-lines file: each finished task is appended as it ends, and a
        later call with the same file runs only the missing tasks.
    progress : bool
        Show a tqdm progress bar (``parallel`` extra).
    level : float
        Confidence level of the Wald intervals.
    n_test : int
        Rows of the fixed test set for ``function_error``.
    n_fisher : int
        Rows of the fixed Monte Carlo sample for the per-row Fisher
        information ``I₁(θ*) = model.compile().fisher(θ*, X) / n_fisher``.
    fit_options : dict, optional
        Further JSON-serialisable keyword arguments for `symmle.fit`.

    Returns
    -------
    StudyResult
        Identical for any ``n_jobs``, backend, and for interrupted-then-resumed
        runs with the same seed.

    Raises
    ------
    SymmleValueError, SymmleTypeError
        Bad arguments.
    PersistenceError
        A checkpoint file that another study wrote.

    Examples
    --------
    >>> from symmle.study import consistency_study, seed_model, SEED_THETA
    >>> study = consistency_study(seed_model(), SEED_THETA, [400, 1600], replications=3,
    ...                           n_starts=2, rng=0)
    >>> [row["n"] for row in study.table]
    [400, 1600]
    >>> bool(study.table[1]["aligned_error"] < study.table[1]["raw_error"])
    True
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(f"model must be a symmle Model, got {type(model).__name__}")
    theta_true = model.check_theta(theta_true, name="theta_true")
    sizes = _check_sizes(sample_sizes)
    replications = check_int(replications, "replications", 1)
    n_starts = check_int(n_starts, "n_starts", 1)
    n_test = check_int(n_test, "n_test", 1)
    n_fisher = check_int(n_fisher, "n_fisher", 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise SymmleValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
    if client is not None and n_jobs != 1:
        raise SymmleValueError("pass either n_jobs (joblib on this machine) or client (a Dask "
                               "cluster), not both")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise SymmleValueError(f"level must be a number in (0, 1), got {level!r}")
    fit_options = {} if fit_options is None else fit_options
    if not isinstance(fit_options, dict):
        raise SymmleTypeError(f"fit_options must be a dict of keyword arguments, got {fit_options!r}")
    try:
        json.dumps(fit_options, allow_nan=False)
    except (TypeError, ValueError):
        raise SymmleValueError("fit_options must be JSON-serialisable (numbers, strings, lists, "
                               "dicts) so that tasks can be checkpointed and sent to workers") from None
    if "n_starts" in fit_options or "rng" in fit_options or "start" in fit_options:
        raise SymmleValueError("fit_options must not set start, n_starts or rng: the study draws "
                               "random starts itself")
    entropy, spawn_key = _seed_from(rng)
    spec = {"architecture": model.architecture.to_dict(), "family": model.family.to_dict()}
    _MODELS.setdefault(_model_key(spec), model)
    config = {"model": spec, "theta_true": theta_true.tolist(), "entropy": entropy,
              "spawn_key": list(spawn_key), "n_starts": n_starts, "fit_options": fit_options,
              "n_test": n_test, "level": float(level)}
    P = model.n_params

    done = {}
    ckpt = None if checkpoint is None else Path(checkpoint)
    if ckpt is not None and ckpt.exists():
        stored, done = _read_checkpoint(ckpt, config, P)
        if stored is not None:
            config["entropy"], config["spawn_key"] = stored["entropy"], stored["spawn_key"]
    if config["entropy"] is None:
        config["entropy"] = np.random.SeedSequence().entropy
    if ckpt is not None and (not ckpt.exists() or ckpt.stat().st_size == 0):
        header = {"kind": _CHECKPOINT_KIND, "schema": SCHEMA_VERSION, "config": config}
        ckpt.write_text(json.dumps(header) + "\n", encoding="utf-8")

    # per-row Fisher information at θ* by Monte Carlo on a fixed sample (key (0, 1))
    X_fisher = np.random.default_rng(_root_seed(config, 0, 1)).standard_normal(
        (n_fisher, model.architecture.n_inputs))
    I1 = model.compile().fisher(theta_true, X_fisher) / n_fisher
    try:
        crlb_var = np.diag(np.linalg.inv(I1)).copy()
        if np.linalg.cond(I1) > 1e12 or np.any(crlb_var <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        crlb_var = np.full(P, np.nan)  # singular at θ*: no Cramér–Rao bound (reducible truth)

    wanted = [(n, rep) for n in sizes for rep in range(replications)]
    records = {key: done[key] for key in wanted if key in done}
    todo = [key for key in wanted if key not in records]
    if todo:
        if client is not None:
            results = _run_dask(config, todo, client)
        elif n_jobs == 1:
            results = _run_sequential(config, todo)
        else:
            results = _run_joblib(config, todo, int(n_jobs))
        bar = None
        if progress:
            tqdm = require("tqdm", "parallel")
            bar = tqdm.tqdm(total=len(wanted), initial=len(records), unit="fit", desc="study")
        try:
            with _blas_scope(), (open(ckpt, "a", encoding="utf-8") if ckpt is not None
                                 else nullcontext()) as fh:
                for rec in results:
                    records[(rec["n"], rec["rep"])] = rec
                    if fh is not None:
                        fh.write(json.dumps(_jsonable(rec)) + "\n")
                        fh.flush()
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            if hasattr(results, "close"):
                results.close()

    ordered = tuple(records[key] for key in wanted)
    table = _aggregate(ordered, sizes, theta_true, crlb_var, level)
    slope = _loglog_slope(sizes, [r["aligned_error"] for r in table])
    return StudyResult(table=table, slope=slope, records=ordered, theta_true=theta_true.copy(),
                       param_names=tuple(model.param_names), model=spec, sample_sizes=sizes,
                       replications=replications, n_starts=n_starts, level=float(level),
                       crlb_var=crlb_var, seed={"entropy": config["entropy"],
                                                "spawn_key": list(config["spawn_key"])})
