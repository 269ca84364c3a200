"""The hypothesis strategies: eager validation, and draws that respect their options."""

import numpy as np
import pytest
from hypothesis import given, strategies as hst

import symmle as sm
from symmle.strategies import architectures, graph_architectures, group_elements, inputs, params
from symmle.symmetry import symmetry_group


@pytest.mark.parametrize("make,match", [
    (lambda: architectures(min_width=3, max_width=2), "min_width"),
    (lambda: architectures(max_inputs=0), "max_inputs"),
    (lambda: architectures(activations=["tanh", "nope"]), "unknown activation"),
    (lambda: architectures(activations="tanh"), "sequence"),
    (lambda: architectures(bias="yes"), "bias"),
    (lambda: graph_architectures(max_hidden=-1), "max_hidden"),
    (lambda: params(sm.mlp(2, 1), min_value=np.inf), "min_value"),
    (lambda: params("2-1"), "Architecture"),
    (lambda: inputs(sm.mlp(2, 1), 2.5), "n must be"),
    (lambda: group_elements(3), "Architecture"),
])
def test_options_are_validated_when_built(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()   # no draw happens: the error comes from building the strategy


@given(architectures(min_inputs=2, max_inputs=3, min_hidden_layers=1, max_hidden_layers=2,
                     min_width=2, max_width=3, max_outputs=2, activations=["relu", "erf"],
                     bias=False))
def test_architectures_respect_options(arch):
    w = arch.widths
    assert 2 <= w[0] <= 3 and 1 <= w[-1] <= 2 and 1 <= len(w) - 2 <= 2
    assert all(2 <= x <= 3 for x in w[1:-1])
    acts = {arch.graph.nodes[v]["activation"] for v in arch.hidden_nodes}
    assert len(acts) == 1 and acts <= {"relu", "erf"}
    assert arch.bias_index == {}


@given(graph_architectures(max_inputs=2, max_hidden=4, max_outputs=2, activations=["tanh"],
                           max_twins=2))
def test_graph_architectures_are_valid_dags(arch):
    assert 1 <= arch.n_inputs <= 2 and 1 <= arch.n_outputs <= 2
    assert len(arch.hidden_nodes) <= 4 + 2
    # rebuilding from the graph validates it again (DAG, reachability, roles)
    again = sm.Architecture.from_graph(arch.graph.copy())
    assert again.n_params == arch.n_params


@given(data=hst.data())
def test_params_inputs_shapes_and_bounds(data):
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    theta = data.draw(params(model, min_value=-0.5, max_value=0.25))
    assert theta.shape == (14,) and np.all((theta >= -0.5) & (theta <= 0.25))
    gen = data.draw(params(model.architecture, generic=True))
    assert gen.shape == (13,) and len(np.unique(gen)) == 13 and np.all(gen != 0)
    X = data.draw(inputs(model.architecture, 4, min_value=0.0, max_value=1.0))
    assert X.shape == (4, 2) and np.all((X >= 0) & (X <= 1))


@given(g=group_elements(sm.mlp(2, 3, 1, activation="sigmoid")))
def test_group_elements_are_members(g):
    G = symmetry_group(g.architecture)
    assert g in set(G.elements())
