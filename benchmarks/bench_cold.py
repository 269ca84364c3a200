"""Cold and warm first calls of the numba backend (issue 19, item 6).

numba compiles a kernel the first time a process calls it with new argument types (only
the kernels a model's calls use: the serial and parallel variant of each are separate
entries) and keeps the machine code in its disk cache (the package's ``__pycache__``, or
``NUMBA_CACHE_DIR``). Each network is timed in fresh processes:

* ``cold``: an empty cache directory (``NUMBA_CACHE_DIR`` set to a new temporary folder),
  the first process on a machine;
* ``warm``: a second process on the same cache.

Per process: ``import symmle``, ``model.compile("numba")``, and the first ``loglik``,
``score`` and ``fisher`` each, at n = 1000 rows (one block of rows: one thread) and at
n = 100 000 (blocks shared between threads; until the tenth session these compiled numba's
``parallel=True`` form of each kernel instead). Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cold.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import symmle as sm
t1 = time.perf_counter()
widths = tuple(int(w) for w in sys.argv[1].split(","))
model = sm.Model(sm.mlp(*widths), sm.Gaussian(sigma=1.0))
theta = model.random_params(0)
X, y = model.simulate(theta, n=int(sys.argv[2]), rng=1)
t2 = time.perf_counter()
cm = model.compile("numba")
t3 = time.perf_counter()
cm.loglik(theta, X, y)
t4 = time.perf_counter()
cm.score(theta, X, y)
t5 = time.perf_counter()
cm.fisher(theta, X)
t6 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "compile": t3 - t2, "loglik": t4 - t3, "score": t5 - t4,
                  "fisher": t6 - t5}))
"""


def run(widths, n, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, widths, str(n)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii") as fh:
            have = next(ln for ln in fh if ln.startswith("flags")).split(":", 1)[1].split()
        flags = " ".join(f for f in ("avx2", "avx512f", "fma") if f in have)
    except (OSError, StopIteration):
        pass
    import numba

    print(f"# cpu: {os.cpu_count()} logical; flags {flags}; load {os.getloadavg()[0]:.2f}; "
          f"numba {numba.__version__}")
    print(f"{'network':>17} {'n':>6} {'cache':>5} {'import':>7} {'compile':>8} {'loglik':>7} "
          f"{'score':>7} {'fisher':>7} {'total':>7}   (s)")
    for widths in ("2,3,1", "10,20,1", "4,16,16,16,1"):
        for n in (1000, 100_000):
            with tempfile.TemporaryDirectory() as cache:
                for label in ("cold", "warm"):
                    t = run(widths, n, cache)
                    total = sum(t.values())
                    print(f"{'mlp(' + widths + ')':>17} {n:6d} {label:>5} {t['import']:7.2f} "
                          f"{t['compile']:8.2f} {t['loglik']:7.2f} {t['score']:7.2f} "
                          f"{t['fisher']:7.2f} {total:7.2f}")


if __name__ == "__main__":
    main()
