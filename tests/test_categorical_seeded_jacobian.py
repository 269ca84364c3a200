"""The Fisher information of several outputs from the reverse pass seeded with the weight's
factor (issue 19, item 2): ``NumericProgram.jacobian_t(..., seed=R)`` gives ``B = J R``
(Pn, C, m) without forming J, and the categorical Fisher information ``Σ_rows J W Jᵀ`` is
``B Bᵀ``.

The references are independent of the program's reverse pass: J by the complex step
(a forward pass written here, in complex arithmetic, from the layers' index bookkeeping:
``Im η(θ + i h e_p) / h`` has no cancellation, unlike finite differences), the softmax
weight ``diag(p) − ppᵀ`` written here, and on a tiny network J and R in mpmath at 50 digits
from the network's sympy form.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm
from symmle.compiled._program import NumericProgram
from symmle.strategies import architectures, graph_architectures, inputs, params

def _log1p(z):
    """``log(1 + z)`` for complex z to full relative accuracy also for small |z| (Kahan's
    ``log(u) z / (u − 1)``, u = 1 + z rounded; numpy's complex log1p is ``log(1 + z)``)."""
    u = 1.0 + z
    small = u == 1.0
    d = np.where(small, 1.0, u - 1.0)
    return np.where(small, z, np.log(np.where(small, 2.0, u)) * z / d)


#: activations with a complex form here (analytic, so that the complex step is exact to
#: rounding); ReLU-type units have slopes 0 and 1 off their kinks.
_COMPLEX = {
    "identity": lambda a: a,
    "tanh": np.tanh,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "softplus": lambda a: _log1p(np.exp(a)),
    "silu": lambda a: a / (1.0 + np.exp(-a)),
    "square": lambda a: a * a,
    "relu": lambda a: np.where(a.real > 0, a, 0.0),
}
ACTS = tuple(_COMPLEX)

#: the complex step.
STEP = 1e-30
#: the complex step's absolute resolution: an imaginary part is a multiple of the smallest
#: subnormal, 2⁻¹⁰⁷⁴, so J is known to 2⁻¹⁰⁷⁴ / STEP ≈ 5e-294 only (×100 for the sums over
#: a few paths): an absolute error the comparisons allow on top of the relative one.
RESOLUTION = 100 * 2.0 ** -1074 / STEP


def _assert_within(got, want, allowed):
    """Every ``|got − want| ≤ allowed``, else the worst entries in the message."""
    err = np.abs(got - want)
    bad = np.argwhere(err > allowed)
    assert not bad.size, [(tuple(i), got[tuple(i)], want[tuple(i)], allowed[tuple(i)])
                          for i in bad[:4]]


def _forward_complex(arch, theta, X):
    """η (n, K) for a complex θ, layer by layer from the layers' index bookkeeping."""
    h = {v: X[:, i].astype(complex) for i, v in enumerate(arch.input_nodes)}
    for L in arch.layers:
        W = np.zeros((len(L.units), len(L.sources)), dtype=complex)
        W[L.rows, L.cols] = theta[L.weight_idx]
        b = np.zeros(len(L.units), dtype=complex)
        b[L.bias_units] = theta[L.bias_idx]
        H = np.stack([h[u] for u in L.sources], axis=1)
        A = H @ W.T + b
        for j, v in enumerate(L.units):
            h[v] = _COMPLEX[arch.activation_of(v).name](A[:, j])
    return np.stack([h[v] for v in arch.output_nodes], axis=1)


def _jacobian_complex_step(arch, theta, X):
    """J (n, K, P) by the complex step."""
    P = arch.n_params
    out = np.empty((X.shape[0], arch.n_outputs, P))
    for p in range(P):
        t = theta.astype(complex)
        t[p] += 1j * STEP
        out[:, :, p] = _forward_complex(arch, t, X).imag / STEP
    return out


def _softmax_weight(eta, reference):
    """``diag(p) − ppᵀ`` (n, K, K) of the classes with an output, written here; the diagonal
    as ``p_k Σ_{j≠k} p_j`` (``p_k − p_k²`` loses every digit for a dominant class)."""
    logits = np.concatenate([np.zeros((eta.shape[0], 1)), eta], axis=1) if reference else eta
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    n, C = p.shape
    rest = np.array([[p[r, np.arange(C) != k].sum() for k in range(C)] for r in range(n)])
    if reference:
        p, rest = p[:, 1:], rest[:, 1:]
    W = -p[:, :, None] * p[:, None, :]
    idx = np.arange(p.shape[1])
    W[:, idx, idx] = p * rest
    return W


@st.composite
def _cases(draw):
    if draw(st.booleans()):
        arch = draw(architectures(max_inputs=3, min_hidden_layers=1, max_hidden_layers=2,
                                  max_width=4, min_outputs=2, max_outputs=4, activations=ACTS,
                                  bias="per_unit", skip_connections=draw(st.sampled_from(
                                      [False, True, "all"])),
                                  per_unit_activations=draw(st.booleans())))
    else:  # sparse layers, sources that are not one slice of the program's rows, twins
        arch = draw(graph_architectures(max_inputs=3, max_hidden=5, max_outputs=4,
                                        activations=ACTS).filter(lambda a: a.n_outputs >= 2))
    reference = draw(st.booleans())
    theta = draw(params(arch, min_value=-2.0, max_value=2.0, generic=True))
    X = draw(inputs(arch, draw(st.integers(1, 7))))
    return arch, sm.Categorical(reference=reference), theta, X


@given(_cases())
def test_seeded_reverse_pass_is_j_times_r(case):
    arch, fam, theta, X = case
    prog = NumericProgram(arch)
    w = prog.weights(theta)
    Z, A = prog.forward(w, X)
    eta = prog.eta(Z)
    R = fam.weight_root(eta, ())  # (m, K, K)
    B = prog.jacobian_t(w, Z, A, seed=R).copy()  # (Pn, K, m)
    assert B.shape == (arch.n_params, arch.n_outputs, X.shape[0])
    # the unseeded pass times R
    Jt = prog.jacobian_t(w, Z, A)  # (K, Pn, m)
    want = np.einsum("kpm,mkj->pjm", Jt, R)
    mag = np.einsum("kpm,mkj->pjm", np.abs(Jt), np.abs(R))
    _assert_within(B, want, 1e-13 * mag + 1e-300)
    # an independent J: the complex step
    J = _jacobian_complex_step(arch, theta, X)  # (m, K, P)
    want = np.einsum("mkp,mkj->pjm", J, R)
    mag = np.einsum("mkp,mkj->pjm", np.abs(J), np.abs(R))
    floor = RESOLUTION * np.abs(R).sum(axis=1).T  # (K, m): J off by RESOLUTION
    _assert_within(B, want, 1e-11 * mag + floor + 1e-300)


@given(_cases())
def test_categorical_fisher_is_sum_of_j_w_jt(case):
    arch, fam, theta, X = case
    model = sm.Model(arch, fam)
    cm = model.compile(backend="numpy")
    J = _jacobian_complex_step(arch, theta, X)
    W = _softmax_weight(_forward_complex(arch, theta.astype(complex), X).real,
                        fam.reference)
    want = np.einsum("mkp,mkl,mlq->pq", J, W, J)
    mag = np.einsum("mkp,mkl,mlq->pq", np.abs(J), np.abs(W), np.abs(J))
    aJ = np.abs(J) + RESOLUTION  # J off by RESOLUTION: F off by up to this
    floor = np.einsum("mkp,mkl,mlq->pq", aJ, np.abs(W), aJ) - mag
    got = cm.fisher(theta, X)
    _assert_within(got, want, 1e-11 * mag + 2 * floor + 1e-300)
    assert np.array_equal(got, got.T)
    # evaluate shares B with the Hessian (its Gauss–Newton part −B Bᵀ): the same as the
    # Hessian alone, and as the route from Jᵀ and the factor pass (test_numerics checks that
    # one against mpmath)
    y = np.arange(X.shape[0]) % fam.n_classes(arch.n_outputs)
    both = cm.evaluate(theta, X, y, ("score", "fisher", "hessian"))
    assert np.array_equal(both["fisher"], got)
    H = cm.hessian(theta, X, y)
    assert np.array_equal(both["hessian"], H)
    with pytest.MonkeyPatch.context() as mpatch:
        mpatch.setattr(NumericProgram, "seeds_jacobian", property(lambda self: False))
        old = cm.evaluate(theta, X, y, ("score", "fisher", "hessian"))
    hmag = np.abs(old["hessian"]) + mag
    assert np.all(np.abs(H - old["hessian"]) <= 1e-12 * hmag + 1e-300)
    assert np.all(np.abs(got - old["fisher"]) <= 1e-12 * mag + 1e-300)
    np.testing.assert_allclose(both["score"], old["score"], rtol=1e-12,
                               atol=1e-12 * np.abs(old["score"]).max())


def _mp_softmax_root(eta, reference):
    """R = diag(√p)(I − c √p √pᵀ), c = 1/(1 + √p₀), in mpmath."""
    logits = [mp.mpf(0)] + list(eta) if reference else list(eta)
    top = max(logits)
    e = [mp.exp(v - top) for v in logits]
    s = mp.fsum(e)
    p = [v / s for v in e]
    s0 = mp.sqrt(p[0]) if reference else mp.mpf(0)
    if reference:
        p = p[1:]
    c = 1 / (1 + s0)
    r = [mp.sqrt(v) for v in p]
    K = len(p)
    return [[r[k] * ((1 if k == j else 0) - c * r[k] * r[j]) for j in range(K)]
            for k in range(K)]


@pytest.mark.parametrize("reference", [False, True])
def test_seeded_reverse_pass_matches_mpmath(reference):
    # a tiny tanh network, one row with a dominant class (logit ≈ 30: 1 − c p_top cancels
    # in the unstructured form) and one generic row; J from the network's sympy form
    arch = sm.mlp(2, 2, 3)
    theta = np.array([0.7, -1.3, 0.4, 2.1, 0.1, -0.2,
                      9.0, 8.0, 1.5, -2.0, 0.3, 0.9, 10.0, 0.5, -0.4])
    X = np.array([[1.5, -0.25], [-0.6, 0.8]])
    fam = sm.Categorical(reference=reference)
    prog = NumericProgram(arch)
    w = prog.weights(theta)
    Z, A = prog.forward(w, X)
    eta = prog.eta(Z)
    assert eta[0].max() > 15.0  # the dominant class
    B = prog.jacobian_t(w, Z, A, seed=fam.weight_root(eta, ()))
    syms = list(arch.params) + list(arch.inputs)
    Jexpr = [[e.diff(t) for t in arch.params] for e in arch.output]
    fJ = sp.lambdify(syms, Jexpr, modules="mpmath")
    feta = sp.lambdify(syms, list(arch.output), modules="mpmath")
    K, P = arch.n_outputs, arch.n_params
    with mp.workdps(50):
        for r, x in enumerate(X):
            args = [mp.mpf(float(v)) for v in theta] + [mp.mpf(float(v)) for v in x]
            J = fJ(*args)
            Rm = _mp_softmax_root(feta(*args), reference)
            for p in range(P):
                for j in range(K):
                    want = mp.fsum(J[k][p] * Rm[k][j] for k in range(K))
                    mag = mp.fsum(abs(J[k][p] * Rm[k][j]) for k in range(K))
                    assert abs(mp.mpf(float(B[p, j, r])) - want) <= 1e-13 * mag, (p, j, r)


@pytest.mark.parametrize("widths", [(3, 4, 3), (12, 9, 4)])  # fused numba program / not
def test_backends_agree(widths):
    model = sm.Model(sm.mlp(*widths), sm.Categorical())
    theta = model.random_params(5)
    X, y = model.simulate(theta, n=300, rng=6)
    a = model.compile(backend="numpy").evaluate(theta, X, y, ("score", "fisher", "hessian"))
    b = model.compile(backend="numba").evaluate(theta, X, y, ("score", "fisher", "hessian"))
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12,
                                   atol=1e-12 * np.abs(a[name]).max())


def test_seed_on_the_fused_program_is_refused():
    prog = NumericProgram(sm.mlp(2, 2, 2), fused=True)
    assert prog.fused is not None and not prog.seeds_jacobian
    w = prog.weights(np.linspace(-1, 1, prog.n_params))
    Z, A = prog.forward(w, np.ones((3, 2)))
    with pytest.raises(ValueError, match="seeds_jacobian"):
        prog.jacobian_t(w, Z, A, seed=np.ones((3, 2, 2)))
