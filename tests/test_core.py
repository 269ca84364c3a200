"""Core: activations, architectures, families, the symbolic model and its compiled numerics.

Every check compares against something independent: finite differences, closed forms of
textbook GLMs, sympy's own evaluation via ``subs``, or a numpy forward pass written here.
"""

import math

import networkx as nx
import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st
import sympy as sp
from hypothesis import given, strategies as hst

import symmle as sm

ACTS = ["identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "silu", "erf"]
FAMILIES = [sm.Gaussian(sigma=0.7), sm.Gaussian(), sm.Bernoulli(), sm.Poisson()]


def fd_grad(f, x, eps=1e-6):
    return np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(len(x))])


def small_model(family, act="tanh", widths=(2, 3, 1), seed=0, n=40):
    if isinstance(family, sm.Categorical):
        widths = widths[:-1] + (3,)
    model = sm.Model(sm.mlp(*widths, activation=act), family)
    theta = model.random_params(seed)
    X, y = model.simulate(theta, n=n, rng=seed + 1)
    return model, theta, X, y


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("name", ACTS)
def test_activation_numpy_matches_sympy(name):
    act = sm.get_activation(name)
    z = sp.Symbol("z", real=True)
    expr = act.sympy(z)
    for v in [-3.1, -0.4, 0.3, 2.2]:
        exact = float(sp.N(expr.subs(z, sp.Float(v)).rewrite(sp.exp), 30)) if name not in (
            "relu", "leaky_relu") else (max(v, 0.0) if name == "relu" else (v if v > 0 else 0.01 * v))
        assert act.numpy(np.array([v]))[0] == pytest.approx(exact, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name", ACTS)
def test_activation_facts_hold_numerically(name):
    act = sm.get_activation(name)
    z = np.linspace(-4, 4, 81)
    f = act.numpy
    if act.flip is not None:
        a, c = act.flip
        np.testing.assert_allclose(f(-z), a + c * f(z), atol=1e-14)
    else:
        assert not np.allclose(f(-z), -f(z)) and not np.allclose(f(-z), 1 - f(z))
    if act.positively_homogeneous:
        np.testing.assert_allclose(f(2.5 * z), 2.5 * f(z), atol=1e-13)
    else:
        assert not np.allclose(f(2.5 * z), 2.5 * f(z))
    assert act.linear == np.allclose(f(z), z)
    assert act.odd == (act.flip == (0, -1))


def test_relu_derivative_convention_at_zero():
    z = sp.Symbol("z", real=True)
    d = sp.diff(sm.get_activation("relu").sympy(z), z)
    fn = sp.lambdify(z, d, modules=[sm.activations.NUMPY_FUNCTIONS, "numpy"])
    np.testing.assert_array_equal(fn(np.array([-1.0, 0.0, 1.0])), [0.0, 0.0, 1.0])
    dl = sp.diff(sm.get_activation("leaky_relu").sympy(z), z)
    fl = sp.lambdify(z, dl, modules=[sm.activations.NUMPY_FUNCTIONS, "numpy"])
    np.testing.assert_array_equal(fl(np.array([-1.0, 0.0, 1.0])), [0.01, 0.01, 1.0])


def test_unknown_activation_lists_known():
    with pytest.raises(ValueError, match="known: identity, tanh, sigmoid"):
        sm.get_activation("swish2")
    with pytest.raises(sm.SymmleError):
        sm.mlp(2, 3, 1, activation="nope")


# --------------------------------------------------------------- architecture
def test_mlp_parameter_order_matches_design():
    arch = sm.mlp(2, 3, 1, activation="tanh")
    assert arch.n_params == 13
    assert arch.inputs == sp.symbols("x1 x2", real=True)
    theta = np.arange(13.0)
    (W1, b1), (W2, b2) = arch.unflatten(theta)
    np.testing.assert_array_equal(W1, theta[0:6].reshape(3, 2))
    np.testing.assert_array_equal(b1, theta[6:9])
    np.testing.assert_array_equal(W2, theta[9:12].reshape(1, 3))
    np.testing.assert_array_equal(b2, theta[12:13])
    # the symbol in θ position 2 is the weight into hidden unit 2 from input 1
    assert arch.params[2].name == "W1_2_1"
    assert arch.graph.nodes["h1_2"]["role"] == "hidden"
    assert arch.graph.nodes["h1_2"]["layer"] == 1
    assert arch.graph.nodes["h1_2"]["activation"] == "tanh"
    assert arch.output.shape == (1, 1)


def test_output_is_the_network_function():
    arch = sm.mlp(2, 3, 2, activation="sigmoid")
    rng = np.random.default_rng(3)
    theta = rng.standard_normal(arch.n_params)
    X = rng.standard_normal((5, 2))
    (W1, b1), (W2, b2) = arch.unflatten(theta)
    by_hand = (sps.expit(X @ W1.T + b1)) @ W2.T + b2
    np.testing.assert_allclose(arch.forward(theta, X), by_hand, rtol=1e-12)
    subs = dict(zip(arch.params, theta))
    for i in range(2):
        row = {**subs, **dict(zip(arch.inputs, X[i]))}
        vals = [float(e.subs(row).rewrite(sp.exp)) for e in arch.output]
        np.testing.assert_allclose(vals, by_hand[i], rtol=1e-10)


def _graph(*edges, roles, **attrs):
    G = nx.DiGraph()
    for v, r in roles.items():
        G.add_node(v, role=r, **attrs.get(v, {}))
    G.add_edges_from(edges)
    return G


@pytest.mark.parametrize("edges,roles,node", [
    ([("x", "h"), ("h", "g"), ("g", "h"), ("g", "y")],
     {"x": "input", "h": "hidden", "g": "hidden", "y": "output"}, "h|g"),
    ([("x", "y"), ("y2", "x")], {"x": "input", "y": "output", "y2": "output"}, "'x'|'y2'"),
    ([("x", "y"), ("y", "h"), ("h", "y2")],
     {"x": "input", "h": "hidden", "y": "output", "y2": "output"}, "'y'"),
    ([("x", "y"), ("h", "y")], {"x": "input", "h": "hidden", "y": "output"}, "'h'"),
    ([("x", "y"), ("x", "h")], {"x": "input", "h": "hidden", "y": "output"}, "'h'"),
    ([("x", "y")], {"x": "input", "y": "outptu"}, "'y'"),
])
def test_from_graph_refuses_bad_graphs_naming_the_node(edges, roles, node):
    with pytest.raises(ValueError, match=node):
        sm.Architecture.from_graph(_graph(*edges, roles=roles))


def test_from_graph_defaults_and_skip_connection():
    G = _graph(("x1", "h"), ("x2", "h"), ("h", "y"), ("x1", "y"),
               roles={"x1": "input", "x2": "input", "h": "hidden", "y": "output"},
               h={"bias": False})
    arch = sm.Architecture.from_graph(G)
    assert arch.graph.nodes["h"]["activation"] == "tanh"
    assert arch.graph.nodes["y"]["activation"] == "identity"
    assert arch.n_params == 5  # w_x1_h, w_x2_h, (no b_h), w_x1_y, w_h_y, b_y
    theta = np.array([0.5, -1.0, 2.0, 3.0, 0.1])
    X = np.array([[1.0, 2.0], [-0.5, 0.3]])
    expect = 2.0 * X[:, 0] + 3.0 * np.tanh(0.5 * X[:, 0] - X[:, 1]) + 0.1
    np.testing.assert_allclose(arch.forward(theta, X)[:, 0], expect)
    with pytest.raises(TypeError):
        sm.Architecture.from_graph(nx.Graph())


def test_to_mermaid_draws_every_unit_and_weight():
    arch = sm.mlp(2, 3, 1)
    text = arch.to_mermaid()
    assert text.startswith("graph LR")
    assert text.count("-->|") == 9
    for role in ("input", "hidden", "output"):
        assert f"classDef {role}" in text
    assert "h1_3((" in text and "x2[" in text


@given(widths=hst.lists(hst.integers(1, 4), min_size=2, max_size=4),
       act=hst.sampled_from(ACTS), seed=hst.integers(0, 2**32 - 1))
def test_flatten_unflatten_and_from_graph_roundtrip(widths, act, seed):
    arch = sm.mlp(*widths, activation=act)
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(arch.n_params)
    np.testing.assert_array_equal(arch.flatten(arch.unflatten(theta)), theta)
    again = sm.Architecture.from_graph(nx.DiGraph(arch.graph))
    assert again.param_names == arch.param_names
    X = rng.standard_normal((4, widths[0]))
    np.testing.assert_allclose(again.forward(theta, X), arch.forward(theta, X), rtol=1e-12)


def test_flatten_rejects_wrong_shapes():
    arch = sm.mlp(2, 3, 1)
    layers = arch.unflatten(np.ones(13))
    with pytest.raises(sm.ParamsError, match="layer 1"):
        arch.flatten([(np.ones((2, 2)), np.ones(3)), layers[1]])


# ----------------------------------------------------------------- derivatives
@pytest.mark.parametrize("family", FAMILIES + [sm.Categorical()], ids=repr)
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "erf"])
def test_score_and_hessian_are_finite_differences(family, act):
    model, theta, X, y = small_model(family, act)
    cm = model.compile()
    g = cm.score(theta, X, y)
    np.testing.assert_allclose(g, fd_grad(lambda t: cm.loglik(t, X, y), theta), rtol=1e-6, atol=1e-6)
    H = cm.hessian(theta, X, y)
    H_fd = np.array([(cm.score(theta + 1e-6 * e, X, y) - cm.score(theta - 1e-6 * e, X, y)) / 2e-6
                     for e in np.eye(len(theta))])
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def _expected_neg_hessian(model, theta, X):
    """-E[Hessian | X] computed from y-values whose moments match the family exactly.

    The log-likelihood is affine in y (Bernoulli, Poisson, Categorical, Gaussian with known σ)
    or quadratic in y (Gaussian with unknown σ), so averaging the Hessian over y = mean (affine)
    or the two points mean ± σ (quadratic) gives the exact expectation.
    """
    cm = model.compile()
    fam = model.family
    mu = cm.predict(theta, X)
    if isinstance(fam, sm.Categorical):
        p = mu
        total = 0
        for i in range(X.shape[0]):
            for k in range(p.shape[1]):
                total = total + p[i, k] * cm.hessian(theta, X[i:i + 1], np.array([k]))
        return -total
    if isinstance(fam, sm.Gaussian) and fam.sigma is None:
        s = np.exp(theta[-1])
        return -(cm.hessian(theta, X, mu + s) + cm.hessian(theta, X, mu - s)) / 2
    if isinstance(fam, (sm.Bernoulli, sm.Poisson)):
        # the mean is not in the support: use that the Hessian is affine in each row's y
        total = 0
        for i in range(X.shape[0]):
            H0 = cm.hessian(theta, X[i:i + 1], np.zeros(1))
            H1 = cm.hessian(theta, X[i:i + 1], np.ones(1))
            total = total + H0 + (H1 - H0) * mu[i]
        return -total
    return -cm.hessian(theta, X, mu)


