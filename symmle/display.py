"""Rich display for notebooks: HTML tables and LaTeX, built from the same data as the text forms.

Objects with a text ``summary()`` or ``__str__`` build their ``_repr_html_``
from the same rows with `html_table` / `html_report`, so a notebook
and a terminal always show the same numbers; the text forms are unchanged
(Jupyter shows ``_repr_html_`` and keeps ``repr`` as the plain-text fallback).

Symbolic expressions display as LaTeX through `LatexView` (what
``Model.show(what)`` returns) and `model_repr_latex` (what
``Model._repr_latex_`` returns). A very large model shows its plain ``repr``
instead: building and typesetting its expressions would take longer than a
display should.
"""

from __future__ import annotations

import html
import math
from typing import Iterable, Sequence

from ._checks import check_choice
from .errors import SymmleTypeError, SymmleValueError

__all__ = ["MAX_PRINTED_NODES", "check_printable", "tree_size",
           "html_table", "html_report", "format_cell", "LatexView", "model_view", "model_repr_latex",
           "MODEL_LHS", "REPR_LATEX_MAX_PARAMS", "format_count", "MAX_EXACT_DIGITS"]

#: models with more parameters than this show their plain ``repr`` instead of LaTeX.
REPR_LATEX_MAX_PARAMS = 200

#: the left-hand side each of `Model.latex`'s expressions is displayed with.
MODEL_LHS = {
    "loglik": r"\ell(\theta; x, y)",
    "score": r"\nabla_{\theta}\, \ell(\theta; x, y)",
    "hessian": r"\nabla^{2}_{\theta}\, \ell(\theta; x, y)",
    "fisher": r"\mathcal{I}(\theta; x)",
    "output": r"f(x; \theta)",
    "mean": r"\mathbb{E}[y \mid x]",
}


# ------------------------------------------------------------------------ HTML
#: Inline styles of the HTML: a table looks the same in JupyterLab, in the documentation site
#: and in an HTML file saved on its own (no stylesheet needed). Numbers right-aligned in
#: tabular figures; the first column (names) left-aligned.
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px"
_STYLE = {
    "div": f"{_FONT};line-height:1.45;margin:6px 0",
    "p": "margin:3px 0",
    "table": f"border-collapse:collapse;{_FONT};margin:4px 0",
    "caption": "caption-side:top;text-align:left;font-weight:600;padding:2px 0 4px",
    "th": "border-bottom:1px solid #888;padding:3px 10px;font-weight:600",
    "td": "border-bottom:1px solid #e2e2e2;padding:3px 10px;font-variant-numeric:tabular-nums",
}


def _open(tag: str, first: bool | None = None) -> str:
    """An opening tag with its inline style; a cell's first column (names) is left-aligned."""
    align = "" if first is None else (";text-align:left" if first else ";text-align:right")
    return f'<{tag} style="{_STYLE[tag]}{align}">'


def format_cell(value, digits: int = 4) -> str:
    """Format one table cell the way the text tables do (``4`` significant digits).

    Strings are kept as they are, so a caller can pass cells already formatted
    exactly as its text form formats them.

    Examples
    --------
    >>> from symmle.display import format_cell
    >>> format_cell(0.123456), format_cell(3), format_cell(float("nan")), format_cell("1e-3")
    ('0.1235', '3', 'nan', '1e-3')
    """
    if isinstance(value, str):
        return value
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


