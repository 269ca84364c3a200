"""Tests of symmle.singular: exact learning coefficients and exact population losses."""

import dataclasses
import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

import symmle as sm
from symmle.errors import ParamsError, SymmleTypeError, SymmleValueError
from symmle.singular import (
    LearningCoefficient,
    learning_coefficient_theory,
    population_kl,
    population_kl_function,
    rrr_learning_coefficient,
)


# ---------------------------------------------------------------- rrr_learning_coefficient
# the table lists (M, H, N, r); the function takes (M, N, H, r)
KNOWN = [
    ((5, 3, 5, 0), Fraction(13, 2), None),
    ((5, 4, 5, 0), Fraction(8), None),
    ((4, 3, 8, 0), Fraction(6), None),
    ((8, 3, 4, 0), Fraction(6), None),
    ((3, 8, 4, 0), Fraction(6), None),
    ((6, 3, 6, 3), Fraction(27, 2), None),
    ((6, 4, 6, 3), Fraction(15), 2),
    ((6, 5, 6, 3), Fraction(16), None),
    ((6, 6, 6, 3), Fraction(17), 2),
]


@pytest.mark.parametrize("mhnr, lam, m", KNOWN)
def test_rrr_known_values(mhnr, lam, m):
    M, H, N, r = mhnr
    got_lam, got_m = rrr_learning_coefficient(M, N, H, r)
    assert isinstance(got_lam, Fraction) and got_lam == lam
    assert isinstance(got_m, int) and got_m in (1, 2)
    if m is not None:
        assert got_m == m


def test_rrr_multiplicity_two_exactly_in_case_one_odd():
    # 5-3-5, r = 0: case 1 with M + H + N + r = 13 odd
    assert rrr_learning_coefficient(5, 5, 3, 0) == (Fraction(13, 2), 2)
    assert rrr_learning_coefficient(5, 5, 4, 0) == (Fraction(8), 1)


def _grid(limit=7):
    for M, N, H in itertools.product(range(1, limit + 1), repeat=3):
        for r in range(min(M, N, H) + 1):
            yield M, N, H, r


def test_rrr_no_redundant_unit_is_regular():
    # H = r: (B, A) -> BA is a submersion onto the rank-r matrices, a manifold of dimension
    # r(M + N − r): a regular model there, λ = d/2, m = 1
    for M, N in itertools.product(range(1, 8), repeat=2):
        for r in range(1, min(M, N) + 1):
            assert rrr_learning_coefficient(M, N, r, r) == (Fraction(r * (M + N - r), 2), 1)


def test_rrr_symmetric_in_inputs_and_outputs():
    for M, N, H, r in _grid():
        assert rrr_learning_coefficient(M, N, H, r) == rrr_learning_coefficient(N, M, H, r)


def test_rrr_monotone_in_hidden_width_and_saturates():
    for M, N in itertools.product(range(1, 7), repeat=2):
        for r in range(min(M, N) + 1):
            lams = [rrr_learning_coefficient(M, N, H, r)[0]
                    for H in range(max(r, 1), M + N + 4)]
            assert all(a <= b for a, b in zip(lams, lams[1:])), (M, N, r, lams)
            # once H + r > M + N the product BA fills all N×M matrices: λ = MN/2
            for H in range(max(r, 1), M + N + 4):
                if H + r > M + N:
                    assert rrr_learning_coefficient(M, N, H, r) == (Fraction(M * N, 2), 1)


def test_rrr_bounded_by_half_the_parameter_count():
    for M, N, H, r in _grid():
        lam, m = rrr_learning_coefficient(M, N, H, r)
        assert 0 < lam <= Fraction(H * (M + N), 2)
        assert (8 * lam).denominator == 1


def test_rrr_cases_agree_on_their_boundaries():
    # independent closed forms of the theorem's cases 2 and 3 evaluated where case 1 meets
    # them (M + H = N + r, resp. N + H = M + r): λ is continuous across the boundary
    seen = 0
    for M, N, H, r in _grid(8):
        lam, _ = rrr_learning_coefficient(M, N, H, r)
        if M + H == N + r:
            assert lam == Fraction(H * M - H * r + N * r, 2)
            seen += 1
        if N + H == M + r:
            assert lam == Fraction(H * N - H * r + M * r, 2)
            seen += 1
        if H + r == M + N:
            assert lam == Fraction(M * N, 2)
            seen += 1
    assert seen > 50


