"""The one rule that decides the numerical rank of an information matrix.

Everything in symmle that reports a rank, a null space, which parameters are identified, a
condition number or a standard error — `FitResult`, `identifiability`, the consistency study
(coverage and Cramér–Rao bound) and the profile likelihood — calls `information_rank` on the
information matrix, so that they cannot disagree at the same θ and data.

The rule
--------
1. Equilibrate: ``Ĩ = S I S`` with ``S = diag(1/√I_ii)`` (a parameter with zero information
   keeps scale 1; its row and column are zero). The rank is then the same in any units of θ.
   ``√I_ii = ν_i 2^{e_i}`` with ν_i in [1/2, 1): the powers of two are applied exactly
   (``ldexp``) and each in one step, so that scales from 1e-300 to 1e300 neither overflow nor
   underflow on the way (the norms of a root's columns are taken after the exact scaling).
2. Resolve the spectrum of ``Ĩ`` as accurately as the inputs allow, and call a direction
   empty of information by a tolerance six orders of magnitude above the rounding level of
   that computation:

   * with a **root** ``R`` (``RᵀR = I``, e.g. the rows of ``W^{1/2} J``; `FitResult`,
     `identifiability` and the study compute it from θ and X), the singular values ``s`` of the
     column-equilibrated root are accurate to about ``1e-16 · max s``; ``s`` counts as zero when
     ``s ≤ ROOT_RTOL · max s`` (``ROOT_RTOL = 1e-8``, i.e. eigenvalues of ``Ĩ`` at ``1e-16``);
   * with the **matrix** alone (a `FitResult` read from JSON without a saved root, the observed
     information), its eigenvalues are only accurate to about ``1e-16 · max|λ|``; ``λ`` counts as
     zero when ``|λ| ≤ INFO_RTOL · max|λ|`` (``INFO_RTOL = 1e-10``).

   The verdict says which (`InformationRank.describe`). No square root of an eigenvalue at the
   rounding level is ever taken.
3. The null space is spanned by the eigenvectors of the zero eigenvalues, mapped back to θ's
   coordinates (``u = S v``) and orthonormalised. Parameter ``i`` is *identified* when the
   null space has no component along it in equilibrated coordinates: the row norm of the
   orthonormal equilibrated null basis is at most ``NULL_COMPONENT_TOL``.
4. Covariance: the generalised inverse ``S Ṽ_r Λ_r⁻¹ Ṽ_rᵀ S`` over the eigenvalues kept, i.e. the
   pseudo-inverse on the identified subspace. For an identified parameter (or any estimable
   linear function, one orthogonal to the null space) it is the asymptotic variance whichever
   generalised inverse is used; standard errors of unidentified parameters are NaN, and no
   square root of an eigenvalue at round-off level is ever taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_real
from .errors import SymmleValueError

__all__ = ["INFO_RTOL", "ROOT_RTOL", "NULL_COMPONENT_TOL", "InformationRank", "information_rank"]

#: Relative tolerance on the eigenvalues of the equilibrated information matrix (see the module
#: docstring): six orders above the rounding level of a computed matrix.
INFO_RTOL = 1e-10

#: Relative tolerance on the singular values of the column-equilibrated root of the information
#: (eigenvalues at 1e-16): seven orders above the rounding level of a computed root.
ROOT_RTOL = 1e-8

#: A parameter whose row in the orthonormal (equilibrated) null basis is longer than this has a
#: component in the null space and is not identified.
NULL_COMPONENT_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class InformationRank:
    """The rank verdict of `information_rank` for one information matrix.

    Attributes
    ----------
    rank : int
        Number of eigenvalues of the equilibrated information above ``rtol × max``.
    n_params : int
    rtol : float
        The relative tolerance used (on singular values of the root when ``from_root``, on
        eigenvalues of the matrix otherwise).
    from_root : bool
        Whether the spectrum came from a root of the information (more accurate) or from the
        matrix.
    eigenvalues : numpy.ndarray
        Eigenvalues of the equilibrated information, descending.
    scale : numpy.ndarray
        The equilibration ``√I_ii`` (1 where ``I_ii = 0``).
    null_space : numpy.ndarray
        Orthonormal basis (P × (P − rank)) of the null space, in θ's coordinates.
    identified : numpy.ndarray
        Boolean mask of the identified parameters.
    cov : numpy.ndarray
        The generalised inverse on the identified subspace (P × P); rows and columns of
        unidentified parameters are NaN.
    finite : bool
        Whether the matrix was finite (a non-finite one has rank 0 and nothing identified).
    """

    rank: int
    n_params: int
    rtol: float
    eigenvalues: np.ndarray
    scale: np.ndarray
    null_space: np.ndarray
    identified: np.ndarray
    cov: np.ndarray
    from_root: bool = False
    finite: bool = True
    #: the standard errors when computed with the covariance (a variance beyond float64 can
    #: have a finite root: information 2^{-1024} gives the standard error 2^{512}).
    stderr_values: np.ndarray | None = field(default=None, repr=False)

    @property
    def null_dim(self) -> int:
        """``P − rank``: the number of directions without information."""
        return self.n_params - self.rank

    @property
    def singular(self) -> bool:
        """Whether the information is (numerically) singular at this tolerance."""
        return self.rank < self.n_params

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors ``√cov_ii``: NaN for unidentified parameters."""
        if self.stderr_values is not None:
            return self.stderr_values.copy()
        d = np.diag(self.cov).copy()
        with np.errstate(invalid="ignore"):
            return np.where(d >= 0, np.sqrt(np.abs(d)), np.nan)

    @property
    def condition_number(self) -> float:
        """Largest over smallest eigenvalue of the equilibrated information; inf when singular."""
        if self.singular or not self.finite:
            return math.inf
        return float(self.eigenvalues[0] / self.eigenvalues[-1])

    def describe(self) -> str:
        """The verdict in words, with the tolerance policy.

        Examples
        --------
        >>> from symmle._information import information_rank
        >>> information_rank(np.diag([4.0, 1.0, 0.0])).describe()
        'rank 2 of 3 at relative tolerance 1e-10 on the eigenvalues of the equilibrated information'
        >>> information_rank(None, root=np.diag([2.0, 1.0, 0.0])).describe()
        'rank 2 of 3 at relative tolerance 1e-08 on the singular values of its equilibrated root'
        """
        where = ("the singular values of its equilibrated root" if self.from_root
                 else "the eigenvalues of the equilibrated information")
        return f"rank {self.rank} of {self.n_params} at relative tolerance {self.rtol:g} on {where}"


