"""The numba backend's layered program: the forward pass and the score of a network with large
layers as one numba call each, a BLAS product per layer.

`LayeredProgram` runs each layer's product with numba's ``np.dot`` on a block of rows,
then bias and activation in one pass per unit, with no Python (and no GIL) between the
layers. Z and A are stored block by block of rows, each block C-contiguous for BLAS.
Each kernel runs the blocks of rows it is given (`symmle.compiled._numba_blocks`);
groups of blocks go to the calling thread and the compiled model's pool (`run_blocks`).
The reverse pass takes σ' of tanh and sigmoid from the pre-activation (`d1_row`: sech²(a),
not 1 − h²). numba's disk cache knows a kernel by its own module's source only, not by the
helpers linked into it from `symmle.compiled._numba_kernels` (compiled on their own): a
change there must come with a change here (this note changed with the derivatives, with
the helpers' separate compilation and with the blocks' sums leaving the kernels), or stale
kernels are loaded. Kernels copy arrays element
by element: an array assignment compiles numba's shape-mismatch messages, seconds cold.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ._blas import BLAS_ONE_THREAD_MACS
from ._numba_blocks import (add_blocks, as_float, block_bounds, chunked_bounds, min_split_rows,
                            run_blocks, seed_adjoint)
from ._numba_kernels import act_row, d1_row, jit, sum_, supports_activations, unit_codes

__all__ = ["LayeredProgram"]


@jit(inline=True)
def _block_view(flat, rows, r0, r1):
    """Block [r0, r1) of a blocked array: the C-contiguous (rows, r1 − r0) at rows·r0."""
    return flat[rows * r0:rows * r1].reshape((rows, r1 - r0))


@jit(inline=True)
def _forward_block(X, Z, A, eta, r0, r1, wflat, bflat, lay, code, out_rows):
    """The forward pass of rows [r0, r1) of X into the block's Z (n_nodes, r1 − r0) and A
    (n_units, r1 − r0), layer by layer: one BLAS product on the block (numba's ``np.dot``
    on contiguous arrays), then bias and activation in one pass per unit; η to ``eta``.

    ``lay`` (L, 5): first unit's row in A, number of units U, first source row in Z,
    number of sources S, offset of the layer's (U, S) weights in ``wflat``; ``bflat``
    (n_units,): biases (−0.0 for none); ``code`` (n_units,): activation code per unit.
    """
    d = X.shape[1]
    for t0 in range(r0, r1, 64):  # Z[:d] = Xᵀ in blocks of rows that stay in L1
        t1 = min(r1, t0 + 64)
        for c in range(d):
            zc = Z[c]
            for r in range(t0, t1):
                zc[r - r0] = X[r, c]
    for li in range(lay.shape[0]):
        a0, nu, s0, ns, w0 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
        np.dot(wflat[w0:w0 + nu * ns].reshape((nu, ns)), Z[s0:s0 + ns], A[a0:a0 + nu])
        for j in range(a0, a0 + nu):
            act_row(code[j], A[j], Z[d + j], bflat[j])
    for k in range(out_rows.shape[0]):
        zk = Z[d + out_rows[k]]
        for r in range(r1 - r0):
            eta[r0 + r, k] = zk[r]


def _layered_forward(X, Zb, Ab, eta, wflat, bflat, bounds, lay, code, out_rows):
    """The forward pass block by block of rows (`_forward_block`), Z and A stored block
    by block (`_block_view`)."""
    n_units = code.shape[0]
    n_nodes = X.shape[1] + n_units
    for b in range(bounds.shape[0] - 1):
        r0, r1 = bounds[b], bounds[b + 1]
        _forward_block(X, _block_view(Zb, n_nodes, r0, r1), _block_view(Ab, n_units, r0, r1),
                       eta, r0, r1, wflat, bflat, lay, code, out_rows)


def _layered_eta(X, eta, wflat, bflat, bounds, lay, code, out_rows):
    """η only: each block's Z and A in scratch of its own (never stored)."""
    n_units = code.shape[0]
    n_nodes = X.shape[1] + n_units
    for b in range(bounds.shape[0] - 1):
        r0, r1 = bounds[b], bounds[b + 1]
        _forward_block(X, np.empty((n_nodes, r1 - r0)), np.empty((n_units, r1 - r0)), eta,
                       r0, r1, wflat, bflat, lay, code, out_rows)


