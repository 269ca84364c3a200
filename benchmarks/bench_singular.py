"""Accuracy and time of the learning-coefficient estimators on the cases with an exact λ.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE nice -n 10 python
benchmarks/bench_singular.py [--seeds 0-4] [--cases rrr,odd,seed] [--methods local,wbic]
[--only SUBSTRING] [--set key=value ...] [--jsonl rows.jsonl]``; ``--summarise rows.jsonl``
prints the table of the rows collected so far (pieces of a run may go to one file).

For every case whose λ `symmle.learning_coefficient_theory` knows exactly —

* the reduced-rank regression rows of issue 21 (Aoyagi & Watanabe 2005), Gaussian inputs,
* the 1-H-1 tanh networks at a zero truth, H = 1 … 4 (Aoyagi 2019; inputs uniform on [−2, 2],
  compact support as the theorem's analytic K needs),
* the seed's 2-3-1 tanh network at its irreducible θ* (regular: λ = 13/2),

— data of n rows are simulated from the truth for each seed (`Model.simulate`, the model's own
noise level), and ``learning_coefficient`` is run with each method: ``"local"`` centred at the
fit's θ̂ (`symmle.fit`, 2 starts; the fit is timed with the estimate) or, with the setting
``centre=truth``, at the truth; ``"wbic"`` with the chains started at the truth. The settings
of each case and method are those of `SETTINGS` (tuned by measurement, see
benchmarks/README.md), overridable with ``--set key=value`` (n, chains, warmup, draws,
localization, prior_scale, max_tree_depth, centre, betas: the inverse temperatures as
multiples of 1/log n, comma-separated, e.g. ``betas=0.5,2`` for the two-temperature
``"local"`` estimate, or ``default``).

Printed per case and method: the median relative error (λ̂ − λ)/λ over the seeds, its spread
(the smallest and largest), the median time of one estimate and the worst sampler diagnostics
(largest R-hat, smallest ESS, mean acceptance, divergences, mean leapfrog steps), then the
settings. Each finished seed is appended to ``--jsonl`` at once (so a run cut short keeps its
rows). The target (issue 21) is |median error| ≤ 10 % and under 2 minutes per estimate on
2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np

from bench_build import blas_info  # the same BLAS line as the build benchmark

import symmle as sm
from symmle.singular import learning_coefficient, learning_coefficient_theory, rank_r_truth
from symmle.study import SEED_THETA, seed_model

#: issue 21's rows, (M, H, N, r) as the network mlp(M, H, N) is written
RRR_ROWS = [(5, 3, 5, 0), (5, 4, 5, 0), (4, 3, 8, 0), (8, 3, 4, 0), (3, 8, 4, 0),
            (6, 3, 6, 3), (6, 4, 6, 3), (6, 5, 6, 3), (6, 6, 6, 3)]

#: the settings every case starts from
BASE = {"n": 2000, "chains": 2, "warmup": 200, "draws": 300, "localization": 1.0,
        "prior_scale": 10.0, "max_tree_depth": 10, "centre": "fit", "betas": "default"}

#: per group (or case) and method, what the measurements changed (benchmarks/README.md):
#: the small λ of the 1-H-1 networks needs many draws (the Monte-Carlo sd of λ̂ is about
#: √(λ/ESS)) and a narrower WBIC prior (the tempered posterior spreads along the singular
#: ridges to the prior scale); the seed's regular 2-3-1 network has weak directions
#: (information eigenvalues down to 0.017), so it needs n = 5000 (+6.4 % at n = 2000) and a
#: weak localisation (γ = 0.1 shrinks λ̂ by 0.1 %, γ = 1 by 1.2 %). The 1-H-1 zero truths
#: with H ≥ 3 are localised at the truth: the maximum-likelihood fit of an over-parametrised
#: zero truth runs off along the ridge a → ∞, b → 0 (output weights up to 5·10⁴ in a probe of
#: 1-3-1), where the localised posterior is so anisotropic that the trajectories hit the
#: tree-depth limit and the gradient budget stops the chain. The reduced-rank regression rows
#: with M ≠ N (Aoyagi & Watanabe's cases 2-4) use the two-temperature "local" estimate (betas
#: 0.5 and 2 times 1/log n): with one temperature 4-3-8 and 8-3-4 overshoot by 15-18 % at
#: n = 2000 and still by 8 % at n = 10⁶ (a bias of order β = 1/log n: B's column space, barely
#: informed at β, leaves a share 1 − H/N of the noise unfitted; 0 % on the population loss),
#: which the difference of two temperatures cancels. The square rows (case 1) keep one
#: temperature: there the term is small (+2 % for 5-4-5) and a second temperature would double
#: a cost already near 2 minutes (two temperatures give −4 % on 5-4-5).
SETTINGS = {
    ("odd", "local"): {"draws": 1000},
    ("tanh 1-3-1 zero", "local"): {"centre": "truth"},
    ("tanh 1-4-1 zero", "local"): {"centre": "truth"},
    ("odd", "wbic"): {"draws": 1000, "prior_scale": 2.0},
    ("rrr", "local"): {},   # 6-3-6 was tried with --set chains=1 warmup=100 draws=200
    ("rrr 4-3-8 r=0", "local"): {"betas": "0.5,2"},
    ("rrr 8-3-4 r=0", "local"): {"betas": "0.5,2"},
    ("rrr 3-8-4 r=0", "local"): {"betas": "0.5,2"},
    ("rrr", "wbic"): {"prior_scale": 2.0},
    ("seed", "local"): {"n": 5000, "localization": 0.1},
    ("seed", "wbic"): {},
}


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
    """(group, name, model, θ*, inputs) for the asked groups."""
    out = []
    if "rrr" in which:
        for M, H, N, r in RRR_ROWS:
            model = sm.Model(sm.mlp(M, H, N, activation="identity", bias=False),
                             sm.Gaussian(1.0))
            theta = np.round(rank_r_truth((M, H, N), r, np.random.default_rng(7)), 3)
            out.append(("rrr", f"rrr {M}-{H}-{N} r={r}", model, theta, "normal"))
    if "odd" in which:
        for H in (1, 2, 3, 4):
            model = sm.Model(sm.mlp(1, H, 1, activation="tanh", bias=False), sm.Gaussian(1.0))
            out.append(("odd", f"tanh 1-{H}-1 zero", model, np.zeros(2 * H), "uniform"))
    if "seed" in which:
        out.append(("seed", "seed 2-3-1 tanh", seed_model(), np.asarray(SEED_THETA, float),
                    "normal"))
    return out


def simulate(model, theta, n, inputs, rng):
    d = model.architecture.n_inputs
    X = rng.uniform(-2, 2, size=(n, d)) if inputs == "uniform" else rng.normal(size=(n, d))
    return model.simulate(theta, n, rng=rng, X=X)


def betas_of(text):
    """The ``betas`` setting as `learning_coefficient` takes it (None for ``default``)."""
    text = str(text)
    return None if text == "default" else tuple(float(v) for v in text.split(","))


def one(model, theta, lam, method, inputs, seed, s):
    rng = np.random.default_rng(seed)
    X, y = simulate(model, theta, s["n"], inputs, rng)
    t = time.perf_counter()
    start = theta
    if method == "local" and s["centre"] == "fit":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = sm.fit(model, X, y, n_starts=2, rng=seed).params
    try:
        est = learning_coefficient(model, X, y, theta=start, method=method, rng=seed,
                                   n_chains=s["chains"], n_warmup=s["warmup"],
                                   n_draws=s["draws"], localization=s["localization"],
                                   prior_scale=s["prior_scale"],
                                   max_tree_depth=s["max_tree_depth"],
                                   betas=betas_of(s["betas"]))
        d = est.diagnostics
        row = {"estimate": est.estimate, "stderr": est.stderr, "rhat": d["rhat"],
               "ess": d["ess"], "acceptance": d["acceptance"], "divergences": d["divergences"],
               "mean_steps": d["mean_steps"], "gradient_evals": d["gradient_evals"],
               "error": None}
    except (sm.errors.ConvergenceError, sm.errors.SymmleValueError) as exc:
        row = {"estimate": float("nan"), "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    row["seconds"] = time.perf_counter() - t
    row["rel_error"] = (row["estimate"] - lam) / lam
    return row


def _value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def summary_line(name, lam, m, method, rows, s) -> str:
    """The table row of one case and method from its seeds' rows."""
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
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                      for k, v in s.items())
    line = (f"| {name} | {lam} (m={m}) | {method} | {len(rows)} | {med:+.1%} | "
            f"{lo:+.1%} … {hi:+.1%} | {secs:.0f} | {worst('rhat', max):.2f} | "
            f"{worst('ess', min):.0f} | {worst('acceptance', np.mean):.2f} | "
            f"{int(sum(r.get('divergences', 0) for r in ok))} | "
            f"{worst('mean_steps', np.mean):.0f} | {shown} |")
    if fails:
        line += f" {fails} failed: {next(r['error'] for r in rows if r['error'])}"
    return line


