"""Moving along the flat ridges of the likelihood: the known continuous symmetries at work.

`symmle.continuous_symmetries` spans, at θ, the tangent directions along which the distribution
of y given x does not change (ReLU rescaling, the softmax shift, the affine mixing of identity
units). The profile likelihood uses them to start each inner maximisation where the previous
optimum, moved along its orbit, already is:

* `transport` follows the orbit of θ until coordinate i reaches a value t: the flow of the
  smallest symmetry field with unit i-component (classical Runge–Kutta, geometric steps when
  t and θ_i have the same sign, since the orbits of rescalings are multiplicative). Where the
  profile is flat because of a symmetry (a ReLU unit's bias or output weight on a half-line),
  this reaches the maximum at t exactly.
* `balance` moves θ along the symmetry directions that keep θ_i (e.g. rescaling the *other*
  ReLU units) to the point of its orbit of least norm: the same function, better scaled for the
  optimiser.
* `orbit_images` are θ's images under the discrete group (`symmle.symmetry_group`): the same
  fit with its units relabelled and flipped, so that coordinate i carries another unit's role —
  starts of the same likelihood in other basins of the profile.

Both return a start only; the inner maximisation polishes it, so an integration error costs a
few iterations, not the answer.
"""

from __future__ import annotations

import math

import numpy as np

from ..symmetry import continuous_symmetries, symmetry_group

__all__ = ["symmetry_basis", "transport", "balance", "orbit_images"]

#: columns of the symmetry basis are dropped as dependent below this (relative) QR diagonal,
#: and a direction keeps θ_i when its i-component is below it (orthonormal basis).
_MOVES_TOL = 1e-8
#: largest ratio t_{k+1}/t_k of the geometric Runge–Kutta steps: exact to ~1e-4 per step for a
#: rescaling (the inner maximisation removes the rest, cheaper than finer steps).
_GEOMETRIC_RATIO = 1.5
#: number of Runge–Kutta steps when t and θ_i differ in sign or one is 0.
_LINEAR_STEPS = 32
#: at most this many Runge–Kutta steps per transport (1.5^100 ≈ 4e17 covers any useful range).
_MAX_STEPS = 100
#: Runge–Kutta steps of the gradient flow of ½‖θ‖² in `balance`, and their length: the flow
#: moves a unit's log-scale by at most one per unit time, so 24 steps of 0.25 balance a unit
#: that is off by a factor up to e^6 ≈ 400 (function error ~1e-3 at worst, which the inner
#: maximisation removes).
_BALANCE_STEPS = 24
_BALANCE_RATE = 0.25
#: `orbit_images` lists the whole orbit up to this group order, else the generators' images.
_MAX_ORBIT = 512
#: `balance` stops (or does not start) when the orbit gradient is below this fraction of ‖θ‖:
#: balanced enough for a start.
_BALANCE_RTOL = 1e-2


def _orthonormal(B) -> np.ndarray:
    """An orthonormal basis of the span of B's columns (each scaled to norm 1 first, so that
    a direction with large entries does not swamp a small one)."""
    if B.shape[1] == 0:
        return B
    norms = np.linalg.norm(B, axis=0)
    B = B[:, norms > 0] / norms[norms > 0]
    if B.shape[1] == 0:
        return B
    Q, R = np.linalg.qr(B)
    return Q[:, np.abs(np.diag(R)) > _MOVES_TOL]


def symmetry_basis(model, theta) -> np.ndarray:
    """An orthonormal basis (P × k) of the continuous symmetry directions at θ."""
    return _orthonormal(continuous_symmetries(model, theta))


def _field(model, theta, i):
    """The smallest symmetry direction u at θ with ``u_i = 1``, or None when no symmetry
    direction moves θ_i (the directions of `symmle.continuous_symmetries` have an exact zero
    i-entry when they keep θ_i: for a rescaling that entry is θ_i itself).

    ``u = B c`` with ``c ∝ G⁻¹ bᵢ`` (``G = BᵀB``, ``bᵢ`` the i-th row of B), computed on the
    column-scaled B so that an i-entry far below the others (a rescaled unit's tiny bias) keeps
    its relative accuracy, which an orthonormal basis would lose.
    """
    if not np.all(np.isfinite(theta)):
        return None
    B = continuous_symmetries(model, theta)
    if B.shape[1] == 0 or not np.any(B[i] != 0):
        return None
    norms = np.linalg.norm(B, axis=0)
    B = B[:, norms > 0] / norms[norms > 0]
    try:
        c = np.linalg.solve(B.T @ B, B[i])
    except np.linalg.LinAlgError:
        c = np.linalg.lstsq(B.T @ B, B[i], rcond=None)[0]
    ui = float(B[i] @ c)
    if not (np.isfinite(ui) and ui != 0.0):
        return None
    u = (B @ c) / ui
    u[i] = 1.0
    return u


