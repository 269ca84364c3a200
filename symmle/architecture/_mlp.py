"""Fully connected layered networks: `mlp` and the ``"2-3-1"`` width grammar `parse_widths`."""

from __future__ import annotations

import re

from .._checks import check_int
from ..activations import get_activation
from ..errors import ArchitectureError
from ._architecture import Architecture
from ._graph import check_size
from ._layout import MlpLayout

__all__ = ["mlp", "parse_widths"]

#: ``"2-3-1"``: positive widths of at most six digits joined by ``-`` (no eval, no huge numbers).
_WIDTHS_RE = re.compile(r"\s*\d{1,6}(\s*-\s*\d{1,6})+\s*")


def parse_widths(spec: str) -> tuple[int, ...]:
    """Parse an architecture string such as ``"2-3-1"`` into widths (explicit grammar, no eval).

    Examples
    --------
    >>> sm.parse_widths("2-3-1")
    (2, 3, 1)
    """
    if not isinstance(spec, str) or not _WIDTHS_RE.fullmatch(spec):
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
        It holds the layers as arrays: the parameter names, the sympy symbols and
        ``arch.graph`` are built on first use, so that the numeric path and the
        symmetry group of a large network never wait for them.

    Raises
    ------
    SymmleTypeError
        A width that is not an integer.
    ArchitectureError
        Fewer than two widths, a width below 1, or an unknown activation.

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
    check_size(len(widths))   # before each width is checked: a million widths is a million units
    widths = tuple(check_int(w, f"widths[{i}]") for i, w in enumerate(widths))
    if min(widths) < 1:
        raise ArchitectureError(f"widths must be positive integers, got {widths!r}")
    check_size(sum(a * b for a, b in zip(widths, widths[1:])) + sum(widths))
    get_activation(activation, argument="activation")
    get_activation(output_activation, argument="output_activation")
    return Architecture(MlpLayout(widths, activation, output_activation, bias))
