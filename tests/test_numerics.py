"""Numerics inside the promised range (issue 17 §2): the compiled log-likelihood, score, Fisher
information and Hessian of tanh and sigmoid networks against mpmath at 50 digits, for every
family, normwise and componentwise, with every numpy warning an error.

The promised range is |θ| ≤ 50 and |x| ≤ 10³. The truth is the network's own sympy form
differentiated by sympy and evaluated in mpmath (the family's log-density written here in
mpmath, independently of symmle's forms). One hidden layer, so that every entry of ∂η/∂θ and
∂²η/∂θ² is a single product and its magnitude is its absolute value.

Componentwise, each entry must be within ``tol · (1 + A) · m`` of the truth, where ``m`` is the
sum of the absolute values of its terms (``Σ_rows |ℓ'| |∂η/∂θ|`` for the score, and so on)
and ``A`` the largest magnitude of a pre-activation (``Σ|w x| + |b|``): rounding the
pre-activation by one ulp moves σ'(a) by a relative ``2|a|`` ulp where σ saturates (the
inherent condition), while ``1 − tanh²(a)`` or ``diag(p) − ppᵀ`` computed by subtraction is off
by 100% there. Where a value cancels (``h = tanh(a)`` near a = 0, Gaussian ``y − η``) its
magnitude has a floor, `H_FLOOR`, for the absolute error ε·A it inherits. Normwise, the largest
error must be within the same factor of the largest magnitude.
"""

from __future__ import annotations

import functools
import warnings

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

import symmle as sm
import symmle.activations
from symmle.compiled import CompiledModel

pytestmark = pytest.mark.filterwarnings("error")

#: digits of the truth.
DIGITS = 50
#: the promised range.
THETA_MAX, X_MAX = 50.0, 1e3
#: relative tolerance per unit of condition ``(1 + A)``: a few hundred ulp for the sums over
#: rows and outputs and the libm functions; the cancelling forms are off by 1 (100%).
TOL = 1e-13
#: values below this are in the underflow range of float64: a subnormal result carries an
#: absolute error of its spacing, not a relative one, and so may a result just above it whose
#: intermediate products were subnormal (CompiledModel forms ``w · JJᵀ`` for a weight equal on
#: every row: J ≈ 1e-157 gives JJᵀ subnormal and w·JJᵀ ≈ 1e-290 off by 1e-10).
TINY = 1e-250
#: the largest η of a linear Poisson network for which score, Fisher and Hessian are checked:
#: e^600 times the Jacobian's entries stays finite (beyond, the sums overflow; see
#: tests/fuzz/test_known_violations.py).
POISSON_ETA_MAX = 600.0


def _mp_sigmoid(z):
    return 1 / (1 + mp.exp(-z))


# The truth's activations, as sympy functions whose derivatives are written without
# cancellation (sympy's ``1 - tanh²`` loses digits even at 50 where tanh saturates), evaluated
# by mpmath: T = tanh, T1 = sech², S = sigmoid, S1 = σ(z)σ(−z).
class _T(sp.Function):
    def fdiff(self, argindex=1):
        return _T1(self.args[0])


class _T1(sp.Function):
    def fdiff(self, argindex=1):
        return -2 * _T(self.args[0]) * _T1(self.args[0])


class _S(sp.Function):
    def fdiff(self, argindex=1):
        return _S1(self.args[0])


class _S1(sp.Function):
    def fdiff(self, argindex=1):
        return _S1(self.args[0]) * (_S(-self.args[0]) - _S(self.args[0]))


_MP_FUNCTIONS = {"_T": mp.tanh, "_T1": lambda z: mp.sech(z) ** 2, "_S": _mp_sigmoid,
                 "_S1": lambda z: _mp_sigmoid(z) * _mp_sigmoid(-z)}
