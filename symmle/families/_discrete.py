"""The discrete families: `Bernoulli` (logit link), `Poisson` (log link) and `Categorical`
(softmax over the outputs, or the multinomial logit against a reference class)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.special as sps
import sympy as sp

from .._checks import as_real_array, check_bool
from ..activations import logsumexp, sigmoid, softplus
from ..errors import DataError, SymmleValueError
from ._base import Family, _as_float_y, _diag_weight

__all__ = ["Bernoulli", "Poisson", "Categorical"]

#: the η above which Poisson's derivatives are scaled by e^{−max η} (`Poisson.log_scale`):
#: e^η ≈ 1e130 still leaves ~10¹⁷⁸ of headroom for the products with ∂η/∂θ and the sums.
#: Rows far below the largest η get scales of their own (`symmle.compiled._wide.bands`).
POISSON_SCALE_FROM = 300.0


def _softmax_parts(logits):
    """``(p, q)`` (n, K): the softmax of the logits and ``q = 1 − p``, each to full relative
    accuracy. Only the largest logit's class can have ``p > 1/2``; its ``q`` is the sum of the
    others' probabilities (``1 − p`` rounded loses every digit where it dominates)."""
    rows = np.arange(logits.shape[0])
    top = np.argmax(logits, axis=1)
    e = np.exp(logits - logits[rows, top][:, None])  # ≤ 1: no overflow
    e[rows, top] = 0.0
    rest = e.sum(axis=1)  # Σ_{j ≠ top} e^{η_j − η_top}
    e[rows, top] = 1.0
    total = 1.0 + rest
    p = e / total[:, None]
    q = 1.0 - p
    q[rows, top] = rest / total
    return p, q


def _log_softmax(logits):
    """``log p`` (n, K) of the softmax: ``η_k − η_top − log1p(Σ_{j ≠ top} e^{η_j − η_top})``,
    to full relative accuracy also for a dominant class (``log Σ e^{η_j − η_top}`` rounds the
    sum 1 + tiny to 1, and ``log p_top`` to 0; e.g. −1.8e-35 for logits (0, 80))."""
    rows = np.arange(logits.shape[0])
    top = np.argmax(logits, axis=1)
    shifted = logits - logits[rows, top][:, None]
    e = np.exp(shifted)
    e[rows, top] = 0.0
    return shifted - np.log1p(e.sum(axis=1))[:, None]


@dataclass(frozen=True, repr=False)
class Bernoulli(Family):
    """Binary outputs with logit link: ``P(y = 1 | x) = σ(η)``.

    ``mlp(d, 1)`` with ``Bernoulli()`` is logistic regression.

    Examples
    --------
    >>> sm.Bernoulli().loglik_expr([sp.Symbol("eta")], [sp.Symbol("y")], ())
    eta*y - softplus(eta)
    """

    name: ClassVar[str] = "bernoulli"
    separable: ClassVar[bool] = True
    support_words: ClassVar[str] = "{0, 1}"
    weight_words: ClassVar[str] = "p(1-p) ≤ 1/4"

    def compactness_words(self):
        return ("Θ = ℝ^P is not compact, and the MLE may not exist: on separable data the "
                "likelihood increases as ‖θ‖ → ∞")

    def degenerate_rows(self, eta, y, eps):
        # log P(the value not observed) per row and output
        wrong = -np.logaddexp(0.0, np.where(y == 1, 1.0, -1.0) * eta)
        return np.any(wrong < math.log(eps), axis=1)

    def loglik_expr(self, eta, y, extra):
        return sp.Add(*[yk * ek - softplus(ek) for ek, yk in zip(eta, y)])

    def weight_expr(self, eta, extra):
        return sp.diag(*[sigmoid(e) * (1 - sigmoid(e)) for e in eta])

    def mean_expr(self, eta):
        return [sigmoid(e) for e in eta]

    def check_y(self, y, n, k, *, name="y"):
        arr = _as_float_y(y, n, k, name)
        if not np.all((arr == 0) | (arr == 1)):
            raise DataError(f"{name} must contain only 0 and 1 for a Bernoulli family")
        return arr

    def mean(self, eta, extra):
        return sps.expit(eta)

    def loglik_rows(self, eta, y, extra):
        # y·η - softplus(η) = -softplus((1 - 2y)·η) for y in {0, 1}: no cancellation at large |η|
        return -np.sum(np.logaddexp(0.0, (1.0 - 2.0 * y) * eta), axis=1)

    def grad_eta(self, eta, y, extra):
        # y - σ(η), written so that neither branch cancels at large |η| (the derived form
        # 1 - σ(η) loses every digit for y = 1, η > 37)
        return np.where(y == 1.0, sps.expit(-eta), -sps.expit(eta))

    def hess_eta(self, eta, y, extra):
        return -self.weight(eta, extra)

    def weight(self, eta, extra):
        # σ(η)σ(−η): the derived σ(η)(1 − σ(η)) is 0 for η > 37 where the truth is e^{−η}
        return _diag_weight(sps.expit(eta) * sps.expit(-eta))

    def sample(self, eta, extra, rng):
        y = (rng.random(eta.shape) < sps.expit(eta)).astype(float)
        return y[:, 0] if y.shape[1] == 1 else y


