"""A hypothesis fuzz suite over the public API.

Every public entry point is driven with random and hostile arguments. The contract:
either a correct-looking result (finite numbers where numbers come back) or a
``SymmleError`` that is also a ``ValueError``/``TypeError`` and carries a message — never
another exception type, never a silent NaN.
"""

import functools
import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

import symmle as sm
from symmle.study import StudyResult

ARCH = sm.mlp(2, 2, 1)
MODEL = sm.Model(ARCH, sm.Gaussian(sigma=1.0))
THETA = MODEL.random_params(0)
X, Y = MODEL.simulate(THETA, n=30, rng=1)

scalars = (hst.none() | hst.booleans() | hst.integers(-10**6, 10**6) | hst.text(max_size=5)
           | hst.floats(allow_nan=True, allow_infinity=True) | hst.just(object()))


def arrays_like(shape):
    """Mostly well-shaped float arrays, sometimes broken in one way."""
    good = hst.lists(hst.floats(-1e3, 1e3), min_size=int(np.prod(shape)),
                     max_size=int(np.prod(shape))).map(lambda v: np.array(v).reshape(shape))
    broken = hst.one_of(
        good.map(lambda a: np.where(a > 0, np.nan, a)),
        good.map(lambda a: np.where(a > 0, np.inf, a)),
        good.map(lambda a: a.astype(complex) * 1j),
        good.map(lambda a: a.astype(str)),
        good.map(lambda a: a.ravel()[:-1]),
        good.map(lambda a: a[None]),
        good.map(lambda a: a.tolist()),
        scalars,
    )
    return hst.one_of(good, broken)


def _check_outcome(call):
    try:
        out = call()
    except sm.SymmleError as exc:
        assert isinstance(exc, (ValueError, TypeError, RuntimeError, ImportError))
        assert str(exc)
        return None
    for v in (out if isinstance(out, tuple) else (out,)):
        if isinstance(v, (float, np.ndarray)) and np.asarray(v).dtype.kind == "f":
            assert np.all(np.isfinite(v)), "silent NaN/inf"
    return out


@given(theta=arrays_like((7,)), X=arrays_like((30, 2)), y=arrays_like((30,)),
       what=hst.sampled_from(["loglik", "score", "fisher", "hessian", "predict", "forward"]))
def test_compiled_model_fuzz(theta, X, y, what):
    cm = MODEL.compile()
    calls = {
        "loglik": lambda: cm.loglik(theta, X, y),
        "score": lambda: cm.score(theta, X, y),
        "fisher": lambda: cm.fisher(theta, X),
        "hessian": lambda: cm.hessian(theta, X, y),
        "predict": lambda: cm.predict(theta, X),
        "forward": lambda: ARCH.forward(theta, X),
    }
    _check_outcome(calls[what])


@given(theta=arrays_like((7,)), ref=arrays_like((7,)),
       what=hst.sampled_from(["align", "orbit_distance", "canonicalize", "continuous",
                              "is_reducible", "reduce", "transform"]))
def test_symmetry_and_reduction_fuzz(theta, ref, what):
    calls = {
        "align": lambda: sm.align(ARCH, theta, ref),
        "orbit_distance": lambda: sm.orbit_distance(ARCH, theta, ref),
        "canonicalize": lambda: sm.canonicalize(ARCH, theta),
        "continuous": lambda: sm.continuous_symmetries(ARCH, theta),
        "is_reducible": lambda: sm.is_reducible(ARCH, theta),
        "reduce": lambda: sm.reduce(ARCH, theta)[1],
        "transform": lambda: sm.symmetry_group(ARCH).random_element(0)(theta),
    }
    _check_outcome(calls[what])


@given(arg=scalars | hst.lists(scalars, max_size=3))
def test_functions_refuse_non_architectures(arg):
    for call in (lambda: sm.symmetry_group(arg), lambda: sm.Model(arg, sm.Bernoulli()),
                 lambda: sm.Model(ARCH, arg), lambda: sm.identifiability(arg),
                 lambda: sm.Architecture.from_graph(arg)):
        with pytest.raises(sm.SymmleError) as info:
            call()
        assert isinstance(info.value, (ValueError, TypeError)) and str(info.value)