_MP_MODULES = [_MP_FUNCTIONS, "mpmath"]
#: the magnitudes: h = tanh(a) near a = 0 has the absolute error of a (ε Σ|w x| + |b|), not a
#: relative one, so its magnitude is |h| plus a floor (the tolerance, times the condition
#: factor (1 + A), then covers an error of ε A).
H_FLOOR = 4 * 2.0 ** -52 / TOL
_MP_MAGNITUDES = [{**_MP_FUNCTIONS, "_T": lambda z: abs(mp.tanh(z)) + H_FLOOR}, "mpmath"]


@functools.lru_cache(maxsize=None)
def _network(arch):
    """``f(θ, x, magnitudes=False) -> (η (K,), J (K, P), H (K, P, P))`` in mpmath, from the
    sympy form (``magnitudes``: J and H of the magnitudes, `_MP_MAGNITUDES`)."""
    theta = list(arch.params)
    xs = list(arch.inputs)
    eta = [e.replace(sp.tanh, _T).replace(sm.activations.sigmoid, _S) for e in arch.output]
    K, P = len(eta), len(theta)
    J = [[e.diff(t) for t in theta] for e in eta]
    H = [[[J[k][p].diff(t) for t in theta] for p in range(P)] for k in range(K)]
    flat = eta + [v for row in J for v in row] + [v for m in H for row in m for v in row]
    fn = sp.lambdify(theta + xs, flat, modules=_MP_MODULES)
    # every entry of J and H is one product: its magnitude is the product of the magnitudes
    fm = sp.lambdify(theta + xs, flat[K:], modules=_MP_MAGNITUDES)

    def evaluate(th, x, magnitudes=False):
        args = [mp.mpf(float(v)) for v in th] + [mp.mpf(float(v)) for v in x]
        vals = fn(*args)
        if magnitudes:
            vals = vals[:K] + [abs(v) for v in fm(*args)]
        e = vals[:K]
        j = [vals[K + k * P:K + (k + 1) * P] for k in range(K)]
        off = K + K * P
        h = [[vals[off + (k * P + p) * P:off + (k * P + p + 1) * P] for p in range(P)]
             for k in range(K)]
        return e, j, h

    return evaluate


# ---------------------------------------------------------------- families in mpmath
# each: (ℓ, magnitude of ℓ, ℓ' (K,), magnitude of ℓ' (K,), ℓ'' (K, K), W (K, K))

def _gaussian(sigma):
    s2 = mp.mpf(sigma) ** 2

    def fam(eta, y):
        (e,), (yv,) = eta, y
        r = yv - e
        const = mp.log(mp.mpf(sigma)) + mp.log(2 * mp.pi) / 2
        ll = -r * r / (2 * s2) - const
        # y − η cancels: its error is ε (|y| + Σ|v h| + |c|), covered by the floor (as for h)
        m = abs(yv) + abs(e) + H_FLOOR
        mag = m ** 2 / (2 * s2) + abs(const)
        return ll, mag, [r / s2], [m / s2], [[-1 / s2]], [[1 / s2]]

    return fam


# The truth's own forms avoid cancellation too: 50 digits do not hold 1 − p for p = 1 − e^{−10⁵}.
def _bernoulli(eta, y):
    (e,), (yv,) = eta, y
    ll = -mp.log1p(mp.exp((1 - 2 * yv) * e))   # y η − log(1 + e^η), y ∈ {0, 1}
    p = _mp_sigmoid(e)
    g = _mp_sigmoid(-e) if yv == 1 else -p      # y − σ(η)
    w = p * _mp_sigmoid(-e)
    return ll, abs(ll), [g], [abs(g)], [[-w]], [[w]]


def _poisson(eta, y):
    (e,), (yv,) = eta, y
    mu = mp.exp(e)
    ll = yv * e - mu - mp.loggamma(yv + 1)
    mag = abs(yv * e) + mu + abs(mp.loggamma(yv + 1))
    return ll, mag, [yv - mu], [yv + mu], [[-mu]], [[mu]]


