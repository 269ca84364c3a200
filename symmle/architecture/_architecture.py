"""The `Architecture` record: a validated network graph, its parameter order, symbols and numerics.

Parameter order (the public contract): non-input units are grouped into layers
by their depth (the longest path from an input); for each layer in order come
its weights, unit by unit (row ``j`` holds the weights *into* unit ``j``, from
its predecessors in layer-then-node order), then the biases of that layer. For
``mlp(2, 3, 1)`` this is ``W1 (3×2), b1 (3), W2 (1×3), b2 (1)``: 13 parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

import networkx as nx
import numpy as np
import sympy as sp

from .._checks import as_real_array, check_int
from ..activations import get_activation
from ..errors import ArchitectureError, DataError, ParamsError
from ._graph import input_name, normalise_graph
from ._layout import Layer as _Layer
from ._layout import MlpLayout, layout_from_dict
from ._persist import graph_from_dict, graph_to_dict, node_list
from ._views import SVG_MAX_UNITS, repr_html, to_mermaid, to_svg

__all__ = ["Architecture"]


class _GraphField:
    """The `Architecture.graph` field: what ``__init__`` is given is kept for ``__post_init__``;
    reading it gives the normalised graph (kept in the instance's ``__dict__`` under the
    field's name), built on first read for a network held as an `MlpLayout`. (A dataclass field
    whose default is a descriptor, as the dataclasses documentation describes; it has none.)"""

    def __get__(self, arch, owner=None):
        if arch is None:
            raise AttributeError("graph")   # no default value: the field is required
        d = arch.__dict__
        g = d.get("graph")
        if g is None:
            # two threads may both build it; setdefault hands both the first one
            g = d.setdefault("graph", arch._layout.graph(arch._node_data, arch._layer_names))
        return g

    def __set__(self, arch, value):
        arch.__dict__["_graph_arg"] = value


@dataclass(frozen=True, eq=False)
class Architecture:
    """A neural network as a DAG of units whose edges carry sympy weight symbols.

    Build one with `mlp` or `Architecture.from_graph`; calling
    ``Architecture(G)`` directly validates ``G`` the same way.

    Attributes
    ----------
    graph : networkx.DiGraph
        A frozen copy of the network with normalised node attributes ``role``,
        ``layer``, ``activation``, ``bias`` (and ``name`` on every edge,
        ``bias_name`` on every biased unit). A network `mlp` built holds its
        layers as arrays and builds this graph on first read.

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1)
    >>> arch.n_params, arch.inputs
    (13, (x1, x2))
    >>> arch.params[:3]
    (W1_1_1, W1_1_2, W1_2_1)
    >>> arch.output[0]
    W2_1_1*tanh(W1_1_1*x1 + W1_1_2*x2 + b1_1) + W2_1_2*tanh(W1_2_1*x1 + W1_2_2*x2 + b1_2) + W2_1_3*tanh(W1_3_1*x1 + W1_3_2*x2 + b1_3) + b2_1
    """

    graph: nx.DiGraph = _GraphField()

    def __post_init__(self):
        given = self.__dict__.pop("_graph_arg")
        if isinstance(given, Architecture):
            layout, graph = given._layout, given.__dict__.get("graph")
        elif isinstance(given, MlpLayout):   # from `mlp`, which checked it
            layout, graph = given, None
        else:
            layout, graph = None, normalise_graph(given)
        if graph is not None:   # else built on first read of `graph`
            self.__dict__["graph"] = graph
        if layout is not None:
            self.__dict__["_layout"] = layout
            self._node_data   # the units' attributes: refuses a bad activation or bias now

    # ------------------------------------------------------------------ build
    @classmethod
    def from_graph(cls, G: nx.DiGraph) -> "Architecture":
        """Build an architecture from any acyclic ``networkx.DiGraph``.

        Parameters
        ----------
        G : networkx.DiGraph
            Every node has ``role`` in ``{"input", "hidden", "output"}``;
            hidden and output nodes may set ``activation`` (a registry name;
            hidden default ``"tanh"``, output default ``"identity"``) and
            ``bias`` (default True). Inputs and outputs are ordered as they
            appear in ``G.nodes``. Each edge is one weight; an edge may set
            ``name`` (the parameter's name), a unit ``bias_name``.

        Raises
        ------
        ArchitectureError
            (a ``ValueError``) for a cycle, a missing or unknown role, an input
            with incoming edges, an output with outgoing edges, or a hidden unit
            that no input reaches or that reaches no output; the message names
            the node.

        Examples
        --------
        >>> import networkx as nx
        >>> G = nx.DiGraph()
        >>> G.add_node("x", role="input")
        >>> G.add_node("h", role="hidden", activation="relu")
        >>> G.add_node("y", role="output")
        >>> G.add_edges_from([("x", "h"), ("h", "y"), ("x", "y")])  # a skip connection
        >>> arch = sm.Architecture.from_graph(G)
        >>> arch.param_names
        ('w_x_h', 'b_h', 'w_x_y', 'w_h_y', 'b_y')
        >>> arch.output[0]
        b_y + w_h_y*relu(b_h + w_x_h*x1) + w_x_y*x1
        """
        return cls(G)

    # ------------------------------------------------------------ structure
    @cached_property
    def _layout(self) -> MlpLayout | None:
        """The arrays of a network `mlp` built (set by ``__post_init__``); None for a graph."""
        return None

    @cached_property
    def _node_data(self):
        """``{node: attributes}`` in graph order (``graph.nodes``, without building the graph
        of an MLP)."""
        return self._layout.node_data() if self._layout is not None else self.graph.nodes

    @cached_property
    def _layer_names(self) -> list:
        """An MLP's node names per layer (see `MlpLayout.names`)."""
        return self._layout.names()

    @cached_property
    def input_nodes(self) -> tuple:
        """Input nodes, in graph order."""
        return tuple(v for v, d in self._node_data.items() if d["role"] == "input")

    @cached_property
    def output_nodes(self) -> tuple:
        """Output nodes, in graph order."""
        return tuple(v for v, d in self._node_data.items() if d["role"] == "output")

    @cached_property
    def hidden_nodes(self) -> tuple:
        """Hidden nodes, in (layer, graph order) order."""
        nd = self._node_data
        return tuple(v for v in self._unit_order if nd[v]["role"] == "hidden")

    @cached_property
    def _node_rank(self) -> dict:
        return {v: i for i, v in enumerate(self._node_data)}

    @cached_property
    def _unit_order(self) -> tuple:
        nd = self._node_data
        units = [v for v, d in nd.items() if d["role"] != "input"]
        return tuple(sorted(units, key=self._sort_key))

    def _sort_key(self, v):
        return (self._node_data[v]["layer"], self._node_rank[v])

    @cached_property
    def layers(self) -> tuple[_Layer, ...]:
        """Per-layer index bookkeeping (units, sources, θ indices)."""
        if self._layout is not None:
            return self._layout.layers(self._layer_names)
        g = self.graph
        depth = max((d["layer"] for d in self._node_data.values()), default=0)
        out, k = [], 0
        for layer in range(1, depth + 1):
            units = tuple(v for v in self._unit_order if g.nodes[v]["layer"] == layer)
            if not units:
                continue
            sources = sorted({u for v in units for u in g.predecessors(v)}, key=self._sort_key)
            src_pos = {u: i for i, u in enumerate(sources)}
            rows, cols = [], []
            for j, v in enumerate(units):
                for u in sorted(g.predecessors(v), key=self._sort_key):
                    rows.append(j)
                    cols.append(src_pos[u])
            n_w = len(rows)
            bias_units = [j for j, v in enumerate(units) if g.nodes[v]["bias"]]
            out.append(_Layer(
                units=units, sources=tuple(sources),
                rows=np.array(rows, dtype=np.intp), cols=np.array(cols, dtype=np.intp),
                weight_idx=np.arange(k, k + n_w, dtype=np.intp),
                bias_units=np.array(bias_units, dtype=np.intp),
                bias_idx=np.arange(k + n_w, k + n_w + len(bias_units), dtype=np.intp),
            ))
            k += n_w + len(bias_units)
        return tuple(out)

    @cached_property
    def edge_index(self) -> dict:
        """``{(u, v): i}``: the θ index of the weight on edge ``u → v``."""
        idx = {}
        for L in self.layers:
            for r, c, i in zip(L.rows, L.cols, L.weight_idx):
                idx[(L.sources[c], L.units[r])] = int(i)
        return idx

    @cached_property
    def bias_index(self) -> dict:
        """``{v: i}``: the θ index of unit ``v``'s bias (biased units only)."""
        return {L.units[j]: int(i) for L in self.layers for j, i in zip(L.bias_units, L.bias_idx)}

    @cached_property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names, in θ order."""
        if self._layout is not None:
            return self._layout.param_names()
        names = [None] * self.n_params
        for (u, v), i in self.edge_index.items():
            names[i] = self.graph.edges[u, v]["name"]
        for v, i in self.bias_index.items():
            names[i] = self.graph.nodes[v]["bias_name"]
        return tuple(names)

    def _has_param_name(self, name) -> bool:
        """Whether ``name`` is in `param_names` (for an MLP, without building them)."""
        if self._layout is not None:
            return self._layout.has_param_name(name)
        return name in self._param_name_set

    @cached_property
    def _param_name_set(self) -> frozenset:
        return frozenset(self.param_names)

    @cached_property
    def n_params(self) -> int:
        """The number of network parameters P."""
        return sum(len(L.weight_idx) + len(L.bias_idx) for L in self.layers)

    @property
    def n_inputs(self) -> int:
        return len(self.input_nodes)

    @property
    def n_outputs(self) -> int:
        return len(self.output_nodes)

    @cached_property
    def widths(self) -> tuple[int, ...] | None:
        """Layer widths if this is a fully connected layered network (an MLP), else None."""
        if self._layout is not None:
            return self._layout.widths
        prev = self.input_nodes
        widths = [len(prev)]
        for L in self.layers:
            if set(L.sources) != set(prev) or len(L.rows) != len(L.units) * len(prev):
                return None
            prev = L.units
            widths.append(len(L.units))
        if set(prev) != set(self.output_nodes):
            return None
        return tuple(widths)

    def activation_of(self, v):
        """The `symmle.activations.Activation` of unit ``v`` (a hidden or output node)."""
        try:
            name = self._node_data[v].get("activation")
        except (KeyError, TypeError):  # not a node (or not hashable)
            raise ArchitectureError(f"{v!r} is not a node of this network") from None
        if name is None:
            raise ArchitectureError(f"node {v!r} is an input: it has no activation")
        return get_activation(name)

    # -------------------------------------------------------------- symbols
    @cached_property
    def inputs(self) -> tuple[sp.Symbol, ...]:
        """Input symbols ``x1, …, xd`` (real)."""
        return tuple(sp.Symbol(input_name(i), real=True) for i in range(self.n_inputs))

    @cached_property
    def params(self) -> tuple[sp.Symbol, ...]:
        """Parameter symbols (real), in θ order."""
        return tuple(sp.Symbol(n, real=True) for n in self.param_names)

    @cached_property
    def latex_names(self) -> dict:
        """``{Symbol: LaTeX}`` for printing (``W^{(1)}_{1 2}`` for MLP weights)."""
        out = {}
        for s in self.params:
            m = re.fullmatch(r"W(\d+)_(\d+)_(\d+)", s.name)
            mb = re.fullmatch(r"b(\d+)_(\d+)", s.name)
            if m:
                out[s] = r"W^{(%s)}_{%s %s}" % m.groups()
            elif mb:
                out[s] = r"b^{(%s)}_{%s}" % mb.groups()
        for s in self.inputs:
            out[s] = r"x_{%s}" % s.name[1:]
        return out

    @cached_property
    def unit_expressions(self) -> dict:
        """``{node: sympy.Expr}``: each unit's activation as a function of x and θ."""
        h = dict(zip(self.input_nodes, self.inputs))
        p = self.params
        for L in self.layers:
            src = [h[u] for u in L.sources]
            terms = [[] for _ in L.units]   # unit j's terms, its sources in (layer, order) order
            for r, c, i in zip(L.rows.tolist(), L.cols.tolist(), L.weight_idx.tolist()):
                terms[r].append(p[i] * src[c])
            bias = dict(zip(L.bias_units.tolist(), L.bias_idx.tolist()))
            for j, v in enumerate(L.units):
                a = sp.Add(*terms[j])
                if j in bias:
                    a = a + p[bias[j]]
                f = self.activation_of(v).sympy
                # evaluate=False skips sympy's assumption queries on long sums (seconds for 784
                # terms)
                h[v] = f(a, evaluate=False) if isinstance(f, sp.FunctionClass) and not a.is_Number \
                    else f(a)
        return h

    @cached_property
    def output(self) -> sp.Matrix:
        """The network function ``f(x; θ)``: a sympy Matrix of shape (n_out, 1)."""
        h = self.unit_expressions
        return sp.Matrix([h[v] for v in self.output_nodes])

    # ------------------------------------------------------------- numerics
    def check_theta(self, theta, *, name: str = "theta", n_params: int | None = None) -> np.ndarray:
        """Return θ as a float64 array of shape (..., P) or raise `ParamsError`."""
        P = self.n_params if n_params is None else n_params
        arr = as_real_array(theta, name=name, expected=f"an array of {P} real numbers",
                            error=ParamsError)
        if arr.ndim == 0 or arr.shape[-1] != P:
            raise ParamsError(f"{name} must have length {P} (the number of parameters), "
                              f"got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ParamsError(f"{name} contains NaN or infinite values")
        return arr

    def check_X(self, X, *, name: str = "X", finite: bool = True) -> np.ndarray:
        """Return X as a float64 (n, d) array or raise `DataError`.

        ``finite=False`` leaves out the scan for NaN and infinite values (for a caller
        that scans each chunk of rows itself, as `symmle.compiled.CompiledModel` does).
        """
        arr = as_real_array(X, name=name, expected=f"a numeric array of shape (n, {self.n_inputs})",
                            error=DataError)
        if arr.ndim == 1 and self.n_inputs == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.n_inputs:
            raise DataError(f"{name} must have shape (n, {self.n_inputs}), got {arr.shape}")
        if arr.shape[0] == 0:
            raise DataError(f"{name} has no rows")
        if finite and not np.all(np.isfinite(arr)):
            raise DataError(f"{name} contains NaN or infinite values")
        return arr

    def unflatten(self, theta) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split θ into per-layer ``(W, b)``.

        ``W`` has one row per unit of the layer and one column per source node
        (for an MLP: the previous layer); entries without an edge are 0, as are
        biases of units without one.

        Examples
        --------
        >>> arch = sm.mlp(2, 3, 1)
        >>> [(W.shape, b.shape) for W, b in arch.unflatten(np.arange(13.0))]
        [((3, 2), (3,)), ((1, 3), (1,))]
        >>> arch.unflatten(np.arange(13.0))[0][0]
        array([[0., 1.],
               [2., 3.],
               [4., 5.]])
        """
        theta = self.check_theta(theta)
        if theta.ndim != 1:
            raise ParamsError(f"theta must be one vector of length {self.n_params}")
        out = []
        for L in self.layers:
            W = np.zeros((len(L.units), len(L.sources)))
            W[L.rows, L.cols] = theta[L.weight_idx]
            b = np.zeros(len(L.units))
            b[L.bias_units] = theta[L.bias_idx]
            out.append((W, b))
        return out

    def flatten(self, layers: Sequence[tuple[Any, Any]]) -> np.ndarray:
        """The inverse of `unflatten`: per-layer ``(W, b)`` to θ.

        Raises
        ------
        ParamsError
            When the number of layers or a shape is wrong, or a matrix entry
            without an edge (or a bias of an unbiased unit) is not zero.
        """
        expected = f"a sequence of {len(self.layers)} (W, b) pairs"
        if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__len__"):
            raise ParamsError(f"layers must be {expected}, got {type(layers).__name__}")
        if len(layers) != len(self.layers):
            raise ParamsError(f"layers must be {expected}, got {len(layers)} items")
        theta = np.zeros(self.n_params)
        for k, (L, pair) in enumerate(zip(self.layers, layers)):
            if isinstance(pair, (str, bytes, dict)) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise ParamsError(f"layers[{k}] must be a (W, b) pair, got {type(pair).__name__}")
            W = as_real_array(pair[0], name=f"layers[{k}] W", expected="a real matrix",
                              error=ParamsError)
            b = as_real_array(pair[1], name=f"layers[{k}] b", expected="a real vector",
                              error=ParamsError)
            if W.shape != (len(L.units), len(L.sources)) or b.shape != (len(L.units),):
                raise ParamsError(
                    f"layer {k + 1}: expected W of shape {(len(L.units), len(L.sources))} and b of "
                    f"shape {(len(L.units),)}, got {W.shape} and {b.shape}")
            mask = np.zeros(W.shape, bool)
            mask[L.rows, L.cols] = True
            bmask = np.zeros(b.shape, bool)
            bmask[L.bias_units] = True
            if np.any(W[~mask] != 0) or np.any(b[~bmask] != 0):
                raise ParamsError(f"layer {k + 1}: nonzero entry where the graph has no edge or bias")
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                raise ParamsError(f"layer {k + 1}: W or b contains NaN or infinite values")
            theta[L.weight_idx] = W[L.rows, L.cols]
            theta[L.bias_idx] = b[L.bias_units]
        return theta

    def forward(self, theta, X, *, units: bool = False):
        """Evaluate the network numerically (numpy, layer by layer).

        Parameters
        ----------
        theta : array_like, shape (P,)
        X : array_like, shape (n, d)
        units : bool
            Return ``{node: (n,) array}`` of every unit's activation instead.

        Returns
        -------
        ndarray, shape (n, n_out)

        Examples
        --------
        >>> arch = sm.mlp(1, 1, activation="identity")
        >>> arch.forward([2.0, 1.0], [[0.0], [1.0]])
        array([[1.],
               [3.]])
        """
        theta = self.check_theta(theta)
        X = self.check_X(X)
        h = {v: X[:, i] for i, v in enumerate(self.input_nodes)}
        for L, (W, b) in zip(self.layers, self.unflatten(theta)):
            H = np.stack([h[u] for u in L.sources], axis=1)
            A = H @ W.T + b
            for j, v in enumerate(L.units):
                h[v] = self.activation_of(v).numpy(A[:, j])
        if units:
            return h
        return np.stack([h[v] for v in self.output_nodes], axis=1)

    # ---------------------------------------------------------------- views
    def to_mermaid(self, *, labels: bool | None = None) -> str:
        """A mermaid ``graph LR`` diagram of the network.

        Inputs are boxes, hidden units circles, outputs boxes, each with a two-line
        label; edges carry their weight's name, and there is one ``classDef`` per role.
        The diagram sets its own mermaid options (labels as SVG text, so the line
        breaks render in the documentation site and in JupyterLab alike).

        Parameters
        ----------
        labels : bool, optional
            Label each edge with its weight's name. Default: only when the network has
            at most `MERMAID_MAX_LABELLED_EDGES` (36) edges; beyond that the labels
            overlap and hide the drawing.

        Examples
        --------
        >>> print(sm.mlp(1, 1, 1).to_mermaid())
        graph LR
            %%{init: {"htmlLabels": false, "flowchart": {"htmlLabels": false, "rankSpacing": 170, "nodeSpacing": 50}}}%%
            %% Input layer
            x1["x₁<br>input 1"]
            %% Hidden layer 1
            h1_1(("h₁₁<br>tanh"))
            %% Output layer
            y["y<br>output"]
            %% Connections with weights
            x1 -->|"W1_1_1"| h1_1
            h1_1 -->|"W2_1_1"| y
            %% Styling
            classDef input fill:#e1f5fe
            classDef hidden fill:#f3e5f5
            classDef output fill:#e8f5e8
            class x1 input
            class h1_1 hidden
            class y output
        >>> sm.mlp(5, 8, 1).to_mermaid().count("-->|"), sm.mlp(5, 8, 1).to_mermaid(labels=True).count("-->|")
        (0, 48)
        """
        return to_mermaid(self, labels=labels)

    def to_svg(self, *, max_units: int = SVG_MAX_UNITS) -> str:
        """A layered SVG drawing of the network (inputs left, outputs right).

        Networks with more than ``max_units`` units are refused (use
        `to_mermaid` or a summary instead).

        Examples
        --------
        >>> svg = sm.mlp(2, 3, 1).to_svg()
        >>> svg.startswith("<svg") and svg.count("<circle") == 6 and svg.count("<line") == 9
        True
        """
        return to_svg(self, max_units=check_int(max_units, "max_units", 0))

    def _repr_html_(self) -> str:
        return repr_html(self)

    def __repr__(self) -> str:
        if self.widths is not None:
            nd = self._node_data
            acts = sorted({nd[v]["activation"] for v in self.hidden_nodes})
            outs = sorted({nd[v]["activation"] for v in self.output_nodes})
            act = f", activation={acts[0]!r}" if len(acts) == 1 else ""
            out = f", output_activation={outs[0]!r}" if outs != ["identity"] else ""
            return f"mlp({', '.join(map(str, self.widths))}{act}{out})"
        return (f"Architecture(<{self.n_inputs} inputs, {len(self.hidden_nodes)} hidden, "
                f"{self.n_outputs} outputs, {self.n_params} params>)")

    # ---------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        """A JSON-ready description of the graph (node names must be str or int)."""
        if self._layout is not None:
            return {"nodes": node_list(self._node_data),
                    "edges": self._layout.edge_list(self._layer_names)}
        return graph_to_dict(self.graph)

    @classmethod
    def from_dict(cls, data) -> "Architecture":
        """Rebuild an architecture written by `to_dict` (validated like any graph; the
        description of an `mlp` gives an `mlp` again, its graph built on first use)."""
        layout = layout_from_dict(data)
        return cls(layout if layout is not None else graph_from_dict(data))
