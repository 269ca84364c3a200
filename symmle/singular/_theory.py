"""Exact learning coefficients: `rrr_learning_coefficient` and `learning_coefficient_theory`.

The learning coefficient λ (the real log canonical threshold of the population KL divergence
``K(θ)`` at the truth) and its multiplicity m give the Bayes free energy
``F_n = n L_n(θ*) + λ log n − (m − 1) log log n + O_p(1)`` and the Bayes generalisation error
``E[G_n] = λ/n + o(1/n)`` (Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*,
Cambridge University Press). This module holds the cases where λ and m are known in closed form:

* a regular truth (irreducible, nonsingular information): ``λ = d/2``, ``m = 1``;
* reduced-rank regression — a bias-free network with one hidden layer of identity units, of
  any true rank (Aoyagi & Watanabe 2005, Neural Networks 18:924–933, their main theorem, all
  four cases);
* a one-input, one-output, bias-free network of H odd units (tanh, erf) with a zero true
  function — a Vandermonde matrix-type singularity (Aoyagi 2019, Entropy 21(6):561, the
  exact value for one input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.matrices import DomainMatrix

from .._checks import as_rng, check_int
from ..errors import SymmleTypeError, SymmleValueError
from ..identifiability import identifiability, is_reducible
from ..model import Model

__all__ = [
    "LearningCoefficient",
    "rrr_learning_coefficient",
    "learning_coefficient_theory",
    "exact_entries",
    "REGULAR_REFERENCE",
    "RRR_REFERENCE",
    "ODD_1H1_REFERENCE",
    "odd_1h1_learning_coefficient",
    "rank_r_truth",
]

RRR_REFERENCE = ("Aoyagi, M. & Watanabe, S. (2005). Stochastic complexities of reduced rank "
                 "regression in Bayesian estimation. Neural Networks 18(7):924-933, Main Theorem")
REGULAR_REFERENCE = ("Schwarz, G. (1978). Estimating the dimension of a model. Ann. Statist. "
                     "6(2):461-464; Watanabe, S. (2009). Algebraic Geometry and Statistical "
                     "Learning Theory, Cambridge University Press, Sect. 6")

ODD_1H1_REFERENCE = ("Aoyagi, M. (2019). Learning coefficient of Vandermonde matrix-type "
                     "singularities in model selection. Entropy 21(6):561, Section 4 (one input, "
                     "after Aoyagi, Int. J. Pure Appl. Math. 52 (2009) 177-204)")

#: The seed of the random inputs on which `learning_coefficient_theory` certifies the rank of
#: the information (fixed, so that the verdict on one (model, θ) never changes between calls).
_INFORMATION_SEED = 0


@dataclass(frozen=True)
class LearningCoefficient:
    """An exact learning coefficient: ``λ``, its multiplicity ``m``, which case, and where from.

    Unpacks as ``lambda_, multiplicity, case = record`` and compares equal to that 3-tuple
    (and to the 2-tuple ``(lambda_, multiplicity)``).

    Attributes
    ----------
    lambda_ : fractions.Fraction
        The learning coefficient (real log canonical threshold).
    multiplicity : int
        Its order ``m`` (the Bayes free energy has ``−(m − 1) log log n``).
    case : str
        ``"regular"``, ``"rrr"`` followed by the theorem's case
        (``"rrr case 1 (even)"``, ``"rrr case 1 (odd)"``, ``"rrr case 2"`` … ``"rrr case 4"``),
        or ``"1-H-1 odd, zero truth"``.
    reference : str
        The theorem the value comes from.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from symmle.singular import LearningCoefficient, RRR_REFERENCE
    >>> rec = LearningCoefficient(Fraction(13, 2), 2, "rrr case 1 (odd)", RRR_REFERENCE)
    >>> lam, m, case = rec
    >>> lam, m
    (Fraction(13, 2), 2)
    >>> rec == (Fraction(13, 2), 2)
    True
    >>> float(rec)
    6.5
    """

    lambda_: Fraction
    multiplicity: int
    case: str
    reference: str = ""

    def __iter__(self):
        return iter((self.lambda_, self.multiplicity, self.case))

    def __len__(self):
        return 3

    def __eq__(self, other):
        if isinstance(other, LearningCoefficient):
            return tuple(self) == tuple(other) and self.reference == other.reference
        if isinstance(other, tuple) and len(other) in (2, 3):
            return tuple(self)[:len(other)] == other
        return NotImplemented

    def __hash__(self):
        return hash(tuple(self))

    def __float__(self):
        return float(self.lambda_)

    def __repr__(self):
        return (f"LearningCoefficient(lambda_={self.lambda_}, multiplicity={self.multiplicity}, "
                f"case={self.case!r})")

    def summary(self, n_params: int | None = None) -> str:
        """One line: λ exactly and as a decimal, m, the case and the reference; with
        ``n_params``, the regular theory's d/2 for comparison.

        Examples
        --------
        >>> from symmle.singular import rrr_learning_coefficient, LearningCoefficient
        >>> rec = LearningCoefficient(*rrr_learning_coefficient(5, 5, 3, 0), "rrr case 1 (odd)")
        >>> print(rec.summary(30))
        λ = 13/2 = 6.5, multiplicity m = 2   (case: rrr case 1 (odd)); a regular model would have d/2 = 15
        """
        where = f"case: {self.case}" + (f"; {self.reference}" if self.reference else "")
        text = (f"λ = {self.lambda_} = {float(self.lambda_):.6g}, multiplicity m = "
                f"{self.multiplicity}   ({where})")
        if n_params is not None:
            text += f"; a regular model would have d/2 = {check_int(n_params, 'n_params', 0) / 2:g}"
        return text


def _rrr(M: int, N: int, H: int, r: int) -> tuple[Fraction, int, str]:
    """The Main Theorem of Aoyagi & Watanabe (2005): (λ, m, case) for M inputs, N outputs,
    H hidden units and true rank r (arguments already checked)."""
    if N + r <= M + H and M + r <= N + H and H + r <= M + N:
        numerator = 2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2
        if (M + H + N + r) % 2 == 0:
            return Fraction(numerator, 8), 1, "rrr case 1 (even)"
        return Fraction(numerator + 1, 8), 2, "rrr case 1 (odd)"
    if M + H < N + r:
        return Fraction(H * M - H * r + N * r, 2), 1, "rrr case 2"
    if N + H < M + r:
        return Fraction(H * N - H * r + M * r, 2), 1, "rrr case 3"
    # the three conditions of case 1 fail and not the first two: M + N < H + r
    return Fraction(M * N, 2), 1, "rrr case 4"


def _check_rrr(M, N, H, r) -> tuple[int, int, int, int]:
    M = check_int(M, "M", 1)
    N = check_int(N, "N", 1)
    H = check_int(H, "H", 1)
    r = check_int(r, "r", 0)
    if r > min(M, N, H):
        raise SymmleValueError(
            f"r must be at most min(M, N, H) = {min(M, N, H)} (the rank of the true N×M matrix "
            f"B·A, with A of shape H×M), got r={r} for M={M}, N={N}, H={H}")
    return M, N, H, r


def rrr_learning_coefficient(M, N, H, r) -> tuple[Fraction, int]:
    """The learning coefficient of reduced-rank regression, exactly (Aoyagi & Watanabe 2005).

    The model is ``y = B A x + ε`` with ``A`` of shape ``H × M`` and ``B`` of shape ``N × H``
    (``sm.mlp(M, H, N, activation="identity", bias=False)`` with Gaussian noise), the true
    product ``B₀A₀`` has rank ``r``, the inputs have a positive-definite second-moment matrix
    and the prior is positive and bounded near the truth. Their Main Theorem:

    * case 1, ``N + r ≤ M + H``, ``M + r ≤ N + H`` and ``H + r ≤ M + N``:
      ``λ = (2(H + r)(M + N) − (M − N)² − (H + r)²) / 8`` and ``m = 1`` when
      ``M + H + N + r`` is even; ``λ = (2(H + r)(M + N) − (M − N)² − (H + r)² + 1) / 8`` and
      ``m = 2`` when it is odd;
    * case 2, ``M + H < N + r``: ``λ = (HM − Hr + Nr)/2``, ``m = 1``;
    * case 3, ``N + H < M + r``: ``λ = (HN − Hr + Mr)/2``, ``m = 1``;
    * case 4, ``M + N < H + r``: ``λ = MN/2``, ``m = 1``.

    Parameters
    ----------
    M : int
        Input dimension (at least 1).
    N : int
        Output dimension (at least 1).
    H : int
        Hidden units (at least 1).
    r : int
        Rank of the true matrix ``B₀A₀``, ``0 ≤ r ≤ min(M, N, H)``.

    Returns
    -------
    (fractions.Fraction, int)
        λ and its multiplicity m.

    Raises
    ------
    SymmleTypeError
        An argument that is not an integer.
    SymmleValueError
        ``M``, ``N`` or ``H`` below 1, ``r`` below 0 or above ``min(M, N, H)``.

    Notes
    -----
    Note the argument order (M, N, H, r): inputs, outputs, then the hidden width (the network
    itself is written ``mlp(M, H, N)``). With ``H = r`` (no redundant unit) the model is
    regular on the manifold of rank-r matrices: ``λ = r(M + N − r)/2``, ``m = 1``. The noise
    level does not enter; an estimated σ adds 1/2 (`learning_coefficient_theory`).

    References
    ----------
    Aoyagi, M. & Watanabe, S. (2005). Stochastic complexities of reduced rank regression in
    Bayesian estimation. Neural Networks 18(7):924–933.

    Examples
    --------
    >>> from symmle.singular import rrr_learning_coefficient
    >>> rrr_learning_coefficient(5, 5, 3, 0)
    (Fraction(13, 2), 2)
    >>> rrr_learning_coefficient(6, 6, 4, 3)
    (Fraction(15, 1), 2)
    >>> rrr_learning_coefficient(4, 8, 3, 0)
    (Fraction(6, 1), 1)
    """
    lam, m, _ = _rrr(*_check_rrr(M, N, H, r))
    return lam, m


def odd_1h1_learning_coefficient(H) -> tuple[Fraction, int]:
    """λ and m of a one-input, one-output network of H odd units at a zero truth (Aoyagi 2019).

    The model is ``y = Σ_h a_h σ(b_h x) + ε`` with σ odd and analytic with nonzero odd Taylor
    coefficients (tanh, erf), no biases, and the true function is zero. Near the truth
    ``K(a, b)`` is equivalent to ``Σ_p (Σ_h a_h b_h^{2p−1})²``, the Vandermonde matrix-type
    singularity of Aoyagi (2019) with one input, one output and ``Q = 2``; her exact value
    for one input, ``λ = (MQk(k + 1) + 2H) / (4(1 + kQ))`` with
    ``k = max{i : 2H ≥ M(i(i − 1)Q + 2i)}`` and ``m = 2`` exactly at equality, gives with
    ``M = 1, Q = 2``:

    ``λ = (H + k² + k) / (4k + 2)``, ``k = ⌊√H⌋``, ``m = 2`` if ``H = k²`` else 1.

    Parameters
    ----------
    H : int
        Hidden units (at least 1).

    Returns
    -------
    (fractions.Fraction, int)
        λ and its multiplicity m.

    Notes
    -----
    Only the first H odd coefficients of σ matter: for ``p > H`` the generator
    ``Σ_h a_h b_h^{2p−1}`` lies in the ideal of the first H (each ``b_h²`` is a root of
    ``Π_h (t − b_h²)``, so ``b_h^{2p−1}`` reduces to lower odd powers with coefficients
    symmetric in the ``b²``). Singular learning theory needs K analytic near the truth:
    true for inputs with compact support, and for erf units with Gaussian inputs (K is the
    closed form of `population_kl`); for tanh units with Gaussian inputs K is smooth but not
    analytic at the origin (tanh has poles at ``±iπ/2``), outside the theorem's hypotheses.
    H = 1 checks by hand: ``K ≍ a²b²``, λ = 1/2, m = 2.

    References
    ----------
    Aoyagi, M. (2019). Learning coefficient of Vandermonde matrix-type singularities in model
    selection. Entropy 21(6):561.

    Examples
    --------
    >>> from symmle.singular import odd_1h1_learning_coefficient
    >>> [odd_1h1_learning_coefficient(H) for H in (1, 2, 3, 4)]
    [(Fraction(1, 2), 2), (Fraction(2, 3), 1), (Fraction(5, 6), 1), (Fraction(1, 1), 2)]
    """
    H = check_int(H, "H", 1)
    k = math.isqrt(H)
    return Fraction(H + k * k + k, 4 * k + 2), 2 if H == k * k else 1


def exact_entries(theta_in, theta: np.ndarray) -> list:
    """θ as exact sympy Rationals: integers, Fractions and sympy Rationals as they are, floats
    by their shortest decimal ``repr`` (0.1 is 1/10, the number that was typed)."""
    try:
        raw = list(theta_in)
    except TypeError:
        raw = list(theta)
    if len(raw) != len(theta):
        raw = list(theta)
    out = []
    for given, value in zip(raw, theta):
        if isinstance(given, (int, np.integer)) and not isinstance(given, (bool, np.bool_)):
            out.append(sp.Integer(int(given)))
        elif isinstance(given, Fraction):
            out.append(sp.Rational(given.numerator, given.denominator))
        elif isinstance(given, sp.Rational):
            out.append(given)
        else:
            out.append(sp.Rational(repr(float(value))))
    return out


def _check_model_theta(model, theta):
    if not isinstance(model, Model):
        raise SymmleTypeError(
            f"model must be a Model (sm.Model(sm.mlp(...), family)), got {type(model).__name__}")
    if isinstance(theta, (str, bytes)):
        raise SymmleTypeError(f"theta must be a vector of numbers, got {type(theta).__name__}")
    values = model.check_theta(theta, name="theta")
    if values.ndim != 1:
        raise SymmleValueError(
            f"theta must be one vector of length {model.n_params}, got shape {values.shape}")
    return values


def _all_bias_free(arch) -> bool:
    return not any(arch.graph.nodes[v].get("bias", False)
                   for v in arch.hidden_nodes + arch.output_nodes)


def _is_rrr(model) -> bool:
    arch = model.architecture
    widths = arch.widths
    return (model.family.name == "gaussian" and widths is not None and len(widths) == 3
            and _all_bias_free(arch)
            and all(arch.activation_of(v).linear for v in arch.hidden_nodes + arch.output_nodes))


def _exact_rank(rows: list[list]) -> int:
    if not rows or not rows[0]:
        return 0
    return DomainMatrix([[QQ(int(q.p), int(q.q)) for q in row] for row in rows],
                        (len(rows), len(rows[0])), QQ).rank()


def _true_rank(model, theta_in, theta) -> int:
    """The exact rank of ``W2·W1`` at the truth (rational arithmetic)."""
    arch = model.architecture
    exact = exact_entries(theta_in, theta)
    # positions of θ's entries in the layers' (W, b): unflatten of 1…P
    (W1_pos, _), (W2_pos, _) = arch.unflatten(np.arange(1.0, arch.n_params + 1.0))
    W1 = sp.Matrix(W1_pos.shape[0], W1_pos.shape[1],
                   lambda i, j: exact[int(W1_pos[i, j]) - 1])
    W2 = sp.Matrix(W2_pos.shape[0], W2_pos.shape[1],
                   lambda i, j: exact[int(W2_pos[i, j]) - 1])
    product = W2 * W1
    return _exact_rank([[sp.Rational(product[i, j]) for j in range(product.cols)]
                        for i in range(product.rows)])


def _analytic(model) -> bool:
    """Every unit's activation is real-analytic (not ReLU-like: positively homogeneous but not
    linear), as the regular theory needs a smooth K."""
    arch = model.architecture
    return not any(act.positively_homogeneous and not act.linear
                   for act in (arch.activation_of(v) for v in arch.hidden_nodes
                               + arch.output_nodes))


def _odd_coefficients_nonzero(act, H: int) -> bool:
    """σ is odd, analytic, not a polynomial, and its first H odd Taylor coefficients are
    nonzero (exact, from sympy's series)."""
    if (act.flip != (0, -1) or act.linear or act.positively_homogeneous
            or act.polynomial_degree is not None):
        return False
    z = sp.Symbol("z", real=True)
    try:
        series = sp.series(act.sympy(z), z, 0, 2 * H + 1).removeO()
    except Exception:   # an activation sympy cannot expand: not a known case
        return False
    return all(series.coeff(z, 2 * p - 1) != 0 for p in range(1, H + 1))


def _is_odd_1h1(model) -> bool:
    arch = model.architecture
    widths = arch.widths
    if not (model.family.name == "gaussian" and widths is not None and len(widths) == 3
            and widths[0] == 1 and widths[2] == 1 and _all_bias_free(arch)
            and all(arch.activation_of(v).linear for v in arch.output_nodes)):
        return False
    acts = {arch.activation_of(v).name for v in arch.hidden_nodes}
    return len(acts) == 1 and _odd_coefficients_nonzero(
        arch.activation_of(arch.hidden_nodes[0]), widths[1])


def _is_zero_function(model, theta_in, theta) -> bool:
    """``Σ_h a_h σ(b_h x) ≡ 0`` exactly: for an odd σ whose dilations ``σ(cx)``, c > 0, are
    linearly independent (tanh, erf), iff for every c > 0 the ``a_h sign(b_h)`` with
    ``|b_h| = c`` sum to zero (rational arithmetic on θ's entries)."""
    arch = model.architecture
    exact = exact_entries(theta_in, theta)
    (W1_pos, _), (W2_pos, _) = arch.unflatten(np.arange(1.0, arch.n_params + 1.0))
    sums: dict = {}
    for h in range(W1_pos.shape[0]):
        b = exact[int(W1_pos[h, 0]) - 1]
        a = exact[int(W2_pos[0, h]) - 1]
        if b != 0:
            sums[abs(b)] = sums.get(abs(b), 0) + a * sp.sign(b)
    return all(v == 0 for v in sums.values())


def learning_coefficient_theory(model, theta) -> LearningCoefficient | None:
    """The exact learning coefficient of ``model`` at the truth θ, where theory knows it.

    The cases, tried in this order:

    1. **Reduced-rank regression**: a Gaussian model on ``mlp(M, H, N, activation="identity",
       bias=False)``; the true rank r is the exact rank of ``W2·W1`` at θ (rational
       arithmetic on θ's entries, floats read by their decimal ``repr``), and λ, m are those
       of `rrr_learning_coefficient` — plus 1/2 when σ is estimated (``log_sigma`` is one more
       regular coordinate, orthogonal to the network's: λ adds, m stays).
    2. **One input, one output, H odd units, zero truth**: a Gaussian
       ``mlp(1, H, 1, activation=σ, bias=False)`` with σ odd, analytic, with nonzero first
       H odd Taylor coefficients (tanh, erf), whose function at θ is exactly zero:
       `odd_1h1_learning_coefficient` (Aoyagi 2019), plus 1/2 when σ is estimated.
    3. **Regular**: θ is irreducible (`symmle.is_reducible` is False), every activation is
       analytic, and the Fisher information at θ is *certified* nonsingular
       (`symmle.identifiability` verdict ``"identifiable"``, on standard normal inputs; the
       population information of any input law with a density is then nonsingular too):
       ``λ = d/2`` with d the rank of the information (all P parameters), ``m = 1``.

    Parameters
    ----------
    model : Model
    theta : array_like, shape (P,)
        The true parameter, the family's own included (``log_sigma`` when σ is estimated).

    Returns
    -------
    LearningCoefficient or None
        None when no known case applies (a singular truth of a nonlinear network, or an
        information that could not be certified nonsingular).

    Raises
    ------
    SymmleTypeError
        ``model`` is not a Model.
    ParamsError
        θ of the wrong length, or not finite.

    Notes
    -----
    The learning coefficient depends on the model *and* the truth, not on the prior as long
    as the prior is positive and bounded near the truth. For the zero truth of case 2 it is
    the learning coefficient of the whole true set, whose deepest point is the origin; the
    local coefficient at another point of that set (``a_h = 0``, ``b_h ≠ 0``) may be larger.

    Examples
    --------
    >>> from symmle.singular import learning_coefficient_theory
    >>> model = sm.Model(sm.mlp(5, 3, 5, activation="identity", bias=False), sm.Gaussian(1.0))
    >>> learning_coefficient_theory(model, np.zeros(30))
    LearningCoefficient(lambda_=13/2, multiplicity=2, case='rrr case 1 (odd)')
    >>> regular = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(1.0))
    >>> learning_coefficient_theory(regular, [0.5, -1.0])
    LearningCoefficient(lambda_=1, multiplicity=1, case='regular')
    >>> odd = sm.Model(sm.mlp(1, 3, 1, activation="tanh", bias=False), sm.Gaussian(1.0))
    >>> learning_coefficient_theory(odd, [0.5, -0.5, 0.0, 1.0, 1.0, 2.0])
    LearningCoefficient(lambda_=5/6, multiplicity=1, case='1-H-1 odd, zero truth')
    """
    values = _check_model_theta(model, theta)
    extra = model.n_params - model.n_network_params
    if _is_rrr(model):
        M, H, N = model.architecture.widths
        r = _true_rank(model, theta, values)
        lam, m, case = _rrr(M, N, H, r)
        if extra:
            lam += Fraction(extra, 2)
            case += " + estimated sigma"
        return LearningCoefficient(lam, m, case, RRR_REFERENCE)
    if _is_odd_1h1(model) and _is_zero_function(model, theta, values):
        lam, m = odd_1h1_learning_coefficient(model.architecture.widths[1])
        case = "1-H-1 odd, zero truth"
        if extra:
            lam += Fraction(extra, 2)
            case += " + estimated sigma"
        return LearningCoefficient(lam, m, case, ODD_1H1_REFERENCE)
    if not _analytic(model):
        return None
    if is_reducible(model.architecture, values[:model.n_network_params]):
        return None
    report = identifiability(model, values, rng=_INFORMATION_SEED)
    if report.verdict != "identifiable":
        return None
    return LearningCoefficient(Fraction(report.n_params, 2), 1, "regular", REGULAR_REFERENCE)


def rank_r_truth(widths, r, rng=0) -> np.ndarray:
    """θ of a bias-free linear ``mlp(M, H, N)`` whose product ``W2·W1`` has rank exactly r.

    The first r hidden units carry standard normal weights (generic: their product has rank
    r with probability one), the others are switched off (zero weights) — the truth of the
    reduced-rank regression case of `learning_coefficient_theory`.

    Parameters
    ----------
    widths : sequence of three int
        ``(M, H, N)``: inputs, hidden units, outputs, as the network is written.
    r : int
        The true rank, ``0 ≤ r ≤ min(M, H, N)``.
    rng : Generator, int or None

    Returns
    -------
    ndarray, shape (H·M + N·H,)
        In the parameter order of ``mlp(M, H, N, activation="identity", bias=False)``.

    Raises
    ------
    SymmleValueError
        Widths that are not three positive integers, or r out of range.

    Examples
    --------
    >>> from symmle.singular import rank_r_truth, learning_coefficient_theory
    >>> theta = rank_r_truth((5, 3, 5), 2, rng=0)
    >>> model = sm.Model(sm.mlp(5, 3, 5, activation="identity", bias=False), sm.Gaussian(1.0))
    >>> learning_coefficient_theory(model, theta)
    LearningCoefficient(lambda_=19/2, multiplicity=2, case='rrr case 1 (odd)')
    """
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) != 3:
        raise SymmleValueError(f"widths must be three integers (M, H, N), got {widths!r}")
    M, H, N = widths
    M, N, H, r = _check_rrr(M, N, H, r)
    gen = as_rng(rng)
    W1, W2 = np.zeros((H, M)), np.zeros((N, H))
    W1[:r] = gen.normal(size=(r, M))
    W2[:, :r] = gen.normal(size=(N, r))
    return np.concatenate([W1.ravel(), W2.ravel()])