def _categorical(reference):
    def fam(eta, y):
        (label,) = y
        logits = ([mp.mpf(0)] if reference else []) + list(eta)
        lse = mp.log(mp.fsum(mp.exp(v) for v in logits))
        p = [mp.exp(v - lse) for v in logits]
        rest = [mp.fsum(p[:c] + p[c + 1:]) for c in range(len(p))]   # 1 − p_c
        shift = 1 if reference else 0
        k = len(eta)
        y0 = int(label)
        ll = -mp.log1p(mp.fsum(mp.exp(v - logits[y0]) for c, v in enumerate(logits) if c != y0))
        po, qo = p[shift:], rest[shift:]
        g = [qo[j] if y0 == j + shift else -po[j] for j in range(k)]
        W = [[po[a] * qo[a] if a == b else -po[a] * po[b] for b in range(k)] for a in range(k)]
        return ll, abs(ll), g, [abs(v) for v in g], [[-v for v in row] for row in W], W

    return fam


FAMILIES = {
    "gaussian": (lambda: sm.Gaussian(sigma=1.5), lambda: _gaussian(1.5)),
    "bernoulli": (sm.Bernoulli, lambda: _bernoulli),
    "poisson": (sm.Poisson, lambda: _poisson),
    "categorical": (sm.Categorical, lambda: _categorical(False)),
    "categorical_ref": (lambda: sm.Categorical(reference=True), lambda: _categorical(True)),
}


def _truth(arch, fam, theta, X, y):
    """``{quantity: (truth, magnitude)}`` (mpmath matrices) over the rows of X."""
    net = _network(arch)
    P = len(theta)
    ll, llm = mp.mpf(0), mp.mpf(0)
    sc, scm = mp.zeros(1, P), mp.zeros(1, P)
    fi, fim = mp.zeros(P, P), mp.zeros(P, P)
    he, hem = mp.zeros(P, P), mp.zeros(P, P)
    for r in range(X.shape[0]):
        eta, J, H = net(theta, X[r])
        _, Jabs, Habs = net(theta, X[r], magnitudes=True)
        K = len(eta)
        lr, lm, g, gm, h2, W = fam(eta, y[r])
        ll += lr
        llm += lm
        Jm = mp.matrix(J)  # (K, P)
        Ja = mp.matrix(Jabs)
        Wm, Wa = mp.matrix(W), mp.matrix([[abs(v) for v in row] for row in W])
        h2m, h2a = mp.matrix(h2), mp.matrix([[abs(v) for v in row] for row in h2])
        sc += mp.matrix([g]) * Jm
        scm += mp.matrix([gm]) * Ja
        fi += Jm.T * Wm * Jm
        fim += Ja.T * Wa * Ja
        he += Jm.T * h2m * Jm
        hem += Ja.T * h2a * Ja
        for k in range(K):
            Hk = mp.matrix(H[k])
            he += g[k] * Hk
            hem += gm[k] * mp.matrix(Habs[k])
    return {"loglik": (mp.matrix([[ll]]), mp.matrix([[llm]])), "score": (sc, scm),
            "fisher": (fi, fim), "hessian": (he, hem)}


def _condition(arch, theta, X):
    """``A``: a bound on ``Σ |w h| + |b|`` over units and rows (|h| ≤ 1 for tanh and sigmoid
    units; float64 is enough). θ is in `sm.mlp`'s order: the first layer's weights (row-major)
    and biases, then the rest."""
    theta = np.abs(np.asarray(theta, dtype=float))
    units, d = len(arch.layers[0].units), arch.n_inputs
    w = theta[:units * d].reshape(units, d)
    b = theta[units * d:units * d + units]
    first = np.abs(X) @ w.T + b
    return float(max(first.max(initial=0.0), theta[units * d + units:].sum()))


