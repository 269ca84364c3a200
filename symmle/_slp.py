"""The network as a straight-line program, differentiated by the chain rule.

Every unit ``v`` is two program variables: its pre-activation
``a_v = Σ_u w_uv h_u + b_v`` and its activation ``h_v = σ_v(a_v)``. The only
nonlinear pieces are the activations, and their first two derivatives come
from sympy: ``sympy.diff`` of the registry's sympy form, rewritten through
``h = σ(z)`` where that shortens it (``tanh' = 1 - h²``), lambdified once per
activation (`activation_pieces`). Everything else is linear algebra on
the layers of `Architecture.layers`.

Two consumers:

* `NumericProgram` — the numeric forward pass, the reverse pass for
  ``gᵀJ`` (the score, without forming ``J``), the per-row Jacobian
  ``Jᵀ`` (K, P, m) for the Fisher information, and an exact Hessian of
  ``Σ_k g_k η_k`` by forward-over-reverse differentiation (the second-order
  chain rule, batched over all parameter directions). Arrays are laid out as
  (units, rows), float64, so every layer is one BLAS product.
* `symbolic_jacobian` — the same reverse accumulation on sympy
  expressions: ``∂η_k/∂w_uv = δ_kv h_u`` and ``∂η_k/∂b_v = δ_kv`` with
  ``δ_kv = σ_v'(a_v) Σ_w w_vw δ_kw``, built from shared subexpressions
  instead of differentiating one expanded expression tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import math

import numpy as np
import sympy as sp

from .activations import NUMPY_FUNCTIONS, get_activation

__all__ = ["activation_pieces", "NumericProgram", "Workspace", "symbolic_preactivations",
           "symbolic_gradient", "symbolic_jacobian"]

_MODULES = [NUMPY_FUNCTIONS, "scipy", "numpy"]


@dataclass(frozen=True)
class _Piece:
    """A compiled function of ``(z, h)``; ``const`` is set when it is a constant."""

    expr: sp.Expr
    args: tuple  # the symbols (z, h)
    fn: object
    const: float | None

    def __call__(self, z, h):
        if self.const is not None:
            return self.const
        return self.fn(z, h)


@dataclass(frozen=True)
class ActivationPieces:
    """σ (numerically stable numpy form) and σ', σ'' as compiled sympy pieces."""

    name: str
    value: object
    d1: _Piece
    d2: _Piece
    linear: bool


def _piece(expr, z, h):
    expr = sp.sympify(expr)
    if not expr.free_symbols:
        return _Piece(expr, (z, h), None, float(expr))
    return _Piece(expr, (z, h), sp.lambdify((z, h), expr, modules=_MODULES), None)


@lru_cache(maxsize=None)
def activation_pieces(name: str) -> ActivationPieces:
    """σ, σ' and σ'' of a registry activation, derived by sympy and compiled once.

    The derivatives are written in terms of ``z`` and ``h = σ(z)``.

    Examples
    --------
    >>> from symmle._slp import activation_pieces
    >>> p = activation_pieces("tanh")
    >>> p.d1.expr
    1 - _h**2
    >>> bool(np.isclose(p.d1(0.3, np.tanh(0.3)), 1 - np.tanh(0.3) ** 2))
    True
    """
    act = get_activation(name)
    z, h = sp.Dummy("z", real=True), sp.Dummy("h", real=True)
    f = act.sympy(z)
    d1 = sp.diff(f, z)
    d2 = sp.diff(d1, z)
    if f != z:
        d1, d2 = d1.subs(f, h), d2.subs(f, h)
    return ActivationPieces(name, act.numpy, _piece(d1, z, h), _piece(d2, z, h),
                            act.linear)


