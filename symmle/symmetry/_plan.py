"""The bookkeeping the exact orbit-distance search reads: rows, flip terms and who owns each entry.

`search_plan` gives, once per architecture (weak cache), what `symmle.symmetry._search` needs to
cost a partial group element layer by layer:

* every non-input unit's row (its sources' node ids and θ indices, its bias index), and the
  position of every θ entry in its row;
* the flip terms of `symmle.symmetry._structure._Structure.flip_terms` grouped by the row they
  land in (`terms_into`), and for every entry the units whose flips move it (`comp`);
* the hidden layers in order, their twin classes, and the owner of every output entry: an
  output's row is never permuted, so an entry ``s → y`` or a bias ``b_y`` is decided by the
  *last* hidden layer among the units it depends on (its source, and the units whose flips add
  to it). Entries that depend on a single unit of that layer are costed with that unit; entries
  that depend on several are *coupled* (a sigmoid layer's output bias).
* whether a layer is *terminal*: no row or entry decided by a later layer depends on it, so its
  permutation can be solved by assignment once its flips are fixed.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..architecture import Architecture
from ._group import SymmetryGroup
from ._structure import _Structure

__all__ = ["search_plan", "SearchPlan"]


class SearchPlan:
    """Rows, flip terms, layers and entry owners of one architecture (no reference to it)."""

    def __init__(self, st: _Structure, classes: tuple):
        self.st = st
        N, P = st.N, st.P
        # rows: sources and weight indices of each non-input node, bias index, entry positions
        self.row_src: list = [None] * N
        self.row_w: list = [None] * N
        self.row_b = np.full(N, -1, dtype=np.intp)
        self.pos = np.zeros(P, dtype=np.intp)     # column of an entry in its row (bias last)
        self.row_of = np.full(P, -1, dtype=np.intp)
        for o in range(N):
            if st.is_input[o]:
                continue
            src = st.preds(o)
            w = st.edge_lookup(src, np.full(len(src), o)) if len(src) else np.zeros(0, np.intp)
            self.row_src[o], self.row_w[o] = src, w
            self.pos[w] = np.arange(len(src))
            self.row_of[w] = o
            if st.bias_pos[o] >= 0:
                self.row_b[o] = st.bias_pos[o]
                self.pos[st.bias_pos[o]] = len(src)
                self.row_of[st.bias_pos[o]] = o
        # flip terms by the row they land in, and the units that move each entry
        self.terms_into: list = [[] for _ in range(N)]
        comp: dict = {}
        for h, (o, t, a, b, c0) in enumerate(st.flip_terms):
            if len(o) == 0:
                continue
            u = int(st.hidden[h])
            for tgt in np.unique(o).tolist():
                m = o == tgt
                self.terms_into[tgt].append((u, t[m], a[m], b[m], c0[m]))
            for e in np.unique(t).tolist():
                comp.setdefault(e, set()).add(u)
        self._comp = {e: np.array(sorted(c), dtype=np.intp) for e, c in comp.items()}
        # hidden layers and their classes (twins share a layer)
        layer_of = st.layer_of
        self.layers = sorted({int(layer_of[v]) for v in st.hidden.tolist()})
        lid = {k: i for i, k in enumerate(self.layers)}
        self.layer_classes: list = [[] for _ in self.layers]
        for m in classes:
            nodes = st.hidden[m]
            self.layer_classes[lid[int(layer_of[nodes[0]])]].append(nodes)
        self.layer_units = [np.concatenate(cs) for cs in self.layer_classes]
        # output entries: the layer that decides each, and how
        self.out_const: list = []                  # entries with no hidden dependence
        self.out_plain: list = [[] for _ in self.layers]   # (entry, source unit): s in the layer
        self.out_comp: list = [[] for _ in self.layers]    # (entry, comp units in the layer)
        for y in st.output_ids.tolist():
            entries = list(zip(self.row_w[y].tolist(), self.row_src[y].tolist()))
            if self.row_b[y] >= 0:
                entries.append((int(self.row_b[y]), -1))
            for e, s in entries:
                deps = list(self.comp(e).tolist())
                if s >= 0 and st.hpos[s] >= 0:
                    deps.append(s)
                if not deps:
                    self.out_const.append(e)
                    continue
                top = max(int(layer_of[d]) for d in deps)
                last = [d for d in deps if layer_of[d] == top]
                if s in last:
                    self.out_plain[lid[top]].append((e, s))
                else:
                    self.out_comp[lid[top]].append((e, np.array(sorted(last), dtype=np.intp)))
        self.out_const = np.array(self.out_const, dtype=np.intp)
        # terminal layers: nothing decided later depends on them
        comp_in_row: dict = {}   # row node -> units whose flips move one of its entries
        for e, us in self._comp.items():
            comp_in_row.setdefault(int(self.row_of[e]), set()).update(us.tolist())
        later_deps: set = set()
        self.terminal = [False] * len(self.layers)
        for i in range(len(self.layers) - 1, -1, -1):
            units = set(self.layer_units[i].tolist())
            self.terminal[i] = not (units & later_deps)
            srcs = np.unique(np.concatenate([self.row_src[v] for v in self.layer_units[i]]))
            later_deps.update(srcs.tolist())
            for v in self.layer_units[i].tolist():
                later_deps.update(comp_in_row.get(v, ()))
            for e, last in self.out_comp[i]:
                later_deps.update(self.comp(e).tolist())
                if self.pos[e] < len(self.row_src[self.row_of[e]]):
                    later_deps.add(int(self.row_src[self.row_of[e]][self.pos[e]]))

    def comp(self, e: int) -> np.ndarray:
        """Node ids of the units whose flips add to θ entry e (sorted; mostly empty)."""
        return self._comp.get(int(e), _NONE)


_NONE = np.zeros(0, dtype=np.intp)

# Keyed weakly by the architecture; a plan holds the structure, never the architecture.
_PLANS: "weakref.WeakKeyDictionary[Architecture, SearchPlan]" = weakref.WeakKeyDictionary()


def search_plan(G: SymmetryGroup) -> SearchPlan:
    """The `SearchPlan` of ``G``'s architecture, built on first use."""
    plan = _PLANS.get(G.architecture)
    if plan is None:
        plan = _PLANS.setdefault(G.architecture, SearchPlan(G._st, G.classes))
    return plan
