"""Certified bounds on the rank of the Fisher information at θ and X: `certify_rank`.

The numerical rank (`symmle._information`) is a cut at a tolerance; the verdict of
`symmle.identifiability` rests instead on two certified bounds ``lower ≤ rank ≤ upper``:

* **upper** — ``P`` minus the number of independent *known exact null directions*, which are
  null vectors of the Jacobian by a theorem, not by a tolerance: the continuous symmetries
  (`symmle.continuous_symmetries`: rescalings, the fibre of each identity block's matrix
  product — whose kernel dimension is checked in exact arithmetic — and the family's shift),
  the directions that exact reducibility opens (a unit with zero outgoing weights leaves its
  incoming ones free; equal, opposite or proportional units trade their outgoing weights, …;
  only relations that hold *exactly* in the floats count) and, for the data, parameters whose
  Jacobian column is exactly zero on every row; and the number of data rows. Their count is
  the rank of a float matrix whose entries are the exact directions up to rounding, taken at a
  singular-value cut ten orders of magnitude above that rounding (Weyl's inequality).
* **lower** — for a network of rational units (identity, ReLU, leaky ReLU, monomials) the rank
  of the Jacobian at the float θ and X *computed exactly* over ℚ (python-flint), so that
  ``lower = upper``; otherwise an interval-arithmetic certificate (python-flint ``arb`` balls,
  ``mpmath.iv`` without python-flint): on the complement ``Q`` of the known null directions (or
  the leading right singular vectors), a square minor of ``J̃Q`` (``J̃`` the column-equilibrated
  Jacobian, rows chosen by pivoted QR) is proved nonsingular — ``‖I - R·J̃Q‖_∞ < 1`` in ball
  arithmetic for a float approximate inverse ``R``, or its inverse in ball arithmetic — which
  bounds the smallest singular value of ``J̃Q`` (and of the whole equilibrated root: more rows
  only raise it) away from 0; with ``mpmath.iv``, an interval Cholesky factorisation of the
  Gram matrix of a few rows does the same.

The information is ``Σ_i J_iᵀ W_i J_i`` with the family's weight ``W_i`` positive definite at a
finite η (on the centred outputs for a shift-invariant family, whose rows are centred here), so
its rank is that of the stacked (centred) Jacobian; the family's own parameters (``log_sigma``)
add the rank of their closed-form block.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.linalg as sla

from ..symmetry._continuous import (fibre_block_is_small, linear_block_differential,
                                     linear_blocks)
from ._arith import (NotCertifiable, exact_numbers, flint_module, interval_numbers,
                     is_rational_network, jacobian_rows)
from ._nulls import reducibility_directions, unit_vector

__all__ = ["RankCertificate", "certify_rank", "VERDICTS"]

#: the three verdicts of a rank certificate.
VERDICTS = ("identifiable", "not identifiable", "undecided")

#: known null directions count at singular values above this fraction of the largest (their
#: entries are exact up to a few roundings, ~1e-16: ten orders of magnitude of margin).
_KNOWN_RTOL = 1e-6
#: a known direction whose equilibrated Jacobian image exceeds this relative size is dropped
#: (a guard: every known direction is a null vector by construction).
_NULL_CHECK = 1e-7
#: precisions (bits) tried in turn by the interval certificate.
_PRECISIONS = (128, 384)
#: the exact rank over ℚ is computed when the Jacobian has at most this many entries.
_MAX_EXACT_ENTRIES = 1_000_000
#: the interval certificate is attempted when rows × edges stays below this.
_MAX_INTERVAL_WORK = 4_000_000
#: up to this rank the certificate verifies the Gram matrix of _GRAM_ROWS × r rows (a better
#: bound than a square minor's, for m·r² more ball operations); above it, a square minor.
_MAX_GRAM_RANK = 200
_GRAM_ROWS = 4
#: the rows of a minor are chosen by pivoted QR among this many times as many rows.
_PIVOT_POOL = 4
#: target ranks above this are not certified (the minor costs r³ ball operations).
_MAX_CERTIFIED_RANK = 1000
#: a singular value below this fraction of the largest is beyond a float approximate inverse.
_FLOAT_RESOLUTION = 1e-14
#: a minor whose float inverse does not verify is inverted in ball arithmetic up to this size.
_MAX_ARB_INVERSE = 150
#: without python-flint (mpmath intervals, pure python matrices) only this many parameters.
_MAX_MPMATH_PARAMS = 40


@dataclass(frozen=True)
class RankCertificate:
    """Certified bounds on the rank of the Fisher information at θ and X.

    Attributes
    ----------
    lower, upper : int
        ``lower ≤ rank ≤ upper`` (the family's own parameters included).
    n_params : int
    known_dim : int
        Independent known exact null directions of the network part.
    exact : bool
        The rank was computed exactly (``lower == upper`` from exact arithmetic).
    sigma_lower : float or None
        The certified lower bound on the smallest singular value of the equilibrated root on
        the subspace certified (interval certificate only).
    lower_how, upper_how : str
        How each bound was obtained.
    known_words : tuple of str
        What the known null directions are.
    extra_null : int
        Null directions of the family's own block (0 for the families here).
    """

    lower: int
    upper: int
    n_params: int
    known_dim: int
    exact: bool
    sigma_lower: float | None
    lower_how: str
    upper_how: str
    known_words: tuple = ()
    extra_null: int = 0

    @property
    def verdict(self) -> str:
        """``"identifiable"`` (certified nonsingular), ``"not identifiable"`` (certified
        singular) or ``"undecided"``."""
        if self.lower == self.n_params:
            return "identifiable"
        if self.upper < self.n_params:
            return "not identifiable"
        return "undecided"

    @property
    def decided(self) -> bool:
        """Whether the rank itself is certified (``lower == upper``)."""
        return self.lower == self.upper

    def describe(self) -> str:
        """The certificate in one sentence."""
        if self.verdict == "identifiable":
            return f"nonsingular, certified: {self.lower_how}"
        if self.verdict == "not identifiable":
            rank = (f"rank {self.upper}" if self.decided
                    else f"rank between {self.lower} and {self.upper}")
            lower = self.lower_how if self.lower_how != self.upper_how else ""
            return f"singular, certified ({rank}): {self.upper_how}" + (
                f"; rank ≥ {self.lower}: {lower}" if lower and self.lower else "")
        return (f"not certified either way (rank between {self.lower} and {self.upper}): "
                f"{self.lower_how or 'no certificate of nonsingularity'}")


def _exact_rank(rows) -> int:
    """Rank over ℚ of a matrix of Fractions or fmpq (python-flint, else sympy's DomainMatrix)."""
    flint = flint_module()
    if not rows or not rows[0]:
        return 0
    if flint is not None:
        M = flint.fmpq_mat([[x if isinstance(x, flint.fmpq)
                             else flint.fmpq(x.numerator, x.denominator) for x in r]
                            for r in rows])
        # flint's rank is far faster on a tall matrix than on a wide one
        return (M if M.nrows() >= M.ncols() else M.transpose()).rank()
    from sympy import QQ
    from sympy.polys.matrices import DomainMatrix
    return DomainMatrix([[QQ(x.numerator, x.denominator) for x in r] for r in rows],
                        (len(rows), len(rows[0])), QQ).rank()


def _fibre_count_is_exact(arch, theta) -> bool:
    """Whether each identity block's kernel dimension (used by continuous_symmetries in floats)
    equals the exact one (the product's differential at the float θ, over ℚ)."""
    flint = flint_module()
    exact = (lambda t: flint.fmpq(*Fraction(float(t)).as_integer_ratio())) if flint is not None \
        else (lambda t: Fraction(float(t)))
    th = np.array([exact(t) for t in theta], dtype=object)
    for block in linear_blocks(arch.graph):
        if not fibre_block_is_small(block):
            continue
        _, dM, _ = linear_block_differential(arch.graph, arch.edge_index, arch.bias_index,
                                             theta, block)
        s = np.linalg.svd(dM, compute_uv=False)
        top = float(s[0]) if s.size else 0.0
        num = int(np.sum(s > 1e-10 * max(dM.shape) * top)) if top > 0 else 0
        _, dMq, _ = linear_block_differential(arch.graph, arch.edge_index, arch.bias_index,
                                              th, block)
        if _exact_rank(dMq.tolist()) != num:
            return False
    return True


# ------------------------------------------------------------------ precision
@contextlib.contextmanager
def _working_precision(N):
    """Set (and restore) the working precision of N's library."""
    if hasattr(N, "flint"):
        with N.flint.ctx.workprec(N.prec):
            yield
        return
    mp = importlib.import_module("mpmath")
    old = mp.iv.prec
    mp.iv.prec = N.prec
    try:
        yield
    finally:
        mp.iv.prec = old


# ------------------------------------------------------------------ interval certificate
def _gram_inverse_bound(N, A_rows, Mq, scale) -> float:
    """A lower bound on σ_min(A Mq) (A: ball rows, Mq: float matrix, or None for
    ``diag(1/scale)``), or NotCertifiable.

    With python-flint, ``A Mq`` is a square minor (as many rows as columns): an approximate
    inverse ``R`` (numpy, or arb at this precision for a small or ill-conditioned minor) gives
    ``‖I - R A‖_∞ < 1`` in ball arithmetic, which proves A nonsingular with
    ``‖A⁻¹‖_∞ ≤ ‖R‖_∞ / (1 - ‖I - R A‖_∞)``, so ``σ_min ≥ 1 / (√r ‖A⁻¹‖_∞)``. Without it
    (mpmath), an interval Cholesky factorisation of the Gram matrix.
    """
    if Mq is None:
        inv = [N.from_float(1.0 / x) for x in scale]
        A_rows = [[a * c for a, c in zip(row, inv)] for row in A_rows]
    if hasattr(N, "flint"):
        fl = N.flint
        A = fl.arb_mat(A_rows)
        if Mq is not None:
            A = A * fl.arb_mat(Mq.tolist())
        r = A.ncols()
        gram = A.nrows() > r
        if gram:        # more rows than columns: verify the Gram matrix G = AᵀA instead
            A = A.transpose() * A
        mid = np.array([[float(A[i, j].mid()) for j in range(r)] for i in range(r)])
        bound = None
        with np.errstate(all="ignore"):
            try:
                R = np.linalg.inv(mid)
            except np.linalg.LinAlgError:
                R = None
        if R is not None and np.all(np.isfinite(R)):
            E = fl.arb_mat(np.eye(r).tolist()) - fl.arb_mat(R.tolist()) * A
            e = max(sum(N.upper_abs(E[i, j]) for j in range(r)) for i in range(r))
            if e < 1:
                norm_inv = float(np.max(np.sum(np.abs(R), axis=1))) / (1 - e) * (1 + 1e-12)
                bound = 1.0 / (np.sqrt(r) * norm_inv)
        if bound is None:
            if r > _MAX_ARB_INVERSE:
                raise NotCertifiable(f"the {r} × {r} minor is too ill-conditioned for a float "
                                     f"approximate inverse")
            try:
                Ai = A.inv()
            except ZeroDivisionError:
                raise NotCertifiable("the interval minor could not be inverted") from None
            try:
                s = sum(N.upper_abs(Ai[i, j]) ** 2 for i in range(r) for j in range(r))
            except OverflowError:  # an inverse entry beyond 1e154: no useful bound
                raise NotCertifiable("the interval minor's inverse overflows") from None
            bound = 1.0 / np.sqrt(s) * (1 - 1e-12)
        return float(np.sqrt(bound) if gram else bound)
    # mpmath intervals: plain python matrices, Cholesky and the inverse of its factor
    if Mq is None:
        A, r = A_rows, len(scale)
    else:
        r = Mq.shape[1]
        Mb = [[N.from_float(x) for x in row] for row in Mq]
        A = [[sum((a[k] * Mb[k][j] for k in range(len(a)) if Mq[k, j] != 0), N.zero)
              for j in range(r)] for a in A_rows]
    G = [[sum((row[i] * row[j] for row in A), N.zero) for j in range(r)] for i in range(r)]
    L = [[N.zero] * r for _ in range(r)]
    for j in range(r):
        d = G[j][j] - sum((L[j][k] * L[j][k] for k in range(j)), N.zero)
        if not N.lower(d) > 0:
            raise NotCertifiable("the interval Cholesky factorisation met a pivot that may be 0")
        L[j][j] = N.sqrt(d)
        for i in range(j + 1, r):
            L[i][j] = (G[i][j] - sum((L[i][k] * L[j][k] for k in range(j)), N.zero)) / L[j][j]
    Li = [[N.zero] * r for _ in range(r)]
    for i in range(r):
        Li[i][i] = N.one / L[i][i]
        for j in range(i):
            Li[i][j] = -sum((L[i][k] * Li[k][j] for k in range(j, i)), N.zero) / L[i][i]
    s = sum(N.upper_abs(x) ** 2 for row in Li for x in row)   # ‖L⁻¹‖_F² ≥ ‖G⁻¹‖₂
    return float(1.0 / np.sqrt(s) * (1 - 1e-12))


def _interval_lower(model, theta, X, targets, rows_f, scale, backend, spectrum):
    """The first target rank certified by ball arithmetic: ``(rank, σ bound, words)``."""
    Pn = model.architecture.n_params
    flint = flint_module() if backend != "mpmath" else None
    if flint is None and Pn > _MAX_MPMATH_PARAMS:
        raise NotCertifiable(f"interval arithmetic without python-flint is limited to "
                             f"{_MAX_MPMATH_PARAMS} parameters (pip install 'symmle[exact]')")
    weights = _row_weights(model, theta, X)
    why = "no target rank"
    for r, Qt, label in targets:
        if r == 0:
            return 0, None, ""
        if r > _MAX_CERTIFIED_RANK:
            why = f"a rank above {_MAX_CERTIFIED_RANK} is not certified (cost r³)"
            continue
        if (flint is not None and r > _MAX_ARB_INVERSE and spectrum is not None
                and len(spectrum) >= r and spectrum[r - 1] <= _FLOAT_RESOLUTION * spectrum[0]):
            why = (f"the {r}-th singular value is below what a float inverse resolves, and a "
                   f"{r} × {r} inverse in ball arithmetic costs too much")
            continue
        if callable(Qt):
            Qt = Qt()
        if flint is None:
            limits = [2 * r + 10]
        else:
            limits = [_GRAM_ROWS * r, r] if r <= _MAX_GRAM_RANK else [r]
        for limit in limits:
            try:
                return _attempt(model, theta, X, r, Qt, label, limit, rows_f, scale, weights,
                                backend)
            except NotCertifiable as exc:
                why = str(exc)
    raise NotCertifiable(why)


def _attempt(model, theta, X, r, Qt, label, limit, rows_f, scale, weights, backend):
    """One interval certificate of rank r from ``limit`` rows, at increasing precision."""
    arch, fam = model.architecture, model.family
    Pn, K = arch.n_params, arch.n_outputs
    m = rows_f.shape[0]
    if m > limit:
        # pivoted QR over an evenly spread subset of _PIVOT_POOL × limit rows (the QR over all
        # rows would cost more than the certificate)
        pool = np.arange(0, m, max(1, m // (_PIVOT_POOL * limit)))
        B = rows_f[pool] / scale if Qt is None else (rows_f[pool] / scale) @ Qt
        if weights is not None:
            B = B * weights[pool // K, None]
        pick = np.sort(pool[sla.qr(B.T, mode="r", pivoting=True)[1][:limit]])
    else:
        pick = np.arange(m)
    if len(pick) * K * max(len(arch.edge_index), 1) > _MAX_INTERVAL_WORK:
        raise NotCertifiable("the network is too large for the interval certificate")
    data_rows = np.unique(pick // K)
    pos = np.searchsorted(data_rows, pick // K)
    Mq = None if Qt is None else Qt / scale[:, None]
    why = ""
    for prec in _PRECISIONS:
        N = interval_numbers(prec, backend=backend)
        try:
            with _working_precision(N):
                J = jacobian_rows(arch, theta[:Pn], X[data_rows], N, centre=fam.shift_invariant)
                sel = [J[i] for i in pos * K + pick % K]
                if weights is not None:      # one output: row i scaled by √w (positive)
                    w = weights[data_rows]
                    sel = [[N.from_float(w[pos[i]]) * x for x in row]
                           for i, row in enumerate(sel)]
                bound = _gram_inverse_bound(N, sel, Mq, scale)
            what = (f"a {r} × {r} minor (rows by pivoted QR)" if len(sel) == r
                    else f"the Gram matrix of {len(sel)} rows (by pivoted QR)")
            return r, bound, (f"{N.name} proves {what} of the equilibrated Jacobian{label} "
                              f"nonsingular (smallest singular value ≥ {bound:.2g})")
        except NotCertifiable as exc:
            why = str(exc)
            if "ill-conditioned" in why:
                break            # more precision does not help a float inverse
            if "decided" not in why and "inverted" not in why and "pivot" not in why:
                raise
    raise NotCertifiable(why)


def _row_weights(model, theta, X):
    """√w per row for a one-output family that is not shift-invariant (float, positive), or
    None (unweighted rows have the same rank)."""
    fam = model.family
    if model.architecture.n_outputs != 1 or fam.shift_invariant:
        return None
    cm = model.compile()
    eta = cm.linear_predictor(theta, X)
    w = np.asarray(fam.weight(eta, theta[model.n_network_params:]), dtype=float)[:, 0, 0]
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        return None
    return np.sqrt(w)


# ------------------------------------------------------------------ the certificate
def certify_rank(model, theta, X, numerical_rank: int, continuous: np.ndarray, *,
                 spectrum=None, backend: str | None = None) -> RankCertificate:
    """Certified ``lower ≤ rank ≤ upper`` of the Fisher information of ``model`` at θ and X.

    Parameters
    ----------
    model : Model
    theta : ndarray (P,)
    X : ndarray (n, d)
    numerical_rank : int
        The information rule's rank (`symmle._information.information_rank`).
    continuous : ndarray (P, k)
        `symmle.continuous_symmetries` at θ.
    spectrum : ndarray, optional
        Singular values of the equilibrated root, descending (to skip hopeless targets).
    backend : {"flint", "mpmath"}, optional
        Force the interval library (default: python-flint when installed).

    Returns
    -------
    RankCertificate
    """
    arch, fam = model.architecture, model.family
    Pn, P = arch.n_params, model.n_params
    n, K = X.shape[0], arch.n_outputs
    theta_n = np.asarray(theta[:Pn], dtype=float)
    # the family's own block: closed form per row (e.g. 2 per row for log σ)
    extra_rank = 0
    if P > Pn:
        cm = model.compile()
        Fe = np.asarray(fam.extra_fisher(cm.linear_predictor(theta, X[:1]), theta[Pn:]), float)
        ev = np.linalg.eigvalsh(n * Fe) if Fe.size else np.zeros(0)
        extra_rank = int(np.sum(ev > 1e-12 * max(1.0, float(np.max(np.abs(ev), initial=0.0)))))
    rows_eff = n * (K - 1 if fam.shift_invariant else K)

    # float Jacobian rows (centred for a shift-invariant family)
    cm = model.compile()
    Jf = np.asarray(cm.jacobian(theta, X), dtype=float)
    if fam.shift_invariant and K > 1:
        Jf = Jf - Jf.mean(axis=1, keepdims=True)
    rows_f = Jf.reshape(-1, Pn)
    norms = np.linalg.norm(rows_f, axis=0)
    scale = np.where(norms > 0, norms, 1.0)

    # known exact null directions
    words, blocks = [], []
    try:
        Nball = interval_numbers(_PRECISIONS[0], backend=backend)
        with _working_precision(Nball):
            R, rwords = reducibility_directions(arch, theta_n, Nball)
    except NotCertifiable:
        R, rwords = np.zeros((Pn, 0)), []
    C = np.asarray(continuous, dtype=float)[:Pn]
    fibre_ok = _fibre_count_is_exact(arch, theta_n) if linear_blocks(arch.graph) else True
    if not fibre_ok:
        C = np.zeros((Pn, 0))
        words.append("(an identity block's product is ill-conditioned: its fibre is not "
                     "counted)")
    # exact rows for rational networks; their exactly zero columns are null directions too
    flint = flint_module() if backend != "mpmath" else None
    rows_q = None
    if flint is not None and is_rational_network(arch) and n * K * Pn <= _MAX_EXACT_ENTRIES:
        rows_q = jacobian_rows(arch, theta_n, X, exact_numbers(), centre=fam.shift_invariant)
        zero = [j for j in range(Pn) if all(row[j] == 0 for row in rows_q)]
        Z = np.stack([unit_vector(Pn, j) for j in zero], axis=1) if zero else np.zeros((Pn, 0))
    else:
        Z = np.zeros((Pn, 0))
    for D, what in ((C, "known continuous symmetries"), (R, None), (Z, None)):
        if D.shape[1]:
            blocks.append(D)
    if C.shape[1]:
        words.append(f"{C.shape[1]} known continuous symmetr{'ies' if C.shape[1] != 1 else 'y'}")
    words.extend(rwords)
    if Z.shape[1]:
        words.append(f"{Z.shape[1]} parameter{'s' if Z.shape[1] != 1 else ''} with an exactly "
                     f"zero Jacobian column on every row")
    known = np.concatenate(blocks, axis=1) if blocks else np.zeros((Pn, 0))
    if known.shape[1]:
        img = np.linalg.norm((rows_f / scale) @ (known * scale[:, None]), axis=0)
        size = np.linalg.norm(known * scale[:, None], axis=0)
        known = known[:, img <= _NULL_CHECK * np.sqrt(Pn) * np.maximum(size, 1e-300)]
    Dt = known * scale[:, None]
    Dt = Dt[:, np.linalg.norm(Dt, axis=0) > 0]   # a direction all of whose entries vanish
    U, k_known = None, 0
    if Dt.shape[1]:
        U, s, _ = np.linalg.svd(Dt / np.linalg.norm(Dt, axis=0), full_matrices=True)
        k_known = int(np.sum(s > _KNOWN_RTOL * s[0])) if s.size and s[0] > 0 else 0
    upper_net = min(Pn - k_known, rows_eff)
    upper_bits = []
    if k_known:
        upper_bits.append(f"{k_known} independent exact null direction"
                          f"{'s' if k_known != 1 else ''} ({'; '.join(words)})")
    if rows_eff < Pn - k_known:
        upper_bits.append(f"only {rows_eff} informative data rows")
    upper_how = " and ".join(upper_bits)
    num_net = max(0, min(numerical_rank - extra_rank, Pn))

    # exact rank over ℚ for rational networks
    if rows_q is not None:
        r = flint.fmpq_mat(rows_q).rank() if rows_q and Pn else 0
        how = (f"the Jacobian at θ and X (exact rationals: every unit is rational) has rank "
               f"{r} over ℚ (python-flint)")
        return RankCertificate(lower=r + extra_rank, upper=r + extra_rank, n_params=P,
                               known_dim=k_known, exact=True, sigma_lower=None,
                               lower_how=how, upper_how=how, known_words=tuple(words),
                               extra_null=P - Pn - extra_rank)

    # interval certificate of the lower bound
    targets = []
    if upper_net > 0:
        Qc = U[:, k_known:] if k_known else None
        label = " on the complement of the known null directions" if k_known else ""
        if upper_net == Pn - k_known:
            targets.append((upper_net, Qc, label))
        if num_net < upper_net:
            def leading(r=num_net):
                pool = rows_f[::max(1, rows_f.shape[0] // (_PIVOT_POOL * max(r, 1)))]
                return np.linalg.svd(pool / scale, full_matrices=False)[2][:r].T
            targets.append((num_net, leading, f" on its {num_net} leading right singular "
                                              f"vectors"))
    lower_net, sigma, lower_how = 0, None, ""
    if targets:
        try:
            lower_net, sigma, lower_how = _interval_lower(model, np.asarray(theta, float), X,
                                                          targets, rows_f, scale, backend,
                                                          spectrum)
        except NotCertifiable as exc:
            lower_how = f"no interval certificate ({exc})"
    if lower_net == upper_net and upper_net < Pn and not upper_how:
        upper_how = lower_how
    return RankCertificate(lower=lower_net + extra_rank, upper=upper_net + extra_rank,
                           n_params=P, known_dim=k_known, exact=False, sigma_lower=sigma,
                           lower_how=lower_how, upper_how=upper_how, known_words=tuple(words),
                           extra_null=P - Pn - extra_rank)
