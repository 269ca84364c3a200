"""The canonical form of a fit: the same fit moved to the canonical representative of its orbit
under the discrete symmetry group (`symmle.canonicalize`), so that two starts or seeds that reach
the same optimum report the same table.

A symmetry ``g`` maps θ̂ to ``g(θ̂)`` with the same distribution of y given x, so the
information, its root, the observed information and the per-row score products are carried
along by its Jacobian ``M = ∂g/∂θ`` (``I' = M⁻ᵀ I M⁻¹``, ``R' = R M⁻¹``): no data are needed
(a result read from JSON has the same canonical form as the fit it came from). For a signed
permutation (odd activations) ``M`` is exact; for the affine flips of ``σ(−z) = σ(z) − c·z``
units, which are polynomial in θ, central differences of ``g`` give it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..symmetry import canonicalize

__all__ = ["canonical_result", "transform_jacobian"]

#: central-difference step of a non-linear symmetry's Jacobian, relative to max(1, |θ_j|)
#: (g is a polynomial of degree 2 in θ: central differences are exact up to rounding).
_FD_STEP = 1e-4


def transform_jacobian(g, theta: np.ndarray, n_network: int) -> np.ndarray:
    """``∂g/∂θ`` at θ (P × P; the family's parameters are left unchanged by g)."""
    P = theta.size
    M = np.eye(P)
    if g.is_linear:
        M[:n_network, :n_network] = g.matrix()
        return M
    for j in range(n_network):
        h = _FD_STEP * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        M[:n_network, j] = (g(up)[:n_network] - g(dn)[:n_network]) / (2.0 * h)
    return M


def canonical_result(res):
    """``res`` at ``canonicalize(model, θ̂)``, with its matrices carried along (``res`` itself
    when θ̂ is canonical already)."""
    model = res.model
    theta = np.array(res.params, dtype=float)
    theta_c, g = canonicalize(model, theta, return_transform=True)
    if g.is_identity or np.array_equal(theta_c, theta):
        return res
    M = transform_jacobian(g, theta, model.n_network_params)
    Minv = np.linalg.inv(M)

    def congruent(A):
        return None if A is None else Minv.T @ A @ Minv

    cache = res.__dict__
    root = res.information_root_ if res.information_root_ is not None else \
        cache.get("information_root")
    if root is None and res.X is not None:
        root = res.information_root
    obs = res.observed_information_ if res.observed_information_ is not None else \
        cache.get("observed_information")
    outer = res.score_outer_ if res.score_outer_ is not None else cache.get("score_outer")
    return dataclasses.replace(
        res, params=theta_c, information=congruent(np.asarray(res.information)),
        information_root_=None if root is None else np.asarray(root) @ Minv,
        observed_information_=congruent(None if obs is None else np.asarray(obs)),
        score_outer_=congruent(None if outer is None else np.asarray(outer)))
