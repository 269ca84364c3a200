"""`consistency_study`: its arguments, its configuration and seeds, and the seed's model and θ*."""

from __future__ import annotations

import itertools
import re
import os
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from .._checks import check_bool, check_int, check_probability, json_dumps
from ..architecture import mlp
from .._information import information_rank
from ..errors import ConvergenceError, SymmleError, SymmleTypeError, SymmleValueError, require
from ..families import Gaussian
from ..fitting import fit
from ..fitting._root import information_root
from ..model import Model
from ._checkpoint import append_record, check_same_study, read_checkpoint, start_checkpoint
from ._execution import root_seed, run_auto, run_dask, run_joblib, run_sequential, usable_cpus
from ._result import StudyResult, aggregate, loglog_slope

#: θ* of the seed's experiment, mlp(2, 3, 1, tanh) with Gaussian(sigma=0.5), in DESIGN order:
#: W1 = [[1.5, -1], [-0.5, 2], [1, 1]], b1 = [0.5, -0.5, 0], v = [2, -1.5, 1], c = 0.3.
#: Irreducible (no zero weight vector, no zero output weight, no two units equal or
#: opposite), so the 48-element group is all its non-identifiability (Sussmann 1992).
SEED_THETA = np.array([1.5, -1.0, -0.5, 2.0, 1.0, 1.0, 0.5, -0.5, 0.0, 2.0, -1.5, 1.0, 0.3])
SEED_THETA.flags.writeable = False

#: A reducible truth for the same model (scenario 2): SEED_THETA with the third output
#: weight set to 0, so hidden unit 3 does not reach the output and its incoming
#: weights and bias are not identified at all.
REDUCIBLE_THETA = SEED_THETA.copy()
REDUCIBLE_THETA[11] = 0.0
REDUCIBLE_THETA.flags.writeable = False

#: sample sizes, replications and random starts of the quick study that ``symmle study``
#: runs with no options (about a minute on 2 cores).
QUICK_SIZES = (250, 1000, 4000, 16000)
QUICK_REPS = 40
QUICK_STARTS = 4

#: sample sizes of the full study (with 50 replications).
DEFAULT_SIZES = (100, 300, 1000, 3000, 10000, 30000)

#: the smallest sample size a study accepts (a single row cannot be fitted at all).
_MIN_SAMPLE_SIZE = 2


def seed_model() -> Model:
    """The seed's model: ``mlp(2, 3, 1, activation="tanh")`` with ``Gaussian(sigma=0.5)``.

    Its true parameter is `SEED_THETA` (scenario 1) or `REDUCIBLE_THETA`
    (scenario 2).

    Examples
    --------
    >>> from symmle.study import seed_model, SEED_THETA
    >>> model = seed_model()
    >>> model.n_params, len(SEED_THETA)
    (13, 13)
    >>> model.family
    Gaussian(sigma=0.5)
    """
    return Model(mlp(2, 3, 1, activation="tanh"), Gaussian(sigma=0.5))


# ------------------------------------------------------------------ arguments
#: bounds on the study's sizes: far above any study that finishes on a workstation, low enough
#: that a typo (an extra digit or ten) is refused before a task list or data set is built.
MAX_REPLICATIONS = 100_000
MAX_STARTS = 10_000
MAX_ROWS = 100_000_000
MAX_SIZES = 1_000


def _check_sizes(sample_sizes) -> tuple[int, ...]:
    if isinstance(sample_sizes, (str, bytes)):
        raise SymmleTypeError(f"sample_sizes must be a sequence of integers, got "
                              f"{type(sample_sizes).__name__}")
    try:
        sizes = tuple(itertools.islice(sample_sizes, MAX_SIZES + 1))
    except TypeError:
        raise SymmleTypeError(f"sample_sizes must be a sequence of integers, got "
                              f"{type(sample_sizes).__name__}") from None
    if not sizes:
        raise SymmleValueError(f"sample_sizes must be integers ≥ 2, got {sample_sizes!r}")
    if len(sizes) > MAX_SIZES:
        raise SymmleValueError(f"sample_sizes may hold at most {MAX_SIZES} sizes")
    sizes = tuple(check_int(n, f"sample_sizes[{i}]", _MIN_SAMPLE_SIZE, maximum=MAX_ROWS)
                  for i, n in enumerate(sizes))
    if len(set(sizes)) != len(sizes):
        raise SymmleValueError(f"sample_sizes must be distinct, got {sizes!r}")
    return tuple(sorted(sizes))


