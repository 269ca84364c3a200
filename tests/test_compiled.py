"""The straight-line program behind ``CompiledModel``: exactness, chunking and memory.

References are independent of the code under test: ``Architecture.forward`` (a
plain layer-by-layer numpy pass) with the family's per-row log-density, central
finite differences, sympy's own ``diff`` of the expanded network, and a
monkeypatched chunk size.
"""

import os
import tracemalloc

import networkx as nx
import numpy as np
import pytest
import sympy as sp

import symmle as sm
import symmle.compiled as compiled
import symmle.compiled._chunks as chunk_plan
from symmle._chain import activation_pieces, symbolic_jacobian
from symmle.compiled._program import NumericProgram

ACTS = ["identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "silu", "erf"]


def graph_arch():
    """Skip connections, an output fed from two layers, mixed activations, an unbiased unit."""
    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("x2", role="input")
    G.add_node("h", role="hidden", activation="softplus")
    G.add_node("g", role="hidden", activation="sigmoid", bias=False)
    G.add_node("k", role="hidden", activation="tanh")
    G.add_node("y", role="output")
    G.add_node("z", role="output", activation="tanh")
    G.add_edges_from([("x", "h"), ("h", "y"), ("x", "y"), ("x2", "g"), ("h", "g"), ("g", "y"),
                      ("g", "k"), ("x", "k"), ("k", "z"), ("h", "z")])
    return sm.Architecture.from_graph(G)


def ref_loglik(model, theta, X, y):
    """log-likelihood from Architecture.forward, independent of the compiled program."""
    Pn = model.n_network_params
    eta = model.architecture.forward(theta[:Pn], X)
    yy = model.family.check_y(y, X.shape[0], model.architecture.n_outputs)
    return float(np.sum(model.family.loglik_rows(eta, yy, theta[Pn:])))


def fd(f, x, eps=1e-6):
    cols = [(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(len(x))]
    return np.stack(cols, axis=-1)


def setup(arch, family, n=30, seed=0):
    model = sm.Model(arch, family)
    theta = model.random_params(seed)
    X, y = model.simulate(theta, n=n, rng=seed + 1)
    return model, theta, X, y


CASES = [(sm.mlp(2, 3, 2, 1, activation=a), sm.Gaussian()) for a in ACTS if a not in (
    "relu", "leaky_relu")] + [
    (sm.mlp(3, 4, 3, activation="tanh"), sm.Categorical()),
    (sm.mlp(2, 3, 2, activation="sigmoid"), sm.Bernoulli()),
    (graph_arch(), sm.Poisson()),
    (sm.mlp(2, 4, 1, activation="relu"), sm.Gaussian(sigma=0.5)),
]


@pytest.mark.parametrize("arch,family", CASES, ids=lambda v: repr(v))
def test_compiled_matches_forward_and_finite_differences(arch, family):
    model, theta, X, y = setup(arch, family)
    cm = model.compile()
    Pn = model.n_network_params
    np.testing.assert_allclose(cm.linear_predictor(theta, X), arch.forward(theta[:Pn], X),
                               rtol=1e-13, atol=1e-13)
    assert cm.loglik(theta, X, y) == pytest.approx(ref_loglik(model, theta, X, y), rel=1e-12)
    # Jacobian and score: finite differences of the independent forward pass
    J_fd = fd(lambda t: arch.forward(t, X), theta[:Pn])  # (n, K, Pn)
    np.testing.assert_allclose(cm.jacobian(theta, X), J_fd, rtol=1e-6, atol=1e-7)
    s_fd = fd(lambda t: ref_loglik(model, t, X, y), theta)
    np.testing.assert_allclose(cm.score(theta, X, y), s_fd, rtol=1e-6, atol=1e-5)
    # exact Hessian (second-order chain rule): finite differences of the score
    H = cm.hessian(theta, X, y)
    H_fd = fd(lambda t: cm.score(t, X, y), theta)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-5 * np.abs(H).max())


def test_hessian_of_a_deep_network_is_exact():
    model, theta, X, y = setup(sm.mlp(4, 16, 16, 16, 1), sm.Gaussian(sigma=1.0), n=6)
    cm = model.compile()
    H = cm.hessian(theta, X, y)
    H_fd = fd(lambda t: cm.score(t, X, y), theta, eps=1e-5)
    assert H.shape == (641, 641)
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-6 * np.abs(H).max())


@pytest.mark.parametrize("arch", [sm.mlp(2, 2, 1), sm.mlp(1, 2, 2, 2, activation="sigmoid"),
                                  graph_arch()], ids=repr)
