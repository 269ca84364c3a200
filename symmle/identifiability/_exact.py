"""Exact rank of the Jacobian ``∂η/∂θ`` over ℚ(e^{1/D}), for ``identifiability(..., exact=True)``.

``tanh``, ``sigmoid`` and ``silu`` of a rational ``r`` are rational functions of ``e^{r}``;
writing every ``e^{r}`` as ``T^{rD}`` with ``T = e^{1/D}`` turns the stacked Jacobian at rational
inputs and a rational θ into a matrix over the field ``ℚ(T)``, and because ``T`` is transcendental
(Lindemann) its rank there is the rank of the real matrix. The rank over ``ℚ(T)`` is the rank at
a random rational ``T₀`` (a lower bound), certified when it is full or when every kernel vector
at ``T₀`` is verified to be a kernel vector for all ``T``. A network of rational units (identity,
ReLU, leaky ReLU, monomials ``z^r``) has no ``T`` at all: its Jacobian at rational points is a
rational matrix, and a float θ is used as the rational number it is (no rounding). Ranks over ℚ
are computed by python-flint (``pip install 'symmle[exact]'``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.matrices import DomainMatrix

from ..errors import SymmleValueError, require
from ..model import Model
from ._arith import is_rational_network

__all__ = ["compute_exact_rank"]

#: a given θ is used exactly when its entries are multiples of 1/16, else rounded to them.
_EXACT_DEN = 16
#: the transcendental T = e^(1/D) in whose field ℚ(T) the exact rank is computed.
_T = sp.Symbol("T", positive=True)
#: rational inputs beyond the ceil(Pn / K) that full rank needs at least, so that a rank drop
#: is the network's and not too few points'.
_EXTRA_POINTS = 5
#: random rational values of T tried (the rank at one is a lower bound; the best is kept).
_T_TRIES = 2
#: random rational θ tried when no θ is given (the largest rank is the generic one).
_THETA_TRIES = 3


def _rationalise(theta: np.ndarray, den: int) -> tuple[list, bool]:
    q = [Fraction(int(round(t * den)), den) for t in theta]
    exact = all(float(f) == t for f, t in zip(q, theta))
    return [sp.Rational(f.numerator, f.denominator) for f in q], exact


def _input_points(rng, d: int, m: int) -> list:
    g = 1
    while (4 * g + 1) ** d < 2 * m:
        g += 1
    grid = np.arange(-2 * g, 2 * g + 1)
    total = len(grid) ** d
    flat = rng.choice(total, size=m, replace=False)
    pts = []
    for f in flat:
        coords = []
        for _ in range(d):
            coords.append(sp.Rational(int(grid[f % len(grid)]), 2))
            f //= len(grid)
        pts.append(coords)
    return pts


def _exact_matrix(model: Model, theta_q: list, points: list) -> sp.Matrix:
    arch = model.architecture
    J = model.jacobian
    K = arch.n_outputs
    centre = None
    if model.family.shift_invariant:  # only differences of the outputs are identified
        centre = sp.eye(K) - sp.ones(K, K) / K
    blocks = []
    base = dict(zip(arch.params, theta_q))
    for x in points:
        sub = dict(base)
        sub.update(zip(arch.inputs, x))
        Jx = J.xreplace(sub)
        blocks.append(centre * Jx if centre is not None else Jx)
    M = sp.Matrix.vstack(*blocks).applyfunc(lambda e: e.rewrite(sp.exp))
    bad = [f for e in M for f in e.atoms(sp.Function) if not isinstance(f, sp.exp)]
    bad += [e for e in M if e.has(sp.log)]
    if bad:
        raise SymmleValueError(
            f"exact=True supports activations that stay rational in exp (identity, relu, "
            f"leaky_relu, tanh, sigmoid, silu) in a network whose exp arguments are rational; "
            f"found {bad[0]}. Use the numerical rank (exact=False)")
    args = [a.args[0] for e in M for a in e.atoms(sp.exp)]
    if any(not a.is_Rational for a in args):
        raise SymmleValueError(
            "exact=True needs every exponential's argument to be rational: one hidden layer of "
            "tanh/sigmoid/silu (deeper layers only of relu/leaky_relu/identity units)")
    D = int(sp.ilcm(1, *[sp.Rational(a).q for a in args])) if args else 1
    if not args and not any(e.has(sp.E) for e in M):
        return M
    return M.applyfunc(lambda e: e.replace(lambda a: isinstance(a, sp.exp),
                                           lambda a: _T ** (a.args[0] * D)).subs(sp.E, _T ** D))


def _rank_q(M: sp.Matrix, flint) -> int:
    """Rank over ℚ of a matrix of sympy Rationals (python-flint's fmpq_mat)."""
    if 0 in M.shape:
        return 0
    rows = [[flint.fmpq(int(sp.Rational(e).p), int(sp.Rational(e).q)) for e in M.row(i)]
            for i in range(M.shape[0])]
    return flint.fmpq_mat(rows).rank()


def _exact_matrix_rank(M: sp.Matrix, rng, flint) -> tuple[int | None, str]:
    ncol = M.shape[1]
    if not any(e.has(_T) for e in M):
        return _rank_q(M, flint), "rational arithmetic (python-flint)"
    best, T_best = -1, None
    for _ in range(_T_TRIES):
        T0 = sp.Rational(int(rng.integers(3, 60)), int(rng.integers(1, 7)))
        r = _rank_q(M.xreplace({_T: T0}), flint)
        if r > best:
            best, T_best = r, T0
    if best == ncol:
        return best, "full rank at a rational value of T = e^(1/D); exact"
    kernel = DomainMatrix.from_Matrix(M.xreplace({_T: T_best})).to_field().nullspace().to_Matrix()
    for v in kernel.tolist():
        nz = [(j, c) for j, c in enumerate(v) if c != 0]
        for i in range(M.shape[0]):
            expr = sp.Add(*[c * M[i, j] for j, c in nz])
            if sp.cancel(sp.together(expr)) != 0:
                return None, (f"not certified: the rank at a rational T is {best}, but the "
                              f"kernel there is not a kernel for all T")
    return best, "kernel verified identically in T = e^(1/D); exact"


def compute_exact_rank(model: Model, theta, rng) -> tuple[int | None, str]:
    """The exact rank of ``model``'s information and how it was obtained.

    Parameters
    ----------
    model : Model
    theta : ndarray or None
        θ (rounded to multiples of 1/16 unless it already is); None for the
        largest rank over random rational θ (a generic point).
    rng : Generator
        For the rational inputs, θ and values of ``T``.

    Returns
    -------
    (int or None, str)
        The rank (the family's own parameters add their full rank), None when
        it could not be certified; and a note saying how.

    Raises
    ------
    SymmleValueError
        An activation that is not rational in ``exp`` (softplus, erf), or an
        exponential with an irrational argument (tanh after tanh).
    MissingDependencyError
        Without python-flint (``pip install 'symmle[exact]'``).
    """
    flint = require("flint", "exact")
    arch = model.architecture
    Pn, E = model.n_network_params, model.family.n_extra
    K = arch.n_outputs
    m = -(-Pn // K) + _EXTRA_POINTS
    if theta is not None and is_rational_network(arch):
        theta_q = [sp.Rational(*Fraction(float(t)).as_integer_ratio()) for t in theta[:Pn]]
        tries, where = [theta_q], "at θ (exactly: every unit is rational)"
    elif theta is not None:
        theta_q, same = _rationalise(theta[:Pn], _EXACT_DEN)
        tries = [theta_q]
        where = "at θ" if same else f"at θ rounded to multiples of 1/{_EXACT_DEN}"
    else:
        tries = []
        for _ in range(_THETA_TRIES):
            num = rng.integers(1, 9, size=Pn) * rng.choice([-1, 1], size=Pn)
            tries.append([sp.Rational(int(k), 4) for k in num])
        where = f"max over {_THETA_TRIES} random rational θ"
    best, note = None, ""
    for theta_q in tries:
        M = _exact_matrix(model, theta_q, _input_points(rng, arch.n_inputs, m))
        r, how = _exact_matrix_rank(M, rng, flint)
        if r is not None and (best is None or r > best):
            best, note = r, how
        elif r is None and best is None:
            note = how
    if best is None:
        return None, f"{where}, {m} rational inputs: {note}"
    return best + E, f"{where}, {m} rational inputs: {note}"
