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
measured in the same run.

``--case 10-20-1``: a 10-20-1 tanh network (P = 241 network parameters), n = 10⁵ rows
simulated from ``random_params(0)`` with σ = 0.5, fitted by ``fit(..., method=None)``
(the default, ``"auto"``) and by scikit-learn's lbfgs from the same starts, everything on one
thread (``threadpoolctl.threadpool_limits(1)`` and ``sm.compiled.threads(1)``). The objective
is scikit-learn's ``MLPRegressor(alpha=α)``: ``fit(Gaussian(sigma=1.0), penalty=α,
refine=False)``, whose penalised log-likelihood is reported for both (``--alpha``, default 1;
without a penalty this likelihood has no maximum at finite weights on these data: units cancel
each other with ever larger weights, and no method converges). Per start: converged, the
penalised log-likelihood, the time and its ratio to scikit-learn's.

Run: ``python benchmarks/bench_fit.py [--starts 10]``
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
from symmle.fitting import _lbfgs, _scoring, fit

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


def sklearn_mlp(X, y, arch, theta0, alpha=0.0):
    """A fitted MLPRegressor (lbfgs) warm-started from θ₀: ``(seconds, mlp, θ̂ in our order)``."""
    nn = require("sklearn.neural_network", "bench")
    exc = require("sklearn.exceptions", "bench")
    mlp = nn.MLPRegressor(hidden_layer_sizes=tuple(arch.widths[1:-1]), activation="tanh",
                          solver="lbfgs", alpha=alpha, tol=1e-10, max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exc.ConvergenceWarning)
        mlp.fit(X[:50], y[:50])  # builds the layers; the warm start below replaces them
    layers = arch.unflatten(theta0[: arch.n_params])
    mlp.coefs_ = [W.T.copy() for W, _ in layers]
    mlp.intercepts_ = [b.copy() for _, b in layers]
    mlp.set_params(max_iter=10_000)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exc.ConvergenceWarning)
        mlp.fit(X, y)
    dt = time.perf_counter() - t0
    theta = arch.flatten([(W.T, b) for W, b in zip(mlp.coefs_, mlp.intercepts_)])
    return dt, mlp, theta


def run_sklearn(X, y, theta0, arch):
    dt, mlp, _ = sklearn_mlp(X, y, arch, theta0)
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


