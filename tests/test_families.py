"""Families: immutable values whose derivatives come from their sympy log-density; every
hand-written numeric form is checked against the derived one, and where it is kept for
accuracy, against mpmath."""

import dataclasses

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm

FAMILIES = [sm.Gaussian(), sm.Gaussian(sigma=0.7), sm.Bernoulli(), sm.Poisson(), sm.Categorical()]
WHAT = ("grad_eta", "hess_eta", "grad_extra", "hess_extra", "hess_cross")


@st.composite
def family_points(draw):
    fam = draw(st.sampled_from(FAMILIES))
    k = draw(st.integers(2, 4)) if fam.shift_invariant else draw(st.integers(1, 3))
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    eta = rng.uniform(-8, 8, size=(n, k))
    extra = rng.uniform(-2, 2, size=fam.n_extra)
    y = fam.check_y(fam.sample(eta, extra, rng), n, k)
    return fam, eta, y, extra


@given(family_points())
def test_every_numeric_derivative_equals_the_one_derived_from_the_log_density(point):
    """grad/hess in η and in the family's own parameters, as the compiled layer calls them,
    against `Family.derived` (lambdified from `loglik_expr`); and the Fisher weight against
    minus the derived Hessian in η (it does not depend on y for canonical links)."""
    fam, eta, y, extra = point
    for what in WHAT:
        got = getattr(fam, what)(eta, y, extra)
        want = fam.derived(what, eta, y, extra)
        assert got.shape == want.shape, what
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(want).max(
            initial=0.0)), err_msg=what)
    np.testing.assert_allclose(fam.weight(eta, extra), -fam.derived("hess_eta", eta, y, extra),
                               rtol=1e-12, atol=1e-15)


def test_the_kept_hand_written_forms_are_more_accurate_than_the_derived_ones():
    """Bernoulli's y − σ(η) and σ(η)σ(−η) are kept because the derived 1 − σ(η) and
    σ(η)(1 − σ(η)) lose every digit for large η (mpmath at 50 digits is the truth)."""
    mpmath.mp.dps = 50
    fam = sm.Bernoulli()
    eta, y = np.array([[40.0]]), np.array([[1.0]])
    true_grad = float(1 - 1 / (1 + mpmath.exp(-40)))
    true_w = float(mpmath.exp(-40) / (1 + mpmath.exp(-40)) ** 2)
    assert fam.grad_eta(eta, y, ())[0, 0] == pytest.approx(true_grad, rel=1e-14)
    assert fam.weight(eta, ())[0, 0, 0] == pytest.approx(true_w, rel=1e-14)
    assert fam.derived("grad_eta", eta, y, ())[0, 0] != pytest.approx(true_grad, rel=1e-3, abs=0)
    assert -fam.derived("hess_eta", eta, y, ())[0, 0, 0] != pytest.approx(true_w, rel=1e-3, abs=0)


def test_families_are_frozen_values_with_their_facts():
    g = sm.Gaussian(sigma=2)
    assert g == sm.Gaussian(sigma=2.0) and hash(g) == hash(sm.Gaussian(sigma=2.0))
    assert g != sm.Gaussian() and sm.Bernoulli() != sm.Poisson()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.sigma = 3.0
    assert isinstance(g.sigma, float)
    facts = {f.name: (f.shift_invariant, f.least_squares, f.separable) for f in FAMILIES}
    assert facts == {"gaussian": (False, True, False), "bernoulli": (False, False, True),
                     "poisson": (False, False, False), "categorical": (True, False, True)}
    assert sm.Gaussian().estimates_scale and not sm.Gaussian(sigma=1.0).estimates_scale
    assert sm.Gaussian().noise_scale([np.log(3.0)]) == pytest.approx(3.0)
    assert sm.Bernoulli().noise_scale(()) is None
    # the objective's constant: Σ log N(y | η, σ²) = -½ RSS/σ² + loglik_constant
    rng = np.random.default_rng(0)
    eta, y = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    fam = sm.Gaussian(sigma=0.5)
    rss = float(np.sum((y - eta) ** 2))
    assert fam.loglik_sum(eta, y, ()) == pytest.approx(-0.5 * rss / 0.25
                                                       + fam.loglik_constant(14, ()), rel=1e-13)
    # the profiled σ maximises ℓ in σ: log σ̂ = ½ log(RSS / count)
    s_hat = sm.Gaussian().profile_extra(rss, 14)[0]
    lls = [sm.Gaussian().loglik_sum(eta, y, [s_hat + d]) for d in (-1e-3, 0.0, 1e-3)]
    assert lls[1] > lls[0] and lls[1] > lls[2]
    with pytest.raises(ValueError, match="no scale"):
        sm.Bernoulli().profile_extra(1.0, 3)


def test_degenerate_rows_are_the_rows_fitted_with_probability_one():
    eta = np.array([[40.0], [-40.0], [0.5]])
    y = np.array([[1.0], [0.0], [1.0]])
    assert sm.Bernoulli().degenerate_rows(eta, y, 1e-10).tolist() == [True, True, False]
    eta3 = np.array([[50.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert sm.Categorical().degenerate_rows(eta3, np.array([0, 0]), 1e-10).tolist() == [True, False]
    assert sm.Gaussian().degenerate_rows(eta, y, 1e-10) is None


@pytest.mark.parametrize("sigma, err", [(1e160, ValueError), (1e-200, ValueError),
                                        (float("nan"), ValueError), (-1.0, ValueError),
                                        ("1", TypeError), (True, TypeError)])
def test_gaussian_sigma_outside_float64_comfort_is_refused(sigma, err):
    with pytest.raises(err, match="sigma"):
        sm.Gaussian(sigma=sigma)


def test_a_huge_integer_sigma_is_computed_or_refused_clearly():
    with pytest.raises(ValueError, match="sigma must be a real number of float64 range"):
        sm.Gaussian(sigma=10 ** 400)
    fam = sm.Gaussian(sigma=10 ** 40)
    assert fam.sigma == 1e40
    ll = fam.loglik_rows(np.zeros((1, 1)), np.ones((1, 1)), ())[0]
    assert ll == pytest.approx(-40 * np.log(10) - 0.5 * np.log(2 * np.pi), rel=1e-14)
