"""``CompiledModel``: the model evaluated as vectorised numpy, at hand-written speed.

The network is run as a straight-line program (:mod:`symmle._slp`): one
pre-activation and one activation per unit, each layer one BLAS product, the
activation derivatives derived by sympy from the registry's sympy forms and
lambdified once. The family's stable numpy forms of ``ℓ(η, y)`` and its
derivatives in η are then chained with the network:

* log-likelihood: one forward pass, ``Σ_rows ℓ(η, y)``;
* score: ``Jᵀ ∂ℓ/∂η`` by one reverse pass (back-propagation), without ever
  forming ``J``;
* Fisher information: ``Jᵀ W J`` with ``J = ∂η/∂θ`` built per row by the
  reverse pass seeded at each output, laid out as ``Jᵀ`` (K, P, m); the
  product is one symmetric rank-k update (BLAS ``syrk``) per chunk, with
  ``W`` factored per row as ``Σ_j ± b_j b_jᵀ`` (one factor for one output);
* Hessian (exact): ``Jᵀ (∂²ℓ/∂η²) J + Σ_k (∂ℓ/∂η_k) ∂²η_k/∂θ²``, the second
  term by forward-over-reverse differentiation of the same program.

Rows are processed in chunks (at most :data:`CHUNK_ROWS`, fewer when the
per-chunk Jacobian or Hessian tangents would exceed a fixed memory budget), so
memory stays bounded for any n; :meth:`CompiledModel.evaluate` shares one
forward pass per chunk between all the quantities asked for. Everything is
float64; no sympy object reaches the numeric layer.
"""

from __future__ import annotations

import numpy as np

from ._slp import NumericProgram
from .errors import SymmleValueError

__all__ = ["CompiledModel"]

#: the most rows per chunk in the numeric evaluation.
CHUNK_ROWS = 8192

#: memory budget (bytes) of one chunk's Jacobian ``Jᵀ`` (K × P × m float64).
JACOBIAN_BYTES = 32 * 2 ** 20

#: memory budget (bytes) of one chunk's Hessian tangents (P × units × m float64, a few arrays).
HESSIAN_BYTES = 64 * 2 ** 20

