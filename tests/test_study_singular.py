"""Tests of symmle.study.singular_study: the likelihood ratio and the Bayes generalisation
error at a reducible truth."""

import json
import math

import numpy as np
import pytest
from scipy.stats import chi2

import symmle as sm
from symmle.errors import PersistenceError, SymmleTypeError, SymmleValueError
from symmle.study import SINGULAR_SCHEMA, SingularStudyResult, singular_study
from symmle.study._singular import _embed, _gen_error

pytestmark = pytest.mark.filterwarnings("ignore::symmle.errors.SymmleWarning")


def _pair(H=3, bias=False):
    small = sm.Model(sm.mlp(1, 1, 1, activation="tanh", bias=bias), sm.Gaussian(1.0))
    large = sm.Model(sm.mlp(1, H, 1, activation="tanh", bias=bias), sm.Gaussian(1.0))
    return small, large


@pytest.fixture(scope="module")
def quick():
    small, large = _pair()
    return small, large, singular_study(small, large, [0.0, 0.0], sizes=(40, 80), reps=2,
                                        n_starts=2, bayes=False, rng=3)


def test_lr_is_nonnegative_and_equals_the_recomputed_logliks(quick):
    """LR ≥ 0 up to the fit tolerance (the large fit starts from the small one), and each
    stored log-likelihood is the brute-force log-likelihood of the stored parameters on the
    data regenerated from the stored seed."""
    small, large, res = quick
    assert res.lr.shape == (2, 2) and (res.lr > -1e-6).all()
    np.testing.assert_array_equal(res.lr, 2 * (res.llf_large - res.llf_small))
    for i in range(2):
        for j, n in enumerate(res.sizes):
            seed = int(res.data_seeds[i, j])
            X = np.random.default_rng(seed).uniform(-2, 2, (n, 1))
            X, y = small.simulate([0.0, 0.0], n, rng=seed, X=X)
            for model, params, llf in ((small, res.params_small, res.llf_small),
                                       (large, res.params_large, res.llf_large)):
                w = np.asarray(params[i][j])
                # Gaussian σ = 1: ℓ = −½ Σ (y − f)² − (n/2) log 2π, written out here
                f = model.compile().predict(w, X).ravel()
                brute = -0.5 * np.sum((y.ravel() - f) ** 2) - 0.5 * n * math.log(2 * math.pi)
                assert llf[i, j] == pytest.approx(brute, rel=1e-10, abs=1e-8)


def test_regular_theory_and_log_fit(quick):
    _, _, res = quick
    assert res.df == 4                                    # 6 − 2 parameters
    q = res.chi2_quantiles((0.5, 0.95))
    assert q[0.95] == pytest.approx(chi2.ppf(0.95, 4))
    logs = np.log(np.asarray(res.sizes, float))
    mean = res.lr.mean(axis=0)
    # the least-squares slope through the origin: the residual is orthogonal to log n
    assert (mean - res.log_coef * logs) @ logs == pytest.approx(0.0, abs=1e-9)
    assert res.lambda_ == "5/6" and res.gen_error is None
    assert "chi2(4)" in res.summary()


def test_json_round_trip_is_exact(quick):
    _, _, res = quick
    text = res.to_json()
    back = SingularStudyResult.from_json(text)
    assert back.to_json() == text
    np.testing.assert_array_equal(back.lr, res.lr)
    np.testing.assert_array_equal(back.data_seeds, res.data_seeds)
    assert back.sizes == res.sizes and json.loads(text)["schema"] == SINGULAR_SCHEMA
    with pytest.raises(PersistenceError):
        SingularStudyResult.from_json('{"schema": "other"}')
    with pytest.raises(PersistenceError):
        SingularStudyResult.from_json("not json")


def test_same_rng_same_study():
    small, large = _pair(2)
    a = singular_study(small, large, [0.5, 1.0], sizes=(30,), reps=2, n_starts=1,
                       bayes=False, rng=7)
    b = singular_study(small, large, [0.5, 1.0], sizes=(30,), reps=2, n_starts=1,
                       bayes=False, rng=7)
    assert a.to_json() == b.to_json()
    assert a.lambda_ is None                              # a nonzero truth of 1-2-1 tanh


def test_embedding_keeps_the_function():
    small, large = _pair(3, bias=True)
    theta = np.array([0.7, -0.2, 1.3, 0.4])               # W1, b1, W2, b2
    big = _embed(small, large, theta)
    X = np.linspace(-2, 2, 11)[:, None]
    np.testing.assert_allclose(large.compile().predict(big, X),
                               small.compile().predict(theta, X), rtol=0, atol=1e-15)


def test_generalisation_error_quadrature():
    """For draws all equal to θ* the predictive is the truth: G = 0; for one draw whose
    function is the truth shifted by δ, G = E_x[δ²]/2σ² = δ²/2 exactly."""
    _, large = _pair(1)
    lin = sm.Model(sm.mlp(1, 1, 1, activation="identity"), sm.Gaussian(1.0))
    theta = np.array([0.5, 0.0, 1.0, 0.0])
    gen = np.random.default_rng(0)
    assert _gen_error(lin, theta[None], theta, 1.0, 1, 200, gen, "uniform") == \
        pytest.approx(0.0, abs=1e-12)
    shifted = theta + np.array([0, 0, 0, 0.3])            # output bias +0.3
    assert _gen_error(lin, shifted[None], theta, 1.0, 1, 200, gen, "uniform") == \
        pytest.approx(0.3 ** 2 / 2, rel=1e-10)


@pytest.mark.slow
def test_bayes_generalisation_error_is_small_and_positive():
    pytest.importorskip("mici")
    small, large = _pair(2)
    res = singular_study(small, large, [0.0, 0.0], sizes=(60,), reps=1, n_starts=1,
                         bayes=True, n_warmup=60, n_draws=60, n_test=200, rng=1)
    g = res.gen_error
    assert g.shape == (1, 1) and 0 <= g[0, 0] < 0.2     # KL of a mixture: nonnegative
    assert res.lambda_ == "2/3"


def test_arguments():
    small, large = _pair()
    with pytest.raises(SymmleTypeError):
        singular_study("small", large, [0, 0])
    with pytest.raises(SymmleValueError, match="more hidden units"):
        singular_study(large, small, np.zeros(6))
    with pytest.raises(SymmleValueError, match="sizes"):
        singular_study(small, large, [0, 0], sizes=(5,))
    with pytest.raises(SymmleValueError, match="inputs"):
        singular_study(small, large, [0, 0], inputs="cauchy")
    free = sm.Model(sm.mlp(1, 1, 1, activation="tanh", bias=False), sm.Gaussian())
    free3 = sm.Model(sm.mlp(1, 3, 1, activation="tanh", bias=False), sm.Gaussian())
    with pytest.raises(SymmleValueError, match="known σ"):
        singular_study(free, free3, [0, 0, 0], bayes=True)


def test_json_keeps_a_failed_cell_as_null(quick):
    import dataclasses
    _, _, res = quick
    gen = np.array([[np.nan, 0.01], [0.02, 0.03]])
    failed = dataclasses.replace(res, gen_error=gen)
    text = failed.to_json()
    assert "NaN" not in text and json.loads(text)["gen_error"][0][0] is None
    back = SingularStudyResult.from_json(text)
    np.testing.assert_array_equal(back.gen_error, gen)      # NaN where NaN
    assert back.to_json() == text
