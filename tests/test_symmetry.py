"""Symmetry groups, continuous symmetries, canonical forms and alignment.

Checks against independent references: the network function itself (numpy forward pass and
the compiled likelihood), known orders (Chen, Lu & Hecht-Nielsen 1993), brute-force enumeration
of graph automorphisms with networkx's DiGraphMatcher, sympy's Schreier–Sims on the generators,
a brute-force search over permutations and signs written here, and the Fisher information.
"""

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst
from networkx.algorithms.isomorphism import DiGraphMatcher
from sympy.combinatorics import Permutation, PermutationGroup

import symmle as sm
from symmle.strategies import architectures, graph_architectures, group_elements, params
from symmle.symmetry import (
    ParamTransform, align, canonicalize, continuous_symmetries, orbit_distance, symmetry_group)

ACTS = ["identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "silu", "erf", "gelu",
        "square", "cube"]
FLIP = {"tanh", "erf", "sigmoid", "square", "cube"}   # flips without skip connections


def branches(k, act="tanh", depth=2):
    """k identical chains x → a_b → c_b → y: no twins, the branches swap whole."""
    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("x2", role="input")
    G.add_node("y", role="output")
    for b in range(k):
        chain = [f"u{b}_{d}" for d in range(depth)]
        for v in chain:
            G.add_node(v, role="hidden", activation=act)
        G.add_edges_from([("x", chain[0]), ("x2", chain[0]), (chain[-1], "y")])
        G.add_edges_from(zip(chain, chain[1:]))
    return sm.Architecture.from_graph(G)


def X_for(arch, n=7, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, (n, arch.n_inputs))


# ------------------------------------------------------------ invariance
@given(arch=architectures(max_inputs=2, max_hidden_layers=2, max_width=3, activations=ACTS,
                          bias=None), data=hst.data())
def test_function_invariant_under_random_elements(arch, data):
    theta = data.draw(params(arch))
    g = data.draw(group_elements(arch))
    X = X_for(arch)
    np.testing.assert_allclose(arch.forward(g(theta), X), arch.forward(theta, X),
                               rtol=1e-10, atol=1e-10)