@pytest.mark.parametrize("family", FAMILIES + [sm.Categorical()], ids=repr)
def test_fisher_is_minus_expected_hessian(family):
    model, theta, X, _ = small_model(family, "tanh", n=12)
    F = model.compile().fisher(theta, X)
    expected = _expected_neg_hessian(model, theta, X)
    np.testing.assert_allclose(F, expected, rtol=1e-9, atol=1e-9)
    assert np.linalg.eigvalsh(F).min() > -1e-9  # positive semi-definite


@pytest.mark.parametrize("family", [sm.Gaussian(), sm.Bernoulli(), sm.Poisson(), sm.Categorical()],
                         ids=repr)
def test_fisher_is_monte_carlo_covariance_of_score(family):
    model, theta, X, _ = small_model(family, "tanh", n=3, seed=5)
    cm = model.compile()
    rng = np.random.default_rng(11)
    scores = []
    for _ in range(4000):
        _, y = model.simulate(theta, n=3, rng=rng, X=X)
        scores.append(cm.score(theta, X, y))
    scores = np.array(scores)
    F = cm.fisher(theta, X)
    assert np.abs(scores.mean(axis=0)).max() < 5 * np.sqrt(np.diag(F).max() / 4000)
    emp = np.cov(scores.T)
    scale = np.sqrt(np.outer(np.diag(F), np.diag(F)))
    assert np.abs(emp - F).max() / scale.max() < 0.12


