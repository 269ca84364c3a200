"""Sussmann's (1992) reductions: `is_reducible` and `reduce` to the smallest equivalent network.

A hidden unit with all outgoing weights zero, or all incoming weights zero (a constant), or two
hidden units with the same activation and equal incoming weights and biases — opposite ones for
``σ(-z) = a + cσ(z)``, positively proportional ones for a positively homogeneous activation —
make θ reducible: a smaller network computes the same function. `_Net` is a mutable copy of a
network on which the reductions are applied to a fixed point.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from .._checks import check_real
from ..activations import get_activation
from ..architecture import Architecture, mlp
from ..errors import ParamsError
from ..model import Model
from ..symmetry._structure import arch_and_model

__all__ = ["is_reducible", "reduce", "REDUCE_TOL"]

#: default tolerance of Sussmann's tests (zero weights, equal or opposite units).
REDUCE_TOL = 1e-10


def check_vector(arch, model, theta, name="theta") -> np.ndarray:
    """θ of ``arch`` (of ``model`` when given) as one float64 vector, copied."""
    P = model.n_params if model is not None else arch.n_params
    theta = arch.check_theta(theta, name=name, n_params=P)
    if theta.ndim != 1:
        raise ParamsError(f"{name} must be one vector of length {P}, got shape {theta.shape}")
    return theta.copy()


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

    def incoming(self, v, preds):
        vec = [self.w.get((p, v), 0.0) for p in preds]
        return np.array(vec + [self.b.get(v, 0.0)])

    def remove(self, v):
        for e in list(self.g.in_edges(v)) + list(self.g.out_edges(v)):
            self.w.pop(e, None)
        self.b.pop(v, None)
        self.g.remove_node(v)

    def add_to_bias(self, s, value):
        self.b[s] = self.b[s] + value

    def add_to_weight(self, u, s, value):
        if not self.g.has_edge(u, s):
            name, k = f"w_{u}_{s}", 1
            while name in self.names:
                k += 1
                name = f"w_{u}_{s}_{k}"
            self.names.add(name)
            self.g.add_edge(u, s, name=name)
            self.w[(u, s)] = 0.0
        self.w[(u, s)] += value


def _find_reduction(net: _Net, tol: float, apply: bool):
    """The first applicable reduction (a description), applied when ``apply``; None if none."""
    g = net.g
    hidden = net.hidden()
    for v in hidden:
        succ = list(g.successors(v))
        if all(abs(net.w[(v, s)]) <= tol for s in succ):
            orphan = [s for s in succ if g.in_degree(s) == 1]
            if orphan and apply:
                continue
            if apply:
                net.remove(v)
            return f"unit {v!r} has zero outgoing weights"
    for v in hidden:
        preds = list(g.predecessors(v))
        if all(abs(net.w[(p, v)]) <= tol for p in preds):
            c = float(net.act(v).numpy(np.array([net.b.get(v, 0.0)]))[0])
            succ = list(g.successors(v))
            if any(s not in net.b and abs(net.w[(v, s)] * c) > tol for s in succ):
                continue
            if any(g.in_degree(s) == 1 for s in succ) and apply:
                continue
            if apply:
                for s in succ:
                    if s in net.b:
                        net.add_to_bias(s, net.w[(v, s)] * c)
                net.remove(v)
            return f"unit {v!r} has zero incoming weights (a constant folded into its successors)"
    for i, u in enumerate(hidden):
        for v in hidden[i + 1:]:
            if g.nodes[u]["activation"] != g.nodes[v]["activation"]:
                continue
            preds = sorted(set(g.predecessors(u)) | set(g.predecessors(v)), key=net.order.get)
            xu, xv = net.incoming(u, preds), net.incoming(v, preds)
            act = net.act(u)
            lam, shift, kind = None, 0.0, ""
            if np.max(np.abs(xv - xu)) <= tol:
                lam, kind = 1.0, "equal"
            elif act.flip is not None and np.max(np.abs(xv + xu)) <= tol:
                lam, shift, kind = float(act.flip[1]), float(act.flip[0]), "opposite"
            elif act.positively_homogeneous or act.linear:
                nu = float(xu @ xu)
                if nu > 0:
                    c = float(xu @ xv) / nu
                    if (c > 0 or act.linear) and c != 0 and np.max(np.abs(xv - c * xu)) <= tol:
                        lam, kind = c, f"proportional (factor {c:.6g})"
            if lam is None:
                continue
            succ = list(g.successors(v))
            if shift and any(s not in net.b and abs(shift * net.w[(v, s)]) > tol for s in succ):
                continue
            if apply:
                for s in succ:
                    net.add_to_weight(u, s, lam * net.w[(v, s)])
                    if shift and s in net.b:
                        net.add_to_bias(s, shift * net.w[(v, s)])
                net.remove(v)
            return f"units {u!r} and {v!r} have {kind} incoming weights and biases"
    return None


def reduction_reasons(arch: Architecture, theta: np.ndarray, tol: float) -> list[str]:
    """Every one of Sussmann's reductions that applies at θ (network part), in words."""
    net = _Net(arch, theta)
    reasons = []
    g = net.g
    hidden = net.hidden()
    for v in hidden:
        if all(abs(net.w[(v, s)]) <= tol for s in g.successors(v)):
            reasons.append(f"unit {v!r} has zero outgoing weights")
        if all(abs(net.w[(p, v)]) <= tol for p in g.predecessors(v)):
            reasons.append(f"unit {v!r} has zero incoming weights")
    for i, u in enumerate(hidden):
        for v in hidden[i + 1:]:
            if g.nodes[u]["activation"] != g.nodes[v]["activation"]:
                continue
            preds = sorted(set(g.predecessors(u)) | set(g.predecessors(v)), key=net.order.get)
            xu, xv = net.incoming(u, preds), net.incoming(v, preds)
            if not np.any(np.abs(xu) > tol):
                continue
            act = net.act(u)
            if np.max(np.abs(xv - xu)) <= tol:
                reasons.append(f"units {u!r} and {v!r} have equal incoming weights and biases")
            elif act.flip is not None and np.max(np.abs(xv + xu)) <= tol:
                reasons.append(f"units {u!r} and {v!r} have opposite incoming weights and biases")
            elif act.positively_homogeneous or act.linear:
                c = float(xu @ xv) / float(xu @ xu)
                if (c > 0 or act.linear) and c != 0 and np.max(np.abs(xv - c * xu)) <= tol:
                    reasons.append(f"units {u!r} and {v!r} have proportional incoming weights "
                                   f"and biases")
    return reasons


