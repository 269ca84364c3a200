"""The fuzz suite covers every public entry point (runs last: the file name sorts last).

Every function and class in ``symmle.__all__`` (exceptions and warnings aside), every strategy
in `symmle.strategies`, every public method and property of the classes users hold
(`Architecture`, `Model`, `CompiledModel`, `FitResult`, `SymmetryGroup`, `ParamTransform`,
`IdentifiabilityReport`, `StudyResult`), `symmle.data.load_csv` and `symmle.cli.main` must have
been run by some fuzz test in this session; a new public name without a fuzz test fails here.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import symmle as sm
import symmle.strategies
from symmle.study import StudyResult

from fuzz_harness import TALLY

CLASSES = (sm.Architecture, sm.Model, sm.CompiledModel, sm.FitResult, sm.SymmetryGroup,
           sm.ParamTransform, sm.IdentifiabilityReport, StudyResult)


def expected_entry_points() -> set[str]:
    names = set()
    for name in sm.__all__:
        obj = getattr(sm, name)
        if inspect.isclass(obj) and issubclass(obj, (BaseException, Warning)):
            continue
        names.add(name)
    names |= {f"strategies.{name}" for name in symmle.strategies.__all__}
    for cls in CLASSES:
        fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        for name, attr in vars(cls).items():
            if name.startswith("_") or name in fields:
                continue
            if callable(attr) or isinstance(attr, (property, classmethod, staticmethod)) or \
                    type(attr).__name__ == "cached_property":
                names.add(f"{cls.__name__}.{name}")
    return names | {"data.load_csv", "cli.main"}


def test_every_public_entry_point_is_fuzzed():
    if not TALLY:
        pytest.skip("run with the fuzz tests (this test reads their tally)")
    covered = {name.split(" ")[0] for name in TALLY}
    missing = sorted(expected_entry_points() - covered)
    assert not missing, f"public entry points without a fuzz test: {missing}"
