"""Hessian-vector products ``H v`` of the log-likelihood without forming H.

``H = ∂²ℓ/∂θ∂θᵀ`` costs ``n·P²`` work and memory for P² entries (and the all-directions
tangents of `symmle.compiled._program.NumericProgram.hessian_g_eta` cost P forward passes);
``H v`` along one direction costs about two gradients: Pearlmutter's R-operator, a forward
pass of tangents along v (``ż = σ'(a) ȧ``, ``ȧ = W ż_src + V z_src + b_v``, V and b_v the
direction's weights and biases), then the reverse pass differentiated along it
(``δ̇ = σ'(a) λ̇ + σ''(a) ȧ λ``, ``λ̇_src = Wᵀ δ̇ + Vᵀ δ``, seeded at the outputs with
``∂²ℓ/∂η∂ηᵀ η̇`` plus the family parameters' cross term). It is exact arithmetic on the same
program as the score, so ``H v`` equals the column combination ``H @ v`` of the full Hessian
to rounding (tested against it), for every architecture the numpy program runs (skip
connections, per-unit activations, bias-free units) and every family.

Used by `symmle.fitting` for the Newton (trust-region conjugate-gradient) steps that finish a
fit of a network with many parameters (`symmle.fitting._newton`).
"""

from __future__ import annotations

import numpy as np

from .._checks import as_real_array
from ..errors import SymmleValueError
from ._blas import matmul_cols
from ._chunks import CHUNK_ROWS

#: memory budget (bytes) of one chunk's activations and their tangents (nodes × m float64
#: each): the reverse pass's elementwise products stay in cache (measured on mlp(10, 20, 1)).
HVP_CHUNK_BYTES = 2 ** 19

__all__ = ["hessian_times"]


def _tangents(prog, weights, vweights, Z, A):
    """Forward tangents along the direction: ``(Zd (nodes, m), Ad (units, m), σ', σ'')``."""
    m = Z.shape[1]
    Zd = np.zeros((prog.n_nodes, m))
    Ad = np.zeros((prog.n_units, m))
    d1s, d2s = [], []
    for L, (W, _), (V, bv) in zip(prog.layers, weights, vweights):
        ad = Ad[L.a_rows]
        Hs = Z[L.src]
        matmul_cols(V, Hs, ad)  # products cut so that BLAS keeps them on this thread
        if not L.src_inputs_only:
            ad += matmul_cols(W, Zd[L.src], np.empty_like(ad))
        if bv is not None:
            ad += bv
        d1 = prog._d1_values(L, A, Z)
        d1s.append(d1)
        d2s.append(prog._d2_values(L, A, Z))
        Zd[L.units] = ad if d1 is None else ad * d1
    return Zd, Ad, d1s, d2s


def _reverse(prog, weights, vweights, Z, Zd, Ad, d1s, d2s, g, seed):
    """The reverse pass and its tangent: ``Σ_rows (∂/∂θ)(∂ℓ/∂θ) · v`` over the network."""
    m = Z.shape[1]
    out = np.zeros(prog.n_params)
    adj = np.zeros((prog.n_nodes, m))
    adjd = np.zeros((prog.n_nodes, m))
    adj[prog.out_list] = g.T
    adjd[prog.out_list] = seed
    for L, (W, _), (V, _), d1, d2 in zip(reversed(prog.layers), reversed(weights),
                                         reversed(vweights), reversed(d1s), reversed(d2s)):
        lam, lamd = adj[L.units], adjd[L.units]
        delta = lam if d1 is None else lam * d1
        deltad = lamd if d1 is None else lamd * d1
        if d2 is not None:
            deltad = deltad + Ad[L.a_rows] * d2 * lam
        Hs, Hsd = Z[L.src], Zd[L.src]
        out[L.w_idx] = prog._weight_grad(L, deltad, Hs) + prog._weight_grad(L, delta, Hsd)
        if len(L.b_idx):
            out[L.b_idx] = deltad.sum(axis=1)[L.b_units]
        if not L.src_inputs_only:
            shape = (L.n_src, m)
            back = matmul_cols(W.T, delta, np.empty(shape))
            backd = matmul_cols(W.T, deltad, np.empty(shape))
            backd += matmul_cols(V.T, delta, np.empty(shape))
            if isinstance(L.src, slice):
                adj[L.src] += back
                adjd[L.src] += backd
            else:
                np.add.at(adj, L.src, back)
                np.add.at(adjd, L.src, backd)
    return out


def hessian_times(cm, theta, X, y, v) -> np.ndarray:
    """``H v`` for the Hessian ``H = ∂²ℓ/∂θ∂θᵀ`` (P × P) of the compiled model ``cm`` at θ.

    Parameters
    ----------
    cm : symmle.compiled.CompiledModel
    theta, v : array_like, shape (P,)
        The point and the direction (network parameters, then the family's).
    X, y : array_like
        The data, as for `symmle.compiled.CompiledModel.evaluate`.

    Returns
    -------
    numpy.ndarray, shape (P,)
        Summed over the rows, like the Hessian itself. Where the family's derivatives
        leave float64's range (`symmle.families.Family.log_scale`) there is no product
        in float64: `SymmleValueError` (use the full Hessian).
    """
    if y is None:
        raise SymmleValueError("y is needed for H v (the Hessian depends on the responses)")
    theta, X, y = cm._check(theta, X, y)
    v = as_real_array(v, name="v", expected=f"a finite vector of length {theta.size}")
    if v.shape != theta.shape or not np.all(np.isfinite(v)):
        raise SymmleValueError(f"v must be a finite vector of length {theta.size}, like theta")
    fam, prog, Pn = cm._family, cm._prog, cm._Pn
    extra, v_extra = theta[Pn:], v[Pn:]
    weights, vweights = prog.weights(theta[:Pn]), prog.weights(v[:Pn])
    out = np.zeros(theta.size)
    n = X.shape[0]
    rows = max(64, min(CHUNK_ROWS, HVP_CHUNK_BYTES // (8 * prog.n_nodes)))
    chunks = [slice(a, min(a + rows, n)) for a in range(0, n, rows)]
    ws = cm._workspace()
    for s in chunks:
        with np.errstate(over="ignore"):
            Z, A = prog.forward(weights, cm._rows(X, s), ws)
            eta, yc = prog.eta(Z), y[s]
            if fam.log_scale(eta):
                raise SymmleValueError("the family's derivatives leave float64's range at "
                                       "these rows: H v needs the full Hessian here")
            Zd, Ad, d1s, d2s = _tangents(prog, weights, vweights, Z, A)
            etad = Zd[prog.out_list]  # J v per row, (K, m)
            seed = np.einsum("mkj,jm->km", fam.hess_eta(eta, yc, extra), etad)
            if extra.size:
                cross = fam.hess_cross(eta, yc, extra)  # (m, K, E)
                seed += np.einsum("mke,e->km", cross, v_extra)
                out[Pn:] += np.einsum("mke,km->e", cross, etad)
                out[Pn:] += fam.hess_extra(eta, yc, extra).sum(axis=0) @ v_extra
            g = fam.grad_eta(eta, yc, extra)
            out[:Pn] += _reverse(prog, weights, vweights, Z, Zd, Ad, d1s, d2s, g, seed)
    return out
