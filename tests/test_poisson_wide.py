"""Poisson's score, Fisher information and Hessian where e^η is beyond float64 (issue 17 §2).

At η ≳ 709 the derivatives are formed at a scale e^{−M}, each parameter's column of ∂η/∂θ at
a power of two of its own, and the sums kept with 64-bit exponents
(`symmle.compiled._wide`): an entry is then the float64 nearest its true value (±inf beyond
the range) to a rounding error relative to its own terms, or — where rows cancel below the
rounding level and the result is beyond float64 — a clean refusal. Checked here entry by
entry against an independent evaluation of the one-hidden-layer network in mpmath (written
below, 60 digits, no sympy), at the inputs that break one scale for the whole sum: subnormal
and tiny |x| (products of ∂η/∂θ that underflow), and rows that cancel.
"""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symmle as sm

FMAX = mp.mpf(np.finfo(float).max)

#: the tolerance of an entry, relative to the magnitudes of its terms
TOL = mp.mpf(1e-9)

#: rounding of a float64 product: relative ε, and 4 least subnormals absolute (each of the
#: ≤ 4 factors of ∂η/∂θ rounds once)
EPS, ULP_MIN = mp.mpf(2) ** -52, 4 * mp.mpf(2) ** -1074


def _act(name, a):
    """(h, h') of the unit (h'' = 0 for both)."""
    if name == "identity":
        return a, mp.mpf(1)
    slope = mp.mpf(1) if a > 0 else mp.mpf(1) / 100   # leaky_relu'(0) = 0.01 (the convention)
    return (a if a > 0 else a / 100), slope


def _truth(d, H, act, theta, X, y):
    """Per entry: (exact sum, Σ |terms|) of the score, the Fisher information and the Hessian
    of ``mlp(d, H, 1)`` (H = 0: linear) with a Poisson response, in mpmath."""
    with mp.workdps(60):
        th = [mp.mpf(float(t)) for t in theta]
        P = len(th)
        out = {q: [mp.matrix(P, 1) if q == "score" else mp.matrix(P, P) for _ in range(2)]
               for q in ("score", "fisher", "hessian")}
        for x, yv in zip(X, y):
            x = [mp.mpf(float(v)) for v in x]
            J, D2 = [mp.mpf(0)] * P, mp.matrix(P, P)
            herr = [mp.mpf(0)] * P
            if H == 0:
                eta = mp.fsum(w * v for w, v in zip(th[:d], x)) + th[d]
                J = x + [mp.mpf(1)]
            else:
                W = [th[j * d:(j + 1) * d] for j in range(H)]
                b, v, c = th[H * d:H * d + H], th[H * d + H:H * d + 2 * H], th[-1]
                eta, herr = c, [mp.mpf(0)] * P
                for j in range(H):
                    a = mp.fsum(w * xi for w, xi in zip(W[j], x)) + b[j]
                    # float64 forms a as a rounded sum: its error reaches h (and η)
                    herr[H * d + H + j] = 4 * EPS * (mp.fsum(abs(w * xi) for w, xi in zip(W[j], x))
                                                     + abs(b[j]))
                    h, s = _act(act, a)
                    eta += v[j] * h
                    for i in range(d):
                        J[j * d + i] = v[j] * s * x[i]
                        D2[j * d + i, H * d + H + j] = D2[H * d + H + j, j * d + i] = s * x[i]
                    J[H * d + j] = v[j] * s
                    D2[H * d + j, H * d + H + j] = D2[H * d + H + j, H * d + j] = s
                    J[H * d + H + j] = h
                J[-1] = mp.mpf(1)
            mu, g = mp.exp(eta), mp.mpf(float(yv)) - mp.exp(eta)
            ga = abs(mp.mpf(float(yv))) + mu  # float64 forms y − e^η: its terms' magnitude
            # float64's ∂η/∂θ (a product of a few factors) is exact to 2^-1074 only where it
            # is subnormal itself: its absolute rounding, scaled to the tolerance's 1e-9
            tiny = [abs(j) * EPS + ULP_MIN + e for j, e in zip(J, herr)]
            # η's own rounding (through h and the output sum) makes e^η relatively uncertain
            deta = 4 * EPS * (mp.fsum(abs(J[k]) for k in range(P)) + 1) + mp.fsum(
                abs(th[k]) * herr[k] for k in range(P))
            mu_err = mu * (mp.e ** deta - 1) / TOL
            ga += mu_err
            for p in range(P):
                out["score"][0][p] += g * J[p]
                out["score"][1][p] += ga * (abs(J[p]) + tiny[p] / TOL)
                for q in range(P):
                    f = mu * J[p] * J[q]
                    lost = mu * (tiny[p] * abs(J[q]) + tiny[q] * abs(J[p])) / TOL
                    out["fisher"][0][p, q] += f
                    out["fisher"][1][p, q] += abs(f) + lost
                    out["hessian"][0][p, q] += -f + g * D2[p, q]
                    out["hessian"][1][p, q] += abs(f) + lost + ga * abs(D2[p, q])
        return out


