"""Accuracy and time of the learning-coefficient estimators on the cases with an exact λ.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_singular.py
[--seeds 5] [--cases rrr,odd,seed] [--methods wbic,local] [--n 2000] [--chains 2]
[--warmup 300] [--draws 400] [--prior-scale 10] [--localization 1] [--json out.json]``

For every case whose λ `symmle.learning_coefficient_theory` knows exactly —

* the reduced-rank regression rows of issue 21 (Aoyagi & Watanabe 2005), Gaussian inputs,
* the 1-H-1 tanh networks at a zero truth, H = 1 … 4 (Aoyagi 2019; inputs uniform on [−2, 2],
  compact support as the theorem's analytic K needs),
* the seed's 2-3-1 tanh network at its irreducible θ* (regular: λ = 13/2),

— data of n rows are simulated from the truth for each seed, and ``learning_coefficient`` is
run with each method (``"wbic"`` from the truth as the chains' start; ``"local"`` centred at
the fit's θ̂, `symmle.fit` with 2 starts). Printed per case and method: the median relative
error (λ̂ − λ)/λ over the seeds, its spread (the smallest and largest), the median time of one
estimate and the worst sampler diagnostics (largest R-hat, smallest ESS, mean acceptance,
divergences, mean leapfrog steps). The target (issue 21) is |median error| ≤ 10 % and under
2 minutes per estimate on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from fractions import Fraction

import numpy as np

from bench_build import blas_info  # the same BLAS line as the build benchmark

import symmle as sm
from symmle.singular import learning_coefficient, learning_coefficient_theory
from symmle.singular._theory import rank_r_truth
from symmle.study import SEED_THETA, seed_model

#: issue 21's rows, (M, H, N, r) as the network mlp(M, H, N) is written
RRR_ROWS = [(5, 3, 5, 0), (5, 4, 5, 0), (4, 3, 8, 0), (8, 3, 4, 0), (3, 8, 4, 0),
            (6, 3, 6, 3), (6, 4, 6, 3), (6, 5, 6, 3), (6, 6, 6, 3)]


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    keep = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni"]
                    return " ".join(k for k in keep if k in flags)
    except OSError:
        pass
    return platform.processor() or "unknown"


def cases(which):
    """(name, model, θ*, input sampler) for the asked groups."""
    out = []
    if "rrr" in which:
        for M, H, N, r in RRR_ROWS:
            model = sm.Model(sm.mlp(M, H, N, activation="identity", bias=False),
                             sm.Gaussian(1.0))
            theta = np.round(rank_r_truth((M, H, N), r, np.random.default_rng(7)), 3)
            out.append((f"rrr {M}-{H}-{N} r={r}", model, theta, "normal"))
    if "odd" in which:
        for H in (1, 2, 3, 4):
            model = sm.Model(sm.mlp(1, H, 1, activation="tanh", bias=False), sm.Gaussian(1.0))
            out.append((f"tanh 1-{H}-1 zero", model, np.zeros(2 * H), "uniform"))
    if "seed" in which:
        out.append(("seed 2-3-1 tanh", seed_model(), np.asarray(SEED_THETA, float), "normal"))
    return out


def simulate(model, theta, n, inputs, rng):
    d = model.architecture.n_inputs
    X = rng.uniform(-2, 2, size=(n, d)) if inputs == "uniform" else rng.normal(size=(n, d))
    mean = model.compile().predict(theta, X)
    return X, mean + rng.normal(size=mean.shape)


def one(model, theta, lam, method, n, inputs, seed, args):
    rng = np.random.default_rng(seed)
    X, y = simulate(model, theta, n, inputs, rng)
    t = time.perf_counter()
    start = theta
    if method == "local":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = sm.fit(model, X, y, n_starts=2, rng=seed).params
    try:
        est = learning_coefficient(model, X, y, theta=start, method=method, rng=seed,
                                   n_chains=args.chains, n_warmup=args.warmup,
                                   n_draws=args.draws, localization=args.localization,
                                   prior_scale=args.prior_scale)
        d = est.diagnostics
        row = {"estimate": est.estimate, "stderr": est.stderr, "rhat": d["rhat"],
               "ess": d["ess"], "acceptance": d["acceptance"], "divergences": d["divergences"],
               "mean_steps": d["mean_steps"], "error": None}
    except (sm.errors.ConvergenceError, sm.errors.SymmleValueError) as exc:
        row = {"estimate": float("nan"), "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    row["seconds"] = time.perf_counter() - t
    row["rel_error"] = (row["estimate"] - lam) / lam
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cases", default="rrr,odd,seed")
    ap.add_argument("--methods", default="wbic,local")
    ap.add_argument("--only", default="", help="substring of the case names to keep")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--localization", type=float, default=1.0)
    ap.add_argument("--prior-scale", type=float, default=10.0)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    print(f"CPU flags: {cpu_flags()}; cores visible: {os.cpu_count()}")
    print(f"BLAS: {blas_info()}")
    print(f"n={args.n}, chains={args.chains}, warm-up={args.warmup}, draws={args.draws}, "
          f"localization={args.localization}, prior_scale={args.prior_scale}, seeds={args.seeds}")
    header = ("| case | λ | method | median rel. error | spread (min … max) | median s | "
              "max R-hat | min ESS | accept | diverg. | steps |")
    print(header)
    print("|" + "---|" * 11)
    results = []
    for name, model, theta, inputs in cases(args.cases.split(",")):
        if args.only and args.only not in name:
            continue
        rec = learning_coefficient_theory(model, theta)
        lam = float(rec.lambda_)
        for method in args.methods.split(","):
            rows = [one(model, theta, lam, method, args.n, inputs, seed, args)
                    for seed in range(args.seeds)]
            errs = np.array([r["rel_error"] for r in rows])
            ok = [r for r in rows if r["error"] is None]
            fails = len(rows) - len(ok)
            med = float(np.nanmedian(errs)) if ok else float("nan")
            lo = float(np.nanmin(errs)) if ok else float("nan")
            hi = float(np.nanmax(errs)) if ok else float("nan")
            secs = float(np.median([r["seconds"] for r in rows]))

            def worst(key, f):
                vals = [r[key] for r in ok if np.isfinite(r[key])]
                return f(vals) if vals else float("nan")
            line = (f"| {name} | {Fraction(rec.lambda_)} | {method} | {med:+.1%} | "
                    f"{lo:+.0%} … {hi:+.0%} | {secs:.0f} | {worst('rhat', max):.2f} | "
                    f"{worst('ess', min):.0f} | {worst('acceptance', np.mean):.2f} | "
                    f"{int(sum(r.get('divergences', 0) for r in ok))} | "
                    f"{worst('mean_steps', np.mean):.0f} |")
            if fails:
                line += f" {fails} failed: {rows[0]['error'] or ''}"
            print(line, flush=True)
            results.append({"case": name, "lambda": str(rec.lambda_), "method": method,
                            "rows": rows})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "cpu": cpu_flags(), "blas": blas_info(),
                       "results": results}, f, indent=1, default=float)


if __name__ == "__main__":
    main()
