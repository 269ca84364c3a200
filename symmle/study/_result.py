"""`StudyResult`: the table aggregated from the task records, its text/HTML/CSV forms and JSON.

The table is a function of the task records alone (`aggregate`), so a study read back from
JSON is re-aggregated and checked against the table stored with it.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import kstest

from .._checks import (as_real_array, check_int, check_probability, json_dumps, read_json,
                       write_json)
from ..architecture import Architecture
from ..display import html_report
from ..errors import PersistenceError, SymmleTypeError, SymmleValueError
from ..families import family_from_dict
from ..model import Model
from ._plot import plot_study

#: version of the JSON written by `StudyResult.to_json` and of checkpoint files.
SCHEMA_VERSION = 1

RESULT_KIND = "symmle-study"

#: 1 / Φ⁻¹(3/4): the median absolute deviation of N(0, σ²) times this is σ.
MAD_TO_SD = 1.482602218505602

#: relative and absolute tolerance when a stored table is compared with the one its records give
#: (the JSON round trip of a float is exact; this only absorbs summation-order differences).
_TABLE_RTOL, _TABLE_ATOL = 1e-9, 1e-12


# ------------------------------------------------------------------ task records as JSON


def jsonable(obj):
    """Replace NaN/inf floats by None so the document is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    return obj


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _is_int(value, minimum=None, maximum=None) -> bool:
    """Whether a value read from JSON is an integer (not a bool) within the bounds."""
    try:
        check_int(value, "value", minimum, maximum=maximum)
    except (SymmleTypeError, SymmleValueError):
        return False
    return True


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


_RECORD_FLOATS = ("raw_error", "aligned_error", "function_error", "loglik", "loglik_true")
_RECORD_VECTORS = ("theta_hat", "theta_aligned", "stderr")


def _check_model_spec(spec) -> None:
    """A study's model description must rebuild a model (architecture and family)."""
    if set(spec) != {"architecture", "family"}:
        raise PersistenceError("study: 'model' must hold exactly 'architecture' and 'family'")
    family = spec["family"]
    if not isinstance(family, dict) or not isinstance(family.get("name"), str):
        raise PersistenceError("study: 'model.family' must be an object with a string 'name'")
    try:
        Model(Architecture.from_dict(spec["architecture"]), family_from_dict(spec["family"]))
    except (SymmleTypeError, SymmleValueError) as exc:
        raise PersistenceError(f"study: 'model' does not describe a model: {exc}") from None


def check_record(rec, P: int, where: str) -> dict:
    """Validate one task record read from JSON; NaN restored from null."""
    bad = PersistenceError(f"{where}: expected a task record with n, rep, status, ...; got {rec!r:.200}")
    if not isinstance(rec, dict):
        raise bad
    if not (_is_int(rec.get("n"), 1) and _is_int(rec.get("rep"), 0)):
        raise bad
    status = rec.get("status")
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
            if v is not None and not _is_number(v):
                raise bad
            out[k] = np.nan if v is None else float(v)
        for k in _RECORD_VECTORS:
            v = rec[k]
            if not isinstance(v, list) or len(v) != P:
                raise bad
            if any(x is not None and not _is_number(x) for x in v):
                raise bad
            out[k] = _floats(v).tolist()
        if not _is_int(rec["covered"], 0, P):
            raise bad
        if not isinstance(rec["converged"], bool):
            raise bad
        # since the alignment budget (older records have neither field)
        if "align_optimal" in rec and not isinstance(rec["align_optimal"], bool):
            raise bad
        if "align_lower_bound" in rec:
            v = rec["align_lower_bound"]
            if not (_is_number(v) and 0 <= v <= out["aligned_error"] * (1 + 1e-12)):
                raise bad
            out["align_lower_bound"] = float(v)
    except KeyError:
        raise bad from None
    return out


# ------------------------------------------------------------------ aggregation


def _quartiles(x: np.ndarray):
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float(med), float(q1), float(q3)