def _check(name, got, want, mag, cond, componentwise=True):
    got = np.atleast_2d(np.asarray(got, dtype=float))
    tol = TOL * (1 + cond)
    worst_n, scale_n = mp.mpf(0), mp.mpf(0)
    for i in range(want.rows):
        for j in range(want.cols):
            w, m, g = want[i, j], mag[i, j], got[i, j]
            assert not np.isnan(g), f"{name}[{i}, {j}]: NaN where the truth is {mp.nstr(w, 8)}"
            wf = float(w)
            if not np.isfinite(wf):
                assert g == wf, f"{name}[{i}, {j}]: {g!r} where the truth is {wf!r}"
                continue
            assert np.isfinite(g), f"{name}[{i}, {j}]: {g!r} where the truth is {wf!r}"
            err = abs(mp.mpf(g) - w)
            bound = tol * m + TINY
            assert err <= bound or not componentwise, (
                f"{name}[{i}, {j}]: {g!r}, truth {mp.nstr(w, 17)}: error {mp.nstr(err, 3)} > "
                f"{mp.nstr(bound, 3)} (componentwise)")
            worst_n, scale_n = max(worst_n, err), max(scale_n, m)
    assert worst_n <= tol * scale_n + TINY, f"{name}: normwise error {mp.nstr(worst_n, 3)}"


@functools.lru_cache(maxsize=None)
def _compiled(family, act, d, h, k, backend, linear=False):
    arch = sm.mlp(d, k, activation=act) if linear else sm.mlp(d, h, k, activation=act)
    model = sm.Model(arch, FAMILIES[family][0]())
    return CompiledModel(model, backend=backend), FAMILIES[family][1]()


def _strict(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


_theta_value = st.one_of(
    st.floats(-THETA_MAX, THETA_MAX, allow_nan=False),
    st.sampled_from([0.0, 1.0, -1.0, THETA_MAX, -THETA_MAX, 1e-14, 30.0, -37.5]))
_x_value = st.one_of(st.floats(-X_MAX, X_MAX, allow_nan=False),
                     st.sampled_from([0.0, 1.0, -1.0, X_MAX, -X_MAX]))


@st.composite
def _case(draw, family):
    act = draw(st.sampled_from(["tanh", "sigmoid"]))
    d, h = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = {"categorical": draw(st.integers(2, 3)),
         "categorical_ref": draw(st.integers(1, 2))}.get(family, 1)
    backend = draw(st.sampled_from(["numpy", "numba"]))
    cm, fam = _compiled(family, act, d, h, k, backend)
    n = draw(st.integers(1, 3))
    theta = np.array(draw(st.lists(_theta_value, min_size=cm.model.n_params,
                                   max_size=cm.model.n_params)))
    X = np.array(draw(st.lists(st.lists(_x_value, min_size=d, max_size=d), min_size=n,
                               max_size=n)))
    if family == "gaussian":
        y = np.array(draw(st.lists(st.floats(-X_MAX, X_MAX, allow_nan=False), min_size=n,
                                   max_size=n)))
    elif family == "bernoulli":
        y = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    elif family == "poisson":
        y = np.array(draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)), dtype=float)
    else:
        K = k + 1 if family == "categorical_ref" else k
        y = np.array(draw(st.lists(st.integers(0, K - 1), min_size=n, max_size=n)))
    return cm, fam, theta, X, y


def _run(cm, fam, theta, X, y, normwise_only=()):
    arch = cm.model.architecture
    with mp.workdps(DIGITS):
        truth = _truth(arch, fam, theta, X, [np.atleast_1d(v) for v in y])
        cond = _condition(arch, theta, X)
        got = {"loglik": _strict(lambda: cm.loglik(theta, X, y)),
               "score": _strict(lambda: cm.score(theta, X, y)),
               "fisher": _strict(lambda: cm.fisher(theta, X)),
               "hessian": _strict(lambda: cm.hessian(theta, X, y))}
        both = _strict(lambda: cm.evaluate(theta, X, y, ("loglik", "score", "fisher",
                                                             "hessian")))
        for name, (want, mag) in truth.items():
            _check(name, got[name], want, mag, cond, name not in normwise_only)
            _check(f"evaluate {name}", both[name], want, mag, cond, name not in normwise_only)


@given(_case("gaussian"))
def test_gaussian_tanh_sigmoid_networks_match_mpmath(case):
    _run(*case)


@given(_case("bernoulli"))
def test_bernoulli_matches_mpmath(case):
    _run(*case)


