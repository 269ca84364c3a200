"""Reliability: stable numerics at extreme values (checked against mpmath), hostile input
met by clear errors, determinism."""

import json
import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, strategies as hst

import symmle as sm

mp.mp.dps = 50


def _mp_softplus(e):
    return mp.log(1 + mp.exp(mp.mpf(e)))


@pytest.mark.parametrize("eta", [-800.0, -50.0, -1e-3, 0.0, 30.0, 50.0, 800.0])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_bernoulli_stable_against_mpmath(eta, y):
    fam = sm.Bernoulli()
    e = np.array([[eta]])
    yy = np.array([[y]])
    exact = float(mp.mpf(y) * eta - _mp_softplus(eta))
    assert fam.loglik_rows(e, yy, ())[0] == pytest.approx(exact, rel=1e-14, abs=1e-300)
    exact_grad = float(y - 1 / (1 + mp.exp(-mp.mpf(eta))))
    assert fam.grad_eta(e, yy, ())[0, 0] == pytest.approx(exact_grad, rel=1e-14, abs=1e-300)
    exact_w = float(mp.exp(-mp.mpf(eta)) / (1 + mp.exp(-mp.mpf(eta))) ** 2)
    assert fam.weight(e, ())[0, 0, 0] == pytest.approx(exact_w, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("eta,y", [(-700.0, 0.0), (-50.0, 3.0), (0.0, 0.0), (300.0, 1e6), (700.0, 7.0)])
def test_poisson_stable_against_mpmath(eta, y):
    fam = sm.Poisson()
    exact = float(mp.mpf(y) * eta - mp.exp(mp.mpf(eta)) - mp.loggamma(mp.mpf(y) + 1))
    got = fam.loglik_rows(np.array([[eta]]), np.array([[y]]), ())[0]
    assert got == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("eta", [[1000.0, -1000.0, 0.0], [-800.0, -801.0, -802.0], [0.0, 0.0, 0.0]])
def test_categorical_log_softmax_stable_against_mpmath(eta):
    fam = sm.Categorical()
    e = np.array([eta])
    lse = mp.log(sum(mp.exp(mp.mpf(v)) for v in eta))
    for k in range(3):
        exact = float(mp.mpf(eta[k]) - lse)
        assert fam.loglik_rows(e, np.array([k]), ())[0] == pytest.approx(exact, rel=1e-14, abs=1e-300)
        p_exact = float(mp.exp(mp.mpf(eta[k]) - lse))
        assert fam.mean(e, ())[0, k] == pytest.approx(p_exact, rel=1e-12, abs=1e-300)


BOUNDED = ["tanh", "sigmoid", "erf"]
UNBOUNDED = ["identity", "relu", "leaky_relu", "softplus", "silu"]


@pytest.mark.parametrize("act", BOUNDED + UNBOUNDED)
@pytest.mark.parametrize("family", [sm.Gaussian(sigma=0.5), sm.Gaussian(), sm.Bernoulli(),
                                    sm.Poisson(), sm.Categorical()], ids=repr)
def test_extreme_parameters_and_inputs_give_finite_values_without_warnings(act, family):
    if isinstance(family, sm.Poisson) and act in UNBOUNDED:
        pytest.skip("exp of an unbounded network output is not finite: nothing to check")
    k = 3 if isinstance(family, sm.Categorical) else 1
    model = sm.Model(sm.mlp(3, 4, k, activation=act), family)
    rng = np.random.default_rng(0)
    theta = rng.choice([-50.0, 50.0], size=model.n_params) * rng.random(model.n_params)
    if isinstance(family, sm.Gaussian) and family.sigma is None:
        theta[-1] = 3.0
    X = rng.choice([-1e3, 1e3], size=(20, 3)) * rng.random((20, 3))
    X[0] = [1e3, -1e3, 1e3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if isinstance(family, sm.Poisson):
            y = rng.poisson(3.0, size=20).astype(float)
        else:
            _, y = model.simulate(theta, n=20, rng=1, X=X)
        out = model.compile().evaluate(theta, X, y, ("loglik", "score", "fisher", "hessian"))
    for name, value in out.items():
        assert np.all(np.isfinite(value)), name


# ------------------------------------------------------------- hostile input
HOSTILE = [
    None, "1,2,3", b"\x00", {"a": 1}, [[1, 2], [3]], np.array([1 + 2j, 3]), np.array(["a", "b"]),
    np.array([np.nan, 1.0]), np.array([np.inf, 1.0]), np.zeros((0, 2)), np.zeros((2, 2, 2)),
    object(), 3.5, [],
]


@pytest.mark.parametrize("bad", HOSTILE, ids=lambda b: type(b).__name__)
def test_hostile_arrays_are_refused_with_symmle_errors(bad):
    model = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian(sigma=1.0))
    cm = model.compile()
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=4, rng=0)
    for call in (lambda: cm.loglik(bad, X, y), lambda: cm.loglik(theta, bad, y),
                 lambda: cm.loglik(theta, X, bad), lambda: cm.fisher(theta, bad),
                 lambda: model.architecture.forward(theta, bad)):
        with pytest.raises(sm.SymmleError) as info:
            call()
        assert isinstance(info.value, (ValueError, TypeError)) and str(info.value)


