"""Truths of fitting (issue 16, items 6-8), each checked against something written here: brute
force (explicit symmetry moves, one-sided searches, independent multi-start optimisation),
exact values, or statsmodels.

* Profiles maximise the other parameters properly (flat exactly where a symmetry makes them
  flat, no lower than an independent optimiser elsewhere) and report unbounded sides as ±inf.
* A fit at a kink of ReLU-type units is "converged" only when no one-sided ascent direction is
  left.
* AIC and BIC count identified parameters (statsmodels' MNLogit); the reference-class
  multinomial logit is MNLogit, estimates and standard errors.
* ``evalf`` of every family's symbolic log-likelihood is a number equal to the compiled one.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sps
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import symmle as sm
from symmle.activations import logsumexp, sigmoid, softplus
from symmle.errors import DataError, NonIdentifiableWarning, PersistenceError, SymmleValueError
from symmle.families import family_from_dict
from symmle.fitting import FitResult, fit, profile, profile_conf_int
from symmle.strategies import architectures

statsmodels = pytest.importorskip("statsmodels.api")


def quiet(call, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kw)


# ------------------------------------------------------------------ brute force
def brute_force_gain(model, theta, X, y, seed=0, n_random=60):
    """The largest increase of ℓ found from θ along ±e_j and random directions, at steps
    1e-10 … 1e-3 relative to max(1, |θ|) (local: a dead unit is flat up to where it wakes up,
    a plateau, not an ascent direction): written independently of symmle's one-sided check."""
    cm = model.compile()
    ll = cm.loglik(theta, X, y)
    P = theta.size
    rng = np.random.default_rng(seed)
    dirs = list(np.eye(P)) + list(-np.eye(P))
    dirs += [d / np.linalg.norm(d) for d in rng.standard_normal((n_random, P))]
    scale = np.maximum(1.0, np.abs(theta))
    best = 0.0
    for d in dirs:
        for s in 10.0 ** np.arange(-10.0, -2.9, 0.5):
            with np.errstate(all="ignore"):
                best = max(best, cm.loglik(theta + s * d * scale, X, y) - ll)
    return best


def rescale(theta, d, h, unit, c):
    """θ of mlp(d, h, 1) with hidden ReLU unit ``unit`` rescaled: incoming × c, outgoing ÷ c."""
    out = np.array(theta, dtype=float)
    out[unit * d:(unit + 1) * d] *= c
    out[h * d + unit] *= c
    out[h * d + h + unit] /= c
    return out


RELU_THETA = np.array([1.0, -1.0, 0.3, 0.2, 1.5, -1.0, 0.1])


@pytest.fixture(scope="module")
def relu_fit():
    """The issue's ReLU example: mlp(1, 2, 1) with known σ, fitted from the truth."""
    model = sm.Model(sm.mlp(1, 2, 1, activation="relu"), sm.Gaussian(sigma=0.5))
    X, y = model.simulate(RELU_THETA, n=200, rng=0)
    return model, X, y, quiet(fit, model, X, y, start=RELU_THETA)


# ------------------------------------------------- §6 convergence at non-smooth points
def test_relu_fit_at_a_kink_is_not_converged_short_of_the_maximum(relu_fit):
    """The issue's fit stopped at a kink (a row at unit 2's kink, max |score| = 0.47) and said
    converged while other starts were higher. Now every start that says converged has no
    ascent direction left, found by brute force."""
    model, X, y, res = relu_fit
    multi = quiet(fit, model, X, y, start=RELU_THETA, n_starts=8, rng=0)
    assert res.converged and res.loglik >= max(s.loglik for s in multi.starts) - 1e-7
    for s in multi.starts:
        if s.converged:
            assert brute_force_gain(model, s.params, X, y) <= 1e-7 * abs(s.loglik), s
        else:
            assert s.message
    # the maximum sits on a kink: a row exactly at unit 2's (or unit 1's) kink, where the
    # compiled score does not vanish, yet no direction ascends
    z = [res.params[0] * X[:, 0] + res.params[2], res.params[1] * X[:, 0] + res.params[3]]
    assert min(np.min(np.abs(zj)) for zj in z) < 1e-9
    assert np.max(np.abs(model.compile().score(res.params, X, y))) > 1e-3


