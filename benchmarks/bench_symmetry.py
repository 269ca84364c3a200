"""Benchmark: the exact symmetry group of large MLPs, and small nets against plain enumeration.

Run: ``python benchmarks/bench_symmetry.py [--quick]``.

1. ``mlp(784, 1000, 1000, 10)`` with tanh: exact order ``(2^1000 · 1000!)^2`` and generators.
   Building the ``Architecture`` itself (networkx graph of 1.8 M edges, validation, layer
   bookkeeping) is timed separately from ``symmetry_group``: ``mlp()``'s validation is far too
   slow at this size (``nx.find_cycle`` and one ``nx.descendants`` per input), so the graph is
   also built here already normalised (the same attributes ``mlp`` writes), which
   ``Architecture`` accepts without re-validating.
2. Small ``2-H-1`` nets: ``symmetry_group`` against enumerating every automorphism with
   networkx's ``DiGraphMatcher`` (the reference, measured in the same run), as a ratio.
3. ``orbit_distance`` on ``mlp(2, 3, 1)``: the per-replication cost in a consistency study.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import networkx as nx
import numpy as np
from networkx.algorithms.isomorphism import DiGraphMatcher

import symmle as sm
from symmle.symmetry import orbit_distance, symmetry_group
from symmle.symmetry._group import clear_caches


def timed(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def prenormalised_mlp(*widths, activation="tanh"):
    """The graph ``sm.mlp`` builds, written with its normalised attributes (no validation)."""
    G = nx.DiGraph()
    names = [[f"x{i + 1}" for i in range(widths[0])]]
    n_layers = len(widths) - 1
    for layer in range(1, n_layers):
        names.append([f"h{layer}_{j + 1}" for j in range(widths[layer])])
    names.append(["y"] if widths[-1] == 1 else [f"y{k + 1}" for k in range(widths[-1])])
    G.add_nodes_from(names[0], role="input", layer=0)
    for layer in range(1, n_layers + 1):
        role = "output" if layer == n_layers else "hidden"
        act = "identity" if role == "output" else activation
        for j, v in enumerate(names[layer]):
            G.add_node(v, role=role, activation=act, bias=True, bias_name=f"b{layer}_{j + 1}",
                       layer=layer)
            G.add_edges_from((u, v, {"name": f"W{layer}_{j + 1}_{k + 1}"})
                             for k, u in enumerate(names[layer - 1]))
    G.graph["symmle_normalised"] = True
    return sm.Architecture(nx.freeze(G))


def fresh_group(arch):
    clear_caches(arch)  # measure from scratch, not the cached group
    G = symmetry_group(arch)
    return G.order, G.generators


def big(quick: bool):
    widths = (784, 100, 100, 10) if quick else (784, 1000, 1000, 10)
    H = widths[1]
    t = time.perf_counter()
    arch = prenormalised_mlp(*widths)
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    _ = arch.layers
    t_layers = time.perf_counter() - t
    t_group, (order, gens) = timed(lambda: fresh_group(arch), repeat=3)
    expected = (2 ** H * math.factorial(H)) ** 2
    print(f"mlp{widths} tanh, P = {arch.n_params}")
    print(f"  build normalised graph: {t_graph:.2f} s; arch.layers bookkeeping: {t_layers:.2f} s")
    print(f"  symmetry_group order + generators: {t_group * 1e3:.0f} ms "
          f"(target < 1000 ms); order == (2^{H}·{H}!)^2: {order == expected}; "
          f"{len(gens)} generators")
    small = (784, 30, 10)
    t = time.perf_counter()
    sm.mlp(*small)
    t_mlp = time.perf_counter() - t
    t = time.perf_counter()
    prenormalised_mlp(*small)
    t_pre = time.perf_counter() - t
    print(f"  for scale: sm.mlp{small} (validated) {t_mlp:.2f} s vs pre-normalised {t_pre:.2f} s "
          f"({t_mlp / t_pre:.0f}x)")


def enumeration(quick: bool):
    print("2-H-1 tanh: symmetry_group vs enumerating automorphisms with DiGraphMatcher")
    for H in ([4, 5, 6] if quick else [4, 5, 6, 7]):
        arch = sm.mlp(2, H, 1)
        g = nx.DiGraph(arch.graph)

        def enumerate_all():
            labels = {v: (d["role"], v if d["role"] != "hidden" else d["activation"])
                      for v, d in g.nodes(data=True)}
            nx.set_node_attributes(g, labels, "lab")
            gm = DiGraphMatcher(g, g, node_match=lambda a, b: a["lab"] == b["lab"])
            return sum(1 for _ in gm.isomorphisms_iter()) * 2 ** H

        t_enum, n_enum = timed(enumerate_all, repeat=1 if H >= 7 else 3)
        t_sym, (order, _) = timed(lambda: fresh_group(arch), repeat=5)
        print(f"  H = {H}: order {order} (enumeration {n_enum}, equal: {order == n_enum}); "
              f"enumeration {t_enum * 1e3:.1f} ms, symmetry_group {t_sym * 1e3:.2f} ms, "
              f"ratio {t_enum / t_sym:.0f}x")


def distances():
    arch = sm.mlp(2, 3, 1)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 14))
    orbit_distance(arch, a, b)
    t, _ = timed(lambda: [orbit_distance(arch, a, b) for _ in range(1000)], repeat=3)
    ref_t, _ = timed(lambda: [np.linalg.norm(a - b) for _ in range(1000)], repeat=3)
    print(f"orbit_distance mlp(2,3,1) (Model θ, order 48): {t * 1e3:.1f} µs per call "
          f"({t / ref_t:.0f}x a plain np.linalg.norm)")
    arch = sm.mlp(5, 30, 1)
    a, b = rng.standard_normal((2, arch.n_params))
    t, _ = timed(lambda: orbit_distance(arch, a, b), repeat=5)
    print(f"orbit_distance mlp(5,30,1) (assignment path, order 2^30·30!): {t * 1e3:.2f} ms per call")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    args = ap.parse_args()
    big(args.quick)
    enumeration(args.quick)
    distances()
