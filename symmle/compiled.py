"""``CompiledModel``: the model's expressions lambdified to vectorised numpy.

One ``sympy.lambdify(..., cse=True)`` call compiles the network output η and
its Jacobian ``J = ∂η/∂θ`` together, so they share subexpressions (the hidden
activations). The family's stable numpy forms then give

* log-likelihood: ``Σ_rows ℓ(η, y)``;
* score: ``Jᵀ ∂ℓ/∂η`` (one BLAS matrix-vector product per output);
* Fisher information: ``Jᵀ W J`` (one BLAS product per pair of outputs);
* Hessian: ``Jᵀ (∂²ℓ/∂η²) J + Σ_k (∂ℓ/∂η_k) ∂²η_k/∂θ²``, with the second
  derivatives of η lambdified lazily (only the nonzero, upper-triangular ones)
  the first time a Hessian is asked for.

The Jacobian is laid out as ``Jᵀ`` (P × n, contiguous rows) and evaluated in
chunks of rows, so memory stays bounded for any n. No sympy object reaches the
numeric layer: every lambdified output is broadcast into a float64 array.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy as sp

from .activations import NUMPY_FUNCTIONS
from .errors import SymmleValueError

__all__ = ["CompiledModel"]

#: rows per chunk in the numeric evaluation.
CHUNK_ROWS = 8192

_MODULES = [NUMPY_FUNCTIONS, "scipy", "numpy"]

_QUANTITIES = ("loglik", "score", "fisher", "hessian")


class _Columns:
    """A lambdified list of expressions whose result is always a float64 (len, n) array."""

    def __init__(self, params, inputs, exprs):
        self.n_out = len(exprs)
        self.fn = sp.lambdify((tuple(params), tuple(inputs)), list(exprs),
                              modules=_MODULES, cse=True)

    def __call__(self, theta, Xt):
        m = Xt.shape[1]
        out = np.empty((self.n_out, m))
        with np.errstate(over="ignore"):
            res = self.fn(theta, Xt)
        for i, v in enumerate(res):
            out[i] = v
        return out


class CompiledModel:
    """Vectorised numpy evaluation of a :class:`~symmle.model.Model`.

    Get one with ``model.compile()`` (cached per model). All methods take θ
    as one flat float64 vector in the model's parameter order and ``X`` of
    shape (n, d); sums run over rows.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=1.0))
    >>> cm = model.compile()
    >>> theta = model.random_params(0)
    >>> X, y = model.simulate(theta, n=200, rng=1)
    >>> cm.score(theta, X, y).shape, cm.fisher(theta, X).shape
    ((13,), (13, 13))
    >>> bool(np.allclose(cm.predict(theta, X), model.architecture.forward(theta, X)[:, 0]))
    True
    """

    def __init__(self, model):
        self.model = model
        arch = model.architecture
        self._arch = arch
        self._family = model.family
        self._K = arch.n_outputs
        self._Pn = arch.n_params
        self._P = model.n_params
        eta = list(model.eta)
        J = model.jacobian
        self._eta_fn = _Columns(arch.params, arch.inputs, eta)
        self._eta_jac_fn = _Columns(arch.params, arch.inputs, eta + list(J))

    # ------------------------------------------------------------ checking
    def _check(self, theta, X, y=None):
        theta = self.model.check_theta(theta)
        if theta.ndim != 1:
            raise SymmleValueError(f"theta must be one vector of length {self._P}")
        X = self._arch.check_X(X)
        if y is not None:
            y = self._family.check_y(y, X.shape[0], self._K)
        return theta, X, y

    def _chunks(self, n):
        for start in range(0, n, CHUNK_ROWS):
            yield slice(start, min(n, start + CHUNK_ROWS))

    def _eta(self, theta_net, X):
        Xt = np.ascontiguousarray(X.T)
        return self._eta_fn(theta_net, Xt).T

    def _eta_jac(self, theta_net, X):
        """η (m, K) and Jᵀ (K, Pn, m) for one chunk."""
        out = self._eta_jac_fn(theta_net, np.ascontiguousarray(X.T))
        K, Pn = self._K, self._Pn
        return out[:K].T, out[K:].reshape(K, Pn, -1)

    @cached_property
    def _hess_eta(self):
        """Nonzero upper-triangular second derivatives of η: (k, p, q) indices and a compiled fn."""
        arch, J = self._arch, self.model.jacobian
        params = arch.params
        idx, exprs = [], []
        for k in range(self._K):
            for p in range(self._Pn):
                if J[k, p].is_zero:
                    continue
                for q in range(p, self._Pn):
                    d = sp.diff(J[k, p], params[q])
                    if d != 0:
                        idx.append((k, p, q))
                        exprs.append(d)
        fn = _Columns(params, arch.inputs, exprs) if exprs else None
        return np.array(idx, dtype=np.intp).reshape(-1, 3), fn

    # ------------------------------------------------------------- public
    def linear_predictor(self, theta, X) -> np.ndarray:
        """η = f(X; θ), shape (n, K)."""
        theta, X, _ = self._check(theta, X)
        tn = theta[: self._Pn]
        return np.concatenate([self._eta(tn, X[s]) for s in self._chunks(X.shape[0])])

    def predict(self, theta, X) -> np.ndarray:
        """Mean of y given X: shape (n,) for one output, else (n, K) (class probabilities for
        Categorical)."""
        theta, X, _ = self._check(theta, X)
        eta = self.linear_predictor(theta, X)
        mu = self._family.mean(eta, theta[self._Pn:])
        return mu[:, 0] if self._K == 1 else mu

    def jacobian(self, theta, X) -> np.ndarray:
        """``∂η/∂θ_net`` per row, shape (n, K, P_net)."""
        theta, X, _ = self._check(theta, X)
        tn = theta[: self._Pn]
        return np.concatenate([self._eta_jac(tn, X[s])[1].transpose(2, 0, 1)
                               for s in self._chunks(X.shape[0])])

    def loglik_rows(self, theta, X, y) -> np.ndarray:
        """Per-row log-likelihood, shape (n,)."""
        theta, X, y = self._check(theta, X, y)
        eta = self.linear_predictor(theta, X)
        return self._family.loglik_rows(eta, y, theta[self._Pn:])

    def loglik(self, theta, X, y) -> float:
        """Log-likelihood summed over rows."""
        return float(np.sum(self.loglik_rows(theta, X, y)))

    def score(self, theta, X, y) -> np.ndarray:
        """Gradient of the log-likelihood, shape (P,)."""
        return self.evaluate(theta, X, y, ("score",))["score"]

    def hessian(self, theta, X, y) -> np.ndarray:
        """Hessian of the log-likelihood, shape (P, P)."""
        return self.evaluate(theta, X, y, ("hessian",))["hessian"]

    def fisher(self, theta, X) -> np.ndarray:
        """Expected information ``Σ_rows E[-∂²ℓ/∂θ∂θᵀ | x]``, shape (P, P)."""
        return self.evaluate(theta, X, None, ("fisher",))["fisher"]

    def evaluate(self, theta, X, y=None, what=("loglik", "score", "fisher")) -> dict:
        """Several quantities from one shared forward pass per chunk of rows.

        Parameters
        ----------
        what : sequence of str
            Any of ``"loglik"``, ``"score"``, ``"fisher"``, ``"hessian"``
            (all but ``"fisher"`` need ``y``).

        Returns
        -------
        dict
            ``{name: value}``: a float for ``loglik``, (P,) for ``score``,
            (P, P) for ``fisher`` and ``hessian``.
        """
        what = tuple(what)
        bad = [w for w in what if w not in _QUANTITIES]
        if bad or not what:
            raise SymmleValueError(f"what must name some of {_QUANTITIES}, got {what!r}")
        if y is None and any(w != "fisher" for w in what):
            raise SymmleValueError("y is needed for loglik, score and hessian")
        theta, X, y = self._check(theta, X, y)
        fam, K, Pn, P = self._family, self._K, self._Pn, self._P
        tn, extra = theta[:Pn], theta[Pn:]
        E = P - Pn
        ll = 0.0
        score = np.zeros(P)
        fisher = np.zeros((P, P))
        hess = np.zeros((P, P))
        need_jac = any(w in what for w in ("score", "fisher", "hessian"))
        if "hessian" in what:
            h_idx, h_fn = self._hess_eta
        for s in self._chunks(X.shape[0]):
            Xc = X[s]
            yc = y[s] if y is not None else None
            if need_jac:
                eta, Jt = self._eta_jac(tn, Xc)
            else:
                eta = self._eta(tn, Xc)
            if "loglik" in what:
                ll += float(np.sum(fam.loglik_rows(eta, yc, extra)))
            if "score" in what or "hessian" in what:
                g = fam.grad_eta(eta, yc, extra)
            if "score" in what:
                for k in range(K):
                    score[:Pn] += Jt[k] @ g[:, k]
                if E:
                    score[Pn:] += fam.grad_extra(eta, yc, extra).sum(axis=0)
            if "fisher" in what:
                W = fam.weight(eta, extra)
                _accumulate_jwj(fisher, Jt, W, Pn)
                if E:
                    fisher[Pn:, Pn:] += Xc.shape[0] * fam.extra_fisher(eta, extra)
            if "hessian" in what:
                _accumulate_jwj(hess, Jt, fam.hess_eta(eta, yc, extra), Pn)
                if h_fn is not None:
                    vals = h_fn(tn, np.ascontiguousarray(Xc.T))
                    contrib = np.einsum("im,im->i", vals, g[:, h_idx[:, 0]].T)
                    upper = np.zeros((Pn, Pn))
                    np.add.at(upper, (h_idx[:, 1], h_idx[:, 2]), contrib)
                    hess[:Pn, :Pn] += upper + np.triu(upper, 1).T
                if E:
                    cross = fam.hess_cross(eta, yc, extra)  # (m, K, E)
                    c = np.einsum("kpm,mke->pe", Jt, cross)
                    hess[:Pn, Pn:] += c
                    hess[Pn:, :Pn] += c.T
                    hess[Pn:, Pn:] += fam.hess_extra(eta, yc, extra).sum(axis=0)
        out = {}
        if "loglik" in what:
            out["loglik"] = ll
        if "score" in what:
            out["score"] = score
        if "fisher" in what:
            out["fisher"] = fisher
        if "hessian" in what:
            out["hessian"] = hess
        return out

    def __repr__(self):
        return f"CompiledModel({self.model!r})"


def _accumulate_jwj(acc, Jt, W, Pn):
    """acc[:Pn, :Pn] += Σ_rows Σ_kl J_k W_kl J_lᵀ with Jt of shape (K, Pn, m), W (m, K, K)."""
    K = Jt.shape[0]
    for k in range(K):
        for l in range(k, K):
            w = W[:, k, l]
            if not np.any(w):
                continue
            block = (Jt[k] * w) @ Jt[l].T
            if l == k:
                acc[:Pn, :Pn] += block
            else:
                acc[:Pn, :Pn] += block + block.T