KINK_ARCHS = st.one_of(
    architectures(min_inputs=1, max_inputs=2, min_hidden_layers=1, max_hidden_layers=2,
                  max_width=3, max_outputs=1, activations=("relu", "leaky_relu")),
    architectures(min_inputs=1, max_inputs=2, min_hidden_layers=1, max_hidden_layers=1,
                  max_width=3, max_outputs=1, activations=("relu", "leaky_relu"),
                  skip_connections=True, bias="per_unit"),
)


@settings(max_examples=8)
@given(arch=KINK_ARCHS, seed=st.integers(0, 2 ** 20), known_sigma=st.booleans())
def test_converged_relu_fits_have_no_ascent_direction_even_with_rows_at_kinks(
        arch, seed, known_sigma):
    """Integer inputs and a half-integer θ* put many rows exactly at kinks (w·x + b = 0). A fit
    from θ* (and from a random start) that says converged must have no ascent direction, by
    brute force; and no fit ends below its start."""
    model = sm.Model(arch, sm.Gaussian(sigma=0.5) if known_sigma else sm.Gaussian())
    rng = np.random.default_rng(seed)
    theta = np.round(2 * model.random_params(rng, scale=1.5)) / 2
    if not known_sigma:
        theta[-1] = math.log(0.5)
    X = rng.integers(-2, 3, size=(60, arch.n_inputs)).astype(float)
    _, y = model.simulate(theta, n=60, rng=rng, X=X)
    res = quiet(fit, model, X, y, start=theta, n_starts=2, rng=seed)
    cm = model.compile()
    assert res.starts[0].loglik >= cm.loglik(theta, X, y) - 1e-9
    for s in res.starts:
        if s.converged:
            assert brute_force_gain(model, s.params, X, y, n_random=30) <= \
                1e-7 * max(1.0, abs(s.loglik))


# --------------------------------------------------- §6 profiles on flat ridges
def test_issue_relu_profiles_attain_the_maximum_where_rescaling_does(relu_fit):
    """Intervals such as [0.25, inf) for W2_1_1 and [0.008, 11.5] for b1_1 were reported, and
    the profile lay 5 units below ℓ̂ at points that attain ℓ̂: the explicit moves below
    (rescaling a unit; for a negative output weight, swapping the two units first)."""
    model, X, y, res = relu_fit
    cm = model.compile()
    swapped = res.params[[1, 0, 3, 2, 5, 4, 6]]
    checks = (("W2_1_1", 4, res.params[4] * np.array([0.02, 0.25, 4.0, 50.0]), res.params),
              ("W2_1_1", 4, swapped[4] * np.array([0.1, 3.0]), swapped),
              ("b1_1", 2, res.params[2] * np.array([0.02, 0.25, 4.0, 50.0]), res.params))
    for name, idx, values, base in checks:
        for t in values:   # brute force: this θ attains ℓ̂ at θ_idx = t
            c = base[idx] / t if idx == 4 else t / base[idx]
            moved = rescale(base, 1, 2, 0, c)
            assert moved[idx] == pytest.approx(t)
            assert cm.loglik(moved, X, y) == pytest.approx(res.loglik, abs=1e-9)
        pr = profile(res, name, values=values)
        assert np.all(pr.loglik >= res.loglik - 1e-8), pr.loglik - res.loglik
    assert profile(res, "b1_1", values=[20.0]).loglik[0] >= res.loglik - 1e-8
    with pytest.warns(NonIdentifiableWarning, match=r"W2_1_1 \(below and above\)"):
        ci = profile_conf_int(res, params=["W2_1_1", "b1_1", "W2_1_2", "b2_1"])
    assert np.all(ci[[0, 2], 0] == -math.inf) and np.all(ci[:3, 1] == math.inf)
    assert ci[1, 0] <= 0.0
    assert np.all(np.isfinite(ci[3])) and ci[3, 0] < res.params[6] < ci[3, 1]