@dataclass(frozen=True, repr=False)
class Poisson(Family):
    """Count outputs with log link: ``E[y | x] = exp(η)``.

    Examples
    --------
    >>> sm.Poisson().loglik_expr([sp.Symbol("eta")], [sp.Symbol("y")], ())
    eta*y - exp(eta) - loggamma(y + 1)
    """

    name: ClassVar[str] = "poisson"
    support_words: ClassVar[str] = "{0, 1, 2, ...}"
    weight_words: ClassVar[str] = "exp(η)"

    def information_words(self, eta_bounded):
        growth = ("bounded in x for bounded units" if eta_bounded
                  else "growing linearly in x")
        return (f"weight exp(η) with η {growth}: needs E[exp(c‖x‖)‖x‖²] < ∞ (true for "
                f"Gaussian x, not for heavy tails)")

    def compactness_words(self):
        return ("Θ = ℝ^P is not compact; the MLE may not exist when the rows with y = 0 "
                "can be separated (η → -∞ there)")

    def loglik_expr(self, eta, y, extra):
        return sp.Add(*[yk * ek - sp.exp(ek) - sp.loggamma(yk + 1) for ek, yk in zip(eta, y)])

    def weight_expr(self, eta, extra):
        return sp.diag(*[sp.exp(e) for e in eta])

    def mean_expr(self, eta):
        return [sp.exp(e) for e in eta]

    def check_y(self, y, n, k, *, name="y"):
        arr = _as_float_y(y, n, k, name)
        if np.any(arr < 0) or np.any(arr != np.round(arr)):
            raise DataError(f"{name} must contain non-negative integer counts for a Poisson family")
        return arr

    def mean(self, eta, extra):
        with np.errstate(over="ignore"):  # exp(η) = +inf for η > 709.78 is the right value
            return np.exp(eta)

    def loglik_rows(self, eta, y, extra):
        # y*eta - exp(eta): where y = 0 the product is 0 even for huge |eta|.
        ye = np.where(y == 0, 0.0, y * eta)
        with np.errstate(over="ignore"):
            return np.sum(ye - np.exp(eta) - sps.gammaln(y + 1.0), axis=1)

    def weight(self, eta, extra):
        with np.errstate(over="ignore"):
            return _diag_weight(np.exp(eta))

    # The scaled derivatives (e^{−M} times grad_eta, hess_eta, weight) let a sum over rows
    # overflow to the infinity of its sign: CompiledModel sums them and multiplies by e^M last
    # (issue 17 §2; needs `Family` defaults and the compiled model's reduction to call them).
    def log_scale(self, eta):
        # the largest η once e^η may overflow in a product with ∂η/∂θ: then e^{η − M} ≤ 1
        # (an infinite η is left to overflow as it does unscaled)
        top = float(np.max(eta, initial=-np.inf))
        return top if POISSON_SCALE_FROM < top < math.inf else 0.0

    def grad_eta_scaled(self, eta, y, extra, log_scale):
        # e^{−M}(y − e^η) = y e^{−M} − e^{η − M}
        return y * math.exp(-log_scale) - np.exp(eta - log_scale)

    def hess_eta_scaled(self, eta, y, extra, log_scale):
        return -self.weight_scaled(eta, extra, log_scale)

    def weight_scaled(self, eta, extra, log_scale):
        return _diag_weight(np.exp(eta - log_scale))

    def sample(self, eta, extra, rng):
        if np.max(eta) > 42.0:
            raise SymmleValueError(
                f"cannot simulate Poisson counts with mean exp({np.max(eta):.3g}): the linear "
                "predictor must stay below 42 (mean < 1.7e18) to sample")
        y = rng.poisson(np.exp(eta)).astype(float)
        return y[:, 0] if y.shape[1] == 1 else y


