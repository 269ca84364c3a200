"""The default thread count against one thread, interleaved (issue 19, item 5).

For each benchmark network (tanh, Gaussian σ = 1) and quantity, calls at the default thread
count (`symmle.compiled.num_threads`, BLAS as the process has it) and inside
``symmle.compiled.threads(1)`` alternate, each after a short idle sleep, so that load drifts
hit both alike; printed: the best and the median of each (ms) and the ratio default / one
thread of the medians (target: never above 1 by more than noise). The single-chunk case of
the issue (mlp(10, 180, 1), n = 1000) is included. Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_threads.py
    [--backend numpy|numba] [--repeat 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info

import symmle as sm

CASES = [((2, 3, 1), 100_000), ((10, 20, 1), 100_000), ((4, 16, 16, 16, 1), 100_000),
         ((2, 3, 1), 1000), ((10, 180, 1), 1000)]
QUANTITIES = [("loglik",), ("loglik", "score"), ("fisher",), ("loglik", "score", "fisher")]


def header():
    flags = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = " ".join(f for f in ("avx2", "avx512f", "fma") if f in have)
                break
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"# cpu flags {flags}; load {load}; symmle default threads "
          f"{sm.compiled.num_threads()}")
    for d in threadpool_info():
        print(f"# {d.get('internal_api')} {d.get('version')} kernel {d.get('architecture')} "
              f"threads {d.get('num_threads')}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("numpy", "numba"), default="numpy")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--settle", type=float, default=0.02)
    args = ap.parse_args(argv)
    header()
    print(f"{'network':>18} {'n':>7} {'quantity':>22} {'default':>16} {'1 thread':>16} "
          f"{'ratio':>6}")
    worst = 0.0
    for widths, n in CASES:
        model = sm.Model(sm.mlp(*widths, activation="tanh"), sm.Gaussian(sigma=1.0))
        theta = model.random_params(0)
        X, y = model.simulate(theta, n=n, rng=1)
        cm = model.compile(backend=args.backend)
        for what in QUANTITIES:
            cm.evaluate(theta, X, y, what)  # warm: compile, workspaces, thread pool
            times = {None: [], 1: []}
            for _ in range(args.repeat):
                for t in (None, 1):
                    with sm.compiled.threads(t):
                        time.sleep(args.settle)
                        t0 = time.perf_counter()
                        cm.evaluate(theta, X, y, what)
                        times[t].append(1e3 * (time.perf_counter() - t0))
            d, o = np.array(times[None]), np.array(times[1])
            ratio = float(np.median(d) / np.median(o))
            worst = max(worst, ratio)
            print(f"{str(widths):>18} {n:>7} {'+'.join(what):>22} "
                  f"{np.min(d):7.2f}/{np.median(d):7.2f} {np.min(o):7.2f}/{np.median(o):7.2f} "
                  f"{ratio:6.2f}")
    print(f"(best/median ms; ratio = median default / median one thread; worst {worst:.2f})")


if __name__ == "__main__":
    main()