def test_rrr_cases_partition():
    # cases 2, 3, 4 are mutually exclusive and case 1 is their complement
    for M, N, H, r in _grid():
        c2, c3, c4 = M + H < N + r, N + H < M + r, M + N < H + r
        c1 = N + r <= M + H and M + r <= N + H and H + r <= M + N
        assert c1 + c2 + c3 + c4 == 1


def test_rrr_zero_truth_single_unit():
    # K = (ab)²: λ = 1/2 with multiplicity 2 (the area {|ab| < ε} of the square is ~ ε log 1/ε)
    assert rrr_learning_coefficient(1, 1, 1, 0) == (Fraction(1, 2), 2)
    assert rrr_learning_coefficient(1, 1, 1, 1) == (Fraction(1, 2), 1)


@pytest.mark.parametrize("args, name", [((1.0, 2, 2, 0), "M"), ((2, "2", 2, 0), "N"),
                                        ((2, 2, True, 0), "H"), ((2, 2, 2, 0.5), "r")])
def test_rrr_wrong_types(args, name):
    with pytest.raises(SymmleTypeError, match=f"^{name} must be an integer"):
        rrr_learning_coefficient(*args)


@pytest.mark.parametrize("args, name", [((0, 2, 2, 0), "M"), ((2, 0, 2, 0), "N"),
                                        ((2, 2, 0, 0), "H"), ((2, 2, 2, -1), "r"),
                                        ((3, 4, 2, 3), "r"), ((2, 4, 5, 3), "r")])
def test_rrr_wrong_values(args, name):
    with pytest.raises(SymmleValueError, match=f"^{name} must be"):
        rrr_learning_coefficient(*args)


def test_rrr_numpy_integers():
    assert rrr_learning_coefficient(*map(np.int64, (5, 5, 3, 0))) == (Fraction(13, 2), 2)


# ---------------------------------------------------------------- LearningCoefficient
def test_record_unpacks_compares_and_is_frozen():
    rec = LearningCoefficient(Fraction(15), 2, "rrr case 1 (odd)", "ref")
    lam, m, case = rec
    assert (lam, m, case) == (Fraction(15), 2, "rrr case 1 (odd)")
    assert rec == (Fraction(15), 2) and rec == (15, 2, "rrr case 1 (odd)")
    assert rec != (Fraction(16), 2)
    assert rec == LearningCoefficient(Fraction(15), 2, "rrr case 1 (odd)", "ref")
    assert rec != LearningCoefficient(Fraction(15), 1, "rrr case 1 (odd)", "ref")
    assert hash(rec) == hash((Fraction(15), 2, "rrr case 1 (odd)"))
    assert float(rec) == 15.0 and len(rec) == 3
    assert repr(rec) == "LearningCoefficient(lambda_=15, multiplicity=2, case='rrr case 1 (odd)')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.lambda_ = Fraction(1)


# ---------------------------------------------------------------- learning_coefficient_theory
def _linear(M, H, N, sigma=1.0):
    return sm.Model(sm.mlp(M, H, N, activation="identity", bias=False), sm.Gaussian(sigma))


@pytest.mark.parametrize("mhnr, lam, m", [k for k in KNOWN if k[0][3] == 0])
def test_theory_rrr_zero_truth(mhnr, lam, m):
    M, H, N, _ = mhnr
    model = _linear(M, H, N)
    rec = learning_coefficient_theory(model, np.zeros(model.n_params))
    assert rec.lambda_ == lam and rec.case.startswith("rrr case")
    assert "Aoyagi" in rec.reference
    assert (rec.lambda_, rec.multiplicity) == rrr_learning_coefficient(M, N, H, 0)


def _rank_r_truth(M, H, N, r, rng):
    """Integer W1 (H×M), W2 (N×H) with rank(W2 W1) = r exactly."""
    while True:
        W1 = rng.integers(-3, 4, (H, M))
        W2 = rng.integers(-3, 4, (N, H))
        W2[:, r:] = 0
        if np.linalg.matrix_rank(W2 @ W1) == r:
            return list(W1.ravel()) + list(W2.ravel())


@pytest.mark.parametrize("H, lam, m", [(3, Fraction(27, 2), 1), (4, Fraction(15), 2),
                                       (5, Fraction(16), 1), (6, Fraction(17), 2)])
