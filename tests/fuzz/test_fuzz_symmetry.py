"""Fuzz: `SymmetryGroup`, `ParamTransform`, `canonicalize`, `align`, `orbit_distance`,
`continuous_symmetries`, `is_reducible`, `reduce`, over the zoo and drawn architectures.

Oracles: every group element leaves the network function unchanged (``forward(g(θ)) ==
forward(θ)``); ``g⁻¹(g(θ)) = θ``, ``(g·h)(θ) = g(h(θ))``, ``matrix() @ θ = g(θ)``; the order
is 2ⁿ·n! for one tanh layer and ``elements()`` lists that many distinct elements; canonical
forms are orbit invariants; an aligned θ is in the orbit and no farther than θ itself;
``orbit_distance(g(a), b) = orbit_distance(a, b)``; continuous directions are in the kernel of
``∂f/∂θ``; ``reduce`` keeps the function.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, strategies as hst

import symmle as sm
from symmle.strategies import architectures, graph_architectures

import fuzz_models as zoo
from fuzz_harness import close, examples, run
from fuzz_values import broken, counts, example_kinds, scalars, small_thetas, thetas

#: Inputs at which two parameter vectors are compared as functions.
X_PROBE = np.random.default_rng(7).uniform(-2, 2, (6, 3))

SYMMETRY_ARCHS = hst.one_of(
    hst.sampled_from(zoo.NAMES).map(zoo.arch),
    architectures(max_inputs=2, max_hidden_layers=2, max_width=3, max_outputs=2),
    architectures(min_hidden_layers=1, max_hidden_layers=2, max_width=3, skip_connections="all",
                  bias="per_unit", per_unit_activations=True),
    graph_architectures(max_hidden=4),
)


def _f(arch, theta):
    return arch.forward(theta[: arch.n_params], X_PROBE[:, : arch.n_inputs])


def _same_function(arch, a, b, what):
    close(_f(arch, a), _f(arch, b), rtol=1e-9, atol=1e-9, what=what)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _arch_accepts(value, P) -> bool:
    """Whether an Architecture-level function may take ``value`` as θ: finite reals, length at
    least P (family parameters may follow the network's)."""
    try:
        arr = np.asarray(value) if not isinstance(value, (str, bytes, dict, set)) else np.zeros(0)
    except (TypeError, ValueError):   # ragged nested lists
        return False
    return (arr.dtype.kind in "biuf" and arr.ndim == 1 and arr.shape[-1] >= P
            and bool(np.all(np.isfinite(arr))))


def _generic(theta) -> bool:
    """No zero and no two equal magnitudes among θ's entries (canonical forms are promised
    there; at ties the sign or order rule may pick either twin)."""
    a = np.abs(np.asarray(theta, dtype=float))
    return bool(np.all(a > 1e-6) and len(np.unique(np.round(a, 9))) == len(a))


def _refused(out):
    raise AssertionError(f"an invalid argument was accepted: {out!r:.200}")


@examples(weight=3)
@given(arch=SYMMETRY_ARCHS, data=hst.data(), rank=hst.one_of(hst.integers(-2, 60), counts),
       rng=hst.one_of(hst.integers(0, 99), scalars), limit=hst.one_of(hst.integers(1, 50), counts))
def test_symmetry_group(arch, data, rank, rng, limit):
    cls, G = run("symmetry_group", lambda: sm.symmetry_group(arch), args=arch)
    if cls != "ok":
        return
    theta = data.draw(small_thetas(arch.n_params))

    def check_order(order):
        assert isinstance(order, int) and order >= 1
        if arch.widths is not None and len(arch.widths) == 3 and arch.widths[2] == 1:
            act = arch.graph.nodes[arch.hidden_nodes[0]]["activation"]
            n = arch.widths[1]
            if act == "tanh" and all(arch.graph.nodes[v]["bias"] for v in arch.graph
                                     if arch.graph.nodes[v]["role"] != "input"):
                assert order == 2 ** n * math.factorial(n), "order is not 2^n n!"
    run("SymmetryGroup.order", lambda: G.order, check=check_order)
    for prop in ("quotient_order", "n_flippable", "continuous_dim", "generators"):
        run(f"SymmetryGroup.{prop}", lambda: getattr(G, prop))
    run("SymmetryGroup.order_formula", G.order_formula,
        check=lambda s: None if isinstance(s, str) and s else _refused(s))
    run("SymmetryGroup.__str__", lambda: str(G) + G._repr_html_() + repr(G))

    def invariant(g, what):
        _same_function(arch, g(theta), theta, what)

    run("SymmetryGroup.random_element", lambda: G.random_element(rng), args=rng,
        check=lambda g: invariant(g, "random_element"))

    def check_rank(g):
        if not (_is_int(rank) and 0 <= rank < G.order):
            _refused(g)
        invariant(g, f"element_from_rank({rank})")
    run("SymmetryGroup.element_from_rank", lambda: G.element_from_rank(rank), args=rank,
        check=check_rank)

    def check_elements(elems):
        elems = list(elems)
        assert len(elems) == G.order and len(set(elems)) == G.order, "elements() != the group"
        for g in elems[:8]:
            invariant(g, "elements()")
    run("SymmetryGroup.elements", lambda: list(G.elements(limit=limit)), args=limit,
        check=check_elements)

    def check_orbit(orbit):
        assert orbit.shape == (G.order, arch.n_params)
        for row in orbit[:8]:
            _same_function(arch, row, theta, "orbit")
    run("SymmetryGroup.orbit", lambda: G.orbit(theta, limit=limit), args=limit, check=check_orbit)


@examples(weight=3)
@given(arch=SYMMETRY_ARCHS, data=hst.data(), max_items=hst.one_of(hst.integers(0, 8), counts),
       perm=hst.one_of(hst.none(), hst.just("swap"), scalars, hst.dictionaries(
           hst.one_of(hst.sampled_from(["h1_1", "h1_2", "x1", "y"]), hst.integers(), hst.text()),
           scalars, max_size=2)),
       flips=hst.one_of(hst.none(), hst.just("first"), scalars,
                        hst.lists(hst.sampled_from(["h1_1", "x1", "y", 3]), max_size=2)))
def test_param_transform(arch, data, max_items, perm, flips):
    G = sm.symmetry_group(arch)
    theta = data.draw(small_thetas(arch.n_params))
    g = G.random_element(data.draw(hst.integers(0, 99)))
    h = G.random_element(data.draw(hst.integers(0, 99)))
    run("ParamTransform.__call__", lambda: g(theta),
        check=lambda t: _same_function(arch, t, theta, "g(θ)"))
    run("ParamTransform.inverse", g.inverse,
        check=lambda gi: close(gi(g(theta)), theta, rtol=1e-12, atol=1e-12, what="g⁻¹(g(θ))"))
    run("ParamTransform.__mul__", lambda: g * h,
        check=lambda gh: close(gh(theta), g(h(theta)), rtol=1e-12, atol=1e-12, what="(gh)(θ)"))

    def check_matrix(M):
        if not g.is_linear:
            _refused(M)
        close(M @ theta, g(theta), rtol=1e-12, atol=1e-12, what="matrix() @ θ")
    run("ParamTransform.matrix", g.matrix, check=check_matrix)
    run("ParamTransform.describe", lambda: g.describe(max_items), args=max_items,
        check=lambda s: None if isinstance(s, str) else _refused(s))
    for prop in ("perm", "flips", "is_identity", "is_linear"):
        run(f"ParamTransform.{prop}", lambda: getattr(g, prop))
    hidden = arch.hidden_nodes
    if perm == "swap":
        perm = {hidden[0]: hidden[-1], hidden[-1]: hidden[0]} if hidden else {}
    if flips == "first":
        flips = list(hidden[:1])

    def check_made(t):
        _same_function(arch, t(theta), theta, "ParamTransform(arch, perm, flips)")
    run("ParamTransform", lambda: sm.ParamTransform(arch, perm=perm, flips=flips),
        args=(perm, flips), check=check_made)
    bad_theta = data.draw(thetas(arch.n_params, "invalid"))

    def check_batch(out):   # a batch (..., P) of valid vectors is valid
        arr = np.asarray(bad_theta)
        batch = (arr.ndim > 1 and arr.shape[-1] == arch.n_params and arr.dtype.kind in "biuf"
                 and np.all(np.isfinite(arr)))
        if not (batch or _arch_accepts(bad_theta, arch.n_params)):
            _refused(out)
    run("ParamTransform.__call__", lambda: g(bad_theta), args=bad_theta, check=check_batch)


METHODS = hst.one_of(hst.sampled_from(["auto", "exhaustive", "branch_and_bound"]), scalars)


@examples(weight=4)
@given(arch=SYMMETRY_ARCHS, data=hst.data(), kind=example_kinds, with_model=hst.booleans(),
       method=hst.one_of(hst.just("auto"), METHODS),
       max_nodes=hst.one_of(hst.just(200_000), hst.integers(1, 1000), counts),
       time_limit=hst.one_of(hst.just(10.0), hst.none(), hst.floats(0.01, 5), scalars),
       flag=hst.one_of(hst.booleans(), scalars))
def test_canonicalize_align_orbit_distance(arch, data, kind, with_model, method, max_nodes,
                                           time_limit, flag):
    model = sm.Model(arch, sm.Gaussian()) if with_model else None
    target = model if with_model else arch
    P = model.n_params if with_model else arch.n_params
    bad = data.draw(broken(kind, ("theta", "reference", "length")))
    theta = data.draw(small_thetas(P)) if bad != "theta" else data.draw(thetas(P, kind))
    ref = data.draw(small_thetas(P)) if bad != "reference" else data.draw(thetas(P, kind))
    if bad == "length":
        # an Architecture's θ may carry family parameters after the network's; a Model's not
        cut = data.draw(hst.sampled_from([-1, 1, 6] if with_model else [-1]))
        theta = np.resize(np.asarray(theta, float), P + cut) if kind == "invalid" else theta
    G = sm.symmetry_group(arch)
    g = G.random_element(data.draw(hst.integers(0, 99)))
    options_ok = (isinstance(method, str) and method in ("auto", "exhaustive", "branch_and_bound")
                  and _is_int(max_nodes) and max_nodes >= 1
                  and (method != "exhaustive" or G.order <= sm.symmetry.MAX_ELEMENTS)
                  and (time_limit is None or (isinstance(time_limit, (int, float, np.floating,
                                                                      np.integer))
                                              and not isinstance(time_limit, (bool, np.bool_))
                                              and 0 < time_limit < math.inf)))
    valid = kind == "valid"

    def check_canonical(c):
        if kind == "invalid" and bad != "reference" and (with_model
                                                          or not _arch_accepts(theta, P)):
            _refused(c)
        if valid or (kind == "invalid" and bad == "reference"):
            _same_function(arch, c, theta, "canonicalize")
            if _generic(theta):   # the documented promise: at a generic θ
                close(sm.canonicalize(target, g(theta)), c, rtol=1e-9, atol=1e-9,
                      what="canonicalize(g(θ)) = canonicalize(θ)")
    run("canonicalize", lambda: sm.canonicalize(target, theta), check=check_canonical,
        args=(arch, theta), promised=kind != "lenient")

    pair_ok = with_model or (_arch_accepts(theta, P) and _arch_accepts(ref, P)
                             and len(theta) == len(ref))

    def check_align(res):
        if (kind == "invalid" and not pair_ok) or not options_ok:
            _refused(res)
        if valid:
            _same_function(arch, res.member, theta, "align")
            assert res.distance <= np.linalg.norm(np.asarray(theta) - ref) * (1 + 1e-12) + 1e-12
            assert res.lower_bound <= res.distance * (1 + 1e-12) + 1e-12
            if res.optimal:
                assert res.lower_bound == res.distance
    run("align", lambda: sm.align(target, theta, ref, return_result=True, method=method,
                                  max_nodes=max_nodes, time_limit=time_limit),
        check=check_align, args=(arch, theta, ref, method, max_nodes, time_limit),
        promised=kind != "lenient")
    run("align", lambda: sm.align(target, theta, ref, return_transform=flag), args=flag,
        check=lambda out: None if isinstance(flag, (bool, np.bool_)) else _refused(out),
        promised=kind != "lenient")

    def check_distance(d):
        if kind == "invalid" and not pair_ok:
            _refused(d)
        if valid:
            assert d <= np.linalg.norm(np.asarray(theta) - ref) * (1 + 1e-12) + 1e-12
            d_g = sm.orbit_distance(target, g(theta), ref)
            close([d_g], [d], rtol=1e-7, atol=1e-9, what="orbit_distance(g(a), b)")
    run("orbit_distance", lambda: sm.orbit_distance(target, theta, ref), check=check_distance,
        args=(arch, theta, ref), promised=kind != "lenient")


@examples(weight=2)
@given(name=hst.sampled_from(zoo.NAMES), data=hst.data(), kind=example_kinds,
       with_model=hst.booleans(), tol=hst.one_of(hst.just(1e-10), hst.floats(0, 1), scalars))
def test_continuous_symmetries_and_reduction(name, data, kind, with_model, tol):
    model = zoo.model(name)
    arch = model.architecture
    target = model if with_model else arch
    P = model.n_params if with_model else arch.n_params
    theta = data.draw(thetas(P, kind)) if kind != "valid" else data.draw(small_thetas(P))

    def check_directions(V):
        if kind == "invalid" and (with_model or not _arch_accepts(theta, P)):
            _refused(V)
        if kind == "valid":
            assert V.shape[0] == P
            J = model.compile().jacobian(np.resize(np.asarray(theta, float), model.n_params),
                                         X_PROBE[:, : arch.n_inputs])
            JV = J @ V[: arch.n_params]   # (n, K, k): how each direction moves η
            if with_model and model.family.shift_invariant:
                JV = JV - JV[:, :1, :]    # a shift of every output leaves the softmax alone
            scale = max(1.0, float(np.abs(J).max(initial=0)))
            assert np.abs(JV).max(initial=0) <= 1e-8 * scale, "a direction moves f"
    run("continuous_symmetries", lambda: sm.continuous_symmetries(target, theta),
        check=check_directions, args=(name, theta), promised=kind != "lenient")

    run("is_reducible", lambda: sm.is_reducible(target, theta, tol=tol), args=(name, theta, tol),
        check=lambda r: None if isinstance(r, bool) and (kind != "invalid" or (
            not with_model and _arch_accepts(theta, P))) else _refused(r),
        promised=kind != "lenient")

    def check_reduce(out):
        if kind == "invalid" and (with_model or not _arch_accepts(theta, P)):
            _refused(out)
        small, small_theta = out
        small = small.architecture if isinstance(small, sm.Model) else small
        if kind == "valid" and isinstance(tol, float) and tol <= 1e-8:   # larger tol: lossy
            close(small.forward(small_theta[: small.n_params], X_PROBE[:, : arch.n_inputs]),
                  _f(arch, np.asarray(theta, float)), rtol=1e-7, atol=1e-7, what="reduce")
    run("reduce", lambda: sm.reduce(target, theta, tol=tol), check=check_reduce,
        args=(name, theta, tol), promised=kind != "lenient")
