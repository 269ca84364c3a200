"""Identifiability: Fisher rank, Sussmann reductions, regularity, optima clusters.

Checks are against known results (Chen, Lu & Hecht-Nielsen's group order; Sussmann's
reductions; Fukumizu's rank drop; ReLU rescaling), independent constructions written
here (the rescaling directions) and invariances (reduce keeps the function). Profile
likelihoods (re-exported here) live in symmle.fitting and are tested in test_fitting.py.
"""

import math
import warnings

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, strategies as hst

import symmle as sm
from symmle.identifiability import (cluster_optima, identifiability, is_reducible, profile,
                                    profile_conf_int, reduce, regularity)


def gauss(*widths, act="tanh"):
    return sm.Model(sm.mlp(*widths, activation=act), sm.Gaussian(sigma=1.0))


def same_function(a1, t1, a2, t2, d, seed=0):
    X = np.random.default_rng(seed).standard_normal((64, d)) * 2
    return np.allclose(a1.forward(t1, X), a2.forward(t2, X), atol=1e-10, rtol=1e-10)


def rescaling_basis(arch, theta):
    """Per hidden unit: incoming weights and bias × +1, outgoing × -1 (written independently)."""
    cols = []
    for v in arch.hidden_nodes:
        c = np.zeros(arch.n_params)
        for (a, b), i in arch.edge_index.items():
            if b == v:
                c[i] = theta[i]
            if a == v:
                c[i] = -theta[i]
        c[arch.bias_index[v]] = theta[arch.bias_index[v]]
        cols.append(c)
    return np.array(cols).T


# ------------------------------------------------------------------ report
def test_tanh_231_generic_is_locally_identifiable():
    rep = identifiability(gauss(2, 3, 1), rng=0)
    assert (rep.n_params, rep.group_order, rep.continuous_dim, rep.fisher_rank) == (13, 48, 0, 13)
    assert rep.locally_identifiable and rep.explained and rep.reducible == ()
    assert rep.null_space.shape == (13, 0)
    # the rank agrees with an independent eigen-decomposition of the compiled Fisher matrix
    X = np.random.default_rng(5).standard_normal((400, 2))
    F = gauss(2, 3, 1).compile().fisher(rep.theta, X)
    d = np.sqrt(np.diag(F))
    w = np.linalg.eigvalsh(F / np.outer(d, d))
    assert w.min() > 1e-12 * w.max()


def test_relu_231_null_space_is_the_rescalings():
    model = gauss(2, 3, 1, act="relu")
    rep = identifiability(model, rng=1)
    assert rep.continuous_dim == 3 and rep.fisher_rank == 10 and rep.explained
    assert not rep.locally_identifiable
    C = rescaling_basis(model.architecture, rep.theta)
    # same 3-dimensional subspace: projecting either onto the other leaves nothing
    Qn, Qc = np.linalg.qr(rep.null_space)[0], np.linalg.qr(C)[0]
    assert np.allclose(Qn @ (Qn.T @ C), C, atol=1e-8)
    assert np.allclose(Qc @ (Qc.T @ rep.null_space), rep.null_space, atol=1e-8)
    # each echelon-basis direction is one unit's rescaling, and the words name its parameters
    names = model.param_names
    for col, words in zip(rep.null_space.T, rep.null_space_words):
        moved = {names[i] for i in np.flatnonzero(np.abs(col) > 1e-9)}
        units = {n.split("_")[1] for n in moved if n.startswith("W1") or n.startswith("b1")}
        named = {names[i] for i in np.flatnonzero(np.abs(col) > 0.05 * np.abs(col).max())}
        assert len(units) == 1 and all(n in words for n in named)
    text = str(rep)
    assert "Fisher information rank    10 of 13" in text and "explained" in text


def test_relu_unit_active_on_all_rows_is_reported():
    model = gauss(2, 3, 1, act="relu")
    rep = identifiability(model, rng=0)   # h1_1 has bias 0.65 and weights ~0.09: always on
    assert rep.fisher_rank == 9 and not rep.explained
    assert "'h1_1' is active on every row" in rep.explanation


def test_categorical_softmax_shift_is_explained():
    model = sm.Model(sm.mlp(2, 3), sm.Categorical())
    rep = identifiability(model, rng=0)
    assert rep.continuous_dim == 3 and rep.fisher_rank == 6 and rep.explained


def test_gaussian_with_sigma_counts_log_sigma():
    rep = identifiability(sm.Model(sm.mlp(2, 3, 1), sm.Gaussian()), rng=0)
    assert rep.n_params == 14 and rep.fisher_rank == 14


def test_too_few_rows_is_named():
    model = gauss(2, 3, 1)
    rep = identifiability(model, rng=0, n_rows=5)
    assert rep.fisher_rank == 5 and not rep.explained and "too few data rows" in rep.explanation