@given(_case("poisson"))
def test_poisson_matches_mpmath(case):
    _run(*case)


#: the Fisher information and Hessian of K > 1 outputs are accumulated from the categorical
#: weight's factor (`Family.weight_root_times`): componentwise accurate too.
CATEGORICAL_NORMWISE = ()


@given(_case("categorical"))
def test_categorical_matches_mpmath(case):
    _run(*case, normwise_only=CATEGORICAL_NORMWISE)


@given(_case("categorical_ref"))
def test_categorical_reference_matches_mpmath(case):
    _run(*case, normwise_only=CATEGORICAL_NORMWISE)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_categorical_fisher_componentwise(backend):
    cm, fam = _compiled("categorical", "tanh", 1, 1, 3, backend)
    theta, X, y = np.array([0.0] * 7 + [9.0]), np.array([[0.0]]), np.array([0])
    _run(cm, fam, theta, X, y)


@given(st.sampled_from(["numpy", "numba"]), st.integers(1, 2),
       st.lists(_theta_value, min_size=3, max_size=3),
       st.lists(st.lists(_x_value, min_size=2, max_size=2), min_size=1, max_size=3),
       st.lists(st.integers(0, 50), min_size=3, max_size=3))
def test_poisson_linear_loglik_and_mean_overflow_to_the_right_infinity(backend, d, th, X, y):
    # a linear Poisson network reaches η = 10⁵ in the promised range: exp(η) overflows, and
    # the log-likelihood and the mean are then -inf and +inf, without a warning
    cm, fam = _compiled("poisson", "identity", 2, 0, 1, backend, linear=True)
    theta, X = np.array(th), np.array(X)
    y = np.array(y[:X.shape[0]], dtype=float)
    eta = X @ theta[:2] + theta[2]
    with mp.workdps(DIGITS):
        ll = mp.fsum(mp.mpf(yv) * mp.mpf(float(e)) - mp.exp(mp.mpf(float(e)))
                     - mp.loggamma(yv + 1) for e, yv in zip(eta, y))
        mean = [float(mp.exp(mp.mpf(float(e)))) for e in eta]
    got_ll = _strict(lambda: cm.loglik(theta, X, y))
    if np.isfinite(float(ll)):
        assert got_ll == pytest.approx(float(ll), rel=TOL * (1 + np.abs(eta).max()))
    else:
        assert got_ll == float(ll) == -np.inf
    got_mean = _strict(lambda: cm.predict(theta, X))
    assert np.array_equal(np.isinf(got_mean), np.isinf(mean))
    np.testing.assert_allclose(got_mean, mean, rtol=TOL * (1 + np.abs(eta).max()))
    if np.max(eta) <= POISSON_ETA_MAX:
        _run(cm, fam, theta, X, y)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("z", [0.0, 0.3, -2.0, 19.5, -30.0, 36.8, 80.0, -300.0, 710.0])
def test_activation_derivatives_from_the_preactivation(act, z):
    from symmle._chain import activation_pieces

    pieces = activation_pieces(act)
    with mp.workdps(DIGITS):
        zm = mp.mpf(z)
        if act == "tanh":
            d1, d2 = mp.sech(zm) ** 2, -2 * mp.tanh(zm) * mp.sech(zm) ** 2
        else:
            s, t = _mp_sigmoid(zm), _mp_sigmoid(-zm)   # t = 1 − s without cancellation
            d1, d2 = s * t, s * t * (t - s)
        h = pieces.value(np.array([z]))
        got1 = _strict(lambda: pieces.d1(np.array([z]), h))[0]
        got2 = _strict(lambda: pieces.d2(np.array([z]), h))[0]
        for got, want in ((got1, d1), (got2, d2)):
            if abs(want) < 1e-300:   # subnormal: an absolute error of the spacing
                assert abs(got - float(want)) < 1e-320
            else:
                assert abs(mp.mpf(got) - want) <= 1e-14 * abs(want)


