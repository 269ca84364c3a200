"""The study's figure: errors against n (log-log) and a normal QQ plot at the largest n."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ..errors import require

#: the QQ panel spans at least ±this many standard deviations (N(0, 1) quantiles of a few
#: hundred points reach about ±3; outliers beyond are shown on the same scale).
_QQ_MIN_LIMIT = 4.0

#: where the robust QQ panel's symmetric-log y axis turns from linear to logarithmic.
_QQ_LINTHRESH = 2.0

#: resolution of the saved PNG.
_DPI = 110


def check_figure_path(path) -> None:
    """Refuse, before any work, a figure path matplotlib cannot write: not a path, a directory,
    a missing folder, or a suffix that is no image format (the plot extra must be installed)."""
    import os
    from pathlib import Path

    from ..errors import SymmleTypeError, SymmleValueError

    if not isinstance(path, (str, os.PathLike)):
        raise SymmleTypeError(f"the figure path must be a str or path-like, got "
                              f"{type(path).__name__}")
    require("matplotlib", "plot")
    # optional dependency (the plot extra)
    from matplotlib.backend_bases import FigureCanvasBase

    p = Path(path)
    if p.is_dir():
        raise SymmleValueError(f"figure path {str(p)!r} is a directory; give a file name such "
                               f"as {str(p / 'study.png')!r}")
    if not p.parent.is_dir():
        raise SymmleValueError(f"figure path {str(p)!r}: the folder {str(p.parent)!r} does not "
                               f"exist")
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = p.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise SymmleValueError(f"figure path {str(p)!r}: {p.suffix or 'no suffix'} is not an "
                               f"image format; use one of {', '.join(sorted(formats))}")


def plot_study(result, path=None):
    """Draw `StudyResult` ``result`` (see `StudyResult.plot`); save it to ``path`` if given."""
    require("matplotlib", "plot")
    if path is not None:
        check_figure_path(path)
    # optional dependency (the plot extra): imported only when a figure is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax, qq = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
    _errors_panel(ax, result)
    _qq_panel(qq, result)
    if path is not None:
        fig.savefig(path, dpi=_DPI)
    return fig


def _errors_panel(ax, result):
    ns = np.asarray(result.sample_sizes, dtype=float)
    styles = [("raw_error", "raw  ‖θ̂ − θ*‖", "tab:red", "s"),
              ("aligned_error", "aligned  min_g ‖g(θ̂) − θ*‖", "tab:blue", "o"),
              ("function_error", "function  RMS f(x; θ̂) − f(x; θ*)", "tab:green", "^")]
    for key, label, color, marker in styles:
        med = np.array([r[key] for r in result.table], dtype=float)
        lo = np.array([r[key + "_q1"] for r in result.table], dtype=float)
        hi = np.array([r[key + "_q3"] for r in result.table], dtype=float)
        ax.errorbar(ns, med, yerr=[med - lo, hi - med], color=color, marker=marker,
                    capsize=3, label=label)
    crs = result.cramer_rao_scale
    if np.all(np.isfinite(crs)):
        ax.plot(ns, crs, color="k", ls="--", lw=1,
                label=r"$\sqrt{\mathrm{tr}\,I_1^{-1}/n}$  ($n^{-1/2}$, Cramér–Rao)")
    else:  # singular information at θ*: no Cramér–Rao scale, anchor n^-1/2 on the function error
        f0 = result.table[0]["function_error"]
        ax.plot(ns, f0 * np.sqrt(ns[0] / ns), color="k", ls="--", lw=1,
                label=r"$\propto n^{-1/2}$ (no Cramér–Rao bound: $I_1(\theta^*)$ singular)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sample size n")
    ax.set_ylabel("median error (bars: quartiles)")
    ax.set_title(f"aligned slope {result.slope:.2f}, raw {result.raw_slope:.2f}, "
                 f"function {result.function_slope:.2f}")
    ax.grid(True, which="both", alpha=0.3)
    # below the panel, so that it never covers the data (the reducible study's function errors
    # sit in the lower left)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)


def _qq_panel(qq, result):
    n_max = max(result.sample_sizes)
    Z, robust = result._qq_sample(n_max)
    Z = np.sort(Z[np.isfinite(Z)].ravel())
    if Z.size:
        probs = (np.arange(1, Z.size + 1) - 0.5) / Z.size
        q = norm.ppf(probs)
        qq.plot(q, Z, ".", color="tab:blue", ms=3, alpha=0.7)
        lim = max(_QQ_MIN_LIMIT, float(np.max(np.abs(q))))
        qq.plot([-lim, lim], [-lim, lim], "k--", lw=1)
        qq.set_xlim(-lim, lim)
        if robust:
            qq.set_yscale("symlog", linthresh=_QQ_LINTHRESH)
    qq.set_xlabel("N(0, 1) quantile")
    if robust:
        qq.set_ylabel("(aligned θ̂ − median) / (1.4826·MAD), per parameter")
        qq.set_title(f"normal QQ at n = {n_max}\n(I₁(θ*) singular: robust scale)")
    else:
        qq.set_ylabel(r"$\sqrt{n}\,(g(\hat\theta)-\theta^*)_j / \sqrt{[I_1^{-1}]_{jj}}$")
        qq.set_title(f"normal QQ, all parameters pooled, n = {n_max}")
    qq.grid(True, alpha=0.3)