def test_single_relu_unit_output_weight_interval_is_the_half_line():
    """One ReLU unit (no permutation): its output weight reaches every value of its sign by
    rescaling, and none of the other sign, so the interval is exactly [0, inf)."""
    model = sm.Model(sm.mlp(1, 1, 1, activation="relu"), sm.Gaussian(sigma=0.5))
    X, y = model.simulate(np.array([1.0, 0.3, 1.5, 0.1]), n=200, rng=0)
    res = quiet(fit, model, X, y, start=np.array([1.0, 0.3, 1.5, 0.1]))
    assert res.params[2] > 0
    with pytest.warns(NonIdentifiableWarning, match=r"W2_1_1 \(above\)"):
        ci = profile_conf_int(res, params=["W2_1_1"])
    np.testing.assert_array_equal(ci, [[0.0, math.inf]])
    assert np.all(profile(res, "W2_1_1", values=[0.01, 100.0]).loglik >= res.loglik - 1e-8)


@settings(max_examples=5)
@given(d=st.integers(1, 2), h=st.integers(1, 3), seed=st.integers(0, 2 ** 20),
       which=st.sampled_from(["in", "bias", "out"]))
def test_relu_profiles_are_flat_along_every_rescaling_orbit(d, h, seed, which):
    """mlp(d, h, 1) with ReLU: every incoming weight, bias and outgoing weight of a hidden unit
    can be moved to any value of its sign by rescaling the unit; the profile must attain ℓ̂
    there, and the interval must reach 0 and infinity on that side."""
    model = sm.Model(sm.mlp(d, h, 1, activation="relu"), sm.Gaussian(sigma=0.5))
    rng = np.random.default_rng(seed)
    theta = model.random_params(rng, scale=2.0)
    X, y = model.simulate(theta, n=80, rng=rng)
    res = quiet(fit, model, X, y, start=theta)
    unit = int(rng.integers(h))
    idx = {"in": unit * d, "bias": h * d + unit, "out": h * d + h + unit}[which]
    t_hat = float(res.params[idx])
    assume(abs(t_hat) > 1e-3 and abs(res.params[h * d + h + unit]) > 1e-3)  # a live unit
    cm = model.compile()
    values = t_hat * np.array([0.05, 0.5, 3.0, 30.0])
    for t in values:
        c = t / t_hat if which != "out" else t_hat / t
        assert cm.loglik(rescale(res.params, d, h, unit, c), X, y) == pytest.approx(
            res.loglik, abs=1e-8)
    pr = profile(res, idx, values=values)
    assert np.all(pr.loglik >= res.loglik - 1e-7), pr.loglik - res.loglik
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonIdentifiableWarning)
        lo, hi = profile_conf_int(res, params=[idx], max_steps=8)[0]
    if t_hat > 0:
        assert hi == math.inf and lo <= 0.0
    else:
        assert lo == -math.inf and hi >= 0.0


def test_softmax_shift_and_identity_mixing_make_profiles_flat_on_the_whole_line():
    """The softmax shift moves any parameter of mlp(1, 2) with Categorical() to any value, and
    GL(2) mixing any first-layer weight of an identity network (through 0, by adding the
    other unit); the profile attains ℓ̂ there (the explicit moves below) and the intervals are
    (-inf, inf)."""
    model = sm.Model(sm.mlp(1, 2), sm.Categorical())
    X, y = model.simulate(np.array([1.0, -0.5, 0.3, 0.0]), n=200, rng=1)
    res = quiet(fit, model, X, y, rng=0)
    cm = model.compile()
    for i in range(4):
        shift = np.zeros(4)
        shift[[0, 1] if i < 2 else [2, 3]] = 1.0
        values = res.params[i] + np.array([-4.0, 3.0])
        for t in values:
            assert cm.loglik(res.params + (t - res.params[i]) * shift, X, y) == pytest.approx(
                res.loglik, abs=1e-9)
        assert np.all(profile(res, i, values=values).loglik >= res.loglik - 1e-8)
    with pytest.warns(NonIdentifiableWarning, match="below and above"):
        ci = profile_conf_int(res, max_steps=5)
    assert np.all(ci[:, 0] == -math.inf) and np.all(ci[:, 1] == math.inf)

    lin = sm.Model(sm.mlp(2, 2, 1, activation="identity"), sm.Gaussian(sigma=1.0))
    theta = np.array([1.0, 0.5, -0.5, 1.0, 0.2, -0.1, 1.5, -1.0, 0.3])
    X, y = lin.simulate(theta, n=150, rng=2)
    res = quiet(fit, lin, X, y, rng=0)
    W1, b1 = res.params[:4].reshape(2, 2), res.params[4:6]
    v = res.params[6:8]
    for t in (-2.0, 0.0, res.params[0] + 3.0):   # W1_1_1 = t by A = [[1, a], [0, 1]]
        a = (t - W1[0, 0]) / W1[1, 0]
        A = np.array([[1.0, a], [0.0, 1.0]])
        moved = np.concatenate([(A @ W1).ravel(), A @ b1, v @ np.linalg.inv(A), res.params[8:]])
        assert moved[0] == pytest.approx(t)
        assert lin.compile().loglik(moved, X, y) == pytest.approx(res.loglik, abs=1e-8)
    pr = profile(res, "W1_1_1", values=[-2.0, 0.0, res.params[0] + 3.0])
    assert np.all(pr.loglik >= res.loglik - 1e-7)


