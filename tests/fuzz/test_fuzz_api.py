"""Fuzz: every class in ``symmle.__all__`` built directly with hostile arguments, and every
strategy in `symmle.strategies` (hostile options refused when the strategy is built; valid ones
draw what they promise).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, strategies as hst

import symmle as sm
import symmle.strategies as strategies

import fuzz_models as zoo
from fuzz_harness import examples, run
from fuzz_values import counts, scalars

#: The record classes of ``symmle.__all__`` (exceptions and warnings are covered by every
#: error the suite classifies).
CLASSES = tuple(name for name in sm.__all__ if inspect.isclass(getattr(sm, name))
                and not issubclass(getattr(sm, name), (BaseException, Warning))
                and name != "Family")   # abstract: ``test_fuzz_model`` covers Family()

ARGUMENTS = hst.one_of(scalars, hst.sampled_from([zoo.arch("tanh-gaussian"),
                                                  zoo.model("tanh-gaussian"),
                                                  np.zeros(3), np.eye(2), (), "x1"]))


@pytest.mark.parametrize("name", CLASSES)
@examples(weight=0.4)
@given(data=hst.data())
def test_constructors(name, data):
    cls = getattr(sm, name)
    params = [p for p in inspect.signature(cls).parameters.values()
              if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                     p.POSITIONAL_OR_KEYWORD)]
    args = [data.draw(ARGUMENTS, p.name) for p in params]
    run(name, lambda: cls(*args), args=args)


STRATEGY_OPTIONS = {
    "architectures": ["min_inputs", "max_inputs", "min_hidden_layers", "max_hidden_layers",
                      "min_width", "max_width", "min_outputs", "max_outputs", "activations",
                      "output_activations", "bias", "skip_connections", "per_unit_activations"],
    "graph_architectures": ["max_inputs", "max_hidden", "max_outputs", "activations", "bias",
                            "max_twins"],
    "params": ["min_value", "max_value", "generic"],
    "inputs": ["min_value", "max_value"],
    "group_elements": [],
}

OPTION_VALUES = hst.one_of(counts, hst.integers(0, 5), hst.booleans(),
                           hst.sampled_from([["tanh"], ["relu", "nope"], [], "all", "per_unit",
                                             10 ** 9, -1.0, 1e308, -1e308]))


@examples(weight=3)
@given(name=hst.sampled_from(sorted(STRATEGY_OPTIONS)), data=hst.data(),
       arch=hst.one_of(hst.sampled_from(zoo.NAMES).map(zoo.arch),
                       hst.sampled_from(zoo.NAMES).map(zoo.model), scalars),
       n=hst.one_of(hst.integers(1, 6), counts))
def test_strategies(name, data, arch, n):
    options = data.draw(hst.dictionaries(hst.sampled_from(STRATEGY_OPTIONS[name] or ["_"]),
                                         OPTION_VALUES, max_size=3))
    options.pop("_", None)
    factory = getattr(strategies, name)
    if name in ("params", "group_elements"):
        make = lambda: factory(arch, **options)   # noqa: E731
    elif name == "inputs":
        make = lambda: factory(arch, n, **options)   # noqa: E731
    else:
        make = lambda: factory(**options)   # noqa: E731
    cls, strategy = run(f"strategies.{name}", make, args=(name, options, arch, n))
    if cls != "ok":
        return

    def draw():
        return data.draw(strategy)

    def check(value):
        if name in ("architectures", "graph_architectures"):
            assert isinstance(value, sm.Architecture)
        elif name == "params":
            P = arch.n_params
            lo, hi = options.get("min_value", -2.0), options.get("max_value", 2.0)
            assert value.shape == (P,) and np.all((lo <= value) & (value <= hi))
        elif name == "inputs":
            a = arch.architecture if isinstance(arch, sm.Model) else arch
            assert value.shape == (n, a.n_inputs) and np.all(np.isfinite(value))
        else:
            a = arch.architecture if isinstance(arch, sm.Model) else arch
            X = np.linspace(-1, 1, 3 * a.n_inputs).reshape(3, a.n_inputs)
            theta = np.linspace(-1, 1, a.n_params)
            np.testing.assert_allclose(a.forward(value(theta), X), a.forward(theta, X),
                                       rtol=1e-9, atol=1e-12)
    run(f"strategies.{name} (draw)", draw, check=check, args=(name, options))
