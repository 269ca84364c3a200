"""The Jacobian ``∂η/∂θ`` of a network at given θ and X in exact or in interval arithmetic.

Two number systems, for the certified rank verdicts of `symmle.identifiability`:

* **exact rationals** (python-flint ``fmpq``): a float is a rational number, and a network of
  identity, ReLU, leaky-ReLU and monomial units (``square``, ``cube``, ``quartic``) is a
  piecewise polynomial with rational coefficients, so its Jacobian at float θ and X is an exact
  rational matrix;
* **intervals** (python-flint ``arb`` balls, or ``mpmath.iv`` when python-flint is missing):
  every entry is a ball that provably contains the true real Jacobian entry, for every
  activation of the registry (``exp``, ``log1p`` and ``erf`` are evaluated with rigorous error
  bounds).

`jacobian_rows` runs one backward pass per data row and output over the architecture's layers
(not the sympy expressions), so its cost is that of the network, not of its derivation.
`NotCertifiable` says why a computation could not be done (an activation that is not rational,
a ReLU argument whose sign the balls cannot decide, a missing dependency).
"""

from __future__ import annotations

import importlib
from fractions import Fraction

import numpy as np

from ..errors import require

__all__ = ["NotCertifiable", "flint_module", "exact_numbers", "interval_numbers",
           "jacobian_rows", "activation_values", "is_rational_network", "RATIONAL_ACTIVATIONS"]

#: activations whose values at rational arguments are rational (besides the monomials).
RATIONAL_ACTIVATIONS = frozenset({"identity", "relu", "leaky_relu"})

#: the leaky-ReLU slope of `symmle.activations` (a rational number, so it stays exact).
_LEAKY_SLOPE = (1, 100)


class NotCertifiable(Exception):
    """A certificate could not be computed; ``str(exc)`` says why."""


def flint_module():
    """python-flint, or None when it is not installed."""
    try:
        return importlib.import_module("flint")
    except ImportError:
        return None


# ------------------------------------------------------------------ number systems
class _Exact:
    """Rational numbers (python-flint ``fmpq``)."""

    name = "exact rational arithmetic (python-flint)"

    def __init__(self):
        self.flint = require("flint", "exact")
        self.zero, self.one = self.flint.fmpq(0), self.flint.fmpq(1)

    def from_float(self, x: float):
        n, d = Fraction(float(x)).as_integer_ratio()
        return self.flint.fmpq(n, d)

    def rational(self, n: int, d: int):
        return self.flint.fmpq(n, d)

    @staticmethod
    def sign(a):
        return 1 if a > 0 else (-1 if a < 0 else 0)

    def _refuse(self, *args):
        raise NotCertifiable("an activation that is not rational at rational arguments")

    exp = log1p = erf = tanh = sqrt = _refuse

    def pi(self):
        self._refuse()


class _ArbBalls:
    """Real balls of python-flint (``arb``) at a fixed precision."""

    def __init__(self, flint, prec: int):
        self.flint, self.prec = flint, prec
        self.name = f"interval arithmetic (python-flint arb, {prec} bits)"
        self.zero, self.one = flint.arb(0), flint.arb(1)

    def from_float(self, x):
        return self.flint.arb(float(x))

    def rational(self, n, d):
        return self.flint.arb(self.flint.fmpq(n, d))

    @staticmethod
    def sign(a):
        if a > 0:
            return 1
        if a < 0:
            return -1
        if a.is_zero():
            return 0
        return None

    @staticmethod
    def exp(a):
        return a.exp()

    @staticmethod
    def log1p(a):
        return a.log1p()

    @staticmethod
    def erf(a):
        return a.erf()

    @staticmethod
    def tanh(a):
        return a.tanh()

    @staticmethod
    def sqrt(a):
        return a.sqrt()

    def pi(self):
        return self.flint.arb.pi()

    @staticmethod
    def upper_abs(a) -> float:
        """An upper bound of ``|a|`` as a float (rounded up)."""
        return float(abs(a).upper()) * (1 + 2 ** -50)

    @staticmethod
    def lower(a) -> float:
        return float(a.lower())


class _MpmathIntervals:
    """Intervals of ``mpmath.iv`` (used when python-flint is not installed)."""

    def __init__(self, prec: int):
        self.iv = importlib.import_module("mpmath").iv
        self.prec = prec
        self.name = f"interval arithmetic (mpmath.iv, {prec} bits)"
        self.zero, self.one = self.iv.mpf(0), self.iv.mpf(1)

    def from_float(self, x):
        return self.iv.mpf(float(x))

    def rational(self, n, d):
        return self.iv.mpf(n) / d

    @staticmethod
    def sign(a):
        if a.a > 0:
            return 1
        if a.b < 0:
            return -1
        if a.a == 0 and a.b == 0:
            return 0
        return None

    def exp(self, a):
        return self.iv.exp(a)

    def log1p(self, a):
        return self.iv.log1p(a)

    @staticmethod
    def erf(a):
        # mpmath.iv has no rigorous erf (its series does not converge on intervals)
        raise NotCertifiable("erf in interval arithmetic needs python-flint "
                             "(pip install 'symmle[exact]')")

    def tanh(self, a):
        return self.one - 2 / (self.iv.exp(2 * a) + 1)

    def sqrt(self, a):
        return self.iv.sqrt(a)

    def pi(self):
        return self.iv.pi

    @staticmethod
    def upper_abs(a) -> float:
        return float(max(abs(a.a), abs(a.b))) * (1 + 2 ** -50)

    @staticmethod
    def lower(a) -> float:
        return float(a.a)


def exact_numbers():
    """Exact rationals; `symmle.errors.MissingDependencyError` without python-flint."""
    return _Exact()


