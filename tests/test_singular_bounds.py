"""Tests of symmle.singular: the bounded work of `learning_coefficient` on hostile but valid
arguments, and the 1-H-1 odd networks at a zero truth (Aoyagi 2019)."""

import math
import re
import signal
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import symmle as sm
from symmle.errors import ConvergenceError, SymmleValueError
from symmle.singular import (
    ODD_1H1_REFERENCE,
    learning_coefficient_theory,
    odd_1h1_learning_coefficient,
)


@contextmanager
def deadline(seconds):
    """Fail (instead of hanging) when the body runs longer than ``seconds`` (pytest-timeout is
    not installed). A guard against hangs, not a timed assertion."""
    def fail(signum, frame):
        raise AssertionError(f"still running after {seconds} s: the work is not bounded")
    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _tanh_data():
    model = sm.Model(sm.mlp(2, 2, 1, activation="tanh"), sm.Gaussian(1.0))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    y = 0.5 * X[:, 0] + rng.normal(size=50)
    return model, X, y, np.full(model.n_params, 0.3)


def _linear_data():
    model = sm.Model(sm.mlp(1, 1, 1, activation="identity", bias=False), sm.Gaussian(1.0))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 1))
    return model, X, 0.5 * X[:, 0] + rng.normal(size=50)


# ------------------------------------------------------------------ bounded work
def test_refuses_more_iterations_than_the_cap_before_any_work():
    pytest.importorskip("mici")
    from symmle.singular._estimate import MAX_ITERATIONS
    model, X, y = _linear_data()
    with deadline(30), pytest.raises(SymmleValueError, match="sampler iterations"):
        sm.learning_coefficient(model, X, y, theta=[1.0, 0.5], n_chains=64, n_draws=10 ** 6)
    assert 64 * (500 + 10 ** 6) > MAX_ITERATIONS


def test_extreme_scales_give_a_clear_value_error():
    """Inputs of 1e150 (or a prior scale of 1e-40): no leapfrog step of size ≥ 2⁻¹⁰⁰ keeps the
    energy error below log 2. mici swallowed its AdaptationError and then failed on a
    ``zip()`` of empty adapter states; now a SymmleValueError names the scales."""
    pytest.importorskip("mici")
    model, X, y = _linear_data()
    with deadline(60):
        with pytest.raises(SymmleValueError, match="no usable HMC step size.*inputs up to"):
            sm.learning_coefficient(model, X * 1e150, y, theta=[1.0, 0.5], n_chains=1,
                                    n_warmup=20, n_draws=20)
        with pytest.raises(SymmleValueError, match="prior_scale=1e-40"):
            sm.learning_coefficient(model, X, y, theta=[1.0, 0.5], n_chains=1, n_warmup=20,
                                    n_draws=20, prior_scale=1e-40)


def test_gradient_budget_arithmetic():
    """With one gradient allowed per iteration the budget of 1 × (iterations + 300) is spent
    at once; the message reports gradients and iterations consistent with that rule."""
    pytest.importorskip("mici")
    from symmle.singular._estimate import BUDGET_SLACK
    model, X, y = _linear_data()
    with deadline(60), pytest.raises(ConvergenceError, match="max_mean_steps=1") as info:
        sm.learning_coefficient(model, X, y, theta=[1.0, 0.5], method="local", n_chains=1,
                                n_warmup=400, n_draws=400, max_mean_steps=1)
    used, its = map(int, re.search(r"(\d+) gradients in (\d+) iterations",
                                   str(info.value)).groups())
    assert used == its + BUDGET_SLACK + 1


def test_max_tree_depth_and_budget_are_checked_and_recorded():
    pytest.importorskip("mici")
    model, X, y = _linear_data()
    with pytest.raises(SymmleValueError, match="max_tree_depth"):
        sm.learning_coefficient(model, X, y, theta=[1.0, 0.5], max_tree_depth=0)
    with pytest.raises(SymmleValueError, match="max_mean_steps"):
        sm.learning_coefficient(model, X, y, theta=[1.0, 0.5], max_tree_depth=3,
                                max_mean_steps=9)
    est = sm.learning_coefficient(model, X, y, theta=[1.0, 0.5], method="local", n_chains=2,
                                  n_warmup=100, n_draws=100, max_tree_depth=3)
    assert est.settings["max_tree_depth"] == 3
    assert 1 <= est.diagnostics["mean_steps"] <= 2 ** 3
    assert est.diagnostics["gradient_evals"] <= 8 * (2 * 200 + 300) + 1