@given(rng=scalars)
def test_rng_arguments_are_checked(rng):
    _check_outcome(lambda: MODEL.random_params(rng))


ROLES = hst.sampled_from(["input", "hidden", "output", "outptu", None, 3])
ACTS = hst.sampled_from(["tanh", "relu", "sigmoid", "identity", "nope", 7])


@hst.composite
def random_graphs(draw):
    n = draw(hst.integers(1, 7))
    G = nx.DiGraph()
    for v in range(n):
        attrs = {"role": draw(ROLES)}
        if draw(hst.booleans()):
            attrs["activation"] = draw(ACTS)
        if draw(hst.integers(0, 4)) == 0:
            attrs["bias"] = draw(hst.sampled_from([False, True, "yes"]))
        G.add_node(f"n{v}", **attrs)
    for _ in range(draw(hst.integers(0, 12))):
        u, v = draw(hst.integers(0, n - 1)), draw(hst.integers(0, n - 1))
        if u != v:
            G.add_edge(f"n{u}", f"n{v}")
    return G


@given(G=random_graphs(), seed=hst.integers(0, 100))
def test_from_graph_fuzz(G, seed):
    try:
        arch = sm.Architecture.from_graph(G)
    except sm.SymmleError as exc:
        assert isinstance(exc, ValueError | TypeError) and str(exc)
        return
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(arch.n_params)
    Xr = rng.standard_normal((5, arch.n_inputs))
    out = arch.forward(theta, Xr)
    assert out.shape == (5, arch.n_outputs) and np.all(np.isfinite(out))
    g = sm.symmetry_group(arch).random_element(rng)
    np.testing.assert_allclose(arch.forward(g(theta), Xr), out, rtol=1e-9, atol=1e-9)


HOSTILE_JSON = [
    "", "{", "[]", "null", "1", '"x"', '{"schema": "symmle.FitResult"}',
    '{"schema": "symmle.FitResult", "version": 99}',
    '{"schema": "something.else", "version": 1}',
    '{"__class__": "os.system", "args": ["echo pwned"]}',
    json.dumps({"schema": "symmle.FitResult", "version": 1, "params": ["nan"]}),
    "[" * 5000 + "]" * 5000,
]


@pytest.mark.parametrize("doc", HOSTILE_JSON, ids=range(len(HOSTILE_JSON)))
def test_hostile_json_is_refused(doc):
    for load in (sm.FitResult.from_json, StudyResult.from_json):
        with pytest.raises(sm.SymmleError) as info:
            load(doc)
        assert isinstance(info.value, ValueError) and str(info.value)


@functools.lru_cache(maxsize=1)
def _fitted_json():
    model = sm.Model(sm.mlp(2, 1), sm.Gaussian())
    return sm.fit(model, X, Y, rng=0).to_json()


JSON_VALUES = (hst.none() | hst.booleans() | hst.integers(-10**6, 10**6) | hst.text(max_size=5)
               | hst.floats(allow_nan=False) | hst.lists(hst.floats(allow_nan=False), max_size=3))


@given(data=hst.data())
def test_json_mutations_are_refused_or_roundtrip(data):
    doc = json.loads(_fitted_json())
    key = data.draw(hst.sampled_from(sorted(doc)))
    doc[key] = data.draw(JSON_VALUES)
    text = json.dumps(doc)
    try:
        back = sm.FitResult.from_json(text)
    except sm.SymmleError as exc:
        assert isinstance(exc, ValueError) and str(exc)
        return
    assert back.params.shape == (4,) and np.all(np.isfinite(back.params))


@given(X=arrays_like((30, 2)), y=arrays_like((30,)),
       family=hst.sampled_from([sm.Gaussian(), sm.Bernoulli(), sm.Poisson()]))
@settings(max_examples=20)
def test_fit_fuzz(X, y, family):
    model = sm.Model(sm.mlp(2, 1), family)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _check_outcome(lambda: sm.fit(model, X, y, rng=0))
    if res is not None:
        assert np.all(np.isfinite(res.params)) and np.isfinite(res.loglik)
