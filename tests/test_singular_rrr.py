"""The two-temperature "local" learning coefficient (issue 21: reduced-rank regression rows).

The one-temperature local learning coefficient ``nβ(E_β[L_n] − L_n(θ̂))`` carries a term of
order β that does not vanish in a singular model; the difference of two temperatures,
``(E_β₁[nL_n] − E_β₂[nL_n]) / (1/β₁ − 1/β₂)``, cancels it. Checked here against closed forms:
the exact Gaussian posterior of a regular linear model (under the localisation), and the
exact learning coefficient of reduced-rank regression (Aoyagi & Watanabe 2005).
"""

import math

import numpy as np
import pytest

import symmle as sm
from symmle.errors import SymmleTypeError, SymmleValueError
from symmle.singular import learning_coefficient_theory, rrr_learning_coefficient

pytest.importorskip("mici")
pytest.importorskip("arviz")

from symmle.singular import _estimate  # noqa: E402  (after the optional extras' skip)
from test_singular import _regular_linear_data  # noqa: E402  (the same regular linear model)


def test_two_temperature_local_matches_the_gaussian_posterior():
    model, X, y, A, theta_hat = _regular_linear_data()
    gamma = 1.0
    est = _estimate.learning_coefficient(model, X, y, theta=theta_hat, method="local", rng=0,
                                         n_chains=2, n_warmup=300, n_draws=500,
                                         localization=gamma, betas=_estimate.LOCAL_TWO_BETAS)
    # exact: centred at the least-squares θ̂, the localised tempered posterior at b is
    # N(θ̂, (bA + γI)⁻¹), so E_b[nL_n] − nL_n(θ̂) = ½ tr(A (bA + γI)⁻¹)
    n = len(X)
    betas = tuple(b / math.log(n) for b in _estimate.LOCAL_TWO_BETAS)
    means = [0.5 * np.trace(A @ np.linalg.inv(b * A + gamma * np.eye(2))) for b in betas]
    exact = (means[0] - means[1]) / (1 / betas[0] - 1 / betas[1])
    assert exact == pytest.approx(1.0, abs=0.01)       # d/2 = 1, shrunk a little by γ
    assert abs(est.estimate - exact) < 4 * est.stderr
    assert est.settings["betas"] == pytest.approx(betas)
    assert est.settings["beta"] == pytest.approx(1 / math.log(n))
    assert est.diagnostics["rhat"] < 1.05 and est.diagnostics["ess"] > 100
    assert "wbic" not in est.diagnostics and est.settings["localization"] == gamma


def test_betas_one_entry_is_the_one_temperature_estimate():
    # betas=(1,) is the default; betas=(2,) samples at 2/log n: for the regular model the
    # localised posterior gives λ̂ = ½ tr(βA (βA + γI)⁻¹) at β = 2/log n
    model, X, y, A, theta_hat = _regular_linear_data()
    est = _estimate.learning_coefficient(model, X, y, theta=theta_hat, method="local", rng=0,
                                         n_chains=2, n_warmup=300, n_draws=500, betas=(2.0,))
    beta = 2 / math.log(len(X))
    exact = 0.5 * np.trace(beta * A @ np.linalg.inv(beta * A + np.eye(2)))
    assert abs(est.estimate - exact) < 4 * est.stderr
    assert est.settings["betas"] == pytest.approx((beta,))


@pytest.mark.slow
def test_two_temperature_local_on_reduced_rank_regression_with_more_outputs():
    # mlp(3, 1, 8) without biases at a zero truth: M + H < N, Aoyagi & Watanabe's case 2,
    # λ = HM/2 = 3/2. The one-temperature estimate, centred at the fit, carries
    # β·(R(β) + nL_n(w₀) − nL_n(θ̂)) > 0: here the unfitted share (1 − H/N) of the noise
    # projection the tempered posterior leaves. Two temperatures cancel it.
    M, H, N = 3, 1, 8
    model = sm.Model(sm.mlp(M, H, N, activation="identity", bias=False), sm.Gaussian(1.0))
    truth = np.zeros(H * (M + N))
    assert rrr_learning_coefficient(M, N, H, 0) == (1.5, 1)
    assert learning_coefficient_theory(model, truth).case == "rrr case 2"
    estimates = {"one": [], "two": []}
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(2000, M))
        X, y = model.simulate(truth, 2000, rng=rng, X=X)
        centre = _rank_one_fit(X, y)
        for key, betas in (("one", None), ("two", _estimate.LOCAL_TWO_BETAS)):
            est = _estimate.learning_coefficient(model, X, y, theta=centre, method="local",
                                                 rng=seed, n_chains=2, n_warmup=200,
                                                 n_draws=400, betas=betas)
            assert est.diagnostics["rhat"] < 1.1
            estimates[key].append(est.estimate)
    one, two = np.median(estimates["one"]), np.median(estimates["two"])
    assert abs(two - 1.5) < 0.15                 # within 10 %
    assert one - 1.5 > 0.15 and one > two        # the order-β term the difference removes


def _rank_one_fit(X, y):
    """The exact least-squares rank-1 factorisation (A, B), balanced: the loss's minimum."""
    W = np.linalg.lstsq(X, y, rcond=None)[0].T                  # N × M
    L = np.linalg.cholesky(X.T @ X)
    U, s, Vt = np.linalg.svd(W @ L)
    a = math.sqrt(s[0]) * (Vt[0] @ np.linalg.inv(L))              # the input weights, 1 × M
    b = math.sqrt(s[0]) * U[:, 0]                                 # the output weights, N × 1
    return np.concatenate([a, b])


@pytest.mark.parametrize("betas, method, match", [
    ((1.0, 1.0), "local", "two distinct"),
    ((0.5, 1.0, 2.0), "local", "one, or two distinct"),
    ((1.0,), "wbic", "two distinct"),
    ((0.0, 1.0), "local", ">= 0.001"),
    ((1.0, 1e4), "wbic", "<= 1000"),
])
def test_betas_wrong_values(betas, method, match):
    model, X, y, _, theta_hat = _regular_linear_data()
    with pytest.raises(SymmleValueError, match=match):
        _estimate.learning_coefficient(model, X, y, theta=theta_hat, method=method,
                                       betas=betas)


@pytest.mark.parametrize("betas", ["0.5,2", 2.0, (1.0, "2")])
def test_betas_wrong_types(betas):
    model, X, y, _, theta_hat = _regular_linear_data()
    with pytest.raises(SymmleTypeError, match="betas"):
        _estimate.learning_coefficient(model, X, y, theta=theta_hat, method="local",
                                       betas=betas)