def _judge(got, exact, mags, what):
    """Every entry the float64 nearest its truth, to `TOL` of its terms' magnitudes (with
    what float64's own ∂η/∂θ has lost where it is subnormal)."""
    got = np.atleast_1d(got).ravel()
    for i, (g, t, m) in enumerate(zip(got, exact, mags)):
        assert not np.isnan(g), f"{what}[{i}]: NaN where the truth is {mp.nstr(t, 8)}"
        if abs(t) > FMAX:
            assert g == (np.inf if t > 0 else -np.inf), (
                f"{what}[{i}]: {g!r} where the truth is {mp.nstr(t, 8)}")
        elif np.isinf(g):
            assert abs(t) > FMAX / 10, f"{what}[{i}]: {g!r} where the truth is {mp.nstr(t, 8)}"
        else:
            assert abs(mp.mpf(float(g)) - t) <= TOL * m + mp.mpf(1e-300), (
                f"{what}[{i}]: {g!r} where the truth is {mp.nstr(t, 12)} (terms {mp.nstr(m, 4)})")


def _undecidable(exact, mags):
    """Some entry's terms are beyond float64 while their sum is at 1e-6 of them: the rows
    cancel below what float64 can resolve, and a refusal is right."""
    return any(m > FMAX and abs(t) <= mp.mpf(1e-6) * m for t, m in zip(exact, mags))


_THETA = st.sampled_from([0.0, 1e-14, -1e-3, 0.5, -1.5, 2.0, 30.0, -30.0, 50.0, -50.0,
                          -9.318262220810212, 2.853674933143404e-277, -6.4e-57])
_X = st.sampled_from([0.0, 1.0, -1.0, 800.0, -710.0, 1000.0, 1e-170, -1e-200, 1e-250,
                      2.2e-308, -2.2e-308, 1e-290])


@st.composite
def _cases(draw):
    d, H = draw(st.integers(1, 2)), draw(st.integers(0, 2))
    act = draw(st.sampled_from(["identity", "leaky_relu"]))
    P = d + 1 if H == 0 else H * d + 2 * H + 1
    theta = draw(st.lists(_THETA, min_size=P, max_size=P))
    rows = draw(st.lists(st.lists(_X, min_size=d, max_size=d), min_size=1, max_size=2))
    if draw(st.booleans()):  # a pair of rows that cancel
        rows = [rows[0], [-v for v in rows[0]]]
    y = draw(st.lists(st.integers(0, 5), min_size=len(rows), max_size=len(rows)))
    return d, H, act, np.array(theta), np.array(rows, dtype=float), np.array(y, dtype=float)


def _model(d, H, act):
    if H == 0:
        return sm.Model(sm.mlp(d, 1), sm.Poisson())
    return sm.Model(sm.mlp(d, H, 1, activation=act), sm.Poisson())


@given(_cases(), st.sampled_from(["numpy", "numba"]),
       st.sampled_from(["score", "fisher", "hessian"]))