def aggregate(records, sample_sizes, theta_true, crlb_var, level) -> list[dict]:
    """One table row per sample size from the task records (order-independent).

    Records read from a file may hold numbers whose squares overflow: the row then holds an
    infinity (and no longer matches the stored table) instead of a numpy warning.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _aggregate(records, sample_sizes, theta_true, crlb_var, level)


def _aggregate(records, sample_sizes, theta_true, crlb_var, level) -> list[dict]:
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
            row["efficiency_robust"] = float(n * np.sum((MAD_TO_SD * mad) ** 2) / trace_inv)
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


def loglog_slope(ns, values) -> float:
    """Least-squares slope of log(values) against log(ns), over the finite positive values."""
    ns, values = np.asarray(ns, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(values) & (values > 0)
    if np.count_nonzero(keep) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[keep]), np.log(values[keep]), 1)[0])


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
            if not _is_number(vb):
                return False
            if not (va == vb or (math.isnan(va) and math.isnan(vb))
                    or math.isclose(va, vb, rel_tol=_TABLE_RTOL, abs_tol=_TABLE_ATOL)):
                return False
    return True


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
        for name, kinds in (("table", (list, tuple)), ("records", (list, tuple)),
                            ("param_names", (list, tuple)), ("model", dict),
                            ("sample_sizes", (list, tuple)), ("seed", dict)):
            if not isinstance(getattr(self, name), kinds):
                kinds = kinds if isinstance(kinds, tuple) else (kinds,)
                raise SymmleTypeError(f"StudyResult: {name} must be a "
                                      f"{' or '.join(k.__name__ for k in kinds)}, got "
                                      f"{type(getattr(self, name)).__name__}")
        theta = as_real_array(self.theta_true, name="theta_true", expected="a real vector")
        crlb = as_real_array(self.crlb_var, name="crlb_var", expected="a real vector")
        if theta.ndim != 1 or crlb.ndim != 1:
            raise SymmleValueError("StudyResult: theta_true and crlb_var must be vectors")
        object.__setattr__(self, "theta_true", theta)
        object.__setattr__(self, "crlb_var", crlb)
        check_int(self.replications, "replications", 1)
        check_int(self.n_starts, "n_starts", 1)
        check_probability(self.level, "level")
        if not all(isinstance(row, dict) for row in self.table):
            raise SymmleTypeError("StudyResult: every table row must be a dict")
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
        return loglog_slope(self.sample_sizes, [r["raw_error"] for r in self.table])

    @property
    def function_slope(self) -> float:
        """Log-log slope of the median function error in n."""
        return loglog_slope(self.sample_sizes, [r["function_error"] for r in self.table])

    @property
    def alignment_optimal(self) -> float:
        """The share of finished fits whose alignment to θ* was proven optimal (the search has
        a node budget, `symmle.study.STUDY_ALIGN_MAX_NODES`); NaN for records written before
        alignments were recorded, or when no fit finished."""
        flags = [r["align_optimal"] for r in self.records
                 if r["status"] == "ok" and "align_optimal" in r]
        return float(np.mean(flags)) if flags else float("nan")

    @property
    def cramer_rao_scale(self) -> np.ndarray:
        """``√(tr I₁(θ*)⁻¹ / n)`` per sample size: the typical aligned error of an efficient MLE."""
        return np.sqrt(np.sum(self.crlb_var) / np.asarray(self.sample_sizes, dtype=float))

    def _aligned(self, n: int) -> np.ndarray:
        """The finished fits' aligned estimates at size n, shape (replications, P)."""
        return np.array([r["theta_aligned"] for r in self.records
                         if r["n"] == n and r["status"] == "ok"],
                        dtype=float).reshape(-1, len(self.theta_true))

    def standardized(self, n: int) -> np.ndarray:
        """Standardized aligned estimates ``√n (g(θ̂) − θ*) / √diag(I₁⁻¹)`` at size n.

        Returns an array of shape (finished replications, P).
        """
        if n not in self.sample_sizes:
            raise SymmleValueError(
                f"n must be one of the study's sample sizes {self.sample_sizes}, got {n!r}")
        return np.sqrt(n) * (self._aligned(n) - self.theta_true) / np.sqrt(self.crlb_var)

    def _qq_sample(self, n: int) -> tuple[np.ndarray, bool]:
        """The standardized aligned estimates at size n, and whether they are robustly scaled.

        Without a Cramér–Rao scale (singular I₁(θ*)), each parameter is centred by its median
        and scaled by 1.4826·MAD instead.
        """
        Z = self.standardized(n)
        robust = not np.all(np.isfinite(self.crlb_var))
        if robust:
            A = self._aligned(n)
            med = np.median(A, axis=0)
            scale = MAD_TO_SD * np.median(np.abs(A - med), axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                Z = (A - med) / scale
        return Z, robust

    def ks_statistics(self, n: int) -> np.ndarray:
        """Per-parameter Kolmogorov–Smirnov statistics against N(0, 1) at size n, (P,)."""
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
        head, headers, rows, tail = self._text_parts()
        return html_report(head, headers=headers, rows=rows, notes=[tail])

    def __repr__(self):
        return (f"StudyResult(sample_sizes={self.sample_sizes}, replications={self.replications}, "
                f"slope={self.slope:.3f})")

    def to_dict(self) -> dict:
        """A strict-JSON-ready dict (NaN written as null)."""
        return jsonable({
            "kind": RESULT_KIND,
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
        """Write the study as strict JSON (to ``path`` if given, atomically) and return the text.

        Examples
        --------
        >>> import json
        >>> doc = json.loads(_tiny_result().to_json())
        >>> doc["kind"], doc["schema"]
        ('symmle-study', 1)
        """
        doc = self.to_dict()
        if path is not None:
            write_json(path, doc, indent=1)
        return json_dumps(doc, indent=1)

    @classmethod
    def from_dict(cls, data) -> "StudyResult":
        """Rebuild a result from `to_dict`'s output, validating it."""
        if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
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
            reps, n_starts, level = data["replications"], data["n_starts"], data["level"]
            crlb_var = _floats(data["crlb_var"])
            model, seed, table = data["model"], data["seed"], data["table"]
            records = data["records"]
        except (KeyError, TypeError, ValueError):
            raise PersistenceError("study: missing or malformed fields; expected the keys written "
                                   "by StudyResult.to_json") from None
        crlb_ok = theta_true.ndim == 1 and crlb_var.ndim == 1 and bool(
            np.all(np.isnan(crlb_var)) or np.all((crlb_var > 0) & np.isfinite(crlb_var)))
        if (not all(isinstance(s, str) for s in names) or len(names) != P or len(crlb_var) != P
                or not crlb_ok
                or not all(_is_int(n, 1) for n in sizes)
                or not _is_int(reps, 1) or not _is_int(n_starts, 1)
                or not _is_number(level) or not 0 < level < 1
                or not isinstance(model, dict) or not isinstance(seed, dict)
                or not isinstance(table, list) or not isinstance(records, list)):
            raise PersistenceError("study: a field has the wrong type or value (replications and "
                                   "n_starts positive integers, level a number in (0, 1), "
                                   "crlb_var positive variances or all null)")
        level = float(level)
        _check_model_spec(model)
        records = tuple(check_record(r, P, "study record") for r in records)
        rebuilt = aggregate(records, sizes, theta_true, crlb_var, level)
        if not _tables_match(rebuilt, table):
            raise PersistenceError("study: the table does not match the task records; the file was "
                                   "edited or is corrupt")
        slope = loglog_slope(sizes, [r["aligned_error"] for r in rebuilt])
        return cls(table=rebuilt, slope=slope, records=records, theta_true=theta_true,
                   param_names=names, model=model, sample_sizes=sizes, replications=reps,
                   n_starts=n_starts, level=level, crlb_var=crlb_var, seed=seed)

    @classmethod
    def from_json(cls, source) -> "StudyResult":
        """Read a study written by `to_json` (a path, or the JSON text as ``str`` or ``bytes``).

        The document is read strictly (`symmle._checks.read_json`): UTF-8, no NaN or
        Infinity, bounded nesting and integer size.

        Raises
        ------
        PersistenceError
            When the document cannot be read, is not valid JSON, not a symmle study, of
            another schema version, or its table does not follow from its records.
        """
        if not isinstance(source, (str, bytes, bytearray, os.PathLike)):
            raise SymmleTypeError(f"source must be a path or JSON text, got {type(source).__name__}")
        return cls.from_dict(read_json(source, what="study"))

    def to_csv(self, path=None) -> str:
        """Write the table as CSV (to ``path`` if given) and return the text.

        Examples
        --------
        >>> print(_tiny_result().to_csv().splitlines()[0][:40])
        n,reps,failures,raw_error,raw_error_q1,r
        """
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
        return plot_study(self, path)


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
    table = aggregate(recs, (100, 400), theta, crlb, 0.95)
    return StudyResult(table=table, slope=loglog_slope((100, 400), [r["aligned_error"] for r in table]),
                       records=tuple(recs), theta_true=theta, param_names=("a", "b"),
                       model={}, sample_sizes=(100, 400), replications=3, n_starts=1, level=0.95,
                       crlb_var=crlb, seed={"entropy": 0, "spawn_key": []})