def _seed_from(rng):
    """(entropy, spawn_key) of the study's root SeedSequence; entropy None when rng is None."""
    if rng is None:
        return None, ()
    if isinstance(rng, np.random.SeedSequence):
        return rng.entropy, tuple(int(k) for k in rng.spawn_key)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(2**63)), ()
    try:
        return check_int(rng, "rng", 0), ()
    except SymmleTypeError:
        raise SymmleTypeError("rng must be a non-negative int seed, a numpy.random.SeedSequence, "
                              f"a numpy.random.Generator or None, got {rng!r:.60}") from None


def _check_n_jobs(n_jobs, client):
    if isinstance(n_jobs, str) and n_jobs == "auto":
        return "auto"
    if isinstance(n_jobs, str):
        raise SymmleValueError(f"n_jobs must be a positive integer, -1 (all cores) or 'auto', "
                               f"got {n_jobs!r:.40}")
    n_jobs = check_int(n_jobs, "n_jobs")
    if n_jobs == 0:
        raise SymmleValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
    if client is not None and n_jobs not in (1, "auto"):
        raise SymmleValueError("pass either n_jobs (joblib on this machine) or client (a Dask "
                               "cluster), not both")
    return n_jobs




#: a Dask scheduler address: a protocol and its address (``tcp://host:port``, ``inproc://...``),
#: or a host name, IPv4 or bracketed IPv6 address with an optional port.
_ADDRESS = re.compile(r"^([a-z][a-z0-9+]*://\S+|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)(:\d{1,5})?)$")


def _check_client(client) -> None:
    """A Dask ``Client`` (anything with ``submit``), a scheduler address or None."""
    if client is None:
        return
    if isinstance(client, str):
        if not _ADDRESS.match(client):
            raise SymmleValueError(f"client must be a Dask scheduler address such as "
                                   f"'tcp://127.0.0.1:8786', got {client!r:.80}")
        return
    if not callable(getattr(client, "submit", None)):
        raise SymmleTypeError(f"client must be a dask.distributed.Client or a scheduler address "
                              f"(str), got {type(client).__name__}")


def _check_fit_options(fit_options) -> dict:
    fit_options = {} if fit_options is None else fit_options
    if not isinstance(fit_options, dict):
        raise SymmleTypeError(f"fit_options must be a dict of keyword arguments, got {fit_options!r}")
    try:
        json_dumps(fit_options)
    except (TypeError, ValueError):
        raise SymmleValueError("fit_options must be JSON-serialisable (numbers, strings, lists, "
                               "dicts) so that tasks can be checkpointed and sent to workers") from None
    if "n_starts" in fit_options or "rng" in fit_options or "start" in fit_options:
        raise SymmleValueError("fit_options must not set start, n_starts or rng: the study draws "
                               "random starts itself")
    return fit_options


#: rows of the dry run that checks fit_options and θ* before any task (per parameter, and at
#: least a few dozen): enough for every fitting method to run, small enough to cost milliseconds.
_DRY_ROWS_PER_PARAM, _DRY_MIN_ROWS = 3, 30