def test_bad_arguments():
    model = gauss(2, 3, 1)
    with pytest.raises(TypeError, match="model must be a Model"):
        identifiability(sm.mlp(2, 3, 1))
    with pytest.raises(ValueError, match="theta must have length 13"):
        identifiability(model, np.zeros(4))
    with pytest.raises(ValueError, match="rtol"):
        identifiability(model, rtol=2.0)
    with pytest.raises(ValueError, match="tol"):
        is_reducible(model.architecture, np.zeros(13), tol=-1)


# ------------------------------------------------ reducibility (Sussmann)
def base_theta():
    return np.array([1.5, -1.0, -0.5, 2.0, 1.0, 1.0, 0.5, -0.5, 0.0, 2.0, -1.5, 1.0, 0.3])


def test_zero_output_weight_drops_rank_and_reduces_to_221():
    model = gauss(2, 3, 1)
    arch = model.architecture
    theta = base_theta()
    assert not is_reducible(arch, theta)
    theta[10] = 0.0                       # unit h1_2 no longer reaches the output
    assert is_reducible(arch, theta)
    rep = identifiability(model, theta, rng=0)
    assert rep.fisher_rank == 10          # Fukumizu: its 3 incoming parameters are free
    assert set(np.flatnonzero(np.abs(rep.null_space).sum(1) > 0)) == {2, 3, 7}
    small, t = reduce(arch, theta)
    assert small.widths == (2, 2, 1) and small.n_params == 9 and repr(small).startswith("mlp(")
    assert same_function(arch, theta, small, t, 2)
    small_model = sm.Model(small, sm.Gaussian(sigma=1.0))
    assert identifiability(small_model, t, rng=0).fisher_rank == 9   # irreducible: nonsingular


@pytest.mark.parametrize("act, sign", [("tanh", 1), ("tanh", -1), ("sigmoid", -1),
                                       ("erf", -1), ("relu", 1)])
def test_equal_or_opposite_units_merge(act, sign):
    arch = sm.mlp(2, 3, 1, activation=act)
    theta = base_theta()
    theta[[2, 3, 7]] = sign * theta[[0, 1, 6]]     # h1_2 = ±(incoming of h1_1)
    assert is_reducible(arch, theta)
    small, t = reduce(arch, theta)
    assert small.widths == (2, 2, 1)
    assert same_function(arch, theta, small, t, 2)


def test_relu_positively_proportional_units_merge_but_negative_do_not():
    arch = sm.mlp(2, 3, 1, activation="relu")
    theta = base_theta()
    theta[[2, 3, 7]] = 2.5 * theta[[0, 1, 6]]
    small, t = reduce(arch, theta)
    assert small.widths == (2, 2, 1) and same_function(arch, theta, small, t, 2)
    theta[[2, 3, 7]] = -theta[[0, 1, 6]]     # relu is not odd: no merge
    assert not is_reducible(arch, theta)
    assert reduce(arch, theta)[0].n_params == 13


def test_zero_incoming_unit_folds_into_output_bias():
    arch = sm.mlp(2, 3, 1, activation="tanh")
    theta = base_theta()
    theta[[4, 5]] = 0.0                      # h1_3 = tanh(b1_3) is a constant
    theta[8] = 0.7
    small, t = reduce(arch, theta)
    assert small.widths == (2, 2, 1) and same_function(arch, theta, small, t, 2)
    assert t[-1] == pytest.approx(0.3 + 1.0 * math.tanh(0.7))


def test_reduce_deep_network_to_a_fixed_point():
    arch = sm.mlp(2, 3, 2, 1, activation="tanh")
    theta = np.random.default_rng(3).standard_normal(arch.n_params)
    (W1, b1), (W2, b2), (W3, b3) = arch.unflatten(theta)
    W1[1], b1[1] = -W1[0], -b1[0]            # layer-1 units 1 and 2 opposite
    W3[0, 1] = 0.0                           # layer-2 unit 2 dead
    theta = arch.flatten([(W1, b1), (W2, b2), (W3, b3)])
    small, t = reduce(arch, theta)
    assert small.widths == (2, 2, 1, 1)
    assert same_function(arch, theta, small, t, 2)
    assert not is_reducible(small, t)


def test_reduce_model_passes_family_parameters_through():
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    theta = np.concatenate([base_theta(), [-0.4]])
    theta[10] = 0.0
    small_model, t = reduce(model, theta)
    assert isinstance(small_model, sm.Model) and small_model.family == model.family
    assert t.shape == (10,) and t[-1] == -0.4