def test_poisson_beyond_float64_matches_mpmath_entry_by_entry(case, backend, what):
    d, H, act, theta, X, y = case
    cm = _model(d, H, act).compile(backend=backend)
    exact, mags = (list(v) for v in _truth(d, H, act, theta, X, y)[what])
    call = {"score": lambda: cm.score(theta, X, y), "fisher": lambda: cm.fisher(theta, X),
            "hessian": lambda: cm.hessian(theta, X, y)}[what]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            got = call()
        except sm.SymmleError as exc:
            assert isinstance(exc, ValueError) and "beyond float64" in str(exc)
            assert _undecidable(exact, mags), f"{what} refused though decidable: {exc}"
            return
    _judge(got, exact, mags, what)


def test_hidden_hessian_entry_whose_square_underflows_at_one_scale():
    # ∂²ℓ/∂W_21² = −e^1500 (50 x)² at x = −1e-200: (50x)² underflows, e^1500 overflows,
    # their product −6.9e254 does neither (one scale e^{−1500} for the sum gave 0)
    theta = np.array([0.0, 0.0, 30.0, 30.0, 0.0, 50.0, 0.0])
    X, y = np.array([[-1e-200]]), np.array([0.0])
    cm = _model(1, 2, "leaky_relu").compile()
    exact, mags = (list(v) for v in _truth(1, 2, "leaky_relu", theta, X, y)["hessian"])
    got = cm.hessian(theta, X, y)
    assert got[1, 1] == pytest.approx(-6.912941e254, rel=1e-6)
    _judge(got, exact, mags, "hessian")


def test_score_of_rows_that_cancel_exactly_is_finite():
    # rows x = ±2.2e-308 (subnormal) at η = 1500: ∂η/∂W cancels between the rows
    theta = np.array([-9.318262220810212, 50.0, 30.0, 1e-14])
    X, y = np.array([[-2.2e-308], [2.2e-308]]), np.array([1.0, 3.0])
    got = sm.Model(sm.mlp(1, 1, 1, activation="leaky_relu"), sm.Poisson()).compile().score(
        theta, X, y)
    assert np.isfinite(got[0]) and got[1:].tolist() == [-np.inf] * 3


def test_rows_that_cancel_below_rounding_beyond_float64_are_refused():
    cm = sm.Model(sm.mlp(1, 1), sm.Poisson()).compile()
    # η = 1000.1 and 999.9 on rows x = ±1: e^η x does not cancel, the sums are −inf
    got = cm.score(np.array([0.1, 1000.0]), np.array([[1.0], [-1.0]]), [0.0, 0.0])
    assert got.tolist() == [-np.inf, -np.inf]
    # η = 1000 ± 2^-43 (one ulp): e^η x cancels to 2.3e-13 of its terms, rounding level;
    # times e^1000 the sign and size are guesses, and a clean refusal is the answer
    with pytest.raises(sm.SymmleError, match="rounding level") as info:
        cm.score(np.array([2.0 ** -43, 1000.0]), np.array([[1.0], [-1.0]]), [0.0, 0.0])
    assert isinstance(info.value, ValueError)


def test_the_one_buffer_path_beyond_float64(monkeypatch):
    # from INPLACE_MIN_PARAMS network parameters on the Fisher information's chunks add into
    # one P×P buffer; a chunk beyond float64's range takes the wide sums, and the buffer's
    # sums join them (here forced on a small network, whose truth mpmath can give)
    import symmle.compiled._model as cmod

    monkeypatch.setattr(cmod, "INPLACE_MIN_PARAMS", 1)
    theta = np.array([0.0, 0.0, 30.0, 30.0, 0.0, 50.0, 0.0])
    X = np.array([[-1e-200], [1.0], [2.0]])
    model = _model(1, 2, "leaky_relu")
    cm = sm.compiled.CompiledModel(model)
    exact, mags = (list(v) for v in _truth(1, 2, "leaky_relu", theta, X, [0, 0, 0])["fisher"])
    _judge(cm.fisher(theta, X), exact, mags, "fisher")
    theta[5] = 1.0   # η = 30: within float64, the buffer alone
    exact, mags = (list(v) for v in _truth(1, 2, "leaky_relu", theta, X, [0, 0, 0])["fisher"])
    _judge(cm.fisher(theta, X), exact, mags, "fisher")