_QUANTITIES = ("loglik", "score", "fisher", "hessian")


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
    >>> out = cm.evaluate(theta, X, y, ("loglik", "score", "fisher"))
    >>> bool(np.allclose(out["score"], cm.score(theta, X, y)))
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
        self._prog = NumericProgram(arch)

    # ------------------------------------------------------------ checking
    def _check(self, theta, X, y=None):
        theta = self.model.check_theta(theta)
        if theta.ndim != 1:
            raise SymmleValueError(f"theta must be one vector of length {self._P}")
        X = self._arch.check_X(X)
        if y is not None:
            y = self._family.check_y(y, X.shape[0], self._K)
        return theta, X, y

    def _chunk_rows(self, jacobian=False, hessian=False):
        prog = self._prog
        m = min(CHUNK_ROWS, max(1, (64 * 2 ** 20) // (8 * 3 * prog.n_nodes)))
        if jacobian:
            m = min(m, max(1, JACOBIAN_BYTES // (8 * self._K * max(1, self._Pn))))
        if hessian:
            per_row = 8 * 4 * max(1, self._Pn) * (prog.n_nodes + prog.n_units)
            m = min(m, max(1, HESSIAN_BYTES // per_row))
        return max(1, int(m))

    @staticmethod
    def _chunks(n, m):
        for start in range(0, n, m):
            yield slice(start, min(n, start + m))

    def _forward(self, weights, Xc):
        return self._prog.forward(weights, Xc)

    # ------------------------------------------------------------- public
    def linear_predictor(self, theta, X) -> np.ndarray:
        """η = f(X; θ), shape (n, K)."""
        theta, X, _ = self._check(theta, X)
        prog = self._prog
        weights = prog.weights(theta[: self._Pn])
        out = np.empty((X.shape[0], self._K))
        for s in self._chunks(X.shape[0], self._chunk_rows()):
            Z, _ = prog.forward(weights, X[s])
            out[s] = prog.eta(Z)
        return out

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
        prog = self._prog
        weights = prog.weights(theta[: self._Pn])
        out = np.empty((X.shape[0], self._K, self._Pn))
        for s in self._chunks(X.shape[0], self._chunk_rows(jacobian=True)):
            Z, A = prog.forward(weights, X[s])
            out[s] = prog.jacobian_t(weights, Z, A).transpose(2, 0, 1)
        return out

    def loglik_rows(self, theta, X, y) -> np.ndarray:
        """Per-row log-likelihood, shape (n,)."""
        theta, X, y = self._check(theta, X, y)
        eta = self.linear_predictor(theta, X)
        return self._family.loglik_rows(eta, y, theta[self._Pn:])

    def loglik(self, theta, X, y) -> float:
        """Log-likelihood summed over rows."""
        return self.evaluate(theta, X, y, ("loglik",))["loglik"]

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
        theta : array_like, shape (P,)
        X : array_like, shape (n, d)
        y : array_like, optional
            Needed for everything but ``"fisher"``.
        what : sequence of str
            Any of ``"loglik"``, ``"score"``, ``"fisher"``, ``"hessian"``.

        Returns
        -------
        dict
            ``{name: value}``: a float for ``loglik``, (P,) for ``score``,
            (P, P) for ``fisher`` and ``hessian``.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli())
        >>> theta = model.random_params(0)
        >>> X, y = model.simulate(theta, n=500, rng=1)
        >>> out = model.compile().evaluate(theta, X, y, ("loglik", "score", "fisher"))
        >>> sorted(out), out["fisher"].shape
        (['fisher', 'loglik', 'score'], (13, 13))
        """
        if isinstance(what, str):
            what = (what,)
        what = tuple(what)
        bad = [w for w in what if w not in _QUANTITIES]
        if bad or not what:
            raise SymmleValueError(f"what must name some of {_QUANTITIES}, got {what!r}")
        if y is None and any(w != "fisher" for w in what):
            raise SymmleValueError("y is needed for loglik, score and hessian")
        theta, X, y = self._check(theta, X, y)
        fam, prog, Pn, P = self._family, self._prog, self._Pn, self._P
        tn, extra = theta[:Pn], theta[Pn:]
        E = P - Pn
        want_ll, want_sc = "loglik" in what, "score" in what
        want_fi, want_he = "fisher" in what, "hessian" in what
        need_jac = want_fi or want_he
        weights = prog.weights(tn)
        ll = 0.0
        score = np.zeros(P)
        fisher = np.zeros((P, P))
        hess = np.zeros((P, P))
        m = self._chunk_rows(jacobian=need_jac, hessian=want_he)
        with np.errstate(over="ignore"):
            for s in self._chunks(X.shape[0], m):
                Z, A = prog.forward(weights, X[s])
                eta = prog.eta(Z)
                yc = y[s] if y is not None else None
                if want_ll:
                    ll += float(np.sum(fam.loglik_rows(eta, yc, extra)))
                if want_sc or want_he:
                    g = fam.grad_eta(eta, yc, extra)
                Jt = prog.jacobian_t(weights, Z, A) if need_jac else None
                if want_sc:
                    if Jt is not None:
                        for k in range(self._K):
                            score[:Pn] += Jt[k] @ g[:, k]
                    else:
                        score[:Pn] += prog.grad(weights, Z, A, g)
                    if E:
                        score[Pn:] += fam.grad_extra(eta, yc, extra).sum(axis=0)
                if want_fi:
                    _accumulate_jwj(fisher, Jt, fam.weight(eta, extra))
                    if E:
                        fisher[Pn:, Pn:] += eta.shape[0] * fam.extra_fisher(eta, extra)
                if want_he:
                    _accumulate_jwj(hess, Jt, fam.hess_eta(eta, yc, extra))
                    hess[:Pn, :Pn] += prog.hessian_g_eta(weights, Z, A, g)
                    if E:
                        cross = fam.hess_cross(eta, yc, extra)  # (m, K, E)
                        c = np.einsum("kpm,mke->pe", Jt, cross)
                        hess[:Pn, Pn:] += c
                        hess[Pn:, :Pn] += c.T
                        hess[Pn:, Pn:] += fam.hess_extra(eta, yc, extra).sum(axis=0)
        out = {}
        if want_ll:
            out["loglik"] = ll
        if want_sc:
            out["score"] = score
        if want_fi:
            out["fisher"] = fisher
        if want_he:
            out["hessian"] = hess
        return out

    def __repr__(self):
        return f"CompiledModel({self.model!r})"


def _accumulate_jwj(acc, Jt, W):
    """``acc[:Pn, :Pn] += Σ_rows J W Jᵀ`` for Jt (K, Pn, m) and W (m, K, K) symmetric per row.

    W is factored per row as ``Σ_j λ_j v_j v_jᵀ``; the rows of each sign are
    stacked into one (Pn, K·m) matrix ``B`` and added as ``± B Bᵀ``, which
    numpy hands to BLAS ``syrk`` (half the work of a general product).
    """
    K, Pn, m = Jt.shape
    if K == 1:
        w = np.asarray(W[:, 0, 0])
        J = Jt[0]
        if np.all(w == w[0]):
            if w[0] != 0:
                acc[:Pn, :Pn] += w[0] * (J @ J.T)
            return
        pos, neg = np.maximum(w, 0.0), np.maximum(-w, 0.0)
        if np.any(pos):
            B = J * np.sqrt(pos)
            acc[:Pn, :Pn] += B @ B.T
        if np.any(neg):
            B = J * np.sqrt(neg)
            acc[:Pn, :Pn] -= B @ B.T
        return
    lam, V = np.linalg.eigh(W)  # (m, K), (m, K, K)
    for sign in (1.0, -1.0):
        r = np.sqrt(np.maximum(sign * lam, 0.0))  # (m, K)
        if not np.any(r):
            continue
        # B[p, j, m] = Σ_k Jt[k, p, m] V[m, k, j] r[m, j]
        B = np.einsum("kpm,mkj->pjm", Jt, V * r[:, None, :]).reshape(Pn, K * m)
        acc[:Pn, :Pn] += sign * (B @ B.T)