def test_symbolic_jacobian_is_sympy_diff(arch):
    J = symbolic_jacobian(arch)
    ref = arch.output.jacobian(list(arch.params))
    assert J.shape == ref.shape
    for a, b in zip(J, ref):
        assert sp.expand(a - b) == 0


@pytest.mark.parametrize("family", [sm.Gaussian(), sm.Gaussian(sigma=0.3), sm.Bernoulli(),
                                    sm.Poisson(), sm.Categorical()], ids=repr)
def test_chain_rule_score_is_diff_of_loglik(family):
    k = 3 if isinstance(family, sm.Categorical) else 1
    model = sm.Model(sm.mlp(2, 2, k, activation="sigmoid"), family)
    rng = np.random.default_rng(3)
    syms = list(model.params) + list(model.architecture.inputs) + list(model.response)
    vals = rng.normal(size=len(syms))
    vals[-k:] = rng.integers(0, 2, size=k)
    ref = [sp.diff(model.loglik, p) for p in model.params]
    f_new = sp.lambdify(syms, list(model.score), modules=[sm.activations.NUMPY_FUNCTIONS, "scipy",
                                                          "numpy"])
    f_ref = sp.lambdify(syms, ref, modules=[sm.activations.NUMPY_FUNCTIONS, "scipy", "numpy"])
    np.testing.assert_allclose(f_new(*vals), f_ref(*vals), rtol=1e-12, atol=1e-12)


def test_activation_pieces_are_sympy_derivatives():
    z = np.linspace(-2.5, 2.5, 11)
    ok = np.abs(z) > 1e-3  # relu kinks
    for name in ACTS:
        p = activation_pieces(name)
        h = p.value(z)
        eps = 1e-5
        d1_fd = (p.value(z + eps) - p.value(z - eps)) / (2 * eps)
        d1 = np.broadcast_to(p.d1(z, h), z.shape)
        np.testing.assert_allclose(d1[ok], d1_fd[ok], rtol=1e-7, atol=1e-8, err_msg=name)
        d2_fd = (np.broadcast_to(p.d1(z + eps, p.value(z + eps)), z.shape)
                 - np.broadcast_to(p.d1(z - eps, p.value(z - eps)), z.shape)) / (2 * eps)
        np.testing.assert_allclose(np.broadcast_to(p.d2(z, h), z.shape)[ok], d2_fd[ok],
                                   rtol=1e-6, atol=1e-7, err_msg=name)
    assert activation_pieces("tanh").d1.expr.free_symbols == {activation_pieces("tanh").d1.args[1]}


