"""Truths and data for the known cases: `simulate_truth` and `read_theta`.

The exact learning coefficients hold under conditions on the input law (a positive-definite
second moment for reduced-rank regression; an analytic K, e.g. inputs of compact support, for
the odd 1-H-1 networks): `simulate_truth` draws data under either input law, and `read_theta`
reads a truth θ* from JSON (a list of numbers, or a `symmle fit --json` result).
"""

from __future__ import annotations

import json
import os

import numpy as np

from .._checks import as_rng, check_choice, check_int
from ..errors import PersistenceError, SymmleTypeError
from ..model import MAX_SIMULATED_ROWS, Model

__all__ = ["simulate_truth", "read_theta", "INPUTS"]

#: The input laws of `simulate_truth`: standard normal, or uniform on [−2, 2].
INPUTS = ("normal", "uniform")

#: the largest θ* file `read_theta` reads (far beyond any network's parameter vector).
MAX_THETA_BYTES = 64 * 2 ** 20


def simulate_truth(model, theta, n, inputs: str = "normal", rng=0):
    """Data ``(X, y)`` of n rows from ``model`` at θ, with standard normal or uniform inputs.

    Parameters
    ----------
    model : Model
    theta : array_like, shape (P,)
    n : int
        Rows (at least 1).
    inputs : {"normal", "uniform"}
        ``X ~ N(0, I)``, or uniform on ``[−2, 2]^d`` (compact support: the population loss of
        a tanh network is then analytic, as the 1-H-1 odd case of
        `learning_coefficient_theory` needs).
    rng : Generator, int or None
        The inputs are drawn first, then the responses (`Model.simulate`), from one generator.

    Returns
    -------
    X : ndarray, shape (n, d)
    y : ndarray

    Examples
    --------
    >>> from symmle.singular import simulate_truth
    >>> model = sm.Model(sm.mlp(1, 2, 1, activation="tanh", bias=False), sm.Gaussian(1.0))
    >>> X, y = simulate_truth(model, np.zeros(4), 500, inputs="uniform", rng=0)
    >>> X.shape, bool(np.abs(X).max() <= 2)
    ((500, 1), True)
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(
            f"model must be a Model (sm.Model(sm.mlp(...), family)), got {type(model).__name__}")
    theta = model.check_theta(theta, name="theta")
    n = check_int(n, "n", 1, maximum=MAX_SIMULATED_ROWS)
    inputs = check_choice(inputs, "inputs", INPUTS)
    gen = as_rng(rng)
    d = model.architecture.n_inputs
    X = gen.uniform(-2.0, 2.0, (n, d)) if inputs == "uniform" else gen.standard_normal((n, d))
    return model.simulate(theta, n, rng=gen, X=X)


def read_theta(source, model) -> np.ndarray:
    """θ* of ``model`` from JSON: a list of P numbers, or an object with ``"params"`` (the
    JSON of a `FitResult`, e.g. ``symmle fit --json``; its ``"param_names"``, when present,
    must be the model's).

    Parameters
    ----------
    source : str or os.PathLike
        A path to a JSON file, or the JSON text itself (a string starting with ``[`` or ``{``).
    model : Model

    Returns
    -------
    ndarray, shape (P,)

    Raises
    ------
    PersistenceError
        Not JSON, not a list of numbers or an object with ``"params"``, or parameter names
        that are not the model's.
    ParamsError
        The wrong number of values, or values that are not finite.
    OSError
        The file cannot be read.

    Examples
    --------
    >>> from symmle.singular import read_theta
    >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(1.0))
    >>> read_theta("[0.5, -1.0]", model)
    array([ 0.5, -1. ])
    """
    if not isinstance(model, Model):
        raise SymmleTypeError(
            f"model must be a Model (sm.Model(sm.mlp(...), family)), got {type(model).__name__}")
    if isinstance(source, str) and source.lstrip()[:1] in ("[", "{"):
        text, where = source, "the JSON text"
    elif isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        if os.path.getsize(where) > MAX_THETA_BYTES:
            raise PersistenceError(f"{where} is larger than {MAX_THETA_BYTES >> 20} MiB: not "
                                   f"a θ* file")
        with open(where, encoding="utf-8") as f:
            text = f.read()
    else:
        raise SymmleTypeError(f"source must be a path or JSON text, got "
                              f"{type(source).__name__}")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PersistenceError(f"{where} is not JSON: {exc}") from None
    if isinstance(doc, dict):
        names = doc.get("param_names")
        if names is not None and list(names) != list(model.param_names):
            raise PersistenceError(
                f"{where} holds the parameters {', '.join(map(str, names[:6]))}… of another "
                f"model; this one's are {', '.join(model.param_names[:6])}…")
        doc = doc.get("params")
    if not isinstance(doc, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in doc):
        raise PersistenceError(f"{where} must hold a list of {model.n_params} numbers, or an "
                               f"object whose \"params\" is one (a `symmle fit --json` result)")
    return model.check_theta(np.asarray(doc, dtype=float), name="theta")