def test_tanh_profile_is_no_lower_than_an_independent_multistart_optimiser():
    """Where no symmetry helps, the profile must still be the maximum over the other
    parameters: compare with 12 BFGS runs from random starts at each value, written here."""
    model = sm.Model(sm.mlp(1, 2, 1, activation="tanh"), sm.Gaussian(sigma=0.3))
    theta = np.array([1.5, -1.0, 0.5, 0.3, 1.0, 0.8, 0.1])
    X, y = model.simulate(theta, n=120, rng=3)
    res = quiet(fit, model, X, y, start=theta, n_starts=4, rng=0)
    cm = model.compile()
    i = 4   # W2_1_1
    values = res.params[i] + np.array([-1.5, -0.6, 0.6, 1.5])
    pr = profile(res, i, values=values)
    rng = np.random.default_rng(0)
    free = [j for j in range(7) if j != i]
    for t, ll in zip(values, pr.loglik):
        def negll(z):
            th = np.insert(z, i, t)
            return -cm.loglik(th, X, y), -cm.score(th, X, y)[free]
        best = max(-so.minimize(negll, z0, jac=True, method="BFGS").fun
                   for z0 in [np.delete(res.params, i)] + list(rng.normal(0, 1.5, (11, 6))))
        assert ll >= best - 1e-6, (t, ll, best)


# ------------------------------------------- §7 information criteria and MNLogit
def mnlogit(X, y):
    return statsmodels.MNLogit(y, statsmodels.add_constant(X, has_constant="add")).fit(
        disp=0, method="newton", maxiter=200)


def iris(columns):
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_iris(return_X_y=True)
    return X[:, columns], y.astype(int)


def as_mnlogit_table(model, values):
    """Our θ of mlp(d, K-1) as statsmodels' (d+1) × (K-1) table: constant first."""
    W, b = model.architecture.unflatten(values)[0]
    return np.vstack([b, W.T])


@pytest.mark.parametrize("columns", [[0], [1]])
def test_reference_categorical_is_mnlogit_on_iris(columns):
    """Iris (sepal length, or sepal width: the MLE exists; with two or more features setosa is
    separated): estimates and standard errors are statsmodels' to 1e-6, and both
    parametrisations have MNLogit's log-likelihood, AIC and BIC."""
    X, y = iris(columns)
    ref = mnlogit(X, y)
    d = len(columns)
    model = sm.Model(sm.mlp(d, 2), sm.Categorical(reference=True))
    res = fit(model, X, y, rng=0)
    assert res.converged and res.information_rank == model.n_params
    np.testing.assert_allclose(as_mnlogit_table(model, res.params), ref.params, atol=1e-6)
    np.testing.assert_allclose(as_mnlogit_table(model, res.stderr), ref.bse, atol=1e-6)
    full = sm.Model(sm.mlp(d, 3), sm.Categorical())
    res_full = quiet(fit, full, X, y, rng=0)
    for r in (res, res_full):
        assert r.loglik == pytest.approx(ref.llf, abs=1e-6)
        assert r.aic == pytest.approx(ref.aic, abs=1e-6)
        assert r.bic == pytest.approx(ref.bic, abs=1e-6)
    assert res_full.information_rank == 2 * (d + 1) < full.n_params
    assert f"AIC counts {2 * (d + 1)} identified parameters of {full.n_params}" in \
        res_full.summary()
    assert "AIC counts" not in res.summary()


