"""Doctest namespace and hypothesis profiles shared by tests, docstrings and docs."""

import os

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, settings

import symmle as sm

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("SYMMLE_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace["sm"] = sm
    doctest_namespace["np"] = np
    doctest_namespace["sp"] = sp
