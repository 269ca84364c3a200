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
4. Exact orbit distance on groups of at most 10⁵ elements (deep tanh, deep sigmoid, 1-6-1
   sigmoid at random and near-orbit pairs, a skip-connected softplus network): branch and
   bound against exhaustive search over the group (the reference), git-re-basin-style weight
   matching (coordinate descent: one linear assignment per layer, alternated until nothing
   changes; MLPs only) and the layer-by-layer assignment heuristic that ``orbit_distance`` used
   before (one pass from the input, sigmoid flips polished greedily). Time per pair, and how
   often each finds the true minimum.
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
from scipy.optimize import linear_sum_assignment

from symmle.symmetry import orbit_distance, symmetry_group
from symmle.symmetry._alignment import _heuristic
from symmle.symmetry._group import clear_caches
from symmle.symmetry._transform import ParamTransform

#: A method "finds the optimum" when its distance is within this relative tolerance of the
#: exhaustive minimum.
OPT_RTOL = 1e-9

#: Weight matching stops after this many sweeps over the layers even if assignments still change.
MAX_SWEEPS = 100


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
    print(f"orbit_distance mlp(5,30,1) (branch and bound, solved at the root, order 2^30·30!): "
          f"{t * 1e3:.2f} ms per call")


def weight_matching(arch, a, b, rng):
    """Git re-basin weight matching (Ainsworth et al. 2023) with sign flips, for an MLP.

    Per hidden layer l a permutation π_l and signs s_l (odd or sigmoid units); holding the
    others fixed, layer l's is one linear assignment maximising the inner product of its
    incoming rows (columns already permuted by π_{l-1}), bias and outgoing columns (rows
    permuted by π_{l+1}) with the reference's, the sign per pair the one that helps; layers
    are visited in random order until no assignment changes. The sigmoid flips' bias shifts are
    ignored while matching; the distance is then the exact one of the group element found.
    """
    st = symmetry_group(arch)._st
    A = arch.unflatten(a[:arch.n_params])
    B = arch.unflatten(b[:arch.n_params])
    n_hidden = len(A) - 1
    perms = [np.arange(len(A[l][1])) for l in range(n_hidden)]
    signs = [np.ones(len(A[l][1])) for l in range(n_hidden)]
    units = [arch.layers[l].units for l in range(n_hidden)]
    can_flip = [bool(st.flippable[st.hpos[st.nid[units[l][0]]]]) for l in range(n_hidden)]

    def prev(l):
        if l == 0:
            return np.arange(A[0][0].shape[1]), np.ones(A[0][0].shape[1])
        return perms[l - 1], signs[l - 1]

    for _ in range(MAX_SWEEPS):
        changed = False
        for l in rng.permutation(n_hidden):
            (W, bw), (Wr, br) = A[l], B[l]
            pp, ps = prev(l)
            Win = np.zeros_like(W)
            Win[:, pp] = W * ps              # old unit i's row in the permuted source order
            S = Win @ Wr.T + np.outer(bw, br)
            Wn, Wnr = A[l + 1][0], B[l + 1][0]
            np_, ns = (perms[l + 1], signs[l + 1]) if l + 1 < n_hidden else (
                np.arange(Wn.shape[0]), np.ones(Wn.shape[0]))
            Wout = np.zeros_like(Wn)
            Wout[np_] = Wn * ns[:, None]
            S = S + Wout.T @ Wnr
            sgn = np.where(S < 0, -1.0, 1.0) if can_flip[l] else np.ones_like(S)
            r, c = linear_sum_assignment(-(S * sgn))
            new_p, new_s = c.copy(), sgn[r, c]
            if not (np.array_equal(new_p, perms[l]) and np.array_equal(new_s, signs[l])):
                perms[l], signs[l], changed = new_p, new_s, True
        if not changed:
            break
    perm = np.arange(st.H, dtype=np.intp)
    flips = np.zeros(st.H, bool)
    for l in range(n_hidden):
        for i, v in enumerate(units[l]):
            h = st.hpos[st.nid[v]]
            perm[h] = st.hpos[st.nid[units[l][perms[l][i]]]]
            flips[h] = signs[l][i] < 0
    g = ParamTransform._make(arch, perm, flips)
    return float(np.linalg.norm(g(a) - b))


