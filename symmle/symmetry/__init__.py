"""The parameter symmetries of a network: an exact group, continuous directions, alignment.

A network function ``f(x; θ)`` does not determine θ. Two kinds of symmetry
leave ``f`` unchanged:

* **discrete** ones (`symmetry_group`): automorphisms of the network
  graph that fix the inputs and outputs and keep each unit's role, activation
  and bias flag (for a hidden layer of an MLP: every permutation of its
  units), combined with the *flips* that activation identities allow. An odd
  activation (``tanh``, ``erf``, ``cube``) allows flipping the sign of a unit
  (negate its incoming weights, bias and outgoing weights); an even one
  (``square``) negates only the incoming side; the logistic sigmoid allows the
  affine flip ``σ(-z) = 1 - σ(z)`` (negate the same weights and add the old
  outgoing weights to the successors' biases), where every successor has a
  bias; and ``σ(-z) = σ(z) - c·z`` (softplus, SiLU, GELU, ReLU: ``c = 1``;
  leaky ReLU: ``c = 1.01``) allows negating a unit's incoming weights and bias
  while moving ``c·v·w`` into skip weights and ``c·v·b`` into the successors'
  biases, wherever every input of the unit also feeds each of its successors
  (Vlačić & Bölcskei 2021). A hidden layer of ``n`` tanh units thus carries
  ``2^n · n!`` symmetries (Chen, Lu & Hecht-Nielsen 1993).
* **continuous** ones (`continuous_symmetries`): the positive rescaling
  of ReLU and leaky-ReLU units, the rescaling ``σ(λz) = λ^r σ(z)`` of monomial
  units (``square``, ``cube``, ``quartic``), the affine (``GL``) symmetry of
  identity hidden units and, with a `symmle.model.Model`, the family's own (the softmax
  shift of `symmle.families.Categorical`).

How the group is computed. Hidden units with identical in- and
out-neighbourhoods (and equal activation and bias flag) are *twins*; each twin
class is permuted freely (a symmetric-group factor whose order is an exact
factorial). The twin classes form a small quotient graph, whose automorphisms
(the ones that are not per-class permutations, e.g. two identical branches
that swap whole) are found with networkx's ``DiGraphMatcher`` along a
stabilizer chain: the order is the product of the orbit lengths and the group
is never enumerated. The full group is the semidirect product
``(Π S_{n_c} ⋊ Aut(quotient)) ⋉ (Z_2)^f`` with ``f`` flippable units.

`align` and `orbit_distance` are exact: exhaustive for small groups, branch and bound over the
group otherwise; a search cut short by its budget says so (`AlignmentResult`) and carries a
certified lower bound.

Every function that takes θ also takes a `symmle.model.Model`'s θ
(the network's parameters followed by the family's, such as ``log_sigma``):
symmetries leave those extra entries unchanged, and distances count them as
ordinary coordinates.

Private modules, one topic each: ``_structure`` (the integer structure of an architecture and
the shared argument checks), ``_transform`` (`ParamTransform`), ``_quotient`` (the quotient
graph of twin classes and its automorphisms), ``_group`` (`SymmetryGroup`, `symmetry_group`),
``_continuous`` (`continuous_symmetries`), ``_alignment`` (`canonicalize`, `align`,
`orbit_distance`, `AlignmentResult`), ``_plan`` (the per-architecture bookkeeping of the exact
search) and ``_search`` (the branch and bound).
"""

from ._alignment import (
    EXHAUSTIVE_ORDER, MAX_QUOTIENT_ORDER, SEARCH_MAX_NODES, SEARCH_TIME_LIMIT, AlignmentResult,
    align, canonicalize, orbit_distance)
from ._continuous import continuous_symmetries
from ._group import MAX_ELEMENTS, SymmetryGroup, symmetry_group
from ._transform import ParamTransform

__all__ = [
    "symmetry_group",
    "SymmetryGroup",
    "ParamTransform",
    "continuous_symmetries",
    "canonicalize",
    "align",
    "orbit_distance",
    "AlignmentResult",
    "MAX_ELEMENTS",
    "EXHAUSTIVE_ORDER",
    "MAX_QUOTIENT_ORDER",
    "SEARCH_MAX_NODES",
    "SEARCH_TIME_LIMIT",
]
