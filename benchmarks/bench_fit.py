"""Benchmark: symmle's ``fit`` against scikit-learn's MLPRegressor and scipy BFGS.

2-3-1 tanh network, Gaussian noise, n = 10 000 simulated rows (θ* of the
seed's study: FACTS.md). Every method starts from the same points
(``model.random_params`` with seeds spawned from one SeedSequence) and
minimises the same objective (the mean squared error; σ profiled out, so the
Gaussian log-likelihood is ``-n/2 (log(2π RSS/n) + 1)``):

* symmle ``fit(model, X, y, start=θ₀)`` with its default method (damped
  Fisher scoring = Levenberg–Marquardt on the exact Jacobian) and the other
  methods;
* scikit-learn ``MLPRegressor(hidden_layer_sizes=(3,), activation="tanh",
  solver="lbfgs", alpha=0, tol=1e-10)``, warm-started from θ₀;
* scipy ``minimize(method="BFGS")`` with finite-difference gradients.

Prints, per method, the median wall time per start, the median number of
iterations, the final log-likelihoods, and the ratios against scikit-learn
measured in the same run. Run: ``python benchmarks/bench_fit.py [--starts 10]``
(``SYMMLE_BACKEND=numba python benchmarks/bench_fit.py`` for the numba backend); on a
busy machine ``OMP_NUM_THREADS=1`` gives steadier figures (scikit-learn's BLAS threads
otherwise oversubscribe the cores).
Needs the ``bench`` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import scipy.optimize as opt

import symmle as sm
from symmle.errors import require
from symmle.fitting import fit

THETA_STAR = np.array([1.5, -1.0, -0.5, 2.0, 1.0, 1.0, 0.5, -0.5, 0.0,
                       2.0, -1.5, 1.0, 0.3, np.log(0.5)])


def profile_loglik(rss, n):
    return -0.5 * n * (np.log(2.0 * np.pi * rss / n) + 1.0)


def run_symmle(model, X, y, theta0, method):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(model, X, y, start=theta0, method=method)
    return time.perf_counter() - t0, res.loglik, res.n_iter


def run_sklearn(X, y, theta0):
    nn = require("sklearn.neural_network", "bench")
    exc = require("sklearn.exceptions", "bench")
    mlp = nn.MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", solver="lbfgs", alpha=0.0,
                          tol=1e-10, max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exc.ConvergenceWarning)
        mlp.fit(X, y)  # builds the layers; the warm start below replaces them
    W1, b1 = theta0[0:6].reshape(3, 2), theta0[6:9]
    W2, b2 = theta0[9:12].reshape(1, 3), theta0[12:13]
    mlp.coefs_ = [W1.T.copy(), W2.T.copy()]
    mlp.intercepts_ = [b1.copy(), b2.copy()]
    mlp.set_params(max_iter=10_000)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exc.ConvergenceWarning)
        mlp.fit(X, y)
    dt = time.perf_counter() - t0
    rss = float(np.sum((mlp.predict(X) - y) ** 2))
    return dt, profile_loglik(rss, len(y)), mlp.n_iter_


def run_bfgs_fd(model, X, y, theta0):
    arch = model.architecture
    n = len(y)

    def mse(tn):
        return 0.5 * float(np.mean((arch.forward(tn, X)[:, 0] - y) ** 2))

    t0 = time.perf_counter()
    r = opt.minimize(mse, theta0[: arch.n_params], method="BFGS")
    dt = time.perf_counter() - t0
    return dt, profile_loglik(2.0 * n * r.fun, n), r.nit


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-bfgs", action="store_true", help="skip the slow finite-difference BFGS")
    args = ap.parse_args(argv)

    model = sm.Model(sm.mlp(2, 3, 1, activation="tanh"), sm.Gaussian())
    X, y = model.simulate(THETA_STAR, n=args.n, rng=args.seed)
    ll_true = model.compile().loglik(THETA_STAR, X, y)
    seeds = np.random.SeedSequence(args.seed + 1).spawn(args.starts)
    starts = [model.random_params(np.random.default_rng(s)) for s in seeds]

    # warm-up: compile the model and import everything outside the timings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(model, X[:200], y[:200], start=starts[0])
        fit(model, X[:200], y[:200], start=starts[0], method="trust-exact")

    runners = {
        "symmle scoring (default)": lambda t: run_symmle(model, X, y, t, "scoring"),
        "symmle lm (MINPACK)": lambda t: run_symmle(model, X, y, t, "lm"),
        "symmle trust-exact": lambda t: run_symmle(model, X, y, t, "trust-exact"),
        "sklearn MLPRegressor lbfgs": lambda t: run_sklearn(X, y, t),
    }
    if not args.no_bfgs:
        runners["scipy BFGS, FD gradient"] = lambda t: run_bfgs_fd(model, X, y, t)
    out = {name: [] for name in runners}
    for theta0 in starts:  # interleave methods so load drifts hit all of them alike
        for name, run in runners.items():
            out[name].append(run(theta0))

    best = max(ll for rows in out.values() for _, ll, _ in rows)
    print(f"2-3-1 tanh Gaussian, n = {args.n}, {args.starts} common starts; "
          f"loglik at θ* = {ll_true:.3f}, best found = {best:.3f}; symmle backend "
          f"{sm.compiled.default_backend()} (SYMMLE_BACKEND=numba for the numba one)")
    ref = np.array(out["sklearn MLPRegressor lbfgs"])
    ref_t, ref_ll = np.median(ref[:, 0]), ref[:, 1]
    head = (f"{'method':<28} {'ms/start':>9} {'× sklearn':>10} {'iters':>6} {'median ll':>11} "
            f"{'≥ sklearn ll':>13} {'at best':>8}")
    print(head)
    print("-" * len(head))
    for name, rows in out.items():
        a = np.array(rows)
        t_med = np.median(a[:, 0])
        ge = int(np.sum(a[:, 1] >= ref_ll - 1e-6))
        at_best = int(np.sum(a[:, 1] >= best - 1e-3))
        print(f"{name:<28} {1e3 * t_med:9.1f} {t_med / ref_t:10.2f} {np.median(a[:, 2]):6.0f} "
              f"{np.median(a[:, 1]):11.3f} {ge:>6}/{len(rows):<6} {at_best:>4}/{len(rows)}")
    print("per start log-likelihood (rows: starts):")
    names = list(out)
    print("  " + "  ".join(f"{n.split()[0][:6] + ' ' + n.split()[1][:8]:>16}" for n in names))
    for i in range(args.starts):
        print("  " + "  ".join(f"{out[n][i][1]:16.4f}" for n in names))
    s_t = np.median(np.array(out["symmle scoring (default)"])[:, 0])
    print(f"ratio symmle default / sklearn time per start: {s_t / ref_t:.2f} (target ≤ 0.5)")


if __name__ == "__main__":
    main()
