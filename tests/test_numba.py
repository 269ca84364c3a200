"""The optional numba backend: its kernels against mpmath, and every quantity against numpy."""

from __future__ import annotations

import importlib.util
import pickle

import networkx as nx
import numpy as np
import pytest
import scipy.special as sps

import symmle as sm
import symmle.compiled as compiled
import symmle.compiled._chunks as chunk_plan
from symmle.errors import MissingDependencyError, SymmleValueError

numba = pytest.importorskip("numba")
mpmath = pytest.importorskip("mpmath")
K = pytest.importorskip("symmle.compiled._numba_kernels")
B = pytest.importorskip("symmle.compiled._numba_blocks")
F = pytest.importorskip("symmle.compiled._numba_fused")
L = pytest.importorskip("symmle.compiled._numba_layered")

ACTS = ["identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "silu", "erf"]


def ulps(got, exact):
    """|got − exact| in units of the last place of the float64 nearest to exact (mpmath)."""
    out = []
    for g, e in zip(got, exact):
        ef = float(e)
        if ef == 0.0:
            out.append(0.0 if g == 0.0 else np.inf)
            continue
        out.append(float(abs(mpmath.mpf(float(g)) - e) / np.spacing(abs(ef))))
    return np.array(out)


def sample(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(-2, 2, 1500), rng.uniform(-40, 40, 1500),
                           rng.choice([-1, 1], 800) * 10.0 ** rng.uniform(-12, 0, 800),
                           [0.625, -0.625, 0.6249999999999999, 22.0, -22.0, 1e-9, -1e-9,
                            0.34657359027997264, 709.0, -708.0, -744.0]])


EXACT = {
    "tanh": mpmath.tanh,
    "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)),
    "silu": lambda t: t / (1 + mpmath.exp(-t)),
    "exp": mpmath.exp,
}


@pytest.mark.parametrize("name,bound", [("tanh", 3.0), ("sigmoid", 3.0), ("silu", 4.0),
                                        ("exp", 2.0)])
def test_kernels_are_within_a_few_ulp_of_mpmath(name, bound):
    x = sample()
    if name in ("exp", "silu"):  # x·σ(x) with σ(x) subnormal has few significant bits anyway
        x = x[np.abs(x) < 700]
    got = getattr(K, name)(x)
    with mpmath.workprec(113):
        exact = [EXACT[name](mpmath.mpf(float(v))) for v in x]
        err = ulps(got, exact)
        assert err.max() <= bound, (name, x[np.argmax(err)], err.max())
        # numpy's own function for scale: the kernel is not much worse than libm
        if name == "tanh":
            assert ulps(np.tanh(x), exact).max() <= 1.5


def test_kernels_special_values():
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324, -5e-324,
                        1e-300, 30.0, -30.0])
    with np.errstate(all="ignore"):
        t = K.tanh(special)
        assert np.array_equal(t, np.tanh(special), equal_nan=True)
        assert np.signbit(t[1]) and not np.signbit(t[0])  # tanh(-0.0) = -0.0
        s = K.sigmoid(special)
        assert np.array_equal(s[:-2], sps.expit(special[:-2]), equal_nan=True)
        np.testing.assert_allclose(s[-2:], sps.expit(special[-2:]), rtol=4e-16)
        e = K.exp(np.array([0.0, np.inf, -np.inf, np.nan, 709.78, 709.79, -745.1, -745.2, -800.0]))
        assert np.array_equal(e, np.exp([0.0, np.inf, -np.inf, np.nan, 709.78, 709.79, -745.1,
                                         -745.2, -800.0]), equal_nan=True)
    # the array API: shapes, out=, non-contiguous input
    x = np.linspace(-3, 3, 24).reshape(4, 6)
    out = np.empty((4, 6))
    assert K.tanh(x[:, ::2]).shape == (4, 3)
    assert K.tanh(x, out=out) is out
    np.testing.assert_allclose(out, np.tanh(x), rtol=1e-15)


