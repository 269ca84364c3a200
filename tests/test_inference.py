"""Tests of inference on real data (issue 18): penalised fits against scikit-learn, textbook GLMs
against statsmodels (estimates, expected and HC0 standard errors, predictions, Wald and LR
tests, AIC/BIC), diagnostics (separation by linear programming, saturation, divergence,
interpolation), predictions and functionals under the symmetry group, column names, the
canonical form, JSON, and the calibration of prediction intervals and of the bootstrap LR test.

Like with like: statsmodels' OLS estimates σ² by RSS/(n − p) and uses t quantiles, the MLE by
RSS/n with normal quantiles. The OLS comparisons therefore use statsmodels' GLM(Gaussian) with
its scale fixed at the MLE's σ̂² = RSS/n (z tests), and rescale OLS's standard errors by
√((n − p)/n). statsmodels' AIC/BIC of OLS do not count σ; ours count it (it is an identified
parameter), so they differ by exactly 2 and log n.
"""

import dataclasses
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

import symmle as sm
from symmle.errors import ConvergenceWarning, NonIdentifiableWarning, SymmleValueError
from symmle.fitting import FitResult, Prediction, TestResult, fit
from symmle.fitting._problem import _Problem

smx = pytest.importorskip("statsmodels.api")
datasets = pytest.importorskip("sklearn.datasets")
pd = pytest.importorskip("pandas")

#: agreement with statsmodels (relative, on the textbook GLMs).
RTOL = 1e-6


def standardise(X):
    return (X - X.mean(0)) / X.std(0)


def quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (NonIdentifiableWarning, ConvergenceWarning))
        return fit(*args, **kw)


def glm_order(p):
    """statsmodels' [const, x1..xp] → symmle's [W1_1_1..W1_1_p, b1_1]."""
    return list(range(1, p + 1)) + [0]


# ---------------------------------------------------------------- OLS (diabetes)
@pytest.fixture(scope="module")
def diabetes():
    d = datasets.load_diabetes(as_frame=True)
    return d.data, d.target


@pytest.fixture(scope="module")
def ols_fits(diabetes):
    X, y = diabetes
    n, p = X.shape
    model = sm.Model(sm.mlp(p, 1, activation="identity"), sm.Gaussian())
    res = fit(model, X, y, rng=0, tol=1e-14)
    Z = smx.add_constant(X.to_numpy())
    ols = smx.OLS(y.to_numpy(), Z).fit()
    glm = smx.GLM(y.to_numpy(), Z, family=smx.families.Gaussian()).fit(scale=ols.ssr / n)
    hc0 = smx.OLS(y.to_numpy(), Z).fit(cov_type="HC0")
    return model, res, ols, glm, hc0


def test_ols_estimates_errors_and_criteria_match_statsmodels(ols_fits, diabetes):
    model, res, ols, glm, hc0 = ols_fits
    X, y = diabetes
    n, p = X.shape
    o = glm_order(p)
    np.testing.assert_allclose(res.params[:p + 1], ols.params[o], rtol=RTOL)
    assert res.sigma ** 2 == pytest.approx(ols.ssr / n, rel=1e-12)
    # expected information with σ̂² = RSS/n: statsmodels' GLM at that scale; OLS rescaled
    np.testing.assert_allclose(res.stderr[:p + 1], glm.bse[o], rtol=RTOL)
    np.testing.assert_allclose(res.stderr[:p + 1], ols.bse[o] * math.sqrt((n - p - 1) / n),
                               rtol=RTOL)
    # HC0 needs no σ at all
    np.testing.assert_allclose(np.sqrt(np.diag(res.covariance("robust")))[:p + 1], hc0.bse[o],
                               rtol=RTOL)
    assert res.loglik == pytest.approx(ols.llf, rel=1e-12)
    # σ is one more identified parameter than statsmodels counts
    assert res.aic == pytest.approx(ols.aic + 2, rel=1e-12)
    assert res.bic == pytest.approx(ols.bic + math.log(n), rel=1e-12)


