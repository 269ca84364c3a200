"""Kink slopes of relu / leaky_relu from the sign of the exact pre-activation (issue 17, class 2).

Where float64 gets the sign of a ReLU-type unit's pre-activation ``z = Σ w·h + b`` wrong (a
product that underflows, a sum that cancels, a bias that cancels a rounded product), the
compiled derivatives used to take the wrong side's slope. The truth here is an oracle written
in this file: the network evaluated exactly from the float θ and X (`fractions.Fraction`;
tanh in mpmath at 300 bits), its score, Hessian and Fisher information by second-order
forward differentiation in the same arithmetic, each entry compared with both backends
componentwise, relative to the same computation on absolute values (what float64's rounding
of the values may move it by).
"""

import math
from fractions import Fraction

import mpmath
import networkx as nx
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symmle as sm

pytest.importorskip("numba")

BACKENDS = ("numpy", "numba")
#: componentwise tolerance relative to the absolute-value computation, and the floor below
#: which values are underflow (products of subnormal size in float64).
RTOL = Fraction(1, 2 ** 30)
FLOOR = Fraction(1, 2 ** 1000)


# ------------------------------------------------------------------ the oracle
def _tanh(z: Fraction) -> Fraction:
    with mpmath.workprec(300):
        v = mpmath.tanh(mpmath.mpf(z.numerator) / z.denominator)
        man, exp = v.man_exp
        man = -man if v < 0 else man
    return Fraction(man) * Fraction(2) ** exp


def _pieces(name, z: Fraction):
    """(σ(z), σ'(z), σ''(z), bound on |σ'| error per unit of z's error, same for σ'')."""
    if name == "identity":
        return z, Fraction(1), Fraction(0), Fraction(0), Fraction(0)
    if name == "relu":
        return (z if z > 0 else Fraction(0)), Fraction(int(z > 0)), Fraction(0), 0, 0
    if name == "leaky_relu":
        s = Fraction(1) if z > 0 else Fraction(1, 100)
        return s * z, s, Fraction(0), 0, 0
    assert name == "tanh"
    t = _tanh(z)
    return t, 1 - t * t, -2 * t * (1 - t * t), Fraction(1), Fraction(2)


def _zeros(*shape):
    out = np.empty(shape, dtype=object)
    out.fill(Fraction(0))
    return out


def exact_row(arch, theta, x):
    """η, ∇η, ∇²η of one row, and their absolute-value versions (the scale of float64's
    error), by forward differentiation in exact arithmetic."""
    P = arch.n_params
    T = [Fraction(float(t)) for t in theta]
    g = arch.graph
    val, grad, hess = {}, {}, {}
    mag, gmag, hmag = {}, {}, {}
    for i, v in enumerate(arch.input_nodes):
        val[v] = mag[v] = Fraction(float(x[i]))
        mag[v] = abs(mag[v])
        grad[v], gmag[v] = _zeros(P), _zeros(P)
        hess[v], hmag[v] = _zeros(P, P), _zeros(P, P)
    for v in nx.topological_sort(g):
        if g.nodes[v]["role"] == "input":
            continue
        z, zm = Fraction(0), Fraction(0)
        dz, dzm = _zeros(P), _zeros(P)
        Hz, Hzm = _zeros(P, P), _zeros(P, P)
        for u in g.predecessors(v):
            p = arch.edge_index[(u, v)]
            w = T[p]
            z += w * val[u]
            zm += abs(w) * mag[u]
            dz = dz + w * grad[u]
            dzm = dzm + abs(w) * gmag[u]
            dz[p] += val[u]
            dzm[p] += mag[u]
            e = _zeros(P)
            e[p] = Fraction(1)
            Hz = Hz + w * hess[u] + np.outer(e, grad[u]) + np.outer(grad[u], e)
            Hzm = Hzm + abs(w) * hmag[u] + np.outer(e, gmag[u]) + np.outer(gmag[u], e)
        if v in arch.bias_index:
            p = arch.bias_index[v]
            z += T[p]
            zm += abs(T[p])
            dz[p] += 1
            dzm[p] += 1
        h, d1, d2, l1, l2 = _pieces(g.nodes[v]["activation"], z)
        m1 = abs(d1) + l1 * zm  # σ'(fl z) may differ by this per unit of relative error
        m2 = abs(d2) + l2 * zm
        val[v], mag[v] = h, zm + (1 if l1 else 0)
        grad[v], gmag[v] = d1 * dz, m1 * dzm
        hess[v] = d1 * Hz + d2 * np.outer(dz, dz)
        hmag[v] = m1 * Hzm + m2 * np.outer(dzm, dzm)
    (o,) = arch.output_nodes
    return val[o], grad[o], hess[o], mag[o], gmag[o], hmag[o]