def test_reference_categorical_is_mnlogit_on_anes96():
    """statsmodels' own MNLogit example: 7 party identifications on 5 regressors (36
    parameters)."""
    data = statsmodels.datasets.anes96.load_pandas()
    X = data.exog[["logpopul", "selfLR", "age", "educ", "income"]].to_numpy(float)
    y = data.endog.to_numpy().astype(int)
    ref = mnlogit(X, y)
    model = sm.Model(sm.mlp(5, 6), sm.Categorical(reference=True))
    res = fit(model, X, y, start=np.zeros(model.n_params))
    assert res.converged
    np.testing.assert_allclose(as_mnlogit_table(model, res.params), ref.params, atol=1e-6)
    np.testing.assert_allclose(as_mnlogit_table(model, res.stderr), ref.bse, atol=1e-6)
    assert res.aic == pytest.approx(ref.aic, abs=1e-6)


@settings(max_examples=6)
@given(d=st.integers(1, 3), K=st.integers(2, 4), seed=st.integers(0, 2 ** 20))
def test_multinomial_logit_criteria_and_estimates_match_mnlogit(d, K, seed):
    """Random multinomial logits: Categorical() counts (d+1)(K-1) parameters, not (d+1)K, and
    Categorical(reference=True) reproduces MNLogit's estimates and standard errors."""
    rng = np.random.default_rng(seed)
    full = sm.Model(sm.mlp(d, K), sm.Categorical())
    theta = full.random_params(rng)
    X, y = full.simulate(theta, n=400, rng=rng)
    assume(np.unique(y).size == K)   # a class that never occurs has no MNLogit parameters
    ref = mnlogit(X, y)
    res_full = quiet(fit, full, X, y, rng=0)
    assert res_full.information_rank == (d + 1) * (K - 1)
    assert res_full.aic == pytest.approx(ref.aic, abs=1e-6)
    assert res_full.bic == pytest.approx(ref.bic, abs=1e-6)
    model = sm.Model(sm.mlp(d, K - 1), sm.Categorical(reference=True))
    res = fit(model, X, y, rng=0)
    np.testing.assert_allclose(as_mnlogit_table(model, res.params), ref.params, atol=1e-6)
    np.testing.assert_allclose(as_mnlogit_table(model, res.stderr), ref.bse, atol=1e-6)
    assert res.aic == pytest.approx(ref.aic, abs=1e-6)


def test_reference_categorical_with_one_output_is_logistic_regression():
    bern = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    X, y = bern.simulate(np.array([1.0, -0.5, 0.3]), n=300, rng=5)
    a = fit(bern, X, y, rng=0)
    cat = sm.Model(sm.mlp(2, 1), sm.Categorical(reference=True))
    b = fit(cat, X, y.astype(int), rng=0)
    np.testing.assert_allclose(b.params, a.params, atol=1e-9)
    np.testing.assert_allclose(b.stderr, a.stderr, rtol=1e-8)
    assert b.loglik == pytest.approx(a.loglik, abs=1e-9) and b.aic == pytest.approx(a.aic)


def test_relu_network_criteria_count_parameters_net_of_rescaling(relu_fit):
    model, X, y, res = relu_fit
    assert res.information_rank == model.n_params - 2   # one rescaling per hidden unit
    assert res.aic == pytest.approx(2 * 5 - 2 * res.loglik)
    assert res.bic == pytest.approx(5 * math.log(200) - 2 * res.loglik)
    assert "AIC counts 5 identified parameters of 7" in res.summary()


