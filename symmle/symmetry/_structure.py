"""The integer structure of an architecture that every symmetry computation reads.

`structure` gives the `_Structure` of an architecture (node ids, edge and bias indices into θ,
activation facts and negation identities, which units can flip and what their flips move, twin
classes), computed once and kept in a weak cache keyed by the architecture. `arch_and_model`
and `check_theta` are the argument checks the symmetry functions (and
`symmle.identifiability`) share.
"""

from __future__ import annotations

import weakref
from functools import cached_property

import numpy as np

from .._checks import as_real_array
from ..architecture import Architecture
from ..errors import ParamsError, SymmleTypeError
from ..model import Model

__all__ = ["structure", "forget_structure", "arch_and_model", "check_theta"]

#: Seed of the random node weights whose sums hash each unit's in- and out-neighbourhood when
#: twin classes are sought (any fixed seed: the hash only proposes classes; incomplete layers
#: are verified on the graph itself).
_TWIN_HASH_SEED = 12345


class _Structure:
    """Integer bookkeeping of an architecture, computed once per architecture.

    It holds index arrays, node names and activation facts but not the architecture itself (nor
    its graph, which an MLP builds only on first use), so that the weak cache `structure` keeps
    it only as long as the architecture lives.
    """

    def __init__(self, arch: Architecture):
        nd = arch._node_data   # the graph's nodes and their attributes
        self.nodes = list(nd)
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
        # activations: the negation identity σ(-z) = α + β·σ(z) + γ·z of each unit, if any
        acts = {}
        self.act_name = []
        self.alpha = np.zeros(N)
        self.beta = np.ones(N)
        self.gamma = np.zeros(N)
        has_negation = np.zeros(N, bool)
        self.homogeneous = np.zeros(N, bool)
        self.linear = np.zeros(N, bool)
        self.degree = np.zeros(N, dtype=np.intp)   # r of a monomial activation z^r, else 0
        for i, v in enumerate(self.nodes):
            if nd[v]["role"] == "input":
                self.act_name.append(None)
                continue
            name = nd[v]["activation"]
            act = acts.setdefault(name, arch.activation_of(v))
            self.act_name.append(name)
            self.linear[i] = act.linear
            self.homogeneous[i] = act.positively_homogeneous and not act.linear
            self.degree[i] = act.polynomial_degree or 0
            neg = act.negation
            if neg is not None:
                has_negation[i] = True
                self.alpha[i], self.beta[i], self.gamma[i] = neg
        flip_ok = np.array([has_negation[v] and self._flip_fits(int(v)) for v in self.hidden],
                           dtype=bool)
        self.flippable = flip_ok if self.H else np.zeros(0, bool)

    def _flip_fits(self, v: int) -> bool:
        """Whether the graph can absorb unit v's flip: the successors' biases take ``α`` and
        ``γ·b_v``, and skip edges from every input of v to every successor take ``γ·w``."""
        needs_bias = self.alpha[v] != 0 or (self.gamma[v] != 0 and self.bias_pos[v] >= 0)
        if needs_bias and not np.all(self.bias_pos[self.succs(v)] >= 0):
            return False
        if self.gamma[v] == 0:
            return True   # (an odd unit's flip moves nothing: no adjacency needed)
        succ = self.succs(v)
        pred = self.preds(v)
        if self.edge_lookup(pred[:1], succ[:1], check=True) is None:
            return False   # the common case (no skip edge at all), without the full product
        src = np.repeat(pred, len(succ))
        dst = np.tile(succ, len(pred))
        return self.edge_lookup(src, dst, check=True) is not None

    @cached_property
    def flip_terms(self) -> tuple:
        """Per hidden position: ``(o, t, a, b, c0)`` arrays of what its flip adds to its
        successors.

        Flipping unit u adds ``c0·s_o·θ[a]·θ'[b]`` (``b ≥ 0``) or ``c0·s_o·θ[a]``
        (``b = -1``) to entry ``t`` of successor ``o``'s row, ``s_o = -1`` when o is flipped
        too: with ``σ(-z) = α + β·σ(z) + γ·z``, ``-β·α·v`` and ``β·γ·v·b'`` go to o's bias
        and ``β·γ·v·w'`` to the skip weight from each input i (``v`` the old weight u → o,
        ``w'``, ``b'`` u's flipped incoming weight from i and bias). Empty for units that
        cannot flip.
        """
        empty = (np.zeros(0, dtype=np.intp),) * 4 + (np.zeros(0),)
        out = []
        for h, u in enumerate(self.hidden.tolist()):
            al, be, ga = self.alpha[u], self.beta[u], self.gamma[u]
            if not self.flippable[h] or (al == 0 and ga == 0):
                out.append(empty)
                continue
            succ = self.succs(u)
            v_idx = self.edge_lookup(np.full(len(succ), u), succ)
            parts = []
            if al != 0:
                parts.append((succ, self.bias_pos[succ], v_idx, np.full(len(succ), -1),
                              np.full(len(succ), -be * al)))
            if ga != 0:
                if self.bias_pos[u] >= 0:
                    parts.append((succ, self.bias_pos[succ], v_idx,
                              np.full(len(succ), self.bias_pos[u]),
                              np.full(len(succ), be * ga)))
                pred = self.preds(u)
                w_idx = self.edge_lookup(pred, np.full(len(pred), u))
                o = np.tile(succ, len(pred))
                parts.append((o, self.edge_lookup(np.repeat(pred, len(succ)), o),
                              np.tile(v_idx, len(pred)), np.repeat(w_idx, len(succ)),
                              np.full(len(o), be * ga)))
            out.append(tuple(np.concatenate([p[k] for p in parts]) for k in range(5)))
        return tuple(out)

    @cached_property
    def _in_adjacency(self):
        """CSR arrays ``(in_ptr, in_src)`` over node ids: sources by target, in id order."""
        _, order = _key_order(self.E_dst, self.E_src, self.N)
        in_src = self.E_src if order is None else self.E_src[order]
        return _pointers(self.E_dst, self.N), in_src

    @cached_property
    def _out_adjacency(self):
        """CSR arrays ``(out_ptr, out_dst)`` over node ids: targets by source, in id order."""
        order = self._edge_keys[2]
        out_dst = self.E_dst if order is None else self.E_dst[order]
        return _pointers(self.E_src, self.N), out_dst

    def preds(self, v: int) -> np.ndarray:
        """Node ids of the sources of node v."""
        in_ptr, in_src = self._in_adjacency
        return in_src[in_ptr[v]:in_ptr[v + 1]]

    def succs(self, v: int) -> np.ndarray:
        """Node ids of the successors of node v."""
        out_ptr, out_dst = self._out_adjacency
        return out_dst[out_ptr[v]:out_ptr[v + 1]]

    # -------------------------------------------------------------- lookups
    @cached_property
    def _edge_keys(self):
        """``(keys, θ indices, order)``: the edges' ``src·N + dst`` sorted, and the sorting
        permutation (None when they are sorted already)."""
        keys, order = _key_order(self.E_src, self.E_dst, self.N)
        if order is None:
            return keys, self.E_idx, None
        return keys[order], self.E_idx[order], order

    def edge_lookup(self, src, dst, *, check: bool = False):
        """θ indices of the edges ``src → dst`` (arrays of node ids)."""
        keys, idx, _ = self._edge_keys
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
        rng = np.random.default_rng(_TWIN_HASH_SEED)
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
        for key, members in groups.items():
            v0 = self.hidden[members[0]]
            exact = self.layer_complete[key[0]] and out_complete[v0]
            if exact or len(members) == 1:
                classes.append(members)
                continue
            # verify with the adjacency itself (incomplete layers only)
            sub: dict = {}
            for h in members:
                v = int(self.hidden[h])
                sig = (frozenset(self.preds(v).tolist()), frozenset(self.succs(v).tolist()))
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


