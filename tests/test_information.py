"""The one information rule (`symmle._information`): rank against exact arithmetic, standard
errors against an independent generalised inverse, and scale invariance."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm
from symmle._information import INFO_RTOL, information_rank


@st.composite
def low_rank_integer_factors(draw):
    """An integer matrix J (m × P) of a drawn rank, its exact rank, and column scales."""
    P = draw(st.integers(1, 7))
    r = draw(st.integers(0, P))
    m = draw(st.integers(max(r, 1), 10))
    entries = st.integers(-4, 4)
    A = np.array(draw(st.lists(st.lists(entries, min_size=max(r, 1), max_size=max(r, 1)),
                               min_size=m, max_size=m)), dtype=float)[:, :r]
    B = np.array(draw(st.lists(st.lists(entries, min_size=P, max_size=P),
                               min_size=max(r, 1), max_size=max(r, 1))), dtype=float)[:r]
    J = A @ B if r else np.zeros((m, P))
    scales = np.array(draw(st.lists(st.sampled_from([1e-3, 0.1, 1.0, 7.0, 1e3]), min_size=P,
                                    max_size=P)))
    exact = sp.Matrix(J.astype(int).tolist()).rank() if J.size else 0
    return J, exact, scales


@given(low_rank_integer_factors())
def test_rank_equals_the_exact_rank_in_any_units(case):
    """JᵀJ of an integer J: the rule's rank is sympy's exact rank over ℚ, and rescaling the
    parameters (θ_i → θ_i / s_i, so I → S I S) changes neither the rank nor which parameters are
    identified."""
    J, exact, s = case
    a = information_rank(J.T @ J)
    b = information_rank((J * s).T @ (J * s))
    assert a.rank == exact == b.rank
    assert a.identified.tolist() == b.identified.tolist()
    # identified exactly when e_i is orthogonal to the exact null space (sympy's nullspace)
    null = sp.Matrix(J.astype(int).tolist()).nullspace() if J.size else []
    P = J.shape[1]
    want = [all(v[i] == 0 for v in null) for i in range(P)]
    assert a.identified.tolist() == want
    # the null space really is one: I u = 0 for its orthonormal basis
    assert a.null_space.shape == (P, P - exact)
    assert np.allclose(J @ a.null_space, 0.0, atol=1e-9)


@given(low_rank_integer_factors())
def test_stderr_of_identified_parameters_is_any_generalised_inverses(case):
    """For an identified (estimable) parameter the variance is e_iᵀ G e_i for *any* generalised
    inverse G of I: checked against numpy's pseudo-inverse of the integer matrix JᵀJ, carried to
    the rescaled parameters (the information S JᵀJ S has variances G_ii / s_i²), and NaN exactly
    for the unidentified parameters."""
    J, _, s = case
    r = information_rank((J * s).T @ (J * s))
    G = np.linalg.pinv(J.T @ J, hermitian=True)
    se = r.stderr
    assert np.isnan(se[~r.identified]).all()
    np.testing.assert_allclose(se[r.identified], (np.sqrt(np.diag(G)) / s)[r.identified],
                               rtol=1e-7)


def test_full_rank_is_the_inverse_and_the_condition_number_is_equilibrated():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(40, 4))
    I = A.T @ A
    r = information_rank(I)
    assert r.rank == 4 and not r.singular and r.identified.all()
    np.testing.assert_allclose(r.cov, np.linalg.inv(I), rtol=1e-10)
    D = np.diag(1 / np.sqrt(np.diag(I)))
    assert r.condition_number == pytest.approx(np.linalg.cond(D @ I @ D), rel=1e-8)


def test_round_off_eigenvalues_are_never_counted():
    """A ReLU network with a Categorical output has exactly 7 null directions at a point where
    every unit is active on some rows (3 rescalings, 3 units feeding every output, the output
    biases' softmax shift): the rank is 18 of 25, not 19 (no square root of a round-off
    eigenvalue), and the eigenvalue gap is wide at the default tolerance."""
    model = sm.Model(sm.mlp(2, 3, 4, activation="relu"), sm.Categorical())
    for seed in (1, 2, 3, 4):
        theta = model.random_params(np.random.default_rng(seed))
        X = np.random.default_rng(seed + 10).normal(size=(2000, 2))
        r = information_rank(model.compile().fisher(theta, X))
        assert r.rank == 18, seed
        w = np.abs(r.eigenvalues) / abs(r.eigenvalues[0])
        assert w[17] > 1e-6 and w[18] < 1e-14
        # every direction the rule calls null is one the symmetry code knows
        C = sm.continuous_symmetries(model, theta)
        assert C.shape[1] == 7
        Q = np.linalg.qr(C)[0]
        assert np.allclose(r.null_space - Q @ (Q.T @ r.null_space), 0.0, atol=1e-7)


def test_non_finite_and_bad_input():
    r = information_rank(np.array([[np.nan, 0.0], [0.0, 1.0]]))
    assert r.rank == 0 and not r.finite and not r.identified.any()
    with pytest.raises(ValueError, match="square"):
        information_rank(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="rtol"):
        information_rank(np.eye(2), rtol="1e-8")
    with pytest.raises(ValueError, match="rtol"):
        information_rank(np.eye(2), rtol=0.0)
    assert INFO_RTOL == 1e-10


def _fit_record_at(model, theta, X, y):
    """A `FitResult` at a given θ (what `fit` reports, without moving θ)."""
    from symmle.fitting import FitResult

    cm = model.compile()
    return FitResult(model=model, params=theta, loglik=cm.loglik(theta, X, y), converged=False,
                     n_iter=0, n_obs=X.shape[0], method="scoring", message="",
                     information=cm.fisher(theta, X), X=X, y=y)


@st.composite
def models_points_and_data(draw):
    from symmle.strategies import architectures, graph_architectures

    acts = ["tanh", "sigmoid", "relu", "identity", "softplus"]
    arch = draw(st.one_of(
        architectures(max_inputs=3, max_hidden_layers=2, max_width=4, bias=None,
                      activations=acts),
        graph_architectures(max_inputs=3, max_hidden=5, activations=acts)))
    family = draw(st.sampled_from([sm.Gaussian(sigma=1.0), sm.Gaussian(), sm.Bernoulli()]))
    if arch.n_outputs > 1 and family.name == "bernoulli":
        family = sm.Gaussian(sigma=1.0)
    model = sm.Model(arch, family)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    theta = model.random_params(rng)
    if draw(st.booleans()) and arch.hidden_nodes:
        # two nearly equal units, or a zero outgoing weight: the hard cases of the rule
        theta = theta.copy()
        theta[: arch.n_params] *= rng.choice([1.0, 1.0, 1e-7], size=arch.n_params)
    n = draw(st.integers(5, 300))
    X = rng.standard_normal((n, arch.n_inputs))
    y = model.simulate(theta, n, rng=rng, X=X)[1]
    return model, theta, X, y


@given(models_points_and_data())
def test_fit_identifiability_and_study_agree_at_any_theta_and_data(case):
    """The one-verdict property: at one θ and one X, `FitResult`, `identifiability` and the
    study report the same rank, the same identified parameters and the same null space (and the
    same standard errors where they report them), whatever the
    architecture (skip connections, bias-free units, per-unit activations come from the
    strategy), the family and the point (generic or nearly degenerate)."""
    model, theta, X, y = case
    res = _fit_record_at(model, theta, X, y)
    rep = sm.identifiability(model, theta, X)
    assert res.information_rank == rep.fisher_rank
    assert res.identified.tolist() == rep.identified.tolist()
    assert res.null_space_dim == rep.null_dim
    # the same subspace (orthonormal basis against the report's echelon basis)
    if rep.null_dim:
        Q = res.null_space
        B = rep.null_space
        assert np.allclose(B - Q @ (Q.T @ B), 0.0, atol=1e-6 * np.abs(B).max())
    # standard errors: NaN exactly for the unidentified parameters, in the fit and in the
    # study's coverage (its Wald standard errors at an aligned estimate)
    from symmle.study._execution import _wald_stderr

    assert np.isnan(res.stderr).tolist() == (~res.identified).tolist()
    np.testing.assert_array_equal(_wald_stderr(model, theta, X), res.stderr)


def test_the_issue_example_two_nearly_equal_units_one_verdict():
    """mlp(2,3,1) tanh with two nearly equal hidden units, n = 2000: fit's summary and the
    identifiability report say the same rank (they said 9 and 11 before)."""
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=1.0))
    rng = np.random.default_rng(0)
    theta = model.random_params(rng)
    W = model.architecture.unflatten(theta[:13])
    (W1, b1), (W2, b2) = W
    W1, b1 = W1.copy(), b1.copy()
    W1[1], b1[1] = W1[0] + 1e-6, b1[0] + 1e-6
    theta = model.architecture.flatten([(W1, b1), (W2, b2)])
    X = rng.standard_normal((2000, 2))
    y = model.simulate(theta, 2000, rng=rng, X=X)[1]
    res = _fit_record_at(model, theta, X, y)
    rep = sm.identifiability(model, theta, X)
    assert res.information_rank == rep.fisher_rank
    assert res.identified.tolist() == rep.identified.tolist()
    assert "relative tolerance 1e-08 on the singular values" in res.summary()
