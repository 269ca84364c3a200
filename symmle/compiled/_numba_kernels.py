"""The numba backend's elementwise kernels: exp, tanh, sigmoid, silu, the activation passes,
the finite-value scan, the reassociated sums and the small Gram kernel.

The kernels are branch-free rewrites of the Cephes algorithms that LLVM vectorises
(NumPy's float64 ``tanh`` and ``scipy.special.expit`` are scalar libm loops on CPUs
without AVX-512):

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
becomes SIMD code. Against mpmath the error stays within 2.3 ulp (tanh),
2.1 ulp (sigmoid), 1.4 ulp (exp); NaN and ±inf go through as in numpy, and
``tanh(−0.0) = −0.0`` (``tests/test_numba.py``). Only ``contract`` (fused
multiply–add) is allowed of the fast-math flags, except in the sums, which may
reassociate within one call (their order is fixed by their length). The
activation derivatives used by the reverse pass are computed from the
pre-activation (``sech²(a) = 4e/(1 + e)²`` with ``e = exp(−2|a|)`` for tanh,
``e/(1 + e)²`` with ``e = exp(−|a|)`` for sigmoid: ``1 − h²`` and ``h(1 − h)``
lose every digit where the unit saturates) and fused with the product by the adjoint.

Every kernel releases the GIL. They are compiled on first use and cached on disk
by numba where it can write its cache. Nothing here is imported unless the numba
backend is asked for (`symmle.compiled.resolve_backend`).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import require
from ._kinks import bounds_loop

numba = require("numba", "fast")

from llvmlite import ir  # noqa: E402  (numba brings llvmlite)
from numba.core import types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

__all__ = ["CODES", "GRAM_MAX_P", "KERNELS", "ActivationKernel", "UNIT_CODES", "act_row",
           "all_finite", "count_small", "d1_row", "exp", "from_lower", "kink_bounds", "gram_tile", "jit",
           "sigmoid", "silu", "sum_", "sum_prod", "supports_activations", "tanh", "unit_codes",
           "weighted_gram"]


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
# the sums may also reassociate (so that LLVM vectorises them); their order is fixed by
# their length, never by the number of threads.
_FASTMATH_SUMS = {"contract", "reassoc"}


def jit(inline=False, sums=False):
    """``numba.njit`` with the backend's options: the GIL released, the compiled code cached
    on disk (the package's ``__pycache__``, or the user-wide cache, ``NUMBA_CACHE_DIR``,
    where that is not writable), numpy's error model; ``inline=True`` for helpers inlined
    into their callers, ``sums=True`` for reassociated sums. No kernel uses numba's
    ``parallel=True``: threads are the compiled model's (`symmle.compiled._numba_blocks`).

    A helper (``inline=True``) is compiled on its own and linked into its callers, where
    LLVM inlines what pays; numba's IR-level inlining (``inline="always"``) gave the same
    machine speed at 2.3× the cold compile time (mlp(2, 3, 1): 22.8 s against 9.8 s for
    the first log-likelihood, score and Fisher information; `benchmarks/bench_cold.py`)."""
    del inline  # a helper is compiled like a kernel (see above); the flag documents intent
    return numba.njit(nogil=True, cache=True, error_model="numpy",
                      fastmath=_FASTMATH_SUMS if sums else _FASTMATH)


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93145751953125e-1
_LN2_LO = 1.42860682030941723212e-6
_SHIFTER = 6755399441055744.0  # 1.5 · 2⁵²: x + shifter rounds x to an integer in the low bits
_SHIFTER_BITS = 0x4338000000000000
_EXP_MAX = 709.782712893384  # log(max float64)
_EXP_MIN = -745.1332191019412  # log(smallest subnormal / 2)


@jit(inline=True)
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


@jit(inline=True)
def _exp(x):
    k, p, q = _exp_parts(min(max(x, -746.0), 710.0))
    e = 1.0 + 2.0 * (p / (q - p))
    k1 = k >> 1
    e = e * _float_of((k1 + 1023) << 52) * _float_of((k - k1 + 1023) << 52)
    e = np.inf if x > _EXP_MAX else e
    e = 0.0 if x < _EXP_MIN else e
    return x if x != x else e


@jit(inline=True)
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


@jit(inline=True)
def _sigmoid(x):
    e = _exp(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0.0 else (x if x != x else e * s)


_NO_BIAS = np.array([-0.0])

#: kernel codes of the activations with a numba form (one branch per code, outside the loops).
CODES = {"tanh": 0, "sigmoid": 1, "silu": 2}

#: unit codes of the fused and layered programs: the activations above plus the
#: piecewise-linear ones (`act_row`, `d1_row`).
UNIT_CODES = {"identity": -1, **CODES, "relu": 3, "leaky_relu": 4}


def unit_codes(prog):
    """The activation code (`UNIT_CODES`) of every unit of the program, in A's row order."""
    code = np.empty(prog.n_units, dtype=np.int64)
    for L in prog.layers:
        for pieces, sel in L.groups:
            idx = np.arange(L.n_units) if sel is None else (
                np.arange(sel.start, sel.stop) if isinstance(sel, slice) else sel)
            code[L.a_rows.start + idx] = UNIT_CODES[pieces.name]
    return code


def supports_activations(prog) -> bool:
    """Whether every unit of the program has a numba activation code."""
    return all(p.name in UNIT_CODES for L in prog.layers for p, _ in L.groups)


@jit(inline=True)
def act_row(code, a, h, bias):
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


