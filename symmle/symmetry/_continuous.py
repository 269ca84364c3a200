"""`continuous_symmetries`: the tangent directions at θ along which the network function is constant.

Positive rescaling of ReLU-like (positively homogeneous) units, the rescaling
``σ(λz) = λ^r σ(z)`` of monomial units (``square``, ``cube``, ``quartic``), the affine (``GL``)
mixing of identity hidden units, the whole fibre of the matrix product of each maximal block of
identity units (`linear_blocks`, `linear_block_differential`), and with a `symmle.model.Model`
the family's own (the softmax shift of `symmle.families.Categorical`).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.linalg as sla

from ..activations import get_activation
from ..model import Model
from ._structure import _Structure, arch_and_model, check_theta, structure

__all__ = ["continuous_symmetries", "linear_blocks", "linear_block_differential",
           "fibre_block_is_small"]

#: Above this many entries (400 MB of float64) the pivoted QR that drops dependent candidate
#: directions is skipped (it would cost far more than building them) and they are returned as is.
_MAX_QR_ENTRIES = 5e7

#: A candidate direction is dropped as dependent when its pivoted-QR diagonal entry is below this
#: fraction of the largest one times the matrix's larger dimension.
_QR_RTOL = 1e-10

#: Above this many entries the differential of a linear block's matrix product is not formed (its
#: kernel is then only the GL and bias-translation directions built above).
_MAX_FIBRE_ENTRIES = 4e6


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
        weights and bias ``+θ``, outgoing weights ``-θ``; ``-r·θ`` for a
        monomial unit ``z^r``); per identity hidden
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
    theta = check_theta(arch, theta, model=model)
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
        if st.homogeneous[v] or st.linear[v] or st.degree[v] > 1:
            # σ(λz) = λ^r σ(z): incoming side × λ, outgoing × λ^-r (r = 1 unless a monomial)
            r = max(int(st.degree[v]), 1)
            i_in, i_out = unit_edges(v)
            edges_of[v] = (i_in, i_out)
            col = np.zeros(Ptot)
            col[st.E_idx[i_in]] = theta[st.E_idx[i_in]]
            if st.bias_pos[v] >= 0:
                col[st.bias_pos[v]] = theta[st.bias_pos[v]]
            col[st.E_idx[i_out]] = -r * theta[st.E_idx[i_out]]
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
    fibre = _fibre_directions(arch, theta, Ptot)
    if not cols and fibre.shape[1] == 0:
        return np.zeros((Ptot, 0))
    V = np.stack(cols, axis=1) if cols else np.zeros((Ptot, 0))
    if V.size > _MAX_QR_ENTRIES:
        return V
    if V.shape[1]:
        _, R, piv = sla.qr(V, mode="economic", pivoting=True)
        d = np.abs(np.diag(R))
        rank = 0 if d.size == 0 or d[0] == 0 else int(np.sum(d > d[0] * max(V.shape) * _QR_RTOL))
        V = V[:, np.sort(piv[:rank])]
    return _extend(V, fibre)


def _extend(V: np.ndarray, K: np.ndarray) -> np.ndarray:
    """V followed by the columns of K that are independent of V and of each other."""
    if K.shape[1] == 0:
        return V
    R = K
    if V.shape[1]:
        Q = np.linalg.qr(V)[0]
        R = K - Q @ (Q.T @ K)
    _, T, piv = sla.qr(R, mode="economic", pivoting=True)
    d = np.abs(np.diag(T))
    tol = _QR_RTOL * max(K.shape) * max(1.0, float(np.max(np.linalg.norm(K, axis=0))))
    keep = np.sort(piv[:int(np.sum(d > tol))])
    return np.concatenate([V, K[:, keep]], axis=1)


def linear_blocks(graph) -> list[tuple[tuple, tuple, tuple]]:
    """The maximal blocks of linear (identity) hidden units of a network graph.

    A block is a connected set of identity hidden units, two of them connected when an edge
    joins them or when they feed a common node outside the set (which then adds their
    contributions). Returns ``(units, sources, sinks)`` per block, node labels in graph order: the
    units, the nodes outside the block that feed it, and those it feeds. The block composes
    linearly: each sink's pre-activation depends on the block's parameters (and on the sinks'
    direct edges from the sources and biases) only through the affine map ``M`` of
    `linear_block_differential`.
    """
    lin = [v for v, d in graph.nodes(data=True)
           if d.get("role") == "hidden" and get_activation(d["activation"]).linear]
    if not lin:
        return []
    order = {v: i for i, v in enumerate(graph.nodes)}
    link = nx.Graph()
    link.add_nodes_from(("unit", v) for v in lin)
    lin_set = set(lin)
    for u in lin:
        for s in graph.successors(u):
            link.add_edge(("unit", u), ("unit", s) if s in lin_set else ("sink", s))
    blocks = []
    for members in nx.connected_components(link):
        comp = {v for kind, v in members if kind == "unit"}
        units = tuple(sorted(comp, key=order.__getitem__))
        sources = {p for u in units for p in graph.predecessors(u)} - comp
        sinks = {s for u in units for s in graph.successors(u)} - comp
        blocks.append((units, tuple(sorted(sources, key=order.__getitem__)),
                       tuple(sorted(sinks, key=order.__getitem__))))
    blocks.sort(key=lambda b: order[b[0][0]])
    return blocks


def linear_block_differential(graph, edge_index: dict, bias_index: dict, theta, block):
    """The block's affine map ``M`` and its differential with respect to the parameters it uses.

    For a block ``(units, sources, sinks)`` of `linear_blocks`, ``M`` (sinks × (sources + 1),
    the last column the constant) is ``D + W_out (I - N)⁻¹ [W_in | b]`` plus the sinks' biases in
    the last column: ``W_in`` the weights sources → units, ``N`` those between units, ``W_out``
    units → sinks, ``b`` the units' biases and ``D`` the direct edges sources → sinks. Every
    direction in the kernel of ``dM`` leaves the network function unchanged (to first order).

    Parameters
    ----------
    graph : networkx.DiGraph
    edge_index, bias_index : dict
        θ index of each edge ``(u, v)`` and of each biased unit (an `Architecture`'s).
    theta : ndarray
        Float, or an object array of exact numbers (then the result is exact too).
    block : tuple
        ``(units, sources, sinks)``.

    Returns
    -------
    (M, dM, idx) : ndarray (T, S + 1), ndarray (T·(S + 1), m), ndarray of int (m,)
        ``dM[:, j]`` is ``∂ vec(M) / ∂θ[idx[j]]`` (row-major ``vec``).
    """
    units, sources, sinks = block
    exact = np.asarray(theta).dtype == object
    dtype = object if exact else float
    zero, one = (theta[0] * 0, theta[0] * 0 + 1) if exact else (0.0, 1.0)
    nb, ns, nt = len(units), len(sources), len(sinks)
    bpos = {u: i for i, u in enumerate(units)}
    spos = {s: i for i, s in enumerate(sources)}
    tpos = {t: i for i, t in enumerate(sinks)}

    def full(shape):
        return np.full(shape, zero, dtype=dtype)

    Win, N, Wout = full((nb, ns + 1)), full((nb, nb)), full((nt, nb))
    params = []   # (θ index, kind, a, b)
    for u in units:
        for p in graph.predecessors(u):
            i = edge_index[(p, u)]
            if p in bpos:
                N[bpos[u], bpos[p]] = theta[i]
                params.append((i, "N", bpos[u], bpos[p]))
            else:
                Win[bpos[u], spos[p]] = theta[i]
                params.append((i, "in", bpos[u], spos[p]))
        if u in bias_index:
            Win[bpos[u], ns] = theta[bias_index[u]]
            params.append((bias_index[u], "in", bpos[u], ns))
        for t in graph.successors(u):
            if t in tpos:
                Wout[tpos[t], bpos[u]] = theta[edge_index[(u, t)]]
                params.append((edge_index[(u, t)], "out", tpos[t], bpos[u]))
    Dm = full((nt, ns + 1))
    for t in sinks:
        for p in graph.predecessors(t):
            if p in spos:
                Dm[tpos[t], spos[p]] = theta[edge_index[(p, t)]]
                params.append((edge_index[(p, t)], "direct", tpos[t], spos[p]))
        if t in bias_index:
            Dm[tpos[t], ns] = theta[bias_index[t]]
            params.append((bias_index[t], "direct", tpos[t], ns))
    # A = (I - N)^-1 = I + N + N² + … (N is nilpotent: the block is acyclic)
    A = full((nb, nb))
    for k in range(nb):
        A[k, k] = one
    power = A.copy()
    for _ in range(nb - 1):
        power = power @ N
        if not np.any(power != zero):
            break
        A = A + power
    WA, AW = Wout @ A, A @ Win
    M = Dm + WA @ Win
    cols = []
    for _, kind, a, b in params:
        d = full((nt, ns + 1))
        if kind == "in":        # W_in[a, b]: column b of M moves by (W_out A)[:, a]
            d[:, b] = WA[:, a]
        elif kind == "N":       # N[a, b]: M moves by (W_out A)[:, a] ⊗ (A W_in)[b, :]
            d = np.outer(WA[:, a], AW[b, :])
        elif kind == "out":     # W_out[a, b]: row a of M moves by (A W_in)[b, :]
            d[a, :] = AW[b, :]
        else:
            d[a, b] = one
        cols.append(d.reshape(-1))
    dM = np.stack(cols, axis=1) if cols else full((nt * (ns + 1), 0))
    return M, dM, np.array([p[0] for p in params], dtype=np.intp)


def fibre_block_is_small(block) -> bool:
    """Whether `continuous_symmetries` forms this block's differential (else only its GL and
    bias-translation directions are listed)."""
    units, sources, sinks = block
    n_rows = len(sinks) * (len(sources) + 1)
    return n_rows * (len(units) * (len(sources) + len(sinks) + 1)) <= _MAX_FIBRE_ENTRIES


def _fibre_directions(arch, theta: np.ndarray, Ptot: int) -> np.ndarray:
    """A basis (Ptot × k) of the kernels of the differentials of every linear block's product."""
    out = []
    if not any(arch.activation_of(v).linear for v in arch.hidden_nodes):
        return np.zeros((Ptot, 0))   # no linear block (and an MLP's graph is not built for it)
    for block in linear_blocks(arch.graph):
        if not fibre_block_is_small(block):
            continue
        _, dM, idx = linear_block_differential(arch.graph, arch.edge_index, arch.bias_index,
                                               theta, block)
        _, s, Vt = np.linalg.svd(dM, full_matrices=True)
        top = float(s[0]) if s.size else 0.0
        rank = int(np.sum(s > _QR_RTOL * max(dM.shape) * top)) if top > 0 else 0
        K = Vt[rank:].T
        if K.shape[1]:
            cols = np.zeros((Ptot, K.shape[1]))
            cols[idx] = K
            out.append(cols)
    return np.concatenate(out, axis=1) if out else np.zeros((Ptot, 0))


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
