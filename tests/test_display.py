"""Rich display: well-formed HTML with the same numbers as the text forms, and valid LaTeX.

The HTML checker below is strict (every opened tag closed, in order; no stray
``<`` or ``&`` in the source; only the tags symmle writes) and also rebuilds
each table's cells, so the tests compare the notebook's cells with the text
form's lines and with the numbers on the result objects themselves.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest

import symmle as sm
from symmle import display
from symmle.identifiability import RegularityTable, regularity
from symmle.study import REDUCIBLE_THETA, SEED_THETA, StudyResult, seed_model

VOID = {"br", "hr", "img", "meta", "input", "link", "col", "area", "base", "wbr", "source",
        "track", "embed", "param"}
TABLE_TAGS = {"div", "p", "strong", "table", "caption", "thead", "tbody", "tr", "th", "td"}


# ------------------------------------------------------------------ strict HTML checker
class StrictHTML(HTMLParser):
    """Parse HTML, recording errors (unclosed / misnested tags), text and table cells."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter = Counter()
        self.chunks: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            if not self.tables:
                self.errors.append("<tr> outside a table")
            else:
                self.tables[-1].append([])
        elif tag in ("td", "th"):
            if not self.tables or not self.tables[-1]:
                self.errors.append(f"<{tag}> outside a row")
            self._cell = []

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] += 1

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"end tag for void element </{tag}>")
            return
        if not self.stack:
            self.errors.append(f"</{tag}> with nothing open")
        elif self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1]}>")
        else:
            self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            if self.tables and self.tables[-1]:
                self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if data.strip():
            self.chunks.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join(self.chunks)


def parse_html(source: str) -> StrictHTML:
    """Parse ``source`` strictly; fail the test on any error."""
    assert isinstance(source, str) and source.strip(), "expected non-empty HTML"
    p = StrictHTML()
    p.feed(source)
    p.close()
    stray_lt = re.findall(r"<(?![a-zA-Z/!])", source)
    stray_amp = re.findall(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)", source)
    errors = list(p.errors)
    if p.stack:
        errors.append(f"unclosed tags: {p.stack}")
    if stray_lt:
        errors.append(f"{len(stray_lt)} unescaped '<'")
    if stray_amp:
        errors.append(f"{len(stray_amp)} unescaped '&'")
    assert not errors, errors
    return p


def table_html(source: str) -> StrictHTML:
    p = parse_html(source)
    unknown = set(p.tags) - TABLE_TAGS
    assert not unknown, f"unexpected tags {unknown}"
    for table in p.tables:
        widths = {len(r) for r in table}
        assert len(widths) == 1, f"ragged table: row lengths {widths}"
    return p


def unstyled(source: str) -> str:
    """``source`` without its inline ``style`` attributes (its structure and text)."""
    return re.sub(r' style="[^"]*"', "", source)


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|nan|inf")


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


# ------------------------------------------------------------------ strict LaTeX checks
def latex_errors(s: str) -> list[str]:
    """Balanced braces (escaped ones aside), \\left/\\right pairs and \\begin/\\end environments."""
    errors = []
    depth = 0
    stack = []
    tokens = re.finditer(r"\\[{}]|\\left\b|\\right\b|\\begin\{(\w+)\}|\\end\{(\w+)\}|[{}]", s)
    for m in tokens:
        t = m.group(0)
        if t in ("\\{", "\\}"):
            continue
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth < 0:
                errors.append(f"unmatched '}}' at {m.start()}")
                depth = 0
        elif t == "\\left":
            stack.append("left")
        elif t == "\\right":
            if not stack or stack[-1] != "left":
                errors.append(f"\\right without \\left at {m.start()}")
            else:
                stack.pop()
        elif m.group(1):
            stack.append("env:" + m.group(1))
            depth += 1  # \begin{x} opens a group that \end{x} closes
        elif m.group(2):
            if not stack or stack[-1] != "env:" + m.group(2):
                errors.append(f"\\end{{{m.group(2)}}} does not close {stack[-1:] or 'anything'}")
            else:
                stack.pop()
            depth -= 1
    if depth:
        errors.append(f"{depth} unclosed '{{'")
    if stack:
        errors.append(f"unclosed {stack}")
    return errors


