"""Validation of a network graph: roles, activations, biases, names, acyclicity, layers.

`normalise_graph` turns any `networkx.DiGraph` a user gives into the frozen, attribute-complete
graph an `~symmle.architecture.Architecture` wraps, or refuses it with an `ArchitectureError`
that names the node.
"""

from __future__ import annotations

import re

import networkx as nx
import numpy as np

from ..activations import Activation, activation_names, get_activation
from ..errors import ArchitectureError, SymmleTypeError

__all__ = ["ROLES", "NORMALISED_FLAG", "MAX_PARAMS", "normalise_graph", "safe_name", "input_name",
           "check_size"]

#: The most parameters (weights and biases) a network may have. `mlp` holds its layers as
#: arrays and builds one of this size in well under a second, but its parameter names, sympy
#: symbols and networkx graph, built on first use, take some ten seconds and a gigabyte per
#: million parameters; two million (a little above ``mlp(784, 1000, 1000, 10)``) keeps that
#: first use from looking like a hang (issue 17 §6).
MAX_PARAMS = 2_000_000

#: The node roles of a network graph.
ROLES = ("input", "hidden", "output")

#: A valid identifier (parameter and mermaid node names).
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: The graph attribute that marks a graph `normalise_graph` produced (so it is not redone).
NORMALISED_FLAG = "symmle_normalised"


def safe_name(label) -> str:
    """``label`` as an identifier: other characters become ``_``, a leading digit gets ``n_``."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(label))
    return s if _NAME_RE.match(s) else f"n_{s}"


def normalise_graph(G) -> nx.DiGraph:
    """A frozen copy of ``G`` with normalised node and edge attributes, or an `ArchitectureError`.

    Every node gets ``role`` and ``layer`` (the longest path from an input); hidden and output
    nodes ``activation``, ``bias`` and (biased ones) ``bias_name``; every edge ``name``. A graph
    this function returned before is returned as it is.
    """
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise SymmleTypeError(f"graph must be a networkx.DiGraph, got {type(G).__name__}")
    if nx.is_frozen(G) and G.graph.get(NORMALISED_FLAG):
        return G
    check_size(G.number_of_edges() + G.number_of_nodes())
    g = nx.DiGraph()
    for v, d in G.nodes(data=True):
        g.add_node(v, **_node_attributes(v, d))
    edges = []
    for u, v, d in G.edges(data=True):
        name = d.get("name")
        if name is None:
            name = f"w_{safe_name(u)}_{safe_name(v)}"
        elif not isinstance(name, str) or not name:
            raise ArchitectureError(f"edge {u!r} -> {v!r}: name must be a non-empty str")
        edges.append((u, v, {"name": name}))
    g.add_edges_from(edges)
    _check_structure(g)
    for v in nx.topological_sort(g):
        preds = list(g.predecessors(v))
        g.nodes[v]["layer"] = 0 if not preds else 1 + max(g.nodes[u]["layer"] for u in preds)
    g.graph[NORMALISED_FLAG] = True
    return nx.freeze(g)


def check_size(n_params: int) -> None:
    """Refuse a network of more than `MAX_PARAMS` parameters (an upper bound ``n_params``)."""
    if n_params > MAX_PARAMS:
        raise ArchitectureError(
            f"the network would have about {n_params} parameters, more than the {MAX_PARAMS} "
            f"symmle builds (MAX_PARAMS): every parameter can become a sympy symbol")


def _node_attributes(v, d: dict) -> dict:
    role = d.get("role")
    if role not in ROLES:
        raise ArchitectureError(f"node {v!r}: role must be one of {ROLES}, got {role!r}")
    attrs = {"role": role}
    if role == "input":
        return attrs
    act = d.get("activation", "tanh" if role == "hidden" else "identity")
    if isinstance(act, Activation):
        # the graph stores registry names (they are what JSON saves): an Activation object must be
        # the registry's own entry, or the network would silently use another function
        known = act.name in activation_names() and get_activation(act.name) == act
        if not known:
            raise ArchitectureError(
                f"node {v!r}: activation {act.name!r} is not the registry's entry of that name; "
                f"give a registry name instead (known: {', '.join(activation_names())})")
    try:
        get_activation(act, argument=f"node {v!r}: activation")
    except SymmleTypeError:
        raise
    except ValueError as exc:
        raise ArchitectureError(f"node {v!r}: {exc}") from None
    bias = d.get("bias", True)
    if not isinstance(bias, (bool, np.bool_)):
        raise ArchitectureError(f"node {v!r}: bias must be True or False, got {bias!r}")
    attrs["activation"] = act if isinstance(act, str) else act.name
    attrs["bias"] = bool(bias)
    if bias:
        bn = d.get("bias_name") or f"b_{safe_name(v)}"
        if not isinstance(bn, str) or not bn:
            raise ArchitectureError(f"node {v!r}: bias_name must be a non-empty str")
        attrs["bias_name"] = bn
    return attrs


def _check_structure(g: nx.DiGraph) -> None:
    """Refuse an empty or cyclic graph, misplaced inputs/outputs, dead hidden units, name clashes."""
    if g.number_of_nodes() == 0:
        raise ArchitectureError("graph is empty: expected input, hidden and output nodes")
    cycle = None
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
    if cycle:
        raise ArchitectureError(f"graph has a cycle through node {cycle[0][0]!r}: expected a DAG")
    roles = nx.get_node_attributes(g, "role")
    inputs = [v for v in g if roles[v] == "input"]
    outputs = [v for v in g if roles[v] == "output"]
    if not inputs:
        raise ArchitectureError("graph has no node with role 'input'")
    if not outputs:
        raise ArchitectureError("graph has no node with role 'output'")
    for v in inputs:
        if g.in_degree(v):
            raise ArchitectureError(f"input node {v!r} has incoming edges; inputs must be sources")
    for v in outputs:
        if g.out_degree(v):
            raise ArchitectureError(f"output node {v!r} has outgoing edges; outputs must be sinks")
    from_input = {v for layer in nx.bfs_layers(g, inputs) for v in layer}
    to_output = {v for layer in nx.bfs_layers(g.reverse(copy=False), outputs) for v in layer}
    for v in g:
        if roles[v] == "hidden" and v not in from_input:
            raise ArchitectureError(f"hidden node {v!r} is not reached from any input")
        if roles[v] == "hidden" and v not in to_output:
            raise ArchitectureError(f"hidden node {v!r} reaches no output")
        if roles[v] == "output" and v not in from_input:
            raise ArchitectureError(f"output node {v!r} is not reached from any input; connect "
                                    f"it (an output must depend on x)")
    names = [d["name"] for _, _, d in g.edges(data=True)] + [
        d["bias_name"] for _, d in g.nodes(data=True) if d.get("bias")]
    inputs_named = {input_name(i): v for i, v in enumerate(inputs)}
    seen = set()
    for n in names:
        if n in seen:
            raise ArchitectureError(f"parameter name {n!r} is used twice; names must be unique")
        if n in inputs_named:
            # sympy symbols are equal by name: the weight would *be* the input in every formula
            raise ArchitectureError(
                f"parameter name {n!r} is the symbol of input {inputs_named[n]!r}; rename the "
                f"edge (name=...) or the bias (bias_name=...)")
        seen.add(n)


def input_name(i: int) -> str:
    """The symbol name of the i-th input (0-based): ``x1, x2, …``."""
    return f"x{i + 1}"
