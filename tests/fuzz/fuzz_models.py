"""The fuzz suite's model zoo: every family and activation, MLPs and graphs with skip
connections and bias-free units, built once per session."""

from __future__ import annotations

import functools

import networkx as nx

import symmle as sm


def _skip_graph(activation: str, *, bias_free: bool = False) -> sm.Architecture:
    G = nx.DiGraph()
    G.add_node("x1", role="input")
    G.add_node("x2", role="input")
    G.add_node("h1", role="hidden", activation=activation)
    G.add_node("h2", role="hidden", activation=activation, bias=not bias_free)
    G.add_node("y", role="output")
    G.add_edges_from([("x1", "h1"), ("x2", "h1"), ("x1", "h2"), ("h1", "y"), ("h2", "y"),
                      ("x1", "y"), ("x2", "y")])
    return sm.Architecture.from_graph(G)


#: name -> (architecture factory, family factory)
_ZOO = {
    "tanh-gaussian": (lambda: sm.mlp(2, 2, 1), lambda: sm.Gaussian(sigma=1.0)),
    "sigmoid-gaussian-sigma": (lambda: sm.mlp(1, 2, 1, activation="sigmoid"),
                               lambda: sm.Gaussian()),
    "relu-bernoulli": (lambda: sm.mlp(2, 2, 1, activation="relu"), lambda: sm.Bernoulli()),
    "softplus-poisson": (lambda: sm.mlp(2, 1, 1, activation="softplus"), lambda: sm.Poisson()),
    "glm-poisson": (lambda: sm.mlp(2, 1), lambda: sm.Poisson()),
    "silu-categorical": (lambda: sm.mlp(1, 2, 3, activation="silu"), lambda: sm.Categorical()),
    "glm-categorical-ref": (lambda: sm.mlp(2, 2), lambda: sm.Categorical(reference=True)),
    "gelu-skip-bernoulli": (lambda: _skip_graph("gelu", bias_free=True), lambda: sm.Bernoulli()),
    "softplus-skip-gaussian": (lambda: _skip_graph("softplus"), lambda: sm.Gaussian(sigma=0.5)),
    "erf-gaussian-2out": (lambda: sm.mlp(1, 2, 2, activation="erf"),
                          lambda: sm.Gaussian(sigma=2.0)),
    "leaky-poisson": (lambda: sm.mlp(1, 2, 1, activation="leaky_relu"), lambda: sm.Poisson()),
    "square-gaussian": (lambda: sm.mlp(2, 2, 1, activation="square", bias=False),
                        lambda: sm.Gaussian(sigma=1.0)),
    "deep-tanh-bernoulli": (lambda: sm.mlp(1, 2, 2, 1), lambda: sm.Bernoulli()),
}

NAMES = tuple(_ZOO)


@functools.lru_cache(maxsize=None)
def model(name: str) -> sm.Model:
    arch, family = _ZOO[name]
    return sm.Model(arch(), family())


def arch(name: str) -> sm.Architecture:
    return model(name).architecture
