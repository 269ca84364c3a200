"""The activation registry: sympy form, numpy form and the algebraic facts.

Each `Activation` carries

* ``sympy(z)``: the symbolic form, built from functions whose derivatives sympy
  knows (custom `sympy.Function` subclasses for the sigmoid, softplus
  and ReLU, so that derivatives stay short and print as ``\\sigma(z)``);
* ``numpy(z)``: a numerically stable vectorised form (``expit``, ``logaddexp``);
* the facts the symmetry code needs: ``flip`` (``σ(-z) = a + c·σ(z)``; ``odd`` when it is
  ``(0, -1)``, ``sigmoid_symmetric`` when ``(1, -1)``), ``affine_flip`` (``σ(-z) = σ(z) - c·z``:
  softplus, SiLU, GELU and ReLU with ``c = 1``, leaky ReLU with ``c = 1 + slope``),
  ``positively_homogeneous`` (``σ(cz) = cσ(z)`` for ``c > 0``), ``linear`` and
  ``polynomial_degree`` (``r`` for the monomials ``z^r``: ``square``, ``cube``, ``quartic``).

Every nonlinear activation has at most one *negation identity* ``σ(-z) = α + β·σ(z) + γ·z``
(`Activation.negation`): two of them would make σ affine. It is what lets a unit flip: negate
its incoming weights and bias, multiply its outgoing weights by β, and move ``α`` and ``γ·z``
into its successors' biases and skip weights (`symmle.symmetry`).

Polynomial activations are for exact-rank experiments (Alexander–Hirschowitz defects): a
polynomial network has parameter redundancies that no symmetry explains, so its
`symmle.symmetry_group` is only the group of the *structural* symmetries (permutations, the
flips above and, in `symmle.continuous_symmetries`, the rescaling ``σ(λz) = λ^r σ(z)``), not the
whole fibre of the function. `symmle.strategies` leaves them out of its default draws.

ReLU convention: the derivative of ``relu`` at 0 is taken as 0 (``relu_step(0)
= 0``), as in PyTorch and JAX. The same holds for ``leaky_relu`` (slope 0.01 on
the left), whose derivative at 0 is 0.01. "At 0" means the exact pre-activation from the
float θ and x: the compiled programs take these slopes from its exact sign where float64
cannot certify it (a product that underflows, a sum that cancels;
`symmle.compiled._kinks`), as the symbolic forms evaluated exactly do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import mpmath
import numpy as np
import scipy.special as sps
import sympy as sp

from .errors import SymmleTypeError, SymmleValueError, UnknownActivationError

__all__ = [
    "Activation",
    "get_activation",
    "activation_names",
    "sigmoid",
    "softplus",
    "relu",
    "relu_step",
    "leaky_relu",
    "leaky_step",
    "logsumexp",
    "gelu",
    "NUMPY_FUNCTIONS",
]

LEAKY_SLOPE = sp.Rational(1, 100)


def _latex_call(head: str, arg: str, exp=None) -> str:
    """``head\\left(arg\\right)``, or ``head^{exp}\\left(arg\\right)`` for a power (sympy's
    printer passes ``exp`` when the function is the base of a power, e.g. ``σ(z)²``)."""
    power = "" if exp is None else "^{%s}" % exp
    return r"%s%s\left(%s\right)" % (head, power, arg)


class sigmoid(sp.Function):  # noqa: N801 - sympy functions are lowercase
    """The logistic function ``1 / (1 + exp(-z))`` as an opaque sympy function."""

    nargs = 1

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, z):
        if z == 0:
            return sp.Rational(1, 2)
        if z.is_Number and z.is_finite:
            return 1 / (1 + sp.exp(-z))
        return None

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_evalf(self, prec):
        # 1 / (1 + e^-z) in mpmath at the working precision; a symbolic argument stays as is
        try:
            z = self.args[0]._to_mpmath(prec + 10)
        except ValueError:
            return None
        with mpmath.workprec(prec + 10):
            v = 1 / (1 + mpmath.exp(-z))
        return sp.Expr._from_mpmath(v, prec)

    def _latex(self, printer, exp=None):
        return _latex_call(r"\sigma", printer._print(self.args[0]), exp)


class softplus(sp.Function):  # noqa: N801
    """``log(1 + exp(z))``, printed and evaluated stably."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, z):
        if z == 0:
            return sp.log(2)
        if z.is_Number and z.is_finite:
            return sp.log(1 + sp.exp(z))
        return None

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))

    def _eval_rewrite_as_log(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))

    def _eval_evalf(self, prec):
        # log1p(e^z) in mpmath at the working precision: no overflow for z >> 0 and no
        # cancellation for z << 0; a symbolic argument stays as is
        try:
            z = self.args[0]._to_mpmath(prec + 10)
        except ValueError:
            return None
        with mpmath.workprec(prec + 10):
            v = mpmath.log1p(mpmath.exp(z))
        return sp.Expr._from_mpmath(v, prec)

    def _latex(self, printer, exp=None):
        return _latex_call(r"\operatorname{softplus}", printer._print(self.args[0]), exp)


