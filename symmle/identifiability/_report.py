"""The identifiability report: `identifiability` and `IdentifiabilityReport`.

The rank of the Fisher information at θ, its null space in words, and whether the known
symmetries explain it (Rothenberg 1971: θ is locally identifiable iff the information is
nonsingular), optionally with an exact rank (`symmle.identifiability._exact`).

Verdict: certified, not a cut (`symmle.identifiability._certify`): ``"identifiable"`` when
exact or interval arithmetic proves the information nonsingular, ``"not identifiable"`` when
known exact null directions (symmetries, exact reducibility, zero columns) or an exact rank
prove it singular, ``"undecided"`` otherwise (weakly identified: the report gives the smallest
singular values and the condition number). `IdentifiabilityReport.locally_identifiable` is
True, False or None accordingly.

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

from .._checks import as_real_array, as_rng, check_bool, check_int, check_real
from .._information import ROOT_RTOL, information_rank
from ..fitting._root import information_root
from ..architecture import Architecture
from ..display import format_count, html_report
from ..errors import ParamsError, SymmleTypeError, SymmleValueError
from ..model import Model
from ..symmetry import continuous_symmetries, symmetry_group
from ._certify import VERDICTS, certify_rank
from ._exact import compute_exact_rank
from ._reduction import (REDUCE_TOL, check_vector, pair_relation, reduction_reasons,
                         similar_pairs)

__all__ = ["identifiability", "IdentifiabilityReport", "RANK_RTOL"]

#: relative tolerance on the eigenvalues of the equilibrated information (the information rule's).
RANK_RTOL = ROOT_RTOL
#: a null-space direction's entries below this fraction of its largest are not named.
_WORD_TOL = 0.05
#: rows drawn when no X is given: max(_MIN_ROWS, _ROWS_PER_PARAM · P), so many more rows than
#: parameters that a rank drop at random N(0, I) inputs is the model's, not the sample's.
_MIN_ROWS = 500
_ROWS_PER_PARAM = 20
#: The most rows `identifiability` draws when asked (``n_rows``; or the default, if larger):
#: the rank settles long before, and 10¹² rows would be terabytes of X (refused, not hung).
MAX_ROWS = 10 ** 6
#: smallest singular values printed for an undecided verdict.
_N_SMALLEST = 3
#: two units whose incoming vectors agree (equal, opposite, proportional) to this relative
#: tolerance, but not to `REDUCE_TOL`, are named as nearly reducible (weak identification).
_NEAR_TOL = 1e-5
#: the screen of `similar_pairs` for nearly reducible pairs (unit-normalised vectors).
_NEAR_SCREEN = 1e-3


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
    locally_identifiable : bool or None
        Rothenberg (1971): True when the information is *certified* nonsingular at θ (θ is
        then identified in a neighbourhood; up to the finite group, globally, for Sussmann's
        networks), False when it is *certified* singular, None when neither could be
        certified (``verdict == "undecided"``).
    reducible : tuple of str
        Sussmann's reductions that `reduce` applies at θ (empty exactly when
        `is_reducible` is False).
    identified : ndarray of bool
        The parameters with no component along the null space (the information rule's mask,
        the same as `FitResult.identified` at this θ and X).
    exact_rank : int or None
        With ``exact=True``: the rank of the information computed exactly.
    exact_note : str
        How the exact rank was obtained, or why it could not be.
    verdict : str
        ``"identifiable"``, ``"not identifiable"`` or ``"undecided"`` (see the module docstring).
    certificate : str
        How the verdict is certified, or why it could not be.
    certified_rank : tuple of int
        ``(lower, upper)``: certified bounds on the rank of the information at θ and X.
    condition_number : float
        Largest over smallest singular value of the equilibrated root (inf when one is 0).
    unexplained_dim : int or None
        Null directions not explained by any known symmetry or reducibility: certified when
        the rank is (``certified_rank[0] == certified_rank[1]``), else numerical.
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
    locally_identifiable: bool | None
    reducible: tuple = ()
    exact_rank: int | None = None
    exact_note: str = ""
    identified: np.ndarray | None = field(default=None, repr=False)
    verdict: str = "undecided"
    certificate: str = ""
    certified_rank: tuple = (0, 0)
    condition_number: float = float("inf")
    unexplained_dim: int | None = None

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        def text(name):
            if not isinstance(getattr(self, name), str):
                raise SymmleTypeError(f"IdentifiabilityReport: {name} must be a str, got "
                                      f"{type(getattr(self, name)).__name__}")

        def texts(name):
            v = getattr(self, name)
            if not isinstance(v, (tuple, list)) or not all(isinstance(w, str) for w in v):
                raise SymmleTypeError(f"IdentifiabilityReport: {name} must be a tuple of str, "
                                      f"got {type(v).__name__}")
            put(name, tuple(v))

        def array(name, shape):
            arr = np.array(as_real_array(getattr(self, name), name=f"IdentifiabilityReport: "
                                         f"{name}", expected=f"an array of shape {shape}"))
            if shape is None:   # any vector
                shape = arr.shape if arr.ndim == 1 else ("k",)
            if arr.shape != shape:
                raise SymmleValueError(f"IdentifiabilityReport: {name} must have shape {shape}, "
                                       f"got {arr.shape}")
            arr.flags.writeable = False
            put(name, arr)

        def count(name, minimum=0, maximum=None, optional=False):
            v = getattr(self, name)
            if not (optional and v is None):
                put(name, check_int(v, f"IdentifiabilityReport: {name}", minimum,
                                    maximum=maximum))

        check_model(self.model, "IdentifiabilityReport: model")
        count("n_params", 1)
        P = self.n_params
        if P != self.model.n_params:
            raise SymmleValueError(f"IdentifiabilityReport: n_params must be the model's "
                                   f"{self.model.n_params}, got {P}")
        count("fisher_rank", 0, P)
        count("n_rows", 1)
        count("group_order", 1)
        count("continuous_dim", 0, P)
        count("exact_rank", 0, P, optional=True)
        count("unexplained_dim", 0, P, optional=True)
        array("theta", (P,))
        array("singular_values", None)
        array("null_space", (P, P - self.fisher_rank))
        for name in ("generic", "explained"):
            put(name, check_bool(getattr(self, name), f"IdentifiabilityReport: {name}"))
        for name in ("explanation", "exact_note", "certificate", "verdict"):
            text(name)
        texts("null_space_words")
        texts("reducible")
        put("rtol", check_real(self.rtol, "IdentifiabilityReport: rtol", minimum=0.0,
                               maximum=1.0, strict_minimum=True, strict_maximum=True))
        put("condition_number", check_real(self.condition_number,
                                           "IdentifiabilityReport: condition_number",
                                           minimum=0.0, finite=False))
        ranks = self.certified_rank
        if not isinstance(ranks, (tuple, list)) or len(ranks) != 2:
            raise SymmleTypeError(f"IdentifiabilityReport: certified_rank must be a pair "
                                  f"(lower, upper), got {type(ranks).__name__}")
        put("certified_rank", tuple(check_int(r, "IdentifiabilityReport: certified_rank", 0,
                                              maximum=P) for r in ranks))
        if self.identified is None:
            mask = np.linalg.norm(self.null_space, axis=1) == 0
        else:
            mask = np.array(self.identified)
            if mask.dtype != bool or mask.shape != (P,):
                raise SymmleValueError(f"IdentifiabilityReport: identified must be {P} booleans, "
                                       f"got dtype {mask.dtype} and shape {mask.shape}")
        mask.flags.writeable = False
        put("identified", mask)
        if self.verdict not in VERDICTS:
            raise SymmleValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.locally_identifiable is not None:
            put("locally_identifiable", check_bool(self.locally_identifiable,
                                                   "IdentifiabilityReport: locally_identifiable"))
        expected = {"identifiable": True, "not identifiable": False, "undecided": None}
        if self.locally_identifiable is not expected[self.verdict]:
            raise SymmleValueError(f"locally_identifiable must be "
                                   f"{expected[self.verdict]} when the verdict is "
                                   f"{self.verdict!r}")

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
        lo, hi = self.certified_rank
        if self.verdict == "identifiable":
            verdict = (f"yes (Rothenberg 1971: the information is nonsingular, certified; θ is "
                       f"identified up to the {format_count(self.group_order)} discrete "
                       f"symmetries)")
        elif self.verdict == "not identifiable":
            k = self.n_params - hi
            verdict = (f"no (Rothenberg 1971: the information is singular, certified: at least "
                       f"{k} unidentified direction{'s' if k != 1 else ''})")
        else:
            small = ", ".join(f"{v:.2g}" for v in self.singular_values[-_N_SMALLEST:][::-1])
            verdict = (f"undecided (weakly identified: smallest singular values {small}, "
                       f"condition number {self.condition_number:.2g}; neither singular nor "
                       f"nonsingular could be certified)")
        facts.append(("locally identifiable", verdict, ()))
        rank = f"rank {lo}" if lo == hi else f"rank between {lo} and {hi}"
        facts.append(("certificate", f"{rank}; {self.certificate}", ()))
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
    The verdict is certified (`symmle.identifiability._certify`): ``"identifiable"`` when the
    information at θ and X is proved nonsingular (exact rank over ℚ for networks of identity,
    ReLU, leaky-ReLU and monomial units; otherwise a minor or a Gram matrix of the equilibrated
    Jacobian proved nonsingular in ball arithmetic), ``"not identifiable"`` when it is proved
    singular (exact rank, or independent null directions that hold by a theorem: the known
    continuous symmetries, exact reducibility, exactly zero Jacobian columns, too few rows),
    ``"undecided"`` otherwise. A random θ that the sampled X makes special (a ReLU unit active
    on every row, or on fewer rows than it has parameters; nearly equal units) is reported so.

    With ``exact=True``, the exact rank is that of the stacked Jacobian ``∂η/∂θ`` at ``P + 5``
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
    ReLU, leaky ReLU, identity and monomial networks are rational throughout (a given
    float θ is then used exactly). Activations with logarithms or ``erf`` (softplus, erf)
    are refused. Ranks over ℚ need python-flint (``pip install 'symmle[exact]'``). For Categorical,
    the rows are centred (``W`` of the softmax has the all-ones kernel); the
    family's own parameters add their (full) rank.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(2, 3, 1, activation="tanh"), sm.Gaussian(sigma=1.0))
    >>> rep = sm.identifiability(model, rng=0)
    >>> rep.n_params, rep.group_order, rep.continuous_dim, rep.fisher_rank
    (13, 48, 0, 13)
    >>> rep.locally_identifiable, rep.verdict, rep.certified_rank
    (True, 'identifiable', (13, 13))
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
    exact = check_bool(exact, "exact")
    default_rows = max(_MIN_ROWS, _ROWS_PER_PARAM * P)
    given_X = X is not None
    if X is None:
        n_rows = check_int(default_rows if n_rows is None else n_rows, "n_rows", 1,
                           maximum=max(MAX_ROWS, default_rows))
        X = rng.standard_normal((n_rows, arch.n_inputs))
    else:
        X = arch.check_X(X)
    n = X.shape[0]

    info = information_rank(None, root=information_root(model, theta, X), rtol=rtol)
    if not info.finite:
        which = "this X" if given_X else "the sampled X"
        raise ParamsError(
            f"the Fisher information at theta is not finite for {which} (the family's weight "
            f"or ∂η/∂θ overflows float64: |η| up to {_max_abs_eta(model, theta, X):.3g}); "
            f"identifiability needs a theta (and X) where it is finite")
    rank, N = info.rank, info.null_space
    s = np.sqrt(np.clip(info.eigenvalues, 0.0, None))
    C = continuous_symmetries(model, theta)
    k = C.shape[1]
    order = int(symmetry_group(arch).order)
    reasons = tuple(reduction_reasons(arch, theta[:Pn], tol))
    cert = certify_rank(model, theta, X, rank, C, spectrum=s)
    lo, hi = cert.lower, cert.upper
    known = cert.known_dim + cert.extra_null
    if cert.decided:
        unexplained = max(0, P - lo - known)
    else:
        unexplained = max(0, P - rank - known)

    null_dim = P - rank
    if null_dim == k and _span_contains(N, C) and _span_contains(C, N):
        explained = True
        explanation = ("explained: it is the span of the known continuous symmetries" if k
                       else "none")
    else:
        explained = False
        why = []
        if cert.verdict == "identifiable":
            why.append(f"the information is certified nonsingular: these {null_dim} directions "
                       f"are weakly identified, not unidentified")
        elif unexplained:
            s_ = "s" if unexplained != 1 else ""
            if cert.decided:
                why.append(f"{unexplained} direction{s_} not explained by any known symmetry or "
                           f"reducibility (certified: the rank is {lo})")
            else:
                why.append(f"{unexplained} numerically null direction{s_} not explained by any "
                           f"known symmetry or reducibility (undecided: weakly identified or "
                           f"singular)")
        if null_dim < k:
            why.append(f"smaller than the {k} known continuous symmetries (rtol too large?)")
        elif k and not _span_contains(N, C):
            why.append("does not contain the known continuous symmetries (rtol too large?)")
        if reasons:
            why.append("θ is a singular (reducible) point: " + "; ".join(reasons))
        special = _data_reasons(arch, theta[:Pn], X) + _near_reasons(arch, theta[:Pn], tol)
        if special and generic:
            special[0] = "the random θ is special for this X: " + special[0]
        why.extend(special)
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
        Qc = np.linalg.qr(C)[0]       # once, not per direction
        inside = np.linalg.norm(B - Qc @ (Qc.T @ B), axis=0) <= 1e-6 * np.maximum(
            np.linalg.norm(B, axis=0), 1e-300)
        words = [w + (" [a known continuous symmetry]" if ok else "")
                 for w, ok in zip(words, inside)]

    exact_rank, exact_note = None, ""
    if exact:
        exact_rank, exact_note = compute_exact_rank(model, None if generic else theta, rng)
    ident = {"identifiable": True, "not identifiable": False, "undecided": None}[cert.verdict]
    cond = float(s[0] / s[-1]) if s.size and s[-1] > 0 else float("inf")
    return IdentifiabilityReport(
        model=model, theta=theta, generic=generic, n_rows=n, n_params=P, group_order=order,
        continuous_dim=k, fisher_rank=rank, rtol=rtol, singular_values=s, null_space=B,
        null_space_words=tuple(words), explained=explained, explanation=explanation,
        locally_identifiable=ident, reducible=reasons, exact_rank=exact_rank,
        exact_note=exact_note, identified=info.identified, verdict=cert.verdict,
        certificate=cert.describe(), certified_rank=(lo, hi), condition_number=cond,
        unexplained_dim=unexplained)


def _max_abs_eta(model, theta, X) -> float:
    """max |η| over the rows of X (inf or NaN when the forward pass overflows)."""
    with np.errstate(all="ignore"):
        eta = model.compile().linear_predictor(theta, X)
    return float(np.max(np.abs(eta), initial=0.0))


def _data_reasons(arch: Architecture, theta: np.ndarray, X: np.ndarray) -> list[str]:
    """Piecewise-linear units on one side of their kink on every row of X, or on all but
    fewer rows than they have incoming parameters."""
    out = []
    h = arch.forward(theta, X, units=True)
    n = X.shape[0]
    for v in arch.hidden_nodes:
        act = arch.activation_of(v)
        if act.positively_homogeneous and not act.linear:
            on = int(np.sum(h[v] > 0))
            n_in = arch.graph.in_degree(v) + int(v in arch.bias_index)
            if on == n:
                out.append(f"unit {v!r} is active on every row of X (affine on the data)")
            elif on == 0:
                out.append(f"unit {v!r} is inactive on every row of X")
            elif on < n_in:
                out.append(f"unit {v!r} is active on only {on} of {n} rows of X (its {n_in} "
                           f"incoming parameters need more)")
            elif n - on < n_in:
                out.append(f"unit {v!r} is inactive on only {n - on} of {n} rows of X (nearly "
                           f"affine on the data)")
    return out


def _near_reasons(arch: Architecture, theta: np.ndarray, tol: float) -> list[str]:
    """Units nearly (not exactly) reducible: nearly zero outgoing weights, nearly equal,
    opposite or proportional incoming vectors."""
    g, ei, bi = arch.graph, arch.edge_index, arch.bias_index
    out = []
    hidden = list(arch.hidden_nodes)
    scale = max(1.0, float(np.max(np.abs(theta), initial=0.0)))
    near = _NEAR_TOL * scale
    for v in hidden:
        w = np.array([theta[ei[(v, t)]] for t in g.successors(v)])
        if tol < np.max(np.abs(w)) <= near:
            out.append(f"unit {v!r} has nearly zero outgoing weights (max {np.max(np.abs(w)):.1g})")
    vectors = {v: {**{p: theta[ei[(p, v)]] for p in g.predecessors(v)},
                   None: theta[bi[v]] if v in bi else 0.0} for v in hidden}
    for u, v in similar_pairs(hidden, vectors, lambda v: g.nodes[v]["activation"], zero=near,
                              screen=_NEAR_SCREEN):
        preds = sorted(set(g.predecessors(u)) | set(g.predecessors(v)), key=str)
        xu = np.array([vectors[u].get(p, 0.0) for p in preds] + [vectors[u][None]])
        xv = np.array([vectors[v].get(p, 0.0) for p in preds] + [vectors[v][None]])
        act = arch.activation_of(u)
        rel = pair_relation(act, xu, xv, near)
        if rel is not None and pair_relation(act, xu, xv, tol) is None:
            out.append(f"units {u!r} and {v!r} have nearly {rel[3]} incoming weights and "
                       f"biases (to {near:.0e})")
    return out