HEADER = ("| case | λ | method | seeds | median rel. error | spread (min … max) | median s | "
          "max R-hat | min ESS | accept | diverg. | steps | settings |\n|" + "---|" * 13)


def summarise(path):
    """The table from a JSON-lines file of seed rows: one row per case, method and settings."""
    groups = {}
    with open(path) as f:
        for text in f:
            r = json.loads(text)
            key = (r["case"], r["method"], json.dumps(r["settings"], sort_keys=True))
            groups.setdefault(key, []).append(r)
    print(HEADER)
    for (name, method, settings), rows in groups.items():
        print(summary_line(name, rows[0]["lambda"], rows[0]["m"], method, rows,
                           json.loads(settings)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 5,6 (default 0-4)")
    ap.add_argument("--cases", default="rrr,odd,seed")
    ap.add_argument("--methods", default="local,wbic")
    ap.add_argument("--only", default="", help="comma-separated substrings of the case names to keep")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a setting of every case run (n, chains, warmup, draws, "
                         "localization, prior_scale, max_tree_depth, centre=fit|truth, "
                         "betas=default|B1[,B2])")
    ap.add_argument("--jsonl", default="", help="append each seed's row to this file")
    ap.add_argument("--summarise", default="", metavar="JSONL",
                    help="only print the table of the rows in this file")
    args = ap.parse_args(argv)
    if args.summarise:
        summarise(args.summarise)
        return
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi) + 1)) if hi else [int(v) for v in lo.split(",")]
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in BASE:
            ap.error(f"unknown setting {key!r}; one of {', '.join(BASE)}")
        overrides[key] = _value(value)
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; CPU flags: {cpu_flags()}; cores "
          f"visible: {os.cpu_count()}")
    print(f"BLAS: {blas_info()}")
    print(HEADER)
    for group, name, model, theta, inputs in cases(args.cases.split(",")):
        if args.only and not any(part in name for part in args.only.split(",")):
            continue
        rec = learning_coefficient_theory(model, theta)
        lam = float(rec.lambda_)
        for method in args.methods.split(","):
            s = {**BASE, **SETTINGS.get((group, method), {}),
                 **SETTINGS.get((name, method), {}), **overrides}
            rows = []
            for seed in seeds:
                row = one(model, theta, lam, method, inputs, seed, s)
                row.update(case=name, lambda_=str(rec.lambda_), m=rec.multiplicity,
                           method=method, settings=s, seed=seed, load=os.getloadavg(),
                           finished=time.strftime("%H:%M:%S", time.gmtime()))
                row["lambda"] = row.pop("lambda_")
                rows.append(row)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(row, default=float) + "\n")
            print(summary_line(name, rec.lambda_, rec.multiplicity, method, rows, s),
                  flush=True)


if __name__ == "__main__":
    main()