# ------------------------------------------------- the information rule at extreme scales
@st.composite
def _scaled_low_rank(draw):
    """An integer J (m × P) of drawn rank times column scales 2^k spanning 1e-300..1e300 (so
    the scaled matrix is exact in float64), its exact rank and the scales' exponents."""
    P = draw(st.integers(1, 5))
    r = draw(st.integers(0, P))
    m = draw(st.integers(max(r, 1), 7))
    entries = st.integers(-4, 4)
    A = np.array(draw(st.lists(st.lists(entries, min_size=P, max_size=P), min_size=m,
                               max_size=m)), dtype=float)
    B = np.array(draw(st.lists(st.lists(entries, min_size=P, max_size=P), min_size=P,
                               max_size=P)), dtype=float)
    # rank ≤ r: the last P − r rows of B zero
    B[r:] = 0.0
    J = A[:, :P] @ B
    k = np.array(draw(st.lists(st.integers(-996, 996), min_size=P, max_size=P)))
    return J, k


def _exact_rank(M) -> int:
    """Rank over ℚ of a float matrix, its entries taken exactly (python-flint)."""
    import flint

    rows, cols = M.shape
    return flint.fmpq_mat(rows, cols, [flint.fmpq(*float(v).as_integer_ratio())
                                       for v in M.ravel()]).rank() if M.size else 0


@given(_scaled_low_rank())
def test_information_rank_of_roots_with_column_norms_from_1e_300_to_1e300(case):
    """A root whose columns are 2^k times integers, k in ±996 (1e-300 … 1e300): the rule's rank
    and identified parameters are those of the exact rank (python-flint over ℚ) and of the
    unscaled integer root, without a warning (squares of 1e-200 underflow and of 1e200
    overflow in a plain column norm)."""
    from symmle._information import information_rank

    J, k = case
    R = np.ldexp(J, k[None, :])
    exact = _exact_rank(R)
    assert exact == _exact_rank(J)
    got = _strict(lambda: information_rank(None, root=R))
    ref = information_rank(None, root=J)
    assert got.rank == exact == ref.rank
    assert got.identified.tolist() == ref.identified.tolist()
    # variances of identified parameters scale as 2^{-2k} (inf beyond float64), exactly in
    # the exponent: compare the mantissas
    se = got.stderr[got.identified]
    want = np.ldexp(ref.stderr[ref.identified], -k[got.identified])
    np.testing.assert_allclose(se, want, rtol=1e-7)


@given(_scaled_low_rank())
def test_information_rank_of_matrices_with_subnormal_to_huge_diagonals(case):
    """The information matrix S JᵀJ S itself (entries 1e-323 … 1e300, formed exactly): rank
    and identified parameters as the exact rank says, the covariance exact in its exponent
    (inf where the variance is beyond float64) and no overflow warning on the way (dividing
    twice by scales of 1e-160)."""
    from symmle._information import information_rank

    J, k = case
    # scales 2^k, k in [-537, 505]: the information's entries |(JᵀJ)_ij| < 2^12 times
    # 2^{k_i + k_j} stay exact in float64, down to subnormal diagonals (variances beyond it)
    k = (k * 521) // 996 - 16
    I0 = J.T @ J
    I = np.ldexp(I0, k[:, None] + k[None, :])
    exact = _exact_rank(I)
    got = _strict(lambda: information_rank(I))
    ref = information_rank(I0)
    assert got.rank == exact == ref.rank
    assert got.identified.tolist() == ref.identified.tolist()
    idx = np.flatnonzero(ref.identified)
    want = np.ldexp(ref.cov[np.ix_(idx, idx)], -(k[idx][:, None] + k[idx][None, :]))
    np.testing.assert_allclose(got.cov[np.ix_(idx, idx)], want, rtol=1e-7,
                               atol=1e-9 * np.abs(want).max(initial=0.0))