@jit(inline=True)
def d1_row(code, a, h, adj):
    """``adj *= σ'(a)`` given ``h = σ(a)`` (relu'(0) = 0, as `symmle.activations`); tanh and
    sigmoid from ``a`` alone."""
    n = a.shape[0]
    if code == 0:
        for r in range(n):  # sech²(a) = 4e/(1 + e)², e = exp(−2|a|): 1 − h² cancels
            e = _exp(-2.0 * abs(a[r]))
            adj[r] *= 4.0 * e / ((1.0 + e) * (1.0 + e))
    elif code == 1:
        for r in range(n):  # σ(a)σ(−a) = e/(1 + e)², e = exp(−|a|): h(1 − h) cancels
            e = _exp(-abs(a[r]))
            adj[r] *= e / ((1.0 + e) * (1.0 + e))
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


@jit()
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
    >>> from symmle.compiled._numba_kernels import all_finite
    >>> all_finite(np.ones((3, 2))), all_finite(np.array([1.0, np.nan])), all_finite(np.array([np.inf]))
    (True, False, False)
    """
    if a.dtype == np.float64 and a.flags.c_contiguous:
        return bool(_all_finite(a.reshape(-1)))
    return bool(np.isfinite(a).all())


@jit()
def count_small(flat, n_units, bounds, rows, thr):
    """``#{(i, r): |A[rows[i], r]| ≤ thr[i]}``: how many pre-activations are at or below
    their bounds (`symmle.compiled._kinks`), one vectorised pass, no temporary (NaN is never
    at or below a bound). ``flat``: A stored block by block of rows, block ``b`` (rows
    ``bounds[b]`` to ``bounds[b + 1]``) a C-contiguous (n_units, rows) array (one block
    ``[0, m]``: A (n_units, m) itself)."""
    n = 0
    for b in range(bounds.shape[0] - 1):
        r0, r1 = bounds[b], bounds[b + 1]
        for i in range(rows.shape[0]):
            a = flat[n_units * r0 + rows[i] * (r1 - r0):n_units * r0 + (rows[i] + 1) * (r1 - r0)]
            t = thr[i]
            for c in range(a.shape[0]):
                n += abs(a[c]) <= t
    return n


#: `symmle.compiled._kinks.bounds_loop` compiled: the kink bounds of a network in one call.
kink_bounds = jit()(bounds_loop)


@jit()
def _exp_into(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


@jit()
def _act_into(code, a, b, out):
    """``a += b`` (one bias per row) and ``out = σ(a)`` for (U, m) arrays, one pass per row."""
    for j in range(a.shape[0]):
        act_row(code, a[j], out[j], b[j])


@jit()
def _d1_mul(code, a, h, adj):
    """``adj *= σ'(a)`` given ``h = σ(a)``; all (U, m)."""
    for j in range(a.shape[0]):
        d1_row(code, a[j], h[j], adj[j])


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
tanh = _unary("tanh", CODES["tanh"])
sigmoid = _unary("sigmoid", CODES["sigmoid"])
silu = _unary("silu", CODES["silu"])


class ActivationKernel:
    """One pass each for ``a += b; h = σ(a)`` and ``adj *= σ'(a)`` (given ``h = σ(a)``).

    Both return False when the arrays are not C-contiguous float64 of one shape
    (the caller then uses the numpy forms).
    """

    def __init__(self, name):
        self.name = name
        self.code = CODES[name]

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


@jit(sums=True)
def sum_prod(a, b, n):
    """``Σ_{r<n} a[r] b[r]`` (reassociated, so that LLVM vectorises the sum; the order is
    fixed by n, not by the thread count)."""
    s = 0.0
    for r in range(n):
        s += a[r] * b[r]
    return s


@jit(sums=True)
def sum_(a, n):
    """``Σ_{r<n} a[r]`` (reassociated, as `sum_prod`)."""
    s = 0.0
    for r in range(n):
        s += a[r]
    return s


@jit(sums=True)
def gram_tile(J, w, out, n, JW):
    """``out[p, q] += Σ_{r<n} w_r J[p, r] J[q, r]`` (q ≤ p) for a C-contiguous tile J.

    Each row is scaled by w once (into the scratch ``JW``, same shape as J); then four
    columns q at a time share one load of ``JW[p, r]`` (four independent sums).
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


@jit()
def _gram_lower(J, w, out, tile):
    """``out[p, q] += Σ_r w_r J[p, r] J[q, r]`` for q ≤ p: `gram_tile` on contiguous copies of
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
        gram_tile(Jt, wt, out, n, JW)


#: the most parameters for which `weighted_gram` is faster than BLAS syrk (see
#: docs/performance.md).
GRAM_MAX_P = 20


def from_lower(out):
    """The symmetric matrix whose lower triangle (diagonal included) is ``out``'s."""
    return out + np.tril(out, -1).T


def weighted_gram(J, w):
    """``Σ_r w_r J[:, r] J[:, r]ᵀ`` (P, P) for J (P, m) and w (m,), or None when P > GRAM_MAX_P
    or the arrays are not C-contiguous float64.

    Examples
    --------
    >>> from symmle.compiled._numba_kernels import weighted_gram
    >>> J = np.arange(6.0).reshape(2, 3); w = np.array([1.0, 2.0, 0.5])
    >>> bool(np.allclose(weighted_gram(J, w), (J * w) @ J.T))
    True
    """
    P = J.shape[0]
    if P > GRAM_MAX_P or not (J.flags.c_contiguous and J.dtype == np.float64):
        return None
    out = np.zeros((P, P))
    _gram_lower(J, np.ascontiguousarray(w, dtype=np.float64), out, 512)
    return from_lower(out)


#: the activations with a numba kernel; the others keep their numpy forms.
KERNELS = {name: ActivationKernel(name) for name in CODES}
