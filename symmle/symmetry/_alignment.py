"""Orbit representatives and distances: `canonicalize`, `align`, `orbit_distance`.

Small groups (at most `EXHAUSTIVE_ORDER` elements) are searched exhaustively with the stacked
orbit table. Larger ones are handled layer by layer from the input: flips and within-class
permutations by sorting (`canonicalize`) or by linear assignment (`align`), with the quotient
graph's automorphisms tried exhaustively (at most `MAX_QUOTIENT_ORDER` of them).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..architecture import Architecture
from ..errors import SymmleValueError
from ._group import SymmetryGroup, orbit_table, symmetry_group
from ._structure import _Structure, arch_and_model, check_theta
from ._transform import ParamTransform

__all__ = ["canonicalize", "align", "orbit_distance", "EXHAUSTIVE_ORDER", "MAX_QUOTIENT_ORDER"]

#: groups up to this order are searched exhaustively by `align` (exact for any graph).
EXHAUSTIVE_ORDER = 5040

#: quotient groups (automorphisms that are not within-class permutations) up to this
#: order are searched exhaustively by `canonicalize` and `align`.
MAX_QUOTIENT_ORDER = 5040

#: At most this many rounds of re-solving a sigmoid class's assignment with the output-bias term
#: linearised around the previous solution (a cap; it stops as soon as the solution repeats).
_SIGMOID_ALIGN_ROUNDS = 12

#: The greedy sigmoid flip polish is skipped above this many θ entries per sweep (parameters ×
#: sigmoid units), to bound its cost on wide networks.
_MAX_POLISH_WORK = 2e7

#: A polishing flip is kept only if it lowers the squared distance by more than this (so that
#: round-off cannot make the sweep loop forever).
_POLISH_MIN_GAIN = 1e-15


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
    arch, _ = arch_and_model(arch)
    theta = check_theta(arch, theta)
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
    units = np.flatnonzero(st.flippable & (st.flip_a[st.hidden] != 0))
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
    arch, _ = arch_and_model(arch)
    theta = check_theta(arch, theta)
    reference = check_theta(arch, reference, "reference", length=len(theta))
    G = symmetry_group(arch)
    if G.order <= EXHAUSTIVE_ORDER:
        T = orbit_table(G)
        orbit = T(theta)
        k = int(np.argmin(((orbit - reference) ** 2).sum(1)))
        return (orbit[k], T.element(arch, k)) if return_transform else orbit[k]
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
    arch, _ = arch_and_model(arch)
    a = check_theta(arch, a, "a")
    b = check_theta(arch, b, "b", length=len(a))
    G = symmetry_group(arch)
    if G.order <= EXHAUSTIVE_ORDER:
        orbit = orbit_table(G)(a)
        return float(np.sqrt(((orbit - b) ** 2).sum(1).min()))
    return float(np.linalg.norm(align(arch, a, b) - b))
