"""Fuzz: the singular-model entry points (`symmle.singular`) with valid and hostile arguments.

Valid arguments must give the truth: `rrr_learning_coefficient` is checked against properties
that hold in every case of Aoyagi & Watanabe's theorem (symmetric in M and N, the regular value
``r(M + N − r)/2`` at H = r, at most ``H(M + N)/2``, at most ``MN/2``), and the population KL
of a linear network is zero at the truth and non-negative elsewhere; hostile arguments a clean
`SymmleError`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, strategies as hst

import symmle as sm

from fuzz_harness import examples, run
from fuzz_values import scalars

SIZES = hst.one_of(hst.integers(1, 9), scalars)


def _refused(out):
    raise AssertionError(f"an invalid argument was accepted: {out!r:.200}")


def _valid_size(v) -> bool:
    return type(v) is int and 1 <= v


@examples(weight=1.0)
@given(M=SIZES, N=SIZES, H=SIZES, r=hst.one_of(hst.integers(0, 9), scalars))
def test_rrr_learning_coefficient(M, N, H, r):
    valid = all(_valid_size(v) for v in (M, N, H)) and type(r) is int and 0 <= r <= min(M, N, H)

    def check(out):
        if not valid:
            _refused(out)
        lam, m = out
        assert isinstance(lam, Fraction) and type(m) is int and m in (1, 2)
        assert sm.rrr_learning_coefficient(N, M, H, r) == out   # symmetric in M and N
        assert lam <= Fraction(H * (M + N), 2) and lam <= Fraction(M * N, 2)
        if H == r:
            assert out == (Fraction(r * (M + N - r), 2), 1)

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
def test_learning_coefficient_refuses_hostile_arguments(bad, value):
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
    run("learning_coefficient", lambda: sm.learning_coefficient(*args, **kwargs),
        check=_refused, args=(bad, value), promised=False)