def test_reference_categorical_family_facts():
    fam = sm.Categorical(reference=True)
    assert repr(fam) == "Categorical(reference=True)" and repr(sm.Categorical()) == "Categorical()"
    assert fam.shift_invariant is False and sm.Categorical().shift_invariant is True
    assert fam != sm.Categorical() and fam == sm.Categorical(reference=True)
    for f in (fam, sm.Categorical()):
        assert family_from_dict(f.to_dict()) == f
    assert sm.Categorical().to_dict() == {"name": "categorical"}
    with pytest.raises(PersistenceError):
        family_from_dict({"name": "categorical", "reference": "yes"})
    with pytest.raises(TypeError):
        sm.Categorical(reference=1)
    with pytest.raises(SymmleValueError, match="at least 1 output"):
        fam.check_outputs(0)
    with pytest.raises(SymmleValueError, match="reference=True"):
        sm.Model(sm.mlp(2, 1), sm.Categorical())
    model = sm.Model(sm.mlp(2, 2, activation="identity"), fam)   # 3 classes
    assert sm.continuous_symmetries(model, model.random_params(0)).shape[1] == 0
    with pytest.raises(DataError, match="0..2"):
        fam.check_y(np.array([0, 1, 3]), 3, 2)
    rng = np.random.default_rng(0)
    eta = rng.normal(size=(5, 2))
    p = sps.softmax(np.column_stack([np.zeros(5), eta]), axis=1)
    np.testing.assert_allclose(fam.mean(eta, ()), p, rtol=1e-14)
    y = np.array([0, 1, 2, 1, 0])
    np.testing.assert_allclose(fam.loglik_rows(eta, y, ()), np.log(p[np.arange(5), y]))
    for what in ("grad_eta", "hess_eta"):   # the stable forms against the ones derived by sympy
        np.testing.assert_allclose(getattr(fam, what)(eta, y, ()), fam.derived(what, eta, y, ()),
                                   atol=1e-14)
    B = fam.weight_root(eta, ())
    np.testing.assert_allclose(B @ B.transpose(0, 2, 1), fam.weight(eta, ()), atol=1e-15)
    draws = fam.sample(np.tile([[0.0, np.log(2.0)]], (40000, 1)), (), rng)
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 40000, [0.25, 0.25, 0.5],
                               atol=0.01)


def test_reference_categorical_fit_round_trips_through_json():
    model = sm.Model(sm.mlp(2, 2), sm.Categorical(reference=True))
    X, y = model.simulate(np.array([1.0, 0.0, 0.0, -1.0, 0.2, 0.1]), n=300, rng=6)
    res = fit(model, X, y, rng=0)
    back = FitResult.from_json(res.to_json())
    assert back.model.family == model.family and back.aic == res.aic
    np.testing.assert_array_equal(back.stderr, res.stderr)


# ---------------------------------------------------------------- §8 evalf, rewrite
FAMILIES = [sm.Gaussian(), sm.Gaussian(sigma=0.7), sm.Bernoulli(), sm.Poisson(),
            sm.Categorical(), sm.Categorical(reference=True)]


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
@pytest.mark.parametrize("activation", ["softplus", "sigmoid", "tanh", "silu", "gelu", "relu"])
def test_evalf_of_the_symbolic_loglik_is_the_compiled_number(family, activation):
    k = 3 if isinstance(family, sm.Categorical) and not family.reference else (
        2 if isinstance(family, sm.Categorical) else 1)
    model = sm.Model(sm.mlp(2, 2, k, activation=activation), family)
    theta = model.random_params(1)
    if model.n_params > model.n_network_params:
        theta[-1] = -0.3
    X, y = model.simulate(theta, n=1, rng=2)
    yv = family.y_values(family.check_y(y, 1, k), k)[0]
    subs = dict(zip(model.params, theta))
    subs.update(zip(model.architecture.inputs, X[0]))
    subs.update(zip(model.response, yv))
    value = model.loglik.subs(subs).evalf()
    assert isinstance(value, sp.Float), value
    assert float(value) == pytest.approx(model.compile().loglik(theta, X, y), abs=1e-12)
    elementary = model.loglik.rewrite(sp.exp)
    assert not elementary.atoms(softplus, logsumexp, sigmoid)
    assert float(elementary.subs(subs).evalf()) == pytest.approx(float(value), abs=1e-12)


def test_custom_functions_evaluate_at_any_precision():
    z = sp.Symbol("z")
    assert softplus(z).evalf() == softplus(z)           # symbolic arguments stay
    assert softplus(z).rewrite(sp.log) == sp.log(1 + sp.exp(z))
    assert logsumexp(z, 1).rewrite(sp.log) == sp.log(sp.exp(z) + sp.E)
    for expr, exact in [(softplus(sp.sqrt(2)), sp.log(1 + sp.exp(sp.sqrt(2)))),
                        (sigmoid(sp.pi / 3), 1 / (1 + sp.exp(-sp.pi / 3))),
                        (logsumexp(sp.sqrt(3), 1000, -2), sp.log(sp.exp(sp.sqrt(3))
                                                                 + sp.exp(1000) + sp.exp(-2)))]:
        got = expr.evalf(40)
        assert isinstance(got, sp.Float)
        assert abs(got - exact.evalf(40)) < sp.Float(10) ** -35