def interval_numbers(prec: int, *, backend: str | None = None):
    """Balls at ``prec`` bits: python-flint's ``arb`` when installed, else ``mpmath.iv``.

    ``backend`` ``"flint"`` or ``"mpmath"`` forces one. The caller sets the working precision
    (`symmle.identifiability._certify` does, and restores it).
    """
    flint = flint_module() if backend in (None, "flint") else None
    if backend == "flint" and flint is None:
        require("flint", "exact")
    if flint is not None:
        return _ArbBalls(flint, prec)
    return _MpmathIntervals(prec)


# ------------------------------------------------------------------ activations
def activation_values(name: str, degree, N, z):
    """``(σ(z), σ'(z))`` in the number system N (the registry's definitions)."""
    one = N.one
    if degree:
        return z ** degree, degree * z ** (degree - 1)
    if name == "identity":
        return z, one
    if name in ("relu", "leaky_relu"):
        sg = N.sign(z)
        if sg is None:
            raise NotCertifiable(f"a {name} argument too close to 0 for its side to be decided")
        if sg > 0:
            return z, one
        if name == "relu":
            return N.zero, N.zero      # relu'(0) = 0, the library's convention
        slope = N.rational(*_LEAKY_SLOPE)
        return slope * z, slope
    if name == "tanh":
        t = N.tanh(z)
        return t, one - t * t
    if name in ("sigmoid", "softplus", "silu"):
        s = one / (one + N.exp(-z))
        if name == "sigmoid":
            return s, s * (one - s)
        if name == "softplus":
            return N.log1p(N.exp(z)), s
        return z * s, s + z * s * (one - s)
    if name == "erf":
        return N.erf(z), 2 / N.sqrt(N.pi()) * N.exp(-z * z)
    if name == "gelu":
        two = one + one
        Phi = (one + N.erf(z / N.sqrt(two))) / two
        phi = N.exp(-z * z / two) / N.sqrt(two * N.pi())
        return z * Phi, Phi + z * phi
    raise NotCertifiable(f"no exact or interval form of the activation {name!r}")


def is_rational_network(arch) -> bool:
    """Whether every unit's activation is rational at rational arguments (identity, ReLU,
    leaky ReLU, monomials), so that the Jacobian at float θ and X is an exact rational matrix."""
    for v in arch.hidden_nodes + arch.output_nodes:
        act = arch.activation_of(v)
        if act.name not in RATIONAL_ACTIVATIONS and act.polynomial_degree is None:
            return False
    return True


# ------------------------------------------------------------------ the Jacobian
class _Plan:
    """Per unit: incoming ``(source, θ index)``, bias index, outgoing ``(successor, θ index)``."""

    def __init__(self, arch):
        self.inputs = list(arch.input_nodes)
        self.outputs = list(arch.output_nodes)
        self.units = []
        self.preds, self.bias, self.succs, self.act = {}, {}, {}, {}
        for L in arch.layers:
            for j, v in enumerate(L.units):
                self.units.append(v)
                self.preds[v] = []
                self.succs.setdefault(v, [])
                a = arch.activation_of(v)
                self.act[v] = (a.name, a.polynomial_degree)
            for r, c, i in zip(L.rows, L.cols, L.weight_idx):
                v, u = L.units[int(r)], L.sources[int(c)]
                self.preds[v].append((u, int(i)))
                self.succs.setdefault(u, []).append((v, int(i)))
            for j, i in zip(L.bias_units, L.bias_idx):
                self.bias[L.units[int(j)]] = int(i)


def jacobian_rows(arch, theta, X, N, *, centre: bool = False) -> list[list]:
    """The rows of ``∂η/∂θ`` (network parameters only) at θ and the rows of X, in N's numbers.

    Parameters
    ----------
    arch : Architecture
    theta : ndarray (P_network,)
    X : ndarray (n, d)
    N : number system (`exact_numbers`, `interval_numbers`)
    centre : bool
        Subtract from each output's row the mean over the outputs (for a shift-invariant
        family, whose information only sees differences of the outputs).

    Returns
    -------
    list of lists
        ``n · K`` rows (row ``i·K + k`` is output k at data row i) of ``len(theta)`` numbers.

    Raises
    ------
    NotCertifiable
        An activation without an exact (or interval) form, or a ReLU argument of undecidable
        sign.
    """
    plan = _Plan(arch)
    P = len(theta)
    th = [N.from_float(t) for t in theta]
    zero = N.zero
    K = len(plan.outputs)
    rows = []
    for x in np.asarray(X, dtype=float):
        h, dh = {}, {}
        for v, xv in zip(plan.inputs, x):
            h[v] = N.from_float(xv)
        for v in plan.units:
            z = th[plan.bias[v]] if v in plan.bias else zero
            for u, i in plan.preds[v]:
                z = z + th[i] * h[u]
            name, degree = plan.act[v]
            h[v], dh[v] = activation_values(name, degree, N, z)
        block = []
        for o in plan.outputs:
            delta = {o: dh[o]}
            row = [zero] * P
            for v in reversed(plan.units):
                if v != o:
                    acc = None
                    for s, i in plan.succs.get(v, ()):
                        ds = delta.get(s)
                        if ds is not None:
                            acc = th[i] * ds if acc is None else acc + th[i] * ds
                    if acc is None:
                        continue
                    delta[v] = dh[v] * acc
                d = delta[v]
                for u, i in plan.preds[v]:
                    row[i] = d * h[u]
                if v in plan.bias:
                    row[plan.bias[v]] = d
            block.append(row)
        if centre and K > 1:
            mean = [sum((block[k][j] for k in range(1, K)), block[0][j]) / K for j in range(P)]
            block = [[r[j] - mean[j] for j in range(P)] for r in block]
        rows.extend(block)
    return rows