# ------------------------------------------------------------------ numeric
class Workspace:
    """Named scratch buffers reused from one chunk of rows (and one call) to the next.

    A fresh array of 0.1–4 MiB is a new memory mapping for the C allocator,
    and touching its pages costs more than the arithmetic on them: on a 2-core
    VM the page faults of one chunk's arrays took ≈ 1.7 ms for 14 285 rows
    of mlp(2, 3, 1), 2–3× the evaluation itself. Each buffer grows to the
    largest size asked for under its name; `get` returns a C-contiguous
    view of the requested shape. Arrays over `MAX_KEEP_BYTES` are not kept
    (numpy maps those with huge pages, whose faults are few, and a model
    should not hold tens of MiB per thread between calls). Not thread-safe: one
    workspace per thread.

    Examples
    --------
    >>> from symmle._slp import Workspace
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


class NumericProgram:
    """The numeric straight-line program of an `symmle.architecture.Architecture`.

    All arrays are (units, m) for a chunk of m rows. θ here is the network
    part only (length ``n_params``).

    Examples
    --------
    >>> from symmle._slp import NumericProgram
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
        #: that return False when they cannot take the arrays (``symmle._numba``); the
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
            names = [arch.graph.nodes[v]["activation"] for v in L.units]
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
        #: `symmle._numba.FusedProgram` when asked for and supported, else None.
        self.fused = None
        #: `symmle._numba.LayeredProgram` (the forward pass as one call per chunk) when
        #: asked for, supported, and the fused program is not; else None.
        self.layered = None
        if fused:
            from ._numba import FusedProgram, LayeredProgram

            if FusedProgram.supports(self):
                self.fused = FusedProgram(self)
            elif LayeredProgram.supports(self):
                self.layered = LayeredProgram(self)

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

    def forward(self, weights, X, ws=None):
        """Activations ``Z`` (n_nodes, m) (inputs first) and pre-activations ``A`` (n_units, m).

        With a `Workspace` ``ws``, Z and A live in its buffers ``"Z"`` and ``"A"``.
        """
        m = X.shape[0]
        Z = _empty(ws, "Z", (self.n_nodes, m))
        A = _empty(ws, "A", (self.n_units, m))
        if self.fused is not None:
            self.fused.forward(weights.theta, X, Z, A)
            return Z, A
        if self.layered is not None:
            self.layered.forward(weights.packed, X, Z, A)
            return Z, A
        Z[: self.n_inputs] = X.T
        for L, (W, b) in zip(self.layers, weights):
            a = A[L.a_rows]
            np.matmul(W, Z[L.src], out=a)
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
        return Z, A

    def eta(self, Z):
        """η (m, K) from the activations."""
        return Z[self.out].T

    def eta_only(self, weights, X, ws=None):
        """η (m, K) when nothing else of the forward pass is needed: the fused numba program
        keeps each tile of rows in cache and never writes Z and A."""
        if self.fused is not None:
            T = self.fused.TILE
            return self.fused.eta(weights.theta, X, _empty(ws, "Zt", (self.n_nodes, T)),
                                  _empty(ws, "At", (self.n_units, T)))
        Z, _ = self.forward(weights, X, ws)
        return self.eta(Z)

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
        G = np.matmul(delta, np.swapaxes(Hs, -1, -2))  # (..., U, S)
        if L.dense:
            return G.reshape(G.shape[:-2] + (-1,))
        return G[..., L.rows, L.cols]

    def fused_fisher(self, weights, Z, A, w, ws=None):
        """``Σ_rows w J Jᵀ`` (Pn, Pn) for one output by the fused numba kernel (J formed one
        tile of rows at a time), or None when it does not apply."""
        if self.fused is None:
            return None
        T = self.fused.FISHER_TILE
        return self.fused.fisher(weights.theta, Z, A, w,
                                 _empty(ws, "adjU", (self.n_units, Z.shape[1])),
                                 _empty(ws, "Jtile", (self.n_params, T)), _empty(ws, "wtile", (T,)))

    def fused_fisher_x(self, weights, X, c, ws=None):
        """``(c Σ_rows J Jᵀ, η)`` for one output and a constant weight c straight from the rows
        of X by the fused numba kernel (each tile of rows forward, back and into the Gram sums
        in cache), or None when it does not apply."""
        if self.fused is None:
            return None
        T = self.fused.FISHER_TILE
        return self.fused.fisher_x(weights.theta, X, c, _empty(ws, "Zt5", (self.n_nodes, T)),
                                   _empty(ws, "At5", (self.n_units, T)),
                                   _empty(ws, "adj5", (self.n_units, T)),
                                   _empty(ws, "Jtile", (self.n_params, T)))

    # ---------------------------------------------------------- reverse
    def grad(self, weights, Z, A, g, ws=None):
        """``Σ_rows Σ_k g_k ∂η_k/∂θ`` (Pn,) by one reverse pass; g has shape (m, K)."""
        if self.fused is not None:
            return self.fused.grad(weights.theta, Z, A, g,
                                   _empty(ws, "adjT", (self.n_units, self.fused.TILE)))
        if self.layered is not None:
            return self.layered.grad(weights.packed, Z, A, g,
                                     _empty(ws, "adjU", (self.n_units, Z.shape[1])))
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
                back = np.matmul(W.T, delta, out=_empty(ws, "back", (L.n_src, Z.shape[1])))
                if isinstance(L.src, slice):
                    adj[L.src] += back
                else:
                    np.add.at(adj, L.src, back)
        return out

    def jacobian_t(self, weights, Z, A, ws=None):
        """``Jᵀ``: ∂η_k/∂θ_p per row, shape (K, Pn, m) (in the buffer ``"Jt"`` of ``ws``)."""
        K, m = self.n_outputs, Z.shape[1]
        # every entry is written below: each θ_p is in one layer
        Jt = _empty(ws, "Jt", (K, self.n_params, m))
        if self.fused is not None:
            self.fused.jacobian_t(weights.theta, Z, A, Jt, _empty(ws, "adjU", (self.n_units, m)))
            return Jt
        adj = _zeros(ws, "adjK", (K, self.n_nodes, m))
        adj[np.arange(K), self.out_list] = 1.0
        for L, (W, _) in zip(reversed(self.layers), reversed(weights)):
            delta = self._d1(L, A, Z, adj[:, L.units])  # (K, U, m)
            Hs = Z[L.src]  # (S, m)
            if L.dense and L.w_slice is not None:
                block = Jt[:, L.w_slice].reshape(K, L.n_units, L.n_src, m)
                np.multiply(delta[:, :, None, :], Hs[None, None, :, :], out=block)
            else:
                Jt[:, L.w_idx] = delta[:, L.rows] * Hs[L.cols]
            if len(L.b_idx):
                Jt[:, L.b_idx] = delta[:, L.b_units]
            if not L.src_inputs_only:
                back = np.matmul(W.T, delta, out=_empty(ws, "back", (K, L.n_src, m)))
                if isinstance(L.src, slice):
                    adj[:, L.src] += back
                else:
                    for j, s in enumerate(L.src):
                        adj[:, s] += back[:, j]
        return Jt

    # ------------------------------------------------ second order (exact)
    def hessian_g_eta(self, weights, Z, A, g):
        """``Σ_rows Σ_k g_k ∂²η_k/∂θ∂θᵀ`` (Pn, Pn), g (m, K) held fixed.

        Forward-over-reverse: tangents of every program variable along all Pn
        parameter directions at once (arrays (Pn, units, m)), then the reverse
        pass differentiated along them (the second-order chain rule).
        """
        P, m, d = self.n_params, Z.shape[1], self.n_inputs
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


