"""``CompiledModel.hessian_times`` (Pearlmutter's R-operator) and the trust-region Newton–CG finish.

``H v`` is checked against two independent computations written here: the full compiled
Hessian (its all-directions tangents are a different program) times v, and central
differences of the compiled score along v computed in mpmath-free float64 at a step chosen
for it; over random architectures (skip connections, per-unit activations, bias-free units),
every family, both backends. The Newton–CG solver is checked on functions whose minimisers are
known in closed form (Rosenbrock's valley, through its saddle region) and against scipy's
exact-Hessian trust region.
"""

import math

import numpy as np
import pytest
import scipy.optimize as opt
from hypothesis import given, settings
from hypothesis import strategies as st

import symmle as sm
from symmle.errors import SymmleValueError
from symmle.fitting._newton import steihaug, trust_newton
from symmle.strategies import architectures

FAMILIES = {
    "gaussian": lambda k: sm.Gaussian(),          # σ estimated: one family parameter
    "gaussian_known": lambda k: sm.Gaussian(sigma=0.7),
    "bernoulli": lambda k: sm.Bernoulli(),
    "poisson": lambda k: sm.Poisson(),
    "categorical": lambda k: sm.Categorical(),
}
ONE_OUTPUT = ("gaussian", "gaussian_known", "bernoulli", "poisson")

SMOOTH = ("tanh", "sigmoid", "softplus", "gelu", "silu", "identity", "erf")


@st.composite
def problems(draw):
    fam_name = draw(st.sampled_from(sorted(FAMILIES)))
    k = 1 if fam_name in ONE_OUTPUT else draw(st.integers(2, 3))
    arch = draw(architectures(max_inputs=3, max_hidden_layers=2, max_width=3, min_outputs=k,
                              max_outputs=k, activations=SMOOTH,
                              skip_connections=draw(st.sampled_from([False, True, "all"])),
                              bias=draw(st.sampled_from([True, False, "per_unit"])),
                              per_unit_activations=draw(st.booleans())))
    model = sm.Model(arch, FAMILIES[fam_name](k))
    seed = draw(st.integers(0, 2 ** 16))
    theta = model.random_params(seed)
    if fam_name == "poisson":
        theta = 0.5 * theta   # keep η where the counts stay moderate
    X, y = model.simulate(theta, n=draw(st.integers(1, 60)), rng=seed + 1)
    v = np.random.default_rng(seed + 2).normal(size=model.n_params)
    backend = draw(st.sampled_from(["numpy", "numba"] if _has_numba() else ["numpy"]))
    return model, theta, X, y, v, backend


def _has_numba():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@settings(deadline=None)
@given(problems())
def test_hessian_times_equals_the_full_hessian_and_the_score_differences(problem):
    model, theta, X, y, v, backend = problem
    cm = model.compile(backend=backend)
    got = cm.hessian_times(theta, X, y, v)
    H = cm.hessian(theta, X, y)
    scale = np.abs(H) @ np.abs(v) + 1e-300
    assert np.all(np.abs(got - H @ v) <= 1e-11 * scale + 1e-300), (got, H @ v)
    # central differences of the score along v (truncation h², rounding ε/h)
    h = 1e-5 / max(1.0, float(np.linalg.norm(v)))
    fd = (cm.score(theta + h * v, X, y) - cm.score(theta - h * v, X, y)) / (2 * h)
    big = np.abs(cm.score(theta, X, y)).max() + scale.max()
    np.testing.assert_allclose(got, fd, atol=1e-5 * big)


def test_hessian_times_at_the_seed_network():
    """The seed's 2-3-1 tanh network at its θ*: H v against the full Hessian, column by
    column (v = the unit vectors), on n = 500 simulated rows."""
    model = sm.Model(sm.mlp(2, 3, 1, activation="tanh"), sm.Gaussian())
    theta = np.array([1.5, -1.0, -0.5, 2.0, 1.0, 1.0, 0.5, -0.5, 0.0, 2.0, -1.5, 1.0, 0.3,
                      math.log(0.5)])
    X, y = model.simulate(theta, n=500, rng=3)
    cm = model.compile()
    H = cm.hessian(theta, X, y)
    cols = np.column_stack([cm.hessian_times(theta, X, y, e) for e in np.eye(theta.size)])
    np.testing.assert_allclose(cols, H, rtol=1e-12, atol=1e-12 * np.abs(H).max())


@settings(deadline=None)
@given(problems())
def test_hessian_operator_keeps_what_v_does_not_change(problem):
    """The operator's products (forward pass and slopes kept between them) are the same bits
    as one-off `hessian_times` and as the operator without its cache, and each chunk's
    forward pass runs once for several products."""
    import symmle.compiled._hvp as hvp

    model, theta, X, y, v, backend = problem
    cm = model.compile(backend=backend)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _check_operator(hvp, monkeypatch, cm, theta, X, y, v)


