"""Tests of maximum-likelihood fitting (issue 3): textbook GLMs, networks, reports, JSON, CSV,
and profile likelihoods (checked against a logistic-regression profile written by hand)."""

import ast
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sps
import scipy.stats as st

import symmle as sm
from symmle.data import load_csv
from symmle.errors import (
    ConvergenceWarning,
    DataError,
    NonIdentifiableWarning,
    ParamsError,
    PersistenceError,
    SymmleTypeError,
    SymmleValueError,
)
from symmle.fitting import (
    METHODS,
    FitResult,
    fit,
    profile,
    profile_conf_int,
    profile_intervals,
    profile_likelihood,
)
from symmle.fitting import _profile as fitting_profile

THETA_STAR = np.array([1.5, -1.0, -0.5, 2.0, 1.0, 1.0, 0.5, -0.5, 0.0,
                       2.0, -1.5, 1.0, 0.3, np.log(0.5)])


def design(X):
    return np.column_stack([X, np.ones(len(X))])


def newton_glm(Z, y, mean, weight, iters=100):
    """Plain Newton–Raphson (= IRLS for a canonical link), written independently of symmle."""
    beta = np.zeros(Z.shape[1])
    for _ in range(iters):
        eta = Z @ beta
        g = Z.T @ (y - mean(eta))
        H = Z.T @ (weight(eta)[:, None] * Z)
        step = np.linalg.solve(H, g)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-14:
            break
    return beta, np.linalg.inv(Z.T @ (weight(Z @ beta)[:, None] * Z))


