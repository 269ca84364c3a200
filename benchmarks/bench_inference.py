"""Benchmark: symmle's penalised ``fit`` against scikit-learn's lbfgs on real data (issue 18).

Data that ship with scikit-learn, inputs standardised: diabetes (10-3-1 tanh, y standardised;
``Gaussian(sigma=1.0)``, whose penalised objective *is* scikit-learn's, and ``Gaussian()``),
breast cancer (the first 5 features, 5-h-1 tanh with h = 1, 2, 3, ``Bernoulli()``), iris and
wine (d-3-K tanh, ``Categorical()``). The objective is ``ℓ(θ) − (λ/2)·Σ w²`` over the weights
(biases unpenalised); scikit-learn's ``MLPRegressor`` / ``MLPClassifier(alpha=λ)`` minimises
``L = [Σ(y − f)²/2 or −ℓ]/n + α/(2n)·Σ w²``, so ``n·L`` is minus our objective (up to
``(n/2)·log 2π`` for the Gaussian, checked on every scikit-learn fit). With ``Gaussian()`` (σ
estimated) the objectives differ: scikit-learn's solution is scored at its profiled σ̂.

Per case: symmle ``fit(model, X, y, n_starts=S, rng=0, penalty=λ)`` (wall time, best penalised
objective, converged starts, the largest Newton decrement ½gᵀA⁻¹g over the starts, i.e. how
stationary each start is) against S scikit-learn fits with ``random_state = 0 … S−1`` (wall
time, best objective). Run: ``python benchmarks/bench_inference.py [--starts 10]
[--penalty 1.0] [--cases diabetes breast iris wine]``. Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

import symmle as sm
from symmle.errors import require
from symmle.fitting._problem import _Problem, penalised_mask


def standardise(a):
    return (a - a.mean(0)) / a.std(0)


def cases(names):
    ds = require("sklearn.datasets", "bench")
    out = []
    if "diabetes" in names:
        d = ds.load_diabetes()
        X, y = standardise(d.data), standardise(d.target)
        out += [("diabetes 10-3-1 σ=1", X, y, sm.mlp(10, 3, 1), sm.Gaussian(sigma=1.0)),
                ("diabetes 10-3-1 σ̂", X, y, sm.mlp(10, 3, 1), sm.Gaussian())]
    if "breast" in names:
        d = ds.load_breast_cancer()
        X = standardise(d.data[:, :5])
        out += [(f"breast 5-{h}-1", X, d.target, sm.mlp(5, h, 1), sm.Bernoulli())
                for h in (1, 2, 3)]
    for name in ("iris", "wine"):
        if name in names:
            d = getattr(ds, f"load_{name}")()
            X = standardise(d.data)
            out.append((f"{name} {X.shape[1]}-3-3", X, d.target, sm.mlp(X.shape[1], 3, 3),
                        sm.Categorical()))
    return out


def objective(model, theta, X, y, lam):
    w = theta[penalised_mask(model)]
    return model.compile().loglik(theta, X, y) - 0.5 * lam * float(w @ w)


def newton_decrement(pb, theta):
    """½ gᵀ A⁺ g, A equilibrated and pseudo-inverted at relative tolerance 1e-10 (the softmax
    shift leaves it singular)."""
    v = pb.penalised_derivatives(np.asarray(theta), ("score", "fisher"))
    g, A = v["score"], v["fisher"]
    d = 1.0 / np.sqrt(np.where(np.diag(A) > 0, np.diag(A), 1.0))
    At = A * d[:, None] * d[None, :]
    return 0.5 * float((g * d) @ np.linalg.pinv(At, rcond=1e-10, hermitian=True) @ (g * d))


def sklearn_fits(X, y, arch, family, lam, starts):
    nn = require("sklearn.neural_network", "bench")
    cls = nn.MLPRegressor if family.least_squares else nn.MLPClassifier
    model = sm.Model(arch, family)
    n = len(y)
    best, t0 = -math.inf, time.perf_counter()
    hidden = tuple(len(L.units) for L in arch.layers[:-1])
    for seed in range(starts):
        m = cls(hidden_layer_sizes=hidden, activation="tanh", solver="lbfgs", alpha=lam,
                max_iter=20000, tol=1e-12, max_fun=100000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, y)
        theta = np.concatenate([np.concatenate([W.T.ravel(), b])
                                for W, b in zip(m.coefs_, m.intercepts_)])
        if family.least_squares and family.sigma is None:
            rss = float(np.sum((m.predict(X) - y) ** 2))
            theta = np.append(theta, 0.5 * math.log(rss / n))
        obj = objective(model, theta, X, y, lam)
        if family.least_squares and family.sigma == 1.0:
            assert abs(-n * m.loss_ - 0.5 * n * math.log(2 * math.pi) - obj) <= 1e-8 * abs(obj)
        elif not family.least_squares:
            assert abs(-n * m.loss_ - obj) <= 1e-8 * abs(obj)
        best = max(best, obj)
    return time.perf_counter() - t0, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--penalty", type=float, default=1.0)
    ap.add_argument("--cases", nargs="*", default=["diabetes", "breast", "iris", "wine"])
    args = ap.parse_args(argv)
    lam, S = args.penalty, args.starts
    head = (f"{'case':<22} {'symmle s':>9} {'sklearn s':>9} {'symmle objective':>17} "
            f"{'sklearn objective':>17} {'diff':>9} {'conv':>6} {'max ½gᵀA⁻¹g':>12}")
    print(f"penalty λ = {lam:g}, {S} starts each (symmle: + its refinement of the best)")
    print(head)
    print("-" * len(head))
    for name, X, y, arch, family in cases(args.cases):
        model = sm.Model(arch, family)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.fit(model, X, y, n_starts=S, rng=0, penalty=lam)
        t_ours = time.perf_counter() - t0
        t_sk, best = sklearn_fits(X, y, arch, family, lam, S)
        pb = _Problem(model, X, y, lam)
        dec = max(newton_decrement(pb, s.params) for s in res.starts)
        conv = f"{sum(s.converged for s in res.starts)}/{len(res.starts)}"
        print(f"{name:<22} {t_ours:>9.2f} {t_sk:>9.2f} {res.objective:>17.6f} {best:>17.6f} "
              f"{res.objective - best:>9.2g} {conv:>6} {dec:>12.2g}", flush=True)


if __name__ == "__main__":
    main()
