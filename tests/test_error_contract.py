"""The error contract (issue 17) for fitting, identifiability and the families: bad input raises
a `SymmleError` that is a ``TypeError`` for a wrong type and a ``ValueError`` for a wrong value,
naming the argument; large counts are bounded; degenerate data does not hang a fit.

Each class below is tested beyond the example the issue (or the fuzz suite) quotes.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pytest

import symmle as sm
from symmle.errors import SymmleTypeError, SymmleValueError
from symmle.fitting._fit import MAX_STARTS
from symmle.fitting._profile import MAX_PROFILE_POINTS
from symmle.identifiability._report import MAX_ROWS


def _raises(cls, call, *words):
    """``call()`` raises ``cls`` (a SymmleError) whose message holds every one of ``words``."""
    with pytest.raises(cls) as info:
        call()
    assert isinstance(info.value, sm.SymmleError)
    text = str(info.value)
    for w in words:
        assert w in text, f"{w!r} not in {text!r}"
    return info.value


@pytest.fixture(scope="module")
def gaussian_fit():
    model = sm.Model(sm.mlp(2, 1), sm.Gaussian())
    X, y = model.simulate(model.random_params(0), 40, rng=0)
    return sm.fit(model, X, y, rng=0)


@pytest.fixture(scope="module")
def bernoulli_data():
    X = np.random.default_rng(0).standard_normal((24, 2))
    return X, (X[:, 0] > 0).astype(float)


# ----------------------------------------------------------------- families
class TestFamilies:
    def test_abstract_family_names_the_concrete_ones(self):
        exc = _raises(SymmleTypeError, sm.Family, "abstract", "Gaussian", "Bernoulli",
                      "Poisson", "Categorical")
        assert isinstance(exc, TypeError)

    @pytest.mark.parametrize("args", [(), (1.0,), ("x", 2)])
    def test_abstract_family_whatever_the_arguments(self, args):
        _raises(SymmleTypeError, lambda: sm.Family(*args), "abstract")

    def test_concrete_families_still_build_pickle_and_copy(self):
        import copy
        import pickle

        for fam in (sm.Gaussian(), sm.Gaussian(2.0), sm.Bernoulli(), sm.Poisson(),
                    sm.Categorical(), sm.Categorical(reference=True)):
            assert pickle.loads(pickle.dumps(fam)) == fam
            assert copy.deepcopy(fam) == fam

    @pytest.mark.parametrize("name, option", [("poisson", "reference"), ("bernoulli", "sigma"),
                                              ("gaussian", "reference"), ("gaussian", "bogus"),
                                              ("categorical", "sigma"), ("Poisson", "x")])
    def test_family_from_name_refuses_an_option_it_does_not_take(self, name, option):
        exc = _raises(SymmleTypeError, lambda: sm.family_from_name(name, **{option: 1.0}),
                      repr(option), name.lower())
        assert isinstance(exc, TypeError)

    def test_family_from_name_keeps_the_options_it_takes(self):
        assert sm.family_from_name("gaussian", sigma=2.0) == sm.Gaussian(2.0)
        assert sm.family_from_name("Categorical", reference=True) == sm.Categorical(True)
        assert sm.family_from_name(sm.Poisson()) == sm.Poisson()

    @pytest.mark.parametrize("name", [3, None, 1.5, ["gaussian"], {"a": 1}, b"gaussian"])
    def test_family_from_name_wrong_type(self, name):
        _raises(SymmleTypeError, lambda: sm.family_from_name(name), "name")

    def test_family_from_name_unknown_name(self):
        _raises(SymmleValueError, lambda: sm.family_from_name("nope"), "unknown family",
                "gaussian")

    def test_family_from_name_options_on_a_family_object(self):
        _raises(SymmleTypeError, lambda: sm.family_from_name(sm.Poisson(), sigma=1.0), "sigma")

    @pytest.mark.parametrize("name", [{"a": 1}, ["gaussian"], 3, None, True])
    def test_family_from_dict_non_string_name(self, name):
        from symmle.families import family_from_dict

        _raises(sm.PersistenceError, lambda: family_from_dict({"name": name}), "family")

    @pytest.mark.parametrize("log_sigma", [400.0, -400.0, 800.0, -800.0])
    def test_gaussian_with_an_extreme_log_sigma_does_not_raise_overflow(self, log_sigma):
        fam = sm.Gaussian()
        eta, y = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rows = fam.loglik_rows(eta, y, [log_sigma])
            total = fam.loglik_sum(eta, y, [log_sigma])
            w = fam.constant_weight([log_sigma])
            fam.weight(eta, [log_sigma])
        assert rows[0] == pytest.approx(-log_sigma - 0.5 * np.log(2 * np.pi))
        assert total == pytest.approx(rows.sum()) or total == rows.sum() == -np.inf
        assert w == (0.0 if log_sigma > 0 else np.inf)

    def test_gaussian_known_sigma_unchanged(self):
        fam = sm.Gaussian(2.0)
        eta, y = np.array([[0.0], [1.0]]), np.array([[0.5], [2.0]])
        want = -0.5 * ((y - eta) / 2.0) ** 2 - np.log(2.0) - 0.5 * np.log(2 * np.pi)
        np.testing.assert_allclose(fam.loglik_rows(eta, y, ()), want.ravel(), rtol=1e-15)
        assert fam.constant_weight(()) == 0.25


# ----------------------------------------------------------------- fitting records
class TestFitStart:
    @pytest.mark.parametrize("start, params", [("P", "P"), ([1, "a"], [1, 2]), ({"a": 1}, [1]),
                                               ([[1, 2], [3]], [1, 2]), ([1j, 2], [1, 2])])
    def test_non_numeric_vectors(self, start, params):
        exc = _raises((SymmleTypeError, SymmleValueError),
                      lambda: sm.FitStart(start, params, 0.0, True, 1), "FitStart")
        assert isinstance(exc, (TypeError, ValueError))

    def test_params_shape(self):
        _raises(SymmleValueError, lambda: sm.FitStart([1, 2], [1, 2, 3], 0.0, True, 1), "params")
        _raises(SymmleValueError, lambda: sm.FitStart([[1, 2]], [[1, 2]], 0.0, True, 1), "start")

    @pytest.mark.parametrize("field, value, cls", [
        ("loglik", "x", SymmleTypeError), ("loglik", None, SymmleTypeError),
        ("loglik", True, SymmleTypeError), ("loglik", 10 ** 400, SymmleValueError),
        ("converged", 1, SymmleTypeError), ("converged", "yes", SymmleTypeError),
        ("n_iter", 1.5, SymmleTypeError), ("n_iter", -1, SymmleValueError),
        ("n_iter", True, SymmleTypeError), ("message", 3, SymmleTypeError),
        ("objective", "x", SymmleTypeError),
    ])
    def test_each_field(self, field, value, cls):
        kw = dict(start=[0.0, 1.0], params=[0.5, 1.5], loglik=-1.0, converged=True, n_iter=3)
        kw[field] = value
        _raises(cls, lambda: sm.FitStart(**kw), field)

    def test_a_failed_start_keeps_minus_inf_and_nan(self):
        s = sm.FitStart([0.0], [0.0], -np.inf, False, 0, "failed", np.nan)
        assert s.loglik == -np.inf and np.isnan(s.objective)
        s = sm.FitStart(np.zeros(2), np.zeros(2), np.float32(-1.0), np.bool_(True), np.int64(2))
        assert s.converged is True and s.n_iter == 2


# ----------------------------------------------------------------- fit: bounded work
class TestFitBounds:
    @pytest.mark.parametrize("n", [10 ** 20, MAX_STARTS + 1, 2 ** 63])
    def test_n_starts_bounded(self, bernoulli_data, n):
        model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        t0 = time.perf_counter()
        _raises(SymmleValueError, lambda: sm.fit(model, *bernoulli_data, n_starts=n), "n_starts",
                str(MAX_STARTS))
        assert time.perf_counter() - t0 < 2.0

    @pytest.mark.parametrize("model", [sm.Model(sm.mlp(2, 1), sm.Bernoulli()),
                                       sm.Model(sm.mlp(2, 3), sm.Categorical())])
    def test_separated_data_stop_whatever_max_iter(self, bernoulli_data, model):
        X, y = bernoulli_data
        if isinstance(model.family, sm.Categorical):
            y = (2 * y).astype(int)
        t0 = time.perf_counter()
        with pytest.warns(sm.ConvergenceWarning, match="does not exist"):
            res = sm.fit(model, X, y, max_iter=10 ** 9, rng=0)
        assert time.perf_counter() - t0 < 10.0
        assert not res.converged and res.n_iter < 10 ** 5

    @pytest.mark.parametrize("method", ["scoring", "lm", "trf", "trust-exact"])
    def test_a_huge_max_iter_reaches_scipy_as_a_c_int(self, method):
        model = sm.Model(sm.mlp(1, 2, 1), sm.Gaussian())
        X = np.random.default_rng(0).standard_normal((24, 1))
        y = np.sin(X[:, 0]) + 0.1 * np.random.default_rng(1).standard_normal(24)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sm.SymmleWarning)
            res = sm.fit(model, X, y, method=method, max_iter=10 ** 20, rng=0)
        assert np.isfinite(res.loglik) and res.max_iter == 10 ** 20

    def test_separated_data_no_runtime_warning(self, bernoulli_data):
        model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", sm.SymmleWarning)
            for seed in range(3):
                res = sm.fit(model, *bernoulli_data, max_iter=10 ** 6, rng=seed)
                res.stderr, res.summary(), res.conf_int()
                for kind in ("expected", "observed", "robust"):
                    res.covariance(kind)
                for call in (lambda: res.get_prediction(bernoulli_data[0][:3]),
                             lambda: res.wald_test(np.eye(3)[:1]),
                             lambda: res.functional(lambda t: float(t @ t))):
                    try:
                        call()
                    except sm.SymmleError as exc:   # refused: in the contract
                        assert isinstance(exc, ValueError) and str(exc)


# ----------------------------------------------------------------- profile
class TestProfile:
    @pytest.mark.parametrize("values", [[[1, 2], [3]], "abc", {"a": 1}, [1, "x"], [[1.0, 2.0]],
                                        [], [np.nan, 1.0], [np.inf]])
    def test_values(self, gaussian_fit, values):
        exc = _raises((SymmleTypeError, SymmleValueError),
                      lambda: sm.profile(gaussian_fit, "W1_1_1", values=values), "values")
        assert isinstance(exc, (TypeError, ValueError))

    def test_values_bounded(self, gaussian_fit):
        _raises(SymmleValueError, lambda: sm.profile(
            gaussian_fit, 0, values=np.linspace(-1, 1, MAX_PROFILE_POINTS + 1)), "values",
            str(MAX_PROFILE_POINTS))

    @pytest.mark.parametrize("n_points, cls", [(10 ** 12, SymmleValueError),
                                               (1.5, SymmleTypeError), (1, SymmleValueError)])
    def test_n_points(self, gaussian_fit, n_points, cls):
        _raises(cls, lambda: sm.profile(gaussian_fit, 0, n_points=n_points), "n_points")

    @pytest.mark.parametrize("width, cls", [("x", SymmleTypeError), (-1.0, SymmleValueError),
                                            (np.inf, SymmleValueError), (0.0, SymmleValueError)])
    def test_width(self, gaussian_fit, width, cls):
        _raises(cls, lambda: sm.profile(gaussian_fit, 0, width=width), "width")


# ----------------------------------------------------------------- FitResult JSON
class TestFitResultJson:
    @pytest.mark.parametrize("family", [{"name": {"a": 1}}, {"name": ["gaussian"]}, {"name": 3},
                                        {"name": None}, {}])
    def test_family_name(self, gaussian_fit, family):
        doc = json.loads(gaussian_fit.to_json())
        doc["family"] = family
        _raises(sm.PersistenceError, lambda: sm.FitResult.from_json(json.dumps(doc)), "family")


# ----------------------------------------------------------------- FitResult methods
class TestFunctional:
    @pytest.mark.parametrize("g", [3, None, "x"])
    def test_not_callable(self, gaussian_fit, g):
        _raises(SymmleTypeError, lambda: gaussian_fit.functional(g), "g must be a callable")

    @pytest.mark.parametrize("out", ["x", {"a": 1}, [1.0, "y"]])
    def test_non_numeric_value(self, gaussian_fit, out):
        _raises((SymmleTypeError, SymmleValueError),
                lambda: gaussian_fit.functional(lambda t: out), "g")

    @pytest.mark.parametrize("out", [np.nan, np.inf, [1.0, 2.0]])
    def test_bad_value(self, gaussian_fit, out):
        _raises(SymmleValueError, lambda: gaussian_fit.functional(lambda t: out), "g")

    def test_a_good_functional(self, gaussian_fit):
        f = gaussian_fit.functional(lambda t: float(t[2]))
        assert np.isfinite(f.mean) and f.se > 0


# ----------------------------------------------------------------- identifiability
class TestIdentifiability:
    @pytest.mark.parametrize("n_rows", [10 ** 12, MAX_ROWS + 1])
    def test_n_rows_bounded(self, n_rows):
        model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        _raises(SymmleValueError, lambda: sm.identifiability(model, n_rows=n_rows), "n_rows")

    @pytest.mark.parametrize("n_rows, cls", [(0, SymmleValueError), (2.5, SymmleTypeError),
                                             ("9", SymmleTypeError)])
    def test_n_rows_type_and_value(self, n_rows, cls):
        model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        _raises(cls, lambda: sm.identifiability(model, n_rows=n_rows), "n_rows")

    @pytest.mark.parametrize("exact", ["yes", 1, None, 2.0])
    def test_exact_must_be_a_bool(self, exact):
        model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        _raises(SymmleTypeError, lambda: sm.identifiability(model, exact=exact), "exact")

    @pytest.mark.parametrize("model, theta", [
        (sm.Model(sm.mlp(1, 1), sm.Poisson()), [4.892651e16, -1.927193e16]),
        (sm.Model(sm.mlp(1, 1), sm.Poisson()), [1e300, 1e300]),
        (sm.Model(sm.mlp(2, 1), sm.Bernoulli()), [1e308, -1e308, 1e308]),
        (sm.Model(sm.mlp(1, 2, 1), sm.Poisson()), [900.0, 0.0, 900.0, 0.0, 1.0, 1.0, 0.0]),
    ])
    def test_theta_whose_information_is_not_finite(self, model, theta):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", sm.SymmleWarning)
            # far outside the promised range |θ| ≤ 50: numpy may warn of the overflow
            warnings.simplefilter("ignore", RuntimeWarning)
            for call in (lambda: sm.identifiability(model, np.array(theta), rng=3),
                         lambda: sm.regularity(model, np.array(theta), rng=3)):
                try:
                    call()
                except sm.SymmleError as exc:
                    assert isinstance(exc, ValueError) and "not finite" in str(exc)


@pytest.fixture(scope="module")
def fields():
    """The fields of a valid `IdentifiabilityReport`."""
    import dataclasses

    rep = sm.identifiability(sm.Model(sm.mlp(2, 1), sm.Bernoulli()), rng=0)
    return {f.name: getattr(rep, f.name) for f in dataclasses.fields(rep)}


class TestIdentifiabilityReport:
    def test_round_trip(self, fields):
        sm.IdentifiabilityReport(**fields)

    @pytest.mark.parametrize("field, value, cls", [
        ("model", None, SymmleTypeError), ("theta", "x", SymmleTypeError),
        ("theta", [1j, 2, 3], SymmleValueError), ("theta", [1.0], SymmleValueError),
        ("generic", "yes", SymmleTypeError), ("n_rows", 1.5, SymmleTypeError),
        ("n_rows", 0, SymmleValueError), ("n_params", 4, SymmleValueError),
        ("group_order", 0, SymmleValueError), ("continuous_dim", -1, SymmleValueError),
        ("fisher_rank", 9, SymmleValueError), ("rtol", "x", SymmleTypeError),
        ("singular_values", [[1, 2], [3]], SymmleValueError),
        ("null_space", None, SymmleValueError), ("null_space", np.zeros(()), SymmleValueError),
        ("null_space_words", 3, SymmleTypeError), ("explained", None, SymmleTypeError),
        ("explanation", 3, SymmleTypeError), ("locally_identifiable", "x", SymmleTypeError),
        ("reducible", [1], SymmleTypeError), ("exact_rank", "x", SymmleTypeError),
        ("identified", [1, 2, 3], SymmleValueError), ("verdict", {}, SymmleTypeError),
        ("verdict", "maybe", SymmleValueError), ("certified_rank", 3, SymmleTypeError),
        ("certified_rank", (0, 1.5), SymmleTypeError), ("condition_number", "x", SymmleTypeError),
        ("unexplained_dim", -2, SymmleValueError),
    ])
    def test_each_field(self, fields, field, value, cls):
        kw = dict(fields, **{field: value})
        exc = _raises(cls, lambda: sm.IdentifiabilityReport(**kw), field)
        assert isinstance(exc, TypeError if cls is SymmleTypeError else ValueError)


# ----------------------------------------------------------------- CompiledModel
class TestCompiledModel:
    @pytest.mark.parametrize("model", [None, 3, "model", sm.mlp(2, 1), sm.Gaussian()])
    def test_model_must_be_a_model(self, model):
        _raises(SymmleTypeError, lambda: sm.CompiledModel(model), "model must be a Model")

    def test_a_model_compiles(self):
        model = sm.Model(sm.mlp(2, 1), sm.Gaussian())
        assert sm.CompiledModel(model).model is model


# ----------------------------------------------------------------- regularity records
class TestRegularityRecords:
    @pytest.mark.parametrize("args, cls, word", [
        (("a", np.eye(2), "r"), SymmleTypeError, "verdict"),
        ((3, "holds", "r"), SymmleTypeError, "name"),
        (("a", "holds", None), SymmleTypeError, "reason"),
        (("a", "maybe", "r"), SymmleValueError, "verdict"),
    ])
    def test_condition(self, args, cls, word):
        from symmle.identifiability import RegularityCondition

        _raises(cls, lambda: RegularityCondition(*args), word)

    def test_table(self):
        from symmle.identifiability import RegularityTable

        tab = sm.regularity(sm.Model(sm.mlp(2, 1), sm.Bernoulli()), rng=0)
        _raises(SymmleTypeError, lambda: RegularityTable(None, tab.conditions), "model")
        _raises(SymmleTypeError, lambda: RegularityTable(tab.model, [1, 2]), "conditions")
        empty = RegularityTable(tab.model, ())
        assert "condition" in str(empty) and len(empty) == 0


# ----------------------------------------------------------------- string choices
def _choice_entry_points(fit):
    """``{entry: (call(value), choices)}``: every public argument that takes one string of a
    fixed set."""
    from symmle.display import model_view

    model, X, y = fit.model, fit.X, fit.y
    small = sm.fit(sm.Model(sm.mlp(1, 1), sm.Gaussian()), X[:, :1], y, rng=0)
    arch = model.architecture
    theta = model.random_params(0)[:arch.n_params]
    return {
        "backend": (lambda v: sm.CompiledModel(model, backend=v), ("numpy", "numba", "auto")),
        "compile backend": (lambda v: model.compile(backend=v), ("numpy", "numba", "auto")),
        "latex what": (lambda v: model.latex(v), ("loglik", "score", "fisher")),
        "model_view what": (lambda v: model_view(model, v), ("loglik", "fisher")),
        "fit method": (lambda v: sm.fit(model, X, y, method=v), ("scoring", "lm")),
        "fit cov_type": (lambda v: sm.fit(model, X, y, cov_type=v), ("expected", "robust")),
        "covariance kind": (lambda v: fit.covariance(kind=v), ("expected", "robust")),
        "lr_test method": (lambda v: sm.lr_test(small, fit, method=v), ("chi2", "bootstrap")),
        "input_relevance method": (lambda v: sm.input_relevance(fit, method=v), ("wald", "lr")),
        "learning_coefficient method": (
            lambda v: sm.learning_coefficient(model, X, y, method=v), ("wbic", "local")),
        "align method": (lambda v: sm.align(arch, theta, theta, method=v),
                         ("auto", "exhaustive", "branch_and_bound")),
        "family_from_name": (lambda v: sm.family_from_name(v), ("gaussian", "poisson")),
    }


_NAME_OF = {"backend": "backend", "compile backend": "backend", "latex what": "what",
            "model_view what": "what", "fit method": "method", "fit cov_type": "cov_type",
            "covariance kind": "kind", "lr_test method": "method",
            "input_relevance method": "method", "learning_coefficient method": "method",
            "align method": "method", "family_from_name": "name"}

#: values that are not strings: numbers, bools, bytes, containers, numpy arrays (whose ``in``
#: test against a tuple raised numpy's plain "truth value of an array is ambiguous").
_NOT_STRINGS = [5, 1.5, True, b"numpy", ["numpy"], ("lm",), {"a": 1},
                np.array(["numpy", "lm"]), np.array([1.0, 2.0]), np.float64(2.0), 1 + 2j]


class TestStringChoices:
    @pytest.mark.parametrize("entry", sorted(_NAME_OF))
    @pytest.mark.parametrize("value", _NOT_STRINGS, ids=repr)
    def test_a_non_string_is_a_type_error_naming_the_argument_and_choices(
            self, gaussian_fit, entry, value):
        call, choices = _choice_entry_points(gaussian_fit)[entry]
        exc = _raises(SymmleTypeError, lambda: call(value), _NAME_OF[entry])
        assert isinstance(exc, TypeError)
        text = str(exc)
        assert all(c in text for c in choices), text

    @pytest.mark.parametrize("entry", sorted(_NAME_OF))
    def test_an_unknown_string_is_a_value_error_naming_the_choices(self, gaussian_fit, entry):
        call, choices = _choice_entry_points(gaussian_fit)[entry]
        for value in ("bogus", "", "NUMPY " * 40):
            exc = _raises(SymmleValueError, lambda: call(value))
            assert isinstance(exc, ValueError)
            assert all(c in str(exc) for c in choices), str(exc)
            assert len(str(exc)) < 400

    @pytest.mark.parametrize("value", [5, None, True, 1.5, {"loglik": 1}])
    def test_evaluate_what_that_is_not_a_string_or_sequence(self, gaussian_fit, value):
        cm = gaussian_fit.model.compile()
        _raises(SymmleTypeError, lambda: cm.evaluate(gaussian_fit.params, gaussian_fit.X,
                                                     gaussian_fit.y, what=value), "what")

    @pytest.mark.parametrize("value", ["numpy", np.str_("numpy")])
    def test_a_valid_choice_still_works(self, value):
        from symmle.compiled import resolve_backend

        assert resolve_backend(value) == "numpy"
        assert type(resolve_backend(value)) is str


# ----------------------------------------------------------------- result records
@pytest.fixture(scope="module")
def records(gaussian_fit):
    """Valid instances of the records that do not come from `FitResult`'s own checks."""
    res = gaussian_fit
    bern = sm.Model(sm.mlp(1, 2), sm.Categorical())
    Xc, yc = bern.simulate(bern.random_params(0), 60, rng=1)
    cat = sm.fit(bern, Xc, yc, rng=0)
    return {
        "wald": res.wald_test(np.eye(res.n_params)[:1]),
        "lr": sm.lr_test(sm.fit(sm.Model(sm.mlp(1, 1), sm.Gaussian()), res.X[:, :1], res.y,
                                rng=0), res),
        "prediction": res.get_prediction(res.X[:5]),
        "prediction_k": cat.get_prediction(Xc[:4]),
        "functional": res.functional(lambda t: float(t[0] + t[1])),
        "profile": sm.profile(res, "W1_1_1", n_points=5),
        "clusters": sm.cluster_optima(np.array([[1.0, 2.0, 0.5], [1.0, 2.0, 0.5],
                                                [-3.0, 1.0, 0.0]]), sm.mlp(2, 1)),
    }


