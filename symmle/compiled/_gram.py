"""One P×P buffer for ``Σ_chunks B Bᵀ`` when P is large, and the memory check before it.

Below `INPLACE_MIN_PARAMS` network parameters each chunk of rows forms its own
``Jᵀ W J`` and the chunks' sums are added in order (`symmle.compiled.CompiledModel`);
the P×P matrices are small beside the chunk's Jacobian. From it on, a P×P matrix is
as large as the Jacobian of a whole chunk (P = 2048: 32 MiB), and several of them alive
at once (one per running chunk, one per chunk that waits to be reduced, the total) are
what runs out of memory first (`mlp(784, 32, 10)`, P = 25 450: 5.2 GB each). There the
chunks run one after the other and add ``α B Bᵀ`` straight into the lower triangle of one
Fortran-ordered buffer (BLAS ``syrk`` with β = 1, through `scipy.linalg.blas`: no
temporary P×P product), which is made symmetric in place at the end: the peak is one
P×P matrix plus the chunk's buffers. `check_memory` says before an allocation that
cannot fit that it cannot, and why.
"""

from __future__ import annotations

import math
import os

import numpy as np
from scipy.linalg import blas as _blas

from ..errors import SymmleResourceError
from ._blas import gram

__all__ = ["INPLACE_MIN_PARAMS", "GramSum", "accumulate_jwj", "available_memory", "check_memory"]

#: from this many network parameters on, the Fisher information's chunks add into one
#: P×P buffer (`GramSum`) instead of forming one P×P matrix each.
INPLACE_MIN_PARAMS = 2048

