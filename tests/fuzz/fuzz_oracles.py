"""Oracles: the truth of a model's quantities at a few rows, from its sympy expressions in mpmath.

`SymbolicTruth` lambdifies `Model.loglik`, `Model.score`, `Model.fisher` and `Model.mean` once
per model with mpmath (30 digits) and sums them over rows; `compare` then judges a compiled
result against it normwise (relative to the sum over rows of each row's largest magnitude, so
the cancellation between rows that float64 cannot avoid is not counted), with the contract's
classes: NaN anywhere, or an infinity where the truth is finite, is a *silent NaN*; a finite
error beyond the tolerance is *wrong*; an infinity of the truth's sign where the truth is beyond
float64 is right.
"""

from __future__ import annotations

import functools
import math

import mpmath as mp
import numpy as np
import sympy as sp

from fuzz_harness import Mismatch, SilentNaN

#: Working precision of the oracle (the comparison is normwise at `RTOL`, far coarser).
DIGITS = 30

#: ``e^{-a}`` underflows float64 beyond this ``a``: cancellations to smaller numbers need no
#: more digits than it takes to see that.
UNDERFLOW_EXPONENT = 746

#: The most digits the oracle raises its precision to before it gives up on an example.
MAX_DIGITS = 1920

#: Normwise tolerance of compiled against symbolic (relative to the rows' magnitudes).
RTOL = 1e-7


def _mp_sigmoid(z):
    return 1 / (1 + mp.exp(-z))


_MP = {
    "sigmoid": _mp_sigmoid,
    "softplus": lambda z: mp.log1p(mp.exp(z)),
    "relu": lambda z: z if z > 0 else mp.mpf(0),
    "relu_step": lambda z: mp.mpf(1) if z > 0 else mp.mpf(0),
    "leaky_relu": lambda z: z if z > 0 else z / 100,
    "leaky_step": lambda z: mp.mpf(1) if z > 0 else mp.mpf(1) / 100,
    "logsumexp": lambda *z: mp.log(mp.fsum(mp.exp(a) for a in z)),
    "erf": mp.erf,
    "erfc": mp.erfc,
    "loggamma": mp.loggamma,
    "Heaviside": lambda z, h=0: mp.mpf(1) if z > 0 else (mp.mpf(h) if z == 0 else mp.mpf(0)),
}


class SymbolicTruth:
    """The model's symbolic loglik, score, fisher and mean evaluated in mpmath."""

    def __init__(self, model):
        self.model = model
        args = list(model.params) + list(model.architecture.inputs) + list(model.response)
        self._args = args
        mods = [_MP, "mpmath"]
        self._loglik = sp.lambdify(args, model.loglik, modules=mods)
        self._score = sp.lambdify(args, list(model.score), modules=mods, cse=True)
        P = model.n_params
        fisher = model.fisher
        self._fisher = sp.lambdify(args, [fisher[i, j] for i in range(P) for j in range(P)],
                                   modules=mods, cse=True)
        self._mean = sp.lambdify(args, list(model.mean), modules=mods, cse=True)

    @functools.cached_property
    def _eta(self):
        return sp.lambdify(self._args, list(self.model.eta), modules=[_MP, "mpmath"], cse=True)

    @functools.cached_property
    def _jacobian(self):
        J = self.model.jacobian
        return sp.lambdify(self._args, [J[k, j] for k in range(J.rows) for j in range(J.cols)],
                           modules=[_MP, "mpmath"], cse=True)

    @functools.cached_property
    def _hessian(self):
        H = self.model.hessian
        P = self.model.n_params
        return sp.lambdify(self._args, [H[i, j] for i in range(P) for j in range(P)],
                           modules=[_MP, "mpmath"], cse=True)

    def _rows_at(self, fn, theta, X, Y, dps):
        with mp.workdps(dps):
            th = [mp.mpf(float(t)) for t in theta]
            out = []
            for x, y in zip(X, Y):
                v = fn(*th, *[mp.mpf(float(a)) for a in x], *[mp.mpf(float(b)) for b in y])
                out.append(v if isinstance(v, list) else [v])
            return out

    def _rows(self, fn, theta, X, Y):
        """Rows of mpf values at a precision where doubling it no longer changes their float64
        values (cancellations such as ``1 - σ(80)`` need more than `DIGITS`); rows of NaN
        when even `MAX_DIGITS` does not settle them (the oracle then judges nothing)."""
        dps = self._start_digits(theta, X)
        prev = self._rows_at(fn, theta, X, Y, dps)
        while dps < MAX_DIGITS:
            dps *= 2
            cur = self._rows_at(fn, theta, X, Y, dps)
            if _settled(prev, cur):
                return cur
            prev = cur
        return [[mp.nan] * len(r) for r in prev]

    def _start_digits(self, theta, X) -> int:
        """Enough digits for ``1 - σ(a)``, ``1 - tanh(a)²``, ``log(1 + e^{-a})`` and the like at
        every pre-activation ``a`` (they cancel to ``e^{-|a|}``, which needs ``|a|/ln 10``
        digits; beyond |a| = 745 the result underflows float64 anyway)."""
        arch = self.model.architecture
        theta = np.asarray(theta, dtype=float)[: arch.n_params]
        X = np.asarray(X, dtype=float)
        with np.errstate(all="ignore"):
            h = {v: X[:, i] for i, v in enumerate(arch.input_nodes)}
            biggest = 0.0
            for L, (W, b) in zip(arch.layers, arch.unflatten(theta)):
                H = np.stack([h[u] for u in L.sources], axis=1)
                A = H @ W.T + b
                biggest = max(biggest, float(np.nanmax(np.abs(A), initial=0.0)))
                for j, v in enumerate(L.units):
                    h[v] = arch.activation_of(v).numpy(A[:, j])
        need = min(biggest, 2 * UNDERFLOW_EXPONENT) / math.log(10)
        return DIGITS + int(need if math.isfinite(need) else 2 * UNDERFLOW_EXPONENT)

    def _sum(self, fn, theta, X, Y):
        """(truth as floats, scale): the mpmath sum over rows and Σ_rows max|row|."""
        rows = self._rows(fn, theta, X, Y)
        with mp.workdps(MAX_DIGITS):
            total = [mp.fsum(r[j] for r in rows) for j in range(len(rows[0]))]
            scale = mp.fsum(max(abs(v) for v in r) for r in rows)
            return np.array([_to_float(v) for v in total]), _to_float(scale)

    def loglik(self, theta, X, Y):
        return self._sum(self._loglik, theta, X, Y)

    def score(self, theta, X, Y):
        return self._sum(self._score, theta, X, Y)

    def fisher(self, theta, X):
        Y = np.zeros((len(X), len(self.model.response)))
        t, s = self._sum(self._fisher, theta, X, Y)
        P = self.model.n_params
        return t.reshape(P, P), s

    def hessian(self, theta, X, Y):
        t, s = self._sum(self._hessian, theta, X, Y)
        P = self.model.n_params
        return t.reshape(P, P), s

    def _per_row(self, fn, theta, X):
        Y = np.zeros((len(X), len(self.model.response)))
        rows = self._rows(fn, theta, X, Y)
        return np.array([[_to_float(v) for v in r] for r in rows])

    def eta(self, theta, X):
        return self._per_row(self._eta, theta, X)

    def jacobian(self, theta, X):
        J = self.model.jacobian
        return self._per_row(self._jacobian, theta, X).reshape(len(X), J.rows, J.cols)

    def mean(self, theta, X):
        Y = np.zeros((len(X), len(self.model.response)))
        rows = self._rows(self._mean, theta, X, Y)
        return np.array([[_to_float(v) for v in r] for r in rows])