_RECORD_CASES = [
    # (record, field, value, error class)
    ("wald", "statistic", "x", SymmleTypeError), ("wald", "statistic", -1.0, SymmleValueError),
    ("wald", "statistic", np.nan, SymmleValueError), ("wald", "statistic", [1.0], SymmleTypeError),
    ("wald", "df", 1.5, SymmleTypeError), ("wald", "df", True, SymmleTypeError),
    ("wald", "pvalue", 1.5, SymmleValueError), ("wald", "pvalue", -0.1, SymmleValueError),
    ("wald", "pvalue", "0.5", SymmleTypeError), ("wald", "method", "bogus", SymmleValueError),
    ("wald", "method", 3, SymmleTypeError), ("lr", "note", None, SymmleTypeError),
    ("prediction", "mean", "x", SymmleTypeError), ("prediction", "mean", [np.inf] * 5,
                                                   SymmleValueError),
    ("prediction", "mean", np.zeros((5, 1, 1)), SymmleValueError),
    ("prediction", "se", np.zeros(4), SymmleValueError),
    ("prediction", "se", -np.ones(5), SymmleValueError),
    ("prediction", "se", np.full(5, np.inf), SymmleValueError),
    ("prediction", "se", [1j] * 5, SymmleValueError),
    ("prediction", "alpha", 0.0, SymmleValueError), ("prediction", "alpha", "a", SymmleTypeError),
    ("prediction", "sigma", -1.0, SymmleValueError), ("prediction", "sigma", "s", SymmleTypeError),
    ("prediction", "estimable", np.ones(5), SymmleTypeError),
    ("prediction", "estimable", np.ones(4, dtype=bool), SymmleValueError),
    ("prediction", "names", "y", SymmleTypeError), ("prediction", "names", (1,), SymmleTypeError),
    ("prediction_k", "names", ("a",), SymmleValueError),
    ("functional", "se", [1.0, 2.0], SymmleValueError),
    ("profile", "param", 3, SymmleTypeError), ("profile", "index", 99, SymmleValueError),
    ("profile", "index", "0", SymmleTypeError), ("profile", "estimate", np.nan, SymmleValueError),
    ("profile", "loglik_max", "x", SymmleTypeError),
    ("profile", "values", [3.0, 1.0, 2.0, 4.0, 5.0, 6.0], SymmleValueError),
    ("profile", "values", [], SymmleValueError), ("profile", "values", "abc", SymmleTypeError),
    ("profile", "loglik", [0.0], SymmleValueError),
    ("profile", "params", np.zeros((2, 3)), SymmleValueError),
    ("clusters", "labels", [0.0, 0.0, 1.0], SymmleTypeError),
    ("clusters", "labels", [0, 0, 2], SymmleValueError),
    ("clusters", "labels", [0, 1, 1], SymmleValueError),
    ("clusters", "labels", [0, -1, 1], SymmleValueError),
    ("clusters", "counts", [2, 1, 0], SymmleValueError),
    ("clusters", "counts", [True, True], SymmleTypeError),
    ("clusters", "representatives", np.zeros((1, 3)), SymmleValueError),
    ("clusters", "representatives", [[np.nan] * 3] * 2, SymmleValueError),
    ("clusters", "logliks", [0.0], SymmleValueError),
    ("clusters", "logliks", [np.inf, 0.0], SymmleValueError),
    ("clusters", "tol", -1.0, SymmleValueError), ("clusters", "tol", None, SymmleTypeError),
]


