"""Issue 17: the classes of violations the fuzz suite (tests/fuzz) found in architecture,
model, activations, display, symmetry, strategies and study, each with tests of its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

import symmle as sm
from symmle.activations import logsumexp, relu, sigmoid, softplus
from symmle.study import StudyResult


# ------------------------------------------------------------------ θ of a Model's length
@pytest.mark.parametrize("length", [13, 15, 20])
@pytest.mark.parametrize("call", ["canonicalize", "align", "align-reference", "orbit_distance",
                                  "continuous_symmetries"])
def test_a_models_theta_must_have_the_models_length(length, call):
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    good, bad = np.zeros(14), np.zeros(length)
    calls = {
        "canonicalize": lambda: sm.canonicalize(model, bad),
        "align": lambda: sm.align(model, bad, good),
        "align-reference": lambda: sm.align(model, good, bad),
        "orbit_distance": lambda: sm.orbit_distance(model, bad, good),
        "continuous_symmetries": lambda: sm.continuous_symmetries(model, bad),
    }
    with pytest.raises(sm.ParamsError, match="length 14"):
        calls[call]()
    sm.canonicalize(model, good), sm.align(model, good, good)


def test_an_architecture_still_takes_family_parameters_after_its_own():
    arch = sm.mlp(2, 3, 1)
    assert sm.canonicalize(arch, np.arange(14.0)).shape == (14,)


# ------------------------------------------------------------------ argument checks
@pytest.mark.parametrize("v, err", [("nope", sm.ArchitectureError), ("x1", sm.ArchitectureError),
                                    ([1, 2], sm.ArchitectureError)])
def test_activation_of_refuses_what_is_not_a_unit(v, err):
    with pytest.raises(err):
        sm.mlp(2, 1).activation_of(v)


@pytest.mark.parametrize("layers", [True, "ab", [(1, 2)], [(np.ones((1, 2)), [np.nan])],
                                    [("W", "b")], [(np.ones((1, 2)), np.ones(1), 3)]])
def test_flatten_refuses_what_is_not_layers(layers):
    with pytest.raises((sm.ParamsError, sm.SymmleTypeError)):
        sm.mlp(2, 1).flatten(layers)


@pytest.mark.parametrize("kwargs, err", [
    ({"name": 3}, sm.SymmleTypeError), ({"sympy": 1}, sm.SymmleTypeError),
    ({"flip": (1, 2)}, sm.SymmleValueError), ({"flip": [0, -1]}, sm.SymmleValueError),
    ({"polynomial_degree": 0}, sm.SymmleValueError), ({"polynomial_degree": True},
                                                      sm.SymmleValueError),
    ({"linear": "yes"}, sm.SymmleTypeError), ({"affine_flip": "1"}, sm.SymmleValueError),
    ({"flip": (0, -1), "affine_flip": 1}, sm.SymmleValueError),
])
def test_activation_records_check_their_fields(kwargs, err):
    args = dict(name="mine", sympy=sp.sin, numpy=np.sin) | kwargs
    with pytest.raises(err):
        sm.Activation(**args)


def test_custom_functions_print_as_powers():
    z = sp.Symbol("z")
    assert sp.latex(sigmoid(z) ** 2) == r"\sigma^{2}\left(z\right)"
    assert sp.latex(softplus(z) ** 3) == r"\operatorname{softplus}^{3}\left(z\right)"
    assert sp.latex(relu(z) ** 2) == r"\operatorname{ReLU}^{2}\left(z\right)"
    assert sp.latex(logsumexp(z, 1) ** 2).startswith(r"\log^{2}")
    model = sm.Model(sm.mlp(1, 2, 1, activation="sigmoid"), sm.Gaussian())
    assert r"\sigma^{2}" in model.latex("fisher")


@pytest.mark.parametrize("what", [{}, ["loglik"], np.array(["a", "b"]), None])
def test_latex_and_show_refuse_a_non_string(what):
    model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    for call in (model.latex, model.show):
        with pytest.raises(sm.SymmleTypeError, match="what must be one of"):  # a wrong type
            call(what)


@pytest.mark.parametrize("scale, err", [({"a": 1}, sm.SymmleTypeError), (-1.0, sm.SymmleValueError),
                                        (np.nan, sm.SymmleValueError), ("2", sm.SymmleTypeError)])
def test_random_params_checks_its_scale(scale, err):
    with pytest.raises(err):
        sm.Model(sm.mlp(2, 1), sm.Gaussian()).random_params(0, scale=scale)


@pytest.mark.parametrize("n, err", [(True, sm.SymmleTypeError), (2.0, sm.SymmleTypeError),
                                    (0, sm.SymmleValueError), (10 ** 12, sm.SymmleValueError)])
def test_simulate_checks_n(n, err):
    with pytest.raises(err):
        sm.Model(sm.mlp(2, 1), sm.Gaussian()).simulate(np.zeros(4), n)


def test_param_transform_checks_units_flips_and_max_items():
    arch = sm.mlp(1, 2, 1)
    with pytest.raises(sm.SymmleTypeError):
        sm.ParamTransform(arch, flips=3.5)
    with pytest.raises(sm.SymmleValueError):
        sm.ParamTransform(arch, perm={(1, [2]).__repr__(): "h1_1"})
    with pytest.raises(sm.SymmleValueError):
        sm.ParamTransform(arch, flips=[["h1_1"]])
    g = sm.symmetry_group(arch).random_element(0)
    for bad in (b"x", 0.5, 0):
        with pytest.raises(sm.SymmleError):
            g.describe(bad)
    G = sm.symmetry_group(arch)
    for bad in (object(), "10", 0):
        with pytest.raises(sm.SymmleError):
            G.elements(limit=bad)
        with pytest.raises(sm.SymmleError):
            G.orbit(np.zeros(7), limit=bad)


# ------------------------------------------------------------------ bounded work
def test_networks_beyond_max_params_are_refused_before_they_are_built():
    with pytest.raises(sm.ArchitectureError, match="MAX_PARAMS"):
        sm.mlp(2000, 1000, 1)
    assert sm.architecture.MAX_PARAMS >= sm.mlp(784, 100, 10).n_params


@pytest.mark.parametrize("build", [
    lambda s: s.architectures(max_width=65), lambda s: s.architectures(max_inputs=10 ** 9),
    lambda s: s.architectures(max_hidden_layers=16, max_width=64),
    lambda s: s.graph_architectures(max_hidden=10 ** 6), lambda s: s.inputs(sm.mlp(1, 1), 1001),
    lambda s: s.params(sm.mlp(1, 1), min_value=-1e308, max_value=1e308),
    lambda s: s.params(sm.mlp(1, 1), min_value="0"), lambda s: s.params(sm.mlp(1, 1), generic=1),
])
def test_strategies_refuse_sizes_and_bounds_they_cannot_draw(build):
    import symmle.strategies as strategies

    with pytest.raises(sm.SymmleError):
        build(strategies)


# ------------------------------------------------------------------ study
@pytest.fixture(scope="module")
def study():
    model = sm.Model(sm.mlp(1, 2, 1), sm.Gaussian(sigma=0.5))
    return sm.consistency_study(model, model.random_params(1), sample_sizes=[30, 60],
                                replications=3, n_starts=1, rng=0, n_test=50, n_fisher=200)


def test_records_say_whether_the_alignment_was_proven_optimal(study):
    for rec in study.records:
        if rec["status"] == "ok":
            assert isinstance(rec["align_optimal"], bool)
            assert rec["align_lower_bound"] <= rec["aligned_error"] * (1 + 1e-12)
    assert study.alignment_optimal == 1.0   # a 2-unit group is searched exhaustively


def test_documents_from_before_the_alignment_fields_still_load(study):
    doc = json.loads(study.to_json())
    for rec in doc["records"]:
        rec.pop("align_optimal", None)
        rec.pop("align_lower_bound", None)
    old = StudyResult.from_json(json.dumps(doc))
    assert old.table == study.table or len(old.table) == len(study.table)
    assert np.isnan(old.alignment_optimal)


@pytest.mark.parametrize("value", ["yes", 1])
def test_a_malformed_alignment_field_is_refused(study, value):
    doc = json.loads(study.to_json())
    doc["records"][0]["align_optimal"] = value
    with pytest.raises(sm.PersistenceError):
        StudyResult.from_json(json.dumps(doc))


def test_a_studys_alignment_honours_its_node_budget(monkeypatch):
    import symmle.study._execution as execution

    monkeypatch.setattr(execution, "STUDY_ALIGN_MAX_NODES", 1)
    # order 2^8 · (4!)^2 = 147 456: searched by branch and bound, here with a budget of 1 node
    model = sm.Model(sm.mlp(1, 4, 4, 1, activation="sigmoid"), sm.Gaussian(sigma=1.0))
    res = sm.consistency_study(model, model.random_params(2) * 2, sample_sizes=[20],
                               replications=2, n_starts=1, rng=0, n_test=20, n_fisher=100)
    ok = [r for r in res.records if r["status"] == "ok"]
    assert ok
    for r in ok:
        assert r["align_lower_bound"] <= r["aligned_error"] * (1 + 1e-12)
        assert r["align_optimal"] or r["align_lower_bound"] < r["aligned_error"]


@pytest.mark.parametrize("crlb", [[0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [-1.0] * 7,
                                  [[1.0] * 7]])
def test_study_documents_with_impossible_variances_are_refused(study, crlb):
    doc = json.loads(study.to_json())
    doc["crlb_var"] = crlb
    with pytest.raises(sm.PersistenceError):
        StudyResult.from_json(json.dumps(doc))


@pytest.mark.parametrize("field, value", [("table", None), ("theta_true", "ab"),
                                          ("replications", 0), ("level", 2.0), ("model", [])])
def test_study_results_check_their_fields(study, field, value):
    kwargs = {f: getattr(study, f) for f in study.__dataclass_fields__}
    kwargs[field] = value
    with pytest.raises(sm.SymmleError):
        StudyResult(**kwargs)


def _branches(k):
    import networkx as nx

    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("y", role="output")
    for i in range(k):
        G.add_node(f"a{i}", role="hidden")
        G.add_node(f"b{i}", role="hidden")
        G.add_edges_from([("x", f"a{i}"), (f"a{i}", f"b{i}"), (f"b{i}", "y")])
    return sm.Architecture.from_graph(G)


def test_a_quotient_graph_too_symmetric_to_search_is_refused_quickly():
    import math

    assert sm.symmetry_group(_branches(6)).quotient_order == math.factorial(6)
    with pytest.raises(sm.SymmleValueError, match="QUOTIENT_MAX_WORK"):
        sm.symmetry_group(_branches(60))


@pytest.mark.parametrize("family", [{"name": {"a": 1}}, {"name": ["gaussian"]}, "gaussian", None])
def test_a_study_whose_family_is_malformed_is_refused(study, family):
    doc = json.loads(study.to_json())
    doc["model"]["family"] = family
    with pytest.raises(sm.PersistenceError):
        StudyResult.from_json(json.dumps(doc))


def test_paths_with_a_nul_byte_are_refused():
    from symmle.data import load_csv

    with pytest.raises(sm.PersistenceError, match="NUL"):
        StudyResult.from_json("\x00")
    with pytest.raises(sm.PersistenceError, match="NUL"):
        sm.FitResult.from_json("a\x00b")
    with pytest.raises(sm.DataError, match="NUL"):
        load_csv("a\x00")


def test_random_params_scale_stays_in_float_range():
    model = sm.Model(sm.mlp(2, 1), sm.Gaussian())
    assert np.all(np.isfinite(model.random_params(0, scale=1e300)))
    with pytest.raises(sm.SymmleValueError):
        model.random_params(0, scale=1e308)


@pytest.mark.parametrize("address", ["1", "localhost:1"])
def test_a_scheduler_that_does_not_answer_is_a_clean_error(address, monkeypatch):
    import symmle.study._execution as execution

    monkeypatch.setattr(execution, "DASK_CONNECT_TIMEOUT", 1)
    model = sm.Model(sm.mlp(1, 1), sm.Gaussian(sigma=1.0))
    with pytest.raises(sm.SymmleValueError, match="cannot connect"):
        sm.consistency_study(model, np.array([0.8, -0.3]), [20], replications=1, client=address,
                             n_test=20, n_fisher=50)
