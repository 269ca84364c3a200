"""Fuzz: the loaders (`FitResult.from_json`, `StudyResult.from_json`/`from_dict`,
`Architecture.from_dict` in ``test_fuzz_model``), `symmle.data.load_csv`, `consistency_study`
and `StudyResult`'s methods, and `symmle.cli.main`.

Files are random bytes, mutated valid documents and valid CSVs; the CLI gets argument lists
drawn from its grammar with hostile values. The contract: a clean error (for the CLI: exit
status 2 and one ``symmle: error:`` line, never a traceback), or a correct result (a document
read back equals the one written; a CSV read back equals the numbers written).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import tempfile

import numpy as np
from hypothesis import given, strategies as hst

import symmle as sm
from symmle import cli
from symmle.data import load_csv
from symmle.study import StudyResult

from fuzz_harness import examples, run
from fuzz_values import counts, file_bytes, scalars

STUDY_MODEL = sm.Model(sm.mlp(1, 1), sm.Gaussian(sigma=1.0))
STUDY_THETA = np.array([0.8, -0.3])

#: The smallest study that exercises every column (two sizes, three replications).
TINY = dict(sample_sizes=[20, 40], replications=3, n_starts=1, rng=0, n_test=50,
            n_fisher=200)


def _refused(out):
    raise AssertionError(f"an invalid argument was accepted: {out!r:.200}")


@functools.lru_cache(maxsize=1)
def _study() -> StudyResult:
    return sm.consistency_study(STUDY_MODEL, STUDY_THETA, **TINY)


@functools.lru_cache(maxsize=1)
def _fit() -> sm.FitResult:
    X, y = STUDY_MODEL.simulate(STUDY_THETA, 30, rng=1)
    return sm.fit(STUDY_MODEL, X, y, rng=0)


def _tmp(content: bytes, suffix: str = "") -> str:
    fd, path = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    return path


JSON_VALUES = hst.recursive(
    hst.none() | hst.booleans() | hst.integers(-10 ** 6, 10 ** 6)
    | hst.sampled_from([10 ** 30, -1, 0, 2 ** 63]) | hst.floats(allow_nan=False, allow_infinity=False)
    | hst.text(max_size=5),
    lambda inner: hst.lists(inner, max_size=3) | hst.dictionaries(hst.text(max_size=3), inner,
                                                                  max_size=2),
    max_leaves=6)


def _mutations(doc, draw, depth=0):
    """``doc`` with one value replaced (at any depth), a key deleted or a key added."""
    doc = json.loads(json.dumps(doc))
    node = doc
    for _ in range(draw(hst.integers(0, 3))):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
            if isinstance(node, list) else []
        children = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
        if not children:
            break
        node = draw(hst.sampled_from(children))[1]
    if isinstance(node, dict) and node:
        key = draw(hst.sampled_from(sorted(node)))
        what = draw(hst.sampled_from(["replace", "replace", "delete", "add"]))
        if what == "delete":
            del node[key]
        elif what == "add":
            node[draw(hst.text(max_size=4))] = draw(JSON_VALUES)
        else:
            node[key] = draw(JSON_VALUES)
    elif isinstance(node, list) and node:
        node[draw(hst.integers(0, len(node) - 1))] = draw(JSON_VALUES)
    return doc


def _same_study(a: StudyResult, b: StudyResult):
    assert a.sample_sizes == b.sample_sizes and a.replications == b.replications
    for ra, rb in zip(a.table, b.table):
        for k in ra:
            va, vb = ra[k], rb[k]
            assert va == vb or (math.isnan(va) and math.isnan(vb)), f"table[{k}] differs"


@examples(weight=4)
@given(data=hst.data(), how=hst.sampled_from(["mutate", "mutate", "bytes", "text", "path"]),
       which=hst.sampled_from(["study", "fit"]))
def test_loaders(data, how, which):
    original = _study() if which == "study" else _fit()
    load = StudyResult.from_json if which == "study" else sm.FitResult.from_json
    doc = json.loads(original.to_json())
    if how == "mutate":
        mutated = _mutations(doc, data.draw)
        source = json.dumps(mutated)
    elif how == "bytes":
        source = data.draw(file_bytes)
    elif how == "text":
        source = data.draw(hst.one_of(hst.text(max_size=50), scalars))
    else:
        source = _tmp(data.draw(hst.one_of(file_bytes, hst.just(original.to_json().encode()))))

    def check(back):
        if how == "mutate":   # an edit may still describe a valid (other) document
            return
        if which == "study":
            _same_study(back, original)
        else:
            np.testing.assert_array_equal(back.params, original.params)
            assert back.n_obs == original.n_obs and back.loglik == original.loglik
            assert np.all(np.isfinite(back.params)) and back.n_obs >= 1
    try:
        run(f"{'StudyResult' if which == 'study' else 'FitResult'}.from_json",
            lambda: load(source), check=check, args=(how, source) if which == "fit" else None)
        if which == "study" and how == "mutate":
            run("StudyResult.from_dict", lambda: StudyResult.from_dict(mutated), check=check,
                args=mutated)
    finally:
        if how == "path":
            os.unlink(source)


@examples(weight=0.4)
@given(n=hst.one_of(hst.sampled_from(TINY["sample_sizes"]), hst.integers(1, 60), counts),
       data=hst.data(),
       path_kind=hst.sampled_from(["png", "pdf", "svg", "bogus", "dir", None]))
def test_study_result_methods(n, data, path_kind):
    study = _study()
    for prop in ("table", "slope", "cramer_rao_scale", "function_slope", "raw_slope", "records",
                 "alignment_optimal"):
        run(f"StudyResult.{prop}", lambda: getattr(study, prop))

    def check_n(out):
        if n not in study.sample_sizes:
            _refused(out)
        assert out.shape[-1] == len(study.theta_true)
    run("StudyResult.standardized", lambda: study.standardized(n), args=n, check=check_n)
    run("StudyResult.ks_statistics", lambda: study.ks_statistics(n), args=n, check=check_n)
    run("StudyResult.to_dict", study.to_dict,
        check=lambda d: _same_study(StudyResult.from_dict(d), study))
    run("StudyResult.to_csv", study.to_csv,
        check=lambda text: None if text.startswith("n,") else _refused(text))
    run("StudyResult.__str__", lambda: str(study) + study._repr_html_())
    with tempfile.TemporaryDirectory() as d:
        path = None if path_kind is None else (d if path_kind == "dir"
                                               else os.path.join(d, f"f.{path_kind}"))
        run("StudyResult.plot", lambda: study.plot(path), args=path_kind)
        run("StudyResult.to_json", lambda: study.to_json(os.path.join(d, "s.json")),
            check=lambda t: _same_study(StudyResult.from_json(os.path.join(d, "s.json")), study))


STUDY_KWARGS = hst.fixed_dictionaries({}, optional={
    "sample_sizes": hst.one_of(hst.lists(hst.integers(-1, 40), max_size=3), scalars,
                               hst.just([10 ** 12])),
    "replications": hst.one_of(hst.integers(0, 3), counts, hst.just(10 ** 9)),
    "n_starts": hst.one_of(hst.integers(0, 2), counts, hst.just(10 ** 9)),
    "rng": hst.one_of(hst.integers(0, 5), scalars),
    "n_jobs": hst.one_of(hst.just(1), counts),
    "client": hst.one_of(hst.none(), scalars),
    "progress": hst.one_of(hst.booleans(), scalars),
    "level": hst.one_of(hst.floats(0.5, 0.99), scalars),
    "n_test": hst.one_of(hst.integers(1, 60), counts, hst.just(10 ** 12)),
    "n_fisher": hst.one_of(hst.integers(1, 300), counts, hst.just(10 ** 12)),
    "fit_options": hst.one_of(hst.none(), scalars, hst.dictionaries(
        hst.sampled_from(["tol", "method", "max_iter", "bogus"]), scalars, max_size=2)),
    "checkpoint": hst.one_of(hst.none(), scalars, hst.just("bytes")),
})


@examples(weight=0.5)
@given(kwargs=STUDY_KWARGS, theta=hst.one_of(hst.just(STUDY_THETA), scalars,
                                             hst.just(np.array([1e300, 0.0]))),
       content=file_bytes)
def test_consistency_study(kwargs, theta, content):
    base = dict(TINY, sample_sizes=[20, 30], replications=2)
    base.update(kwargs)
    if base.get("checkpoint") == "bytes":
        base["checkpoint"] = _tmp(content, ".jsonl")
    cp = base.get("checkpoint")
    ours = isinstance(cp, str) and cp.startswith(tempfile.gettempdir())  # only what we made
    made = isinstance(cp, str) and not os.path.exists(cp)   # or what the study creates
    try:
        run("consistency_study", lambda: sm.consistency_study(STUDY_MODEL, theta, **base),
            args=(theta, base), check=lambda s: None if len(s.table) else _refused(s))
    finally:
        if (ours or made) and os.path.isfile(cp):
            os.unlink(cp)


@examples(weight=2)
@given(content=hst.one_of(file_bytes, hst.lists(hst.lists(
    hst.floats(allow_nan=False, allow_infinity=False, width=32), min_size=3, max_size=3),
    min_size=1, max_size=5).map(lambda rows: ("a,b,y\n" + "".join(
        ",".join(repr(float(v)) for v in r) + "\n" for r in rows)).encode())),
       target=hst.one_of(hst.just("y"), hst.just(["y", "b"]), scalars),
       features=hst.one_of(hst.none(), hst.just(["a", "b"]), hst.just(["a", "a"]), scalars),
       delimiter=hst.one_of(hst.just(","), scalars, hst.sampled_from([";", "\n", '"', ",,"])))
def test_load_csv(content, target, features, delimiter):
    path = _tmp(content, ".csv")

    def check(out):
        X, y, names = out
        assert X.dtype == np.float64 and np.all(np.isfinite(X)) and np.all(np.isfinite(y))
        text = content.decode("utf-8-sig")
        rows = [line.split(",") for line in text.splitlines()[1:] if line]
        if text.startswith("a,b,y") and target == "y" and features is None and delimiter == ",":
            np.testing.assert_array_equal(X, np.array([[float(r[0]), float(r[1])] for r in rows]))
            np.testing.assert_array_equal(y, np.array([float(r[2]) for r in rows]))
    try:
        run("data.load_csv", lambda: load_csv(path, target=target, features=features,
                                              delimiter=delimiter),
            args=(content[:80], target, features, delimiter), check=check)
    finally:
        os.unlink(path)
    run("data.load_csv", lambda: load_csv(target), args=target)   # a path that is no path


ARCHS = hst.one_of(hst.sampled_from(["2-3-1", "1-1", "2-2-2", "3-1", "1-2-1"]),
                   hst.sampled_from(["999999-999999-1", "0-1", "2--1", "x", "", "2-3-1-",
                                     "1" * 30]),
                   hst.text(alphabet="0123456789-", max_size=8))
VALUES = hst.one_of(hst.sampled_from(["1", "0", "-1", "2", "99999999999999999999", "nan",
                                      "inf", "1e400", "x", "", "1,2", "20,40", "0.5", "-0",
                                      "tcp://", "localhost:1", "gaussian", "relu", "W1_1_1",
                                      "1,13", "a,a"]),
                    hst.text(max_size=6))
OPTIONS = {
    "derive": ["--arch", "--activation", "--family", "--sigma", "--what", "--latex", "--entry"],
    "symmetry": ["--arch", "--activation"],
    "identify": ["--arch", "--activation", "--family", "--sigma", "--exact", "--seed"],
    "mermaid": ["--arch", "--activation", "--labels", "--no-labels"],
    "fit": ["--arch", "--activation", "--family", "--data", "--delimiter", "--target",
            "--features", "--max-iter", "--tol", "--starts", "--method", "--json", "--seed"],
    "study": ["--arch", "--activation", "--family", "--sizes", "--reps", "--starts", "--jobs",
              "--scheduler", "--plot", "--json", "--csv", "--checkpoint", "--seed",
              "--no-progress"],
}
FLAGS = {"--latex", "--exact", "--no-progress", "--labels", "--no-labels"}
FILE_OPTIONS = {"--data", "--json", "--plot", "--csv", "--checkpoint"}


@hst.composite
def argvs(draw, workdir):
    command = draw(hst.sampled_from(sorted(OPTIONS) + ["bogus", "--version", "--help"]))
    argv = [command]
    if command not in OPTIONS:
        return argv
    for opt in draw(hst.lists(hst.sampled_from(OPTIONS[command]), max_size=4)):
        argv.append(opt)
        if opt in FLAGS:
            continue
        if opt == "--arch":
            argv.append(draw(ARCHS))
        elif opt in FILE_OPTIONS:
            kind = draw(hst.sampled_from(["file", "missing", "dir", "suffix"]))
            if kind == "file":
                argv.append(_tmp(draw(file_bytes), suffix=draw(hst.sampled_from(
                    [".csv", ".png", ".json", ".jsonl", ""]))))
            elif kind == "dir":
                argv.append(workdir)
            else:
                argv.append(os.path.join(workdir, "out" + draw(hst.sampled_from(
                    [".png", ".json", ".csv", ".xyz", ""]))))
        else:
            argv.append(draw(VALUES))
    if command == "study":   # keep a study that runs small
        argv += ["--sizes", "20,30", "--reps", "2", "--starts", "1", "--no-progress", "--jobs",
                 "1"]
    if command == "fit" and "--data" not in argv:
        argv += ["--data", _tmp(b"x1,y\n0,1\n1,0\n2,1\n3,1\n", ".csv")]
    return argv


@examples(weight=1)
@given(data=hst.data())
def test_cli(data):
    with tempfile.TemporaryDirectory() as workdir:
        argv = data.draw(argvs(workdir))
        out, err = io.StringIO(), io.StringIO()

        def call():
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                return cli.main(argv)

        def check(code):
            text = err.getvalue()
            assert code in (0, 2), f"exit status {code}"
            assert "Traceback" not in text + out.getvalue(), f"a traceback: {text[-800:]}"
            if code == 2 and argv[0] in OPTIONS:
                assert text.strip(), "exit 2 without a message"
        try:
            run(f"cli.main {argv[0]}", call, check=check, args=argv)
        finally:
            for a in argv:
                if a.startswith(tempfile.gettempdir()) and os.path.isfile(a) and not a.startswith(
                        workdir):
                    os.unlink(a)
