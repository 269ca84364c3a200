"""The quotient graph of twin classes and a stabilizer chain of its automorphism group.

Hidden units with identical neighbourhoods (twins, `_Structure.twin_classes`) are permuted
freely; what is left are the automorphisms of the *quotient* graph, one node per twin class
(e.g. two identical branches that swap whole). `quotient_graph` builds that labelled graph and
`quotient_transversals` finds its automorphisms with networkx's ``DiGraphMatcher`` along a
stabilizer chain, so the group order is a product of orbit lengths and is never enumerated.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np
from networkx.algorithms.isomorphism import DiGraphMatcher

from ..errors import SymmleValueError
from ._structure import _Structure

__all__ = ["quotient_graph", "quotient_transversals", "QUOTIENT_MAX_WORK"]

#: The most work (isomorphism tests times the quotient graph's size squared: each test refines
#: colours over the graph) the automorphism search may do: 30 identical two-unit branches take
#: 1.6e6 units, a few seconds; a more symmetric quotient graph is refused rather than searched
#: for minutes (the work grows as the fourth power of the number of branches; issue 17 §6).
QUOTIENT_MAX_WORK = 2_000_000


def quotient_graph(st: _Structure) -> tuple[list, list[list[int]], list[list[int]]]:
    """``(labels, preds, succs)`` of the quotient graph: one node per twin class.

    A class's label is (activation, bias flag, size, input nodes it reads, output nodes it
    feeds); ``preds``/``succs`` are the classes it reads from / feeds, sorted.
    """
    classes = st.twin_classes
    C = len(classes)
    reps = np.array([st.hidden[m[0]] for m in classes], dtype=np.intp)
    is_rep = np.zeros(st.N, bool)
    is_rep[reps] = True
    node_class = np.full(st.N, -1, dtype=np.intp)
    node_class[st.hidden] = st.class_of
    mask = is_rep[st.E_dst]
    e_src, e_dst = st.E_src[mask], st.E_dst[mask]
    preds = [set() for _ in range(C)]
    inputs = [set() for _ in range(C)]
    for a, b in zip(e_src.tolist(), e_dst.tolist()):
        cb = node_class[b]
        if node_class[a] >= 0:
            preds[cb].add(int(node_class[a]))
        else:
            inputs[cb].add(a)
    outs = [set() for _ in range(C)]
    is_out = st.is_output[st.E_dst] & is_rep[st.E_src]
    for a, b in zip(st.E_src[is_out].tolist(), st.E_dst[is_out].tolist()):
        outs[node_class[a]].add(b)
    succs = [set() for _ in range(C)]
    for c in range(C):
        for p in preds[c]:
            succs[p].add(c)
    labels = []
    for c, m in enumerate(classes):
        v = st.hidden[m[0]]
        labels.append((st.act_name[v], bool(st.bias_pos[v] >= 0), len(m),
                       tuple(sorted(inputs[c])), tuple(sorted(outs[c]))))
    return labels, [sorted(p) for p in preds], [sorted(s) for s in succs]


def _refine(colours: list, preds: list, succs: list) -> list[int]:
    """Colour refinement (1-dimensional Weisfeiler–Leman) with canonical colour names."""
    ids = {c: k for k, c in enumerate(sorted(set(colours), key=repr))}
    col = [ids[c] for c in colours]
    n_col = len(ids)
    while True:
        sig = [(col[i], tuple(sorted(col[p] for p in preds[i])),
                tuple(sorted(col[s] for s in succs[i]))) for i in range(len(col))]
        ids = {s: k for k, s in enumerate(sorted(set(sig)))}
        new = [ids[s] for s in sig]
        if len(ids) == n_col:
            return new
        col, n_col = new, len(ids)


def quotient_transversals(labels: list, preds: list, succs: list) -> list[list[np.ndarray]]:
    """A stabilizer chain of the automorphism group of the labelled quotient graph.

    Returns one transversal per base point: class permutations (arrays) that fix the
    earlier base points and map this one to each point of its orbit (identity first).
    """
    C = len(labels)
    Q = nx.DiGraph()
    Q.add_nodes_from(range(C))
    Q.add_edges_from((p, i) for i in range(C) for p in preds[i])
    levels: list[list[np.ndarray]] = []
    fixed: list[int] = []
    work = 0

    def colours(extra: dict):
        init = [(labels[i], extra.get(i, -1)) for i in range(C)]
        return _refine(init, preds, succs)

    while True:
        tags = {v: k for k, v in enumerate(fixed)}
        col = colours(tags)
        counts = Counter(col)
        if all(counts[c] == 1 for c in col):
            return levels
        v = next(i for i in range(C) if counts[col[i]] > 1)
        col_v = colours({**tags, v: -2})
        transversal = [np.arange(C, dtype=np.intp)]
        for w in range(C):
            if w == v or col[w] != col[v]:
                continue
            work += C * C
            if work > QUOTIENT_MAX_WORK:
                raise SymmleValueError(
                    f"symmetry_group: the network's quotient graph ({C} classes of hidden units) "
                    f"is too symmetric to search within QUOTIENT_MAX_WORK = {QUOTIENT_MAX_WORK} "
                    f"(many identical branches that are not twins); merge identical branches "
                    f"into twin units or use a smaller network")
            col_w = colours({**tags, w: -2})
            if sorted(col_v) != sorted(col_w):
                continue
            G1, G2 = Q.copy(), Q.copy()
            nx.set_node_attributes(G1, dict(enumerate(col_v)), "c")
            nx.set_node_attributes(G2, dict(enumerate(col_w)), "c")
            gm = DiGraphMatcher(G1, G2, node_match=lambda a, b: a["c"] == b["c"])
            iso = next(gm.isomorphisms_iter(), None)
            if iso is not None:
                phi = np.empty(C, dtype=np.intp)
                for a, b in iso.items():
                    phi[a] = b
                transversal.append(phi)
        levels.append(transversal)
        fixed.append(v)
