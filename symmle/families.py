"""Output distributions: ``Gaussian``, ``Bernoulli``, ``Poisson``, ``Categorical``.

The network's output ``η = f(x; θ)`` is the family's linear predictor and the
family applies its canonical inverse link: identity (Gaussian), logistic
(Bernoulli), exp (Poisson), softmax over the outputs (Categorical). With
several outputs, Gaussian, Bernoulli and Poisson treat them as independent
(Gaussian with one common σ).

Each family gives both the symbolic per-sample log-density (normalising
constants included) and stable numpy forms of the log-density and of its
first two derivatives with respect to η, which the compiled layer chains with
the network's Jacobian.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import scipy.special as sps
import sympy as sp

from ._checks import as_real_array, check_real
from .activations import NUMPY_FUNCTIONS, logsumexp, sigmoid, softplus
from .errors import DataError, PersistenceError, SymmleValueError

__all__ = ["Family", "Gaussian", "Bernoulli", "Poisson", "Categorical", "family_from_name"]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Family(ABC):
    """An output distribution with canonical link: an abstract base whose subclasses are final
    frozen dataclasses.

    Besides the log-density and its derivatives, a family carries every family-specific fact
    that fitting, identifiability and symmetry ask about (class attributes and methods below),
    so that no other module switches on the family's type.
    """

    #: short lower-case name, used by the CLI and JSON.
    name: ClassVar[str] = ""
    #: adding one constant to every output leaves the distribution unchanged (softmax): the
    #: output biases, and weights from a unit feeding every output, carry a continuous symmetry.
    shift_invariant: ClassVar[bool] = False
    #: ℓ is −½‖y − η‖²/σ² plus a constant: least-squares solvers (``lm``, ``trf``) apply.
    least_squares: ClassVar[bool] = False
    #: the MLE can fail to exist by (quasi-)separation: ℓ rising without bound along a direction.
    separable: ClassVar[bool] = False
    #: the support of y given x, in words (the regularity table).
    support_words: ClassVar[str] = ""
    #: the Fisher weight −E[∂²ℓ/∂η²] in words (the regularity table).
    weight_words: ClassVar[str] = ""

    # ---- structure
    @property
    def extra_names(self) -> tuple[str, ...]:
        """Names of the family's own parameters, appended to θ after the network's."""
        return ()

    @property
    def n_extra(self) -> int:
        return len(self.extra_names)

    @property
    def estimates_scale(self) -> bool:
        """Whether the family estimates a noise scale of its own (``Gaussian()``: log σ)."""
        return False

    def extra_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(sp.Symbol(n, real=True) for n in self.extra_names)

    def default_extra(self) -> np.ndarray:
        """A starting value for the family's own parameters."""
        return np.zeros(self.n_extra)

    def check_outputs(self, k: int) -> None:
        """Raise if the family cannot use a network with ``k`` outputs."""

    def y_symbols(self, k: int) -> tuple[sp.Symbol, ...]:
        if k == 1:
            return (sp.Symbol("y", real=True),)
        return tuple(sp.Symbol(f"y{i + 1}", real=True) for i in range(k))

    # ---- facts for fitting and the regularity table
    def noise_scale(self, extra) -> float | None:
        """The noise standard deviation σ at the family parameters ``extra``; None when the
        family has none."""
        return None

    def loglik_constant(self, count: int, extra) -> float:
        """The part of ``Σ ℓ`` over ``count`` output values that does not depend on η or y
        (Gaussian: ``−count·(log σ + ½ log 2π)``); fitting subtracts it so that its objective
        is ½ RSS/σ² for least squares."""
        return 0.0

    def profile_extra(self, rss: float, count: int) -> np.ndarray:
        """The family parameters that maximise ℓ given the residual sum of squares (only for a
        family that `estimates_scale` by least squares)."""
        raise SymmleValueError(f"{self.name} has no scale to profile out")

    def degenerate_rows(self, eta, y, eps: float) -> np.ndarray | None:
        """Rows fitted with probability within ``eps`` of 1 for their observed value (a symptom
        of separation), as a boolean mask; None where the notion does not apply."""
        return None

    def information_words(self, eta_bounded: bool) -> str:
        """Why the Fisher information is finite, and under what moment condition on x."""
        return (f"the weight is {self.weight_words} and ∂η/∂θ grows at most linearly in x: "
                f"finite when E‖x‖² < ∞")

    def compactness_words(self) -> str:
        """Why the parameter space fails to be compact, and what that does to the MLE."""
        return "Θ = ℝ^P is not compact"

    # ---- symbolic
    @abstractmethod
    def loglik_expr(self, eta, y, extra) -> sp.Expr:
        """Per-sample log-density as a sympy expression of η (list), y (symbols) and extras."""

    @abstractmethod
    def weight_expr(self, eta, extra) -> sp.Matrix:
        """``-E[∂²ℓ/∂η∂ηᵀ]`` (K × K): the Fisher weight of the network block."""

    def extra_fisher_expr(self, eta, extra) -> sp.Matrix:
        """Fisher block of the family's own parameters (cross terms with η are zero)."""
        return sp.zeros(self.n_extra, self.n_extra)

    @abstractmethod
    def mean_expr(self, eta) -> list:
        """``E[y | x]`` as sympy expressions."""

    # ---- numeric (eta has shape (n, K))
    @abstractmethod
    def check_y(self, y, n: int, k: int, *, name: str = "y") -> np.ndarray:
        """Validate ``y`` for ``n`` rows and ``k`` outputs; return the array the numerics use."""

    def y_values(self, y, k: int) -> np.ndarray:
        """The values of `y_symbols` per row, shape (n, k), from what `check_y` returned."""
        return y

    @abstractmethod
    def mean(self, eta, extra) -> np.ndarray:
        """``E[y | x]``, shape (n, K)."""

    @abstractmethod
    def loglik_rows(self, eta, y, extra) -> np.ndarray:
        """Per-row log-density, shape (n,)."""

    def constant_weight(self, extra) -> float | None:
        """c when `weight` is ``c·I`` for every row (then the Fisher information needs no η
        first), else None."""
        return None

    def loglik_sum(self, eta, y, extra) -> float:
        """``Σ_rows`` of `loglik_rows` (a family may sum it in fewer passes)."""
        return float(np.sum(self.loglik_rows(eta, y, extra)))

    # The derivatives of ℓ with respect to η and to the family's parameters are derived from
    # `loglik_expr` (`derived`); a family overrides one only with a form that is measurably more
    # accurate, and the tests check every override against the derived one.
    def grad_eta(self, eta, y, extra) -> np.ndarray:
        """``∂ℓ/∂η``, shape (n, K)."""
        return self.derived("grad_eta", eta, y, extra)

    def hess_eta(self, eta, y, extra) -> np.ndarray:
        """``∂²ℓ/∂η∂ηᵀ``, shape (n, K, K)."""
        return self.derived("hess_eta", eta, y, extra)

    @abstractmethod
    def weight(self, eta, extra) -> np.ndarray:
        """``-E[∂²ℓ/∂η∂ηᵀ]``, shape (n, K, K)."""

    def weight_root(self, eta, extra) -> np.ndarray:
        """A factor ``B`` (n, K, K) with ``B Bᵀ = weight`` per row (for a root of the
        information); from the eigen-decomposition, rounding negatives to 0, unless a family
        has an exact one."""
        w, U = np.linalg.eigh(np.asarray(self.weight(eta, extra), dtype=float))
        return U * np.sqrt(np.clip(w, 0.0, None))[:, None, :]

    def grad_extra(self, eta, y, extra) -> np.ndarray:
        """``∂ℓ/∂extra``, shape (n, E)."""
        return self.derived("grad_extra", eta, y, extra)

    def hess_extra(self, eta, y, extra) -> np.ndarray:
        """``∂²ℓ/∂extra∂extraᵀ``, shape (n, E, E)."""
        return self.derived("hess_extra", eta, y, extra)

    def hess_cross(self, eta, y, extra) -> np.ndarray:
        """``∂²ℓ/∂η∂extra``, shape (n, K, E)."""
        return self.derived("hess_cross", eta, y, extra)

    def extra_fisher(self, eta, extra) -> np.ndarray:
        """Per-row Fisher block of the extras, shape (E, E) (constant in η for these families)."""
        return np.zeros((0, 0))

    def derived(self, what: str, eta, y, extra) -> np.ndarray:
        """A derivative of ℓ lambdified from `loglik_expr`: ``what`` is one of ``"grad_eta"``
        (n, K), ``"hess_eta"`` (n, K, K), ``"grad_extra"`` (n, E), ``"hess_extra"`` (n, E, E),
        ``"hess_cross"`` (n, K, E).

        Examples
        --------
        >>> fam = sm.Poisson()
        >>> fam.derived("grad_eta", np.array([[0.0]]), np.array([[3.0]]), ())
        array([[2.]])
        """
        eta = np.asarray(eta, dtype=float)
        n, k = eta.shape
        fn, shape = _derivatives(self, k)[what]
        args = [eta[:, i] for i in range(k)]
        args += [yv for yv in np.asarray(self.y_values(y, k), dtype=float).T]
        args += [float(e) for e in np.asarray(extra, dtype=float).ravel()]
        dims = {"K": k, "E": self.n_extra}
        out_shape = (n,) + tuple(dims[d] for d in shape)
        out = np.empty(out_shape)
        if out.size == 0:
            return out
        with np.errstate(over="ignore", invalid="ignore"):
            values = fn(*args)
        flat = out.reshape(n, -1)
        for j, v in enumerate(values):
            flat[:, j] = v
        return out

    @abstractmethod
    def sample(self, eta, extra, rng: np.random.Generator) -> np.ndarray:
        """Draw y given η (same layout as `check_y` returns, squeezed for K = 1)."""

    # ---- persistence
    def to_dict(self) -> dict:
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


