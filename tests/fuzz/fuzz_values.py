"""Hostile and valid arguments for the fuzz suite.

An example has one kind, and one of its arguments (`broken`) is drawn of that kind:

``"valid"``
    inside the promised range (|θ| ≤ 50, |x| ≤ 10³, y in the family's support, right shape):
    the call must succeed with a correct, finite result (finite where the truth is);
``"lenient"``
    finite and well-shaped but outside the promised range (|θ| up to 1e300, subnormal
    numbers, bool arrays): a clean error or a result, but no finiteness promise;
``"invalid"``
    wrong type, wrong shape or length, NaN/inf, out of support: the call must raise a clean
    `symmle.SymmleError`; a result is *wrong*.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as hst

from fuzz_harness import THETA_RANGE, X_RANGE

class _Opaque:
    """An object numpy and symmle know nothing about."""

    def __repr__(self):
        return "<opaque>"


#: Scalars of every type a user might pass by mistake (bools where ints go, huge ints,
#: strings, bytes, NaN/inf, subnormal and huge floats, numpy scalars, containers).
scalars = hst.one_of(
    hst.none(), hst.booleans(), hst.just(np.bool_(True)),
    hst.integers(-10 ** 6, 10 ** 6), hst.sampled_from([2 ** 63, -2 ** 63 - 1, 10 ** 40, 10 ** 400]),
    hst.just(np.int64(3)), hst.just(np.float32(0.5)),
    hst.floats(allow_nan=True, allow_infinity=True), hst.sampled_from([5e-324, 1e-310, 1e308]),
    hst.text(max_size=6), hst.binary(max_size=6), hst.just(1 + 2j),
    hst.just(_Opaque()), hst.just({}), hst.just({"a": 1}), hst.just([[1, 2], [3]]),
)

#: Small non-negative integers and everything that is not one (counts, seeds, options).
counts = hst.one_of(hst.integers(0, 8), scalars)


def _floats(bound: float):
    return hst.floats(-bound, bound, allow_nan=False, allow_infinity=False)


def _valid(shape, bound):
    size = int(np.prod(shape))
    return hst.lists(_floats(bound), min_size=size, max_size=size).map(
        lambda v: np.array(v, dtype=float).reshape(shape))


def _poke(a, value):
    """``a`` with its last entry replaced by ``value`` (a NaN or an infinity)."""
    a = np.array(a, dtype=float)
    if a.size == 0:
        return np.array([value])
    a.flat[-1] = value
    return a


def real_arrays(shape, bound: float, kind: str = "valid"):
    """``shape`` arrays of the given kind: valid (entries in ``[-bound, bound]``, as an
    array or a list), lenient (huge, subnormal, bool, float32, object dtype) or invalid
    (NaN/inf, wrong shape, wrong dtype, a scalar or a container)."""
    good = _valid(shape, bound)
    size = int(np.prod(shape))
    if kind == "valid":
        return hst.one_of(good, good.map(lambda a: a.tolist()))
    if kind == "lenient":
        return hst.one_of(
            _valid(shape, 1e300),
            good.map(lambda a: a * 1e-310),
            good.map(lambda a: a > 0),
            good.map(lambda a: np.asarray(a, dtype=np.float32)),
            good.map(lambda a: a.astype(object)),
        )
    return hst.one_of(
        good.map(lambda a: _poke(a, np.nan)),
        good.map(lambda a: _poke(a, -np.inf)),
        good.map(lambda a: a.astype(complex) + 1j),
        good.map(lambda a: a.astype(str)),
        good.map(lambda a: a.ravel()[:-1]) if size else hst.just(np.zeros(0)),
        good.map(lambda a: np.append(a.ravel(), 0.0)),
        good.map(lambda a: a[None, None]),
        scalars.filter(lambda s: not (isinstance(s, list) and len(s) == size)),
        hst.just([[0.0], [0.0, 1.0]]),
    )


#: How often each kind of example is drawn: mostly valid calls, whose results the oracles
#: judge; then hostile ones.
example_kinds = hst.sampled_from(("valid",) * 6 + ("lenient",) + ("invalid",) * 3)


def thetas(P: int, kind: str = "valid"):
    """θ for a model of ``P`` parameters (see `real_arrays`), bound |θ| ≤ 50."""
    return real_arrays((P,), THETA_RANGE, kind)


def small_thetas(P: int, bound: float = 3.0):
    """Valid θ with small entries (for finite differences and symmetry oracles)."""
    return _valid((P,), bound)


def designs(n: int, d: int, kind: str = "valid"):
    """X with ``n`` rows of ``d`` inputs, |x| ≤ 10³ when valid."""
    return real_arrays((n, d), X_RANGE, kind)


def responses(family, n: int, k: int, kind: str = "valid"):
    """y for ``n`` rows: in the support of ``family`` (valid) or not (invalid)."""
    name = type(family).__name__
    if name == "Gaussian":
        good = _valid((n,) if k == 1 else (n, k), X_RANGE)
        bad = hst.one_of(good.map(lambda y: _poke(y, np.nan)),
                         good.map(lambda y: y.ravel()[:-1]), hst.just("y"))
    elif name == "Bernoulli":
        good = hst.lists(hst.sampled_from([0.0, 1.0]), min_size=n * k, max_size=n * k).map(
            lambda v: np.array(v).reshape((n,) if k == 1 else (n, k)))
        bad = hst.one_of(good.map(lambda y: y + 0.5), good.map(lambda y: y * 2 - 3),
                         good.map(lambda y: y.ravel()[:-1]))
    elif name == "Poisson":
        good = hst.lists(hst.integers(0, 10 ** 6).map(float), min_size=n * k,
                         max_size=n * k).map(lambda v: np.array(v).reshape((n,) if k == 1
                                                                           else (n, k)))
        bad = hst.one_of(good.map(lambda y: y - 1.5), good.map(lambda y: -y - 1),
                         good.map(lambda y: _poke(y, np.inf)))
    else:  # Categorical: labels 0..K-1 (K = k outputs, or k + 1 with a reference class)
        classes = k + 1 if getattr(family, "reference", False) else k
        good = hst.lists(hst.integers(0, classes - 1), min_size=n, max_size=n).map(
            lambda v: np.array(v, dtype=float))
        bad = hst.one_of(good.map(lambda y: y + classes), good.map(lambda y: y - 0.5),
                         good.map(lambda y: y[:-1]))
    if kind == "invalid":
        return hst.one_of(bad, scalars)
    return good


def broken(kind: str, names):
    """Which argument of ``names`` carries the example's kind (the others are valid)."""
    if kind == "valid":
        return hst.just(None)
    return hst.sampled_from(tuple(names))


#: Random bytes for files: empty, binary, latin-1, NUL bytes, very long lines, deep JSON.
file_bytes = hst.one_of(
    hst.binary(max_size=200),
    hst.text(max_size=80).map(lambda t: t.encode("latin-1", "replace")),
    hst.text(max_size=80).map(lambda t: t.encode("utf-8")),
    hst.sampled_from([b"", b"\x00" * 64, b"\xff\xfe\x00", b"[" * 10000, b"{\"a\":" * 3000,
                      b"1" * 5000, b"x" * (2 ** 16)]),
)


def finite_vector(value) -> bool:
    """Whether ``value`` is a non-empty finite numeric vector (for a one-input network a
    valid X: its one column)."""
    try:
        arr = np.asarray(value)
        return arr.ndim == 1 and arr.size > 0 and arr.dtype.kind in "biuf" and bool(
            np.all(np.isfinite(arr)))
    except (TypeError, ValueError):
        return False