@pytest.mark.parametrize("family", [sm.Gaussian(), sm.Bernoulli(), sm.Poisson(), sm.Categorical()],
                         ids=repr)
def test_compiled_equals_symbolic(family):
    widths = (1, 2, 1) if isinstance(family, sm.Categorical) else (2, 2, 1)
    model, theta, X, y = small_model(family, "sigmoid", widths=widths, n=3)
    cm = model.compile()
    K = model.architecture.n_outputs
    ll = sc = hs = fi = 0
    for i in range(X.shape[0]):
        vals = dict(zip(model.params, theta)) | dict(zip(model.architecture.inputs, X[i]))
        if isinstance(family, sm.Categorical):
            vals |= {s: float(int(y[i]) == k) for k, s in enumerate(model.response)}
        else:
            vals |= {model.response[0]: y[i]}
        vals = {k: sp.Float(v, 30) for k, v in vals.items()}

        def num(e):
            if isinstance(e, sp.MatrixBase):
                return np.array(e.applyfunc(lambda t: num(t)), dtype=float)
            return float(sp.N(e.rewrite(sp.exp).xreplace(vals), 25))

        ll += num(model.loglik)
        sc = sc + num(model.score)[:, 0]
        hs = hs + num(model.hessian)
        fi = fi + num(model.fisher)
    assert cm.loglik(theta, X, y) == pytest.approx(ll, rel=1e-10)
    np.testing.assert_allclose(cm.score(theta, X, y), sc, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cm.hessian(theta, X, y), hs, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cm.fisher(theta, X), fi, rtol=1e-9, atol=1e-11)
    assert K == (3 if isinstance(family, sm.Categorical) else 1)


