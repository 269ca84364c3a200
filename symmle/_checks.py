"""One place for argument checks, randomness and strict JSON.

Every public entry point checks its arguments with these helpers, so that a wrong *type* raises
:class:`~symmle.errors.SymmleTypeError` (a ``TypeError``) and a wrong *value* raises
:class:`~symmle.errors.SymmleValueError` (a ``ValueError``), each naming the argument and what
was expected.
"""

from __future__ import annotations

import json
import math
import operator
import os
from pathlib import Path

import numpy as np

from .errors import PersistenceError, SymmleTypeError, SymmleValueError

__all__ = [
    "as_real_array",
    "check_int",
    "check_real",
    "check_probability",
    "check_bool",
    "check_choice",
    "as_rng",
    "spawn",
    "json_dumps",
    "json_loads",
    "read_json",
    "write_json",
]

#: The deepest nesting a JSON document that symmle reads may have (its own documents are a few
#: levels deep; the limit keeps a hostile file from reaching Python's recursion limit).
JSON_MAX_DEPTH = 64

#: The largest JSON file symmle reads (its own study and fit documents are far smaller).
JSON_MAX_BYTES = 256 * 2 ** 20

#: The most digits an integer literal in a JSON document may have (Python's own
#: ``int_max_str_digits`` default is 4300; symmle's documents hold small counts and seeds).
JSON_MAX_INT_DIGITS = 40


