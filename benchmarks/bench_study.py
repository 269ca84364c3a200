"""Speed of the consistency study: fits per second, and the full study's time on this machine.

Run: ``python benchmarks/bench_study.py [--reps-sample 4] [--jobs 2] [--full]``

1. Fits per second of ``symmle.fit`` (one start, the seed's 2-3-1 tanh model)
   at several n, against scikit-learn's ``MLPRegressor(solver="lbfgs")`` on the
   same data measured in the same run (the FACTS reference: ≈ 40 ms per start
   at n = 10⁴), printed as a ratio.
2. The default full study (``DEFAULT_SIZES`` = 100 … 30 000, 50 replications,
   4 starts) on ``--jobs`` workers: a sample of ``--reps-sample`` replications
   per size is run and the time scaled to 50 (worker start-up is counted
   once); ``--full`` runs the whole study instead. The target is < 10 minutes
   on 2 cores.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from symmle.fitting import fit
from symmle.study import DEFAULT_SIZES, SEED_THETA, consistency_study, seed_model


def fits_per_second(model, n, repeats=5):
    times, times_ref = [], []
    try:
        from sklearn.neural_network import MLPRegressor
    except ImportError:  # the bench extra
        MLPRegressor = None
    for r in range(repeats):
        X, y = model.simulate(SEED_THETA, n, rng=r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            fit(model, X, y, n_starts=1, rng=r)
            times.append(time.perf_counter() - t)
            if MLPRegressor is not None:
                reg = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", solver="lbfgs",
                                   alpha=0.0, tol=1e-10, max_iter=2000, random_state=r)
                t = time.perf_counter()
                reg.fit(X, y)
                times_ref.append(time.perf_counter() - t)
    med = float(np.median(times))
    ref = float(np.median(times_ref)) if times_ref else float("nan")
    return med, ref


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps-sample", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args(argv)
    model = seed_model()
    model.compile()

    print("1. one fit (one start) of the seed's mlp(2, 3, 1, tanh), Gaussian(sigma=0.5)")
    print(f"{'n':>7} {'symmle s/fit':>13} {'fits/s':>8} {'sklearn lbfgs s':>16} {'ratio':>7}")
    for n in (250, 1000, 4000, 10000, 30000):
        med, ref = fits_per_second(model, n)
        print(f"{n:>7} {med:>13.4f} {1 / med:>8.1f} {ref:>16.4f} {med / ref:>7.2f}")

    print(f"\n2. the default study: sizes {DEFAULT_SIZES}, 50 replications, 4 starts, "
          f"n_jobs={args.jobs}")
    reps = 50 if args.full else args.reps_sample
    # start the workers first so their start-up is not scaled up with the sample
    t0 = time.perf_counter()
    consistency_study(model, SEED_THETA, [100], replications=args.jobs, n_starts=1, rng=1,
                      n_jobs=args.jobs)
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = consistency_study(model, SEED_THETA, DEFAULT_SIZES, replications=reps, rng=2,
                            n_jobs=args.jobs)
    elapsed = time.perf_counter() - t0
    estimate = startup + elapsed * 50 / reps
    busy = sum(r["seconds"] for r in res.records)
    print(f"worker start-up {startup:.1f} s; {reps} replications per size took {elapsed:.1f} s "
          f"({busy / elapsed:.2f} cores busy on average)")
    for n in DEFAULT_SIZES:
        secs = [r["seconds"] for r in res.records if r["n"] == n]
        print(f"  n = {n:>6}: {np.mean(secs):.2f} s per task (4 starts), max {np.max(secs):.2f} s")
    label = "measured" if args.full else "estimated"
    print(f"full study (50 replications) {label}: {estimate / 60:.1f} min "
          f"(target < 10 min on 2 cores)")
    if args.full:
        print(res)


if __name__ == "__main__":
    main()
