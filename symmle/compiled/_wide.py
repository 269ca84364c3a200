"""Sums whose terms leave float64's exponent range: Poisson's derivatives where e^η overflows.

Where ``e^η`` is beyond float64 (η ≳ 709; the promised range reaches η = 10⁵), the rows are
taken in bands of η at most `BAND` wide (`bands`: a row far below the largest η would vanish
at the largest one's scale, although its terms may be all an entry has), and each band's
family derivatives are formed at a scale ``e^{−M}`` of its own
(`symmle.families.Family.log_scale`). The products with ``∂η/∂θ`` then need scales of
their own too: at subnormal inputs ``∂η/∂θ_p`` is
tiny, its square underflows at the scale e^{−M} although ``e^M ∂η/∂θ_p ∂η/∂θ_q`` is a
number (or an infinity) float64 can hold. So each parameter's column of ``∂η/∂θ`` is scaled
by a power of two (`column_exponents`: exact), and the chunks' sums are added as
`WideSum` — a mantissa and a 64-bit binary exponent per entry — which float64 turns into
its nearest value (±inf beyond its range, 0 below it) only at the end. What the scaled sums
still cannot decide — an entry at the rounding level of its terms (rows that cancel) whose
value times e^M is beyond float64 — is refused by `undecided_sum`
instead of being reported as ±inf (the truth may be any number below the rounding bound).
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from ._blas import weighted_sum
from ._gram import accumulate_jwj

__all__ = ["BAND", "LN2", "NOISE", "WideBand", "WideSum", "bands", "column_exponents",
           "scaled_columns", "split_exp", "undecided_sum", "wide_parts"]

LN2 = math.log(2.0)

#: the exponent of an entry that is exactly 0 (below every other).
_ZERO = -(1 << 40)

#: binary exponents beyond these give ±inf and 0 in float64 whatever the mantissa.
_CLIP = 4096


#: |binary exponents| beyond this are infinite or zero in every float64 result: `split_exp`
#: stops there (so that the sums' int64 exponents never overflow).
_MAX_EXPONENT = 1 << 50


def split_exp(M: float) -> tuple[float, int]:
    """``(f, k)`` with ``e^M = f · 2^k``, ``1 ≤ f < 2`` (``k`` at most ``2^50``: beyond,
    f = 1 and e^M is infinite in any float64 result anyway)."""
    if M / LN2 >= _MAX_EXPONENT:
        return 1.0, _MAX_EXPONENT
    k = math.floor(M / LN2)
    return math.exp(min(max(M - k * LN2, 0.0), LN2)), k


def column_exponents(Jt) -> np.ndarray:
    """``s`` (P,) int64: the power of two that brings each parameter's column of
    ``Jᵀ`` (K, P, m) to a largest magnitude in [1/2, 1) (0 for a column of zeros).

    Examples
    --------
    >>> column_exponents(np.array([[[3.0, -0.1], [1e-200, 0.0], [0.0, 0.0]]])).tolist()
    [-2, 664, 0]
    """
    with np.errstate(invalid="ignore"):
        top = np.abs(Jt).max(axis=(0, 2)) if Jt.size else np.zeros(Jt.shape[1])
    _, e = np.frexp(np.where(np.isfinite(top), top, 0.0))
    return np.where(top > 0, -e, 0).astype(np.int64)


class WideSum:
    """``Σ v · 2^e`` over the arrays ``v`` handed to `add` (``e`` an integer array or
    scalar), kept as a mantissa in [1/2, 1) and an int64 exponent per entry.

    Examples
    --------
    >>> w = WideSum((2,))
    >>> w.add(np.array([1.0, 3.0]), np.array([1500, -1500]))
    >>> w.add(np.array([-1.0, 0.0]), np.array([1499, 0]))
    >>> w.value().tolist()                      # 2^1499 overflows, 3·2^-1500 underflows
    [inf, 0.0]
    >>> [float(v) for v in w.log2abs()]          # but the sums are kept
    [1499.0, -1498.415037499279]
    """

    def __init__(self, shape):
        self.m = np.zeros(shape)
        self.e = np.full(shape, _ZERO, dtype=np.int64)

    def add(self, v, e=0) -> None:
        """Adds ``v · 2^e`` (v float, broadcast to the sum's shape)."""
        m2, d = np.frexp(np.asarray(v, dtype=float))
        e2 = np.where(m2 == 0, _ZERO, d.astype(np.int64) + np.asarray(e, dtype=np.int64))
        top = np.maximum(self.e, e2)
        with np.errstate(under="ignore", over="ignore", invalid="ignore"):
            s = (np.ldexp(self.m, np.clip(self.e - top, -_CLIP, 0).astype(np.int32))
                 + np.ldexp(m2, np.clip(e2 - top, -_CLIP, 0).astype(np.int32)))
        m, d = np.frexp(s)
        self.m = m
        self.e = np.where(m == 0, _ZERO, top + d.astype(np.int64))

    def value(self) -> np.ndarray:
        """The sums as float64: ±inf beyond its range, 0 (or subnormal) below it."""
        with np.errstate(under="ignore", over="ignore"):
            return np.ldexp(self.m, np.clip(self.e, -_CLIP, _CLIP).astype(np.int32))

    def log2abs(self) -> np.ndarray:
        """``log2 |sum|`` per entry (−inf where the sum is 0), beyond float64's range too."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log2(np.abs(self.m)) + self.e
        return np.where(self.m == 0, -np.inf, out)


#: the relative rounding level of a sum against the sum of its terms' magnitudes: below
#: this (or 4·terms·ε) its sign and size are unknown.
NOISE = 1e-12


def undecided_sum(S: WideSum, A: WideSum, value, terms: int, M: float = 0.0) -> np.ndarray:
    """The flat indices of the entries of a sum ``S`` (``A``: the sums of its terms'
    magnitudes) whose float64 ``value`` is ±inf but which are at the rounding level of their
    ``terms`` terms (rows that cancel), each term ``e^{η − M}``-weighted (relative error
    ``M ε``)."""
    inf = np.isinf(value)
    if not inf.any():
        return np.zeros(0, dtype=int)
    level = math.log2(max(NOISE, 4.0 * (terms + abs(M)) * np.finfo(float).eps))
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(inf & (S.log2abs() <= level + A.log2abs()))


#: the widest span of η whose rows share one scale e^{−M}: a weight e^{η − M} ≥ e^{−600}
#: leaves its products with ∂η/∂θ (scaled to [1/2, 1)) 10⁵⁰ above float64's least number.
BAND = 600.0

#: the most multiply-adds of `_second_order_magnitude` (its bound is row by row).
_MAGNITUDE_WORK = 5e7


def bands(eta) -> list[np.ndarray]:
    """The rows (index arrays) in bands of their largest η, each at most `BAND` wide,
    largest first.

    Examples
    --------
    >>> [b.tolist() for b in bands(np.array([[1500.0], [0.0], [1200.0], [1000.0]]))]
    [[0, 2, 3], [1]]
    """
    top = np.max(eta, axis=1)
    order = np.argsort(-top, kind="stable")
    desc = top[order]
    out, i = [], 0
    while i < desc.size:
        j = int(np.searchsorted(-desc, -(desc[i] - BAND), side="right"))
        j = max(j, i + 1)
        out.append(np.sort(order[i:j]))
        i = j
    return out


@dataclass
class WideBand:
    """One band's sums: each entry ``v e^M 2^{−s_p (− s_q)}``, with the sums of its terms'
    magnitudes (``*_abs``) and, for the Hessian, its second-order part (not column-scaled:
    ``e^M`` alone)."""

    M: float
    s: np.ndarray
    parts: dict

    def add_to(self, wides: dict) -> None:
        """Adds the band into the `WideSum` per quantity of ``wides``."""
        f, k = split_exp(self.M)
        e1, e2 = k - self.s, k - self.s[:, None] - self.s[None, :]
        for name, value in self.parts.items():
            if name.startswith("hessian_g"):
                wides[name.replace("_g", "")].add(f * value, k)
            else:
                wides[name].add(f * value, e1 if value.ndim == 1 else e2)


def scaled_columns(prog, Jt, Z):
    """``(J̃, s)``: ``Jᵀ`` (K, Pn, m) with each parameter's column times ``2^{s_p}``
    (`column_exponents`). The column of an edge u → v into a unit with a bias is formed anew
    as ``δ_v ⊙ z_u`` with ``δ_v`` (the bias's column) and the source's values ``z_u`` (rows
    of ``Z``) each scaled first, so that a product of two tiny numbers (a weight of 1e-277 on
    an input of 1e-169: 0 in float64) keeps its digits."""
    cs = column_exponents(Jt)
    J = np.ldexp(Jt, cs[None, :, None].astype(np.int32))
    for L in prog.layers:
        if not len(L.b_idx) or not len(L.w_idx):
            continue
        bias_of = np.full(L.n_units, -1, dtype=np.int64)
        bias_of[np.asarray(L.b_units)] = np.asarray(L.b_idx)
        src = np.arange(L.src.start, L.src.stop) if isinstance(L.src, slice) else np.asarray(L.src)
        q = bias_of[np.asarray(L.rows)]
        ok = q >= 0
        p, q, zr = np.asarray(L.w_idx)[ok], q[ok], src[np.asarray(L.cols)][ok]
        D, V = Jt[:, q, :], Z[zr, :]   # δ_v (K, e, m) and z_u (e, m)
        a = column_exponents(D)
        b = column_exponents(V[None])
        J[:, p, :] = (np.ldexp(D, a[None, :, None].astype(np.int32))
                      * np.ldexp(V, b[:, None].astype(np.int32))[None])
        cs[p] = a + b
    return J, cs


def wide_parts(fam, prog, weights, Z, A, Jt, eta, y, extra, P, score, fisher, hessian):
    """A chunk's sums for the quantities asked for, band by band of η (`bands`), each band
    at its own scale e^{−M} and each column of its ∂η/∂θ (``Jt``: (K, Pn, m)) at a power of
    two of its own (`column_exponents`): a list of `WideBand`."""
    Pn, K = Jt.shape[1], Jt.shape[0]
    E = P - Pn
    out = []
    for idx in bands(eta):
        e, yb = eta[idx], (y[idx] if y is not None else None)
        M = fam.log_scale(e)
        unscale = math.exp(-M) if M else 1.0
        J, cs = scaled_columns(prog, Jt[:, :, idx], Z[:, idx])
        aJ = np.abs(J)
        parts = {}
        if score or hessian:
            g = fam.grad_eta_scaled(e, yb, extra, M) if M else fam.grad_eta(e, yb, extra)
        if score:
            v, mag = np.zeros(P), np.zeros(P)
            for k in range(K):
                v[:Pn] += weighted_sum(J[k], g[:, k])
                mag[:Pn] += weighted_sum(aJ[k], np.abs(g[:, k]))
            if E:
                v[Pn:] = fam.grad_extra(e, yb, extra).sum(axis=0) * unscale
                mag[Pn:] = np.abs(v[Pn:])
            parts["score"], parts["score_abs"] = v, mag
        if fisher:
            w = fam.weight_scaled(e, extra, M) if M else fam.weight(e, extra)
            v, mag = np.zeros((P, P)), np.zeros((P, P))
            accumulate_jwj(v, J, w)
            accumulate_jwj(mag, aJ, np.abs(w))
            if E:
                v[Pn:, Pn:] += e.shape[0] * unscale * fam.extra_fisher(e, extra)
                mag[Pn:, Pn:] = np.abs(v[Pn:, Pn:])
            parts["fisher"], parts["fisher_abs"] = v, mag
        if hessian:
            h = fam.hess_eta_scaled(e, yb, extra, M) if M else fam.hess_eta(e, yb, extra)
            v, mag = np.zeros((P, P)), np.zeros((P, P))
            accumulate_jwj(v, J, h)
            accumulate_jwj(mag, aJ, np.abs(h))
            if E:
                cross = fam.hess_cross(e, yb, extra) * unscale  # (m, K, E)
                c = np.einsum("kpm,mke->pe", J, cross)
                v[:Pn, Pn:] += c
                v[Pn:, :Pn] += c.T
                v[Pn:, Pn:] += fam.hess_extra(e, yb, extra).sum(axis=0) * unscale
                mag[:Pn, Pn:] += np.abs(c)
                mag[Pn:, :Pn] += np.abs(c.T)
                mag[Pn:, Pn:] += np.abs(v[Pn:, Pn:])
            hg = np.zeros((P, P))
            hg[:Pn, :Pn] = prog.hessian_g_eta(weights, Z[:, idx], A[:, idx], g)
            parts["hessian"], parts["hessian_abs"] = v, mag
            parts["hessian_g"] = hg
            parts["hessian_g_abs"] = _second_order_magnitude(prog, weights, Z[:, idx],
                                                             A[:, idx], g, P)
        out.append(WideBand(M, np.concatenate([cs, np.zeros(E, dtype=np.int64)]), parts))
    return out


def _second_order_magnitude(prog, weights, Z, A, g, P):
    """``Σ_rows |Σ_k g_k ∂²η_k/∂θ∂θᵀ|`` (P, P), a row at a time (the bound on what rows
    that cancel leave of the Hessian's second-order part); +inf (nothing is decided) where
    that would take more than `_MAGNITUDE_WORK` multiply-adds."""
    Pn, m = prog.n_params, Z.shape[1]
    out = np.zeros((P, P))
    if m * Pn * Pn > _MAGNITUDE_WORK:
        out[:Pn, :Pn] = np.inf
        return out
    for i in range(m):
        out[:Pn, :Pn] += np.abs(prog.hessian_g_eta(weights, Z[:, i:i + 1], A[:, i:i + 1],
                                                   g[i:i + 1]))
    return out
