"""The public helpers of symmle.singular around the estimators: `simulate_truth`,
`read_theta`, `rank_r_truth`, `posterior_draws` and the records' ``summary``."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

import symmle as sm
from symmle.errors import ParamsError, PersistenceError, SymmleTypeError, SymmleValueError
from symmle.singular import (
    LearningCoefficient,
    LearningCoefficientEstimate,
    learning_coefficient_theory,
    posterior_draws,
    rank_r_truth,
    read_theta,
    rrr_learning_coefficient,
    simulate_truth,
)

pytestmark = pytest.mark.filterwarnings("ignore::symmle.errors.SymmleWarning")


def _linear():
    return sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(1.0))


# ---- simulate_truth -------------------------------------------------------------------------

def test_simulate_truth_inputs_and_responses():
    """Uniform inputs on [−2, 2] (mean 0, variance 4/3) and normal ones (variance 1); the
    residual y − f(x) is N(0, σ²) for the model's σ."""
    model = sm.Model(sm.mlp(2, 1, activation="identity"), sm.Gaussian(0.5))
    theta = np.array([1.0, -2.0, 0.3])
    for inputs, var in (("uniform", 4 / 3), ("normal", 1.0)):
        X, y = simulate_truth(model, theta, 20000, inputs=inputs, rng=4)
        assert X.shape == (20000, 2)
        if inputs == "uniform":
            assert np.abs(X).max() <= 2.0
        np.testing.assert_allclose(X.var(axis=0), var, rtol=0.05)
        resid = y.reshape(-1) - (X @ theta[:2] + theta[2])
        assert abs(resid.mean()) < 4 * 0.5 / np.sqrt(20000)
        assert abs(resid.std() - 0.5) < 0.02


def test_simulate_truth_is_reproducible_and_seeded():
    model = _linear()
    a = simulate_truth(model, [0.5, -1.0], 50, rng=3)
    b = simulate_truth(model, [0.5, -1.0], 50, rng=np.random.default_rng(3))
    c = simulate_truth(model, [0.5, -1.0], 50, rng=4)
    np.testing.assert_array_equal(a[0], b[0]), np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("kwargs, error", [
    ({"inputs": "cauchy"}, SymmleValueError), ({"inputs": 1}, SymmleTypeError),
    ({"n": 0}, SymmleValueError), ({"n": 2.5}, SymmleTypeError),
])
def test_simulate_truth_arguments(kwargs, error):
    args = {"n": 10, **kwargs}
    with pytest.raises(error):
        simulate_truth(_linear(), [0.5, -1.0], args.pop("n"), **args)
    with pytest.raises(SymmleTypeError):
        simulate_truth("model", [0.5, -1.0], 10)
    with pytest.raises(ParamsError):
        simulate_truth(_linear(), [0.5], 10)


# ---- read_theta -----------------------------------------------------------------------------

def test_read_theta_list_text_and_fit_json(tmp_path):
    model = _linear()
    path = tmp_path / "t.json"
    path.write_text("[0.25, -1]")
    np.testing.assert_array_equal(read_theta(path, model), [0.25, -1.0])
    np.testing.assert_array_equal(read_theta(str(path), model), [0.25, -1.0])
    np.testing.assert_array_equal(read_theta(" [0.25, -1]", model), [0.25, -1.0])
    X, y = model.simulate(np.array([0.5, -1.0]), 200, rng=0)
    res = sm.fit(model, X, y, n_starts=1, rng=0)
    np.testing.assert_array_equal(read_theta(res.to_json(), model), res.params)
    np.testing.assert_array_equal(read_theta(json.dumps({"params": [1, 2]}), model), [1, 2])


@pytest.mark.parametrize("text, error, fragment", [
    ("[1, 2", PersistenceError, "not JSON"),
    ("[1, \"2\"]", PersistenceError, "list of 2 numbers"),
    ("[1, true]", PersistenceError, "list of 2 numbers"),
    ("{\"theta\": [1, 2]}", PersistenceError, "\"params\""),
    ("{\"params\": [1, 2], \"param_names\": [\"a\", \"b\"]}", PersistenceError, "another model"),
    ("[1, 2, 3]", ParamsError, "length 2"),
    ("[1, NaN]", ParamsError, "finite"),
])
def test_read_theta_refuses(text, error, fragment):
    with pytest.raises(error, match=fragment):
        read_theta(text, _linear())


def test_read_theta_argument_types(tmp_path):
    with pytest.raises(SymmleTypeError):
        read_theta(3, _linear())
    with pytest.raises(SymmleTypeError):
        read_theta("[1, 2]", "model")
    with pytest.raises(OSError):
        read_theta(tmp_path / "missing.json", _linear())


# ---- rank_r_truth ---------------------------------------------------------------------------

@pytest.mark.parametrize("widths, r", [((5, 3, 5), 2), ((3, 8, 4), 3), ((6, 6, 6), 3),
                                       ((1, 1, 1), 0)])
