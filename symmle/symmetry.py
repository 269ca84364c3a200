"""The parameter symmetries of a network: an exact group, continuous directions, alignment.

A network function ``f(x; θ)`` does not determine θ. Two kinds of symmetry
leave ``f`` unchanged:

* **discrete** ones (`symmetry_group`): automorphisms of the network
  graph that fix the inputs and outputs and keep each unit's role, activation
  and bias flag (for a hidden layer of an MLP: every permutation of its
  units), combined with activation identities: an odd activation (``tanh``,
  ``erf``) allows flipping the sign of a unit (negate its incoming weights,
  bias and outgoing weights); the logistic sigmoid allows the affine flip
  ``σ(-z) = 1 - σ(z)`` (negate the same weights and add the old outgoing
  weights to the successors' biases), where every successor has a bias.
  A hidden layer of ``n`` tanh units thus carries ``2^n · n!`` symmetries
  (Chen, Lu & Hecht-Nielsen 1993).
* **continuous** ones (`continuous_symmetries`): the positive rescaling
  of ReLU and leaky-ReLU units, the affine (``GL``) symmetry of identity hidden
  units and, with a `symmle.model.Model`, the family's own (the softmax
  shift of `symmle.families.Categorical`).

How the group is computed. Hidden units with identical in- and
out-neighbourhoods (and equal activation and bias flag) are *twins*; each twin
class is permuted freely (a symmetric-group factor whose order is an exact
factorial). The twin classes form a small quotient graph, whose automorphisms
(the ones that are not per-class permutations, e.g. two identical branches
that swap whole) are found with networkx's ``DiGraphMatcher`` along a
stabilizer chain: the order is the product of the orbit lengths and the group
is never enumerated. The full group is the semidirect product
``(Π S_{n_c} ⋊ Aut(quotient)) ⋉ (Z_2)^f`` with ``f`` flippable units.

Every function that takes θ also takes a `symmle.model.Model`'s θ
(the network's parameters followed by the family's, such as ``log_sigma``):
symmetries leave those extra entries unchanged, and distances count them as
ordinary coordinates.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from functools import cached_property

import networkx as nx
import numpy as np
import scipy.linalg as sla
import scipy.sparse as ssp
from networkx.algorithms.isomorphism import DiGraphMatcher
from scipy.optimize import linear_sum_assignment

from .architecture import Architecture
from ._validation import as_real_array
from .errors import ParamsError, SymmleTypeError, SymmleValueError
from .model import Model, as_rng

__all__ = [
    "symmetry_group",
    "SymmetryGroup",
    "ParamTransform",
    "continuous_symmetries",
    "canonicalize",
    "align",
    "orbit_distance",
    "MAX_ELEMENTS",
]

#: ``SymmetryGroup.elements()`` and ``orbit()`` refuse groups larger than this by default.
MAX_ELEMENTS = 100_000

#: groups up to this order are searched exhaustively by `align` (exact for any graph).
EXHAUSTIVE_ORDER = 5040

#: quotient groups (automorphisms that are not within-class permutations) up to this
#: order are searched exhaustively by `canonicalize` and `align`.
MAX_QUOTIENT_ORDER = 5040


# ============================================================== structure
class _Structure:
    """Integer bookkeeping of an architecture, computed once per architecture."""

    def __init__(self, arch: Architecture):
        self.arch = arch
        g = arch.graph
        self.nodes = list(g.nodes)
        nid = {v: i for i, v in enumerate(self.nodes)}
        self.nid = nid
        N = self.N = len(self.nodes)
        self.P = arch.n_params
        self.hidden = np.array([nid[v] for v in arch.hidden_nodes], dtype=np.intp)
        self.H = len(self.hidden)
        self.hpos = np.full(N, -1, dtype=np.intp)
        self.hpos[self.hidden] = np.arange(self.H)
        src, dst, idx, bnodes, bidx = [], [], [], [], []
        self.layer_units = []  # node ids of each layer's units
        self.layer_sources = []
        self.layer_complete = []
        for L in arch.layers:
            s_ids = np.array([nid[u] for u in L.sources], dtype=np.intp)
            u_ids = np.array([nid[u] for u in L.units], dtype=np.intp)
            self.layer_units.append(u_ids)
            self.layer_sources.append(s_ids)
            self.layer_complete.append(len(L.rows) == len(u_ids) * len(s_ids))
            src.append(s_ids[L.cols])
            dst.append(u_ids[L.rows])
            idx.append(L.weight_idx)
            bnodes.append(u_ids[L.bias_units])
            bidx.append(L.bias_idx)
        cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp))
        self.E_src, self.E_dst, self.E_idx = cat(src), cat(dst), cat(idx)
        self.B_node, self.B_idx = cat(bnodes), cat(bidx)
        self.bias_pos = np.full(N, -1, dtype=np.intp)
        self.bias_pos[self.B_node] = self.B_idx
        self.layer_of = np.zeros(N, dtype=np.intp)
        for k, u_ids in enumerate(self.layer_units):
            self.layer_of[u_ids] = k + 1
        self.is_input = np.zeros(N, bool)
        self.is_input[[nid[v] for v in arch.input_nodes]] = True
        self.is_output = np.zeros(N, bool)
        self.is_output[[nid[v] for v in arch.output_nodes]] = True
        self.output_ids = np.array([nid[v] for v in arch.output_nodes], dtype=np.intp)
        # activations: the flip constant a of σ(-z) = a - σ(z), and flippability
        acts = {}
        self.act_name = []
        self.flip_a = np.zeros(N)
        flip_ok = np.zeros(N, bool)
        self.homogeneous = np.zeros(N, bool)
        self.linear = np.zeros(N, bool)
        for i, v in enumerate(self.nodes):
            if g.nodes[v]["role"] == "input":
                self.act_name.append(None)
                continue
            name = g.nodes[v]["activation"]
            act = acts.setdefault(name, arch.activation_of(v))
            self.act_name.append(name)
            self.linear[i] = act.linear
            self.homogeneous[i] = act.positively_homogeneous and not act.linear
            if act.flip is not None and not act.linear and act.flip[1] == -1:
                flip_ok[i] = True
                self.flip_a[i] = act.flip[0]
        has_bias = self.bias_pos >= 0
        bad = self.E_src[~has_bias[self.E_dst]]
        unbiased_succ = np.zeros(N, bool)
        unbiased_succ[bad] = True
        flip_ok &= ~((self.flip_a != 0) & unbiased_succ)
        self.flippable = flip_ok[self.hidden] if self.H else np.zeros(0, bool)

    # -------------------------------------------------------------- lookups
    @cached_property
    def _edge_keys(self):
        keys = self.E_src.astype(np.int64) * self.N + self.E_dst
        order = np.argsort(keys, kind="stable")
        return keys[order], self.E_idx[order]

    def edge_lookup(self, src, dst, *, check: bool = False):
        """θ indices of the edges ``src → dst`` (arrays of node ids)."""
        keys, idx = self._edge_keys
        q = np.asarray(src, dtype=np.int64) * self.N + dst
        pos = np.searchsorted(keys, q)
        if check:
            ok = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == q)
            if not np.all(ok):
                return None
        return idx[pos]

    @cached_property
    def twin_classes(self) -> tuple:
        """Hidden units grouped by identical neighbourhoods: tuple of arrays of hidden positions."""
        if self.H == 0:
            return ()
        rng = np.random.default_rng(12345)
        R1, R2 = rng.random(self.N), rng.random(self.N)
        h_in = np.bincount(self.E_dst, weights=R1[self.E_src], minlength=self.N)
        h_out = np.bincount(self.E_src, weights=R2[self.E_dst], minlength=self.N)
        d_in = np.bincount(self.E_dst, minlength=self.N)
        d_out = np.bincount(self.E_src, minlength=self.N)
        # the layers where each node is a source, and whether all of them are complete
        src_layers = [[] for _ in range(self.N)]
        out_complete = np.ones(self.N, bool)
        for k, s_ids in enumerate(self.layer_sources):
            for s in s_ids.tolist():
                src_layers[s].append(k)
            if not self.layer_complete[k]:
                out_complete[s_ids] = False
        groups: dict = {}
        for h, v in enumerate(self.hidden.tolist()):
            k = self.layer_of[v] - 1
            key = (k, self.act_name[v], bool(self.bias_pos[v] >= 0), int(d_in[v]), int(d_out[v]),
                   float(h_in[v]), float(h_out[v]), tuple(src_layers[v]))
            groups.setdefault(key, []).append(h)
        classes = []
        g = self.arch.graph
        for key, members in groups.items():
            v0 = self.hidden[members[0]]
            exact = self.layer_complete[key[0]] and out_complete[v0]
            if exact or len(members) == 1:
                classes.append(members)
                continue
            # verify with the graph itself (incomplete layers only)
            sub: dict = {}
            for h in members:
                node = self.nodes[self.hidden[h]]
                sig = (frozenset(g.pred[node]), frozenset(g.succ[node]))
                sub.setdefault(sig, []).append(h)
            classes.extend(sub.values())
        classes.sort(key=lambda m: m[0])
        return tuple(np.array(m, dtype=np.intp) for m in classes)

    @cached_property
    def class_of(self) -> np.ndarray:
        """Class index of each hidden position."""
        out = np.empty(self.H, dtype=np.intp)
        for c, m in enumerate(self.twin_classes):
            out[m] = c
        return out


# Caches live in the architecture's own ``__dict__`` (as ``functools.cached_property`` does),
# so they go away with it.
_STRUCTURE_KEY = "_symmle_symmetry_structure"
_GROUP_KEY = "_symmle_symmetry_group"


def _structure(arch: Architecture) -> _Structure:
    st = arch.__dict__.get(_STRUCTURE_KEY)
    if st is None:
        st = arch.__dict__[_STRUCTURE_KEY] = _Structure(arch)
    return st


def _as_arch(arch, name="arch") -> tuple[Architecture, Model | None]:
    if isinstance(arch, Model):
        return arch.architecture, arch
    if isinstance(arch, Architecture):
        return arch, None
    raise SymmleTypeError(
        f"{name} must be an Architecture (from sm.mlp or Architecture.from_graph) or a Model, "
        f"got {type(arch).__name__}")


def _check_theta(arch: Architecture, theta, name: str = "theta", *, batch: bool = False,
                 length: int | None = None) -> np.ndarray:
    """θ as float64: length ``arch.n_params`` plus any family parameters at the end."""
    P = arch.n_params
    arr = as_real_array(theta, name=name, expected=f"an array of at least {P} real numbers",
                        error=ParamsError)
    if arr.ndim == 0 or (not batch and arr.ndim != 1):
        raise ParamsError(f"{name} must be one vector of length {P} (the network's parameters, "
                          f"then any family parameters), got shape {arr.shape}")
    if length is not None and arr.shape[-1] != length:
        raise ParamsError(f"{name} must have length {length} like the other vector, "
                          f"got {arr.shape[-1]}")
    if arr.shape[-1] < P:
        raise ParamsError(f"{name} must have length at least {P} (arch.n_params, followed by any "
                          f"family parameters), got {arr.shape[-1]}")
    if not np.all(np.isfinite(arr)):
        raise ParamsError(f"{name} contains NaN or infinite values")
    return arr


# ========================================================= ParamTransform
def _cycles(perm: np.ndarray) -> list[list[int]]:
    seen = np.zeros(len(perm), bool)
    out = []
    for i in range(len(perm)):
        if seen[i] or perm[i] == i:
            continue
        cyc, j = [], i
        while not seen[j]:
            seen[j] = True
            cyc.append(j)
            j = int(perm[j])
        out.append(cyc)
    return out


def _cycle_words(names: list[str], cyc: list[int], max_items: int = 6) -> str:
    if len(cyc) == 2:
        return f"swap {names[cyc[0]]} and {names[cyc[1]]}"
    shown = [names[i] for i in cyc]
    if len(shown) > max_items:
        shown = shown[:3] + ["…", shown[-1]]
        return f"cycle {' → '.join(shown)} → {names[cyc[0]]} ({len(cyc)} units)"
    return f"cycle {' → '.join(shown)} → {shown[0]}"


class ParamTransform:
    """A symmetry of θ: flip some hidden units, then permute hidden units.

    The map is ``θ ↦ P_π S_F θ``: ``S_F`` flips every unit in ``F`` (for an odd
    activation: negate its incoming weights, bias and outgoing weights; for
    the sigmoid also add the old outgoing weights to the successors' biases),
    ``P_π`` moves each unit's incoming weights, bias and outgoing weights to
    the unit it is mapped to. It is a signed (for the sigmoid, affine-linear)
    permutation of θ in the DESIGN order, and it leaves family parameters at
    the end of a Model's θ unchanged.

    Get them from a `SymmetryGroup`, or build one by naming units.

    Parameters
    ----------
    arch : Architecture
    perm : dict, optional
        ``{unit: image}`` for the hidden units that move; must be an
        automorphism of the network graph (inputs and outputs fixed).
    flips : iterable, optional
        Hidden units to flip (their activation must be odd, or the sigmoid with
        every successor biased).

    Examples
    --------
    >>> arch = sm.mlp(1, 2, 1, activation="tanh")
    >>> g = sm.ParamTransform(arch, perm={"h1_1": "h1_2", "h1_2": "h1_1"}, flips=["h1_1"])
    >>> g
    <ParamTransform: flip h1_1, then swap h1_1 and h1_2>
    >>> theta = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])   # W1 (2×1), b1, W2 (1×2), b2
    >>> g(theta)   # h1_2's weights move to h1_1; h1_1's, negated, to h1_2
    array([ 2., -1.,  4., -3.,  6., -5.,  7.])
    >>> bool(np.allclose(arch.forward(g(theta), [[0.3]]), arch.forward(theta, [[0.3]])))
    True
    >>> (g * g.inverse()).is_identity
    True
    """

    def __init__(self, arch: Architecture, perm=None, flips=None):
        if not isinstance(arch, Architecture):
            raise SymmleTypeError(f"arch must be an Architecture, got {type(arch).__name__}")
        st = _structure(arch)
        hp = np.arange(st.H, dtype=np.intp)
        fl = np.zeros(st.H, bool)

        def hidden_pos(v, what):
            i = st.nid.get(v)
            if i is None or st.hpos[i] < 0:
                raise SymmleValueError(f"{what}: {v!r} is not a hidden unit of the architecture")
            return int(st.hpos[i])

        if perm is not None:
            if not isinstance(perm, dict):
                raise SymmleTypeError("perm must be a dict {unit: image} of hidden units")
            for u, v in perm.items():
                hp[hidden_pos(u, "perm")] = hidden_pos(v, "perm")
            if len(np.unique(hp)) != st.H:
                raise SymmleValueError("perm must be a bijection of hidden units")
        if flips is not None:
            for v in flips:
                h = hidden_pos(v, "flips")
                if not st.flippable[h]:
                    raise SymmleValueError(
                        f"flips: unit {v!r} cannot be flipped (its activation "
                        f"{st.act_name[st.hidden[h]]!r} has no sign identity, or a successor "
                        "has no bias to absorb the sigmoid flip)")
                fl[h] = True
        self._init(arch, hp, fl)
        if not self._is_automorphism():
            raise SymmleValueError(
                "perm is not a symmetry: it must map edges onto edges and keep each unit's "
                "activation and bias flag (inputs and outputs stay fixed)")

    @classmethod
    def _make(cls, arch, perm, flips) -> "ParamTransform":
        self = cls.__new__(cls)
        self._init(arch, np.asarray(perm, dtype=np.intp), np.asarray(flips, dtype=bool))
        return self

    def _init(self, arch, perm, flips):
        self.architecture = arch
        self._st = _structure(arch)
        self._perm = perm
        self._flips = flips
        self._perm.setflags(write=False)
        self._flips.setflags(write=False)

    def _is_automorphism(self) -> bool:
        st = self._st
        node_perm = self._node_perm
        if st.edge_lookup(node_perm[st.E_src], node_perm[st.E_dst], check=True) is None:
            return False
        moved = st.hidden[self._perm]
        same_act = all(st.act_name[a] == st.act_name[b] for a, b in zip(st.hidden, moved))
        return same_act and np.array_equal(st.bias_pos[st.hidden] >= 0, st.bias_pos[moved] >= 0)

    # ------------------------------------------------------------ structure
    @property
    def perm(self) -> dict:
        """``{unit: image}`` for the hidden units that move."""
        st = self._st
        return {st.nodes[st.hidden[i]]: st.nodes[st.hidden[j]]
                for i, j in enumerate(self._perm.tolist()) if i != j}

    @property
    def flips(self) -> tuple:
        """The hidden units flipped (before the permutation)."""
        st = self._st
        return tuple(st.nodes[st.hidden[i]] for i in np.flatnonzero(self._flips))

    @property
    def is_identity(self) -> bool:
        return not self._flips.any() and np.array_equal(self._perm, np.arange(len(self._perm)))

    @cached_property
    def _node_perm(self) -> np.ndarray:
        st = self._st
        out = np.arange(st.N, dtype=np.intp)
        out[st.hidden] = st.hidden[self._perm]
        return out

    @cached_property
    def _maps(self):
        """``(src, sign, add)``: θ'[i] = sign[i]·θ[src[i]] + (add @ θ)[i] on the network part."""
        st = self._st
        P = st.P
        node_perm = self._node_perm
        s = np.ones(st.N)
        s[st.hidden[self._flips]] = -1.0
        src = np.empty(P, dtype=np.intp)
        sign = np.empty(P)
        tgt = st.edge_lookup(node_perm[st.E_src], node_perm[st.E_dst])
        src[tgt] = st.E_idx
        sign[tgt] = s[st.E_src] * s[st.E_dst]
        btgt = st.bias_pos[node_perm[st.B_node]]
        src[btgt] = st.B_idx
        sign[btgt] = s[st.B_node]
        m = (s[st.E_src] < 0) & (st.flip_a[st.E_src] != 0)
        add = None
        if m.any():
            t = st.bias_pos[node_perm[st.E_dst[m]]]
            c = s[st.E_dst[m]] * st.flip_a[st.E_src[m]]
            add = (t, st.E_idx[m], c)
        return src, sign, add

    @cached_property
    def _add_matrix(self):
        add = self._maps[2]
        if add is None:
            return None
        t, j, c = add
        P = self._st.P
        return ssp.csr_matrix((c, (t, j)), shape=(P, P))

    # -------------------------------------------------------------- algebra
    def __call__(self, theta) -> np.ndarray:
        """Apply the transform to one θ (length P, or P plus family parameters) or a batch (..., P)."""
        arr = _check_theta(self.architecture, theta, batch=True)
        P = self._st.P
        src, sign, _ = self._maps
        out = arr.copy()
        out[..., :P] = arr[..., src] * sign
        A = self._add_matrix
        if A is not None:
            flat = arr[..., :P].reshape(-1, P)
            out[..., :P] += np.asarray(A @ flat.T).T.reshape(arr.shape[:-1] + (P,))
        return out

    def __mul__(self, other: "ParamTransform") -> "ParamTransform":
        """``(g * h)(θ) == g(h(θ))``."""
        if not isinstance(other, ParamTransform):
            return NotImplemented
        if other.architecture is not self.architecture:
            raise SymmleValueError("can only compose transforms of the same architecture")
        perm = self._perm[other._perm]
        flips = self._flips[other._perm] ^ other._flips
        return ParamTransform._make(self.architecture, perm, flips)

    def inverse(self) -> "ParamTransform":
        """The transform ``g⁻¹`` with ``g.inverse()(g(θ)) == θ``."""
        inv = np.argsort(self._perm)
        return ParamTransform._make(self.architecture, inv, self._flips[inv])

    def __eq__(self, other):
        if not isinstance(other, ParamTransform):
            return NotImplemented
        return (self.architecture is other.architecture and np.array_equal(self._perm, other._perm)
                and np.array_equal(self._flips, other._flips))

    def __hash__(self):
        return hash((id(self.architecture), self._perm.tobytes(), self._flips.tobytes()))

    def matrix(self) -> np.ndarray:
        """The (P, P) matrix ``M`` with ``g(θ) = M θ`` on the network parameters."""
        P = self._st.P
        src, sign, _ = self._maps
        M = np.zeros((P, P))
        M[np.arange(P), src] = sign
        if self._add_matrix is not None:
            M += self._add_matrix.toarray()
        return M

    # ---------------------------------------------------------------- words
    def describe(self, max_items: int = 6) -> str:
        """The transform in words: which units it flips, then how it permutes them."""
        st = self._st
        names = [str(st.nodes[v]) for v in st.hidden]
        parts = []
        fl = np.flatnonzero(self._flips).tolist()
        if fl:
            shown = [names[i] for i in fl[:max_items]]
            more = f" (+{len(fl) - max_items} more)" if len(fl) > max_items else ""
            parts.append("flip " + ", ".join(shown) + more)
        cycles = _cycles(self._perm)
        if cycles:
            words = [_cycle_words(names, c) for c in cycles[:max_items]]
            if len(cycles) > max_items:
                words.append(f"(+{len(cycles) - max_items} more cycles)")
            parts.append("; ".join(words))
        return ", then ".join(parts) if parts else "identity"

    def __repr__(self):
        return f"<ParamTransform: {self.describe()}>"


