"""Running the study's tasks: the per-task function and the sequential, joblib and Dask runners.

A task (n, rep) simulates a data set from θ*, fits the model, aligns the estimate to θ* and
measures it; it receives only JSON-like data (the study's ``config``) and returns a plain dict,
so that it can run in this process, in a joblib worker process or on a Dask worker.

Threads: every task evaluates the model on one thread (`symmle.compiled.threads`), since the
tasks themselves already run side by side. The calling process's BLAS is never touched. Only
in a joblib worker *process* (which runs one task at a time for the study) does a task limit
BLAS to one thread, scoped to the task with ``threadpoolctl.threadpool_limits``. Dask workers
belong to the user's cluster and may run other work on other threads at the same time, so a
task leaves their BLAS alone (Dask's nanny starts its workers with one BLAS thread anyway).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import time
import warnings

import numpy as np
from scipy.stats import norm

from .._checks import json_dumps
from ..architecture import Architecture
from ..compiled import threads
from .._information import information_rank
from ..errors import SymmleError, SymmleValueError, require
from ..families import family_from_dict
from ..fitting._root import information_root
from ..fitting import fit
from ..model import Model
from ..symmetry import align

try:  # optional dependency (the parallel extra): only joblib worker processes use it
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - installed with the parallel and test extras
    threadpool_limits = None

#: the branch-and-bound budget of a task's alignment of θ̂ to θ*: nodes (which decide, so a
#: study's records do not depend on the machine's speed; ≈ 1 s at worst) and seconds (a
#: backstop only). A fit far from θ* on a big group may end the search before optimality is
#: proven: the record says so (``align_optimal``) and keeps the certified lower bound.
STUDY_ALIGN_MAX_NODES = 5_000
STUDY_ALIGN_TIME_LIMIT = 5.0

#: seconds to wait for a Dask scheduler given by its address to answer (distributed's own
#: default, 30 s, would look like a hang for an address where nothing listens).
DASK_CONNECT_TIMEOUT = 10

#: how many models and test sets a process keeps: a worker serves one study at a time, and a
#: few cover a session that alternates between studies without holding on to old ones.
_CACHED_STUDIES = 4



# ------------------------------------------------------------------ task context


def spec_key(spec: dict) -> str:
    """The canonical JSON text of a model description (a cache and comparison key)."""
    return json_dumps(spec, sort_keys=True)


def config_token(config: dict) -> str:
    """A short hash of the study's configuration (names its Dask tasks)."""
    return hashlib.sha256(json_dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def root_seed(config: dict, *key: int) -> np.random.SeedSequence:
    """The seed sequence of task ``key`` (``(n, rep)``; ``(0,)`` and ``(0, 1)`` are the study's own)."""
    return np.random.SeedSequence(config["entropy"],
                                  spawn_key=tuple(config["spawn_key"]) + tuple(key))


@functools.lru_cache(maxsize=_CACHED_STUDIES)
def _built_model(key: str) -> Model:
    """The model described by ``key``, built once per process (a worker compiles it once)."""
    spec = json.loads(key)  # our own canonical text (`spec_key`), not a file
    return Model(Architecture.from_dict(spec["architecture"]), family_from_dict(spec["family"]))


@functools.lru_cache(maxsize=_CACHED_STUDIES)
def _test_set(config_key: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixed test inputs (seed key (0,), never a task's) and the true network output on them."""
    config = json.loads(config_key)  # our own canonical text, which may hold a 60-digit seed
    arch = Architecture.from_dict(config["model"]["architecture"])
    theta_true = np.asarray(config["theta_true"], dtype=float)
    rng = np.random.default_rng(root_seed(config, 0))
    X_test = rng.standard_normal((config["n_test"], arch.n_inputs))
    f_true = arch.forward(theta_true[: arch.n_params], X_test)
    X_test.flags.writeable = False
    f_true.flags.writeable = False
    return X_test, f_true


def _wald_stderr(model, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Wald standard errors at θ on the rows X by the library's information rule (the same
    verdict `FitResult` gives there): NaN exactly for the unidentified parameters."""
    return information_rank(None, root=information_root(model, theta, X)).stderr


# ------------------------------------------------------------------ one task


def _run_task(config: dict, n: int, rep: int, model: Model | None = None) -> dict:
    """Simulate, fit, align and measure one replication; returns plain JSON-like data.

    ``model`` is the caller's own model when the task runs in the calling process (so its
    compiled form is reused); elsewhere the model is rebuilt from ``config`` once per process.
    The model is evaluated on one thread, whatever ``SYMMLE_NUM_THREADS`` says.
    """
    if model is None:
        model = _built_model(spec_key(config["model"]))
    with threads(1):
        return _measure(config, n, rep, model)


def _run_task_in_worker(config: dict, n: int, rep: int, caller_pid: int) -> dict:
    """`_run_task` in a joblib worker: BLAS on one thread for the task, if in a worker process.

    A multi-threaded BLAS may sum in another order and change the last bits of a fit; a
    worker process runs one task at a time, so the scoped limit reaches nothing else. When
    joblib runs the task in the calling process (a threading backend), BLAS is left alone.
    """
    if threadpool_limits is None or os.getpid() == caller_pid:
        return _run_task(config, n, rep)
    with threadpool_limits(limits=1):
        return _run_task(config, n, rep)


def _measure(config: dict, n: int, rep: int, model: Model) -> dict:
    start_time = time.perf_counter()
    arch = model.architecture
    cm = model.compile()
    theta_true = np.asarray(config["theta_true"], dtype=float)
    X_test, f_true = _test_set(json_dumps(config, sort_keys=True))
    data_seed, fit_seed = root_seed(config, n, rep).spawn(2)
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
        alignment = align(arch, theta_hat, theta_true, return_result=True,
                          max_nodes=STUDY_ALIGN_MAX_NODES, time_limit=STUDY_ALIGN_TIME_LIMIT)
        aligned = np.asarray(alignment.member, dtype=float)
        stderr = _wald_stderr(model, aligned, X)
    z = norm.ppf(0.5 + config["level"] / 2)
    covered = np.abs(aligned - theta_true) <= z * stderr  # False where stderr is NaN
    f_hat = arch.forward(theta_hat[: model.n_network_params], X_test)
    loglik_true = cm.loglik(theta_true, X, y)
    record.update(
        status="ok",
        raw_error=float(np.linalg.norm(theta_hat - theta_true)),
        aligned_error=float(np.linalg.norm(aligned - theta_true)),
        align_optimal=bool(alignment.optimal),
        align_lower_bound=float(alignment.lower_bound),
        function_error=float(np.sqrt(np.mean((f_hat - f_true) ** 2))),
        covered=int(np.sum(covered)),
        converged=bool(res.converged),
        loglik=float(res.loglik),
        loglik_true=float(loglik_true),
        theta_hat=theta_hat.tolist(),
        theta_aligned=aligned.tolist(),
        stderr=stderr.tolist(),
        seconds=time.perf_counter() - start_time,
    )
    return record


# ------------------------------------------------------------------ runners


def run_sequential(config: dict, todo, model: Model):
    """Run the tasks one after the other in this process, yielding each record."""
    for n, rep in todo:
        yield _run_task(config, n, rep, model)


#: seconds a joblib worker process takes to start and be ready for a task (imports, the
#: model rebuilt from the configuration), measured on a 2-core VM: 1.2 s.
WORKER_START_SECONDS = 1.2

#: the time of the same tasks on k workers against one process beyond their start-up: the
#: cores' shared caches, memory bandwidth and turbo make k workers less than k times faster.
PARALLEL_CONTENTION = 1.25


def _estimate(done, n):
    """Seconds a task of n rows is expected to take, from ``done`` [(n, seconds), ...]: a
    fixed cost plus a cost per row, fitted by least squares (the largest n's seconds per row
    alone while one size is done)."""
    ns = np.array([d[0] for d in done], dtype=float)
    ts = np.array([d[1] for d in done], dtype=float)
    if len(set(ns)) < 2:
        return float(ts.mean() * n / ns.mean())
    slope, fixed = np.polyfit(ns, ts, 1)
    return float(max(0.0, fixed) + max(0.0, slope) * n) or float(ts.max())


def parallel_pays(done, rest, n_jobs: int) -> bool:
    """Whether running the tasks ``rest`` [(n, rep), ...] on ``n_jobs`` workers is expected
    to finish sooner than in this process, from the times of the tasks ``done`` here: the
    workers' start-up (`WORKER_START_SECONDS`, paid once, in parallel) and their contention
    (`PARALLEL_CONTENTION`) against the tasks' estimated total.

    Examples
    --------
    >>> parallel_pays([(100, 0.05)], [(100, r) for r in range(20)], 2)  # 1 s of work
    False
    >>> parallel_pays([(100, 0.5)], [(1000, r) for r in range(20)], 2)  # 100 s of work
    True
    """
    if n_jobs <= 1 or len(rest) <= 1 or not done:
        return False
    total = sum(_estimate(done, n) for n, _ in rest)
    k = min(n_jobs, len(rest))
    return WORKER_START_SECONDS + PARALLEL_CONTENTION * total / k < total


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_auto(config: dict, todo, model: Model, n_jobs: int):
    """The tasks in this process, each timed, until the rest is expected to finish sooner on
    ``n_jobs`` joblib workers (`parallel_pays`); then the rest on them. A study too small to
    pay for the workers' start-up never starts them; the records are the same either way."""
    todo = list(todo)
    done = []
    if importlib.util.find_spec("joblib") is None:  # without the parallel extra: here
        n_jobs = 1
    for i, (n, rep) in enumerate(todo):
        if parallel_pays(done, todo[i:], n_jobs):
            yield from run_joblib(config, todo[i:], n_jobs)
            return
        t0 = time.perf_counter()
        yield _run_task(config, n, rep, model)
        done.append((n, time.perf_counter() - t0))


def run_joblib(config: dict, todo, n_jobs: int):
    """Run the tasks on ``n_jobs`` joblib workers, yielding records as they finish."""
    joblib = require("joblib", "parallel")
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    caller = os.getpid()
    yield from parallel(joblib.delayed(_run_task_in_worker)(config, n, rep, caller)
                        for n, rep in todo)


def _connect(distributed, address: str):
    """A Client of the scheduler at ``address``, or a `SymmleValueError` naming it (a malformed
    address, or no scheduler answering within `DASK_CONNECT_TIMEOUT` seconds)."""
    try:
        return distributed.Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (ValueError, TypeError, OSError, TimeoutError) as exc:
        raise SymmleValueError(
            f"client: cannot connect to a Dask scheduler at {address!r:.80} ({type(exc).__name__}: "
            f"{str(exc)[:200]}); pass its address as 'tcp://host:port'") from None


def run_dask(config: dict, todo, client):
    """Run the tasks on a Dask cluster (a Client, or a scheduler address), yielding records."""
    distributed = require("distributed", "parallel")
    own = isinstance(client, str)
    if own:
        client = _connect(distributed, client)
    token = config_token(config)
    futures = [client.submit(_run_task, config, n, rep, key=f"symmle-study-{token}-{n}-{rep}")
               for n, rep in todo]
    try:
        for future in distributed.as_completed(futures):
            yield future.result()
    finally:
        client.cancel(futures)
        if own:
            client.close()
