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

#: the most bytes `HessianProducts` keeps between products (the forward pass, the slopes
#: σ' and σ'' and the family's per-row derivatives of every chunk); beyond it each product
#: recomputes them.
HVP_CACHE_BYTES = 2 ** 28

__all__ = ["HVP_CACHE_BYTES", "HessianProducts", "hessian_times"]


def _slopes(prog, A, Z):
    """``σ'`` and ``σ''`` of every layer at the pre-activations (None for identity units)."""
    return ([prog._d1_values(L, A, Z) for L in prog.layers],
            [prog._d2_values(L, A, Z) for L in prog.layers])


def _tangents(prog, weights, vweights, Z, d1s):
    """Forward tangents along the direction: ``(Zd (nodes, m), Ad (units, m))``."""
    m = Z.shape[1]
    Zd = np.zeros((prog.n_nodes, m))
    Ad = np.zeros((prog.n_units, m))
    for L, (W, _), (V, bv), d1 in zip(prog.layers, weights, vweights, d1s):
        ad = Ad[L.a_rows]
        Hs = Z[L.src]
        matmul_cols(V, Hs, ad)  # products cut so that BLAS keeps them on this thread
        if not L.src_inputs_only:
            ad += matmul_cols(W, Zd[L.src], np.empty_like(ad))
        if bv is not None:
            ad += bv
        Zd[L.units] = ad if d1 is None else ad * d1
    return Zd, Ad


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


class HessianProducts:
    """``v ↦ H v`` at one θ for the Hessian ``H = ∂²ℓ/∂θ∂θᵀ`` (P × P) of the compiled model
    ``cm``: what does not depend on v (each chunk's forward pass, the slopes σ' and σ'', the
    family's per-row derivatives) is computed at the first product and kept for the next
    ones when it fits in `HVP_CACHE_BYTES` (the products of one Newton step's conjugate
    gradients share θ). Products are the same bits with or without the cache.

    Parameters
    ----------
    cm : symmle.compiled.CompiledModel
    theta : array_like, shape (P,)
    X, y : array_like
        As for `symmle.compiled.CompiledModel.evaluate`.
    keep : bool
        Keep the per-chunk state between products (False for a single product).
    """

    def __init__(self, cm, theta, X, y, keep=True):
        if y is None:
            raise SymmleValueError("y is needed for H v (the Hessian depends on the responses)")
        self.theta, self.X, self.y = cm._check(theta, X, y)
        self.cm, self._Pn = cm, cm._Pn
        prog = cm._prog
        self._weights = prog.weights(self.theta[:self._Pn])
        n = self.X.shape[0]
        rows = max(64, min(CHUNK_ROWS, HVP_CHUNK_BYTES // (8 * prog.n_nodes)))
        self._chunks = [slice(a, min(a + rows, n)) for a in range(0, n, rows)]
        K, E = cm._K, self.theta.size - self._Pn
        per_row = 8 * (prog.n_nodes + 2 * prog.n_units + K * (K + 1 + E))
        self._keep = keep and per_row * n <= HVP_CACHE_BYTES
        self._states = {}

    def _state(self, i):
        """Chunk i's ``(Z, d1s, d2s, hess_eta, g, cross, hess_extra_sum)``."""
        state = self._states.get(i)
        if state is not None:
            return state
        cm, prog, fam = self.cm, self.cm._prog, self.cm._family
        s, extra = self._chunks[i], self.theta[self._Pn:]
        with np.errstate(over="ignore"):
            ws = None if self._keep else cm._workspace()
            Z, A = prog.forward(self._weights, cm._rows(self.X, s), ws)
            eta, yc = prog.eta(Z), self.y[s]
            if fam.log_scale(eta):
                raise SymmleValueError("the family's derivatives leave float64's range at "
                                       "these rows: H v needs the full Hessian here")
            d1s, d2s = _slopes(prog, A, Z)
            cross = hess_extra = None
            if extra.size:
                cross = fam.hess_cross(eta, yc, extra)  # (m, K, E)
                hess_extra = fam.hess_extra(eta, yc, extra).sum(axis=0)
            state = (Z, d1s, d2s, fam.hess_eta(eta, yc, extra), fam.grad_eta(eta, yc, extra),
                     cross, hess_extra)
        if self._keep:
            self._states[i] = state
        return state

    def __call__(self, v) -> np.ndarray:
        """``H v`` (P,), summed over the rows like the Hessian itself."""
        theta, Pn, prog = self.theta, self._Pn, self.cm._prog
        v = as_real_array(v, name="v", expected=f"a finite vector of length {theta.size}")
        if v.shape != theta.shape or not np.all(np.isfinite(v)):
            raise SymmleValueError(f"v must be a finite vector of length {theta.size}, "
                                   "like theta")
        v_extra, vweights = v[Pn:], prog.weights(v[:Pn])
        out = np.zeros(theta.size)
        for i in range(len(self._chunks)):
            Z, d1s, d2s, h_eta, g, cross, hess_extra = self._state(i)
            with np.errstate(over="ignore"):
                Zd, Ad = _tangents(prog, self._weights, vweights, Z, d1s)
                etad = Zd[prog.out_list]  # J v per row, (K, m)
                seed = np.einsum("mkj,jm->km", h_eta, etad)
                if cross is not None:
                    seed += np.einsum("mke,e->km", cross, v_extra)
                    out[Pn:] += np.einsum("mke,km->e", cross, etad)
                    out[Pn:] += hess_extra @ v_extra
                out[:Pn] += _reverse(prog, self._weights, vweights, Z, Zd, Ad, d1s, d2s, g,
                                     seed)
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
    return HessianProducts(cm, theta, X, y, keep=False)(v)
