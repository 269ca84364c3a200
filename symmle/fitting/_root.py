"""A root of the Fisher information, ``RᵀR = I(θ; X)``, for the information rule.

The singular values of the (column-equilibrated) root resolve directions of information down to
``1e-16`` of the largest eigenvalue, where the eigenvalues of the matrix itself stop at ``1e-10``
(see `symmle._information`). `FitResult`, `identifiability` and the consistency study all take
their rank verdict from this root, so they agree at the same θ and X.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

__all__ = ["information_root"]

#: rows stacked per QR update: the QR of a (ROOT_CHUNK + P) × P block costs about the same per
#: row as the Fisher information's own Gram sums, and keeps the work space small.
ROOT_CHUNK = 4096

#: the most values of one QR update that OpenBLAS runs on the calling thread: LAPACK's
#: Householder steps call ``dger``/``dgemv``, which OpenBLAS threads from 8192 values on, and a
#: threaded tall-skinny QR costs up to 50× more than the sequential one when the machine is
#: busy (a thread that waits for a descheduled one spins). Up to `QR_BLAS_VALUES` / P − P rows a
#: block, the updates stay on one thread without symmle touching BLAS's thread count.
QR_BLAS_VALUES = 8192

#: the fewest rows of a block (below it, for larger P, the QR's flops dominate and BLAS's own
#: threads are worth it: the blocks go back to `ROOT_CHUNK` rows).
QR_MIN_ROWS = 64


def _block_rows(P: int) -> int:
    """Rows of X folded into R per QR update (see `QR_BLAS_VALUES`)."""
    rows = QR_BLAS_VALUES // max(1, P) - P
    return rows if rows >= QR_MIN_ROWS else ROOT_CHUNK


def information_root(model, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """An upper-triangular ``R`` (P × P) with ``RᵀR`` the Fisher information of the rows X
    (all NaN when the information is not finite at θ and X).

    Each row contributes ``Bᵀ J`` with ``B Bᵀ = W`` the family's weight (`Family.weight_root`)
    and ``J = ∂η/∂θ``, formed `ROOT_CHUNK` rows at a time; they are folded into ``R`` by QR
    updates in blocks small enough for BLAS to run them on the calling thread
    (`QR_BLAS_VALUES`).

    Examples
    --------
    >>> from symmle.fitting._root import information_root
    >>> model = sm.Model(sm.mlp(2, 1, activation="identity"), sm.Gaussian(sigma=1.0))
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> theta = np.array([0.5, -1.0, 0.2])
    >>> R = information_root(model, theta, X)
    >>> bool(np.allclose(R.T @ R, model.compile().fisher(theta, X)))
    True
    """
    cm = model.compile()
    arch, fam = model.architecture, model.family
    Pn, P = arch.n_params, model.n_params
    theta = np.asarray(theta, dtype=float)
    extra = theta[Pn:]
    R = np.zeros((0, P))
    step = _block_rows(P)
    for start in range(0, X.shape[0], ROOT_CHUNK):
        Xc = X[start:start + ROOT_CHUNK]
        J = cm.jacobian(theta, Xc)  # (m, K, Pn)
        eta = cm.linear_predictor(theta, Xc)
        B = fam.weight_root(eta, extra)  # (m, K, K), B Bᵀ = W
        A = np.einsum("mkl,mkp->mlp", B, J).reshape(-1, Pn)
        A = np.concatenate([A, np.zeros((A.shape[0], P - Pn))], axis=1)
        if not np.all(np.isfinite(A)):
            # the weight or ∂η/∂θ overflowed at some row: the information is not finite, and a
            # NaN root is what the information rule reads as such (rank 0, nothing identified)
            return np.full((P, P), np.nan)
        for a in range(0, A.shape[0], step):
            R = sla.qr(np.vstack([R, A[a:a + step]]), mode="r", check_finite=False)[0][:P]
    if P > Pn:
        eta = cm.linear_predictor(theta, X[:1])
        Fe = X.shape[0] * np.asarray(fam.extra_fisher(eta, extra), dtype=float)
        if not np.all(np.isfinite(Fe)):
            return np.full((P, P), np.nan)
        w, U = np.linalg.eigh(Fe)
        rows = np.zeros((P - Pn, P))
        rows[:, Pn:] = np.sqrt(np.clip(w, 0.0, None))[:, None] * U.T
        R = sla.qr(np.vstack([R, rows]), mode="r")[0][:P]
    if R.shape[0] < P:
        R = np.vstack([R, np.zeros((P - R.shape[0], P))])
    return R