def _check_operator(hvp, monkeypatch, cm, theta, X, y, v):
    monkeypatch.setattr(hvp, "HVP_CHUNK_BYTES", 8 * 64 * 4)  # several chunks of 64 rows
    vs = [v, -2.0 * v[::-1].copy(), np.eye(v.size)[0]]
    one_off = [cm.hessian_times(theta, X, y, u) for u in vs]
    calls = []
    forward = type(cm._prog).forward

    def counting(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(cm._prog), "forward", counting)
    H = cm.hessian_operator(theta, X, y)
    kept = [H.matvec(u) for u in vs]
    n_chunks = -(-X.shape[0] // 64)
    assert len(calls) == n_chunks
    monkeypatch.setattr(hvp, "HVP_CACHE_BYTES", 0)
    H0 = cm.hessian_operator(theta, X, y)
    again = [H0.matvec(u) for u in vs]
    assert len(calls) == n_chunks * (1 + len(vs))
    for a, b, c in zip(one_off, kept, again):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_hessian_operator_eigenvalues_of_the_seed_network():
    """The extreme eigenvalues by Lanczos on the operator against the dense compiled Hessian
    (the seed's 2-3-1 network at θ*, n = 500)."""
    from scipy.sparse.linalg import eigsh

    model = sm.Model(sm.mlp(2, 3, 1, activation="tanh"), sm.Gaussian())
    theta = np.array([1.5, -1.0, -0.5, 2.0, 1.0, 1.0, 0.5, -0.5, 0.0, 2.0, -1.5, 1.0, 0.3,
                      math.log(0.5)])
    X, y = model.simulate(theta, n=500, rng=3)
    cm = model.compile()
    dense = np.linalg.eigvalsh(cm.hessian(theta, X, y))
    H = cm.hessian_operator(theta, X, y)
    got = np.sort(eigsh(H, k=2, which="BE", return_eigenvectors=False, tol=1e-12))
    np.testing.assert_allclose(got, dense[[0, -1]], rtol=1e-9)
    with pytest.raises(SymmleValueError, match="y is needed"):
        cm.hessian_operator(theta, X, None)


# ---------------------------------------------------------------- the Newton–CG solver
def rosenbrock(x):
    a, b = x
    f = 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2
    g = np.array([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a), 200.0 * (b - a * a)])
    return f, g


def rosen_hess(x):
    a, b = x
    return np.array([[1200.0 * a * a - 400.0 * b + 2.0, -400.0 * a], [-400.0 * a, 200.0]])


def rosen_gn(x):
    """Gauss–Newton matrix of the residuals (10(b − a²), 1 − a): PSD, the preconditioner."""
    a, _ = x
    J = np.array([[-20.0 * a, 10.0], [-1.0, 0.0]])
    return 2.0 * J.T @ J


@pytest.mark.parametrize("start", [(-1.2, 1.0), (0.0, 0.0), (2.0, -1.0), (-0.5, 3.0)])
def test_trust_newton_finds_rosenbrocks_minimum(start):
    x, ok, n_iter, message = trust_newton(rosenbrock, rosen_gn,
                                          lambda x: (lambda p: rosen_hess(x) @ p),
                                          np.array(start, dtype=float), 1e-14, 500, signed=True)
    assert ok, message
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)
    ref = opt.minimize(lambda z: rosenbrock(z)[0], start, jac=lambda z: rosenbrock(z)[1],
                       hess=rosen_hess, method="trust-exact")
    np.testing.assert_allclose(x, ref.x, atol=1e-6)


def test_steihaug_follows_negative_curvature_to_the_boundary():
    """At a saddle (H = diag(1, −1)) the step goes to the trust region's boundary."""
    H = np.diag([1.0, -1.0])
    g = np.array([1.0, 0.5])
    M = np.eye(2)
    chol = (np.eye(2), False)
    step, Hstep, k, interior = steihaug(g, lambda p: H @ p, M, chol, 2.0)
    assert not interior
    assert float(np.linalg.norm(step)) == pytest.approx(2.0)
    np.testing.assert_allclose(Hstep, H @ step)
    assert float(g @ step + 0.5 * step @ H @ step) < 0.0   # a decrease of the model


def test_steihaug_inside_the_region_is_the_newton_step():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(6, 6))
    H = B @ B.T + 6 * np.eye(6)
    g = rng.normal(size=6)
    M = np.diag(np.diag(H))
    chol = (np.diag(np.sqrt(np.diag(H))), False)
    step, _, _, interior = steihaug(g, lambda p: H @ p, M, chol, 1e6)
    assert interior
    newton = np.linalg.solve(H, -g)
    assert np.linalg.norm(H @ step + g) <= 1e-2 * np.linalg.norm(g) * 10
    np.testing.assert_allclose(step, newton, rtol=0.05, atol=0.05 * np.abs(newton).max())


def test_hessian_times_refuses_bad_arguments_cleanly():
    """Wrong types and values name the argument; a bad X is the data error of evaluate."""
    model = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian())
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=20, rng=1)
    cm = model.compile()
    with pytest.raises(SymmleValueError, match="v must be a finite vector"):
        cm.hessian_times(theta, X, y, np.ones(3))
    with pytest.raises(SymmleValueError, match="v must be a finite vector"):
        cm.hessian_times(theta, X, y, np.full(theta.size, np.nan))
    with pytest.raises(TypeError, match="v must be"):
        cm.hessian_times(theta, X, y, "1 2 3")
    with pytest.raises(ValueError, match="v must be"):
        cm.hessian_times(theta, X, y, [[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="y is needed"):
        cm.hessian_times(theta, X, None, np.ones(theta.size))
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(sm.errors.DataError):
        cm.hessian_times(theta, bad, y, np.ones(theta.size))