# ------------------------------------------------------ GLMs in closed form
@pytest.mark.parametrize("sigma", [0.7, None])
def test_gaussian_loglik_sum_is_the_sum_of_its_rows(sigma):
    """`Gaussian.loglik_sum` (two passes) against scipy's normal density and `loglik_rows`,
    several outputs, σ known or a parameter."""
    fam = sm.Gaussian(sigma=sigma)
    rng = np.random.default_rng(3)
    eta, y = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    extra = np.array([]) if sigma is not None else np.array([np.log(1.4)])
    s = sigma if sigma is not None else 1.4
    want = st.norm.logpdf(y, eta, s).sum()
    assert fam.loglik_sum(eta, y, extra) == pytest.approx(want, rel=1e-13)
    assert fam.loglik_sum(eta, y, extra) == pytest.approx(fam.loglik_rows(eta, y, extra).sum(),
                                                          rel=1e-13)


def test_no_hidden_layer_loglik_closed_forms():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((30, 3))
    beta, b0 = np.array([0.4, -1.2, 0.7]), 0.25
    theta = np.r_[beta, b0]
    eta = X @ beta + b0
    # linear regression, known σ
    y = eta + rng.standard_normal(30)
    m = sm.Model(sm.mlp(3, 1), sm.Gaussian(sigma=1.3))
    assert m.compile().loglik(theta, X, y) == pytest.approx(st.norm.logpdf(y, eta, 1.3).sum(), rel=1e-12)
    # unknown σ: log_sigma appended
    m = sm.Model(sm.mlp(3, 1), sm.Gaussian())
    assert m.param_names[-1] == "log_sigma"
    assert m.compile().loglik(np.r_[theta, np.log(0.8)], X, y) == pytest.approx(
        st.norm.logpdf(y, eta, 0.8).sum(), rel=1e-12)
    # logistic regression
    yb = (rng.random(30) < sps.expit(eta)).astype(float)
    m = sm.Model(sm.mlp(3, 1), sm.Bernoulli())
    p = sps.expit(eta)
    assert m.compile().loglik(theta, X, yb) == pytest.approx(
        np.sum(yb * np.log(p) + (1 - yb) * np.log(1 - p)), rel=1e-12)
    np.testing.assert_allclose(m.compile().predict(theta, X), p)
    # Poisson regression (log y! included)
    yp = rng.poisson(np.exp(eta)).astype(float)
    m = sm.Model(sm.mlp(3, 1), sm.Poisson())
    assert m.compile().loglik(theta, X, yp) == pytest.approx(
        st.poisson.logpmf(yp, np.exp(eta)).sum(), rel=1e-12)
    # multinomial logit
    m = sm.Model(sm.mlp(3, 4), sm.Categorical())
    th = rng.standard_normal(m.n_params)
    (W, b), = m.architecture.unflatten(th)
    logits = X @ W.T + b
    labels = rng.integers(0, 4, size=30)
    expect = np.sum(logits[np.arange(30), labels] - np.log(np.exp(logits).sum(axis=1)))
    assert m.compile().loglik(th, X, labels) == pytest.approx(expect, rel=1e-12)