def _settled(a, b) -> bool:
    """Whether two evaluations agree to 1e-13 in every entry (as float64, zeros exactly)."""
    for ra, rb in zip(a, b):
        for va, vb in zip(ra, rb):
            fa, fb = _to_float(va), _to_float(vb)
            if fa == fb:
                continue
            if not (math.isfinite(fa) and math.isfinite(fb)) or abs(fa - fb) > 1e-13 * abs(fb):
                return False
    return True


def _to_float(v) -> float:
    """An mpf as float64: ±inf beyond its range, NaN for an mpmath NaN."""
    if mp.isnan(v):
        return math.nan
    if mp.isinf(v) or abs(v) > mp.mpf(np.finfo(float).max):
        return math.inf if v > 0 else -math.inf
    return float(v)


@functools.lru_cache(maxsize=None)
def truth(model) -> SymbolicTruth:
    """One `SymbolicTruth` per model (the fuzz models live for the session)."""
    return SymbolicTruth(model)


def compare(got, want, scale: float, *, what: str, rtol: float = RTOL) -> None:
    """Judge ``got`` against the truth ``want``: raise `SilentNaN` for a NaN or an infinity
    where the truth is finite, ``AssertionError`` for an error beyond ``rtol · scale``."""
    got = np.asarray(got, dtype=float).ravel()
    want = np.asarray(want, dtype=float).ravel()
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if np.any(np.isnan(want)):
        return  # the truth is undefined there (∞ − ∞ in exact arithmetic): nothing to judge
    if np.any(np.isnan(got)):
        raise SilentNaN(f"{what}: NaN at {np.flatnonzero(np.isnan(got)).tolist()} where the "
                        f"truth is {want[np.isnan(got)]!r}")
    inf_got, inf_want = ~np.isfinite(got), ~np.isfinite(want)
    if np.any(inf_got & ~inf_want):
        raise SilentNaN(f"{what}: infinite at {np.flatnonzero(inf_got & ~inf_want).tolist()} "
                        f"where the truth {want[inf_got & ~inf_want]!r} is finite")
    if np.any(inf_want):
        assert np.array_equal(got[inf_want], want[inf_want]), (
            f"{what}: {got[inf_want]!r} where the truth is {want[inf_want]!r}")
        if not math.isfinite(scale):
            return  # the finite entries are beside infinite rows: no normwise scale left
    keep = ~inf_want
    err = float(np.max(np.abs(got[keep] - want[keep]), initial=0.0))
    bound = rtol * scale + 1e-300
    if not err <= bound:
        raise Mismatch(f"{what}: error {err:.3g} exceeds {rtol:g} x {scale:.3g}\n got  "
                       f"{got!r}\n want {want!r}", err, scale)