def test_reduce_graph_architecture_keeps_names():
    G = nx.DiGraph()
    G.add_node("x", role="input")
    for h in "abc":
        G.add_node(h, role="hidden")
    G.add_node("y", role="output")
    G.add_edges_from([("x", "a"), ("x", "b"), ("x", "c"), ("a", "y"), ("b", "y"), ("c", "y"),
                      ("x", "y")])
    arch = sm.Architecture.from_graph(G)
    theta = np.random.default_rng(0).standard_normal(arch.n_params)
    theta[arch.edge_index[("x", "b")]] = theta[arch.edge_index[("x", "a")]]
    theta[arch.bias_index["b"]] = theta[arch.bias_index["a"]]
    small, t = reduce(arch, theta)
    assert small.hidden_nodes == ("a", "c") and "w_x_y" in small.param_names
    assert same_function(arch, theta, small, t, 1)


@given(widths=hst.sampled_from([(1, 3, 1), (2, 3, 1), (2, 2, 2, 1), (1, 4, 2)]),
       act=hst.sampled_from(["tanh", "sigmoid", "relu", "identity", "softplus"]),
       seed=hst.integers(0, 10_000),
       plants=hst.lists(hst.sampled_from(["dead", "const", "copy", "flip"]), max_size=3))
def test_reduce_never_changes_the_function_nor_adds_parameters(widths, act, seed, plants):
    arch = sm.mlp(*widths, activation=act)
    rng = np.random.default_rng(seed)
    layers = arch.unflatten(rng.standard_normal(arch.n_params))
    for p in plants:                     # plant reducibility in a random hidden layer
        k = int(rng.integers(0, len(layers) - 1))
        (W, b), (Wn, bn) = layers[k], layers[k + 1]
        i, j = rng.choice(W.shape[0], size=2, replace=W.shape[0] < 2)
        if p == "dead":
            Wn[:, i] = 0.0
        elif p == "const":
            W[i] = 0.0
        elif p == "copy":
            W[j], b[j] = W[i], b[i]
        else:
            W[j], b[j] = -W[i], -b[i]
    theta = arch.flatten(layers)
    small, t = reduce(arch, theta)
    assert small.n_params <= arch.n_params and t.shape == (small.n_params,)
    assert same_function(arch, theta, small, t, widths[0], seed)
    small2, t2 = reduce(small, t)            # a fixed point
    assert small2.n_params == small.n_params


# ---------------------------------------------------------------- exact rank
@pytest.mark.parametrize("act, widths", [("tanh", (1, 2, 1)), ("sigmoid", (1, 2, 1)),
                                         ("relu", (2, 3, 1)), ("identity", (2, 2, 1))])
def test_exact_rank_equals_numerical_rank_generic(act, widths):
    rep = identifiability(gauss(*widths, act=act), rng=2, exact=True)
    assert rep.exact_rank == rep.fisher_rank
    assert "exact" in rep.exact_note or "rational arithmetic" in rep.exact_note


def test_exact_rank_at_a_reducible_rational_point():
    model = gauss(1, 2, 1)
    theta = np.array([1.5, -0.5, 0.25, 0.75, 0.0, 2.0, 0.5])  # h1_1 dead, multiples of 1/16
    rep = identifiability(model, theta, rng=0, exact=True)
    assert rep.fisher_rank == 5 and rep.exact_rank == 5 and rep.exact_note.startswith("at θ,")
    theta = np.array([1.5, -1.5, 0.25, -0.25, 1.0, 2.0, 0.5])  # opposite tanh units
    rep = identifiability(model, theta, rng=0, exact=True)
    assert rep.exact_rank == rep.fisher_rank == 4   # effectively 1-1-1: w, b, v1 - v2, c


def test_exact_rank_refuses_softplus():
    with pytest.raises(ValueError, match="exact=True"):
        identifiability(gauss(1, 2, 1, act="softplus"), rng=0, exact=True)


# ---------------------------------------------------------------- regularity
def test_regularity_reasons_per_model():
    relu = regularity(gauss(2, 3, 1, act="relu"), rng=0)
    assert relu["differentiability"].verdict == "fails" and "kink" in relu["differentiability"].reason
    assert relu["identifiability"].verdict == "fails" and "rescaling" in relu["identifiability"].reason
    ident = regularity(gauss(2, 3, 1, act="identity"), rng=0)
    assert ident["identifiability"].verdict == "fails" and "GL(n)" in ident["identifiability"].reason
    bern = regularity(sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli()), rng=0)
    assert bern["identifiability"].verdict == "modulo symmetry"
    assert "48" in bern["identifiability"].reason
    assert "separable" in bern["compact parameter space"].reason
    assert bern["differentiability"].verdict == "holds"
    glm = regularity(sm.Model(sm.mlp(3, 1), sm.Poisson()), rng=0)
    assert glm["identifiability"].verdict == "conditional"
    assert [c.name for c in glm] == ["identifiability", "differentiability", "smoothness",
                                    "regularity of support", "finite Fisher information",
                                    "compact parameter space"]
    text = str(bern).splitlines()
    assert text[1].split() == ["condition", "verdict", "reason"] and len(text) == 9
    reducible = regularity(gauss(2, 3, 1), np.where(np.arange(13) == 10, 0.0, base_theta()))
    assert reducible["identifiability"].verdict == "fails"
    assert "zero outgoing" in reducible["identifiability"].reason