def machine():
    """The CPU's vector flags and the BLAS libraries (kernel, version, threads)."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    shown = [f for f in ("avx2", "fma", "avx512f", "avx512dq") if f in flags]
    tpc = require("threadpoolctl", "bench")
    blas = [f"{d.get('internal_api')} {d.get('version')} {d.get('architecture')} "
            f"({d.get('num_threads')} threads)" for d in tpc.threadpool_info()]
    return f"CPU flags: {' '.join(shown) or '?'}; BLAS: {'; '.join(blas)}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=("2-3-1", "10-20-1"), default="2-3-1")
    ap.add_argument("--n", type=int, default=None, help="rows (10⁴ for 2-3-1, 10⁵ for 10-20-1)")
    ap.add_argument("--starts", type=int, default=None, help="starts (10 for 2-3-1, 3 for 10-20-1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alpha", type=float, default=1.0, help="10-20-1: the weight penalty")
    ap.add_argument("--before", action="store_true",
                    help="10-20-1: also run the default as it was before the Newton finish "
                         "(L-BFGS to 1e-14 a step, then scoring), interleaved")
    ap.add_argument("--one-off-hvp", action="store_true",
                    help="10-20-1: also the Newton finish with H v recomputed from scratch for "
                         "each product (as before the tenth session), interleaved")
    ap.add_argument("--scoring", action="store_true",
                    help="10-20-1: also run method='scoring' (slow: up to max_iter informations)")
    ap.add_argument("--no-bfgs", action="store_true", help="skip the slow finite-difference BFGS")
    args = ap.parse_args(argv)
    if args.case == "10-20-1":
        tpc = require("threadpoolctl", "bench")
        with tpc.threadpool_limits(1), sm.compiled.threads(1):
            print(machine())
            return main_large(args)
    print(machine())
    args.n = 10_000 if args.n is None else args.n
    args.starts = 10 if args.starts is None else args.starts

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
        "symmle default (auto)": lambda t: run_symmle(model, X, y, t, None),
        "symmle lbfgs": lambda t: run_symmle(model, X, y, t, "lbfgs"),
        "symmle lm (MINPACK)": lambda t: run_symmle(model, X, y, t, "lm"),
        "symmle trust-exact": lambda t: run_symmle(model, X, y, t, "trust-exact"),
        "sklearn MLPRegressor lbfgs": lambda t: run_sklearn(X, y, t, model.architecture),
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
    s_t = np.median(np.array(out["symmle default (auto)"])[:, 0])
    print(f"ratio symmle default / sklearn time per start: {s_t / ref_t:.2f} (target ≤ 0.5)")


def main_large(args):
    """The 10-20-1 case (see the module's docstring), on one thread."""
    n = 100_000 if args.n is None else args.n
    n_starts = 3 if args.starts is None else args.starts
    arch = sm.mlp(10, 20, 1, activation="tanh")
    truth = sm.Model(arch, sm.Gaussian())
    theta_star = truth.random_params(args.seed)
    theta_star[-1] = np.log(0.5)
    X, y = truth.simulate(theta_star, n=n, rng=args.seed + 1)
    model = sm.Model(arch, sm.Gaussian(sigma=1.0))
    cm = model.compile()
    pen_mask = np.zeros(model.n_params, dtype=bool)
    pen_mask[list(arch.edge_index.values())] = True

    def objective(theta):  # the penalised log-likelihood fit maximises
        w = theta[pen_mask]
        return cm.loglik(theta, X, y) - 0.5 * args.alpha * float(w @ w)

    seeds = np.random.SeedSequence(args.seed + 1).spawn(n_starts)
    starts = [model.random_params(np.random.default_rng(s)) for s in seeds]
    with warnings.catch_warnings():  # compile and import outside the timings
        warnings.simplefilter("ignore")
        fit(model, X[:500], y[:500], start=starts[0], penalty=args.alpha, refine=False)
        sklearn_mlp(X[:500], y[:500], arch, starts[0], args.alpha)

    # the L-BFGS phase's objective values as it goes (time, penalised ℓ), to find when it first
    # reached scikit-learn's final value (the phase minimises f = loglik_constant - penalised ℓ)
    trace, const = [], float(model.family.loglik_constant(n, np.empty(0)))
    phase = _scoring.lbfgs_phase

    def traced_phase(objective_, x0, max_iter):
        def recorded(x):
            f, g = objective_(x)
            trace.append((time.perf_counter(), const - f))
            return f, g
        return phase(recorded, x0, max_iter)

    def run_fit(theta0, method):
        trace.clear()
        t0 = time.perf_counter()
        _scoring.lbfgs_phase = traced_phase
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit(model, X, y, start=theta0, method=method, penalty=args.alpha,
                          refine=False)
        finally:
            _scoring.lbfgs_phase = phase
        path = [(t - t0, ll) for t, ll in trace]
        return (time.perf_counter() - t0, objective(res.params), res.n_iter,
                res.starts[0].converged, res.method, path)

    def run_sk(theta0):
        dt, mlp, theta = sklearn_mlp(X, y, arch, theta0, args.alpha)
        return dt, objective(theta), mlp.n_iter_, None, "lbfgs", []

    def run_before(theta0):  # the route of the eighth session, patched in this script only
        ftol, finish = _lbfgs.LBFGS_FTOL, _scoring._newton_finish
        _lbfgs.LBFGS_FTOL, _scoring._newton_finish = 1e-14, (lambda *a, **k: None)
        try:
            return run_fit(theta0, None)
        finally:
            _lbfgs.LBFGS_FTOL, _scoring._newton_finish = ftol, finish

    def run_one_off(theta0):  # every H v from scratch (HessianProducts keeps nothing)
        from symmle.compiled import _hvp

        kept, _hvp.HVP_CACHE_BYTES = _hvp.HVP_CACHE_BYTES, 0
        try:
            return run_fit(theta0, None)
        finally:
            _hvp.HVP_CACHE_BYTES = kept

    runners = {"symmle default (auto)": lambda t: run_fit(t, None)}
    if args.one_off_hvp:
        runners["symmle, H v one-off"] = run_one_off
    if args.before:
        runners["symmle before (L-BFGS 1e-14)"] = run_before
    if args.scoring:
        runners["symmle scoring"] = lambda t: run_fit(t, "scoring")
    runners["sklearn MLPRegressor lbfgs"] = run_sk
    out = {name: [] for name in runners}
    for i, theta0 in enumerate(starts):  # interleaved
        for name, run in runners.items():
            out[name].append(run(theta0))
            dt, ll, it, ok, meth, _ = out[name][-1]
            print(f"  start {i} {name:<28} {dt:8.2f} s  {it:6d} it  ll {ll:.4f}  "
                  f"converged {ok} ({meth})", flush=True)
    print(f"10-20-1 tanh, Gaussian σ = 1 with penalty α = {args.alpha} (sklearn's alpha), "
          f"n = {n}, {n_starts} common starts, one thread; penalised loglik at θ* = "
          f"{objective(np.r_[theta_star[:-1]]):.3f}; symmle backend "
          f"{sm.compiled.default_backend()}")
    ref = out["sklearn MLPRegressor lbfgs"]
    head = (f"{'start':>5} {'method':<28} {'converged':>9} {'penalised ll':>14} {'s':>8} "
            f"{'× sklearn':>9} {'iters':>6} {'s to sklearn ll':>16} {'L-BFGS s':>9}")
    print(head)
    print("-" * len(head))
    for i in range(n_starts):
        for name, rows in out.items():
            dt, ll, it, ok, meth, path = rows[i]
            reach = next((t for t, v in path if v >= ref[i][1]), None)
            reached = "-" if reach is None else f"{reach:.2f} ({reach / ref[i][0]:.2f}×)"
            lbfgs = f"{path[-1][0]:9.2f}" if path else f"{'-':>9}"
            print(f"{i:>5} {name:<28} {str(ok) if ok is not None else '-':>9} {ll:14.4f} "
                  f"{dt:8.2f} {dt / ref[i][0]:9.2f} {it:6d} {reached:>16} {lbfgs}")
    print("s to sklearn ll: when symmle's L-BFGS phase first reached scikit-learn's final "
          "penalised log-likelihood of the same start (it then goes on to converge); "
          "L-BFGS s: when that phase ended (the Newton finish takes the rest)")
    best_sk = max(r[1] for r in ref)
    for name, rows in out.items():
        t = np.array([r[0] for r in rows])
        print(f"{name:<28} time per start {np.mean(t):8.2f} s ({np.mean(t) / np.mean([r[0] for r in ref]):.2f}"
              f"× sklearn), best ll {max(r[1] for r in rows):.4f} (sklearn's best {best_sk:.4f}), "
              f"converged {sum(bool(r[3]) for r in rows)}/{n_starts}")


if __name__ == "__main__":
    main()
