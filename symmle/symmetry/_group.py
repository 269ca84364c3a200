"""`SymmetryGroup` and `symmetry_group`: the exact group of discrete symmetries of θ.

The group is ``(Π S_{n_c} ⋊ Aut(quotient)) ⋉ (Z_2)^f``: the twin classes are permuted freely,
the quotient graph's automorphisms (`symmle.symmetry._quotient`) move whole classes, and ``f``
flippable units change sign. Its elements are encoded as (quotient choice, within-class
permutations, flips); a `SymmetryGroup` turns those into `ParamTransform` objects.

What is computed once per architecture (`_GroupCore`: classes, quotient transversals, the table
of a small group's elements) holds no reference to the architecture and lives in a weak cache
keyed by it; a `SymmetryGroup` is the view of that core for one architecture.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections import Counter
from functools import cached_property

import numpy as np

from .._checks import as_rng, check_int
from ..architecture import Architecture
from ..display import html_report
from ..errors import SymmleTypeError, SymmleValueError
from ._continuous import continuous_symmetries
from ._quotient import quotient_graph, quotient_transversals
from ._structure import _Structure, arch_and_model, check_theta, forget_structure, structure
from ._transform import ParamTransform, layer_groups, target_index

#: The most numbers `SymmetryGroup.orbit` returns in one array (2**26 float64 = 512 MiB): a
#: larger orbit exhausts memory long before it is useful; `SymmetryGroup.elements` iterates.
MAX_ORBIT_ENTRIES = 2 ** 26

__all__ = ["SymmetryGroup", "symmetry_group", "orbit_table", "clear_caches", "MAX_ELEMENTS"]

#: ``SymmetryGroup.elements()`` and ``orbit()`` refuse groups larger than this by default.
MAX_ELEMENTS = 100_000

#: The seed of the "generic θ" at which `SymmetryGroup.continuous_dim` is evaluated (fixed, so
#: the reported dimension is reproducible; any seed gives a generic point with probability 1).
_GENERIC_THETA_SEED = 20240607

#: ``str``/HTML views list at most this many generators (a wide network has thousands).
_SHOWN_GENERATORS = 20


class _GroupCore:
    """The architecture-free part of a group: twin classes, quotient chain, element encoding."""

    def __init__(self, st: _Structure):
        self.st = st
        self.classes = st.twin_classes
        labels, self.q_preds, self.q_succs = quotient_graph(st)
        self.transversals = quotient_transversals(labels, self.q_preds, self.q_succs)
        self.continuous_dim: int | None = None   # filled by SymmetryGroup.continuous_dim

    @cached_property
    def quotient_order(self) -> int:
        return math.prod(len(t) for t in self.transversals)

    @cached_property
    def n_flippable(self) -> int:
        return int(self.st.flippable.sum())

    @cached_property
    def order(self) -> int:
        return (self.quotient_order * math.prod(math.factorial(len(m)) for m in self.classes)
                * 2 ** self.n_flippable)

    def lift(self, phi: np.ndarray) -> np.ndarray:
        """A class permutation lifted to hidden units (k-th member to k-th member)."""
        perm = np.arange(self.st.H, dtype=np.intp)
        for c, d in enumerate(phi.tolist()):
            if c != d:
                perm[self.classes[c]] = self.classes[d]
        return perm

    def product(self, choice) -> np.ndarray:
        """The class permutation ``t_1 ∘ t_2 ∘ … ∘ t_m`` of one transversal entry per level."""
        phi = np.arange(len(self.classes), dtype=np.intp)
        for T, k in reversed(list(zip(self.transversals, choice))):  # apply t_m first
            phi = T[k][phi]
        return phi

    def quotient_elements(self):
        """Every lifted quotient automorphism (as hidden permutations)."""
        for choice in itertools.product(*[range(len(T)) for T in self.transversals]):
            yield self.lift(self.product(choice))

    def element(self, choice, class_perms, flips) -> tuple[np.ndarray, np.ndarray]:
        """``(perm, flips)`` of the element with these coordinates."""
        perm_k = np.arange(self.st.H, dtype=np.intp)
        for m, sigma in zip(self.classes, class_perms):
            perm_k[m] = m[np.asarray(sigma, dtype=np.intp)]
        return self.lift(self.product(choice))[perm_k], np.asarray(flips, dtype=bool)

    def iter_perms(self):
        """The hidden permutations of the elements, in `iter_elements` order (flips aside)."""
        for choice in itertools.product(*[range(len(T)) for T in self.transversals]):
            for perms in itertools.product(*[itertools.permutations(range(len(m)))
                                             for m in self.classes]):
                yield self.element(choice, perms, np.zeros(self.st.H, bool))[0]

    def iter_elements(self):
        """``(perm, flips)`` of every element, the identity first."""
        st = self.st
        flip_units = np.flatnonzero(st.flippable)
        for perm in self.iter_perms():
            for bits in itertools.product((False, True), repeat=len(flip_units)):
                flips = np.zeros(st.H, bool)
                flips[flip_units] = bits
                yield perm, flips

    @cached_property
    def orbit_table(self) -> "_OrbitTable":
        return _OrbitTable(self)


class _OrbitTable:
    """All elements of a small group stacked, to apply them to one θ at once.

    Element ``k = i·2^f + j`` (the `_GroupCore.iter_elements` order) is permutation ``i`` of
    `perms` after flip set ``j`` of `flip_sets`: every flip set's ``F_S(θ)`` is computed once
    (signs, then the layered flip terms of `FlipProgram`, for all sets together) and
    scattered by every permutation's target indices.
    """

    def __init__(self, core: _GroupCore):
        st = core.st
        self.P = P = st.P
        flip_units = np.flatnonzero(st.flippable)
        n_f = len(flip_units)
        codes = np.arange(1 << n_f)
        bits = ((codes[:, None] >> np.arange(n_f - 1, -1, -1)) & 1).astype(bool)
        self.flip_sets = np.zeros((len(codes), st.H), bool)
        self.flip_sets[:, flip_units] = bits
        self.perms = np.stack(list(core.iter_perms())).astype(np.intp)
        self.targets = target_index(st, self.perms)
        K = len(codes)
        s = np.ones((K, st.N))
        s[:, st.hidden] = np.where(self.flip_sets, -1.0, 1.0)
        beta = np.ones((K, st.N))
        beta[:, st.hidden] = np.where(self.flip_sets, st.beta[st.hidden], 1.0)
        self.sign = np.empty((K, P))
        self.sign[:, st.E_idx] = s[:, st.E_dst] * beta[:, st.E_src]
        self.sign[:, st.B_idx] = s[:, st.B_node]
        parts = []
        for j, h in enumerate(flip_units.tolist()):
            o, t, a, b, c0 = st.flip_terms[h]
            if len(o) == 0:
                continue
            rows = np.flatnonzero(bits[:, j])
            r = np.repeat(rows, len(o))
            oo = np.tile(o, len(rows))
            parts.append((st.layer_of[oo], r, np.tile(t, len(rows)), np.tile(a, len(rows)),
                          np.tile(b, len(rows)), np.tile(c0, len(rows)) * s[r, oo]))
        if parts:
            cat = [np.concatenate([p[k] for p in parts]) for k in range(6)]
            order = np.argsort(cat[0], kind="stable")
            self.terms = [c[order] for c in cat[1:]]
            self.groups = layer_groups(cat[0][order])
        else:
            self.terms, self.groups = None, []

    def __len__(self) -> int:
        return len(self.perms) * len(self.flip_sets)

    def element(self, arch: Architecture, k: int) -> ParamTransform:
        """Element ``k`` (in `_GroupCore.iter_elements` order) as a transform of ``arch``."""
        i, j = divmod(int(k), len(self.flip_sets))
        return ParamTransform._make(arch, self.perms[i].copy(), self.flip_sets[j].copy())

    def flipped(self, theta: np.ndarray) -> np.ndarray:
        """``F_S(θ)`` (network part) for every flip set: (2^f, P)."""
        F = theta[None, :self.P] * self.sign
        for lo, hi in self.groups:
            r, t, a, b, c = (x[lo:hi] for x in self.terms)
            vals = c * theta[a] * np.where(b < 0, 1.0, F[r, np.maximum(b, 0)])
            np.add.at(F, (r, t), vals)
        return F

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        n_p, K, P = len(self.perms), len(self.flip_sets), self.P
        out = np.empty((n_p, K, len(theta)))
        out[..., P:] = theta[P:]
        if P:
            net = np.empty((n_p, K, P))
            np.put_along_axis(net, np.broadcast_to(self.targets[:, None, :], net.shape),
                              np.broadcast_to(self.flipped(theta)[None], net.shape), axis=2)
            out[..., :P] = net
        return out.reshape(n_p * K, len(theta))


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
        self._core = _core(arch)
        self._st = self._core.st
        self.classes = self._core.classes
        self._transversals = self._core.transversals

    # ------------------------------------------------------------ structure
    @property
    def quotient_order(self) -> int:
        """The order of the automorphism group of the quotient graph of twin classes."""
        return self._core.quotient_order

    @property
    def n_flippable(self) -> int:
        return self._core.n_flippable

    @property
    def order(self) -> int:
        """The exact order ``|Aut(quotient)| · Π n_c! · 2^f``."""
        return self._core.order

    def _transform(self, perm, flips) -> ParamTransform:
        return ParamTransform._make(self.architecture, perm, flips)

    def _quotient_elements(self):
        """Every lifted quotient automorphism (as hidden permutations)."""
        return self._core.quotient_elements()

    @cached_property
    def generators(self) -> tuple[ParamTransform, ...]:
        """A generating set of `ParamTransform` objects."""
        st, core = self._st, self._core
        H = st.H
        ident = np.arange(H, dtype=np.intp)
        none = np.zeros(H, bool)
        gens = []
        for m in self.classes:
            if len(m) >= 2:
                p = ident.copy()
                p[m[0]], p[m[1]] = m[1], m[0]
                gens.append(self._transform(p, none))
            if len(m) >= 3:
                p = ident.copy()
                p[m] = np.roll(m, -1)
                gens.append(self._transform(p, none))
            if st.flippable[m[0]]:
                f = none.copy()
                f[m[0]] = True
                gens.append(self._transform(ident, f))
        for T in self._transversals:
            for phi in T[1:]:
                gens.append(self._transform(core.lift(phi), none))
        return tuple(gens)

    # -------------------------------------------------------------- elements
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
        return self._transform(*self._core.element(choice, perms, flips))

    def element_from_rank(self, rank: int) -> ParamTransform:
        """The element number ``rank`` (``0 ≤ rank < order``; 0 is the identity).

        A bijection from ``range(order)`` to the group (mixed radix: flips,
        then Lehmer codes of the within-class permutations, then the quotient
        transversals), so ``rank`` drawn uniformly gives a uniform element.
        """
        r = check_int(rank, "rank", 0, maximum=self.order - 1)
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
        return self._transform(*self._core.element(choice, perms, flips))

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
        limit = check_int(limit, "limit", 1)
        if self.order > limit:
            raise SymmleValueError(
                f"the group has order {_order_words(self)} > limit={limit}; "
                "draw elements with random_element(rng) or pass a larger limit=")
        return self._iter_elements()

    def _iter_elements(self):
        for perm, flips in self._core.iter_elements():
            yield self._transform(perm, flips)

    def orbit(self, theta, *, limit: int = MAX_ELEMENTS) -> np.ndarray:
        """``g(θ)`` for every element g: an array (order, len(θ)), identity first.

        Examples
        --------
        >>> G = sm.symmetry_group(sm.mlp(1, 2, 1, activation="tanh"))
        >>> G.orbit(np.arange(1.0, 8.0)).shape
        (8, 7)
        """
        theta = check_theta(self.architecture, theta)
        limit = check_int(limit, "limit", 1)
        if self.order > limit:
            raise SymmleValueError(f"the group has order {_order_words(self)} > limit={limit}")
        if self.order * len(theta) > MAX_ORBIT_ENTRIES:
            raise SymmleValueError(
                f"the orbit would hold {self.order} x {len(theta)} numbers, more than "
                f"MAX_ORBIT_ENTRIES = {MAX_ORBIT_ENTRIES}; iterate over elements() instead")
        return orbit_table(self)(theta)

    # --------------------------------------------------------------- words
    @property
    def continuous_dim(self) -> int:
        """The dimension of the continuous symmetries at a generic θ (network only)."""
        core = self._core
        if core.continuous_dim is None:
            theta = np.random.default_rng(_GENERIC_THETA_SEED).standard_normal(self._st.P)
            core.continuous_dim = continuous_symmetries(self.architecture, theta).shape[1]
        return core.continuous_dim

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
        for g in gens[:_SHOWN_GENERATORS]:
            lines.append("    " + _generator_words(g))
        if len(gens) > _SHOWN_GENERATORS:
            lines.append(f"    … ({len(gens) - _SHOWN_GENERATORS} more)")
        dim = self.continuous_dim
        why = _continuous_words(st) if dim else ""
        lines.append(f"  continuous symmetries: dimension {dim} at a generic θ{why}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The ``str`` form as an HTML table (order, generators, continuous symmetries)."""
        st = self._st
        gens = self.generators
        rows = [["order", _order_words(self)]]
        if gens:
            rows.append(["generators", f"{len(gens)}"])
            rows += [["generator", _generator_words(g)] for g in gens[:_SHOWN_GENERATORS]]
            if len(gens) > _SHOWN_GENERATORS:
                rows.append(["", f"… ({len(gens) - _SHOWN_GENERATORS} more)"])
        else:
            rows.append(["generators", "none (trivial group)"])
        dim = self.continuous_dim
        why = _continuous_words(st) if dim else ""
        rows.append(["continuous symmetries", f"dimension {dim} at a generic θ{why}"])
        return html_report(f"Symmetry group of {self.architecture!r} ({st.P} parameters)", rows=rows)

    def __repr__(self):
        return f"<SymmetryGroup of {self.architecture!r}: order {_order_words(self)}>"


