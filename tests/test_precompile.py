"""`symmle.compiled.precompile`: after it, a fresh process on the same numba cache compiles
nothing for any model the backend runs (checked by numba's own per-kernel cache statistics),
while the same process on an empty cache does compile (so the check can fail)."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

CHECK = r"""
import json, sys
import numpy as np
import symmle as sm
from numba.core.registry import CPUDispatcher
import symmle.compiled._numba_blocks, symmle.compiled._numba_fused
import symmle.compiled._numba_kernels, symmle.compiled._numba_layered
cases = [((4, 16, 16, 16, 1), "tanh", sm.Gaussian()), ((3, 5, 2, 1), "relu", sm.Poisson()),
         ((5, 70, 3), "silu", sm.Categorical()), ((1, 4, 1), "sigmoid", sm.Bernoulli()),
         ((2, 3, 1), "leaky_relu", sm.Gaussian(sigma=0.5))]
for widths, act, fam in cases:
    model = sm.Model(sm.mlp(*widths, activation=act), fam)
    cm = model.compile("numba")
    theta = model.random_params(1) * 0.5
    X, y = model.simulate(theta, n=3000, rng=2)
    cm.evaluate(theta, X, y)
    cm.fisher(theta, X)
    cm.jacobian(theta, X[:500])
    cm.hessian(theta, X[:100], y[:100])
    cm.hessian_times(theta, X, y, np.ones(model.n_params))
    with sm.compiled.threads(1):
        cm.loglik(theta, X, y)
        cm.score(theta, X, y)
compiled = {}
for name, mod in list(sys.modules.items()):
    if name.startswith("symmle.compiled._numba"):
        for key, d in vars(mod).items():
            if isinstance(d, CPUDispatcher) and d.stats.cache_misses:
                compiled[name + "." + key] = len(d.stats.cache_misses)
print(json.dumps(compiled))
"""


def _run(code, cache, *args):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                         capture_output=True, text=True, timeout=900)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_precompile_leaves_nothing_to_compile(tmp_path):
    warmed, empty = tmp_path / "warmed", tmp_path / "empty"
    report = json.loads(_run("import json, symmle.compiled as c; print(json.dumps(c.precompile()))",
                             warmed))
    assert report["models"] >= 7 and report["seconds"] > 0
    assert json.loads(_run(CHECK, warmed)) == {}
    cold = json.loads(_run(CHECK, empty))
    assert "symmle.compiled._numba_fused._FORWARD" in cold and len(cold) >= 10
