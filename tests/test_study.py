"""Tests of the consistency study (issue 6): statistics, reproducibility across backends,
checkpoints, persistence and the figure."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import threading
import time

import numpy as np
import pytest

import symmle as sm
from symmle.errors import PersistenceError, SymmleTypeError, SymmleValueError
from symmle.study import (
    REDUCIBLE_THETA,
    SEED_THETA,
    StudyResult,
    consistency_study,
    seed_model,
)
from symmle.study import _execution

TINY = dict(sample_sizes=[300, 900], replications=3, n_starts=2, rng=11)


@pytest.fixture(scope="module")
def model():
    return seed_model()


@pytest.fixture(scope="module")
def tiny(model):
    """A small study computed once, in this process."""
    return consistency_study(model, SEED_THETA, **TINY)


def same_table(a, b):
    """Exact equality of two tables, NaN equal to NaN."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for k in ra:
            va, vb = ra[k], rb[k]
            assert va == vb or (math.isnan(va) and math.isnan(vb)), (ra["n"], k, va, vb)


# ----------------------------------------------------------- independent implementations


def brute_orbit(theta, d=2, H=3):
    """All 2^H·H! sign-permutation images of a one-hidden-layer tanh θ (DESIGN order)."""
    W = theta[: H * d].reshape(H, d)
    b = theta[H * d: H * d + H]
    v = theta[H * d + H: H * d + 2 * H]
    rest = theta[H * d + 2 * H:]
    out = []
    for perm in itertools.permutations(range(H)):
        p = list(perm)
        for signs in itertools.product((1.0, -1.0), repeat=H):
            s = np.array(signs)
            out.append(np.concatenate([(W[p] * s[:, None]).ravel(), b[p] * s, v[p] * s, rest]))
    return np.array(out)


def ks_statistic(z):
    """sup |F_n − Φ| by hand, with Φ from math.erf."""
    z = np.sort(np.asarray(z, dtype=float))
    n = len(z)
    cdf = np.array([0.5 * (1 + math.erf(x / math.sqrt(2))) for x in z])
    i = np.arange(1, n + 1)
    return max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n))


def forward_231(theta, X):
    W = theta[:6].reshape(3, 2)
    b = theta[6:9]
    v = theta[9:12]
    return np.tanh(X @ W.T + b) @ v + theta[12]


# ----------------------------------------------------------- constants


def test_seed_constants_follow_the_facts(model):
    (W1, b1), (W2, b2) = model.architecture.unflatten(SEED_THETA)
    np.testing.assert_array_equal(W1, [[1.5, -1], [-0.5, 2], [1, 1]])
    np.testing.assert_array_equal(b1, [0.5, -0.5, 0])
    np.testing.assert_array_equal(W2, [[2, -1.5, 1]])
    np.testing.assert_array_equal(b2, [0.3])
    assert model.family == sm.Gaussian(sigma=0.5)
    assert model.architecture.widths == (2, 3, 1)
    diff = np.flatnonzero(REDUCIBLE_THETA != SEED_THETA)
    assert diff.tolist() == [11] and REDUCIBLE_THETA[11] == 0.0
    assert not SEED_THETA.flags.writeable


def test_cramer_rao_scale_matches_facts(tiny):
    # FACTS: tr I₁(θ*)⁻¹ ≈ 100 (Monte Carlo over x ~ N(0, I)), scale √(100/n)
    assert 90 < float(np.sum(tiny.crlb_var)) < 110
    np.testing.assert_allclose(tiny.cramer_rao_scale, np.sqrt(np.sum(tiny.crlb_var) / np.array([300, 900])))


# ----------------------------------------------------------- task records are right


