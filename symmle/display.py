"""Rich display helpers: HTML tables for notebooks, from the same rows as the text forms.

Objects with a text ``summary()`` or ``__str__`` table build their
``_repr_html_`` from the same data with :func:`html_table`, so the notebook and
the terminal always show the same numbers.
"""

from __future__ import annotations

import html
from typing import Iterable, Sequence

__all__ = ["html_table", "format_cell"]


def format_cell(value, digits: int = 4) -> str:
    """Format one table cell the way the text tables do (``4`` significant digits)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if f != f:
        return "nan"
    return f"{f:.{digits}g}"


def html_table(headers: Sequence[str], rows: Iterable[Sequence], *, caption: str | None = None,
               notes: Sequence[str] = (), digits: int = 4) -> str:
    """An escaped, well-formed HTML table.

    Examples
    --------
    >>> print(html_table(["n", "error"], [[100, 0.123456]], caption="<study>"))
    <table class="symmle">
    <caption>&lt;study&gt;</caption>
    <thead><tr><th>n</th><th>error</th></tr></thead>
    <tbody>
    <tr><td>100</td><td>0.1235</td></tr>
    </tbody>
    </table>
    """
    out = ['<table class="symmle">']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
               + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(format_cell(c, digits))}</td>" for c in row)
                   + "</tr>")
    out.append("</tbody>")
    out.append("</table>")
    for note in notes:
        out.append(f"<p>{html.escape(note)}</p>")
    return "\n".join(out)