def test_ols_predictions_match_statsmodels(ols_fits, diabetes):
    model, res, ols, glm, hc0 = ols_fits
    X, y = diabetes
    n, p = X.shape
    new = X.iloc[::40]
    pred = res.get_prediction(new, alpha=0.1)
    Zn = smx.add_constant(new.to_numpy(), has_constant="add")
    g = glm.get_prediction(Zn)
    np.testing.assert_allclose(pred.mean, g.predicted_mean, rtol=1e-9)
    np.testing.assert_allclose(pred.se, g.se_mean, rtol=RTOL)
    np.testing.assert_allclose(pred.conf_int(), g.conf_int(alpha=0.1), rtol=RTOL)
    # prediction interval: mean ± z·√(se² + σ̂²), the MLE's version of OLS's obs interval
    o = ols.get_prediction(Zn).summary_frame(alpha=0.1)
    se_obs = np.sqrt((o["mean_se"].to_numpy() * math.sqrt((n - p - 1) / n)) ** 2 + ols.ssr / n)
    z = st.norm.ppf(0.95)
    np.testing.assert_allclose(pred.pred_int(),
                               np.column_stack([o["mean"] - z * se_obs, o["mean"] + z * se_obs]),
                               rtol=RTOL)
    frame = pred.summary_frame()
    assert list(frame.columns) == ["mean", "mean_se", "mean_ci_lower", "mean_ci_upper",
                                   "obs_ci_lower", "obs_ci_upper"]
    np.testing.assert_allclose(res.predict(new), pred.mean)


def test_ols_wald_lr_and_relevance_match_statsmodels(ols_fits, diabetes):
    model, res, ols, glm, hc0 = ols_fits
    X, y = diabetes
    n, p = X.shape
    t = res.wald_test(["W1_1[bmi]", "W1_1[bp]"])
    R = np.zeros((2, p + 1))
    R[0, 3] = R[1, 4] = 1.0  # bmi, bp behind the constant
    ws = glm.wald_test(R, scalar=True)
    assert isinstance(t, TestResult) and t.df == 2
    assert t.statistic == pytest.approx(float(ws.statistic), rel=RTOL)
    assert t.pvalue == pytest.approx(float(ws.pvalue), rel=1e-5)
    # LR test against the model without bmi and bp
    keep = [c for c in X.columns if c not in ("bmi", "bp")]
    small = sm.Model(sm.mlp(p - 2, 1, activation="identity"), sm.Gaussian())
    r0 = fit(small, X[keep], y, rng=0, tol=1e-14)
    lr = sm.lr_test(r0, res)
    stat, pval, df = ols.compare_lr_test(smx.OLS(y.to_numpy(),
                                                 smx.add_constant(X[keep].to_numpy())).fit())
    assert lr.df == df == 2
    assert lr.statistic == pytest.approx(stat, rel=RTOL)
    assert lr.pvalue == pytest.approx(pval, rel=1e-5)
    # input relevance: one weight per input, the z test squared; the LR by refitting
    rel = sm.input_relevance(res)
    row = {r["input"]: r for r in rel.rows}["bmi"]
    assert row["statistic"] == pytest.approx(float(glm.tvalues[3]) ** 2, rel=RTOL)
    assert "bmi" in str(rel)
    rel_lr = sm.input_relevance(res, method="lr")
    drop = smx.OLS(y.to_numpy(), smx.add_constant(X.drop(columns="bmi").to_numpy())).fit()
    want = ols.compare_lr_test(drop)[0]
    assert {r["input"]: r for r in rel_lr.rows}["bmi"]["statistic"] == pytest.approx(want,
                                                                                    rel=1e-6)


# --------------------------------------------------------- Logit (breast cancer)
@pytest.fixture(scope="module")
def breast():
    d = datasets.load_breast_cancer(as_frame=True)
    X = d.data.iloc[:, :4]
    return (X - X.mean()) / X.std(ddof=0), d.target.rename("benign")


def test_logit_is_not_separated_and_matches_statsmodels(breast):
    X, y = breast
    n, p = X.shape
    model = sm.Model(sm.mlp(p, 1), sm.Bernoulli())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not separated: no warning at all
        res = fit(model, X, y, rng=0, tol=1e-14)
    assert res.converged and res.diagnostics == ()
    Z = smx.add_constant(X.to_numpy())
    lg = smx.Logit(y.to_numpy(), Z).fit(disp=0, method="newton", tol=1e-14, maxiter=100)
    hc = smx.Logit(y.to_numpy(), Z).fit(disp=0, method="newton", tol=1e-14, maxiter=100,
                                       cov_type="HC0")
    o = glm_order(p)
    np.testing.assert_allclose(res.params, lg.params[o], rtol=RTOL)
    np.testing.assert_allclose(res.stderr, lg.bse[o], rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(res.covariance("robust"))), hc.bse[o], rtol=RTOL)
    assert res.aic == pytest.approx(lg.aic, rel=1e-12)
    assert res.bic == pytest.approx(lg.bic, rel=1e-12)
    # predictions: the delta-method standard error of the probability
    gl = smx.GLM(y.to_numpy(), Z, family=smx.families.Binomial()).fit(tol=1e-14)
    gp = gl.get_prediction(Z[:20])
    pred = res.get_prediction(X.iloc[:20])
    np.testing.assert_allclose(pred.mean, gp.predicted_mean, rtol=1e-8)
    np.testing.assert_allclose(pred.se, gp.se_mean, rtol=RTOL)
    # Wald and LR tests
    w = res.wald_test(["W1_1[mean texture]"])
    assert w.statistic == pytest.approx(float(lg.tvalues[2]) ** 2, rel=RTOL)
    small = sm.Model(sm.mlp(p - 1, 1), sm.Bernoulli())
    r0 = fit(small, X.drop(columns="mean texture"), y, rng=0, tol=1e-14)
    lg0 = smx.Logit(y.to_numpy(), smx.add_constant(X.drop(columns="mean texture").to_numpy())
                    ).fit(disp=0, method="newton", tol=1e-14)
    lr = sm.lr_test(r0, res)
    assert lr.statistic == pytest.approx(2 * (lg.llf - lg0.llf), rel=1e-6)
    assert lr.pvalue == pytest.approx(st.chi2.sf(2 * (lg.llf - lg0.llf), 1), rel=1e-5)
    assert "response: benign" in res.summary()


