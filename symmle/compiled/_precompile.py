"""The numba backend's kernels compiled ahead of the first call, into numba's disk cache.

numba compiles a kernel the first time a process calls it with new argument types and keeps
the machine code in its disk cache (the package's ``__pycache__``, or ``NUMBA_CACHE_DIR`` where
that is not writable); the cache is specific to the CPU, so it cannot ship with the package.
`precompile` runs every kernel once on small models that take every route of the backend
(the fused and the layered programs, one and several outputs, constant and per-row weights,
ReLU-type units' kink checks, the Hessian's elementwise kernels), so that a machine's set-up
(a container image, a cluster node's first job) pays the compilation once and no later
process does. The kernels take the network as data, so any network then finds them cached.
"""

from __future__ import annotations

import time

import numpy as np

from ..architecture import mlp
from ..errors import require
from ..families import Bernoulli, Categorical, Gaussian, Poisson
from ..model import Model

__all__ = ["precompile"]


def _models():
    """Small models that between them call every kernel of the numba backend."""
    return [
        Model(mlp(2, 3, 1, activation="tanh"), Gaussian(sigma=1.0)),  # fused, constant weight
        Model(mlp(2, 3, 1, activation="sigmoid"), Bernoulli()),  # fused, per-row weights
        Model(mlp(2, 2, 2, 1, activation="relu"), Poisson()),  # kink checks
        Model(mlp(2, 3, 3, activation="silu"), Categorical()),  # several outputs
        Model(mlp(2, 3, 1, activation="leaky_relu"), Gaussian()),  # a family parameter
        Model(mlp(3, 30, 1, activation="tanh"), Gaussian(sigma=1.0)),  # layered (90 edges)
        Model(mlp(3, 30, 2, activation="sigmoid"), Categorical()),  # layered, two outputs
    ]


def precompile() -> dict:
    """Compile every kernel of the numba backend into numba's disk cache.

    For a machine's set-up: run it once (``python -c "import symmle.compiled as c;
    c.precompile()"``, for example in a container image's build) and no later process on this
    machine pays the numba backend's first-call compilation (6.7–9.9 s for a network's first
    log-likelihood, score and Fisher information, `benchmarks/bench_cold.py`). Where the
    cache directory is not writable numba keeps the code in memory only, and the call
    warms this process alone.

    Returns
    -------
    dict
        ``{"seconds": wall time, "models": number of models run}``.

    Raises
    ------
    symmle.errors.MissingDependencyError
        When numba is not installed (the ``fast`` extra).
    """
    require("numba", "fast")
    t0 = time.perf_counter()
    models = _models()
    for model in models:
        cm = model.compile("numba")
        theta = model.random_params(0)
        X, y = model.simulate(theta, n=40, rng=1)
        cm.evaluate(theta, X, y, ("loglik", "score", "fisher", "hessian"))
        cm.loglik(theta, X, y)
        cm.score(theta, X, y)
        cm.fisher(theta, X)
        cm.jacobian(theta, X)
        cm.predict(theta, X)
        cm.hessian_times(theta, X, y, np.ones(model.n_params))
    return {"seconds": time.perf_counter() - t0, "models": len(models)}