def quiet_fit(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # these fits must not warn
        return fit(*args, **kw)


# ------------------------------------------------------------------ textbook GLMs
def test_ols_known_sigma_matches_closed_form():
    rng = np.random.default_rng(0)
    n, sigma = 150, 0.7
    X = rng.standard_normal((n, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + sigma * rng.standard_normal(n)
    model = sm.Model(sm.mlp(3, 1, activation="identity"), sm.Gaussian(sigma=sigma))
    res = quiet_fit(model, X, y, rng=0)
    Z = design(X)
    beta = np.linalg.lstsq(Z, y, rcond=None)[0]
    cov = np.linalg.inv(Z.T @ Z) * sigma ** 2
    rss = float(np.sum((y - Z @ beta) ** 2))
    ll = -rss / (2 * sigma ** 2) - n * math.log(sigma * math.sqrt(2 * math.pi))
    assert res.converged
    np.testing.assert_allclose(res.params, beta, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.cov, cov, rtol=1e-9)
    np.testing.assert_allclose(res.stderr, np.sqrt(np.diag(cov)), rtol=1e-9)
    assert res.loglik == pytest.approx(ll, rel=1e-12)
    z = st.norm.ppf(0.95)
    np.testing.assert_allclose(res.conf_int(0.1), np.column_stack(
        [beta - z * np.sqrt(np.diag(cov)), beta + z * np.sqrt(np.diag(cov))]), rtol=1e-8)
    assert res.sigma == sigma
    assert res.aic == pytest.approx(2 * 4 - 2 * ll)
    assert res.bic == pytest.approx(4 * math.log(n) - 2 * ll)
    # a linear Gaussian model has observed = expected information
    np.testing.assert_allclose(res.cov(kind="observed"), cov, rtol=1e-8)


def test_ols_unknown_sigma_is_profiled_exactly():
    rng = np.random.default_rng(1)
    n = 200
    X = rng.standard_normal((n, 2))
    y = X @ [0.5, 1.5] - 1.0 + 0.4 * rng.standard_normal(n)
    model = sm.Model(sm.mlp(2, 1, activation="identity"), sm.Gaussian())
    res = quiet_fit(model, X, y, rng=0)
    Z = design(X)
    beta = np.linalg.lstsq(Z, y, rcond=None)[0]
    s2 = float(np.sum((y - Z @ beta) ** 2)) / n
    np.testing.assert_allclose(res.params[:3], beta, atol=1e-9)
    assert res.sigma == pytest.approx(math.sqrt(s2), rel=1e-10)
    assert res.loglik == pytest.approx(-0.5 * n * (math.log(2 * math.pi * s2) + 1), rel=1e-12)
    se = np.sqrt(np.concatenate([np.diag(np.linalg.inv(Z.T @ Z)) * s2, [1 / (2 * n)]]))
    np.testing.assert_allclose(res.stderr, se, rtol=1e-8)
    # the profile σ̂ is the joint maximum: the full score vanishes there
    assert np.max(np.abs(model.compile().score(res.params, X, y))) < 1e-6


def test_logistic_regression_matches_newton_raphson():
    model = sm.Model(sm.mlp(3, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([1.0, -0.5, 0.25, -0.3]), n=500, rng=2)
    beta, cov = newton_glm(design(X), y, sps.expit, lambda e: sps.expit(e) * sps.expit(-e))
    res = quiet_fit(model, X, y, rng=0)
    ll = float(np.sum(y * (design(X) @ beta) - np.logaddexp(0, design(X) @ beta)))
    np.testing.assert_allclose(res.params, beta, atol=1e-6)
    np.testing.assert_allclose(res.stderr, np.sqrt(np.diag(cov)), rtol=1e-6)
    assert res.loglik == pytest.approx(ll, abs=1e-6)


def test_poisson_regression_matches_irls():
    model = sm.Model(sm.mlp(2, 1), sm.Poisson())
    X, y = model.simulate(np.array([0.4, -0.3, 0.8]), n=400, rng=3)
    beta, cov = newton_glm(design(X), y, np.exp, np.exp)
    res = quiet_fit(model, X, y, rng=0)
    eta = design(X) @ beta
    ll = float(np.sum(y * eta - np.exp(eta) - sps.gammaln(y + 1)))
    np.testing.assert_allclose(res.params, beta, atol=1e-6)
    np.testing.assert_allclose(res.stderr, np.sqrt(np.diag(cov)), rtol=1e-6)
    assert res.loglik == pytest.approx(ll, abs=1e-6)


def test_multinomial_logit_matches_reference_parametrisation():
    """Softmax over K outputs is invariant to adding a constant to all η_k: the full
    parametrisation has a (d+1)-dimensional null space; its estimable contrasts must equal the
    reference-category multinomial logit fitted by an independent Newton–Raphson."""
    d, K, n = 2, 3, 600
    model = sm.Model(sm.mlp(d, K, activation="identity"), sm.Categorical())
    W = np.array([[1.0, -1.0], [0.5, 0.5], [0.0, 0.0]])
    b = np.array([0.2, -0.1, 0.0])
    theta = model.architecture.flatten([(W, b)])
    X, y = model.simulate(theta, n=n, rng=4)
    Z = design(X)
    Y = np.eye(K)[y]
    # reference category K: B is (d+1) × (K-1)
    B = np.zeros((d + 1, K - 1))
    for _ in range(100):
        P = sps.softmax(np.column_stack([Z @ B, np.zeros(n)]), axis=1)[:, :K - 1]
        g = (Z.T @ (Y[:, :K - 1] - P)).ravel(order="F")
        H = np.zeros((g.size, g.size))
        for k in range(K - 1):
            for m in range(K - 1):
                w = P[:, k] * ((k == m) - P[:, m])
                rk, rm = slice(k * (d + 1), (k + 1) * (d + 1)), slice(m * (d + 1), (m + 1) * (d + 1))
                H[rk, rm] = Z.T @ (w[:, None] * Z)
        step = np.linalg.solve(H, g)
        B += step.reshape(d + 1, K - 1, order="F")
        if np.max(np.abs(step)) < 1e-14:
            break
    cov_ref = np.linalg.inv(H)
    eta_ref = np.column_stack([Z @ B, np.zeros(n)])
    ll_ref = float(np.sum(eta_ref[np.arange(n), y] - sps.logsumexp(eta_ref, axis=1)))

    with pytest.warns(NonIdentifiableWarning):
        res = fit(model, X, y, rng=0)
    assert res.converged
    assert res.loglik == pytest.approx(ll_ref, abs=1e-6)
    np.testing.assert_allclose(model.compile().predict(res.params, X), sps.softmax(eta_ref, axis=1),
                               atol=1e-6)
    assert res.null_space_dim == d + 1
    assert np.all(np.isnan(res.stderr))  # every parameter moves along the softmax shift
    # contrasts (class k minus class K) of [W | b] are estimable: C I⁺ Cᵀ is the reference cov
    Wf, bf = model.architecture.unflatten(res.params)[0]
    Bhat = (np.column_stack([Wf, bf]) - np.r_[Wf[K - 1], bf[K - 1]]).T[:, :K - 1]
    np.testing.assert_allclose(Bhat, B, atol=1e-6)
    C = np.zeros((g.size, model.n_params))
    arch = model.architecture
    for k in range(K - 1):
        for j in range(d + 1):
            row = k * (d + 1) + j
            if j < d:
                C[row, arch.edge_index[(arch.input_nodes[j], arch.output_nodes[k])]] = 1
                C[row, arch.edge_index[(arch.input_nodes[j], arch.output_nodes[K - 1])]] = -1
            else:
                C[row, arch.bias_index[arch.output_nodes[k]]] = 1
                C[row, arch.bias_index[arch.output_nodes[K - 1]]] = -1
    assert np.allclose(C @ res.null_space, 0, atol=1e-8)
    np.testing.assert_allclose(C @ np.linalg.pinv(res.information) @ C.T, cov_ref, rtol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reaches_the_logistic_mle(method):
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([0.8, -1.2, 0.4]), n=300, rng=5)
    beta, _ = newton_glm(design(X), y, sps.expit, lambda e: sps.expit(e) * sps.expit(-e))
    if method in ("lm", "trf"):
        with pytest.raises(SymmleValueError, match="Gaussian"):
            fit(model, X, y, method=method, rng=0)
        gmodel = sm.Model(sm.mlp(2, 1, activation="identity"), sm.Gaussian())
        res = quiet_fit(gmodel, X, y, method=method, rng=0)
        np.testing.assert_allclose(res.params[:3], np.linalg.lstsq(design(X), y, rcond=None)[0],
                                   atol=1e-8)
        return
    res = quiet_fit(model, X, y, method=method, rng=0)
    assert res.method == method and res.converged
    np.testing.assert_allclose(res.params, beta, atol=1e-6)


# ----------------------------------------------------------------------- networks
@pytest.fixture(scope="module")
def net_fit():
    model = sm.Model(sm.mlp(2, 3, 1, activation="tanh"), sm.Gaussian())
    X, y = model.simulate(THETA_STAR, n=1000, rng=6)
    res = quiet_fit(model, X, y, n_starts=5, rng=0)
    return model, X, y, res


def test_multistart_reaches_the_optimum(net_fit):
    model, X, y, res = net_fit
    ll_true = model.compile().loglik(THETA_STAR, X, y)
    assert res.loglik >= ll_true - 1e-8
    assert res.loglik == max(s.loglik for s in res.starts)
    assert len(res.starts) == 5 and res.converged
    # the estimate is the truth up to the 2^3·3! symmetries: compare the functions
    Xg = np.random.default_rng(7).standard_normal((500, 2))
    cm = model.compile()
    assert np.max(np.abs(cm.predict(res.params, Xg) - cm.predict(THETA_STAR, Xg))) < 0.3


def test_score_zero_and_hessian_negative_definite_at_optimum(net_fit):
    model, X, y, res = net_fit
    cm = model.compile()
    g = cm.score(res.params, X, y)
    H = cm.hessian(res.params, X, y)
    # the Newton decrement gᵀ(-H)⁻¹g is the predicted gain of one more Newton step
    assert float(g @ np.linalg.solve(-H, g)) < 1e-8
    assert np.max(np.linalg.eigvalsh(H)) < 0
    assert res.information_rank == model.n_params
    assert np.all(np.isfinite(res.stderr))
    np.testing.assert_allclose(res.cov(kind="observed"), np.linalg.inv(-H), rtol=1e-6)


def test_starts_are_reproducible_and_recorded():
    model = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian(sigma=1.0))
    X, y = model.simulate(model.random_params(0) * 3, n=200, rng=1)
    a = fit(model, X, y, n_starts=3, rng=11, max_iter=50)
    b = fit(model, X, y, n_starts=3, rng=np.random.SeedSequence(11), max_iter=50)
    for sa, sb in zip(a.starts, b.starts):
        np.testing.assert_array_equal(sa.start, sb.start)
        np.testing.assert_array_equal(sa.params, sb.params)
        assert sa.loglik == sb.loglik and sa.n_iter == sb.n_iter
    starts = np.stack([s.start for s in a.starts])
    assert len({tuple(r) for r in starts}) == 3
    # per-start seeds are SeedSequence children of the given seed
    kids = np.random.SeedSequence(11).spawn(3)
    np.testing.assert_array_equal(starts[1], model.random_params(np.random.default_rng(kids[1])))
    # a Generator spawns its children the same way for the same generator state
    g1 = fit(model, X, y, n_starts=2, rng=np.random.default_rng(5), max_iter=50)
    g2 = fit(model, X, y, n_starts=2, rng=np.random.default_rng(5), max_iter=50)
    np.testing.assert_array_equal(g1.params, g2.params)
    # explicit starts run first; the rest are random
    c = fit(model, X, y, start=starts[:2], n_starts=3, rng=11, max_iter=50)
    np.testing.assert_array_equal(c.starts[0].start, starts[0])
    np.testing.assert_array_equal(c.starts[2].start, starts[2])


def test_reducible_fit_exact_data_warns_and_returns():
    """Noise-free data of a 2-2-1 network fitted by 2-3-1 from the embedding with a zero output
    weight: the fit is exact, the third unit's incoming weights are unidentified (Fukumizu)."""
    m2 = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian(sigma=0.5))
    m3 = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=0.5))
    t2 = np.array([1.5, -1, -0.5, 2, 0.5, -0.5, 2, -1.5, 0.3])
    X = np.random.default_rng(8).standard_normal((300, 2))
    y = m2.architecture.forward(t2, X)[:, 0]
    emb = np.array([1.5, -1, -0.5, 2, 0.7, 0.2, 0.5, -0.5, 0.1, 2, -1.5, 0.0, 0.3])
    with pytest.warns(NonIdentifiableWarning, match="null-space dimension 3"):
        res = fit(m3, X, y, start=emb, rng=0)
    assert res.loglik == pytest.approx(-300 * math.log(0.5 * math.sqrt(2 * math.pi)))
    assert res.null_space_dim == 3
    unident = [n for n, ok in zip(m3.param_names, res.identified) if not ok]
    assert unident == ["W1_3_1", "W1_3_2", "b1_3"]
    se = res.stderr
    assert np.all(np.isnan(se[~res.identified])) and np.all(np.isfinite(se[res.identified]))
    assert "null-space dimension 3" in res.summary()
    assert math.isinf(res.condition_number)