# =========================================================== the quotient
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


def _quotient_transversals(labels: list, preds: list, succs: list) -> list[list[np.ndarray]]:
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


# ========================================================= SymmetryGroup
class SymmetryGroup:
    """The discrete symmetries of θ that keep ``f(·; θ)`` unchanged: an exact group.

    Built by `symmetry_group`; do not construct directly.

    Attributes
    ----------
    architecture : Architecture
    order : int
        The exact number of elements.
    generators : tuple of ParamTransform
        A generating set (per twin class a transposition, a cycle and one flip;
        plus the automorphisms of the quotient graph along a stabilizer chain).

    Examples
    --------
    >>> G = sm.symmetry_group(sm.mlp(2, 3, 1, activation="tanh"))
    >>> G.order
    48
    >>> print(G)
    Symmetry group of mlp(2, 3, 1, activation='tanh') (13 parameters)
      order: 48 = 2^3 · 3!
      generators (3):
        swap h1_1 and h1_2
        cycle h1_1 → h1_2 → h1_3 → h1_1
        flip h1_1 (tanh is odd: negate its incoming weights, bias and outgoing weights)
      continuous symmetries: dimension 0 at a generic θ
    """

    def __init__(self, arch: Architecture, _token=None):
        if _token is not _TOKEN:
            raise SymmleTypeError("use sm.symmetry_group(arch) to get a SymmetryGroup")
        self.architecture = arch
        st = self._st = _structure(arch)
        self.classes = st.twin_classes
        # the labelled quotient graph: one node per twin class
        C = len(self.classes)
        reps = np.array([st.hidden[m[0]] for m in self.classes], dtype=np.intp)
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
        for c, m in enumerate(self.classes):
            v = st.hidden[m[0]]
            labels.append((st.act_name[v], bool(st.bias_pos[v] >= 0), len(m),
                           tuple(sorted(inputs[c])), tuple(sorted(outs[c]))))
        self._q_preds = [sorted(p) for p in preds]
        self._q_succs = [sorted(s) for s in succs]
        self._transversals = _quotient_transversals(labels, self._q_preds, self._q_succs)

    # ------------------------------------------------------------ structure
    @cached_property
    def quotient_order(self) -> int:
        """The order of the automorphism group of the quotient graph of twin classes."""
        return math.prod(len(t) for t in self._transversals)

    @cached_property
    def n_flippable(self) -> int:
        return int(self._st.flippable.sum())

    @cached_property
    def order(self) -> int:
        """The exact order ``|Aut(quotient)| · Π n_c! · 2^f``."""
        return (self.quotient_order * math.prod(math.factorial(len(m)) for m in self.classes)
                * 2 ** self.n_flippable)

    def _lift(self, phi: np.ndarray) -> np.ndarray:
        """A class permutation lifted to hidden units (k-th member to k-th member)."""
        perm = np.arange(self._st.H, dtype=np.intp)
        for c, d in enumerate(phi.tolist()):
            if c != d:
                perm[self.classes[c]] = self.classes[d]
        return perm

    def _quotient_elements(self):
        """Every lifted quotient automorphism (as hidden permutations)."""
        for choice in itertools.product(*[range(len(T)) for T in self._transversals]):
            yield self._lift(self._product(choice))

    def _product(self, choice) -> np.ndarray:
        # g = t_1 ∘ t_2 ∘ … ∘ t_m : apply t_m first.
        phi = np.arange(len(self.classes), dtype=np.intp)
        for T, k in reversed(list(zip(self._transversals, choice))):
            phi = T[k][phi]
        return phi

    @cached_property
    def generators(self) -> tuple[ParamTransform, ...]:
        """A generating set of `ParamTransform` objects."""
        st = self._st
        H = st.H
        ident = np.arange(H, dtype=np.intp)
        none = np.zeros(H, bool)
        gens = []
        for m in self.classes:
            if len(m) >= 2:
                p = ident.copy()
                p[m[0]], p[m[1]] = m[1], m[0]
                gens.append(ParamTransform._make(self.architecture, p, none))
            if len(m) >= 3:
                p = ident.copy()
                p[m] = np.roll(m, -1)
                gens.append(ParamTransform._make(self.architecture, p, none))
            if st.flippable[m[0]]:
                f = none.copy()
                f[m[0]] = True
                gens.append(ParamTransform._make(self.architecture, ident, f))
        for T in self._transversals:
            for phi in T[1:]:
                gens.append(ParamTransform._make(self.architecture, self._lift(phi), none))
        return tuple(gens)

    # -------------------------------------------------------------- elements
    def _element(self, choice, class_perms, flips) -> ParamTransform:
        perm_k = np.arange(self._st.H, dtype=np.intp)
        for m, sigma in zip(self.classes, class_perms):
            perm_k[m] = m[np.asarray(sigma, dtype=np.intp)]
        perm = self._lift(self._product(choice))[perm_k]
        return ParamTransform._make(self.architecture, perm, flips)

    def random_element(self, rng=None) -> ParamTransform:
        """A uniformly distributed element of the group.

        Examples
        --------
        >>> arch = sm.mlp(2, 4, 1, activation="sigmoid")
        >>> g = sm.symmetry_group(arch).random_element(0)
        >>> theta = np.random.default_rng(1).standard_normal(arch.n_params)
        >>> X = np.random.default_rng(2).standard_normal((5, 2))
        >>> bool(np.allclose(arch.forward(g(theta), X), arch.forward(theta, X)))
        True
        """
        rng = as_rng(rng)
        choice = [int(rng.integers(len(T))) for T in self._transversals]
        perms = [rng.permutation(len(m)) for m in self.classes]
        flips = (rng.random(self._st.H) < 0.5) & self._st.flippable
        return self._element(choice, perms, flips)

    def element_from_rank(self, rank: int) -> ParamTransform:
        """The element number ``rank`` (``0 ≤ rank < order``; 0 is the identity).

        A bijection from ``range(order)`` to the group (mixed radix: flips,
        then Lehmer codes of the within-class permutations, then the quotient
        transversals), so ``rank`` drawn uniformly gives a uniform element.
        """
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < self.order:
            raise SymmleValueError(f"rank must be an integer in [0, {self.order}), got {rank!r}")
        r = int(rank)
        flips = np.zeros(self._st.H, bool)
        for h in np.flatnonzero(self._st.flippable):
            r, bit = divmod(r, 2)
            flips[h] = bool(bit)
        perms = []
        for m in self.classes:
            items = list(range(len(m)))
            sigma = []
            for k in range(len(m), 0, -1):
                r, d = divmod(r, k)
                sigma.append(items.pop(d))
            perms.append(sigma)
        choice = []
        for T in self._transversals:
            r, d = divmod(r, len(T))
            choice.append(d)
        return self._element(choice, perms, flips)

    def elements(self, *, limit: int = MAX_ELEMENTS):
        """Iterate over every element (the identity first).

        Raises
        ------
        SymmleValueError
            When the order exceeds ``limit`` (default `MAX_ELEMENTS` = 100 000);
            use `random_element` for large groups.

        Examples
        --------
        >>> G = sm.symmetry_group(sm.mlp(1, 2, 1, activation="relu"))
        >>> [g.describe() for g in G.elements()]
        ['identity', 'swap h1_1 and h1_2']
        """
        if self.order > limit:
            raise SymmleValueError(
                f"the group has order {_order_words(self)} > limit={limit}; "
                "draw elements with random_element(rng) or pass a larger limit=")
        return self._iter_elements()

    def _iter_elements(self):
        st = self._st
        flip_units = np.flatnonzero(st.flippable)
        for choice in itertools.product(*[range(len(T)) for T in self._transversals]):
            for perms in itertools.product(*[itertools.permutations(range(len(m)))
                                             for m in self.classes]):
                for bits in itertools.product((False, True), repeat=len(flip_units)):
                    flips = np.zeros(st.H, bool)
                    flips[flip_units] = bits
                    yield self._element(choice, perms, flips)

    def orbit(self, theta, *, limit: int = MAX_ELEMENTS) -> np.ndarray:
        """``g(θ)`` for every element g: an array (order, len(θ)), identity first.

        Examples
        --------
        >>> G = sm.symmetry_group(sm.mlp(1, 2, 1, activation="tanh"))
        >>> G.orbit(np.arange(1.0, 8.0)).shape
        (8, 7)
        """
        theta = _check_theta(self.architecture, theta)
        if self.order > limit:
            raise SymmleValueError(f"the group has order {_order_words(self)} > limit={limit}")
        return _table(self)(theta)

    # --------------------------------------------------------------- words
    @cached_property
    def continuous_dim(self) -> int:
        """The dimension of the continuous symmetries at a generic θ (network only)."""
        theta = np.random.default_rng(20240607).standard_normal(self._st.P)
        return continuous_symmetries(self.architecture, theta).shape[1]

    def order_formula(self) -> str:
        """The order as a product of factors, e.g. ``'2^3 · 3!'``."""
        parts = []
        if self.n_flippable:
            parts.append("2" if self.n_flippable == 1 else f"2^{self.n_flippable}")
        sizes = Counter(len(m) for m in self.classes if len(m) > 1)
        for n, k in sorted(sizes.items()):
            parts.append(f"{n}!" if k == 1 else f"({n}!)^{k}")
        if self.quotient_order > 1:
            parts.append(str(self.quotient_order))
        return " · ".join(parts) if parts else "1"

    def __str__(self):
        st = self._st
        lines = [f"Symmetry group of {self.architecture!r} ({st.P} parameters)",
                 f"  order: {_order_words(self)}"]
        gens = self.generators
        lines.append(f"  generators ({len(gens)}):" if gens else "  generators: none (trivial group)")
        for g in gens[:20]:
            lines.append("    " + _generator_words(g))
        if len(gens) > 20:
            lines.append(f"    … ({len(gens) - 20} more)")
        dim = self.continuous_dim
        why = _continuous_words(st) if dim else ""
        lines.append(f"  continuous symmetries: dimension {dim} at a generic θ{why}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The ``str`` form as an HTML table (order, generators, continuous symmetries)."""
        from .display import html_report

        st = self._st
        gens = self.generators
        rows = [["order", _order_words(self)]]
        if gens:
            rows.append(["generators", f"{len(gens)}"])
            rows += [["generator", _generator_words(g)] for g in gens[:20]]
            if len(gens) > 20:
                rows.append(["", f"… ({len(gens) - 20} more)"])
        else:
            rows.append(["generators", "none (trivial group)"])
        dim = self.continuous_dim
        why = _continuous_words(st) if dim else ""
        rows.append(["continuous symmetries", f"dimension {dim} at a generic θ{why}"])
        return html_report(f"Symmetry group of {self.architecture!r} ({st.P} parameters)", rows=rows)

    def __repr__(self):
        return f"<SymmetryGroup of {self.architecture!r}: order {_order_words(self)}>"


_TOKEN = object()


def _order_words(G: SymmetryGroup) -> str:
    formula = G.order_formula()
    log10 = (G.n_flippable * math.log10(2) + math.log10(G.quotient_order)
             + sum(math.lgamma(len(m) + 1) for m in G.classes) / math.log(10))
    if log10 < 30:
        return f"{G.order}" if formula in (str(G.order), "1") else f"{G.order} = {formula}"
    mant = 10 ** (log10 - math.floor(log10))
    return f"{formula} ≈ {mant:.3f}e{int(math.floor(log10))}"


def _generator_words(g: ParamTransform) -> str:
    st = g._st
    fl = np.flatnonzero(g._flips)
    if len(fl) == 1 and np.array_equal(g._perm, np.arange(st.H)):
        v = st.hidden[fl[0]]
        name = st.act_name[v]
        if st.flip_a[v] == 0:
            why = f"{name} is odd: negate its incoming weights, bias and outgoing weights"
        else:
            why = (f"{name}: σ(-z) = 1 - σ(z); negate its incoming weights, bias and outgoing "
                   "weights, add the outgoing weights to the successors' biases")
        return f"flip {st.nodes[v]} ({why})"
    return g.describe()


def _continuous_words(st: _Structure) -> str:
    hid = st.hidden
    kinds = []
    if st.homogeneous[hid].any():
        kinds.append("positive rescaling of each " + "/".join(
            sorted({st.act_name[v] for v in hid if st.homogeneous[v]})) + " unit")
    if st.linear[hid].any():
        kinds.append("affine (GL) mixing of identity units")
    return f" ({'; '.join(kinds)})" if kinds else ""


def symmetry_group(arch) -> SymmetryGroup:
    """The group of discrete parameter symmetries of an architecture.

    Parameters
    ----------
    arch : Architecture or Model
        Any graph from `Architecture.from_graph` or `mlp` (a Model
        gives its architecture's group).

    Returns
    -------
    SymmetryGroup
        Cached per architecture.

    Examples
    --------
    >>> sm.symmetry_group(sm.mlp(2, 3, 1, activation="tanh")).order
    48
    >>> sm.symmetry_group(sm.mlp(2, 3, 3, 1, activation="relu")).order   # 3! · 3!
    36

    Two identical branches that swap whole (no twin units, order 2):

    >>> import networkx as nx
    >>> G = nx.DiGraph()
    >>> G.add_node("x", role="input"); G.add_node("y", role="output")
    >>> for b in "pq":
    ...     G.add_node(b + "1", role="hidden", activation="relu")
    ...     G.add_node(b + "2", role="hidden", activation="relu")
    ...     G.add_edges_from([("x", b + "1"), (b + "1", b + "2"), (b + "2", "y")])
    >>> sm.symmetry_group(sm.Architecture.from_graph(G)).order
    2

    References
    ----------
    Chen, Lu & Hecht-Nielsen (1993), On the geometry of feedforward neural network
    error surfaces. Neural Computation 5(6).
    """
    arch, _ = _as_arch(arch)
    G = arch.__dict__.get(_GROUP_KEY)
    if G is None:
        G = arch.__dict__[_GROUP_KEY] = SymmetryGroup(arch, _TOKEN)
    return G


# ================================================== exhaustive orbit table
class _OrbitTable:
    """All elements of a small group stacked, to apply them to one θ at once."""

    def __init__(self, G: SymmetryGroup):
        elems = list(G._iter_elements())
        self.elements = elems
        self.src = np.stack([g._maps[0] for g in elems]) if elems[0]._st.P else None
        self.sign = np.stack([g._maps[1] for g in elems]) if elems[0]._st.P else None
        rows, t, s, c = [], [], [], []
        for k, g in enumerate(elems):
            add = g._maps[2]
            if add is not None:
                rows.append(np.full(len(add[0]), k))
                t.append(add[0]), s.append(add[1]), c.append(add[2])
        self.add = (np.concatenate(rows), np.concatenate(t), np.concatenate(s),
                    np.concatenate(c)) if rows else None
        self.P = G._st.P

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        out = np.broadcast_to(theta, (len(self.elements), len(theta))).copy()
        if self.P:
            out[:, :self.P] = theta[self.src] * self.sign
        if self.add is not None:
            r, t, s, c = self.add
            np.add.at(out, (r, t), c * theta[s])
        return out


def _table(G: SymmetryGroup) -> _OrbitTable:
    t = G.__dict__.get("_orbit_table")
    if t is None:
        t = G.__dict__["_orbit_table"] = _OrbitTable(G)
    return t


# ====================================================== continuous symmetries
def continuous_symmetries(arch_or_model, theta) -> np.ndarray:
    """A basis of the tangent directions at θ along which ``f`` (and the likelihood) stay constant.

    Parameters
    ----------
    arch_or_model : Architecture or Model
        With a Model the family's own symmetries are added (the softmax shift
        of `symmle.families.Categorical`: the same change to every
        output).
    theta : array_like
        θ of the architecture, or of the Model (family parameters at the end).

    Returns
    -------
    ndarray, shape (len(θ), k)
        Linearly independent columns, in this order: per hidden unit, the
        positive rescaling of a ReLU / leaky-ReLU / identity unit (incoming
        weights and bias ``+θ``, outgoing weights ``-θ``); per identity hidden
        unit, the bias translation absorbed by its successors' biases and the
        additions of other available signals (affine ``GL`` mixing); then the
        family's directions. Dependent directions are dropped (pivoted QR).
        The family parameters' rows are zero.

    Examples
    --------
    >>> arch = sm.mlp(1, 2, 1, activation="relu")
    >>> theta = np.array([1.0, -2.0, 0.5, 0.3, 3.0, 4.0, 0.1])
    >>> V = sm.continuous_symmetries(arch, theta)
    >>> V.shape
    (7, 2)
    >>> V[:, 0]
    array([ 1. ,  0. ,  0.5,  0. , -3. ,  0. ,  0. ])
    >>> X = np.linspace(-2, 2, 9)[:, None]
    >>> c = 1.5   # scale unit 1's incoming side by c and its outgoing weight by 1/c
    >>> moved = theta.copy(); moved[[0, 2]] *= c; moved[4] /= c
    >>> bool(np.allclose(arch.forward(moved, X), arch.forward(theta, X)))
    True
    >>> model = sm.Model(sm.mlp(2, 3), sm.Categorical())   # multinomial logit: softmax shift
    >>> sm.continuous_symmetries(model, model.random_params(0)).shape
    (9, 3)
    """
    arch, model = _as_arch(arch_or_model, "arch_or_model")
    theta = _check_theta(arch, theta, length=model.n_params if model is not None else None)
    st = _structure(arch)
    Ptot = len(theta)
    cols = []

    def unit_edges(v):
        i_in = np.flatnonzero(st.E_dst == v)
        i_out = np.flatnonzero(st.E_src == v)
        return i_in, i_out

    in_sets = {}
    out_sets = {}
    edges_of = {}
    for v in st.hidden.tolist():
        if st.homogeneous[v] or st.linear[v]:
            i_in, i_out = unit_edges(v)
            edges_of[v] = (i_in, i_out)
            col = np.zeros(Ptot)
            col[st.E_idx[i_in]] = theta[st.E_idx[i_in]]
            if st.bias_pos[v] >= 0:
                col[st.bias_pos[v]] = theta[st.bias_pos[v]]
            col[st.E_idx[i_out]] = -theta[st.E_idx[i_out]]
            cols.append(col)
    lin = [v for v in st.hidden.tolist() if st.linear[v]]
    for v in lin:
        in_sets[v] = set(st.E_src[edges_of[v][0]].tolist())
        out_sets[v] = set(st.E_dst[edges_of[v][1]].tolist())
    for u in lin:
        i_in, i_out = edges_of[u]
        succ = st.E_dst[i_out]
        w_out = theta[st.E_idx[i_out]]
        # bias translation: h_u += ε, the successors' biases absorb -ε w_us
        if st.bias_pos[u] >= 0 and np.all(st.bias_pos[succ] >= 0):
            col = np.zeros(Ptot)
            col[st.bias_pos[u]] = 1.0
            np.add.at(col, st.bias_pos[succ], -w_out)
            cols.append(col)
        # add ε·h_p of a predecessor p to u, where p also feeds every successor of u
        for k in i_in.tolist():
            p = int(st.E_src[k])
            if out_sets[u] <= _succ_set(st, p):
                col = np.zeros(Ptot)
                col[st.E_idx[k]] = 1.0
                col[st.edge_lookup(np.full(len(succ), p), succ)] -= w_out
                cols.append(col)
        # add ε·z_v of another identity unit v whose inputs u also receives
        for v in lin:
            if v == u or v in in_sets[u] or not in_sets[v] <= in_sets[u]:
                continue
            if (st.bias_pos[v] >= 0 and st.bias_pos[u] < 0) or not out_sets[u] <= out_sets[v]:
                continue
            vi_in = edges_of[v][0]
            col = np.zeros(Ptot)
            col[st.edge_lookup(st.E_src[vi_in], np.full(len(vi_in), u))] += theta[st.E_idx[vi_in]]
            if st.bias_pos[v] >= 0:
                col[st.bias_pos[u]] += theta[st.bias_pos[v]]
            col[st.edge_lookup(np.full(len(succ), v), succ)] -= w_out
            cols.append(col)
    if model is not None:
        cols.extend(_family_directions(model, st, Ptot))
    if not cols:
        return np.zeros((Ptot, 0))
    V = np.stack(cols, axis=1)
    if V.size > 5e7:
        return V
    _, R, piv = sla.qr(V, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    if d.size == 0 or d[0] == 0:
        return np.zeros((Ptot, 0))
    rank = int(np.sum(d > d[0] * max(V.shape) * 1e-10))
    return V[:, np.sort(piv[:rank])]


def _succ_set(st: _Structure, p: int) -> set:
    return set(st.E_dst[st.E_src == p].tolist())


def _family_directions(model: Model, st: _Structure, Ptot: int) -> list[np.ndarray]:
    from .families import Categorical

    if not isinstance(model.family, Categorical):
        return []
    outs = st.output_ids
    if any(not st.linear[o] for o in outs):
        return []   # the softmax shift needs η itself to move by the same amount
    cols = []
    common = set.intersection(*[set(st.E_src[st.E_dst == o].tolist()) for o in outs])
    for p in sorted(common, key=lambda p: st.layer_of[p] * st.N + p if not st.is_input[p] else p):
        col = np.zeros(Ptot)
        col[st.edge_lookup(np.full(len(outs), p), outs)] = 1.0
        cols.append(col)
    if np.all(st.bias_pos[outs] >= 0):
        col = np.zeros(Ptot)
        col[st.bias_pos[outs]] = 1.0
        cols.append(col)
    return cols


# ======================================================= canonical forms
def _layer_rows(st: _Structure, arch: Architecture, theta: np.ndarray, k: int):
    """Layer k's incoming matrix [W | b] (units × (sources + 1)) from θ."""
    L = arch.layers[k]
    M = np.zeros((len(L.units), len(L.sources) + 1))
    M[L.rows, L.cols] = theta[L.weight_idx]
    M[L.bias_units, -1] = theta[L.bias_idx]
    return M


def _hidden_layers(st: _Structure):
    """(layer index, hidden positions of that layer's classes) in depth order."""
    out = []
    for k, u_ids in enumerate(st.layer_units):
        hp = st.hpos[u_ids]
        if np.any(hp >= 0):
            out.append(k)
    return out


def _normal_canonical(G: SymmetryGroup, theta: np.ndarray) -> ParamTransform:
    """The flips and within-class permutations that bring θ to its canonical form."""
    st, arch = G._st, G.architecture
    acc = ParamTransform._make(arch, np.arange(st.H), np.zeros(st.H, bool))
    cur = theta
    for k in _hidden_layers(st):
        u_ids = st.layer_units[k]
        row_of = {int(v): j for j, v in enumerate(u_ids)}
        M = _layer_rows(st, arch, cur, k)
        flips = np.zeros(st.H, bool)
        for j, v in enumerate(u_ids.tolist()):
            h = st.hpos[v]
            if h >= 0 and st.flippable[h]:
                row = M[j]
                flips[h] = row[np.argmax(np.abs(row))] < 0
        if flips.any():
            f = ParamTransform._make(arch, np.arange(st.H), flips)
            cur, acc = f(cur), f * acc
            M = _layer_rows(st, arch, cur, k)
        perm = np.arange(st.H, dtype=np.intp)
        for m in G.classes:
            if len(m) < 2 or st.layer_of[st.hidden[m[0]]] != k + 1:
                continue
            rows = M[[row_of[int(st.hidden[h])] for h in m]]
            order = np.lexsort(rows.T[::-1])
            perm[m[order]] = m
        p = ParamTransform._make(arch, perm, np.zeros(st.H, bool))
        if not p.is_identity:
            cur, acc = p(cur), p * acc
    return acc


def _quotient_lifts(G: SymmetryGroup, what: str):
    if G.quotient_order > MAX_QUOTIENT_ORDER:
        raise SymmleValueError(
            f"{what}: the graph has {G.quotient_order} automorphisms beyond twin permutations "
            f"(more than {MAX_QUOTIENT_ORDER}); {what} searches them exhaustively")
    none = np.zeros(G._st.H, bool)
    return [ParamTransform._make(G.architecture, p, none) for p in G._quotient_elements()]


def canonicalize(arch, theta, *, return_transform: bool = False):
    """One fixed representative of θ's orbit under the discrete symmetry group.

    Layer by layer from the input: each flippable unit gets the sign that
    makes the largest-magnitude entry of its (incoming weights, bias) positive;
    then twin units are sorted lexicographically by (incoming weights, bias).
    Automorphisms of the quotient graph (e.g. identical branches) are tried
    exhaustively and the lexicographically smallest result is kept. At a
    generic θ, ``canonicalize(g(θ)) == canonicalize(θ)`` for every g.

    Parameters
    ----------
    arch : Architecture or Model
    theta : array_like
        θ (a Model's θ keeps its family parameters unchanged).
    return_transform : bool
        Also return the `ParamTransform` g with ``g(θ)`` the result.

    Examples
    --------
    >>> arch = sm.mlp(1, 2, 1, activation="tanh")
    >>> theta = np.array([-1.0, 2.0, 0.5, 0.3, 3.0, 4.0, 0.1])
    >>> sm.canonicalize(arch, theta)
    array([ 1. ,  2. , -0.5,  0.3, -3. ,  4. ,  0.1])
    >>> g = sm.symmetry_group(arch).random_element(5)
    >>> bool(np.allclose(sm.canonicalize(arch, g(theta)), sm.canonicalize(arch, theta)))
    True
    """
    arch, _ = _as_arch(arch)
    theta = _check_theta(arch, theta)
    G = symmetry_group(arch)
    best, best_g = None, None
    for q in _quotient_lifts(G, "canonicalize"):
        x = q(theta)
        g = _normal_canonical(G, x) * q
        y = g(theta)
        if best is None or tuple(y) < tuple(best):
            best, best_g = y, g
    return (best, best_g) if return_transform else best


# ================================================================ alignment
def _out_to_outputs(st: _Structure, units: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Weights from each unit to each output (0 where there is no edge): (len(units), n_out)."""
    out = np.zeros((len(units), len(st.output_ids)))
    mask = st.is_output[st.E_dst] & (st.hpos[st.E_src] >= 0)
    pos_u = {int(v): i for i, v in enumerate(units)}
    opos = {int(o): j for j, o in enumerate(st.output_ids)}
    for a, b, i in zip(st.E_src[mask].tolist(), st.E_dst[mask].tolist(), st.E_idx[mask].tolist()):
        if a in pos_u:
            out[pos_u[a], opos[b]] = theta[i]
    return out


def _normal_align(G: SymmetryGroup, x: np.ndarray, ref: np.ndarray) -> ParamTransform:
    """Flips and within-class permutations bringing x close to ref, layer by layer."""
    st, arch = G._st, G.architecture
    acc = ParamTransform._make(arch, np.arange(st.H), np.zeros(st.H, bool))
    cur = x
    out_bias = st.bias_pos[st.output_ids]
    for k in _hidden_layers(st):
        u_ids = st.layer_units[k]
        row_of = {int(v): j for j, v in enumerate(u_ids)}
        M = _layer_rows(st, arch, cur, k)
        Mr = _layer_rows(st, arch, ref, k)
        O = _out_to_outputs(st, u_ids, cur)
        Or = _out_to_outputs(st, u_ids, ref)
        perm = np.arange(st.H, dtype=np.intp)
        flips = np.zeros(st.H, bool)
        for m in G.classes:
            v0 = st.hidden[m[0]]
            if st.layer_of[v0] != k + 1:
                continue
            rows = [row_of[int(st.hidden[h])] for h in m]
            A = np.hstack([M[rows], O[rows]])
            B = np.hstack([Mr[rows], Or[rows]])
            plus = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
            can_flip = bool(st.flippable[m[0]])
            if not can_flip:
                r, c = linear_sum_assignment(plus)
                perm[m[r]] = m[c]
                continue
            minus = ((A[:, None, :] + B[None, :, :]) ** 2).sum(-1)
            sig = st.flip_a[v0] != 0 and np.all(out_bias >= 0) and O[rows].any()
            if not sig:
                choose = minus < plus
                r, c = linear_sum_assignment(np.where(choose, minus, plus))
                perm[m[r]] = m[c]
                flips[m[r]] = choose[r, c]
                continue
            # sigmoid: flipping unit i adds its outgoing weights w_i to the output biases.
            w = O[rows]
            e = cur[out_bias] - ref[out_bias]
            best = None
            lam = e.copy()
            for _ in range(12):
                minus_adj = minus + (2 * w @ lam + (w ** 2).sum(1))[:, None]
                choose = minus_adj < plus
                r, c = linear_sum_assignment(np.where(choose, minus_adj, plus))
                fl = choose[r, c]
                D = w[r[fl]].sum(0)
                cost = np.where(fl, minus[r, c], plus[r, c]).sum() + ((e + D) ** 2).sum()
                if best is not None and np.array_equal(fl, best[3]) and np.array_equal(c, best[2]):
                    break
                if best is None or cost < best[0]:
                    best = (cost, r, c, fl)
                lam = e + D  # linearise (e + D)² around the current D
            _, r, c, fl = best
            perm[m[r]] = m[c]
            flips[m[r]] = fl
        if flips.any():
            f = ParamTransform._make(arch, np.arange(st.H), flips)
            cur, acc = f(cur), f * acc
        # perm was computed for the unflipped units; flipping does not move them
        p = ParamTransform._make(arch, perm, np.zeros(st.H, bool))
        if not p.is_identity:
            cur, acc = p(cur), p * acc
    return acc


def _polish_flips(G: SymmetryGroup, g: ParamTransform, theta, reference) -> ParamTransform:
    """Greedy single-unit sigmoid flips after the assignment (their bias coupling is global)."""
    st = G._st
    units = np.flatnonzero(st.flippable & (st.flip_a[st.hidden] != 0))
    if len(units) == 0 or st.P * len(units) > 2e7:
        return g
    ident = np.arange(st.H, dtype=np.intp)
    best = float(((g(theta) - reference) ** 2).sum())
    improved = True
    while improved:
        improved = False
        for h in units.tolist():
            f = np.zeros(st.H, bool)
            f[h] = True
            cand = ParamTransform._make(G.architecture, ident, f) * g
            d = float(((cand(theta) - reference) ** 2).sum())
            if d < best - 1e-15:
                g, best, improved = cand, d, True
    return g


def align(arch, theta, reference, *, return_transform: bool = False):
    """The member of θ's orbit closest (Euclidean) to ``reference``.

    Exhaustive (exact, any graph) when the group has at most
    `EXHAUSTIVE_ORDER` elements. Otherwise layer by layer from the input:
    for each class of twin units a linear assignment problem
    (``scipy.optimize.linear_sum_assignment``) over units and both signs, with
    cost the squared distance of (incoming weights, bias, weights to the
    outputs); this is exact for one hidden layer of odd or sign-free units.
    For sigmoid units the flip also moves the output biases; that coupling is
    handled by re-solving the assignment with the bias term linearised.
    Automorphisms of the quotient graph are tried exhaustively.

    Parameters
    ----------
    arch : Architecture or Model
    theta, reference : array_like
        Vectors of the same length (a Model's θ keeps its family parameters).
    return_transform : bool
        Also return the `ParamTransform` g with ``g(theta)`` the result.

    Returns
    -------
    ndarray, or (ndarray, ParamTransform)

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> ref = np.random.default_rng(0).standard_normal(13)
    >>> g = sm.symmetry_group(arch).random_element(1)
    >>> aligned, h = sm.align(arch, g(ref), ref, return_transform=True)
    >>> bool(np.allclose(aligned, ref)), h == g.inverse()
    (True, True)
    """
    arch, _ = _as_arch(arch)
    theta = _check_theta(arch, theta)
    reference = _check_theta(arch, reference, "reference", length=len(theta))
    G = symmetry_group(arch)
    if G.order <= EXHAUSTIVE_ORDER:
        T = _table(G)
        orbit = T(theta)
        k = int(np.argmin(((orbit - reference) ** 2).sum(1)))
        return (orbit[k], T.elements[k]) if return_transform else orbit[k]
    best, best_d = None, np.inf
    for q in _quotient_lifts(G, "align"):
        g = _normal_align(G, q(theta), reference) * q
        g = _polish_flips(G, g, theta, reference)
        y = g(theta)
        d = float(((y - reference) ** 2).sum())
        if d < best_d:
            best, best_d = (y, g), d
    return best if return_transform else best[0]


def orbit_distance(arch, a, b) -> float:
    """``min_g ||g(a) - b||`` over the discrete symmetry group.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> a = np.random.default_rng(0).standard_normal(13)
    >>> g = sm.symmetry_group(arch).random_element(3)
    >>> round(sm.orbit_distance(arch, a, g(a)), 12), bool(np.linalg.norm(a - g(a)) > 0)
    (0.0, True)
    """
    arch, _ = _as_arch(arch)
    a = _check_theta(arch, a, "a")
    b = _check_theta(arch, b, "b", length=len(a))
    G = symmetry_group(arch)
    if G.order <= EXHAUSTIVE_ORDER:
        orbit = _table(G)(a)
        return float(np.sqrt(((orbit - b) ** 2).sum(1).min()))
    return float(np.linalg.norm(align(arch, a, b) - b))