class relu_step(sp.Function):  # noqa: N801
    """The derivative of ReLU: 1 for z > 0, else 0 (so ``relu'(0) = 0``)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.S.Zero

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return sp.S.One if z > 0 else sp.S.Zero
        return None

    def _latex(self, printer, exp=None):
        text = r"\mathbb{1}\left[%s > 0\right]" % printer._print(self.args[0])
        return text if exp is None else r"%s^{%s}" % (text, exp)


class relu(sp.Function):  # noqa: N801
    """``max(z, 0)``; its derivative is `relu_step`."""

    nargs = 1

    def fdiff(self, argindex=1):
        return relu_step(self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return z if z > 0 else sp.S.Zero
        return None

    def _latex(self, printer, exp=None):
        return _latex_call(r"\operatorname{ReLU}", printer._print(self.args[0]), exp)


class leaky_step(sp.Function):  # noqa: N801
    """The derivative of leaky ReLU: 1 for z > 0, else 0.01."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.S.Zero

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return sp.S.One if z > 0 else LEAKY_SLOPE
        return None


class leaky_relu(sp.Function):  # noqa: N801
    """``max(z, 0.01 z)``; its derivative is `leaky_step`."""

    nargs = 1

    def fdiff(self, argindex=1):
        return leaky_step(self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return z if z > 0 else LEAKY_SLOPE * z
        return None

    def _latex(self, printer, exp=None):
        return _latex_call(r"\operatorname{LeakyReLU}", printer._print(self.args[0]), exp)


def gelu(z):
    """``z·Φ(z) = z (1 + erf(z/√2)) / 2``, the Gaussian error linear unit (exact, not the tanh
    approximation)."""
    return z * (1 + sp.erf(z / sp.sqrt(2))) / 2


def _np_gelu(z):
    z = np.asarray(z, dtype=float)
    # Φ(z) = erfc(-z/√2)/2: no cancellation in 1 + erf(z/√2) for negative z
    return 0.5 * z * sps.erfc(-z / np.sqrt(2.0))


class logsumexp(sp.Function):  # noqa: N801
    """``log(Σ_k exp(z_k))`` over its arguments; the softmax is its gradient."""

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1] - self)

    def _eval_rewrite_as_exp(self, *args, **kwargs):
        return sp.log(sp.Add(*[sp.exp(a) for a in args]))

    def _eval_rewrite_as_log(self, *args, **kwargs):
        return sp.log(sp.Add(*[sp.exp(a) for a in args]))

    def _eval_evalf(self, prec):
        # log Σ e^{z_k} in mpmath at the working precision (no overflow); symbolic arguments
        # leave it as is
        try:
            z = [a._to_mpmath(prec + 10) for a in self.args]
        except ValueError:
            return None
        with mpmath.workprec(prec + 10):
            v = mpmath.log(mpmath.fsum(mpmath.exp(a) for a in z))
        return sp.Expr._from_mpmath(v, prec)

    def _latex(self, printer, exp=None):
        terms = " + ".join(r"e^{%s}" % printer._print(a) for a in self.args)
        return _latex_call(r"\log", terms, exp)


def _np_logsumexp(*args):
    arrays = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in args])
    return sps.logsumexp(np.stack(arrays), axis=0)


def _np_relu_step(z):
    return np.heaviside(z, 0.0)


def _np_leaky_step(z):
    return np.where(np.asarray(z) > 0, 1.0, 0.01)