def test_reducible_fit_noisy_data_returns():
    """Noisy 2-2-1 data fitted by 2-3-1: the fit returns (warning or not) and is no worse than
    the reducible embedding of the truth it started from."""
    m2 = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian(sigma=0.5))
    m3 = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=0.5))
    t2 = np.array([1.5, -1, -0.5, 2, 0.5, -0.5, 2, -1.5, 0.3])
    X, y = m2.simulate(t2, n=300, rng=0)
    emb = np.array([1.5, -1, -0.5, 2, 0.7, 0.2, 0.5, -0.5, 0.1, 2, -1.5, 0.0, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (NonIdentifiableWarning, ConvergenceWarning))
        res = fit(m3, X, y, start=emb, max_iter=200, rng=0)
    assert isinstance(res, FitResult)
    assert res.loglik >= m3.compile().loglik(emb, X, y)
    assert res.loglik >= m2.compile().loglik(t2, X, y)
    assert isinstance(res.summary(), str)


def test_collinear_design_nan_only_for_unidentified():
    rng = np.random.default_rng(9)
    x = rng.standard_normal(100)
    X = np.column_stack([x, x, rng.standard_normal(100)])  # columns 1 and 2 equal
    y = 2 * x + X[:, 2] - 1 + 0.3 * rng.standard_normal(100)
    model = sm.Model(sm.mlp(3, 1, activation="identity"), sm.Gaussian(sigma=0.3))
    with pytest.warns(NonIdentifiableWarning, match="W1_1_1, W1_1_2"):
        res = fit(model, X, y, rng=0)
    assert res.null_space_dim == 1
    np.testing.assert_allclose(np.abs(res.null_space[:, 0]), [2 ** -0.5, 2 ** -0.5, 0, 0],
                               atol=1e-8)
    Z = np.column_stack([x, X[:, 2], np.ones(100)])  # the identified reparametrisation
    cov = np.linalg.inv(Z.T @ Z) * 0.09
    se = res.stderr
    assert np.all(np.isnan(se[:2]))
    np.testing.assert_allclose(se[2:], np.sqrt(np.diag(cov))[1:], rtol=1e-7)
    np.testing.assert_allclose(res.params[0] + res.params[1],
                               np.linalg.lstsq(Z, y, rcond=None)[0][0], atol=1e-8)
    ci = res.conf_int()
    assert np.all(np.isnan(ci[:2])) and np.all(np.isfinite(ci[2:]))
    text = res.summary()
    assert "null-space dimension 1" in text and "rank 3 of 4" in text


# -------------------------------------------------------------- failure reporting
def test_separated_bernoulli_reports_that_the_mle_does_not_exist():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.1).astype(float)
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    with pytest.warns(ConvergenceWarning, match="does not exist"):
        res = fit(model, X, y, method="trust-exact", rng=0)
    assert not res.converged and "separated" in res.message
    assert "does not exist" in res.summary()
    # the direction of divergence is the separating one
    w = res.params[:2] / np.linalg.norm(res.params[:2])
    assert w @ (np.array([1.0, 0.5]) / np.linalg.norm([1.0, 0.5])) > 0.99


