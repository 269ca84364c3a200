"""Hypothesis strategies for property tests of networks, parameters and their symmetries.

Users can import these for their own tests::

    from hypothesis import given
    from symmle.strategies import architectures, params, group_elements

Every strategy takes keyword-only options and checks them when it is built
(not when it draws), raising `symmle.errors.SymmleValueError` or
`symmle.errors.SymmleTypeError`.

Examples
--------
>>> from hypothesis import given, settings
>>> from symmle.strategies import architectures, params, group_elements
>>> arch = sm.mlp(2, 3, 1)
>>> @settings(max_examples=10, derandomize=True)
... @given(theta=params(arch), g=group_elements(arch))
... def test_invariance(theta, g):
...     X = np.ones((3, 2))
...     assert np.allclose(arch.forward(g(theta), X), arch.forward(theta, X))
>>> test_invariance()
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from .activations import activation_names, get_activation
from .architecture import Architecture, mlp
from ._checks import check_bool, check_int, check_real
from .errors import SymmleTypeError, SymmleValueError
from .model import Model
from .symmetry import ParamTransform, symmetry_group

__all__ = ["architectures", "graph_architectures", "params", "inputs", "group_elements"]


#: The largest sizes a strategy draws: hypothesis draws every entry from a buffer of a few
#: kilobytes, and a network of thousands of units takes seconds to build and to test, so a
#: larger bound would only make examples fail or hang (issue 17 §6).
MAX_DRAWN = {"inputs": 64, "hidden_layers": 16, "width": 64, "outputs": 16, "hidden": 64,
             "twins": 64, "rows": 1000}

#: The most hidden units a drawn layered network may have (layers times width).
MAX_DRAWN_HIDDEN_UNITS = 256

#: Bounds of drawn parameter and input values: their difference must stay a finite float.
MAX_ABS_VALUE = 1e300


# ------------------------------------------------------------------ checks
def _range(name, lo, hi, floor=0):
    cap = MAX_DRAWN[name]
    lo = check_int(lo, f"min_{name}", floor, maximum=cap)
    hi = check_int(hi, f"max_{name}", floor, maximum=cap)
    if lo > hi:
        raise SymmleValueError(f"min_{name} ({lo}) must not exceed max_{name} ({hi})")
    return lo, hi


def _activations(name, value, default):
    if value is None:
        value = default
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise SymmleTypeError(f"{name} must be a sequence of activation names, got {value!r}")
    value = tuple(value)
    if not value:
        raise SymmleValueError(f"{name} must name at least one activation")
    for i, a in enumerate(value):
        # a SymmleTypeError for a non-str, UnknownActivationError (a ValueError) naming the
        # known ones for an unknown name
        get_activation(a, argument=f"{name}[{i}]")
    return value


def _bias(value, *, per_unit_ok: bool = False):
    if value is None:
        return st.booleans()
    if per_unit_ok and isinstance(value, str) and value == "per_unit":
        return "per_unit"
    if not isinstance(value, (bool, np.bool_)):
        extra = ', "per_unit"' if per_unit_ok else ""
        raise SymmleTypeError(f"bias must be True, False, None (either){extra}, got {value!r}")
    return st.just(bool(value))


def _default_activations() -> tuple[str, ...]:
    """Every registered non-polynomial activation (polynomial networks have redundancies no
    symmetry explains, so they are drawn only when named)."""
    return tuple(a for a in activation_names() if get_activation(a).polynomial_degree is None)


def _skip(value):
    if isinstance(value, str):
        if value != "all":
            raise SymmleValueError(f"skip_connections must be True, False or 'all', got {value!r}")
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise SymmleTypeError(f"skip_connections must be True, False or 'all', got {value!r}")
    return bool(value)


def _bounds(lo, hi):
    lo = check_real(lo, "min_value", minimum=-MAX_ABS_VALUE, maximum=MAX_ABS_VALUE)
    hi = check_real(hi, "max_value", minimum=-MAX_ABS_VALUE, maximum=MAX_ABS_VALUE)
    if lo >= hi:
        raise SymmleValueError(f"min_value ({lo}) must be smaller than max_value ({hi})")
    return float(lo), float(hi)


def _arch(arch) -> tuple[Architecture, int]:
    if isinstance(arch, Model):
        return arch.architecture, arch.n_params
    if isinstance(arch, Architecture):
        return arch, arch.n_params
    raise SymmleTypeError(f"arch must be an Architecture or a Model, got {type(arch).__name__}")


# -------------------------------------------------------------- strategies
def architectures(*, min_inputs: int = 1, max_inputs: int = 3, min_hidden_layers: int = 0,
                  max_hidden_layers: int = 2, min_width: int = 1, max_width: int = 4,
                  min_outputs: int = 1, max_outputs: int = 2, activations=None,
                  output_activations=("identity",), bias=True, skip_connections=False,
                  per_unit_activations: bool = False) -> SearchStrategy[Architecture]:
    """Layered networks: `symmle.architecture.mlp`, or with skip connections and per-unit options.

    Parameters
    ----------
    min_inputs, max_inputs, min_hidden_layers, max_hidden_layers, min_width, max_width,
    min_outputs, max_outputs : int
        Ranges (inclusive) of the input width, the number of hidden layers, each
        hidden width and the output width.
    activations : sequence of str, optional
        Hidden activations to draw from; by default every registered non-polynomial one
        (polynomial activations such as ``"square"`` only when named).
    output_activations : sequence of str
    bias : bool, None or "per_unit"
        Whether units have biases; None draws one flag for the network, ``"per_unit"`` one
        per unit (bias-free units among biased ones).
    skip_connections : bool or "all"
        False: consecutive layers only (an MLP). True: each edge from a layer to any later
        layer but the next (inputs to outputs included) is drawn. ``"all"``: every such
        edge, so that every unit's inputs also feed its successors (the condition for the
        flips of softplus, SiLU, GELU and ReLU units).
    per_unit_activations : bool
        Draw each hidden unit's activation separately (one per network otherwise).

    Notes
    -----
    With the default options the network is ``mlp(...)``'s; otherwise it is built with
    `symmle.architecture.Architecture.from_graph` (nodes ``x1…``, ``h{layer}_{j}``, ``y…``).

    Examples
    --------
    >>> from symmle.strategies import architectures
    >>> architectures(max_width=0)
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: max_width must be an integer >= 1, got 0
    >>> architectures(skip_connections="some")
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: skip_connections must be True, False or 'all', got 'some'
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, derandomize=True)
    ... @given(architectures(min_hidden_layers=1, skip_connections="all", bias="per_unit",
    ...                      per_unit_activations=True))
    ... def test(arch):
    ...     assert ("x1", "h1_1") in arch.edge_index
    >>> test()
    """
    ni = _range("inputs", min_inputs, max_inputs, 1)
    nl = _range("hidden_layers", min_hidden_layers, max_hidden_layers, 0)
    nw = _range("width", min_width, max_width, 1)
    no = _range("outputs", min_outputs, max_outputs, 1)
    if nl[1] * nw[1] > MAX_DRAWN_HIDDEN_UNITS:
        raise SymmleValueError(
            f"max_hidden_layers * max_width = {nl[1] * nw[1]} hidden units is more than the "
            f"{MAX_DRAWN_HIDDEN_UNITS} a drawn network may have")
    acts = _activations("activations", activations, _default_activations())
    outs = _activations("output_activations", output_activations, ("identity",))
    biases = _bias(bias, per_unit_ok=True)
    skip = _skip(skip_connections)
    per_unit = check_bool(per_unit_activations, "per_unit_activations")
    plain = skip is False and not per_unit and biases != "per_unit"

    @st.composite
    def build(draw):
        d = draw(st.integers(*ni))
        hidden = draw(st.lists(st.integers(*nw), min_size=nl[0], max_size=nl[1]))
        k = draw(st.integers(*no))
        if plain:
            return mlp(d, *hidden, k, activation=draw(st.sampled_from(acts)),
                       output_activation=draw(st.sampled_from(outs)), bias=draw(biases))
        return _layered(draw, d, hidden, k, acts, outs, biases, skip, per_unit)

    return build()


def _layered(draw, d, hidden, k, acts, outs, biases, skip, per_unit) -> Architecture:
    """A layered DAG: consecutive layers fully connected, plus the drawn skip edges."""
    G = nx.DiGraph()
    layers = [[f"x{i + 1}" for i in range(d)]]
    for v in layers[0]:
        G.add_node(v, role="input")
    flag = (lambda: draw(st.booleans())) if biases == "per_unit" else None
    net_flag = None if flag else draw(biases)
    net_act = draw(st.sampled_from(acts))
    for li, w in enumerate(hidden):
        units = [f"h{li + 1}_{j + 1}" for j in range(w)]
        for v in units:
            G.add_node(v, role="hidden", bias=flag() if flag else net_flag,
                       activation=draw(st.sampled_from(acts)) if per_unit else net_act)
        layers.append(units)
    out_act = draw(st.sampled_from(outs))
    ys = ["y"] if k == 1 else [f"y{j + 1}" for j in range(k)]
    for v in ys:
        G.add_node(v, role="output", activation=out_act, bias=flag() if flag else net_flag)
    layers.append(ys)
    for a in range(len(layers) - 1):
        G.add_edges_from((u, v) for u in layers[a] for v in layers[a + 1])
        if skip is False:
            continue
        for b in range(a + 2, len(layers)):
            for u in layers[a]:
                for v in layers[b]:
                    if skip == "all" or draw(st.booleans()):
                        G.add_edge(u, v)
    return Architecture.from_graph(G)


def graph_architectures(*, max_inputs: int = 2, max_hidden: int = 5, max_outputs: int = 2,
                        activations=None, bias=None, max_twins: int = 2
                        ) -> SearchStrategy[Architecture]:
    """Random DAGs for `Architecture.from_graph`: skip connections, sparse layers, twins.

    Each hidden unit gets a non-empty set of earlier nodes as inputs and a
    drawn activation and bias flag; every output gets a non-empty set of
    sources, and a hidden unit that would reach no output feeds one. Then up
    to ``max_twins`` hidden units are cloned (same neighbours, activation and
    bias), so that twin classes and non-trivial groups are common.

    Parameters
    ----------
    max_inputs, max_hidden, max_outputs : int
        Upper bounds (inputs and outputs at least 1, hidden at least 0).
    activations : sequence of str, optional
        Hidden activations to draw from (per unit); every registered non-polynomial one by
        default.
    bias : bool or None
        Whether units have biases; None draws it per unit.
    max_twins : int
        At most this many clones of hidden units.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from symmle.strategies import graph_architectures
    >>> @settings(max_examples=5, derandomize=True)
    ... @given(graph_architectures())
    ... def test(arch):
    ...     assert arch.n_inputs >= 1 and arch.n_outputs >= 1
    >>> test()
    """
    max_inputs = check_int(max_inputs, "max_inputs", 1, maximum=MAX_DRAWN["inputs"])
    max_hidden = check_int(max_hidden, "max_hidden", 0, maximum=MAX_DRAWN["hidden"])
    max_outputs = check_int(max_outputs, "max_outputs", 1, maximum=MAX_DRAWN["outputs"])
    max_twins = check_int(max_twins, "max_twins", 0, maximum=MAX_DRAWN["twins"])
    acts = _activations("activations", activations, _default_activations())
    biases = _bias(bias)

    @st.composite
    def build(draw):
        n_in = draw(st.integers(1, max_inputs))
        n_h = draw(st.integers(0, max_hidden))
        n_out = draw(st.integers(1, max_outputs))
        G = nx.DiGraph()
        ins = [f"x{i + 1}" for i in range(n_in)]
        hid = [f"h{i + 1}" for i in range(n_h)]
        outs = [f"y{i + 1}" for i in range(n_out)]
        for v in ins:
            G.add_node(v, role="input")
        for i, v in enumerate(hid):
            G.add_node(v, role="hidden", activation=draw(st.sampled_from(acts)), bias=draw(biases))
            earlier = ins + hid[:i]
            preds = draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=len(earlier),
                                  unique=True))
            G.add_edges_from((u, v) for u in preds)
        for v in outs:
            G.add_node(v, role="output", bias=draw(biases))
            preds = draw(st.lists(st.sampled_from(ins + hid), min_size=1,
                                  max_size=len(ins) + len(hid), unique=True))
            G.add_edges_from((u, v) for u in preds)
        for v in hid:
            if G.out_degree(v) == 0:
                G.add_edge(v, draw(st.sampled_from(outs)))
        for k in range(draw(st.integers(0, max_twins if hid else 0))):
            v = draw(st.sampled_from(hid))
            twin = f"t{k + 1}_{v}"
            G.add_node(twin, **{a: G.nodes[v][a] for a in ("role", "activation", "bias")})
            G.add_edges_from((u, twin) for u in list(G.predecessors(v)))
            G.add_edges_from((twin, w) for w in list(G.successors(v)))
        return Architecture.from_graph(G)

    return build()


def params(arch, *, min_value: float = -2.0, max_value: float = 2.0,
           generic: bool = False) -> SearchStrategy[np.ndarray]:
    """Parameter vectors θ for an architecture (or a Model: family parameters included).

    Parameters
    ----------
    arch : Architecture or Model
    min_value, max_value : float
        Bounds of every entry.
    generic : bool
        Draw a seed and fill θ from a uniform distribution instead of letting
        hypothesis choose every entry: no zeros, no ties (a generic point, for
        properties such as a free group action), at the cost of shrinking.

    Examples
    --------
    >>> from symmle.strategies import params
    >>> params(sm.mlp(2, 3, 1), min_value=1.0, max_value=0.0)
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: min_value (1.0) must be smaller than max_value (0.0)
    """
    _, P = _arch(arch)
    lo, hi = _bounds(min_value, max_value)
    if check_bool(generic, "generic"):
        return st.integers(0, 2 ** 32 - 1).map(
            lambda seed: np.random.default_rng(seed).uniform(lo, hi, P))
    return hnp.arrays(np.float64, P, elements=st.floats(lo, hi, allow_nan=False,
                                                        allow_infinity=False))


def inputs(arch, n: int, *, min_value: float = -3.0, max_value: float = 3.0
           ) -> SearchStrategy[np.ndarray]:
    """Input matrices X of shape (n, arch.n_inputs) with bounded finite entries.

    Examples
    --------
    >>> from symmle.strategies import inputs
    >>> inputs(sm.mlp(2, 1), 0)
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: n must be an integer >= 1, got 0
    """
    a, _ = _arch(arch)
    n = check_int(n, "n", 1, maximum=MAX_DRAWN["rows"])
    lo, hi = _bounds(min_value, max_value)
    return hnp.arrays(np.float64, (n, a.n_inputs),
                      elements=st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def group_elements(arch) -> SearchStrategy[ParamTransform]:
    """Elements of ``symmetry_group(arch)``, uniform over the group; shrinks to the identity.

    Examples
    --------
    >>> from hypothesis import find
    >>> from symmle.strategies import group_elements
    >>> find(group_elements(sm.mlp(2, 3, 1)), lambda g: True).is_identity
    True
    """
    a, _ = _arch(arch)
    G = symmetry_group(a)
    return st.integers(0, G.order - 1).map(G.element_from_rank)
