"""Optional numba kernels behind ``model.compile(backend="numba")``.

NumPy's float64 ``tanh`` and ``scipy.special.expit`` are scalar libm loops on
CPUs without AVX-512 (≈ 13 ns per value for ``np.tanh`` on an AVX2 AMD EPYC),
and they dominate the forward pass of a small network. The kernels here are
branch-free rewrites of the Cephes algorithms that LLVM vectorises:

* ``exp``: Cody–Waite range reduction ``x = k ln 2 + r`` (the rounding of
  ``x / ln 2`` by the 1.5·2⁵² shifter), Cephes' (2, 3) Padé form of ``e^r``,
  and ``2^k`` built in the exponent bits (two factors, so that subnormal
  results are right);
* ``tanh``: Cephes' rational form ``x + x³ P(x²)/Q(x²)`` for ``|x| < 0.625``,
  else ``sign(x) (1 − 2/(e^{2|x|} + 1))`` written over the Padé form, so that
  both branches share one division;
* ``sigmoid``: ``1/(1 + e^{−x})`` for ``x ≥ 0``, ``e^{x}/(1 + e^{x})`` below;
  ``silu = x·sigmoid(x)``.

Both branches are computed and one is selected, so a loop over an array
becomes AVX2 code (4 values per instruction). Against mpmath the error stays
within 2.3 ulp (tanh), 2.1 ulp (sigmoid), 1.4 ulp (exp); NaN and ±inf go
through as in numpy, and ``tanh(−0.0) = −0.0`` (``tests/test_numba.py``).
Only ``contract`` (fused multiply–add) is allowed of the fast-math flags.

The activation derivatives used by the reverse pass (``1 − h²`` for tanh,
``h(1 − h)`` for sigmoid) are fused with the product by the adjoint, one pass
instead of three. For small layers, `FusedProgram` runs the whole forward
pass and the Jacobian as one kernel each per chunk of rows; for larger layers,
`LayeredProgram` runs the forward pass and the score's reverse pass as one call
per chunk each, with BLAS products (numba's ``np.dot``) between the activation
kernels. Every kernel
releases the GIL, so the row chunks of `symmle.compiled` still run on
several threads. The kernels are compiled on first use and cached on disk by
numba where it can write its cache.

Nothing here is imported unless the numba backend is asked for.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import require

numba = require("numba", "fast")

from llvmlite import ir  # noqa: E402  (numba brings llvmlite)
from numba.core import types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

__all__ = ["KERNELS", "ActivationKernel", "FusedProgram", "LayeredProgram", "all_finite", "exp",
           "sigmoid", "silu", "tanh", "weighted_gram"]


@intrinsic
def _bits_of(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (an LLVM bitcast)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _float_of(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 ``x`` (an LLVM bitcast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# contract: fused multiply-add allowed; no flag that would drop NaN/inf handling.
_FASTMATH = {"contract"}


def _jit(**kw):
    opts = dict(fastmath=_FASTMATH, error_model="numpy", **kw)

    def wrap(fn):
        if kw.get("inline") == "always":
            return numba.njit(**opts)(fn)
        # cache=True: the compiled code goes to the package's __pycache__, or to the user-wide
        # cache (~/.cache, NUMBA_CACHE_DIR) where that is not writable
        return numba.njit(nogil=True, cache=True, **opts)(fn)

    return wrap


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93145751953125e-1
_LN2_LO = 1.42860682030941723212e-6
_SHIFTER = 6755399441055744.0  # 1.5 · 2⁵²: x + shifter rounds x to an integer in the low bits
_SHIFTER_BITS = 0x4338000000000000
_EXP_MAX = 709.782712893384  # log(max float64)
_EXP_MIN = -745.1332191019412  # log(smallest subnormal / 2)


@_jit(inline="always")
def _exp_parts(y):
    """``y = k ln 2 + r`` (Cody–Waite) and Cephes' Padé form ``e^r = (q + p)/(q − p)``:
    returns (k, p, q)."""
    t = y * _LOG2E + _SHIFTER
    k = _bits_of(t) - _SHIFTER_BITS
    kf = t - _SHIFTER
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    rr = r * r
    p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
             + 9.99999999999999999910e-1)
    q = (((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
          + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0)
    return k, p, q


@_jit(inline="always")
def _exp(x):
    k, p, q = _exp_parts(min(max(x, -746.0), 710.0))
    e = 1.0 + 2.0 * (p / (q - p))
    k1 = k >> 1
    e = e * _float_of((k1 + 1023) << 52) * _float_of((k - k1 + 1023) << 52)
    e = np.inf if x > _EXP_MAX else e
    e = 0.0 if x < _EXP_MIN else e
    return x if x != x else e


@_jit(inline="always")
def _tanh(x):
    # One division for both branches (the divider limits the vector loop):
    # |x| < 0.625: Cephes' x + x³ P(x²)/Q(x²); else, with e^{2|x|} = s (q + p)/(q − p) from
    # the Padé form of `_exp`, 1 − 2/(e^{2|x|} + 1) = (s (q + p) − (q − p)) / (s (q + p) + (q − p)).
    ax = abs(x)
    z = x * x
    pn = x * z * ((-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z
                  - 1.61468768441708447952e3)
    pd = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z \
        + 4.84406305325125486048e3
    k, p, q = _exp_parts(2.0 * min(ax, 22.0))  # tanh(22) rounds to 1
    sqp = _float_of((k + 1023) << 52) * (q + p)
    small = ax < 0.625
    num = pn if small else sqp - (q - p)
    den = pd if small else sqp + (q - p)
    f = num / den
    res = x + f if small else math.copysign(f, x)
    # |x| < 1e-9: tanh(x) rounds to x (and keeps the sign of -0.0); NaN goes through
    return res if z >= 1e-18 else x


@_jit(inline="always")
def _sigmoid(x):
    e = _exp(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0.0 else (x if x != x else e * s)


_NO_BIAS = np.array([-0.0])

#: kernel codes of the activations with a numba form (one branch per code, outside the loops).
_CODES = {"tanh": 0, "sigmoid": 1, "silu": 2}


@_jit(inline="always")
def _act_row(code, a, h, bias):
    """``a += bias`` and ``h = σ(a)`` for 1-D arrays (``bias = −0.0`` for none: it keeps
    ``a`` bit for bit, −0.0 included), in one pass (one loop per code; loops
    from 0, so that numba's negative-index handling folds away and LLVM vectorises)."""
    n = a.shape[0]
    if code == -1:
        for r in range(n):
            v = a[r] + bias
            a[r] = v
            h[r] = v
    elif code == 0:
        for r in range(n):
            v = a[r] + bias
            a[r] = v
            h[r] = _tanh(v)
    elif code == 1:
        for r in range(n):
            v = a[r] + bias
            a[r] = v
            h[r] = _sigmoid(v)
    elif code == 2:
        for r in range(n):
            v = a[r] + bias
            a[r] = v
            h[r] = v * _sigmoid(v)
    elif code == 3:
        for r in range(n):
            v = a[r] + bias
            a[r] = v
            h[r] = v if (v > 0.0 or v != v) else 0.0
    else:
        for r in range(n):
            v = a[r] + bias
            a[r] = v
            h[r] = v if (v > 0.0 or v != v) else 0.01 * v


@_jit(inline="always")
def _d1_row(code, a, h, adj):
    """``adj *= σ'(a)`` given ``h = σ(a)`` (relu'(0) = 0, as `symmle.activations`)."""
    n = a.shape[0]
    if code == 0:
        for r in range(n):
            adj[r] *= 1.0 - h[r] * h[r]
    elif code == 1:
        for r in range(n):
            adj[r] *= h[r] * (1.0 - h[r])
    elif code == 2:
        for r in range(n):
            s = _sigmoid(a[r])
            adj[r] *= s * (1.0 + a[r] * (1.0 - s))
    elif code == 3:
        for r in range(n):
            adj[r] = adj[r] if a[r] > 0.0 else 0.0 * adj[r]
    elif code == 4:
        for r in range(n):
            adj[r] = adj[r] if a[r] > 0.0 else 0.01 * adj[r]


@_jit()
def _all_finite(a):
    """Whether every value of the 1-D array is finite (``v − v`` is 0 only for finite v;
    an integer reduction, so that LLVM vectorises it without reassociating floats)."""
    bad = 0
    for i in range(a.shape[0]):
        v = a[i]
        bad |= not (v - v == 0.0)
    return bad == 0


def all_finite(a) -> bool:
    """``np.isfinite(a).all()`` in one pass without a temporary (C-contiguous float64), else
    numpy's.

    Examples
    --------
    >>> from symmle._numba import all_finite
    >>> all_finite(np.ones((3, 2))), all_finite(np.array([1.0, np.nan])), all_finite(np.array([np.inf]))
    (True, False, False)
    """
    if a.dtype == np.float64 and a.flags.c_contiguous:
        return bool(_all_finite(a.reshape(-1)))
    return bool(np.isfinite(a).all())


@_jit()
def _exp_into(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


@_jit()
def _act_into(code, a, b, out):
    """``a += b`` (one bias per row) and ``out = σ(a)`` for (U, m) arrays, one pass per row."""
    for j in range(a.shape[0]):
        _act_row(code, a[j], out[j], b[j])


@_jit()
def _d1_mul(code, a, h, adj):
    """``adj *= σ'(a)`` given ``h = σ(a)``; all (U, m)."""
    for j in range(a.shape[0]):
        _d1_row(code, a[j], h[j], adj[j])


def _ok(*arrays):
    """All C-contiguous float64 arrays of one shape."""
    return all(x.dtype == np.float64 and x.flags.c_contiguous and x.shape == arrays[0].shape
               for x in arrays)


def _unary(name, code=None):
    def apply(x, out=None):
        x = np.ascontiguousarray(x, dtype=np.float64)
        res = np.empty(x.shape)
        if code is None:
            _exp_into(x.reshape(-1), res.reshape(-1))
        else:  # on a copy: the kernel writes its input back (plus a bias of −0.0)
            _act_into(code, x.reshape(1, -1).copy(), _NO_BIAS, res.reshape(1, -1))
        if out is None:
            return res
        out[...] = res
        return out

    apply.__name__ = name
    apply.__doc__ = f"Vectorised float64 {name} (numba), within a few ulp of the true value."
    return apply


exp = _unary("exp")
tanh = _unary("tanh", _CODES["tanh"])
sigmoid = _unary("sigmoid", _CODES["sigmoid"])
silu = _unary("silu", _CODES["silu"])


class ActivationKernel:
    """One pass each for ``a += b; h = σ(a)`` and ``adj *= σ'(a)`` (given ``h = σ(a)``).

    Both return False when the arrays are not C-contiguous float64 of one shape
    (the caller then uses the numpy forms).
    """

    def __init__(self, name):
        self.name = name
        self.code = _CODES[name]

    def value_into(self, a, b, out) -> bool:
        """``a += b`` (b: one value per row of the (U, m) array a, or None) and ``out = σ(a)``."""
        if a.ndim != 2 or not _ok(a, out):
            return False
        bias = np.full(a.shape[0], -0.0) if b is None else np.ascontiguousarray(b, dtype=float).reshape(-1)
        _act_into(self.code, a, bias, out)
        return True

    def d1_mul(self, a, h, adj) -> bool:
        """``adj *= σ'(a)`` for adj (U, m) or (K, U, m)."""
        if a.ndim != 2 or not _ok(a, h):
            return False
        adjs = (adj,) if adj.ndim == 2 else tuple(adj)
        if not all(_ok(a, x) for x in adjs):
            return False
        for x in adjs:
            _d1_mul(self.code, a, h, x)
        return True

    def __repr__(self):
        return f"ActivationKernel({self.name!r})"


# ----------------------------------------------------------- fused program
#: unit codes of the fused program: the activations above plus the piecewise-linear ones.
_UNIT_CODES = {"identity": -1, **_CODES, "relu": 3, "leaky_relu": 4}


def _unit_codes(prog):
    """The activation code (`_UNIT_CODES`) of every unit of the program, in A's row order."""
    code = np.empty(prog.n_units, dtype=np.int64)
    for L in prog.layers:
        for pieces, sel in L.groups:
            idx = np.arange(L.n_units) if sel is None else (
                np.arange(sel.start, sel.stop) if isinstance(sel, slice) else sel)
            code[L.a_rows.start + idx] = _UNIT_CODES[pieces.name]
    return code


def _supports_activations(prog) -> bool:
    return all(p.name in _UNIT_CODES for L in prog.layers for p, _ in L.groups)


@_jit(inline="always")
def _forward_tile(theta, X, Z, A, r0, n, c0, lay, code, e_unit, e_src, e_par, b_unit, b_par):
    """The forward pass of rows ``[r0, r0 + n)`` of X into columns ``[c0, c0 + n)`` of Z and A.

    ``lay`` (L, 5): first unit's row in A, number of units, edge range, bias range end
    (bias ranges are consecutive); ``code`` (n_units,): activation code per unit.
    """
    d = X.shape[1]
    c1 = c0 + n
    for c in range(d):
        zc = Z[c, c0:c1]
        xc = X[r0:r0 + n, c]
        for r in range(n):
            zc[r] = xc[r]
    b0 = 0
    for li in range(lay.shape[0]):
        a0, nu, e0, e1, b1 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
        for j in range(a0, a0 + nu):
            aj = A[j, c0:c1]
            for r in range(n):
                aj[r] = 0.0
        for b in range(b0, b1):
            aj = A[a0 + b_unit[b], c0:c1]
            w = theta[b_par[b]]
            for r in range(n):
                aj[r] += w
        b0 = b1
        for e in range(e0, e1):
            aj = A[a0 + e_unit[e], c0:c1]
            zs = Z[e_src[e], c0:c1]
            w = theta[e_par[e]]
            for r in range(n):
                aj[r] += w * zs[r]
        for j in range(a0, a0 + nu):
            _act_row(code[j], A[j, c0:c1], Z[d + j, c0:c1], -0.0)


@_jit()
def _fused_forward(theta, X, Z, A, lay, code, e_unit, e_src, e_par, b_unit, b_par, tile):
    """The forward pass of the whole program over row tiles, in one call without the GIL
    (Z, A: (n_nodes, m), (n_units, m))."""
    m = X.shape[0]
    for r0 in range(0, m, tile):
        n = min(m, r0 + tile) - r0
        _forward_tile(theta, X, Z, A, r0, n, r0, lay, code, e_unit, e_src, e_par, b_unit, b_par)


@_jit()
def _fused_eta(theta, X, eta, Zt, At, out_rows, lay, code, e_unit, e_src, e_par, b_unit, b_par):
    """η (m, K) only: each tile of rows goes through the scratch ``Zt`` (n_nodes, tile) and
    ``At`` (n_units, tile), which stay in the L1 cache (the full Z and A are never written)."""
    m = X.shape[0]
    tile = Zt.shape[1]
    for r0 in range(0, m, tile):
        n = min(m, r0 + tile) - r0
        _forward_tile(theta, X, Zt, At, r0, n, 0, lay, code, e_unit, e_src, e_par, b_unit, b_par)
        for k in range(out_rows.shape[0]):
            zk = Zt[out_rows[k]]
            for r in range(n):
                eta[r0 + r, k] = zk[r]


@_jit(inline="always")
def _reverse_tile(theta, Z, A, adj, Jk, j0, out_row, r0, r1, lay, code, e_unit, e_src, e_par,
                  b_unit, b_par):
    """One output's row of the Jacobian for the rows [r0, r1): ``Jk[p, j0 + r − r0]``."""
    n = r1 - r0
    d = Z.shape[0] - A.shape[0]
    for j in range(A.shape[0]):
        aj = adj[j, r0:r1]
        for r in range(n):
            aj[r] = 0.0
    ak = adj[out_row, r0:r1]
    for r in range(n):
        ak[r] = 1.0
    for li in range(lay.shape[0] - 1, -1, -1):
        a0, nu, e0, e1, b1 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
        b0 = lay[li - 1, 4] if li > 0 else 0
        for j in range(a0, a0 + nu):
            _d1_row(code[j], A[j, r0:r1], Z[d + j, r0:r1], adj[j, r0:r1])
        for b in range(b0, b1):
            dj = adj[a0 + b_unit[b], r0:r1]
            jp = Jk[b_par[b], j0:j0 + n]
            for r in range(n):
                jp[r] = dj[r]
        for e in range(e0, e1):
            dj = adj[a0 + e_unit[e], r0:r1]
            s = e_src[e]
            zs = Z[s, r0:r1]
            jp = Jk[e_par[e], j0:j0 + n]
            for r in range(n):
                jp[r] = dj[r] * zs[r]
            if s >= d:
                w = theta[e_par[e]]
                asrc = adj[s - d, r0:r1]
                for r in range(n):
                    asrc[r] += w * dj[r]


@_jit(inline="always")
def _seed_adjoint(adj, G, out_rows, r0, n):
    """``adj[:, :n] = 0`` and ``adj[out_k, r] += G[r0 + r, k]``: the reverse pass seeded with G."""
    for j in range(adj.shape[0]):
        aj = adj[j]
        for r in range(n):
            aj[r] = 0.0
    for k in range(out_rows.shape[0]):
        ak = adj[out_rows[k]]
        for r in range(n):
            ak[r] += G[r0 + r, k]


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract", "reassoc"})
def _sum_prod(a, b, n):
    """``Σ_{r<n} a[r] b[r]`` (reassociated, so that LLVM vectorises the sum; the order is
    fixed by n, not by the thread count)."""
    s = 0.0
    for r in range(n):
        s += a[r] * b[r]
    return s


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract", "reassoc"})
def _sum(a, n):
    """``Σ_{r<n} a[r]`` (reassociated, as `_sum_prod`)."""
    s = 0.0
    for r in range(n):
        s += a[r]
    return s


@_jit()
def _fused_grad(theta, Z, A, G, out, adj, out_rows, lay, code, e_unit, e_src, e_par, b_unit,
                b_par):
    """``out[p] += Σ_r Σ_k G[r, k] ∂η_k/∂θ_p``: the reverse pass seeded with G (m, K), over
    tiles of rows in the scratch ``adj`` (n_units, tile), J never formed."""
    m = Z.shape[1]
    d = Z.shape[0] - A.shape[0]
    tile = adj.shape[1]
    for r0 in range(0, m, tile):
        r1 = min(m, r0 + tile)
        n = r1 - r0
        _seed_adjoint(adj, G, out_rows, r0, n)
        for li in range(lay.shape[0] - 1, -1, -1):
            a0, nu, e0, e1, b1 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
            b0 = lay[li - 1, 4] if li > 0 else 0
            for j in range(a0, a0 + nu):
                _d1_row(code[j], A[j, r0:r1], Z[d + j, r0:r1], adj[j, :n])
            for b in range(b0, b1):
                out[b_par[b]] += _sum(adj[a0 + b_unit[b]], n)
            for e in range(e0, e1):
                dj = adj[a0 + e_unit[e]]
                s = e_src[e]
                out[e_par[e]] += _sum_prod(dj, Z[s, r0:r1], n)
                if s >= d:
                    w = theta[e_par[e]]
                    asrc = adj[s - d]
                    for r in range(n):
                        asrc[r] += w * dj[r]


@_jit()
def _fused_jacobian(theta, Z, A, Jt, adj, out_rows, lay, code, e_unit, e_src, e_par, b_unit,
                    b_par, tile):
    """``Jᵀ`` (K, Pn, m): the reverse pass seeded at each output, over row tiles.

    ``adj`` (n_units, m) is scratch; ``out_rows`` (K,): the outputs' rows in A.
    """
    m = Z.shape[1]
    for r0 in range(0, m, tile):
        r1 = min(m, r0 + tile)
        for k in range(Jt.shape[0]):
            _reverse_tile(theta, Z, A, adj, Jt[k], r0, out_rows[k], r0, r1, lay, code, e_unit,
                          e_src, e_par, b_unit, b_par)


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract", "reassoc"})
def _gram_tile(J, w, out, n, JW):
    """``out[p, q] += Σ_{r<n} w_r J[p, r] J[q, r]`` (q ≤ p) for a C-contiguous tile J.

    Each row is scaled by w once (into the scratch ``JW``, same shape as J); then four
    columns q at a time share one load of ``JW[p, r]`` (four independent sums: about
    20 % faster than one triple product per pair, 5.9 against 7.6 µs for 13 × 512).
    """
    P = J.shape[0]
    for p in range(P):
        jp, jwp = J[p], JW[p]
        for r in range(n):
            jwp[r] = jp[r] * w[r]
    for p in range(P):
        jwp = JW[p]
        q = 0
        while q + 4 <= p + 1:
            j0, j1, j2, j3 = J[q], J[q + 1], J[q + 2], J[q + 3]
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for r in range(n):
                x = jwp[r]
                s0 += x * j0[r]
                s1 += x * j1[r]
                s2 += x * j2[r]
                s3 += x * j3[r]
            out[p, q] += s0
            out[p, q + 1] += s1
            out[p, q + 2] += s2
            out[p, q + 3] += s3
            q += 4
        while q <= p:
            jq = J[q]
            s = 0.0
            for r in range(n):
                s += jwp[r] * jq[r]
            out[p, q] += s
            q += 1


@_jit()
def _gram_lower(J, w, out, tile):
    """``out[p, q] += Σ_r w_r J[p, r] J[q, r]`` for q ≤ p: `_gram_tile` on contiguous copies of
    each tile of rows (in cache while they are summed). The order of the sums is fixed by
    the tile size, not by the thread count."""
    P, m = J.shape
    Jt = np.empty((P, tile))
    JW = np.empty((P, tile))
    wt = np.empty(tile)
    for r0 in range(0, m, tile):
        n = min(m, r0 + tile) - r0
        for p in range(P):
            jp, src = Jt[p], J[p, r0:r0 + n]
            for r in range(n):
                jp[r] = src[r]
        for r in range(n):
            wt[r] = w[r0 + r]
        _gram_tile(Jt, wt, out, n, JW)


@_jit()
def _fused_fisher1(theta, Z, A, w, out, adj, Jtile, wtile, out_row, lay, code, e_unit, e_src,
                   e_par, b_unit, b_par):
    """``out[p, q] += Σ_r w_r J[p, r] J[q, r]`` (q ≤ p) for one output: each tile's Jacobian
    is built in ``Jtile`` (Pn, tile) and added while it is still in the cache."""
    m = Z.shape[1]
    tile = Jtile.shape[1]
    JW = np.empty_like(Jtile)
    for r0 in range(0, m, tile):
        r1 = min(m, r0 + tile)
        _reverse_tile(theta, Z, A, adj, Jtile, 0, out_row, r0, r1, lay, code, e_unit, e_src,
                      e_par, b_unit, b_par)
        for r in range(r1 - r0):
            wtile[r] = w[r0 + r]
        _gram_tile(Jtile, wtile, out, r1 - r0, JW)


@_jit()
def _fused_fisher1_x(theta, X, eta, out, Zt, At, adj, Jtile, ones, out_row, lay, code, e_unit,
                     e_src, e_par, b_unit, b_par):
    """``out[p, q] += Σ_r J[p, r] J[q, r]`` (q ≤ p) for one output straight from X: each tile
    of rows goes forward through ``Zt``/``At``, back into ``Jtile`` and into the Gram sums
    while in the L1 cache (the full Z and A are never written); η goes to ``eta`` (m,)."""
    m, d = X.shape
    tile = Jtile.shape[1]
    JW = np.empty_like(Jtile)
    for r0 in range(0, m, tile):
        n = min(m, r0 + tile) - r0
        _forward_tile(theta, X, Zt, At, r0, n, 0, lay, code, e_unit, e_src, e_par, b_unit, b_par)
        zk = Zt[d + out_row]
        for r in range(n):
            eta[r0 + r] = zk[r]
        _reverse_tile(theta, Zt, At, adj, Jtile, 0, out_row, 0, n, lay, code, e_unit, e_src,
                      e_par, b_unit, b_par)
        _gram_tile(Jtile, ones, out, n, JW)


#: the most parameters for which `weighted_gram` beats BLAS syrk (≈ 2× at P = 13; BLAS is
#: faster from P ≈ 30 on).
GRAM_MAX_P = 20


def _from_lower(out):
    """The symmetric matrix whose lower triangle (diagonal included) is ``out``'s."""
    return out + np.tril(out, -1).T


def weighted_gram(J, w):
    """``Σ_r w_r J[:, r] J[:, r]ᵀ`` (P, P) for J (P, m) and w (m,), or None when P > GRAM_MAX_P
    or the arrays are not C-contiguous float64.

    Examples
    --------
    >>> from symmle._numba import weighted_gram
    >>> J = np.arange(6.0).reshape(2, 3); w = np.array([1.0, 2.0, 0.5])
    >>> bool(np.allclose(weighted_gram(J, w), (J * w) @ J.T))
    True
    """
    P = J.shape[0]
    if P > GRAM_MAX_P or not (J.flags.c_contiguous and J.dtype == np.float64):
        return None
    out = np.zeros((P, P))
    _gram_lower(J, np.ascontiguousarray(w, dtype=np.float64), out, 512)
    return _from_lower(out)


class FusedProgram:
    """The forward pass and the Jacobian of a `symmle._slp.NumericProgram` as two numba
    kernels, each one call per chunk of rows with the GIL released.

    The numpy program spends a dozen numpy calls per layer on a chunk; for a small
    network those calls, not the arithmetic, are the cost, and under threads they
    contend for the GIL. Here every edge is one fused multiply-add pass over a tile
    of rows (`TILE` rows, which stay in the L1 cache), the activations are the
    vectorised kernels above. Used for networks whose units are all identity, tanh,
    sigmoid, silu, relu or leaky_relu and whose layers are small (see `supports`);
    Z and A are laid out exactly as in the numpy program.
    """

    #: rows per tile.
    TILE = 256
    #: the most edges in one layer (beyond it BLAS is faster than one pass per edge).
    MAX_LAYER_EDGES = 64

    def __init__(self, prog):
        d = prog.n_inputs
        lay, e_unit, e_src, e_par, b_unit, b_par = [], [], [], [], [], []
        for L in prog.layers:
            a0 = L.a_rows.start
            src = np.arange(L.src.start, L.src.stop) if isinstance(L.src, slice) else L.src
            e0 = len(e_unit)
            e_unit += list(L.rows)
            e_src += list(src[L.cols])
            e_par += list(L.w_idx)
            b_unit += list(L.b_units)
            b_par += list(L.b_idx)
            lay.append((a0, L.n_units, e0, len(e_unit), len(b_unit)))
        as_i = lambda x: np.asarray(x, dtype=np.int64).reshape(-1)  # noqa: E731
        self.lay = np.asarray(lay, dtype=np.int64).reshape(-1, 5)
        self.code = _unit_codes(prog)
        self.e_unit, self.e_src, self.e_par = as_i(e_unit), as_i(e_src), as_i(e_par)
        self.b_unit, self.b_par = as_i(b_unit), as_i(b_par)
        self.out_rows = as_i(prog.out_list) - d
        self._ones = np.ones(self.FISHER_TILE)  # the Gram weights of `fisher_x` (read only)

    @classmethod
    def supports(cls, prog) -> bool:
        """Whether every unit has a fused activation and every layer at most
        `MAX_LAYER_EDGES` edges."""
        return _supports_activations(prog) and all(
            len(L.w_idx) <= cls.MAX_LAYER_EDGES for L in prog.layers)

    def forward(self, theta, X, Z, A):
        _fused_forward(theta, np.ascontiguousarray(X, dtype=np.float64), Z, A, self.lay,
                       self.code, self.e_unit, self.e_src, self.e_par, self.b_unit, self.b_par,
                       self.TILE)

    def eta(self, theta, X, Zt, At):
        """η (m, K) of the rows of X, through tile-sized scratch ``Zt`` (n_nodes, TILE) and
        ``At`` (n_units, TILE)."""
        eta = np.empty((X.shape[0], len(self.out_rows)))
        _fused_eta(theta, np.ascontiguousarray(X, dtype=np.float64), eta, Zt, At,
                   self.out_rows + (Zt.shape[0] - At.shape[0]), self.lay, self.code, self.e_unit,
                   self.e_src, self.e_par, self.b_unit, self.b_par)
        return eta

    def jacobian_t(self, theta, Z, A, Jt, adj):
        _fused_jacobian(theta, Z, A, Jt, adj, self.out_rows, self.lay, self.code, self.e_unit,
                        self.e_src, self.e_par, self.b_unit, self.b_par, self.TILE)

    def grad(self, theta, Z, A, G, adj):
        """``Σ_rows Σ_k G_k ∂η_k/∂θ`` (Pn,) by the reverse pass over tiles of rows (``adj``:
        (n_units, TILE) scratch)."""
        out = np.zeros(len(theta))
        _fused_grad(theta, Z, A, np.ascontiguousarray(G, dtype=np.float64), out, adj,
                    self.out_rows, self.lay, self.code, self.e_unit, self.e_src, self.e_par,
                    self.b_unit, self.b_par)
        return out

    #: rows per tile of the fused Fisher information (its Jacobian tile stays in L1/L2).
    FISHER_TILE = 512

    def fisher(self, theta, Z, A, w, adj, Jtile, wtile):
        """``Σ_r w_r J_r J_rᵀ`` (Pn, Pn) for one output, J never formed beyond one tile
        (``Jtile`` (Pn, FISHER_TILE), ``wtile`` (FISHER_TILE,)); None with several outputs
        or more than `GRAM_MAX_P` parameters."""
        if not self._gram_applies(Jtile):
            return None
        out = np.zeros((Jtile.shape[0],) * 2)
        _fused_fisher1(theta, Z, A, np.ascontiguousarray(w, dtype=np.float64), out, adj, Jtile,
                       wtile, self.out_rows[0], self.lay, self.code, self.e_unit, self.e_src,
                       self.e_par, self.b_unit, self.b_par)
        return _from_lower(out)

    def _gram_applies(self, Jtile):
        return len(self.out_rows) == 1 and Jtile.shape[0] <= GRAM_MAX_P

    def fisher_x(self, theta, X, c, Zt, At, adj, Jtile):
        """``(c Σ_r J_r J_rᵀ, η)`` for one output and a constant weight c, straight from the
        rows of X (tile-sized scratch: ``Zt``, ``At``, ``adj`` (·, FISHER_TILE), ``Jtile``
        (Pn, FISHER_TILE)); None with several outputs or more than `GRAM_MAX_P`
        parameters."""
        if not self._gram_applies(Jtile):
            return None
        out = np.zeros((Jtile.shape[0],) * 2)
        eta = np.empty(X.shape[0])
        _fused_fisher1_x(theta, np.ascontiguousarray(X, dtype=np.float64), eta, out, Zt, At,
                         adj, Jtile, self._ones, self.out_rows[0], self.lay, self.code,
                         self.e_unit, self.e_src, self.e_par, self.b_unit, self.b_par)
        return c * _from_lower(out), eta[:, None]


@_jit()
def _layered_forward(X, Z, A, wflat, bflat, lay, code):
    """The forward pass layer by layer over the whole chunk, in one call without the GIL:
    one BLAS product per layer (numba's ``np.dot`` on contiguous views), then bias and
    activation in one pass per unit.

    ``lay`` (L, 5): first unit's row in A, number of units U, first source row in Z,
    number of sources S, offset of the layer's (U, S) weights in ``wflat``; ``bflat``
    (n_units,): biases (−0.0 for none); ``code`` (n_units,): activation code per unit.
    """
    m, d = X.shape
    for r0 in range(0, m, 64):  # Z[:d] = Xᵀ in blocks of rows that stay in L1
        r1 = min(m, r0 + 64)
        for c in range(d):
            zc = Z[c]
            for r in range(r0, r1):
                zc[r] = X[r, c]
    for li in range(lay.shape[0]):
        a0, nu, s0, ns, w0 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
        np.dot(wflat[w0:w0 + nu * ns].reshape((nu, ns)), Z[s0:s0 + ns], A[a0:a0 + nu])
        for j in range(a0, a0 + nu):
            _act_row(code[j], A[j], Z[d + j], bflat[j])


@_jit()
def _layered_grad(Z, A, G, adj, wflat, wgrad, bgrad, lay, code, out_rows):
    """The reverse pass seeded with G (m, K), layer by layer over the whole chunk in one call
    without the GIL: ``wgrad`` (laid out as ``wflat``) and ``bgrad`` (n_units,) get the sums
    over rows of each layer's ``δ hᵀ`` (one BLAS product) and ``δ``; ``adj`` (n_units, m) is
    scratch."""
    m = Z.shape[1]
    d = Z.shape[0] - A.shape[0]
    _seed_adjoint(adj, G, out_rows, 0, m)
    for li in range(lay.shape[0] - 1, -1, -1):
        a0, nu, s0, ns, w0 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4]
        for j in range(a0, a0 + nu):
            _d1_row(code[j], A[j], Z[d + j], adj[j])
            bgrad[j] = _sum(adj[j], m)
        delta = adj[a0:a0 + nu]
        gw = np.dot(delta, Z[s0:s0 + ns].T)
        wgrad[w0:w0 + nu * ns] = gw.reshape(-1)
        if s0 + ns > d:
            back = np.dot(wflat[w0:w0 + nu * ns].reshape((nu, ns)).T, delta)
            for i in range(ns):
                if s0 + i >= d:
                    ai, bi = adj[s0 + i - d], back[i]
                    for r in range(m):
                        ai[r] += bi[r]


class LayeredProgram:
    """The forward pass of a `symmle._slp.NumericProgram` with large layers as one numba
    call per chunk: a BLAS product per layer and the fused bias + activation kernels,
    with no Python (and no GIL) between the layers.

    For a deep network such as ``mlp(4, 16, 16, 16, 1)`` the numpy program makes
    about ten Python-level calls per layer and chunk; two threads running chunks then
    hand the GIL back and forth dozens of times per chunk, which on a 2-vCPU VM made
    each chunk ≈ 1.5× slower than alone. Used when `FusedProgram` is not (some layer
    has more than ``MAX_LAYER_EDGES`` edges), every unit has a numba activation, and
    every layer's sources are consecutive rows of Z (any layered MLP; not skip
    connections).
    """

    def __init__(self, prog):
        lay, off = [], 0
        for L in prog.layers:
            lay.append((L.a_rows.start, L.n_units, L.src.start, L.n_src, off))
            off += L.n_units * L.n_src
        self.lay = np.asarray(lay, dtype=np.int64).reshape(-1, 5)
        self.code = _unit_codes(prog)
        self.n_units = prog.n_units
        self.n_params = prog.n_params
        self.out_rows = np.asarray(prog.out_list, dtype=np.int64) - prog.n_inputs
        # where each parameter's gradient is found in (wgrad, bgrad) of `_layered_grad`
        w_take, w_pos, b_take, b_pos = [], [], [], []
        for L, (a0, _, _, ns, off) in zip(prog.layers, self.lay):
            w_take.append(off + np.asarray(L.rows) * ns + np.asarray(L.cols))
            w_pos.append(L.w_idx)
            b_take.append(a0 + np.asarray(L.b_units))
            b_pos.append(L.b_idx)
        cat = lambda x: np.concatenate([np.asarray(v, dtype=np.intp).reshape(-1) for v in x])  # noqa: E731
        self.w_take, self.w_pos = cat(w_take), cat(w_pos)
        self.b_take, self.b_pos = cat(b_take), cat(b_pos)

    @classmethod
    def supports(cls, prog) -> bool:
        """Whether every unit has a numba activation and every layer's sources are one
        contiguous block of rows."""
        return _supports_activations(prog) and all(isinstance(L.src, slice)
                                                   for L in prog.layers)

    def pack(self, weights):
        """The dense per-layer ``(W, b)`` of `NumericProgram.weights` as the flat arrays of
        the kernel: ``(wflat, bflat)`` (−0.0 for a unit without a bias)."""
        wflat = np.concatenate([W.reshape(-1) for W, _ in weights])
        bflat = np.full(self.n_units, -0.0)
        for (a0, nu, _, _, _), (_, b) in zip(self.lay, weights):
            if b is not None:
                bflat[a0:a0 + nu] = b[:, 0]
        return np.ascontiguousarray(wflat, dtype=np.float64), bflat

    def forward(self, packed, X, Z, A):
        wflat, bflat = packed
        _layered_forward(np.ascontiguousarray(X, dtype=np.float64), Z, A, wflat, bflat,
                         self.lay, self.code)

    def grad(self, packed, Z, A, G, adj):
        """``Σ_rows Σ_k G_k ∂η_k/∂θ`` (Pn,) by the reverse pass as one call (``adj``:
        (n_units, m) scratch)."""
        wflat, _ = packed
        wgrad, bgrad = np.empty_like(wflat), np.empty(self.n_units)
        _layered_grad(Z, A, np.ascontiguousarray(G, dtype=np.float64), adj, wflat, wgrad, bgrad,
                      self.lay, self.code, self.out_rows)
        out = np.zeros(self.n_params)
        out[self.w_pos] = wgrad[self.w_take]
        out[self.b_pos] = bgrad[self.b_take]
        return out


#: the activations with a numba kernel; the others keep their numpy forms.
KERNELS = {name: ActivationKernel(name) for name in _CODES}