def as_real_array(x, *, name: str, expected: str, error=SymmleValueError) -> np.ndarray:
    """Return ``x`` as a float64 array, refusing strings, complex numbers and objects.

    Parameters
    ----------
    x : array_like
    name : str
        The argument's name, used in the message.
    expected : str
        What was expected, e.g. ``"an array of shape (n, 2)"``.
    error : type
        The ``SymmleError`` subclass raised for a non-numeric value.

    Examples
    --------
    >>> from symmle._checks import as_real_array
    >>> as_real_array([1, 2], name="x", expected="numbers")
    array([1., 2.])
    """
    if isinstance(x, (str, bytes, dict, set)):
        raise SymmleTypeError(f"{name} must be {expected}, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, OverflowError):  # ragged nested lists, huge ints
        raise error(f"{name} must be {expected} (could not read it as an array)") from None
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            raise error(f"{name} must be {expected}: it holds non-numeric values") from None
    if arr.dtype.kind not in "biuf":
        raise error(f"{name} must be {expected}: got values of dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        return arr.astype(np.float64, copy=False)


def check_int(value, name: str, minimum: int | None = None, *, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int``.

    Anything that implements ``__index__`` (``int``, numpy integers) is accepted; ``bool``,
    floats and strings are a wrong type.

    Raises
    ------
    SymmleTypeError
        ``value`` is not an integer.
    SymmleValueError
        ``value`` is below ``minimum`` or above ``maximum``.

    Examples
    --------
    >>> from symmle._checks import check_int
    >>> check_int(3, "n_starts", 1)
    3
    >>> check_int(1.5, "n_starts", 1)
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleTypeError: n_starts must be an integer, got float 1.5
    >>> check_int(0, "n_starts", 1)
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: n_starts must be an integer >= 1, got 0
    """
    if isinstance(value, (bool, np.bool_)):
        raise SymmleTypeError(f"{name} must be an integer, got bool {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise SymmleTypeError(
            f"{name} must be an integer, got {type(value).__name__} {_short(value)}") from None
    if minimum is not None and out < minimum:
        raise SymmleValueError(f"{name} must be an integer >= {minimum}, got {_short(out)}")
    if maximum is not None and out > maximum:
        raise SymmleValueError(f"{name} must be an integer <= {maximum}, got {_short(out)}")
    return int(out)


def check_real(value, name: str, *, minimum: float | None = None, maximum: float | None = None,
               strict_minimum: bool = False, strict_maximum: bool = False,
               finite: bool = True) -> float:
    """Return ``value`` as a ``float``, refusing bools, strings and NaN.

    ``minimum``/``maximum`` bound it (strictly with ``strict_minimum``/``strict_maximum``);
    ``finite=False`` admits ±inf.

    Examples
    --------
    >>> from symmle._checks import check_real
    >>> check_real(2, "tol", minimum=0, strict_minimum=True)
    2.0
    >>> check_real("1e-8", "tol")
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleTypeError: tol must be a real number, got str '1e-8'
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise SymmleTypeError(
            f"{name} must be a real number, got {type(value).__name__} {_short(value)}")
    try:
        out = float(value)
    except OverflowError:  # an int beyond float range
        raise SymmleValueError(f"{name} must be a real number of float64 range, got an integer "
                               f"of {len(str(abs(int(value))))} digits") from None
    if math.isnan(out) or (finite and math.isinf(out)):
        raise SymmleValueError(f"{name} must be a finite real number, got {out!r}")
    if minimum is not None and (out < minimum or (strict_minimum and out == minimum)):
        rel = ">" if strict_minimum else ">="
        raise SymmleValueError(f"{name} must be {rel} {minimum}, got {out!r}")
    if maximum is not None and (out > maximum or (strict_maximum and out == maximum)):
        rel = "<" if strict_maximum else "<="
        raise SymmleValueError(f"{name} must be {rel} {maximum}, got {out!r}")
    return out


def check_probability(value, name: str) -> float:
    """Return ``value`` as a float strictly between 0 and 1 (a level, an ``alpha``).

    Examples
    --------
    >>> from symmle._checks import check_probability
    >>> check_probability(0.05, "alpha")
    0.05
    >>> check_probability(1.0, "alpha")
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: alpha must be < 1.0, got 1.0
    """
    return check_real(value, name, minimum=0.0, maximum=1.0, strict_minimum=True,
                      strict_maximum=True)


def check_bool(value, name: str) -> bool:
    """Return ``value`` if it is a ``bool`` (or numpy bool), else raise `SymmleTypeError`."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise SymmleTypeError(f"{name} must be True or False, got {type(value).__name__} "
                          f"{_short(value)}")


def as_rng(rng, name: str = "rng") -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator, a seed, a ``SeedSequence`` or None.

    Examples
    --------
    >>> from symmle._checks import as_rng
    >>> float(as_rng(0).random()) == float(np.random.default_rng(0).random())
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise SymmleValueError(f"{name} must be a non-negative seed, got {rng}")
        return np.random.default_rng(int(rng))
    raise SymmleTypeError(
        f"{name} must be a numpy.random.Generator, a non-negative int seed or None, "
        f"got {type(rng).__name__}")


def spawn(rng, n: int, name: str = "rng") -> list[np.random.SeedSequence]:
    """``n`` independent child seed sequences of ``rng`` (``SeedSequence.spawn``).

    A Generator contributes its bit generator's seed sequence, so the children do not depend on
    how much of the generator was already used elsewhere only when ``rng`` is a seed; with a
    Generator, the children are drawn from it (advancing it), which keeps repeated calls with
    one Generator independent.

    Examples
    --------
    >>> from symmle._checks import spawn
    >>> [s.entropy for s in spawn(7, 2)] == [7, 7]
    True
    >>> [s.spawn_key for s in spawn(7, 2)]
    [(0,), (1,)]
    """
    n = check_int(n, "n", 0)
    if isinstance(rng, np.random.SeedSequence):
        return rng.spawn(n)
    if isinstance(rng, np.random.Generator):
        root = np.random.SeedSequence(int(rng.integers(0, 2 ** 63)))
        return root.spawn(n)
    if rng is None:
        return np.random.SeedSequence().spawn(n)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise SymmleValueError(f"{name} must be a non-negative seed, got {rng}")
        return np.random.SeedSequence(int(rng)).spawn(n)
    raise SymmleTypeError(
        f"{name} must be a numpy.random.Generator, a SeedSequence, a non-negative int seed or "
        f"None, got {type(rng).__name__}")


# ---------------------------------------------------------------- strict JSON


def _refuse_constant(token):
    raise PersistenceError(f"JSON literal {token} is not allowed (symmle writes null for missing "
                           "values and never NaN or Infinity)")


def _parse_int(text):
    digits = text.lstrip("-")
    if len(digits) > JSON_MAX_INT_DIGITS:
        raise PersistenceError(f"JSON integer of {len(digits)} digits is too large (at most "
                               f"{JSON_MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text):
    value = float(text)
    if math.isinf(value):
        raise PersistenceError(f"JSON number {text[:20]}... overflows float64")
    return value


def _depth_ok(text: str) -> bool:
    """Whether no array/object nesting in ``text`` goes deeper than `JSON_MAX_DEPTH` (strings
    skipped)."""
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > JSON_MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def json_loads(text, *, what: str = "JSON document"):
    """Parse ``text`` strictly: no NaN/Infinity, no overflowing numbers, bounded depth.

    Every failure is a :class:`~symmle.errors.PersistenceError` naming ``what``.

    Examples
    --------
    >>> from symmle._checks import json_loads
    >>> json_loads('{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    >>> json_loads('{"a": NaN}', what="fit")
    Traceback (most recent call last):
    ...
    symmle.errors.PersistenceError: fit: JSON literal NaN is not allowed (symmle writes null for missing values and never NaN or Infinity)
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PersistenceError(f"{what}: not UTF-8 text ({exc.reason} at byte "
                                   f"{exc.start})") from None
    if not isinstance(text, str):
        raise SymmleTypeError(f"{what} must be JSON text (str or bytes), got {type(text).__name__}")
    if not _depth_ok(text):
        raise PersistenceError(f"{what}: nested deeper than {JSON_MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int,
                          parse_float=_parse_float)
    except PersistenceError as exc:
        raise PersistenceError(f"{what}: {exc}") from None
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise PersistenceError(f"{what}: not valid JSON ({exc})") from None


def json_dumps(doc, **kw) -> str:
    """``json.dumps`` that refuses NaN/inf (write them as null first) with a clear error."""
    try:
        return json.dumps(doc, allow_nan=False, **kw)
    except ValueError as exc:
        raise SymmleValueError(f"cannot write JSON: {exc} (NaN and infinities must be written "
                               "as null)") from None


def read_json(source, *, what: str = "JSON document"):
    """Read a JSON document from a path or from JSON text (a ``str`` starting with ``{``/``[``).

    Files are read as bytes, bounded to `JSON_MAX_BYTES`, and decoded as UTF-8.
    """
    if isinstance(source, (str, os.PathLike)) and not (
            isinstance(source, str) and source.lstrip()[:1] in ("{", "[")):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise PersistenceError(f"{what}: cannot read {str(path)!r} ({exc.strerror})") from None
        except ValueError:  # a NUL byte in the path: no file has that name
            raise PersistenceError(f"{what}: {str(path)[:80]!r} is not a file path (it holds a "
                                   f"NUL byte)") from None
        if not path.is_file():
            raise PersistenceError(f"{what}: {str(path)!r} is not a regular file")
        if size > JSON_MAX_BYTES:
            raise PersistenceError(f"{what}: {str(path)!r} has {size} bytes, more than the "
                                   f"{JSON_MAX_BYTES} a symmle document may have")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PersistenceError(f"{what}: cannot read {str(path)!r} ({exc.strerror})") from None
        return json_loads(data, what=what)
    return json_loads(source, what=what)


def write_json(path, doc, **kw) -> None:
    """Write ``doc`` to ``path`` as strict JSON, atomically (a temporary file, then a rename)."""
    text = json_dumps(doc, **kw)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check_choice(value, name: str, choices) -> str:
    """``value`` when it is one of the strings ``choices``.

    A value that is not a string (a number, bytes, a list, an array) raises
    `SymmleTypeError`, an unknown string `SymmleValueError`; both name the argument and the
    choices.

    Examples
    --------
    >>> from symmle._checks import check_choice
    >>> check_choice("wald", "method", ("wald", "lr"))
    'wald'
    >>> check_choice(3, "method", ("wald", "lr"))
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleTypeError: method must be one of ('wald', 'lr') (a str), got int 3
    """
    choices = tuple(choices)
    if not isinstance(value, str):
        raise SymmleTypeError(f"{name} must be one of {choices} (a str), got "
                              f"{type(value).__name__} {_short(value)}")
    if value not in choices:
        raise SymmleValueError(f"{name} must be one of {choices}, got {_short(value)}")
    return str(value)


def _short(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 5000-digit int stays readable)."""
    try:
        text = repr(value)
    except ValueError:  # int beyond sys.int_info.default_max_str_digits
        return f"<an integer of more than {4300} digits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
