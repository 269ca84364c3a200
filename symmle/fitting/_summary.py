"""The summary table of a `FitResult` (text and HTML share its parts): the header lines (fit,
information, penalty, covariance, warnings and diagnostics) and one row per parameter."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats as st

__all__ = ["summary_parts", "summary_text", "fmt"]

#: what each covariance kind is, in the summary's words.
_COV_WORDS = {
    "expected": "inverse expected information",
    "observed": "inverse observed information",
    "robust": "robust (HC0 sandwich of per-row scores)",
}


def fmt(v, digits=4) -> str:
    """A number in ``digits`` significant digits; nan / inf spelled out."""
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}g}"


def summary_parts(res, alpha: float):
    """Title, header lines, column headers and formatted rows of ``res``'s summary."""
    lo_hi = res.conf_int(alpha)
    se = res.stderr
    with np.errstate(invalid="ignore", divide="ignore"):
        z = res.params / se
    p = 2.0 * st.norm.sf(np.abs(z))
    n_conv = sum(s.converged for s in res.starts)
    model = res.model
    cond = res.condition_number
    title = f"Maximum-likelihood fit: {model.architecture!r} with {model.family!r}"
    lines = []
    if res.output_names:
        lines.append(f"response: {', '.join(res.output_names)}")
    lines += [
        f"n = {res.n_obs}   log-likelihood = {res.loglik:.6g}   AIC = {res.aic:.6g}   "
        f"BIC = {res.bic:.6g}",
        f"method = {res.method}   converged = {'yes' if res.converged else 'NO'} "
        f"({res.n_iter} iterations)   starts = {len(res.starts) - res.refined}"
        + (f" + {res.refined} refining" if res.refined else "") + f" ({n_conv} converged)",
        f"information: {res.rank_verdict.describe()}; equilibrated condition number "
        + ("inf" if math.isinf(cond) else f"{cond:.3g}"),
    ]
    if res.penalty:
        lines.append(
            f"penalty = {res.penalty:g} × ½Σw² on the {int(np.sum(res.penalised))} weights "
            f"(biases and family parameters unpenalised): penalised log-likelihood = "
            f"{res.objective:.6g}; effective degrees of freedom = {res.effective_df:.4g} of "
            f"{res.information_rank} identified")
    if res.penalty or res.cov_type != "expected":
        what = _COV_WORDS[res.cov_type]
        if res.penalty:
            what += ", penalised: A⁻¹ M A⁻¹ with A = M + penalty·D"
        lines.append(f"standard errors: {what}")
    if res.information_rank < res.n_params:
        lines.append(f"AIC counts {res.information_rank} identified parameters of "
                     f"{res.n_params} (the rank of the information; so does BIC)")
    if res.sigma is not None and model.family.sigma is None:
        lines.append(f"sigma = {res.sigma:.6g}")
    if res.null_space_dim:
        names = [n for n, ok in zip(res.param_names, res.identified) if not ok]
        lines.append(f"WARNING: the information is singular: null-space dimension "
                     f"{res.null_space_dim}; not identified: {', '.join(names)}")
    if not res.converged and res.message:
        lines.append(f"WARNING: {res.message}")
    for d in res.diagnostics:
        if d != res.message:
            lines.append(f"WARNING: {d}")
    pct = f"{100 * (1 - alpha):g}%"
    headers = ["name", "estimate", "std. err.", "z", "P>|z|", pct + " interval"]
    rows = [[name, fmt(res.params[i]), fmt(se[i]), fmt(z[i], 3), fmt(p[i], 3),
             f"[{fmt(lo_hi[i, 0])}, {fmt(lo_hi[i, 1])}]"]
            for i, name in enumerate(res.param_names)]
    return title, lines, headers, rows


def summary_text(res, alpha: float) -> str:
    """The text table of `summary_parts`."""
    title, lines, headers, rows = summary_parts(res, alpha)
    w = max(8, max(len(n) for n in res.param_names))
    head = (f"{headers[0]:<{w}}  {headers[1]:>10}  {headers[2]:>10}  {headers[3]:>8}  "
            f"{headers[4]:>7}  {headers[5]:>24}")
    lines = [title, *lines, head, "-" * len(head)]
    for name, est, se, z, p, ci in rows:
        lines.append(f"{name:<{w}}  {est:>10}  {se:>10}  {z:>8}  {p:>7}  {ci:>24}")
    return "\n".join(lines)
