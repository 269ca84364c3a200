"""BLAS products sized so that BLAS runs them on the calling thread.

symmle never sets BLAS's thread count (it is the user's). Chunks of rows (and the numba
kernels' blocks of rows) run on the thread pool, and a product large enough for BLAS to
thread would then ask for more threads than there are cores; so the numpy program's products are cut along the
rows of the chunk into pieces of at most `BLAS_ONE_THREAD_MACS` multiply–adds, which
OpenBLAS runs on the calling thread, and the pieces' sums are added in order (the same bits
for any number of threads). ``J Jᵀ`` from `GRAM_BLAS_MIN_PARAMS` parameters on is one
product, and its chunks run on the calling thread alone (`symmle.compiled.CompiledModel`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BLAS_MIN_ROWS", "BLAS_ONE_THREAD_MACS", "GRAM_BLAS_MIN_PARAMS", "gram",
           "matmul_cols", "matmul_rows", "weighted_sum"]

#: the most multiply–adds of one BLAS product (a larger one is cut along the rows of the
#: chunk): OpenBLAS runs a product of at most 4 · 65536 on the calling thread.
BLAS_ONE_THREAD_MACS = 2 ** 17

#: the fewest rows of one cut product (fewer cost more in calls than threads would save).
BLAS_MIN_ROWS = 64

#: from this many parameters on, ``J Jᵀ`` over `BLAS_MIN_ROWS` rows is over
#: `BLAS_ONE_THREAD_MACS`: it is one BLAS product, which BLAS may thread, and the chunks
#: that form it run on the calling thread alone (`symmle.compiled.CompiledModel`).
GRAM_BLAS_MIN_PARAMS = math.isqrt(BLAS_ONE_THREAD_MACS // BLAS_MIN_ROWS) + 1


def _step(m, macs_per_row):
    """Rows per cut of a product over m rows with ``macs_per_row`` multiply–adds each: all
    m when even `BLAS_MIN_ROWS` rows are over `BLAS_ONE_THREAD_MACS` (every cut would be
    one BLAS may thread, so one product does the same work in fewer calls; the chunks of
    such a program run on the calling thread alone, `symmle.compiled.CompiledModel`)."""
    if macs_per_row * BLAS_MIN_ROWS > BLAS_ONE_THREAD_MACS:
        return max(1, m)
    return max(BLAS_MIN_ROWS, BLAS_ONE_THREAD_MACS // max(1, macs_per_row))


def matmul_cols(A, B, out):
    """``out = A @ B`` (B, out: (..., m), batched as `numpy.matmul`), cut along the last
    axis of B into products of at most `BLAS_ONE_THREAD_MACS`."""
    m = B.shape[-1]
    step = _step(m, A.shape[-2] * A.shape[-1])
    if step >= m:
        return np.matmul(A, B, out=out)
    for c in range(0, m, step):
        np.matmul(A, B[..., c:c + step], out=out[..., c:c + step])
    return out


def matmul_rows(A, B):
    """``A @ Bᵀ`` summed over the last axis of both (A (..., U, m), B (..., S, m)), cut
    along it into products of at most `BLAS_ONE_THREAD_MACS` and added in order."""
    m = A.shape[-1]
    step = _step(m, A.shape[-2] * B.shape[-2])
    out = np.matmul(A[..., :step], np.swapaxes(B[..., :step], -1, -2))
    for c in range(step, m, step):
        out += np.matmul(A[..., c:c + step], np.swapaxes(B[..., c:c + step], -1, -2))
    return out


def weighted_sum(J, v):
    """``J v`` for J (P, m) and v (m,): BLAS ``gemv`` from `GRAM_BLAS_MIN_PARAMS` on, else
    numpy's own loop (BLAS threads a product of over 9216 values)."""
    if J.shape[0] >= GRAM_BLAS_MIN_PARAMS:
        return J @ v
    return np.einsum("pm,m->p", J, v)


def gram(B):
    """``B Bᵀ`` for B (P, m), cut along m as `matmul_rows` below `GRAM_BLAS_MIN_PARAMS`
    parameters (numpy hands each piece to BLAS ``syrk``)."""
    m = B.shape[1]
    step = _step(m, B.shape[0] * B.shape[0])
    if step >= m or B.shape[0] >= GRAM_BLAS_MIN_PARAMS:
        return B @ B.T
    out = B[:, :step] @ B[:, :step].T
    for c in range(step, m, step):
        out += B[:, c:c + step] @ B[:, c:c + step].T
    return out