def test_linear_gaussian_fisher_is_xtx_over_sigma2():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2))
    m = sm.Model(sm.mlp(2, 1), sm.Gaussian(sigma=0.5))
    Xb = np.c_[X, np.ones(50)]
    np.testing.assert_allclose(m.compile().fisher(np.zeros(3), X), Xb.T @ Xb / 0.25, rtol=1e-12)
    assert m.fisher == sp.Matrix(3, 3, lambda i, j: (list(m.architecture.inputs) + [1])[i]
                                 * (list(m.architecture.inputs) + [1])[j] * 4)


# --------------------------------------------------------- model conveniences
def test_random_params_and_simulate_are_reproducible_and_sensible():
    model = sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli())
    t1, t2 = model.random_params(5), model.random_params(np.random.default_rng(5))
    np.testing.assert_array_equal(t1, t2)
    X, y = model.simulate(t1, n=20000, rng=1)
    assert abs(X.mean()) < 0.03 and abs(X.std() - 1) < 0.03
    p = model.compile().predict(t1, X)
    assert abs(y.mean() - p.mean()) < 4 * np.sqrt(0.25 / 20000)
    Xg, yg = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=0.3)).simulate(t1, n=20000, rng=2)
    resid = yg - sm.mlp(2, 3, 1).forward(t1, Xg)[:, 0]
    assert resid.std() == pytest.approx(0.3, rel=0.03)
    _, yc = sm.Model(sm.mlp(2, 3), sm.Categorical()).simulate(np.zeros(9), n=3000, rng=3)
    assert set(np.unique(yc)) == {0, 1, 2}


def test_latex_shows_the_derivation():
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=1.0))
    tex = model.latex("loglik")
    assert r"\tanh" in tex and r"W^{(1)}_{1 1}" in tex and "x_{1}" in tex
    assert model.latex("fisher").startswith(r"\left[\begin{")
    with pytest.raises(ValueError, match="what must be one of"):
        model.latex("likelihood")
    assert r"\log\sigma" in sm.Model(sm.mlp(1, 1), sm.Gaussian()).latex("score")


# ----------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    model, theta, X, y = small_model(sm.Gaussian(sigma=1.0))
    cm = model.compile()
    with pytest.raises(ValueError, match="theta must have length 13"):
        cm.loglik(theta[:-1], X, y)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        cm.loglik(theta, X[:, :1], y)
    with pytest.raises(ValueError, match="NaN"):
        cm.loglik(theta, np.where(X > 1, np.nan, X), y)
    with pytest.raises(ValueError, match="y must have shape"):
        cm.loglik(theta, X, y[:-1])
    with pytest.raises(ValueError, match="only 0 and 1"):
        sm.Model(sm.mlp(2, 1), sm.Bernoulli()).compile().loglik(np.zeros(3), X, np.full(len(X), 2.0))
    with pytest.raises(ValueError, match="non-negative integer"):
        sm.Model(sm.mlp(2, 1), sm.Poisson()).compile().loglik(np.zeros(3), X, np.full(len(X), 0.5))
    with pytest.raises(ValueError, match="class labels 0..2"):
        sm.Model(sm.mlp(2, 3), sm.Categorical()).compile().loglik(np.zeros(9), X, np.full(len(X), 3))
    with pytest.raises(ValueError, match="at least 2 outputs"):
        sm.Model(sm.mlp(2, 1), sm.Categorical())
    with pytest.raises(TypeError, match="family must be a Family"):
        sm.Model(sm.mlp(2, 1), "gaussian")
    with pytest.raises(ValueError, match="sigma must be a positive"):
        sm.Gaussian(sigma=-1.0)
    with pytest.raises(ValueError, match="widths must be positive"):
        sm.mlp(2, 0, 1)
    for err in (sm.ParamsError, sm.DataError, sm.ArchitectureError):
        assert issubclass(err, sm.SymmleError) and issubclass(err, ValueError)


def test_chunked_evaluation_equals_unchunked(monkeypatch):
    import symmle.compiled as compiled

    model, theta, X, y = small_model(sm.Categorical(), n=101)
    cm = model.compile()
    whole = cm.evaluate(theta, X, y, ("loglik", "score", "fisher", "hessian"))
    monkeypatch.setattr(compiled, "CHUNK_ROWS", 7)
    parts = cm.evaluate(theta, X, y, ("loglik", "score", "fisher", "hessian"))
    for k in whole:
        np.testing.assert_allclose(parts[k], whole[k], rtol=1e-12, atol=1e-12)
