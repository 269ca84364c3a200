"""The fuzz suite's harness: run one call, classify its outcome as the error contract does, tally.

Outcome classes (issue 17):

``ok``
    a correct result (finite where finiteness is promised; the oracle, if any, agrees);
``error``
    a clean `symmle.SymmleError` that is also a ``ValueError``/``TypeError``/``RuntimeError``/
    ``ImportError`` and carries a message;
``wrong``
    a result that the oracle refutes (compiled vs symbolic, invariance under the group, score
    vs finite differences, Fisher PSD, a round trip, ...);
``nan``
    NaN or inf in a result for finite inputs inside the promised range, where the truth is
    finite;
``other``
    any other exception (numpy, sympy, json, a bare ``KeyError``, a ``RuntimeWarning`` turned
    into an error by the warnings filter, a `SymmleError` without a message);
``hang``
    the call took longer than `HANG_SECONDS`.

The last four are violations: `run` raises `Violation` for them, unless the caller's ``known``
predicate matches (a violation in a module others are editing, kept as a strict xfail
reproduction elsewhere): those are tallied as ``known`` and do not fail.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import signal
import threading
import time
import traceback
import warnings

import numpy as np
from hypothesis import HealthCheck, settings

import symmle as sm

#: Per-example time budget (the issue counts a call over 30 s as a hang).
HANG_SECONDS = float(os.environ.get("SYMMLE_FUZZ_HANG_SECONDS", "30"))

#: ``SYMMLE_FUZZ_LONG=1``: the long run (≥ 10⁵ examples in total); CI-sized otherwise.
LONG = os.environ.get("SYMMLE_FUZZ_LONG", "") not in ("", "0")

#: Examples per unit of weight in the long run (the weights over the suite add up to > 50, so
#: the long run draws well over 10⁵ examples).
LONG_EXAMPLES_PER_WEIGHT = int(os.environ.get("SYMMLE_FUZZ_PER_WEIGHT", "2500"))

#: The promised numeric range (issue 17 §2): |θ| ≤ 50 and |x| ≤ 10³.
THETA_RANGE, X_RANGE = 50.0, 1e3

#: ``SYMMLE_FUZZ_SURVEY=1``: record violations (`SURVEY`) instead of failing on the first, to
#: see every class at once.
SURVEY_MODE = os.environ.get("SYMMLE_FUZZ_SURVEY", "") not in ("", "0")

#: ``SYMMLE_FUZZ_SURVEY_FILE``: in the survey, each new violation class is appended to this
#: file (a JSON object a line) as it is found.
SURVEY_FILE = os.environ.get("SYMMLE_FUZZ_SURVEY_FILE", "")

#: ``{(entry, class, signature): (count, first detail)}`` in survey mode.
SURVEY: dict = {}

CLASSES = ("ok", "error", "wrong", "nan", "other", "hang", "known")
VIOLATIONS = ("wrong", "nan", "other", "hang")

#: ``{entry point: Counter(outcome class)}`` over the session.
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

#: ``{"entry: known violation": count}``: the ``known`` column by name.
KNOWN: collections.Counter = collections.Counter()


class Violation(AssertionError):
    """An outcome outside the contract."""


class SilentNaN(AssertionError):
    """Raised by an oracle for a NaN (or an infinity where the truth is finite): ``nan``."""


class Mismatch(AssertionError):
    """An oracle's refutation with its numbers: absolute ``error`` against ``scale``."""

    def __init__(self, message, error=math.nan, scale=math.nan):
        super().__init__(message)
        self.error, self.scale = error, scale


class Hang(BaseException):
    """Raised in the main thread when an example outlives `HANG_SECONDS` (a BaseException, so
    that library code catching ``Exception`` cannot swallow it)."""


