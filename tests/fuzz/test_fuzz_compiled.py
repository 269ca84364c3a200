"""Fuzz: `CompiledModel`'s methods against the model's own sympy expressions in mpmath.

Inside the promised range (|θ| ≤ 50, |x| ≤ 10³, y in the support) every method must return
the truth (normwise, `fuzz_oracles.RTOL`), with NaN only where the truth is undefined and an
infinity only where the truth is beyond float64; the Fisher information is symmetric PSD and
the Hessian symmetric; outside the range a result or a clean error; hostile arguments a clean
`SymmleError`.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as hst

import fuzz_models as zoo
from fuzz_harness import Mismatch, SilentNaN, close, examples, run
from fuzz_oracles import compare, truth
from fuzz_values import finite_vector, broken, designs, example_kinds, responses, thetas

METHODS = ("predict", "linear_predictor", "jacobian", "loglik", "loglik_rows", "score",
           "fisher", "hessian", "hessian_times", "hessian_operator", "evaluate")


def _direction(P):
    """The direction of ``hessian_times`` (and of ``hessian_operator``'s product): fixed, all
    entries of both signs and sizes."""
    return np.array([(-1.0) ** i * (1.0 + 0.5 * i) for i in range(P)])


def _y_values(model, y):
    fam, K = model.family, model.architecture.n_outputs
    return fam.y_values(fam.check_y(y, len(np.atleast_1d(y)), K), K)


def _psd(F, what):
    if not np.all(np.isfinite(F)):
        return
    assert np.array_equal(F, F.T), f"{what}: not symmetric"
    ev = np.linalg.eigvalsh(F)
    if not ev[0] >= -1e-9 * max(abs(ev[-1]), 1e-300):
        raise Mismatch(f"{what}: not PSD, eigenvalues {ev}", abs(ev[0]), abs(ev[-1]))


def _oracle(model, method, theta, X, y):
    """The check of one compiled method's result at valid arguments."""
    T = truth(model)
    theta = np.asarray(theta, dtype=float)
    X = np.asarray(X, dtype=float)
    Y = _y_values(model, y) if y is not None else None
    K = model.architecture.n_outputs

    def check(out):
        if method == "predict":
            want = T.mean(theta, X)
            want = want[:, 0] if K == 1 and want.shape[1] == 1 else want
            compare(out, want, float(np.sum(np.max(np.abs(want), axis=-1, initial=0)))
                    if np.all(np.isfinite(want)) else np.inf, what="predict")
        elif method == "linear_predictor":
            want = T.eta(theta, X)
            compare(out, want, float(np.sum(np.abs(want))), what="linear_predictor")
        elif method == "jacobian":
            want = T.jacobian(theta, X)
            compare(out, want, float(np.sum(np.abs(want))), what="jacobian")
        elif method == "loglik":
            want, scale = T.loglik(theta, X, Y)
            compare([out], want, scale, what="loglik")
        elif method == "loglik_rows":
            rows = [T.loglik(theta, X[i:i + 1], Y[i:i + 1]) for i in range(len(X))]
            compare(out, [r[0][0] for r in rows], max(r[1] for r in rows), what="loglik_rows")
        elif method == "score":
            want, scale = T.score(theta, X, Y)
            compare(out, want, scale, what="score")
        elif method == "fisher":
            want, scale = T.fisher(theta, X)
            compare(out, want, scale, what="fisher")
            _psd(out, "fisher")
        elif method == "hessian":
            want, scale = T.hessian(theta, X, Y)
            compare(out, want, scale, what="hessian")
            if np.all(np.isfinite(out)):
                assert np.array_equal(out, out.T), "hessian: not symmetric"
        elif method in ("hessian_times", "hessian_operator"):
            want, scale = T.hessian(theta, X, Y)
            v = _direction(theta.size)
            # normwise against the truth's H v, scaled by Σ|H||v| (the oracle's scale is Σ|H|)
            compare(out, np.asarray(want) @ v, scale * float(np.max(np.abs(v))),
                    what=method)
        elif method == "evaluate":
            cm = model.compile()
            for q, v in out.items():
                if np.all(np.isnan(v)) and q != "loglik":
                    raise SilentNaN(f"evaluate[{q}] is all NaN")
                ref = getattr(cm, q)(theta, X, y) if q != "fisher" else cm.fisher(theta, X)
                close(v, ref, rtol=1e-12, what=f"evaluate[{q}] against {q}")
    return check


def _call(cm, method, theta, X, y):
    if method in ("predict", "linear_predictor", "jacobian", "fisher"):
        return lambda: getattr(cm, method)(theta, X)
    if method == "evaluate":
        return lambda: cm.evaluate(theta, X, y, ("loglik", "score", "fisher", "hessian"))
    if method == "hessian_times":
        return lambda: cm.hessian_times(theta, X, y, _direction(cm.model.n_params))
    if method == "hessian_operator":  # built and applied twice: the kept state is reused
        def twice():
            H = cm.hessian_operator(theta, X, y)
            v = _direction(cm.model.n_params)
            first = H.matvec(v)
            again = H.matvec(v)
            assert np.array_equal(first, again, equal_nan=True), "kept products differ"
            return first
        return twice
    return lambda: getattr(cm, method)(theta, X, y)


@examples(weight=8)
@given(data=hst.data(), name=hst.sampled_from(zoo.NAMES), method=hst.sampled_from(METHODS),
       kind=example_kinds, n=hst.integers(1, 4))
def test_compiled_model_methods(data, name, method, kind, n):
    model = zoo.model(name)
    cm = model.compile()
    arch = model.architecture
    uses_y = method not in ("predict", "linear_predictor", "jacobian", "fisher")
    bad = data.draw(broken(kind, ("theta", "X", "y") if uses_y else ("theta", "X")), "broken")
    theta = data.draw(thetas(model.n_params, kind if bad == "theta" else "valid"), "theta")
    X = data.draw(designs(n, arch.n_inputs, kind if bad == "X" else "valid"), "X")
    y = data.draw(responses(model.family, n, arch.n_outputs, kind if bad == "y" else "valid"),
                  "y")
    if bad == "X" and arch.n_inputs == 1 and finite_vector(X):
        kind = "lenient"   # a vector is the one column of a one-input network's X
    def refused(out):
        raise AssertionError(f"an invalid {bad} was accepted: {out!r:.200}")

    if kind == "valid":
        check = _oracle(model, method, theta, X, y if uses_y else None)
    else:
        check = refused if kind == "invalid" else None
    run(f"CompiledModel.{method}", _call(cm, method, theta, X, y), check=check,
        finite=None, args=(name, theta, X, y), promised=kind != "lenient")


def test_every_method_once_at_a_valid_point():
    """Each method at least once at valid arguments whatever the sampling above drew (the
    coverage check in `test_zz_coverage` counts on it), against the same oracle."""
    for name in zoo.NAMES[:2]:
        model = zoo.model(name)
        cm = model.compile()
        theta = 0.5 * model.random_params(0)
        X, y = model.simulate(theta, n=3, rng=1)
        for method in METHODS:
            uses_y = method not in ("predict", "linear_predictor", "jacobian", "fisher")
            run(f"CompiledModel.{method}", _call(cm, method, theta, X, y),
                check=_oracle(model, method, theta, X, y if uses_y else None), finite=None,
                args=(name, theta, X, y), promised=True)