def exact_quantities(arch, theta, X, y):
    """Score, Hessian and Fisher information of Gaussian(σ = 1), and their scales."""
    P = arch.n_params
    out = {k: _zeros(P) if k == "score" else _zeros(P, P) for k in ("score", "hessian", "fisher")}
    scale = {k: _zeros(*v.shape) for k, v in out.items()}
    for x, yr in zip(X, y):
        eta, J, H, em, Jm, Hm = exact_row(arch, theta, x)
        r = Fraction(float(yr)) - eta
        rm = abs(Fraction(float(yr))) + em
        out["score"] = out["score"] + r * J
        scale["score"] = scale["score"] + rm * Jm
        out["fisher"] = out["fisher"] + np.outer(J, J)
        scale["fisher"] = scale["fisher"] + np.outer(Jm, Jm)
        out["hessian"] = out["hessian"] - np.outer(J, J) + r * H
        scale["hessian"] = scale["hessian"] + np.outer(Jm, Jm) + rm * Hm
    return out, scale


def assert_matches(arch, theta, X, y):
    model = sm.Model(arch, sm.Gaussian(sigma=1.0))
    truth, scale = exact_quantities(arch, theta, X, y)
    for backend in BACKENDS:
        cm = model.compile(backend=backend)
        got = cm.evaluate(theta, X, y, ("score", "hessian"))
        got["fisher"] = cm.fisher(theta, X)   # the Fisher-alone path (fused from X for numba)
        for name, exact in truth.items():
            value = got[name]
            assert np.all(np.isfinite(value)), (backend, name)
            for idx in np.ndindex(exact.shape):
                err = abs(Fraction(float(value[idx])) - exact[idx])
                tol = RTOL * scale[name][idx] + FLOOR
                assert err <= tol, (backend, name, idx, float(value[idx]), float(exact[idx]),
                                    float(scale[name][idx]))


# ------------------------------------------------------------------ draws
#: values that put pre-activations on or next to kinks: exact zeros, products that underflow,
#: cancellations, ordinary values.
SPECIAL = [0.0, -0.0, 1e-200, -1e-200, 1e-160, -3e-170, 1.0, -1.0, 0.5, -0.5, 0.1, 0.3,
           -0.7, 1 / 3, -1 / 7, 3.0, 5.0, -2.0, 2.0 ** 53, -(2.0 ** 53)]
VALUES = st.one_of(st.sampled_from(SPECIAL),
                   st.floats(-3, 3, allow_nan=False, allow_infinity=False))
INPUTS = st.one_of(st.sampled_from([0.0, 1e-200, -1e-200, 1.0, -1.0, 3.0, 5.0, -7.0, 9.0, 0.1,
                                    0.5, 2.0 ** 53, -(2.0 ** 53)]),
                   st.floats(-10, 10, allow_nan=False, allow_infinity=False))
ACTIVATIONS = st.sampled_from(["relu", "leaky_relu", "tanh"])


