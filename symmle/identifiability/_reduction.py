"""Sussmann's (1992) reductions: `is_reducible` and `reduce` to a smaller equivalent network.

A reduction removes at least one hidden unit and keeps the function (to the tolerance):

* a unit whose outgoing weights are all zero is dropped;
* a unit whose incoming weights are all zero is a constant, folded into its successors' biases;
* two units with the same activation whose incoming vectors (weights and bias) satisfy
  ``z_v = c·z_u`` merge when ``σ(c z) = α' + β'σ(z) + γ'z``: equal (``c = 1``), opposite
  (``c = -1``) with the activation's negation identity ``σ(-z) = α + βσ(z) + γz`` (odd, sigmoid,
  even, and — through skip edges — softplus, SiLU, GELU, ReLU), positively proportional for a
  positively homogeneous activation, proportional for a monomial ``z^r`` (``β' = c^r``);
* a maximal block of identity units whose composite linear map has rank ``r`` below its number
  of units is replaced by ``r`` identity units (the parts its sinks' direct edges and biases can
  absorb are moved there first).

`_candidates` lists the reductions that can be applied at θ; `is_reducible` is true exactly
when there is one, and `reduce` applies them until none is left, so that `is_reducible(arch, θ)`
holds exactly when `reduce` removes a unit. A reduction that would leave a successor without
inputs, need a bias a successor lacks, or a skip edge that is not there, is not applicable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import networkx as nx
import numpy as np

from .._checks import check_real
from ..activations import get_activation
from ..architecture import Architecture, mlp
from ..errors import ParamsError
from ..model import Model
from ..symmetry._continuous import linear_block_differential, linear_blocks
from ..symmetry._structure import arch_and_model

__all__ = ["is_reducible", "reduce", "REDUCE_TOL", "pair_relation", "similar_pairs"]

#: default tolerance of Sussmann's tests (zero weights, equal, opposite or proportional units,
#: singular values of a linear block's product).
REDUCE_TOL = 1e-10


def check_vector(arch, model, theta, name="theta") -> np.ndarray:
    """θ of ``arch`` (of ``model`` when given) as one float64 vector, copied."""
    P = model.n_params if model is not None else arch.n_params
    theta = arch.check_theta(theta, name=name, n_params=P)
    if theta.ndim != 1:
        raise ParamsError(f"{name} must be one vector of length {P}, got shape {theta.shape}")
    return theta.copy()


def pair_relation(act, xu: np.ndarray, xv: np.ndarray, tol: float):
    """``(α', β', γ', words)`` with ``σ(z_v) = α' + β'σ(z_u) + γ'z_u`` when ``z_v = c z_u``.

    ``xu``, ``xv`` are the incoming vectors (weights from the union of their sources, then the
    bias, 0 where absent) of two units with activation ``act``; None when no such relation
    holds within ``tol`` (max norm).
    """
    if np.max(np.abs(xv - xu)) <= tol:
        return 0.0, 1.0, 0.0, "equal"
    neg = act.negation
    if neg is not None and np.max(np.abs(xv + xu)) <= tol:
        return neg[0], neg[1], neg[2], "opposite"
    nu = float(xu @ xu)
    if nu == 0.0:
        return None
    c = float(xu @ xv) / nu
    if c == 0.0 or np.max(np.abs(xv - c * xu)) > tol:
        return None
    words = f"proportional (factor {c:.6g})"
    if act.linear:
        return 0.0, c, 0.0, words
    if act.polynomial_degree:
        return 0.0, c ** act.polynomial_degree, 0.0, words
    if act.positively_homogeneous:
        if c > 0:
            return 0.0, c, 0.0, words
        if neg is not None:      # σ(cz) = |c|·σ(-z) = |c|(α + βσ(z) + γz)
            return abs(c) * neg[0], abs(c) * neg[1], abs(c) * neg[2], words
    return None


def similar_pairs(units, vectors: dict, act_of, *, zero: float, screen: float) -> list:
    """Pairs ``(u, v)`` of units (u listed first) that may be equal, opposite or proportional.

    A screen for the pairwise tests, so that they do not cost ``O(H²)`` vector operations:
    the units must share the activation (``act_of(u)``) and the support of their incoming
    vectors (``vectors[u]``: a dict source → weight, the bias under the key ``None``; entries
    above ``zero`` in absolute value), and their unit-normalised vectors must agree up to sign
    within ``screen`` (max norm).
    """
    pos = {u: i for i, u in enumerate(units)}
    groups: dict = {}
    for u in units:
        supp = tuple(sorted((k for k, x in vectors[u].items() if abs(x) > zero), key=repr))
        if supp:
            groups.setdefault((act_of(u), supp), []).append(u)
    pairs = []
    for (_, supp), members in groups.items():
        if len(members) < 2:
            continue
        M = np.array([[vectors[u][k] for k in supp] for u in members])
        M = M / np.max(np.abs(M), axis=1)[:, None]  # first to O(1): a subnormal row's norm is 0
        M = M / np.linalg.norm(M, axis=1)[:, None]
        for a in range(len(members) - 1):
            rest = M[a + 1:]
            d = np.minimum(np.max(np.abs(rest - M[a]), axis=1),
                           np.max(np.abs(rest + M[a]), axis=1))
            pairs.extend((members[a], members[a + 1 + b]) for b in np.flatnonzero(d <= screen))
    pairs.sort(key=lambda p: (pos[p[0]], pos[p[1]]))
    return pairs


#: the screen of `similar_pairs` for the reductions, at least (relative to unit vectors).
_PAIR_SCREEN = 1e-6


@dataclass(frozen=True)
class _Reduction:
    """One applicable reduction: what it is, and how to apply it to the `_Net`."""

    words: str
    apply: Callable[[], None]


class _Net:
    """A mutable copy of a network and its values, for the reductions."""

    def __init__(self, arch: Architecture, theta: np.ndarray):
        self.g = nx.DiGraph(arch.graph)
        self.order = {v: i for i, v in enumerate(arch.graph.nodes)}
        self.w = {e: float(theta[i]) for e, i in arch.edge_index.items()}
        self.b = {v: float(theta[i]) for v, i in arch.bias_index.items()}
        self.names = set(arch.param_names)

    def act(self, v):
        return get_activation(self.g.nodes[v]["activation"])

    def hidden(self):
        return sorted((v for v, r in self.g.nodes(data="role") if r == "hidden"),
                      key=self.order.__getitem__)

    def sorted(self, nodes):
        return sorted(nodes, key=self.order.__getitem__)

    def incoming(self, v, preds):
        vec = [self.w.get((p, v), 0.0) for p in preds]
        return np.array(vec + [self.b.get(v, 0.0)])

    def orphans(self, v) -> bool:
        """Whether removing v leaves a successor with no inputs."""
        return any(self.g.in_degree(s) == 1 for s in self.g.successors(v))

    def remove(self, v):
        """Remove v, then every hidden unit left feeding nothing (it no longer matters)."""
        preds = list(self.g.predecessors(v))
        for e in list(self.g.in_edges(v)) + list(self.g.out_edges(v)):
            self.w.pop(e, None)
        self.b.pop(v, None)
        self.g.remove_node(v)
        for p in preds:
            if p in self.g and self.g.nodes[p]["role"] == "hidden" and self.g.out_degree(p) == 0:
                self.remove(p)

    def add_to_bias(self, s, value):
        self.b[s] = self.b[s] + value

    def new_edge(self, u, s, value=0.0, name=None):
        if name is None or name in self.names:
            name, k = f"w_{u}_{s}", 1
            while name in self.names:
                k += 1
                name = f"w_{u}_{s}_{k}"
        self.names.add(name)
        self.g.add_edge(u, s, name=name)
        self.w[(u, s)] = value

    def add_to_weight(self, u, s, value):
        if not self.g.has_edge(u, s):
            self.new_edge(u, s)
        self.w[(u, s)] += value

    def theta(self):
        """``(edge_index, bias_index, θ)`` of the current values (for the linear blocks)."""
        edges, biases = list(self.w), list(self.b)
        ei = {e: i for i, e in enumerate(edges)}
        bi = {v: len(edges) + i for i, v in enumerate(biases)}
        return ei, bi, np.array([self.w[e] for e in edges] + [self.b[v] for v in biases])


# ----------------------------------------------------------------- the reductions
def _candidates(net: _Net, tol: float):
    """Every reduction applicable at the current values, in a fixed order."""
    yield from _dead_units(net, tol)
    yield from _constant_units(net, tol)
    yield from _unit_pairs(net, tol)
    yield from _linear_block_reductions(net, tol)


def _dead_units(net, tol):
    g = net.g
    for v in net.hidden():
        if all(abs(net.w[(v, s)]) <= tol for s in g.successors(v)) and not net.orphans(v):
            yield _Reduction(f"unit {v!r} has zero outgoing weights",
                             lambda v=v: net.remove(v))


def _constant_units(net, tol):
    g = net.g
    for v in net.hidden():
        if not all(abs(net.w[(p, v)]) <= tol for p in g.predecessors(v)):
            continue
        c = float(net.act(v).numpy(np.array([net.b.get(v, 0.0)]))[0])
        succ = list(g.successors(v))
        if any(s not in net.b and abs(net.w[(v, s)] * c) > tol for s in succ) or net.orphans(v):
            continue

        def apply(v=v, c=c, succ=succ):
            for s in succ:
                if s in net.b:
                    net.add_to_bias(s, net.w[(v, s)] * c)
            net.remove(v)
        yield _Reduction(f"unit {v!r} has zero incoming weights (a constant folded into its "
                         f"successors)", apply)


def _unit_pairs(net, tol):
    g = net.g
    hidden = net.hidden()
    vectors = {v: {**{p: net.w[(p, v)] for p in g.predecessors(v)}, None: net.b.get(v, 0.0)}
               for v in hidden}
    pairs = similar_pairs(hidden, vectors, lambda v: g.nodes[v]["activation"], zero=tol,
                          screen=max(_PAIR_SCREEN, 100 * tol))
    for u, v in pairs:
        preds = net.sorted(set(g.predecessors(u)) | set(g.predecessors(v)))
        xu, xv = net.incoming(u, preds), net.incoming(v, preds)
        rel = pair_relation(net.act(u), xu, xv, tol)
        if rel is None:
            continue
        plan = _merge_plan(net, u, v, rel, tol)
        if plan is not None:
            yield _Reduction(f"units {u!r} and {v!r} have {rel[3]} incoming weights and "
                             f"biases", plan)


def _merge_plan(net, u, v, rel, tol):
    """How to fold v into u given ``σ(z_v) = α + β σ(z_u) + γ z_u``, or None if it cannot be."""
    g = net.g
    al, be, ga, _ = rel
    if nx.has_path(g, u, v) or nx.has_path(g, v, u):
        return None
    succ = list(g.successors(v))
    src_u = [(p, net.w[(p, u)]) for p in g.predecessors(u)]
    bu = net.b.get(u, 0.0)
    for s in succ:
        wv = net.w[(v, s)]
        to_bias = al * wv + ga * wv * bu
        if abs(to_bias) > tol and s not in net.b:
            return None
        if ga and any(abs(ga * wv * w) > tol and not g.has_edge(p, s) for p, w in src_u):
            return None

    def apply():
        for s in succ:
            wv = net.w[(v, s)]
            net.add_to_weight(u, s, be * wv)
            if s in net.b:
                net.add_to_bias(s, al * wv + ga * wv * bu)
            if ga:
                for p, w in src_u:
                    if g.has_edge(p, s):
                        net.add_to_weight(p, s, ga * wv * w)
        net.remove(v)
    return apply


def _linear_block_reductions(net, tol):
    for block in linear_blocks(net.g):
        plan = _block_plan(net, block, tol)
        if plan is not None:
            yield plan


def _block_plan(net, block, tol):
    """Replace a block of identity units by as many as the rank of its product, if fewer."""
    g = net.g
    units, sources, sinks = block
    if any(nx.has_path(g, u, p) for u in units for p in sources if g.nodes[p]["role"] != "input"):
        return None      # a source downstream of the block: one layer cannot replace it
    ei, bi, theta = net.theta()
    M, _, _ = linear_block_differential(g, ei, bi, theta, block)
    ns = len(sources)
    L = M.copy()      # the block's own part: M without the sinks' direct edges and biases
    direct_ok = np.zeros(ns + 1, dtype=bool)
    for k, s in enumerate(sources):
        direct_ok[k] = all(g.has_edge(s, t) for t in sinks)
        for j, t in enumerate(sinks):
            if g.has_edge(s, t):
                L[j, k] -= net.w[(s, t)]
    direct_ok[ns] = all(t in net.b for t in sinks)
    for j, t in enumerate(sinks):
        if t in net.b:
            L[j, ns] -= net.b[t]
    unit_bias = any(u in net.b for u in units)

    def rank(cols):
        if not np.any(cols):
            return 0, None
        U, s, Vt = np.linalg.svd(L[:, cols], full_matrices=False)
        r = int(np.sum(s > tol * max(1.0, float(s[0]))))
        return r, (U[:, :r] * s[:r], Vt[:r])

    keep = ~direct_ok
    keep[ns] = unit_bias   # no unit bias: a zero column; else kept when that costs no unit
    r, factors = rank(keep)
    if keep[ns] and direct_ok[ns]:
        keep2 = keep.copy()
        keep2[ns] = False
        r2, f2 = rank(keep2)
        if r2 < r:
            keep, r, factors = keep2, r2, f2
    n_new = r if r or not any(set(g.predecessors(t)) <= set(units) for t in sinks) else 1
    if n_new >= len(units):
        return None
    absorb = ~keep
    kept_src = [s for k, s in enumerate(sources) if keep[k]]
    if n_new and not kept_src:      # the new units still need an input (with weight 0)
        keep[0] = True
        kept_src = [sources[0]]
        if factors is not None:
            factors = (factors[0], np.concatenate([np.zeros((factors[1].shape[0], 1)),
                                                   factors[1]], axis=1))
    old = sum(g.in_degree(u) + g.out_degree(u) for u in units) - sum(
        1 for u in units for p in g.predecessors(u) if p in units) + sum(u in net.b for u in units)
    new = n_new * (len(kept_src) + int(bool(keep[ns])) + len(sinks))
    if new > old:
        return None
    cols = np.flatnonzero(keep)
    out_w, in_w = np.zeros((len(sinks), n_new)), np.zeros((n_new, len(cols)))
    if factors is not None and r:
        out_w[:, :r], in_w[:r] = factors
    words = (f"identity units {', '.join(map(repr, units))} compose to a linear map of rank "
             f"{r}: {n_new} unit{'s suffice' if n_new != 1 else ' suffices'}")

    def apply():
        attrs = {u: dict(g.nodes[u]) for u in units}
        names = {(p, u): d["name"] for u in units for p, _, d in g.in_edges(u, data=True)}
        names.update({(u, t): d["name"] for u in units for _, t, d in g.out_edges(u, data=True)})
        for k in np.flatnonzero(absorb):     # absorbed by the direct edges and sink biases
            for j, t in enumerate(sinks):
                if k == ns:
                    if t in net.b:
                        net.add_to_bias(t, L[j, ns])
                else:
                    net.add_to_weight(sources[k], t, L[j, k])
        for u in units:
            for e in list(g.in_edges(u)) + list(g.out_edges(u)):
                net.w.pop(e, None)
            net.b.pop(u, None)
            g.remove_node(u)
        for j, u in enumerate(units[:n_new]):
            a = attrs[u]
            a["bias"] = bool(keep[ns])
            if not keep[ns]:
                a.pop("bias_name", None)
            g.add_node(u, **a)
            for c, k in enumerate(cols):
                if k == ns:
                    net.b[u] = float(in_w[j, c])
                else:
                    p = sources[k]
                    net.new_edge(p, u, float(in_w[j, c]), names.get((p, u)))
            for i, t in enumerate(sinks):
                net.new_edge(u, t, float(out_w[i, j]), names.get((u, t)))
    return _Reduction(words, apply)


# ----------------------------------------------------------------- public functions
def reduction_reasons(arch: Architecture, theta: np.ndarray, tol: float) -> list[str]:
    """Every reduction applicable at θ (network part), in words; empty when θ is irreducible."""
    return [r.words for r in _candidates(_Net(arch, theta), tol)]


def is_reducible(arch, theta, *, tol: float = REDUCE_TOL) -> bool:
    """Sussmann's (1992) reducibility: does a smaller network compute the same function?

    True exactly when `reduce` removes a unit: a hidden unit has all outgoing weights zero,
    or all incoming weights zero (it is then a constant its successors' biases absorb), or two
    hidden units with the same activation have equal incoming weights and biases — or opposite
    ones, for an activation with a negation identity ``σ(-z) = α + βσ(z) + γz`` (odd, sigmoid,
    even; softplus, SiLU, GELU and ReLU when skip edges can take ``γz``), or proportional ones
    (positively for ReLU, any factor for monomials) — or a block of identity units composes to
    a linear map of lower rank than its number of units. A reduction that would leave a unit
    without inputs, or needs a bias or skip edge the network lacks, does not count.

    Parameters
    ----------
    arch : Architecture or Model
    theta : array_like
        θ of the architecture (or of the Model: the family's part is ignored).
    tol : float
        Absolute tolerance: ``|w| <= tol`` counts as zero, vectors within
        ``tol`` (max norm) as equal, singular values of a linear block's product below
        ``tol · max(1, largest)`` as zero.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> theta = np.arange(1.0, 14.0) / 10
    >>> sm.is_reducible(arch, theta)
    False
    >>> theta[10] = 0.0            # unit h1_2's output weight
    >>> sm.is_reducible(arch, theta)
    True
    >>> linear = sm.mlp(3, 2, 1, activation="identity")   # a rank-1 product needs 1 unit
    >>> sm.is_reducible(linear, np.arange(1.0, 12.0))
    True

    References
    ----------
    Sussmann, H. J. (1992). Uniqueness of the weights for minimal feedforward nets
    with a given input-output map. Neural Networks 5(4).
    """
    a, model = arch_and_model(arch)
    theta = check_vector(a, model, theta)
    tol = check_real(tol, "tol", minimum=0.0)
    return next(_candidates(_Net(a, theta[:a.n_params]), tol), None) is not None


def reduce(arch, theta, *, tol: float = REDUCE_TOL):
    """The smallest equivalent network (Sussmann 1992): same function, fewer units.

    Applies the reductions of `is_reducible` until none is left (to a fixed point, across all
    layers): drops units whose outgoing weights are all zero, folds constant units into their
    successors' biases, merges equal, opposite or proportional units, and replaces a block of
    identity units by as many units as the rank of its product.

    Parameters
    ----------
    arch : Architecture or Model
    theta : array_like
        θ of ``arch`` (of the Model: the family's own parameters are passed through).
    tol : float
        As in `is_reducible`.

    Returns
    -------
    (Architecture, ndarray) or (Model, ndarray)
        The reduced network (an `symmle.mlp` again when the result is
        still fully connected and layered, else built by
        `Architecture.from_graph` with the original names) and its θ.

    Notes
    -----
    A unit is kept, even when it qualifies, if removing it would leave a
    successor with no inputs (say, every unit of a layer has zero outgoing
    weights); a constant unit whose successor has no bias is kept too, and so is a unit whose
    merge needs a skip edge that is not there.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> theta = np.arange(1.0, 14.0) / 10
    >>> theta[10] = 0.0                       # h1_2 does not reach the output
    >>> small, small_theta = sm.reduce(arch, theta)
    >>> small, small.n_params
    (mlp(2, 2, 1, activation='tanh'), 9)
    >>> X = np.random.default_rng(0).standard_normal((5, 2))
    >>> bool(np.allclose(small.forward(small_theta, X), arch.forward(theta, X)))
    True
    >>> theta = np.arange(1.0, 14.0) / 10
    >>> theta[[2, 3, 7]] = -theta[[0, 1, 6]]   # h1_2 = -h1_1 (tanh is odd)
    >>> sm.reduce(arch, theta)[0]
    mlp(2, 2, 1, activation='tanh')
    >>> sm.reduce(sm.mlp(3, 2, 1, activation="identity"), np.arange(1.0, 12.0))[0]
    mlp(3, 1, 1, activation='identity')
    """
    a, model = arch_and_model(arch)
    theta = check_vector(a, model, theta)
    tol = check_real(tol, "tol", minimum=0.0)
    Pn = a.n_params
    net = _Net(a, theta[:Pn])
    while True:
        step = next(_candidates(net, tol), None)
        if step is None:
            break
        step.apply()
    G = nx.DiGraph()
    for v in sorted(net.g.nodes, key=net.order.get):
        G.add_node(v, **{k: x for k, x in net.g.nodes[v].items() if k != "layer"})
    for u, v, d in net.g.edges(data=True):
        G.add_edge(u, v, name=d["name"])
    new = Architecture.from_graph(G)
    t = np.zeros(new.n_params)
    for e, i in new.edge_index.items():
        t[i] = net.w[e]
    for v, i in new.bias_index.items():
        t[i] = net.b[v]
    if a.widths is not None and new.widths is not None:
        acts = {net.g.nodes[v]["activation"] for v in new.hidden_nodes}
        outs = {net.g.nodes[v]["activation"] for v in new.output_nodes}
        biases = {net.g.nodes[v]["bias"] for v in new.hidden_nodes + new.output_nodes}
        if len(acts) <= 1 and len(outs) == 1 and len(biases) == 1:
            act = acts.pop() if acts else "tanh"
            rebuilt = mlp(*new.widths, activation=act, output_activation=outs.pop(),
                          bias=biases.pop())
            t = rebuilt.flatten(new.unflatten(t))
            new = rebuilt
    t = np.concatenate([t, theta[Pn:]])
    if model is not None:
        return Model(new, model.family), t
    return new, t