def examples(weight: float = 1.0, **kw):
    """``@settings`` for one fuzz test: the current profile's ``max_examples`` times ``weight``
    (at least 5), or ``weight ·`` `LONG_EXAMPLES_PER_WEIGHT` in the long run."""
    if LONG:
        n = max(10, int(weight * LONG_EXAMPLES_PER_WEIGHT))
        return settings(max_examples=n, deadline=None, derandomize=False, database=None,
                        suppress_health_check=list(HealthCheck), **kw)
    base = settings.default.max_examples
    return settings(max_examples=max(5, int(round(weight * base))), deadline=None,
                    suppress_health_check=list(HealthCheck), **kw)


@contextlib.contextmanager
def time_budget(seconds: float = HANG_SECONDS):
    """Raise `Hang` in the main thread after ``seconds`` (SIGALRM); a no-op in other threads."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _alarm(signum, frame):
        raise Hang(f"no result after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def strict_warnings(promised: bool = True):
    """Every warning is an error except symmle's own (findings such as a singular information,
    which the contract asks for) and third-party deprecations; outside the promised range
    (``promised=False``) numpy's ``RuntimeWarning`` is allowed too."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if not promised:
            warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", sm.SymmleWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        yield


def _numbers(value):
    """The float arrays inside a result (tuples, lists and dicts of arrays and floats)."""
    if isinstance(value, (float, np.floating)):
        yield np.asarray(value)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)


def nonfinite(value) -> bool:
    """Whether any float in ``value`` (see `_numbers`) is NaN or infinite."""
    return any(not np.all(np.isfinite(a)) for a in _numbers(value))


def _clean_error(exc: BaseException) -> bool:
    return (isinstance(exc, sm.SymmleError)
            and isinstance(exc, (ValueError, TypeError, RuntimeError, ImportError))
            and bool(str(exc).strip()))


def run(entry: str, call, *, check=None, finite=None, known=None, args=None,
        promised: bool = True):
    """Run ``call()`` and classify the outcome; record it under ``entry``; return
    ``(class, result or exception)``.

    Parameters
    ----------
    entry : str
        The entry point's name (a row of the table).
    call : callable
        No arguments; runs under `strict_warnings` and `time_budget`.
    check : callable, optional
        ``check(result)`` raises ``AssertionError`` when the result is wrong (the oracle).
    finite : callable or bool, optional
        ``True``: every float in the result must be finite; a callable: the floats in
        ``finite(result)`` must be; None/False: no finiteness promise (inputs outside the
        promised range).
    known : callable, optional
        ``known(class, failure)`` -> str or None, with ``failure`` the exception the call
        raised or the oracle's ``AssertionError``: the name of a known violation (tallied as
        ``known``) or None.
    args : object, optional
        Shown in the message of a violation (the example's arguments).
    promised : bool
        False for arguments outside the promised range: a ``RuntimeWarning`` is then no
        violation.
    """
    t0 = time.perf_counter()
    detail = ""
    failure = None
    try:
        with time_budget():
            try:
                with strict_warnings(promised):
                    out = call()
            except Hang:
                raise
            except Exception as exc:  # noqa: BLE001 - classifying is the point
                out = failure = exc
                cls = "error" if _clean_error(exc) else "other"
                if cls == "other":
                    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    detail += "\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
            else:
                cls = "ok"
                want = finite(out) if callable(finite) else (out if finite else None)
                if want is not None and nonfinite(want):
                    cls, detail = "nan", f"non-finite values in {_short(want)}"
                elif check is not None:
                    try:
                        check(out)
                    except SilentNaN as exc:
                        cls, detail, failure = "nan", str(exc)[:2000], exc
                    except AssertionError as exc:
                        cls, detail, failure = "wrong", str(exc)[:2000], exc
    except Hang as exc:
        out = failure = exc
        cls, detail = "hang", f"{exc} ({time.perf_counter() - t0:.1f} s)"
    if cls in VIOLATIONS and known is not None:
        name = known(cls, failure)
        if name:
            TALLY[entry]["known"] += 1
            KNOWN[f"{entry}: {name}"] += 1
            if SURVEY_MODE:
                key = (entry, "known", name[:40], "")
                count, first = SURVEY.get(key, (0, ""))
                SURVEY[key] = (count + 1, first or f"arguments: {_short(args, 600)}\n{detail}")
            return "known", out
    TALLY[entry][cls] += 1
    if cls in VIOLATIONS and SURVEY_MODE:
        tag = args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else ""
        key = (entry, cls, tag, signature(out) if cls in ("other", "hang") else detail[:60])
        count, first = SURVEY.get(key, (0, ""))
        SURVEY[key] = (count + 1, first or f"arguments: {_short(args, 600)}\n{detail}")
        if not count and SURVEY_FILE:  # each new class at once, for a long run to be read live
            with open(SURVEY_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": [str(k) for k in key],
                                     "first": SURVEY[key][1][:4000]}) + "\n")
        return cls, out
    if cls in VIOLATIONS:
        raise Violation(f"{entry}: {cls}: {detail}\n  arguments: {_short(args, 600)}")
    return cls, out


