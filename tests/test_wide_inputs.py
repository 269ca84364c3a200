"""Wide inputs (issue 19, item 3): the numpy program multiplies layers that read inputs alone
straight from X's layout (one product per chunk, no copy of X for η alone), and every
quantity sees the same η bits."""

import networkx as nx
import numpy as np
import pytest

import symmle as sm


def _wide_skip(d=70, width=40):
    # a wide layer and a skip connection from every input to the output: the output's
    # layer reads inputs and hidden units (`NumericProgram.mixed_inputs`)
    G = nx.DiGraph()
    xs = [f"x{i}" for i in range(d)]
    hs = [f"h{j}" for j in range(width)]
    G.add_nodes_from(xs, role="input")
    G.add_nodes_from(hs, role="hidden", activation="tanh")
    G.add_node("y", role="output")
    G.add_edges_from((x, h) for x in xs for h in hs)
    G.add_edges_from((h, "y") for h in hs)
    G.add_edges_from((x, "y") for x in xs)
    return sm.Architecture.from_graph(G)


CASES = [
    (lambda: sm.mlp(70, 40, 3), sm.Categorical()),
    (lambda: sm.mlp(70, 40, 1), sm.Gaussian(sigma=0.7)),
    (_wide_skip, sm.Bernoulli()),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_wide_layers_from_x_give_the_chunked_bits(case):
    arch_of, family = CASES[case]
    model = sm.Model(arch_of(), family)
    cm = model.compile(backend="numpy")
    prog = cm._prog
    assert prog.wide
    assert prog.mixed_inputs == (case == 2)
    theta = model.random_params(1)
    X, y = model.simulate(theta, n=30000, rng=2)
    assert len(cm._plan(X.shape[0])[0]) > 1
    ll = cm.loglik(theta, X, y)  # η alone: no copy of X
    eta = cm.linear_predictor(theta, X)
    both = cm.evaluate(theta, X, y, ("loglik", "score"))  # X's rows copied for the score
    assert both["loglik"] == ll
    # one product per chunk: the η of a chunk are those of its rows alone
    rows = cm._plan(X.shape[0])[0][1]
    assert np.array_equal(cm.linear_predictor(theta, X[rows]), eta[rows])
    # the forward pass itself against the architecture's own evaluation
    np.testing.assert_allclose(eta, model.architecture.forward(theta, X), rtol=1e-12,
                               atol=1e-12)


def test_the_inputs_rows_of_z_are_written_when_a_layer_mixes_them():
    model = sm.Model(_wide_skip(d=8, width=70), sm.Gaussian(sigma=1.0))
    cm = model.compile(backend="numpy")
    theta = model.random_params(0)
    X = np.random.default_rng(0).standard_normal((50, 8))
    Z, _ = cm._prog.forward(cm._prog.weights(theta[: cm._Pn]), X, None, inputs=False)
    np.testing.assert_array_equal(Z[:8], X.T)  # the output layer reads them


def test_a_nan_in_x_is_still_found():
    model = sm.Model(sm.mlp(70, 40, 3), sm.Categorical())
    theta = model.random_params(0)
    X, y = model.simulate(theta, n=3000, rng=1)
    X[2999, 69] = np.nan
    with pytest.raises(sm.DataError, match="NaN or infinite"):
        model.compile(backend="numpy").loglik(theta, X, y)
