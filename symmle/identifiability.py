"""Identifiability analysis: which regularity conditions of maximum likelihood hold, and why.

* `identifiability` — the rank of the Fisher information at θ, its null
  space in words, and whether the known symmetries explain it (Rothenberg 1971:
  θ is locally identifiable iff the information is nonsingular), optionally with
  an exact rank computed in rational arithmetic.
* `is_reducible` and `reduce` — Sussmann's (1992) reductions, giving
  the smallest network with the same function.
* `regularity` — the classical regularity conditions of the MLE, each with
  a verdict and a one-line reason for this model.
* `profile` and `profile_conf_int` — practical identifiability by
  profile likelihood; a flat profile is a non-identified direction.
* `cluster_optima` — a multi-start fit's optima grouped modulo the
  discrete symmetry group.

Numerical rank convention (``RANK_RTOL``): the Fisher information of ``n``
rows is ``F = AᵀA`` with ``A`` the rows of ``W^{1/2} J`` (``J = ∂η/∂θ``, ``W`` the
family's weight). ``A`` is column-equilibrated (each parameter's column scaled
to unit norm, so the answer does not depend on the parameters' units) and its
singular values ``s`` are compared with ``RANK_RTOL · max(s)``. Working with
``A`` rather than ``F`` avoids squaring the condition number: ``RANK_RTOL =
1e-8`` on ``s`` is ``1e-16`` on the eigenvalues of the equilibrated ``F``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import networkx as nx
import numpy as np
import scipy.linalg as sla
import scipy.optimize as so
import scipy.stats as st
import sympy as sp

from .architecture import Architecture, mlp
from .symmetry import _as_arch
from .errors import (ConvergenceWarning, NonIdentifiableWarning, ParamsError,
                     SymmleTypeError, SymmleValueError)
from .families import Bernoulli, Categorical, Gaussian, Poisson
from .model import Model, as_rng

__all__ = [
    "RANK_RTOL",
    "IdentifiabilityReport",
    "identifiability",
    "is_reducible",
    "reduce",
    "RegularityCondition",
    "RegularityTable",
    "regularity",
    "Profile",
    "profile",
    "profile_conf_int",
    "OptimaClusters",
    "cluster_optima",
]

#: relative tolerance on the singular values of the equilibrated ``W^{1/2} J`` (see module doc).
RANK_RTOL = 1e-8
#: a null-space direction's entries below this fraction of its largest are not named.
_WORD_TOL = 0.05
#: default tolerance of Sussmann's tests (zero weights, equal or opposite units).
REDUCE_TOL = 1e-10


# =============================================================== helpers
def _check_model(model, name="model") -> Model:
    if not isinstance(model, Model):
        raise SymmleTypeError(f"{name} must be a Model (sm.Model(arch, family)), "
                              f"got {type(model).__name__}")
    return model


def _check_vector(arch, model, theta, name="theta") -> np.ndarray:
    P = model.n_params if model is not None else arch.n_params
    theta = arch.check_theta(theta, name=name, n_params=P)
    if theta.ndim != 1:
        raise ParamsError(f"{name} must be one vector of length {P}, got shape {theta.shape}")
    return theta.copy()


def _check_rtol(rtol, name="rtol"):
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float, np.floating)) \
            or not (0 < rtol < 1):
        raise SymmleValueError(f"{name} must be a number in (0, 1), got {rtol!r}")
    return float(rtol)


def _check_tol(tol, name="tol"):
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) \
            or not (tol >= 0 and math.isfinite(tol)):
        raise SymmleValueError(f"{name} must be a finite number >= 0, got {tol!r}")
    return float(tol)


def _fmt(v: float) -> str:
    return f"{v:+.3g}"


# ======================================================= information rank
def _information_root(model: Model, theta: np.ndarray, X: np.ndarray,
                      chunk: int = 4096) -> np.ndarray:
    """An upper-triangular ``R`` (P × P) with ``RᵀR`` = the Fisher information of the rows X."""
    cm = model.compile()
    arch, fam = model.architecture, model.family
    Pn, P = arch.n_params, model.n_params
    extra = theta[Pn:]
    R = np.zeros((0, P))
    for start in range(0, X.shape[0], chunk):
        Xc = X[start:start + chunk]
        J = cm.jacobian(theta, Xc)  # (m, K, Pn)
        eta = cm.linear_predictor(theta, Xc)
        W = np.asarray(fam.weight(eta, extra), dtype=float)
        w, U = np.linalg.eigh(W)
        A = np.sqrt(np.clip(w, 0.0, None))[:, :, None] * np.einsum("mkl,mkp->mlp", U, J)
        A = np.concatenate([A.reshape(-1, Pn), np.zeros((A.shape[0] * A.shape[1], P - Pn))], 1)
        R = sla.qr(np.vstack([R, A]), mode="r")[0][:P]
    if P > Pn:
        eta = cm.linear_predictor(theta, X[:1])
        Fe = X.shape[0] * np.asarray(fam.extra_fisher(eta, extra), dtype=float)
        w, U = np.linalg.eigh(Fe)
        rows = np.zeros((P - Pn, P))
        rows[:, Pn:] = np.sqrt(np.clip(w, 0.0, None))[:, None] * U.T
        R = sla.qr(np.vstack([R, rows]), mode="r")[0][:P]
    if R.shape[0] < P:
        R = np.vstack([R, np.zeros((P - R.shape[0], P))])
    return R


def _rank_and_null(R: np.ndarray, rtol: float):
    """Rank, singular values (descending) and orthonormal null basis of the equilibrated ``R``."""
    P = R.shape[1]
    norms = np.linalg.norm(R, axis=0)
    scale = np.where(norms > 0, norms, 1.0)
    _, s, Vt = np.linalg.svd(R / scale, full_matrices=True)
    s = np.concatenate([s, np.zeros(P - s.size)])
    top = s[0] if s.size else 0.0
    rank = int(np.sum(s > rtol * top)) if top > 0 else 0
    N = Vt[rank:].T / scale[:, None]  # back to θ coordinates
    if N.shape[1]:
        N = np.linalg.qr(N)[0]
    return rank, s, N


def _sparse_basis(N: np.ndarray) -> np.ndarray:
    """A basis of span(N) in reduced echelon form: each column is 1 at its own pivot parameter."""
    k = N.shape[1]
    if k == 0:
        return N
    _, _, piv = sla.qr(N.T, pivoting=True)
    piv = piv[:k]
    B = N @ np.linalg.inv(N[piv, :])
    B[np.abs(B) < 1e-12] = 0.0
    order = np.argsort(piv)
    B = B[:, order]
    return B / np.max(np.abs(B), axis=0)


def _describe(B: np.ndarray, names) -> tuple[str, ...]:
    words = []
    for col in B.T:
        top = np.max(np.abs(col))
        idx = [i for i in np.argsort(-np.abs(col), kind="stable") if abs(col[i]) > _WORD_TOL * top]
        idx.sort()
        terms = [f"{names[i]} ({_fmt(col[i])})" for i in idx[:8]]
        more = f" and {len(idx) - 8} more" if len(idx) > 8 else ""
        words.append("moves " + ", ".join(terms) + more)
    return tuple(words)


def _span_contains(A: np.ndarray, B: np.ndarray, tol: float = 1e-6) -> bool:
    """Every column of B lies in span(A) (relative residual below tol)."""
    if B.shape[1] == 0:
        return True
    if A.shape[1] == 0:
        return False
    Q = np.linalg.qr(A)[0]
    res = B - Q @ (Q.T @ B)
    return bool(np.all(np.linalg.norm(res, axis=0) <= tol * np.maximum(np.linalg.norm(B, axis=0),
                                                                          1e-300)))


# ============================================================ the report
@dataclass(frozen=True, eq=False)
class IdentifiabilityReport:
    """What `identifiability` found at one θ. ``print(report)`` gives a readable summary.

    Attributes
    ----------
    model : Model
    theta : ndarray, shape (P,)
        The point analysed.
    generic : bool
        Whether θ was drawn at random (a generic point) rather than given.
    n_rows : int
        Rows of X used for the Fisher information.
    n_params : int
        P (the family's own parameters included).
    group_order : int
        Order of the discrete symmetry group (`symmle.symmetry_group`).
    continuous_dim : int
        Dimension of the known continuous symmetries at θ
        (`symmle.continuous_symmetries`).
    fisher_rank : int
        Numerical rank of the Fisher information (see ``rtol``).
    rtol : float
        Relative tolerance of the rank (module docstring, `RANK_RTOL`).
    singular_values : ndarray
        Singular values of the column-equilibrated ``W^{1/2} J``, descending;
        their squares are the eigenvalues of the equilibrated information.
    null_space : ndarray, shape (P, P - fisher_rank)
        A basis of the information's null space in reduced echelon form (each
        column is 1 at its own pivot parameter and 0 at the others' pivots).
    null_space_words : tuple of str
        One line per column of ``null_space``: which parameters it moves.
    explained : bool
        Whether the null space equals the span of the known continuous symmetries.
    explanation : str
        Why, or why not (a singular point, too few rows).
    locally_identifiable : bool
        Rothenberg (1971): the information is nonsingular at θ, so θ is
        identified in a neighbourhood (up to the finite group, globally, for
        Sussmann's networks).
    reducible : tuple of str
        Sussmann's reductions that apply at θ (empty when irreducible).
    exact_rank : int or None
        With ``exact=True``: the rank of the information computed exactly.
    exact_note : str
        How the exact rank was obtained, or why it could not be.
    """

    model: Model
    theta: np.ndarray = field(repr=False)
    generic: bool
    n_rows: int
    n_params: int
    group_order: int
    continuous_dim: int
    fisher_rank: int
    rtol: float
    singular_values: np.ndarray = field(repr=False)
    null_space: np.ndarray = field(repr=False)
    null_space_words: tuple
    explained: bool
    explanation: str
    locally_identifiable: bool
    reducible: tuple = ()
    exact_rank: int | None = None
    exact_note: str = ""

    def __post_init__(self):
        for name in ("theta", "singular_values", "null_space"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if self.null_space.shape != (self.n_params, self.n_params - self.fisher_rank):
            raise SymmleValueError("null_space must have shape (n_params, n_params - fisher_rank)")

    @property
    def null_dim(self) -> int:
        """Dimension of the information's null space, ``n_params - fisher_rank``."""
        return self.n_params - self.fisher_rank

    def _facts(self):
        """Title and ``(label, value, sub-lines)`` rows shared by the text and HTML forms."""
        where = "a random generic θ" if self.generic else "the given θ"
        title = f"Identifiability of {self.model!r} at {where}"
        facts = [("parameters", f"{self.n_params}", ()),
                 ("discrete symmetry group", f"order {self.group_order}", ()),
                 ("continuous symmetries", f"dimension {self.continuous_dim}", ()),
                 ("Fisher information rank", f"{self.fisher_rank} of {self.n_params}"
                  f"  ({self.n_rows} rows, relative tolerance {self.rtol:g})", ())]
        if self.exact_rank is not None or self.exact_note:
            facts.append(("exact rank", f"{'-' if self.exact_rank is None else self.exact_rank}"
                                        f"  ({self.exact_note})", ()))
        if self.null_dim:
            facts.append(("null space", f"dimension {self.null_dim}: {self.explanation}",
                          tuple(f"{i}. {w}" for i, w in enumerate(self.null_space_words, 1))))
        else:
            facts.append(("null space", "none", ()))
        if self.locally_identifiable:
            verdict = (f"yes (Rothenberg 1971: the information is nonsingular; θ is identified "
                       f"up to the {self.group_order} discrete symmetries)")
        else:
            verdict = f"no (Rothenberg 1971: the information is singular, {self.null_dim} " \
                      f"unidentified direction{'s' if self.null_dim != 1 else ''})"
        facts.append(("locally identifiable", verdict, ()))
        red = "; ".join(self.reducible) if self.reducible else "no"
        facts.append(("reducible (Sussmann 1992)", red, ()))
        return title, facts

    def __str__(self) -> str:
        title, facts = self._facts()
        lines = [title]
        for label, value, sub in facts:
            lines.append(f"  {label:<25}  {value}")
            lines.extend(f"    {line}" for line in sub)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The ``str`` form as an HTML table (one row per fact), for notebooks."""
        from .display import html_report

        title, facts = self._facts()
        rows = []
        for label, value, sub in facts:
            rows.append([label, value])
            rows.extend(["", line] for line in sub)
        return html_report(title, rows=rows)


def identifiability(model, theta=None, X=None, rng=None, *, exact: bool = False,
                    rtol: float = RANK_RTOL, n_rows: int | None = None,
                    tol: float = REDUCE_TOL) -> IdentifiabilityReport:
    """Fisher rank, symmetry dimensions and local identifiability of ``model`` at θ.

    Parameters
    ----------
    model : Model
    theta : array_like, shape (P,), optional
        The point to analyse; a random generic one (``model.random_params(rng)``)
        when not given.
    X : array_like, shape (n, d), optional
        Inputs for the Fisher information; ``n_rows`` rows of ``N(0, I)`` when
        not given.
    rng : Generator, int or None
        For θ, X and the exact rank's rational points.
    exact : bool
        Also compute the rank exactly in rational arithmetic (small models
        only; see Notes).
    rtol : float
        Relative tolerance of the numerical rank (`RANK_RTOL`).
    n_rows : int, optional
        Rows drawn when X is not given; default ``max(500, 20 P)``.
    tol : float
        Tolerance of Sussmann's reducibility tests (`is_reducible`).

    Returns
    -------
    IdentifiabilityReport

    Notes
    -----
    The exact rank is that of the stacked Jacobian ``∂η/∂θ`` at ``P + 5``
    distinct rational inputs and at a rational θ (θ itself when its entries are
    multiples of 1/16, else θ rounded to them — the report says so; for a
    random θ, the largest rank over three random rational points). ``tanh``,
    ``sigmoid`` and ``silu`` of a rational ``r`` are rational functions of
    ``e^{r}``; writing every ``e^{r}`` as ``T^{rD}`` with ``T = e^{1/D}`` turns
    the matrix into one over the field ``ℚ(T)``, and because ``T`` is
    transcendental (Lindemann) its rank there is the rank of the real matrix.
    The rank over ``ℚ(T)`` is computed as the rank at a random rational ``T₀``
    (a lower bound), certified as exact when it is full or when every vector of
    the kernel at ``T₀`` is verified to be a kernel vector for all ``T``; when
    the certificate fails ``exact_rank`` is None and ``exact_note`` says why.
    ReLU, leaky ReLU and identity networks are rational throughout. Activations
    with logarithms or ``erf`` (softplus, erf) are refused. For Categorical,
    the rows are centred (``W`` of the softmax has the all-ones kernel); the
    family's own parameters add their (full) rank.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(2, 3, 1, activation="tanh"), sm.Gaussian(sigma=1.0))
    >>> rep = sm.identifiability(model, rng=0)
    >>> rep.n_params, rep.group_order, rep.continuous_dim, rep.fisher_rank
    (13, 48, 0, 13)
    >>> rep.locally_identifiable
    True
    >>> relu = sm.Model(sm.mlp(2, 3, 1, activation="relu"), sm.Gaussian(sigma=1.0))
    >>> rep = sm.identifiability(relu, rng=1)
    >>> rep.fisher_rank, rep.continuous_dim, rep.explained, rep.locally_identifiable
    (10, 3, True, False)
    >>> print(rep.null_space_words[0])
    moves W1_1_1 (...), W1_1_2 (...), b1_1 (...), W2_1_1 (...) [a known continuous symmetry]

    References
    ----------
    Rothenberg, T. J. (1971). Identification in parametric models. Econometrica 39(3).
    """
    from .symmetry import continuous_symmetries, symmetry_group

    model = _check_model(model)
    arch = model.architecture
    rtol = _check_rtol(rtol)
    tol = _check_tol(tol)
    rng = as_rng(rng)
    generic = theta is None
    theta = model.random_params(rng) if generic else _check_vector(arch, model, theta)
    P, Pn = model.n_params, model.n_network_params
    if X is None:
        if n_rows is None:
            n_rows = max(500, 20 * P)
        if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < 1:
            raise SymmleValueError(f"n_rows must be a positive integer, got {n_rows!r}")
        X = rng.standard_normal((int(n_rows), arch.n_inputs))
    else:
        X = arch.check_X(X)
    n = X.shape[0]

    R = _information_root(model, theta, X)
    rank, s, N = _rank_and_null(R, rtol)
    C = continuous_symmetries(model, theta)
    k = C.shape[1]
    order = int(symmetry_group(arch).order)
    reasons = tuple(_reduction_reasons(arch, theta[:Pn], tol))

    null_dim = P - rank
    if null_dim == k and _span_contains(N, C) and _span_contains(C, N):
        explained = True
        explanation = ("explained: it is the span of the known continuous symmetries" if k
                       else "none")
    else:
        explained = False
        why = []
        if null_dim < k:
            why.append(f"smaller than the {k} known continuous symmetries (rtol too large?)")
        elif not _span_contains(N, C):
            why.append("does not contain the known continuous symmetries (rtol too large?)")
        if reasons:
            why.append("θ is a singular (reducible) point: " + "; ".join(reasons))
        why.extend(_data_reasons(arch, theta[:Pn], X))
        if n * arch.n_outputs < P:
            why.append(f"too few data rows: {n} rows × {arch.n_outputs} outputs < {P} parameters")
        if not why:
            why.append("θ is a singular point of another kind, or X is not rich enough "
                       "(try more rows or another X)")
        explanation = (f"not explained by the {k} known continuous symmetries: "
                       + "; ".join(why))
    B = _sparse_basis(N)
    words = list(_describe(B, model.param_names))
    if k:
        words = [w + (" [a known continuous symmetry]" if _span_contains(C, b[:, None]) else "")
                 for w, b in zip(words, B.T)]

    exact_rank, exact_note = None, ""
    if exact:
        exact_rank, exact_note = _exact_rank(model, None if generic else theta, rng)
    return IdentifiabilityReport(
        model=model, theta=theta, generic=generic, n_rows=n, n_params=P, group_order=order,
        continuous_dim=k, fisher_rank=rank, rtol=rtol, singular_values=s, null_space=B,
        null_space_words=tuple(words), explained=explained, explanation=explanation,
        locally_identifiable=rank == P, reducible=reasons, exact_rank=exact_rank,
        exact_note=exact_note)


def _data_reasons(arch: Architecture, theta: np.ndarray, X: np.ndarray) -> list[str]:
    """Piecewise-linear units that are on one side of their kink on every row of X."""
    out = []
    h = arch.forward(theta, X, units=True)
    for v in arch.hidden_nodes:
        act = arch.activation_of(v)
        if act.positively_homogeneous and not act.linear:
            on = h[v] > 0
            if on.all():
                out.append(f"unit {v!r} is active on every row of X (affine on the data)")
            elif not on.any():
                out.append(f"unit {v!r} is inactive on every row of X")
    return out


# ============================================================ exact rank
_EXACT_DEN = 16
_T = sp.Symbol("T", positive=True)


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
    if isinstance(model.family, Categorical):
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


def _exact_matrix_rank(M: sp.Matrix, rng) -> tuple[int | None, str]:
    from sympy.polys.matrices import DomainMatrix

    ncol = M.shape[1]
    if not any(e.has(_T) for e in M):
        return DomainMatrix.from_Matrix(M).to_field().rank(), "rational arithmetic"
    best, kernel = -1, None
    for _ in range(2):
        T0 = sp.Rational(int(rng.integers(3, 60)), int(rng.integers(1, 7)))
        dm = DomainMatrix.from_Matrix(M.xreplace({_T: T0})).to_field()
        r = dm.rank()
        if r > best:
            best, kernel = r, dm.nullspace().to_Matrix()
    if best == ncol:
        return best, "full rank at a rational value of T = e^(1/D); exact"
    for v in kernel.tolist():
        nz = [(j, c) for j, c in enumerate(v) if c != 0]
        for i in range(M.shape[0]):
            expr = sp.Add(*[c * M[i, j] for j, c in nz])
            if sp.cancel(sp.together(expr)) != 0:
                return None, (f"not certified: the rank at a rational T is {best}, but the "
                              f"kernel there is not a kernel for all T")
    return best, "kernel verified identically in T = e^(1/D); exact"


def _exact_rank(model: Model, theta, rng) -> tuple[int | None, str]:
    arch = model.architecture
    Pn, E = model.n_network_params, model.family.n_extra
    K = arch.n_outputs
    m = -(-Pn // K) + 5
    if theta is not None:
        theta_q, same = _rationalise(theta[:Pn], _EXACT_DEN)
        tries = [theta_q]
        where = "at θ" if same else f"at θ rounded to multiples of 1/{_EXACT_DEN}"
    else:
        tries = []
        for _ in range(3):
            num = rng.integers(1, 9, size=Pn) * rng.choice([-1, 1], size=Pn)
            tries.append([sp.Rational(int(k), 4) for k in num])
        where = "max over 3 random rational θ"
    best, note = None, ""
    for theta_q in tries:
        M = _exact_matrix(model, theta_q, _input_points(rng, arch.n_inputs, m))
        r, how = _exact_matrix_rank(M, rng)
        if r is not None and (best is None or r > best):
            best, note = r, how
        elif r is None and best is None:
            note = how
    if best is None:
        return None, f"{where}, {m} rational inputs: {note}"
    return best + E, f"{where}, {m} rational inputs: {note}"


# ============================================================ Sussmann
class _Net:
    """A mutable copy of a network and its values, for the reductions."""

    def __init__(self, arch: Architecture, theta: np.ndarray):
        self.g = nx.DiGraph(arch.graph)
        self.order = {v: i for i, v in enumerate(arch.graph.nodes)}
        self.w = {e: float(theta[i]) for e, i in arch.edge_index.items()}
        self.b = {v: float(theta[i]) for v, i in arch.bias_index.items()}
        self.names = set(arch.param_names)

    def act(self, v):
        from .activations import get_activation

        return get_activation(self.g.nodes[v]["activation"])

    def hidden(self):
        return sorted((v for v, r in self.g.nodes(data="role") if r == "hidden"),
                      key=self.order.__getitem__)

    def incoming(self, v, preds):
        vec = [self.w.get((p, v), 0.0) for p in preds]
        return np.array(vec + [self.b.get(v, 0.0)])

    def remove(self, v):
        for e in list(self.g.in_edges(v)) + list(self.g.out_edges(v)):
            self.w.pop(e, None)
        self.b.pop(v, None)
        self.g.remove_node(v)

    def add_to_bias(self, s, value):
        self.b[s] = self.b[s] + value

    def add_to_weight(self, u, s, value):
        if not self.g.has_edge(u, s):
            name, k = f"w_{u}_{s}", 1
            while name in self.names:
                k += 1
                name = f"w_{u}_{s}_{k}"
            self.names.add(name)
            self.g.add_edge(u, s, name=name)
            self.w[(u, s)] = 0.0
        self.w[(u, s)] += value


def _find_reduction(net: _Net, tol: float, apply: bool):
    """The first applicable reduction (a description), applied when ``apply``; None if none."""
    g = net.g
    hidden = net.hidden()
    for v in hidden:
        succ = list(g.successors(v))
        if all(abs(net.w[(v, s)]) <= tol for s in succ):
            orphan = [s for s in succ if g.in_degree(s) == 1]
            if orphan and apply:
                continue
            if apply:
                net.remove(v)
            return f"unit {v!r} has zero outgoing weights"
    for v in hidden:
        preds = list(g.predecessors(v))
        if all(abs(net.w[(p, v)]) <= tol for p in preds):
            c = float(net.act(v).numpy(np.array([net.b.get(v, 0.0)]))[0])
            succ = list(g.successors(v))
            if any(s not in net.b and abs(net.w[(v, s)] * c) > tol for s in succ):
                continue
            if any(g.in_degree(s) == 1 for s in succ) and apply:
                continue
            if apply:
                for s in succ:
                    if s in net.b:
                        net.add_to_bias(s, net.w[(v, s)] * c)
                net.remove(v)
            return f"unit {v!r} has zero incoming weights (a constant folded into its successors)"
    for i, u in enumerate(hidden):
        for v in hidden[i + 1:]:
            if g.nodes[u]["activation"] != g.nodes[v]["activation"]:
                continue
            preds = sorted(set(g.predecessors(u)) | set(g.predecessors(v)), key=net.order.get)
            xu, xv = net.incoming(u, preds), net.incoming(v, preds)
            act = net.act(u)
            lam, shift, kind = None, 0.0, ""
            if np.max(np.abs(xv - xu)) <= tol:
                lam, kind = 1.0, "equal"
            elif act.flip is not None and np.max(np.abs(xv + xu)) <= tol:
                lam, shift, kind = float(act.flip[1]), float(act.flip[0]), "opposite"
            elif act.positively_homogeneous or act.linear:
                nu = float(xu @ xu)
                if nu > 0:
                    c = float(xu @ xv) / nu
                    if (c > 0 or act.linear) and c != 0 and np.max(np.abs(xv - c * xu)) <= tol:
                        lam, kind = c, f"proportional (factor {c:.6g})"
            if lam is None:
                continue
            succ = list(g.successors(v))
            if shift and any(s not in net.b and abs(shift * net.w[(v, s)]) > tol for s in succ):
                continue
            if apply:
                for s in succ:
                    net.add_to_weight(u, s, lam * net.w[(v, s)])
                    if shift and s in net.b:
                        net.add_to_bias(s, shift * net.w[(v, s)])
                net.remove(v)
            return f"units {u!r} and {v!r} have {kind} incoming weights and biases"
    return None


def _reduction_reasons(arch: Architecture, theta: np.ndarray, tol: float) -> list[str]:
    net = _Net(arch, theta)
    reasons = []
    g = net.g
    hidden = net.hidden()
    for v in hidden:
        if all(abs(net.w[(v, s)]) <= tol for s in g.successors(v)):
            reasons.append(f"unit {v!r} has zero outgoing weights")
        if all(abs(net.w[(p, v)]) <= tol for p in g.predecessors(v)):
            reasons.append(f"unit {v!r} has zero incoming weights")
    for i, u in enumerate(hidden):
        for v in hidden[i + 1:]:
            if g.nodes[u]["activation"] != g.nodes[v]["activation"]:
                continue
            preds = sorted(set(g.predecessors(u)) | set(g.predecessors(v)), key=net.order.get)
            xu, xv = net.incoming(u, preds), net.incoming(v, preds)
            if not np.any(np.abs(xu) > tol):
                continue
            act = net.act(u)
            if np.max(np.abs(xv - xu)) <= tol:
                reasons.append(f"units {u!r} and {v!r} have equal incoming weights and biases")
            elif act.flip is not None and np.max(np.abs(xv + xu)) <= tol:
                reasons.append(f"units {u!r} and {v!r} have opposite incoming weights and biases")
            elif act.positively_homogeneous or act.linear:
                c = float(xu @ xv) / float(xu @ xu)
                if (c > 0 or act.linear) and c != 0 and np.max(np.abs(xv - c * xu)) <= tol:
                    reasons.append(f"units {u!r} and {v!r} have proportional incoming weights "
                                   f"and biases")
    return reasons


def is_reducible(arch, theta, *, tol: float = REDUCE_TOL) -> bool:
    """Sussmann's (1992) reducibility: can a smaller network compute the same function?

    θ is reducible when a hidden unit has all outgoing weights zero, or all
    incoming weights zero (it is then a constant), or two hidden units with the
    same activation have equal incoming weights and biases — or opposite ones,
    for an activation with ``σ(-z) = a + cσ(z)`` (odd, sigmoid), or positively
    proportional ones, for a positively homogeneous activation (ReLU).

    Parameters
    ----------
    arch : Architecture or Model
    theta : array_like
        θ of the architecture (or of the Model: the family's part is ignored).
    tol : float
        Absolute tolerance: ``|w| <= tol`` counts as zero, vectors within
        ``tol`` (max norm) as equal.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> theta = np.arange(1.0, 14.0) / 10
    >>> sm.is_reducible(arch, theta)
    False
    >>> theta[10] = 0.0            # unit h1_2's output weight
    >>> sm.is_reducible(arch, theta)
    True

    References
    ----------
    Sussmann, H. J. (1992). Uniqueness of the weights for minimal feedforward nets
    with a given input-output map. Neural Networks 5(4).
    """
    a, model = _as_arch(arch)
    theta = _check_vector(a, model, theta)
    return bool(_reduction_reasons(a, theta[:a.n_params], _check_tol(tol)))


def reduce(arch, theta, *, tol: float = REDUCE_TOL):
    """The smallest equivalent network (Sussmann 1992): same function, fewer parameters.

    Repeatedly drops hidden units whose outgoing weights are all zero, folds
    units whose incoming weights are all zero into their successors' biases,
    and merges units with equal incoming weights and biases (opposite ones for
    odd or sigmoid activations, positively proportional ones for ReLU), until
    none applies; deep networks are reduced this way across all layers, to a
    fixed point.

    Parameters
    ----------
    arch : Architecture or Model
    theta : array_like
        θ of ``arch`` (of the Model: the family's own parameters are passed through).
    tol : float
        As in `is_reducible`.

    Returns
    -------
    (Architecture, ndarray) or (Model, ndarray)
        The reduced network (an `symmle.mlp` again when the result is
        still fully connected and layered, else built by
        `Architecture.from_graph` with the original names) and its θ.

    Notes
    -----
    A unit is kept, even when it qualifies, if removing it would leave a
    successor with no inputs (say, every unit of a layer has zero outgoing
    weights); a constant unit whose successor has no bias is kept too.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> theta = np.arange(1.0, 14.0) / 10
    >>> theta[10] = 0.0                       # h1_2 does not reach the output
    >>> small, small_theta = sm.reduce(arch, theta)
    >>> small, small.n_params
    (mlp(2, 2, 1, activation='tanh'), 9)
    >>> X = np.random.default_rng(0).standard_normal((5, 2))
    >>> bool(np.allclose(small.forward(small_theta, X), arch.forward(theta, X)))
    True
    >>> theta = np.arange(1.0, 14.0) / 10
    >>> theta[[2, 3, 7]] = -theta[[0, 1, 6]]   # h1_2 = -h1_1 (tanh is odd)
    >>> sm.reduce(arch, theta)[0]
    mlp(2, 2, 1, activation='tanh')
    """
    a, model = _as_arch(arch)
    theta = _check_vector(a, model, theta)
    tol = _check_tol(tol)
    Pn = a.n_params
    net = _Net(a, theta[:Pn])
    while _find_reduction(net, tol, apply=True) is not None:
        pass
    G = nx.DiGraph()
    for v in sorted(net.g.nodes, key=net.order.get):
        G.add_node(v, **{k: x for k, x in net.g.nodes[v].items() if k != "layer"})
    for u, v, d in net.g.edges(data=True):
        G.add_edge(u, v, name=d["name"])
    new = Architecture.from_graph(G)
    t = np.zeros(new.n_params)
    for e, i in new.edge_index.items():
        t[i] = net.w[e]
    for v, i in new.bias_index.items():
        t[i] = net.b[v]
    if a.widths is not None and new.widths is not None:
        acts = {net.g.nodes[v]["activation"] for v in new.hidden_nodes}
        outs = {net.g.nodes[v]["activation"] for v in new.output_nodes}
        biases = {net.g.nodes[v]["bias"] for v in new.hidden_nodes + new.output_nodes}
        if len(acts) <= 1 and len(outs) == 1 and len(biases) == 1:
            act = acts.pop() if acts else "tanh"
            rebuilt = mlp(*new.widths, activation=act, output_activation=outs.pop(),
                          bias=biases.pop())
            t = rebuilt.flatten(new.unflatten(t))
            new = rebuilt
    t = np.concatenate([t, theta[Pn:]])
    if model is not None:
        return Model(new, model.family), t
    return new, t


# ============================================================ regularity
_VERDICTS = ("holds", "fails", "modulo symmetry", "conditional")


@dataclass(frozen=True)
class RegularityCondition:
    """One regularity condition of the MLE, with a verdict and a one-line reason.

    ``verdict`` is one of ``"holds"``, ``"fails"``, ``"modulo symmetry"``
    (holds for the parameter modulo a finite group) and ``"conditional"``
    (holds under a stated assumption on the inputs or the data).
    """

    name: str
    verdict: str
    reason: str

    def __post_init__(self):
        if self.verdict not in _VERDICTS:
            raise SymmleValueError(f"verdict must be one of {_VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True, eq=False)
class RegularityTable:
    """The regularity conditions of `regularity`; ``print`` it for an aligned table.

    Indexing by a condition's name gives that `RegularityCondition`.
    """

    model: Model
    conditions: tuple

    def __getitem__(self, name: str) -> RegularityCondition:
        for c in self.conditions:
            if c.name == name:
                return c
        raise KeyError(f"no condition {name!r}; known: {', '.join(c.name for c in self.conditions)}")

    def __iter__(self):
        return iter(self.conditions)

    def __len__(self):
        return len(self.conditions)

    def __str__(self) -> str:
        w1 = max(len("condition"), *(len(c.name) for c in self.conditions))
        w2 = max(len("verdict"), *(len(c.verdict) for c in self.conditions))
        head = f"{'condition':<{w1}}  {'verdict':<{w2}}  reason"
        lines = [f"Regularity conditions of the MLE for {self.model!r}", head,
                 f"{'-' * w1}  {'-' * w2}  {'-' * 6}"]
        for c in self.conditions:
            lines.append(f"{c.name:<{w1}}  {c.verdict:<{w2}}  {c.reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The ``str`` form as an HTML table (condition, verdict, reason), for notebooks."""
        from .display import html_report

        return html_report(f"Regularity conditions of the MLE for {self.model!r}",
                           headers=["condition", "verdict", "reason"],
                           rows=[[c.name, c.verdict, c.reason] for c in self.conditions])


def regularity(model, theta=None, *, rng=None) -> RegularityTable:
    """The classical regularity conditions of maximum likelihood, checked for ``model``.

    Conditions: identifiability, differentiability, regularity of the support,
    smoothness (third derivatives), finite Fisher information, compact
    parameter space. Each gets a verdict and one line of reason specific to
    this network and family.

    Parameters
    ----------
    model : Model
    theta : array_like, optional
        When given, identifiability is judged at θ (reducible points fail);
        otherwise at a random generic θ.
    rng : Generator, int or None

    Returns
    -------
    RegularityTable

    Examples
    --------
    >>> tab = sm.regularity(sm.Model(sm.mlp(2, 3, 1, activation="relu"), sm.Gaussian()), rng=0)
    >>> tab["differentiability"].verdict
    'fails'
    >>> tab = sm.regularity(sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli()), rng=0)
    >>> tab["identifiability"].verdict, tab["compact parameter space"].verdict
    ('modulo symmetry', 'fails')
    >>> print(tab)   # doctest: +NORMALIZE_WHITESPACE
    Regularity conditions of the MLE for Model(mlp(2, 3, 1, activation='tanh'), Bernoulli())
    condition                 verdict          reason
    ...
    identifiability           modulo symmetry  Fisher information nonsingular at a generic θ; ...
    ...
    """
    model = _check_model(model)
    arch, fam = model.architecture, model.family
    rep = identifiability(model, theta, rng=rng)
    acts = {arch.activation_of(v) for v in arch.hidden_nodes} | \
        {arch.activation_of(v) for v in arch.output_nodes}
    names = sorted(a.name for a in acts)
    kinks = sorted(a.name for a in acts if a.name in ("relu", "leaky_relu"))
    lin_hidden = [v for v in arch.hidden_nodes if arch.activation_of(v).linear]
    rows = []

    # identifiability
    if lin_hidden:
        rows.append(RegularityCondition(
            "identifiability", "fails",
            f"identity hidden units ({len(lin_hidden)}): W2·W1 = (W2 A⁻¹)(A W1) for every "
            f"invertible A, a GL(n) symmetry (Fisher rank {rep.fisher_rank} of {rep.n_params})"))
    elif rep.locally_identifiable:
        where = "a generic θ" if rep.generic else "θ"
        if rep.group_order > 1:
            rows.append(RegularityCondition(
                "identifiability", "modulo symmetry",
                f"Fisher information nonsingular at {where}; θ is identified up to "
                f"{rep.group_order} discrete symmetries (Sussmann 1992; Chen, Lu & "
                f"Hecht-Nielsen 1993)"))
        else:
            rows.append(RegularityCondition(
                "identifiability", "conditional",
                f"Fisher information nonsingular at {where} (Rothenberg 1971); needs X of "
                f"full column rank"))
    else:
        bits = []
        if kinks and rep.continuous_dim:
            bits.append(f"{', '.join(kinks)} rescaling: incoming × c, outgoing ÷ c "
                        f"({rep.continuous_dim} continuous directions)")
        elif rep.continuous_dim:
            bits.append(f"{rep.continuous_dim} continuous symmetries")
        if isinstance(fam, Categorical):
            bits.append("softmax: adding one function to every output changes nothing")
        if rep.reducible:
            bits.append("reducible θ: " + "; ".join(rep.reducible))
        if not bits:
            bits.append(rep.explanation)
        rows.append(RegularityCondition(
            "identifiability", "fails",
            f"Fisher rank {rep.fisher_rank} of {rep.n_params}: " + "; ".join(bits)))

    # differentiability and smoothness
    if kinks:
        rows.append(RegularityCondition(
            "differentiability", "fails",
            f"{', '.join(kinks)} is not differentiable at its kink (θ with w·x + b = 0 for "
            f"some observed x; derivative taken as 0 there)"))
        rows.append(RegularityCondition(
            "smoothness", "fails",
            "second derivatives vanish almost everywhere and jump at the kinks: no Taylor "
            "expansion of the score around θ*"))
    else:
        rows.append(RegularityCondition(
            "differentiability", "holds",
            f"log-density analytic in θ ({', '.join(names)} and the {fam.name} density are "
            f"infinitely differentiable)"))
        rows.append(RegularityCondition(
            "smoothness", "conditional",
            "third derivatives are continuous; they are dominated on a neighbourhood of θ* if "
            "the inputs have the needed moments"))

    # support
    support = {"gaussian": "the real line", "bernoulli": "{0, 1}", "poisson": "{0, 1, 2, ...}",
               "categorical": "the K classes"}[fam.name]
    rows.append(RegularityCondition(
        "regularity of support", "holds",
        f"the support of y given x is {support} whatever θ is"))

    # finite Fisher information
    if isinstance(fam, Poisson):
        growth = "bounded" if not (kinks or lin_hidden) and all(
            not arch.activation_of(v).linear for v in arch.output_nodes) else "linear in x"
        rows.append(RegularityCondition(
            "finite Fisher information", "conditional",
            f"weight exp(η) with η {'bounded in x for bounded units' if growth == 'bounded' else 'growing linearly in x'}: "
            f"needs E[exp(c‖x‖)‖x‖²] < ∞ (true for Gaussian x, not for heavy tails)"))
    else:
        w = {"gaussian": "1/σ²", "bernoulli": "p(1-p) ≤ 1/4",
             "categorical": "diag(p) - ppᵀ (bounded)"}[fam.name]
        rows.append(RegularityCondition(
            "finite Fisher information", "conditional",
            f"the weight is {w} and ∂η/∂θ grows at most linearly in x: finite when "
            f"E‖x‖² < ∞"))

    # compactness
    if isinstance(fam, Bernoulli) or isinstance(fam, Categorical):
        reason = ("Θ = ℝ^P is not compact, and the MLE may not exist: on separable data the "
                  "likelihood increases as ‖θ‖ → ∞")
    elif isinstance(fam, Poisson):
        reason = ("Θ = ℝ^P is not compact; the MLE may not exist when the rows with y = 0 "
                  "can be separated (η → -∞ there)")
    elif fam.sigma is None:
        reason = ("Θ = ℝ^P × ℝ (log σ) is not compact; the likelihood is unbounded as σ → 0 "
                  "when the network can interpolate the data (n ≤ P)")
    else:
        reason = "Θ = ℝ^P is not compact"
    if arch.hidden_nodes and not lin_hidden and not kinks:
        reason += "; saturating units (‖w‖ → ∞) approach step functions, a sup not attained"
    rows.append(RegularityCondition("compact parameter space", "fails", reason))
    return RegularityTable(model=model, conditions=tuple(rows))


# ================================================ profile likelihood
def _result_parts(result):
    from .fitting import FitResult

    if not isinstance(result, FitResult):
        raise SymmleTypeError(f"result must be a FitResult (from sm.fit), "
                              f"got {type(result).__name__}")
    if result.X is None or result.y is None:
        raise SymmleValueError("result has no data (X, y): profile likelihoods re-optimise, so "
                               "use a FitResult from sm.fit rather than one loaded from JSON")
    return result.model, np.array(result.params, dtype=float), result.X, result.y


def _param_index(model, param) -> int:
    if isinstance(param, str):
        try:
            return model.param_names.index(param)
        except ValueError:
            raise SymmleValueError(f"param {param!r} is not one of the model's parameters "
                                   f"{model.param_names}") from None
    if isinstance(param, bool) or not isinstance(param, (int, np.integer)):
        raise SymmleTypeError(f"param must be a parameter name or index, got {param!r}")
    if not -model.n_params <= param < model.n_params:
        raise SymmleValueError(f"param index must be in [0, {model.n_params}), got {param}")
    return int(param) % model.n_params


class _Profiler:
    """Maximises the log-likelihood over all coordinates but one, with warm starts."""

    def __init__(self, model, theta_hat, X, y, i, tol):
        self.cm = model.compile()
        self.X, self.y, self.i = X, y, i
        self.theta_hat = theta_hat
        self.free = np.array([j for j in range(model.n_params) if j != i], dtype=np.intp)
        self.scale = float(X.shape[0])
        self.tol = tol
        self.solved = {}  # value -> (profile loglik, θ)

    def _neg(self, z, t):
        th = self.theta_hat.copy()
        th[self.free] = z
        th[self.i] = t
        try:
            with np.errstate(all="ignore"):
                out = self.cm.evaluate(th, self.X, self.y, ("loglik", "score"))
        except (ValueError, FloatingPointError):
            return np.inf, np.zeros(len(z))
        ll = out["loglik"]
        if not np.isfinite(ll):
            return np.inf, np.zeros(len(z))
        return -ll / self.scale, -out["score"][self.free] / self.scale

    def __call__(self, t: float) -> float:
        t = float(t)
        if t in self.solved:
            return self.solved[t][0]
        if self.solved:
            near = min(self.solved, key=lambda s: abs(s - t))
            z0 = self.solved[near][1][self.free]
        else:
            z0 = self.theta_hat[self.free]
        best = None
        for start in (z0, self.theta_hat[self.free]):
            if self.free.size == 0:
                val = -self._neg(start, t)[0] * self.scale
                z = start
            else:
                r = so.minimize(self._neg, start, args=(t,), jac=True, method="L-BFGS-B",
                                options={"maxiter": 2000, "ftol": 1e-15, "gtol": self.tol})
                val, z = -r.fun * self.scale, r.x
            if best is None or val > best[0]:
                best = (val, z)
            if start is z0 and np.allclose(z0, self.theta_hat[self.free]):
                break
        th = self.theta_hat.copy()
        th[self.free] = best[1]
        th[self.i] = t
        self.solved[t] = (best[0], th)
        return best[0]


@dataclass(frozen=True, eq=False)
class Profile:
    """The profile log-likelihood of one parameter, ``ℓ_p(t) = max_{θ: θ_i = t} ℓ(θ)``.

    Attributes
    ----------
    param : str
    index : int
    estimate : float
        θ̂_i.
    loglik_max : float
        ℓ(θ̂).
    values : ndarray
        The grid of t, ascending.
    loglik : ndarray
        ℓ_p at each t.
    params : ndarray, shape (len(values), P)
        The maximising θ at each t.
    """

    param: str
    index: int
    estimate: float
    loglik_max: float
    values: np.ndarray = field(repr=False)
    loglik: np.ndarray = field(repr=False)
    params: np.ndarray = field(repr=False)

    @property
    def deviance(self) -> np.ndarray:
        """``2 (ℓ(θ̂) - ℓ_p(t))``, compared with χ²₁ quantiles."""
        return 2.0 * (self.loglik_max - self.loglik)

    @property
    def flat(self) -> bool:
        """Whether the profile stays within 1e-6 of the maximum over the whole grid."""
        return bool(np.all(self.deviance < 1e-6))


def _check_alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
            or not (0 < alpha < 1):
        raise SymmleValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


def profile(result, param, *, values=None, n_points: int = 21, width: float = 4.0,
            tol: float = 1e-8) -> Profile:
    """Profile log-likelihood of one parameter, re-optimising all the others.

    Parameters
    ----------
    result : FitResult
        From `symmle.fit` (it keeps X and y).
    param : str or int
        The parameter's name or index.
    values : array_like, optional
        The grid of values of the parameter; default ``n_points`` values over
        θ̂ ± ``width`` standard errors (± ``width · 0.25 (1 + |θ̂|)`` when the
        standard error is not finite).
    n_points : int
    width : float
    tol : float
        Gradient tolerance of the inner L-BFGS-B maximisations (mean log-likelihood).

    Returns
    -------
    Profile

    Examples
    --------
    >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    >>> X, y = model.simulate(np.array([1.0, -0.5]), n=300, rng=0)
    >>> res = sm.fit(model, X, y, rng=0)
    >>> pr = sm.profile(res, "W1_1_1", n_points=5)
    >>> bool(pr.deviance.min() < 1e-6), bool(pr.deviance[0] > 1), pr.flat
    (True, True, False)
    """
    model, theta_hat, X, y = _result_parts(result)
    i = _param_index(model, param)
    tol = _check_rtol(tol, "tol")
    pr = _Profiler(model, theta_hat, X, y, i, tol)
    if values is None:
        if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
            raise SymmleValueError(f"n_points must be an integer >= 2, got {n_points!r}")
        se = _stderr(result, i)
        half = width * (se if np.isfinite(se) and se > 0 else 0.25 * (1 + abs(theta_hat[i])))
        values = np.linspace(theta_hat[i] - half, theta_hat[i] + half, int(n_points))
        values = np.sort(np.concatenate([values, [theta_hat[i]]]))
        values = np.unique(values)
    else:
        values = np.unique(np.asarray(values, dtype=float))
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise SymmleValueError("values must be a non-empty 1-D array of finite numbers")
    ll_hat = pr(theta_hat[i])
    # solve outwards from the estimate so each point warm-starts from its neighbour
    order = np.argsort(np.abs(values - theta_hat[i]), kind="stable")
    for t in values[order]:
        pr(t)
    ll = np.array([pr.solved[float(t)][0] for t in values])
    thetas = np.array([pr.solved[float(t)][1] for t in values])
    ll_max = max(ll_hat, float(result.loglik))
    if ll.max() > ll_max + 1e-6 * max(1.0, abs(ll_max)):
        warnings.warn(f"the profile of {model.param_names[i]} exceeds the fitted log-likelihood "
                      f"by {ll.max() - ll_max:.3g}: the fit did not reach the maximum",
                      ConvergenceWarning, stacklevel=2)
    return Profile(param=model.param_names[i], index=i, estimate=float(theta_hat[i]),
                   loglik_max=ll_max, values=values, loglik=ll, params=thetas)


def _stderr(result, i) -> float:
    F = np.asarray(result.information, dtype=float)
    try:
        C = np.linalg.inv(F)
    except np.linalg.LinAlgError:
        return math.nan
    v = C[i, i]
    return math.sqrt(v) if np.isfinite(v) and v > 0 and np.linalg.cond(F) < 1e12 else math.nan


def _side(pr: _Profiler, t_hat, ll_hat, crit, direction, h0, max_steps):
    """Bound of the interval on one side, or ±inf when the profile stays below the cut."""
    def dev(t):
        return 2.0 * (ll_hat - pr(t)) - crit

    inner, step = t_hat, h0
    for _ in range(max_steps):
        outer = t_hat + direction * step
        if dev(outer) > 0:
            a, b = sorted((inner, outer))
            return so.brentq(dev, a, b, xtol=1e-10 * max(1.0, abs(t_hat)), rtol=1e-10)
        inner, step = outer, step * 2.0
    return direction * math.inf


def profile_conf_int(result, alpha: float = 0.05, params=None, *, max_steps: int = 25,
                     tol: float = 1e-8) -> np.ndarray:
    """Profile-likelihood confidence intervals: ``{t : 2(ℓ(θ̂) - ℓ_p(t)) ≤ χ²₁(1 - α)}``.

    Each side steps outward from θ̂ (doubling the step) until the profile
    deviance crosses the χ²₁ quantile, then finds the crossing by Brent's
    method; a side that never crosses within ``max_steps`` doublings is
    unbounded (``±inf``), a direction the data do not identify.

    Parameters
    ----------
    result : FitResult
    alpha : float
        Level ``1 - alpha``.
    params : sequence of str or int, optional
        Which parameters; all when None.
    max_steps : int
        Step doublings per side before the side is declared unbounded (from a
        first step of one standard error, or ``0.1 (1 + |θ̂|)`` when that is not
        finite).
    tol : float
        Gradient tolerance of the inner maximisations.

    Returns
    -------
    ndarray, shape (len(params), 2)

    Warns
    -----
    NonIdentifiableWarning
        Naming the parameters whose interval is unbounded.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    >>> X, y = model.simulate(np.array([1.0, -0.5]), n=300, rng=0)
    >>> res = sm.fit(model, X, y, rng=0)
    >>> ci = sm.profile_conf_int(res, 0.05)
    >>> ci.shape, bool(np.all(ci[:, 0] < res.params)), bool(np.all(res.params < ci[:, 1]))
    ((2, 2), True, True)
    """
    model, theta_hat, X, y = _result_parts(result)
    alpha = _check_alpha(alpha)
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise SymmleValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    tol = _check_rtol(tol, "tol")
    idx = list(range(model.n_params)) if params is None else [
        _param_index(model, p) for p in (params if isinstance(params, (list, tuple, np.ndarray))
                                         else [params])]
    crit = float(st.chi2.ppf(1.0 - alpha, df=1))
    out = np.empty((len(idx), 2))
    unbounded = []
    for k, i in enumerate(idx):
        pr = _Profiler(model, theta_hat, X, y, i, tol)
        t_hat = float(theta_hat[i])
        ll_hat = max(pr(t_hat), float(result.loglik))
        se = _stderr(result, i)
        h0 = se if np.isfinite(se) and se > 0 else 0.1 * (1.0 + abs(t_hat))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = _side(pr, t_hat, ll_hat, crit, -1.0, h0, int(max_steps))
            hi = _side(pr, t_hat, ll_hat, crit, +1.0, h0, int(max_steps))
        out[k] = lo, hi
        if not (np.isfinite(lo) and np.isfinite(hi)):
            unbounded.append(model.param_names[i])
    if unbounded:
        warnings.warn(f"the profile likelihood is flat (unbounded interval) for "
                      f"{', '.join(unbounded)}: these directions are not identified by the data",
                      NonIdentifiableWarning, stacklevel=2)
    return out


# =================================================== optimum landscape
@dataclass(frozen=True, eq=False)
class OptimaClusters:
    """Optima grouped modulo the discrete symmetry group (`cluster_optima`).

    Attributes
    ----------
    labels : ndarray of int, shape (m,)
        Cluster of each optimum; clusters are numbered best log-likelihood first.
    representatives : ndarray, shape (k, P)
        The best optimum of each cluster.
    counts : ndarray of int, shape (k,)
    logliks : ndarray, shape (k,)
        Each representative's log-likelihood (NaN when not known).
    tol : float
    """

    labels: np.ndarray
    representatives: np.ndarray = field(repr=False)
    counts: np.ndarray
    logliks: np.ndarray
    tol: float

    @property
    def n_clusters(self) -> int:
        return int(self.counts.size)

    def __str__(self) -> str:
        m = int(self.counts.sum())
        lines = [f"{self.n_clusters} distinct local optim{'um' if self.n_clusters == 1 else 'a'} "
                 f"modulo the symmetry group (from {m} optima, orbit-distance tolerance "
                 f"{self.tol:g})"]
        for j, (c, ll) in enumerate(zip(self.counts, self.logliks)):
            extra = f", loglik {ll:.6g}" if np.isfinite(ll) else ""
            lines.append(f"  {j + 1}. {c} optim{'um' if c == 1 else 'a'}{extra}")
        return "\n".join(lines)


def cluster_optima(result_or_params, arch=None, *, tol: float = 1e-3, logliks=None) -> OptimaClusters:
    """Group optima that are the same point modulo the discrete symmetry group.

    Parameters
    ----------
    result_or_params : FitResult or array_like, shape (m, P)
        A multi-start fit (its ``starts``' end points, failed ones skipped) or
        a stack of parameter vectors.
    arch : Architecture or Model, optional
        Needed with an array; defaults to the FitResult's model. With a Model,
        the family's own parameters are compared directly.
    tol : float
        Two optima are the same when their orbit distance is at most
        ``tol · max(1, ‖representative‖)``.
    logliks : array_like, shape (m,), optional
        Log-likelihoods of the optima (taken from the FitResult otherwise);
        the best optimum of each cluster becomes its representative.

    Returns
    -------
    OptimaClusters

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> theta = np.random.default_rng(0).standard_normal(13)
    >>> copies = np.array([g(theta) for g in sm.symmetry_group(arch).elements()])
    >>> cl = sm.cluster_optima(copies, arch)
    >>> len(copies), cl.n_clusters
    (48, 1)
    >>> print(cl)
    1 distinct local optimum modulo the symmetry group (from 48 optima, orbit-distance tolerance 0.001)
      1. 48 optima
    """
    from .fitting import FitResult
    from .symmetry import orbit_distance

    tol = _check_tol(tol)
    if isinstance(result_or_params, FitResult):
        model = result_or_params.model
        arch = model if arch is None else arch
        starts = [s for s in result_or_params.starts if np.isfinite(s.loglik)]
        params = np.array([s.params for s in starts])
        if logliks is None:
            logliks = [s.loglik for s in starts]
    else:
        if arch is None:
            raise SymmleValueError("arch is needed when result_or_params is an array of θ")
        params = result_or_params
    a, model = _as_arch(arch)
    P = model.n_params if model is not None else a.n_params
    params = a.check_theta(params, name="result_or_params", n_params=P)
    params = np.atleast_2d(params)
    if params.ndim != 2:
        raise SymmleValueError(f"result_or_params must have shape (m, {P})")
    m = params.shape[0]
    if logliks is None:
        ll = np.full(m, np.nan)
    else:
        ll = np.asarray(logliks, dtype=float)
        if ll.shape != (m,):
            raise SymmleValueError(f"logliks must have shape ({m},), got {ll.shape}")
    Pn = a.n_params
    order = np.argsort(np.where(np.isnan(ll), -np.inf, -ll), kind="stable")
    reps, labels, members = [], np.empty(m, dtype=np.intp), []
    for j in order:
        th = params[j]
        for c, r in enumerate(reps):
            d = math.hypot(orbit_distance(a, th[:Pn], r[:Pn]), float(np.linalg.norm(th[Pn:] - r[Pn:])))
            if d <= tol * max(1.0, float(np.linalg.norm(r))):
                labels[j] = c
                members[c] += 1
                break
        else:
            labels[j] = len(reps)
            reps.append(th)
            members.append(1)
    rep_ll = np.array([ll[np.flatnonzero(labels == c)].max() if not np.all(np.isnan(
        ll[labels == c])) else np.nan for c in range(len(reps))])
    return OptimaClusters(labels=labels, representatives=np.array(reps),
                          counts=np.array(members, dtype=np.intp), logliks=rep_ll, tol=tol)