def dense_skip(widths, activation):
    """Every node feeds every node of every later layer: all flips of softplus units exist."""
    G = nx.DiGraph()
    layers = [["x"]] + [[f"h{li}_{j}" for j in range(w)] for li, w in enumerate(widths)] + [["y"]]
    G.add_node("x", role="input")
    G.add_node("y", role="output")
    for layer in layers[1:-1]:
        G.add_nodes_from(layer, role="hidden", activation=activation)
    for i, lo in enumerate(layers):
        G.add_edges_from((u, v) for hi in layers[i + 1:] for u in lo for v in hi)
    return sm.Architecture.from_graph(G)


def exact_search(quick: bool):
    n_pairs = 6 if quick else 20
    cases = [("mlp(2,3,4,1) tanh", sm.mlp(2, 3, 4, 1, activation="tanh"), None),
             ("mlp(1,2,3,3,1) tanh", sm.mlp(1, 2, 3, 3, 1, activation="tanh"), None),
             ("mlp(2,3,4,1) sigmoid", sm.mlp(2, 3, 4, 1, activation="sigmoid"), None),
             ("mlp(1,6,1) sigmoid", sm.mlp(1, 6, 1, activation="sigmoid"), None),
             ("mlp(1,6,1) sigmoid near", sm.mlp(1, 6, 1, activation="sigmoid"), 0.01),
             ("mlp(1,3,3,1) sigmoid near", sm.mlp(1, 3, 3, 1, activation="sigmoid"), 0.01),
             ("skip softplus 3+3", dense_skip([3, 3], "softplus"), None)]
    print(f"exact orbit distance, {n_pairs} pairs each: time per pair (ms) and optimum found "
          f"(within {OPT_RTOL:g} relative of exhaustive search)")
    print(f"  {'architecture':27s} {'order':>7s} | {'exhaustive':>10s} | {'branch&bound':>16s} | "
          f"{'weight matching':>16s} | {'old heuristic':>16s}")
    for name, arch, noise in cases:
        G = symmetry_group(arch)
        rng = np.random.default_rng(0)
        G.orbit(np.zeros(arch.n_params))   # build the orbit table outside the timings
        t = {"ex": [], "bb": [], "wm": [], "old": []}
        hits = {"bb": 0, "wm": 0, "old": 0}
        mlp_like = arch.widths is not None
        for _ in range(n_pairs):
            b = rng.standard_normal(arch.n_params)
            a = (rng.standard_normal(arch.n_params) if noise is None
                 else G.random_element(rng)(b) + noise * rng.standard_normal(arch.n_params))
            t0 = time.perf_counter()
            best = float(np.sqrt(((G.orbit(a) - b) ** 2).sum(1).min()))
            t["ex"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            d_bb = orbit_distance(arch, a, b, method="branch_and_bound")
            t["bb"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            g = _heuristic(G, a, b)
            d_old = float(np.linalg.norm(g(a) - b))
            t["old"].append(time.perf_counter() - t0)
            if mlp_like:
                t0 = time.perf_counter()
                d_wm = weight_matching(arch, a, b, rng)
                t["wm"].append(time.perf_counter() - t0)
                hits["wm"] += d_wm <= best * (1 + OPT_RTOL)
            hits["bb"] += d_bb <= best * (1 + OPT_RTOL)
            hits["old"] += d_old <= best * (1 + OPT_RTOL)

        def cell(k):
            if not t[k]:
                return f"{'n/a (MLP only)':>16s}"
            return f"{statistics.median(t[k]) * 1e3:7.2f} {hits[k]:3d}/{n_pairs:<3d}"

        print(f"  {name:27s} {G.order:7d} | {statistics.median(t['ex']) * 1e3:7.2f} ms | "
              f"{cell('bb')}  | {cell('wm')}  | {cell('old')}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    args = ap.parse_args()
    big(args.quick)
    enumeration(args.quick)
    distances()
    exact_search(args.quick)