# ------------------------------------------------------------ Poisson (randhie)
def test_poisson_randhie_robust_errors_match_statsmodels_hc0():
    r = smx.datasets.randhie.load_pandas()
    X, y = r.exog, r.endog
    p = X.shape[1]
    model = sm.Model(sm.mlp(p, 1), sm.Poisson())
    res = fit(model, X, y, rng=0, tol=1e-14, cov_type="robust")
    Z = smx.add_constant(X.to_numpy())
    g = smx.GLM(y.to_numpy(), Z, family=smx.families.Poisson()).fit(tol=1e-14)
    gh = smx.GLM(y.to_numpy(), Z, family=smx.families.Poisson()).fit(tol=1e-14, cov_type="HC0")
    o = glm_order(p)
    np.testing.assert_allclose(res.params, g.params[o], rtol=RTOL)
    np.testing.assert_allclose(res.stderr, gh.bse[o], rtol=RTOL)  # cov_type="robust"
    np.testing.assert_allclose(np.sqrt(np.diag(res.covariance("expected"))), g.bse[o],
                               rtol=RTOL)
    ratio = res.stderr / np.sqrt(np.diag(res.covariance("expected")))
    assert 2.0 < np.median(ratio) < 3.0  # ~6x over-dispersed counts: ~2.5x wider
    assert res.aic == pytest.approx(g.aic, rel=1e-12)
    assert res.loglik == pytest.approx(g.llf, rel=1e-12)
    gp = gh.get_prediction(Z[:5])
    np.testing.assert_allclose(res.get_prediction(X.iloc[:5]).se, gp.se_mean, rtol=RTOL)
    assert "robust (HC0" in res.summary()
    # the robust covariance survives JSON without the data
    back = FitResult.from_json(res.to_json())
    np.testing.assert_allclose(back.stderr, res.stderr, rtol=1e-12)