def fused_graph_arch():
    """A DAG the fused kernels must handle: skip connections into a later layer and into the
    outputs, mixed activations within a layer, an unbiased unit, two outputs."""
    G = nx.DiGraph()
    for v in ("x1", "x2", "x3"):
        G.add_node(v, role="input")
    G.add_node("a", role="hidden", activation="tanh")
    G.add_node("b", role="hidden", activation="relu", bias=False)
    G.add_node("c", role="hidden", activation="sigmoid")
    G.add_node("d", role="hidden", activation="silu")
    G.add_node("y1", role="output")
    G.add_node("y2", role="output", activation="leaky_relu")
    G.add_edges_from([("x1", "a"), ("x2", "a"), ("x2", "b"), ("x3", "b"), ("a", "c"),
                      ("b", "c"), ("x1", "c"), ("a", "d"), ("c", "y1"), ("d", "y1"),
                      ("x3", "y1"), ("b", "y2"), ("d", "y2")])
    return sm.Architecture.from_graph(G)


CASES = [(sm.mlp(2, 3, 2, 1, activation=a), sm.Gaussian()) for a in ACTS] + [
    (sm.mlp(3, 4, 3, activation="tanh"), sm.Categorical()),
    (sm.mlp(2, 3, 2, activation="sigmoid"), sm.Bernoulli()),
    (sm.mlp(2, 4, 1, activation="silu"), sm.Poisson()),
    (fused_graph_arch(), sm.Gaussian(sigma=0.7)),
    (sm.mlp(10, 9, 1, activation="tanh"), sm.Bernoulli()),  # 90 edges: the layered program
    (sm.mlp(3, 12, 9, 2, activation="relu"), sm.Categorical()),
    (sm.mlp(2, 9, 8, 1, activation="sigmoid"), sm.Poisson()),
    (sm.mlp(3, 11, 7, 1, activation="softplus"), sm.Gaussian()),  # no numba form: numpy layers
]


def big_skip_arch():
    """A 72-edge hidden layer and a skip connection from an input to the output (sources
    that are not one block of rows): neither fused nor layered."""
    G = nx.DiGraph()
    xs = [f"x{i}" for i in range(8)]
    hs = [f"h{i}" for i in range(9)]
    G.add_nodes_from(xs, role="input")
    G.add_nodes_from(hs, role="hidden", activation="tanh")
    G.add_node("y", role="output")
    G.add_edges_from((x, h) for x in xs for h in hs)
    G.add_edges_from((h, "y") for h in hs)
    G.add_edge("x0", "y")
    return sm.Architecture.from_graph(G)


def big_sparse_arch():
    """A 71-edge layer (one edge missing) with an unbiased unit, two outputs: layered, with
    parameters that are not one dense block per layer."""
    G = nx.DiGraph()
    xs = [f"x{i}" for i in range(8)]
    hs = [f"h{i}" for i in range(9)]
    G.add_nodes_from(xs, role="input")
    for i, h in enumerate(hs):
        G.add_node(h, role="hidden", activation="tanh" if i % 2 else "sigmoid", bias=i != 1)
    G.add_nodes_from(["y1", "y2"], role="output")
    G.add_edges_from((x, h) for x in xs for h in hs if (x, h) != ("x0", "h0"))
    G.add_edges_from((h, y) for h in hs for y in ("y1", "y2"))
    return sm.Architecture.from_graph(G)


CASES += [(big_skip_arch(), sm.Gaussian(sigma=0.8)), (big_sparse_arch(), sm.Categorical())]


