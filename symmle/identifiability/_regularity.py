"""The classical regularity conditions of maximum likelihood, checked for one model: `regularity`.

Identifiability, differentiability, regularity of the support, smoothness, finite Fisher
information and compactness, each with a verdict (`RegularityCondition`) and a one-line reason
for this network and family, gathered in a `RegularityTable`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..display import html_report
from ..errors import SymmleTypeError, SymmleValueError
from ..model import Model
from ._report import check_model, identifiability

__all__ = ["RegularityCondition", "RegularityTable", "regularity"]

#: the verdicts a condition can have.
_VERDICTS = ("holds", "fails", "modulo symmetry", "conditional")


@dataclass(frozen=True)
class RegularityCondition:
    """One regularity condition of the MLE, with a verdict and a one-line reason.

    ``verdict`` is one of ``"holds"``, ``"fails"``, ``"modulo symmetry"``
    (holds for the parameter modulo a finite group) and ``"conditional"``
    (holds under a stated assumption on the inputs or the data).
    """

    name: str
    verdict: str
    reason: str

    def __post_init__(self):
        for field in ("name", "verdict", "reason"):
            if not isinstance(getattr(self, field), str):
                raise SymmleTypeError(f"RegularityCondition: {field} must be a str, got "
                                      f"{type(getattr(self, field)).__name__}")
        if self.verdict not in _VERDICTS:
            raise SymmleValueError(f"verdict must be one of {_VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True, eq=False)
class RegularityTable:
    """The regularity conditions of `regularity`; ``print`` it for an aligned table.

    Indexing by a condition's name gives that `RegularityCondition`.
    """

    model: Model
    conditions: tuple

    def __post_init__(self):
        check_model(self.model, "RegularityTable: model")
        if not isinstance(self.conditions, (tuple, list)) or not all(
                isinstance(c, RegularityCondition) for c in self.conditions):
            raise SymmleTypeError("RegularityTable: conditions must be a tuple of "
                                  "RegularityCondition")
        object.__setattr__(self, "conditions", tuple(self.conditions))

    def __getitem__(self, name: str) -> RegularityCondition:
        for c in self.conditions:
            if c.name == name:
                return c
        raise KeyError(f"no condition {name!r}; known: {', '.join(c.name for c in self.conditions)}")

    def __iter__(self):
        return iter(self.conditions)

    def __len__(self):
        return len(self.conditions)

    def __str__(self) -> str:
        w1 = max([len("condition")] + [len(c.name) for c in self.conditions])
        w2 = max([len("verdict")] + [len(c.verdict) for c in self.conditions])
        head = f"{'condition':<{w1}}  {'verdict':<{w2}}  reason"
        lines = [f"Regularity conditions of the MLE for {self.model!r}", head,
                 f"{'-' * w1}  {'-' * w2}  {'-' * 6}"]
        for c in self.conditions:
            lines.append(f"{c.name:<{w1}}  {c.verdict:<{w2}}  {c.reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The ``str`` form as an HTML table (condition, verdict, reason), for notebooks."""
        return html_report(f"Regularity conditions of the MLE for {self.model!r}",
                           headers=["condition", "verdict", "reason"],
                           rows=[[c.name, c.verdict, c.reason] for c in self.conditions])


