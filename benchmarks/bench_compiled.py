"""Compiled evaluation against hand-written numpy back-propagation and JAX (when installed).

For each network (tanh hidden layers, Gaussian output with σ = 1, n rows), times

* loglik, score, Fisher (each alone) and all three together (``evaluate``),
* the same with a plain vectorised numpy back-propagation written below (the
  reference a user would write by hand; J as an n × P array, ``JᵀJ`` for the Fisher),
* and, if ``jax`` imports, JAX jit on CPU in float64 (``grad`` for the score,
  ``vmap(grad)`` per row and ``JᵀJ`` for the Fisher, the fastest JAX route).

Every result is checked against the reference before it is timed. Ratios are
symmle / reference (< 1 is faster). Two timing protocols (``--protocol``):

* ``warm`` (the default, as ``timeit.repeat``): for each implementation in turn,
  a ``--settle`` sleep (so that the previous one's spinning BLAS/XLA threads go
  idle), then ``--repeat`` back-to-back calls; ``--rounds`` such rounds; the minimum.
* ``cold``: the calls interleaved between implementations, each after its own
  ``--settle`` sleep; the minimum. Every timed call then starts on an idle CPU,
  which on a VM costs a threaded call more than JAX's mostly single-threaded one
  (see benchmarks/README.md).

symmle runs on ``symmle.compiled.num_threads()`` threads (2 on a 2-core
machine): row chunks on its thread pool (numpy backend), or groups of each numba
kernel's blocks of rows on the same pool; ``--threads 1`` gives the sequential path. Both
backends are timed when numba is installed (``model.compile("numpy")``, the
default, and ``model.compile("numba")``, vectorised activation kernels and fused
programs); ``--backend`` picks one. The header gives the machine: load average,
CPU SIMD flags, the BLAS libraries and their kernels (threadpoolctl), numba's
threading layer.

Run:  python benchmarks/bench_compiled.py [--n 100000] [--repeat 5] [--rounds 3] [--threads N] [--settle 0.2]
                                          [--backend numpy|numba|both] [--protocol warm|cold]
                                          [--net 2,3,1 ...] [--blas-threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np

import symmle as sm

NETWORKS = [(2, 3, 1), (10, 20, 1), (4, 16, 16, 16, 1)]
LOG_2PI = np.log(2 * np.pi)


# ------------------------------------------------------- hand-written numpy
def hand_unpack(theta, widths):
    Ws, bs, k = [], [], 0
    for a, b in zip(widths[:-1], widths[1:]):
        Ws.append(theta[k:k + a * b].reshape(b, a))
        k += a * b
        bs.append(theta[k:k + b])
        k += b
    return Ws, bs


def hand_forward(Ws, bs, X):
    hs = [X]
    H = X
    for W, b in zip(Ws[:-1], bs[:-1]):
        H = np.tanh(H @ W.T + b)
        hs.append(H)
    return hs, (H @ Ws[-1].T + bs[-1])[:, 0]


def hand_loglik(theta, widths, X, y):
    _, eta = hand_forward(*hand_unpack(theta, widths), X)
    r = y - eta
    return -0.5 * (r @ r) - 0.5 * len(y) * LOG_2PI


def hand_backward(Ws, hs, d):
    """Per-layer (dW, db) row contributions for seed d (n, 1), from the output down."""
    out = []
    for i in range(len(Ws) - 1, -1, -1):
        out.append((d, hs[i]))
        if i:
            d = (d @ Ws[i]) * (1.0 - hs[i] ** 2)
    return out[::-1]


def hand_score(theta, widths, X, y):
    Ws, bs = hand_unpack(theta, widths)
    hs, eta = hand_forward(Ws, bs, X)
    parts = hand_backward(Ws, hs, (y - eta)[:, None])
    return np.concatenate([np.r_[(d.T @ h).ravel(), d.sum(axis=0)] for d, h in parts])


def hand_fisher(theta, widths, X):
    Ws, bs = hand_unpack(theta, widths)
    hs, _ = hand_forward(Ws, bs, X)
    parts = hand_backward(Ws, hs, np.ones((X.shape[0], 1)))
    n = X.shape[0]
    J = np.concatenate([np.concatenate([(d[:, :, None] * h[:, None, :]).reshape(n, -1), d], axis=1)
                        for d, h in parts], axis=1)
    return J.T @ J


# ---------------------------------------------------------------------- JAX
def jax_functions(widths):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def eta_row(theta, x):
        k, h = 0, x
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            W = theta[k:k + a * b].reshape(b, a)
            k += a * b
            h = W @ h + theta[k:k + b]
            k += b
            if i < len(widths) - 2:
                h = jnp.tanh(h)
        return h[0]

    eta = jax.vmap(eta_row, in_axes=(None, 0))

    def loglik(theta, X, y):
        r = y - eta(theta, X)
        return -0.5 * (r @ r) - 0.5 * y.shape[0] * LOG_2PI

    per_row = jax.vmap(jax.grad(eta_row), in_axes=(None, 0))

    def fisher(theta, X):
        J = per_row(theta, X)
        return J.T @ J

    return {"loglik": jax.jit(loglik), "score": jax.jit(jax.grad(loglik)),
            "fisher": jax.jit(fisher), "block": jax.block_until_ready}


# ------------------------------------------------------------------ machine
def machine_lines():
    """Load average, CPU model and SIMD flags, BLAS libraries (threadpoolctl), numba."""
    lines = []
    try:
        lines.append("load average %.2f %.2f %.2f" % os.getloadavg())
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                      if ln.startswith("model name")), "?")
        flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                          if ln.startswith("flags")), []))
        simd = [f for f in ("avx2", "avx512f", "fma") if f in flags]
        lines.append(f"cpu: {model}, {os.cpu_count()} logical; flags {' '.join(simd) or 'none'}")
    except OSError:
        pass
    try:
        import scipy.linalg  # noqa: F401  (loads scipy's BLAS, which numba's np.dot uses)
        from threadpoolctl import threadpool_info

        for d in threadpool_info():
            lines.append(f"{d['user_api']}: {d['internal_api']} {d.get('version')} "
                         f"kernel {d.get('architecture')} threads {d['num_threads']} "
                         f"({os.path.basename(d['filepath'])})")
    except ImportError:
        lines.append("threadpoolctl not installed: BLAS kernel unknown")
    try:
        import numba

        lines.append(f"numba {numba.__version__} (its own threads unused)")
    except ImportError:
        pass
    return lines


# ------------------------------------------------------------------- timing
def best_times(fns, repeat, settle=0.0, protocol="warm", rounds=1):
    """Minimum wall time (s) of each zero-argument function over ``rounds × repeat`` calls.

    ``warm``: in each round, each function's ``repeat`` calls back to back, after ``settle``
    seconds of sleep (OpenBLAS and XLA threads spin for a while after a call and would
    otherwise take a core from the next, threaded, implementation); several rounds, so that
    no function is always timed first. ``cold``: the calls interleaved between functions,
    each after its own ``settle`` sleep.
    """
    for f in fns.values():
        f()
    times = {k: [] for k in fns}

    def timed(k, f):
        t = time.perf_counter()
        f()
        times[k].append(time.perf_counter() - t)

    if protocol == "warm":
        for _ in range(rounds):
            for k, f in fns.items():
                time.sleep(settle)
                for _ in range(repeat):
                    timed(k, f)
    else:
        for _ in range(rounds * repeat):
            for k, f in fns.items():
                time.sleep(settle)
                timed(k, f)
    return {k: min(v) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of --repeat calls per implementation (warm protocol); the cold "
                         "protocol makes rounds × repeat interleaved calls")
    ap.add_argument("--settle", type=float, default=0.2,
                    help="seconds of sleep before each timed call (spinning threads go idle)")
    ap.add_argument("--net", action="append", default=None, metavar="WIDTHS",
                    help="a network's layer widths, e.g. 2,3,1 (repeatable; default: the three "
                         "of the issue)")
    ap.add_argument("--protocol", choices=("warm", "cold"), default="warm",
                    help="warm: back-to-back calls per implementation; cold: interleaved, "
                         "each call after a settle sleep")
    ap.add_argument("--threads", type=int, default=None,
                    help="symmle's threads for row chunks (default: automatic)")
    ap.add_argument("--backend", choices=("numpy", "numba", "both"), default="both",
                    help="symmle backend(s) to time (both: numba too when installed)")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="the caller's BLAS thread count for the whole run (threadpoolctl; "
                         "default: BLAS's own)")
    args = ap.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.blas_threads is not None:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(args.blas_threads, user_api="blas"))
        stack.enter_context(sm.compiled.threads(args.threads))
        run(args, ap)


def run(args, ap):
    backends = ["numpy", "numba"] if args.backend == "both" else [args.backend]
    if "numba" in backends and sm.compiled.resolve_backend("auto") != "numba":
        if args.backend == "numba":
            ap.error("numba is not installed: pip install 'symmle[fast]'")
        backends.remove("numba")
    print(f"n = {args.n} rows, tanh, Gaussian(sigma=1), float64; best of {args.rounds}×{args.repeat} (ms), "
          f"{args.protocol} protocol, settle {args.settle} s; "
          f"symmle on {sm.compiled.num_threads()} thread(s)")
    for line in machine_lines():
        print("# " + line)
    header = (f"{'network':>18} {'P':>5} {'quantity':>8} {'backend':>7} {'symmle':>9} {'numpy':>9}"
              f" {'ratio':>6} {'jax':>9} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    networks = NETWORKS if not args.net else [tuple(int(w) for w in n.split(",")) for n in args.net]
    for widths in networks:
        model = sm.Model(sm.mlp(*widths, activation="tanh"), sm.Gaussian(sigma=1.0))
        theta = model.random_params(0)
        X, y = model.simulate(theta, n=args.n, rng=1)
        ref = {"loglik": hand_loglik(theta, widths, X, y), "score": hand_score(theta, widths, X, y),
               "fisher": hand_fisher(theta, widths, X)}
        fns = {}
        for b in backends:
            cm = model.compile(b)
            got = cm.evaluate(theta, X, y, ("loglik", "score", "fisher"))
            for k in ref:
                np.testing.assert_allclose(got[k], ref[k], rtol=1e-8,
                                           atol=1e-8 * np.max(np.abs(ref[k])))
            fns.update({
                (b, "loglik"): lambda cm=cm: cm.loglik(theta, X, y),
                (b, "score"): lambda cm=cm: cm.score(theta, X, y),
                (b, "fisher"): lambda cm=cm: cm.fisher(theta, X),
                (b, "all"): lambda cm=cm: cm.evaluate(theta, X, y, ("loglik", "score", "fisher")),
            })
        fns.update({
            ("hand", "loglik"): lambda: hand_loglik(theta, widths, X, y),
            ("hand", "score"): lambda: hand_score(theta, widths, X, y),
            ("hand", "fisher"): lambda: hand_fisher(theta, widths, X),
            ("hand", "all"): lambda: (hand_loglik(theta, widths, X, y),
                                      hand_score(theta, widths, X, y), hand_fisher(theta, widths, X)),
        })
        jf = jax_functions(widths)
        if jf is not None:
            import jax.numpy as jnp

            jt, jX, jy = jnp.asarray(theta), jnp.asarray(X), jnp.asarray(y)
            for k in ("loglik", "score", "fisher"):
                np.testing.assert_allclose(np.asarray(jf[k](jt, *((jX, jy) if k != "fisher" else (jX,)))),
                                           ref[k], rtol=1e-8, atol=1e-8 * np.max(np.abs(ref[k])))
            block = jf["block"]
            fns[("jax", "loglik")] = lambda: block(jf["loglik"](jt, jX, jy))
            fns[("jax", "score")] = lambda: block(jf["score"](jt, jX, jy))
            fns[("jax", "fisher")] = lambda: block(jf["fisher"](jt, jX))
            fns[("jax", "all")] = lambda: block((jf["loglik"](jt, jX, jy), jf["score"](jt, jX, jy),
                                                 jf["fisher"](jt, jX)))
        t = best_times(fns, args.repeat, args.settle, args.protocol, args.rounds)
        for q in ("loglik", "score", "fisher", "all"):
            for b in backends:
                s, r = t[(b, q)], t[("hand", q)]
                line = (f"{'mlp' + str(widths).replace(' ', ''):>18} {model.n_params:>5} {q:>8} "
                        f"{b:>7} {1e3 * s:9.2f} {1e3 * r:9.2f} {s / r:6.2f}")
                if ("jax", q) in t:
                    j = t[("jax", q)]
                    line += f" {1e3 * j:9.2f} {s / j:6.2f}"
                print(line)
    if jax_functions((1, 1)) is None:
        print("(jax not installed: pip install jax jaxlib for the JAX columns)")


if __name__ == "__main__":
    main()