def information_rank(information, *, root=None, rtol: float | None = None) -> InformationRank:
    """Numerical rank, null space, identified parameters and covariance of an information matrix.

    Parameters
    ----------
    information : array_like, shape (P, P), or None
        A symmetric information matrix (expected or observed); it is symmetrised first. May be
        None when ``root`` is given.
    root : array_like, shape (m, P), optional
        A factor with ``rootᵀ root = information`` (rows of ``W^{1/2} J``, or its triangular
        factor): the spectrum then comes from its singular values, which resolve directions of
        information down to ``1e-16`` of the largest eigenvalue.
    rtol : float, optional
        Relative tolerance: on singular values of the equilibrated root (default `ROOT_RTOL`),
        or on eigenvalues of the equilibrated matrix (default `INFO_RTOL`).

    Returns
    -------
    InformationRank

    Examples
    --------
    Two parameters that enter only through their sum: one direction of θ is not identified, and
    the scale of the columns does not change the verdict.

    >>> from symmle._information import information_rank
    >>> J = np.array([[1.0, 1.0], [2.0, 2.0], [0.5, 0.5]])
    >>> r = information_rank(J.T @ J)
    >>> r.rank, r.identified.tolist(), r.stderr.tolist()
    (1, [False, False], [nan, nan])
    >>> information_rank(None, root=J).rank
    1
    >>> r = information_rank(np.diag([1e6, 1e-6]))
    >>> r.rank, r.stderr.tolist()
    (2, [0.001, 1000.0])
    """
    from_root = root is not None
    if from_root:
        R = np.asarray(root, dtype=float)
        if R.ndim != 2:
            raise SymmleValueError(f"root must be a matrix (m, P), got shape {R.shape}")
        P = R.shape[1]
    else:
        if information is None:
            raise SymmleValueError("information_rank needs the information matrix or a root")
        A = np.asarray(information, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise SymmleValueError(f"information must be a square matrix, got shape {A.shape}")
        P = A.shape[0]
    default = ROOT_RTOL if from_root else INFO_RTOL
    rtol = default if rtol is None else check_real(
        rtol, "rtol", minimum=0.0, maximum=1.0, strict_minimum=True, strict_maximum=True)
    if not np.all(np.isfinite(R if from_root else A)):
        return _non_finite(P, rtol, from_root)
    if from_root:
        Rs, nu, exps = _equilibrate_columns(R)
        _, sv, Vt = np.linalg.svd(Rs / nu, full_matrices=True)
        sv = np.concatenate([sv, np.zeros(P - sv.size)])
        w, V = sv ** 2, Vt.T
        top = float(sv[0]) if P else 0.0
        rank = int(np.sum(sv > rtol * top)) if top > 0 else 0
    else:
        A = 0.5 * (A + A.T)
        # √I_ii = ν_i 2^{e_i}, ν_i in [1/2, 1) (the root of a subnormal I_ii is normal)
        nu, exps = np.frexp(np.sqrt(np.abs(np.diag(A))))
        nu, exps = np.where(nu > 0, nu, 1.0), exps.astype(np.int64)
        At = _ldexp_outer(A, -exps) / nu[:, None] / nu[None, :]
        if not np.all(np.isfinite(At)):   # |I_ij| ≫ √(I_ii I_jj): far from PSD, beyond float64
            return _non_finite(P, rtol, from_root)
        w, V = np.linalg.eigh(At)
        order = np.argsort(-np.abs(w), kind="stable")
        w, V = w[order], V[:, order]
        top = float(np.abs(w[0])) if P else 0.0
        rank = int(np.sum(np.abs(w) > rtol * top)) if top > 0 else 0
    Vr, wr, Vn = V[:, :rank], w[:rank], V[:, rank:]
    identified = (np.linalg.norm(Vn, axis=1) <= NULL_COMPONENT_TOL if Vn.shape[1]
                  else np.ones(P, dtype=bool))
    with np.errstate(over="ignore"):
        scale = np.ldexp(nu, exps)   # √I_ii (inf only where I_ii itself is beyond float64)
    # S Ṽ_n, times the constant 2^{min e}: the same directions without overflow (the rows of
    # the largest scales, whose components are then below 2^{−1074}, underflow to 0)
    N = np.ldexp(Vn / nu[:, None], (exps.min(initial=0) - exps)[:, None])
    if N.shape[1]:
        N = np.linalg.qr(N)[0]
    # S Ṽ_r Λ_r⁻¹ Ṽ_rᵀ S in one exact step per entry: a variance beyond float64 is inf
    Ct = (Vr / wr) @ Vr.T / nu[:, None] / nu[None, :]
    # symmetric to the bit: the product rounds (V_pk / w_k) V_qk and (V_qk / w_k) V_pk apart,
    # which an ill-conditioned information makes visible far above 1e-10 in small entries
    Ct = 0.5 * Ct + 0.5 * Ct.T
    C = _ldexp_outer(Ct, -exps)
    C[~identified, :] = np.nan
    C[:, ~identified] = np.nan
    d = np.diag(Ct)
    with np.errstate(invalid="ignore", over="ignore"):
        se = np.where((d >= 0) & identified, np.ldexp(np.sqrt(np.abs(d)), -exps), np.nan)
    return InformationRank(rank=rank, n_params=P, rtol=rtol, eigenvalues=w, scale=scale,
                           null_space=N, identified=identified, cov=C, from_root=from_root,
                           stderr_values=se)


def _non_finite(P: int, rtol: float, from_root: bool) -> InformationRank:
    """The verdict on a matrix that is not finite: rank 0, nothing identified."""
    return InformationRank(rank=0, n_params=P, rtol=rtol, eigenvalues=np.full(P, np.nan),
                           scale=np.ones(P), null_space=np.eye(P),
                           identified=np.zeros(P, dtype=bool), cov=np.full((P, P), np.nan),
                           from_root=from_root, finite=False)


def _equilibrate_columns(R):
    """``(R 2^{−e}, ν, e)``: R's columns scaled by powers of two, exactly, to norms ν in
    [1/2, 1) (a zero column has e = 0 and ν = 1), so that ``‖R_i‖ = ν_i 2^{e_i}``. The norms
    are taken of the columns already scaled by the power of two of their largest entry, so that
    neither squares of 1e200 overflow nor squares of 1e-200 underflow (entries below 2^{−1074}
    of their column's largest are lost, far below any tolerance)."""
    P = R.shape[1]
    if R.shape[0] == 0:
        return R.copy(), np.ones(P), np.zeros(P, dtype=np.int64)
    top = np.frexp(np.max(np.abs(R), axis=0))[1].astype(np.int64)
    Rs = np.ldexp(R, -top[None, :])
    exps = top + np.frexp(np.linalg.norm(Rs, axis=0))[1].astype(np.int64)
    zero = ~np.any(R != 0, axis=0)
    exps[zero] = 0
    Rs = np.ldexp(R, -exps[None, :])
    nu = np.linalg.norm(Rs, axis=0)
    return Rs, np.where(zero, 1.0, nu), exps


def _ldexp_outer(A, e):
    """``A_ij 2^{e_i + e_j}`` in one exact step (dividing twice by scales of 1e-160 overflows
    on the way to a finite result); a result beyond float64 is ±inf."""
    with np.errstate(over="ignore"):
        return np.ldexp(A, e[:, None] + e[None, :])