def _layered_grad(Zb, Ab, G, wflat, wpart, bpart, bounds, n_nodes, lay, code, out_rows):
    """The reverse pass seeded with G (m, K), layer by layer, block by block of rows:
    block b's sums over rows of each layer's ``δ hᵀ`` (one BLAS product) and ``δ`` go
    to ``wpart[b]`` (laid out as ``wflat``) and ``bpart[b]`` (n_units,)."""
    n_units = code.shape[0]
    d = n_nodes - n_units
    for b in range(bounds.shape[0] - 1):
        r0, r1 = bounds[b], bounds[b + 1]
        m = r1 - r0
        Z = _block_view(Zb, n_nodes, r0, r1)
        A = _block_view(Ab, n_units, r0, r1)
        adj = np.empty((n_units, m))
        seed_adjoint(adj, G, out_rows, r0, m)
        for li in range(lay.shape[0] - 1, -1, -1):
            a0, nu, s0, ns, w0 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
            for j in range(a0, a0 + nu):
                d1_row(code[j], A[j], Z[d + j], adj[j])
                bpart[b, j] = sum_(adj[j], m)
            delta = adj[a0:a0 + nu]
            gw = np.dot(delta, Z[s0:s0 + ns].T)
            wp = wpart[b]
            for i in range(nu):  # element by element: an array assignment compiles
                for k in range(ns):  # numba's shape-mismatch messages (seconds, cold)
                    wp[w0 + i * ns + k] = gw[i, k]
            if s0 + ns > d:
                back = np.dot(wflat[w0:w0 + nu * ns].reshape((nu, ns)).T, delta)
                for i in range(ns):
                    if s0 + i >= d:
                        ai, bi = adj[s0 + i - d], back[i]
                        for r in range(m):
                            ai[r] += bi[r]


def _unblock(Zb, Ab, Z, A, bounds):
    """Z (n_nodes, m) and A (n_units, m) from their blocked forms."""
    for b in range(bounds.shape[0] - 1):
        r0, r1 = bounds[b], bounds[b + 1]
        Zv = _block_view(Zb, Z.shape[0], r0, r1)
        Av = _block_view(Ab, A.shape[0], r0, r1)
        for j in range(Z.shape[0]):
            zj, vj = Z[j], Zv[j]
            for r in range(r1 - r0):
                zj[r0 + r] = vj[r]
        for j in range(A.shape[0]):
            aj, vj = A[j], Av[j]
            for r in range(r1 - r0):
                aj[r0 + r] = vj[r]


_LAYERED_FORWARD = jit()(_layered_forward)
_LAYERED_ETA = jit()(_layered_eta)
_LAYERED_GRAD = jit()(_layered_grad)
_UNBLOCK = jit()(_unblock)


