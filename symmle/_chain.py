"""The network's chain rule: activation derivatives from sympy and symbolic reverse passes.

Every unit ``v`` is two program variables: its pre-activation
``a_v = Σ_u w_uv h_u + b_v`` and its activation ``h_v = σ_v(a_v)``. The only
nonlinear pieces are the activations, and their first two derivatives come
from sympy: ``sympy.diff`` of the registry's sympy form, rewritten through
``h = σ(z)`` where that shortens it (``tanh' = 1 - h²``), lambdified once per
activation (`activation_pieces`); numerically, an activation's own stable forms from the
pre-activation replace them where it has some (tanh: ``sech²(z)``, not ``1 - h²``).

`symbolic_gradient` and `symbolic_jacobian` are the reverse accumulation on sympy
expressions that `symmle.model.Model` builds its score and Jacobian from:
``∂η_k/∂w_uv = δ_kv h_u`` and ``∂η_k/∂b_v = δ_kv`` with
``δ_kv = σ_v'(a_v) Σ_w w_vw δ_kw``, built from shared subexpressions instead of
differentiating one expanded expression tree. The numeric program of the same
network is `symmle.compiled._program.NumericProgram`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .activations import NUMPY_FUNCTIONS, get_activation

__all__ = ["ActivationPieces", "activation_pieces", "symbolic_gradient", "symbolic_jacobian",
           "symbolic_preactivations"]

#: lambdify's modules: the registry's numpy forms first, then scipy and numpy.
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


def _piece(expr, z, h, of_z=None):
    """The piece of ``expr``; numerically ``of_z(z)`` when given (the activation's stable form
    of the derivative from the pre-activation, `symmle.activations.Activation.numpy_d1`)."""
    expr = sp.sympify(expr)
    if not expr.free_symbols:
        return _Piece(expr, (z, h), None, float(expr))
    if of_z is not None:
        return _Piece(expr, (z, h), lambda zv, hv: of_z(zv), None)
    return _Piece(expr, (z, h), sp.lambdify((z, h), expr, modules=_MODULES), None)


@lru_cache(maxsize=None)
def activation_pieces(name: str) -> ActivationPieces:
    """σ, σ' and σ'' of a registry activation, derived by sympy and compiled once.

    The derivatives are written in terms of ``z`` and ``h = σ(z)``.

    Examples
    --------
    >>> from symmle._chain import activation_pieces
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
    return ActivationPieces(name, act.numpy, _piece(d1, z, h, act.numpy_d1),
                            _piece(d2, z, h, act.numpy_d2), act.linear)


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
    >>> from symmle._chain import symbolic_gradient
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
    >>> from symmle._chain import symbolic_jacobian
    >>> arch = sm.mlp(2, 2, 1)
    >>> J = symbolic_jacobian(arch)
    >>> J == arch.output.jacobian(list(arch.params))
    True
    """
    cache = _unit_derivatives(arch)
    K = arch.n_outputs
    return sp.Matrix([symbolic_gradient(arch, [sp.S.One if j == k else sp.S.Zero for j in range(K)],
                                        cache) for k in range(K)])
