"""Activation names (issue 17, classes 4 and 5): a name that is not a str is a
`SymmleTypeError` (also a ``TypeError``) naming the argument and the fix, wherever a name
enters; an unknown str stays an `UnknownActivationError` (a ``ValueError``); a user-defined
`Activation` that reuses a registry name is refused, never replaced by the registry's."""

import json

import networkx as nx
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm
from symmle.errors import ArchitectureError, SymmleTypeError, UnknownActivationError
from symmle.strategies import architectures

NOT_NAMES = st.one_of(st.integers(), st.floats(allow_nan=True), st.none(), st.booleans(),
                      st.lists(st.sampled_from(sm.activation_names()), max_size=2),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                      st.binary(max_size=4), st.tuples(st.text(max_size=3)))


def _graph(activation):
    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("h", role="hidden", activation=activation)
    G.add_node("o", role="output")
    G.add_edges_from([("x", "h"), ("h", "o")])
    return G


def _refused(call, argument):
    with pytest.raises(SymmleTypeError) as info:
        call()
    assert isinstance(info.value, TypeError) and not isinstance(info.value, ValueError)
    msg = str(info.value)
    assert argument in msg and "activation name" in msg and "tanh" in msg, msg   # the fix
    return msg


@given(NOT_NAMES)
def test_a_name_that_is_not_a_str_is_a_type_error_everywhere(name):
    _refused(lambda: sm.get_activation(name), "activation")
    _refused(lambda: sm.mlp(2, 3, 1, activation=name), "activation")
    msg = _refused(lambda: sm.mlp(2, 3, 1, output_activation=name), "output_activation")
    assert msg.startswith("output_activation")
    _refused(lambda: sm.Architecture.from_graph(_graph(name)), "node 'h'")
    with pytest.raises(SymmleTypeError) as info:
        sm.Activation(name, sp.tanh, np.tanh)
    assert "Activation name must be a non-empty str" in str(info.value)


@given(NOT_NAMES)
def test_from_dict_refuses_a_name_that_is_not_a_str(name):
    """A saved mlp and a saved graph whose activation was edited into a non-str."""
    for arch in (sm.mlp(1, 2, 1), sm.Architecture.from_graph(_graph("relu"))):
        data = json.loads(json.dumps(arch.to_dict()))
        data["nodes"][1][1]["activation"] = name
        _refused(lambda: sm.Architecture.from_dict(data), "activation")


def test_strategies_refuse_a_name_that_is_not_a_str():
    _refused(lambda: architectures(activations=["tanh", 5]), "activations[1]")


def test_an_unknown_name_stays_a_value_error():
    for call in (lambda: sm.get_activation("tanhh"), lambda: sm.mlp(2, 1, activation="tanhh")):
        with pytest.raises(UnknownActivationError) as info:
            call()
        assert isinstance(info.value, ValueError) and "tanhh" in str(info.value)
    with pytest.raises(ArchitectureError, match="node 'h'.*tanhh"):
        sm.Architecture.from_graph(_graph("tanhh"))


def test_a_user_activation_with_a_registry_name_is_refused_not_replaced():
    """``Activation("tanh", sympy=sp.sin, numpy=np.sin)`` is not the registry's tanh: every
    architecture refuses it by node instead of computing tanh (or sin) silently."""
    fake = sm.Activation("tanh", sympy=sp.sin, numpy=np.sin)
    assert sm.get_activation(fake) is fake   # returned unchanged, not the registry's
    with pytest.raises(ArchitectureError, match="not the registry's entry"):
        sm.mlp(2, 3, 1, activation=fake).graph
    with pytest.raises(ArchitectureError, match="node 'h'.*not the registry's entry"):
        sm.Architecture.from_graph(_graph(fake))
    # the registry's own entry is accepted and is tanh
    arch = sm.Architecture.from_graph(_graph(sm.get_activation("tanh")))
    assert arch.graph.nodes["h"]["activation"] == "tanh"
    assert arch.output[0].has(sp.tanh) and not arch.output[0].has(sp.sin)
