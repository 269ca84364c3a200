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
