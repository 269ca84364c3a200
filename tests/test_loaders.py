"""Every loader inside the error contract: a `PersistenceError` (a ValueError) naming what is
wrong, never a RecursionError, OverflowError, UnicodeDecodeError or a silently wrong object."""

import json

import numpy as np
import pytest

import symmle as sm
from symmle.study import SEED_THETA, StudyResult, consistency_study, seed_model


@pytest.fixture(scope="module")
def fit_doc():
    m = sm.Model(sm.mlp(1, 1), sm.Gaussian(sigma=1.0))
    X, y = m.simulate(np.array([1.0, 0.5]), 50, rng=0)
    return json.loads(sm.fit(m, X, y, rng=0).to_json())


@pytest.fixture(scope="module")
def study_doc():
    st = consistency_study(seed_model(), SEED_THETA, [60, 120], replications=2, n_starts=1,
                           rng=0, n_fisher=500, n_test=100)
    return json.loads(st.to_json())


HOSTILE_TEXTS = [
    ("[" * 100_000 + "]" * 100_000, "nested deeper"),
    ('{"a": 1' + "0" * 400 + "}", "too large"),
    ('{"a": ' + "9" * 5000 + "}", "too large"),
    ('{"a": NaN}', "NaN"), ('{"a": Infinity}', "Infinity"), ('{"a": -Infinity}', "Infinity"),
    ('{"a": 1e999}', "overflows"),
    ("{'a': 1}", "not valid JSON"),
]


@pytest.mark.parametrize("text, match", HOSTILE_TEXTS)
@pytest.mark.parametrize("loader", [sm.FitResult.from_json, StudyResult.from_json])
def test_hostile_json_text_is_refused(loader, text, match):
    with pytest.raises(sm.PersistenceError, match=match):
        loader(text)


@pytest.mark.parametrize("loader", [sm.FitResult.from_json, StudyResult.from_json])
def test_non_utf8_files_and_bytes_are_refused(loader, tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes('{"name": "Ærø"}'.encode("latin-1"))
    with pytest.raises(sm.PersistenceError, match="not UTF-8"):
        loader(p)
    with pytest.raises(sm.PersistenceError, match="not UTF-8"):
        loader(b"\xff\xfe{}")
    with pytest.raises(sm.PersistenceError):
        loader(tmp_path)  # a directory


@pytest.mark.parametrize("key, value", [
    ("n_obs", 0), ("n_obs", -3), ("n_obs", True), ("n_obs", 2.5), ("loglik", "x"),
    ("params", None), ("architecture", [1, 2]), ("family", {"name": "gaussian", "sigma": "x"}),
    ("family", {"name": "student"}), ("information", [[1.0]]), ("converged", 1),
])
def test_fit_documents_with_a_bad_field_are_refused(fit_doc, key, value):
    with pytest.raises(sm.PersistenceError):
        sm.FitResult.from_json(json.dumps(dict(fit_doc, **{key: value})))


@pytest.mark.parametrize("key, value", [
    ("replications", -1), ("replications", 0), ("replications", None), ("n_starts", True),
    ("n_starts", 0), ("level", "0.95"), ("level", 1.5), ("level", None),
    ("sample_sizes", [0]), ("model", {"architecture": 3}), ("model", {"architecture": {},
                                                                       "family": {}}),
    ("model", []), ("crlb_var", [1.0]), ("theta_true", "x"),
])
def test_study_documents_with_a_bad_field_are_refused(study_doc, key, value):
    with pytest.raises(sm.PersistenceError):
        StudyResult.from_json(json.dumps(dict(study_doc, **{key: value})))


def test_documents_as_written_still_load(fit_doc, study_doc):
    assert sm.FitResult.from_json(json.dumps(fit_doc)).n_obs == 50
    assert StudyResult.from_json(json.dumps(study_doc)).replications == 2


@pytest.mark.slow
def test_a_report_of_a_group_beyond_4300_digits_prints():
    """mlp(1, 1500, 1): |G| = 2^1500 · 1500! has 4567 digits, beyond Python's int-to-str limit;
    the report writes it as the group does, from the exact order (slow: P = 4501)."""
    rep = sm.identifiability(sm.Model(sm.mlp(1, 1500, 1), sm.Gaussian(sigma=1.0)), n_rows=5)
    text = str(rep)
    import math
    log10 = 1500 * math.log10(2) + math.lgamma(1501) / math.log(10)
    assert f"order ≈ {10 ** (log10 - math.floor(log10)):.3f}e{math.floor(log10)}" in text
    assert rep.group_order == 2 ** 1500 * math.factorial(1500)


def test_big_counts_are_written_from_the_exact_integer():
    from symmle.display import format_count

    import math
    n = 2 ** 1500 * math.factorial(1500)
    log10 = 1500 * math.log10(2) + math.lgamma(1501) / math.log(10)
    assert format_count(n) == f"≈ {10 ** (log10 - math.floor(log10)):.3f}e{math.floor(log10)}"
    assert format_count(10 ** 29) == "1" + "0" * 29
    assert format_count(-(10 ** 40)) == "≈ -1.000e40"
