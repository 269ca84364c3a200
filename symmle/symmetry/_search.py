"""Exact orbit distance by branch and bound over the discrete group, with a certified lower bound.

The group is ``N ⋊ Q``: ``Q`` the quotient automorphisms (tried one by one), ``N`` the
within-class permutations and flips. For one ``q``, the search decides ``N``'s element layer
by layer from the input. A hidden unit's row (incoming weights and bias) is final once the
unit and its sources are decided, so the squared distance splits into per-layer parts, each
known exactly when its layer is decided (`symmle.symmetry._plan` says which output entries
each layer decides). At the start of layer k, with every earlier layer decided:

* ``C[u, p, f]``: the exact cost of unit u moved to p with flip f (its row, and the output
  entries only u decides); the layer's rows cost at least the linear assignment minimum of
  ``min_f C`` in each class (exact when no output entry couples the units' flips);
* coupled entries (several flips of the layer add to one output entry) cost at least the
  squared distance from their reference value to the interval their sum can reach;
* later layers cost at least the assignment minimum of a relaxation: entries whose position
  or value is still open are bounded by sorting (the best signed or unsigned matching of a
  source class's weights, `_sorted_cost`) or by 0.

The sum is an admissible lower bound. A layer on which nothing later depends (*terminal*:
the last hidden layer of an MLP) is solved by branching only on the flips that couple output
entries and solving assignments; other layers branch on (unit, target, flip). A subtree is
pruned when its bound reaches the best distance found (`PRUNE_RTOL`). When the node or time
budget runs out, the smallest bound of an unexplored subtree is a certified lower bound.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._plan import SearchPlan

__all__ = ["Search", "PRUNE_RTOL", "sq_dist"]

#: A subtree is pruned when its lower bound is at least ``best·(1 - PRUNE_RTOL)``: bounds and
#: costs are sums of squares in different orders, equal to about 1e-15 relative; a subtree
#: that could only improve the best by less than this is not searched.
PRUNE_RTOL = 1e-12

_INF = float("inf")


def _lap(C: np.ndarray) -> tuple[float, np.ndarray]:
    """Minimum and column of each row of the assignment problem with cost matrix C."""
    if C.size == 0:
        return 0.0, np.zeros(0, dtype=np.intp)
    if C.shape[0] == 1:
        j = int(np.argmin(C[0]))
        return float(C[0, j]), np.array([j], dtype=np.intp)
    r, c = linear_sum_assignment(C)
    return float(C[r, c].sum()), c


def sq_dist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``D[i, j] = ||A_i - B_j||²`` (rows of A against rows of B)."""
    if A.shape[1] == 0:
        return np.zeros((A.shape[0], B.shape[0]))
    D = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(D, 0.0)


def _sorted_cost(A: np.ndarray, B: np.ndarray, signed: bool) -> np.ndarray:
    """``D[i, j] = min over permutations (and, if signed, signs) of ||π(A_i) - B_j||²``."""
    if signed:
        A, B = np.abs(A), np.abs(B)
    return sq_dist(np.sort(A, axis=1), np.sort(B, axis=1))


class _Layer:
    """What the search knows at the start of one hidden layer (earlier layers decided)."""

    __slots__ = ("li", "classes", "rows", "C", "can_flip", "coupled", "const", "future", "lap")


