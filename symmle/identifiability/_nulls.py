"""Null directions of the Jacobian that exact reducibility opens: `reducibility_directions`.

At a θ where Sussmann's relations hold *exactly* in the floats, some directions are null
vectors of ``∂η/∂θ`` by a short proof, not by a tolerance: a unit with zero outgoing weights
leaves its incoming weights and bias free; a constant unit (zero incoming weights) trades its
outgoing weights against its successors' biases; two equal, opposite (``σ(-z) = α + βσ(z)``)
or proportional (ReLU, monomials) units trade their outgoing weights, and their incoming ones
too when their outgoing vectors are proportional. `symmle.identifiability._certify` counts them
in its upper bound on the rank.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ._arith import NotCertifiable, activation_values
from ._reduction import similar_pairs

__all__ = ["reducibility_directions", "unit_vector"]

#: the screen of `similar_pairs` before the exact tests of equal, opposite and proportional
#: units (rounding of unit-normalised float vectors: a few ulps).
_EXACT_SCREEN = 1e-12


def unit_vector(P, i):
    e = np.zeros(P)
    e[i] = 1.0
    return e


def _ball_value(N, name, degree, b):
    """``(σ(b), σ'(b), σ(b) == 0 exactly, σ'(b) == 0 exactly)`` from balls."""
    h, dh = activation_values(name, degree, N, N.from_float(b))

    def zero(a):
        return N.sign(a) == 0

    def mid(a):
        return float(a.mid()) if hasattr(a, "mid") and callable(a.mid) else float(a.mid)
    return mid(h), mid(dh), zero(h), zero(dh)


def _exact_ratio(xu, xv):
    """``c`` (a Fraction) with ``xv = c·xu`` exactly, or None."""
    k = next((i for i, a in enumerate(xu) if a != 0), None)
    if k is None:
        return None
    c = Fraction(float(xv[k])) / Fraction(float(xu[k]))
    if all(Fraction(float(b)) == c * Fraction(float(a)) for a, b in zip(xu, xv)):
        return c
    return None


def reducibility_directions(arch, theta: np.ndarray, N) -> tuple[np.ndarray, list[str]]:
    """Null directions of the Jacobian that hold because θ is *exactly* reducible.

    Parameters
    ----------
    arch : Architecture
    theta : ndarray
        The network's parameters.
    N : number system for σ(b), σ'(b) of constant units (exact zeros decided by balls).

    Returns
    -------
    (ndarray (P, k), list of str)
        The directions (exact up to rounding of their float coefficients) and what they are.
    """
    g, ei, bi = arch.graph, arch.edge_index, arch.bias_index
    P = arch.n_params
    cols, words = [], []
    hidden = list(arch.hidden_nodes)
    for v in hidden:
        succ, preds = list(g.successors(v)), list(g.predecessors(v))
        if all(theta[ei[(v, s)]] == 0 for s in succ):
            free = [ei[(p, v)] for p in preds] + ([bi[v]] if v in bi else [])
            cols.extend(unit_vector(P, i) for i in free)
            words.append(f"unit {v!r} has zero outgoing weights: its {len(free)} incoming "
                         f"parameters are free")
            continue
        if not all(theta[ei[(p, v)]] == 0 for p in preds):
            continue
        act = arch.activation_of(v)
        b = float(theta[bi[v]]) if v in bi else 0.0
        try:
            c, dc, c0, dc0 = _ball_value(N, act.name, act.polynomial_degree, b)
        except NotCertifiable:
            continue
        n0 = len(cols)
        for s in succ:
            if c0:
                cols.append(unit_vector(P, ei[(v, s)]))
            elif s in bi:
                col = unit_vector(P, ei[(v, s)])
                col[bi[s]] = -c
                cols.append(col)
        if v in bi:
            if dc0:
                cols.append(unit_vector(P, bi[v]))
            elif all(s in bi for s in succ):
                col = unit_vector(P, bi[v])
                for s in succ:
                    col[bi[s]] -= dc * theta[ei[(v, s)]]
                cols.append(col)
        if dc0:
            cols.extend(unit_vector(P, ei[(p, v)]) for p in preds)
        if len(cols) > n0:
            words.append(f"unit {v!r} has zero incoming weights (a constant): "
                         f"{len(cols) - n0} free directions")
    vectors = {v: {**{p: theta[ei[(p, v)]] for p in g.predecessors(v)},
                   None: theta[bi[v]] if v in bi else 0.0} for v in hidden}
    for u, v in similar_pairs(hidden, vectors, lambda v: arch.activation_of(v).name, zero=0.0,
                              screen=_EXACT_SCREEN):
        n0 = len(cols)
        kind = _pair_directions(arch, theta, u, v, cols)
        if len(cols) > n0:
            words.append(f"units {u!r} and {v!r} are {kind}: {len(cols) - n0} directions")
    D = np.stack(cols, axis=1) if cols else np.zeros((P, 0))
    return D, words


def _pair_directions(arch, theta, u, v, cols):
    """Append the null directions of an exactly equal, opposite or proportional pair."""
    g, ei, bi = arch.graph, arch.edge_index, arch.bias_index
    P = arch.n_params
    au, av = arch.activation_of(u), arch.activation_of(v)
    if au.name != av.name or au.linear:
        return ""
    preds = sorted(set(g.predecessors(u)) | set(g.predecessors(v)), key=str)

    def vec(x):
        return np.array([theta[ei[(p, x)]] if (p, x) in ei else 0.0 for p in preds]
                        + [theta[bi[x]] if x in bi else 0.0])
    xu, xv = vec(u), vec(v)
    if not np.any(xu):
        return ""
    neg = au.negation
    if np.array_equal(xu, xv):
        kind, al, be, ka = "equal", 0.0, 1.0, 1.0
    elif neg is not None and neg[2] == 0 and np.array_equal(xv, -xu):
        kind, al, be, ka = "opposite", neg[0], neg[1], -neg[1]
    else:
        c = _exact_ratio(xu, xv)
        if c is None:
            return ""
        r = au.polynomial_degree
        if r:
            kind, al, be, ka = "proportional", 0.0, float(c ** r), float(c ** (r - 1))
        elif au.positively_homogeneous and c > 0:
            kind, al, be, ka = "proportional", 0.0, float(c), 1.0
        else:
            return ""
    su, sv = set(g.successors(u)), set(g.successors(v))
    for s in sorted(su & sv, key=str):
        if al and s not in bi:
            continue
        col = np.zeros(P)
        col[ei[(u, s)]] = be
        col[ei[(v, s)]] = -1.0
        if al:
            col[bi[s]] = al
        cols.append(col)
    succ = sorted(su | sv, key=str)
    ou = [theta[ei[(u, s)]] if (u, s) in ei else 0.0 for s in succ]
    ov = [theta[ei[(v, s)]] if (v, s) in ei else 0.0 for s in succ]
    lam = _exact_ratio(ou, ov)
    if lam is not None and lam != 0:
        f = ka * float(lam)
        both = [p for p in preds if (p, u) in ei and (p, v) in ei]
        for p in both:
            col = np.zeros(P)
            col[ei[(p, u)]], col[ei[(p, v)]] = f, -1.0
            cols.append(col)
        if u in bi and v in bi:
            col = np.zeros(P)
            col[bi[u]], col[bi[v]] = f, -1.0
            cols.append(col)
    return kind
