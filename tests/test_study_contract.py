"""A study that cannot succeed fails before its first task; checkpoints that do not belong are
refused; every argument is checked before work starts."""

import json

import numpy as np
import pytest

import symmle as sm
from symmle.study import SEED_THETA, consistency_study, seed_model
from symmle.study import _execution
from symmle.study._checkpoint import start_checkpoint


@pytest.fixture
def model():
    return seed_model()


@pytest.fixture
def no_tasks(monkeypatch):
    """Fail the test if any task runs."""
    def boom(*a, **k):
        raise AssertionError("a task ran")
    monkeypatch.setattr(_execution, "_run_task", boom)


@pytest.mark.parametrize("options, err, match", [
    ({"tol": "x"}, TypeError, "fit_options: tol"),
    ({"method": "bogus"}, ValueError, "fit_options: method"),
    ({"max_iter": 0}, ValueError, "fit_options: max_iter"),
    ({"nonsense": 1}, TypeError, "fit_options: .*nonsense"),
])
def test_fit_options_are_checked_before_the_first_task(model, no_tasks, options, err, match):
    with pytest.raises(err, match=match):
        consistency_study(model, SEED_THETA, [50, 100], replications=2, n_starts=1, rng=0,
                          fit_options=options)


def test_a_truth_that_cannot_be_simulated_is_refused(model, no_tasks):
    for huge in (1e300, 1e200):
        with pytest.raises(ValueError, match="theta_true"):
            consistency_study(model, np.full(13, huge), [50, 100], replications=2, rng=0)
    pois = sm.Model(sm.mlp(1, 1), sm.Poisson())
    with pytest.raises(ValueError, match="theta_true: cannot simulate"):
        consistency_study(pois, np.array([0.0, 80.0]), [50, 100], replications=2, rng=0)


def test_a_size_where_every_replication_failed_raises(model, monkeypatch):
    def failing_fit(*a, **k):
        raise sm.ConvergenceError("no start converged")
    monkeypatch.setattr(_execution, "fit", failing_fit)
    with pytest.raises(sm.ConvergenceError, match="every replication at n = 50 failed"):
        consistency_study(model, SEED_THETA, [50], replications=2, n_starts=1, rng=0)


@pytest.mark.parametrize("kwargs, err", [
    ({"replications": 10 ** 9}, ValueError), ({"replications": True}, TypeError),
    ({"n_starts": True}, TypeError), ({"n_starts": 10 ** 12}, ValueError),
    ({"n_test": 0}, ValueError), ({"n_fisher": 2.5}, TypeError),
    ({"client": 42}, TypeError), ({"client": "not an address"}, ValueError),
    ({"checkpoint": 3}, TypeError), ({"progress": "yes"}, TypeError),
    ({"level": "0.9"}, TypeError), ({"level": 1.5}, ValueError),
    ({"n_jobs": 1.5}, TypeError), ({"n_jobs": 0}, ValueError),
    ({"sample_sizes": range(10 ** 9)}, ValueError), ({"sample_sizes": "100"}, TypeError),
    ({"sample_sizes": [10 ** 12]}, ValueError),
])
def test_every_argument_is_checked_before_work(model, no_tasks, kwargs, err):
    args = {"sample_sizes": [50, 100], "replications": 2, "rng": 0}
    args.update(kwargs)
    sizes = args.pop("sample_sizes")
    with pytest.raises(err):
        consistency_study(model, SEED_THETA, sizes, **args)


def _run(model, path, rng=0, reps=2):
    return consistency_study(model, SEED_THETA, [60, 120], replications=reps, n_starts=1,
                             rng=rng, checkpoint=path, n_fisher=2000, n_test=200)


def test_checkpoint_records_of_another_study_are_refused(model, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _run(model, a, rng=0)
    _run(model, b, rng=1)
    # a's header with b's records: the header parses, the records are another study's
    lines_a = a.read_text().splitlines()
    lines_b = b.read_text().splitlines()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([lines_a[0]] + lines_b[1:]) + "\n")
    with pytest.raises(sm.PersistenceError, match="belongs to another study"):
        _run(model, mixed, rng=0)


def test_a_one_character_edit_that_still_parses_is_refused(model, tmp_path):
    path = tmp_path / "s.jsonl"
    _run(model, path)
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["raw_error"] = rec["raw_error"] + 1.0  # still valid JSON, still a valid record
    path.write_text("\n".join([lines[0], json.dumps(rec)] + lines[2:]) + "\n")
    with pytest.raises(sm.PersistenceError, match="checksum"):
        _run(model, path)
    # a record whose seed key was rewritten to another task is refused as well
    rec = json.loads(lines[1])
    del rec["checksum"]
    path.write_text("\n".join([lines[0], json.dumps(rec)] + lines[2:]) + "\n")
    with pytest.raises(sm.PersistenceError, match="without the study token"):
        _run(model, path)


def test_resuming_a_checkpoint_gives_the_same_table(model, tmp_path):
    path = tmp_path / "s.jsonl"
    first = _run(model, path, reps=2)
    again = _run(model, path, reps=2)
    assert json.dumps(first.table) == json.dumps(again.table)


def test_the_header_is_created_exclusively(tmp_path):
    """Of two first runs, the second finds the first's header and adopts its configuration."""
    path = tmp_path / "c.jsonl"
    one = {"entropy": 1, "spawn_key": [], "n_starts": 1}
    two = {"entropy": 2, "spawn_key": [], "n_starts": 1}
    assert start_checkpoint(path, one) == one
    assert start_checkpoint(path, two) == one
    assert len(path.read_text().splitlines()) == 1
