"""Network architectures as directed acyclic graphs whose weights are sympy symbols.

An `Architecture` wraps a validated, frozen `networkx.DiGraph`.
Every node has a ``role`` (``"input"``, ``"hidden"`` or ``"output"``); hidden
and output nodes have an ``activation`` and a ``bias`` flag; every edge is one
weight. `mlp` builds the fully connected layered case.

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

from ._validation import as_real_array
from .activations import get_activation
from .errors import ArchitectureError, ParamsError, SymmleTypeError, DataError

__all__ = ["Architecture", "mlp", "parse_widths"]

_ROLES = ("input", "hidden", "output")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class _Layer:
    """Index bookkeeping of one layer: which units, which sources, which θ entries."""

    units: tuple  # nodes of this layer, in order
    sources: tuple  # nodes feeding this layer, in (layer, order) order
    rows: np.ndarray  # row (unit index) of each weight parameter
    cols: np.ndarray  # column (source index) of each weight parameter
    weight_idx: np.ndarray  # θ indices of the weights, in the same order
    bias_units: np.ndarray  # unit indices that have a bias
    bias_idx: np.ndarray  # θ indices of the biases


def _safe(label) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(label))
    return s if _NAME_RE.match(s) else f"n_{s}"


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
        ``bias_name`` on every biased unit).

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

    graph: nx.DiGraph

    def __post_init__(self):
        object.__setattr__(self, "graph", _normalise(self.graph))

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
    def input_nodes(self) -> tuple:
        """Input nodes, in graph order."""
        return tuple(v for v, r in self.graph.nodes(data="role") if r == "input")

    @cached_property
    def output_nodes(self) -> tuple:
        """Output nodes, in graph order."""
        return tuple(v for v, r in self.graph.nodes(data="role") if r == "output")

    @cached_property
    def hidden_nodes(self) -> tuple:
        """Hidden nodes, in (layer, graph order) order."""
        return tuple(v for v in self._unit_order if self.graph.nodes[v]["role"] == "hidden")

    @cached_property
    def _node_rank(self) -> dict:
        return {v: i for i, v in enumerate(self.graph.nodes)}

    @cached_property
    def _unit_order(self) -> tuple:
        g = self.graph
        units = [v for v in g.nodes if g.nodes[v]["role"] != "input"]
        return tuple(sorted(units, key=lambda v: (g.nodes[v]["layer"], self._node_rank[v])))

    def _sort_key(self, v):
        return (self.graph.nodes[v]["layer"], self._node_rank[v])

    @cached_property
    def layers(self) -> tuple[_Layer, ...]:
        """Per-layer index bookkeeping (units, sources, θ indices)."""
        g = self.graph
        depth = max((g.nodes[v]["layer"] for v in g.nodes), default=0)
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
        names = [None] * self.n_params
        for (u, v), i in self.edge_index.items():
            names[i] = self.graph.edges[u, v]["name"]
        for v, i in self.bias_index.items():
            names[i] = self.graph.nodes[v]["bias_name"]
        return tuple(names)

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
        """The `symmle.activations.Activation` of unit ``v``."""
        return get_activation(self.graph.nodes[v]["activation"])

    # -------------------------------------------------------------- symbols
    @cached_property
    def inputs(self) -> tuple[sp.Symbol, ...]:
        """Input symbols ``x1, …, xd`` (real)."""
        return tuple(sp.Symbol(f"x{i + 1}", real=True) for i in range(self.n_inputs))

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
        g = self.graph
        h = dict(zip(self.input_nodes, self.inputs))
        p = self.params
        for v in self._unit_order:
            a = sp.Add(*[p[self.edge_index[(u, v)]] * h[u]
                         for u in sorted(g.predecessors(v), key=self._sort_key)])
            if v in self.bias_index:
                a = a + p[self.bias_index[v]]
            f = self.activation_of(v).sympy
            # evaluate=False skips sympy's assumption queries on long sums (seconds for 784 terms)
            h[v] = f(a, evaluate=False) if isinstance(f, sp.FunctionClass) and not a.is_Number else f(a)
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
        if len(layers) != len(self.layers):
            raise ParamsError(f"layers must have {len(self.layers)} (W, b) pairs, got {len(layers)}")
        theta = np.zeros(self.n_params)
        for k, (L, (W, b)) in enumerate(zip(self.layers, layers)):
            W = np.asarray(W, dtype=float)
            b = np.asarray(b, dtype=float)
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
    def to_mermaid(self) -> str:
        """A mermaid ``graph LR`` diagram of the network.

        Inputs are boxes, hidden units circles, outputs boxes; each edge is
        labelled with its weight's name, and there is one ``classDef`` per role.

        Examples
        --------
        >>> print(sm.mlp(1, 1, 1).to_mermaid())
        graph LR
            %% Input layer
            x1[x₁<br/>Input 1]
            %% Hidden layer 1
            h1_1((h₁₁<br/>tanh))
            %% Output layer
            y[y<br/>Output]
            %% Connections with weights
            x1 -->|W1_1_1| h1_1
            h1_1 -->|W2_1_1| y
            %% Styling
            classDef input fill:#e1f5fe
            classDef hidden fill:#f3e5f5
            classDef output fill:#e8f5e8
            class x1 input
            class h1_1 hidden
            class y output
        """
        g = self.graph
        ids, used = {}, set()
        for v in g.nodes:
            base = _safe(v)
            nid, k = base, 1
            while nid in used:
                k += 1
                nid = f"{base}_{k}"
            used.add(nid)
            ids[v] = nid
        sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

        def pretty(v):
            m = re.fullmatch(r"([A-Za-z]+)([0-9_]+)", str(v))
            return m.group(1) + m.group(2).replace("_", "").translate(sub) if m else str(v)

        lines = ["graph LR", "    %% Input layer"]
        for i, v in enumerate(self.input_nodes):
            lines.append(f"    {ids[v]}[{pretty(v)}<br/>Input {i + 1}]")
        hidden_layers = sorted({g.nodes[v]["layer"] for v in self.hidden_nodes})
        for layer in hidden_layers:
            lines.append(f"    %% Hidden layer {layer}")
            for v in self.hidden_nodes:
                if g.nodes[v]["layer"] == layer:
                    lines.append(f"    {ids[v]}(({pretty(v)}<br/>{g.nodes[v]['activation']}))")
        lines.append("    %% Output layer")
        for i, v in enumerate(self.output_nodes):
            label = "Output" if self.n_outputs == 1 else f"Output {i + 1}"
            lines.append(f"    {ids[v]}[{pretty(v)}<br/>{label}]")
        lines.append("    %% Connections with weights")
        for (u, v), _ in sorted(self.edge_index.items(), key=lambda kv: (self._node_rank[kv[0][0]], kv[1])):
            lines.append(f"    {ids[u]} -->|{g.edges[u, v]['name']}| {ids[v]}")
        lines += ["    %% Styling",
                  "    classDef input fill:#e1f5fe",
                  "    classDef hidden fill:#f3e5f5",
                  "    classDef output fill:#e8f5e8"]
        for role, nodes in (("input", self.input_nodes), ("hidden", self.hidden_nodes),
                            ("output", self.output_nodes)):
            if nodes:
                lines.append(f"    class {','.join(ids[v] for v in nodes)} {role}")
        return "\n".join(lines)

    def to_svg(self, *, max_units: int = 200) -> str:
        """A layered SVG drawing of the network (inputs left, outputs right).

        Networks with more than ``max_units`` units are refused (use
        `to_mermaid` or a summary instead).

        Examples
        --------
        >>> svg = sm.mlp(2, 3, 1).to_svg()
        >>> svg.startswith("<svg") and svg.count("<circle") == 6 and svg.count("<line") == 9
        True
        """
        import html

        g = self.graph
        n_units = g.number_of_nodes()
        if n_units > max_units:
            raise ArchitectureError(f"the network has {n_units} units; to_svg draws at most "
                                    f"max_units={max_units}")
        last = max(g.nodes[v]["layer"] for v in g.nodes) + 1
        columns: dict[int, list] = {}
        for v in self.input_nodes:
            columns.setdefault(0, []).append(v)
        for v in self.hidden_nodes:
            columns.setdefault(g.nodes[v]["layer"], []).append(v)
        for v in self.output_nodes:
            columns.setdefault(last, []).append(v)
        order = sorted(columns)
        tallest = max(len(c) for c in columns.values())
        dx, dy, r = 140, 60, 18
        width, height = 60 + dx * (len(order) - 1) + 60, 40 + dy * tallest
        pos = {}
        for ci, c in enumerate(order):
            nodes = columns[c]
            top = (height - dy * (len(nodes) - 1)) / 2
            for i, v in enumerate(nodes):
                pos[v] = (60 + dx * ci, top + dy * i)
        fill = {"input": "#e1f5fe", "hidden": "#f3e5f5", "output": "#e8f5e8"}
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                 f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">']
        for u, v, d in g.edges(data=True):
            (x1, y1), (x2, y2) = pos[u], pos[v]
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                         f'stroke="#888"><title>{html.escape(d["name"])}</title></line>')
        for v, (x, y) in pos.items():
            role = g.nodes[v]["role"]
            label = html.escape(str(v))
            act = g.nodes[v].get("activation", "")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill[role]}" '
                         f'stroke="#333"><title>{label} ({role}{", " + act if act else ""})'
                         f'</title></circle>')
            parts.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">{label}</text>')
        parts.append("</svg>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        import html

        head = (f"<p><code>{html.escape(repr(self))}</code>: {self.n_inputs} inputs, "
                f"{len(self.hidden_nodes)} hidden units, {self.n_outputs} outputs, "
                f"{self.n_params} parameters</p>")
        if self.graph.number_of_nodes() > 200:
            return head
        return head + self.to_svg()

    def __repr__(self) -> str:
        if self.widths is not None:
            acts = sorted({self.graph.nodes[v]["activation"] for v in self.hidden_nodes})
            outs = sorted({self.graph.nodes[v]["activation"] for v in self.output_nodes})
            act = f", activation={acts[0]!r}" if len(acts) == 1 else ""
            out = f", output_activation={outs[0]!r}" if outs != ["identity"] else ""
            return f"mlp({', '.join(map(str, self.widths))}{act}{out})"
        return (f"Architecture(<{self.n_inputs} inputs, {len(self.hidden_nodes)} hidden, "
                f"{self.n_outputs} outputs, {self.n_params} params>)")

    # ---------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        """A JSON-ready description of the graph (node names must be str or int)."""
        nodes = []
        for v, d in self.graph.nodes(data=True):
            if not isinstance(v, (str, int)) or isinstance(v, bool):
                raise SymmleTypeError(f"node {v!r}: only str or int node names can be saved to JSON")
            attrs = {k: d[k] for k in ("role", "activation", "bias", "bias_name") if k in d}
            nodes.append([v, attrs])
        edges = [[u, v, d["name"]] for u, v, d in self.graph.edges(data=True)]
        return {"nodes": nodes, "edges": edges}

    @classmethod
    def from_dict(cls, data) -> "Architecture":
        """Rebuild an architecture written by `to_dict` (validated like any graph)."""
        from .errors import PersistenceError

        try:
            G = nx.DiGraph()
            for v, attrs in data["nodes"]:
                if not isinstance(v, (str, int)) or not isinstance(attrs, dict):
                    raise TypeError
                G.add_node(v, **{k: attrs[k] for k in ("role", "activation", "bias", "bias_name")
                                 if k in attrs})
            for u, v, name in data["edges"]:
                if u not in G or v not in G or not isinstance(name, str):
                    raise TypeError
                G.add_edge(u, v, name=name)
        except (KeyError, TypeError, ValueError):
            raise PersistenceError("architecture: expected {'nodes': [[name, attrs], ...], "
                                   "'edges': [[u, v, name], ...]}") from None
        return cls(G)


def _normalise(G) -> nx.DiGraph:
    if isinstance(G, Architecture):
        return G.graph
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise SymmleTypeError(f"graph must be a networkx.DiGraph, got {type(G).__name__}")
    if nx.is_frozen(G) and G.graph.get("symmle_normalised"):
        return G
    g = nx.DiGraph()
    for v, d in G.nodes(data=True):
        role = d.get("role")
        if role not in _ROLES:
            raise ArchitectureError(f"node {v!r}: role must be one of {_ROLES}, got {role!r}")
        attrs = {"role": role}
        if role != "input":
            act = d.get("activation", "tanh" if role == "hidden" else "identity")
            try:
                get_activation(act)
            except ValueError as exc:
                raise ArchitectureError(f"node {v!r}: {exc}") from None
            bias = d.get("bias", True)
            if not isinstance(bias, (bool, np.bool_)):
                raise ArchitectureError(f"node {v!r}: bias must be True or False, got {bias!r}")
            attrs["activation"] = act if isinstance(act, str) else act.name
            attrs["bias"] = bool(bias)
            if bias:
                bn = d.get("bias_name") or f"b_{_safe(v)}"
                if not isinstance(bn, str) or not bn:
                    raise ArchitectureError(f"node {v!r}: bias_name must be a non-empty str")
                attrs["bias_name"] = bn
        g.add_node(v, **attrs)
    edges = []
    for u, v, d in G.edges(data=True):
        name = d.get("name")
        if name is None:
            name = f"w_{_safe(u)}_{_safe(v)}"
        elif not isinstance(name, str) or not name:
            raise ArchitectureError(f"edge {u!r} -> {v!r}: name must be a non-empty str")
        edges.append((u, v, {"name": name}))
    g.add_edges_from(edges)
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
    names = [d["name"] for _, _, d in g.edges(data=True)] + [
        d["bias_name"] for _, d in g.nodes(data=True) if d.get("bias")]
    seen = set()
    for n in names:
        if n in seen:
            raise ArchitectureError(f"parameter name {n!r} is used twice; names must be unique")
        seen.add(n)
    for v in nx.topological_sort(g):
        preds = list(g.predecessors(v))
        g.nodes[v]["layer"] = 0 if not preds else 1 + max(g.nodes[u]["layer"] for u in preds)
    g.graph["symmle_normalised"] = True
    return nx.freeze(g)


def parse_widths(spec: str) -> tuple[int, ...]:
    """Parse an architecture string such as ``"2-3-1"`` into widths (explicit grammar, no eval).

    Examples
    --------
    >>> sm.parse_widths("2-3-1")
    (2, 3, 1)
    """
    if not isinstance(spec, str) or not re.fullmatch(r"\s*\d{1,6}(\s*-\s*\d{1,6})+\s*", spec):
        raise ArchitectureError(
            f"arch must look like '2-3-1' (positive widths joined by '-'), got {spec!r}")
    widths = tuple(int(p) for p in spec.split("-"))
    if min(widths) < 1:
        raise ArchitectureError(f"arch widths must be positive, got {spec!r}")
    return widths


def mlp(*widths: int, activation="tanh", output_activation="identity", bias: bool = True) -> Architecture:
    """A fully connected layered network (multi-layer perceptron).

    Parameters
    ----------
    *widths : int
        Input width, hidden widths, output width (at least two numbers).
    activation : str
        The hidden units' activation (a registry name).
    output_activation : str
        The output units' activation; ``"identity"`` by default, since the
        family applies its own inverse link.
    bias : bool
        Whether every unit has a bias.

    Returns
    -------
    Architecture
        Nodes ``x1…xd``, ``h{layer}_{unit}``, ``y`` (or ``y1…yK``); weights
        ``W{layer}_{unit}_{source}`` and biases ``b{layer}_{unit}`` (1-based).

    Examples
    --------
    >>> arch = sm.mlp(2, 3, 1, activation="tanh")
    >>> arch.n_params, arch.widths
    (13, (2, 3, 1))
    >>> arch.graph.nodes["h1_2"]
    {'role': 'hidden', 'activation': 'tanh', 'bias': True, 'bias_name': 'b1_2', 'layer': 1}
    """
    if len(widths) == 1 and isinstance(widths[0], (list, tuple)):
        widths = tuple(widths[0])
    if len(widths) < 2:
        raise ArchitectureError(f"mlp needs at least two widths (inputs, outputs), got {widths!r}")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ArchitectureError(f"widths must be positive integers, got {widths!r}")
    get_activation(activation)
    get_activation(output_activation)
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
    return Architecture(G)
