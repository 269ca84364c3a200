"""How many threads a compiled evaluation uses, and the ordered executor that runs its chunks.

The thread count is a `contextvars.ContextVar` set by `threads` (so one user
thread's ``with threads(n)`` never changes another's), else the environment variable
``SYMMLE_NUM_THREADS`` (read at each call), else automatic (`num_threads`). Nothing
here changes the calling process: no CPU affinity, no BLAS or OpenMP thread limits.
Those belong to the user (``taskset``, ``threadpoolctl``).

`ChunkRunner` (one per `symmle.compiled.CompiledModel`) runs the row chunks of the
numpy program, and the groups of blocks of rows of the numba backend's kernels
(`symmle.compiled._numba_blocks.run_blocks`), on the calling thread and on a
`concurrent.futures.ThreadPoolExecutor` of its own, created on first use and never resized
or shut down while a call runs, so that several user threads may evaluate one model at
once. numba's own threads (``parallel=True``, ``NUMBA_NUM_THREADS``) are never used.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from .._checks import check_int
from ..errors import SymmleValueError

__all__ = ["MAX_AUTO_THREADS", "ChunkRunner", "blas_may_thread", "num_threads", "threads"]

#: the most threads chosen automatically (beyond it the per-chunk Python work, run under the
#: GIL, gains little).
MAX_AUTO_THREADS = 4

#: the most worker threads one model's executor starts (a call asking for more threads
#: shares these; the calling thread computes chunks too).
MAX_POOL_WORKERS = 32

_THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar("symmle_threads",
                                                                      default=None)


# ------------------------------------------------------------------- count
def _env_threads() -> int | None:
    """``SYMMLE_NUM_THREADS`` as a positive int, None when unset or empty."""
    value = os.environ.get("SYMMLE_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise SymmleValueError(f"SYMMLE_NUM_THREADS must be a positive integer, got {value!r}")
    return n


def _explicit_threads() -> int | None:
    """The thread count the user asked for (`threads`, else ``SYMMLE_NUM_THREADS``), or None."""
    n = _THREADS.get()
    return n if n is not None else _env_threads()


_BLAS: dict = {"controllers": None}


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded at first use (``()`` without
    threadpoolctl). They are only read, never set."""
    if _BLAS["controllers"] is None:
        try:
            from threadpoolctl import ThreadpoolController  # optional dependency
        except ImportError:
            _BLAS["controllers"] = ()
        else:
            _BLAS["controllers"] = tuple(c for c in ThreadpoolController().lib_controllers
                                         if c.user_api == "blas")
    return _BLAS["controllers"]


def _blas_threads() -> int | None:
    """The BLAS thread limit in force (read by threadpoolctl, else the usual environment
    variables), None when unknown."""
    ctl = _blas_controllers()
    if ctl:
        return max(1, min(c.num_threads for c in ctl))
    limits = []
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        try:
            limits.append(int(os.environ[var]))
        except (KeyError, ValueError):
            pass
    return max(1, min(limits)) if limits else None


def blas_may_thread() -> bool:
    """Whether BLAS may run one product on several threads (its limit is over 1, or unknown)."""
    n = _blas_threads()
    return n is None or n > 1


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def num_threads() -> int:
    """The number of threads `symmle.compiled.CompiledModel` runs row chunks on.

    In order: the innermost `threads` block of the calling thread, else the environment
    variable ``SYMMLE_NUM_THREADS``, else the CPUs this process may use, capped at
    `MAX_AUTO_THREADS` and at the BLAS thread limit in force, so that a process that
    limited BLAS to one thread (``threadpoolctl``'s ``threadpool_limits(1)``,
    ``OMP_NUM_THREADS=1`` in joblib/loky workers) also evaluates on one thread. 1 is
    the sequential path. Results do not depend on it.

    Examples
    --------
    >>> from symmle.compiled import num_threads, threads
    >>> with threads(1):
    ...     num_threads()
    1
    >>> num_threads() >= 1
    True
    """
    n = _explicit_threads()
    if n is not None:
        return n
    n = min(_usable_cpus(), MAX_AUTO_THREADS)
    blas = _blas_threads()
    return max(1, min(n, blas) if blas is not None else n)