def test_theory_rrr_rank_three(H, lam, m):
    rng = np.random.default_rng(H)
    theta = _rank_r_truth(6, H, 6, 3, rng)
    rec = learning_coefficient_theory(_linear(6, H, 6), theta)
    assert rec == (lam, m)
    # an estimated σ is one more regular coordinate: λ + 1/2, same m
    rec_s = learning_coefficient_theory(_linear(6, H, 6, None), theta + [0.3])
    assert rec_s == (lam + Fraction(1, 2), m) and "estimated sigma" in rec_s.case


def test_theory_rrr_rank_read_from_decimal_entries():
    # W1 = [[0.1, 0.2], [0.3, 0.6]] has rank 1 in decimals, though 0.1·0.6 ≠ 0.2·0.3 in binary
    model = _linear(2, 2, 2)
    theta = [0.1, 0.2, 0.3, 0.6, 1.0, 0.0, 0.0, 1.0]
    assert learning_coefficient_theory(model, theta).lambda_ == rrr_learning_coefficient(
        2, 2, 2, 1)[0]
    full = [0.1, 0.2, 0.3, 0.7, 1.0, 0.0, 0.0, 1.0]
    assert learning_coefficient_theory(model, full) == rrr_learning_coefficient(2, 2, 2, 2)
    exact = [Fraction(1, 3), Fraction(2, 3), 1, 2, 1, 0, 0, 1]
    assert learning_coefficient_theory(model, exact) == rrr_learning_coefficient(2, 2, 2, 1)


def test_theory_regular_tanh():
    theta = np.array([0.3, -0.7, 1.1, 0.4, 0.2, -0.5, 0.9, -1.3, 0.6])
    model = sm.Model(sm.mlp(2, 2, 1, activation="tanh"), sm.Gaussian(1.0))
    rec = learning_coefficient_theory(model, theta)
    assert rec == (Fraction(9, 2), 1, "regular")
    est = sm.Model(sm.mlp(2, 2, 1, activation="tanh"), sm.Gaussian())
    assert learning_coefficient_theory(est, np.append(theta, 0.0)) == (Fraction(5), 1, "regular")


def test_theory_regular_one_unit_linear_with_bias():
    model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(1.0))
    assert learning_coefficient_theory(model, [0.5, -1.0]) == (Fraction(1), 1, "regular")


@pytest.mark.parametrize("arch, theta", [
    # two equal tanh units: reducible, singular
    (sm.mlp(2, 2, 1, activation="tanh"), [0.3, -0.7, 0.3, -0.7, 0.2, 0.2, 0.9, -1.3, 0.6]),
    # a unit that does not reach the output
    (sm.mlp(1, 2, 1, activation="tanh"), [0.5, 1.0, 0.1, 0.2, 0.0, 0.7, 0.3]),
    # ReLU: not analytic (and its scaling symmetry makes the information singular)
    (sm.mlp(1, 2, 1, activation="relu"), [0.5, 1.0, -0.8, 0.2, 0.4, 0.7, 0.3]),
    # deep linear network: not the reduced-rank regression of the theorem
    (sm.mlp(2, 2, 2, 2, activation="identity", bias=False), list(range(1, 13))),
    # linear network with biases: GL(H) symmetry, singular, not the theorem's model
    (sm.mlp(2, 2, 2, activation="identity"), list(range(1, 13))),
])
def test_theory_none_outside_known_cases(arch, theta):
    model = sm.Model(arch, sm.Gaussian(1.0))
    assert learning_coefficient_theory(model, theta) is None


def test_theory_argument_errors():
    model = _linear(2, 1, 2)
    with pytest.raises(SymmleTypeError, match="model must be a Model"):
        learning_coefficient_theory(model.architecture, np.zeros(4))
    with pytest.raises(ParamsError):
        learning_coefficient_theory(model, np.zeros(5))
    with pytest.raises(ParamsError):
        learning_coefficient_theory(model, [0.0, np.nan, 0.0, 0.0])
    with pytest.raises(SymmleTypeError):
        learning_coefficient_theory(model, "0000")


# ---------------------------------------------------------------- population_kl
def _mc_mean_square(arch, theta, theta_true, n, rng):
    X = rng.standard_normal((n, arch.n_inputs))
    d = (np.asarray(arch.forward(theta, X)) - np.asarray(arch.forward(theta_true, X)))
    sq = (d.reshape(n, -1) ** 2).sum(axis=1)
    return sq.mean(), sq.std() / math.sqrt(n)


