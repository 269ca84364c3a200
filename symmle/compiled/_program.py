"""The numeric straight-line program of a network: forward, reverse and second-order passes.

Every unit is two program variables, its pre-activation ``a`` and its activation
``h = σ(a)`` (`symmle._chain`). `NumericProgram` holds the numeric forward pass,
the reverse pass for ``gᵀJ`` (the score, without forming ``J``), the per-row
Jacobian ``Jᵀ`` (K, P, m) or, seeded with a factor R of the weight, ``J R`` (P, K, m) for
the Fisher information, and an exact Hessian of
``Σ_k g_k η_k`` by forward-over-reverse differentiation (the second-order chain
rule, batched over all parameter directions). Arrays are laid out as (units, rows),
float64, so every layer is one BLAS product (cut to a size BLAS runs on the calling
thread, `symmle.compiled._blas`). With the numba backend, small or layered networks
run as numba programs instead (`symmle.compiled._numba_fused`,
`symmle.compiled._numba_layered`). `Workspace` keeps each thread's scratch buffers
between chunks of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._chain import activation_pieces
from ..errors import SymmleValueError
from ._blas import BLAS_MIN_ROWS, BLAS_ONE_THREAD_MACS, matmul_cols, matmul_rows
from ._kinks import KinkGuard

__all__ = ["NumericProgram", "Workspace"]


class Workspace:
    """Named scratch buffers reused from one chunk of rows (and one call) to the next.

    A fresh array of 0.1–4 MiB is a new memory mapping for the C allocator,
    and touching its pages can cost more than the arithmetic on them
    (docs/performance.md, "Memory"). Each buffer grows to the
    largest size asked for under its name; `get` returns a C-contiguous
    view of the requested shape. Arrays over `MAX_KEEP_BYTES` are not kept
    (numpy maps those with huge pages, whose faults are few, and a model
    should not hold tens of MiB per thread between calls). Not thread-safe: one
    workspace per thread.

    Examples
    --------
    >>> from symmle.compiled._program import Workspace
    >>> ws = Workspace()
    >>> a = ws.get("Z", (3, 4))
    >>> b = ws.get("Z", (3, 3))  # the same memory, another shape
    >>> bool(np.shares_memory(a, b)), b.flags.c_contiguous
    (True, True)
    >>> ws.zeros("adj", (2, 2)).sum()
    np.float64(0.0)
    """

    __slots__ = ("_bufs",)

    #: the largest buffer kept between uses (bytes).
    MAX_KEEP_BYTES = 8 * 2 ** 20

    def __init__(self):
        self._bufs = {}

    def get(self, name, shape) -> np.ndarray:
        """An uninitialised float64 array of ``shape`` in the buffer ``name``."""
        size = math.prod(shape)
        if 8 * size > self.MAX_KEEP_BYTES:
            return np.empty(shape)
        buf = self._bufs.get(name)
        if buf is None or buf.size < size:
            buf = self._bufs[name] = np.empty(max(size, 1))
        return buf[:size].reshape(shape)

    def zeros(self, name, shape) -> np.ndarray:
        out = self.get(name, shape)
        out.fill(0.0)
        return out


def _empty(ws, name, shape):
    return np.empty(shape) if ws is None else ws.get(name, shape)


def _zeros(ws, name, shape):
    return np.zeros(shape) if ws is None else ws.zeros(name, shape)


@dataclass(frozen=True)
class _NumLayer:
    units: slice  # rows of this layer's units in the activation array Z
    a_rows: slice  # the same units' rows in the pre-activation array A
    src: object  # rows of the sources in Z: a slice when contiguous, else an index array
    src_inputs_only: bool
    n_units: int
    n_src: int
    dense: bool  # weights are all (unit, source) pairs in row-major order
    rows: np.ndarray
    cols: np.ndarray
    w_idx: np.ndarray
    w_slice: slice | None  # weight_idx as a slice when contiguous
    b_units: np.ndarray
    b_idx: np.ndarray
    groups: tuple  # ((ActivationPieces, None for all units or their positions), ...)


def _as_slice(idx):
    idx = np.asarray(idx, dtype=np.intp)
    if idx.size and np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        return slice(int(idx[0]), int(idx[0]) + idx.size)
    return idx


class _Weights(list):
    theta = None
    packed = None
    absolute = None  # |W|, |b| per layer for the kink bounds (`symmle.compiled._kinks`)


class NumericProgram:
    """The numeric straight-line program of an `symmle.architecture.Architecture`.

    All arrays are (units, m) for a chunk of m rows. θ here is the network
    part only (length ``n_params``).

    Examples
    --------
    >>> from symmle.compiled._program import NumericProgram
    >>> arch = sm.mlp(2, 3, 1)
    >>> prog = NumericProgram(arch)
    >>> theta = np.linspace(-1, 1, 13)
    >>> X = np.array([[0.5, -1.0], [2.0, 0.1]])
    >>> Z, A = prog.forward(prog.weights(theta), X)
    >>> bool(np.allclose(prog.eta(Z), arch.forward(theta, X)))
    True
    """

    def __init__(self, arch, kernels=None, fused=False):
        self.arch = arch
        #: ``{activation name: kernel}`` with ``value_into(a, out)`` and ``d1_mul(a, h, adj)``
        #: that return False when they cannot take the arrays
        #: (`symmle.compiled._numba_kernels`); the
        #: numpy forms are used for every other activation.
        self.kernels = dict(kernels or {})
        d = arch.n_inputs
        pos = {v: i for i, v in enumerate(arch.input_nodes)}
        k = d
        for L in arch.layers:
            for v in L.units:
                pos[v] = k
                k += 1
        self.n_inputs = d
        self.n_nodes = k
        self.n_units = k - d
        self.n_params = arch.n_params
        self.n_outputs = arch.n_outputs
        self.out = _as_slice([pos[v] for v in arch.output_nodes])
        self.out_list = np.array([pos[v] for v in arch.output_nodes], dtype=np.intp)
        layers = []
        for L in arch.layers:
            U, S = len(L.units), len(L.sources)
            start = pos[L.units[0]]
            src = np.array([pos[u] for u in L.sources], dtype=np.intp)
            dense = (len(L.rows) == U * S and np.array_equal(L.rows, np.repeat(np.arange(U), S))
                     and np.array_equal(L.cols, np.tile(np.arange(S), U)))
            names = [arch.activation_of(v).name for v in L.units]  # the graph stays unbuilt
            groups = []
            for name in dict.fromkeys(names):
                members = [j for j, n in enumerate(names) if n == name]
                sel = None if len(members) == U else _as_slice(members)
                groups.append((activation_pieces(name), sel))
            w_slice = _as_slice(L.weight_idx) if len(L.weight_idx) else None
            layers.append(_NumLayer(
                units=slice(start, start + U), a_rows=slice(start - d, start - d + U),
                src=_as_slice(src), src_inputs_only=bool(np.all(src < d)), n_units=U, n_src=S,
                dense=dense, rows=L.rows, cols=L.cols, w_idx=L.weight_idx,
                w_slice=w_slice if isinstance(w_slice, slice) else None,
                b_units=L.bias_units, b_idx=L.bias_idx, groups=tuple(groups)))
        self.layers = tuple(layers)
        #: `symmle.compiled._kinks.KinkGuard` when some unit is ReLU-type (its slope is then
        #: taken from the sign of the exact pre-activation), else None.
        self.kinks = KinkGuard(self) if KinkGuard.applies(self) else None
        #: whether a layer that reads hidden units reads inputs too (then the numpy forward
        #: pass needs the inputs among Z's rows even for η alone)
        self.mixed_inputs = any(not L.src_inputs_only and np.any(np.asarray(
            [pos[u] for u in AL.sources]) < d) for L, AL in zip(layers, arch.layers))
        #: whether some layer's product has more multiply–adds per row than BLAS keeps on
        #: the calling thread over `BLAS_MIN_ROWS` rows (wide inputs, `mlp(784, 32, 10)`):
        #: such products are one BLAS call per chunk, which BLAS may thread
        self.wide = any(L.n_units * L.n_src * BLAS_MIN_ROWS > BLAS_ONE_THREAD_MACS
                        for L in layers)
        #: `symmle.compiled._numba_fused.FusedProgram` when asked for and supported,
        #: else None.
        self.fused = None
        #: `symmle.compiled._numba_layered.LayeredProgram` (the forward pass and the score
        #: as numba calls with a BLAS product per layer) when asked for, supported, and the
        #: fused program is not; else None.
        self.layered = None
        if fused:
            # numba is an optional dependency: imported only when its backend is asked for
            from ._numba_fused import FusedProgram
            from ._numba_layered import LayeredProgram

            if FusedProgram.supports(self):
                self.fused = FusedProgram(self)
            elif LayeredProgram.supports(self):
                self.layered = LayeredProgram(self)
            if self.kinks is not None:
                from ._numba_kernels import count_small, kink_bounds

                self.kinks.count, self.kinks.bounds = count_small, kink_bounds

    # ------------------------------------------------------------ pieces
    def weights(self, theta):
        """Per-layer dense ``(W (U, S), b (U, 1))`` from the network part of θ (a list that
        also carries θ as ``.theta``)."""
        out = _Weights()
        out.theta = np.ascontiguousarray(theta, dtype=np.float64)
        for L in self.layers:
            if L.dense and L.w_slice is not None:
                W = theta[L.w_slice].reshape(L.n_units, L.n_src)
            else:
                W = np.zeros((L.n_units, L.n_src))
                W[L.rows, L.cols] = theta[L.w_idx]
            b = np.zeros((L.n_units, 1))
            b[L.b_units, 0] = theta[L.b_idx]
            out.append((W, b if len(L.b_idx) else None))
        if self.layered is not None:
            out.packed = self.layered.pack(out)
        return out

    @staticmethod
    def _sel(arr, sel):
        return arr if sel is None else arr[sel]

    @property
    def accelerated(self):
        """The numba program (fused or layered) that runs this program, or None."""
        return self.fused if self.fused is not None else self.layered

    def forward(self, weights, X, ws=None, parallel=False, inputs=True):
        """Activations ``Z`` (n_nodes, m) (inputs first) and pre-activations ``A`` (n_units, m).

        With a `Workspace` ``ws``, Z and A live in its buffers ``"Z"`` and ``"A"``.
        ``parallel``: a `symmle.compiled._parallel.ChunkRunner` whose threads a numba
        program's kernels share their blocks of rows with (the same bits as without).
        ``inputs=False``: the numpy program may leave the inputs' rows of Z unwritten (the
        layers that read inputs alone multiply straight from X's layout, ``W Xᵀ``, without a
        copy of X).
        """
        m = X.shape[0]
        Z = _empty(ws, "Z", (self.n_nodes, m))
        A = _empty(ws, "A", (self.n_units, m))
        if self.fused is not None:
            self.fused.forward(weights.theta, X, Z, A, parallel)
        elif self.layered is not None:
            Zb, Ab, _ = self.forward_blocked(weights, X, ws, parallel)  # certified there
            self.layered.unblock(Zb, Ab, Z, A)
            return Z, A
        else:
            self._forward_numpy(weights, X, Z, A, inputs)
        if self.kinks is not None:  # ReLU-type slopes from the exact sign (`_kinks`)
            self.kinks.certify(weights, X, A)
        return Z, A

    def _forward_numpy(self, weights, X, Z, A, inputs):
        """The numpy forward pass into Z and A (see `forward`)."""
        XT = X.T  # a view: BLAS reads the transposed layout as it is
        if inputs or self.mixed_inputs:
            Z[: self.n_inputs] = XT
        for L, (W, b) in zip(self.layers, weights):
            a = A[L.a_rows]
            matmul_cols(W, XT[L.src] if L.src_inputs_only else Z[L.src], a)
            h = Z[L.units]
            kernel = self.kernels.get(L.groups[0][0].name) if len(L.groups) == 1 else None
            if kernel is not None and kernel.value_into(a, b, h):  # bias and σ in one pass
                continue
            if b is not None:
                a += b
            for pieces, sel in L.groups:
                if sel is None:
                    if isinstance(pieces.value, np.ufunc):
                        pieces.value(a, out=h)
                    else:
                        h[...] = pieces.value(a)
                else:
                    h[sel] = pieces.value(a[sel])

    def eta(self, Z):
        """η (m, K) from the activations."""
        return Z[self.out].T

    def eta_only(self, weights, X, ws=None, parallel=False, bounds=None):
        """η (m, K) when nothing else of the forward pass is needed: the numba programs keep
        each tile or block of rows in scratch and never store Z and A (``bounds``: their
        blocks of rows, default theirs for m rows)."""
        if self.fused is not None:
            return self.fused.eta(weights.theta, X, parallel, bounds)
        if self.layered is not None:
            return self.layered.eta(weights.packed, X, parallel, bounds)
        m = X.shape[0]
        Z = _empty(ws, "Z", (self.n_nodes, m))
        self._forward_numpy(weights, X, Z, _empty(ws, "A", (self.n_units, m)), False)
        return self.eta(Z)  # values only: no kink slope to certify

    def forward_blocked(self, weights, X, ws=None, parallel=False):
        """The layered numba program's forward pass ``(Zb, Ab, η)``, Z and A stored block by
        block of rows (`symmle.compiled._numba_layered.LayeredProgram`), for
        `grad_blocked`."""
        m = X.shape[0]
        Zb = _empty(ws, "Zb", (self.n_nodes * m,))
        Ab = _empty(ws, "Ab", (self.n_units * m,))
        eta = self.layered.forward(weights.packed, X, Zb, Ab, parallel)
        if self.kinks is not None:  # ReLU-type slopes from the exact sign (`_kinks`)
            self.kinks.certify_blocked(weights, X, Ab, self.layered.bounds(m))
        return Zb, Ab, eta

    def grad_blocked(self, weights, Zb, Ab, g, parallel=False):
        """`grad` from the blocks of `forward_blocked` (the layered numba program)."""
        return self.layered.grad(weights.packed, Zb, Ab, g, parallel)

    def _d1(self, L, A, Z, adj):
        """``σ'(a) ⊙ adj`` for the layer's units (adj: (..., U, m)); in place when possible."""
        a, h = A[L.a_rows], Z[L.units]
        for pieces, sel in L.groups:
            if pieces.linear:
                continue
            if sel is None:
                kernel = self.kernels.get(pieces.name)
                if kernel is None or not kernel.d1_mul(a, h, adj):
                    adj *= pieces.d1(a, h)
            else:
                adj[..., sel, :] *= pieces.d1(a[sel], h[sel])
        return adj

    def _d1_values(self, L, A, Z):
        """σ'(a) (U, m), or None when every unit is linear."""
        if all(p.linear for p, _ in L.groups):
            return None
        a, h = A[L.a_rows], Z[L.units]
        out = np.ones((L.n_units, a.shape[1]))
        for pieces, sel in L.groups:
            if not pieces.linear:
                out[slice(None) if sel is None else sel] = pieces.d1(self._sel(a, sel),
                                                                      self._sel(h, sel))
        return out

    def _d2_values(self, L, A, Z):
        """σ''(a) (U, m), or None when it is identically 0."""
        if all(p.d2.const == 0.0 for p, _ in L.groups):
            return None
        a, h = A[L.a_rows], Z[L.units]
        out = np.zeros((L.n_units, a.shape[1]))
        for pieces, sel in L.groups:
            if pieces.d2.const != 0.0:
                out[slice(None) if sel is None else sel] = pieces.d2(self._sel(a, sel),
                                                                      self._sel(h, sel))
        return out

    def _weight_grad(self, L, delta, Hs):
        """``Σ_rows δ_r h_c`` for the layer's weights, in θ order: (..., n_weights)."""
        G = matmul_rows(delta, Hs)  # (..., U, S)
        if L.dense:
            return G.reshape(G.shape[:-2] + (-1,))
        return G[..., L.rows, L.cols]

    def fused_fisher(self, weights, Z, A, w, parallel=False):
        """``Σ_rows w J Jᵀ`` (Pn, Pn) for one output by the fused numba kernel (J formed one
        tile of rows at a time), or None when it does not apply."""
        if self.fused is None:
            return None
        return self.fused.fisher(weights.theta, Z, A, w, parallel)

    def fused_fisher_x(self, weights, X, c, parallel=False, bounds=None):
        """``(c Σ_rows J Jᵀ, η)`` for one output and a constant weight c straight from the rows
        of X by the fused numba kernel (each tile of rows forward, back and into the Gram sums
        in cache), or None when it does not apply."""
        if self.fused is None:
            return None
        kinks = None
        if self.kinks is not None:  # None where a kink's slope needs A (the caller's forward)
            rows = self.kinks.kinked_rows
            kinks = (rows.astype(np.int64), self.kinks.thresholds(weights, X)[rows])
        return self.fused.fisher_x(weights.theta, X, c, parallel, bounds, kinks)

    # ---------------------------------------------------------- reverse
    def grad(self, weights, Z, A, g, ws=None, parallel=False):
        """``Σ_rows Σ_k g_k ∂η_k/∂θ`` (Pn,) by one reverse pass; g has shape (m, K)."""
        if self.fused is not None:
            return self.fused.grad(weights.theta, Z, A, g, parallel)
        out = np.zeros(self.n_params)
        adj = _zeros(ws, "adj", (self.n_nodes, Z.shape[1]))
        adj[self.out_list] = g.T
        for L, (W, _) in zip(reversed(self.layers), reversed(weights)):
            delta = self._d1(L, A, Z, adj[L.units])
            Hs = Z[L.src]
            out[L.w_idx] = self._weight_grad(L, delta, Hs)
            if len(L.b_idx):
                out[L.b_idx] = delta.sum(axis=1)[L.b_units]
            if not L.src_inputs_only:
                back = matmul_cols(W.T, delta, _empty(ws, "back", (L.n_src, Z.shape[1])))
                if isinstance(L.src, slice):
                    adj[L.src] += back
                else:
                    np.add.at(adj, L.src, back)
        return out

    @property
    def seeds_jacobian(self) -> bool:
        """Whether `jacobian_t` takes a ``seed`` (the numpy reverse pass; the fused numba
        program forms ``Jᵀ`` only)."""
        return self.fused is None

    def jacobian_t(self, weights, Z, A, ws=None, parallel=False, seed=None):
        """``Jᵀ``: ∂η_k/∂θ_p per row, shape (K, Pn, m) (in the buffer ``"Jt"`` of ``ws``).

        ``seed`` (m, K, C), a matrix ``R`` per row: the reverse pass for column j is seeded
        with ``R[:, j]`` at the outputs instead of ``e_k`` (the pass is linear in its seed),
        which gives ``B[p, j] = Σ_k J[k, p] R[k, j]`` at the cost of ``Jᵀ``, laid out
        (Pn, C, m) so that ``B.reshape(Pn, C·m)`` is one matrix for ``B Bᵀ`` (in the buffer
        ``"JR"``; only where `seeds_jacobian`). With ``R Rᵀ = W`` that is the Gram factor of
        ``Σ_rows J W Jᵀ`` without forming ``J`` first.
        """
        K, m = self.n_outputs, Z.shape[1]
        if seed is not None:
            if self.fused is not None:
                raise SymmleValueError("jacobian_t: the fused numba program takes no seed; "
                                       "ask seeds_jacobian first")
            C = seed.shape[2]
            # every entry is written below: each θ_p is in one layer
            out = _empty(ws, "JR", (self.n_params, C, m))
            adj = _zeros(ws, "adjK", (C, self.n_nodes, m))
            adj[:, self.out_list] = seed.transpose(2, 1, 0)
            self._reverse_k(weights, Z, A, ws, adj, out, True)
            return out
        # every entry is written below: each θ_p is in one layer
        Jt = _empty(ws, "Jt", (K, self.n_params, m))
        if self.fused is not None:
            self.fused.jacobian_t(weights.theta, Z, A, Jt, parallel)
            return Jt
        adj = _zeros(ws, "adjK", (K, self.n_nodes, m))
        adj[np.arange(K), self.out_list] = 1.0
        self._reverse_k(weights, Z, A, ws, adj, Jt, False)
        return Jt

    def _reverse_k(self, weights, Z, A, ws, adj, out, by_param):
        """The reverse pass of the seeds ``adj`` (C, n_nodes, m) (the outputs' rows set),
        writing ``∂/∂θ_p`` of each into ``out``: (C, Pn, m), or (Pn, C, m) ``by_param``."""
        C, m = adj.shape[0], Z.shape[1]
        for L, (W, _) in zip(reversed(self.layers), reversed(weights)):
            delta = self._d1(L, A, Z, adj[:, L.units])  # (C, U, m)
            Hs = Z[L.src]  # (S, m)
            if by_param:
                d = delta.transpose(1, 0, 2)  # (U, C, m)
                if L.dense and L.w_slice is not None:
                    block = out[L.w_slice].reshape(L.n_units, L.n_src, C, m)
                    np.multiply(d[:, None, :, :], Hs[None, :, None, :], out=block)
                else:
                    out[L.w_idx] = d[L.rows] * Hs[L.cols][:, None, :]
                if len(L.b_idx):
                    out[L.b_idx] = d[L.b_units]
            elif L.dense and L.w_slice is not None:
                block = out[:, L.w_slice].reshape(C, L.n_units, L.n_src, m)
                np.multiply(delta[:, :, None, :], Hs[None, None, :, :], out=block)
            else:
                out[:, L.w_idx] = delta[:, L.rows] * Hs[L.cols]
            if not by_param and len(L.b_idx):
                out[:, L.b_idx] = delta[:, L.b_units]
            if not L.src_inputs_only:
                back = matmul_cols(W.T, delta, _empty(ws, "back", (C, L.n_src, m)))
                if isinstance(L.src, slice):
                    adj[:, L.src] += back
                else:
                    for j, s in enumerate(L.src):
                        adj[:, s] += back[:, j]

    # ------------------------------------------------ second order (exact)
    def hessian_g_eta(self, weights, Z, A, g):
        """``Σ_rows Σ_k g_k ∂²η_k/∂θ∂θᵀ`` (Pn, Pn), g (m, K) held fixed.

        Forward-over-reverse: tangents of every program variable along all Pn
        parameter directions at once (arrays (Pn, units, m)), then the reverse
        pass differentiated along them (the second-order chain rule).
        """
        P, m = self.n_params, Z.shape[1]
        # forward tangents
        Zd = np.zeros((P, self.n_nodes, m))
        Ad = np.zeros((P, self.n_units, m))
        d1s, d2s = [], []
        for L, (W, _) in zip(self.layers, weights):
            ad = Ad[:, L.a_rows]
            if not L.src_inputs_only:
                ad += np.matmul(W, Zd[:, L.src])
            Hs = Z[L.src]
            ad[L.w_idx, L.rows] += Hs[L.cols]
            ad[L.b_idx, L.b_units] += 1.0
            d1 = self._d1_values(L, A, Z)
            d1s.append(d1)
            d2s.append(self._d2_values(L, A, Z))
            Zd[:, L.units] = ad if d1 is None else ad * d1
        # reverse pass and its tangent
        H = np.zeros((P, P))
        adj = np.zeros((self.n_nodes, m))
        adj[self.out_list] = g.T
        adjd = np.zeros((P, self.n_nodes, m))
        for L, (W, _), d1, d2 in zip(reversed(self.layers), reversed(weights),
                                     reversed(d1s), reversed(d2s)):
            lam, lamd = adj[L.units], adjd[:, L.units]
            delta = lam if d1 is None else lam * d1
            deltad = lamd if d1 is None else lamd * d1
            if d2 is not None:
                deltad = deltad + Ad[:, L.a_rows] * (d2 * lam)
            Hs, Hsd = Z[L.src], Zd[:, L.src]
            # ∂/∂θ_p of Σ_rows δ_r h_c
            Hw = self._weight_grad(L, deltad, Hs)  # (P, n_w)
            Hw += self._weight_grad(L, delta, Hsd)
            H[:, L.w_idx] = Hw
            if len(L.b_idx):
                H[:, L.b_idx] = deltad.sum(axis=2)[:, L.b_units]
            if not L.src_inputs_only:
                back = np.matmul(W.T, deltad)  # (P, S, m)
                # the weights' own direction: ∂(Wᵀδ)/∂w_rc = e_c δ_r
                extra = np.zeros_like(back)
                extra[L.w_idx, L.cols] = delta[L.rows]
                back += extra
                b0 = W.T @ delta
                if isinstance(L.src, slice):
                    adjd[:, L.src] += back
                    adj[L.src] += b0
                else:
                    for j, s in enumerate(L.src):
                        adjd[:, s] += back[:, j]
                        adj[s] += b0[j]
        return 0.5 * (H + H.T)