def test_records_match_independent_computations(model, tiny):
    entropy = tiny.seed["entropy"]
    X_test = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(0,))).standard_normal(
        (2000, 2))
    f_true = forward_231(SEED_THETA, X_test)
    for rec in tiny.records:
        theta_hat = np.array(rec["theta_hat"])
        aligned = np.array(rec["theta_aligned"])
        orbit = brute_orbit(theta_hat)
        dists = np.linalg.norm(orbit - SEED_THETA, axis=1)
        # the aligned estimate is on θ̂'s orbit and is the closest point to θ*
        assert np.min(np.linalg.norm(orbit - aligned, axis=1)) < 1e-12
        assert rec["aligned_error"] == pytest.approx(dists.min(), rel=1e-12, abs=1e-12)
        assert rec["raw_error"] == pytest.approx(np.linalg.norm(theta_hat - SEED_THETA), rel=1e-12)
        fe = np.sqrt(np.mean((forward_231(theta_hat, X_test) - f_true) ** 2))
        assert rec["function_error"] == pytest.approx(fe, rel=1e-9)
        # data of task (n, r) come from SeedSequence(entropy, spawn_key=(n, r)).spawn(2)[0]
        data_seed = np.random.SeedSequence(entropy, spawn_key=(rec["n"], rec["rep"])).spawn(2)[0]
        X, y = model.simulate(SEED_THETA, rec["n"], rng=np.random.default_rng(data_seed))
        resid = y - forward_231(theta_hat, X)
        ll = -0.5 * np.sum(resid ** 2) / 0.25 - len(y) * (math.log(0.5) + 0.5 * math.log(2 * math.pi))
        assert rec["loglik"] == pytest.approx(ll, rel=1e-9)
        # Wald interval at the aligned point from the expected information there
        F = model.compile().fisher(aligned, X)
        se = np.sqrt(np.diag(np.linalg.inv(F)))
        np.testing.assert_allclose(rec["stderr"], se, rtol=1e-6)
        assert rec["covered"] == int(np.sum(np.abs(aligned - SEED_THETA) <= 1.959963984540054 * se))


def test_table_aggregates_records(tiny):
    P = len(SEED_THETA)
    for row in tiny.table:
        recs = [r for r in tiny.records if r["n"] == row["n"]]
        assert row["reps"] == 3 and row["failures"] == 0
        for key in ("raw_error", "aligned_error", "function_error"):
            vals = sorted(r[key] for r in recs)
            assert row[key] == vals[1]  # median of three
            assert row[key + "_q1"] == pytest.approx((vals[0] + vals[1]) / 2)
            assert row[key + "_q3"] == pytest.approx((vals[1] + vals[2]) / 2)
        assert row["coverage"] == pytest.approx(np.mean([r["covered"] for r in recs]) / P)
        A = np.array([r["theta_aligned"] for r in recs])
        centred = A - A.mean(axis=0)
        tr_cov = np.sum(centred ** 2) / (len(recs) - 1)
        assert row["efficiency"] == pytest.approx(row["n"] * tr_cov / np.sum(tiny.crlb_var), rel=1e-9)
        Z = np.sqrt(row["n"]) * (A - SEED_THETA) / np.sqrt(tiny.crlb_var)
        ks = [ks_statistic(Z[:, j]) for j in range(P)]
        assert row["ks_max"] == pytest.approx(max(ks), rel=1e-9)
        np.testing.assert_allclose(tiny.ks_statistics(row["n"]), ks, rtol=1e-9)
    slope = np.polyfit(np.log([300, 900]), np.log([r["aligned_error"] for r in tiny.table]), 1)[0]
    assert tiny.slope == pytest.approx(slope, rel=1e-12)


def test_tasks_depend_only_on_seed_and_key(model, tiny):
    # a study with other sizes and more replications reuses exactly the same tasks
    other = consistency_study(model, SEED_THETA, [900, 150], replications=4, n_starts=2, rng=11)
    assert other.sample_sizes == (150, 900)
    mine = {(r["n"], r["rep"]): r["theta_hat"] for r in tiny.records}
    theirs = {(r["n"], r["rep"]): r["theta_hat"] for r in other.records}
    for rep in range(3):
        assert mine[(900, rep)] == theirs[(900, rep)]
    assert theirs[(900, 3)] != theirs[(900, 0)]
    # another seed gives other data
    third = consistency_study(model, SEED_THETA, [300], replications=1, n_starts=2, rng=12)
    assert third.records[0]["theta_hat"] != mine[(300, 0)]


# ----------------------------------------------------------- backends


def test_joblib_gives_the_same_table(model, tiny):
    par = consistency_study(model, SEED_THETA, n_jobs=2, **TINY)
    same_table(tiny.table, par.table)
    assert [r["theta_hat"] for r in par.records] == [r["theta_hat"] for r in tiny.records]


