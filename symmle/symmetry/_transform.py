"""`ParamTransform`: one discrete symmetry of θ (flip some hidden units, then permute them).

A transform is stored as a permutation and a flip mask of hidden positions. Flipping a unit
whose activation satisfies ``σ(-z) = α + β·σ(z) + γ·z`` negates its incoming weights and
bias,
multiplies its outgoing weights by β and moves the remainder into its successors: ``α`` and
``γ·b`` into their biases, ``γ·w`` into their skip weights from the unit's inputs. With
``γ = 0`` (odd activations, the sigmoid) that is a signed, affine permutation of θ; with
``γ ≠ 0`` (softplus, SiLU, GELU, ReLU behind skip connections) the skip-weight update is a
product of two parameters, so the map is a polynomial involution of θ, not a linear one.
`FlipProgram` holds that map for one set of flipped units as signs plus, layer by layer,
additive terms ``θ'[t] += c·θ[a]·θ'[b]`` (``θ'[b]`` an already flipped entry of an earlier
layer) and ``θ'[t] += c·θ[a]``; `target_index` is the permutation part.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .._checks import check_int
from ..architecture import Architecture
from ..errors import SymmleTypeError, SymmleValueError
from ._structure import _Structure, check_theta, structure

__all__ = ["ParamTransform", "FlipProgram", "target_index", "node_perm", "layer_groups",
           "DESCRIBE_MAX_ITEMS"]

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


class FlipProgram:
    """The map ``F_S`` that flips the hidden units ``S`` (no permutation), on the network part.

    ``F_S(θ) = sign·θ``, then for each layer in order ``θ'[t] += c·θ[a]·θ'[b]``
    (``b ≥ 0``) or ``θ'[t] += c·θ[a]`` (``b = -1``) for that layer's terms. Flips of
    different units commute and each is an involution, so ``F_S`` is its own inverse and does
    not depend on an order of the units.
    """

    def __init__(self, st: _Structure, flips: np.ndarray):
        flips = np.asarray(flips, dtype=bool)
        flipped = st.hidden[flips]
        s = np.ones(st.N)
        s[flipped] = -1.0
        beta = np.ones(st.N)
        beta[flipped] = st.beta[flipped]
        self.sign = np.empty(st.P)
        self.sign[st.E_idx] = s[st.E_dst] * beta[st.E_src]
        self.sign[st.B_idx] = s[st.B_node]
        terms = [st.flip_terms[h] for h in np.flatnonzero(flips).tolist()]
        terms = [x for x in terms if len(x[0])]
        if terms:
            o, t, a, b, c0 = (np.concatenate([x[k] for x in terms]) for k in range(5))
            layer = st.layer_of[o]
            order = np.argsort(layer, kind="stable")
            self.t, self.a, self.b = t[order], a[order], b[order]
            self.coef = (c0 * s[o])[order]
            self.groups = layer_groups(layer[order])
        else:
            self.t = self.a = self.b = np.zeros(0, dtype=np.intp)
            self.coef = np.zeros(0)
            self.groups = []

    @property
    def is_linear(self) -> bool:
        """No product terms: ``F_S`` is a linear map ``θ ↦ Mθ``."""
        return not np.any(self.b >= 0)

    def apply(self, theta: np.ndarray) -> np.ndarray:
        """``F_S`` of θ's network part, for θ of shape (P,) or (n, P)."""
        out = theta * self.sign
        if not self.groups:
            return out
        two = out.reshape(-1, out.shape[-1])
        src = theta.reshape(-1, theta.shape[-1])
        for lo, hi in self.groups:
            t, a, b, c = self.t[lo:hi], self.a[lo:hi], self.b[lo:hi], self.coef[lo:hi]
            lin = b < 0
            vals = c * src[:, a] * np.where(lin, 1.0, two[:, np.maximum(b, 0)])
            np.add.at(two, (slice(None), t), vals)
        return two.reshape(out.shape)

    def linear_matrix(self) -> np.ndarray:
        """The (P, P) matrix of a linear ``F_S`` (see `is_linear`)."""
        M = np.diag(self.sign)
        np.add.at(M, (self.t, self.a), self.coef)
        return M