_DERIVED_SHAPES = {"grad_eta": ("K",), "hess_eta": ("K", "K"), "grad_extra": ("E",),
                   "hess_extra": ("E", "E"), "hess_cross": ("K", "E")}


@lru_cache(maxsize=64)
def _derivatives(family: Family, k: int) -> dict:
    """``{what: (lambdified function, shape)}`` for the derivatives of ``family``'s ℓ with
    ``k`` outputs, each function returning the flattened entries (families are immutable values,
    so the cache is keyed by value)."""
    eta = [sp.Dummy(f"eta{i}", real=True) for i in range(k)]
    ys = list(family.y_symbols(k))
    extra = list(family.extra_symbols())
    ll = family.loglik_expr(eta, ys, extra)
    exprs = {
        "grad_eta": [ll.diff(e) for e in eta],
        "hess_eta": [ll.diff(a, b) for a in eta for b in eta],
        "grad_extra": [ll.diff(s) for s in extra],
        "hess_extra": [ll.diff(a, b) for a in extra for b in extra],
        "hess_cross": [ll.diff(a, b) for a in eta for b in extra],
    }
    modules = [NUMPY_FUNCTIONS, "scipy", "numpy"]
    return {what: (sp.lambdify(eta + ys + extra, e or [sp.S.Zero], modules=modules, cse=True),
                   _DERIVED_SHAPES[what]) for what, e in exprs.items()}