# ------------------------------------------------------------- MNLogit (anes96)
def test_mnlogit_reference_class_matches_statsmodels():
    d = smx.datasets.anes96.load_pandas().data
    X, y = d[["logpopul", "selfLR", "age", "educ", "income"]], d["PID"].astype(int)
    p, K = X.shape[1], int(y.max()) + 1
    model = sm.Model(sm.mlp(p, K - 1), sm.Categorical(reference=True))
    res = fit(model, X, y, rng=0, tol=1e-14, cov_type="robust")
    Z = smx.add_constant(X.to_numpy())
    mn = smx.MNLogit(y.to_numpy(), Z).fit(disp=0, method="newton", tol=1e-14, maxiter=200)
    hc = smx.MNLogit(y.to_numpy(), Z).fit(disp=0, method="newton", tol=1e-14, maxiter=200,
                                         cov_type="HC0")
    nw = (K - 1) * p

    def ours(v):  # [W (K-1 × p) row-major, b] → statsmodels' (p+1) × (K-1)
        return np.vstack([v[nw:], v[:nw].reshape(K - 1, p).T])

    np.testing.assert_allclose(ours(res.params), mn.params, rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(ours(np.sqrt(np.diag(res.covariance("expected")))), mn.bse,
                               rtol=RTOL)
    np.testing.assert_allclose(ours(res.stderr), hc.bse, rtol=RTOL)
    assert res.aic == pytest.approx(mn.aic, rel=1e-12)
    assert res.bic == pytest.approx(mn.bic, rel=1e-12)
    # predictions of all K class probabilities, against central differences of statsmodels'
    pred = quiet(model, X, y, rng=0, tol=1e-14).get_prediction(X.iloc[:3])
    assert pred.mean.shape == pred.se.shape == (3, K)
    theta = np.asarray(mn.params)
    flat = theta.ravel(order="F")  # cov_params is ordered equation by equation
    G = np.empty((3 * K, flat.size))
    for j in range(flat.size):
        e = np.zeros(flat.size)
        e[j] = 1e-6
        up = mn.model.predict((flat + e).reshape(theta.shape, order="F"), exog=Z[:3])
        dn = mn.model.predict((flat - e).reshape(theta.shape, order="F"), exog=Z[:3])
        G[:, j] = ((up - dn) / 2e-6).ravel()
    se = np.sqrt(np.einsum("ip,pq,iq->i", G, np.asarray(mn.cov_params()), G))
    np.testing.assert_allclose(pred.se.ravel(), se, rtol=1e-5)
    np.testing.assert_allclose(pred.mean.sum(axis=1), 1.0)


# --------------------------------------------------------------- diagnostics
def test_separation_is_decided_by_linear_programming():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.1).astype(float)
    model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
    with pytest.warns(ConvergenceWarning, match="does not exist"):
        res = fit(model, X, y, rng=0)
    assert not res.converged and "linear-programming" in res.message
    # a penalty bounds the weights: the penalised MLE exists, and only the biases are searched
    res = quiet(model, X, y, rng=0, penalty=1.0)
    assert res.converged and res.diagnostics == ()
    # iris with all four features is separated (setosa), with sepal width alone it is not
    iris = datasets.load_iris()
    m4 = sm.Model(sm.mlp(4, 3), sm.Categorical())
    assert not quiet(m4, iris.data, iris.target, rng=0).converged
    m1 = sm.Model(sm.mlp(1, 3), sm.Categorical())
    assert quiet(m1, iris.data[:, 1:2], iris.target, rng=0).converged
    # the support comes from the family: multi-output Bernoulli, reference-class Categorical
    pb = _Problem(sm.Model(sm.mlp(1, 2), sm.Categorical(reference=True)), iris.data[:, 1:2],
                  iris.target)
    from symmle.fitting._diagnostics import _support
    np.testing.assert_array_equal(_support(pb.family, pb.y, 2), [[0, 0], [0, 1], [1, 0]])


def test_gaussian_interpolation_warns_and_says_why():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 2))
    y = rng.standard_normal(6)
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())  # 13 network parameters, 6 rows
    with pytest.warns(ConvergenceWarning, match="interpolates"):
        res = fit(model, X, y, rng=0, n_starts=2)
    assert not res.converged
    assert "does not exist" in res.message and "σ → 0" in res.message
    assert "interpolates" in res.summary()