def transport(model, theta, i, t):
    """θ moved along its symmetry orbit until ``θ_i = t`` (None when no symmetry moves θ_i).

    Examples
    --------
    A ReLU unit's bias: the orbit rescales the unit (incoming × c, outgoing ÷ c).

    >>> from symmle.fitting._ridge import transport
    >>> model = sm.Model(sm.mlp(1, 1, 1, activation="relu"), sm.Gaussian(sigma=1.0))
    >>> theta = np.array([2.0, 1.0, 3.0, 0.5])        # w, b, v, c
    >>> transport(model, theta, 1, 4.0).round(6)      # c = 4: w = 8, v = 3/4
    array([8.  , 4.  , 0.75, 0.5 ])
    """
    theta = np.array(theta, dtype=float)
    t0 = float(theta[i])
    if t == t0:
        return theta
    if _field(model, theta, i) is None:
        return None
    if t0 != 0.0 and t != 0.0 and (t0 > 0) == (t > 0):
        n = min(_MAX_STEPS, max(1, math.ceil(abs(math.log(t / t0)) / math.log(_GEOMETRIC_RATIO))))
        grid = t0 * (t / t0) ** (np.arange(n + 1) / n)
    else:
        grid = np.linspace(t0, t, _LINEAR_STEPS + 1)
    for a, b in zip(grid[:-1], grid[1:]):
        h = b - a
        k1 = _field(model, theta, i)
        k2 = None if k1 is None else _field(model, theta + 0.5 * h * k1, i)
        k3 = None if k2 is None else _field(model, theta + 0.5 * h * k2, i)
        k4 = None if k3 is None else _field(model, theta + h * k3, i)
        if k4 is None:
            return None
        theta = theta + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        theta[i] = b
        if not np.all(np.isfinite(theta)):
            return None
    return theta


def _keeping(model, theta, i):
    """An orthonormal basis of the symmetry directions at θ that keep θ_i."""
    B = continuous_symmetries(model, theta)
    if B.shape[1] == 0 or not np.any(B[i] != 0):
        return _orthonormal(B)
    norms = np.linalg.norm(B, axis=0)
    B = B[:, norms > 0] / norms[norms > 0]
    # coefficients c with (B c)_i = 0: the null space of the row B[i]
    _, _, Vt = np.linalg.svd(B[i][None, :])
    return _orthonormal(B @ Vt[1:].T)


def _descent(model, theta, i):
    """Minus the gradient of ½‖θ‖² along the orbit directions that keep θ_i."""
    if not np.all(np.isfinite(theta)):
        return None
    Q = _keeping(model, theta, i)
    return -(Q @ (Q.T @ theta)) if Q.shape[1] else None


def balance(model, theta, i):
    """θ moved along the symmetry directions that keep θ_i, towards the least norm on its orbit
    (None when there are none, or θ is balanced already).

    The gradient flow of ½‖θ‖² restricted to the orbit, by classical Runge–Kutta steps: it
    stays on the orbit up to the integration error.

    Examples
    --------
    Two ReLU units; keeping the first unit's bias, the second unit is rescaled until its incoming
    and outgoing weights have the same norm.

    >>> from symmle.fitting._ridge import balance
    >>> model = sm.Model(sm.mlp(1, 2, 1, activation="relu"), sm.Gaussian(sigma=1.0))
    >>> theta = np.array([1.0, 0.1, 0.5, 0.05, 1.0, 10.0, 0.0])
    >>> out = balance(model, theta, 2)
    >>> out.round(2)
    array([1.  , 0.94, 0.5 , 0.47, 1.  , 1.06, 0.  ])
    >>> X = np.linspace(-2, 2, 7)[:, None]
    >>> a = model.architecture
    >>> float(np.max(np.abs(a.forward(out, X) - a.forward(theta, X)))) < 1e-3   # a start only
    True
    """
    theta = np.array(theta, dtype=float)
    k1 = _descent(model, theta, i)
    norm = max(1.0, float(np.linalg.norm(theta)))
    if k1 is None or float(np.linalg.norm(k1)) <= _BALANCE_RTOL * norm:
        return None
    for step in range(_BALANCE_STEPS):
        if step:
            k1 = _descent(model, theta, i)
            if k1 is None:
                return None
            if float(np.linalg.norm(k1)) <= _BALANCE_RTOL * max(1.0, float(np.linalg.norm(theta))):
                break
        h = _BALANCE_RATE
        k2 = _descent(model, theta + 0.5 * h * k1, i)
        k3 = None if k2 is None else _descent(model, theta + 0.5 * h * k2, i)
        k4 = None if k3 is None else _descent(model, theta + h * k3, i)
        if k4 is None:
            return None
        theta = theta + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        if not np.all(np.isfinite(theta)):
            return None
    return theta


def orbit_images(model, theta) -> np.ndarray:
    """θ's images under the discrete symmetry group, identity excluded: all of them when the
    group has at most `_MAX_ORBIT` elements, else those under its generators. The family's
    parameters are unchanged.

    Examples
    --------
    >>> from symmle.fitting._ridge import orbit_images
    >>> model = sm.Model(sm.mlp(1, 2, 1, activation="tanh"), sm.Gaussian())
    >>> orbit_images(model, np.arange(1.0, 9.0)).shape      # 2² · 2! − 1 images
    (7, 8)
    """
    arch = model.architecture
    Pn = arch.n_params
    theta = np.asarray(theta, dtype=float)
    G = symmetry_group(arch)
    if G.order <= _MAX_ORBIT:
        images = G.orbit(theta[:Pn], limit=_MAX_ORBIT)[1:]
    else:
        images = np.array([g(theta[:Pn]) for g in G.generators]).reshape(-1, Pn)
    return np.column_stack([images, np.tile(theta[Pn:], (images.shape[0], 1))])