#: numpy implementations of the custom sympy functions, for ``lambdify``.
NUMPY_FUNCTIONS: dict[str, Callable] = {
    "sigmoid": sps.expit,
    "softplus": lambda z: np.logaddexp(0.0, z),
    "relu": lambda z: np.maximum(z, 0.0),
    "relu_step": _np_relu_step,
    "leaky_relu": lambda z: np.where(np.asarray(z) > 0, z, 0.01 * np.asarray(z)),
    "leaky_step": _np_leaky_step,
    "logsumexp": _np_logsumexp,
    "erf": sps.erf,
}


def _simd_cosh() -> bool:
    """Whether numpy's float64 ``cosh`` is a SIMD loop here (its AVX-512 SVML kernels)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2, or a build without the table
        return False
    return bool(features.get("AVX512_SKX"))


#: where ``cosh`` is vectorised, ``tanh_d1`` is ``(1/cosh z)²``: three passes, 2.3 ns a value
#: on an AVX-512 Xeon against 16 ns for the four-temporary exp form (both within 2.1 ulp of
#: mpmath over |z| ≤ 360); without it, the exp form in place (≈ 10 ns there).
_TANH_D1_COSH = _simd_cosh()


def _tanh_d1_cosh(z):
    s = np.empty_like(z)
    with np.errstate(over="ignore"):  # cosh = inf beyond 710: sech² underflows to 0 anyway
        np.cosh(z, out=s)
    np.reciprocal(s, out=s)
    np.multiply(s, s, out=s)
    return s


def _tanh_d1_exp(z):
    e = np.abs(z)
    e *= -2.0
    np.exp(e, out=e)
    d = e + 1.0
    d *= d
    e *= 4.0
    e /= d
    return e


def tanh_d1(z):
    """``tanh'(z) = sech²(z)``: ``(1/cosh z)²`` where numpy's ``cosh`` is SIMD, else
    ``4e/(1 + e)²`` with ``e = exp(−2|z|)``; either from the pre-activation, so that a saturated
    unit keeps its digits (``1 − tanh²(z)`` is 0 for |z| > 19.1, where the truth is
    ≈ 4e^{−2|z|}), without overflow, and within a few ulp.

    Examples
    --------
    >>> from symmle.activations import tanh_d1
    >>> f"{float(tanh_d1(31.0)):.12e}", float(1 - np.tanh(31.0) ** 2)
    ('4.740259456936e-27', 0.0)
    """
    z = np.asarray(z, dtype=float)
    out = _tanh_d1_cosh(z) if _TANH_D1_COSH else _tanh_d1_exp(z)
    return out if out.ndim else out[()]


def tanh_d2(z):
    """``tanh''(z) = −2 tanh(z) sech²(z)``, from the pre-activation (as `tanh_d1`)."""
    return -2.0 * np.tanh(z) * tanh_d1(z)


def sigmoid_d1(z):
    """``σ'(z) = σ(z)σ(−z) = e/(1 + e)²`` with ``e = exp(−|z|)``: from the pre-activation
    (``h(1 − h)`` is 0 for z > 36.7, where the truth is ≈ e^{−z})."""
    e = np.exp(-np.abs(np.asarray(z, dtype=float)))
    return e / ((1.0 + e) * (1.0 + e))


def sigmoid_d2(z):
    """``σ''(z) = σ'(z)(σ(−z) − σ(z)) = −σ'(z) tanh(z/2)``, from the pre-activation."""
    z = np.asarray(z, dtype=float)
    return -sigmoid_d1(z) * np.tanh(0.5 * z)


@dataclass(frozen=True)
class Activation:
    """An activation function with its symbolic and numeric forms and its symmetries.

    Parameters
    ----------
    name : str
        The registry name.
    sympy : callable
        ``Expr -> Expr``: the symbolic form.
    numpy : callable
        ``ndarray -> ndarray``: a numerically stable vectorised form.
    flip : tuple of (int, int) or None
        ``(a, c)`` such that ``σ(-z) = a + c·σ(z)`` for all z, or None.
        Odd activations have ``(0, -1)``, the logistic sigmoid ``(1, -1)``, even ones
        (``square``, ``quartic``) ``(0, 1)``.
    positively_homogeneous : bool
        ``σ(cz) = c·σ(z)`` for every ``c > 0`` (ReLU, leaky ReLU, identity).
    linear : bool
        ``σ(z) = z``.
    affine_flip : int, sympy.Rational or None
        ``c`` such that ``σ(-z) = σ(z) - c·z`` for all z, or None: 1 for softplus, SiLU, GELU
        and ReLU, ``1 + slope`` = 101/100 for leaky ReLU, 0 for even activations, 2 for the
        identity (Vlačić & Bölcskei 2021).
    polynomial_degree : int or None
        ``r`` when ``σ(z) = z^r`` (the registry's polynomial activations are monomials, so
        ``σ(λz) = λ^r σ(z)`` for every real λ); None for every non-polynomial activation.
    numpy_d1, numpy_d2 : callable or None
        ``ndarray -> ndarray``: σ' and σ'' as numerically stable functions of the
        pre-activation z, used by the numeric programs instead of the forms sympy derives
        (which are written through ``h = σ(z)`` and cancel where σ saturates: ``1 − h²``);
        None (the default) to use the derived forms.

    References
    ----------
    Vlačić & Bölcskei (2021), Affine symmetries and neural network identifiability.
    Advances in Mathematics 376.
    """

    name: str
    sympy: Callable = field(repr=False)
    numpy: Callable = field(repr=False)
    flip: tuple[int, int] | None = None
    positively_homogeneous: bool = False
    linear: bool = False
    affine_flip: object = None
    polynomial_degree: int | None = None
    numpy_d1: Callable | None = field(default=None, repr=False, compare=False)
    numpy_d2: Callable | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise SymmleTypeError(f"Activation name must be a non-empty str (the name it is "
                                  f"looked up and saved by, e.g. 'my_tanh'), got "
                                  f"{type(self.name).__name__} {self.name!r}")
        for what in ("numpy_d1", "numpy_d2"):
            if getattr(self, what) is not None and not callable(getattr(self, what)):
                raise SymmleTypeError(f"activation {self.name!r}: {what} must be callable or "
                                      f"None, got {type(getattr(self, what)).__name__}")
        for what in ("sympy", "numpy"):
            if not callable(getattr(self, what)):
                raise SymmleTypeError(f"activation {self.name!r}: {what} must be callable, got "
                                      f"{type(getattr(self, what)).__name__}")
        for what in ("positively_homogeneous", "linear"):
            if not isinstance(getattr(self, what), (bool, np.bool_)):
                raise SymmleTypeError(f"activation {self.name!r}: {what} must be True or False, "
                                      f"got {getattr(self, what)!r}")
        if self.flip is not None and not (
                isinstance(self.flip, tuple) and len(self.flip) == 2
                and all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))
                        and c in (-1, 0, 1) for c in self.flip)):
            raise SymmleValueError(f"activation {self.name!r}: flip must be None or a pair of "
                                   f"integers (a, c) in {{-1, 0, 1}}, got {self.flip!r}")
        if self.affine_flip is not None and (
                isinstance(self.affine_flip, (bool, np.bool_))
                or not isinstance(self.affine_flip, (int, np.integer, sp.Rational))):
            raise SymmleValueError(f"activation {self.name!r}: affine_flip must be None, an int "
                                   f"or a sympy Rational, got {self.affine_flip!r}")
        if self.flip is not None and self.affine_flip is not None and not self.linear:
            # both identities hold only for an even σ (flip (0, 1), affine_flip 0)
            if tuple(self.flip) != (0, 1) or self.affine_flip != 0:
                raise SymmleValueError(f"activation {self.name!r}: a nonlinear activation has "
                                       "at most one negation identity")
        if self.polynomial_degree is not None and (
                isinstance(self.polynomial_degree, (bool, np.bool_))
                or not isinstance(self.polynomial_degree, (int, np.integer))
                or self.polynomial_degree < 1):
            raise SymmleValueError(f"activation {self.name!r}: polynomial_degree must be None or "
                                   f"an int >= 1, got {self.polynomial_degree!r}")

    @property
    def negation(self) -> tuple[float, float, float] | None:
        """``(α, β, γ)`` with ``σ(-z) = α + β·σ(z) + γ·z`` and ``β = ±1``, or None.

        From `flip` (``γ = 0``) or `affine_flip` (``α = 0, β = 1, γ = -c``), as floats; None
        for linear activations, whose symmetries are continuous.

        Examples
        --------
        >>> sm.get_activation("sigmoid").negation, sm.get_activation("softplus").negation
        ((1.0, -1.0, 0.0), (0.0, 1.0, -1.0))
        >>> sm.get_activation("leaky_relu").negation
        (0.0, 1.0, -1.01)
        """
        if self.linear:
            return None
        if self.flip is not None:
            return (float(self.flip[0]), float(self.flip[1]), 0.0)
        if self.affine_flip is not None:
            return (0.0, 1.0, -float(self.affine_flip))
        return None

    @property
    def odd(self) -> bool:
        """``σ(-z) = -σ(z)``."""
        return self.flip == (0, -1)

    @property
    def sigmoid_symmetric(self) -> bool:
        """``σ(-z) = 1 - σ(z)``."""
        return self.flip == (1, -1)


def _silu(z):
    return z * sigmoid(z)


_REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("identity", lambda z: z, lambda z: np.asarray(z, dtype=float),
                   flip=(0, -1), positively_homogeneous=True, linear=True, affine_flip=2),
        Activation("tanh", sp.tanh, np.tanh, flip=(0, -1), numpy_d1=tanh_d1,
                   numpy_d2=tanh_d2),
        Activation("sigmoid", sigmoid, sps.expit, flip=(1, -1), numpy_d1=sigmoid_d1,
                   numpy_d2=sigmoid_d2),
        Activation("relu", relu, NUMPY_FUNCTIONS["relu"], positively_homogeneous=True,
                   affine_flip=1),
        Activation("leaky_relu", leaky_relu, NUMPY_FUNCTIONS["leaky_relu"],
                   positively_homogeneous=True, affine_flip=1 + LEAKY_SLOPE),
        Activation("softplus", softplus, NUMPY_FUNCTIONS["softplus"], affine_flip=1),
        Activation("silu", _silu, lambda z: np.asarray(z) * sps.expit(z), affine_flip=1),
        Activation("erf", sp.erf, sps.erf, flip=(0, -1)),
        Activation("gelu", gelu, _np_gelu, affine_flip=1),
        Activation("square", lambda z: z ** 2, lambda z: np.square(np.asarray(z, dtype=float)),
                   flip=(0, 1), affine_flip=0, polynomial_degree=2),
        Activation("cube", lambda z: z ** 3, lambda z: np.asarray(z, dtype=float) ** 3,
                   flip=(0, -1), polynomial_degree=3),
        Activation("quartic", lambda z: z ** 4, lambda z: np.asarray(z, dtype=float) ** 4,
                   flip=(0, 1), affine_flip=0, polynomial_degree=4),
    ]
}


def activation_names() -> tuple[str, ...]:
    """The names in the registry, in a fixed order.

    Examples
    --------
    >>> sm.activation_names()[:3]
    ('identity', 'tanh', 'sigmoid')
    """
    return tuple(_REGISTRY)


def get_activation(name, *, argument: str = "activation") -> Activation:
    """Look an activation up by name.

    Parameters
    ----------
    name : str or Activation
        A registry name (see `activation_names`), or an
        `Activation`, returned unchanged.
    argument : str, optional
        What ``name`` is called where it was given (``"activation"``, ``"node 'h'"``...), for
        the messages.

    Raises
    ------
    SymmleTypeError
        (a ``TypeError``) for a name that is neither a str nor an `Activation`.
    UnknownActivationError
        (a ``ValueError``) for a name not in the registry; the message lists the known ones.

    Examples
    --------
    >>> act = sm.get_activation("tanh")
    >>> act.odd, act.positively_homogeneous
    (True, False)
    >>> sm.get_activation("sigmoid").sigmoid_symmetric
    True
    >>> sm.get_activation(5)
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleTypeError: activation must be an activation name (a str such as 'tanh') or an Activation, got int 5; give one of: identity, tanh, sigmoid, relu, leaky_relu, softplus, silu, erf, gelu, square, cube, quartic
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        shown = repr(name)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise SymmleTypeError(
            f"{argument} must be an activation name (a str such as 'tanh') or an Activation, "
            f"got {type(name).__name__} {shown}; give one of: {', '.join(_REGISTRY)}"
        )
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownActivationError(
            f"unknown activation {name!r}; known: {', '.join(_REGISTRY)}"
        ) from None
