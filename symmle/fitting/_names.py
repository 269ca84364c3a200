"""Column names of the data in a fit: a pandas DataFrame's columns (and a named target) become
the input (and output) names of the `FitResult`, and its parameter names are rendered with them.

The architecture keeps its own symbols (``x1 … xd``, ``W1_2_3``): they are the sympy layer's and
stay valid whatever the data are called. A `FitResult` stores ``input_names`` (and
``output_names``) and renders ``param_names`` from them: a weight out of input k whose
architecture name ends in ``_k`` (the `symmle.mlp` names ``W{layer}_{unit}_{input}``) gets that
suffix replaced by the column name in brackets, ``W1_2_3`` → ``W1_2[bmi]``; any other weight out
of an input gets the column name appended, ``w_x1_h[bmi]``. ``model.param_names`` are unchanged.

pandas stays optional: an object is recognised as a pandas DataFrame or Series by the module of
its type, never by importing pandas.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, SymmleTypeError

__all__ = ["is_pandas", "split_X", "split_y", "check_names", "render_param_names",
           "select_columns"]


def is_pandas(obj, kind: str) -> bool:
    """Whether ``obj`` is a pandas ``kind`` ("DataFrame" or "Series"), without importing
    pandas."""
    t = type(obj)
    return t.__module__.split(".")[0] == "pandas" and t.__name__ == kind


def split_X(X):
    """``(values, column names or None)`` of X (a DataFrame's columns as strings)."""
    if is_pandas(X, "DataFrame"):
        return X.to_numpy(dtype=float), tuple(str(c) for c in X.columns)
    return X, None


def split_y(y):
    """``(values, names or None)`` of y: a named Series gives its name, a DataFrame its
    columns."""
    if is_pandas(y, "Series"):
        return y.to_numpy(), (None if y.name is None else (str(y.name),))
    if is_pandas(y, "DataFrame"):
        return y.to_numpy(), tuple(str(c) for c in y.columns)
    return y, None


def check_names(names, count: int, what: str):
    """``names`` as a tuple of ``count`` distinct strings (None stays None)."""
    if names is None:
        return None
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise SymmleTypeError(f"{what} must be a sequence of {count} strings, got {names!r}")
    out = tuple(str(n) for n in names)
    if len(out) != count:
        raise DataError(f"{what} must have {count} entries (one per column), got {len(out)}")
    if len(set(out)) != len(out):
        raise DataError(f"{what} must be distinct, got {out}")
    return out


def render_param_names(model, input_names) -> tuple[str, ...]:
    """The model's parameter names with the weights out of each input named after its column.

    Examples
    --------
    >>> from symmle.fitting._names import render_param_names
    >>> model = sm.Model(sm.mlp(2, 2, 1), sm.Gaussian())
    >>> render_param_names(model, ("age", "bmi"))[:6]
    ('W1_1[age]', 'W1_1[bmi]', 'W1_2[age]', 'W1_2[bmi]', 'b1_1', 'b1_2')
    """
    names = list(model.param_names)
    if input_names is None:
        return tuple(names)
    arch = model.architecture
    col = {v: input_names[k] for k, v in enumerate(arch.input_nodes)}
    pos = {v: k + 1 for k, v in enumerate(arch.input_nodes)}
    for (u, _), i in arch.edge_index.items():
        if u in col:
            base, suffix = names[i], f"_{pos[u]}"
            stem = base[: -len(suffix)] if base.endswith(suffix) else base
            names[i] = f"{stem}[{col[u]}]"
    return tuple(names)


def select_columns(X, input_names):
    """X as an array whose columns are in the fit's input order: a DataFrame is reordered by
    the fit's column names (it must have all of them); anything else is taken as it is."""
    if not is_pandas(X, "DataFrame"):
        return X
    if input_names is None:
        return X.to_numpy(dtype=float)
    cols = [str(c) for c in X.columns]
    missing = [c for c in input_names if c not in cols]
    if missing:
        raise DataError(f"X lacks the columns {missing} the model was fitted with "
                        f"(expected {list(input_names)})")
    order = [cols.index(c) for c in input_names]
    return np.asarray(X.to_numpy(dtype=float)[:, order])