@st.composite
def graphs(draw):
    """A DAG of 1–2 inputs, 1–2 hidden layers of 1–2 units (relu, leaky_relu, tanh, each
    with or without a bias), skip connections, and one output (identity or ReLU-type)."""
    d = draw(st.integers(1, 2))
    G = nx.DiGraph()
    inputs = [f"i{k}" for k in range(d)]
    for v in inputs:
        G.add_node(v, role="input")
    earlier, prev = list(inputs), list(inputs)
    for layer in range(draw(st.integers(1, 2))):
        units = [f"u{layer}_{j}" for j in range(draw(st.integers(1, 2)))]
        for v in units:
            G.add_node(v, role="hidden", activation=draw(ACTIVATIONS), bias=draw(st.booleans()))
            for u in prev:
                G.add_edge(u, v)
            for u in earlier:
                if u not in prev and draw(st.booleans()):
                    G.add_edge(u, v)   # a skip connection
        earlier += units
        prev = units
    G.add_node("o", role="output", activation=draw(st.sampled_from(["identity", "relu",
                                                                     "leaky_relu"])),
               bias=draw(st.booleans()))
    for u in prev:
        G.add_edge(u, "o")
    for u in earlier:
        if u not in prev and draw(st.booleans()):
            G.add_edge(u, "o")
    return sm.Architecture.from_graph(G)


ARCHS = st.one_of(
    graphs(),
    st.builds(lambda d, w, act, bias: sm.mlp(d, w, 1, activation=act, bias=bias),
              st.integers(1, 2), st.integers(1, 2), st.sampled_from(["relu", "leaky_relu"]),
              st.booleans()),
)


def _float_forward(arch, theta, x):
    """Each unit's float64 pre-activation and value at row x (edges in graph order)."""
    g = arch.graph
    h = dict(zip(arch.input_nodes, map(float, x)))
    for v in nx.topological_sort(g):
        if g.nodes[v]["role"] == "input":
            continue
        z = 0.0
        for u in g.predecessors(v):
            z += theta[arch.edge_index[(u, v)]] * h[u]
        if v in arch.bias_index:
            z += theta[arch.bias_index[v]]
        act = g.nodes[v]["activation"]
        h[v] = {"relu": max(z, 0.0), "leaky_relu": z if z > 0 else 0.01 * z,
                "tanh": math.tanh(z), "identity": z}[act]
    return h


@st.composite
def problems(draw):
    """(arch, θ, X, y) with kinks hit on purpose: special values, and biases that cancel the
    float sum of their unit's other terms at the first row (the exact z is then that sum's
    rounding error, or 0)."""
    arch = draw(ARCHS)
    n = draw(st.integers(1, 3))
    X = np.array([[draw(INPUTS) for _ in range(arch.n_inputs)] for _ in range(n)])
    theta = np.array([draw(VALUES) for _ in range(arch.n_params)])
    g = arch.graph
    for v in nx.topological_sort(g):
        if v in arch.bias_index and draw(st.sampled_from([True, True, True, False])):
            p = arch.bias_index[v]
            theta[p] = 0.0
            h = _float_forward(arch, theta, X[0])
            z = 0.0
            for u in g.predecessors(v):
                z += theta[arch.edge_index[(u, v)]] * h[u]
            theta[p] = -z
    y = np.array([draw(st.floats(-2, 2, allow_nan=False)) for _ in range(n)])
    return arch, theta, X, y


# ------------------------------------------------------------------ tests
@settings()
@given(problems())
def test_kink_slopes_match_the_exact_network(problem):
    """Score, Hessian and Fisher of random small DAGs (skip connections, mixed relu,
    leaky_relu and tanh units, bias-free units) at θ and X drawn to hit kinks equal the exact
    ones componentwise, on both backends."""
    arch, theta, X, y = problem
    with np.errstate(all="ignore"):   # 2^53-sized values may overflow the scale sums
        assert_matches(arch, theta, X, y)


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_a_product_that_underflows_takes_the_positive_slope(act):
    """w = x = 1e-200, b = 0: float64's z is 0, the exact z = 1e-400 > 0, so the slope is 1
    (not relu'(0) = 0 nor leaky'(0) = 0.01): ∂η/∂b1 = w2, ∂η/∂w1 = w2·x."""
    arch = sm.mlp(1, 1, 1, activation=act)
    theta = np.array([1e-200, 0.0, 1.0, 0.0])
    X, y = np.array([[1e-200]]), np.array([1.0])
    for backend in BACKENDS:
        cm = sm.Model(arch, sm.Gaussian(sigma=1.0)).compile(backend=backend)
        assert cm.jacobian(theta, X)[0, 0].tolist() == [1e-200, 1.0, 0.0, 1.0]
        assert cm.score(theta, X, y).tolist() == [1e-200, 1.0, 0.0, 1.0]
        assert cm.fisher(theta, X)[1, 1] == 1.0
        assert cm.hessian(theta, X, y)[1, 1] == -1.0
    assert_matches(arch, theta, X, y)