def test_information_rank_of_a_subnormal_diagonal_has_finite_standard_errors():
    """I = S [[2, 1], [1, 1]] S with S = diag(2^-535, 2^15): I_11 = 2^-1069 is subnormal. The
    inverse is S⁻¹ [[1, -1], [-1, 2]] S⁻¹ exactly: the variance 2^1070 is beyond float64 (inf,
    without an overflow warning), its root 2^535 is not, and the other entries are exact."""
    from symmle._information import information_rank

    e = np.array([-535, 15])
    I = np.ldexp(np.array([[2.0, 1.0], [1.0, 1.0]]), e[:, None] + e[None, :])
    got = _strict(lambda: information_rank(I))
    assert got.rank == 2 and got.identified.all()
    assert got.cov[0, 0] == np.inf
    np.testing.assert_allclose(got.cov[[0, 1, 1], [1, 0, 1]],
                               [-2.0 ** 520, -2.0 ** 520, 2.0 * 2.0 ** -30], rtol=1e-12)
    np.testing.assert_allclose(got.stderr, [2.0 ** 535, np.sqrt(2.0) * 2.0 ** -15], rtol=1e-12)


# ---------------------------------------------- Poisson sums at e^M with subnormal inputs
#: x values where ∂η/∂θ products underflow float64 (subnormal, and normal with a subnormal
#: square) next to the promised range's largest.
_X_TINY = st.sampled_from([5e-324, -5e-324, 1e-310, 2.2e-308, -2.2250738585072014e-308,
                           1e-200, -1e-200, 1e-160, 1e-155, 0.0, 1.0, -670.6, 1e3, -1e3])


def _poisson_gram_truth(arch, theta, X):
    """``(F, exempt)``: the Fisher information ``Σ_r e^{η_r} J_rᵀ J_r`` in mpmath (50 digits)
    as floats (±inf beyond float64), and the entries float64 cannot see at one scale e^M
    (M = max η): every row's term ``|J_rp J_rq| e^{η_r − M}`` below 2^-1074."""
    net = _network(arch)
    P = arch.n_params
    with mp.workdps(DIGITS):
        rows = [net(theta, x) for x in X]
        etas = [r[0][0] for r in rows]
        top = max(etas)
        F = mp.zeros(P, P)
        seen = np.zeros((P, P), dtype=bool)
        for (e, J, _), eta in zip(rows, etas):
            w = mp.exp(eta)
            for p in range(P):
                for q in range(P):
                    term = J[0][p] * J[0][q]
                    F[p, q] += term * w
                    seen[p, q] |= abs(term) * mp.exp(eta - top) >= mp.mpf(2) ** -1072
        big = mp.mpf(np.finfo(float).max)
        out = np.array([[float(v) if abs(v) <= big else (np.inf if v > 0 else -np.inf)
                         for v in F.tolist()[i]] for i in range(P)])
        mag = sum(max(abs(float(J[0][p]) * float(J[0][q])) for p in range(P) for q in range(P))
                  * float(min(mp.exp(eta), big)) for (_, J, _), eta in zip(rows, etas))
    return out, ~seen & (float(top) > POISSON_ETA_MAX), mag


@given(st.sampled_from([("identity", 2, 0), ("identity", 2, 1)]),
       st.sampled_from(["numpy", "numba"]), st.lists(_theta_value, min_size=5, max_size=5),
       st.lists(st.lists(st.one_of(_X_TINY, _x_value), min_size=2, max_size=2), min_size=1,
                max_size=3))
# the examples the fuzz run found (all wrong before): a diagonal whose x² underflows
# beside an infinite off-diagonal; a row whose e^η is beyond float64 but vanishes at the scale
# of a larger one; rows whose terms cancel to rounding noise times e^M
@example(("identity", 2, 0), "numpy", [-50.0, -31.879377376901317, 30.0, 0, 0],
         [[-1000.0, -1e-200]])
@example(("identity", 2, 0), "numpy", [1.0, -50.0, 30.0, 0, 0],
         [[0.0, -1000.0], [2.2e-308, -670.6053972565658], [-1e-155, 1e-200]])
@example(("identity", 2, 1), "numba", [0.0, 1.0, 1e-14, 32.72910414494838, 32.72910414494838],
         [[-2.2e-308, 844.9732535676496], [-1e-310, -2.2e-308], [2.2e-308, 844.9732535676496]])
