"""The identifiability report: `identifiability` and `IdentifiabilityReport`.

The rank of the Fisher information at θ, its null space in words, and whether the known
symmetries explain it (Rothenberg 1971: θ is locally identifiable iff the information is
nonsingular), optionally with an exact rank (`symmle.identifiability._exact`).

Numerical rank convention: the library's one information rule
(`symmle._information.information_rank`), the same that `FitResult` and the consistency study
use, so that they agree at the same θ and X: the Fisher information of the rows of X is
equilibrated (``S F S`` with ``S = diag(1/√F_ii)``, so the answer does not depend on the
parameters' units) and the singular values of its root ``W^{1/2} J`` (from θ and X) are
compared with ``RANK_RTOL · max`` (``RANK_RTOL = ROOT_RTOL = 1e-8``, eigenvalues at ``1e-16``:
seven orders above the rounding level of a computed root).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

from .._checks import as_rng, check_int, check_real
from .._information import ROOT_RTOL, information_rank
from ..fitting._root import information_root
from ..architecture import Architecture
from ..display import format_count, html_report
from ..errors import SymmleTypeError, SymmleValueError
from ..model import Model
from ..symmetry import continuous_symmetries, symmetry_group
from ._exact import compute_exact_rank
from ._reduction import REDUCE_TOL, check_vector, reduction_reasons

__all__ = ["identifiability", "IdentifiabilityReport", "RANK_RTOL"]

#: relative tolerance on the eigenvalues of the equilibrated information (the information rule's).
RANK_RTOL = ROOT_RTOL
#: a null-space direction's entries below this fraction of its largest are not named.
_WORD_TOL = 0.05
#: rows drawn when no X is given: max(_MIN_ROWS, _ROWS_PER_PARAM · P), so many more rows than
#: parameters that a rank drop at random N(0, I) inputs is the model's, not the sample's.
_MIN_ROWS = 500
_ROWS_PER_PARAM = 20


def check_model(model, name="model") -> Model:
    """``model`` if it is a `Model`, else `SymmleTypeError`."""
    if not isinstance(model, Model):
        raise SymmleTypeError(f"{name} must be a Model (sm.Model(arch, family)), "
                              f"got {type(model).__name__}")
    return model


def _fmt(v: float) -> str:
    return f"{v:+.3g}"


# ======================================================= information rank
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
        Square roots of the eigenvalues of the equilibrated information, descending (the
        singular values of the column-equilibrated ``W^{1/2} J``).
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
    identified : ndarray of bool
        The parameters with no component along the null space (the information rule's mask,
        the same as `FitResult.identified` at this θ and X).
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
    identified: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        for name in ("theta", "singular_values", "null_space"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        mask = (np.linalg.norm(self.null_space, axis=1) == 0 if self.identified is None
                else np.array(self.identified, dtype=bool))
        mask.flags.writeable = False
        object.__setattr__(self, "identified", mask)
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
                 ("discrete symmetry group", f"order {format_count(self.group_order)}", ()),
                 ("continuous symmetries", f"dimension {self.continuous_dim}", ()),
                 ("Fisher information rank", f"{self.fisher_rank} of {self.n_params}"
                  f"  ({self.n_rows} rows; relative tolerance {self.rtol:g} on the singular "
                  f"values of the equilibrated information's root)", ())]
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
                       f"up to the {format_count(self.group_order)} discrete symmetries)")
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
    model = check_model(model)
    arch = model.architecture
    rtol = check_real(rtol, "rtol", minimum=0.0, maximum=1.0, strict_minimum=True,
                      strict_maximum=True)
    tol = check_real(tol, "tol", minimum=0.0)
    rng = as_rng(rng)
    generic = theta is None
    theta = model.random_params(rng) if generic else check_vector(arch, model, theta)
    P, Pn = model.n_params, model.n_network_params
    if X is None:
        if n_rows is None:
            n_rows = max(_MIN_ROWS, _ROWS_PER_PARAM * P)
        n_rows = check_int(n_rows, "n_rows", 1)
        X = rng.standard_normal((n_rows, arch.n_inputs))
    else:
        X = arch.check_X(X)
    n = X.shape[0]

    verdict = information_rank(None, root=information_root(model, theta, X), rtol=rtol)
    rank, N = verdict.rank, verdict.null_space
    s = np.sqrt(np.clip(verdict.eigenvalues, 0.0, None))
    C = continuous_symmetries(model, theta)
    k = C.shape[1]
    order = int(symmetry_group(arch).order)
    reasons = tuple(reduction_reasons(arch, theta[:Pn], tol))

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
        exact_rank, exact_note = compute_exact_rank(model, None if generic else theta, rng)
    return IdentifiabilityReport(
        model=model, theta=theta, generic=generic, n_rows=n, n_params=P, group_order=order,
        continuous_dim=k, fisher_rank=rank, rtol=rtol, singular_values=s, null_space=B,
        null_space_words=tuple(words), explained=explained, explanation=explanation,
        locally_identifiable=rank == P, reducible=reasons, exact_rank=exact_rank,
        exact_note=exact_note, identified=verdict.identified)


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