#: columns of the in-place symmetrisation's blocks (``upper = lowerᵀ`` a block at a time).
_SYM_BLOCK = 512


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` of
    ``/proc/meminfo``, else the free physical pages), or None where the system does not
    say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(nbytes: int, what: str, fix: str) -> None:
    """`SymmleResourceError` (also a `MemoryError`) when ``nbytes`` exceed the memory
    available now; ``what`` names the allocation and ``fix`` says what to do instead."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise SymmleResourceError(
            f"{what} needs {nbytes / 2 ** 30:.2f} GiB and {avail / 2 ** 30:.2f} GiB of memory "
            f"are available; {fix}")


class GramSum:
    """``Σ α B Bᵀ`` (P, P) over the B (≤ P, k) handed to `add`, in one buffer.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> B1, B2 = rng.standard_normal((5, 7)), rng.standard_normal((3, 4))
    >>> acc = GramSum(5)
    >>> acc.add(B1, 2.0); acc.add(B2, -1.0)
    >>> want = 2.0 * B1 @ B1.T
    >>> want[:3, :3] -= B2 @ B2.T
    >>> bool(np.allclose(acc.result(), want))
    True
    """

    def __init__(self, P: int):
        self.P = P
        self._c = np.zeros((P, P), order="F")  # the lower triangle holds the sum

    def add(self, B, alpha: float = 1.0) -> None:
        """Adds ``alpha · B Bᵀ`` to the leading ``len(B)`` rows and columns."""
        if alpha == 0 or B.shape[1] == 0:
            return
        p = B.shape[0]
        c = self._c if p == self.P else self._c[:p, :p]
        # Bᵀ is Fortran-ordered when B is C-ordered: BLAS reads it without a copy
        a = B.T if B.flags.c_contiguous else np.asfortranarray(B).T
        out = _blas.dsyrk(alpha, a, beta=1.0, c=c, trans=1, lower=1, overwrite_c=1)
        if out is not c and not np.shares_memory(out, c):  # a view BLAS could not write in place
            c[...] = out

    def add_block(self, start: int, block) -> None:
        """Adds the symmetric ``block`` (q, q) to rows and columns ``start … start + q − 1``."""
        q = block.shape[0]
        self._c[start:start + q, start:start + q] += block

    def result(self) -> np.ndarray:
        """The symmetric sum (the buffer itself, its upper triangle filled in place)."""
        c, P = self._c, self.P
        for j0 in range(0, P, _SYM_BLOCK):
            j1 = min(P, j0 + _SYM_BLOCK)
            blk = c[j0:j1, j0:j1]
            blk[...] = np.tril(blk) + np.tril(blk, -1).T
            if j1 < P:
                c[j0:j1, j1:] = c[j1:, j0:j1].T
        return c


#: |∂η/∂θ| within [2^-500, 2^500] (or 0): the products J_p J_q are normal float64 numbers.
_SAFE_EXPONENT = 500


def _products_normal(J) -> bool:
    """Whether every nonzero |J| lies in [2^-500, 2^500], so that ``J Jᵀ`` times a weight
    loses nothing to subnormal or overflowing products."""
    a = np.abs(J)
    return bool(a.max(initial=0.0) <= 2.0 ** _SAFE_EXPONENT
                and np.min(a, where=a > 0, initial=np.inf) >= 2.0 ** -_SAFE_EXPONENT)


def accumulate_jwj(acc, Jt, W, small_gram=None, root=None, add=None):
    """``acc[:Pn, :Pn] += Σ_rows J W Jᵀ`` for Jt (K, Pn, m) and W (m, K, K) symmetric per row.

    ``root``: ``root(Jt)`` gives ``Σ_k Jt_k R_kj`` (Pn, K, m) for a factor R with
    ``R Rᵀ = W`` per row (`Family.weight_root_times`; exact for the categorical weight
    ``diag(p) − ppᵀ``), used for several outputs: its rows are one (Pn, K·m) matrix ``B``, added as
    ``B Bᵀ``, one BLAS ``syrk``, PSD by construction. Without it W is factored per row
    as ``Σ_j λ_j v_j v_jᵀ``, and the rows of each sign are added as ``± B Bᵀ`` (the
    Hessian's weight is indefinite). With one output, ``small_gram(J, w)`` (the numba
    backend's small-P kernel) is tried first. ``add(B, α)``: what adds ``α B Bᵀ``
    (default: into ``acc`` by `symmle.compiled._blas.gram`; `symmle.compiled._gram.GramSum`
    adds into one buffer).
    """
    K, Pn, m = Jt.shape
    if add is None:
        def add(B, alpha):
            if alpha == 1.0:
                acc[:Pn, :Pn] += gram(B)
            elif alpha == -1.0:
                acc[:Pn, :Pn] -= gram(B)
            else:
                acc[:Pn, :Pn] += alpha * gram(B)
    if K == 1:
        w = np.asarray(W[:, 0, 0])
        J = Jt[0]
        if small_gram is not None and acc is not None:
            G = small_gram(J, w)
            if G is not None:
                acc[:Pn, :Pn] += G
                return
        if np.all(w == w[0]):
            if w[0] != 0 and (w[0] == 1.0 or _products_normal(J)):
                add(J, w[0])
            elif w[0] != 0:  # J_p J_q would leave float64's normal range before w scales it
                add(J * math.sqrt(abs(w[0])), math.copysign(1.0, w[0]))
            return
        pos, neg = np.maximum(w, 0.0), np.maximum(-w, 0.0)
        if np.any(pos):
            add(J * np.sqrt(pos), 1.0)
        if np.any(neg):
            add(J * np.sqrt(neg), -1.0)
        return
    if root is not None:  # B[p, j, m] = Σ_k Jt[k, p, m] root[m, k, j]
        add(root(Jt).reshape(Pn, K * m), 1.0)
        return
    lam, V = np.linalg.eigh(W)  # (m, K), (m, K, K)
    for sign in (1.0, -1.0):
        r = np.sqrt(np.maximum(sign * lam, 0.0))  # (m, K)
        if not np.any(r):
            continue
        # B[p, j, m] = Σ_k Jt[k, p, m] V[m, k, j] r[m, j]
        B = np.einsum("kpm,mkj->pjm", Jt, V * r[:, None, :]).reshape(Pn, K * m)
        add(B, sign)
