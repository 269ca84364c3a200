"""The Fisher information of many parameters: one P×P buffer, the exact categorical factor,
and a clear error before an allocation that cannot fit (issue 19, item 2)."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm
import symmle.compiled._chunks as chunks_mod
import symmle.compiled._gram as gram_mod
import symmle.compiled._model as model_mod
from symmle.compiled._gram import GramSum

BACKENDS = list(sm.compiled.BACKENDS)


@given(st.integers(1, 9), st.lists(st.tuples(st.integers(1, 9), st.integers(0, 6),
                                             st.sampled_from([1.0, -1.0, 0.5, 3.0])),
                                   min_size=1, max_size=5), st.integers(0, 2 ** 32 - 1))
def test_gram_sum_is_the_sum_of_its_products(P, parts, seed):
    rng = np.random.default_rng(seed)
    acc, want = GramSum(P), np.zeros((P, P))
    for p, k, alpha in parts:
        p = min(p, P)
        B = rng.integers(-3, 4, size=(p, k)).astype(float)  # small integers: exact sums
        order = rng.choice(["C", "F"])
        acc.add(np.asarray(B, order=order), alpha)
        want[:p, :p] += alpha * (B @ B.T)
    got = acc.result()
    assert np.array_equal(got, want)
    assert np.array_equal(got, got.T)


def _compiled(family, widths, backend):
    model = sm.Model(sm.mlp(*widths), family)
    theta = model.random_params(3)
    X, y = model.simulate(theta, n=700, rng=4)
    return model.compile(backend=backend), theta, X, y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", [sm.Categorical(), sm.Categorical(reference=False),
                                    sm.Gaussian(), sm.Poisson(), sm.Bernoulli()], ids=repr)
def test_one_buffer_equals_one_matrix_per_chunk(monkeypatch, backend, family):
    widths = (4, 5, 3) if isinstance(family, sm.Categorical) else (4, 5, 1)
    cm, theta, X, y = _compiled(family, widths, backend)
    monkeypatch.setattr(chunks_mod, "CHUNK_ROWS", 64)  # several chunks
    per_chunk = cm.evaluate(theta, X, y, ("score", "fisher", "hessian"))
    monkeypatch.setattr(model_mod, "INPLACE_MIN_PARAMS", 1)
    one = cm.evaluate(theta, X, y, ("score", "fisher", "hessian"))
    F = one["fisher"]
    np.testing.assert_allclose(F, per_chunk["fisher"], rtol=1e-12,
                               atol=1e-12 * np.abs(per_chunk["fisher"]).max())
    assert np.array_equal(F, F.T) and F.flags.c_contiguous
    assert np.array_equal(one["hessian"], per_chunk["hessian"])
    assert np.array_equal(one["score"], per_chunk["score"])
    assert np.array_equal(cm.fisher(theta, X), F)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_buffer_follows_the_poisson_scale_between_chunks(monkeypatch, backend):
    # a linear Poisson network whose chunks reach η of a few hundred, each at its own scale
    # e^M: the sum must be that of the chunk-by-chunk matrices (which test_numerics checks
    # against mpmath), also where the later chunk has the larger scale
    model = sm.Model(sm.mlp(2, 1, activation="identity"), sm.Poisson())
    theta = np.array([1.0, -0.5, 0.2])
    X = np.concatenate([np.linspace(-1, 1, 40)[:, None] * [1.0, 1.0],
                        np.linspace(0, 720, 40)[:, None] * [1.0, 0.0],
                        np.linspace(-1, 1, 40)[:, None] * [1.0, 1.0]])
    cm = model.compile(backend=backend)
    monkeypatch.setattr(chunks_mod, "CHUNK_ROWS", 16)
    want = cm.fisher(theta, X)
    monkeypatch.setattr(model_mod, "INPLACE_MIN_PARAMS", 1)
    got = cm.fisher(theta, X)
    assert np.array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-12)


def test_categorical_fisher_is_psd_for_a_dominant_class(monkeypatch):
    # p of one class within 1e-14 of 1: the exact factor keeps every eigenvalue ≥ 0 (up to
    # rounding of the Gram sum), where the eigen-decomposition of diag(p) − ppᵀ gave −7e-17
    model = sm.Model(sm.mlp(3, 3, activation="identity"), sm.Categorical())
    theta = np.zeros(model.n_params)
    theta[-3:] = [33.0, 0.0, -1.0]  # output biases: class 1 dominates
    X = np.random.default_rng(0).standard_normal((50, 3))
    for inplace in (10 ** 9, 1):
        monkeypatch.setattr(model_mod, "INPLACE_MIN_PARAMS", inplace)
        F = model.compile().fisher(theta, X)
        lam = np.linalg.eigvalsh(F)
        assert lam.min() >= -1e-15 * max(1.0, lam.max())


def test_peak_memory_is_one_p_by_p_matrix_plus_the_chunks(monkeypatch):
    # P = 2 418 categorical parameters on 300 rows: the old per-chunk matrices and their
    # reduction held several P×P matrices at once; now one (and the result is that buffer)
    model = sm.Model(sm.mlp(60, 36, 6), sm.Categorical())
    P = model.n_params
    assert P >= gram_mod.INPLACE_MIN_PARAMS
    theta = model.random_params(0)
    X, _ = model.simulate(theta, n=300, rng=1)
    cm = model.compile()
    cm.fisher(theta, X[:10])  # warm: lambdified pieces, thread pool
    tracemalloc.start()
    try:
        F = cm.fisher(theta, X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    K, m = 6, 300
    chunk_buffers = 8 * (3 * K * P * m + 16 * (36 + 6 + 60) * m)
    assert peak <= 2 * P * P * 8 + chunk_buffers, (peak / 2 ** 20, P)
    assert F.shape == (P, P)


def test_an_allocation_that_cannot_fit_is_refused_before(monkeypatch):
    model = sm.Model(sm.mlp(60, 36, 6), sm.Categorical())
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=50, rng=1)
    monkeypatch.setattr(gram_mod, "available_memory", lambda: 10 * 2 ** 20)
    with pytest.raises(sm.SymmleResourceError, match=r"Fisher information of 2418 parameters"
                       r" needs .* GiB") as info:
        model.compile().fisher(theta, X)
    assert isinstance(info.value, MemoryError)
    with pytest.raises(MemoryError, match="Hessian"):
        model.compile().hessian(theta, X, y)
    # the score needs no P×P matrix
    assert model.compile().score(theta, X, y).shape == (model.n_params,)


@given(st.booleans(), st.integers(1, 4), st.integers(1, 6), st.floats(0, 40),
       st.integers(0, 2 ** 32 - 1))
def test_categorical_structured_root_is_the_roots_product(reference, K, m, spread, seed):
    # Σ_k J_k R_kj from the rank-one structure of R = diag(√p)(I − c √p √pᵀ) against the
    # family's generic product with its exact root (a dominant class up to e^40 : 1)
    fam = sm.Categorical(reference=reference)
    rng = np.random.default_rng(seed)
    eta = rng.standard_normal((m, K)) * spread
    Jt = rng.standard_normal((K, 3, m))
    want = sm.families.Family.weight_root_times(fam, Jt, eta, ())
    got = fam.weight_root_times(Jt, eta, ())
    scale = np.abs(Jt).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14 * scale)
    # and B Bᵀ per row is J W Jᵀ
    W = fam.weight(eta, ())
    for r in range(m):
        Br = got[:, :, r]
        np.testing.assert_allclose(Br @ Br.T, Jt[:, :, r].T @ W[r] @ Jt[:, :, r],
                                   rtol=1e-12, atol=1e-13 * scale ** 2)
