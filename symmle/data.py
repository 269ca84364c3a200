"""Loading data sets from CSV files (for ``symmle fit --data file.csv``).

Only the standard library's `csv` module is used. The first row names the
columns; every other cell must be a number. Mistakes are reported as
`symmle.errors.DataError` naming the file, the row (as a line number
of the file) and the column.
"""

from __future__ import annotations

import csv
import math
import os
import stat
from typing import Sequence

import numpy as np

from .errors import DataError, SymmleTypeError

__all__ = ["load_csv", "MAX_CSV_BYTES", "MAX_LINE_BYTES"]

#: the largest CSV file `load_csv` reads: its float64 copy fits in memory several times over
#: on a workstation; a larger data set belongs in an array the caller loads itself.
MAX_CSV_BYTES = 2 * 2 ** 30

#: the longest line of a CSV file (a million characters is ~50 000 numeric columns).
MAX_LINE_BYTES = 2 ** 20


def _names(arg, what) -> list[str]:
    if isinstance(arg, str):
        return [arg]
    if isinstance(arg, Sequence) and arg and all(isinstance(a, str) for a in arg):
        names = [a.strip() for a in arg]
        dup = sorted({a for a in names if names.count(a) > 1})
        if dup:
            raise DataError(f"{what} name column(s) {dup} more than once")
        if any(not a for a in names):
            raise DataError(f"{what} has an empty column name")
        return names
    raise SymmleTypeError(f"{what} must be a column name or a non-empty list of column names, "
                          f"got {arg!r}")


def _read_lines(path) -> list[str]:
    """The lines of a regular UTF-8 text file, bounded in size and line length."""
    name = os.fspath(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise DataError(f"cannot open data file {name!r}: {exc.strerror}") from None
    except ValueError:  # a NUL byte in the path
        raise DataError(f"data file {name[:80]!r} is not a file path (it holds a NUL byte)") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"data file {name!r} is not a regular file")
    if info.st_size > MAX_CSV_BYTES:
        raise DataError(f"data file {name!r} has {info.st_size} bytes, more than the "
                        f"{MAX_CSV_BYTES} load_csv reads; load it yourself and pass arrays")
    lines = []
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot open data file {name!r}: {exc.strerror}") from None
    with fh:
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), 1):
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{name!r}, line {number}: longer than {MAX_LINE_BYTES} bytes")
            if b"\x00" in raw:
                raise DataError(f"{name!r}, line {number}: a NUL byte; this is a binary file, "
                                f"not CSV text")
            try:
                lines.append(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError as exc:
                raise DataError(f"{name!r}, line {number}: not UTF-8 text (byte {exc.start} of "
                                f"the line); save the file as UTF-8") from None
    return lines


def load_csv(path, *, target="y", features=None, delimiter: str = ","):
    """Read ``X``, ``y`` and the feature names from a CSV file with a header row.

    Parameters
    ----------
    path : str or os.PathLike
    target : str or sequence of str
        The response column(s). One name gives ``y`` of shape (n,); several
        give (n, k) (several network outputs).
    features : sequence of str, optional
        The input columns, in this order. Default: every column that is not a
        target, in file order.
    delimiter : str

    Returns
    -------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,) or (n, k)
    feature_names : tuple of str

    Raises
    ------
    DataError
        For a missing file, an empty file, duplicate or missing column names,
        a row with the wrong number of cells, or a cell that is empty, not a
        number, or not finite (the message names the row and the column).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "toy.csv")
    >>> _ = open(p, "w").write("x1,x2,y\\n0.5,1,0\\n-1,2.5,1\\n")
    >>> from symmle.data import load_csv
    >>> X, y, names = load_csv(p, target="y")
    >>> X, y, names
    (array([[ 0.5,  1. ],
           [-1. ,  2.5]]), array([0., 1.]), ('x1', 'x2'))
    """
    targets = _names(target, "target")
    if not isinstance(path, (str, os.PathLike)):
        raise SymmleTypeError(f"path must be a file path, got {type(path).__name__}")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise DataError(f"delimiter must be one character (not a quote or line break), got "
                        f"{delimiter!r}")
    lines = _read_lines(path)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{os.fspath(path)!r} is empty: expected a header row of column "
                        f"names") from None
    except csv.Error as exc:
        raise DataError(f"{os.fspath(path)!r}, line 1: {exc}") from None
    header = [h.strip() for h in header]
    seen = set()
    for h in header:
        if not h:
            raise DataError(f"{os.fspath(path)!r}: the header has an empty column name")
        if h in seen:
            raise DataError(f"{os.fspath(path)!r}: column {h!r} appears twice in the header")
        seen.add(h)
    missing = [t for t in targets if t not in seen]
    if missing:
        raise DataError(f"{os.fspath(path)!r}: target column(s) {missing} not found; "
                        f"columns are {header}")
    if features is None:
        feats = [h for h in header if h not in targets]
    else:
        feats = _names(features, "features")
        absent = [f for f in feats if f not in seen]
        if absent:
            raise DataError(f"{os.fspath(path)!r}: feature column(s) {absent} not found; "
                            f"columns are {header}")
        both = [f for f in feats if f in targets]
        if both:
            raise DataError(f"columns {both} are given both as features and as target")
    if not feats:
        raise DataError(f"{os.fspath(path)!r}: no feature columns besides the target(s) "
                        f"{targets}")
    col = {h: i for i, h in enumerate(header)}
    want = [col[f] for f in feats] + [col[t] for t in targets]
    rows = []
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue  # blank line
            if len(row) != len(header):
                raise DataError(f"{os.fspath(path)!r}, line {line}: {len(row)} cells, but the "
                                f"header has {len(header)} columns")
            vals = []
            for j in want:
                cell = row[j].strip()
                try:
                    v = float(cell)
                except ValueError:
                    what = "is empty" if not cell else f"{cell!r} is not a number"
                    raise DataError(f"{os.fspath(path)!r}, line {line}, column "
                                    f"{header[j]!r}: the cell {what}") from None
                if not math.isfinite(v):
                    raise DataError(f"{os.fspath(path)!r}, line {line}, column "
                                    f"{header[j]!r}: {cell!r} is not finite")
                vals.append(v)
            rows.append(vals)
    except csv.Error as exc:
        raise DataError(f"{os.fspath(path)!r}, line {reader.line_num}: {exc}") from None
    if not rows:
        raise DataError(f"{os.fspath(path)!r} has a header but no data rows")
    arr = np.array(rows, dtype=np.float64)
    d = len(feats)
    X = arr[:, :d]
    y = arr[:, d] if len(targets) == 1 else arr[:, d:]
    return X, y, tuple(feats)
