"""The validated problem of one fit (`_Problem`): data, compiled model, Gaussian residuals with σ
profiled out, the weight penalty, and whether the log-likelihood is smooth.

`fit`, the optimisers and the profile likelihood all work on a `_Problem`, so that the data are
checked once and every maximisation (of all coordinates, or of all but one) sees the same
objective: ``ℓ(θ) − (penalty/2)·Σ w²`` over the network's weights (edges; biases and the
family's parameters are not penalised), which is ℓ itself for ``penalty = 0``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["_Problem", "penalised_mask"]


def penalised_mask(model) -> np.ndarray:
    """Boolean mask over θ of the parameters the penalty applies to: the network's weights
    (its edges), not the biases nor the family's own parameters."""
    mask = np.zeros(model.n_params, dtype=bool)
    for layer in model.architecture.layers:  # the layers' weight indices: no graph needed
        mask[layer.weight_idx] = True
    return mask


def _kinked(act) -> bool:
    """Whether an activation has a kink: a positively homogeneous σ (``σ(cz) = cσ(z)``, c > 0)
    is linear on each half-line, so unless it is linear it is not differentiable at 0 (ReLU,
    leaky ReLU)."""
    return act.positively_homogeneous and not act.linear


class _Problem:
    """The data and compiled model of one fit, validated once."""

    def __init__(self, model, X, y, penalty: float = 0.0):
        self.model = model
        self.cm = model.compile()
        arch = model.architecture
        self.X = arch.check_X(X)
        self.y = model.family.check_y(y, self.X.shape[0], arch.n_outputs)
        self.n = self.X.shape[0]
        self.K = arch.n_outputs
        self.Pn = model.n_network_params
        self.P = model.n_params
        self.family = model.family
        # no hidden unit and identity outputs: a GLM with canonical link, concave in θ
        self.concave = not arch.hidden_nodes and all(
            arch.activation_of(v).linear for v in arch.output_nodes)
        # a unit with a kink makes ℓ only piecewise smooth: a zero score is then not enough for
        # a maximum, and convergence needs the one-sided check of `symmle.fitting._nonsmooth`
        self.smooth = not any(_kinked(arch.activation_of(v))
                              for v in (*arch.hidden_nodes, *arch.output_nodes))
        self.penalty = float(penalty)
        self.penalised = penalised_mask(model)

    def penalty_term(self, theta) -> float:
        """``(penalty/2)·Σ w²`` over the network's weights (0 without a penalty)."""
        if self.penalty == 0.0:
            return 0.0
        w = np.asarray(theta)[self.penalised]
        return 0.5 * self.penalty * float(w @ w)

    def objective(self, theta) -> float:
        """The penalised log-likelihood ``ℓ(θ) − (penalty/2)·Σ w²``; -inf where ℓ is not finite."""
        ll = self.loglik(theta)
        return ll - self.penalty_term(theta) if np.isfinite(ll) else -np.inf

    def penalised_derivatives(self, theta, what) -> dict:
        """The compiled ``evaluate`` at θ with the penalty folded in: ``loglik`` is the objective,
        ``score`` its gradient and ``fisher`` the expected information plus ``penalty·D``."""
        v = dict(self.cm.evaluate(theta, self.X, self.y, what))
        if self.penalty:
            D = self.penalty * self.penalised
            if "loglik" in v:
                v["loglik"] = v["loglik"] - self.penalty_term(theta)
            if "score" in v:
                v["score"] = v["score"] - D * theta
            if "fisher" in v:
                v["fisher"] = v["fisher"] + np.diag(D)
            if "hessian" in v:
                v["hessian"] = v["hessian"] - np.diag(D)
        return v

    def loglik(self, theta) -> float:
        """ℓ(θ), or -inf where it is not finite or cannot be evaluated."""
        if not np.all(np.isfinite(theta)):
            return -np.inf
        try:
            with np.errstate(all="ignore"):
                ll = self.cm.loglik(theta, self.X, self.y)
        except (ValueError, FloatingPointError):
            return -np.inf
        return float(ll) if np.isfinite(ll) else -np.inf

    # Gaussian least squares on the network parameters
    def residuals(self, tn):
        eta = self.cm.linear_predictor(self._full(tn), self.X)
        return (eta - self.y).ravel()

    def residual_jacobian(self, tn):
        J = self.cm.jacobian(self._full(tn), self.X)  # (n, K, Pn)
        return J.reshape(self.n * self.K, self.Pn)

    def _full(self, tn):
        if self.P == self.Pn:
            return tn
        return np.concatenate([tn, np.zeros(self.P - self.Pn)])

    def profile_sigma(self, tn):
        """θ with the Gaussian ``log_sigma`` at its profile MLE ``log sqrt(RSS / nK)``."""
        if self.P == self.Pn:
            return tn
        rss = float(np.sum(self.residuals(tn) ** 2))
        if rss <= 0.0:
            return None
        return np.concatenate([tn, self.family.profile_extra(rss, self.n * self.K)])