@given(arch=graph_architectures(max_hidden=4), data=hst.data())
def test_function_invariant_on_graph_architectures(arch, data):
    theta = data.draw(params(arch, generic=True))
    g = data.draw(group_elements(arch))
    X = X_for(arch)
    np.testing.assert_allclose(arch.forward(g(theta), X), arch.forward(theta, X),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("act", ACTS)
def test_loglik_invariant_and_extras_untouched(act):
    model = sm.Model(sm.mlp(2, 3, 2, activation=act), sm.Gaussian())   # θ ends with log_sigma
    cm = model.compile()
    theta = model.random_params(1)
    theta[-1] = 0.3
    X, y = model.simulate(theta, n=50, rng=2)
    G = symmetry_group(model)
    rng = np.random.default_rng(3)
    for _ in range(5):
        g = G.random_element(rng)
        moved = g(theta)
        assert moved[-1] == 0.3
        assert cm.loglik(moved, X, y) == pytest.approx(cm.loglik(theta, X, y), rel=1e-12)


@pytest.mark.parametrize("family", [sm.Bernoulli(), sm.Poisson(), sm.Categorical()])
def test_loglik_invariant_other_families(family):
    k = 3 if isinstance(family, sm.Categorical) else 1
    model = sm.Model(sm.mlp(2, 3, k, activation="sigmoid"), family)
    cm = model.compile()
    theta = model.random_params(4)
    X, y = model.simulate(theta, n=60, rng=5)
    g = symmetry_group(model).random_element(6)
    assert cm.loglik(g(theta), X, y) == pytest.approx(cm.loglik(theta, X, y), rel=1e-12)


@given(arch=architectures(max_width=3, activations=["tanh", "sigmoid", "relu"], bias=None),
       data=hst.data())
def test_inverse_composition_and_matrix(arch, data):
    theta = data.draw(params(arch))
    g, h = data.draw(group_elements(arch)), data.draw(group_elements(arch))
    np.testing.assert_allclose(g.inverse()(g(theta)), theta, atol=1e-12)
    np.testing.assert_allclose((g * h)(theta), g(h(theta)), atol=1e-12)
    np.testing.assert_allclose((g * h).matrix(), g.matrix() @ h.matrix(), atol=1e-12)
    assert (g * g.inverse()).is_identity
    batch = np.stack([theta, 2 * theta, -theta])
    np.testing.assert_allclose(g(batch), np.stack([g(t) for t in batch]), atol=1e-12)


def test_transform_by_hand_sigmoid_flip():
    arch = sm.mlp(1, 2, 1, activation="sigmoid")
    # W1 = [w1, w2], b1 = [b1, b2], W2 = [v1, v2], c
    theta = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    g = ParamTransform(arch, flips=["h1_1"])
    # σ(-z) = 1 - σ(z): negate w1, b1, v1 and add the old v1 to c
    np.testing.assert_array_equal(g(theta), [-1.0, 2.0, -3.0, 4.0, -5.0, 6.0, 12.0])
    assert repr(g) == "<ParamTransform: flip h1_1>"
    swap = ParamTransform(arch, perm={"h1_1": "h1_2", "h1_2": "h1_1"})
    np.testing.assert_array_equal(swap(theta), [2.0, 1.0, 4.0, 3.0, 6.0, 5.0, 7.0])
    with pytest.raises(ValueError, match="cannot be flipped"):
        ParamTransform(sm.mlp(1, 2, 1, activation="relu"), flips=["h1_1"])
    with pytest.raises(ValueError, match="not a hidden unit"):
        ParamTransform(arch, flips=["y"])
    with pytest.raises(ValueError, match="not a symmetry"):
        ParamTransform(branches(1, depth=2), perm={"u0_0": "u0_1", "u0_1": "u0_0"})


# ------------------------------------------------------------------ orders
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_order_one_hidden_layer(act, n):
    expected = math.factorial(n) * (2 ** n if act in FLIP else 1)
    assert symmetry_group(sm.mlp(3, n, 1, activation=act)).order == expected


def test_order_products_and_bias_condition():
    assert symmetry_group(sm.mlp(2, 3, 4, 2, activation="tanh")).order == \
        2 ** 3 * 6 * 2 ** 4 * 24
    assert symmetry_group(sm.mlp(2, 3, 4, 1, activation="relu")).order == 6 * 24
    # the sigmoid flip needs a bias in every successor; tanh does not
    assert symmetry_group(sm.mlp(2, 3, 1, activation="sigmoid", bias=False)).order == 6
    assert symmetry_group(sm.mlp(2, 3, 1, activation="tanh", bias=False)).order == 48
    # no hidden units: trivial group
    G = symmetry_group(sm.mlp(3, 2))
    assert G.order == 1 and G.generators == () and [g.is_identity for g in G.elements()] == [True]


def test_order_big_mlp_exact_without_enumeration():
    G = symmetry_group(sm.mlp(20, 30, 30, 3, activation="tanh"))
    assert G.order == (2 ** 30 * math.factorial(30)) ** 2
    assert G.order_formula() == "2^60 · (30!)^2"
    assert len(G.generators) == 6


@pytest.mark.parametrize("k,depth,act", [(2, 2, "tanh"), (3, 2, "relu"), (3, 1, "sigmoid"),
                                         (2, 3, "softplus")])
def test_order_identical_branches(k, depth, act):
    arch = branches(k, act, depth)
    G = symmetry_group(arch)
    flips = 2 ** (k * depth) if act in FLIP else 1
    assert G.order == math.factorial(k) * flips
    assert G.order == brute_force_order(arch)


def brute_force_order(arch):
    """Enumerate every automorphism (inputs/outputs fixed) with DiGraphMatcher, times flips."""
    g = nx.DiGraph(arch.graph)
    for v, d in g.nodes(data=True):
        d["lab"] = (d["role"], v) if d["role"] != "hidden" else (d["activation"], d["bias"])
    n_aut = sum(1 for _ in DiGraphMatcher(
        g, g, node_match=lambda a, b: a["lab"] == b["lab"]).isomorphisms_iter())
    flippable = 0
    for v in arch.hidden_nodes:
        act = arch.activation_of(v)
        if act.linear:
            continue
        succ = list(g.successors(v))
        if act.flip is not None:
            if act.flip[0] != 0 and not all(g.nodes[s]["bias"] for s in succ):
                continue
        elif act.affine_flip is not None:
            # σ(-z) = σ(z) - c·z: c·v·w moves to skip edges (every input of v must feed every
            # successor), c·v·b to the successors' biases (needed only when v has a bias)
            if not all(g.has_edge(i, s) for i in g.predecessors(v) for s in succ):
                continue
            if g.nodes[v]["bias"] and not all(g.nodes[s]["bias"] for s in succ):
                continue
        else:
            continue
        flippable += 1
    return n_aut * 2 ** flippable


def sympy_order(G):
    """Schreier–Sims on the generators acting on signed units (unit i, sign ±) = 2H points."""
    H = len(G.architecture.hidden_nodes)
    if not G.generators:
        return 1
    perms = []
    for g in G.generators:
        image = [0] * (2 * H)
        for i in range(H):
            j = int(g._perm[i])
            s = int(g._flips[i])
            image[i] = j + H * s
            image[i + H] = j + H * (1 - s)
        perms.append(Permutation(image))
    return PermutationGroup(perms).order()


@settings(max_examples=15)
@given(arch=graph_architectures(max_inputs=2, max_hidden=4, max_twins=2))
def test_order_matches_enumeration_and_generators(arch):
    G = symmetry_group(arch)
    assert G.order == brute_force_order(arch)
    assert G.order == sympy_order(G)


# ------------------------------------------------------------ elements
def test_elements_ranks_and_free_action():
    arch = sm.mlp(2, 3, 1, activation="sigmoid")
    G = symmetry_group(arch)
    elems = list(G.elements())
    assert len(elems) == 48 == len(set(elems))
    assert {G.element_from_rank(r) for r in range(48)} == set(elems)
    assert G.element_from_rank(0).is_identity
    theta = np.random.default_rng(0).standard_normal(arch.n_params)
    orbit = G.orbit(theta)
    assert len(np.unique(np.round(orbit, 9), axis=0)) == 48   # free at a generic θ
    np.testing.assert_allclose(orbit, np.stack([g(theta) for g in elems]), atol=1e-14)


@settings(max_examples=10)
@given(arch=graph_architectures(max_hidden=3, max_twins=1), data=hst.data())
def test_free_action_on_graphs(arch, data):
    G = symmetry_group(arch)
    theta = data.draw(params(arch, generic=True))
    assert len(np.unique(np.round(G.orbit(theta), 9), axis=0)) == G.order


def test_random_element_uniform():
    G = symmetry_group(sm.mlp(1, 2, 1, activation="tanh"))   # order 8
    rng = np.random.default_rng(0)
    counts = {}
    for _ in range(4000):
        g = G.random_element(rng)
        counts[g] = counts.get(g, 0) + 1
    assert len(counts) == 8
    # each count ~ Binomial(4000, 1/8): mean 500, sd 21
    assert all(400 < c < 600 for c in counts.values())


def test_elements_refuses_large_groups_eagerly():
    G = symmetry_group(sm.mlp(2, 9, 1))
    with pytest.raises(ValueError, match="limit"):
        G.elements()
    with pytest.raises(ValueError, match="limit"):
        G.orbit(np.zeros(G.architecture.n_params))
    assert next(G.elements(limit=10 ** 9)).is_identity


def test_str_for_cli():
    text = str(symmetry_group(sm.mlp(2, 3, 1, activation="tanh")))
    assert "order: 48 = 2^3 · 3!" in text
    assert "swap h1_1 and h1_2" in text and "flip h1_1" in text
    assert "continuous symmetries: dimension 0" in text
    relu = str(symmetry_group(sm.mlp(2, 3, 1, activation="relu")))
    assert "dimension 3" in relu and "rescaling" in relu
    big = str(symmetry_group(sm.mlp(3, 40, 1)))
    assert "2^40 · 40! ≈" in big


# ------------------------------------------------------ continuous symmetries
@pytest.mark.parametrize("act,widths,expected", [
    ("relu", (2, 3, 1), 3), ("leaky_relu", (2, 3, 2), 3), ("relu", (2, 3, 2, 1), 5),
    ("identity", (2, 3, 1), 10), ("tanh", (2, 3, 1), 0)])
def test_continuous_symmetries_span_the_fisher_null_space(act, widths, expected):
    model = sm.Model(sm.mlp(*widths, activation=act), sm.Gaussian(sigma=1.0))
    theta = model.random_params(2)
    X = np.random.default_rng(8).standard_normal((400, widths[0]))
    if act.endswith("relu"):   # a generic point: every unit active on some rows, not on all
        h = model.architecture.forward(theta, X, units=True)
        assert all(0.05 < np.mean(h[v] > 0) < 0.95 for v in model.architecture.hidden_nodes)
    V = continuous_symmetries(model, theta)
    assert V.shape == (model.n_params, expected)
    F = model.compile().fisher(theta, X)
    if expected:
        assert np.linalg.norm(F @ V) <= 1e-9 * np.linalg.norm(F) * np.linalg.norm(V)
    s = np.linalg.svd(F, compute_uv=False)
    assert int(np.sum(s < 1e-9 * s[0])) == expected   # exactly their dimension


def test_continuous_symmetries_are_exact_curves_for_relu():
    arch = sm.mlp(2, 3, 1, activation="relu")
    theta = np.random.default_rng(0).standard_normal(arch.n_params)
    V = continuous_symmetries(arch, theta)
    X = X_for(arch, 20)
    for j in range(V.shape[1]):
        # the exact curve behind column j: multiply its +θ entries by e^t and its -θ ones by e^-t
        t = 0.7
        moved = theta.copy()
        plus, minus = V[:, j] == theta, V[:, j] == -theta
        plus &= V[:, j] != 0
        moved[plus] *= np.exp(t)
        moved[minus & (V[:, j] != 0)] *= np.exp(-t)
        np.testing.assert_allclose(arch.forward(moved, X), arch.forward(theta, X), atol=1e-12)


def test_categorical_softmax_shift_and_extras():
    model = sm.Model(sm.mlp(2, 3, 3, activation="tanh"), sm.Categorical())
    theta = model.random_params(0)
    V = continuous_symmetries(model, theta)
    assert V.shape == (model.n_params, 4)   # 3 shared hidden sources + the output biases
    X = np.random.default_rng(1).standard_normal((300, 2))
    F = model.compile().fisher(theta, X)
    assert np.linalg.norm(F @ V) < 1e-9 * np.linalg.norm(F)
    s = np.linalg.svd(F, compute_uv=False)
    assert int(np.sum(s < 1e-9 * s[0])) == 4
    assert continuous_symmetries(model.architecture, theta).shape[1] == 0
    gm = sm.Model(sm.mlp(2, 2, 1, activation="relu"), sm.Gaussian())
    V = continuous_symmetries(gm, gm.random_params(0))
    assert V.shape == (gm.n_params, 2) and np.all(V[-1] == 0)


# ------------------------------------------------- canonicalize and align
CANON_ARCHS = [sm.mlp(2, 3, 1, activation="tanh"), sm.mlp(2, 3, 1, activation="sigmoid"),
               sm.mlp(2, 3, 3, 2, activation="tanh"), sm.mlp(3, 6, 1, activation="sigmoid"),
               sm.mlp(2, 4, 1, activation="relu"), branches(3, "tanh"), branches(2, "sigmoid")]


@pytest.mark.parametrize("arch", CANON_ARCHS, ids=repr)
def test_canonicalize_constant_on_orbits(arch):
    G = symmetry_group(arch)
    rng = np.random.default_rng(0)
    for _ in range(5):
        theta = rng.standard_normal(arch.n_params + 1)   # with one family parameter
        c = canonicalize(arch, theta)
        assert c[-1] == theta[-1]
        assert orbit_distance(arch, c, theta) < 1e-12
        np.testing.assert_allclose(canonicalize(arch, c), c, atol=1e-12)
        for _ in range(4):
            np.testing.assert_allclose(canonicalize(arch, G.random_element(rng)(theta)), c,
                                       atol=1e-12)


@pytest.mark.parametrize("arch", CANON_ARCHS + [sm.mlp(2, 7, 2, activation="tanh")], ids=repr)
def test_align_recovers_the_element(arch):
    G = symmetry_group(arch)
    rng = np.random.default_rng(1)
    for _ in range(8):
        theta = rng.standard_normal(arch.n_params)
        g = G.random_element(rng)
        noisy = g(theta) + 0.01 * rng.standard_normal(arch.n_params)
        aligned, h = align(arch, noisy, theta, return_transform=True)
        assert h == g.inverse()
        np.testing.assert_allclose(aligned, h(noisy))
        assert np.linalg.norm(aligned - theta) < 0.1


def brute_orbit_distance_one_layer(a, b, d, n):
    """min over permutations and signs of one tanh hidden layer, written independently."""
    def split(t):
        W = t[: n * d].reshape(n, d)
        b1 = t[n * d: n * d + n]
        v = t[n * d + n: n * d + 2 * n]
        return np.column_stack([W, b1, v]), t[n * d + 2 * n:]
    A, restA = split(a)
    B, restB = split(b)
    best = np.inf
    signs = np.array(list(itertools.product([1, -1], repeat=n)))
    for p in itertools.permutations(range(n)):
        D = (signs[:, :, None] * A[list(p)][None] - B[None]) ** 2
        best = min(best, D.sum((1, 2)).min())
    return np.sqrt(best + ((restA - restB) ** 2).sum())


@pytest.mark.parametrize("n", [3, 6])
def test_orbit_distance_exact_for_one_hidden_layer(n):
    arch = sm.mlp(2, n, 1, activation="tanh")   # n = 6: order 46080, the assignment path
    rng = np.random.default_rng(2)
    for _ in range(5):
        a, b = rng.standard_normal((2, arch.n_params + 1))
        assert orbit_distance(arch, a, b) == pytest.approx(
            brute_orbit_distance_one_layer(a, b, 2, n), rel=1e-12)


@pytest.mark.parametrize("arch", [sm.mlp(2, 3, 1, activation="sigmoid"), branches(2, "sigmoid"),
                                  sm.mlp(1, 2, 2, 1, activation="tanh")], ids=repr)
def test_orbit_distance_matches_elements(arch):
    G = symmetry_group(arch)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, arch.n_params))
    brute = min(np.linalg.norm(g(a) - b) for g in G.elements())
    assert orbit_distance(arch, a, b) == pytest.approx(brute, rel=1e-12)
    assert np.linalg.norm(align(arch, a, b) - b) == pytest.approx(brute, rel=1e-12)