# ----------------------------------------------------------------- symbolic
def symbolic_preactivations(arch) -> dict:
    """``{unit: a_v}``: each unit's pre-activation as a sympy expression of x and θ."""
    g = arch.graph
    h = arch.unit_expressions
    p = arch.params
    out = {}
    for v in arch._unit_order:
        a = sp.Add(*[p[arch.edge_index[(u, v)]] * h[u]
                     for u in sorted(g.predecessors(v), key=arch._sort_key)])
        if v in arch.bias_index:
            a = a + p[arch.bias_index[v]]
        out[v] = a
    return out


def _unit_derivatives(arch):
    h = arch.unit_expressions
    a = symbolic_preactivations(arch)
    d1 = {}
    for v in arch._unit_order:
        piece = activation_pieces(arch.graph.nodes[v]["activation"]).d1
        z, hz = piece.args
        d1[v] = piece.expr.xreplace({z: a[v], hz: h[v]})
    return h, d1


def symbolic_gradient(arch, seeds, _cache=None) -> list:
    """``Σ_k seeds_k ∂η_k/∂θ`` (list of P expressions) by one symbolic reverse pass.

    With ``seeds = ∂ℓ/∂η`` this is the score of the network parameters; the
    cost is one product per edge, whatever the number of outputs.

    Examples
    --------
    >>> from symmle._slp import symbolic_gradient
    >>> arch = sm.mlp(1, 1, 1, activation="tanh")
    >>> symbolic_gradient(arch, [sp.Symbol("g")])
    [W2_1_1*g*x1*(1 - tanh(W1_1_1*x1 + b1_1)**2), W2_1_1*g*(1 - tanh(W1_1_1*x1 + b1_1)**2), g*tanh(W1_1_1*x1 + b1_1), g]
    """
    g = arch.graph
    h, d1 = _unit_derivatives(arch) if _cache is None else _cache
    p = arch.params
    grad = [sp.S.Zero] * arch.n_params
    adj = {}
    for out, seed in zip(arch.output_nodes, seeds):
        if seed != 0:
            adj.setdefault(out, []).append(sp.sympify(seed))
    for v in reversed(arch._unit_order):
        terms = adj.pop(v, None)
        if not terms:
            continue
        delta = d1[v] * sp.Add(*terms)
        if delta == 0:
            continue
        for u in g.predecessors(v):
            grad[arch.edge_index[(u, v)]] = delta * h[u]
            if g.nodes[u]["role"] != "input":
                adj.setdefault(u, []).append(p[arch.edge_index[(u, v)]] * delta)
        if v in arch.bias_index:
            grad[arch.bias_index[v]] = delta
    return grad


def symbolic_jacobian(arch) -> sp.Matrix:
    """``∂η/∂θ`` (K × P) by reverse accumulation through the straight-line program.

    Examples
    --------
    >>> from symmle._slp import symbolic_jacobian
    >>> arch = sm.mlp(2, 2, 1)
    >>> J = symbolic_jacobian(arch)
    >>> J == arch.output.jacobian(list(arch.params))
    True
    """
    cache = _unit_derivatives(arch)
    K = arch.n_outputs
    return sp.Matrix([symbolic_gradient(arch, [sp.S.One if j == k else sp.S.Zero for j in range(K)],
                                        cache) for k in range(K)])