def test_population_kl_linear_is_half_frobenius():
    model = _linear(3, 2, 2, sigma=0.5)
    truth = [1, 0, 2, 0, 1, -1, 1, 2, 0, 1]
    K = population_kl(model, truth)
    W = model.architecture.unflatten(np.arange(1.0, 11.0))
    W1 = sp.Matrix(2, 3, lambda i, j: model.params[int(W[0][0][i, j]) - 1])
    W2 = sp.Matrix(2, 2, lambda i, j: model.params[int(W[1][0][i, j]) - 1])
    T1 = sp.Matrix(2, 3, lambda i, j: truth[int(W[0][0][i, j]) - 1])
    T2 = sp.Matrix(2, 2, lambda i, j: truth[int(W[1][0][i, j]) - 1])
    D = W2 * W1 - T2 * T1
    expected = sum(D[i, j] ** 2 for i in range(2) for j in range(3)) / (2 * sp.Rational(1, 4))
    assert sp.expand(K - expected) == 0
    assert K.is_polynomial(*model.params)
    assert K.xreplace(dict(zip(model.params, map(sp.Integer, truth)))) == 0


def test_population_kl_deep_linear_with_biases_matches_monte_carlo():
    rng = np.random.default_rng(1)
    arch = sm.mlp(2, 3, 2, 1, activation="identity")
    model = sm.Model(arch, sm.Gaussian(1.0))
    truth = rng.standard_normal(arch.n_params).round(2)
    theta = rng.standard_normal(arch.n_params)
    K = population_kl(model, truth)
    value = float(K.xreplace(dict(zip(model.params, theta))))
    # exact: E‖(W − W*)x + (c − c*)‖² for x ~ N(0, I) from the forward map
    def affine(t):
        c = np.asarray(arch.forward(t, np.zeros((1, 2)))).ravel()
        W = np.stack([np.asarray(arch.forward(t, np.eye(2)[[i]])).ravel() - c
                      for i in range(2)], axis=1)
        return W, c
    (W, c), (Wt, ct) = affine(theta), affine(truth)
    assert value == pytest.approx((np.sum((W - Wt) ** 2) + np.sum((c - ct) ** 2)) / 2, rel=1e-12)
    mean, se = _mc_mean_square(arch, theta, truth, 200_000, rng)
    assert abs(value - mean / 2) < 5 * se / 2


def test_erf_kernel_against_quadrature():
    # one input: E[erf(ux) erf(vx)] by mpmath quadrature against the closed form in K
    model = sm.Model(sm.mlp(1, 2, 1, activation="erf", bias=False), sm.Gaussian(1.0))
    u, v, a, b = 0.7, -1.3, 1.0, 0.5
    K = population_kl(model, [0.0, 0.0, 0.0, 0.0])        # K = E[f²]/2 with the zero truth
    value = float(K.xreplace(dict(zip(model.params, [u, v, a, b]))))
    phi = lambda x: mpmath.exp(-x ** 2 / 2) / mpmath.sqrt(2 * mpmath.pi)
    quad = mpmath.quad(lambda x: (a * mpmath.erf(u * x) + b * mpmath.erf(v * x)) ** 2 * phi(x),
                       [-mpmath.inf, 0, mpmath.inf])
    assert value == pytest.approx(float(quad) / 2, rel=1e-12)


def test_population_kl_erf_matches_monte_carlo():
    rng = np.random.default_rng(2)
    arch = sm.mlp(2, 3, 2, activation="erf", bias=False)
    model = sm.Model(arch, sm.Gaussian(0.8))
    truth = rng.standard_normal(arch.n_params).round(3)
    theta = truth + 0.4 * rng.standard_normal(arch.n_params)
    K = population_kl(model, truth)
    exact = [sp.Rational(repr(float(t))) for t in truth]
    assert K.xreplace(dict(zip(model.params, exact))).equals(0)
    f = sp.lambdify(model.params, K.evalf())
    value = f(*theta)
    mean, se = _mc_mean_square(arch, theta, truth, 400_000, rng)
    scale = 2 * 0.8 ** 2
    assert abs(value - mean / scale) < 5 * se / scale
    assert f(*truth) == pytest.approx(0.0, abs=1e-12)