@pytest.mark.parametrize("family", [sm.Gaussian(), sm.Categorical()], ids=repr)
def test_chunking_invariance(monkeypatch, family):
    k = 3 if isinstance(family, sm.Categorical) else 1
    model, theta, X, y = setup(sm.mlp(3, 5, 4, k), family, n=257)
    cm = model.compile()
    what = ("loglik", "score", "fisher", "hessian")
    whole = cm.evaluate(theta, X, y, what)
    pred, jac = cm.linear_predictor(theta, X), cm.jacobian(theta, X)
    for rows, jbytes in [(1, 10 ** 9), (7, 10 ** 9), (100, 8 * 3 * 41 * 5)]:
        monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", rows)
        monkeypatch.setattr(chunk_plan, "JACOBIAN_BYTES", jbytes)
        monkeypatch.setattr(chunk_plan, "HESSIAN_BYTES", jbytes)
        parts = cm.evaluate(theta, X, y, what)
        for q in what:
            np.testing.assert_allclose(parts[q], whole[q], rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(cm.linear_predictor(theta, X), pred, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cm.jacobian(theta, X), jac, rtol=1e-12, atol=1e-14)


def test_evaluate_shares_one_forward_pass_per_chunk(monkeypatch):
    model, theta, X, y = setup(sm.mlp(2, 3, 1), sm.Bernoulli(), n=50)
    cm = model.compile()
    calls = []
    forward = cm._prog.forward

    def counting(*args):
        calls.append(1)
        return forward(*args)

    monkeypatch.setattr(cm._prog, "forward", counting)
    monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", 20)
    out = cm.evaluate(theta, X, y, ("loglik", "score", "fisher"))
    assert len(calls) == 3  # ceil(50 / 20) chunks, one pass each
    assert out["loglik"] == pytest.approx(ref_loglik(model, theta, X, y), rel=1e-12)


def test_memory_stays_bounded_by_the_chunk(monkeypatch):
    """n rows cost O(chunk) working memory: the full Jacobian would be n·P·8 bytes."""
    model, theta, X, y = setup(sm.mlp(10, 20, 1), sm.Gaussian(sigma=1.0), n=60_000)
    cm = model.compile()
    monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", 1024)
    cm.evaluate(theta, X[:100], y[:100])
    tracemalloc.start()
    try:
        out = cm.evaluate(theta, X, y, ("loglik", "score", "fisher"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_jacobian = X.shape[0] * model.n_params * 8  # 116 MB
    chunk_jacobian = 1024 * model.n_params * 8  # 2 MB
    assert peak < 8 * chunk_jacobian + 2 * X.nbytes // 10, (peak, full_jacobian)
    assert out["fisher"].shape == (241, 241)


def test_wide_networks_compile_and_evaluate():
    model = sm.Model(sm.mlp(784, 32, 10), sm.Categorical())
    cm = model.compile()
    rng = np.random.default_rng(0)
    theta = model.random_params(rng)
    X = rng.standard_normal((40, 784))
    y = rng.integers(0, 10, size=40)
    s = cm.score(theta, X, y)
    assert s.shape == (25450,)
    # directional derivative check along a random direction
    v = rng.standard_normal(25450)
    eps = 1e-6
    dd = (ref_loglik(model, theta + eps * v, X, y) - ref_loglik(model, theta - eps * v, X, y)) / (2 * eps)
    assert s @ v == pytest.approx(dd, rel=1e-6)


def test_numeric_program_layout():
    arch = graph_arch()
    prog = NumericProgram(arch)
    assert prog.n_nodes == 2 + 5 and prog.n_units == 5
    theta = np.linspace(-1, 1, arch.n_params)
    X = np.array([[0.3, -0.2], [1.5, 0.7], [-1.0, 2.0]])
    Z, _ = prog.forward(prog.weights(theta), X)
    units = arch.forward(theta, X, units=True)
    for v in arch.hidden_nodes:
        assert np.allclose(Z[2 + [u for L in arch.layers for u in L.units].index(v)], units[v])


# ------------------------------------------------------------------ threads
def _threaded_setup(monkeypatch, arch, family, n=203):
    model, theta, X, y = setup(arch, family, n=n)
    monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", 16)
    monkeypatch.setattr(chunk_plan, "PARALLEL_MIN_WORK", 0)
    monkeypatch.delenv("SYMMLE_NUM_THREADS", raising=False)
    return model, theta, X, y


@pytest.mark.parametrize("arch,family", [(sm.mlp(3, 5, 4, 1), sm.Gaussian()),
                                         (sm.mlp(3, 4, 3, activation="sigmoid"), sm.Categorical()),
                                         (graph_arch(), sm.Poisson())], ids=repr)
def test_thread_count_gives_bit_identical_results(monkeypatch, arch, family):
    model, theta, X, y = _threaded_setup(monkeypatch, arch, family)
    cm = model.compile()
    names = set()
    forward = cm._prog.forward

    def recording(*args, **kwargs):
        import threading
        names.add(threading.current_thread().name.split("_")[0])
        return forward(*args, **kwargs)

    monkeypatch.setattr(cm._prog, "forward", recording)
    what = ("loglik", "score", "fisher", "hessian")
    results = {}
    for t in (1, 2, 3):
        with compiled.threads(t):
            assert compiled.num_threads() == t
            results[t] = (cm.evaluate(theta, X, y, what), cm.linear_predictor(theta, X),
                          cm.jacobian(theta, X), cm.loglik_rows(theta, X, y))
    assert "symmle" in names and "MainThread" in names  # both paths really ran
    one = results[1]
    for t in (2, 3):
        for q in what:
            assert np.array_equal(results[t][0][q], one[0][q]), (t, q)
        for a, b in zip(results[t][1:], one[1:]):
            assert np.array_equal(a, b)
    # and the chunked sums are the right numbers (independent reference)
    assert one[0]["loglik"] == pytest.approx(ref_loglik(model, theta, X, y), rel=1e-12)
    Pn = model.n_network_params
    np.testing.assert_allclose(one[1], arch.forward(theta[:Pn], X), rtol=1e-13, atol=1e-13)


def test_error_in_a_worker_thread_propagates(monkeypatch):
    model, theta, X, y = _threaded_setup(monkeypatch, sm.mlp(2, 3, 1), sm.Bernoulli())
    cm = model.compile()
    calls = []
    original = type(model.family).loglik_rows

    def failing(self, eta, yc, extra):
        calls.append(eta.shape[0])
        if len(calls) == 5:
            raise sm.errors.SymmleValueError("chunk five failed")
        return original(self, eta, yc, extra)

    monkeypatch.setattr(type(model.family), "loglik_rows", failing)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        threadpool_info = None
    before = threadpool_info() if threadpool_info else None
    for t in (1, 2):
        calls.clear()
        with compiled.threads(t), pytest.raises(sm.errors.SymmleValueError, match="chunk five"):
            cm.evaluate(theta, X, y, ("loglik", "score"))
        assert 5 <= len(calls) < 13  # stopped early: 203 rows are 13 chunks
    if threadpool_info:  # BLAS's thread count is the caller's, untouched
        assert [d["num_threads"] for d in threadpool_info()] == [d["num_threads"] for d in before]
    monkeypatch.setattr(type(model.family), "loglik_rows", original)
    with compiled.threads(2):  # the pool still works after a failure
        assert cm.loglik(theta, X, y) == pytest.approx(ref_loglik(model, theta, X, y), rel=1e-12)


def test_num_threads_settings(monkeypatch):
    monkeypatch.setenv("SYMMLE_NUM_THREADS", "3")
    assert compiled.num_threads() == 3
    with compiled.threads(1):
        assert compiled.num_threads() == 1
        with compiled.threads(None):  # automatic again inside: the environment variable
            assert compiled.num_threads() == 3
        assert compiled.num_threads() == 1
    assert compiled.num_threads() == 3  # read at use, not a global the block changed
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv("SYMMLE_NUM_THREADS", bad)
        with pytest.raises(sm.errors.SymmleValueError, match="SYMMLE_NUM_THREADS"):
            compiled.num_threads()
    monkeypatch.delenv("SYMMLE_NUM_THREADS")
    with pytest.raises(sm.errors.SymmleValueError, match="n must be an integer >= 1"):
        with compiled.threads(0):
            pass
    for bad in (1.5, "x", True):  # a wrong type is a TypeError (symmle._checks.check_int)
        with pytest.raises(sm.errors.SymmleTypeError, match="n must be an integer"):
            with compiled.threads(bad):
                pass
    import os
    assert 1 <= compiled.num_threads() <= min(os.cpu_count(), compiled.MAX_AUTO_THREADS)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):  # e.g. inside a consistency study's task
        assert compiled.num_threads() == 1


def test_mid_size_n_is_split_independently_of_threads(monkeypatch):
    cm = sm.Model(sm.mlp(10, 20, 1), sm.Gaussian()).compile()
    plans = []
    for t in (1, 2):
        with compiled.threads(t):
            plans.append(cm._plan(20_000))
    assert plans[0] == plans[1]
    chunks, parallel = plans[0]
    # 20 000 rows × 31 nodes in pieces of at least NUMPY_WORK_FACTOR × PARALLEL_MIN_WORK values
    assert len(chunks) == 3 and parallel
    assert [(s.start, s.stop) for s in chunks] == [(0, 6666), (6666, 13333), (13333, 20_000)]
    chunks, parallel = cm._plan(10_000)  # 2 chunks for memory, each too small for a thread
    assert len(chunks) == 2 and not parallel
    small = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian()).compile()
    assert len(small._plan(10_000)[0]) == 1  # too little work to split
    monkeypatch.setattr(chunk_plan, "CHUNK_ROWS", 1000)
    chunks, parallel = small._plan(5000)
    assert len(chunks) == 5 and not parallel  # split for memory, too little work per thread


def test_calling_thread_shares_the_chunks_with_a_slow_worker(monkeypatch):
    """A worker that is slow (an idle vCPU waking up) leaves its chunks to the calling
    thread; the sums are still reduced in chunk order, so the result is bit-identical."""
    import threading
    import time

    model, theta, X, y = _threaded_setup(monkeypatch, sm.mlp(3, 5, 4, 1), sm.Gaussian())
    cm = model.compile()
    with compiled.threads(1):
        ref = cm.evaluate(theta, X, y)
    who = []
    forward = cm._prog.forward

    def slow_in_workers(*args):
        name = threading.current_thread().name
        who.append(name)
        if name != "MainThread":
            time.sleep(0.05)
        return forward(*args)

    monkeypatch.setattr(cm._prog, "forward", slow_in_workers)
    with compiled.threads(2):
        got = cm.evaluate(theta, X, y)
    for q in ref:
        assert np.array_equal(got[q], ref[q]), q
    n_chunks = len(cm._plan(X.shape[0])[0])
    assert n_chunks == 16  # 203 rows in chunks of at most 16: 13, rounded up to a multiple of 4
    assert len(who) == n_chunks
    assert who.count("MainThread") >= n_chunks // 2  # it did not just wait on the slow worker
