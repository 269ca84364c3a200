"""Fuzz: `Architecture` and `Model` methods, the constructors and registries in `symmle.__all__`.

Oracles: `Architecture.forward` against the model's symbolic η in mpmath, ``flatten`` ∘
``unflatten`` = identity, ``to_dict``/``from_dict`` round trips to the same network, a simulated
``y`` lies in the family's support and is reproducible from its seed, ``random_params`` is
reproducible and finite.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import sympy as sp
from hypothesis import given, strategies as hst

import symmle as sm

import fuzz_models as zoo
from fuzz_harness import close, examples, run
from fuzz_oracles import _MP, compare, truth
from fuzz_values import finite_vector, broken, counts, designs, example_kinds, scalars, thetas

RANDOM_STATES = hst.one_of(hst.integers(0, 2 ** 32), hst.none(), scalars)


def _refused(out):
    raise AssertionError(f"an invalid argument was accepted: {out!r:.200}")


# ---------------------------------------------------------------- Architecture methods


@examples(weight=3)
@given(data=hst.data(), name=hst.sampled_from(zoo.NAMES), kind=example_kinds,
       n=hst.integers(1, 4), units=hst.booleans())
def test_architecture_forward(data, name, kind, n, units):
    model = zoo.model(name)
    arch = model.architecture
    bad = data.draw(broken(kind, ("theta", "X")))
    theta = data.draw(thetas(arch.n_params, kind if bad == "theta" else "valid"))
    X = data.draw(designs(n, arch.n_inputs, kind if bad == "X" else "valid"))
    if bad == "X" and arch.n_inputs == 1 and finite_vector(X):
        kind = "lenient"   # a vector is the one column of a one-input network's X

    def check(out):
        if kind == "invalid":
            _refused(out)
        if kind != "valid":
            return
        th = np.concatenate([np.asarray(theta, float), model.random_params(0)[arch.n_params:]])
        want = truth(model).eta(th, np.asarray(X, float))
        got = np.stack([out[v] for v in arch.output_nodes], axis=1) if units else out
        # normwise against the terms' magnitudes: with every |f(a)| ≤ f(|a|), f increasing on
        # a ≥ 0 (all registry activations), η at |θ|, |x| bounds Σ |terms| layer by layer
        mags = truth(model).eta(np.abs(th), np.abs(np.asarray(X, float)))
        compare(got, want, float(np.sum(np.abs(want)) + np.sum(np.max(np.abs(mags), axis=1))),
                what="forward")

    run("Architecture.forward", lambda: arch.forward(theta, X, units=units), check=check,
        args=(name, theta, X), promised=kind != "lenient")


@examples(weight=2)
@given(name=hst.sampled_from(zoo.NAMES), data=hst.data(), kind=example_kinds)
def test_architecture_flatten_unflatten(name, data, kind):
    arch = zoo.arch(name)
    theta = data.draw(thetas(arch.n_params, kind))

    def check(layers):
        if kind == "invalid":
            _refused(layers)
        back = arch.flatten(layers)
        np.testing.assert_array_equal(back, np.asarray(theta, dtype=float))

    run("Architecture.unflatten", lambda: arch.unflatten(theta), check=check, args=theta,
        promised=kind != "lenient")
    layers = data.draw(hst.one_of(
        hst.just(arch.unflatten(np.zeros(arch.n_params))),
        hst.lists(hst.tuples(scalars, scalars), max_size=3),
        hst.just([(np.ones((1, 1)), np.ones(1))] * len(arch.layers)), scalars))

    def check_flat(out):
        assert out.shape == (arch.n_params,)
    run("Architecture.flatten", lambda: arch.flatten(layers), check=check_flat, args=layers)


@examples(weight=1)
@given(name=hst.sampled_from(zoo.NAMES), X=hst.one_of(designs(3, 2), designs(2, 1), scalars),
       theta=hst.one_of(thetas(9), scalars), finite=hst.one_of(hst.booleans(), scalars),
       v=hst.one_of(hst.sampled_from(["x1", "h1_1", "y", "h1", "nope"]), scalars),
       max_units=counts)
def test_architecture_checks_and_views(name, X, theta, finite, v, max_units):
    arch = zoo.arch(name)
    run("Architecture.check_X", lambda: arch.check_X(X, finite=finite), args=X)
    run("Architecture.check_theta", lambda: arch.check_theta(theta), args=theta)
    run("Architecture.activation_of", lambda: arch.activation_of(v), args=v)
    run("Architecture.to_svg", lambda: arch.to_svg(max_units=max_units), args=max_units,
        check=lambda s: s.startswith("<svg"))
    run("Architecture.to_mermaid", lambda: arch.to_mermaid(),
        check=lambda s: None if s.startswith("graph LR") else _refused(s))
    run("Architecture._repr_html_", arch._repr_html_)
    for prop in ("input_nodes", "output_nodes", "hidden_nodes", "layers", "edge_index",
                 "bias_index", "param_names", "n_params", "n_inputs", "n_outputs", "widths",
                 "inputs", "params", "latex_names", "unit_expressions", "output"):
        run(f"Architecture.{prop}", lambda: getattr(arch, prop))

    def round_trip(d):
        back = sm.Architecture.from_dict(d)
        assert back.param_names == arch.param_names and back.widths == arch.widths
        assert [back.graph.nodes[u] for u in back.graph] == [arch.graph.nodes[u] for u in arch.graph]
    run("Architecture.to_dict", arch.to_dict, check=round_trip)


def _mutate(doc, draw):
    """A to_dict document with one hostile change."""
    doc = {"nodes": [list(n) for n in doc["nodes"]], "edges": [list(e) for e in doc["edges"]]}
    where = draw(hst.sampled_from(["nodes", "edges", "top", "attr"]))
    if where == "top":
        return draw(hst.one_of(scalars, hst.just({"nodes": doc["nodes"]})))
    if where == "attr" and doc["nodes"]:
        i = draw(hst.integers(0, len(doc["nodes"]) - 1))
        key = draw(hst.sampled_from(["role", "activation", "bias", "bias_name", "layer", "x"]))
        doc["nodes"][i][1] = dict(doc["nodes"][i][1], **{key: draw(scalars)})
        return doc
    items = doc[where]
    if items:
        i = draw(hst.integers(0, len(items) - 1))
        j = draw(hst.integers(0, len(items[i]) - 1))
        items[i][j] = draw(hst.one_of(scalars, hst.sampled_from(["x1", "y", "W1_1_1", "h1_1"])))
    return doc


@examples(weight=2)
@given(name=hst.sampled_from(zoo.NAMES), data=hst.data())
def test_architecture_from_dict(name, data):
    doc = _mutate(zoo.arch(name).to_dict(), data.draw)

    def check(arch):
        theta = np.random.default_rng(0).standard_normal(arch.n_params)
        out = arch.forward(theta, np.ones((2, arch.n_inputs)))
        assert np.all(np.isfinite(out))
        assert len(set(arch.param_names)) == arch.n_params

    run("Architecture.from_dict", lambda: sm.Architecture.from_dict(doc), check=check, args=doc)


ROLES = hst.sampled_from(["input", "hidden", "output", "outptu", None, 3])
ACTS = hst.one_of(hst.sampled_from(sm.activation_names()), hst.sampled_from(["nope", 7]),
                  hst.just(sm.get_activation("tanh")),
                  hst.just(sm.Activation("tanh", np.sin, np.sin)))
NAMES = hst.one_of(hst.none(), hst.sampled_from(["x1", "y", "log_sigma", "w", "b_h", ""]),
                   scalars)


@hst.composite
def random_graphs(draw):
    n = draw(hst.integers(1, 7))
    G = nx.DiGraph()
    for v in range(n):
        attrs = {"role": draw(ROLES)}
        if draw(hst.booleans()):
            attrs["activation"] = draw(ACTS)
        if draw(hst.integers(0, 4)) == 0:
            attrs["bias"] = draw(hst.sampled_from([False, True, "yes", np.bool_(True)]))
        if draw(hst.integers(0, 4)) == 0:
            attrs["bias_name"] = draw(NAMES)
        G.add_node(f"n{v}", **attrs)
    for _ in range(draw(hst.integers(0, 12))):
        u, v = draw(hst.integers(0, n - 1)), draw(hst.integers(0, n - 1))
        if u != v:
            G.add_edge(f"n{u}", f"n{v}", **({"name": draw(NAMES)} if draw(hst.booleans()) else {}))
    return G


@examples(weight=3)
@given(G=hst.one_of(random_graphs(), scalars), seed=hst.integers(0, 100),
       family=hst.sampled_from(["gaussian", "bernoulli", "poisson"]))
def test_from_graph_and_model(G, seed, family):
    def check(arch):
        rng = np.random.default_rng(seed)
        theta = rng.standard_normal(arch.n_params)
        Xr = rng.standard_normal((3, arch.n_inputs))
        out = arch.forward(theta, Xr)
        assert out.shape == (3, arch.n_outputs) and np.all(np.isfinite(out))
        g = sm.symmetry_group(arch).random_element(rng)
        close(arch.forward(g(theta), Xr), out, rtol=1e-9, atol=1e-12, what="g(θ)")
        # every parameter is its own symbol: the symbolic output equals forward at a point
        subs = dict(zip(arch.params, theta)) | dict(zip(arch.inputs, Xr[0]))
        sym = np.array([float(e.evalf(subs=subs)) for e in arch.output])
        close(sym, out[0], rtol=1e-9, atol=1e-12, what="symbolic output")

    cls, arch = run("Architecture.from_graph", lambda: sm.Architecture.from_graph(G),
                    check=check, args=G)
    if cls == "ok":
        fam = sm.family_from_name(family)
        run("Model", lambda: sm.Model(arch, fam), args=(G, family),
            check=lambda m: None if len(set(m.param_names)) == m.n_params else _refused(m))


# ---------------------------------------------------------------- Model methods


@examples(weight=3)
@given(name=hst.sampled_from(zoo.NAMES), data=hst.data(), kind=example_kinds,
       n=hst.one_of(hst.integers(1, 5), counts), rng=RANDOM_STATES,
       scale=hst.one_of(hst.floats(0, 3), scalars), with_X=hst.booleans())
def test_model_methods(name, data, kind, n, rng, scale, with_X):
    model = zoo.model(name)
    arch = model.architecture
    theta = data.draw(thetas(model.n_params, kind))
    X = data.draw(designs(3, arch.n_inputs, "valid")) if with_X else None

    def check_params(t):
        assert t.shape == (model.n_params,)
        if isinstance(rng, int) and not isinstance(rng, bool):
            np.testing.assert_array_equal(t, model.random_params(rng, scale=scale))

    run("Model.random_params", lambda: model.random_params(rng, scale=scale), args=(rng, scale),
        check=check_params, finite=True)

    def check_sim(out):
        if kind == "invalid":
            _refused(out)
        Xs, y = out
        rows = 3 if with_X else n
        assert Xs.shape == (rows, arch.n_inputs)
        model.family.check_y(y, rows, arch.n_outputs)   # y in the support
        if isinstance(rng, int) and not isinstance(rng, bool):
            _, y2 = model.simulate(theta, n, rng=rng, X=X)
            np.testing.assert_array_equal(y, y2)

    run("Model.simulate", lambda: model.simulate(theta, n, rng=rng, X=X), check=check_sim,
        args=(name, theta, n, rng), promised=kind != "lenient",
        finite=(lambda out: out) if kind == "valid" else None)
    def check_theta(out):   # a batch (..., P) of valid vectors is valid
        if kind == "invalid" and not (out.ndim > 1 and out.shape[-1] == model.n_params):
            _refused(out)
    run("Model.check_theta", lambda: model.check_theta(theta), check=check_theta, args=theta)


@examples(weight=1)
@given(name=hst.sampled_from(zoo.NAMES),
       what=hst.one_of(hst.sampled_from(["loglik", "score", "hessian", "fisher", "output",
                                         "mean"]), scalars),
       backend=hst.one_of(hst.sampled_from([None, "numpy", "auto", "numba", "jax"]), scalars))
def test_model_views_and_compile(name, what, backend):
    model = zoo.model(name)
    run("Model.latex", lambda: model.latex(what), args=what,
        check=lambda s: None if isinstance(s, str) and s else _refused(s))
    run("Model.show", lambda: str(model.show(what)), args=what)
    run("Model._repr_latex_", model._repr_latex_)
    run("Model.compile", lambda: model.compile(backend), args=backend,
        check=lambda cm: None if isinstance(cm, sm.CompiledModel) else _refused(cm))
    for prop in ("eta", "mean", "loglik", "score", "jacobian", "fisher", "hessian", "params",
                 "param_names", "response", "extra_params", "n_params", "n_network_params"):
        run(f"Model.{prop}", lambda: getattr(model, prop))


@examples(weight=1)
@given(name=hst.sampled_from(zoo.NAMES), what=hst.sampled_from(["hessian", "fisher"]),
       i=hst.one_of(hst.integers(0, 8), hst.integers(0, 8), hst.integers(-2, 20),
                    hst.sampled_from(["W1_1_1", "b1_1", "nope", ""]), scalars),
       j=hst.one_of(hst.integers(0, 8), hst.integers(0, 8), hst.integers(0, 20), scalars),
       seed=hst.integers(0, 100))
def test_model_entries(name, what, i, j, seed):
    model = zoo.model(name)
    fresh = sm.Model(model.architecture, model.family)   # the entry alone, no matrix cached
    rng = np.random.default_rng(seed)

    def check(e):
        P = model.n_params
        ii = model.param_names.index(i) if isinstance(i, str) and i in model.param_names else i
        if (isinstance(ii, (bool, np.bool_, str)) or isinstance(j, (bool, np.bool_))
                or not (0 <= int(ii) < P and 0 <= int(j) < P)):
            _refused(e)
        # against the compiled model at one row (the whole symbolic matrix is the slow thing)
        theta = rng.uniform(-1, 1, P)
        x = rng.uniform(-1, 1, (1, model.architecture.n_inputs))
        cat = model.family.name == "categorical"
        y = np.array([0]) if cat else np.ones((1, len(model.response)))
        point = dict(zip(model.params, theta)) | dict(zip(model.architecture.inputs, x[0]))
        point |= {s: (1 if (k == 0 or not cat) else 0) for k, s in enumerate(model.response)}
        cm = model.compile()
        want = (cm.hessian(theta, x, y) if what == "hessian" else cm.fisher(theta, x))
        args = list(point)   # lambdified in mpmath: sympy's evalf(subs=) takes a minute here
        got = complex(sp.lambdify(args, e, modules=[_MP, "mpmath"])(*point.values()))
        close(np.array([got.real]), np.array([want[int(ii), int(j)]]), rtol=1e-8, atol=1e-10,
              what=f"{what} entry")

    run(f"Model.{what}_entry", lambda: getattr(fresh, f"{what}_entry")(i, j), args=(name, i, j),
        check=check)


# ---------------------------------------------------------------- constructors and registries


@examples(weight=2)
@given(widths=hst.lists(hst.one_of(hst.integers(-2, 6), scalars), max_size=5),
       activation=ACTS, output=ACTS, bias=hst.one_of(hst.booleans(), scalars),
       spec=hst.one_of(hst.text(alphabet="0123456789- x", max_size=12), scalars,
                       hst.sampled_from(["2-3-1", "999999-999999-1", "1-" * 3000 + "1"])))
def test_mlp_and_parse_widths(widths, activation, output, bias, spec):
    def check(arch):
        assert arch.widths == tuple(int(w) for w in widths)
    run("mlp", lambda: sm.mlp(*widths, activation=activation, output_activation=output,
                              bias=bias), check=check, args=(widths, activation, output, bias))

    def check_spec(w):
        assert w == tuple(int(p) for p in spec.split("-"))
    run("parse_widths", lambda: sm.parse_widths(spec), check=check_spec, args=spec)


@examples(weight=2)
@given(name=hst.one_of(hst.sampled_from(sm.activation_names()), scalars),
       fam=hst.one_of(hst.sampled_from(["gaussian", "Bernoulli", "poisson", "categorical",
                                        "nope"]), scalars),
       sigma=hst.one_of(hst.floats(1e-3, 1e3), scalars), reference=hst.one_of(hst.booleans(),
                                                                              scalars),
       option=hst.sampled_from(["sigma", "reference", "bogus"]),
       flip=hst.one_of(hst.none(), hst.tuples(scalars, scalars)),
       degree=hst.one_of(hst.none(), counts))
def test_registries_and_families(name, fam, sigma, reference, option, flip, degree):
    run("activation_names", sm.activation_names,
        check=lambda names: None if "tanh" in names else _refused(names))
    run("get_activation", lambda: sm.get_activation(name), args=name,
        check=lambda a: None if a.name == name else _refused(a))
    run("Activation", lambda: sm.Activation("mine", np.sin, np.sin, flip=flip,
                                            polynomial_degree=degree), args=(flip, degree))
    run("Gaussian", lambda: sm.Gaussian(sigma), args=sigma)
    run("Bernoulli", sm.Bernoulli)
    run("Poisson", sm.Poisson)
    run("Categorical", lambda: sm.Categorical(reference), args=reference)
    run("Family", lambda: sm.Family(), check=_refused)   # abstract: a clean SymmleTypeError

    def check_family(out):   # only a known name, with an option that family takes
        takes = {"gaussian": ("sigma",), "categorical": ("reference",)}
        if not (isinstance(fam, str) and option in takes.get(fam.lower(), ())):
            _refused(out)
        assert out.name == fam.lower(), f"family_from_name({fam!r}) gave {out!r}"

    run("family_from_name", lambda: sm.family_from_name(fam, **{option: sigma}),
        check=check_family, args=(fam, option, sigma))