def layer_groups(layer: np.ndarray) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: the runs of equal values of a sorted array."""
    if len(layer) == 0:
        return []
    cuts = np.flatnonzero(np.diff(layer)) + 1
    return list(zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(layer)].tolist()))


def node_perm(st: _Structure, perm: np.ndarray) -> np.ndarray:
    """The permutation of node ids that moves hidden position ``h`` to ``perm[h]``."""
    out = np.arange(st.N, dtype=np.intp)
    out[st.hidden] = st.hidden[perm]
    return out


def target_index(st: _Structure, perm: np.ndarray) -> np.ndarray:
    """``tgt`` with ``θ'[tgt[i]] = θ[i]`` for the hidden-unit permutation ``perm`` (network part).

    ``perm`` may be a stack (k, H) of permutations; the result is then (k, P).
    """
    perm = np.asarray(perm, dtype=np.intp)
    single = perm.ndim == 1
    perms = perm[None] if single else perm
    out = np.empty((len(perms), st.P), dtype=np.intp)
    npm = np.tile(np.arange(st.N, dtype=np.intp), (len(perms), 1))
    npm[:, st.hidden] = st.hidden[perms]
    if len(st.E_idx):
        out[:, st.E_idx] = st.edge_lookup(npm[:, st.E_src], npm[:, st.E_dst])
    if len(st.B_idx):
        out[:, st.B_idx] = st.bias_pos[npm[:, st.B_node]]
    return out[0] if single else out


class ParamTransform:
    """A symmetry of θ: flip some hidden units, then permute hidden units.

    The map is ``θ ↦ P_π F_S θ``. ``F_S`` flips every unit in ``S``: for an odd
    activation, negate its incoming weights, bias and outgoing weights; for the
    sigmoid (``σ(-z) = 1 - σ(z)``) also add the old outgoing weights to the
    successors' biases; for an activation with ``σ(-z) = σ(z) - c·z`` (softplus,
    SiLU, GELU, ReLU, leaky ReLU), negate the incoming weights and bias, *keep*
    the outgoing weights v, and add ``c·v·w`` to the skip weight from each input
    of the unit to each successor and ``c·v·b`` to the successor's bias (Vlačić &
    Bölcskei 2021). ``P_π`` moves each unit's incoming weights, bias and outgoing
    weights to the unit it is mapped to. Without ``c·z`` flips it is a signed,
    affine permutation of θ in the DESIGN order (`matrix`); with them a
    polynomial involution of θ. Family parameters at the end of a Model's θ stay
    unchanged.

    Get them from a `SymmetryGroup`, or build one by naming units.

    Parameters
    ----------
    arch : Architecture
    perm : dict, optional
        ``{unit: image}`` for the hidden units that move; must be an
        automorphism of the network graph (inputs and outputs fixed).
    flips : iterable, optional
        Hidden units to flip: their activation has a negation identity (odd, the
        sigmoid, even, or ``σ(-z) = σ(z) - c·z``) and the graph can absorb the
        remainder (successors with biases where a constant moves; skip edges from
        every input of the unit to every successor where ``c·z`` moves).

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
            try:
                i = st.nid.get(v)
            except TypeError:  # not hashable: not a node
                i = None
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
            if isinstance(flips, (str, bytes, dict)) or not hasattr(flips, "__iter__"):
                raise SymmleTypeError(f"flips must be an iterable of hidden units, got "
                                      f"{type(flips).__name__}")
            for v in flips:
                h = hidden_pos(v, "flips")
                if not st.flippable[h]:
                    raise SymmleValueError(
                        f"flips: unit {v!r} cannot be flipped (its activation "
                        f"{st.act_name[st.hidden[h]]!r} has no negation identity, or the graph "
                        "cannot absorb the remainder: a successor without a bias, or a missing "
                        "skip edge from one of the unit's inputs to one of its successors)")
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
        return node_perm(self._st, self._perm)

    @cached_property
    def _program(self) -> FlipProgram:
        return FlipProgram(self._st, self._flips)

    @cached_property
    def _target(self) -> np.ndarray:
        return target_index(self._st, self._perm)

    @property
    def is_linear(self) -> bool:
        """``g(θ) = Mθ`` for a matrix M (no flip of a ``σ(-z) = σ(z) - c·z`` unit that moves
        products of parameters into skip weights)."""
        return self._program.is_linear

    # -------------------------------------------------------------- algebra
    def __call__(self, theta) -> np.ndarray:
        """Apply the transform to one θ (length P, or P plus family parameters) or a batch
        (..., P)."""
        arr = check_theta(self.architecture, theta, batch=True)
        P = self._st.P
        out = arr.copy()
        out[..., self._target] = self._program.apply(arr[..., :P])
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
        """The (P, P) matrix ``M`` with ``g(θ) = M θ`` on the network parameters.

        Raises
        ------
        SymmleValueError
            When the transform is not linear (`is_linear` is False: it flips a unit with
            ``σ(-z) = σ(z) - c·z`` whose inputs carry weights, so a skip weight gains a
            product ``c·v·w``); apply it with ``g(θ)`` instead.
        """
        if not self.is_linear:
            raise SymmleValueError(
                f"{self!r} is not linear in θ: its affine flips add products c·v·w of "
                "parameters to skip weights; apply it as g(theta)")
        P = self._st.P
        M = np.zeros((P, P))
        M[self._target] = self._program.linear_matrix()
        return M

    # ---------------------------------------------------------------- words
    def describe(self, max_items: int = DESCRIBE_MAX_ITEMS) -> str:
        """The transform in words: which units it flips, then how it permutes them (at most
        ``max_items`` units and cycles named)."""
        max_items = check_int(max_items, "max_items", 1)
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
