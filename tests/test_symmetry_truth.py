"""Mathematical truth of the symmetry answers (issue 16, §1 and §2).

§1: activation identities σ(-z) = σ(z) - c·z derived here with sympy from independent forms;
the flips they give behind skip connections preserve the compiled network function, compose,
invert and are counted in the group order, checked against a brute-force count written here.
§2: `orbit_distance` / `align` by branch and bound equal exhaustive search over the group, and
a search cut short returns a certified lower bound.
"""

import functools
import itertools
import math
import warnings

import mpmath
import networkx as nx
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as hst

import symmle as sm
from symmle.strategies import architectures, graph_architectures, params
from symmle.symmetry import (
    AlignmentResult, ParamTransform, align, canonicalize, continuous_symmetries, orbit_distance,
    symmetry_group)

# ------------------------------------------------------- §1: the identities
#: Independent sympy forms of the registry's activations.
FORMS = {
    "identity": lambda z: z,
    "tanh": sp.tanh,
    "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
    "relu": lambda z: sp.Max(z, 0),
    "leaky_relu": lambda z: sp.Max(z, z / 100),
    "softplus": lambda z: sp.log(1 + sp.exp(z)),
    "silu": lambda z: z / (1 + sp.exp(-z)),
    "erf": sp.erf,
    "gelu": lambda z: z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
    "square": lambda z: z ** 2,
    "cube": lambda z: z ** 3,
    "quartic": lambda z: z ** 4,
}
AFFINE = ["relu", "leaky_relu", "softplus", "silu", "gelu"]
POINTS = [sp.Rational(k, 7) for k in (-19, -8, -3, 2, 5, 13)]


def test_every_registry_activation_has_an_independent_form():
    assert set(FORMS) == set(sm.activation_names())


@pytest.mark.parametrize("name", sorted(FORMS))
def test_registry_forms_agree_with_the_independent_ones(name):
    act = sm.get_activation(name)
    z = np.linspace(-4, 4, 17)
    ref = np.array([float(FORMS[name](sp.Float(v, 30))) for v in z])
    np.testing.assert_allclose(act.numpy(z), ref, rtol=1e-14, atol=1e-15)
    for q in POINTS:
        assert float(act.sympy(q)) == pytest.approx(float(FORMS[name](q)), rel=1e-14, abs=1e-15)


def _derived_c(name):
    """c with σ(-z) = σ(z) - c·z on both half-lines, or None (sympy, exact)."""
    p = sp.Symbol("p", positive=True)
    f = FORMS[name]
    cs = [sp.simplify(sp.expand_log((f(s) - f(-s)) / s, force=True)) for s in (p, -p)]
    if all(c.is_number for c in cs) and cs[0] == cs[1]:
        return cs[0]
    return None


@pytest.mark.parametrize("name", sorted(FORMS))
def test_affine_flip_constant_derived_exactly(name):
    act = sm.get_activation(name)
    c = _derived_c(name)
    if c is None:
        assert act.affine_flip is None
    else:
        assert act.affine_flip is not None and sp.nsimplify(act.affine_flip) == c
    expected = {"relu": 1, "leaky_relu": sp.Rational(101, 100), "softplus": 1, "silu": 1,
                "gelu": 1, "square": 0, "quartic": 0, "identity": 2}
    assert c == expected.get(name)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_flip_identity_derived_exactly(name):
    """σ(-z) = a + c·σ(z): solve for (a, c) at two points, then check it symbolically."""
    act = sm.get_activation(name)
    f = FORMS[name]
    z = sp.Symbol("z", real=True)
    a, c = sp.symbols("a c")
    sol = sp.solve([sp.Eq(f(-q), a + c * f(q)) for q in POINTS[:2]], [a, c], dict=True)
    holds = None
    for s in sol:
        resid = [sp.N(f(-q) - s[a] - s[c] * f(q), 30) for q in POINTS]
        if all(abs(r) < 1e-25 for r in resid):
            holds = (s[a], s[c])
    if holds is None:
        assert act.flip is None
    else:
        assert tuple(act.flip) == holds
        assert sp.simplify(f(-z) - holds[0] - holds[1] * f(z)) == 0
    # the negation record: σ(-z) = α + β σ(z) + γ z
    neg = act.negation
    if act.linear:
        assert neg is None
    elif neg is not None:
        al, be, ga = neg
        for q in POINTS:
            lhs = float(f(-q))
            assert lhs == pytest.approx(al + be * float(f(q)) + ga * float(q), abs=1e-14)


