"""Blocks of rows: how the numba programs' kernels split their rows for numba's threads.

Every kernel of `symmle.compiled._numba_fused` and `symmle.compiled._numba_layered`
splits its rows into a fixed number of blocks (`block_bounds`: a function of the number
of rows and the network only) and loops over them with ``numba.prange`` in its parallel
form and ``range`` in its serial form (`symmle.compiled._numba_kernels.kernel_pair`);
sums are written per block into a (blocks, ...) buffer and added in block order
afterwards (`add_blocks`). So a result is the same bits on any number of numba threads,
and the serial form gives the same bits as the parallel one.
"""

from __future__ import annotations

import numpy as np

from ._numba_kernels import jit

__all__ = ["BLOCK_MULTIPLE", "BLOCK_VALUES", "add_blocks", "as_float", "block_bounds",
           "chunked_bounds", "min_split_rows", "pick", "seed_adjoint"]

#: the fewest values (rows × program variables) in one block of rows: a block is the unit
#: of work of numba's threads, and waking them costs some tens of microseconds.
BLOCK_VALUES = 32768

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


def pick(pair, parallel, bounds):
    """The parallel kernel of ``pair`` when asked for and there are several blocks, else
    the serial one (waking numba's threads for one block would cost more than it gives)."""
    return pair[bool(parallel) and len(bounds) > 2]


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


@jit(inline=True)
def add_blocks(part, out):
    """``out += Σ_b part[b]`` in block order (part: (blocks, ...) flattened to 2-D)."""
    for b in range(part.shape[0]):
        for i in range(part.shape[1]):
            out[i] += part[b, i]