def mathtext_check(expr: str) -> None:
    """Typeset ``expr`` with matplotlib's TeX parser (an independent implementation of TeX syntax).

    A ``\\left[\\begin{matrix} … \\end{matrix}\\right]`` (or ``array``) is checked
    entry by entry, since mathtext has no matrices.
    """
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    m = re.fullmatch(r"\\left\[\\begin\{(matrix|array)\}(\{c+\})?(.*)\\end\{\1\}\\right\]", expr,
                     flags=re.S)
    entries = [expr]
    if m:
        entries = [e for row in _split_top(m.group(3), "\\\\") for e in _split_top(row, "&")]
    for e in dict.fromkeys(e.strip() for e in entries):  # unique entries, in order
        parser.parse(f"${e}$")


def _split_top(s: str, sep: str) -> list[str]:
    """Split ``s`` at ``sep`` outside braces."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(s):
        if s.startswith("\\{", i) or s.startswith("\\}", i):
            i += 2
            continue
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i) and not (sep == "&" and s[i - 1:i] == "\\"):
            out.append(s[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    out.append(s[start:])
    return out


def display_body(s: str) -> str:
    assert s.startswith("$$") and s.endswith("$$") and s.count("$$") == 2, s[:80]
    return s[2:-2]


# ------------------------------------------------------------------ the checkers themselves
@pytest.mark.parametrize("bad", [
    "<table><tr><td>1</tr></td></table>",        # misnested
    "<div><p>open</div>",                         # unclosed <p> inside <div>
    "<p>a < b</p>",                               # raw '<'
    "<p>AT&T</p>",                                # raw '&'
    "<p>x</p></p>",                               # end tag with nothing open
    "<table><tr><td>1</td></tr>",                 # unclosed table
])
def test_strict_html_checker_rejects(bad):
    with pytest.raises(AssertionError):
        parse_html(bad)


@pytest.mark.parametrize("bad", ["{a", "a}", r"\left( a", r"a \right)",
                                 r"\begin{matrix} a \end{array}", r"\frac{1}{2"])
def test_latex_checker_rejects(bad):
    assert latex_errors(bad)


def test_mathtext_check_rejects_bad_tex():
    with pytest.raises(ValueError):
        mathtext_check(r"\frac{1}")


# ------------------------------------------------------------------ html_table / html_report
def test_html_table_escapes_and_round_trips_text():
    cells = [["<b>bold</b>", "AT&T", "'quoted' \"double\""], [1.234567, float("nan"), 7]]
    src = display.html_table(["a<b", "c&d", "e>f"], cells, caption="<cap> & more",
                             notes=["5 < 6 & 7 > 6"])
    p = table_html(src)
    assert "<b>" not in src
    assert p.tables == [[["a<b", "c&d", "e>f"],
                         ["<b>bold</b>", "AT&T", "'quoted' \"double\""],
                         ["1.235", "nan", "7"]]]
    assert "<cap> & more" in p.text and "5 < 6 & 7 > 6" in p.text


def test_html_table_without_headers_has_no_thead():
    src = display.html_table(None, [["a", "1"]])
    p = table_html(src)
    assert p.tags["thead"] == 0 and p.tables == [[["a", "1"]]]


def test_html_report_bolds_warnings_only():
    src = display.html_report("T", lines=["fine", "WARNING: bad"], headers=["x"], rows=[[1]])
    p = table_html(src)
    assert p.tags["strong"] == 2  # the title and the warning
    src = unstyled(src)
    assert "<p><strong>WARNING: bad</strong></p>" in src and "<p>fine</p>" in src


# ------------------------------------------------------------------ FitResult
@pytest.fixture(scope="module")
def seed_fit():
    model = seed_model()
    X, y = model.simulate(SEED_THETA, n=400, rng=0)
    return sm.fit(model, X, y, n_starts=2, rng=0)


@pytest.fixture(scope="module")
def singular_fit():
    # two identical input columns: only W1_1_1 + W1_1_2 is identified
    model = sm.Model(sm.mlp(2, 1), sm.Poisson())
    x = np.random.default_rng(1).standard_normal(200)
    X = np.column_stack([x, x])
    _, y = model.simulate(np.array([0.5, 0.5, 0.2]), n=200, rng=1, X=X)
    with pytest.warns(sm.NonIdentifiableWarning):
        return sm.fit(model, X, y, rng=1)


def _summary_rows(text: str, names) -> list[list[str]]:
    """The parameter rows of a text summary, split into the six columns."""
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\[.*\])", line.strip())
        if m and m.group(1) in names:
            rows.append(list(m.groups()))
    return rows


@pytest.mark.parametrize("which", ["seed_fit", "singular_fit"])
def test_fit_html_same_content_as_summary(which, request):
    res = request.getfixturevalue(which)
    text = res.summary()
    p = table_html(res._repr_html_())
    (table,) = p.tables
    header, *rows = table
    assert header == ["name", "estimate", "std. err.", "z", "P>|z|", "95% interval"]
    # the same rows as the text table, cell for cell
    assert rows == _summary_rows(text, res.param_names)
    assert [r[0] for r in rows] == list(res.param_names)
    # every header fact of the text (the lines above the table) appears as a paragraph
    head_lines = text.split("\nname ")[0].splitlines()
    for line in head_lines:
        assert line in p.chunks
    # the same numbers, in the same order
    assert numbers(p.text) == numbers(text)


def test_fit_html_numbers_are_the_results(seed_fit):
    # the summary shows the canonical representative of θ̂'s orbit (issue 18: two seeds that
    # reach one optimum print one table), with the same log-likelihood
    fit = seed_fit
    res = fit.canonical()
    assert res.loglik == fit.loglik
    _, *rows = table_html(fit._repr_html_()).tables[0]
    est = np.array([float(r[1]) for r in rows])
    se = np.array([float(r[2]) for r in rows])
    ci = np.array([[float(v) for v in r[5].strip("[]").split(",")] for r in rows])
    np.testing.assert_allclose(est, res.params, rtol=6e-4)
    np.testing.assert_allclose(se, res.stderr, rtol=6e-4)
    # the Wald interval: θ̂ ± 1.959964 · se, recomputed here
    wald = np.column_stack([res.params - 1.959964 * res.stderr, res.params + 1.959964 * res.stderr])
    np.testing.assert_allclose(ci, wald, rtol=6e-4, atol=1e-4)
    text = table_html(fit._repr_html_()).text
    assert f"log-likelihood = {res.loglik:.6g}" in text
    assert f"n = {res.n_obs}" in text


def test_singular_fit_html_shows_nan_and_warning(singular_fit):
    res = singular_fit
    assert res.null_space_dim == 1
    src = res._repr_html_()
    p = table_html(src)
    _, *rows = p.tables[0]
    bad = [r[0] for r in rows if r[2] == "nan"]
    assert bad == [n for n, ok in zip(res.param_names, res.identified) if not ok]
    assert "<p><strong>WARNING: the information is singular" in unstyled(src)


# ------------------------------------------------------------------ identifiability
@pytest.fixture(scope="module")
def reports():
    model = seed_model()
    relu = sm.Model(sm.mlp(2, 3, 1, activation="relu"), sm.Poisson())
    small = sm.Model(sm.mlp(1, 2, 1, activation="tanh"), sm.Gaussian(sigma=1.0))
    return [sm.identifiability(model, SEED_THETA, rng=0),
            sm.identifiability(model, REDUCIBLE_THETA, rng=0),
            sm.identifiability(relu, rng=0),
            sm.identifiability(small, rng=0, exact=True)]


@pytest.mark.parametrize("k", range(4))
def test_identifiability_html_same_content_as_str(reports, k):
    rep = reports[k]
    text = str(rep)
    p = table_html(rep._repr_html_())
    (table,) = p.tables
    lines = text.splitlines()
    assert p.chunks[0] == lines[0]
    # each text line "  label  value" or "    i. words" is one table row
    expected = []
    for line in lines[1:]:
        if line.startswith("    "):
            expected.append(["", line.strip()])
        else:
            label, value = re.fullmatch(r"  (.{25})  (.*)", line).groups()
            expected.append([label.strip(), value])
    assert table == expected
    assert numbers(p.text) == numbers(text)
    assert ["discrete symmetry group", f"order {rep.group_order}"] in table
    assert any(r[0] == "Fisher information rank" and r[1].startswith(f"{rep.fisher_rank} of ")
               for r in table)


def test_reducible_report_html_lists_the_null_directions(reports):
    rep = reports[1]
    table = table_html(rep._repr_html_()).tables[0]
    subs = [r[1] for r in table if r[0] == ""]
    assert rep.null_dim == 3 and len(subs) == 3
    assert all(s.startswith(f"{i}. moves") for i, s in enumerate(subs, 1))


@pytest.mark.parametrize("model", [seed_model(), sm.Model(sm.mlp(2, 3, 1, activation="relu"),
                                                          sm.Poisson())], ids=["tanh", "relu"])
def test_regularity_html(model):
    tab = regularity(model, rng=0)
    assert isinstance(tab, RegularityTable)
    p = table_html(tab._repr_html_())
    header, *rows = p.tables[0]
    assert header == ["condition", "verdict", "reason"]
    assert rows == [[c.name, c.verdict, c.reason] for c in tab]
    assert p.chunks[0] == str(tab).splitlines()[0]
    assert numbers(p.text) == numbers(str(tab))


# ------------------------------------------------------------------ SymmetryGroup
@pytest.mark.parametrize("arch, order", [
    (sm.mlp(2, 3, 1, activation="tanh"), 48),
    (sm.mlp(2, 3, 1, activation="relu"), 6),
    (sm.mlp(2, 1), 1),
    (sm.mlp(2, *[3] * 8, 1, activation="tanh"), 48 ** 8),   # 24 generators: the list is cut at 20
], ids=["tanh", "relu", "glm", "deep"])
def test_symmetry_group_html_same_content_as_str(arch, order):
    G = sm.symmetry_group(arch)
    assert G.order == order
    text = str(G)
    p = table_html(G._repr_html_())
    table = p.tables[0]
    assert p.chunks[0] == text.splitlines()[0]
    assert table[0] == ["order", text.splitlines()[1].split("order: ", 1)[1]]
    gens = [r[1] for r in table if r[0] == "generator"]
    assert gens == [line.strip() for line in text.splitlines()[3:3 + len(gens)]]
    assert len(gens) == min(20, len(G.generators))
    assert numbers(p.text) == numbers(text)
    assert str(order) in table[0][1]


def test_symmetry_html_order_48_formula():
    table = table_html(sm.symmetry_group(sm.mlp(2, 3, 1, activation="tanh"))._repr_html_()).tables[0]
    assert table[0] == ["order", "48 = 2^3 · 3!"]
    assert ["generators", "3"] in table


# ------------------------------------------------------------------ Architecture
@pytest.mark.parametrize("arch", [sm.mlp(2, 3, 1, activation="tanh"), sm.mlp(3, 4, 2, 2)])
def test_architecture_html_is_wellformed_svg(arch):
    p = parse_html(arch._repr_html_())
    g = arch.graph
    assert p.tags["svg"] == 1
    assert p.tags["circle"] == g.number_of_nodes()
    assert p.tags["line"] == g.number_of_edges()
    assert f"{arch.n_params} parameters" in p.text


# ------------------------------------------------------------------ LaTeX
FAMILIES = [sm.Gaussian(sigma=0.5), sm.Gaussian(), sm.Bernoulli(), sm.Poisson(), sm.Categorical()]


def _model(family, arch_widths=(2, 3)):
    k = 3 if isinstance(family, sm.Categorical) else 1
    return sm.Model(sm.mlp(*arch_widths, k, activation="tanh"), family)


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_model_repr_latex_is_valid_display_math(family):
    model = _model(family)
    s = display.model_repr_latex(model)
    body = display_body(s)
    lhs, rhs = body.split(" = ", 1)
    assert lhs == display.MODEL_LHS["loglik"]
    assert rhs == model.latex("loglik")
    assert latex_errors(body) == []
    mathtext_check(lhs)
    mathtext_check(rhs)


@pytest.mark.parametrize("what", ["score", "fisher", "hessian", "output", "mean"])
def test_model_view_matrices_are_valid_latex(what):
    model = sm.Model(sm.mlp(1, 1, 1, activation="tanh"), sm.Bernoulli())  # 4 × 4 matrices
    view = display.model_view(model, what)
    assert isinstance(view, display.LatexView)
    assert str(view) == model.latex(what)
    body = display_body(view._repr_latex_())
    assert body == f"{display.MODEL_LHS[what]} = {model.latex(what)}"
    assert latex_errors(body) == []
    mathtext_check(display.MODEL_LHS[what])
    mathtext_check(str(view))


def test_model_view_fisher_entry_count():
    # the 9 × 9 Fisher matrix of mlp(2, 2, 1) typesets as 9 rows of 9 entries
    model = sm.Model(sm.mlp(2, 2, 1, activation="tanh"), sm.Gaussian(sigma=1.0))
    s = str(display.model_view(model, "fisher"))
    inner = re.fullmatch(r"\\left\[\\begin\{matrix\}(.*)\\end\{matrix\}\\right\]", s, re.S).group(1)
    rows = _split_top(inner, "\\\\")
    assert [len(_split_top(r, "&")) for r in rows] == [9] * 9


def test_large_model_has_no_latex_and_builds_nothing():
    model = sm.Model(sm.mlp(20, 10, 1), sm.Gaussian())
    assert model.n_params > display.REPR_LATEX_MAX_PARAMS
    assert display.model_repr_latex(model) is None
    assert "loglik" not in model.__dict__  # the symbolic log-likelihood was never built


def test_model_view_rejects_unknown_what():
    with pytest.raises(ValueError, match="what must be one of"):
        display.model_view(_model(sm.Bernoulli()), "entropy")


def test_latex_view_arguments():
    assert display.LatexView("a")._repr_latex_() == "$$a$$"
    assert "3 characters" in repr(display.LatexView("abc", lhs="x"))
    with pytest.raises(TypeError, match="latex must be a str"):
        display.LatexView(1)
    with pytest.raises(TypeError, match="lhs must be a str"):
        display.LatexView("a", lhs=2)


# ------------------------------------------------------------------ lead-owned: Model, StudyResult
@pytest.mark.skipif(not hasattr(sm.Model, "_repr_latex_"), reason="Model._repr_latex_ not added yet")
@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_model_repr_latex(family):
    model = _model(family)
    s = model._repr_latex_()
    assert s == display.model_repr_latex(model)
    body = display_body(s)
    assert body.endswith(model.latex("loglik"))
    assert latex_errors(body) == []
    assert repr(model).startswith("Model(")  # the text form is unchanged


@pytest.mark.skipif(not hasattr(sm.Model, "show"), reason="Model.show not added yet")
def test_model_show():
    model = _model(sm.Gaussian(sigma=1.0), (1, 2))
    for what in ("loglik", "score", "fisher"):
        view = model.show(what)
        assert str(view) == model.latex(what)
        assert latex_errors(display_body(view._repr_latex_())) == []
    with pytest.raises(ValueError):
        model.show("nonsense")


@pytest.fixture(scope="module")
def study():
    return sm.consistency_study(seed_model(), SEED_THETA, sample_sizes=[200, 800], replications=3,
                                n_starts=1, rng=0)


@pytest.mark.skipif(not hasattr(StudyResult, "_repr_html_"), reason="StudyResult._repr_html_ not added yet")
def test_study_html_same_content_as_str(study):
    text = str(study)
    p = table_html(study._repr_html_())
    header, *rows = p.tables[0]
    lines = text.splitlines()
    assert header == re.split(r"\s{2,}", lines[1].strip())
    assert rows == [line.split() for line in lines[3:3 + len(study.table)]]
    assert [int(r[0]) for r in rows] == [row["n"] for row in study.table]
    np.testing.assert_allclose([float(r[3]) for r in rows],
                               [row["aligned_error"] for row in study.table], rtol=6e-3)
    assert numbers(p.text) == numbers(text)


# ------------------------------------------------------------ inline style, diagrams, docs
def test_html_carries_its_own_inline_style():
    """A table saved to a file on its own is styled: every element has a style attribute."""
    html = display.html_report("Fit", lines=["n = 3", "WARNING x"], headers=["name", "estimate"],
                               rows=[["a", 1.5], ["b", 2.0]], notes=["note"])
    table_html(html)  # still strict, well-formed HTML with only the table tags
    for tag in ("div", "p", "table", "th", "td"):
        opened = re.findall(rf"<{tag}\b[^>]*>", html)
        assert opened and all('style="' in t for t in opened), tag
    first, second = re.findall(r"<td\b[^>]*>", html)[:2]
    assert "text-align:left" in first and "text-align:right" in second  # names left, numbers right
    assert 'style="' in sm.mlp(2, 3, 1)._repr_html_().split("<svg")[0]


def test_mermaid_labels_and_line_breaks():
    small, big = sm.mlp(2, 3, 1), sm.mlp(5, 8, 1)
    text = small.to_mermaid()
    assert text.startswith("graph LR\n") and text.count('-->|"') == 9
    # SVG-text labels (valid XML, so JupyterLab's <img> shows them) with a two-line node label
    assert '"htmlLabels": false' in text and 'x1["x₁<br>input 1"]' in text
    assert 'h1_2(("h₁₂<br>tanh"))' in text
    assert small.to_mermaid(labels=False).count("-->|") == 0
    assert big.to_mermaid().count("-->|") == 0 and big.to_mermaid().count("-->") == 48
    assert big.to_mermaid(labels=True).count("-->|") == 48
    with pytest.raises(TypeError):
        small.to_mermaid(labels="yes")


def test_mermaid_labels_escape_markup():
    import networkx as nx

    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("y", role="output")
    G.add_edge("x", "y")
    text = sm.Architecture.from_graph(G).to_mermaid()
    assert 'x["x<br>input 1"]' in text and 'y["y<br>output"]' in text


def _make_figures():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "make_figures.py"
    spec = importlib.util.spec_from_file_location("make_figures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_docs_are_current():
    """The diagrams and formulas in docs/ are what the library prints now
    (regenerate with ``python docs/make_figures.py formulas``)."""
    assert _make_figures().make_formulas(check=True) == []


def test_typeset_formulas_are_the_librarys_latex():
    mf = _make_figures()
    model = mf.seed_model()
    ab = mf.Abbreviations(model)
    fisher = mf.matrix_entries(model.latex("fisher"))
    assert len(fisher) == 13 and {len(r) for r in fisher} == {13}
    for row in fisher:
        for cell in row:
            assert ab.expand(ab(cell)) == cell
    assert ab(mf.matrix_entries(model.latex("score"))[12][0]) == "r"
    text = mf.derivation_formulas()
    assert text.count(r"\frac{\partial \ell}{\partial") == 13 and r"\begin{bmatrix}" in text