def test_saturated_units_and_diverging_weights_are_named_with_advice():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 2))
    model = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian(sigma=0.5))
    theta = np.array([300.0, 300.0, 1.0, -1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    _, y = model.simulate(theta, n=300, rng=3, X=X)
    with pytest.warns(ConvergenceWarning, match="saturated hidden units"):
        res = fit(model, X, y, start=theta, max_iter=1)
    text = res.summary()
    assert "saturated hidden units" in text and "penalty" in text
    # two units that cancel each other with large output weights
    theta = np.array([1.0, 0.0, 1.0, 1e-4, 0.0, 0.0, 5e4, -5e4, 0.0])
    with pytest.warns(ConvergenceWarning, match="diverging weights"):
        res = fit(model, X, y, start=theta, max_iter=1)
    assert "W2_1_" in [d for d in res.diagnostics if "diverging" in d][0]


# ------------------------------------------------- penalised fits against sklearn
def sklearn_theta(m):
    return np.concatenate([np.concatenate([W.T.ravel(), b])
                           for W, b in zip(m.coefs_, m.intercepts_)])


def sklearn_best(X, y, hidden, alpha, classifier, n_seeds=10):
    nn = pytest.importorskip("sklearn.neural_network")
    cls = nn.MLPClassifier if classifier else nn.MLPRegressor
    out = []
    for seed in range(n_seeds):
        m = cls(hidden_layer_sizes=(hidden,), activation="tanh", solver="lbfgs", alpha=alpha,
                max_iter=20000, tol=1e-12, max_fun=100000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, y)
        out.append(m)
    return out


def penalised_objective(model, theta, X, y, lam):
    from symmle.fitting._problem import penalised_mask
    w = theta[penalised_mask(model)]
    return model.compile().loglik(theta, X, y) - 0.5 * lam * float(w @ w)


def test_penalty_is_sklearns_objective_in_total_sum_units():
    """sklearn minimises L = Σ(y − f)²/(2n) + α/(2n)·Σw² (MLPRegressor; the mean log-loss for
    MLPClassifier), so n·L = −ℓ + (α/2)·Σw² − (n/2)·log 2π for Gaussian(sigma=1.0) and
    n·L = −ℓ + (α/2)·Σw² for Bernoulli: penalty = α exactly."""
    d = datasets.load_diabetes()
    X, y = standardise(d.data), standardise(d.target)
    n = len(y)
    (m,) = sklearn_best(X, y, 3, 2.0, False, n_seeds=1)
    model = sm.Model(sm.mlp(10, 3, 1), sm.Gaussian(sigma=1.0))
    ours = penalised_objective(model, sklearn_theta(m), X, y, 2.0)
    assert -n * m.loss_ - 0.5 * n * math.log(2 * math.pi) == pytest.approx(ours, rel=1e-10)
    b = datasets.load_breast_cancer()
    Xb = standardise(b.data[:, :5])
    (m,) = sklearn_best(Xb, b.target, 2, 2.0, True, n_seeds=1)
    model = sm.Model(sm.mlp(5, 2, 1), sm.Bernoulli())
    ours = penalised_objective(model, sklearn_theta(m), Xb, b.target, 2.0)
    assert -len(b.target) * m.loss_ == pytest.approx(ours, rel=1e-10)


def newton_decrement(res, X, y):
    """½ gᵀ A⁺ g of the penalised objective at each start's end (the gain a Newton step
    predicts), A equilibrated and pseudo-inverted at the information rule's matrix tolerance
    (the softmax shift leaves A singular)."""
    pb = _Problem(res.model, X, y, res.penalty)
    out = []
    for s in res.starts:
        v = pb.penalised_derivatives(np.array(s.params), ("score", "fisher"))
        g, A = v["score"], v["fisher"]
        d = 1.0 / np.sqrt(np.where(np.diag(A) > 0, np.diag(A), 1.0))
        At = A * d[:, None] * d[None, :]
        out.append(0.5 * float((g * d) @ np.linalg.pinv(At, rcond=1e-10, hermitian=True)
                               @ (g * d)))
    return np.array(out)


REAL_CASES = {
    "diabetes": ("diabetes", 3, sm.Gaussian(sigma=1.0)),
    "breast": ("breast_cancer", 2, sm.Bernoulli()),
    "iris": ("iris", 3, sm.Categorical()),
    "wine": ("wine", 3, sm.Categorical()),
}


@pytest.mark.parametrize("case", [
    "diabetes", "breast",
    pytest.param("iris", marks=pytest.mark.slow), pytest.param("wine", marks=pytest.mark.slow)])
def test_penalised_fit_reaches_sklearns_objective(case):
    loader, hidden, family = REAL_CASES[case]
    d = getattr(datasets, f"load_{loader}")()
    X = standardise(d.data if case != "breast" else d.data[:, :5])
    y = standardise(d.target) if family.least_squares else d.target
    K = len(np.unique(y)) if family.shift_invariant else 1
    lam = 1.0
    model = sm.Model(sm.mlp(X.shape[1], hidden, K), family)
    res = quiet(model, X, y, n_starts=10, rng=0, penalty=lam)
    assert all(s.converged for s in res.starts)
    assert np.all(newton_decrement(res, X, y) < 1e-6)  # every start is stationary
    best = max(penalised_objective(model, sklearn_theta(m), X, y, lam)
               for m in sklearn_best(X, y, hidden, lam, not family.least_squares))
    assert res.objective >= best - 1e-7 * abs(best)
    assert res.converged and f"penalty = {lam:g}" in res.summary()


def test_effective_degrees_of_freedom():
    d = datasets.load_diabetes()
    X, y = standardise(d.data), standardise(d.target)
    model = sm.Model(sm.mlp(10, 1, activation="identity"), sm.Gaussian(sigma=1.0))
    Z = np.column_stack([X, np.ones(len(y))])
    D = np.diag([1.0] * 10 + [0.0])
    for lam in (0.0, 10.0, 1000.0):
        res = quiet(model, X, y, rng=0, penalty=lam, tol=1e-14)
        # ridge regression: θ̂ = (ZᵀZ + λD)⁻¹Zᵀy and edf = tr[(ZᵀZ + λD)⁻¹ZᵀZ]
        A = Z.T @ Z + lam * D
        np.testing.assert_allclose(res.params, np.linalg.solve(A, Z.T @ y), rtol=1e-8,
                                   atol=1e-12)
        assert res.effective_df == pytest.approx(np.trace(np.linalg.solve(A, Z.T @ Z)),
                                                 rel=1e-8)
        # the penalised estimator's covariance A⁻¹ I A⁻¹
        Ai = np.linalg.inv(A)
        np.testing.assert_allclose(res.cov, Ai @ Z.T @ Z @ Ai, rtol=1e-7, atol=1e-14)
    assert res.effective_df < 11


def test_penalised_methods_agree():
    d = datasets.load_diabetes()
    X, y = standardise(d.data), standardise(d.target)
    model = sm.Model(sm.mlp(10, 2, 1), sm.Gaussian(sigma=1.0))
    start = model.random_params(0)
    a = quiet(model, X, y, start=start, penalty=3.0, refine=False)
    for method in ("trf", "trust-exact"):
        b = quiet(model, X, y, start=start, penalty=3.0, method=method, refine=False)
        assert b.objective == pytest.approx(a.objective, rel=1e-7)
    with pytest.raises(SymmleValueError, match="σ estimated"):
        fit(sm.Model(sm.mlp(10, 2, 1), sm.Gaussian()), X, y, penalty=1.0, method="lm")
    with pytest.raises(SymmleValueError, match="penalty"):
        fit(model, X, y, penalty=-1.0)


# ------------------------------------------- predictions, functionals, symmetries
@pytest.fixture(scope="module")
def net():
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    theta = np.array([1.5, -1, -0.5, 2, 1, 1, 0.5, -0.5, 0, 2, -1.5, 1, 0.3, np.log(0.5)])
    X, y = model.simulate(theta, n=500, rng=2)
    return model, X, y, quiet(model, X, y, n_starts=4, rng=0)


def at(res, theta):
    """The fit moved to θ with the information recomputed there from the data."""
    cm = res.model.compile()
    return dataclasses.replace(res, params=theta, information=cm.fisher(theta, res.X),
                               information_root_=None)


def test_predictions_are_invariant_under_the_symmetry_group(net):
    model, X, y, res = net
    G = sm.symmetry_group(model.architecture)
    X0 = np.random.default_rng(5).standard_normal((7, 2))
    ref = res.get_prediction(X0)
    assert np.all(ref.estimable) and np.all(ref.se > 0)
    for k in range(5):
        g = G.random_element(k)
        other = at(res, g(res.params))
        pred = other.get_prediction(X0)
        np.testing.assert_allclose(pred.mean, ref.mean, rtol=1e-12)
        np.testing.assert_allclose(pred.se, ref.se, rtol=1e-7)
        np.testing.assert_allclose(pred.pred_int(), ref.pred_int(), rtol=1e-7)
        np.testing.assert_allclose(other.canonical().params, res.canonical().params, atol=1e-12)


def test_predictions_stay_valid_where_weights_are_not_identified():
    """ReLU rescaling: every weight of a unit is unidentified, the regression function is, and
    so are its predictions (their gradient is orthogonal to the rescaling directions)."""
    model = sm.Model(sm.mlp(1, 2, 1, activation="relu"), sm.Gaussian(sigma=0.2))
    theta = np.array([1.0, -1.0, 0.5, 0.5, 1.0, 2.0, 0.1])
    X, y = model.simulate(theta, n=400, rng=0)
    res = quiet(model, X, y, start=theta)
    assert res.null_space_dim == 2 and not np.any(res.identified[:6])
    X0 = np.array([[-1.0], [0.2], [1.5]])
    pred = res.get_prediction(X0)
    assert np.all(pred.estimable) and np.all(np.isfinite(pred.se)) and np.all(pred.se > 0)
    # the rescaled fit (a continuous symmetry) gives the same prediction and standard error
    c = np.array([3.0, 0.5])
    moved = np.array(res.params)
    moved[[0, 1]] *= c  # incoming weights (W1 is 2 × 1)
    moved[[2, 3]] *= c  # biases
    moved[[4, 5]] /= c  # outgoing weights
    other = at(res, moved).get_prediction(X0)
    np.testing.assert_allclose(other.mean, pred.mean, rtol=1e-10)
    np.testing.assert_allclose(other.se, pred.se, rtol=1e-5)


def test_functional_is_refused_unless_invariant_and_estimable(net):
    model, X, y, res = net
    arch = model.architecture
    x0 = np.array([[0.3, -0.2]])
    f = res.functional(lambda t: arch.forward(t[:13], x0)[0, 0], alpha=0.1)
    pred = res.get_prediction(x0, alpha=0.1)
    assert isinstance(f, Prediction)
    assert float(f.mean) == pytest.approx(pred.mean[0], rel=1e-12)
    assert float(f.se) == pytest.approx(pred.se[0], rel=1e-5)  # central differences
    np.testing.assert_allclose(f.conf_int(), pred.conf_int()[0], rtol=1e-5)

    def with_gradient(t):
        return arch.forward(t[:13], x0)[0, 0], np.append(model.compile().jacobian(t, x0)[0, 0],
                                                         0.0)

    assert float(res.functional(with_gradient).se) == pytest.approx(pred.se[0], rel=1e-9)
    with pytest.raises(SymmleValueError, match="not invariant"):
        res.functional(lambda t: t[9])  # one output weight: flips and swaps move it
    # the softmax shift: invariant under the (trivial) group, but not estimable
    cat = sm.Model(sm.mlp(2, 3), sm.Categorical())
    Xc, yc = cat.simulate(np.array([1.0, 0, 0, 1, -1, 1, 0.2, 0, -0.2]), n=300, rng=0)
    rc = quiet(cat, Xc, yc, rng=0)
    with pytest.raises(SymmleValueError, match="null space"):
        rc.functional(lambda t: t[6])
    assert np.isfinite(float(rc.functional(lambda t: t[6] - t[7]).se))
    with pytest.raises(SymmleValueError, match="not estimable"):
        rc.wald_test(["b1_1"])
    assert rc.wald_test(np.eye(9)[6] - np.eye(9)[7]).df == 1


# ------------------------------------------------------- names and canonical form
def test_dataframe_names_flow_into_names_summaries_predictions_and_json(diabetes, tmp_path):
    X, y = diabetes
    model = sm.Model(sm.mlp(10, 2, 1), sm.Gaussian())
    Xs = (X - X.mean()) / X.std(ddof=0)
    ys = (y - y.mean()) / y.std(ddof=0)
    res = quiet(model, Xs, ys, rng=0, n_starts=2, penalty=1.0)
    assert res.input_names == tuple(X.columns) and res.output_names == ("target",)
    assert res.param_names[:2] == ("W1_1[age]", "W1_1[sex]")
    assert model.param_names[:2] == ("W1_1_1", "W1_1_2")  # the architecture's symbols stay
    assert "W1_2[bmi]" in res.summary()
    # predictions match columns by name
    shuffled = Xs[list(reversed(X.columns))]
    np.testing.assert_allclose(res.predict(shuffled), res.predict(Xs.to_numpy()))
    with pytest.raises(sm.DataError, match="lacks the columns"):
        res.predict(Xs.drop(columns="bmi"))
    frame = res.get_prediction(Xs.iloc[:3]).summary_frame()
    assert len(frame) == 3
    back = FitResult.from_json(res.to_json(tmp_path / "fit.json"))
    assert back.param_names == res.param_names and back.penalty == 1.0
    assert back.summary() == res.summary()
    # pandas is never imported by the names module itself
    src = Path(sm.fitting._names.__file__).read_text(encoding="utf-8")
    assert "import pandas" not in src


def test_two_seeds_at_the_same_optimum_print_the_same_table():
    model = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian(sigma=0.3))
    theta = np.array([2.0, -1.0, 0.5, 1.5, 0.3, -0.4, 1.2, -0.8, 0.1])
    X, y = model.simulate(theta, n=2000, rng=0)
    fits = [quiet(model, X, y, n_starts=3, rng=s) for s in (0, 1, 2, 3)]
    raw = {tuple(np.round(f.params, 3)) for f in fits}
    texts = {"\n".join(f.summary().splitlines()[3:]) for f in fits}  # past the iteration counts
    assert len(raw) > 1 and len(texts) == 1
    assert fits[0].summary(canonical=False) != fits[0].summary() or len(raw) == 1


# ------------------------------------------------------------------ LR tests
def test_lr_test_warns_at_a_singular_nesting_and_compare_tabulates(net):
    model, X, y, res = net
    m2 = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian())
    r2 = quiet(m2, X, y, n_starts=4, rng=0)
    with pytest.warns(NonIdentifiableWarning, match="Fukumizu"):
        t = sm.lr_test(r2, res)
    assert t.df == 4 and t.statistic >= 0  # one more unit: 2 weights in, a bias, 1 out
    table = sm.compare(r2, res)
    assert [r["k"] for r in table.rows] == [10, 14]
    assert table.rows[1]["lr"] == pytest.approx(t.statistic)
    assert "AIC" in str(table)
    with pytest.raises(SymmleValueError, match="same rows"):
        sm.lr_test(r2, quiet(model, X[:-1], y[:-1], rng=0))


