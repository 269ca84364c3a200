"""Symbolic derivation + compile time against the parameter count.

For each network (tanh, Gaussian with σ estimated) it times, from a fresh
architecture: the symbolic network output and log-likelihood, the Jacobian
``∂η/∂θ`` (reverse accumulation through the straight-line program), the score
(chain rule), ``model.compile()``, and the first compiled evaluation of
loglik + score + Fisher on 1 000 rows. It also prints the old route for the
smaller networks: ``sympy.diff`` of the expanded log-likelihood for every
parameter (``--old`` to include it).

The last column is time / P in ms: roughly constant means linear growth.

Run:  python benchmarks/bench_derive.py [--old] [--wide]
(``--wide`` adds mlp(784, 32, 10), which takes minutes in the symbolic part.)
"""

from __future__ import annotations

import argparse
import time

import sympy as sp

import symmle as sm

WIDTHS = [(2, 3, 1), (10, 5, 1), (10, 20, 1), (4, 16, 16, 1), (10, 50, 1), (4, 16, 16, 16, 1),
          (10, 100, 1), (4, 24, 24, 24, 1), (10, 150, 1), (8, 32, 32, 16, 1)]


def derive(widths, old=False):
    t = {}
    t0 = time.perf_counter()
    arch = sm.mlp(*widths, activation="tanh")
    model = sm.Model(arch, sm.Gaussian())
    model.loglik
    t["loglik"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    model.jacobian
    t["jacobian"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    model.score
    t["score"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    cm = model.compile()
    t["compile"] = time.perf_counter() - t1
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=1000, rng=1)
    t1 = time.perf_counter()
    cm.evaluate(theta, X, y, ("loglik", "score", "fisher"))
    t["first eval"] = time.perf_counter() - t1
    t["total"] = time.perf_counter() - t0
    if old:
        fresh = sm.Model(sm.mlp(*widths, activation="tanh"), sm.Gaussian())
        ll = fresh.loglik
        t1 = time.perf_counter()
        [sp.diff(ll, p) for p in fresh.params]
        t["old diff"] = time.perf_counter() - t1
    return model.n_params, t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", action="store_true", help="also time sympy.diff of the expanded tree")
    ap.add_argument("--wide", action="store_true", help="add mlp(784, 32, 10)")
    args = ap.parse_args(argv)
    nets = WIDTHS + ([(784, 32, 10)] if args.wide else [])
    cols = ["loglik", "jacobian", "score", "compile", "first eval", "total"]
    if args.old:
        cols.append("old diff")
    head = f"{'network':>20} {'P':>6} " + " ".join(f"{c:>10}" for c in cols) + f" {'ms/P':>7}"
    print("seconds (tanh, Gaussian with sigma estimated)")
    print(head)
    print("-" * len(head))
    for w in nets:
        P, t = derive(w, old=args.old and sum(a * b for a, b in zip(w[:-1], w[1:])) < 400)
        line = f"{'mlp' + str(w).replace(' ', ''):>20} {P:>6} " + " ".join(
            f"{t[c]:10.3f}" if c in t else f"{'-':>10}" for c in cols)
        print(line + f" {1e3 * t['total'] / P:7.2f}")


if __name__ == "__main__":
    main()
