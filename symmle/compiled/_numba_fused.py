"""The numba backend's fused program: every pass of a network with small layers as one kernel.

`FusedProgram` runs the forward pass, η alone, the Jacobian, the score's reverse pass and
the one-output Fisher information each as one numba kernel per chunk of rows; every edge
is one fused multiply-add pass over a tile of rows that stays in the L1 cache. Each
kernel runs the blocks of rows it is given (`symmle.compiled._numba_blocks`); groups of
blocks go to the calling thread and the compiled model's pool (`run_blocks`).
The reverse pass takes σ' of tanh and sigmoid from the pre-activation (`d1_row`: sech²(a),
not 1 − h²). numba's disk cache knows a kernel by its own module's source only, not by the
helpers linked into it from `symmle.compiled._numba_kernels` (compiled on their own, not
inlined at numba's IR level: a third of the cold compile time): a change there must come with
a change here (this note changed with the derivatives, with the kink flags of the Fisher
kernel, with the helpers' separate compilation and with the blocks' sums leaving the
kernels), or stale kernels are loaded.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ._numba_blocks import (add_blocks, as_float, block_bounds, chunked_bounds, min_split_rows,
                            run_blocks, seed_adjoint)
from ._numba_kernels import (GRAM_MAX_P, act_row, d1_row, from_lower, gram_tile, jit, sum_,
                             sum_prod, supports_activations, unit_codes)

__all__ = ["FusedProgram"]

_NO_KINKS = np.zeros(0, dtype=np.int64)
#: 0 as an int64 argument: a literal 0 passed to a helper would make numba compile a second
#: form of it for the type Literal[int](0) (a second ~1 s of cold compile per helper).
_ZERO = np.int64(0)
_NO_KINKS_THR = np.zeros(0)


@jit(inline=True)
def _forward_tile(theta, X, Z, A, r0, n, c0, net):
    """The forward pass of rows ``[r0, r0 + n)`` of X into columns ``[c0, c0 + n)`` of Z and A.

    ``net`` = (lay, code, e_unit, e_src, e_par, b_unit, b_par): ``lay`` (L, 5) holds each
    layer's first unit's row in A, number of units, edge range and bias range end (bias
    ranges are consecutive); ``code`` (n_units,) the activation code per unit; then per
    edge its unit, source row in Z and parameter, per bias its unit and parameter.
    """
    lay, code, e_unit, e_src, e_par, b_unit, b_par = net
    d = X.shape[1]
    c1 = c0 + n
    for c in range(d):
        zc = Z[c, c0:c1]
        xc = X[r0:r0 + n, c]
        for r in range(n):
            zc[r] = xc[r]
    b0 = 0
    for li in range(lay.shape[0]):
        a0, nu, e0, e1, b1 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
        for j in range(a0, a0 + nu):
            aj = A[j, c0:c1]
            for r in range(n):
                aj[r] = 0.0
        for b in range(b0, b1):
            aj = A[a0 + b_unit[b], c0:c1]
            w = theta[b_par[b]]
            for r in range(n):
                aj[r] += w
        b0 = b1
        for e in range(e0, e1):
            aj = A[a0 + e_unit[e], c0:c1]
            zs = Z[e_src[e], c0:c1]
            w = theta[e_par[e]]
            for r in range(n):
                aj[r] += w * zs[r]
        for j in range(a0, a0 + nu):
            act_row(code[j], A[j, c0:c1], Z[d + j, c0:c1], -0.0)


@jit(inline=True)
def _reverse_tile(theta, Z, A, adj, Jk, j0, out_row, r0, r1, net):
    """One output's row of the Jacobian for the rows [r0, r1) of Z and A: ``Jk[p, j0 + r −
    r0]``; ``adj`` (n_units, ≥ r1 − r0) is scratch."""
    lay, code, e_unit, e_src, e_par, b_unit, b_par = net
    n = r1 - r0
    d = Z.shape[0] - A.shape[0]
    for j in range(A.shape[0]):
        aj = adj[j, :n]
        for r in range(n):
            aj[r] = 0.0
    ak = adj[out_row, :n]
    for r in range(n):
        ak[r] = 1.0
    for li in range(lay.shape[0] - 1, -1, -1):
        a0, nu, e0, e1, b1 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
        b0 = lay[li - 1, 4] if li > 0 else 0
        for j in range(a0, a0 + nu):
            d1_row(code[j], A[j, r0:r1], Z[d + j, r0:r1], adj[j, :n])
        for b in range(b0, b1):
            dj = adj[a0 + b_unit[b], :n]
            jp = Jk[b_par[b], j0:j0 + n]
            for r in range(n):
                jp[r] = dj[r]
        for e in range(e0, e1):
            dj = adj[a0 + e_unit[e], :n]
            s = e_src[e]
            zs = Z[s, r0:r1]
            jp = Jk[e_par[e], j0:j0 + n]
            for r in range(n):
                jp[r] = dj[r] * zs[r]
            if s >= d:
                w = theta[e_par[e]]
                asrc = adj[s - d, :n]
                for r in range(n):
                    asrc[r] += w * dj[r]


def _forward(theta, X, Z, A, bounds, tile, net):
    """Z, A (n_nodes, m), (n_units, m): the forward pass, block by block of rows."""
    for b in range(bounds.shape[0] - 1):
        for r0 in range(bounds[b], bounds[b + 1], tile):
            n = min(bounds[b + 1], r0 + tile) - r0
            _forward_tile(theta, X, Z, A, r0, n, r0, net)


def _eta(theta, X, eta, bounds, tile, n_nodes, out_rows, net):
    """η (m, K) only: each tile of rows goes through tile-sized scratch that stays in the
    L1 cache (Z and A are never written)."""
    n_units = net[1].shape[0]
    for b in range(bounds.shape[0] - 1):
        Zt = np.empty((n_nodes, tile))
        At = np.empty((n_units, tile))
        for r0 in range(bounds[b], bounds[b + 1], tile):
            n = min(bounds[b + 1], r0 + tile) - r0
            _forward_tile(theta, X, Zt, At, r0, n, _ZERO, net)
            for k in range(out_rows.shape[0]):
                zk = Zt[out_rows[k]]
                for r in range(n):
                    eta[r0 + r, k] = zk[r]


def _jacobian(theta, Z, A, Jt, bounds, tile, out_rows, net):
    """``Jᵀ`` (K, Pn, m): the reverse pass seeded at each output, tile by tile."""
    for b in range(bounds.shape[0] - 1):
        adj = np.empty((A.shape[0], tile))
        for r0 in range(bounds[b], bounds[b + 1], tile):
            r1 = min(bounds[b + 1], r0 + tile)
            for k in range(Jt.shape[0]):
                _reverse_tile(theta, Z, A, adj, Jt[k], r0, out_rows[k], r0, r1, net)


def _grad(theta, Z, A, G, part, bounds, tile, out_rows, net):
    """``part[b][p] = Σ_r Σ_k G[r, k] ∂η_k/∂θ_p`` over block b's rows: the reverse pass
    seeded with G (m, K), J never formed (part: (blocks, Pn), zeros)."""
    lay, code, e_unit, e_src, e_par, b_unit, b_par = net
    d = Z.shape[0] - A.shape[0]
    for b in range(bounds.shape[0] - 1):
        adj = np.empty((A.shape[0], tile))
        pb = part[b]
        for r0 in range(bounds[b], bounds[b + 1], tile):
            r1 = min(bounds[b + 1], r0 + tile)
            n = r1 - r0
            seed_adjoint(adj, G, out_rows, r0, n)
            for li in range(lay.shape[0] - 1, -1, -1):
                a0, nu, e0, e1, b1 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
                b0 = lay[li - 1, 4] if li > 0 else 0
                for j in range(a0, a0 + nu):
                    d1_row(code[j], A[j, r0:r1], Z[d + j, r0:r1], adj[j, :n])
                for i in range(b0, b1):
                    pb[b_par[i]] += sum_(adj[a0 + b_unit[i]], n)
                for e in range(e0, e1):
                    dj = adj[a0 + e_unit[e]]
                    s = e_src[e]
                    pb[e_par[e]] += sum_prod(dj, Z[s, r0:r1], n)
                    if s >= d:
                        w = theta[e_par[e]]
                        asrc = adj[s - d]
                        for r in range(n):
                            asrc[r] += w * dj[r]


def _fisher(theta, Z, A, w, part, P, bounds, tile, out_row, net):
    """``part[b][p, q] = Σ_r w_r J[p, r] J[q, r]`` (q ≤ p) over block b's rows for one
    output, P = Pn parameters: each tile's Jacobian is built in scratch and added while it
    is still in the cache (part: (blocks, Pn·Pn), zeros)."""
    for b in range(bounds.shape[0] - 1):
        adj = np.empty((A.shape[0], tile))
        Jtile = np.empty((P, tile))
        JW = np.empty((P, tile))
        wtile = np.empty(tile)
        pb = part[b].reshape((P, P))
        for r0 in range(bounds[b], bounds[b + 1], tile):
            r1 = min(bounds[b + 1], r0 + tile)
            _reverse_tile(theta, Z, A, adj, Jtile, _ZERO, out_row, r0, r1, net)
            for r in range(r1 - r0):
                wtile[r] = w[r0 + r]
            gram_tile(Jtile, wtile, pb, r1 - r0, JW)


def _fisher_x(theta, X, eta, part, P, ones, bounds, tile, n_nodes, out_row, net, krows, kthr,
              flags):
    """``part[b][p, q] = Σ_r J[p, r] J[q, r]`` (q ≤ p) over block b's rows for one output,
    P = Pn parameters, straight from X: each
    tile of rows goes forward, back into a Jacobian tile and into the Gram sums while
    in the L1 cache (Z and A are never written); η goes to ``eta`` (m,). ``flags[b]``
    counts block b's entries of the rows ``krows`` of A (the ReLU-type units) at or
    below their bounds ``kthr`` (`symmle.compiled._kinks`): a slope that float64 cannot
    certify, whose result the caller discards."""
    d = X.shape[1]
    n_units = net[1].shape[0]
    for b in range(bounds.shape[0] - 1):
        Zt = np.empty((n_nodes, tile))
        At = np.empty((n_units, tile))
        adj = np.empty((n_units, tile))
        Jtile = np.empty((P, tile))
        JW = np.empty((P, tile))
        pb = part[b].reshape((P, P))
        for r0 in range(bounds[b], bounds[b + 1], tile):
            n = min(bounds[b + 1], r0 + tile) - r0
            _forward_tile(theta, X, Zt, At, r0, n, _ZERO, net)
            for i in range(krows.shape[0]):
                ai, t = At[krows[i]], kthr[i]
                small = 0
                for r in range(n):
                    small += abs(ai[r]) <= t
                flags[b] += small
            zk = Zt[d + out_row]
            for r in range(n):
                eta[r0 + r] = zk[r]
            _reverse_tile(theta, Zt, At, adj, Jtile, _ZERO, out_row, _ZERO, n, net)
            gram_tile(Jtile, ones, pb, n, JW)


_FORWARD = jit()(_forward)
_ETA = jit()(_eta)
_JACOBIAN = jit()(_jacobian)
_GRAD = jit()(_grad)
_FISHER = jit()(_fisher)
_FISHER_X = jit()(_fisher_x)


class FusedProgram:
    """The passes of a `symmle.compiled._program.NumericProgram` with small layers as one
    numba kernel each per chunk of rows, the GIL released.

    The numpy program spends a dozen numpy calls per layer on a chunk; for a small
    network those calls, not the arithmetic, are the cost. Here every edge is one fused
    multiply-add pass over a tile of rows (`TILE` rows, which stay in the L1 cache),
    and the activations are the vectorised kernels of
    `symmle.compiled._numba_kernels`. Used for networks whose units are all identity,
    tanh, sigmoid, silu, relu or leaky_relu and whose layers are small (see
    `supports`); Z and A are laid out exactly as in the numpy program. Every method
    takes ``parallel``: a `symmle.compiled._parallel.ChunkRunner` whose threads share the
    blocks of rows (`run_blocks`; the same bits as without), or None.
    """

    #: rows per tile.
    TILE = 256
    #: rows per tile of the fused Fisher information (its Jacobian tile stays in L1/L2).
    FISHER_TILE = 512
    #: the most edges in one layer (beyond it BLAS is faster than one pass per edge).
    MAX_LAYER_EDGES = 64

    def __init__(self, prog):
        d = prog.n_inputs
        lay, e_unit, e_src, e_par, b_unit, b_par = [], [], [], [], [], []
        for L in prog.layers:
            a0 = L.a_rows.start
            src = np.arange(L.src.start, L.src.stop) if isinstance(L.src, slice) else L.src
            e0 = len(e_unit)
            e_unit += list(L.rows)
            e_src += list(src[L.cols])
            e_par += list(L.w_idx)
            b_unit += list(L.b_units)
            b_par += list(L.b_idx)
            lay.append((a0, L.n_units, e0, len(e_unit), len(b_unit)))
        as_i = lambda x: np.asarray(x, dtype=np.int64).reshape(-1)  # noqa: E731
        self.net = (np.asarray(lay, dtype=np.int64).reshape(-1, 5), unit_codes(prog),
                    as_i(e_unit), as_i(e_src), as_i(e_par), as_i(b_unit), as_i(b_par))
        self.n_nodes = prog.n_nodes
        self.n_params = prog.n_params
        self.out_rows = as_i(prog.out_list) - d  # the outputs' rows in A
        self._ones = np.ones(self.FISHER_TILE)  # the Gram weights of `fisher_x` (read only)

    @classmethod
    def supports(cls, prog) -> bool:
        """Whether every unit has a fused activation and every layer at most
        `MAX_LAYER_EDGES` edges."""
        return supports_activations(prog) and all(
            len(L.w_idx) <= cls.MAX_LAYER_EDGES for L in prog.layers)

    def bounds(self, m):
        """The blocks of m rows (`block_bounds`)."""
        return block_bounds(m, self.n_nodes, self.TILE)

    @cached_property
    def min_split_rows(self):
        """The fewest rows that `bounds` cuts into several blocks."""
        return min_split_rows(self.bounds)

    def forward(self, theta, X, Z, A, parallel=None):
        bounds, X = self.bounds(X.shape[0]), as_float(X)
        run_blocks(lambda i, j: _FORWARD(theta, X, Z, A, bounds[i:j + 1], self.TILE, self.net),
                   len(bounds) - 1, parallel)

    def eta(self, theta, X, parallel=None, bounds=None):
        """η (m, K) of the rows of X, Z and A never written; ``bounds``: the blocks (default
        `bounds`)."""
        eta = np.empty((X.shape[0], len(self.out_rows)))
        out_rows = self.out_rows + (self.n_nodes - len(self.net[1]))
        bounds = self.bounds(X.shape[0]) if bounds is None else bounds
        X = as_float(X)
        run_blocks(lambda i, j: _ETA(theta, X, eta, bounds[i:j + 1], self.TILE, self.n_nodes,
                                     out_rows, self.net), len(bounds) - 1, parallel)
        return eta

    def jacobian_t(self, theta, Z, A, Jt, parallel=None):
        bounds = self.bounds(Z.shape[1])
        run_blocks(lambda i, j: _JACOBIAN(theta, Z, A, Jt, bounds[i:j + 1], self.TILE,
                                          self.out_rows, self.net), len(bounds) - 1, parallel)

    def grad(self, theta, Z, A, G, parallel=None):
        """``Σ_rows Σ_k G_k ∂η_k/∂θ`` (Pn,) by the reverse pass over tiles of rows."""
        bounds, G = self.bounds(Z.shape[1]), as_float(G)
        out = np.zeros(len(theta))
        part = np.zeros((len(bounds) - 1, len(theta)))
        run_blocks(lambda i, j: _GRAD(theta, Z, A, G, part[i:j], bounds[i:j + 1], self.TILE,
                                      self.out_rows, self.net), len(bounds) - 1, parallel)
        add_blocks(part, out)
        return out

    def gram_applies(self) -> bool:
        """Whether `fisher` and `fisher_x` apply: one output, at most `GRAM_MAX_P`
        parameters."""
        return len(self.out_rows) == 1 and self.n_params <= GRAM_MAX_P

    def chunk_bounds(self, chunks, gram=False):
        """The blocks of consecutive chunks of rows as one array of row bounds
        (`symmle.compiled._numba_blocks.chunked_bounds`); ``gram``: those of `fisher_x`."""
        return chunked_bounds(chunks, self.gram_bounds if gram else self.bounds)

    def gram_bounds(self, m):
        """The blocks of m rows of `fisher` and `fisher_x`."""
        return block_bounds(m, self.n_nodes, self.FISHER_TILE)

    def _gram_buffers(self, m, bounds=None):
        bounds = self.gram_bounds(m) if bounds is None else bounds
        P = self.n_params
        return bounds, np.zeros((len(bounds) - 1, P * P)), np.zeros((P, P))

    def fisher(self, theta, Z, A, w, parallel=None):
        """``Σ_r w_r J_r J_rᵀ`` (Pn, Pn) for one output, J never formed beyond one tile;
        None with several outputs or more than `GRAM_MAX_P` parameters."""
        if not self.gram_applies():
            return None
        bounds, part, out = self._gram_buffers(Z.shape[1])
        w, P = as_float(w), self.n_params
        run_blocks(lambda i, j: _FISHER(theta, Z, A, w, part[i:j], P, bounds[i:j + 1],
                                        self.FISHER_TILE, self.out_rows[0], self.net),
                   len(bounds) - 1, parallel)
        add_blocks(part, out.reshape(-1))
        return from_lower(out)

    def fisher_x(self, theta, X, c, parallel=None, bounds=None, kinks=None):
        """``(c Σ_r J_r J_rᵀ, η)`` for one output and a constant weight c, straight from the
        rows of X; None with several outputs or more than `GRAM_MAX_P` parameters.
        ``bounds``: the blocks (default `gram_bounds`). ``kinks``: ``(rows, bounds)`` of the
        ReLU-type units' pre-activations (`symmle.compiled._kinks`); None also when one of
        them is at or below its bound (its slope needs the exact sign: the caller's forward
        pass certifies it)."""
        if not self.gram_applies():
            return None
        bounds, part, out = self._gram_buffers(X.shape[0], bounds)
        eta = np.empty(X.shape[0])
        krows, kthr = (_NO_KINKS, _NO_KINKS_THR) if kinks is None else kinks
        flags = np.zeros(len(bounds) - 1, dtype=np.int64)
        X, P = as_float(X), self.n_params
        run_blocks(lambda i, j: _FISHER_X(theta, X, eta, part[i:j], P, self._ones,
                                          bounds[i:j + 1], self.FISHER_TILE, self.n_nodes,
                                          self.out_rows[0], self.net, krows, kthr, flags[i:j]),
                   len(bounds) - 1, parallel)
        if flags.any():
            return None
        add_blocks(part, out.reshape(-1))
        return c * from_lower(out), eta[:, None]
