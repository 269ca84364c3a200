"""Pictures of an architecture: a mermaid diagram, a layered SVG drawing, the notebook HTML view."""

from __future__ import annotations

import html
import re

from .._checks import check_bool
from ..errors import ArchitectureError
from ._graph import safe_name

__all__ = ["to_mermaid", "to_svg", "repr_html", "SVG_MAX_UNITS", "MERMAID_MAX_LABELLED_EDGES"]

#: Networks with more units than this are not drawn (the drawing would be unreadable and large).
SVG_MAX_UNITS = 200

#: SVG layout in pixels: column spacing, row spacing, unit radius, horizontal and vertical margin.
_DX, _DY, _RADIUS, _MARGIN_X, _MARGIN_Y = 140, 60, 18, 60, 40

#: Fill colour of each role, shared by the mermaid ``classDef`` lines and the SVG.
_FILL = {"input": "#e1f5fe", "hidden": "#f3e5f5", "output": "#e8f5e8"}

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _pretty(v) -> str:
    """``h1_2`` → ``h₁₂``: a node label with its digits as subscripts."""
    m = re.fullmatch(r"([A-Za-z]+)([0-9_]+)", str(v))
    return m.group(1) + m.group(2).replace("_", "").translate(_SUBSCRIPTS) if m else str(v)


def _mermaid_ids(nodes) -> dict:
    """A distinct mermaid identifier per node."""
    ids, used = {}, set()
    for v in nodes:
        base = safe_name(v)
        nid, k = base, 1
        while nid in used:
            k += 1
            nid = f"{base}_{k}"
        used.add(nid)
        ids[v] = nid
    return ids


#: Networks with more edges than this are drawn without weight labels by default: beyond a few
#: dozen, the labels of a layered drawing overlap and hide the edges.
MERMAID_MAX_LABELLED_EDGES = 36

#: Mermaid settings written into the diagram itself: labels as SVG text (not HTML), so a line
#: break is a ``<tspan>`` and the SVG is valid XML, which JupyterLab needs (it shows the diagram
#: as an ``<img>``); wider spacing between layers so that edge labels do not overlap.
#: ``htmlLabels`` is read at the top level by mermaid 11 and under ``flowchart`` by mermaid 10.
_MERMAID_INIT = ('%%{init: {"htmlLabels": false, "flowchart": {"htmlLabels": false, '
                 '"rankSpacing": 170, "nodeSpacing": 50}}}%%')


#: characters that would end or open markup inside a quoted mermaid label, as mermaid's own
#: entity codes.
_MERMAID_ENTITIES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;"}


def to_mermaid(arch, *, labels=None) -> str:
    """The mermaid ``graph LR`` diagram of `Architecture.to_mermaid`."""
    if labels is None:
        labels = len(arch.edge_index) <= MERMAID_MAX_LABELLED_EDGES
    labels = check_bool(labels, "labels")
    nd = arch._node_data   # the graph's nodes (an MLP's graph is not built for a picture)
    ids = _mermaid_ids(nd)
    lines = ["graph LR", f"    {_MERMAID_INIT}", "    %% Input layer"]
    for i, v in enumerate(arch.input_nodes):
        lines.append(f'    {ids[v]}["{_label(v)}<br>input {i + 1}"]')
    hidden_layers = sorted({nd[v]["layer"] for v in arch.hidden_nodes})
    for layer in hidden_layers:
        lines.append(f"    %% Hidden layer {layer}")
        for v in arch.hidden_nodes:
            if nd[v]["layer"] == layer:
                lines.append(f'    {ids[v]}(("{_label(v)}<br>{nd[v]["activation"]}"))')
    lines.append("    %% Output layer")
    for i, v in enumerate(arch.output_nodes):
        label = "output" if arch.n_outputs == 1 else f"output {i + 1}"
        lines.append(f'    {ids[v]}["{_label(v)}<br>{label}"]')
    lines.append("    %% Connections" + (" with weights" if labels else ""))
    rank = arch._node_rank
    names = arch.param_names if labels else None
    for (u, v), i in sorted(arch.edge_index.items(), key=lambda kv: (rank[kv[0][0]], kv[1])):
        weight = f'|"{_label(names[i], pretty=False)}"|' if labels else ""
        lines.append(f"    {ids[u]} -->{weight} {ids[v]}")
    lines.append("    %% Styling")
    lines += [f"    classDef {role} fill:{colour}" for role, colour in _FILL.items()]
    for role, nodes in (("input", arch.input_nodes), ("hidden", arch.hidden_nodes),
                        ("output", arch.output_nodes)):
        if nodes:
            lines.append(f"    class {','.join(ids[v] for v in nodes)} {role}")
    return "\n".join(lines)


def _label(v, *, pretty=True) -> str:
    """A node or edge name as mermaid label text (inside double quotes)."""
    text = _pretty(v) if pretty else str(v)
    return "".join(_MERMAID_ENTITIES.get(c, c) for c in text)


def to_svg(arch, *, max_units: int = SVG_MAX_UNITS) -> str:
    """The layered SVG drawing of `Architecture.to_svg`."""
    n_units = len(arch._node_data)
    if n_units > max_units:
        raise ArchitectureError(f"the network has {n_units} units; to_svg draws at most "
                                f"max_units={max_units}")
    g = arch.graph
    last = max(g.nodes[v]["layer"] for v in g.nodes) + 1
    columns: dict[int, list] = {}
    for v in arch.input_nodes:
        columns.setdefault(0, []).append(v)
    for v in arch.hidden_nodes:
        columns.setdefault(g.nodes[v]["layer"], []).append(v)
    for v in arch.output_nodes:
        columns.setdefault(last, []).append(v)
    order = sorted(columns)
    tallest = max(len(c) for c in columns.values())
    width = _MARGIN_X + _DX * (len(order) - 1) + _MARGIN_X
    height = _MARGIN_Y + _DY * tallest
    pos = {}
    for ci, c in enumerate(order):
        nodes = columns[c]
        top = (height - _DY * (len(nodes) - 1)) / 2
        for i, v in enumerate(nodes):
            pos[v] = (_MARGIN_X + _DX * ci, top + _DY * i)
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
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{_RADIUS}" fill="{_FILL[role]}" '
                     f'stroke="#333"><title>{label} ({role}{", " + act if act else ""})'
                     f'</title></circle>')
        parts.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


#: inline style of the summary line, so that a saved HTML file needs no stylesheet.
_HEAD_STYLE = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;margin:3px 0"


def repr_html(arch) -> str:
    """A one-line summary, followed by the SVG drawing when the network is small enough."""
    head = (f'<p style="{_HEAD_STYLE}"><code>{html.escape(repr(arch))}</code>: {arch.n_inputs} inputs, '
            f"{len(arch.hidden_nodes)} hidden units, {arch.n_outputs} outputs, "
            f"{arch.n_params} parameters</p>")
    if len(arch._node_data) > SVG_MAX_UNITS:
        return head
    return head + to_svg(arch)