def test_non_convergence_is_reported():
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    X, y = model.simulate(THETA_STAR, n=300, rng=1)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = fit(model, X, y, max_iter=2, rng=0)
    assert not res.converged and not res.starts[0].converged
    assert res.n_iter == 2


def test_bad_arguments_are_refused():
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([1.0, 1.0, 0.0]), n=20, rng=0)
    with pytest.raises(SymmleValueError, match="method"):
        fit(model, X, y, method="bfgs")
    with pytest.raises(SymmleValueError, match="n_starts"):
        fit(model, X, y, n_starts=0)
    with pytest.raises(SymmleValueError, match="tol"):
        fit(model, X, y, tol=0.0)
    with pytest.raises(SymmleTypeError, match="max_iter"):
        fit(model, X, y, max_iter=1.5)
    with pytest.raises(ParamsError, match="start"):
        fit(model, X, y, start=np.zeros(4))
    with pytest.raises(DataError):
        fit(model, X, y + 0.5)
    with pytest.raises(SymmleTypeError, match="model"):
        fit("model", X, y)
    with pytest.raises(SymmleTypeError, match="rng"):
        fit(model, X, y, rng="seed")
    res = fit(model, X, y, rng=0)
    with pytest.raises(SymmleValueError, match="alpha"):
        res.conf_int(1.5)
    with pytest.raises(SymmleValueError, match="kind"):
        res.cov(kind="sandwich")
    with pytest.raises(SymmleValueError, match="method"):
        res.conf_int(method="bootstrap")


