"""Fuzz: the singular-model entry points (`symmle.singular`) with valid and hostile arguments.

Valid arguments must give the truth: `rrr_learning_coefficient` is checked against properties
that hold in every case of Aoyagi & Watanabe's theorem (symmetric in M and N, the regular value
``r(M + N − r)/2`` at H = r, at most ``H(M + N)/2``, at most ``MN/2``), and the population KL
of a linear network is zero at the truth and non-negative elsewhere; hostile arguments a clean
`SymmleError`.
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction

import numpy as np
from hypothesis import given, strategies as hst

import symmle as sm

from fuzz_harness import examples, run
from fuzz_values import scalars

SIZES = hst.one_of(hst.integers(1, 9), scalars)


def _refused(out):
    raise AssertionError(f"an invalid argument was accepted: {out!r:.200}")


def _as_int(v):
    """``v`` as the int `check_int` reads it (operator.index, not a bool), else None."""
    if isinstance(v, (bool, np.bool_)):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


def _valid_size(v) -> bool:
    return _as_int(v) is not None and _as_int(v) >= 1


@examples(weight=1.0)
@given(M=SIZES, N=SIZES, H=SIZES, r=hst.one_of(hst.integers(0, 9), scalars))
def test_rrr_learning_coefficient(M, N, H, r):
    valid = all(_valid_size(v) for v in (M, N, H)) and _as_int(r) is not None and \
        0 <= _as_int(r) <= min(_as_int(M), _as_int(N), _as_int(H))

    def check(out):
        if not valid:
            _refused(out)
        M_, N_, H_, r_ = (_as_int(v) for v in (M, N, H, r))
        lam, m = out
        assert isinstance(lam, Fraction) and type(m) is int and m in (1, 2)
        assert sm.rrr_learning_coefficient(N_, M_, H_, r_) == out   # symmetric in M and N
        assert lam <= Fraction(H_ * (M_ + N_), 2) and lam <= Fraction(M_ * N_, 2)
        if H_ == r_:
            assert out == (Fraction(r_ * (M_ + N_ - r_), 2), 1)

    run("rrr_learning_coefficient", lambda: sm.rrr_learning_coefficient(M, N, H, r),
        check=check, args=(M, N, H, r))


def _linear(M, H, N):
    return sm.Model(sm.mlp(M, H, N, activation="identity", bias=False), sm.Gaussian(sigma=1.0))


@examples(weight=0.5)
@given(data=hst.data(), widths=hst.tuples(hst.integers(1, 3), hst.integers(1, 3),
                                          hst.integers(1, 3)),
       kind=hst.sampled_from(["valid", "valid", "invalid"]))
def test_population_kl_and_theory(data, widths, kind):
    model = _linear(*widths)
    P = model.n_params
    if kind == "valid":
        theta = np.array(data.draw(hst.lists(hst.integers(-3, 3), min_size=P, max_size=P)),
                         dtype=float)
    else:
        theta = data.draw(hst.one_of(scalars, hst.just(np.zeros(P + 1)), hst.just([np.nan] * P),
                                     hst.just("theta")))
    other = np.array(data.draw(hst.lists(hst.integers(-3, 3), min_size=P, max_size=P)), dtype=float)

    def check_kl(expr):
        if kind != "valid":
            _refused(expr)
        subs = dict(zip(model.params, theta))
        assert float(expr.subs(subs)) == 0.0
        assert float(expr.subs(dict(zip(model.params, other)))) >= 0.0

    run("population_kl", lambda: sm.population_kl(model, theta), check=check_kl,
        args=(widths, theta))

    def check_fn(f):
        if kind != "valid":
            _refused(f)
        value, grad = f(theta)
        assert value == 0.0 and np.all(np.asarray(grad) == 0.0)

    run("population_kl_function", lambda: sm.population_kl_function(model, theta),
        check=check_fn, args=(widths, theta))

    def check_theory(rec):
        if kind != "valid":
            _refused(rec)
        M, H, N = widths
        W1 = theta[:H * M].reshape(H, M)
        W2 = theta[H * M:].reshape(N, H)
        r = np.linalg.matrix_rank(W2 @ W1)   # integer entries: exact
        assert rec == sm.rrr_learning_coefficient(M, N, H, int(r))

    run("learning_coefficient_theory", lambda: sm.learning_coefficient_theory(model, theta),
        check=check_theory, args=(widths, theta))


@examples(weight=0.3)
@given(bad=hst.sampled_from(["method", "X", "y", "theta", "n_chains", "prior_scale"]),
       value=scalars)
def test_learning_coefficient_with_hostile_arguments(bad, value):
    model = _linear(1, 1, 1)
    X = np.linspace(-1, 1, 8)[:, None]
    y = 0.5 * X[:, 0]
    kwargs = {"method": "wbic", "n_chains": 1, "n_warmup": 5, "n_draws": 5}
    args = [model, X, y]
    if bad == "X":
        args[1] = value
    elif bad == "y":
        args[2] = value
    elif bad == "theta":
        kwargs["theta"] = value if value is not None else "θ"
    else:
        kwargs[bad] = value if value is not None else "x"
    # some drawn values are valid (a float prior scale, say): then a (tiny) estimate is the
    # right answer, and only the outcome's class is checked
    run("learning_coefficient", lambda: sm.learning_coefficient(*args, **kwargs),
        args=(bad, value), promised=False)


@examples(weight=1.0)
@given(H=SIZES)
def test_odd_1h1_learning_coefficient(H):
    # Aoyagi's one-input value: λ = (H + k² + k)/(4k + 2), k = ⌊√H⌋, m = 2 iff H = k², checked
    # here against her general form with M = 1, Q = 2 (k the largest i with 2H ≥ 2i(i−1) + 2i)
    valid = _valid_size(H)

    def check(out):
        if not valid:
            _refused(out)
        h = _as_int(H)
        # 2H ≥ 2i(i − 1) + 2i = 2i² for i ≤ √H; by search where H is small, else isqrt
        k = (max(i for i in range(1, h + 2) if 2 * h >= 2 * i * (i - 1) + 2 * i)
             if h <= 10_000 else math.isqrt(h))
        want = Fraction(2 * k * (k + 1) + 2 * h, 4 * (1 + 2 * k))
        assert out == (want, 2 if 2 * h == 2 * k * k else 1)
        assert Fraction(1, 2) <= out[0] <= Fraction(h, 2)  # at most the regular d/2 = H

    run("odd_1h1_learning_coefficient", lambda: sm.odd_1h1_learning_coefficient(H),
        check=check, args=(H,))


@examples(weight=0.2)
@given(bad=hst.sampled_from(["small", "large", "theta", "sizes", "reps", "n_starts", "inputs"]),
       value=scalars)
def test_singular_study_with_hostile_arguments(bad, value):
    # every hostile argument is refused with a clean SymmleError before any fit
    small = sm.Model(sm.mlp(1, 1, 1, bias=False), sm.Gaussian(sigma=1.0))
    large = sm.Model(sm.mlp(1, 2, 1, bias=False), sm.Gaussian(sigma=1.0))
    kw = dict(small=small, large=large, theta=np.zeros(small.n_params), sizes=(20,), reps=1,
              n_starts=1, bayes=False, inputs="uniform")
    kw[bad] = value
    top = {"reps": 10_000, "n_starts": 10_000}.get(bad, 0)   # singular_study's bounds
    valid = 1 <= (_as_int(value) or 0) <= top
    if valid and value > 2:
        return   # a valid count: the study's work grows with it, not a hostile argument

    def check(out):
        if not valid:
            _refused(out)

    run("singular_study", lambda: sm.singular_study(**kw), check=check, args=(bad, value))


@examples(weight=0.3)
@given(bad=hst.sampled_from(["theta", "X", "y", "prior_scale", "n_warmup", "n_draws",
                             "max_tree_depth"]),
       value=scalars)
def test_posterior_draws_with_hostile_arguments(bad, value):
    model = _linear(1, 1, 1)
    X = np.linspace(-1, 1, 8)[:, None]
    kw = dict(X=X, y=0.5 * X[:, 0], theta=np.zeros(model.n_params), prior_scale=1.0,
              n_warmup=5, n_draws=5, max_tree_depth=4)
    kw[bad] = value
    if bad in ("n_warmup", "n_draws") and 2000 < (_as_int(value) or 0) <= sm.singular.MAX_DRAWS:
        return   # a valid count: the sampler's work grows with it, not a hostile argument
    # a drawn value may be valid (a float prior scale): then draws of the right shape are the
    # answer (finite: every draw is a position the sampler accepted)
    valid_shape = (_as_int(kw["n_draws"]) or 0, model.n_params)

    def check(out):
        assert out.shape == valid_shape and np.all(np.isfinite(out))

    run("posterior_draws", lambda: sm.singular.posterior_draws(model, **kw), check=check,
        args=(bad, value), promised=False)


@examples(weight=0.3)
@given(bad=hst.sampled_from(["theta", "n", "inputs"]), value=scalars)
def test_simulate_truth_with_hostile_arguments(bad, value):
    model = _linear(1, 1, 1)
    kw = dict(theta=np.zeros(model.n_params), n=5, inputs="uniform")
    kw[bad] = value

    def check(out):
        X, y = out
        assert X.shape[1] == 1 and len(y) == len(X) and np.all(np.isfinite(X))

    run("simulate_truth", lambda: sm.singular.simulate_truth(model, **kw), check=check,
        args=(bad, value), promised=False)


@examples(weight=0.3)
@given(value=hst.one_of(scalars, hst.text(max_size=30), hst.lists(scalars, max_size=4)))
def test_read_theta_with_hostile_json(value):
    import json
    model = _linear(1, 1, 1)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = "[" + repr(value)

    def check(out):
        assert out.shape == (model.n_params,) and np.all(np.isfinite(out))

    run("read_theta", lambda: sm.singular.read_theta(text if text[:1] in "[{" else "[" + text,
                                                     model),
        check=check, args=(value,))