@pytest.mark.parametrize("arch,family", CASES, ids=repr)
def test_numba_backend_equals_numpy(arch, family):
    model = sm.Model(arch, family)
    theta = model.random_params(3)
    X, y = model.simulate(theta, n=700, rng=4)
    a, b = model.compile("numpy"), model.compile("numba")
    assert (a.backend, b.backend) == ("numpy", "numba")
    acts = {arch.graph.nodes[v]["activation"] for v in arch.graph if arch.graph.nodes[v]["role"] != "input"}
    small = all(len(L.weight_idx) <= F.FusedProgram.MAX_LAYER_EDGES for L in arch.layers)
    numba_acts = not acts & {"softplus", "erf"}
    assert (b._prog.fused is not None) == (small and numba_acts)
    blocks = all(isinstance(L.src, slice) for L in b._prog.layers)
    assert (b._prog.layered is not None) == (not small and numba_acts and blocks)
    assert a._prog.fused is None and a._prog.layered is None
    what = ("loglik", "score", "fisher", "hessian")
    ra, rb = a.evaluate(theta, X, y, what), b.evaluate(theta, X, y, what)
    assert rb["loglik"] == pytest.approx(ra["loglik"], rel=1e-13)
    for q in what[1:]:
        np.testing.assert_allclose(rb[q], ra[q], rtol=1e-11, atol=1e-11 * np.abs(ra[q]).max())
    np.testing.assert_allclose(b.fisher(theta, X), a.fisher(theta, X), rtol=1e-11,
                               atol=1e-11 * np.abs(ra["fisher"]).max())  # alone: fused for K = 1
    np.testing.assert_allclose(b.predict(theta, X), a.predict(theta, X), rtol=1e-13, atol=1e-15)
    # alone: η only (the fused program's tiles never write Z and A)
    assert b.loglik(theta, X, y) == pytest.approx(ra["loglik"], rel=1e-13)
    assert b.score(theta, X, y) == pytest.approx(ra["score"], rel=1e-11, abs=1e-11)
    np.testing.assert_allclose(b.jacobian(theta, X), a.jacobian(theta, X), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(b.loglik_rows(theta, X, y), a.loglik_rows(theta, X, y),
                               rtol=1e-12, atol=1e-13)


def test_fused_kernels_handle_chunks_tiles_and_threads(monkeypatch):
    model = sm.Model(fused_graph_arch(), sm.Gaussian())
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=1001, rng=1)
    ref = model.compile("numpy").evaluate(theta, X, y)
    cm = model.compile("numba")
    monkeypatch.setattr(F.FusedProgram, "TILE", 7)  # tiles that do not divide the chunks
    assert_same_on_any_thread_count(cm, theta, X, y, ref, monkeypatch, chunk_rows=100)