@example(("identity", 2, 1), "numpy", [30.0, 0.0, 30.0, 44.2479831984641, 1e-14],
         [[1e-200, 0.0], [-1e-200, 0.0]])
def test_poisson_fisher_at_subnormal_inputs_has_the_true_infinities(net, backend, th, X):
    """A linear Poisson network (and one with a linear hidden unit) at η up to 10⁵ with
    subnormal |x|: the Fisher information (and for η linear in θ the Hessian, −F) is NaN
    nowhere, infinite exactly where the truth is (of its sign), or refused with a clear
    SymmleValueError — only when the truth is beyond float64 somewhere. Before, ``x²``
    underflowed while the scale e^M multiplied the rest back: 0 where the truth is ±inf, and
    rounding noise of rows that cancel (or of an underflowed diagonal) made ±inf where the
    truth is 0 or finite.

    Exempt (`_poisson_gram_truth`): an entry every row's term of which is below 2^-1074 at the
    scale e^{max η} (both derivatives tiny on every row; one scale cannot hold it, see
    ``test_poisson_fisher_entry_whose_every_term_underflows``)."""
    act, d, h = net
    cm, _ = _compiled("poisson", act, d, h, 1, backend, linear=h == 0)
    arch = cm.model.architecture
    P = cm.model.n_params
    theta, X = np.array(th[:P], dtype=float), np.array(X, dtype=float)
    n = X.shape[0]
    want, exempt, mag = _poisson_gram_truth(arch, theta, X)
    calls = {"fisher": (lambda: cm.fisher(theta, X), want)}
    if h == 0:
        y = np.zeros(n)
        calls["hessian"] = (lambda: cm.hessian(theta, X, y), -want)
    for name, (call, truth) in calls.items():
        try:
            got = _strict(call)
        except sm.SymmleError as exc:
            assert isinstance(exc, ValueError) and "float64" in str(exc), exc
            assert np.isinf(truth).any(), f"{name}: refused a finite truth: {exc}"
            continue
        assert not np.isnan(got).any(), f"{name}: NaN at {np.argwhere(np.isnan(got)).tolist()}"
        bad = np.isinf(got) & np.isfinite(truth)
        assert not bad.any(), f"{name}: {got[bad]} where the truth is {truth[bad]}"
        inf = np.isinf(truth) & ~exempt
        assert np.array_equal(got[inf], truth[inf]), (
            f"{name}: {got[inf]} where the truth is {truth[inf]}")
        fin = np.isfinite(truth)
        if np.isfinite(mag):
            err = np.abs(got[fin] - truth[fin]).max(initial=0.0)
            assert err <= 1e-10 * mag + 1e-300, f"{name}: error {err:.3g} of {mag:.3g}"


def test_poisson_fisher_entry_whose_every_term_underflows():
    cm, _ = _compiled("poisson", "identity", 2, 0, 1, "numpy", linear=True)
    theta, X = np.array([0.0, 0.0, 2000.0]), np.array([[1e-170, 1e-170]])
    # F_01 = x1 x2 e^2000 = 1e-340 · 10^868.6: beyond float64, but x1 x2 underflows
    assert _strict(lambda: cm.fisher(theta, X))[0, 1] == np.inf


@given(_scaled_low_rank(), st.integers(0, 2 ** 32 - 1))
def test_information_rank_covariance_is_symmetric_to_the_bit(case, seed):
    """The generalised inverse of an ill-conditioned information (a root with a random
    well-scaled part plus the drawn low-rank one at column scales 2^k) is exactly symmetric,
    NaN rows included: the product ``(V/λ) Vᵀ`` rounds its two triangles apart."""
    from symmle._information import information_rank

    J, k = case
    R = np.random.default_rng(seed).standard_normal(J.shape) * 1e-6 + J
    got = information_rank(None, root=np.ldexp(R, (k // 4)[None, :]))
    assert np.array_equal(got.cov, got.cov.T, equal_nan=True)