@dataclass(frozen=True, repr=False)
class Categorical(Family):
    """Class labels with softmax over the network outputs.

    Parameters
    ----------
    reference : bool
        False (the default): K classes ``0 … K-1`` for K network outputs, ``P(y = k) ∝ exp(η_k)``.
        Adding the same constant to every output leaves the probabilities unchanged, so the
        output biases (and the weights of anything feeding every output) carry a continuous
        symmetry, the softmax shift. True: the *reference-class* parametrisation of the
        multinomial logit (as statsmodels' ``MNLogit``): K = n_outputs + 1 classes
        ``0 … K-1``, class 0's logit is fixed at 0 and output k is the logit of class k
        against class 0, ``P(y = k) = exp(η_k) / (1 + Σ_j exp(η_j))``; no softmax shift, so
        ``mlp(d, K - 1)`` with ``Categorical(reference=True)`` is identified.

    Notes
    -----
    The symbolic log-density uses indicator symbols (``y1 … yK`` of the classes with an output
    of their own); the numeric functions take integer labels of shape (n,). `mean` gives the
    probabilities of all K classes.

    Examples
    --------
    >>> e = sp.symbols("e1 e2")
    >>> sm.Categorical().loglik_expr(e, sp.symbols("y1 y2"), ())
    e1*y1 + e2*y2 - logsumexp(e1, e2)
    >>> sm.Categorical(reference=True).loglik_expr(e, sp.symbols("y1 y2"), ())
    e1*y1 + e2*y2 - logsumexp(0, e1, e2)
    >>> sm.Categorical(reference=True).mean(np.array([[0.0, np.log(2.0)]]), ()).round(3)
    array([[0.25, 0.25, 0.5 ]])
    """

    reference: bool = False

    name: ClassVar[str] = "categorical"
    separable: ClassVar[bool] = True
    support_words: ClassVar[str] = "the K classes"
    weight_words: ClassVar[str] = "diag(p) - ppᵀ (bounded)"

    def __post_init__(self):
        object.__setattr__(self, "reference", check_bool(self.reference, "reference"))

    @property
    def shift_invariant(self) -> bool:
        """The softmax shift: only without a reference class."""
        return not self.reference

    def __repr__(self):
        return "Categorical(reference=True)" if self.reference else "Categorical()"

    def to_dict(self):
        return {"name": self.name, "reference": True} if self.reference else {"name": self.name}

    def n_classes(self, k: int) -> int:
        """The number of classes for a network with ``k`` outputs."""
        return k + 1 if self.reference else k

    def _logits(self, eta):
        """The logits of all classes, (n, K): a zero column for class 0 with a reference."""
        eta = np.asarray(eta, dtype=float)
        if not self.reference:
            return eta
        return np.concatenate([np.zeros((eta.shape[0], 1)), eta], axis=1)

    def _output_probs(self, eta):
        """The probabilities of the classes that have an output, (n, k)."""
        p = sps.softmax(self._logits(eta), axis=1)
        return p[:, 1:] if self.reference else p

    def _probs_and_rest(self, eta):
        """``(p, q, √p₀)``: the probabilities ``p`` and ``q = 1 − p`` (n, k) of the classes that
        have an output, each to full relative accuracy (`_softmax_parts`), and √p₀ (n,) of the
        reference class (0 without one)."""
        p, q = _softmax_parts(self._logits(eta))
        if not self.reference:
            return p, q, np.zeros(p.shape[0])
        return p[:, 1:], q[:, 1:], np.sqrt(p[:, 0])

    def compactness_words(self):
        return Bernoulli.compactness_words(self)

    def degenerate_rows(self, eta, y, eps):
        # log P(observed class) within eps of 0: 1 - p_obs < eps, computed as -expm1(log p_obs)
        log_p = _log_softmax(self._logits(eta))[np.arange(eta.shape[0]), y]
        return -np.expm1(log_p) < eps

    def check_outputs(self, k):
        if self.reference:
            if k < 1:
                raise SymmleValueError(
                    f"Categorical(reference=True) needs a network with at least 1 output (one "
                    f"per class but the reference class 0), got {k}")
        elif k < 2:
            raise SymmleValueError(
                f"Categorical needs a network with at least 2 outputs (one per class), got {k}; "
                "use Bernoulli() for a binary outcome with one output, or "
                "Categorical(reference=True) for K classes with K - 1 outputs")

    def loglik_expr(self, eta, y, extra):
        logits = [sp.S.Zero, *eta] if self.reference else list(eta)
        return sp.Add(*[yk * ek for ek, yk in zip(eta, y)]) - logsumexp(*logits)

    def _probs_expr(self, eta):
        logits = [sp.S.Zero, *eta] if self.reference else list(eta)
        lse = logsumexp(*logits)
        return [sp.exp(e - lse) for e in logits]

    def weight_expr(self, eta, extra):
        p = self._probs_expr(eta)[1:] if self.reference else self._probs_expr(eta)
        return sp.diag(*p) - sp.Matrix(p) * sp.Matrix(p).T

    def mean_expr(self, eta):
        return self._probs_expr(eta)

    def check_y(self, y, n, k, *, name="y"):
        K = self.n_classes(k)
        arr = np.asarray(as_real_array(y, name=name, expected="an array of integer class labels",
                                       error=DataError)) if not (
            isinstance(y, np.ndarray) and y.dtype.kind in "iub") else y
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,):
            raise DataError(f"{name} must have shape ({n},) (one class label per row), got {arr.shape}")
        if arr.dtype.kind not in "iub":
            try:
                f = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError(f"{name} must contain integer class labels 0..{K - 1}") from None
            if not np.all(np.isfinite(f)) or np.any(f != np.round(f)):
                raise DataError(f"{name} must contain integer class labels 0..{K - 1}")
            arr = f
        arr = arr.astype(np.int64)
        if np.any(arr < 0) or np.any(arr >= K):
            outputs = f"K = {k} outputs + the reference class" if self.reference else \
                f"K = {k} outputs"
            raise DataError(f"{name} must contain class labels 0..{K - 1} ({outputs})")
        return arr

    def y_values(self, y, k):
        # indicators of the classes that have an output (1..k with a reference class)
        out = np.zeros((y.shape[0], k))
        rows = np.arange(y.shape[0])
        if self.reference:
            has = y >= 1
            out[rows[has], y[has] - 1] = 1.0
        else:
            out[rows, y] = 1.0
        return out

    def mean(self, eta, extra):
        return sps.softmax(self._logits(eta), axis=1)

    def loglik_rows(self, eta, y, extra):
        return _log_softmax(self._logits(eta))[np.arange(eta.shape[0]), y]

    def grad_eta(self, eta, y, extra):
        # y_k − p_k: 1 − p_k is q_k, not 1 − p_k rounded (0 for a class with p_k > 1 − 2⁻⁵³)
        p, q, _ = self._probs_and_rest(eta)
        return np.where(self.y_values(y, eta.shape[1]) == 1.0, q, -p)

    def hess_eta(self, eta, y, extra):
        return -self.weight(eta, extra)

    def weight(self, eta, extra):
        # diag(p) − ppᵀ with the diagonal p_k q_k (q_k = 1 − p_k = Σ_{j≠k} p_j to full
        # accuracy): the rounded p_k − p_k² is 0 (or negative) for a dominant class, and the
        # matrix then is not PSD; this one is diagonally dominant, as the truth
        p, q, _ = self._probs_and_rest(eta)
        out = -p[:, :, None] * p[:, None, :]
        idx = np.arange(p.shape[1])
        out[:, idx, idx] = p * q
        return out

    def weight_root(self, eta, extra):
        # B = diag(√p)(I − c √p √pᵀ) with c = 1 / (1 + √p₀): (I − c √p √pᵀ)² = I − √p √pᵀ
        # because |√p|² = 1 − p₀, so B Bᵀ = diag(p) − ppᵀ exactly, PSD by construction, no
        # eigen-decomposition (p₀ = 0, c = 1 without a reference class). Its diagonal
        # √p_k (1 − c p_k) is written √p_k (q_k + √p₀)/(1 + √p₀), which does not cancel for a
        # dominant class (q_k = 1 − p_k to full accuracy); every other entry is a product.
        # The compiled model seeds its reverse pass with these columns (out[:, k, j] = R_kj):
        # J R for the Fisher information without forming J (`NumericProgram.jacobian_t`)
        p, q, s0 = self._probs_and_rest(eta)
        c = 1.0 / (1.0 + s0)
        r = np.sqrt(p)
        out = -c[:, None, None] * p[:, :, None] * r[:, None, :]
        idx = np.arange(p.shape[1])
        out[:, idx, idx] = r * (q + s0[:, None]) * c[:, None]
        return out

    def weight_root_times(self, Jt, eta, extra):
        # (the route from a formed Jᵀ: the fused numba program's, which takes no seed)
        # with R = diag(√p)(I − c √p √pᵀ) (`weight_root`, c = 1/(1 + √p₀)):
        # Σ_k J_k R_kj = √p_j (J_j − c u), u = Σ_k p_k J_k, K + 2 passes over J instead of
        # K². For the class j with p_j > 1/2 (one per row at most) J_j − c u cancels: there it
        # is J_j (1 − c p_j) − c Σ_{k≠j} p_k J_k with 1 − c p_j = (√p₀ + q_j)/(1 + √p₀) from
        # the accurate q_j, one more pass; B Bᵀ is then to a few ε componentwise, and PSD by
        # construction
        p, q, s0 = self._probs_and_rest(eta)
        K, P, m = Jt.shape
        pt = np.ascontiguousarray(p.T)  # (K, m)
        c = 1.0 / (1.0 + s0)
        u = Jt[0] * pt[0]
        for k in range(1, K):
            u += Jt[k] * pt[k]
        u *= c
        Bk = np.empty((K, P, m))  # contiguous passes, then one transposing copy
        r = np.sqrt(pt)
        for j in range(K):
            np.subtract(Jt[j], u, out=Bk[j])
            Bk[j] *= r[j]
        top = np.argmax(pt, axis=0)
        big = np.flatnonzero(pt[top, np.arange(m)] > 0.5)
        if big.size:
            tj = top[big]
            rest = np.zeros((P, big.size))  # Σ_{k≠j} p_k J_k on those rows
            for k in range(K):
                w = np.where(tj == k, 0.0, pt[k, big])
                rest += Jt[k][:, big] * w
            a = (s0[big] + q[big, tj]) * c[big]
            Jtop = Jt[tj, :, big].T  # (P, rows)
            Bk[tj, :, big] = ((Jtop * a - rest * c[big]) * r[tj, big]).T
        B = np.empty((P, K, m))
        B.transpose(1, 0, 2)[...] = Bk
        return B

    def sample(self, eta, extra, rng):
        p = sps.softmax(self._logits(eta), axis=1)
        u = rng.random((eta.shape[0], 1))
        y = (np.cumsum(p, axis=1) < u).sum(axis=1)
        return np.minimum(y, p.shape[1] - 1).astype(np.int64)