def assert_same_on_any_thread_count(cm, theta, X, y, ref, monkeypatch, chunk_rows):
    """``cm.evaluate`` over chunks of ``chunk_rows`` on 1, 2, 3 and 4 threads: close to
    ``ref``, and bit-identical for any thread count. The numba kernels' blocks are small, so
    that their parallel forms run on several blocks."""
    monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(chunk_plan, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(B, "BLOCK_VALUES", 64)
    monkeypatch.setattr(L.LayeredProgram, "MIN_BLOCK_ROWS", 8)
    monkeypatch.delenv("SYMMLE_NUM_THREADS", raising=False)
    results = []
    for t in (1, 2, 3, 4):
        with compiled.threads(t):
            results.append(cm.evaluate(theta, X, y))
            assert cm.loglik(theta, X, y) == results[0]["loglik"]  # η only: the same sums
            fisher_alone = cm.fisher(theta, X)  # straight from X when the weight is constant
            np.testing.assert_allclose(fisher_alone, ref["fisher"], rtol=1e-11, atol=1e-11)
            if t == 1:
                first_fisher = fisher_alone
            assert np.array_equal(fisher_alone, first_fisher)
    for r in results:
        for q in ref:
            np.testing.assert_allclose(r[q], ref[q], rtol=1e-11, atol=1e-11)
            assert np.array_equal(r[q], results[0][q])


def test_layered_program_handles_chunks_and_threads(monkeypatch):
    """The layered forward pass (BLAS inside numba) over uneven chunks on 1–3 threads: the
    same numbers as the numpy program, bit-identical for any thread count."""
    model = sm.Model(sm.mlp(4, 16, 12, 1, activation="tanh"), sm.Gaussian(sigma=0.9))
    theta = model.random_params(2)
    X, y = model.simulate(theta, n=1001, rng=3)
    ref = model.compile("numpy").evaluate(theta, X, y)
    cm = model.compile("numba")
    assert cm._prog.layered is not None and cm._prog.fused is None
    Z, A = cm._prog.forward(cm._prog.weights(theta), X[:5])
    np.testing.assert_allclose(Z[-1], model.architecture.forward(theta, X[:5])[:, 0], rtol=1e-13)
    np.testing.assert_allclose(Z[4:-1], np.tanh(A[:-1]), rtol=1e-15)  # h = σ(a), bias in a
    assert_same_on_any_thread_count(cm, theta, X, y, ref, monkeypatch, chunk_rows=97)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_non_finite_X_is_found_in_any_chunk(backend, monkeypatch):
    """X is scanned for NaN/inf chunk by chunk: a bad value in the last chunk, on any thread,
    is still a DataError naming X (never a NaN result)."""
    model = sm.Model(sm.mlp(3, 4, 1), sm.Gaussian(sigma=1.0))
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=600, rng=1)
    cm = model.compile(backend)
    monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", 50)
    monkeypatch.setattr(chunk_plan, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(B, "BLOCK_VALUES", 64)
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[-1, 2] = bad
        for t in (1, 2):
            with compiled.threads(t):
                for call in (lambda: cm.loglik(theta, Xb, y), lambda: cm.fisher(theta, Xb),
                             lambda: cm.evaluate(theta, Xb, y, ("score", "hessian")),
                             lambda: cm.predict(theta, Xb), lambda: cm.jacobian(theta, Xb)):
                    with pytest.raises(sm.errors.DataError, match="X contains NaN or infinite"):
                        call()
    Xf = np.asfortranarray(X)  # not C-contiguous: numpy's scan
    Xf[0, 0] = np.nan
    with pytest.raises(sm.errors.DataError, match="X contains NaN"):
        cm.loglik(theta, Xf, y)
    assert K.all_finite(np.array([1.0, -0.0, 5e-324, 1e308])) and not K.all_finite(
        np.array([1.0, np.nan]))


@pytest.mark.parametrize("family", [sm.Gaussian(sigma=0.5), sm.Bernoulli(), sm.Poisson()],
                         ids=repr)
def test_fused_fisher_is_used_for_one_output_and_small_p(monkeypatch, family):
    model = sm.Model(sm.mlp(3, 3, 1, activation="tanh"), family)
    theta = model.random_params(1) * 0.5
    X, _ = model.simulate(theta, n=1301, rng=2)  # not a multiple of the tile
    calls = []
    # a constant weight (Gaussian): J tile by tile straight from X; else from Z and A
    constant = family.constant_weight(theta[model.n_network_params:]) is not None
    name = "_FISHER_X" if constant else "_FISHER"
    original = getattr(F, name)

    def counting(kernel):
        def call(*args):
            calls.append(args[1].shape[0] if constant else args[1].shape[1])
            return kernel(*args)
        return call

    monkeypatch.setattr(F, name, counting(original))
    got = model.compile("numba").fisher(theta, X)
    assert calls == [1301]
    # independent reference: J by central differences of Architecture.forward, JᵀWJ by hand
    Pn = model.n_network_params
    f = lambda t: model.architecture.forward(t, X)[:, 0]  # noqa: E731
    J = np.stack([(f(theta[:Pn] + 1e-6 * e) - f(theta[:Pn] - 1e-6 * e)) / 2e-6
                  for e in np.eye(Pn)], axis=1)
    w = model.family.weight(model.architecture.forward(theta[:Pn], X), theta[Pn:])[:, 0, 0]
    np.testing.assert_allclose(got[:Pn, :Pn], (J * w[:, None]).T @ J, rtol=1e-6,
                               atol=1e-6 * np.abs(got).max())


def test_weighted_gram():
    rng = np.random.default_rng(0)
    J, w = rng.standard_normal((13, 1037)), rng.uniform(-1, 2, 1037)
    G = K.weighted_gram(J, w)
    np.testing.assert_allclose(G, (J * w) @ J.T, rtol=1e-12, atol=1e-12)
    assert np.array_equal(G, G.T)
    assert K.weighted_gram(rng.standard_normal((K.GRAM_MAX_P + 1, 50)), np.ones(50)) is None


def test_workspace_results_do_not_alias_scratch_space():
    model = sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli())
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=300, rng=1)
    for backend in ("numpy", "numba"):
        cm = model.compile(backend)
        eta, jac = cm.linear_predictor(theta, X), cm.jacobian(theta, X)
        keep = eta.copy(), jac.copy()
        cm.evaluate(2 * theta, X[::-1], y[::-1])  # reuses the same scratch buffers
        cm.jacobian(-theta, X)
        assert np.array_equal(eta, keep[0]) and np.array_equal(jac, keep[1])
        assert cm.evaluate(theta, X, y)["loglik"] == cm.evaluate(theta, X, y)["loglik"]