def test_errors_name_the_argument():
    arch = sm.mlp(2, 3, 1)
    with pytest.raises(sm.ParamsError, match="theta must have length at least 13"):
        canonicalize(arch, np.zeros(5))
    with pytest.raises(sm.ParamsError, match="reference must have length 14"):
        align(arch, np.zeros(14), np.zeros(13))
    with pytest.raises(sm.ParamsError, match="NaN"):
        orbit_distance(arch, np.full(13, np.nan), np.zeros(13))
    with pytest.raises(TypeError, match="arch must be an Architecture"):
        symmetry_group("2-3-1")
    with pytest.raises(sm.ParamsError, match="length 14"):
        continuous_symmetries(sm.Model(arch, sm.Gaussian()), np.zeros(13))
    with pytest.raises(TypeError):
        sm.symmetry.SymmetryGroup(arch)
    G = symmetry_group(arch)
    with pytest.raises(TypeError, match="rank must be an integer"):
        G.element_from_rank(1.0)
    with pytest.raises(ValueError, match="rank must be an integer <= 47"):
        G.element_from_rank(48)


def test_caches_are_weak_and_leave_the_architecture_alone():
    import gc
    import weakref
    from functools import cached_property

    arch = sm.mlp(2, 3, 1)
    own = {k for k, v in vars(sm.Architecture).items() if isinstance(v, cached_property)}
    G = symmetry_group(arch)
    assert symmetry_group(arch) is G          # cached while in use
    theta = np.random.default_rng(0).standard_normal(arch.n_params)
    align(arch, theta, theta)
    canonicalize(arch, theta)
    continuous_symmetries(arch, theta)
    assert set(arch.__dict__) <= own | {"graph"}   # its field and its own cached properties
    # an equal graph in a distinct architecture has its own (equal) group
    other = sm.Architecture(arch.graph)
    assert symmetry_group(other) is not G and symmetry_group(other).order == G.order
    ref = weakref.ref(arch)
    del arch, G, other
    gc.collect()
    assert ref() is None                      # the caches do not keep it alive
