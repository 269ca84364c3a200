"""Categorical networks with many parameters and wide inputs (issue 19, items 2 and 3).

* ``fisher``: the categorical Fisher information of ``mlp(100, 40, 10)`` (P = 4 450) at
  n = 2 000 rows against its flop floor, one BLAS ``syrk`` of a random P × (K·n) matrix
  (K = 10 outputs: the exact weight factor has K columns a row) timed in the same run,
  and its peak memory (tracemalloc) against 2·P²·8 bytes. ``--compare`` adds, interleaved,
  the route before the seeded reverse pass (``Jᵀ`` first, then the family's factor pass
  ``Family.weight_root_times`` over it), by switching off
  ``NumericProgram.seeds_jacobian`` for that contender.
* ``loglik``: the categorical log-likelihood of ``mlp(784, 32, 10)`` at n = 20 000 rows
  against JAX jit (float64, when installed) and the bare product ``X W₁ᵀ``, on one thread
  (``symmle.compiled.threads(1)``, ``threadpool_limits(1)`` for BLAS, XLA's CPU client with
  intra-op parallelism 1: set before jax is imported) and on the defaults.

Contenders interleaved, best of ``--repeat``; the header gives CPU flags and the BLAS
kernels. Run from the repository (the numpy backend unless ``--backend numba``) with
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` unset::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_wide.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import tracemalloc

if "jax" not in sys.modules:  # one XLA thread for the one-thread table
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1")
    os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import symmle as sm


def header():
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii") as fh:
            line = next(ln for ln in fh if ln.startswith("flags"))
        have = line.split(":", 1)[1].split()
        flags = " ".join(f for f in ("avx2", "avx512f", "fma") if f in have)
    except (OSError, StopIteration):
        pass
    print(f"# cpu: {os.cpu_count()} logical; flags {flags}; load {os.getloadavg()[0]:.2f}")
    for lib in threadpool_info():
        print(f"# {lib['user_api']}: {lib['internal_api']} {lib.get('version')} "
              f"kernel {lib.get('architecture')} threads {lib['num_threads']}")


def best(fn, repeat):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


@contextlib.contextmanager
def _factor_pass():
    """The Fisher information's route before the seeded reverse pass: Jᵀ, then
    ``Family.weight_root_times`` over it (the program says it takes no seed)."""
    from symmle.compiled._program import NumericProgram

    saved = NumericProgram.seeds_jacobian
    NumericProgram.seeds_jacobian = property(lambda self: False)
    try:
        yield
    finally:
        NumericProgram.seeds_jacobian = saved


def bench_fisher(backend, repeat, compare=False):
    model = sm.Model(sm.mlp(100, 40, 10), sm.Categorical())
    theta = model.random_params(0)
    X, _ = model.simulate(theta, n=2000, rng=1)
    cm = model.compile(backend=backend)
    cm.fisher(theta, X[:50])
    P, K = model.n_params, model.architecture.n_outputs
    B = np.random.default_rng(0).standard_normal((P, K * X.shape[0]))
    ts, tf, to = [], [], []
    for _ in range(repeat):  # interleaved
        ts.append(best(lambda: cm.fisher(theta, X), 1))
        tf.append(best(lambda: B @ B.T, 1))
        if compare:
            with _factor_pass():
                to.append(best(lambda: cm.fisher(theta, X), 1))

    def peak_of(fn):
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return f"peak {peak / 2 ** 20:.0f} MiB = {peak / (8 * P * P):.2f}·P²·8"

    print(f"fisher mlp(100,40,10) P={P} n=2000 [{backend}]: {min(ts):.2f} s; floor (syrk "
          f"{P}x{K * X.shape[0]}) {min(tf):.2f} s; ratio {min(ts) / min(tf):.2f}; "
          f"{peak_of(lambda: cm.fisher(theta, X))}; load {os.getloadavg()[0]:.2f}")
    if compare:
        with _factor_pass():
            mem = peak_of(lambda: cm.fisher(theta, X))
        print(f"  before (Jᵀ, then the factor pass): {min(to):.2f} s; ratio "
              f"{min(to) / min(tf):.2f}; {mem}")


def _jax_loglik():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    @jax.jit
    def ll(W1, b1, W2, b2, X, y):
        h = jnp.tanh(X @ W1.T + b1)
        logits = h @ W2.T + b2
        return jnp.sum(jax.nn.log_softmax(logits)[jnp.arange(X.shape[0]), y])

    return ll


def bench_loglik(backend, repeat):
    model = sm.Model(sm.mlp(784, 32, 10), sm.Categorical(reference=False))
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=20000, rng=1)
    cm = model.compile(backend=backend)
    want = cm.loglik(theta, X, y)
    W1 = theta[:784 * 32].reshape(32, 784)
    b1 = theta[784 * 32:784 * 32 + 32]
    W2 = theta[784 * 32 + 32:784 * 32 + 32 + 320].reshape(10, 32)
    b2 = theta[-10:]
    jll = _jax_loglik()
    rows = []
    for label, one in (("one thread", True), ("defaults", False)):
        ctx = threadpool_limits(1) if one else threadpool_limits(None)
        with ctx, sm.compiled.threads(1 if one else None):
            if jll is not None:
                got = float(jll(W1, b1, W2, b2, X, y))
                assert abs(got - want) <= 1e-9 * abs(want), (got, want)
            ts, tj, tm = [], [], []
            for _ in range(repeat):  # interleaved
                ts.append(best(lambda: cm.loglik(theta, X, y), 1))
                tm.append(best(lambda: X @ W1.T, 1))
                if jll is not None:
                    tj.append(best(lambda: jll(W1, b1, W2, b2, X, y).block_until_ready(), 1))
        j = f"; JAX {min(tj) * 1e3:.1f} ms; ratio {min(ts) / min(tj):.2f}" if tj else ""
        rows.append(f"loglik mlp(784,32,10) n=20000 [{backend}, {label}]: symmle "
                    f"{min(ts) * 1e3:.1f} ms; X W1ᵀ {min(tm) * 1e3:.1f} ms{j}")
    print("\n".join(rows))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="numpy", choices=["numpy", "numba"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["fisher", "loglik"])
    ap.add_argument("--compare", action="store_true",
                    help="fisher: time the route before the seeded reverse pass too")
    args = ap.parse_args(argv)
    header()
    if args.only in (None, "loglik"):
        bench_loglik(args.backend, args.repeat)
    if args.only in (None, "fisher"):
        bench_fisher(args.backend, args.repeat, args.compare)


if __name__ == "__main__":
    main()
