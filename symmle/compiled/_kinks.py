"""Kink slopes of ReLU-type units from the sign of the exact pre-activation.

The slope of a ``relu`` or ``leaky_relu`` unit jumps at 0, so it is decided by the sign of
the pre-activation ``z = Σ w·h + b``, and float64 can get that sign wrong: the product
``1e-200 · 1e-200`` underflows to 0 (the exact ``z`` is ``1e-400 > 0``), a sum cancels
(``2^53 + 1 − 2^53 − 0.5`` is −0.5 in float64, +0.5 exactly), a bias that cancels a product
(``b = −fl(w·x)``) leaves 0 where the exact ``z`` is the product's rounding error. Then every
derivative takes the wrong side's slope. `KinkGuard` finds the entries whose sign float64
cannot certify and decides them exactly:

* a bound per unit, from the largest ``|x|`` over all inputs and θ alone: ``|fl(z) − z| ≤ γ_n (Σ|w| H + |b|) + n·2^−1074 + Σ|w| E`` over all rows, with
  ``H`` a bound on ``|h|`` and ``E`` on the error of ``h`` of the sources, propagated layer
  by layer through every activation (its Lipschitz constant and evaluation error); an entry
  with ``|a|`` above its unit's bound has the exact sign, so the common case is one
  comparison per ReLU-type entry;
* for the rows with an entry at or below its bound, the whole row is evaluated again
  exactly (`fractions.Fraction` for sums, products and the piecewise-linear and polynomial
  activations; tanh, sigmoid and the other transcendental ones in mpmath at 256 bits,
  carrying a rigorous error radius, and at 2048 bits when the radius does not decide a sign;
  beyond that, an approximation that is exactly 0, as two identical units' contributions that
  cancel, counts as 0);
* the ReLU-type entries of those rows whose float sign is not the exact one get a
  pre-activation with the exact sign (the exact value rounded, at least the smallest
  subnormal; 0 when it is exactly 0, so that ``relu'(0) = 0`` and ``leaky'(0) = 0.01``
  hold). The unit's value ``h`` stays the float one.

Rows that are equal are evaluated once. The numeric program calls `KinkGuard.certify` after
each forward pass (`symmle.compiled._program.NumericProgram.forward`), whatever backend
formed the pre-activations; the fused numba Fisher kernel, which never stores A, counts the
entries at or below their bounds and leaves such a call to the forward pass that certifies
them. The bound is a worst case over the rows and grows with depth (like the product of the
layers' ``Σ|w|``): a deep network has more rows evaluated exactly, which is slower, not wrong.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np

__all__ = ["KINKED", "KinkGuard", "RULES", "bounds_loop"]

#: the activations whose slope jumps at 0.
KINKED = ("relu", "leaky_relu")

_EPS = 2.0 ** -53
_TINY = 5e-324  # 2^-1074, the smallest subnormal: the absolute error of a product that underflows
#: ulps of error allowed for a transcendental activation's float evaluation (numba's kernels
#: are within 2.3 ulp, numpy's and scipy's within a few).
_ULPS = 8.0
#: precisions (bits) of the exact evaluation's transcendental values.
_PRECISIONS = (256, 2048)

#: ``(H, E)`` of a unit's value from ``(Amax, Ez)``, bounds on |a| and on a's error.
_FLOAT_BOUNDS = {
    "identity": lambda A, E: (A, E),
    "relu": lambda A, E: (A, E),
    "leaky_relu": lambda A, E: (A, E + _EPS * A + _TINY),
    "tanh": lambda A, E: (np.ones_like(A), E + _ULPS * _EPS + _TINY),
    "sigmoid": lambda A, E: (np.ones_like(A), 0.25 * E + _ULPS * _EPS + _TINY),
    "erf": lambda A, E: (np.ones_like(A), 1.13 * E + _ULPS * _EPS + _TINY),
    "silu": lambda A, E: (A, 1.1 * E + _ULPS * _EPS * A + _TINY),
    "gelu": lambda A, E: (A, 1.13 * E + _ULPS * _EPS * A + _TINY),
    "softplus": lambda A, E: (A + 0.7, E + _ULPS * _EPS * (A + 0.7) + _TINY),
}


def _poly_bounds(k):
    # |(a + e)^k − a^k| ≤ k (|a| + |e|)^(k−1) |e|
    return lambda A, E: (A ** k, k * (A + E) ** (k - 1) * E + 4 * k * _EPS * A ** k + _TINY)


for _k, _name in ((2, "square"), (3, "cube"), (4, "quartic")):
    _FLOAT_BOUNDS[_name] = _poly_bounds(_k)


def _mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


#: the transcendental activations in mpmath and a Lipschitz constant of each.
_MP = {
    "tanh": (mpmath.tanh, Fraction(1)),
    "sigmoid": (_mp_sigmoid, Fraction(1, 4)),
    "softplus": (lambda z: mpmath.log1p(mpmath.exp(z)), Fraction(1)),
    "silu": (lambda z: z * _mp_sigmoid(z), Fraction(11, 10)),
    "erf": (mpmath.erf, Fraction(113, 100)),
    "gelu": (lambda z: z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2, Fraction(113, 100)),
}
_POLY = {"square": 2, "cube": 3, "quartic": 4}

#: the bound rule of each activation in `symmle.compiled._numba_kernels.kink_bounds` (the
#: numba form of `_FLOAT_BOUNDS`; 11: no bound known).
RULES = {"identity": 0, "relu": 0, "leaky_relu": 1, "tanh": 2, "sigmoid": 3, "erf": 4,
         "silu": 5, "gelu": 6, "softplus": 7, "square": 8, "cube": 9, "quartic": 10}
_LEAKY = Fraction(1, 100)


def _gamma(n):
    return n * _EPS / (1.0 - n * _EPS)


def _to_fraction(v) -> Fraction:
    """The mpf ``v`` as an exact Fraction."""
    man, exp = v.man_exp
    if v < 0:
        man = -man
    return Fraction(man << exp) if exp >= 0 else Fraction(man, 1 << -exp)


def bounds_loop(theta, xmax, lay, e_unit, e_src, e_par, b_unit, b_par, rule, gam, under, thr):
    """`KinkGuard.thresholds` in one loop (compiled by numba with its backend,
    `symmle.compiled._numba_kernels.kink_bounds`; without numba, numpy's products layer by
    layer compute the same): ``thr[j]`` (A's rows) a bound on ``|fl(a_j) − z_j|`` over rows whose inputs are at most ``xmax`` in absolute
    value. ``lay`` (L, 6): first unit (A's row), units, edge range, bias range; per edge its
    unit (A's row), source (Z's row) and parameter; per bias its unit and parameter;
    ``rule`` the bound rule of each unit's activation (`symmle.compiled._kinks.RULES`),
    ``gam`` and ``under`` each unit's γ_n and n·2^−1074."""
    d = xmax.shape[0]
    n_nodes = d + rule.shape[0]
    H = np.zeros(n_nodes)
    E = np.zeros(n_nodes)
    for i in range(d):
        H[i] = xmax[i]
    S = np.zeros(rule.shape[0])
    WE = np.zeros(rule.shape[0])
    for li in range(lay.shape[0]):
        a0, nu, e0, e1, b0, b1 = lay[li, 0], lay[li, 1], lay[li, 2], lay[li, 3], lay[li, 4], \
            lay[li, 5]
        for j in range(a0, a0 + nu):
            S[j] = 0.0
            WE[j] = 0.0
        for e in range(e0, e1):
            w = abs(theta[e_par[e]])
            s = e_src[e]
            if w != 0.0:
                S[e_unit[e]] += w * H[s]
                WE[e_unit[e]] += w * E[s]
        for b in range(b0, b1):
            S[b_unit[b]] += abs(theta[b_par[b]])
        for j in range(a0, a0 + nu):
            ez = gam[j] * S[j] + under[j] + WE[j]
            ez = np.inf if ez != ez else ez
            thr[j] = 2.0 * ez
            am = S[j] + ez
            r = rule[j]
            if r == 0:  # identity, relu
                h, e = am, ez
            elif r == 1:  # leaky_relu
                h, e = am, ez + _EPS * am + _TINY
            elif r == 2:  # tanh
                h, e = 1.0, ez + _ULPS * _EPS + _TINY
            elif r == 3:  # sigmoid
                h, e = 1.0, 0.25 * ez + _ULPS * _EPS + _TINY
            elif r == 4:  # erf
                h, e = 1.0, 1.13 * ez + _ULPS * _EPS + _TINY
            elif r == 5:  # silu
                h, e = am, 1.1 * ez + _ULPS * _EPS * am + _TINY
            elif r == 6:  # gelu
                h, e = am, 1.13 * ez + _ULPS * _EPS * am + _TINY
            elif r == 7:  # softplus
                h, e = am + 0.7, ez + _ULPS * _EPS * (am + 0.7) + _TINY
            elif r <= 10:  # square, cube, quartic
                k = r - 6
                h = am ** k
                e = k * (am + ez) ** (k - 1) * ez + 4 * k * _EPS * h + _TINY
            else:
                h, e = np.inf, np.inf
            H[d + j] = np.inf if h != h else h
            E[d + j] = np.inf if e != e else e


class _Ambiguous(Exception):
    """The error radius of the transcendental values does not decide a sign."""


class KinkGuard:
    """Certified signs of the ReLU-type pre-activations of a
    `symmle.compiled._program.NumericProgram` (see the module docstring).

    Examples
    --------
    >>> from symmle.compiled._program import NumericProgram
    >>> prog = NumericProgram(sm.mlp(1, 1, 1, activation="relu"))
    >>> theta = np.array([1e-200, 0.0, 1.0, 0.0])   # w·x = 1e-400 > 0 underflows to 0
    >>> X = np.array([[1e-200]])
    >>> Z, A = prog.forward(prog.weights(theta), X)
    >>> float(Z[1, 0]), float(A[0, 0]) > 0           # the value stays fl(relu(z)); the sign is exact
    (0.0, True)
    >>> prog.grad(prog.weights(theta), Z, A, np.ones((1, 1)))[1]   # ∂η/∂b1 = w2·relu'(z) = 1
    np.float64(1.0)
    """

    def __init__(self, prog):
        self.n_inputs = prog.n_inputs
        self.n_nodes = prog.n_nodes
        self.n_units = prog.n_units
        layers, units = [], []
        for L in prog.layers:
            srcs = (np.arange(L.src.start, L.src.stop) if isinstance(L.src, slice)
                    else np.asarray(L.src))
            names = [None] * L.n_units
            for pieces, sel in L.groups:
                idx = range(L.n_units) if sel is None else (
                    range(sel.start, sel.stop) if isinstance(sel, slice) else sel)
                for j in idx:
                    names[int(j)] = pieces.name
            fan = np.bincount(np.asarray(L.rows, dtype=np.intp), minlength=L.n_units)
            kinked = np.array([j for j, n in enumerate(names) if n in KINKED], dtype=np.intp)
            by_name = {}
            for j, n in enumerate(names):
                by_name.setdefault(n, []).append(j)
            n = fan + 2.0
            layers.append((L, srcs, (_gamma(n), n * _TINY), kinked,
                           tuple((n, None if len(js) == L.n_units else np.asarray(js, dtype=np.intp))
                                 for n, js in by_name.items())))
            edges = [[] for _ in range(L.n_units)]
            for r, c, p in zip(L.rows, L.cols, L.w_idx):
                edges[int(r)].append((int(srcs[c]), int(p)))
            bias = [None] * L.n_units
            for j, p in zip(L.b_units, L.b_idx):
                bias[int(j)] = int(p)
            for j in range(L.n_units):
                units.append((L.units.start + j, L.a_rows.start + j, names[j], tuple(edges[j]),
                              bias[j]))
        self._layers = tuple(layers)
        self._units = tuple(units)
        # the network as flat arrays for `symmle.compiled._numba_kernels.kink_bounds`
        d = self.n_inputs
        lay, e_unit, e_src, e_par, b_unit, b_par = [], [], [], [], [], []
        rule = np.empty(self.n_units, dtype=np.int64)
        gam, under = np.empty(self.n_units), np.empty(self.n_units)
        for L, srcs, (g_, u_), _, groups in layers:
            e0, b0 = len(e_unit), len(b_unit)
            e_unit += list(L.a_rows.start + np.asarray(L.rows, dtype=np.intp))
            e_src += list(srcs[L.cols])
            e_par += list(L.w_idx)
            b_unit += list(L.a_rows.start + np.asarray(L.b_units, dtype=np.intp))
            b_par += list(L.b_idx)
            lay.append((L.a_rows.start, L.n_units, e0, len(e_unit), b0, len(b_unit)))
            for name, js in groups:
                rule[L.a_rows if js is None else L.a_rows.start + js] = RULES.get(name, 11)
            gam[L.a_rows] = g_
            under[L.a_rows] = u_
        as_i = lambda x: np.asarray(x, dtype=np.int64).reshape(-1)  # noqa: E731
        self._flat = (np.asarray(lay, dtype=np.int64).reshape(-1, 6), as_i(e_unit), as_i(e_src),
                      as_i(e_par), as_i(b_unit), as_i(b_par), rule, gam, under)
        assert d + self.n_units == self.n_nodes
        #: the rows of A of the ReLU-type units
        self.kinked_rows = np.array([a for _, a, n, _, _ in units if n in KINKED], dtype=np.intp)
        #: ``count(A, rows, thr)``: `symmle.compiled._numba_kernels.count_small` with the
        #: numba backend (one pass, no temporary), else None (numpy's passes)
        self.count = None
        #: `symmle.compiled._numba_kernels.kink_bounds` (numba), else None (numpy per layer)
        self.bounds = None

    @staticmethod
    def applies(prog) -> bool:
        """Whether the program has a ReLU-type unit."""
        return any(p.name in KINKED for L in prog.layers for p, _ in L.groups)

    # ------------------------------------------------------------ float bounds
    def thresholds(self, weights, X) -> np.ndarray:
        """Per unit (A's rows) a bound on ``|fl(a) − z|`` over the rows of X (inf where it
        overflows); meaningful for the ReLU-type units."""
        d = self.n_inputs
        H = np.empty(self.n_nodes)
        E = np.zeros(self.n_nodes)
        # the largest |x| of all inputs: two flat reductions (per column they are several
        # times slower over few columns)
        H[:d] = max(float(X.max()), -float(X.min())) if X.size else 0.0
        thr = np.zeros(self.n_units)
        if self.bounds is not None:  # numba: one compiled loop
            self.bounds(np.ascontiguousarray(weights.theta, dtype=np.float64), H[:d],
                        *self._flat, thr)
            return thr
        absolute = getattr(weights, "absolute", None)  # |W|, |b| once per θ, not per chunk
        if absolute is None:
            absolute = [(np.abs(W), None if b is None else np.abs(b[:, 0])) for W, b in weights]
            try:
                weights.absolute = absolute
            except AttributeError:  # a plain list
                pass
        with np.errstate(all="ignore"):
            for (L, srcs, (gam, under), _, groups), (absW, absb) in zip(self._layers, absolute):
                S = absW @ H[L.src]
                if absb is not None:
                    S += absb
                Ez = gam * S + under + absW @ E[L.src]
                Ez = np.where(Ez == Ez, Ez, np.inf)   # 0·inf: no bound
                thr[L.a_rows] = 2.0 * Ez
                Amax = S + Ez
                for name, js in groups:
                    rule = _FLOAT_BOUNDS.get(name)
                    if js is None:   # the whole layer
                        h, e = (np.inf, np.inf) if rule is None else rule(Amax, Ez)
                        H[L.units], E[L.units] = h, e
                    else:
                        h, e = (np.inf, np.inf) if rule is None else rule(Amax[js], Ez[js])
                        H[L.units.start + js], E[L.units.start + js] = h, e
            H[H != H] = np.inf
            E[E != E] = np.inf
        return thr

    def _flagged(self, A, thr) -> np.ndarray:
        """Columns of A (n_units, m) with a ReLU-type entry at or below its bound."""
        if self.count is not None and A.dtype == np.float64 and A.flags.c_contiguous and \
                not self.count(A.reshape(-1), A.shape[0], np.array([0, A.shape[1]]),
                               self.kinked_rows, thr[self.kinked_rows]):
            return np.zeros(0, dtype=np.intp)  # the common case: every entry certified
        hit = None
        for L, _, _, kinked, _ in self._layers:
            if not len(kinked):
                continue
            rows = L.a_rows.start + kinked
            a = np.abs(A[L.a_rows] if len(kinked) == L.n_units else A[rows])
            t = thr[rows, None]
            if np.all(a.min(axis=1, initial=np.inf) > t[:, 0]):
                continue  # the common case: every entry certified
            small = (a <= t).any(axis=0)
            hit = small if hit is None else hit | small
        return np.zeros(0, dtype=np.intp) if hit is None else np.flatnonzero(hit)

    # ------------------------------------------------------------ the fix
    def certify(self, weights, X, A) -> int:
        """Give every ReLU-type entry of A (n_units, m), the pre-activations of the rows of X,
        the sign of the exact pre-activation; returns the number of entries changed."""
        if X.shape[0] == 0:
            return 0
        cols = self._flagged(A, self.thresholds(weights, X))
        if not len(cols):
            return 0
        return self._fix(weights.theta, X, cols, lambda j, cs: (A, (j, cs)))

    def certify_blocked(self, weights, X, Ab, bounds) -> int:
        """`certify` for the layered numba program's blocked A (``Ab``, flat, block ``b`` a
        C-contiguous (n_units, r1 − r0) at ``n_units · r0``; ``bounds`` the blocks' rows)."""
        if X.shape[0] == 0:
            return 0
        thr = self.thresholds(weights, X)
        U = self.n_units
        bounds = np.asarray(bounds)
        if self.count is not None and not self.count(Ab, U, bounds, self.kinked_rows,
                                                     thr[self.kinked_rows]):
            return 0  # the common case, in one pass over every block
        cols = []
        for r0, r1 in zip(bounds[:-1], bounds[1:]):
            block = Ab[U * r0:U * r1].reshape(U, r1 - r0)
            cols.append(r0 + self._flagged(block, thr))
        cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.intp)
        if not len(cols):
            return 0
        bounds = np.asarray(bounds)

        def where(j, cs):  # the flat positions of A[j, cs] in the blocks
            b = np.searchsorted(bounds, cs, side="right") - 1
            r0, r1 = bounds[b], bounds[b + 1]
            return Ab, U * r0 + j * (r1 - r0) + (cs - r0)

        return self._fix(weights.theta, X, cols, where)

    def _fix(self, theta, X, cols, where) -> int:
        """Decide the rows ``cols`` of X exactly and write the ReLU-type entries whose float
        sign is not the exact one (``where(j, cs)``: the array and index of A[j, cs])."""
        T = [Fraction(float(t)) for t in theta]
        uniq, inverse = np.unique(X[cols], axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        changed = 0
        for u, x in enumerate(uniq):
            cs = cols[inverse == u]
            for j, (s, v) in self.exact_signs(T, x).items():
                arr, idx = where(j, cs)
                a = arr[idx]
                wrong = np.sign(a) != s
                if wrong.any():
                    if isinstance(idx, tuple):
                        arr[idx[0], idx[1][wrong]] = v
                    else:
                        arr[idx[wrong]] = v
                    changed += int(wrong.sum())
        return changed

    # ------------------------------------------------------------ exact evaluation
    def exact_signs(self, T, x) -> dict:
        """``{row of A: (sign, value)}`` for the ReLU-type units of one row x: the sign of
        the exact pre-activation and a float with that sign (T: θ as Fractions)."""
        for i, prec in enumerate(_PRECISIONS):
            try:
                return self._exact_row(T, x, prec, last=i == len(_PRECISIONS) - 1)
            except _Ambiguous:
                continue
        raise AssertionError("unreachable")  # pragma: no cover - the last precision decides

    def _exact_row(self, T, x, prec, last) -> dict:
        vals = [Fraction(float(v)) for v in x] + [None] * self.n_units
        rads = [Fraction(0)] * self.n_nodes
        out = {}
        rel = Fraction(1, 1 << (prec - 8))
        for zrow, arow, name, edges, bias in self._units:
            z = Fraction(0)
            r = Fraction(0)
            for s, p in edges:
                z += T[p] * vals[s]
                if rads[s]:
                    r += abs(T[p]) * rads[s]
            if bias is not None:
                z += T[bias]
            if name in KINKED:
                if not (r == 0 or abs(z) > r) and not last:
                    raise _Ambiguous
                sign = (z > 0) - (z < 0)
                v = _to_float(z)
                if v == 0.0 and sign:
                    v = math.copysign(_TINY, sign)
                out[arow] = (sign, v)
                h = z if z > 0 else (Fraction(0) if name == "relu" else _LEAKY * z)
                rh = r
            elif name == "identity":
                h, rh = z, r
            elif name in _POLY:
                k = _POLY[name]
                h = z ** k
                rh = k * (abs(z) + r) ** (k - 1) * r if r else Fraction(0)
            else:
                fn, lip = _MP[name]
                with mpmath.workprec(prec):
                    zv = mpmath.mpf(z.numerator) / z.denominator
                    h = _to_fraction(+fn(zv))
                rh = lip * (r + abs(z) * 4 * rel / 256) + abs(h) * rel
            vals[zrow] = h
            rads[zrow] = rh
        return out


_FLOAT_MAX = Fraction(np.finfo(float).max)


def _to_float(z: Fraction) -> float:
    """The float64 nearest ``z``: ±inf beyond its range (``float(Fraction)`` raises there)."""
    if abs(z) > _FLOAT_MAX:
        return math.inf if z > 0 else -math.inf
    return float(z)