def test_profile_intervals_are_delegated(monkeypatch):
    calls = []

    def fake(model, X, y, theta_hat, *, alpha, loglik, information):
        calls.append((model, X, y, theta_hat, alpha, loglik, information))
        return "profile"

    from symmle.fitting import _result as fitting_result

    monkeypatch.setattr(fitting_result, "profile_intervals", fake)
    model = sm.Model(sm.mlp(1, 1), sm.Poisson())
    X, y = model.simulate(np.array([0.5, 0.1]), n=50, rng=0)
    res = fit(model, X, y, rng=0)
    assert res.conf_int(0.1, method="profile") == "profile"
    assert len(calls) == 1
    got = calls[0]
    want = (res.model, res.X, res.y, res.params, 0.1, res.loglik, res.information)
    assert all(a is b or a == b for a, b in zip(got, want))


def test_fitting_does_not_import_identifiability():
    # one direction of data: identifiability is above fitting, never the other way
    pkg = Path(fitting_profile.__file__).parent
    for path in sorted(pkg.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any("identifiability" in n for n in names), (path.name, names)


# --------------------------------------------------------------- profile likelihood
def logistic_profile_interval(X, y, j, alpha):
    """Profile interval of coefficient j of logistic regression, written from scratch."""
    Z = np.column_stack([X, np.ones(len(y))])

    def nll(beta):
        eta = Z @ beta
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    def grad(beta):
        return Z.T @ (sps.expit(Z @ beta) - y)

    full = so.minimize(nll, np.zeros(Z.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-10})
    others = [k for k in range(Z.shape[1]) if k != j]

    def prof(t):
        def f(z):
            b = np.empty(Z.shape[1]); b[others] = z; b[j] = t
            return nll(b), grad(b)[others]
        r = so.minimize(f, full.x[others], jac=True, method="BFGS", options={"gtol": 1e-10})
        return 2 * (r.fun - full.fun) - st.chi2.ppf(1 - alpha, 1)

    b = full.x[j]
    return so.brentq(prof, b - 5, b), so.brentq(prof, b, b + 5)


def test_profile_interval_of_logistic_coefficient_matches_independent_profile():
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([0.8, -0.4, 0.2]), n=400, rng=3)
    res = sm.fit(model, X, y)
    ci = profile_conf_int(res, 0.05, params=["W1_1_1", "W1_1_2"])
    for k, j in enumerate([0, 1]):
        lo, hi = logistic_profile_interval(X, y, j, 0.05)
        assert ci[k] == pytest.approx([lo, hi], abs=1e-5)
    # profile intervals are not the Wald ones, but close for a regular GLM at n = 400
    wald = res.conf_int(0.05)[:2]
    assert np.allclose(ci, wald, atol=0.05) and not np.allclose(ci, wald, atol=1e-4)
    full = res.conf_int(0.05, method="profile")
    assert full.shape == (3, 2) and np.allclose(full[:2], ci, atol=1e-7)