def _as_float_y(y, n, k, name):
    arr = as_real_array(y, name=name, expected=f"a numeric array with {n} rows", error=DataError)
    if arr.ndim == 1 and k == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape != (n, k):
        want = f"({n},)" if k == 1 else f"({n}, {k})"
        raise DataError(f"{name} must have shape {want} to match X, got {np.shape(y)}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or infinite values")
    return arr


def _diag_weight(w):
    n, k = w.shape
    out = np.zeros((n, k, k))
    idx = np.arange(k)
    out[:, idx, idx] = w
    return out


#: σ is refused outside this range: σ² and 1/σ² must stay normal float64 numbers (and the
#: log-density finite) for every row of any data set.
SIGMA_MIN, SIGMA_MAX = 1e-150, 1e150


@dataclass(frozen=True, repr=False)
class Gaussian(Family):
    """Normal outputs with identity link.

    Parameters
    ----------
    sigma : float or None
        The known noise standard deviation; ``None`` (the default) estimates
        it, as one extra parameter ``log_sigma`` appended at the end of θ.

    Examples
    --------
    >>> sm.Gaussian(sigma=0.5).loglik_expr([sp.Symbol("eta")], [sp.Symbol("y")], ())
    -2*(-eta + y)**2 - log(sqrt(2)*sqrt(pi)/2)
    >>> sm.Gaussian() == sm.Gaussian(sigma=None), sm.Gaussian(1) == sm.Gaussian(1.0)
    (True, True)
    """

    sigma: float | None = None

    name: ClassVar[str] = "gaussian"
    least_squares: ClassVar[bool] = True
    support_words: ClassVar[str] = "the real line"
    weight_words: ClassVar[str] = "1/σ²"

    def __post_init__(self):
        if self.sigma is not None:
            sigma = check_real(self.sigma, "sigma", finite=False)
            if not (math.isfinite(sigma) and sigma > 0):
                raise SymmleValueError(f"sigma must be a positive finite number, got {sigma!r}")
            if not SIGMA_MIN <= sigma <= SIGMA_MAX:
                raise SymmleValueError(
                    f"sigma must be between {SIGMA_MIN:g} and {SIGMA_MAX:g} (σ² must be a normal "
                    f"float64 number), got {sigma!r}; rescale y instead")
            object.__setattr__(self, "sigma", sigma)

    def __repr__(self):
        return "Gaussian()" if self.sigma is None else f"Gaussian(sigma={self.sigma!r})"

    def to_dict(self):
        return {"name": self.name, "sigma": self.sigma}

    @property
    def extra_names(self):
        return () if self.sigma is not None else ("log_sigma",)

    @property
    def estimates_scale(self):
        return self.sigma is None

    def noise_scale(self, extra):
        return self._sigma_num(extra)

    def loglik_constant(self, count, extra):
        return -count * (math.log(self._sigma_num(extra)) + 0.5 * _LOG_2PI)

    def profile_extra(self, rss, count):
        if self.sigma is not None:
            return super().profile_extra(rss, count)
        return np.array([0.5 * math.log(rss / count)])

    def compactness_words(self):
        if self.sigma is None:
            return ("Θ = ℝ^P × ℝ (log σ) is not compact; the likelihood is unbounded as σ → 0 "
                    "when the network can interpolate the data (n ≤ P)")
        return super().compactness_words()

    def _sigma_expr(self, extra):
        if self.sigma is None:
            return sp.exp(extra[0])
        return sp.Rational(repr(self.sigma))

    def _sigma_num(self, extra):
        return self.sigma if self.sigma is not None else float(np.exp(extra[0]))

    def loglik_expr(self, eta, y, extra):
        if self.sigma is None:
            s = extra[0]
            return sp.Add(*[-(yk - ek) ** 2 * sp.exp(-2 * s) / 2 - s - sp.log(2 * sp.pi) / 2
                            for ek, yk in zip(eta, y)])
        sig = self._sigma_expr(extra)
        return sp.Add(*[-(yk - ek) ** 2 / (2 * sig ** 2) - sp.log(sig * sp.sqrt(2 * sp.pi))
                        for ek, yk in zip(eta, y)])

    def weight_expr(self, eta, extra):
        sig = self._sigma_expr(extra)
        return sp.eye(len(eta)) / sig ** 2

    def extra_fisher_expr(self, eta, extra):
        if self.sigma is None:
            return sp.Matrix([[2 * len(eta)]])
        return sp.zeros(0, 0)

    def mean_expr(self, eta):
        return list(eta)

    def check_y(self, y, n, k, *, name="y"):
        return _as_float_y(y, n, k, name)

    def mean(self, eta, extra):
        return eta

    def loglik_rows(self, eta, y, extra):
        sig = self._sigma_num(extra)
        r = (y - eta) / sig
        return np.sum(-0.5 * r * r - math.log(sig) - 0.5 * _LOG_2PI, axis=1)

    def constant_weight(self, extra):
        return 1.0 / self._sigma_num(extra) ** 2

    def loglik_sum(self, eta, y, extra):
        # -½‖y − η‖²/σ² − nK (log σ + ½ log 2π): two passes instead of six
        sig = self._sigma_num(extra)
        r = y - eta
        return float(-0.5 * np.vdot(r, r) / sig ** 2 - r.size * (math.log(sig) + 0.5 * _LOG_2PI))

    def weight(self, eta, extra):
        n, k = eta.shape
        return np.broadcast_to(np.eye(k) / self._sigma_num(extra) ** 2, (n, k, k))

    def extra_fisher(self, eta, extra):
        if self.sigma is not None:
            return np.zeros((0, 0))
        return np.array([[2.0 * eta.shape[1]]])

    def sample(self, eta, extra, rng):
        y = eta + self._sigma_num(extra) * rng.standard_normal(eta.shape)
        return y[:, 0] if y.shape[1] == 1 else y


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
        return np.exp(eta)

    def loglik_rows(self, eta, y, extra):
        # y*eta - exp(eta): where y = 0 the product is 0 even for huge |eta|.
        ye = np.where(y == 0, 0.0, y * eta)
        with np.errstate(over="ignore"):
            return np.sum(ye - np.exp(eta) - sps.gammaln(y + 1.0), axis=1)

    def weight(self, eta, extra):
        with np.errstate(over="ignore"):
            return _diag_weight(np.exp(eta))

    def sample(self, eta, extra, rng):
        if np.max(eta) > 42.0:
            raise SymmleValueError(
                f"cannot simulate Poisson counts with mean exp({np.max(eta):.3g}): the linear "
                "predictor must stay below 42 (mean < 1.7e18) to sample")
        y = rng.poisson(np.exp(eta)).astype(float)
        return y[:, 0] if y.shape[1] == 1 else y


