"""No silent wrong symbol: a parameter named like an input, the response or a family parameter is
refused (sympy symbols are equal by name), and any other name gives a symbolic score equal to the
numeric one."""

import networkx as nx
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm
from symmle.strategies import graph_architectures

FAMILIES = [sm.Gaussian(), sm.Gaussian(sigma=1.0), sm.Bernoulli(), sm.Poisson()]


def _renamed(arch, k: int, name: str) -> nx.DiGraph:
    """The architecture's graph with its k-th parameter renamed to ``name``."""
    G = nx.DiGraph(arch.graph)
    G = nx.DiGraph(G)  # unfrozen copy
    target = arch.param_names[k]
    for u, v, d in G.edges(data=True):
        if d["name"] == target:
            d["name"] = name
    for v, d in G.nodes(data=True):
        if d.get("bias_name") == target:
            d["bias_name"] = name
    return G


@st.composite
def clashes(draw):
    arch = draw(graph_architectures(max_inputs=3, max_hidden=3, max_outputs=1))
    family = draw(st.sampled_from(FAMILIES))
    k = draw(st.integers(0, arch.n_params - 1))
    reserved = [f"x{i + 1}" for i in range(arch.n_inputs)] + ["y"] + list(family.extra_names)
    return arch, family, k, draw(st.sampled_from(reserved))


@given(clashes())
def test_a_parameter_named_like_another_symbol_is_refused(case):
    """Every reserved name, on every kind of parameter (edge weight or bias), through both
    `from_graph` and `from_dict`, is refused with an error that names the clash."""
    arch, family, k, name = case
    G = _renamed(arch, k, name)
    with pytest.raises(sm.ArchitectureError, match=repr(name)):
        sm.Model(sm.Architecture.from_graph(G), family)
    doc = sm.Architecture.from_graph(_renamed(arch, k, f"ok_{k}")).to_dict()
    for item in doc["edges"]:
        if item[2] == f"ok_{k}":
            item[2] = name
    for _, attrs in doc["nodes"]:
        if attrs.get("bias_name") == f"ok_{k}":
            attrs["bias_name"] = name
    with pytest.raises(ValueError, match=repr(name)):
        sm.Model(sm.Architecture.from_dict(doc), family)


@st.composite
def renamed_models(draw):
    arch = draw(graph_architectures(max_inputs=2, max_hidden=3, max_outputs=1))
    family = draw(st.sampled_from(FAMILIES))
    k = draw(st.integers(0, arch.n_params - 1))
    # names that look like other symbols but are not any of this model's
    name = draw(st.sampled_from(["x9", "y2", "sigma", "eta", "T", "pi", "E", "W1[h2, bmi]"]))
    arch = sm.Architecture.from_graph(_renamed(arch, k, name))
    return sm.Model(arch, family), draw(st.integers(0, 2 ** 32 - 1))


@given(renamed_models())
def test_symbolic_score_equals_the_compiled_score_whatever_the_names(case):
    model, seed = case
    rng = np.random.default_rng(seed)
    theta = model.random_params(rng)
    X, y = model.simulate(theta, 1, rng=rng)
    subs = dict(zip(model.params, theta))
    subs.update(zip(model.architecture.inputs, X[0]))
    subs.update(zip(model.response, np.atleast_1d(y[0])))
    symbolic = np.array([float(sp.N(e.xreplace(subs), 30)) for e in model.score])
    numeric = model.compile().score(theta, X, y)
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-9, atol=1e-12)


def test_graphs_the_contract_refuses_are_refused_up_front():
    """An output no input reaches (its bias would be dropped and compile() fail later) and an
    Activation object that is not the registry's entry of its name (it would be silently
    replaced by the registry's function, or fail only later) are refused by `from_graph`,
    naming the node."""
    G = nx.DiGraph()
    G.add_nodes_from([("a", {"role": "input"}), ("o1", {"role": "output"}),
                      ("o2", {"role": "output"})])
    G.add_edge("a", "o1")
    with pytest.raises(sm.ArchitectureError, match="'o2' is not reached from any input"):
        sm.Architecture.from_graph(G)
    fake_tanh = sm.Activation("tanh", sympy=sp.sin, numpy=np.sin)
    custom = sm.Activation("mine", sympy=sp.sin, numpy=np.sin)
    for act in (fake_tanh, custom):
        H = nx.DiGraph()
        H.add_nodes_from([("a", {"role": "input"}), ("h", {"role": "hidden", "activation": act}),
                          ("o", {"role": "output"})])
        H.add_edges_from([("a", "h"), ("h", "o")])
        with pytest.raises(sm.ArchitectureError, match=f"node 'h': activation '{act.name}'"):
            sm.Architecture.from_graph(H)
    # the registry's own entry is fine, and means the same as its name
    H.nodes["h"]["activation"] = sm.get_activation("tanh")
    assert sm.Architecture.from_graph(H).activation_of("h") is sm.get_activation("tanh")