def test_backend_choice_and_errors(monkeypatch):
    model = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian(sigma=1.0))
    assert model.compile() is model.compile(compiled.default_backend()) is model.compile(None)
    assert model.compile("numba") is model.compile("numba")
    assert "backend='numba'" in repr(model.compile("numba"))
    assert model.compile("auto").backend == "numba"
    with pytest.raises(SymmleValueError, match="backend must be one of"):
        model.compile("jax")
    monkeypatch.setenv("SYMMLE_BACKEND", "numba")
    assert compiled.default_backend() == "numba"
    assert model.compile().backend == "numba"
    monkeypatch.setenv("SYMMLE_BACKEND", "fortran")
    with pytest.raises(SymmleValueError, match="SYMMLE_BACKEND must be one of"):
        model.compile()
    monkeypatch.setenv("SYMMLE_BACKEND", "auto")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert compiled.default_backend() == "numpy"


def test_default_backend_is_measured(monkeypatch):
    from symmle.compiled import _backend

    monkeypatch.delenv("SYMMLE_BACKEND", raising=False)
    for ns, want in ((13.6, "numba"), (0.76, "numpy"), (3.0, "numpy")):
        _backend.measured_backend.cache_clear()
        monkeypatch.setattr(_backend, "tanh_ns", lambda ns=ns: ns)
        assert compiled.default_backend() == want
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    _backend.measured_backend.cache_clear()
    monkeypatch.setattr(_backend, "tanh_ns", lambda: 13.6)
    assert compiled.default_backend() == "numpy"  # numba not installed
    monkeypatch.undo()
    _backend.measured_backend.cache_clear()
    # the measurement itself: a float64 tanh takes a positive time under a microsecond
    assert 0 < _backend.tanh_ns(values=4096, runs=3) < 1000


def test_missing_numba_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"symmle\[fast\]"):
        compiled.resolve_backend("numba")
    assert isinstance(MissingDependencyError("x"), ImportError)


def test_numba_compiled_model_pickles_and_fits_alike(monkeypatch):
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=400, rng=1)
    cm = model.compile("numba")
    cm.loglik(theta, X, y)
    cm2 = pickle.loads(pickle.dumps(cm))
    assert cm2.backend == "numba" and cm2.loglik(theta, X, y) == cm.loglik(theta, X, y)
    model2 = pickle.loads(pickle.dumps(model))  # a model with its compiled forms cached
    assert model2.compile("numba").loglik(theta, X, y) == cm.loglik(theta, X, y)
    from symmle.study import SEED_THETA, seed_model

    model = seed_model()
    X, y = model.simulate(SEED_THETA, n=2000, rng=5)
    ref = sm.fit(model, X, y, start=SEED_THETA, rng=0)
    assert ref.converged
    monkeypatch.setenv("SYMMLE_BACKEND", "numba")
    fresh = seed_model()
    res = sm.fit(fresh, X, y, start=SEED_THETA, rng=0)
    assert fresh.compile().backend == "numba" and res.converged
    assert res.loglik == pytest.approx(ref.loglik, rel=1e-12)
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res.stderr, ref.stderr, rtol=1e-6)