def _lr_pvalues(n_sets, n_boot, seed, n_jobs=1):
    """χ² and bootstrap p-values of 2 vs 3 tanh units, data from a 2-unit truth (a singular
    point of the 3-unit model). The 3-unit fit does not converge there (the spare unit's
    weights drift along an almost flat ridge), so it stops at 100 iterations; the bootstrap
    refits do the same, which is what it calibrates."""
    m2 = sm.Model(sm.mlp(1, 2, 1), sm.Gaussian(sigma=0.5))
    m3 = sm.Model(sm.mlp(1, 3, 1), sm.Gaussian(sigma=0.5))
    truth = np.array([2.0, -1.5, 0.5, 1.0, 1.5, 1.0, 0.2])
    X = np.linspace(-2, 2, 100)[:, None]
    chi2, boot = [], []
    for k, s in enumerate(np.random.SeedSequence(seed).spawn(n_sets)):
        _, y = m2.simulate(truth, n=100, rng=s, X=X)
        r2 = quiet(m2, X, y, n_starts=2, rng=k, max_iter=100)
        r3 = quiet(m3, X, y, n_starts=2, rng=k, max_iter=100)
        t = sm.lr_test(r2, r3, method="bootstrap", n_boot=n_boot, rng=k, n_jobs=n_jobs)
        boot.append(t.pvalue)
        # the naive reference: χ² with the 3 parameters one more unit adds (w, b, v)
        chi2.append(st.chi2.sf(t.statistic, 3))
    return np.array(chi2), np.array(boot)