def test_divergence_stop():
    """A few warm-up iterations leave the step size unadapted for this tanh posterior and most
    transitions diverge: a chain diverging on more than half of its transitions after warm-up
    stops the estimate instead of averaging such draws, and an estimate that does come back had
    at most half diverging in each chain. Several warm-up lengths, because which of them
    diverge depends on the last bits of the log-density (a 1-ulp change of tanh′ turned 20
    warm-up iterations from diverging to adapted)."""
    pytest.importorskip("mici")
    model, X, y, theta = _tanh_data()
    stopped = 0
    for n_warmup in (3, 4, 5, 6):
        try:
            with deadline(60):
                est = sm.learning_coefficient(model, X, y, theta=theta, method="wbic",
                                              n_chains=2, n_warmup=n_warmup, n_draws=20)
        except ConvergenceError as exc:
            found = re.search(r"diverged on (\d+) of its 20", str(exc))
            assert found and int(found.group(1)) > 10, str(exc)
            stopped += 1
        else:
            assert est.diagnostics["divergences"] <= 2 * 10
    assert stopped >= 2


@pytest.mark.slow
def test_nearly_improper_density_stops_within_the_budget():
    """A localisation of 1e-99 localises nothing: the tempered posterior of the tanh network
    is nearly flat along its ridges and every HMC iteration builds the deepest tree. With the
    default settings (4 chains × 1500 iterations) that took hours before the budget; now it
    raises ConvergenceError after about 100 iterations."""
    pytest.importorskip("mici")
    model, X, y, theta = _tanh_data()
    with deadline(400), pytest.raises(ConvergenceError, match="nearly improper"):
        sm.learning_coefficient(model, X, y, theta=theta, method="local", localization=1e-99)


# ------------------------------------------------------------------ 1-H-1 odd, zero truth
def _aoyagi_one_input(M, H, Q):
    """Aoyagi (2019), Section 4, the exact value for one input (written independently of the
    library): k = max{i : 2H ≥ M(i(i−1)Q + 2i)}, λ = (MQk(k+1) + 2H)/(4(1 + kQ)), m = 2 at
    equality."""
    k = 0
    while 2 * H >= M * ((k + 1) * k * Q + 2 * (k + 1)):
        k += 1
    lam = Fraction(M * Q * k * (k + 1) + 2 * H, 4 * (1 + k * Q))
    return lam, 2 if 2 * H == M * (k * (k - 1) * Q + 2 * k) else 1


@pytest.mark.parametrize("H, lam, m", [(1, Fraction(1, 2), 2), (2, Fraction(2, 3), 1),
                                       (3, Fraction(5, 6), 1), (4, Fraction(1), 2)])
def test_odd_1h1_known_values(H, lam, m):
    assert odd_1h1_learning_coefficient(H) == (lam, m)


def test_odd_1h1_is_aoyagis_one_input_formula_at_m1_q2():
    for H in range(1, 60):
        assert odd_1h1_learning_coefficient(H) == _aoyagi_one_input(1, H, 2)
        lam, m = odd_1h1_learning_coefficient(H)
        assert (m == 2) == (math.isqrt(H) ** 2 == H)
        assert 0 < lam <= Fraction(2 * H, 2)           # at most d/2 = H
    lams = [odd_1h1_learning_coefficient(H)[0] for H in range(1, 60)]
    assert all(a < b for a, b in zip(lams, lams[1:]))  # one more unit always costs


def test_odd_1h1_h1_by_hand():
    """H = 1: K(a, b) ≍ a²b², and ∫∫ (a²b²)^(−z) da db over [0,1]² = 1/(1−2z)² has its pole
    of order 2 at z = 1/2: λ = 1/2, m = 2."""
    a, b, z = sp.symbols("a b z", positive=True)
    zeta = sp.integrate(sp.integrate((a * b) ** (-2 * z), (a, 0, 1), conds="none"),
                        (b, 0, 1), conds="none")
    assert sp.simplify(zeta - 1 / (1 - 2 * z) ** 2) == 0
    assert odd_1h1_learning_coefficient(1) == (Fraction(1, 2), 2)


