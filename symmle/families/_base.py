"""The abstract `Family`: what every output distribution provides, and the derivatives of its
log-density lambdified from its sympy form."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import sympy as sp

from .._checks import as_real_array
from ..activations import NUMPY_FUNCTIONS
from ..errors import DataError, SymmleTypeError, SymmleValueError

__all__ = ["Family"]

LOG_2PI = math.log(2.0 * math.pi)


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

    def __new__(cls, *args, **kwargs):
        # Python's own refusal of an abstract class is a bare TypeError: name the families
        if getattr(cls, "__abstractmethods__", None):
            concrete = ", ".join(f"sm.{c.__name__}()" for c in _concrete(Family))
            missing = ", ".join(sorted(cls.__abstractmethods__))
            raise SymmleTypeError(f"{cls.__name__} is abstract (it leaves {missing} undefined) "
                                  f"and cannot be built; use a concrete family: {concrete}")
        return super().__new__(cls)

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

    # ---- scaled derivatives: for a family whose η-derivatives overflow inside the promised
    # range (Poisson: e^η), `log_scale` gives M with the derivatives times e^{−M} finite; the
    # compiled model sums the scaled values with exponents of their own and rounds to float64
    # last (`symmle.compiled._wide`), so that a sum overflows to the infinity of its sign
    # (not ∞ − ∞ across rows, nor 0·∞).
    def log_scale(self, eta) -> float:
        """M ≥ 0 such that `grad_eta`, `hess_eta` and `weight` times e^{−M} are finite at η
        (0: no scaling, the default); the compiled model asks it per band of rows whose η
        span at most `symmle.compiled._wide.BAND`."""
        return 0.0

    def grad_eta_scaled(self, eta, y, extra, log_scale: float) -> np.ndarray:
        """``e^{−M} ∂ℓ/∂η`` (n, K) for ``M = log_scale``."""
        return math.exp(-log_scale) * self.grad_eta(eta, y, extra)

    def hess_eta_scaled(self, eta, y, extra, log_scale: float) -> np.ndarray:
        """``e^{−M} ∂²ℓ/∂η∂ηᵀ`` (n, K, K)."""
        return math.exp(-log_scale) * self.hess_eta(eta, y, extra)

    def weight_scaled(self, eta, extra, log_scale: float) -> np.ndarray:
        """``e^{−M}`` `weight` (n, K, K)."""
        return math.exp(-log_scale) * self.weight(eta, extra)

    def weight_root(self, eta, extra) -> np.ndarray:
        """A factor ``B`` (n, K, K) with ``B Bᵀ = weight`` per row (for a root of the
        information); from the eigen-decomposition, rounding negatives to 0, unless a family
        has an exact one."""
        w, U = np.linalg.eigh(np.asarray(self.weight(eta, extra), dtype=float))
        return U * np.sqrt(np.clip(w, 0.0, None))[:, None, :]

    def weight_root_times(self, Jt, eta, extra) -> np.ndarray:
        """``B[p, j, m] = Σ_k Jt[k, p, m] R[m, k, j]`` (Pn, K, m) for Jt (K, Pn, m) and R =
        `weight_root`, so that ``Σ_m B_m B_mᵀ = Σ_m J_m W_m J_mᵀ`` (the Fisher information's
        Gram factor); families with a structured root do it in fewer operations."""
        return np.einsum("kpm,mkj->pjm", Jt, self.weight_root(eta, extra))

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


def _concrete(cls) -> list[type]:
    """The concrete subclasses of ``cls``, depth first."""
    out = []
    for sub in cls.__subclasses__():
        if not getattr(sub, "__abstractmethods__", None):
            out.append(sub)
        out += _concrete(sub)
    return out


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