def test_auto_jobs_gives_the_same_table_and_starts_workers_only_when_they_pay(
        model, tiny, monkeypatch):
    from symmle.study import _execution

    started = []
    real = _execution.run_joblib

    def recording(config, todo, n_jobs):
        started.append(list(todo))
        return real(config, todo, n_jobs)

    monkeypatch.setattr(_execution, "run_joblib", recording)
    # the tiny study is a second of work: never worth the workers' start-up
    auto = consistency_study(model, SEED_THETA, n_jobs="auto", **TINY)
    same_table(tiny.table, auto.table)
    assert [r["theta_hat"] for r in auto.records] == [r["theta_hat"] for r in tiny.records]
    assert started == []
    # with a start-up of no cost, the workers take every task after the first
    monkeypatch.setattr(_execution, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(_execution, "PARALLEL_CONTENTION", 1.0)
    monkeypatch.setattr(_execution, "usable_cpus", lambda: 2)
    import symmle.study._study as study_mod
    monkeypatch.setattr(study_mod, "usable_cpus", lambda: 2)
    auto = consistency_study(model, SEED_THETA, n_jobs="auto", **TINY)
    same_table(tiny.table, auto.table)
    assert [r["theta_hat"] for r in auto.records] == [r["theta_hat"] for r in tiny.records]
    assert started == [[(300, 1), (300, 2), (900, 0), (900, 1), (900, 2)]]


def test_parallel_pays_from_the_measured_task_times():
    from symmle.study._execution import PARALLEL_CONTENTION, WORKER_START_SECONDS, parallel_pays

    rest = [(1000, r) for r in range(10)]
    # 10 tasks of 0.1 s: 1 s of work, 1.2 s of start-up: stay
    assert not parallel_pays([(1000, 0.1)], rest, 2)
    # 10 tasks of 2 s on 2 workers: 1.2 + 1.25 · 10 s < 20 s
    assert parallel_pays([(1000, 2.0)], rest, 2)
    # the break-even point: total T with S + c T / k = T
    k = 2
    T = WORKER_START_SECONDS / (1 - PARALLEL_CONTENTION / k)
    assert not parallel_pays([(1000, 0.99 * T / 10)], rest, k)
    assert parallel_pays([(1000, 1.01 * T / 10)], rest, k)
    # a fixed cost and a cost per row fitted from two sizes: 0.1 + 1e-4 n
    done = [(1000, 0.2), (4000, 0.5)]
    T = 10 * (0.1 + 1e-4 * 16000)
    assert parallel_pays(done, [(16000, r) for r in range(10)], 2) == (
        WORKER_START_SECONDS + PARALLEL_CONTENTION * T / 2 < T)
    assert not parallel_pays(done, [(16000, 0)], 2)  # one task: nothing to share
    assert not parallel_pays([], rest, 2) and not parallel_pays([(1000, 9.0)], rest, 1)


def test_dask_local_cluster_gives_the_same_table(model, tiny):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = consistency_study(model, SEED_THETA, client=client, **TINY)
        # an address string works too (the study opens and closes its own client)
        res2 = consistency_study(model, SEED_THETA, client=cluster.scheduler_address, **TINY)
    same_table(tiny.table, res.table)
    same_table(tiny.table, res2.table)


def _blas_threads(threadpoolctl):
    return [(m["filepath"], m["num_threads"]) for m in threadpoolctl.threadpool_info()
            if m["user_api"] == "blas"]


def test_sequential_study_leaves_the_callers_blas_threads_alone(model, monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    real_fit = _execution.fit

    def watching_fit(*args, **kwargs):  # runs inside each task, in this process
        seen.append(_blas_threads(threadpoolctl))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(_execution, "fit", watching_fit)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads(threadpoolctl)
        res = consistency_study(model, SEED_THETA, [200], replications=2, n_starts=1, rng=5)
        after = _blas_threads(threadpoolctl)
    assert before, "no BLAS library loaded"
    assert res.table[0]["reps"] == 2
    assert seen == [before, before]  # during every task
    assert after == before


def test_only_a_worker_process_limits_blas_and_only_for_its_task(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    monkeypatch.setattr(_execution, "_run_task",
                        lambda c, n, r: seen.append(_blas_threads(threadpoolctl)) or {"n": n})
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads(threadpoolctl)
        _execution._run_task_in_worker({}, 100, 0, os.getpid())  # joblib ran it in this process
        _execution._run_task_in_worker({}, 100, 1, -1)  # as in a worker process
        assert _blas_threads(threadpoolctl) == before
    assert seen[0] == before
    assert [n for _, n in seen[1]] == [1] * len(before)


@pytest.mark.slow
def test_killed_dask_worker_has_its_tasks_rerun(model, tmp_path):
    distributed = pytest.importorskip("distributed")
    kw = dict(sample_sizes=[2000, 6000], replications=4, n_starts=2, rng=3)
    reference = consistency_study(model, SEED_THETA, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        box = {}

        def run():
            try:
                box["result"] = consistency_study(model, SEED_THETA, client=client, **kw)
            except BaseException as exc:  # pragma: no cover - reported below
                box["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            busy = {w: ts for w, ts in client.processing().items()
                    if any(str(t).startswith("symmle-study-") for t in ts)}
            if len(busy) == 2:  # both workers compiled the model and run a fit
                victim = next(iter(busy))
            else:
                time.sleep(0.05)
        assert victim is not None, "no worker ever ran a study task"
        lost = set(client.processing()[victim])
        try:  # the worker dies without answering
            client.run(os._exit, 1, workers=[victim], on_error="ignore")
        except Exception:  # noqa: BLE001 - the connection error depends on timing
            pass
        thread.join(300)
        assert not thread.is_alive()
        assert "error" not in box, box.get("error")
        assert victim not in client.scheduler_info()["workers"]
        assert lost  # the killed worker was holding at least one task when it died
    same_table(reference.table, box["result"].table)


# ----------------------------------------------------------- checkpoints


class Interrupt(Exception):
    pass


def test_interrupted_study_resumes_to_the_same_table(model, tiny, tmp_path, monkeypatch):
    path = tmp_path / "study.jsonl"
    real = _execution._run_task
    calls = []

    def dying(config, n, rep, *model):
        if len(calls) == 4:
            raise Interrupt("killed")
        calls.append((n, rep))
        return real(config, n, rep, *model)

    monkeypatch.setattr(_execution, "_run_task", dying)
    with pytest.raises(Interrupt):
        consistency_study(model, SEED_THETA, checkpoint=path, **TINY)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 4
    assert json.loads(lines[0])["kind"] == "symmle-study-checkpoint"
    # the process died while writing a fifth line: a torn, partial record
    with open(path, "a") as fh:
        fh.write('{"n": 900, "rep": 2, "sta')

    calls.clear()
    monkeypatch.setattr(_execution, "_run_task",
                        lambda c, n, r, *m: (calls.append((n, r)), real(c, n, r, *m))[1])
    # rng=None: the seed is taken from the checkpoint
    resumed = consistency_study(model, SEED_THETA, checkpoint=path,
                                **{**TINY, "rng": None})
    assert len(calls) == 6 - 4
    same_table(tiny.table, resumed.table)
    assert resumed.seed == tiny.seed
    assert len(path.read_text().splitlines()) == 1 + 6
    # a third call runs nothing at all
    calls.clear()
    again = consistency_study(model, SEED_THETA, checkpoint=path, **TINY)
    assert calls == []
    same_table(tiny.table, again.table)


def test_progress_bar(model, capsys):
    pytest.importorskip("tqdm")
    res = consistency_study(model, SEED_THETA, [200], replications=2, n_starts=1, rng=1,
                            progress=True)
    err = capsys.readouterr().err
    assert "study" in err and "2/2" in err
    assert res.table[0]["reps"] == 2


def test_checkpoint_of_another_study_is_refused(model, tmp_path):
    path = tmp_path / "c.jsonl"
    consistency_study(model, SEED_THETA, [200], replications=1, n_starts=1, rng=1, checkpoint=path)
    with pytest.raises(PersistenceError, match="rng"):
        consistency_study(model, SEED_THETA, [200], replications=1, n_starts=1, rng=2,
                          checkpoint=path)
    with pytest.raises(PersistenceError, match="n_starts"):
        consistency_study(model, SEED_THETA, [200], replications=1, n_starts=2, rng=1,
                          checkpoint=path)
    with pytest.raises(PersistenceError, match="theta_true"):
        consistency_study(model, REDUCIBLE_THETA, [200], replications=1, n_starts=1, rng=1,
                          checkpoint=path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(PersistenceError, match="not a symmle study checkpoint"):
        consistency_study(model, SEED_THETA, [200], replications=1, checkpoint=bad)


# ----------------------------------------------------------- persistence and output


def test_json_round_trip(tiny, tmp_path):
    path = tmp_path / "s.json"
    text = tiny.to_json(path)
    assert "NaN" not in text and "Infinity" not in text
    back = StudyResult.from_json(path)
    same_table(tiny.table, back.table)
    assert back.slope == tiny.slope
    np.testing.assert_array_equal(back.theta_true, tiny.theta_true)
    np.testing.assert_array_equal(back.crlb_var, tiny.crlb_var)
    assert back.param_names == tiny.param_names and back.seed == tiny.seed
    assert [r["theta_aligned"] for r in back.records] == [r["theta_aligned"] for r in tiny.records]
    assert StudyResult.from_json(text).to_json() == text


def test_from_json_validates(tiny):
    doc = json.loads(tiny.to_json())
    with pytest.raises(PersistenceError, match="schema"):
        StudyResult.from_dict({**doc, "schema": 99})
    with pytest.raises(PersistenceError, match="not a symmle study"):
        StudyResult.from_dict({**doc, "kind": "other"})
    edited = json.loads(tiny.to_json())
    edited["table"][0]["aligned_error"] *= 0.5
    with pytest.raises(PersistenceError, match="does not match"):
        StudyResult.from_dict(edited)
    broken = json.loads(tiny.to_json())
    broken["records"][0]["theta_hat"] = broken["records"][0]["theta_hat"][:-1]
    with pytest.raises(PersistenceError):
        StudyResult.from_dict(broken)
    with pytest.raises(PersistenceError, match="not valid JSON"):
        StudyResult.from_json("{not json")
    with pytest.raises(PersistenceError):
        StudyResult.from_dict({key: v for key, v in doc.items() if key != "records"})


def test_json_is_read_strictly(tiny, model, tmp_path):
    text = tiny.to_json()
    with pytest.raises(PersistenceError, match="NaN"):
        StudyResult.from_json(text.replace('"slope": ', '"slope": NaN, "x": ', 1))
    with pytest.raises(PersistenceError, match="UTF-8"):
        StudyResult.from_json(text.encode() + b"\xff")
    (tmp_path / "latin.json").write_bytes(text.encode()[:-1] + b"\xe9}")
    with pytest.raises(PersistenceError, match="UTF-8"):
        StudyResult.from_json(tmp_path / "latin.json")
    with pytest.raises(PersistenceError, match="too large"):
        StudyResult.from_json(text.replace('"schema": 1', '"schema": 1' + "0" * 60, 1))
    assert StudyResult.from_json(text.encode()).to_json() == text
    # the checkpoint reader is as strict, line by line
    path = tmp_path / "c.jsonl"
    consistency_study(model, SEED_THETA, [200], replications=1, n_starts=1, rng=1, checkpoint=path)
    header, record = path.read_text().splitlines()
    for bad in (record.replace('"raw_error": ', '"raw_error": Infinity, "x": ', 1),
                record[:-1] + ', "x": "\xe9"}'):
        path.write_bytes((header + "\n" + bad + "\n").encode("latin-1"))
        with pytest.raises(PersistenceError, match="line 2"):
            consistency_study(model, SEED_THETA, [200], replications=1, n_starts=1, rng=1,
                              checkpoint=path)


def test_csv_and_str(tiny, tmp_path):
    text = tiny.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["n"]) for r in rows] == [300, 900]
    for r, row in zip(rows, tiny.table):
        assert float(r["aligned_error"]) == row["aligned_error"]
        assert float(r["coverage"]) == row["coverage"]
    s = str(tiny)
    lines = s.splitlines()
    assert "aligned" in lines[1] and "coverage" in lines[1]
    assert lines[3].split()[0] == "300" and lines[4].split()[0] == "900"
    assert f"{tiny.table[1]['aligned_error']:.3g}" in lines[4]
    assert "slope" in lines[-1]


def test_plot_writes_a_png(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "c.png"
    fig = tiny.plot(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
    ax, qq = fig.axes[:2]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # QQ panel: all 13 parameters × 3 replications at the largest n
    assert len(qq.lines[0].get_xdata()) == 13 * 3


# ----------------------------------------------------------- argument checking


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(sample_sizes=[]), SymmleValueError, "sample_sizes"),
    (dict(sample_sizes=[100, 100]), SymmleValueError, "distinct"),
    (dict(sample_sizes=[1.5]), SymmleTypeError, "sample_sizes"),
    (dict(sample_sizes=[100, 1]), SymmleValueError, "sample_sizes"),
    (dict(sample_sizes=5), SymmleTypeError, "sample_sizes"),
    (dict(replications=0), SymmleValueError, "replications"),
    (dict(n_starts=0), SymmleValueError, "n_starts"),
    (dict(n_jobs=0), SymmleValueError, "n_jobs"),
    (dict(n_jobs="fast"), SymmleValueError, "n_jobs must be .* or 'auto'"),
    (dict(n_jobs=2, client="tcp://127.0.0.1:1"), SymmleValueError, "not both"),
    (dict(level=1.0), SymmleValueError, "level"),
    (dict(rng=-1), SymmleValueError, "rng"),
    (dict(rng="0"), SymmleTypeError, "rng"),
    (dict(replications=2.0), SymmleTypeError, "replications"),
    (dict(n_jobs=1.5), SymmleTypeError, "n_jobs"),
    (dict(fit_options={"rng": 1}), SymmleValueError, "fit_options"),
    (dict(fit_options={"tol": object()}), SymmleValueError, "JSON"),
])
def test_bad_arguments(model, kwargs, exc, words):
    args = dict(sample_sizes=[100], replications=1)
    args.update(kwargs)
    with pytest.raises(exc, match=words):
        consistency_study(model, SEED_THETA, **args)


def test_bad_model_and_theta(model):
    with pytest.raises(SymmleTypeError, match="model"):
        consistency_study("2-3-1", SEED_THETA, [100])
    with pytest.raises(ValueError, match="theta_true"):
        consistency_study(model, SEED_THETA[:-1], [100])


# ----------------------------------------------------------- the statistics (scenario 1)


def test_identifiable_truth_is_consistent_modulo_the_group(model):
    res = consistency_study(model, SEED_THETA, [250, 1000, 4000], replications=12, n_starts=6,
                            rng=2024, n_jobs=2)
    assert -0.75 <= res.slope <= -0.3
    for row in res.table:
        assert row["aligned_error"] < row["raw_error"] / 4
    last = res.table[-1]
    assert abs(last["coverage"] - 0.95) < 0.1
    assert 0.4 < last["efficiency_robust"] < 2.5
    # the function error shrinks like n^-1/2 as well
    assert -0.75 <= res.function_slope <= -0.3
    # aligned errors are on the Cramér–Rao scale √(tr I₁⁻¹ / n)
    ratio = last["aligned_error"] / res.cramer_rao_scale[-1]
    assert 0.4 < ratio < 2.0


def test_reducible_truth_has_no_cramer_rao_bound(model, tmp_path):
    res = consistency_study(model, REDUCIBLE_THETA, [300, 600], replications=2, n_starts=1, rng=4)
    assert np.all(np.isnan(res.crlb_var))
    assert all(math.isnan(row["efficiency"]) and math.isnan(row["ks_max"]) for row in res.table)
    assert all(row["function_error"] < 0.5 for row in res.table)
    text = res.to_json()
    assert "NaN" not in text
    back = StudyResult.from_json(text)
    same_table(res.table, back.table)
    assert np.all(np.isnan(back.crlb_var))
    if pytest.importorskip("matplotlib"):
        res.plot(tmp_path / "r.png")
        assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert "nan" in str(res)