class LayeredProgram:
    """The forward pass and the score of a `symmle.compiled._program.NumericProgram` with
    large layers as one numba call per chunk each: a BLAS product per layer and the fused
    bias + activation kernels, with no Python (and no GIL) between the layers.

    Used when `FusedProgram` is not (some layer has more than ``MAX_LAYER_EDGES``
    edges), every unit has a numba activation, and every layer's sources are consecutive
    rows of Z (any layered MLP; not skip connections). Z and A are stored block by block
    of rows (each block a C-contiguous (rows, block rows) array, for BLAS); `unblock`
    gives the numpy program's layout.
    """

    #: the fewest rows per block (a BLAS product on fewer rows is slow), unless
    #: `BLAS_ONE_THREAD_MACS` asks for fewer.
    MIN_BLOCK_ROWS = 1024

    def __init__(self, prog):
        lay, off = [], 0
        for L in prog.layers:
            lay.append((L.a_rows.start, L.n_units, L.src.start, L.n_src, off))
            off += L.n_units * L.n_src
        self.lay = np.asarray(lay, dtype=np.int64).reshape(-1, 5)
        self.code = unit_codes(prog)
        # the rows of a block for which every layer's product stays on BLAS's calling thread
        largest = max(int(L.n_units * L.n_src) for L in prog.layers)
        self._max_rows = max(1, BLAS_ONE_THREAD_MACS // max(1, largest))
        self.n_nodes = prog.n_nodes
        self.n_units = prog.n_units
        self.n_params = prog.n_params
        self.out_rows = np.asarray(prog.out_list, dtype=np.int64) - prog.n_inputs
        # where each parameter's gradient is found in (wgrad, bgrad) of the grad kernel
        w_take, w_pos, b_take, b_pos = [], [], [], []
        for L, (a0, _, _, ns, off) in zip(prog.layers, self.lay):
            w_take.append(off + np.asarray(L.rows) * ns + np.asarray(L.cols))
            w_pos.append(L.w_idx)
            b_take.append(a0 + np.asarray(L.b_units))
            b_pos.append(L.b_idx)
        cat = lambda x: np.concatenate([np.asarray(v, dtype=np.intp).reshape(-1) for v in x])  # noqa: E731
        self.w_take, self.w_pos = cat(w_take), cat(w_pos)
        self.b_take, self.b_pos = cat(b_take), cat(b_pos)

    @classmethod
    def supports(cls, prog) -> bool:
        """Whether every unit has a numba activation and every layer's sources are one
        contiguous block of rows."""
        return supports_activations(prog) and all(isinstance(L.src, slice)
                                                   for L in prog.layers)

    def bounds(self, m):
        """The blocks of m rows (`block_bounds`)."""
        return block_bounds(m, self.n_nodes, min(self.MIN_BLOCK_ROWS, self._max_rows),
                            self._max_rows)

    @cached_property
    def min_split_rows(self):
        """The fewest rows that `bounds` cuts into several blocks."""
        return min_split_rows(self.bounds)

    def chunk_bounds(self, chunks):
        """The blocks of consecutive chunks of rows as one array of row bounds
        (`symmle.compiled._numba_blocks.chunked_bounds`)."""
        return chunked_bounds(chunks, self.bounds)

    def pack(self, weights):
        """The dense per-layer ``(W, b)`` of `NumericProgram.weights` as the flat arrays of
        the kernel: ``(wflat, bflat)`` (−0.0 for a unit without a bias)."""
        wflat = np.concatenate([W.reshape(-1) for W, _ in weights])
        bflat = np.full(self.n_units, -0.0)
        for (a0, nu, _, _, _), (_, b) in zip(self.lay, weights):
            if b is not None:
                bflat[a0:a0 + nu] = b[:, 0]
        return np.ascontiguousarray(wflat, dtype=np.float64), bflat

    def forward(self, packed, X, Zb, Ab, parallel=None):
        """η (m, K); Z and A block by block into the flat ``Zb`` (n_nodes·m) and ``Ab``
        (n_units·m). ``parallel``: a `symmle.compiled._parallel.ChunkRunner` whose threads
        share the blocks (`run_blocks`), or None (so for every method)."""
        wflat, bflat = packed
        eta = np.empty((X.shape[0], len(self.out_rows)))
        bounds, X = self.bounds(X.shape[0]), as_float(X)
        run_blocks(lambda i, j: _LAYERED_FORWARD(X, Zb, Ab, eta, wflat, bflat, bounds[i:j + 1],
                                                 self.lay, self.code, self.out_rows),
                   len(bounds) - 1, parallel)
        return eta

    def eta(self, packed, X, parallel=None, bounds=None):
        """η (m, K) only, Z and A never stored; ``bounds``: the blocks (default `bounds`)."""
        wflat, bflat = packed
        eta = np.empty((X.shape[0], len(self.out_rows)))
        bounds = self.bounds(X.shape[0]) if bounds is None else bounds
        X = as_float(X)
        run_blocks(lambda i, j: _LAYERED_ETA(X, eta, wflat, bflat, bounds[i:j + 1], self.lay,
                                             self.code, self.out_rows),
                   len(bounds) - 1, parallel)
        return eta

    def unblock(self, Zb, Ab, Z, A):
        """Z (n_nodes, m) and A (n_units, m) in the numpy program's layout from `forward`'s."""
        _UNBLOCK(Zb, Ab, Z, A, self.bounds(Z.shape[1]))

    def grad(self, packed, Zb, Ab, G, parallel=None):
        """``Σ_rows Σ_k G_k ∂η_k/∂θ`` (Pn,) by the reverse pass from `forward`'s blocks."""
        wflat, _ = packed
        bounds, G = self.bounds(G.shape[0]), as_float(G)
        k = len(bounds) - 1
        wpart, bpart = np.zeros((k, len(wflat))), np.zeros((k, self.n_units))
        run_blocks(lambda i, j: _LAYERED_GRAD(Zb, Ab, G, wflat, wpart[i:j], bpart[i:j],
                                              bounds[i:j + 1], self.n_nodes, self.lay,
                                              self.code, self.out_rows), k, parallel)
        wgrad, bgrad = np.zeros_like(wflat), np.zeros(self.n_units)
        add_blocks(wpart, wgrad)
        add_blocks(bpart, bgrad)
        out = np.zeros(self.n_params)
        out[self.w_pos] = wgrad[self.w_take]
        out[self.b_pos] = bgrad[self.b_take]
        return out