@pytest.mark.parametrize("act,slope", [("relu", 1.0), ("leaky_relu", 1.0)])
def test_a_sum_that_cancels_takes_the_exact_side(act, slope):
    """Terms 2^53, 1, −2^53, −0.5: float64 sums them to −0.5 (or 0), exactly they are +0.5."""
    arch = sm.mlp(4, 1, 1, activation=act)
    theta = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    X = np.array([[2.0 ** 53, 1.0, -(2.0 ** 53), -0.5]])
    for backend in BACKENDS:
        cm = sm.Model(arch, sm.Gaussian(sigma=1.0)).compile(backend=backend)
        assert cm.jacobian(theta, X)[0, 0, 4] == slope   # ∂η/∂b1 = w2 · σ'(z)
        assert cm.fisher(theta, X)[4, 4] == slope ** 2


@pytest.mark.parametrize("act,left", [("relu", 0.0), ("leaky_relu", 0.01)])
def test_a_bias_that_cancels_a_rounded_product(act, left):
    """b = −fl(w·x): float64's z is 0 (or the FMA's residual), the exact z is w·x − fl(w·x),
    whose sign picks the slope; an exact zero keeps the convention σ'(0) (0, or 0.01)."""
    # exact z = w·x − fl(w·x): negative, positive, positive, positive, exactly 0
    cases = [(0.1, 3.0), (0.1, 5.0), (0.3, 3.0), (1 / 3, 7.0), (0.5, 4.0)]
    for w, x in cases:
        exact = Fraction(w) * Fraction(x) - Fraction(w * x)
        want = 1.0 if exact > 0 else left
        theta = np.array([w, -(w * x), 1.0, 0.0])
        for backend in BACKENDS:
            cm = sm.Model(sm.mlp(1, 1, 1, activation=act), sm.Gaussian(sigma=1.0)).compile(
                backend=backend)
            assert cm.jacobian(theta, np.array([[x]]))[0, 0, 1] == want, (w, x, backend)


def test_chained_kinks_follow_the_exact_values():
    """A unit at an underflowed kink feeds a bias-free unit: float64 gives both z = 0, exactly
    both are positive (1e-400 and w·1e-400), so both slopes are 1."""
    G = nx.DiGraph()
    G.add_node("i", role="input")
    G.add_node("a", role="hidden", activation="relu", bias=False)
    G.add_node("b", role="hidden", activation="relu", bias=False)
    G.add_node("o", role="output", activation="identity", bias=False)
    G.add_edges_from([("i", "a"), ("a", "b"), ("b", "o")])
    arch = sm.Architecture.from_graph(G)
    theta = np.array([1e-200, 2.0, 3.0])
    X, y = np.array([[1e-200]]), np.array([0.0])
    for backend in BACKENDS:
        cm = sm.Model(arch, sm.Gaussian(sigma=1.0)).compile(backend=backend)
        assert cm.jacobian(theta, X)[0, 0].tolist() == [6e-200, 0.0, 0.0]
    assert_matches(arch, theta, X, y)


