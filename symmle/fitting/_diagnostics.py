"""Diagnostics that decide whether a fit's estimate means anything, instead of false findings.

* **Separation** (`separation`): the maximum-likelihood estimate does not exist when a direction
  ``d`` of the output layer's parameters makes the log-likelihood keep rising for ever. For a
  family with a finite support of ``y`` given ``x`` (`Family.separable`) and identity outputs
  (``η`` linear in the output layer's parameters, whose Jacobian ``Z_i`` are the output layer's
  inputs: the last hidden layer's values, skip inputs and 1 for the biases), row i's
  log-likelihood is non-decreasing along ``d`` for *every* step length exactly when
  ``(u_i − v)ᵀ Z_i d ≥ 0`` for every value ``v`` of the support (``u_i`` the observed one), and
  increasing when one of these is positive. A linear programme (`scipy.optimize.linprog`)
  maximises their sum over the box ``|d| ≤ 1``: the MLE does not exist iff the maximum is
  positive (for logistic regression: some ``d ≠ 0`` with ``(2yᵢ − 1)·xᵢ·d ≥ 0`` on every row,
  strictly on one). The fitted probabilities are never used: a logistic regression whose
  fitted probabilities reach 1 − 1e-12 on a few rows is not separated when no such ``d``
  exists. The support's values come from the family's own ``∂ℓ/∂η = u − E[u]`` at
  ``η = ±T`` on each output (`Family.grad_eta`). With a penalty the network's weights cannot
  diverge; only the unpenalised biases are searched.
* **Saturated units** (`saturated_units`): a hidden unit whose activation is flat (slope below
  `FLAT_SLOPE` of its steepest) on at least `SATURATED_FRACTION` of the rows carries almost no
  information about its incoming weights.
* **Diverging weights** (`diverging_weights`): a weight whose contribution to its unit's
  pre-activation spreads `DIVERGING_RATIO` times wider than the pre-activation itself: units
  cancelling each other with ever larger weights.
* **Interpolation** (`interpolation`): a Gaussian fit with no more residuals than identified
  network parameters, or with σ̂ below `SIGMA_FLOOR` of y's spread: with σ estimated the
  likelihood is then unbounded (σ → 0) and there is no MLE.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.optimize as so

from ._nonsmooth import _preactivations

__all__ = ["separation", "saturated_units", "diverging_weights", "interpolation",
           "FLAT_SLOPE", "SATURATED_FRACTION", "DIVERGING_RATIO", "SIGMA_FLOOR"]

#: |η| at which the family's mean is evaluated to read off a value of the support: e^-60 ≈ 1e-26,
#: far below the rounding of a probability.
_SUPPORT_T = 60.0
#: a mean within this of an integer vector is a value of the support (ties give fractions).
_INTEGRAL_TOL = 1e-9
#: the support is enumerated over the 2^K sign patterns of the outputs only up to this K.
_MAX_SUPPORT_OUTPUTS = 12
#: an LP optimum above this (rows of the constraint matrix scaled to max-abs 1, so per row a
#: margin above HiGHS's feasibility tolerance 1e-7) is a separating direction.
_LP_TOL = 1e-6
#: the separating direction is confirmed on the likelihood by a step of this size (relative to the
#: largest |Z_i d|) from the output layer at 0: the log-likelihood must rise by more than rounding.
_CONFIRM_STEP = 10.0
_CONFIRM_RTOL = 1e-9
#: a unit's activation counts as flat at z when |σ'(z)| is below this fraction of its largest
#: slope (tanh: |z| > 3.0, i.e. |tanh z| > 0.995; a ReLU: z < 0).
FLAT_SLOPE = 1e-2
#: a hidden unit is saturated when it is flat on at least this fraction of the rows.
SATURATED_FRACTION = 0.95
#: a weight diverges when |w|·sd(source) exceeds this multiple of max(1, sd(pre-activation)).
DIVERGING_RATIO = 1e3
#: σ̂ below this fraction of the spread of y is a fit that passes through the data.
SIGMA_FLOOR = 1e-6
#: central-difference step for the activation's slope.
_SLOPE_STEP = 1e-5
#: grid on which an activation's largest slope is found.
_SLOPE_GRID = np.linspace(-6.0, 6.0, 1201)
#: at most this many names are listed in one message.
_MAX_NAMES = 8


def _support(family, y, k):
    """The values ``v`` (m, k) of the family's sufficient statistic ``u = y_values(y)``, read
    off its mean at ``η = T·s`` for every sign pattern s (a finite support only), or None."""
    if k > _MAX_SUPPORT_OUTPUTS:
        return None
    y1 = y[:1]
    u1 = np.asarray(family.y_values(y1, k), dtype=float)
    pats = np.array(list(itertools.product((-1.0, 1.0), repeat=k)))
    with np.errstate(all="ignore"):
        means = np.array([u1[0] - family.grad_eta(_SUPPORT_T * s[None, :], y1, ())[0]
                          for s in pats])
    ok = np.all(np.abs(means - np.round(means)) <= _INTEGRAL_TOL, axis=1)
    return np.unique(np.round(means[ok]), axis=0) if np.any(ok) else None


def separation(pb, theta, free_mask=None):
    """A recession direction of the log-likelihood in the output layer, or None.

    Parameters
    ----------
    pb : symmle.fitting._problem._Problem
    theta : ndarray
    free_mask : ndarray of bool, optional
        Parameters the direction may move (default: the output layer's; with a penalty only
        its unpenalised ones).

    Returns
    -------
    dict or None
        ``{"direction": d (P,), "rows": number of rows on which ℓ strictly rises, "n": n}``.
    """
    fam, model = pb.family, pb.model
    arch = model.architecture
    if not fam.separable or not all(arch.activation_of(v).linear for v in arch.output_nodes):
        return None
    outputs = set(arch.output_nodes)
    idx = [i for (u, v), i in arch.edge_index.items() if v in outputs]
    idx += [i for v, i in arch.bias_index.items() if v in outputs]
    idx = np.array(sorted(idx), dtype=np.intp)
    if free_mask is not None:
        idx = idx[free_mask[idx]]
    elif pb.penalty:
        idx = idx[~pb.penalised[idx]]
    if idx.size == 0:
        return None
    V = _support(fam, pb.y, pb.K)
    if V is None or V.shape[0] < 2:
        return None
    with np.errstate(all="ignore"):
        Z = pb.cm.jacobian(theta, pb.X)[:, :, idx]  # (n, K, m): the output layer's inputs
    if not np.all(np.isfinite(Z)):
        return None
    U = np.asarray(fam.y_values(pb.y, pb.K), dtype=float)  # (n, K)
    diff = U[:, None, :] - V[None, :, :]  # (n, |V|, K)
    A = np.einsum("nvk,nkm->nvm", diff, Z).reshape(-1, idx.size)
    row = np.repeat(np.arange(pb.n), V.shape[0])
    keep = np.any(diff != 0, axis=2).ravel()  # v = u_i gives the empty constraint
    A, row = A[keep], row[keep]
    scale = np.max(np.abs(A), axis=1)
    A, row = A[scale > 0] / scale[scale > 0, None], row[scale > 0]
    if A.shape[0] == 0:
        return None
    r = so.linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(A.shape[0]),
                   bounds=[(-1.0, 1.0)] * idx.size, method="highs")
    if r.status != 0 or -r.fun <= _LP_TOL:
        return None
    d = np.zeros(pb.P)
    d[idx] = r.x
    # confirm on the likelihood itself, from the output layer at 0 (the direction depends on
    # the hidden layers only, and at θ̂ the likelihood may have saturated at 0 already)
    reach = float(np.max(np.abs(np.einsum("nkm,m->nk", Z, r.x))))
    if reach <= 0:
        return None
    base = np.array(theta, dtype=float)
    base[idx] = 0.0
    ll0 = pb.loglik(base)
    ll1 = pb.loglik(base + (_CONFIRM_STEP / reach) * d)
    if not (ll1 - ll0 > _CONFIRM_RTOL * max(1.0, abs(ll0))):
        return None
    rows = int(np.unique(row[(A @ r.x) > _LP_TOL]).size)
    return {"direction": d, "rows": rows, "n": pb.n}


def separation_message(found) -> str:
    """The words for a `separation` finding."""
    return (f"the maximum-likelihood estimate does not exist: the data are (quasi-)separated — "
            f"a direction of the output layer's parameters makes the fitted probability of the "
            f"observed class rise on {found['rows']} of {found['n']} rows and fall on none, so "
            f"the log-likelihood keeps increasing as the parameters go to infinity along it (a "
            f"linear-programming check); the estimates reported are where the optimiser "
            f"stopped. Add a penalty (fit(..., penalty=...)) or drop the separating inputs")


def _slope(act, z):
    with np.errstate(all="ignore"):
        return (act.numpy(z + _SLOPE_STEP) - act.numpy(z - _SLOPE_STEP)) / (2.0 * _SLOPE_STEP)


def saturated_units(pb, theta):
    """``[(unit, fraction of flat rows)]`` for the hidden units that are flat on at least
    `SATURATED_FRACTION` of the rows (linear units never are)."""
    arch = pb.model.architecture
    units = [v for v in arch.hidden_nodes if not arch.activation_of(v).linear]
    if not units:
        return []
    z = _preactivations(arch, theta, pb.X, set(units))
    out = []
    for v in units:
        act = arch.activation_of(v)
        top = float(np.max(np.abs(_slope(act, _SLOPE_GRID))))
        if not top > 0:
            continue
        flat = np.abs(_slope(act, z[v])) < FLAT_SLOPE * top
        frac = float(np.mean(flat | ~np.isfinite(z[v])))
        if frac >= SATURATED_FRACTION:
            out.append((v, frac))
    return out


def diverging_weights(pb, theta):
    """Indices of the weights whose contribution ``w·h_source`` to their unit's pre-activation
    spreads more than `DIVERGING_RATIO` times wider than the pre-activation itself."""
    arch = pb.model.architecture
    h = {v: pb.X[:, i] for i, v in enumerate(arch.input_nodes)}
    z = {}
    with np.errstate(all="ignore"):
        for L, (W, b) in zip(arch.layers, arch.unflatten(theta[:arch.n_params])):
            A = np.stack([h[u] for u in L.sources], axis=1) @ W.T + b
            for j, v in enumerate(L.units):
                z[v] = A[:, j]
                h[v] = arch.activation_of(v).numpy(A[:, j])
        out = []
        for (u, v), i in arch.edge_index.items():
            spread = abs(float(theta[i])) * float(np.std(h[u]))
            if spread > DIVERGING_RATIO * max(1.0, float(np.std(z[v]))):
                out.append(i)
    return sorted(out)


def interpolation(pb, theta, network_rank):
    """Why a Gaussian fit passes through the data (``''`` when it does not), and whether the
    MLE then fails to exist (σ estimated: the likelihood is unbounded as σ → 0)."""
    fam = pb.family
    if not fam.least_squares:
        return "", False
    count = pb.n * pb.K
    sigma = fam.noise_scale(theta[pb.Pn:])
    rss = float(np.sum(pb.residuals(theta[:pb.Pn]) ** 2))
    spread = float(np.std(pb.y)) or 1.0
    rms = math.sqrt(rss / count)
    reasons = []
    if count <= network_rank:
        reasons.append(f"there are {count} residuals and {network_rank} identified network "
                       f"parameters (n·K ≤ rank), so the network can pass through every point")
    if rms <= SIGMA_FLOOR * spread:
        reasons.append(f"the residuals' root mean square {rms:.3g} is below {SIGMA_FLOOR:g} of "
                       f"y's spread {spread:.3g}")
    if not reasons:
        return "", False
    if fam.estimates_scale:
        return ("the fit interpolates the data: " + "; ".join(reasons) + f". With σ estimated "
                f"(σ̂ = {sigma:.3g}) the likelihood is unbounded as σ → 0, so the "
                f"maximum-likelihood estimate does not exist and the standard errors mean "
                f"nothing; use fewer parameters, more data, a known σ or a penalty", True)
    return ("the fit interpolates the data: " + "; ".join(reasons) + "; nothing is left to "
            "estimate the noise from, so check σ and the model size", False)


def names_list(names) -> str:
    """At most `_MAX_NAMES` names, comma-separated, with the count of the rest."""
    names = list(names)
    text = ", ".join(names[:_MAX_NAMES])
    return text + (f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else "")
