"""Network architectures as directed acyclic graphs whose weights are sympy symbols.

An `Architecture` wraps a validated, frozen `networkx.DiGraph`.
Every node has a ``role`` (``"input"``, ``"hidden"`` or ``"output"``); hidden
and output nodes have an ``activation`` and a ``bias`` flag; every edge is one
weight. `mlp` builds the fully connected layered case, held as arrays: its graph,
parameter names and symbols are built on first use, equal to those of the same graph
given to `Architecture.from_graph`.

Parameter order (the public contract): non-input units are grouped into layers
by their depth (the longest path from an input); for each layer in order come
its weights, unit by unit (row ``j`` holds the weights *into* unit ``j``, from
its predecessors in layer-then-node order), then the biases of that layer. For
``mlp(2, 3, 1)`` this is ``W1 (3×2), b1 (3), W2 (1×3), b2 (1)``: 13 parameters.

Private modules: ``_architecture`` (the `Architecture` record), ``_graph`` (validation of a
user's graph), ``_mlp`` (`mlp`, `parse_widths`), ``_layout`` (an MLP as arrays),
``_views`` (mermaid, SVG, HTML),
``_persist`` (``to_dict``/``from_dict``).
"""

from ._architecture import Architecture
from ._graph import MAX_PARAMS
from ._mlp import mlp, parse_widths

__all__ = ["Architecture", "mlp", "parse_widths", "MAX_PARAMS"]