def test_profile_curve_matches_the_deviance_of_the_independent_profile():
    model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([1.0, -0.5]), n=300, rng=0)
    res = sm.fit(model, X, y)
    pr = profile(res, "W1_1_1", values=[0.6, 1.0, 1.4])
    Z = np.column_stack([X[:, 0], np.ones(300)])
    for t, ll in zip(pr.values, pr.loglik):
        best = so.minimize_scalar(lambda c: np.sum(np.logaddexp(0, t * Z[:, 0] + c)
                                                   - y * (t * Z[:, 0] + c)))
        assert ll == pytest.approx(-best.fun, abs=1e-6)
    assert not pr.flat and pr.deviance.min() >= -1e-6


def test_relu_rescaling_gives_unbounded_profile_interval():
    model = sm.Model(sm.mlp(1, 2, 1, activation="relu"), sm.Gaussian(sigma=0.5))
    theta = np.array([1.0, -1.0, 0.3, 0.2, 1.5, -1.0, 0.1])
    X, y = model.simulate(theta, n=200, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.NonIdentifiableWarning)
        res = sm.fit(model, X, y, start=theta)
    with pytest.warns(sm.NonIdentifiableWarning, match="W2_1_1"):
        ci = profile_conf_int(res, params=["W2_1_1"], max_steps=8)
    assert ci[0, 1] == math.inf and ci[0, 0] < res.params[4]