# ---------------------------------------------------------------- profiles
def test_profiles_are_re_exported_from_fitting():
    # profile likelihood is inference on a fit: it lives in symmle.fitting (tests in test_fitting)
    import symmle.fitting as fitting

    assert profile is fitting.profile and profile_conf_int is fitting.profile_conf_int
    assert sm.Profile is fitting.Profile


# ---------------------------------------------------------------- optima
def test_48_permuted_copies_are_one_optimum_and_distinct_points_are_two():
    arch = sm.mlp(2, 3, 1, activation="tanh")
    theta = base_theta()
    copies = np.array([g(theta) for g in sm.symmetry_group(arch).elements()])
    assert len({tuple(np.round(c, 12)) for c in copies}) == 48
    cl = cluster_optima(copies, arch)
    assert cl.n_clusters == 1 and cl.counts.tolist() == [48]
    other = theta.copy()
    other[0] += 0.5
    both = np.vstack([copies[:5], other, copies[5:10]])
    cl = cluster_optima(both, arch, logliks=[0.0] * 5 + [1.0] + [0.0] * 5)
    assert cl.n_clusters == 2 and sorted(cl.counts.tolist()) == [1, 10]
    assert cl.labels[5] == 0 and np.array_equal(cl.representatives[0], other)   # best first
    assert "2 distinct local optima" in str(cl)


def test_cluster_optima_of_a_multistart_fit():
    model = sm.Model(sm.mlp(1, 2, 1), sm.Gaussian())
    theta = np.array([2.0, -1.5, 0.5, 0.3, 1.0, -1.2, 0.1, np.log(0.2)])
    X, y = model.simulate(theta, n=300, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.fit(model, X, y, n_starts=6, rng=1)
    cl = cluster_optima(res)
    assert cl.counts.sum() == 6 and cl.logliks[0] == pytest.approx(res.loglik)
    # starts in the same cluster have the same log-likelihood (they are the same point)
    lls = np.array([s.loglik for s in res.starts])
    for c in range(cl.n_clusters):
        members = lls[cl.labels == c]
        assert np.ptp(members) < 1e-5 * max(1.0, abs(members[0]))


# ---------------------------------------------------------------- certified verdicts (issue 16)
def test_verdicts_are_certified_and_printed():
    rep = identifiability(gauss(2, 3, 1), rng=0)
    assert (rep.verdict, rep.certified_rank, rep.locally_identifiable) == ("identifiable",
                                                                           (13, 13), True)
    assert "interval arithmetic" in rep.certificate and np.isfinite(rep.condition_number)
    assert "certificate                rank 13; nonsingular, certified" in str(rep)
    relu = identifiability(gauss(2, 3, 1, act="relu"), rng=1)
    assert (relu.verdict, relu.certified_rank, relu.unexplained_dim) == ("not identifiable",
                                                                         (10, 10), 0)
    assert "over ℚ" in relu.certificate
    dead = identifiability(gauss(2, 3, 1), np.where(np.arange(13) == 10, 0.0, base_theta()))
    assert dead.verdict == "not identifiable" and dead.certified_rank == (10, 10)
    assert "zero outgoing weights: its 3 incoming parameters are free" in dead.certificate


def test_report_refuses_a_verdict_that_contradicts_locally_identifiable():
    import dataclasses

    rep = identifiability(gauss(1, 2, 1), rng=0)
    with pytest.raises(ValueError, match="locally_identifiable must be True"):
        dataclasses.replace(rep, locally_identifiable=False)
    with pytest.raises(ValueError, match="verdict must be one of"):
        dataclasses.replace(rep, verdict="maybe")


def test_reported_reductions_are_the_ones_reduce_applies():
    arch = sm.mlp(2, 2, 1, activation="sigmoid", bias=False)
    theta = np.array([1.0, 2.0, -1.0, -2.0, 0.5, 0.7])
    rep = identifiability(sm.Model(arch, sm.Gaussian(sigma=1.0)), theta, rng=0)
    assert rep.reducible == () and not is_reducible(arch, theta)
    assert reduce(arch, theta)[0].n_params == 6