def signature(exc) -> str:
    """``Type at file:line`` of an exception's innermost symmle frame (or its last frame)."""
    if not isinstance(exc, BaseException):
        return type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if "/symmle/" in f.filename] or frames[-1:]
    where = f"{mine[-1].filename.split('/symmle/')[-1]}:{mine[-1].lineno}" if mine else "?"
    return f"{type(exc).__name__} at {where}"


def _short(value, limit: int = 300) -> str:
    with np.printoptions(threshold=20, edgeitems=3, precision=6):
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001 - a hostile value's repr may fail
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- oracles


def close(got, want, *, rtol: float, atol: float = 0.0, what: str = "value") -> None:
    """Normwise comparison: ``max|got - want| <= rtol · max|want| + atol`` (assert)."""
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if want.size == 0:
        return
    scale = float(np.max(np.abs(want))) if np.all(np.isfinite(want)) else math.inf
    err = float(np.max(np.abs(got - want))) if np.all(np.isfinite(got)) else math.inf
    if not math.isfinite(scale):
        same = np.array_equal(np.isfinite(got), np.isfinite(want)) and np.array_equal(
            got[~np.isfinite(want)], want[~np.isfinite(want)])
        assert same, f"{what}: {got!r} but the truth is {want!r}"
        keep = np.isfinite(want)
        close(got[keep], want[keep], rtol=rtol, atol=atol, what=what)
        return
    assert err <= rtol * scale + atol, (f"{what}: error {err:.3g} exceeds {rtol:g}·{scale:.3g} + "
                                        f"{atol:g}\n got  {got!r}\n want {want!r}")


# ---------------------------------------------------------------- the table


def table() -> str:
    """The tally as a text table: one row per entry point, one column per outcome class."""
    names = sorted(TALLY)
    width = max([len("entry point")] + [len(n) for n in names])
    head = f"{'entry point':<{width}}  {'examples':>8}  " + "  ".join(f"{c:>6}" for c in CLASSES)
    lines = [head, "-" * len(head)]
    totals = collections.Counter()
    for n in names:
        c = TALLY[n]
        totals.update(c)
        lines.append(f"{n:<{width}}  {sum(c.values()):>8}  "
                     + "  ".join(f"{c[k]:>6}" for k in CLASSES))
    lines.append("-" * len(head))
    lines.append(f"{'total':<{width}}  {sum(totals.values()):>8}  "
                 + "  ".join(f"{totals[k]:>6}" for k in CLASSES))
    for name, count in sorted(KNOWN.items()):
        lines.append(f"  known: {name}: {count}")
    return "\n".join(lines)


def dump(path) -> None:
    """Write the tally as JSON (``{entry: {class: count}}``, the known violations by name under
    ``"known"``), atomically."""
    doc = {"entries": {k: dict(v) for k, v in sorted(TALLY.items())}, "known": dict(KNOWN)}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(tmp, path)
