"""`Gaussian`: normal outputs with identity link, σ known or estimated (``log_sigma``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import sympy as sp

from .._checks import check_real
from ..errors import SymmleValueError
from ._base import LOG_2PI, Family, _as_float_y

__all__ = ["Gaussian", "SIGMA_MIN", "SIGMA_MAX"]


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
        return -count * (self._log_sigma(extra) + 0.5 * LOG_2PI)

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
        if self.sigma is not None:
            return self.sigma
        with np.errstate(over="ignore", under="ignore"):  # log σ beyond ±709: σ is inf or 0
            return float(np.exp(float(extra[0])))

    def _log_sigma(self, extra) -> float:
        """log σ, from ``log_sigma`` itself when estimated (σ may be 0 or inf in float64)."""
        return math.log(self.sigma) if self.sigma is not None else float(extra[0])

    def _inv_var(self, extra) -> float:
        """1/σ², overflowing to inf (and underflowing to 0) instead of raising: a fit or a
        profile may try any log σ (`SIGMA_MIN`/`SIGMA_MAX` keep a known σ's in range)."""
        sig = np.float64(self._sigma_num(extra))
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            return float(1.0 / (sig * sig))

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
        sig = np.float64(self._sigma_num(extra))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = (y - eta) / sig
            q = r * r
        if sig == 0.0:   # log σ below -745: a zero residual adds nothing, any other one -inf
            q = np.where(y == eta, 0.0, q)
        return np.sum(-0.5 * q - self._log_sigma(extra) - 0.5 * LOG_2PI, axis=1)

    def constant_weight(self, extra):
        return self._inv_var(extra)

    def loglik_sum(self, eta, y, extra):
        # -½‖y − η‖²/σ² − nK (log σ + ½ log 2π): two passes instead of six
        r = y - eta
        rss = np.vdot(r, r)
        sig = np.float64(self._sigma_num(extra))
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            scaled = rss / (sig * sig) if rss else 0.0   # 0/0 where σ underflowed to 0
        return float(-0.5 * scaled - r.size * (self._log_sigma(extra) + 0.5 * LOG_2PI))

    def weight(self, eta, extra):
        n, k = eta.shape
        return np.broadcast_to(np.eye(k) * self._inv_var(extra), (n, k, k))

    def extra_fisher(self, eta, extra):
        if self.sigma is not None:
            return np.zeros((0, 0))
        return np.array([[2.0 * eta.shape[1]]])

    def sample(self, eta, extra, rng):
        y = eta + self._sigma_num(extra) * rng.standard_normal(eta.shape)
        return y[:, 0] if y.shape[1] == 1 else y