@contextlib.contextmanager
def threads(n):
    """Evaluate on ``n`` threads inside the ``with`` block (``None``: automatic).

    The setting belongs to the calling thread (a `contextvars.ContextVar`): other
    threads, and threads started inside the block, keep their own.

    Raises
    ------
    SymmleTypeError
        ``n`` is not an integer (or None).
    SymmleValueError
        ``n`` is below 1.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=1.0))
    >>> theta = model.random_params(0)
    >>> X, y = model.simulate(theta, n=20_000, rng=1)
    >>> cm = model.compile()
    >>> with sm.compiled.threads(1):
    ...     one = cm.evaluate(theta, X, y, ("loglik", "score"))
    >>> with sm.compiled.threads(2):
    ...     two = cm.evaluate(theta, X, y, ("loglik", "score"))
    >>> one["loglik"] == two["loglik"], bool(np.array_equal(one["score"], two["score"]))
    (True, True)
    """
    if n is not None:
        n = check_int(n, "n", 1)
    token = _THREADS.set(n)
    try:
        yield n
    finally:
        _THREADS.reset(token)


# ---------------------------------------------------------------- executor
_RUNNERS: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child():
    # the parent's pool threads do not exist in a forked child, and a lock held by one of
    # them at the fork would never be released there
    for runner in list(_RUNNERS):
        runner._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ChunkRunner:
    """Runs ``fn`` over row chunks on the calling thread and a thread pool of its own.

    Every thread takes the next chunk index from one counter; the calling thread reduces
    each finished chunk in chunk order as soon as it can, and otherwise computes chunks
    itself. So a worker that is slow to start costs nothing but its share, and the
    results do not depend on who computed what. At most ``2·threads`` chunks are computed
    ahead of the reduction (memory stays bounded). The pool is created on first use and
    is never resized or shut down while a call runs; several user threads may call
    `run` at once.
    """

    def __init__(self):
        self._reset()
        _RUNNERS.add(self)

    def _reset(self):
        self._lock = threading.Lock()
        self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_POOL_WORKERS, thread_name_prefix="symmle")
            return self._pool

    def run(self, fn, chunks, parallel=True, reduce=None):
        """``reduce(fn(s))`` for every chunk ``s``, in chunk order, on `num_threads` threads
        (one when ``parallel`` is false). An exception raised by ``fn`` on any thread
        (``KeyboardInterrupt`` included) is raised here unchanged, after every worker has
        stopped writing."""
        chunks = list(chunks)
        size = min(num_threads(), len(chunks)) if parallel and len(chunks) > 1 else 1
        if size <= 1:
            for s in chunks:
                r = fn(s)
                if reduce is not None:
                    reduce(r)
            return
        _run_parallel(self._executor(), size, fn, chunks, reduce)


def _run_parallel(pool, size, fn, chunks, reduce):
    """The chunks shared by the calling thread and ``size − 1`` pool workers, reduced in
    order (see `ChunkRunner`)."""
    n = len(chunks)
    results = [None] * n
    done = [threading.Event() for _ in range(n)]
    failed = []
    counter = itertools.count()
    lock = threading.Lock()
    ahead = threading.Semaphore(2 * size)

    def take(block):
        if failed or not ahead.acquire(blocking=block):
            return None
        with lock:
            i = next(counter)
        if i >= n:
            ahead.release()
            return None
        return i

    def run(i):
        try:
            results[i] = (True, fn(chunks[i]))
        except BaseException as exc:  # noqa: BLE001 - re-raised by the calling thread
            results[i] = (False, exc)
            failed.append(i)
        finally:
            done[i].set()

    def worker():
        while True:
            i = take(True)
            if i is None:
                return
            run(i)

    futures = []
    try:
        for _ in range(size - 1):
            futures.append(pool.submit(worker))
        nxt = 0
        while nxt < n:
            if done[nxt].is_set():
                ok, value = results[nxt]
                results[nxt] = None
                if not ok:
                    raise value
                if reduce is not None:
                    reduce(value)
                ahead.release()
                nxt += 1
                continue
            i = take(False)
            if i is not None:
                run(i)
            else:
                done[nxt].wait()
    finally:
        failed.append(-1)  # workers stop taking chunks
        for _ in futures:
            ahead.release()  # wake any worker blocked on the semaphore
        _join(futures)


def _join(futures):
    """Wait until no worker of this call runs (one still queued is cancelled), also when a
    KeyboardInterrupt arrives meanwhile: no worker may still write into the caller's arrays."""
    interrupted = None
    for f in futures:
        if f.cancel():
            continue
        while True:
            try:
                f.exception()
                break
            except KeyboardInterrupt as exc:
                interrupted = exc
    if interrupted is not None:
        raise interrupted