@given(widths=hst.lists(hst.integers(-2, 5) | hst.floats(allow_nan=True) | hst.text(max_size=2),
                        max_size=4),
       act=hst.text(max_size=8) | hst.sampled_from(sm.activation_names()))
def test_mlp_either_builds_or_raises_a_clear_error(widths, act):
    try:
        arch = sm.mlp(*widths, activation=act)
    except sm.SymmleError as exc:
        assert isinstance(exc, (ValueError, TypeError)) and str(exc)
        return
    assert arch.n_params == sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


@given(spec=hst.text(max_size=12))
def test_arch_strings_are_parsed_by_grammar_only(spec):
    try:
        widths = sm.parse_widths(spec)
    except sm.SymmleError as exc:
        assert isinstance(exc, ValueError)
        return
    assert "-".join(map(str, widths)) == "-".join(p.strip().lstrip("0") or "0" for p in spec.split("-"))


def test_cli_errors_are_one_line_and_exit_2(capsys):
    from symmle.cli import main

    for argv in (["derive", "--arch", "2-x"], ["derive", "--arch", "__import__('os')"],
                 ["derive", "--activation", "nope"], ["derive", "--family", "categorical"],
                 ["study", "--sizes", "10,-1"], ["derive", "--sigma", "-1"],
                 ["fit", "--data", "/nonexistent.csv"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("symmle: error:") and "\n" not in err and "Traceback" not in err


def test_simulation_is_deterministic():
    model = sm.Model(sm.mlp(2, 3, 1), sm.Poisson())
    a = model.simulate(model.random_params(3), n=50, rng=9)
    b = model.simulate(model.random_params(3), n=50, rng=9)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("family", [sm.Gaussian(), sm.Bernoulli(), sm.Poisson()], ids=repr)
def test_fits_are_bit_identical_for_the_same_seed(family):
    model = sm.Model(sm.mlp(2, 2, 1), family)
    theta = model.random_params(4, scale=2.0)
    X, y = model.simulate(theta, n=300, rng=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = sm.fit(model, X, y, n_starts=3, rng=11)
        b = sm.fit(model, X, y, n_starts=3, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a.params, b.params)
    assert a.loglik == b.loglik and a.n_iter == b.n_iter
    assert [s.loglik for s in a.starts] == [s.loglik for s in b.starts]
    assert a.to_json() == b.to_json()


def test_studies_are_bit_identical_for_the_same_seed():
    from symmle.study import SEED_THETA, seed_model

    runs = [sm.consistency_study(seed_model(), SEED_THETA, [200], replications=2, n_starts=1, rng=3)
            for _ in range(2)]
    docs = [json.loads(r.to_json()) for r in runs]
    for d in docs:  # wall-clock time per task is the one thing allowed to differ
        for rec in d["records"]:
            rec.pop("seconds", None)
    assert docs[0] == docs[1]
    assert runs[0].table == runs[1].table