def html_table(headers: Sequence[str] | None, rows: Iterable[Sequence], *,
               caption: str | None = None, notes: Sequence[str] = (), digits: int = 4) -> str:
    """An escaped, well-formed HTML table.

    Parameters
    ----------
    headers : sequence of str or None
        Column headers; None for a table without a header row.
    rows : iterable of sequences
        Cells, formatted by `format_cell` (strings are kept verbatim).
    caption : str, optional
    notes : sequence of str
        Paragraphs after the table.
    digits : int
        Significant digits of numeric cells.

    Examples
    --------
    >>> import re
    >>> from symmle.display import html_table
    >>> html = html_table(["n", "error"], [[100, 0.123456]], caption="<study>")
    >>> print(re.sub(r' style="[^"]*"', "", html))   # without its inline style
    <table class="symmle">
    <caption>&lt;study&gt;</caption>
    <thead><tr><th>n</th><th>error</th></tr></thead>
    <tbody>
    <tr><td>100</td><td>0.1235</td></tr>
    </tbody>
    </table>
    >>> html.count('style="')   # every element carries its own style: no stylesheet needed
    6
    """
    out = [f'<table class="symmle" style="{_STYLE["table"]}">']
    if caption:
        out.append(f"{_open('caption')}{html.escape(caption)}</caption>")
    if headers is not None:
        out.append("<thead><tr>" + "".join(f"{_open('th', i == 0)}{html.escape(str(h))}</th>"
                                           for i, h in enumerate(headers)) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"{_open('td', i == 0)}{html.escape(format_cell(c, digits))}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody>")
    out.append("</table>")
    for note in notes:
        out.append(f"{_open('p')}{html.escape(note)}</p>")
    return "\n".join(out)


def html_report(title: str, *, lines: Sequence[str] = (), headers: Sequence[str] | None = None,
                rows: Iterable[Sequence] = (), notes: Sequence[str] = (), digits: int = 4) -> str:
    """A titled block: the title, one paragraph per line, then a table and notes.

    The layout of every symmle result in a notebook: ``title`` and ``lines``
    are the header facts of the text form, ``headers`` and ``rows`` its table.
    Lines that start with ``WARNING`` are shown in bold.

    Examples
    --------
    >>> import re
    >>> from symmle.display import html_report
    >>> html = html_report("Fit", lines=["n = 3"], headers=["name", "estimate"], rows=[["a", 1.5]])
    >>> print(re.sub(r' style="[^"]*"', "", html))   # without its inline style
    <div class="symmle">
    <p><strong>Fit</strong></p>
    <p>n = 3</p>
    <table class="symmle">
    <thead><tr><th>name</th><th>estimate</th></tr></thead>
    <tbody>
    <tr><td>a</td><td>1.5</td></tr>
    </tbody>
    </table>
    </div>
    """
    out = [f'<div class="symmle" style="{_STYLE["div"]}">',
           f"{_open('p')}<strong>{html.escape(title)}</strong></p>"]
    for line in lines:
        text = html.escape(line)
        out.append(f"{_open('p')}<strong>{text}</strong></p>" if line.startswith("WARNING")
                   else f"{_open('p')}{text}</p>")
    out.append(html_table(headers, rows, notes=notes, digits=digits))
    out.append("</div>")
    return "\n".join(out)


# ----------------------------------------------------------------------- LaTeX
class LatexView:
    """LaTeX that a notebook typesets: what ``Model.show(what)`` returns.

    ``str(view)`` is the bare LaTeX (paste it into a paper); in Jupyter the
    view displays as the equation ``lhs = latex``.

    Parameters
    ----------
    latex : str
        The right-hand side, as `Model.latex` returns it.
    lhs : str, optional
        The left-hand side (LaTeX), e.g. ``r"\\ell(\\theta; x, y)"``.

    Examples
    --------
    >>> from symmle.display import LatexView
    >>> view = LatexView("x^{2}", lhs="f(x)")
    >>> print(view)
    x^{2}
    >>> view._repr_latex_()
    '$$f(x) = x^{2}$$'
    """

    def __init__(self, latex: str, lhs: str | None = None):
        if not isinstance(latex, str):
            raise SymmleTypeError(f"latex must be a str, got {type(latex).__name__}")
        if lhs is not None and not isinstance(lhs, str):
            raise SymmleTypeError(f"lhs must be a str or None, got {type(lhs).__name__}")
        self.latex = latex
        self.lhs = lhs

    def _repr_latex_(self) -> str:
        body = self.latex if self.lhs is None else f"{self.lhs} = {self.latex}"
        return f"$${body}$$"

    def __str__(self) -> str:
        return self.latex

    def __repr__(self) -> str:
        return f"LatexView({len(self.latex)} characters{', lhs=' + repr(self.lhs) if self.lhs else ''})"