def test_gelu_against_mpmath():
    act = sm.get_activation("gelu")
    for v in (-6.0, -1.3, -1e-3, 0.0, 0.4, 2.5, 7.0):
        ref = mpmath.mpf(v) * mpmath.ncdf(v)
        assert act.numpy(np.array([v]))[0] == pytest.approx(float(ref), rel=1e-14, abs=1e-300)
    m = sm.Model(sm.mlp(1, 2, 1, activation="gelu"), sm.Gaussian(sigma=1.0))
    theta = m.random_params(0)
    X = np.linspace(-2, 2, 5)[:, None]
    np.testing.assert_allclose(m.compile().predict(theta, X),
                               m.architecture.forward(theta, X)[:, 0], rtol=1e-13)


def test_polynomial_activations_are_recorded():
    assert [sm.get_activation(n).polynomial_degree for n in ("square", "cube", "quartic")] == \
        [2, 3, 4]
    assert all(sm.get_activation(n).polynomial_degree is None for n in sm.activation_names()
               if n not in ("square", "cube", "quartic"))
    assert sm.get_activation("cube").odd and sm.get_activation("square").flip == (0, 1)


# ------------------------------------------------------ §1: the issue example
def skip_unit(act="softplus", bias=True):
    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("h", role="hidden", activation=act, bias=bias)
    G.add_node("y", role="output")
    G.add_edges_from([("x", "h"), ("h", "y"), ("x", "y")])
    return sm.Architecture.from_graph(G)


def test_issue_reproduction_softplus_skip():
    arch = skip_unit()
    assert arch.param_names == ("w_x_h", "b_h", "w_x_y", "w_h_y", "b_y")
    w, b, s, v, c = theta = np.array([0.7, 0.3, -0.4, 1.3, 0.2])
    moved = np.array([-w, -b, s + v * w, v, c + v * b])
    G = symmetry_group(arch)
    assert G.order == 2
    (g,) = G.generators
    np.testing.assert_allclose(g(theta), moved, rtol=1e-15)
    assert not g.is_linear
    with pytest.raises(ValueError, match="not linear"):
        g.matrix()
    assert orbit_distance(arch, moved, theta) < 1e-15
    X = np.linspace(-3, 3, 11)[:, None]
    cm = sm.Model(arch, sm.Gaussian(sigma=1.0)).compile()
    np.testing.assert_allclose(cm.predict(moved, X), cm.predict(theta, X), rtol=1e-15)
    assert "σ(-z) = σ(z) - z" in str(G)


@pytest.mark.parametrize("act", AFFINE)
@pytest.mark.parametrize("bias", [True, False])
def test_affine_flip_exists_exactly_when_absorbable(act, bias):
    # bias-free unit: nothing moves into y's bias, so y needs none
    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("h", role="hidden", activation=act, bias=bias)
    G.add_node("y", role="output", bias=False)
    G.add_edges_from([("x", "h"), ("h", "y"), ("x", "y")])
    arch = sm.Architecture.from_graph(G)
    assert symmetry_group(arch).order == (1 if bias else 2)
    # without the skip edge there is no flip
    assert symmetry_group(sm.mlp(1, 1, 1, activation=act)).order == 1
    # with it, and a biased output, there is
    assert symmetry_group(skip_unit(act, bias)).order == 2


# --------------------------------------- §1: every element keeps the function
SKIP_ACTS = ["softplus", "silu", "gelu", "relu", "leaky_relu", "tanh", "sigmoid", "erf",
             "square", "cube"]
skip_archs = hst.one_of(
    architectures(max_inputs=2, min_hidden_layers=1, max_hidden_layers=2, max_width=3,
                  activations=SKIP_ACTS, skip_connections="all", bias="per_unit",
                  per_unit_activations=True),
    architectures(max_inputs=2, min_hidden_layers=1, max_hidden_layers=3, max_width=2,
                  activations=SKIP_ACTS, skip_connections=True, bias="per_unit",
                  per_unit_activations=True),
    architectures(max_inputs=2, min_hidden_layers=1, max_hidden_layers=2, max_width=3,
                  activations=AFFINE, skip_connections="all", bias=None))