def test_population_kl_estimated_sigma_matches_monte_carlo():
    rng = np.random.default_rng(3)
    arch = sm.mlp(1, 2, 1, activation="erf", bias=False)
    model = sm.Model(arch, sm.Gaussian())
    truth = np.array([0.8, -1.2, 1.0, 0.5, math.log(0.7)])
    theta = np.array([0.6, -1.0, 1.3, 0.2, math.log(0.9)])
    K = population_kl(model, truth)
    value = float(K.xreplace(dict(zip(model.params, theta))))
    # E_x KL(N(f*, σ*²) ‖ N(f, σ²)) by Monte Carlo over x
    X = rng.standard_normal((400_000, 1))
    f, ft = arch.forward(theta[:4], X).ravel(), arch.forward(truth[:4], X).ravel()
    s, st = theta[4], truth[4]
    kl = s - st + (np.exp(2 * st) + (f - ft) ** 2) / (2 * np.exp(2 * s)) - 0.5
    assert abs(value - kl.mean()) < 5 * kl.std() / math.sqrt(len(kl))
    assert float(K.xreplace(dict(zip(model.params, truth)))) == pytest.approx(0.0, abs=1e-14)


def test_population_kl_skip_connection_erf_and_linear_cross_term():
    # an erf unit and a direct input edge to the output: the E[erf(u·x) x] term
    import networkx as nx
    G = nx.DiGraph()
    G.add_node("x1", role="input")
    G.add_node("h", role="hidden", activation="erf", bias=False)
    G.add_node("y", role="output", activation="identity", bias=False)
    G.add_edge("x1", "h", name="u")
    G.add_edge("h", "y", name="a")
    G.add_edge("x1", "y", name="w")
    arch = sm.Architecture.from_graph(G)
    model = sm.Model(arch, sm.Gaussian(1.0))
    K = population_kl(model, [0, 0, 0])
    theta = [0.9, 1.1, -0.4]
    value = float(K.xreplace(dict(zip(model.params, theta))))
    names = dict(zip(model.param_names, theta))
    u, a, w = names["u"], names["a"], names["w"]
    phi = lambda x: mpmath.exp(-x ** 2 / 2) / mpmath.sqrt(2 * mpmath.pi)
    quad = mpmath.quad(lambda x: (a * mpmath.erf(u * x) + w * x) ** 2 * phi(x),
                       [-mpmath.inf, 0, mpmath.inf])
    assert value == pytest.approx(float(quad) / 2, rel=1e-12)


@pytest.mark.parametrize("arch, match", [
    (sm.mlp(1, 2, 1, activation="erf"), "bias"),
    (sm.mlp(1, 2, 1, activation="tanh", bias=False), "not a linear combination"),
    (sm.mlp(1, 2, 2, 1, activation="erf", bias=False), "not erf of a linear function"),
])
def test_population_kl_outside_closed_form(arch, match):
    model = sm.Model(arch, sm.Gaussian(1.0))
    with pytest.raises(SymmleValueError, match=match):
        population_kl(model, np.zeros(model.n_params))


def test_population_kl_needs_gaussian():
    model = sm.Model(sm.mlp(1, 1, 1, activation="identity", bias=False), sm.Bernoulli())
    with pytest.raises(SymmleValueError, match="Gaussian"):
        population_kl(model, [0.0, 0.0])
    with pytest.raises(SymmleTypeError):
        population_kl("model", [0.0, 0.0])


def test_theory_seed_network_is_regular_thirteen_halves():
    # the benchmark row: the seed's 2-3-1 tanh network at its irreducible θ*
    from symmle.study import SEED_THETA, seed_model
    assert learning_coefficient_theory(seed_model(), SEED_THETA) == (Fraction(13, 2), 1,
                                                                     "regular")


# ---------------------------------------------------------------- learning_coefficient
def _regular_linear_data():
    model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(1.0))
    X, y = model.simulate(np.array([0.5, -1.0]), 2000, rng=1)
    Xt = np.column_stack([X[:, 0], np.ones(len(X))])          # θ = (W1_1_1, b1_1)
    theta_hat = np.linalg.lstsq(Xt, y.ravel(), rcond=None)[0]
    return model, X, y, Xt.T @ Xt, theta_hat