def model_view(model, what: str = "loglik") -> LatexView:
    """``model.latex(what)`` as a `LatexView` with its left-hand side (`MODEL_LHS`).

    Examples
    --------
    >>> from symmle.display import model_view
    >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(sigma=1.0))
    >>> model_view(model, "fisher")._repr_latex_()
    '$$\\\\mathcal{I}(\\\\theta; x) = \\\\left[\\\\begin{matrix}x_{1}^{2} & x_{1}\\\\\\\\x_{1} & 1\\\\end{matrix}\\\\right]$$'
    """
    what = check_choice(what, "what", tuple(MODEL_LHS))
    return LatexView(model.latex(what), lhs=MODEL_LHS[what])


def model_repr_latex(model) -> str | None:
    """The log-likelihood as display LaTeX (``$$ℓ(θ; x, y) = …$$``), or None for a large model.

    What ``Model._repr_latex_`` returns; None (Jupyter then shows the plain
    ``repr``) when the model has more than `REPR_LATEX_MAX_PARAMS`
    parameters.

    Examples
    --------
    >>> from symmle.display import model_repr_latex
    >>> print(model_repr_latex(sm.Model(sm.mlp(1, 1), sm.Bernoulli())))
    $$\\ell(\\theta; x, y) = y \\left(W^{(1)}_{1 1} x_{1} + b^{(1)}_{1}\\right) - \\operatorname{softplus}\\left(W^{(1)}_{1 1} x_{1} + b^{(1)}_{1}\\right)$$
    >>> model_repr_latex(sm.Model(sm.mlp(20, 10, 1), sm.Gaussian())) is None
    True
    """
    if model.n_params > REPR_LATEX_MAX_PARAMS:
        return None
    return model_view(model, "loglik")._repr_latex_()


#: integers with more digits than this are written as ``≈ m.mmme±k`` (Python refuses to convert
#: ints beyond 4300 digits to text, and nobody reads that many).
MAX_EXACT_DIGITS = 30


def format_count(n: int) -> str:
    """An exact count as text: all its digits when short, else ``≈ 1.690e5267``.

    Examples
    --------
    >>> from symmle.display import format_count
    >>> format_count(48)
    '48'
    >>> format_count(2 ** 20000)
    '≈ 3.980e6020'
    """
    n = int(n)
    if n == 0:
        return "0"
    log10 = math.log10(abs(n))
    if log10 < MAX_EXACT_DIGITS:
        return str(n)
    exp = math.floor(log10)
    sign = "-" if n < 0 else ""
    return f"≈ {sign}{10 ** (log10 - exp):.3f}e{exp}"


#: the most nodes an expression's printed tree may have for `check_printable` (≈ 4 characters
#: a node: 2 MB of text, some 20 s of sympy's printers).
MAX_PRINTED_NODES = 500_000


def tree_size(exprs, limit: int | None = None) -> int:
    """The number of nodes of the sympy expressions' trees as printed (shared subexpressions
    counted every time they appear), from the expression graph in time linear in its distinct
    nodes; stops adding once the total passes ``limit``.

    Examples
    --------
    >>> from symmle.display import tree_size
    >>> x = sp.Symbol("x")
    >>> e = x
    >>> for _ in range(60):
    ...     e = sp.Mul(e, e + 1, evaluate=False)   # each level doubles the printed tree
    >>> tree_size([x + 1]), tree_size([e])
    (3, 4611686018427387901)
    """
    memo: dict = {}
    total = 0
    for e in exprs:
        stack = [e]
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            args = getattr(node, "args", ())
            pending = [a for a in args if a not in memo]
            if pending:
                stack.extend(pending)
                continue
            memo[node] = 1 + sum(memo[a] for a in args)
            stack.pop()
        total += memo[e]
        if limit is not None and total > limit:
            break
    return total


def check_printable(exprs, what: str, fix: str) -> None:
    """Refuse, before printing, expressions whose text would pass `MAX_PRINTED_NODES` nodes
    (`tree_size`): a `SymmleValueError` naming ``what``, its size and ``fix``."""
    n = tree_size(exprs, MAX_PRINTED_NODES)
    if n > MAX_PRINTED_NODES:
        raise SymmleValueError(
            f"the {what} prints as more than {MAX_PRINTED_NODES:,} expression nodes (about "
            f"{4 * MAX_PRINTED_NODES / 1e6:.0f} MB of text or more, minutes of sympy's "
            f"printers): {fix}")