def test_bootstrap_lr_short():
    chi2, boot = _lr_pvalues(3, 9, 0)
    assert np.all((boot > 0) & (boot <= 1)) and np.all((chi2 >= 0) & (chi2 <= 1))


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SYMMLE_LONG_TESTS"),
                    reason="long simulation (thousands of fits): set SYMMLE_LONG_TESTS=1")
def test_bootstrap_lr_is_calibrated_where_chi2_is_not():
    """At a reducible truth the χ² reference is wrong (the LR is stochastically larger:
    Fukumizu 2003); the parametric bootstrap's p-values are uniform within the binomial band
    of their empirical distribution function."""
    n_sets = 200
    chi2, boot = _lr_pvalues(n_sets, 39, 1)
    band = 3.0 * math.sqrt(0.25 / n_sets)
    grid = np.linspace(0.05, 0.95, 19)
    ecdf_boot = np.array([np.mean(boot <= u) for u in grid])
    print(f"\nLR at a reducible truth, {n_sets} data sets: P(χ² p ≤ 0.05) = "
          f"{np.mean(chi2 <= 0.05):.3f}, P(bootstrap p ≤ 0.05) = {np.mean(boot <= 0.05):.3f}, "
          f"max |ECDF − u| bootstrap {np.max(np.abs(ecdf_boot - grid)):.3f}, χ² "
          f"{np.max(np.abs([np.mean(chi2 <= u) - u for u in grid])):.3f} (band {band:.3f})")
    assert np.all(np.abs(ecdf_boot - grid) <= band + 1.0 / 40)  # + the bootstrap's 1/(B+1) step
    # χ²: visibly miscalibrated, outside the same band and rejecting too often at 5 %
    ecdf_chi2 = np.array([np.mean(chi2 <= u) for u in grid])
    assert np.max(np.abs(ecdf_chi2 - grid)) > band
    assert np.mean(chi2 <= 0.05) > 0.05 + 3.0 * math.sqrt(0.05 * 0.95 / n_sets)