def _key_order(major: np.ndarray, minor: np.ndarray, N: int):
    """``(keys, order)``: the edges' keys ``major·N + minor`` and their stable order (that of
    ``np.lexsort((minor, major))``), None when they are in order already (a layered network's
    edges are, by target)."""
    keys = major.astype(np.int64) * N + minor
    if np.all(keys[1:] >= keys[:-1]):
        return keys, None
    return keys, np.argsort(keys, kind="stable")


def _pointers(ids: np.ndarray, N: int) -> np.ndarray:
    """CSR row pointers: where each node id's run starts in ``ids`` sorted, and the end."""
    ptr = np.zeros(N + 1, dtype=np.intp)
    np.cumsum(np.bincount(ids, minlength=N), out=ptr[1:])
    return ptr


# Keyed weakly by the architecture (``Architecture`` has identity equality and hash), so an entry
# goes away with its architecture; a `_Structure` holds no reference back to it.
_STRUCTURES: "weakref.WeakKeyDictionary[Architecture, _Structure]" = weakref.WeakKeyDictionary()


def structure(arch: Architecture) -> _Structure:
    """The `_Structure` of ``arch``, computed on first use and cached while ``arch`` lives."""
    st = _STRUCTURES.get(arch)
    if st is None:
        # two threads may both build one; setdefault keeps the first for both
        st = _STRUCTURES.setdefault(arch, _Structure(arch))
    return st


def forget_structure(arch: Architecture) -> None:
    """Drop the cached `_Structure` of ``arch`` (the next `structure` call rebuilds it)."""
    _STRUCTURES.pop(arch, None)


def arch_and_model(arch, name: str = "arch") -> tuple[Architecture, Model | None]:
    """``(architecture, model)`` from an Architecture (model None) or a Model, else a TypeError."""
    if isinstance(arch, Model):
        return arch.architecture, arch
    if isinstance(arch, Architecture):
        return arch, None
    raise SymmleTypeError(
        f"{name} must be an Architecture (from sm.mlp or Architecture.from_graph) or a Model, "
        f"got {type(arch).__name__}")


def check_theta(arch: Architecture, theta, name: str = "theta", *, batch: bool = False,
                length: int | None = None, model: Model | None = None) -> np.ndarray:
    """θ as float64: length ``arch.n_params`` plus any family parameters at the end; exactly
    ``model.n_params`` when a model is given (its θ has no room for anything else)."""
    P = arch.n_params
    arr = as_real_array(theta, name=name, expected=f"an array of at least {P} real numbers",
                        error=ParamsError)
    if arr.ndim == 0 or (not batch and arr.ndim != 1):
        raise ParamsError(f"{name} must be one vector of length {P} (the network's parameters, "
                          f"then any family parameters), got shape {arr.shape}")
    if model is not None and arr.shape[-1] != model.n_params:
        raise ParamsError(f"{name} must have length {model.n_params} (the model's parameters: "
                          f"{P} of the network, {model.n_params - P} of the family), got "
                          f"{arr.shape[-1]}")
    if length is not None and arr.shape[-1] != length:
        raise ParamsError(f"{name} must have length {length} like the other vector, "
                          f"got {arr.shape[-1]}")
    if arr.shape[-1] < P:
        raise ParamsError(f"{name} must have length at least {P} (arch.n_params, followed by any "
                          f"family parameters), got {arr.shape[-1]}")
    if not np.all(np.isfinite(arr)):
        raise ParamsError(f"{name} contains NaN or infinite values")
    return arr
