"""An architecture's graph as a JSON-ready dict, and back (``Architecture.to_dict``/``from_dict``)."""

from __future__ import annotations

import networkx as nx

from ..errors import PersistenceError, SymmleTypeError

__all__ = ["graph_to_dict", "graph_from_dict", "node_list"]

#: The node attributes a saved architecture keeps (``layer`` is recomputed on loading).
_SAVED_NODE_ATTRS = ("role", "activation", "bias", "bias_name")


def graph_to_dict(graph: nx.DiGraph) -> dict:
    """``{"nodes": [[name, attrs], ...], "edges": [[u, v, name], ...]}`` (str or int node names)."""
    nodes = node_list(graph.nodes)
    edges = [[u, v, d["name"]] for u, v, d in graph.edges(data=True)]
    return {"nodes": nodes, "edges": edges}


def node_list(node_data) -> list:
    """``[[name, attrs], ...]`` of `graph_to_dict` from ``{node: attributes}`` (``graph.nodes``)."""
    nodes = []
    for v, d in node_data.items():
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            raise SymmleTypeError(f"node {v!r}: only str or int node names can be saved to JSON")
        attrs = {k: d[k] for k in _SAVED_NODE_ATTRS if k in d}
        nodes.append([v, attrs])
    return nodes


def graph_from_dict(data) -> nx.DiGraph:
    """The (not yet validated) graph that `graph_to_dict` described, or a `PersistenceError`."""
    if not isinstance(data, dict):
        raise PersistenceError(f"architecture: expected a dict {{'nodes': ..., 'edges': ...}}, "
                               f"got {type(data).__name__}")
    try:
        G = nx.DiGraph()
        for v, attrs in data["nodes"]:
            if not isinstance(v, (str, int)) or isinstance(v, bool) or not isinstance(attrs, dict):
                raise TypeError
            G.add_node(v, **{k: attrs[k] for k in _SAVED_NODE_ATTRS if k in attrs})
        for u, v, name in data["edges"]:
            if u not in G or v not in G or not isinstance(name, str):
                raise TypeError
            G.add_edge(u, v, name=name)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):  # any shape but ours
        raise PersistenceError("architecture: expected {'nodes': [[name, attrs], ...], "
                               "'edges': [[u, v, name], ...]}") from None
    return G
