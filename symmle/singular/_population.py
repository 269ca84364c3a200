"""`population_kl`: the exact population KL divergence K(θ) of a Gaussian model, X ~ N(0, I).

For the networks whose outputs are linear combinations of the inputs, a constant and units
``erf(u·x)`` with ``u`` linear in θ and no bias (linear networks of any depth and graph;
bias-free one-hidden-layer erf networks), the expectation over standard normal inputs is in
closed form, from the Gram kernel of those features:

* ``E[x_i x_j] = δ_ij``, ``E[1] = 1``, ``E[x_i] = E[erf(u·x)] = 0``;
* ``E[erf(u·x) x_i] = (2/√π) u_i / √(1 + 2|u|²)`` (Stein's lemma);
* ``E[erf(u·x) erf(v·x)] = (2/π) asin(2u·v / √((1 + 2|u|²)(1 + 2|v|²)))`` (Williams 1997).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SymmleValueError
from ._theory import _check_model_theta, exact_entries

__all__ = ["population_kl", "population_kl_function"]

#: Significant digits of the constants when K is compiled (float64 holds 15 to 17).
_COMPILE_DIGITS = 17


class _Feature:
    """One feature of an output: ``1``, ``x_i`` or ``erf(u·x)`` (``u`` a tuple of sympy
    expressions)."""

    __slots__ = ("kind", "index", "u")

    def __init__(self, kind, index=None, u=None):
        self.kind, self.index, self.u = kind, index, u


def _dot(u, v):
    return sp.Add(*[a * b for a, b in zip(u, v)])


def _moment(f: _Feature, g: _Feature) -> sp.Expr:
    """``E[f(x) g(x)]`` for x ~ N(0, I)."""
    if f.kind == "erf" and g.kind != "erf":
        f, g = g, f
    if f.kind == "one":
        return sp.Integer(1) if g.kind == "one" else sp.Integer(0)
    if f.kind == "x":
        if g.kind == "one":
            return sp.Integer(0)
        if g.kind == "x":
            return sp.Integer(1 if f.index == g.index else 0)
        return 2 / sp.sqrt(sp.pi) * g.u[f.index] / sp.sqrt(1 + 2 * _dot(g.u, g.u))
    return 2 / sp.pi * sp.asin(2 * _dot(f.u, g.u) / sp.sqrt(
        (1 + 2 * _dot(f.u, f.u)) * (1 + 2 * _dot(g.u, g.u))))


def _decompose(expr: sp.Expr, xs) -> list[tuple[sp.Expr, _Feature]]:
    """``expr`` as ``Σ c_f f(x)`` with coefficients free of x, or a SymmleValueError."""
    erfs = sorted(expr.atoms(sp.erf), key=sp.default_sort_key)
    zs = [sp.Dummy(f"z{j}") for j in range(len(erfs))]
    flat = expr.xreplace(dict(zip(erfs, zs)))
    gens = list(xs) + zs
    terms = []
    for e, z in zip(erfs, zs):
        arg = e.args[0]
        u = tuple(sp.diff(arg, x) for x in xs)
        if any(c.has(*xs) or c.has(sp.erf) for c in u):
            raise SymmleValueError(
                f"the unit {e} is not erf of a linear function of the inputs: no closed form "
                f"(only one hidden layer of erf units is supported)")
        if sp.expand(arg.xreplace({x: 0 for x in xs})) != 0:
            raise SymmleValueError(
                f"the unit {e} has a bias: E[erf(u·x + b) erf(v·x + c)] has no closed form; "
                f"use a bias-free network (bias=False)")
        terms.append((sp.diff(flat, z), _Feature("erf", u=u)))
    for i, x in enumerate(xs):
        terms.append((sp.diff(flat, x), _Feature("x", index=i)))
    constant = flat.xreplace({g: 0 for g in gens})
    terms.append((constant, _Feature("one")))
    for c, _ in terms:
        if c.has(*gens):
            raise SymmleValueError(
                "the network's output is not a linear combination of the inputs and of "
                "erf(u·x) units (a nonlinear unit other than erf, or erf units in more than one "
                "layer): population_kl has no closed form for it")
    return [(c, f) for c, f in terms if c != 0]


def _merge(terms):
    """Terms of the same input feature (``x_i`` or ``1``) added into one; erf terms kept."""
    merged, out = {}, []
    for c, f in terms:
        if f.kind == "erf":
            out.append((c, f))
        elif (f.kind, f.index) in merged:
            merged[f.kind, f.index][0].append(c)
        else:
            merged[f.kind, f.index] = ([c], f)
    out += [(sp.Add(*cs), f) for cs, f in merged.values()]
    return [(c, f) for c, f in out if c != 0]


def _mean_square(terms) -> sp.Expr:
    """``E[(Σ c_f f)²]`` from the Gram kernel."""
    total = []
    for a, (c, f) in enumerate(terms):
        total.append(c ** 2 * _moment(f, f))
        for d, g in terms[a + 1:]:
            m = _moment(f, g)
            if m != 0:
                total.append(2 * c * d * m)
    return sp.Add(*total)


def population_kl(model, theta_true) -> sp.Expr:
    """The population KL divergence ``K(θ) = E_x KL(p(·|x, θ*) ‖ p(·|x, θ))``, exactly.

    For a Gaussian model with standard normal inputs ``x ~ N(0, I)`` and a network whose
    outputs are linear combinations of the inputs, a constant, and bias-free ``erf`` units of
    one hidden layer — linear (identity) networks of any depth, with or without biases, and
    bias-free ``mlp(d, H, K, activation="erf", bias=False)``. With σ known,

    ``K(θ) = E‖f(x; θ) − f(x; θ*)‖² / (2σ²)``,

    which for a linear network is ``(‖W − W*‖_F² + ‖c − c*‖²)/(2σ²)`` (W the product of the
    layers, c the constant); with σ estimated (``s = log_sigma``) and K outputs,
    ``K(θ) = K·(s − s* + e^{2s*−2s}/2 − 1/2) + E‖f − f*‖² e^{−2s}/2``.

    Parameters
    ----------
    model : Model
        A Gaussian model.
    theta_true : array_like, shape (P,)
        The truth (floats are read by their decimal ``repr``, so 0.1 is 1/10).

    Returns
    -------
    sympy.Expr
        K as an expression in ``model.params``; zero at θ*, positive elsewhere
        (`population_kl_function` compiles it with its gradient).

    Raises
    ------
    SymmleTypeError
        ``model`` is not a Model.
    SymmleValueError
        A family other than Gaussian, or a network outside the closed form (biased erf units,
        other nonlinear activations, erf units feeding erf units).
    ParamsError
        θ* of the wrong length, or not finite.

    References
    ----------
    Williams, C. K. I. (1997). Computing with infinite networks. NIPS 9, 295–301 (the erf
    kernel).

    Examples
    --------
    >>> from symmle.singular import population_kl
    >>> model = sm.Model(sm.mlp(1, 1, 1, activation="identity", bias=False), sm.Gaussian(1.0))
    >>> population_kl(model, [1, 2])
    (W1_1_1*W2_1_1 - 2)**2/2
    >>> erf_net = sm.Model(sm.mlp(1, 1, 1, activation="erf", bias=False), sm.Gaussian(1.0))
    >>> K = population_kl(erf_net, [1, 1])
    >>> K.subs({s: 1 for s in erf_net.params})
    0
    """
    values = _check_model_theta(model, theta_true)
    if model.family.name != "gaussian":
        raise SymmleValueError(
            f"population_kl is for Gaussian models, got the {model.family.name} family")
    exact = exact_entries(theta_true, values)
    params = model.params
    P_net = model.n_network_params
    truth = dict(zip(params, exact))
    xs = model.architecture.inputs
    sq = []
    for eta in model.eta:
        ours = _decompose(eta, xs)
        theirs = [(c.xreplace(truth), _Feature(f.kind, f.index,
                                               None if f.u is None else
                                               tuple(u.xreplace(truth) for u in f.u)))
                  for c, f in ours]
        # the difference f(x; θ) − f(x; θ*) as one feature list: the truth's with minus
        # signs, its x_i and constant merged with ours (they are the same features)
        sq.append(_mean_square(_merge(ours + [(-c, f) for c, f in theirs if c != 0])))
    mean_square = sp.Add(*sq)
    K_out = model.architecture.n_outputs
    if model.family.sigma is not None:
        sigma = sp.Rational(repr(model.family.sigma))
        return mean_square / (2 * sigma ** 2)
    s, s_true = params[P_net], exact[P_net]
    return (K_out * (s - s_true + sp.exp(2 * s_true - 2 * s) / 2 - sp.Rational(1, 2))
            + mean_square * sp.exp(-2 * s) / 2)


def population_kl_function(model, theta_true):
    """`population_kl` and its gradient compiled to one numpy function of θ.

    Parameters
    ----------
    model : Model
    theta_true : array_like, shape (P,)

    Returns
    -------
    callable
        ``f(theta) -> (K, grad)``: a float and a float64 array of shape (P,), from one
        ``lambdify(..., cse=True)`` over K and its exact gradient.

    Raises
    ------
    As `population_kl`; calling ``f`` with a θ of the wrong length raises ParamsError.

    Examples
    --------
    >>> from symmle.singular import population_kl_function
    >>> model = sm.Model(sm.mlp(1, 1, 1, activation="erf", bias=False), sm.Gaussian(1.0))
    >>> f = population_kl_function(model, [1.0, 1.0])
    >>> value, grad = f([1.0, 1.0])
    >>> round(value, 12), grad.round(12).tolist()
    (0.0, [0.0, 0.0])
    >>> f([0.0, 0.0])[0] == float(population_kl(model, [1, 1]).subs({p: 0 for p in model.params}))
    True
    """
    K = population_kl(model, theta_true)
    params = list(model.params)
    outputs = [K] + [sp.diff(K, p) for p in params]
    outputs = [e.evalf(_COMPILE_DIGITS) for e in outputs]  # no big-integer rationals in numpy
    compiled = sp.lambdify([params], outputs, modules="numpy", cse=True)

    def f(theta):
        theta = model.check_theta(theta, name="theta")
        if theta.ndim != 1:
            raise SymmleValueError(f"theta must be one vector of length {len(params)}")
        values = compiled(theta)
        return float(values[0]), np.array(values[1:], dtype=float)

    return f