def test_exact_zeros_keep_the_convention_on_many_rows():
    """Rows exactly at kinks (bias-free units, zero inputs) keep relu'(0) = 0 and
    leaky'(0) = 0.01 on both backends, on many rows (equal rows are decided once)."""
    for act, left in (("relu", 0.0), ("leaky_relu", 0.01)):
        arch = sm.mlp(2, 3, 1, activation=act, bias=False)
        theta = np.linspace(-1.0, 1.0, arch.n_params) + 0.05
        theta[:6] *= 1e-200   # first-layer weights whose products with x = 1e-200 underflow
        X = np.zeros((5000, 2))
        for backend in BACKENDS:
            cm = sm.Model(arch, sm.Gaussian(sigma=1.0)).compile(backend=backend)
            J = cm.jacobian(theta, X)[:, 0]
            # ∂η/∂W1 = w2 σ'(0) x = 0 (x = 0), ∂η/∂W2 = h = 0: the whole Jacobian is 0
            assert np.all(J == 0.0)
            X1 = np.tile([1e-200, 0.0], (5000, 1))
            J1 = cm.jacobian(theta, X1)[:, 0]
            # z_j = W1[j, 0]·1e-200 underflows to 0: the slope is 1 where W1[j, 0] > 0, else
            # `left`; ∂η/∂W1[j, 0] = w2_j σ'(z_j) x
            w1 = theta[:6].reshape(3, 2)[:, 0]
            w2 = theta[6:9]
            slopes = np.where(w1 > 0, 1.0, left)
            assert np.all(J1[:, 0:6:2] == (w2 * slopes * 1e-200)[None, :]), (act, backend)


def test_the_oracle_matches_the_symbolic_score():
    """The oracle of this file against `Model.score` evaluated in sympy Rationals (exact for
    relu / leaky_relu networks) at a point with a row exactly at a kink and one near it."""
    arch = sm.mlp(2, 2, 1, activation="leaky_relu")
    model = sm.Model(arch, sm.Gaussian(sigma=1.0))
    theta = np.array([0.5, -1.0, 0.1, 2.0, 0.0, -0.3, 1.5, -2.0, 0.25])
    X = np.array([[2.0, 1.0], [3.0, 0.0], [0.7, -1.3]])
    y = np.array([0.5, -1.0, 2.0])
    truth, _ = exact_quantities(arch, theta, X, y)
    rat = lambda v: sp.Rational(Fraction(float(v)))  # noqa: E731
    want = [sp.S.Zero] * arch.n_params
    for x, yr in zip(X, y):
        subs = {**dict(zip(model.params, map(rat, theta))),
                **dict(zip(arch.inputs, map(rat, x))), model.response[0]: rat(yr)}
        for j, e in enumerate(model.score):
            want[j] += e.xreplace(subs)
    assert [Fraction(int(sp.numer(w)), int(sp.denom(w))) for w in want] == list(truth["score"])


@pytest.mark.parametrize("act,left", [("relu", 0.0), ("leaky_relu", 0.01)])
def test_wide_layers_certify_too(act, left):
    """A layer of 80 units (the layered numba program, blocked A, and the numpy program's
    BLAS product) on rows whose products underflow: the score's bias entries are
    ``Σ_rows g·w2_j·σ'(z_j)`` with the slope from the sign of W1[j]."""
    U = 80
    arch = sm.mlp(1, U, 1, activation=act)
    rng = np.random.default_rng(3)
    w1 = rng.choice([-1.0, 1.0], U) * rng.uniform(0.5, 2.0, U) * 1e-200
    w2 = rng.uniform(-1.0, 1.0, U)
    theta = np.concatenate([w1, np.zeros(U), w2, [0.25]])
    n = 3000
    X = np.full((n, 1), 1e-200)
    y = np.full(n, 1.0)
    slopes = np.where(w1 > 0, 1.0, left)
    # float η = b2 = 0.25 on every row (the products underflow), g = y − η = 0.75
    want_b1 = n * 0.75 * w2 * slopes
    for backend in BACKENDS:
        cm = sm.Model(arch, sm.Gaussian(sigma=1.0)).compile(backend=backend)
        score = cm.score(theta, X, y)
        np.testing.assert_allclose(score[U:2 * U], want_b1, rtol=1e-12, atol=0)
        fisher = cm.fisher(theta, X)
        np.testing.assert_allclose(np.diag(fisher)[U:2 * U], n * (w2 * slopes) ** 2,
                                   rtol=1e-12, atol=0)