@pytest.mark.parametrize("H", [2, 3])
def test_higher_odd_generators_lie_in_the_vandermonde_ideal(H):
    """Σ_h a_h b_h^(2p−1) for p = H+1, H+2 reduces to zero modulo the Gröbner basis of the
    first H generators: only the first H odd Taylor coefficients of σ matter."""
    a = sp.symbols(f"a1:{H + 1}")
    b = sp.symbols(f"b1:{H + 1}")
    gens = [sum(a[h] * b[h] ** (2 * p - 1) for h in range(H)) for p in range(1, H + 1)]
    G = sp.groebner(gens, *a, *b, order="grevlex")
    for p in (H + 1, H + 2):
        assert G.reduce(sum(a[h] * b[h] ** (2 * p - 1) for h in range(H)))[1] == 0


@pytest.mark.parametrize("activation", ["tanh", "erf"])
def test_theory_recognises_zero_truths_of_odd_networks(activation):
    model = sm.Model(sm.mlp(1, 3, 1, activation=activation, bias=False), sm.Gaussian(1.0))
    # θ = (b1, b2, b3, a1, a2, a3): a1 σ(b1 x) + a2 σ(b2 x) + a3 σ(b3 x)
    zeros = [np.zeros(6),
             [0.5, -0.5, 0.0, 1.0, 1.0, 2.0],          # σ(½x) − σ(½x) + 2σ(0)
             [0.25, 0.25, 1.0, 3.0, -3.0, 0.0],        # 3σ(¼x) − 3σ(¼x) + 0
             [0.1, 0.2, 0.3, 0.0, 0.0, 0.0]]
    for theta in zeros:
        rec = learning_coefficient_theory(model, theta)
        assert rec == (Fraction(5, 6), 1, "1-H-1 odd, zero truth")
        assert rec.reference == ODD_1H1_REFERENCE
    # not zero: σ(½x) + σ(½x), and σ(½x) − σ(x/4)
    for theta in ([0.5, 0.5, 0.0, 1.0, 1.0, 0.0], [0.5, 0.25, 0.0, 1.0, -1.0, 0.0]):
        rec = learning_coefficient_theory(model, theta)
        assert rec is None or rec.case != "1-H-1 odd, zero truth"


def test_theory_odd_estimated_sigma_and_widths():
    free = sm.Model(sm.mlp(1, 4, 1, activation="tanh", bias=False), sm.Gaussian())
    rec = learning_coefficient_theory(free, np.zeros(9))
    assert rec == (Fraction(3, 2), 2, "1-H-1 odd, zero truth + estimated sigma")
    for H in (1, 2, 5):
        model = sm.Model(sm.mlp(1, H, 1, activation="tanh", bias=False), sm.Gaussian(1.0))
        assert tuple(learning_coefficient_theory(model, np.zeros(2 * H)))[:2] == \
            odd_1h1_learning_coefficient(H)


@pytest.mark.parametrize("arch", [
    sm.mlp(1, 2, 1, activation="sigmoid", bias=False),     # not odd
    sm.mlp(1, 2, 1, activation="cube", bias=False),        # a monomial: no z coefficient
    sm.mlp(2, 2, 1, activation="tanh", bias=False),        # two inputs
    sm.mlp(1, 2, 2, activation="tanh", bias=False),        # two outputs
])
def test_theory_odd_case_needs_its_conditions(arch):
    model = sm.Model(arch, sm.Gaussian(1.0))
    rec = learning_coefficient_theory(model, np.zeros(model.n_params))
    assert rec is None or rec.case != "1-H-1 odd, zero truth"


def test_theory_odd_case_refuses_biases():
    model = sm.Model(sm.mlp(1, 2, 1, activation="tanh"), sm.Gaussian(1.0))
    rec = learning_coefficient_theory(model, np.zeros(model.n_params))
    assert rec is None or rec.case != "1-H-1 odd, zero truth"


def test_one_warm_up_iteration_is_refused_by_name():
    """mici's adaptation needs two warm-up samples (it raised its own AdaptationError)."""
    model, X, y, theta = _tanh_data()
    for call in (lambda: sm.learning_coefficient(model, X, y, theta=theta, n_warmup=1),
                 lambda: sm.singular.posterior_draws(model, X, y, theta, n_warmup=1)):
        with pytest.raises(ValueError, match="n_warmup must be an integer >= 2"):
            call()
