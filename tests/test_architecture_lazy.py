"""`mlp` holds its layers as arrays and builds its graph, names and symbols on first use.

The reference is the eager construction `mlp` had before (issue 19 §4), written out here: the
same networkx graph, built edge by edge and validated by `Architecture.from_graph`. For random
widths, activations and bias flags, the lazily built graph equals that graph (nodes, edges,
attributes and their order, adjacency order) and every public property agrees.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import threading

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm
from symmle.activations import activation_names, get_activation


def eager_mlp(*widths, activation="tanh", output_activation="identity", bias=True):
    """The graph `mlp` built before it held arrays (commit b2485d1), validated as a graph."""
    G = nx.DiGraph()
    n_layers = len(widths) - 1
    names = [[f"x{i + 1}" for i in range(widths[0])]]
    for layer in range(1, n_layers):
        names.append([f"h{layer}_{j + 1}" for j in range(widths[layer])])
    names.append(["y"] if widths[-1] == 1 else [f"y{k + 1}" for k in range(widths[-1])])
    for v in names[0]:
        G.add_node(v, role="input")
    for layer in range(1, n_layers + 1):
        role = "output" if layer == n_layers else "hidden"
        act = output_activation if role == "output" else activation
        for j, v in enumerate(names[layer]):
            G.add_node(v, role=role, activation=act, bias=bias, bias_name=f"b{layer}_{j + 1}")
            for k, u in enumerate(names[layer - 1]):
                G.add_edge(u, v, name=f"W{layer}_{j + 1}_{k + 1}")
    return sm.Architecture.from_graph(G)


def graph_record(g: nx.DiGraph):
    """Everything a graph holds, in its order: nodes and attributes (with their key order),
    edges and attributes, successor and predecessor order, graph attributes, frozenness."""
    return (
        [(v, list(d.items())) for v, d in g.nodes(data=True)],
        [(u, v, list(d.items())) for u, v, d in g.edges(data=True)],
        [(v, list(g.succ[v]), list(g.pred[v])) for v in g],
        dict(g.graph), nx.is_frozen(g), type(g),
    )


def assert_same(lazy, eager, rng):
    assert graph_record(lazy.graph) == graph_record(eager.graph)
    for name in ("input_nodes", "output_nodes", "hidden_nodes", "n_params", "n_inputs",
                 "n_outputs", "widths", "param_names", "params", "inputs", "edge_index",
                 "bias_index", "latex_names", "unit_expressions"):
        assert getattr(lazy, name) == getattr(eager, name), name
    assert lazy.output == eager.output
    assert [type(s) for s in lazy.params] == [type(s) for s in eager.params]
    assert repr(lazy) == repr(eager)
    assert lazy.to_dict() == eager.to_dict()
    for labels in (None, True, False):
        assert lazy.to_mermaid(labels=labels) == eager.to_mermaid(labels=labels)
    assert lazy.to_svg() == eager.to_svg()
    assert lazy._repr_html_() == eager._repr_html_()
    assert len(lazy.layers) == len(eager.layers)
    for La, Lb in zip(lazy.layers, eager.layers):
        for field in dataclasses.fields(La):
            a, b = getattr(La, field.name), getattr(Lb, field.name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b), field.name
            else:
                assert a == b, field.name
    for v in lazy.graph:
        if lazy.graph.nodes[v]["role"] == "input":
            with pytest.raises(sm.ArchitectureError, match="is an input"):
                lazy.activation_of(v)
        else:
            assert lazy.activation_of(v) == eager.activation_of(v)
    theta = rng.standard_normal(lazy.n_params)
    X = rng.standard_normal((7, lazy.n_inputs))
    assert all(np.array_equal(Wa, Wb) and np.array_equal(ba, bb) for (Wa, ba), (Wb, bb)
               in zip(lazy.unflatten(theta), eager.unflatten(theta)))
    assert np.array_equal(lazy.flatten(eager.unflatten(theta)), theta)
    assert np.array_equal(lazy.forward(theta, X), eager.forward(theta, X))


activations = st.sampled_from(activation_names())


@given(widths=st.lists(st.integers(1, 4), min_size=2, max_size=5), activation=activations,
       output_activation=activations, bias=st.booleans(), seed=st.integers(0, 2 ** 32 - 1))
def test_the_lazy_graph_and_every_property_equal_the_eager_ones(widths, activation,
                                                                output_activation, bias, seed):
    kw = dict(activation=activation, output_activation=output_activation, bias=bias)
    lazy, eager = sm.mlp(*widths, **kw), eager_mlp(*widths, **kw)
    # construction, the symmetry group, a model's parameters and the JSON build no graph
    rng = np.random.default_rng(seed)
    G_lazy = sm.symmetry_group(lazy)
    model = sm.Model(lazy, sm.Gaussian())
    assert model.n_params == lazy.n_params + 1
    model.random_params(rng)
    description = lazy.to_dict()
    assert repr(lazy).startswith("mlp(")
    assert not {"graph", "param_names", "params"} & set(vars(lazy))
    G_eager = sm.symmetry_group(eager)
    assert G_lazy.order == G_eager.order
    theta = rng.standard_normal(lazy.n_params)
    assert np.array_equal(sm.canonicalize(lazy, theta), sm.canonicalize(eager, theta))
    assert description == eager.to_dict()
    assert_same(lazy, eager, rng)
    assert sm.Model(lazy, sm.Gaussian()).param_names == sm.Model(eager, sm.Gaussian()).param_names


@pytest.mark.parametrize("widths, kw", [((2, 3, 1), {}), ((3, 2), {"bias": False}),
                                        ((1, 2, 2, 3), {"activation": "relu"}),
                                        ((2, 1, 1), {"activation": "sigmoid", "bias": False,
                                                     "output_activation": "tanh"})])
def test_json_of_an_mlp_gives_an_mlp_whose_graph_waits(widths, kw):
    eager = eager_mlp(*widths, **kw)
    data = json.loads(json.dumps(sm.mlp(*widths, **kw).to_dict()))
    back = sm.Architecture.from_dict(data)
    assert "graph" not in vars(back)
    assert_same(back, eager, np.random.default_rng(0))
    assert sm.Architecture.from_dict(eager.to_dict()).to_dict() == data


def test_json_that_is_not_exactly_an_mlp_is_read_as_a_graph():
    data = sm.mlp(2, 3, 1).to_dict()
    renamed = json.loads(json.dumps(data))
    renamed["edges"][4][2] = "w_special"
    assert sm.Architecture.from_dict(renamed).param_names[3] == "w_special"   # x2 -> h1_2
    mixed = json.loads(json.dumps(data))
    mixed["nodes"][3][1]["activation"] = "relu"     # h1_2 only
    arch = sm.Architecture.from_dict(mixed)
    assert [arch.activation_of(v).name for v in arch.hidden_nodes] == ["tanh", "relu", "tanh"]
    assert repr(arch) == "mlp(2, 3, 1)"
    missing = json.loads(json.dumps(data))
    del missing["edges"][0]
    arch = sm.Architecture.from_dict(missing)
    assert arch.n_params == 12 and arch.widths is None
    unknown = json.loads(json.dumps(data))
    for node in unknown["nodes"][2:5]:
        node[1]["activation"] = "no_such_activation"
    with pytest.raises(sm.ArchitectureError, match="node 'h1_1'"):
        sm.Architecture.from_dict(unknown)
    with pytest.raises(sm.PersistenceError):
        sm.Architecture.from_dict({"nodes": "x1", "edges": []})


def test_a_bad_bias_or_a_foreign_activation_is_refused_as_the_graph_was():
    impostor = dataclasses.replace(get_activation("tanh"), positively_homogeneous=True)
    for kw in ({"bias": 1}, {"bias": None}, {"activation": impostor},
               {"output_activation": impostor}):
        with pytest.raises(sm.ArchitectureError) as lazy:
            sm.mlp(2, 3, 1, **kw)
        with pytest.raises(sm.ArchitectureError) as eager:
            eager_mlp(2, 3, 1, **kw)
        assert str(lazy.value) == str(eager.value)
    with pytest.raises(sm.ArchitectureError) as lazy:
        sm.mlp(2, 1, output_activation=impostor)
    assert "node 'y'" in str(lazy.value)
    assert sm.mlp(2, 1, bias=np.bool_(False)).n_params == 2


def test_a_large_mlp_is_built_and_its_group_found_without_graph_or_symbols():
    arch = sm.mlp(784, 1000, 1000, 10)
    assert arch.n_params == 784 * 1000 + 1000 + 1000 * 1000 + 1000 + 1000 * 10 + 10
    assert arch.n_params <= sm.architecture.MAX_PARAMS
    G = sm.symmetry_group(arch)
    # two tanh layers of 1000 units: (2^1000 · 1000!)² (Chen, Lu & Hecht-Nielsen 1993)
    assert G.order == (2 ** 1000 * math.factorial(1000)) ** 2
    model = sm.Model(arch, sm.Categorical())
    theta = model.random_params(0)
    assert theta.shape == (arch.n_params,)
    assert repr(model) == "Model(mlp(784, 1000, 1000, 10, activation='tanh'), Categorical())"
    assert not {"graph", "param_names", "params", "edge_index"} & set(vars(arch))


def test_the_graph_is_built_once_for_all_threads_and_survives_pickling():
    arch = sm.mlp(30, 40, 2)
    barrier = threading.Barrier(4)
    seen = []

    def read():
        barrier.wait()
        seen.append(arch.graph)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and all(g is arch.graph for g in seen)
    rng = np.random.default_rng(1)
    for arch in (sm.mlp(2, 3, 2), arch):   # graph not yet built, and built
        back = pickle.loads(pickle.dumps(arch))
        assert_same(back, eager_mlp(*arch.widths), rng)
        assert sm.Architecture(back).graph is back.graph


def test_an_architecture_of_an_architecture_shares_its_arrays():
    arch = sm.mlp(3, 2, 1)
    copy = sm.Architecture(arch)
    assert "graph" not in vars(copy) and copy.widths == (3, 2, 1)
    assert graph_record(copy.graph) == graph_record(arch.graph)
    assert sm.Architecture(arch).graph is arch.graph      # once built, the same graph


@given(widths=st.lists(st.integers(1, 4), min_size=2, max_size=4), bias=st.booleans())
def test_the_name_check_of_a_model_agrees_with_the_names_it_does_not_build(widths, bias):
    arch = sm.mlp(*widths, bias=bias)
    names = set(eager_mlp(*widths, bias=bias).param_names)
    L = len(widths) - 1
    probes = set(names) | {"y", "y1", "log_sigma", "W0_1_1", "b0_1", f"W{L + 1}_1_1",
                           f"b{L + 1}_1", "W1_01_1", "b1_1 ", 7, None}
    for layer in range(1, L + 1):
        S, U = widths[layer - 1], widths[layer]
        probes |= {f"W{layer}_{U + 1}_1", f"W{layer}_1_{S + 1}", f"b{layer}_{U + 1}",
                   f"W{layer}_{U}_{S}", f"b{layer}_{U}"}
    for name in probes:
        assert arch._has_param_name(name) == (name in names), name
    assert "param_names" not in vars(arch)