def test_rank_r_truth_has_the_rank_and_the_theory_reads_it(widths, r):
    M, H, N = widths
    theta = rank_r_truth(widths, r, rng=1)
    W1, W2 = theta[:H * M].reshape(H, M), theta[H * M:].reshape(N, H)
    assert np.linalg.matrix_rank(W2 @ W1) == r
    model = sm.Model(sm.mlp(M, H, N, activation="identity", bias=False), sm.Gaussian(1.0))
    assert learning_coefficient_theory(model, theta) == rrr_learning_coefficient(M, N, H, r)


@pytest.mark.parametrize("widths, r, error", [
    ((5, 3, 5), 4, SymmleValueError), ((5, 3), 1, SymmleValueError),
    ("535", 1, SymmleValueError), ((5, 3, 5), -1, SymmleValueError),
    ((5, 3, 5), 1.0, SymmleTypeError),
])
def test_rank_r_truth_arguments(widths, r, error):
    with pytest.raises(error):
        rank_r_truth(widths, r)


# ---- posterior_draws ------------------------------------------------------------------------

def test_posterior_draws_match_the_conjugate_gaussian_posterior():
    """y = w x + b + N(0, 1), prior N(0, s² I): the posterior is N(A⁻¹Zᵀy, A⁻¹) with
    A = ZᵀZ + I/s², Z = [x, 1] (closed form)."""
    model = _linear()
    X, y = model.simulate(np.array([0.5, -1.0]), 60, rng=2)
    s = 0.25                       # a prior that moves the posterior (1/s² = 16 against n = 60)
    Z = np.column_stack([X[:, 0], np.ones(len(X))])
    A = Z.T @ Z + np.eye(2) / s ** 2
    cov = np.linalg.inv(A)
    mean = cov @ Z.T @ y.reshape(-1)
    draws = posterior_draws(model, X, y, [0.5, -1.0], prior_scale=s, n_warmup=300,
                            n_draws=2000, rng=5)
    assert draws.shape == (2000, 2)
    sd = np.sqrt(np.diag(cov))
    # HMC draws are nearly independent here; 5 sd of a mean of (at least) 400 effective draws
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * sd / np.sqrt(400))
    np.testing.assert_allclose(np.cov(draws.T), cov, rtol=0.2, atol=0.1 * sd.max() ** 2)


def test_posterior_draws_arguments():
    model = _linear()
    X, y = model.simulate(np.array([0.5, -1.0]), 30, rng=0)
    with pytest.raises(SymmleTypeError):
        posterior_draws("model", X, y, [0.5, -1.0])
    with pytest.raises(ParamsError):
        posterior_draws(model, X, y, [0.5])
    with pytest.raises(SymmleValueError):
        posterior_draws(model, X, y, [0.5, -1.0], prior_scale=0.0)
    with pytest.raises(SymmleValueError):
        posterior_draws(model, X, y, [0.5, -1.0], n_draws=0)
    with pytest.raises(SymmleTypeError):
        posterior_draws(model, X, y, [0.5, -1.0], n_warmup=1.5)
    with pytest.raises(SymmleValueError):
        posterior_draws(model, X, y, [0.5, -1.0], max_tree_depth=16)
    with pytest.raises(sm.errors.DataError):
        posterior_draws(model, X[:, :0], y, [0.5, -1.0])


# ---- summaries ------------------------------------------------------------------------------

def test_summaries():
    rec = LearningCoefficient(Fraction(5, 6), 1, "1-H-1 odd, zero truth", "Aoyagi 2019")
    assert rec.summary() == ("λ = 5/6 = 0.833333, multiplicity m = 1   (case: 1-H-1 odd, "
                             "zero truth; Aoyagi 2019)")
    assert rec.summary(6).endswith("; a regular model would have d/2 = 3")
    with pytest.raises(SymmleTypeError):
        rec.summary(6.0)
    est = LearningCoefficientEstimate(0.81, 0.03, "wbic", {
        "rhat": 1.012, "ess": 250.4, "acceptance": 0.876, "divergences": 2,
        "mean_steps": 14.2}, {"n": 500})
    assert est.summary() == ("wbic, n = 500: λ̂ = 0.81 ± 0.03   (R-hat 1.012, ESS 250, "
                             "acceptance 0.88, divergences 2, 14 leapfrog steps an iteration)")


def test_one_chain_still_has_an_rhat():
    """ArviZ refuses R-hat for a single chain; `learning_coefficient` splits it in halves, so
    one chain of a well-mixed Gaussian posterior reports an R-hat near 1, not NaN."""
    model = _linear()
    X, y = model.simulate(np.array([0.5, -1.0]), 300, rng=1)
    est = sm.learning_coefficient(model, X, y, theta=[0.5, -1.0], method="local", rng=0,
                                  n_chains=1, n_warmup=100, n_draws=200)
    assert np.isfinite(est.diagnostics["rhat"]) and abs(est.diagnostics["rhat"] - 1) < 0.1
