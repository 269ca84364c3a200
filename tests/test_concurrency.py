"""Several user threads on one compiled model, and a runtime that leaves the caller alone.

Every quantity of one `CompiledModel`, called from several user threads at once, gives the
same bits as one thread and as ``threads(1)``; the thread count changes no bit; and no call
changes any thread's CPU affinity, the BLAS thread count another thread sees, or numba's
per-thread settings, also when a call fails with an exception or a KeyboardInterrupt.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import symmle as sm
import symmle.compiled as compiled
import symmle.compiled._chunks as chunk_plan
from symmle.compiled import _parallel

N_USERS = 4  # user threads calling one model at once
ROUNDS = 3  # calls of every quantity per user thread


def _backends():
    out = ["numpy"]
    try:
        import numba  # noqa: F401
    except ImportError:
        pass
    else:
        out.append("numba")
    return out


BACKENDS = _backends()

#: a fused network (numba: every pass one kernel) and a layered one (BLAS inside numba)
ARCHS = {"fused": (lambda: sm.mlp(2, 3, 1), sm.Bernoulli),
         "layered": (lambda: sm.mlp(4, 12, 9, 1), lambda: sm.Gaussian(sigma=0.8))}


@pytest.fixture
def small_chunks(monkeypatch):
    """Many chunks and, for numba, many blocks per kernel, so that every parallel path runs."""
    monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", 397)
    monkeypatch.setattr(chunk_plan, "PARALLEL_MIN_WORK", 0)
    monkeypatch.delenv("SYMMLE_NUM_THREADS", raising=False)
    if "numba" in BACKENDS:
        B = pytest.importorskip("symmle.compiled._numba_blocks")
        F = pytest.importorskip("symmle.compiled._numba_fused")
        L = pytest.importorskip("symmle.compiled._numba_layered")
        monkeypatch.setattr(B, "BLOCK_VALUES", 64)
        monkeypatch.setattr(F.FusedProgram, "TILE", 16)
        monkeypatch.setattr(F.FusedProgram, "FISHER_TILE", 32)
        monkeypatch.setattr(L.LayeredProgram, "MIN_BLOCK_ROWS", 8)


def count_parallel_kernels(monkeypatch):
    """Spy on the numba programs' `run_blocks` and on the compiled model's chunk runner;
    return the list of what was shared with other threads: a kernel's module-level name when
    its blocks were, ``"chunks"`` when a call's chunks were."""
    calls = []
    for module in ("symmle.compiled._numba_fused", "symmle.compiled._numba_layered"):
        mod = pytest.importorskip(module)

        def spy(call, n_blocks, runner=None, _run=mod.run_blocks):
            if runner and n_blocks > 1 and compiled.num_threads() > 1:
                calls.extend(n for n in call.__code__.co_names if n.isupper())
            return _run(call, n_blocks, runner)

        monkeypatch.setattr(mod, "run_blocks", spy)
    run = _parallel.ChunkRunner.run

    def run_spy(self, fn, chunks, parallel=True, reduce=None):
        chunks = list(chunks)
        if parallel and len(chunks) > 1 and compiled.num_threads() > 1:
            calls.append("chunks")
        return run(self, fn, chunks, parallel, reduce)

    monkeypatch.setattr(_parallel.ChunkRunner, "run", run_spy)
    return calls


def setup(backend, kind, n=1500):
    make_arch, make_family = ARCHS[kind]
    model = sm.Model(make_arch(), make_family())
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=n, rng=1)
    return model, model.compile(backend), theta, X, y


def quantities(cm, theta, X, y):
    """Every quantity of the model at (θ, X, y), as name → zero-argument function."""
    return {"predict": lambda: cm.predict(theta, X), "loglik": lambda: cm.loglik(theta, X, y),
            "score": lambda: cm.score(theta, X, y), "hessian": lambda: cm.hessian(theta, X, y),
            "fisher": lambda: cm.fisher(theta, X),
            "all": lambda: cm.evaluate(theta, X, y, ("loglik", "score", "fisher"))}


def same_bits(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_bits(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b))


def run_users(target, n=N_USERS):
    """Start ``n`` threads on ``target(i)`` together; return their exceptions."""
    errors = []
    start = threading.Barrier(n)

    def body(i):
        try:
            start.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    users = [threading.Thread(target=body, args=(i,), name=f"user{i}") for i in range(n)]
    for t in users:
        t.start()
    for t in users:
        t.join()
    return errors