@dataclass(frozen=True, repr=False)
class Categorical(Family):
    """Class labels ``0 … K-1`` with softmax over the K network outputs.

    The symbolic log-density uses one-hot indicator symbols ``y1 … yK``; the
    numeric functions take integer labels of shape (n,). Adding the same
    constant to every output leaves the probabilities unchanged, so the
    output biases carry a one-dimensional continuous symmetry (the softmax
    shift); fix it by comparing against a reference class if needed.

    Examples
    --------
    >>> e = sp.symbols("e1 e2")
    >>> sm.Categorical().loglik_expr(e, sp.symbols("y1 y2"), ())
    e1*y1 + e2*y2 - logsumexp(e1, e2)
    """

    name: ClassVar[str] = "categorical"
    shift_invariant: ClassVar[bool] = True
    separable: ClassVar[bool] = True
    support_words: ClassVar[str] = "the K classes"
    weight_words: ClassVar[str] = "diag(p) - ppᵀ (bounded)"

    def compactness_words(self):
        return Bernoulli.compactness_words(self)

    def degenerate_rows(self, eta, y, eps):
        # log P(observed class) within eps of 0: 1 - p_obs < eps, computed as -expm1(log p_obs)
        log_p = sps.log_softmax(eta, axis=1)[np.arange(eta.shape[0]), y]
        return -np.expm1(log_p) < eps

    def check_outputs(self, k):
        if k < 2:
            raise SymmleValueError(
                f"Categorical needs a network with at least 2 outputs (one per class), got {k}; "
                "use Bernoulli() for a binary outcome with one output")

    def loglik_expr(self, eta, y, extra):
        return sp.Add(*[yk * ek for ek, yk in zip(eta, y)]) - logsumexp(*eta)

    def _probs_expr(self, eta):
        lse = logsumexp(*eta)
        return [sp.exp(e - lse) for e in eta]

    def weight_expr(self, eta, extra):
        p = self._probs_expr(eta)
        return sp.diag(*p) - sp.Matrix(p) * sp.Matrix(p).T

    def mean_expr(self, eta):
        return self._probs_expr(eta)

    def check_y(self, y, n, k, *, name="y"):
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
                raise DataError(f"{name} must contain integer class labels 0..{k - 1}") from None
            if not np.all(np.isfinite(f)) or np.any(f != np.round(f)):
                raise DataError(f"{name} must contain integer class labels 0..{k - 1}")
            arr = f
        arr = arr.astype(np.int64)
        if np.any(arr < 0) or np.any(arr >= k):
            raise DataError(f"{name} must contain class labels 0..{k - 1} (K = {k} outputs)")
        return arr

    def y_values(self, y, k):
        out = np.zeros((y.shape[0], k))
        out[np.arange(y.shape[0]), y] = 1.0
        return out

    def mean(self, eta, extra):
        return sps.softmax(eta, axis=1)

    def loglik_rows(self, eta, y, extra):
        return sps.log_softmax(eta, axis=1)[np.arange(eta.shape[0]), y]

    def grad_eta(self, eta, y, extra):
        return self.y_values(y, eta.shape[1]) - sps.softmax(eta, axis=1)

    def hess_eta(self, eta, y, extra):
        return -self.weight(eta, extra)

    def weight(self, eta, extra):
        p = sps.softmax(eta, axis=1)
        return _diag_weight(p) - p[:, :, None] * p[:, None, :]

    def weight_root(self, eta, extra):
        # B = diag(√p) − p √pᵀ = diag(√p)(I − √p √pᵀ): B Bᵀ = diag(p) − ppᵀ exactly (I − √p √pᵀ
        # is a projection), PSD by construction, no eigen-decomposition
        p = sps.softmax(eta, axis=1)
        r = np.sqrt(p)
        return _diag_weight(r) - p[:, :, None] * r[:, None, :]

    def sample(self, eta, extra, rng):
        p = sps.softmax(eta, axis=1)
        u = rng.random((eta.shape[0], 1))
        y = (np.cumsum(p, axis=1) < u).sum(axis=1)
        return np.minimum(y, eta.shape[1] - 1).astype(np.int64)


