"""Reproductions of contract violations the fuzz suite found (issue 17), each fixed: kept as
regression tests of their classes (the fuzz suite itself has no known violations left)."""

from __future__ import annotations

import json
import warnings

import mpmath as mp
import numpy as np
import pytest

import symmle as sm


def _strict(call):
    """``call()`` with every warning (but symmle's own) an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", sm.SymmleWarning)
        return call()


def _clean_error(call):
    """``call()`` raises a SymmleError that is a ValueError or TypeError."""
    with pytest.raises(sm.SymmleError) as info:
        _strict(call)
    assert isinstance(info.value, (ValueError, TypeError)) and str(info.value)


def test_poisson_mean_overflows_to_inf_without_a_warning():
    cm = sm.Model(sm.mlp(2, 1), sm.Poisson()).compile()
    assert _strict(lambda: cm.predict([1.0, 0.0, 0.0], [[720.0, 0.0]]))[0] == np.inf


def test_poisson_score_overflows_to_the_right_infinity():
    cm = sm.Model(sm.mlp(2, 1), sm.Poisson()).compile()
    s = _strict(lambda: cm.score([1.0, 0.0, 0.0], [[800.0, 1.0], [710.0, -1.0]], [0.0, 0.0]))
    assert np.array_equal(s, [-np.inf, -np.inf, -np.inf])


def test_categorical_loglik_keeps_its_relative_accuracy():
    cm = sm.Model(sm.mlp(1, 2), sm.Categorical()).compile()
    with mp.workdps(60):
        truth = float(80 - mp.log(1 + mp.exp(80)))   # log p(y = 1) with η = (0, 80)
    assert cm.loglik([0.0, 0.0, 0.0, 80.0], [[1.0]], [1]) == pytest.approx(truth, rel=1e-10, abs=0)


def test_categorical_loglik_of_a_dominant_class_keeps_its_relative_accuracy():
    cm = sm.Model(sm.mlp(1, 3), sm.Categorical()).compile()
    eta = (0.0, 30.6, 5.0)
    with mp.workdps(60):
        truth = float(eta[1] - mp.log(mp.fsum(mp.exp(mp.mpf(e)) for e in eta)))
    got = cm.loglik([0.0, 0.0, 0.0, *eta], [[1.0]], [1])
    assert got == pytest.approx(truth, rel=1e-10, abs=0)


def test_saturated_deep_tanh_hessian_keeps_its_relative_accuracy():
    from fuzz_oracles import compare, truth

    model = sm.Model(sm.mlp(1, 2, 2, 1), sm.Bernoulli())
    theta = np.array([-39.824348799775876, -27.21578347092021, -37.91056280868274, 1e-14, -1.5,
                      -34.99184854543038, 35.58134105558845, 1.718359596308665e-155,
                      8.0496307234312, 24.143475524518138, 21.202894753261077,
                      -6.125353328023827, -42.21518230633825])
    X, y = np.array([[-1.5], [-7.169167], [-1.5]]), np.array([0.0, 0.0, 1.0])
    want, scale = truth(model).hessian(theta, X, y[:, None])
    compare(model.compile().hessian(theta, X, y), want, scale, what="hessian")


def test_saturated_tanh_derivative_keeps_its_relative_accuracy():
    cm = sm.Model(sm.mlp(1, 1, 1), sm.Gaussian(sigma=1.0)).compile()
    with mp.workdps(60):
        truth = float(-mp.sech(31) ** 2)   # ∂ℓ/∂w at w = 1, b = 30, v = 1, x = 1, y = 0
    assert cm.score([1.0, 30.0, 1.0, 0.0], [[1.0]], [0.0])[0] == pytest.approx(truth, rel=1e-10, abs=0)


def _within(seconds, call):
    """``call()`` finishes (or raises) within ``seconds`` (SIGALRM)."""
    from fuzz_harness import Hang, time_budget

    try:
        with time_budget(seconds):
            call()
    except Hang:
        pytest.fail(f"no result after {seconds} s")
    except sm.SymmleError:
        pass


def test_fit_stops_on_separable_data_whatever_max_iter():
    # issue 17 §6: the damping underflowed to 0 (then NaN) and the refused steps ran on to
    # max_iter (10⁶: minutes); now the scoring stops where the log-likelihood reaches 0
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    X = np.random.default_rng(0).standard_normal((24, 2))
    y = (X[:, 0] > 0).astype(float)
    _within(5, lambda: sm.fit(model, X, y, max_iter=10 ** 6))


def test_fit_bounds_n_starts():
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    X = np.random.default_rng(0).standard_normal((24, 2))
    y = (X[:, 1] > 0.3).astype(float)
    _within(5, lambda: sm.fit(model, X, y, n_starts=10 ** 20))


def test_fit_start_refuses_non_numbers():
    _clean_error(lambda: sm.FitStart("P", "P", 0.0, True, 1))


def test_profile_refuses_ragged_values():
    model = sm.Model(sm.mlp(2, 1), sm.Gaussian())
    X, y = model.simulate(model.random_params(0), 24, rng=0)
    res = sm.fit(model, X, y, rng=0)
    _clean_error(lambda: sm.profile(res, "W1_1_1", values=[[1, 2], [3]]))


def test_fit_json_with_a_non_string_family_name_is_refused():
    model = sm.Model(sm.mlp(2, 1), sm.Gaussian())
    X, y = model.simulate(model.random_params(0), 24, rng=0)
    doc = json.loads(sm.fit(model, X, y, rng=0).to_json())
    doc["family"] = {"name": {"a": 1}}
    _clean_error(lambda: sm.FitResult.from_json(json.dumps(doc)))


def test_identifiability_bounds_n_rows():
    _clean_error(lambda: sm.identifiability(sm.Model(sm.mlp(2, 1), sm.Bernoulli()),
                                            n_rows=10 ** 12))


def test_regularity_at_a_theta_whose_information_overflows():
    model = sm.Model(sm.mlp(1, 1), sm.Poisson())
    try:
        _strict(lambda: sm.regularity(model, np.array([4.892651e16, -1.927193e16]), rng=3))
    except sm.SymmleError as exc:
        assert isinstance(exc, (ValueError, TypeError))


def test_family_from_name_refuses_an_option_the_family_does_not_take():
    _clean_error(lambda: sm.family_from_name("poisson", reference=True))


def test_the_abstract_family_refuses_with_a_symmle_error():
    _clean_error(lambda: sm.Family())


def test_cli_derive_of_a_large_fisher_is_bounded():
    import contextlib
    import io

    from symmle import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        _within(10, lambda: cli.main(["derive", "--arch", "9-9-9", "--what", "fisher"]))


def test_poisson_hessian_of_a_jacobian_entry_that_underflows_itself():
    # ∂η/∂W = δ x with δ = 2.85e-277 and x = 2.08e-169 is 0 in float64, while e^η is beyond it
    # (η ≈ 2220): the column is formed from δ and x each scaled (`_wide.scaled_columns`)
    cm = sm.Model(sm.mlp(1, 2, 1, activation="leaky_relu"), sm.Poisson()).compile()
    theta = np.array([-2.0779873420581383e-169, -6.437148512969887e-57, 49.755137651237774,
                      32.08246496411785, 44.38603519421498, 2.853674933143404e-277,
                      11.588050927291619])
    X, y = np.array([[-2.0779873420581383e-169], [-6.437148512969887e-57]]), np.zeros(2)
    try:
        H = _strict(lambda: cm.hessian(theta, X, y))
    except sm.SymmleError:
        return   # a clean refusal is within the contract
    # H_01 = −e^η J_0 J_1 over the rows: e^2220 · 9.2e-168 · 5.9e-446 ≈ 10^350 — beyond float64
    assert H[0, 1] == -np.inf
