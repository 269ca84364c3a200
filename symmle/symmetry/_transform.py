"""`ParamTransform`: one discrete symmetry of θ (flip some hidden units, then permute them).

A transform is stored as a permutation and a flip mask of hidden positions; `transform_maps`
turns that into the signed (for the sigmoid, affine) permutation of θ it applies.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as ssp

from ..architecture import Architecture
from ..errors import SymmleTypeError, SymmleValueError
from ._structure import _Structure, check_theta, structure

__all__ = ["ParamTransform", "transform_maps", "DESCRIBE_MAX_ITEMS"]

#: `ParamTransform.describe` names at most this many flipped units and cycles (and shortens a
#: cycle longer than this), so a transform of a wide network still reads as one line.
DESCRIBE_MAX_ITEMS = 6


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


def _cycle_words(names: list[str], cyc: list[int], max_items: int = DESCRIBE_MAX_ITEMS) -> str:
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
        st = structure(arch)
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
        self._st = structure(arch)
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
        return _node_perm(self._st, self._perm)

    @cached_property
    def _maps(self):
        """``(src, sign, add)``: θ'[i] = sign[i]·θ[src[i]] + (add @ θ)[i] on the network part."""
        return transform_maps(self._st, self._perm, self._flips)

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
        arr = check_theta(self.architecture, theta, batch=True)
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
    def describe(self, max_items: int = DESCRIBE_MAX_ITEMS) -> str:
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


def _node_perm(st: _Structure, perm: np.ndarray) -> np.ndarray:
    """The permutation of node ids that moves hidden position ``h`` to ``perm[h]``."""
    out = np.arange(st.N, dtype=np.intp)
    out[st.hidden] = st.hidden[perm]
    return out


def transform_maps(st: _Structure, perm: np.ndarray, flips: np.ndarray):
    """``(src, sign, add)`` of the transform (flips, then perm) on the network part of θ.

    ``θ'[i] = sign[i]·θ[src[i]]`` plus, where a sigmoid unit is flipped, ``add = (targets,
    sources, coefficients)`` of the old outgoing weights added to the successors' biases
    (None when there are none).
    """
    P = st.P
    node_perm = _node_perm(st, perm)
    s = np.ones(st.N)
    s[st.hidden[flips]] = -1.0
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
