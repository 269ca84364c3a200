"""Symbolic derivations that would take minutes are bounded (issue 17 §6): the whole Hessian
and Fisher information beyond `SYMBOLIC_MATRIX_MAX_PARAMS` parameters, and printing of
expressions whose expanded trees are huge; one entry at any size instead."""

from __future__ import annotations

import random

import pytest
import sympy as sp

import symmle as sm
from symmle.display import MAX_PRINTED_NODES, tree_size
from symmle.model import SYMBOLIC_MATRIX_MAX_PARAMS


def _at_rationals(expr, symbols, seed):
    rng = random.Random(seed)
    return expr.xreplace({s: sp.Rational(rng.randint(-9, 9), rng.randint(1, 5)) for s in symbols})


@pytest.mark.parametrize("family", [sm.Gaussian(), sm.Bernoulli(), sm.Poisson()])
def test_entries_equal_the_whole_matrices(family):
    model = sm.Model(sm.mlp(2, 2, 1), family)
    H, F = model.hessian, model.fisher
    fresh = sm.Model(sm.mlp(2, 2, 1), family)   # no cached matrices: entries built alone
    syms = list(model.params) + list(model.architecture.inputs) + list(model.response)
    P = model.n_params
    for i, j in [(0, 0), (0, P - 1), (3, 5), (P - 1, P - 1), (2, 6)]:
        for whole, entry in ((H[i, j], fresh.hessian_entry(i, j)),
                             (F[i, j], fresh.fisher_entry(model.param_names[i], j))):
            # tanh and softplus at exact rationals, compared to 40 digits
            a = sp.N(_at_rationals(whole, syms, i * P + j), 40)
            b = sp.N(_at_rationals(entry, syms, i * P + j), 40)
            assert abs(a - b) <= sp.Float("1e-35") * (1 + abs(a))


def test_categorical_fisher_entry_equals_the_matrix():
    model = sm.Model(sm.mlp(1, 1, 3), sm.Categorical())
    F = model.fisher
    fresh = sm.Model(sm.mlp(1, 1, 3), sm.Categorical())
    syms = list(model.params) + list(model.architecture.inputs)
    for i in range(model.n_params):
        for j in range(model.n_params):
            a = sp.N(_at_rationals(F[i, j], syms, 7), 40)
            b = sp.N(_at_rationals(fresh.fisher_entry(i, j), syms, 7), 40)
            assert abs(a - b) <= sp.Float("1e-35") * (1 + abs(a))


def test_large_models_refuse_the_whole_matrices_but_give_entries():
    model = sm.Model(sm.mlp(9, 9, 9), sm.Categorical())
    assert model.n_params > SYMBOLIC_MATRIX_MAX_PARAMS
    for what in ("hessian", "fisher"):
        with pytest.raises(sm.SymmleError, match=f"{what}_entry") as info:
            getattr(model, what)
        assert isinstance(info.value, ValueError)
    e = model.fisher_entry("W1_1_1", "b2_9")
    assert e.free_symbols >= {model.params[0]}
    assert model.hessian_entry(0, 1) != 0


def test_entry_indices_are_checked():
    model = sm.Model(sm.mlp(1, 1), sm.Gaussian())
    with pytest.raises(sm.SymmleError, match="not a parameter name"):
        model.hessian_entry("nope", 0)
    with pytest.raises(sm.SymmleError) as info:
        model.fisher_entry(0, model.n_params)
    assert isinstance(info.value, ValueError)
    with pytest.raises(sm.SymmleError) as info:
        model.fisher_entry(0.5, 0)
    assert isinstance(info.value, TypeError)


def test_tree_size_counts_what_is_printed():
    # the printed length is about 4 characters a node of the expanded tree
    model = sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli())
    exprs = [model.fisher[0, j] for j in range(model.n_params)]
    n = tree_size(exprs)
    chars = sum(len(str(e)) for e in exprs)
    assert 2 * n < chars < 8 * n
    # brute force on a small tree: every node of the expanded tree counted
    x, y = sp.symbols("x y")
    e = sp.Mul(x + y, sp.tanh(x + y), evaluate=False)   # x + y twice: 1 + 3 + (1 + 3)
    assert tree_size([e]) == 8


def test_latex_of_a_huge_expression_is_refused_before_printing():
    model = sm.Model(sm.mlp(3, 6, 6, 6, 1), sm.Bernoulli())
    assert tree_size(list(model.score), MAX_PRINTED_NODES) > MAX_PRINTED_NODES
    with pytest.raises(sm.SymmleError, match="expression nodes") as info:
        model.latex("score")
    assert isinstance(info.value, ValueError)
