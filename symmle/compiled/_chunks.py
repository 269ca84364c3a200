"""How the rows of one call are cut into chunks: memory budgets and the work per chunk.

The boundaries depend on the number of rows and the model only, never on the number of
threads, so that sums reduced in chunk order are the same bits on any thread count.
"""

from __future__ import annotations

__all__ = ["CHUNK_BYTES", "CHUNK_ROWS", "HESSIAN_BYTES", "JACOBIAN_BYTES", "MIN_CHUNK_WORK",
           "NUMBA_BYTES_FACTOR", "NUMBA_CHUNK_FACTOR", "NUMPY_WORK_FACTOR", "PARALLEL_MIN_WORK",
           "SPLIT_CHUNKS", "plan"]

#: the most rows per chunk in the numeric evaluation.
CHUNK_ROWS = 16384

#: memory budget (bytes) of one chunk's activations (units × m float64).
CHUNK_BYTES = 2 * 2 ** 20

#: memory budget (bytes) of one chunk's Jacobian ``Jᵀ`` (K × P × m float64).
JACOBIAN_BYTES = 32 * 2 ** 20

#: memory budget (bytes) of one chunk's Hessian tangents (P × units × m float64, a few arrays).
HESSIAN_BYTES = 64 * 2 ** 20

#: the fewest values (rows × (units + K·P when the Jacobian is formed)) per chunk when a
#: mid-size n is split so that threads have work.
MIN_CHUNK_WORK = 150_000

#: the fewest values per chunk for threads to pay (below it the Python overhead per chunk,
#: run under the GIL, costs more than a second core gives).
PARALLEL_MIN_WORK = 40_000

#: the numpy program's chunks pay a thread only from `NUMPY_WORK_FACTOR` × `PARALLEL_MIN_WORK`
#: values on: each of its numpy calls holds the GIL for its dispatch, and on a VM whose two
#: vCPUs share a core the elementwise passes gain nothing from a second thread. mlp(2, 3, 1)
#: (98 000 values a chunk of its score) was 1.3–2.3× slower on two threads than on one;
#: mlp(10, 20, 1) and mlp(4, 16, 16, 16, 1) (262 000) gain or tie (`benchmarks/README.md`).
NUMPY_WORK_FACTOR = 5

#: for the numba backend's fused and layered programs a value costs a few times less than in
#: the numpy program, so their chunks have up to `NUMBA_CHUNK_FACTOR` × `CHUNK_ROWS` rows.
NUMBA_CHUNK_FACTOR = 2

#: and up to `NUMBA_BYTES_FACTOR` × `CHUNK_BYTES` of activations: where their kernels run
#: on the pool's threads block by block, one chunk is alive at a time (the thread pool holds
#: up to four), and fewer chunks mean fewer hand-overs, each of which waits for its slowest
#: thread.
NUMBA_BYTES_FACTOR = 4

#: a mid-size n is split into at most this many chunks, and a chunk count that is worth
#: threads is rounded up to a multiple of it (so that 1, 2 or 4 threads finish together).
SPLIT_CHUNKS = 4


def _chunk_rows(prog, K, Pn, jacobian=False, hessian=False):
    numba = prog.accelerated is not None
    rows = CHUNK_ROWS * (NUMBA_CHUNK_FACTOR if numba else 1)
    budget = CHUNK_BYTES * (NUMBA_BYTES_FACTOR if numba else 1)
    m = min(rows, max(1, budget // (8 * prog.n_nodes)))
    if jacobian:
        m = min(m, max(1, JACOBIAN_BYTES // (8 * K * max(1, Pn))))
    if hessian:
        per_row = 8 * 4 * max(1, Pn) * (prog.n_nodes + prog.n_units)
        m = min(m, max(1, HESSIAN_BYTES // per_row))
    return max(1, int(m))


def plan(prog, K, Pn, n, jacobian=False, hessian=False):
    """Row chunks (slices) for n rows of the program ``prog`` (K outputs, Pn network
    parameters), and whether they are big enough to be worth a thread each.

    ``ceil(n / m)`` chunks of near-equal size for the largest chunk m within the memory
    budgets (when they are worth threads, rounded up to a multiple of `SPLIT_CHUNKS`); a
    mid-size n is split further (into at most `SPLIT_CHUNKS` chunks of at least
    `MIN_CHUNK_WORK` values each, and of the values that pay a thread) so that threads have
    work. The boundaries depend on n
    and the model only, never on the number of threads.
    """
    per_row = prog.n_nodes + (K * Pn if jacobian or hessian else 0)
    worth = PARALLEL_MIN_WORK * (1 if prog.accelerated is not None else NUMPY_WORK_FACTOR)
    k = max(1, -(-n // _chunk_rows(prog, K, Pn, jacobian, hessian)))
    k = max(k, min(SPLIT_CHUNKS, n * per_row // max(MIN_CHUNK_WORK, worth)))
    if k > SPLIT_CHUNKS and (n // k) * per_row >= worth:
        k = -(-k // SPLIT_CHUNKS) * SPLIT_CHUNKS  # no thread idles at the end
    bounds = [n * i // k for i in range(k + 1)]
    chunks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return chunks, (n // k) * per_row >= worth