def test_local_learning_coefficient_matches_the_gaussian_posterior():
    pytest.importorskip("mici")
    pytest.importorskip("arviz")
    from symmle.singular import learning_coefficient
    model, X, y, A, theta_hat = _regular_linear_data()
    est = learning_coefficient(model, X, y, theta=theta_hat, method="local", rng=0,
                               n_chains=2, n_warmup=300, n_draws=500, localization=1.0)
    # exact: nL_n − nL_n(θ̂) = ½ (w − θ̂)ᵀ A (w − θ̂), w − θ̂ ~ N(0, (βA + γI)⁻¹), so
    # λ̂ → ½ tr(βA (βA + γI)⁻¹) (d/2 = 1 as γ → 0)
    beta = 1 / math.log(len(X))
    exact = 0.5 * np.trace(beta * A @ np.linalg.inv(beta * A + np.eye(2)))
    assert abs(est.estimate - exact) < 4 * est.stderr
    assert abs(est.estimate - 1.0) < 0.15
    assert est.diagnostics["rhat"] < 1.05 and est.diagnostics["ess"] > 100
    assert 0.5 < est.diagnostics["acceptance"] <= 1.0
    assert est.settings["beta"] == pytest.approx(beta) and est.method == "local"
    assert repr(est).startswith("LearningCoefficientEstimate(estimate=")


def test_wbic_learning_coefficient_matches_the_gaussian_posterior():
    pytest.importorskip("mici")
    pytest.importorskip("arviz")
    from symmle.singular import WBIC_BETA_RATIO, learning_coefficient
    model, X, y, A, theta_hat = _regular_linear_data()
    est = learning_coefficient(model, X, y, theta=theta_hat, method="wbic", rng=0,
                               n_chains=2, n_warmup=300, n_draws=500, prior_scale=10.0)
    # exact posterior N(μ_b, P_b⁻¹), P_b = bA + I/s², μ_b = P_b⁻¹ b A θ̂:
    # E_b[nL_n] − nL_n(θ̂) = ½ ((μ_b − θ̂)ᵀ A (μ_b − θ̂) + tr(A P_b⁻¹))
    n = len(X)
    betas = (1 / math.log(n), WBIC_BETA_RATIO / math.log(n))
    means = []
    for b in betas:
        P = b * A + np.eye(2) / 100.0
        mu = np.linalg.solve(P, b * A @ theta_hat)
        means.append(0.5 * ((mu - theta_hat) @ A @ (mu - theta_hat)
                            + np.trace(A @ np.linalg.inv(P))))
    exact = (means[0] - means[1]) / (1 / betas[0] - 1 / betas[1])
    assert exact == pytest.approx(1.0, abs=1e-3)
    assert abs(est.estimate - exact) < 4 * est.stderr
    assert est.diagnostics["rhat"] < 1.05 and "wbic" in est.diagnostics


def test_learning_coefficient_arguments_and_missing_extra(monkeypatch):
    from symmle.errors import MissingDependencyError
    from symmle.singular import _estimate
    model, X, y, _, theta_hat = _regular_linear_data()
    with pytest.raises(SymmleValueError, match="method must be one of"):
        _estimate.learning_coefficient(model, X, y, theta=theta_hat, method="sgld")
    with pytest.raises(SymmleTypeError, match="n_chains must be an integer"):
        _estimate.learning_coefficient(model, X, y, theta=theta_hat, n_chains=2.0)
    with pytest.raises(SymmleValueError, match="positive"):
        _estimate.learning_coefficient(model, X, y, theta=theta_hat, localization=0.0)

    def missing(module, extra):
        raise MissingDependencyError(f"{module!r} is needed; pip install 'symmle[{extra}]'")
    monkeypatch.setattr(_estimate, "require", missing)
    with pytest.raises(MissingDependencyError, match=r"symmle\[singular\]"):
        _estimate.learning_coefficient(model, X, y, theta=theta_hat)


def test_population_kl_function_value_and_gradient():
    rng = np.random.default_rng(4)
    arch = sm.mlp(2, 2, 1, activation="erf", bias=False)
    model = sm.Model(arch, sm.Gaussian())
    truth = np.append(rng.standard_normal(arch.n_params), -0.2)
    f = population_kl_function(model, truth)
    theta = truth + 0.3 * rng.standard_normal(len(truth))
    value, grad = f(theta)
    K = population_kl(model, truth)
    assert value == pytest.approx(float(K.xreplace(dict(zip(model.params, theta)))), rel=1e-12)
    h = 1e-6
    fd = [(f(theta + h * e)[0] - f(theta - h * e)[0]) / (2 * h) for e in np.eye(len(theta))]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    assert grad.dtype == np.float64 and grad.shape == (len(theta),)
    v0, g0 = f(truth)
    assert v0 == pytest.approx(0.0, abs=1e-12) and np.allclose(g0, 0.0, atol=1e-10)
    with pytest.raises(ParamsError):
        f(theta[:-1])
