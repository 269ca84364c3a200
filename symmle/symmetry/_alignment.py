"""Orbit representatives and distances: `canonicalize`, `align`, `orbit_distance`, and the
`AlignmentResult` record.

`canonicalize` works layer by layer from the input (signs by the largest entry, twins sorted),
with the quotient graph's automorphisms tried exhaustively (at most `MAX_QUOTIENT_ORDER`).

`align` and `orbit_distance` are exact: groups of at most `EXHAUSTIVE_ORDER` elements are
searched exhaustively with the stacked orbit table, larger ones by branch and bound
(`symmle.symmetry._search`), seeded with a layer-by-layer assignment heuristic. When the
search budget (`SEARCH_MAX_NODES`, `SEARCH_TIME_LIMIT`) ends before optimality is proven,
the `AlignmentResult` says so and carries a certified lower bound.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._checks import check_bool, check_choice, check_int, check_real
from ..architecture import Architecture
from ..errors import ConvergenceWarning, SymmleValueError
from ._group import MAX_ELEMENTS, SymmetryGroup, orbit_table, symmetry_group
from ._plan import search_plan
from ._search import PRUNE_RTOL, Search, sq_dist
from ._structure import _Structure, arch_and_model, check_theta
from ._transform import ParamTransform

__all__ = ["canonicalize", "align", "orbit_distance", "AlignmentResult", "EXHAUSTIVE_ORDER",
           "MAX_QUOTIENT_ORDER", "SEARCH_MAX_NODES", "SEARCH_TIME_LIMIT"]

#: groups up to this order are searched exhaustively by `align` (exact for any graph).
EXHAUSTIVE_ORDER = 5040

#: quotient groups (automorphisms that are not within-class permutations) up to this
#: order are searched exhaustively by `canonicalize` and `align`.
MAX_QUOTIENT_ORDER = 5040

#: Default node budget of the branch-and-bound search (a node costs a few assignment problems
#: of the size of a twin class: tens of microseconds for small classes).
SEARCH_MAX_NODES = 200_000

#: Default time budget of the branch-and-bound search, in seconds.
SEARCH_TIME_LIMIT = 10.0

#: At most this many rounds of re-solving a sigmoid class's assignment with the output-bias term
#: linearised around the previous solution (a cap; it stops as soon as the solution repeats).
_SIGMOID_ALIGN_ROUNDS = 12

#: The greedy sigmoid flip polish is skipped above this many θ entries per sweep (parameters ×
#: sigmoid units), to bound its cost on wide networks.
_MAX_POLISH_WORK = 2e7

#: A polishing flip is kept only if it lowers the squared distance by more than this (so that
#: round-off cannot make the sweep loop forever).
_POLISH_MIN_GAIN = 1e-15

_METHODS = ("auto", "exhaustive", "branch_and_bound")


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
    arch, model = arch_and_model(arch)
    theta = check_theta(arch, theta, model=model)
    G = symmetry_group(arch)
    best, best_g = None, None
    for q in _quotient_lifts(G, "canonicalize"):
        x = q(theta)
        g = _normal_canonical(G, x) * q
        y = g(theta)
        if best is None or tuple(y) < tuple(best):
            best, best_g = y, g
    return (best, best_g) if return_transform else best


# ------------------------------------------------------------------ alignment
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
            plus = sq_dist(A, B)
            can_flip = bool(st.flippable[m[0]])
            if not can_flip:
                r, c = linear_sum_assignment(plus)
                perm[m[r]] = m[c]
                continue
            # a flip negates the incoming side and multiplies the outgoing weights by β
            A_f = np.hstack([-M[rows], st.beta[v0] * O[rows]])
            minus = sq_dist(A_f, B)
            sig = st.alpha[v0] != 0 and np.all(out_bias >= 0) and O[rows].any()
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
            for _ in range(_SIGMOID_ALIGN_ROUNDS):
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
    units = np.flatnonzero(st.flippable & ((st.alpha[st.hidden] != 0) | (st.gamma[st.hidden] != 0)))
    if len(units) == 0 or st.P * len(units) > _MAX_POLISH_WORK:
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
            if d < best - _POLISH_MIN_GAIN:
                g, best, improved = cand, d, True
    return g


# ------------------------------------------------------------- exact search
@dataclass(frozen=True, eq=False)
class AlignmentResult:
    """The outcome of `align` / `orbit_distance`: the closest orbit member found, and how sure.

    Attributes
    ----------
    member : ndarray
        ``transform(theta)``, the member of θ's orbit closest to the reference found.
    transform : ParamTransform
        The group element that gives it.
    distance : float
        ``||member - reference||``.
    lower_bound : float
        A certified lower bound on ``min_g ||g(θ) - reference||`` over the whole group; equal to
        `distance` when `optimal`.
    optimal : bool
        True when the search proved `distance` to be the minimum (exhaustive search, or branch
        and bound run to the end); False when its budget ran out first.
    nodes : int
        Elements compared (exhaustive) or search nodes visited (branch and bound).
    method : str
        ``"exhaustive"`` or ``"branch_and_bound"``.
    seconds : float
        Wall time of the search.
    """

    member: np.ndarray
    transform: ParamTransform
    distance: float
    lower_bound: float
    optimal: bool
    nodes: int
    method: str
    seconds: float

    @property
    def gap(self) -> float:
        """``distance - lower_bound`` (0 when optimal)."""
        return self.distance - self.lower_bound

    def __repr__(self):
        how = "optimal" if self.optimal else (f"not proven optimal: certified lower bound "
                                              f"{self.lower_bound:.6g}")
        return (f"<AlignmentResult: distance {self.distance:.6g} ({how}), {self.method}, "
                f"{self.nodes} nodes, {self.seconds:.3g} s>")


def _check_search(method, max_nodes, time_limit):
    method = check_choice(method, "method", _METHODS)
    max_nodes = check_int(max_nodes, "max_nodes", 1)
    if time_limit is not None:
        time_limit = check_real(time_limit, "time_limit", minimum=0, strict_minimum=True)
    return method, max_nodes, time_limit


def _exhaustive(G: SymmetryGroup, theta, reference, t0) -> AlignmentResult:
    if G.order > MAX_ELEMENTS:
        raise SymmleValueError(
            f"method='exhaustive': the group has {G.order} elements (more than MAX_ELEMENTS = "
            f"{MAX_ELEMENTS}); use method='branch_and_bound' (or 'auto')")
    T = orbit_table(G)
    orbit = T(theta)
    d2 = ((orbit - reference) ** 2).sum(1)
    k = int(np.argmin(d2))
    d = float(np.sqrt(d2[k]))
    return AlignmentResult(orbit[k], T.element(G.architecture, k), d, d, True, len(T),
                           "exhaustive", time.perf_counter() - t0)


def _heuristic(G: SymmetryGroup, theta, reference) -> ParamTransform:
    """The layer-by-layer assignment heuristic (over the quotient lifts): a good incumbent."""
    best, best_d = None, np.inf
    for q in _quotient_lifts(G, "align"):
        g = _normal_align(G, q(theta), reference) * q
        g = _polish_flips(G, g, theta, reference)
        d = float(((g(theta) - reference) ** 2).sum())
        if d < best_d:
            best, best_d = g, d
    return best


def _element(G: SymmetryGroup, dec) -> ParamTransform:
    st = G._st
    tgt, flip = dec
    perm = st.hpos[tgt[st.hidden]]
    return ParamTransform._make(G.architecture, perm.astype(np.intp), flip[st.hidden].copy())


def _branch_and_bound(G: SymmetryGroup, theta, reference, max_nodes, time_limit,
                      t0) -> AlignmentResult:
    st = G._st
    P = st.P
    extra = float(((theta[P:] - reference[P:]) ** 2).sum())
    ref = reference[:P]
    g = _heuristic(G, theta, reference)
    best_g = g
    best = float(((g(theta)[:P] - ref) ** 2).sum())
    deadline = t0 + time_limit if time_limit is not None else math.inf
    plan = search_plan(G)
    open_lb, nodes, aborted = math.inf, 0, False
    for q in _quotient_lifts(G, "align"):
        x = q(theta)[:P]
        S = Search(plan, x, ref, best, deadline, max_nodes, nodes)
        if aborted:
            open_lb = min(open_lb, S.root_bound())
            continue
        S.run()
        nodes, aborted = S.nodes, S.aborted
        open_lb = min(open_lb, S.open_lb)
        if S.best_dec is not None and S.best < best:
            best, best_g = S.best, _element(G, S.best_dec) * q
    member = best_g(theta)
    d = float(np.linalg.norm(member - reference))
    optimal = open_lb >= best * (1.0 - PRUNE_RTOL)
    lb = d if optimal else min(d, math.sqrt(max(min(open_lb, best), 0.0) + extra))
    return AlignmentResult(member, best_g, d, lb, bool(optimal), nodes, "branch_and_bound",
                           time.perf_counter() - t0)


def _search(arch, theta, reference, method, max_nodes, time_limit) -> AlignmentResult:
    t0 = time.perf_counter()
    method, max_nodes, time_limit = _check_search(method, max_nodes, time_limit)
    G = symmetry_group(arch)
    if method == "exhaustive" or (method == "auto" and G.order <= EXHAUSTIVE_ORDER):
        return _exhaustive(G, theta, reference, t0)
    return _branch_and_bound(G, theta, reference, max_nodes, time_limit, t0)


def _warn_if_bound(res: AlignmentResult, what: str) -> None:
    if not res.optimal:
        warnings.warn(
            f"{what}: the search budget ran out after {res.nodes} nodes and {res.seconds:.2g} s "
            f"before optimality was proven: distance {res.distance:.6g}, certified lower bound "
            f"{res.lower_bound:.6g}; pass a larger max_nodes= / time_limit=, or "
            "return_result=True to get the bound", ConvergenceWarning, stacklevel=3)


def align(arch, theta, reference, *, return_transform: bool = False, return_result: bool = False,
          method: str = "auto", max_nodes: int = SEARCH_MAX_NODES,
          time_limit: float | None = SEARCH_TIME_LIMIT):
    """The member of θ's orbit closest (Euclidean) to ``reference``: exact, or a certified bound.

    Groups of at most `EXHAUSTIVE_ORDER` elements are searched exhaustively. Larger ones by
    branch and bound over the group (layer by layer from the input, with assignment
    relaxations as lower bounds; sigmoid flips and ``σ(-z) = σ(z) - c·z`` flips included),
    seeded with a layer-by-layer assignment heuristic. For one hidden layer of odd or
    sign-free units the root's assignment is already optimal; deep or sigmoid networks need
    branching. If the budget runs out first, the best member found is returned with a
    `ConvergenceWarning` (or, with ``return_result=True``, an `AlignmentResult` whose
    ``optimal`` is False and whose ``lower_bound`` is certified).

    Parameters
    ----------
    arch : Architecture or Model
    theta, reference : array_like
        Vectors of the same length (a Model's θ keeps its family parameters).
    return_transform : bool
        Also return the `ParamTransform` g with ``g(theta)`` the result.
    return_result : bool
        Return the `AlignmentResult` (member, transform, distance, lower bound, optimality).
    method : {"auto", "exhaustive", "branch_and_bound"}
        ``"auto"``: exhaustive up to `EXHAUSTIVE_ORDER` elements, else branch and bound.
    max_nodes : int
        Node budget of the branch and bound (default `SEARCH_MAX_NODES`).
    time_limit : float or None
        Time budget in seconds (default `SEARCH_TIME_LIMIT`); None for none.

    Returns
    -------
    ndarray, (ndarray, ParamTransform) or AlignmentResult

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> ref = np.random.default_rng(0).standard_normal(13)
    >>> g = sm.symmetry_group(arch).random_element(1)
    >>> aligned, h = sm.align(arch, g(ref), ref, return_transform=True)
    >>> bool(np.allclose(aligned, ref)), h == g.inverse()
    (True, True)

    A deep sigmoid network (order 2^8 · (4!)^2 = 147 456), searched by branch and bound:

    >>> deep = sm.mlp(1, 4, 4, 1, activation="sigmoid")
    >>> a, b = np.random.default_rng(1).standard_normal((2, deep.n_params))
    >>> res = sm.align(deep, a, b, return_result=True)
    >>> res.method, res.optimal, res.lower_bound == res.distance
    ('branch_and_bound', True, True)
    """
    arch, model = arch_and_model(arch)
    theta = check_theta(arch, theta, model=model)
    reference = check_theta(arch, reference, "reference", length=len(theta), model=model)
    return_transform = check_bool(return_transform, "return_transform")
    return_result = check_bool(return_result, "return_result")
    res = _search(arch, theta, reference, method, max_nodes, time_limit)
    if return_result:
        return res
    _warn_if_bound(res, "align")
    return (res.member, res.transform) if return_transform else res.member


def orbit_distance(arch, a, b, *, return_certificate: bool = False, method: str = "auto",
                   max_nodes: int = SEARCH_MAX_NODES,
                   time_limit: float | None = SEARCH_TIME_LIMIT):
    """``min_g ||g(a) - b||`` over the whole discrete symmetry group: exact, or a certified bound.

    The search is `align`'s. With ``return_certificate=True`` the `AlignmentResult` is
    returned (``distance``, a certified ``lower_bound``, ``optimal``); otherwise the distance,
    with a `ConvergenceWarning` when the budget ran out before it was proven minimal.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> a = np.random.default_rng(0).standard_normal(13)
    >>> g = sm.symmetry_group(arch).random_element(3)
    >>> round(sm.orbit_distance(arch, a, g(a)), 12), bool(np.linalg.norm(a - g(a)) > 0)
    (0.0, True)
    >>> sm.orbit_distance(arch, a, g(a), return_certificate=True).optimal
    True
    """
    arch, model = arch_and_model(arch)
    a = check_theta(arch, a, "a", model=model)
    b = check_theta(arch, b, "b", length=len(a), model=model)
    return_certificate = check_bool(return_certificate, "return_certificate")
    res = _search(arch, a, b, method, max_nodes, time_limit)
    if return_certificate:
        return res
    _warn_if_bound(res, "orbit_distance")
    return res.distance