class TestResultRecords:
    def test_valid_records_rebuild_unchanged(self, records):
        import dataclasses

        for rec in records.values():
            again = dataclasses.replace(rec)
            for f in dataclasses.fields(rec):
                a, b = getattr(rec, f.name), getattr(again, f.name)
                assert np.array_equal(a, b, equal_nan=True) if isinstance(a, np.ndarray) \
                    else (a == b or a != a), f.name

    @pytest.mark.parametrize("record, field, value, cls", _RECORD_CASES,
                             ids=[f"{r}-{f}-{i}" for i, (r, f, _, _) in enumerate(_RECORD_CASES)])
    def test_each_field(self, records, record, field, value, cls):
        import dataclasses

        rec = records[record]
        exc = _raises(cls, lambda: dataclasses.replace(rec, **{field: value}), field)
        assert isinstance(exc, TypeError if cls is SymmleTypeError else ValueError)

    def test_arrays_are_read_only_copies(self, records):
        pred = records["prediction"]
        with pytest.raises(ValueError):
            pred.mean[0] = 1.0
        prof = records["profile"]
        assert not prof.values.flags.writeable and not prof.params.flags.writeable
        cl = records["clusters"]
        assert cl.labels.tolist() == [0, 0, 1] and cl.counts.tolist() == [2, 1]
        assert not cl.labels.flags.writeable