_FAMILIES = {"gaussian": Gaussian, "bernoulli": Bernoulli, "poisson": Poisson,
             "categorical": Categorical}


def family_from_name(name: str, **options) -> Family:
    """Build a family from its lower-case name (``"gaussian"``, ``"bernoulli"``, ...).

    Examples
    --------
    >>> sm.family_from_name("gaussian", sigma=1.0)
    Gaussian(sigma=1.0)
    """
    if isinstance(name, Family):
        return name
    if not isinstance(name, str) or name.lower() not in _FAMILIES:
        raise SymmleValueError(f"unknown family {name!r}; known: {', '.join(_FAMILIES)}")
    cls = _FAMILIES[name.lower()]
    return cls(**options) if options else cls()


def family_from_dict(data) -> Family:
    """Rebuild a family written by `Family.to_dict`."""
    if not isinstance(data, dict) or data.get("name") not in _FAMILIES:
        raise PersistenceError(f"family: expected {{'name': one of {list(_FAMILIES)}}}, got {data!r}")
    if data["name"] == "gaussian":
        sigma = data.get("sigma")
        if sigma is not None and (isinstance(sigma, bool) or not isinstance(sigma, (int, float))):
            raise PersistenceError("family: sigma must be a number or null")
        return Gaussian(sigma=sigma)
    return _FAMILIES[data["name"]]()
