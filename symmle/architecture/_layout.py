"""The structure of a fully connected layered network held as arrays: `MlpLayout`.

`~symmle.architecture.mlp` validates its arguments and returns an `Architecture` that holds an
`MlpLayout`: the layer widths, the two activation names and the bias flag. Everything the
numeric path and the symmetry code read (nodes and their attributes, the per-layer index
arrays `Layer`, the parameter count) comes from it in time proportional to the number of
units; the parameter names, the `networkx.DiGraph` and the JSON description, which grow with
the number of weights, are built only when asked for, and are exactly those of the graph
`~symmle.architecture._graph.normalise_graph` makes of the same network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..errors import ArchitectureError, SymmleTypeError
from ._graph import MAX_PARAMS, NORMALISED_FLAG, _node_attributes
from ._persist import node_list

__all__ = ["Layer", "MlpLayout", "layout_from_dict"]

#: An MLP's node names: an input ``x{i}``, a hidden unit ``h{layer}_{unit}``, an output ``y{k}``.
_NODE_RE = re.compile(r"x[1-9][0-9]*|h([1-9][0-9]*)_[1-9][0-9]*|y[1-9]?[0-9]*")

#: The name of an MLP weight ``W{layer}_{unit}_{source}`` or bias ``b{layer}_{unit}``.
_PARAM_RE = re.compile(r"W([1-9][0-9]*)_([1-9][0-9]*)_([1-9][0-9]*)|b([1-9][0-9]*)_([1-9][0-9]*)")


@dataclass(frozen=True)
class Layer:
    """Index bookkeeping of one layer: which units, which sources, which θ entries."""

    units: tuple  # nodes of this layer, in order
    sources: tuple  # nodes feeding this layer, in (layer, order) order
    rows: np.ndarray  # row (unit index) of each weight parameter
    cols: np.ndarray  # column (source index) of each weight parameter
    weight_idx: np.ndarray  # θ indices of the weights, in the same order
    bias_units: np.ndarray  # unit indices that have a bias
    bias_idx: np.ndarray  # θ indices of the biases


@dataclass(frozen=True)
class MlpLayout:
    """A fully connected layered network: widths, activations and the bias flag.

    ``activation`` and ``output_activation`` are what `mlp` was given (a registry name or the
    registry's own `~symmle.activations.Activation`); `node_data` checks them as
    `normalise_graph` checks a graph's units, with the same messages.
    """

    widths: tuple[int, ...]
    activation: object
    output_activation: object
    bias: object

    @property
    def n_layers(self) -> int:
        """The number of non-input layers."""
        return len(self.widths) - 1

    def names(self) -> list[list[str]]:
        """Node names per layer: ``x1…xd``, ``h{layer}_{unit}``, ``y`` (or ``y1…yK``)."""
        w = self.widths
        out = [[f"x{i + 1}" for i in range(w[0])]]
        out += [[f"h{layer}_{j + 1}" for j in range(w[layer])] for layer in range(1, self.n_layers)]
        out.append(["y"] if w[-1] == 1 else [f"y{k + 1}" for k in range(w[-1])])
        return out

    def node_data(self) -> dict:
        """``{node: attributes}`` in graph order, equal to ``normalise_graph(G).nodes`` of the
        graph `mlp` describes (or the `ArchitectureError` that would refuse it)."""
        out = {}
        for layer, names in enumerate(self.names()):
            if layer == 0:
                out.update((v, {"role": "input", "layer": 0}) for v in names)
                continue
            role = "output" if layer == self.n_layers else "hidden"
            act = self.output_activation if role == "output" else self.activation
            given = {"role": role, "activation": act, "bias": self.bias}
            template = _node_attributes(names[0], dict(given, bias_name=f"b{layer}_1"))
            for j, v in enumerate(names):
                d = dict(template, bias_name=f"b{layer}_{j + 1}") if template["bias"] else \
                    dict(template)
                d["layer"] = layer
                out[v] = d
        return out

    def layers(self, names: list[list[str]]) -> tuple[Layer, ...]:
        """The per-layer index arrays (``names`` from `names`)."""
        out, k = [], 0
        for layer in range(1, self.n_layers + 1):
            S, U = self.widths[layer - 1], self.widths[layer]
            n_b = U if self.bias else 0
            out.append(Layer(
                units=tuple(names[layer]), sources=tuple(names[layer - 1]),
                rows=np.repeat(np.arange(U, dtype=np.intp), S),
                cols=np.tile(np.arange(S, dtype=np.intp), U),
                weight_idx=np.arange(k, k + U * S, dtype=np.intp),
                bias_units=np.arange(n_b, dtype=np.intp),
                bias_idx=np.arange(k + U * S, k + U * S + n_b, dtype=np.intp)))
            k += U * S + n_b
        return tuple(out)

    @property
    def n_params(self) -> int:
        w = self.widths
        return sum(S * U + (U if self.bias else 0) for S, U in zip(w, w[1:]))

    def param_names(self) -> tuple[str, ...]:
        """``W{layer}_{unit}_{source}`` and ``b{layer}_{unit}`` in θ order."""
        out = []
        for layer in range(1, self.n_layers + 1):
            S, U = self.widths[layer - 1], self.widths[layer]
            ks = [str(k) for k in range(1, S + 1)]
            for j in range(1, U + 1):
                head = f"W{layer}_{j}_"
                out += [head + k for k in ks]   # (concatenation: a third faster than f-strings)
            if self.bias:
                out += [f"b{layer}_{j}" for j in range(1, U + 1)]
        return tuple(out)

    def has_param_name(self, name) -> bool:
        """Whether ``name`` is one of `param_names` (without building them)."""
        m = _PARAM_RE.fullmatch(name) if isinstance(name, str) else None
        if m is None:
            return False
        if m.group(1) is not None:
            layer, j, k = (int(g) for g in m.group(1, 2, 3))
            return layer <= self.n_layers and j <= self.widths[layer] and \
                k <= self.widths[layer - 1]
        layer, j = int(m.group(4)), int(m.group(5))
        return bool(self.bias) and layer <= self.n_layers and j <= self.widths[layer]

    def _edge_rows(self, names: list[list[str]]):
        """``(u, [(v, name), ...])`` per source ``u``, in the order of ``graph.edges``: by
        source, then by unit."""
        for layer in range(1, self.n_layers + 1):
            heads = [(v, f"W{layer}_{j}_") for j, v in enumerate(names[layer], start=1)]
            for k, u in enumerate(names[layer - 1], start=1):
                k = str(k)
                yield u, [(v, head + k) for v, head in heads]

    def graph(self, node_data: dict, names: list[list[str]]) -> nx.DiGraph:
        """The frozen, normalised graph: the nodes of ``node_data``, one named edge per weight."""
        g = nx.DiGraph()
        g.add_nodes_from(node_data.items())
        g.add_edges_from((u, v, {"name": n}) for u, row in self._edge_rows(names) for v, n in row)
        g.graph[NORMALISED_FLAG] = True
        return nx.freeze(g)

    def edge_list(self, names: list[list[str]]) -> list[list]:
        """``[[u, v, name], ...]`` as `~symmle.architecture._persist.graph_to_dict` writes them."""
        out = []
        for u, row in self._edge_rows(names):
            out += [[u, v, n] for v, n in row]
        return out


def layout_from_dict(data) -> MlpLayout | None:
    """The `MlpLayout` whose ``Architecture.to_dict()`` is ``data`` exactly, else None.

    ``Architecture.from_dict`` reads any other description as a graph (and validates it); this
    only spares a saved `mlp` the graph's construction, so anything unexpected gives None.
    """
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or \
            not isinstance(data.get("edges"), list):
        return None
    nodes = data["nodes"]
    sizes: dict = {}   # layer key -> units: "x" inputs, hidden layer numbers, "y" outputs
    for item in nodes:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            return None
        m = _NODE_RE.fullmatch(item[0])
        if m is None:
            return None
        key = int(m.group(1)) if m.group(1) else item[0][0]
        sizes[key] = sizes.get(key, 0) + 1
    hidden = [k for k in sizes if k not in ("x", "y")]
    if list(sizes) != ["x", *range(1, len(hidden) + 1), "y"]:
        return None
    if len(nodes) + len(data["edges"]) > MAX_PARAMS:
        return None   # the graph path refuses it
    first = nodes[sizes["x"]][1] if isinstance(nodes[sizes["x"]][1], dict) else {}
    last = nodes[-1][1] if isinstance(nodes[-1][1], dict) else {}
    layout = MlpLayout(tuple(sizes[k] for k in sizes), first.get("activation"),
                       last.get("activation"), first.get("bias"))
    try:
        node_data = layout.node_data()
    except (ArchitectureError, SymmleTypeError):   # the graph path refuses it with its own message
        return None
    if node_list(node_data) != nodes or data["edges"] != layout.edge_list(layout.names()):
        return None
    return layout
