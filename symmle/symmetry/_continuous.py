"""`continuous_symmetries`: the tangent directions at θ along which the network function is constant.

Positive rescaling of ReLU-like (positively homogeneous) units, the affine (``GL``) mixing of
identity hidden units, and with a `symmle.model.Model` the family's own (the softmax shift of
`symmle.families.Categorical`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..model import Model
from ._structure import _Structure, arch_and_model, check_theta, structure

__all__ = ["continuous_symmetries"]

#: Above this many entries (400 MB of float64) the pivoted QR that drops dependent candidate
#: directions is skipped (it would cost far more than building them) and they are returned as is.
_MAX_QR_ENTRIES = 5e7

#: A candidate direction is dropped as dependent when its pivoted-QR diagonal entry is below this
#: fraction of the largest one times the matrix's larger dimension.
_QR_RTOL = 1e-10


def continuous_symmetries(arch_or_model, theta) -> np.ndarray:
    """A basis of the tangent directions at θ along which ``f`` (and the likelihood) stay constant.

    Parameters
    ----------
    arch_or_model : Architecture or Model
        With a Model the family's own symmetries are added (the softmax shift
        of `symmle.families.Categorical`: the same change to every
        output).
    theta : array_like
        θ of the architecture, or of the Model (family parameters at the end).

    Returns
    -------
    ndarray, shape (len(θ), k)
        Linearly independent columns, in this order: per hidden unit, the
        positive rescaling of a ReLU / leaky-ReLU / identity unit (incoming
        weights and bias ``+θ``, outgoing weights ``-θ``); per identity hidden
        unit, the bias translation absorbed by its successors' biases and the
        additions of other available signals (affine ``GL`` mixing); then the
        family's directions. Dependent directions are dropped (pivoted QR).
        The family parameters' rows are zero.

    Examples
    --------
    >>> arch = sm.mlp(1, 2, 1, activation="relu")
    >>> theta = np.array([1.0, -2.0, 0.5, 0.3, 3.0, 4.0, 0.1])
    >>> V = sm.continuous_symmetries(arch, theta)
    >>> V.shape
    (7, 2)
    >>> V[:, 0]
    array([ 1. ,  0. ,  0.5,  0. , -3. ,  0. ,  0. ])
    >>> X = np.linspace(-2, 2, 9)[:, None]
    >>> c = 1.5   # scale unit 1's incoming side by c and its outgoing weight by 1/c
    >>> moved = theta.copy(); moved[[0, 2]] *= c; moved[4] /= c
    >>> bool(np.allclose(arch.forward(moved, X), arch.forward(theta, X)))
    True
    >>> model = sm.Model(sm.mlp(2, 3), sm.Categorical())   # multinomial logit: softmax shift
    >>> sm.continuous_symmetries(model, model.random_params(0)).shape
    (9, 3)
    """
    arch, model = arch_and_model(arch_or_model, "arch_or_model")
    theta = check_theta(arch, theta, length=model.n_params if model is not None else None)
    st = structure(arch)
    Ptot = len(theta)
    cols = []

    def unit_edges(v):
        i_in = np.flatnonzero(st.E_dst == v)
        i_out = np.flatnonzero(st.E_src == v)
        return i_in, i_out

    in_sets = {}
    out_sets = {}
    edges_of = {}
    for v in st.hidden.tolist():
        if st.homogeneous[v] or st.linear[v]:
            i_in, i_out = unit_edges(v)
            edges_of[v] = (i_in, i_out)
            col = np.zeros(Ptot)
            col[st.E_idx[i_in]] = theta[st.E_idx[i_in]]
            if st.bias_pos[v] >= 0:
                col[st.bias_pos[v]] = theta[st.bias_pos[v]]
            col[st.E_idx[i_out]] = -theta[st.E_idx[i_out]]
            cols.append(col)
    lin = [v for v in st.hidden.tolist() if st.linear[v]]
    for v in lin:
        in_sets[v] = set(st.E_src[edges_of[v][0]].tolist())
        out_sets[v] = set(st.E_dst[edges_of[v][1]].tolist())
    for u in lin:
        i_in, i_out = edges_of[u]
        succ = st.E_dst[i_out]
        w_out = theta[st.E_idx[i_out]]
        # bias translation: h_u += ε, the successors' biases absorb -ε w_us
        if st.bias_pos[u] >= 0 and np.all(st.bias_pos[succ] >= 0):
            col = np.zeros(Ptot)
            col[st.bias_pos[u]] = 1.0
            np.add.at(col, st.bias_pos[succ], -w_out)
            cols.append(col)
        # add ε·h_p of a predecessor p to u, where p also feeds every successor of u
        for k in i_in.tolist():
            p = int(st.E_src[k])
            if out_sets[u] <= _succ_set(st, p):
                col = np.zeros(Ptot)
                col[st.E_idx[k]] = 1.0
                col[st.edge_lookup(np.full(len(succ), p), succ)] -= w_out
                cols.append(col)
        # add ε·z_v of another identity unit v whose inputs u also receives
        for v in lin:
            if v == u or v in in_sets[u] or not in_sets[v] <= in_sets[u]:
                continue
            if (st.bias_pos[v] >= 0 and st.bias_pos[u] < 0) or not out_sets[u] <= out_sets[v]:
                continue
            vi_in = edges_of[v][0]
            col = np.zeros(Ptot)
            col[st.edge_lookup(st.E_src[vi_in], np.full(len(vi_in), u))] += theta[st.E_idx[vi_in]]
            if st.bias_pos[v] >= 0:
                col[st.bias_pos[u]] += theta[st.bias_pos[v]]
            col[st.edge_lookup(np.full(len(succ), v), succ)] -= w_out
            cols.append(col)
    if model is not None:
        cols.extend(_family_directions(model, st, Ptot))
    if not cols:
        return np.zeros((Ptot, 0))
    V = np.stack(cols, axis=1)
    if V.size > _MAX_QR_ENTRIES:
        return V
    _, R, piv = sla.qr(V, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    if d.size == 0 or d[0] == 0:
        return np.zeros((Ptot, 0))
    rank = int(np.sum(d > d[0] * max(V.shape) * _QR_RTOL))
    return V[:, np.sort(piv[:rank])]


def _succ_set(st: _Structure, p: int) -> set:
    return set(st.E_dst[st.E_src == p].tolist())


def _family_directions(model: Model, st: _Structure, Ptot: int) -> list[np.ndarray]:
    if not model.family.shift_invariant:
        return []
    outs = st.output_ids
    if any(not st.linear[o] for o in outs):
        return []   # the softmax shift needs η itself to move by the same amount
    cols = []
    common = set.intersection(*[set(st.E_src[st.E_dst == o].tolist()) for o in outs])
    for p in sorted(common, key=lambda p: st.layer_of[p] * st.N + p if not st.is_input[p] else p):
        col = np.zeros(Ptot)
        col[st.edge_lookup(np.full(len(outs), p), outs)] = 1.0
        cols.append(col)
    if np.all(st.bias_pos[outs] >= 0):
        col = np.zeros(Ptot)
        col[st.bias_pos[outs]] = 1.0
        cols.append(col)
    return cols