def test_profile_rejects_results_without_data_and_bad_params():
    model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([1.0, -0.5]), n=100, rng=0)
    res = sm.fit(model, X, y)
    with pytest.raises(ValueError, match="not one of the model's parameters"):
        profile(res, "nope")
    with pytest.raises(TypeError, match="FitResult"):
        profile_conf_int(res.params)
    with pytest.raises(ValueError, match="alpha"):
        profile_conf_int(res, alpha=1.5)



def test_array_level_profiles_are_what_the_result_wrappers_compute():
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([0.8, -0.4, 0.2]), n=300, rng=1)
    res = fit(model, X, y, rng=0)
    parts = dict(loglik=res.loglik, information=res.information)
    ci = profile_intervals(model, X, y, res.params, ["W1_1_2", 0], alpha=0.1, **parts)
    np.testing.assert_array_equal(ci, profile_conf_int(res, 0.1, params=["W1_1_2", 0]))
    np.testing.assert_array_equal(profile_intervals(model, X, y, res.params, **parts),
                                  res.conf_int(method="profile"))
    pr = profile_likelihood(model, X, y, res.params, "b1_1", n_points=4, **parts)
    ref = profile(res, "b1_1", n_points=4)
    assert (pr.param, pr.index, pr.estimate, pr.loglik_max) == \
        (ref.param, ref.index, ref.estimate, ref.loglik_max)
    for name in ("values", "loglik", "params"):
        np.testing.assert_array_equal(getattr(pr, name), getattr(ref, name))
    # a result loaded from JSON has no data, but its estimate can still be profiled with them
    back = FitResult.from_json(res.to_json())
    with pytest.raises(SymmleValueError, match="no data"):
        profile_conf_int(back)
    np.testing.assert_array_equal(
        profile_intervals(model, X, y, back.params, [2], loglik=back.loglik,
                          information=back.information),
        profile_conf_int(res, params=[2]))


def test_array_level_profiles_check_their_arguments():
    model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
    X, y = model.simulate(np.array([1.0, -0.5]), n=100, rng=0)
    theta = np.array([1.0, -0.5])
    with pytest.raises(SymmleTypeError, match="model"):
        profile_intervals("model", X, y, theta)
    with pytest.raises(ParamsError, match="theta_hat"):
        profile_intervals(model, X, y, np.zeros(3))
    with pytest.raises(DataError):
        profile_intervals(model, X, y + 0.5, theta)
    with pytest.raises(SymmleValueError, match="information"):
        profile_intervals(model, X, y, theta, information=np.eye(3))
    with pytest.raises(SymmleValueError, match="max_steps"):
        profile_intervals(model, X, y, theta, max_steps=0)
    with pytest.raises(SymmleTypeError, match="max_steps"):
        profile_intervals(model, X, y, theta, max_steps=2.5)
    with pytest.raises(SymmleTypeError, match="n_points"):
        profile_likelihood(model, X, y, theta, 0, n_points=2.5)
    with pytest.raises(SymmleValueError, match="param"):
        profile_likelihood(model, X, y, theta, 2)
    with pytest.raises(SymmleTypeError, match="param"):
        profile_likelihood(model, X, y, theta, 1.0)