_TOKEN = object()

#: Order above which `_order_words` writes the order as a power of ten (30 digits stay readable).
_MAX_EXACT_DIGITS = 30


def _order_words(G: SymmetryGroup) -> str:
    formula = G.order_formula()
    log10 = (G.n_flippable * math.log10(2) + math.log10(G.quotient_order)
             + sum(math.lgamma(len(m) + 1) for m in G.classes) / math.log(10))
    if log10 < _MAX_EXACT_DIGITS:
        return f"{G.order}" if formula in (str(G.order), "1") else f"{G.order} = {formula}"
    mant = 10 ** (log10 - math.floor(log10))
    return f"{formula} ≈ {mant:.3f}e{int(math.floor(log10))}"


def _generator_words(g: ParamTransform) -> str:
    st = g._st
    fl = np.flatnonzero(g._flips)
    if len(fl) == 1 and np.array_equal(g._perm, np.arange(st.H)):
        v = st.hidden[fl[0]]
        return f"flip {st.nodes[v]} ({flip_words(st, v)})"
    return g.describe()


def flip_words(st: _Structure, v: int) -> str:
    """What flipping unit v does, in words (from its negation identity)."""
    name = st.act_name[v]
    al, be, ga = st.alpha[v], st.beta[v], st.gamma[v]
    if ga != 0:
        c = "" if -ga == 1 else _num(-ga) + "·"
        return (f"{name}: σ(-z) = σ(z) - {c}z; negate its incoming weights and bias, keep its "
                f"outgoing weights v, add {c}v·w to the skip weights from its inputs and "
                f"{c}v·b to the successors' biases")
    if be > 0:
        return f"{name} is even: negate its incoming weights and bias"
    if al == 0:
        return f"{name} is odd: negate its incoming weights, bias and outgoing weights"
    return (f"{name}: σ(-z) = {_num(al)} - σ(z); negate its incoming weights, bias and "
            "outgoing weights, add the outgoing weights to the successors' biases")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _continuous_words(st: _Structure) -> str:
    hid = st.hidden
    kinds = []
    if st.homogeneous[hid].any():
        kinds.append("positive rescaling of each " + "/".join(
            sorted({st.act_name[v] for v in hid if st.homogeneous[v]})) + " unit")
    if (st.degree[hid] > 1).any():
        kinds.append("rescaling σ(λz) = λ^r σ(z) of each " + "/".join(
            sorted({st.act_name[v] for v in hid if st.degree[v] > 1})) + " unit")
    if st.linear[hid].any():
        kinds.append("affine (GL) mixing of identity units")
    return f" ({'; '.join(kinds)})" if kinds else ""