def _dry_run(model: Model, theta_true: np.ndarray, fit_options: dict, config: dict) -> None:
    """Fail before the first task when no task could succeed: θ* must give finite outputs the
    family can simulate from, and ``fit`` must accept ``fit_options`` (one fit on a small sample
    drawn at θ*, with the study's own seed key (0, 2))."""
    X_probe = np.random.default_rng(root_seed(config, 0, 2)).standard_normal(
        (max(_DRY_MIN_ROWS, _DRY_ROWS_PER_PARAM * model.n_params), model.architecture.n_inputs))
    with np.errstate(all="ignore"):
        eta = model.architecture.forward(theta_true[: model.n_network_params], X_probe)
    if not np.all(np.isfinite(eta)):
        raise SymmleValueError(
            "theta_true gives non-finite network outputs on standard normal inputs (|θ*| too "
            "large); no replication could be simulated or fitted")
    try:
        X, y = model.simulate(theta_true, X_probe.shape[0], rng=root_seed(config, 0, 3),
                              X=X_probe)
    except SymmleError as exc:
        raise SymmleValueError(f"theta_true: cannot simulate data from the model there ({exc})"
                               ) from None
    with np.errstate(all="ignore"):
        ll = model.compile().loglik(theta_true, X, y)
    if not np.isfinite(ll):
        raise SymmleValueError(
            "theta_true gives a non-finite log-likelihood on data drawn there (|θ*| too large "
            "for float64); no replication could be fitted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit(model, X, y, n_starts=1, rng=0, **fit_options)
    except TypeError as exc:
        raise SymmleTypeError(f"fit_options: {exc}") from None
    except ValueError as exc:
        raise SymmleValueError(f"fit_options: {exc}") from None
    except ConvergenceError as exc:
        raise SymmleValueError(f"no fit can succeed with these fit_options on data drawn at "
                               f"theta_true: {exc}") from None


def _require_success(records, sizes) -> None:
    """Raise when every replication of some sample size failed (the table would be all NaN)."""
    for n in sizes:
        mine = [r for r in records if r["n"] == n]
        if mine and all(r["status"] != "ok" for r in mine):
            raise ConvergenceError(
                f"every replication at n = {n} failed (first: {mine[0].get('message', '?')}); "
                f"the study has no estimate to report")


# ------------------------------------------------------------------ the study


def _crlb_variances(model: Model, theta_true: np.ndarray, config: dict, n_fisher: int):
    """``diag(I₁(θ*)⁻¹)`` by Monte Carlo on a fixed sample (seed key (0, 1)). All NaN when the
    library's information rule finds ``I₁(θ*)`` singular (a reducible θ*): the Cramér–Rao
    bound and the regular asymptotics it belongs to need a nonsingular information."""
    X_fisher = np.random.default_rng(root_seed(config, 0, 1)).standard_normal(
        (n_fisher, model.architecture.n_inputs))
    root = information_root(model, theta_true, X_fisher) / np.sqrt(n_fisher)
    verdict = information_rank(None, root=root)
    if verdict.singular:
        return np.full(model.n_params, np.nan)
    return verdict.stderr ** 2


def _collect(results, records: dict, ckpt, bar, config: dict) -> None:
    """Store each finished task's record (and append it to the checkpoint) as it arrives."""
    try:
        with (open(ckpt, "a", encoding="utf-8") if ckpt is not None else nullcontext()) as fh:
            for rec in results:
                records[(rec["n"], rec["rep"])] = rec
                if fh is not None:
                    append_record(fh, rec, config)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if hasattr(results, "close"):
            results.close()


def consistency_study(model, theta_true, sample_sizes, replications=50, n_starts=4, rng=None,
                      n_jobs=1, client=None, *, checkpoint=None, progress=False, level=0.95,
                      n_test=2000, n_fisher=100_000, fit_options=None) -> StudyResult:
    """Simulate, fit and measure: is the MLE consistent, and modulo what?

    For each sample size ``n`` and replication, simulate ``(X, y)`` from θ*
    (``X ~ N(0, I)``), fit the model by maximum likelihood with ``n_starts``
    random starts (`symmle.fit`), align θ̂ to θ* by the symmetry group
    (`symmle.align`) and record the raw, aligned and function errors,
    Wald coverage at the aligned estimate and the log-likelihoods. See the
    `symmle.study` package docstring for the measures and `StudyResult` for the table.

    Parameters
    ----------
    model : Model
    theta_true : array_like, shape (P,)
        The true parameter θ* (network parameters, then the family's).
    sample_sizes : sequence of int
        Distinct sample sizes (sorted in the result).
    replications : int
        Fits per sample size.
    n_starts : int
        Random starts per fit; the best log-likelihood is kept. Nothing in the
        fit uses θ*.
    rng : int, SeedSequence, Generator or None
        The study's seed. With ``None`` a fresh seed is drawn (and stored in
        the result), unless ``checkpoint`` names an existing file, whose seed
        is then reused.
    n_jobs : int or "auto"
        Worker processes for joblib (``-1``: all cores); 1 runs in this process; ``"auto"``
        runs the tasks here, timed, until the rest is expected to finish sooner on one
        worker a usable core (their start-up of about a second included), then on them
        (`symmle.study._execution.run_auto`; the CLI's default). The table is the same.
    client : dask.distributed.Client or str, optional
        Run the tasks on this Dask cluster (or on the scheduler at this
        address). A worker that dies has its tasks rerun by the scheduler.
        Cannot be combined with ``n_jobs`` other than 1.
    checkpoint : str or path-like, optional
        A JSON-lines file: each finished task is appended as it ends, and a
        later call with the same file runs only the missing tasks.
    progress : bool
        Show a tqdm progress bar (``parallel`` extra).
    level : float
        Confidence level of the Wald intervals.
    n_test : int
        Rows of the fixed test set for ``function_error``.
    n_fisher : int
        Rows of the fixed Monte Carlo sample for the per-row Fisher
        information ``I₁(θ*) = model.compile().fisher(θ*, X) / n_fisher``.
    fit_options : dict, optional
        Further JSON-serialisable keyword arguments for `symmle.fit`.

    Returns
    -------
    StudyResult
        Identical for any ``n_jobs``, backend, and for interrupted-then-resumed
        runs with the same seed.

    Raises
    ------
    SymmleValueError, SymmleTypeError
        Bad arguments.
    PersistenceError
        A checkpoint file that another study wrote.

    Notes
    -----
    The calling process's thread settings are left alone: each task evaluates the model on
    one thread inside ``symmle.compiled.threads(1)``, and only joblib worker processes limit
    their BLAS to one thread, for the duration of a task.

    Examples
    --------
    >>> from symmle.study import consistency_study, seed_model, SEED_THETA
    >>> study = consistency_study(seed_model(), SEED_THETA, [400, 1600], replications=3,
    ...                           n_starts=2, rng=0)
    >>> [row["n"] for row in study.table]
    [400, 1600]
    >>> bool(study.table[1]["aligned_error"] < study.table[1]["raw_error"])
    True
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(f"model must be a symmle Model, got {type(model).__name__}")
    theta_true = model.check_theta(theta_true, name="theta_true")
    sizes = _check_sizes(sample_sizes)
    replications = check_int(replications, "replications", 1, maximum=MAX_REPLICATIONS)
    n_starts = check_int(n_starts, "n_starts", 1, maximum=MAX_STARTS)
    n_test = check_int(n_test, "n_test", 1, maximum=MAX_ROWS)
    n_fisher = check_int(n_fisher, "n_fisher", 1, maximum=MAX_ROWS)
    n_jobs = _check_n_jobs(n_jobs, client)
    _check_client(client)
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise SymmleTypeError(f"checkpoint must be a path (str or os.PathLike), got "
                              f"{type(checkpoint).__name__}")
    progress = check_bool(progress, "progress")
    level = check_probability(level, "level")
    fit_options = _check_fit_options(fit_options)
    entropy, spawn_key = _seed_from(rng)
    spec = {"architecture": model.architecture.to_dict(), "family": model.family.to_dict()}
    config = {"model": spec, "theta_true": theta_true.tolist(), "entropy": entropy,
              "spawn_key": list(spawn_key), "n_starts": n_starts, "fit_options": fit_options,
              "n_test": n_test, "level": level}
    P = model.n_params

    done = {}
    ckpt = None if checkpoint is None else Path(checkpoint)
    if ckpt is not None and ckpt.exists():
        stored, done = read_checkpoint(ckpt, config, P)
        if stored is not None:
            config["entropy"], config["spawn_key"] = stored["entropy"], stored["spawn_key"]
    seeded = config["entropy"] is not None
    if not seeded:
        config["entropy"] = np.random.SeedSequence().entropy
    if ckpt is not None:
        stored = start_checkpoint(ckpt, config)
        if stored != config:  # another first run wrote its header just before this one
            check_same_study(ckpt, dict(config, entropy=config["entropy"] if seeded else None),
                             stored)
            config["entropy"], config["spawn_key"] = stored["entropy"], stored["spawn_key"]
    _dry_run(model, theta_true, fit_options, config)

    crlb_var = _crlb_variances(model, theta_true, config, n_fisher)
    wanted = [(n, rep) for n in sizes for rep in range(replications)]
    records = {key: done[key] for key in wanted if key in done}
    todo = [key for key in wanted if key not in records]
    if todo:
        if client is not None:
            results = run_dask(config, todo, client)
        elif n_jobs == 1:
            results = run_sequential(config, todo, model)
        elif n_jobs == "auto":  # workers only where the tasks are worth their start-up
            results = run_auto(config, todo, model, usable_cpus())
        else:
            results = run_joblib(config, todo, n_jobs)
        bar = None
        if progress:
            tqdm = require("tqdm", "parallel")
            bar = tqdm.tqdm(total=len(wanted), initial=len(records), unit="fit", desc="study")
        _collect(results, records, ckpt, bar, config)

    ordered = tuple(records[key] for key in wanted)
    _require_success(ordered, sizes)
    table = aggregate(ordered, sizes, theta_true, crlb_var, level)
    slope = loglog_slope(sizes, [r["aligned_error"] for r in table])
    return StudyResult(table=table, slope=slope, records=ordered, theta_true=theta_true.copy(),
                       param_names=tuple(model.param_names), model=spec, sample_sizes=sizes,
                       replications=replications, n_starts=n_starts, level=level,
                       crlb_var=crlb_var, seed={"entropy": config["entropy"],
                                                "spawn_key": list(config["spawn_key"])})