def is_reducible(arch, theta, *, tol: float = REDUCE_TOL) -> bool:
    """Sussmann's (1992) reducibility: can a smaller network compute the same function?

    θ is reducible when a hidden unit has all outgoing weights zero, or all
    incoming weights zero (it is then a constant), or two hidden units with the
    same activation have equal incoming weights and biases — or opposite ones,
    for an activation with ``σ(-z) = a + cσ(z)`` (odd, sigmoid), or positively
    proportional ones, for a positively homogeneous activation (ReLU).

    Parameters
    ----------
    arch : Architecture or Model
    theta : array_like
        θ of the architecture (or of the Model: the family's part is ignored).
    tol : float
        Absolute tolerance: ``|w| <= tol`` counts as zero, vectors within
        ``tol`` (max norm) as equal.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> theta = np.arange(1.0, 14.0) / 10
    >>> sm.is_reducible(arch, theta)
    False
    >>> theta[10] = 0.0            # unit h1_2's output weight
    >>> sm.is_reducible(arch, theta)
    True

    References
    ----------
    Sussmann, H. J. (1992). Uniqueness of the weights for minimal feedforward nets
    with a given input-output map. Neural Networks 5(4).
    """
    a, model = arch_and_model(arch)
    theta = check_vector(a, model, theta)
    return bool(reduction_reasons(a, theta[:a.n_params], check_real(tol, "tol", minimum=0.0)))


def reduce(arch, theta, *, tol: float = REDUCE_TOL):
    """The smallest equivalent network (Sussmann 1992): same function, fewer parameters.

    Repeatedly drops hidden units whose outgoing weights are all zero, folds
    units whose incoming weights are all zero into their successors' biases,
    and merges units with equal incoming weights and biases (opposite ones for
    odd or sigmoid activations, positively proportional ones for ReLU), until
    none applies; deep networks are reduced this way across all layers, to a
    fixed point.

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
    weights); a constant unit whose successor has no bias is kept too.

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
    """
    a, model = arch_and_model(arch)
    theta = check_vector(a, model, theta)
    tol = check_real(tol, "tol", minimum=0.0)
    Pn = a.n_params
    net = _Net(a, theta[:Pn])
    while _find_reduction(net, tol, apply=True) is not None:
        pass
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