# ------------------------------------------------------------------ the bits
@pytest.mark.parametrize("kind", sorted(ARCHS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_user_threads_at_once_get_the_bits_of_one_thread(backend, kind, small_chunks):
    model, cm, theta, X, y = setup(backend, kind)
    fns = quantities(cm, theta, X, y)
    with compiled.threads(1):
        ref = {q: f() for q, f in fns.items()}
    alone = {q: f() for q, f in fns.items()}  # one user thread, automatic thread count
    for q in fns:
        assert same_bits(alone[q], ref[q]), q
    got = [[] for _ in range(N_USERS)]

    def user(i):
        names = list(fns)
        for r in range(ROUNDS):
            for q in names[i + r:] + names[:i + r]:  # each thread in its own order
                got[i].append((q, fns[q]()))

    assert run_users(user) == []
    for results in got:
        assert len(results) == ROUNDS * len(fns)
        for q, value in results:
            assert same_bits(value, ref[q]), q
    assert ref["loglik"] == pytest.approx(float(np.sum(cm.loglik_rows(theta, X, y))), rel=1e-12)


@pytest.mark.parametrize("kind", sorted(ARCHS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_thread_count_changes_no_bit(backend, kind, small_chunks, monkeypatch):
    parallel_calls = None
    if backend == "numba":
        parallel_calls = count_parallel_kernels(monkeypatch)
    model, cm, theta, X, y = setup(backend, kind)
    fns = quantities(cm, theta, X, y)
    results = {}
    for t in (1, 2, 4):
        with compiled.threads(t):
            results[t] = {q: f() for q, f in fns.items()}
        if parallel_calls is not None:  # the blocks were shared exactly when asked to
            assert bool(parallel_calls) == (t > 1), (t, parallel_calls)
    for t in (2, 4):
        for q in fns:
            assert same_bits(results[t][q], results[1][q]), (t, q)
    if parallel_calls is None:
        return
    assert "chunks" in parallel_calls  # chunks worth a thread each went to the pool
    # one chunk of many blocks (fewer rows than a chunk): its kernels' blocks are shared
    del parallel_calls[:]
    one = X[:300]
    with compiled.threads(1):
        ref = {q: f() for q, f in quantities(cm, theta, one, y[:300]).items()}
    assert not parallel_calls
    with compiled.threads(2):
        got = {q: f() for q, f in quantities(cm, theta, one, y[:300]).items()}
    for q in ref:
        assert same_bits(got[q], ref[q]), q
    kernels = {"_FORWARD", "_GRAD"} if kind == "fused" else {"_LAYERED_FORWARD", "_LAYERED_GRAD"}
    assert kernels <= set(parallel_calls), parallel_calls


def test_two_user_threads_calling_loglik_at_once(small_chunks):
    """The case of the issue: two threads' loglik on one model (the old process-wide pool was
    recreated under a running call: 'cannot schedule new futures after shutdown')."""
    model, cm, theta, X, y = setup("numpy", "fused", n=4000)
    ref = cm.loglik(theta, X, y)
    out = []

    def user(i):
        with compiled.threads(2 + i):  # different thread counts at the same time
            for _ in range(20):
                out.append(cm.loglik(theta, X, y))

    assert run_users(user, 2) == []
    assert out == [ref] * 40


def test_thread_count_belongs_to_the_calling_thread(monkeypatch):
    monkeypatch.delenv("SYMMLE_NUM_THREADS", raising=False)
    auto = compiled.num_threads()
    seen = {}
    inside = threading.Event()
    leave = threading.Event()

    def other():
        with compiled.threads(3):
            inside.set()
            leave.wait(10)
            seen["other"] = compiled.num_threads()

    with compiled.threads(1):
        t = threading.Thread(target=other)
        t.start()
        inside.wait(10)
        seen["main"] = compiled.num_threads()  # while the other thread is inside threads(3)
        child = threading.Thread(target=lambda: seen.setdefault("child", compiled.num_threads()))
        child.start()
        child.join()
        leave.set()
        t.join()
    assert seen == {"main": 1, "other": 3, "child": auto}
    assert compiled.num_threads() == auto


# ------------------------------------------------------- the caller's state
def thread_masks():
    """``{thread id: CPU affinity}`` of every thread of this process (Linux)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/status") as f:
                line = next(ln for ln in f if ln.startswith("Cpus_allowed_list"))
        except (OSError, StopIteration):  # the thread ended meanwhile
            continue
        out[int(tid)] = line.split(":", 1)[1].strip()
    return out


def blas_threads():
    """The thread counts of the BLAS libraries, as threadpoolctl reads them."""
    from threadpoolctl import threadpool_info

    return sorted((d["filepath"], d["num_threads"]) for d in threadpool_info()
                  if d["user_api"] == "blas")


class Observer:
    """A thread of the user's that reads its own CPU affinity and the BLAS thread counts over
    and over while the calls run, and records every value it sees."""

    def __init__(self):
        self.masks, self.blas = set(), set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="observer")

    def _watch(self):
        while not self._stop.is_set():
            self.masks.add(frozenset(os.sched_getaffinity(0)))
            self.blas.add(tuple(blas_threads()))
            self._stop.wait(0.001)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


needs_linux = pytest.mark.skipif(not (hasattr(os, "sched_getaffinity")
                                      and os.path.isdir("/proc/self/task")),
                                 reason="reads CPU affinity the Linux way")


@needs_linux
@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_leave_affinity_blas_and_numba_settings_alone(backend, small_chunks,
                                                            monkeypatch):
    pytest.importorskip("threadpoolctl")
    process_mask = os.sched_getaffinity(0)
    blas_before = blas_threads()
    numba = pytest.importorskip("numba") if backend == "numba" else None
    model, cm, theta, X, y = setup(backend, "fused", n=3000)
    _, cm2, theta2, X2, y2 = setup(backend, "layered", n=3000)
    fns = {**quantities(cm, theta, X, y),
           **{q + "2": f for q, f in quantities(cm2, theta2, X2, y2).items()}}
    with compiled.threads(1):
        ref = {q: f() for q, f in fns.items()}
    user_masks = []

    def user(i):
        before = frozenset(os.sched_getaffinity(0))
        numba_before = numba.get_num_threads() if numba else None
        if numba and i == 0:  # a user thread with its own numba setting keeps it
            numba.set_num_threads(1)
            numba_before = 1
        with compiled.threads(2):
            for q, f in fns.items():
                assert same_bits(f(), ref[q]), q
                user_masks.append(frozenset(os.sched_getaffinity(0)) == before)
        if numba:
            assert numba.get_num_threads() == numba_before
            assert numba.get_parallel_chunksize() == 0

    with Observer() as obs:
        assert run_users(user) == []
        bad = X.copy()
        bad[-1, 0] = np.nan  # found in the last chunk, mid-way through the call
        for f in (lambda: cm.loglik(theta, bad, y), lambda: cm.fisher(theta, bad),
                  lambda: cm.evaluate(theta, bad, y, ("score", "hessian"))):
            with compiled.threads(2), pytest.raises(sm.errors.DataError, match="NaN"):
                f()
        failures = {"n": 0}
        original = type(model.family).grad_eta

        def failing(exc):
            def grad_eta(self, eta, yc, extra):
                failures["n"] += 1
                if failures["n"] == 3:  # the third chunk, on whichever thread runs it
                    raise exc
                return original(self, eta, yc, extra)
            return grad_eta

        for exc in (sm.errors.SymmleValueError("chunk failed"), KeyboardInterrupt()):
            monkeypatch.setattr(type(model.family), "grad_eta", failing(exc))
            for q in ("score", "hessian", "all"):
                failures["n"] = 0
                with compiled.threads(2), pytest.raises(type(exc)):
                    fns[q]()
            monkeypatch.setattr(type(model.family), "grad_eta", original)
            with compiled.threads(2):  # the next calls work, with the same bits
                for q, f in fns.items():
                    assert same_bits(f(), ref[q]), q
    assert all(user_masks) and user_masks
    assert obs.masks == {frozenset(process_mask)}
    assert obs.blas == {tuple(blas_before)}
    assert blas_threads() == blas_before
    assert os.sched_getaffinity(0) == process_mask
    # every thread of the process, ours included (pool workers, numba's), on the process mask
    masks = thread_masks()
    assert len(set(masks.values())) == 1, masks
    if numba:
        assert numba.get_parallel_chunksize() == 0


@needs_linux
def test_no_affinity_or_blas_limit_is_ever_set(monkeypatch, small_chunks):
    """Nothing calls ``os.sched_setaffinity`` or sets a thread count of threadpoolctl's
    controllers (BLAS, OpenMP) during any call."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    calls = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda *a: calls.append(("affinity", a)))
    monkeypatch.setattr(threadpoolctl, "threadpool_limits",
                        lambda *a, **k: calls.append(("threadpool_limits", a)))
    todo = [threadpoolctl.LibController]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "set_num_threads" in vars(cls):
            monkeypatch.setattr(cls, "set_num_threads",
                                lambda self, n, _c=cls: calls.append((_c.__name__, n)))
    for backend in BACKENDS:
        for kind in ARCHS:
            _, cm, theta, X, y = setup(backend, kind)
            with compiled.threads(2):
                for f in quantities(cm, theta, X, y).values():
                    f()
    assert calls == []