def regularity(model, theta=None, *, rng=None) -> RegularityTable:
    """The classical regularity conditions of maximum likelihood, checked for ``model``.

    Conditions: identifiability, differentiability, regularity of the support,
    smoothness (third derivatives), finite Fisher information, compact
    parameter space. Each gets a verdict and one line of reason specific to
    this network and family.

    Parameters
    ----------
    model : Model
    theta : array_like, optional
        When given, identifiability is judged at θ (reducible points fail);
        otherwise at a random generic θ.
    rng : Generator, int or None

    Returns
    -------
    RegularityTable

    Examples
    --------
    >>> tab = sm.regularity(sm.Model(sm.mlp(2, 3, 1, activation="relu"), sm.Gaussian()), rng=0)
    >>> tab["differentiability"].verdict
    'fails'
    >>> tab = sm.regularity(sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli()), rng=0)
    >>> tab["identifiability"].verdict, tab["compact parameter space"].verdict
    ('modulo symmetry', 'fails')
    >>> print(tab)   # doctest: +NORMALIZE_WHITESPACE
    Regularity conditions of the MLE for Model(mlp(2, 3, 1, activation='tanh'), Bernoulli())
    condition                 verdict          reason
    ...
    identifiability           modulo symmetry  Fisher information nonsingular at a generic θ; ...
    ...
    """
    model = check_model(model)
    arch, fam = model.architecture, model.family
    rep = identifiability(model, theta, rng=rng)
    acts = {arch.activation_of(v) for v in arch.hidden_nodes} | \
        {arch.activation_of(v) for v in arch.output_nodes}
    names = sorted(a.name for a in acts)
    kinks = sorted(a.name for a in acts if a.name in ("relu", "leaky_relu"))
    lin_hidden = [v for v in arch.hidden_nodes if arch.activation_of(v).linear]
    rows = []

    # identifiability
    if lin_hidden:
        rows.append(RegularityCondition(
            "identifiability", "fails",
            f"identity hidden units ({len(lin_hidden)}): W2·W1 = (W2 A⁻¹)(A W1) for every "
            f"invertible A, a GL(n) symmetry (Fisher rank {rep.fisher_rank} of {rep.n_params})"))
    elif rep.locally_identifiable is None:
        rows.append(RegularityCondition(
            "identifiability", "conditional",
            f"undecided at {'a generic θ' if rep.generic else 'θ'}: numerical Fisher rank "
            f"{rep.fisher_rank} of {rep.n_params}, but neither singular nor nonsingular could "
            f"be certified (weakly identified; condition number {rep.condition_number:.2g})"))
    elif rep.locally_identifiable:
        where = "a generic θ" if rep.generic else "θ"
        if rep.group_order > 1:
            rows.append(RegularityCondition(
                "identifiability", "modulo symmetry",
                f"Fisher information nonsingular at {where}; θ is identified up to "
                f"{rep.group_order} discrete symmetries (Sussmann 1992; Chen, Lu & "
                f"Hecht-Nielsen 1993)"))
        else:
            rows.append(RegularityCondition(
                "identifiability", "conditional",
                f"Fisher information nonsingular at {where} (Rothenberg 1971); needs X of "
                f"full column rank"))
    else:
        bits = []
        if kinks and rep.continuous_dim:
            bits.append(f"{', '.join(kinks)} rescaling: incoming × c, outgoing ÷ c "
                        f"({rep.continuous_dim} continuous directions)")
        elif rep.continuous_dim:
            bits.append(f"{rep.continuous_dim} continuous symmetries")
        if fam.shift_invariant:
            bits.append("softmax: adding one function to every output changes nothing")
        if rep.reducible:
            bits.append("reducible θ: " + "; ".join(rep.reducible))
        if not bits:
            bits.append(rep.explanation)
        rows.append(RegularityCondition(
            "identifiability", "fails",
            f"Fisher rank {rep.fisher_rank} of {rep.n_params}: " + "; ".join(bits)))

    # differentiability and smoothness
    if kinks:
        rows.append(RegularityCondition(
            "differentiability", "fails",
            f"{', '.join(kinks)} is not differentiable at its kink (θ with w·x + b = 0 for "
            f"some observed x; derivative taken as 0 there)"))
        rows.append(RegularityCondition(
            "smoothness", "fails",
            "second derivatives vanish almost everywhere and jump at the kinks: no Taylor "
            "expansion of the score around θ*"))
    else:
        rows.append(RegularityCondition(
            "differentiability", "holds",
            f"log-density analytic in θ ({', '.join(names)} and the {fam.name} density are "
            f"infinitely differentiable)"))
        rows.append(RegularityCondition(
            "smoothness", "conditional",
            "third derivatives are continuous; they are dominated on a neighbourhood of θ* if "
            "the inputs have the needed moments"))

    # support
    rows.append(RegularityCondition(
        "regularity of support", "holds",
        f"the support of y given x is {fam.support_words} whatever θ is"))

    # finite Fisher information
    eta_bounded = not (kinks or lin_hidden) and all(
        not arch.activation_of(v).linear for v in arch.output_nodes)
    rows.append(RegularityCondition("finite Fisher information", "conditional",
                                    fam.information_words(eta_bounded)))

    # compactness
    reason = fam.compactness_words()
    if arch.hidden_nodes and not lin_hidden and not kinks:
        reason += "; saturating units (‖w‖ → ∞) approach step functions, a sup not attained"
    rows.append(RegularityCondition("compact parameter space", "fails", reason))
    return RegularityTable(model=model, conditions=tuple(rows))