# The expensive part (`_GroupCore`) is cached per architecture for as long as the architecture
# lives: keyed weakly by it (identity hash), holding no reference back. The `SymmetryGroup` view
# is kept while anyone holds it, so repeated calls return the same object.
_CORES: "weakref.WeakKeyDictionary[Architecture, _GroupCore]" = weakref.WeakKeyDictionary()
_GROUPS: "weakref.WeakValueDictionary[Architecture, SymmetryGroup]" = weakref.WeakValueDictionary()


def _core(arch: Architecture) -> _GroupCore:
    core = _CORES.get(arch)
    if core is None:
        # two threads may both build one; setdefault keeps the first for both
        core = _CORES.setdefault(arch, _GroupCore(structure(arch)))
    return core


def clear_caches(arch: Architecture) -> None:
    """Forget the structure and group cached for ``arch`` (benchmarks measure from scratch)."""
    _GROUPS.pop(arch, None)
    _CORES.pop(arch, None)
    forget_structure(arch)


def orbit_table(G: SymmetryGroup) -> _OrbitTable:
    """Every element of ``G`` stacked, built once per architecture (for small groups only)."""
    return G._core.orbit_table


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
    arch, _ = arch_and_model(arch)
    G = _GROUPS.get(arch)
    if G is None:
        G = _GROUPS.setdefault(arch, SymmetryGroup(arch, _TOKEN))
    return G