# --------------------------------------------------- coverage of f(x0) intervals
def _coverage(reps, seed):
    model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
    theta = np.array([1.5, -1, -0.5, 2, 1, 1, 0.5, -0.5, 0, 2, -1.5, 1, 0.3, np.log(0.5)])
    assert not sm.is_reducible(model.architecture, theta[:13])
    x0 = np.array([[0.4, -0.3]])
    f0 = model.architecture.forward(theta[:13], x0)[0, 0]
    hits = 0
    for k, s in enumerate(np.random.SeedSequence(seed).spawn(reps)):
        X, y = model.simulate(theta, n=400, rng=s)
        res = quiet(model, X, y, n_starts=3, rng=k)
        lo, hi = res.get_prediction(x0).conf_int()[0]
        hits += lo <= f0 <= hi
    return hits / reps


def test_prediction_interval_coverage_short():
    assert _coverage(20, 0) >= 0.75


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SYMMLE_LONG_TESTS"),
                    reason="long simulation (thousands of fits): set SYMMLE_LONG_TESTS=1")
def test_prediction_interval_coverage_is_nominal():
    """The 95 % interval of f(x₀) from an irreducible 2-3-1 truth covers in 0.95 ± 3 binomial
    standard errors. (Wald intervals of single weights mean nothing here: the weights are only
    identified up to the 48 relabellings, and their sampling distribution straddles the
    orbit's images; the function is the same for all of them.)"""
    reps = 200
    cover = _coverage(reps, 1)
    print(f"\ncoverage of the 95% interval of f(x0) over {reps} data sets: {cover:.3f}")
    assert abs(cover - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / reps)
