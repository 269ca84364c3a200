"""Benchmark: building an MLP, its symmetry group and its compiled model, before and after.

Run: ``python benchmarks/bench_build.py [--before PATH] [--repeat N] [--quick]``.

Each figure comes from a fresh Python process (so nothing is cached from an earlier
measurement; importing symmle is not timed), with ``PYTHONPATH`` set to one source tree:
``after`` is this checkout, ``before`` the tree given by ``--before`` (default ``/work/base``,
commit 55e334f, where `mlp` built the networkx graph edge by edge and validated it). The two
trees' processes are interleaved, repeat by repeat. For each network:

* ``build``: ``sm.mlp(*widths)``;
* ``group``: ``sm.symmetry_group(arch)`` on the architecture just built (``build + group`` is
  issue 19 §4's target: under 1 s for ``mlp(784, 1000, 1000, 10)``);
* ``compile``: ``sm.Model(arch, sm.Gaussian(sigma=1.0)).compile()`` on an architecture just
  built in a process of its own (so ``build`` has two figures per repeat).

The medians over the repeats are printed with every repeat, the CPU flags, the BLAS kernel
(threadpoolctl), the package versions and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
NETWORKS = [(2, 3, 1), (200, 300, 100, 10), (784, 1000, 1000, 10)]

#: The script each measuring process runs: argv = widths ("2-3-1") and what ("group" or
#: "compile"); prints one JSON object of seconds. A garbage collection before each step
#: keeps the import's garbage out of the timings (it is collected, not disabled).
CHILD = r"""
import gc, json, sys, time
import symmle as sm
widths = tuple(int(w) for w in sys.argv[1].split("-"))
out = {}
gc.collect()   # the import's garbage: its collection would land in whichever step comes first
t = time.perf_counter()
arch = sm.mlp(*widths)
out["build"] = time.perf_counter() - t
if sys.argv[2] == "group":
    gc.collect()
    t = time.perf_counter()
    G = sm.symmetry_group(arch)
    out["group"] = time.perf_counter() - t
    out["order_bits"] = G.order.bit_length()
else:
    gc.collect()
    t = time.perf_counter()
    cm = sm.Model(arch, sm.Gaussian(sigma=1.0)).compile()
    out["compile"] = time.perf_counter() - t
print(json.dumps(out))
"""


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            model = flags = ""
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    have = set(line.split(":", 1)[1].split())
                    keep = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni"]
                    flags = " ".join(k for k in keep if k in have)
            return f"{model}; flags: {flags}"
    except OSError:
        return platform.processor() or "unknown"


def blas_info() -> str:
    try:
        import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    rows = [f"{d.get('internal_api')} {d.get('version')} {d.get('architecture', '')} "
            f"threads={d.get('num_threads')}" for d in threadpool_info()
            if d.get("user_api") == "blas"]
    return "; ".join(rows) or "no BLAS found"


def versions() -> str:
    import networkx
    import numpy
    import sympy
    return (f"python {platform.python_version()}, numpy {numpy.__version__}, "
            f"networkx {networkx.__version__}, sympy {sympy.__version__}")


def measure(tree: Path, widths, what: str, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    spec = "-".join(map(str, widths))
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, spec, what], env=env, cwd=str(tree),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"> {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:100]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(values) -> str:
    if not values:
        return "—"
    med = statistics.median(values)
    each = ", ".join(f"{v:.3g}" for v in values)
    return f"{med:.3g} s" + (f" ({each})" if len(values) > 1 else "")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="/work/base", help="source tree of the 'before' code")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="only the two smaller networks")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per process")
    args = ap.parse_args(argv)
    trees = {"before": Path(args.before), "after": HERE}
    print(f"CPU: {cpu_flags()}")
    print(f"BLAS: {blas_info()}")
    print(f"{versions()}; load average {os.getloadavg()[0]:.2f} at start")
    print(f"trees: before = {trees['before']}, after = {trees['after']}")
    nets = NETWORKS[:2] if args.quick else NETWORKS
    rows = []
    for widths in nets:
        times = {(t, k): [] for t in trees for k in ("build", "group", "build+group", "compile")}
        errors = {}
        for _ in range(args.repeat):
            for tree_name, tree in trees.items():    # interleaved: before, after, before, ...
                for what in ("group", "compile"):
                    r = measure(tree, widths, what, args.timeout)
                    if "error" in r:
                        errors[(tree_name, what)] = r["error"]
                        continue
                    times[(tree_name, "build")].append(r["build"])
                    if what == "group":
                        times[(tree_name, "group")].append(r["group"])
                        times[(tree_name, "build+group")].append(r["build"] + r["group"])
                    else:
                        times[(tree_name, "compile")].append(r["compile"])
        rows.append((widths, times, errors))
        name = f"mlp({', '.join(map(str, widths))})"
        print(f"\n{name}")
        for key in ("build", "group", "build+group", "compile"):
            b, a = times[("before", key)], times[("after", key)]
            ratio = (f"{statistics.median(a) / statistics.median(b):.3g}×"
                     if a and b and statistics.median(b) > 0 else "—")
            print(f"  {key:12s} before {fmt(b):40s} after {fmt(a):40s} after/before {ratio}")
        for (tree_name, what), msg in errors.items():
            print(f"  {tree_name} {what}: {msg}")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