class Search:
    """One branch-and-bound search of ``min_n ||n(x) - ref||²`` over the normal subgroup N.

    Parameters
    ----------
    plan : SearchPlan
    x, ref : ndarray
        The network parts of ``q(a)`` and ``b``.
    best : float
        The squared distance to beat (an incumbent's).
    deadline : float
        ``time.perf_counter()`` value at which to stop; ``max_nodes`` likewise.
    """

    def __init__(self, plan: SearchPlan, x: np.ndarray, ref: np.ndarray, best: float,
                 deadline: float, max_nodes: int, nodes: int = 0):
        st = self.st = plan.st
        self.plan = plan
        self.x, self.ref = x, ref
        self.best = best
        self.best_dec = None
        self.deadline, self.max_nodes = deadline, max_nodes
        self.nodes = nodes
        self.open_lb = _INF
        self.aborted = False
        self.tgt = np.full(st.N, -1, dtype=np.intp)
        fixed = st.is_input | st.is_output
        self.tgt[fixed] = np.flatnonzero(fixed)
        self.flip = np.zeros(st.N, bool)
        self.newx = np.zeros(st.P)

    # ------------------------------------------------------------ budget
    def _tick(self) -> bool:
        """Count a node; False (and abort) when the budget is spent."""
        self.nodes += 1
        if self.aborted:
            return False
        if self.nodes > self.max_nodes or time.perf_counter() > self.deadline:
            self.aborted = True
            return False
        return True

    def _abandon(self, bound: float) -> None:
        self.open_lb = min(self.open_lb, bound)

    def _threshold(self) -> float:
        return self.best * (1.0 - PRUNE_RTOL)

    # ------------------------------------------------------------- rows
    def _tilde(self, o: int) -> np.ndarray:
        """o's row (weights, then bias or 0) after its decided sources' flips, before its own."""
        st, plan = self.st, self.plan
        src, w = plan.row_src[o], plan.row_w[o]
        vals = np.empty(len(src) + 1)
        f = self.flip[src]
        vals[:-1] = self.x[w] * np.where(f, st.beta[src], 1.0)
        vals[-1] = self.x[plan.row_b[o]] if plan.row_b[o] >= 0 else 0.0
        for u, t, a, b, c0 in plan.terms_into[o]:
            if self.flip[u]:
                add = c0 * self.x[a] * np.where(b >= 0, self.newx[np.maximum(b, 0)], 1.0)
                np.add.at(vals, plan.pos[t], add)
        return vals

    def _ref_rows(self, o_src: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Reference rows of ``targets`` with columns at the decided images of ``o_src``."""
        st, plan = self.st, self.plan
        R = np.zeros((len(targets), len(o_src) + 1))
        if len(o_src):
            src_img = self.tgt[o_src]
            for i, p in enumerate(targets.tolist()):
                R[i, :-1] = self.ref[st.edge_lookup(src_img, np.full(len(o_src), p))]
        for i, p in enumerate(targets.tolist()):
            if plan.row_b[p] >= 0:
                R[i, -1] = self.ref[plan.row_b[p]]
        return R

    # ------------------------------------------------------------ setup
    def _setup(self, li: int) -> _Layer:
        """Costs of layer ``li`` given the decided earlier layers."""
        st, plan = self.st, self.plan
        L = _Layer()
        L.li = li
        L.classes = plan.layer_classes[li]
        L.rows = {}
        L.C, L.can_flip = [], []
        comp_single: dict = {}
        coupled = []
        out_rows = {}
        for e, last in plan.out_comp[li]:
            y = int(plan.row_of[e])
            if y not in out_rows:
                out_rows[y] = self._tilde(y)
            coupled.append([out_rows[y][plan.pos[e]], last, self._out_ref(e), e])
        for m in L.classes:
            for u in m.tolist():
                L.rows[u] = self._tilde(u)
        # δ of each coupled entry for each of its units (flipping u adds δ to the entry)
        cp = []
        for val, last, r_e, e in coupled:
            deltas = np.array([self._delta(e, int(u), L.rows[int(u)]) for u in last.tolist()])
            keep = st.flippable[st.hpos[last]] & (deltas != 0)
            if keep.sum() == 1:
                u = int(last[keep][0])
                comp_single.setdefault(u, []).append((val, deltas[keep][0], r_e))
            elif keep.sum() == 0:
                comp_single.setdefault(-1, []).append((val, 0.0, r_e))
            else:
                cp.append((val, last[keep], deltas[keep], r_e))
        L.coupled = cp
        # output entries this layer decides that no flip of it moves: a constant of the layer
        L.const = float(sum((v - r) ** 2 for v, _, r in comp_single.pop(-1, [])))
        plain = {}
        for e, s in plan.out_plain[li]:
            plain.setdefault(int(s), []).append(e)
        for m in L.classes:
            n = len(m)
            o_src = plan.row_src[int(m[0])]
            A = np.stack([L.rows[u] for u in m.tolist()])
            R = self._ref_rows(o_src, m)
            flippable = bool(st.flippable[st.hpos[m[0]]])
            C = np.empty((n, n, 2))
            C[:, :, 0] = sq_dist(A, R)
            C[:, :, 1] = sq_dist(-A, R) if flippable else _INF
            # output weights only this unit decides: value β^f·x at the target's column
            out_e = plain.get(int(m[0]), [])
            if out_e:
                ys = plan.row_of[np.array(out_e)]
                V = np.stack([self.x[st.edge_lookup(np.full(len(ys), u), ys)]
                              for u in m.tolist()])
                Rf = np.stack([self.ref[st.edge_lookup(np.full(len(ys), p), ys)]
                               for p in m.tolist()])
                C[:, :, 0] += sq_dist(V, Rf)
                if flippable:
                    C[:, :, 1] += sq_dist(st.beta[m[0]] * V, Rf)
            for i, u in enumerate(m.tolist()):
                for val, d, r_e in comp_single.get(u, []):
                    C[i, :, 0] += (val - r_e) ** 2
                    if flippable:
                        C[i, :, 1] += (val + d - r_e) ** 2
            L.C.append(C)
            L.can_flip.append(flippable)
        L.lap = [(_lap(C.min(axis=2))[0]) for C in L.C]
        L.future = self._future_lb(li)
        return L

    def _out_ref(self, e: int) -> float:
        """Reference value at the position of output entry e (its source already decided)."""
        plan, st = self.plan, self.st
        y = int(plan.row_of[e])
        k = plan.pos[e]
        if k == len(plan.row_src[y]):
            return float(self.ref[e])
        s = int(plan.row_src[y][k])
        return float(self.ref[st.edge_lookup(np.array([self.tgt[s]]), np.array([y]))[0]])

    def _delta(self, e: int, u: int, row_u: np.ndarray) -> float:
        """What flipping u (with tilde row ``row_u``) adds to output entry e."""
        plan = self.plan
        out = 0.0
        for uu, t, a, b, c0 in plan.terms_into[int(plan.row_of[e])]:
            if uu != u:
                continue
            m = t == e
            for aa, bb, cc in zip(a[m].tolist(), b[m].tolist(), c0[m].tolist()):
                # u's flipped row is -row_u; b indexes u's own row
                out += cc * self.x[aa] * (-row_u[plan.pos[bb]] if bb >= 0 else 1.0)
        return out

    # ------------------------------------------------------- future bound
    def _future_lb(self, li: int) -> float:
        """A lower bound on everything decided after layer li (layers li.. undecided)."""
        plan = self.plan
        decided = self.tgt >= 0
        total = 0.0
        cls_of = {}
        for lj in range(li, len(plan.layers)):
            for m in plan.layer_classes[lj]:
                for v in m.tolist():
                    cls_of[v] = m
        for lj in range(li + 1, len(plan.layers)):
            plain = {}
            for e, s in plan.out_plain[lj]:
                plain.setdefault(int(s), []).append(e)
            for m in plan.layer_classes[lj]:
                total += self._class_lb(m, decided, cls_of, plain.get(int(m[0]), []))
        return total

    def _class_lb(self, m, decided, cls_of, out_e) -> float:
        """Assignment bound of one later class: known entries exact, sorted blocks, else 0."""
        st, plan = self.st, self.plan
        n = len(m)
        o0 = int(m[0])
        src = plan.row_src[o0]
        flippable = bool(st.flippable[st.hpos[o0]])
        rows = np.stack([self._tilde(int(u)) for u in m.tolist()])
        known = np.zeros(len(src) + 1, bool)
        blocks = {}
        for j, s in enumerate(src.tolist()):
            comp = plan.comp(plan.row_w[o0][j])
            comp_ok = bool(np.all(decided[comp])) if len(comp) else True
            if decided[s] and comp_ok:
                known[j] = True
            elif not decided[s] and len(comp) == 0:
                blocks.setdefault(id(cls_of[s]), (cls_of[s], []))[1].append(j)
        if plan.row_b[o0] >= 0:
            comp = plan.comp(plan.row_b[o0])
            known[-1] = bool(np.all(decided[comp])) if len(comp) else True
        else:
            known[-1] = True   # both sides 0
        D = np.zeros((n, n, 2))
        kj = np.flatnonzero(known)
        if len(kj):
            R = self._ref_rows(src, m)   # columns of undecided sources are unused here
            D[:, :, 0] += sq_dist(rows[:, kj], R[:, kj])
            D[:, :, 1] += sq_dist(-rows[:, kj], R[:, kj])
        for c, cols in blocks.values():
            cols = np.array(cols)
            A = np.stack([self.x[plan.row_w[int(u)][cols]] for u in m.tolist()])
            B = np.stack([self.ref[st.edge_lookup(c, np.full(len(c), p))] for p in m.tolist()])
            signed = bool(st.flippable[st.hpos[c[0]]]) and st.beta[c[0]] < 0
            D[:, :, 0] += _sorted_cost(A, B, signed)
            D[:, :, 1] += _sorted_cost(-A, B, signed)
        if out_e:
            ys = plan.row_of[np.array(out_e)]
            V = np.stack([self.x[st.edge_lookup(np.full(len(ys), u), ys)] for u in m.tolist()])
            Rf = np.stack([self.ref[st.edge_lookup(np.full(len(ys), p), ys)] for p in m.tolist()])
            D[:, :, 0] += sq_dist(V, Rf)
            D[:, :, 1] += sq_dist(st.beta[o0] * V, Rf)
        M = np.minimum(D[:, :, 0], D[:, :, 1]) if flippable else D[:, :, 0]
        return _lap(M)[0]

    # ------------------------------------------------------------ coupled
    @staticmethod
    def _coupled_lb(L: _Layer, fixed_f: dict) -> float:
        """Interval bound of the coupled entries, given the flips decided so far."""
        total = 0.0
        for val, units, deltas, r_e in L.coupled:
            lo = hi = val
            for u, d in zip(units.tolist(), deltas.tolist()):
                f = fixed_f.get(u)
                if f is None:
                    lo += min(d, 0.0)
                    hi += max(d, 0.0)
                elif f:
                    lo += d
                    hi += d
            if r_e < lo:
                total += (lo - r_e) ** 2
            elif r_e > hi:
                total += (r_e - hi) ** 2
        return total

    @staticmethod
    def _coupled_exact(L: _Layer, flips: dict) -> float:
        total = 0.0
        for val, units, deltas, r_e in L.coupled:
            v = val + sum(d for u, d in zip(units.tolist(), deltas.tolist()) if flips.get(u))
            total += (v - r_e) ** 2
        return total

    # ------------------------------------------------------------- search
    def run(self) -> None:
        """Search; afterwards ``best``, ``best_dec``, ``open_lb``, ``nodes`` hold the outcome."""
        const = float(((self.x[self.plan.out_const] - self.ref[self.plan.out_const]) ** 2).sum())
        if not self.plan.layers:
            if self._tick():
                self._leaf(const)
            return
        self._layer(0, const)

    def _leaf(self, cost: float) -> None:
        if cost < self.best:
            self.best = cost
            self.best_dec = (self.tgt.copy(), self.flip.copy())

    def root_bound(self) -> float:
        """The lower bound at the root (no unit decided)."""
        const = float(((self.x[self.plan.out_const] - self.ref[self.plan.out_const]) ** 2).sum())
        if not self.plan.layers:
            return const
        L = self._setup(0)
        return const + L.const + sum(L.lap) + self._coupled_lb(L, {}) + L.future

    def _layer(self, li: int, fixed: float) -> None:
        if li == len(self.plan.layers):
            self._leaf(fixed)
            return
        L = self._setup(li)
        fixed += L.const
        bound = fixed + sum(L.lap) + self._coupled_lb(L, {}) + L.future
        if not self._tick():
            self._abandon(bound)
            return
        if bound >= self._threshold():
            return
        if self.plan.terminal[li]:
            self._terminal(L, fixed)
        else:
            self._units(L, fixed)

    def _decide(self, L: _Layer, assign: list, flips: dict) -> list:
        """Write a layer's decisions into the state; returns what to undo."""
        done = []
        for m, cols in zip(L.classes, assign):
            for i, u in enumerate(m.tolist()):
                f = bool(flips.get(u, False))
                self.tgt[u] = m[cols[i]]
                self.flip[u] = f
                row = L.rows[u] * (-1.0 if f else 1.0)
                w = self.plan.row_w[u]
                self.newx[w] = row[:-1]
                if self.plan.row_b[u] >= 0:
                    self.newx[self.plan.row_b[u]] = row[-1]
                done.append(u)
        return done

    def _undo(self, done: list) -> None:
        self.tgt[done] = -1
        self.flip[done] = False

    # terminal layer: branch on the coupled flips, assignment for the rest
    def _terminal(self, L: _Layer, fixed: float) -> None:
        units = []
        for _, us, ds, _ in L.coupled:
            for u in us.tolist():
                if u not in units:
                    units.append(u)
        best_layer = [self._threshold() - fixed - L.future, None]   # layer cost to beat
        self._flip_dfs(L, units, 0, {}, best_layer, fixed)
        if best_layer[1] is None:
            return
        cost, assign, flips = best_layer[1]
        done = self._decide(L, assign, flips)
        self._layer(L.li + 1, fixed + cost)
        self._undo(done)

    def _assign(self, L: _Layer, fixed_f: dict, adj: dict | None = None):
        """Per class the assignment given fixed flips: (cost, columns, chosen flips).

        ``adj[u]`` is added to unit u's cost when flipped (the Lagrangian terms).
        """
        total, assign, flips = 0.0, [], {}
        for m, C in zip(L.classes, L.C):
            if adj:
                C = C.copy()
                for i, u in enumerate(m.tolist()):
                    if u in adj:
                        C[i, :, 1] += adj[u]
            M = C.min(axis=2)
            fsel = np.argmin(C, axis=2)
            for i, u in enumerate(m.tolist()):
                f = fixed_f.get(u)
                if f is not None:
                    M[i] = C[i, :, int(f)]
                    fsel[i] = int(f)
            c, cols = _lap(M)
            total += c
            assign.append(cols)
            for i, u in enumerate(m.tolist()):
                flips[u] = bool(fsel[i, cols[i]])
        return total, assign, flips

    def _lagrangian(self, L: _Layer, fixed_f: dict, flips: dict) -> float:
        """A second bound: ``(e + D)² ≥ 2λ(e + D) - λ²`` with λ the residuals at ``flips``,
        linear in the flips, so it folds into the assignment."""
        adj: dict = {}
        const = 0.0
        for val, units, deltas, r_e in L.coupled:
            lam = val - r_e + sum(d for u, d in zip(units.tolist(), deltas.tolist())
                                  if flips.get(u))
            const += 2.0 * lam * (val - r_e) - lam * lam
            for u, d in zip(units.tolist(), deltas.tolist()):
                adj[u] = adj.get(u, 0.0) + 2.0 * lam * d
        return self._assign(L, fixed_f, adj)[0] + const

    def _flip_dfs(self, L, units, k, fixed_f, best_layer, fixed) -> None:
        lap, assign, flips = self._assign(L, fixed_f)
        exact = lap + self._coupled_exact(L, flips)   # the assignment's own cost: feasible
        if exact < best_layer[0]:
            best_layer[0] = exact
            best_layer[1] = (exact, assign, flips)
        bound_layer = lap + self._coupled_lb(L, fixed_f)
        if k < len(units) and bound_layer < best_layer[0]:
            bound_layer = max(bound_layer, self._lagrangian(L, fixed_f, flips))
        if not self._tick():
            self._abandon(fixed + bound_layer + L.future)
            return
        if k == len(units) or bound_layer >= best_layer[0]:
            return
        u = units[k]
        first = flips[u]
        for f in (first, not first):
            fixed_f[u] = f
            self._flip_dfs(L, units, k + 1, fixed_f, best_layer, fixed)
            del fixed_f[u]
            if self.aborted:
                self._abandon(fixed + bound_layer + L.future)
                return

    # non-terminal layer: branch on (unit, target, flip), unit by unit
    def _units(self, L: _Layer, fixed: float) -> None:
        order = [(ci, i) for ci, m in enumerate(L.classes) for i in range(len(m))]
        avail = [list(range(len(m))) for m in L.classes]
        remaining = [list(range(len(m))) for m in L.classes]
        assign = [np.full(len(m), -1, dtype=np.intp) for m in L.classes]
        self._unit_dfs(L, order, 0, avail, remaining, assign, {}, 0.0, list(L.lap), fixed)

    def _rest_lap(self, L, ci, rows, cols) -> float:
        C = L.C[ci]
        if not rows:
            return 0.0
        M = C[np.ix_(rows, cols)].min(axis=2)
        return _lap(M)[0]

    def _unit_dfs(self, L, order, k, avail, remaining, assign, fixed_f, partial, laps,
                  fixed) -> None:
        if k == len(order):
            cost = partial + self._coupled_exact(L, fixed_f)
            if fixed + cost + L.future >= self._threshold():
                return
            done = self._decide(L, assign, fixed_f)
            self._layer(L.li + 1, fixed + cost)
            self._undo(done)
            return
        ci, i = order[k]
        m = L.classes[ci]
        u = int(m[i])
        C = L.C[ci]
        rows = [r for r in remaining[ci] if r != i]
        others = sum(laps) - laps[ci]
        children = []
        for p in avail[ci]:
            cols = [c for c in avail[ci] if c != p]
            rest = self._rest_lap(L, ci, rows, cols)
            for f in ((0, 1) if L.can_flip[ci] else (0,)):
                ff = dict(fixed_f)
                ff[u] = bool(f)
                b = (fixed + partial + C[i, p, f] + rest + others + self._coupled_lb(L, ff)
                     + L.future)
                children.append((b, p, f, rest))
        children.sort(key=lambda c: c[0])
        for b, p, f, rest in children:
            if b >= self._threshold():
                break
            if not self._tick():
                self._abandon(b)
                return
            assign[ci][i] = p
            avail[ci].remove(p)
            remaining[ci].remove(i)
            fixed_f[u] = bool(f)
            saved = laps[ci]
            laps[ci] = rest
            self._unit_dfs(L, order, k + 1, avail, remaining, assign, fixed_f,
                           partial + C[i, p, f], laps, fixed)
            laps[ci] = saved
            del fixed_f[u]
            remaining[ci].append(i)
            remaining[ci].sort()
            avail[ci].append(p)
            avail[ci].sort()
            assign[ci][i] = -1
            if self.aborted:
                self._abandon(b)
                return
