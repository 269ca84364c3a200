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

from ._base import Family
from ._discrete import Bernoulli, Categorical, Poisson
from ._gaussian import SIGMA_MAX, SIGMA_MIN, Gaussian
from ._registry import family_from_dict, family_from_name

__all__ = ["Family", "Gaussian", "Bernoulli", "Poisson", "Categorical", "family_from_name",
           "family_from_dict", "SIGMA_MIN", "SIGMA_MAX"]
