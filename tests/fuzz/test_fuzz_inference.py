"""Fuzz: `fit` and `FitResult`, `identifiability` and `IdentifiabilityReport`, `regularity`,
`profile`, `profile_conf_int`, `cluster_optima`, on valid, degenerate and hostile data.

Oracles: the reported log-likelihood is the model's at the estimate and no start did better;
standard errors are finite exactly for the identified parameters; the covariance is symmetric
PSD; intervals contain the estimate; AIC and BIC count the same parameters; a JSON round trip
gives the same fit; an identifiability report's rank is at most P and its null space is
orthogonal to the information's range.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, strategies as hst

import symmle as sm

from fuzz_harness import close, examples, run
from fuzz_values import counts, example_kinds, real_arrays, responses, scalars

#: Small models whose fits take milliseconds: one per family, a hidden layer for two.
FIT_MODELS = {
    "gaussian-glm": sm.Model(sm.mlp(2, 1), sm.Gaussian()),
    "bernoulli-glm": sm.Model(sm.mlp(2, 1), sm.Bernoulli()),
    "poisson-glm": sm.Model(sm.mlp(1, 1), sm.Poisson()),
    "categorical-glm": sm.Model(sm.mlp(1, 3), sm.Categorical()),
    "tanh-gaussian": sm.Model(sm.mlp(1, 2, 1), sm.Gaussian(sigma=1.0)),
    "relu-bernoulli": sm.Model(sm.mlp(1, 2, 1, activation="relu"), sm.Bernoulli()),
}

#: Rows of a fuzzed data set (small: each example runs a fit).
N_ROWS = 24


def _refused(out):
    raise AssertionError(f"an invalid argument was accepted: {out!r:.200}")


@hst.composite
def data_sets(draw, model, kind):
    """(X, y) of `N_ROWS` rows: simulated, degenerate (constant X, constant or separable y,
    huge scales) or hostile."""
    arch = model.architecture
    how = draw(hst.sampled_from(["simulated", "simulated", "constant-x", "constant-y",
                                 "separable", "drawn"]))
    rng = np.random.default_rng(draw(hst.integers(0, 2 ** 16)))
    theta = model.random_params(rng, scale=0.5)
    X, y = model.simulate(theta, N_ROWS, rng=rng)
    if how == "constant-x":
        X = np.full_like(X, draw(hst.sampled_from([0.0, 1.0, 3.0])))
        _, y = model.simulate(theta, N_ROWS, rng=rng, X=X)
    elif how == "constant-y":
        y = np.full_like(y, y[0])
    elif how == "separable" and not isinstance(model.family, sm.Poisson):
        _, y = model.simulate(theta * 1e3, N_ROWS, rng=rng, X=X)
    elif how == "drawn":
        X = np.asarray(draw(real_arrays(X.shape, 1e3)), dtype=float)
        y = draw(responses(model.family, N_ROWS, arch.n_outputs))
    if kind == "invalid":
        which = draw(hst.sampled_from(["X", "y"]))
        if which == "X":
            X = draw(real_arrays(X.shape, 1e3, "invalid"))
        else:
            y = draw(responses(model.family, N_ROWS, arch.n_outputs, "invalid"))
    elif kind == "lenient":
        X = X * draw(hst.sampled_from([1e6, 1e-300, 1e150]))
    return X, y, how


GOOD_FIT_OPTIONS = hst.fixed_dictionaries({}, optional={
    "n_starts": hst.integers(1, 3), "rng": hst.integers(0, 9),
    "method": hst.sampled_from(["scoring", "lm", "trf", "trust-exact", None]),
    "tol": hst.floats(1e-12, 1e-4), "max_iter": hst.integers(1, 200),
})

def _small(value) -> bool:
    """Not a valid count of more than 8 (a valid huge count is work the caller asked for: its
    bounds are tested in ``test_known_violations`` and ``test_interrupts``)."""
    return not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                and value > 8)


HOSTILE_FIT_OPTIONS = hst.fixed_dictionaries({}, optional={
    "n_starts": hst.one_of(hst.integers(1, 3), counts.filter(_small)),
    "rng": hst.one_of(hst.integers(0, 9), scalars),
    "method": hst.one_of(hst.sampled_from(["scoring", "lm", "trf", "trust-exact", None]), scalars),
    "tol": hst.one_of(hst.floats(1e-12, 1e-2), scalars),
    "max_iter": hst.one_of(hst.integers(1, 200), counts.filter(_small)),
    "info_rtol": hst.one_of(hst.none(), hst.floats(1e-14, 1e-2), scalars),
    "start": hst.one_of(hst.none(), scalars, hst.just("zeros")),
})

FIT_OPTIONS = hst.one_of(GOOD_FIT_OPTIONS, GOOD_FIT_OPTIONS, HOSTILE_FIT_OPTIONS)


def _check_fit(model, X, y, res, how, kind):
    if kind == "invalid":
        _refused(res)
    P = model.n_params
    assert res.params.shape == (P,) and np.all(np.isfinite(res.params))
    cm = model.compile()
    if np.isfinite(res.loglik):
        with np.errstate(all="ignore"):
            ll = cm.loglik(res.params, X, y)
        close([res.loglik], [ll], rtol=1e-9, atol=1e-9, what="loglik at the estimate")
    for s in res.starts:
        assert s.loglik <= res.loglik + 1e-9 * (1 + abs(res.loglik)), "a start did better"
    se = res.stderr
    ident = res.identified
    # +inf is an overflow (a standard error beyond float64, e.g. where separated data drive the
    # information to 0), the covariance's diagonal must then say so too; NaN is never right
    bad = ident & (np.isnan(se) | (se <= 0) | (np.isinf(se) & np.isfinite(np.diag(np.asarray(res.cov)))))
    assert not bad.any(), f"NaN standard errors for identified parameters {np.flatnonzero(bad)}"
    cov = np.asarray(res.cov)
    keep = np.isfinite(cov).all(axis=1)
    sub = cov[np.ix_(keep, keep)]
    if sub.size:
        assert np.allclose(sub, sub.T, rtol=1e-10, atol=1e-300), "covariance not symmetric"
        ev = np.linalg.eigvalsh((sub + sub.T) / 2)
        assert ev[0] >= -1e-8 * max(abs(ev[-1]), 1e-300), f"covariance not PSD: {ev[:3]}"
    ci = res.conf_int(0.05)
    fin = np.isfinite(ci).all(axis=1)
    assert np.all(ci[fin, 0] <= res.params[fin]) and np.all(res.params[fin] <= ci[fin, 1])
    if np.isfinite(res.aic) and np.isfinite(res.bic):
        k_aic = (res.aic + 2 * res.loglik) / 2
        k_bic = (res.bic + 2 * res.loglik) / math.log(res.n_obs)
        # (AIC + 2ℓ)/2 cancels: its rounding is ε|ℓ| (ℓ ~ 1e11 for large Poisson counts)
        assert abs(k_aic - k_bic) <= 1e-6 * (1 + abs(k_aic)) + 1e-14 * abs(res.loglik), (
            "AIC and BIC count differently")


@examples(weight=3)
@given(name=hst.sampled_from(sorted(FIT_MODELS)), data=hst.data(), kind=example_kinds,
       options=FIT_OPTIONS)
def test_fit(name, data, kind, options):
    model = FIT_MODELS[name]
    X, y, how = data.draw(data_sets(model, kind))
    if isinstance(options.get("start"), str):
        options["start"] = np.zeros(model.n_params)
    cls, res = run("fit", lambda: sm.fit(model, X, y, **options), args=(name, how, options),
                   check=lambda r: _check_fit(model, X, y, r, how, kind),
                   promised=kind == "valid" and how == "simulated")
    if cls != "ok":
        return
    _fit_result_methods(res, data)


def _fit_result_methods(res, data):
    alpha = data.draw(hst.one_of(hst.floats(0.001, 0.5), scalars))
    kind = data.draw(hst.one_of(hst.sampled_from(["expected", "observed", "robust"]), scalars))
    method = data.draw(hst.one_of(hst.sampled_from(["wald", "profile"]), scalars))
    for prop in ("aic", "bic", "sigma", "rank_verdict", "information_root", "information_rank",
                 "null_space", "null_space_dim", "condition_number", "identified",
                 "observed_information", "cov", "stderr", "param_names", "n_params"):
        run(f"FitResult.{prop}", lambda: getattr(res, prop))
    run("FitResult.covariance", lambda: res.covariance(kind), args=kind)
    if method == "profile" and res.n_params > 4:
        method = "wald"   # a profile interval refits per parameter: kept to small models
    run("FitResult.conf_int", lambda: res.conf_int(alpha, method, kind=kind),
        args=(alpha, method, kind))
    run("FitResult.summary", lambda: res.summary(alpha), args=alpha,
        check=lambda s: None if isinstance(s, str) else _refused(s))
    run("FitResult._repr_html_", res._repr_html_)
    for prop in ("effective_df", "objective", "penalised", "score_outer"):
        run(f"FitResult.{prop}", lambda: getattr(res, prop))
    model = res.model
    d = model.architecture.n_inputs
    X_new = data.draw(hst.one_of(real_arrays((3, d), 10.0), real_arrays((2, d), 1e3, "invalid")))

    def check_predict(mu):
        want = model.compile().predict(res.params, np.asarray(X_new, float))
        close(mu, want, rtol=1e-12, atol=0, what="FitResult.predict")
    run("FitResult.predict", lambda: res.predict(X_new), args=X_new, check=check_predict)

    def check_prediction(pred):
        frame = pred.summary_frame()
        ci = np.asarray(pred.conf_int())
        assert np.all(ci[..., 0] <= ci[..., 1] + 1e-12) or not np.all(np.isfinite(ci))
        pred.pred_int() if isinstance(model.family, sm.Gaussian) else None
        del frame
    run("FitResult.get_prediction", lambda: res.get_prediction(X_new, alpha), args=(X_new, alpha),
        check=check_prediction)
    g = data.draw(hst.sampled_from([lambda t: float(np.sum(t ** 2)), lambda t: "x", None, 3]))
    run("FitResult.functional", lambda: res.functional(g, alpha), args=alpha)
    R = data.draw(hst.one_of(hst.just(np.eye(res.n_params)[:1]), real_arrays((1, res.n_params), 2),
                             scalars))
    run("FitResult.wald_test", lambda: res.wald_test(R), args=R,
        check=lambda t: None if 0 <= t.pvalue <= 1 or t.pvalue != t.pvalue else _refused(t))

    def check_canonical(c):
        np.testing.assert_allclose(c.loglik, res.loglik, rtol=1e-9, atol=1e-9)
    run("FitResult.canonical", res.canonical, check=check_canonical)
    run("compare", lambda: str(sm.compare(res, res)))
    run("input_relevance", lambda: str(sm.input_relevance(res, method)), args=method)
    run("lr_test", lambda: sm.lr_test(res, res),
        check=lambda t: None if 0 <= t.pvalue <= 1 or t.pvalue != t.pvalue else _refused(t))
    run("Prediction", lambda: sm.Prediction(alpha, alpha, alpha, None, alpha), args=alpha)
    run("TestResult", lambda: sm.TestResult(alpha, alpha, alpha, method), args=(alpha, method))

    def round_trip(text):
        back = sm.FitResult.from_json(text)
        np.testing.assert_array_equal(back.params, res.params)
        assert back.loglik == res.loglik or (math.isnan(back.loglik) and math.isnan(res.loglik))
        np.testing.assert_array_equal(back.stderr, res.stderr)
    run("FitResult.to_json", res.to_json, check=round_trip)


@examples(weight=2)
@given(name=hst.sampled_from(sorted(FIT_MODELS)), data=hst.data(), kind=example_kinds,
       exact=hst.one_of(hst.booleans(), scalars), n_rows=hst.one_of(hst.none(), counts,
                                                                    hst.just(10 ** 12)),
       rtol=hst.one_of(hst.just(1e-8), hst.floats(1e-14, 0.5), scalars),
       rng=hst.one_of(hst.integers(0, 9), scalars), with_X=hst.booleans(),
       with_theta=hst.booleans())
def test_identifiability(name, data, kind, exact, n_rows, rtol, rng, with_X, with_theta):
    model = FIT_MODELS[name]
    P = model.n_params
    theta = data.draw(real_arrays((P,), 3.0, kind)) if with_theta else None
    X = data.draw(real_arrays((12, model.architecture.n_inputs), 1e3,
                              "valid" if kind == "invalid" and with_theta else kind)) \
        if with_X else None

    def check(rep):
        if kind == "invalid" and (with_theta or with_X):
            _refused(rep)
        assert 0 <= rep.fisher_rank <= P and rep.n_params == P
        assert rep.null_space.shape[0] == P
        assert rep.null_dim == P - rep.fisher_rank
        str(rep), rep._repr_html_()

    cls, rep = run("identifiability", lambda: sm.identifiability(
        model, theta, X, rng, exact=exact, rtol=rtol, n_rows=n_rows),
        args=(name, theta, X, exact, n_rows, rtol, rng), check=check,
        promised=kind == "valid")
    if cls == "ok":
        run("IdentifiabilityReport.__str__", lambda: str(rep))
        run("IdentifiabilityReport.null_dim", lambda: rep.null_dim)
    run("regularity", lambda: sm.regularity(model, theta, rng=rng), args=(name, theta, rng),
        check=lambda t: (str(t), t._repr_html_(), [c.verdict for c in t]) and None,
        promised=kind == "valid")


@examples(weight=1)
@given(name=hst.sampled_from(["gaussian-glm", "bernoulli-glm", "poisson-glm"]),
       seed=hst.integers(0, 99),
       param=hst.one_of(hst.integers(-1, 4), hst.sampled_from(["W1_1_1", "b1_1", "nope"]),
                        scalars),
       n_points=hst.one_of(hst.integers(2, 7), counts), width=hst.one_of(hst.floats(0.1, 5),
                                                                          scalars),
       values=hst.one_of(hst.none(), hst.lists(hst.floats(-3, 3), min_size=1, max_size=4),
                         scalars),
       alpha=hst.one_of(hst.floats(0.01, 0.5), scalars), tol=hst.one_of(hst.just(1e-3), scalars))
def test_profile_and_clusters(name, seed, param, n_points, width, values, alpha, tol):
    model = FIT_MODELS[name]
    X, y = model.simulate(model.random_params(seed), N_ROWS, rng=seed)
    res = sm.fit(model, X, y, n_starts=2, rng=seed)

    def check_profile(p):
        assert np.all(p.loglik <= p.loglik_max + 1e-6 * (1 + abs(p.loglik_max))), \
            "a profile point above the maximum"
    run("profile", lambda: sm.profile(res, param, values=values, n_points=n_points, width=width),
        args=(param, values, n_points, width), check=check_profile)

    def check_intervals(ci):
        fin = np.isfinite(ci).all(axis=1)
        assert np.all(ci[fin, 0] <= res.params[fin] + 1e-9)
        assert np.all(res.params[fin] <= ci[fin, 1] + 1e-9)
    run("profile_conf_int", lambda: sm.profile_conf_int(res, alpha), args=alpha,
        check=check_intervals)
    run("cluster_optima", lambda: sm.cluster_optima(res, tol=tol), args=tol,
        check=lambda c: None if c.n_clusters >= 1 else _refused(c))
    junk = [s.params for s in res.starts]
    run("cluster_optima", lambda: sm.cluster_optima(np.array(junk), model.architecture, tol=tol),
        args=tol)
    run("FitStart", lambda: sm.FitStart(values, values, alpha, True, 1), args=(values, alpha))