def _predict(arch):
    return sm.Model(arch, sm.Gaussian(sigma=1.0)).compile().predict


def _close(a, b, rel=1e-12):
    scale = max(np.abs(b).max(), 1.0)
    return np.abs(a - b).max() <= rel * scale


@settings(max_examples=25)
@given(arch=skip_archs, data=hst.data())
def test_every_generator_and_element_keeps_the_compiled_function(arch, data):
    G = symmetry_group(arch)
    theta = data.draw(params(arch, generic=True))
    X = np.random.default_rng(0).uniform(-2, 2, (9, arch.n_inputs))
    predict = _predict(arch)
    f0 = predict(theta, X)
    for g in G.generators:
        assert _close(predict(g(theta), X), f0), g
    rng = np.random.default_rng(1)
    for _ in range(4):
        g, h = G.random_element(rng), G.random_element(rng)
        assert _close(predict(g(theta), X), f0), g
        np.testing.assert_allclose(g.inverse()(g(theta)), theta, atol=1e-11)
        np.testing.assert_allclose((g * h)(theta), g(h(theta)), atol=1e-11)
        batch = np.stack([theta, 0.5 * theta, -theta])
        np.testing.assert_allclose(g(batch), np.stack([g(t) for t in batch]), atol=1e-12)
    if G.order <= 512:
        orbit = G.orbit(theta)
        assert len(np.unique(np.round(orbit, 8), axis=0)) == G.order   # free at generic θ
        for row in orbit[:: max(1, G.order // 16)]:
            assert _close(predict(row, X), f0)


def test_flips_commute_along_a_chain_of_affine_units():
    """x → h1 → h2 → y with every skip edge: the flips of h1 and h2 move each other's rows."""
    G = nx.DiGraph()
    G.add_node("x", role="input")
    for v in ("h1", "h2"):
        G.add_node(v, role="hidden", activation="softplus")
    G.add_node("y", role="output")
    G.add_edges_from(itertools.combinations(["x", "h1", "h2", "y"], 2))
    arch = sm.Architecture.from_graph(G)
    f1, f2 = ParamTransform(arch, flips=["h1"]), ParamTransform(arch, flips=["h2"])
    theta = np.random.default_rng(0).standard_normal(arch.n_params)
    np.testing.assert_allclose(f1(f2(theta)), f2(f1(theta)), atol=1e-14)
    np.testing.assert_allclose(f1(f1(theta)), theta, atol=1e-14)
    assert symmetry_group(arch).order == 4


# -------------------------------------------- §1: brute-force group order
@functools.lru_cache(maxsize=None)
def _negation(name):
    """(α, β, γ) of σ(-z) = α + β σ(z) + γ z, solved here from the independent forms."""
    f = FORMS[name]
    if name == "identity":
        return None
    for be in (1, -1):
        al, ga = sp.symbols("al ga")
        sol = sp.solve([sp.Eq(f(-q), al + be * f(q) + ga * q) for q in POINTS[:2]], [al, ga],
                       dict=True)
        for s in sol:
            if all(abs(sp.N(f(-q) - s[al] - be * f(q) - s[ga] * q, 30)) < 1e-25 for q in POINTS):
                # solve leaves log(1 + e^q) - log(1 + e^-q) - q unsimplified: 0 to 50 digits
                exact = [sp.N(x, 50) for x in (s[al], s[ga])]
                al_v, ga_v = (0.0 if abs(x) < 1e-40 else float(x) for x in exact)
                return al_v, float(be), ga_v
    return None


def _brute_transform(arch, perm, flips, theta):
    """π ∘ (flips, one unit at a time, in the given order) on a dict of weights; None when the
    graph cannot represent the result (a missing edge or bias)."""
    g = arch.graph
    w = {e: theta[i] for e, i in arch.edge_index.items()}
    b = {v: theta[i] for v, i in arch.bias_index.items()}
    for u in flips:
        neg = _negation(g.nodes[u]["activation"])
        if neg is None:
            return None
        al, be, ga = neg
        preds, succs = list(g.predecessors(u)), list(g.successors(u))
        for i in preds:
            w[(i, u)] = -w[(i, u)]
        if u in b:
            b[u] = -b[u]
        for o in succs:
            v = w[(u, o)]
            w[(u, o)] = be * v
            if al != 0 or (ga != 0 and u in b):   # a constant moves into o's bias
                if o not in b:
                    return None
                b[o] += -be * al * v + be * ga * v * b.get(u, 0.0)
            if ga != 0:
                for i in preds:
                    if (i, o) not in w:
                        return None
                    w[(i, o)] += be * ga * v * w[(i, u)]
    out = np.empty(arch.n_params)
    for (s, o), val in w.items():
        e = (perm.get(s, s), perm.get(o, o))
        if e not in arch.edge_index:
            return None
        out[arch.edge_index[e]] = val
    for v, val in b.items():
        if perm.get(v, v) not in arch.bias_index:
            return None
        out[arch.bias_index[perm.get(v, v)]] = val
    return out


def brute_force_count(arch, rng):
    """Count (permutation of hidden units, set of flipped units) that the graph can represent
    and that keep f at random inputs: every candidate, no group theory."""
    hid = list(arch.hidden_nodes)
    theta = rng.uniform(-1.5, 1.5, arch.n_params)
    X = rng.uniform(-2, 2, (12, arch.n_inputs))
    f0 = arch.forward(theta, X)
    count = 0
    for images in itertools.permutations(hid):
        perm = dict(zip(hid, images))
        for k in range(len(hid) + 1):
            for flips in itertools.combinations(hid, k):
                order = list(flips)
                rng.shuffle(order)   # flips commute: any order
                moved = _brute_transform(arch, perm, order, theta)
                if moved is not None and _close(arch.forward(moved, X), f0, 1e-9):
                    count += 1
    return count


@settings(max_examples=20)
@given(arch=hst.one_of(
    architectures(max_inputs=2, min_hidden_layers=1, max_hidden_layers=2, max_width=2,
                  activations=SKIP_ACTS, skip_connections=True, bias="per_unit",
                  per_unit_activations=True),
    architectures(max_inputs=2, min_hidden_layers=1, max_hidden_layers=2, max_width=2,
                  activations=["softplus", "relu", "sigmoid"], skip_connections="all",
                  bias="per_unit")),
    seed=hst.integers(0, 2 ** 31))
def test_group_order_equals_brute_force_count(arch, seed):
    if len(arch.hidden_nodes) > 4:
        return
    assert symmetry_group(arch).order == brute_force_count(arch, np.random.default_rng(seed))


def test_square_units_even_flip_and_scaling():
    arch = sm.mlp(2, 3, 1, activation="square", bias=False)
    G = symmetry_group(arch)
    assert G.order == 2 ** 3 * 6
    theta = np.random.default_rng(0).standard_normal(arch.n_params)
    V = continuous_symmetries(arch, theta)
    assert V.shape[1] == 3
    X = np.random.default_rng(1).standard_normal((30, 2))
    for j in range(3):   # the exact curve σ(λz) = λ² σ(z): incoming × λ, outgoing × λ^-2
        lam = 1.7
        moved = theta.copy()
        inc = (V[:, j] != 0) & (V[:, j] == theta)
        out = (V[:, j] != 0) & (V[:, j] == -2 * theta)
        moved[inc] *= lam
        moved[out] /= lam ** 2
        np.testing.assert_allclose(arch.forward(moved, X), arch.forward(theta, X), rtol=1e-12)


# --------------------------------------------------- §2: exact orbit distance
def dense(widths, act):
    """Every node feeds every node of every later layer (skip connections everywhere)."""
    G = nx.DiGraph()
    layers = [["x"]] + [[f"h{li}_{j}" for j in range(w)] for li, w in enumerate(widths)] + [["y"]]
    G.add_node("x", role="input")
    G.add_node("y", role="output")
    for layer in layers[1:-1]:
        G.add_nodes_from(layer, role="hidden", activation=act)
    for i, lo in enumerate(layers):
        G.add_edges_from((u, v) for hi in layers[i + 1:] for u in lo for v in hi)
    return sm.Architecture.from_graph(G)


BNB_ARCHS = [
    (sm.mlp(2, 3, 4, 1, activation="tanh"), None),       # deep tanh, order 18 432
    (sm.mlp(1, 2, 3, 3, 1, activation="tanh"), None),    # three layers, order 18 432
    (sm.mlp(2, 3, 4, 1, activation="sigmoid"), None),    # deep sigmoid, order 18 432
    (sm.mlp(1, 6, 1, activation="sigmoid"), None),       # order 46 080
    (sm.mlp(1, 6, 1, activation="sigmoid"), 0.01),       # near the orbit
    (sm.mlp(1, 3, 3, 1, activation="sigmoid"), 0.01),
    (dense([3, 3], "softplus"), None),                   # skip softplus, order 2^6 · 3!^2
    (dense([3, 3], "softplus"), 0.01),
    (dense([2, 3], "gelu"), None),
    (dense([3, 4], "relu"), None),                       # order 2^7 · 3! · 4! = 18 432
]


@pytest.mark.parametrize("arch,noise", BNB_ARCHS, ids=lambda a: repr(a) if not isinstance(
    a, (float, type(None))) else str(a))
def test_branch_and_bound_equals_exhaustive_search(arch, noise):
    G = symmetry_group(arch)
    assert G.order <= 10 ** 5
    if "h0_0" in arch.graph:   # the dense skip networks: every unit flips
        assert G.n_flippable == len(arch.hidden_nodes)
    rng = np.random.default_rng(7)
    for _ in range(6):
        b = rng.standard_normal(arch.n_params)
        a = (rng.standard_normal(arch.n_params) if noise is None
             else G.random_element(rng)(b) + noise * rng.standard_normal(arch.n_params))
        brute = float(np.sqrt(((G.orbit(a) - b) ** 2).sum(1).min()))
        res = orbit_distance(arch, a, b, method="branch_and_bound", return_certificate=True)
        assert res.optimal and res.method == "branch_and_bound"
        assert res.distance == pytest.approx(brute, rel=1e-12, abs=1e-14)
        assert res.lower_bound == res.distance
        np.testing.assert_allclose(res.transform(a), res.member)
        assert np.linalg.norm(res.member - b) == pytest.approx(res.distance, rel=1e-14)


@settings(max_examples=30)
@given(arch=hst.one_of(
    graph_architectures(max_inputs=2, max_hidden=5, max_twins=2,
                        activations=["tanh", "sigmoid", "softplus", "relu", "gelu", "square"]),
    skip_archs), data=hst.data())
def test_branch_and_bound_equals_exhaustive_on_random_graphs(arch, data):
    """Any graph, any θ (hypothesis' draws: zeros and ties included), near or far pairs."""
    G = symmetry_group(arch)
    if G.order > 20000:
        return
    b = data.draw(params(arch))
    a = data.draw(params(arch))
    if data.draw(hst.booleans()):
        a = G.element_from_rank(data.draw(hst.integers(0, G.order - 1)))(b) + 0.01 * a
    zero = np.array(data.draw(hst.lists(hst.booleans(), min_size=arch.n_params,
                                        max_size=arch.n_params)))
    a = np.where(zero, 0.0, a)
    brute = float(np.sqrt(((G.orbit(a) - b) ** 2).sum(1).min()))
    res = orbit_distance(arch, a, b, method="branch_and_bound", return_certificate=True)
    assert res.optimal
    assert res.distance == pytest.approx(brute, rel=1e-12, abs=1e-12)
    cut = orbit_distance(arch, a, b, method="branch_and_bound", return_certificate=True,
                         max_nodes=data.draw(hst.integers(1, 20)))
    assert cut.lower_bound <= brute * (1 + 1e-12) + 1e-12 <= cut.distance * (1 + 2e-12) + 2e-12


def test_near_orbit_sigmoid_pairs_recover_the_small_distance():
    """1-6-1 sigmoid, noise 0.01: the exact distance is the noise, never a wrong orbit member."""
    arch = sm.mlp(1, 6, 1, activation="sigmoid")
    G = symmetry_group(arch)
    rng = np.random.default_rng(0)
    for _ in range(25):
        b = rng.standard_normal(arch.n_params)
        g = G.random_element(rng)
        eps = 0.01 * rng.standard_normal(arch.n_params)
        a = g(b) + eps
        d = orbit_distance(arch, a, b)
        assert d <= np.linalg.norm(g.inverse()(a) - b) + 1e-12
        assert d < 0.2


def test_exhaustive_over_elements_on_one_pair():
    """The same minimum as a loop over G.elements() (no orbit table)."""
    arch = sm.mlp(1, 6, 1, activation="sigmoid")
    G = symmetry_group(arch)
    a, b = np.random.default_rng(11).standard_normal((2, arch.n_params))
    brute = min(float(np.linalg.norm(g(a) - b)) for g in G.elements())
    assert orbit_distance(arch, a, b) == pytest.approx(brute, rel=1e-12)
    assert symmetry_group(arch).order > sm.symmetry.EXHAUSTIVE_ORDER   # the search path


def test_budget_gives_a_certified_lower_bound():
    arch = sm.mlp(2, 3, 4, 1, activation="tanh")
    G = symmetry_group(arch)
    rng = np.random.default_rng(3)
    seen_cut = False
    for _ in range(8):
        a, b = rng.standard_normal((2, arch.n_params))
        brute = float(np.sqrt(((G.orbit(a) - b) ** 2).sum(1).min()))
        res = orbit_distance(arch, a, b, return_certificate=True, max_nodes=3)
        assert res.lower_bound <= brute * (1 + 1e-12) and res.distance >= brute * (1 - 1e-12)
        assert res.lower_bound <= res.distance
        if not res.optimal:
            seen_cut = True
            assert res.gap > 0 and "not proven optimal" in repr(res)
            with pytest.warns(sm.ConvergenceWarning, match="certified lower bound"):
                orbit_distance(arch, a, b, max_nodes=3)
    assert seen_cut


def test_align_call_forms_and_options():
    arch = sm.mlp(1, 6, 1, activation="sigmoid")
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, arch.n_params + 1))   # with one family parameter
    member = align(arch, a, b)
    m2, g = align(arch, a, b, return_transform=True)
    res = align(arch, a, b, return_result=True)
    assert isinstance(res, AlignmentResult) and res.optimal
    np.testing.assert_allclose(member, m2)
    np.testing.assert_allclose(res.member, member)
    assert g == res.transform and member[-1] == a[-1]
    ex = align(arch, a, b, method="exhaustive", return_result=True)
    assert ex.method == "exhaustive" and ex.distance == pytest.approx(res.distance, rel=1e-12)
    with pytest.raises(ValueError, match="method"):
        align(arch, a, b, method="greedy")
    with pytest.raises(ValueError, match="max_nodes"):
        orbit_distance(arch, a, b, max_nodes=0)
    with pytest.raises(TypeError, match="time_limit"):
        orbit_distance(arch, a, b, time_limit="1")
    with pytest.raises(ValueError, match="MAX_ELEMENTS"):
        orbit_distance(sm.mlp(2, 9, 1), np.zeros(37), np.zeros(37), method="exhaustive")


@pytest.mark.parametrize("arch", [dense([3, 3], "softplus"), skip_unit("relu"),
                                  dense([2, 2], "silu")], ids=repr)
def test_canonicalize_and_align_use_affine_flips(arch):
    G = symmetry_group(arch)
    assert G.n_flippable == len(arch.hidden_nodes)
    rng = np.random.default_rng(5)
    for _ in range(4):
        theta = rng.standard_normal(arch.n_params)
        c = canonicalize(arch, theta)
        for _ in range(3):
            g = G.random_element(rng)
            np.testing.assert_allclose(canonicalize(arch, g(theta)), c, atol=1e-10)
            aligned, h = align(arch, g(theta), theta, return_transform=True)
            np.testing.assert_allclose(aligned, theta, atol=1e-10)
            assert h == g.inverse()


def test_default_budget_constants():
    assert sm.symmetry.SEARCH_MAX_NODES >= 10 ** 4
    assert math.isfinite(sm.symmetry.SEARCH_TIME_LIMIT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # an exact answer warns about nothing
        orbit_distance(sm.mlp(1, 6, 1, activation="sigmoid"), np.ones(19), np.zeros(19))
