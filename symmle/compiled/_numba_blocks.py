"""Blocks of rows: how the numba programs' kernels split their rows between threads.

Every kernel of `symmle.compiled._numba_fused` and `symmle.compiled._numba_layered`
loops over blocks of rows (`block_bounds`: a function of the number of rows and the
network only) given as an array of row bounds. `run_blocks` hands consecutive groups of
blocks to the calling thread and the compiled model's thread pool (the kernels release the
GIL), each group one call of the same serial kernel on its slice of the bounds; sums are
written per block into a (blocks, ...) buffer and added in block order afterwards
(`add_blocks`). So a result is the same bits on any number of threads, and each kernel is
compiled once (numba's ``parallel=True`` form of a kernel took 2–3 times its serial
form's compile time, and numba's threads are per-thread state of numba's own).
"""

from __future__ import annotations

import numpy as np

from ._numba_kernels import jit
from ._parallel import num_threads

__all__ = ["BLOCK_MULTIPLE", "BLOCK_VALUES", "GROUPS_PER_THREAD", "add_blocks", "as_float",
           "block_bounds", "chunked_bounds", "min_split_rows", "run_blocks", "seed_adjoint"]

#: the fewest values (rows × program variables) in one block of rows: a block is the unit
#: of work of the threads, and handing one over costs some tens of microseconds.
BLOCK_VALUES = 32768

#: groups of blocks per thread in `run_blocks`: a thread that is slow to run (a busy
#: machine) leaves its later groups to the others.
GROUPS_PER_THREAD = 4

#: the block count is rounded up to a multiple of this, so that 1, 2 or 4 threads finish
#: together (and, handed out one at a time, blocks balance a busy machine's threads).
BLOCK_MULTIPLE = 8


def block_bounds(m, per_row, min_rows=1, max_rows=None):
    """Row bounds (int64, length blocks + 1) of near-equal blocks of m rows with at least
    `BLOCK_VALUES` values (``per_row`` per row) and ``min_rows`` rows each, and at most
    ``max_rows`` rows: the same for any number of threads.

    Examples
    --------
    >>> from symmle.compiled._numba_blocks import block_bounds
    >>> block_bounds(10, 6).tolist(), block_bounds(100_000, 6)[:3].tolist()
    ([0, 10], [0, 4166, 8333])
    """
    rows = max(min_rows, -(-BLOCK_VALUES // max(1, per_row)))
    k = max(1, m // rows)
    if max_rows is not None:
        k = max(k, -(-m // max_rows))
    if k > 1:
        k = -(-k // BLOCK_MULTIPLE) * BLOCK_MULTIPLE
    return np.array([m * i // k for i in range(k + 1)], dtype=np.int64)


def chunked_bounds(chunks, bounds):
    """The blocks of consecutive chunks (slices) of rows, each cut by ``bounds(rows)``, as
    one array of row bounds: one kernel call runs what a call per chunk would, block for
    block.

    Examples
    --------
    >>> from symmle.compiled._numba_blocks import chunked_bounds
    >>> chunked_bounds([slice(0, 4), slice(4, 10)], lambda m: np.array([0, m // 2, m])).tolist()
    [0, 2, 4, 7, 10]
    """
    out = [0]
    for s in chunks:
        out.extend(int(s.start + r) for r in bounds(s.stop - s.start)[1:])
    return np.array(out, dtype=np.int64)


def min_split_rows(bounds):
    """The fewest rows m for which ``bounds(m)`` has several blocks (bisection: the block
    count does not decrease with m)."""
    lo, hi = 1, 2
    while len(bounds(hi)) <= 2:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if len(bounds(mid)) <= 2 else (lo, mid)
    return hi


def as_float(x):
    """``x`` as a C-contiguous float64 array (no copy when it is one)."""
    return np.ascontiguousarray(x, dtype=np.float64)


def run_blocks(call, n_blocks, runner=None):
    """``call(i0, i1)`` for consecutive groups ``[i0, i1)`` covering the blocks
    ``[0, n_blocks)``: on the calling thread alone (one call) without a ``runner``, else in
    groups of blocks (`GROUPS_PER_THREAD` a thread) on the calling thread and the runner's
    pool (`symmle.compiled._parallel.ChunkRunner`). ``call`` runs a kernel on
    ``bounds[i0:i1 + 1]`` (and its per-block sums ``part[i0:i1]``); every block is computed
    alike wherever it runs.

    Examples
    --------
    >>> from symmle.compiled._numba_blocks import run_blocks
    >>> seen = []
    >>> run_blocks(lambda i0, i1: seen.append((i0, i1)), 5)
    >>> seen
    [(0, 5)]
    """
    size = min(num_threads(), n_blocks) if runner else 1
    if size <= 1:
        call(0, n_blocks)
        return
    k = min(n_blocks, GROUPS_PER_THREAD * size)
    cuts = [n_blocks * i // k for i in range(k + 1)]
    runner.run(lambda g: call(*g), list(zip(cuts[:-1], cuts[1:])), True)


@jit(inline=True)
def seed_adjoint(adj, G, out_rows, r0, n):
    """``adj[:, :n] = 0`` and ``adj[out_k, r] += G[r0 + r, k]``: the reverse pass seeded with G."""
    for j in range(adj.shape[0]):
        aj = adj[j]
        for r in range(n):
            aj[r] = 0.0
    for k in range(out_rows.shape[0]):
        ak = adj[out_rows[k]]
        for r in range(n):
            ak[r] += G[r0 + r, k]


@jit()
def add_blocks(part, out):
    """``out += Σ_b part[b]`` in block order (part: (blocks, ...) flattened to 2-D)."""
    for b in range(part.shape[0]):
        for i in range(part.shape[1]):
            out[i] += part[b, i]
