"""A multi-start fit's optima grouped modulo the discrete symmetry group: `cluster_optima`.

Two optima are the same when their orbit distance (`symmle.orbit_distance`) is small; the
result (`OptimaClusters`) counts the genuinely different local optima of a likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_real
from ..errors import SymmleValueError
from ..fitting import FitResult
from ..fitting._records import frozen_array, frozen_ints
from ..symmetry import orbit_distance
from ..symmetry._structure import arch_and_model

__all__ = ["OptimaClusters", "cluster_optima"]


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

    def __post_init__(self):
        labels = frozen_ints(self.labels, "OptimaClusters: labels", minimum=0)
        counts = frozen_ints(self.counts, "OptimaClusters: counts", minimum=1)
        if labels.ndim != 1 or counts.ndim != 1:
            raise SymmleValueError("OptimaClusters: labels and counts must be vectors")
        k = counts.size
        reps = frozen_array(self.representatives, name="OptimaClusters: representatives")
        if reps.size == 0 and k == 0:
            reps = frozen_array(np.zeros((0, 0)))
        if reps.ndim != 2 or reps.shape[0] != k or not np.all(np.isfinite(reps)):
            raise SymmleValueError(f"OptimaClusters: representatives must be {k} finite rows θ "
                                   f"(one per cluster), got shape {reps.shape}")
        if np.any(labels >= k) or not np.array_equal(np.bincount(labels, minlength=k), counts):
            raise SymmleValueError("OptimaClusters: counts must be the number of labels of each "
                                   "cluster 0..k-1")
        ll = frozen_array(self.logliks, (k,), name="OptimaClusters: logliks")
        if np.any(ll == np.inf):   # NaN: not known; -inf: a failed optimum
            raise SymmleValueError("OptimaClusters: logliks must be < inf")
        tol = check_real(self.tol, "OptimaClusters: tol", minimum=0.0)
        for name, value in (("labels", labels), ("representatives", reps), ("counts", counts),
                            ("logliks", ll), ("tol", tol)):
            object.__setattr__(self, name, value)

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
    tol = check_real(tol, "tol", minimum=0.0)
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
    a, model = arch_and_model(arch)
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