# --------------------------------------------------------------------------- JSON
def test_json_round_trip(tmp_path, net_fit):
    model, X, y, res = net_fit
    path = tmp_path / "fit.json"
    text = res.to_json(path)
    assert json.loads(text)["schema"] == "symmle.FitResult"
    for back in (FitResult.from_json(text), FitResult.from_json(path)):
        assert back.X is None and back.y is None
        np.testing.assert_array_equal(back.params, res.params)
        assert back.loglik == res.loglik and back.converged == res.converged
        assert back.n_iter == res.n_iter and back.n_obs == res.n_obs
        assert back.model.param_names == model.param_names
        assert back.model.family == model.family
        np.testing.assert_array_equal(back.cov, res.cov)
        np.testing.assert_array_equal(back.cov(kind="observed"), res.cov(kind="observed"))
        assert back.summary() == res.summary()
        assert [s.loglik for s in back.starts] == [s.loglik for s in res.starts]
        np.testing.assert_array_equal(back.starts[3].start, res.starts[3].start)
        # the rebuilt model computes the same likelihood
        assert back.model.compile().loglik(back.params, X, y) == pytest.approx(res.loglik)
    assert FitResult.from_json(FitResult.from_json(text).to_json()).to_json() == text


def test_json_rejects_bad_documents(net_fit):
    doc = json.loads(net_fit[3].to_json())
    for change, match in [
        (lambda d: d.update(schema="other"), "schema"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.pop("params"), "params"),
        (lambda d: d.update(params=d["params"][:-1]), "shape"),
        (lambda d: d.update(converged="yes"), "converged"),
        (lambda d: d.update(family={"name": "cauchy"}), "family"),
        (lambda d: d.update(param_names=["a"]), "param_names"),
        (lambda d: d["starts"][0].pop("n_iter"), "starts"),
        (lambda d: d.update(information=[[1.0]]), "information"),
    ]:
        bad = json.loads(json.dumps(doc))
        change(bad)
        with pytest.raises(PersistenceError, match=match):
            FitResult.from_json(json.dumps(bad))
    with pytest.raises(PersistenceError, match="JSON"):
        FitResult.from_json("{not json")


def test_result_is_frozen(net_fit):
    res = net_fit[3]
    with pytest.raises(Exception):
        res.loglik = 0.0
    with pytest.raises(ValueError):
        res.params[0] = 1.0
    assert isinstance(res.cov + 0, np.ndarray) and not callable(res.cov + 0)


# ---------------------------------------------------------------------------- CSV
def test_load_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,y,b\n1,0,2.5\n\n-3,1,4e-1\n")
    X, y, names = load_csv(p)
    np.testing.assert_array_equal(X, [[1, 2.5], [-3, 0.4]])
    np.testing.assert_array_equal(y, [0, 1])
    assert names == ("a", "b")
    X, Y, names = load_csv(p, target=["a", "y"], features=["b"])
    assert X.shape == (2, 1) and Y.shape == (2, 2) and names == ("b",)


@pytest.mark.parametrize("text, kw, match", [
    ("a,b\n1,2\n", {}, r"target column\(s\) \['y'\] not found"),
    ("a,y\n1,x\n", {}, r"line 2, column 'y': the cell 'x' is not a number"),
    ("a,y\n1,2\n3,\n", {}, r"line 3, column 'y': the cell is empty"),
    ("a,y\n1,2,3\n", {}, "3 cells"),
    ("a,y\n1,nan\n", {}, "not finite"),
    ("a,a,y\n1,2,3\n", {}, "appears twice"),
    ("", {}, "empty"),
    ("a,y\n", {}, "no data rows"),
    ("a,y\n1,2\n", {"features": ["c"]}, "feature column"),
    ("y\n1\n", {}, "no feature columns"),
])
def test_load_csv_errors(tmp_path, text, kw, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        load_csv(p, **kw)


def test_load_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot open"):
        load_csv(tmp_path / "nope.csv")
