"""``CompiledModel``: the model evaluated as vectorised numpy (or numba), at hand-written speed.

The network is run as a straight-line program (`symmle.compiled._program`): one
pre-activation and one activation per unit, each layer one BLAS product, the
activation derivatives derived by sympy from the registry's sympy forms and
lambdified once (`symmle._chain`). The family's stable numpy forms of ``ℓ(η, y)``
and its derivatives in η are then chained with the network:

* log-likelihood: one forward pass, ``Σ_rows ℓ(η, y)``;
* score: ``Jᵀ ∂ℓ/∂η`` by one reverse pass (back-propagation), without ever
  forming ``J``;
* Fisher information: ``Jᵀ W J`` with ``J = ∂η/∂θ`` built per row by the
  reverse pass seeded at each output, laid out as ``Jᵀ`` (K, P, m); the
  product is one symmetric rank-k update (BLAS ``syrk``) per chunk, with
  ``W`` factored per row as ``Σ_j ± b_j b_jᵀ`` (one factor for one output).
  With several outputs the reverse pass is seeded with the columns of the weight's
  factor R (``R Rᵀ = W``, `symmle.families.Family.weight_root`) instead, which gives
  ``J R`` straight away, ``J`` never formed (the fused numba program forms ``J`` and
  multiplies by R after);
* Hessian (exact): ``Jᵀ (∂²ℓ/∂η²) J + Σ_k (∂ℓ/∂η_k) ∂²η_k/∂θ²``, the second
  term by forward-over-reverse differentiation of the same program.

Rows are processed in chunks (`symmle.compiled._chunks`), so memory stays bounded
for any n; `CompiledModel.evaluate` shares one forward pass per chunk between all the
quantities asked for. Everything is float64; no sympy object reaches the numeric layer.

Threads (`symmle.compiled._parallel`): with the numba backend, where its fused or
layered program computes everything a call needs, the chunks run one after the other
on the calling thread and each kernel runs its fixed blocks of rows on numba's
threads; otherwise the chunks run on the calling thread and the model's own thread
pool. Either way chunk and block boundaries depend on n and the model only and sums
are reduced in order, so every result is bit-identical whatever the number of threads.
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ..errors import DataError, SymmleTypeError, SymmleValueError
from ..model import Model
from ._backend import resolve_backend
from ._blas import GRAM_BLAS_MIN_PARAMS, gram, weighted_sum
from . import _chunks
from ._chunks import plan
from ._gram import INPLACE_MIN_PARAMS, GramSum, accumulate_jwj, check_memory
from ._hvp import HessianProducts, hessian_times
from ._parallel import ChunkRunner, blas_may_thread, num_threads
from ._program import NumericProgram, Workspace
from ._wide import WideSum, undecided_sum, wide_parts

__all__ = ["REDUCE_ROWS", "CompiledModel"]

_QUANTITIES = ("loglik", "score", "fisher", "hessian")

#: the most rows handed to one call of a family's reduction (`Family.loglik_sum`): OpenBLAS
#: computes a dot product of at most 10 000 values on the calling thread, so that the
#: reduction does not wake BLAS's threads while numba's or the thread pool's run.
REDUCE_ROWS = 8192


class CompiledModel:
    """Vectorised numpy evaluation of a `symmle.model.Model`.

    Get one with ``model.compile()`` (cached per model). All methods take θ
    as one flat float64 vector in the model's parameter order and ``X`` of
    shape (n, d); sums run over rows. Several threads may call one model at once.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=1.0))
    >>> cm = model.compile()
    >>> theta = model.random_params(0)
    >>> X, y = model.simulate(theta, n=200, rng=1)
    >>> cm.score(theta, X, y).shape, cm.fisher(theta, X).shape
    ((13,), (13, 13))
    >>> bool(np.allclose(cm.predict(theta, X), model.architecture.forward(theta, X)[:, 0]))
    True
    >>> out = cm.evaluate(theta, X, y, ("loglik", "score", "fisher"))
    >>> bool(np.allclose(out["score"], cm.score(theta, X, y)))
    True
    """

    def __init__(self, model, backend=None):
        if not isinstance(model, Model):
            raise SymmleTypeError(f"CompiledModel: model must be a Model (sm.Model(arch, "
                                  f"family)); model.compile() builds one; got "
                                  f"{type(model).__name__}")
        self.model = model
        #: ``"numpy"`` or ``"numba"`` (see `symmle.compiled.BACKENDS`).
        self.backend = resolve_backend(backend)
        arch = model.architecture
        self._arch = arch
        self._family = model.family
        self._K = arch.n_outputs
        self._Pn = arch.n_params
        self._P = model.n_params
        kernels, self._gram = None, None  # the numba backend's activation and Gram kernels
        self._all_finite = _all_finite
        if self.backend == "numba":
            # numba is an optional dependency: imported only when its backend is asked for
            from ._numba_kernels import KERNELS as kernels, all_finite, weighted_gram

            self._gram = weighted_gram
            self._all_finite = all_finite
        self._prog = NumericProgram(arch, kernels, fused=self.backend == "numba")
        self._local = threading.local()
        self._runner = ChunkRunner()

    def _workspace(self):
        """This thread's scratch buffers (`symmle.compiled._program.Workspace`), kept
        between calls."""
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = Workspace()
        return ws

    def __reduce__(self):
        # compiled again on the other side: the lambdified pieces, the thread pool and the
        # thread-local scratch space do not pickle, and the program is rebuilt in milliseconds
        return (CompiledModel, (self.model, self.backend))

    # ------------------------------------------------------------ checking
    def _check(self, theta, X, y=None):
        theta = self.model.check_theta(theta)
        if theta.ndim != 1:
            raise SymmleValueError(f"theta must be one vector of length {self._P}")
        # NaN and inf in X are looked for chunk by chunk (`_rows`), while the chunk is in
        # cache for the forward pass (a separate scan costs as much as a tenth of a
        # log-likelihood evaluation)
        X = self._arch.check_X(X, finite=False)
        if y is not None:
            y = self._family.check_y(y, X.shape[0], self._K)
        return theta, X, y

    def _rows(self, X, s):
        """``X[s]``, or `DataError` when it holds NaN or infinite values."""
        Xc = X[s]
        if not self._all_finite(Xc):
            raise DataError("X contains NaN or infinite values")
        return Xc

    def _plan(self, n, jacobian=False, hessian=False):
        """Row chunks and whether they are worth a thread each (`symmle.compiled._chunks`)."""
        return plan(self._prog, self._K, self._Pn, n, jacobian, hessian)

    def _in_kernel(self, *, jacobian=False, fisher=False, hessian=False) -> bool:
        """Whether the numba program computes everything a call needs, so that its chunks
        run as the numba kernels' calls (`_run`), else on the model's thread pool.
        ``jacobian``: ``Jᵀ`` is formed; ``fisher``: the Fisher information is asked for."""
        prog = self._prog
        if prog.accelerated is None or hessian:
            return False
        if fisher and not (prog.fused is not None and prog.fused.gram_applies()):
            return False
        return not (jacobian and prog.fused is None)

    def _whole(self, chunks, in_kernel, gram=False, parallel=False):
        """``(chunks, bounds)`` of a call whose numba kernels need no per-chunk memory (η
        alone, the Fisher information straight from X): one chunk of all rows, and the blocks
        that the chunks would have, so that one hand-over to the threads (`run_blocks`) runs
        them all with the same bits. Other calls, and η's chunks when they are worth a thread
        each (``parallel``, the plan's flag: a chunk a thread costs one hand-over for the
        call), keep their chunks (bounds None)."""
        if not in_kernel or len(chunks) <= 1 or (parallel and not gram):
            return chunks, None  # η's chunks worth a thread each go to the pool as they are
        acc = self._prog.accelerated
        bounds = acc.chunk_bounds(chunks, gram=True) if gram else acc.chunk_bounds(chunks)
        return [slice(0, chunks[-1].stop)], bounds

    def _big_sums(self, fisher, hessian, chunks, buffers=2):
        """The one buffer (`symmle.compiled._gram.GramSum`) the Fisher information's chunks
        add into from `INPLACE_MIN_PARAMS` network parameters on (else None), after
        checking that the P×P results and the chunks' ``buffers`` (K, Pn, m) fit in
        memory."""
        P, Pn, K = self._P, self._Pn, self._K
        if Pn < INPLACE_MIN_PARAMS:
            return None
        rows = max(s.stop - s.start for s in chunks)
        # the results, and per chunk Jᵀ and/or its weighted copy B and (Hessian) one P×P sum
        need = 8 * (P * P * (int(fisher) + 2 * int(hessian)) + buffers * K * Pn * rows)
        asked = " and ".join(q for q, w in (("Fisher information", fisher),
                                            ("Hessian", hessian)) if w)
        check_memory(need, f"the {asked} of {P} parameters",
                     "use a smaller network, or fewer quantities (the log-likelihood and the "
                     "score need no P×P matrix)")
        return GramSum(P) if fisher else None

    def _run(self, chunk, chunks, parallel, reduce, in_kernel, gram=False):
        """``reduce(chunk(s, par))`` for the chunks in order. When ``in_kernel``: several
        chunks worth a thread each go to the thread pool with ``par`` None, and otherwise
        they run on the calling thread with ``par`` the model's `ChunkRunner` (whose
        threads then share each kernel's blocks of rows; None on one thread). Else the
        chunks go to the thread pool with ``par`` false. ``gram``: the chunks form
        ``Jᵀ W J``; from `symmle.compiled._blas.GRAM_BLAS_MIN_PARAMS` parameters on that is one BLAS
        product, and when BLAS may use several threads such chunks run on the calling thread
        alone (BLAS's threads give the parallelism; two symmle threads each calling a
        threaded BLAS would ask for more threads than there are cores). So do the chunks of
        a program with a wide layer (`symmle.compiled._program.NumericProgram.wide`)."""
        if not in_kernel:
            big = (gram and self._Pn >= GRAM_BLAS_MIN_PARAMS) or self._prog.wide
            if big and blas_may_thread():
                parallel = False
            self._runner.run(lambda s: chunk(s, False), chunks, parallel, reduce)
            return
        rows = max((s.stop - s.start for s in chunks), default=0)
        # the layered program's blocks are a few BLAS rows each: sharing them pays from the
        # numpy program's threshold on (mlp(10, 180, 1), n = 1000: 191 000 values, median
        # 3.5 ms on numba's two threads against 1.9 ms on one, ninth session)
        few = (self._prog.fused is None
               and rows * self._prog.n_nodes
               < _chunks.PARALLEL_MIN_WORK * _chunks.NUMPY_WORK_FACTOR)
        if rows < self._prog.accelerated.min_split_rows or few:
            for s in chunks:  # one block of rows a chunk: nothing for other threads
                reduce(chunk(s, False))
            return
        if parallel and len(chunks) > 1:  # a chunk a thread: one hand-over a call (one per
            # kernel and chunk made mlp(2, 3, 1)'s score at 10⁵ rows 1.13× one thread)
            self._runner.run(lambda s: chunk(s, None), chunks, True, reduce)
            return
        par = self._runner if num_threads() > 1 else None
        for s in chunks:  # each kernel shares its blocks with the pool (`run_blocks`)
            reduce(chunk(s, par))

    # ------------------------------------------------------------- public
    def linear_predictor(self, theta, X) -> np.ndarray:
        """η = f(X; θ), shape (n, K)."""
        theta, X, _ = self._check(theta, X)
        prog = self._prog
        weights = prog.weights(theta[: self._Pn])
        out = np.empty((X.shape[0], self._K))

        chunks, parallel = self._plan(X.shape[0])
        chunks, bounds = self._whole(chunks, self._in_kernel(), parallel=parallel)

        def chunk(s, par):
            out[s] = prog.eta_only(weights, self._rows(X, s), self._workspace(), par, bounds)

        self._run(chunk, chunks, parallel, _ignore, self._in_kernel())
        return out

    def predict(self, theta, X) -> np.ndarray:
        """Mean of y given X: shape (n,) for one output, else (n, K) (class probabilities for
        Categorical)."""
        theta, X, _ = self._check(theta, X)
        eta = self.linear_predictor(theta, X)
        mu = self._family.mean(eta, theta[self._Pn:])
        return mu[:, 0] if self._K == 1 else mu

    def jacobian(self, theta, X) -> np.ndarray:
        """``∂η/∂θ_net`` per row, shape (n, K, P_net)."""
        theta, X, _ = self._check(theta, X)
        prog = self._prog
        weights = prog.weights(theta[: self._Pn])
        out = np.empty((X.shape[0], self._K, self._Pn))

        def chunk(s, par):
            ws = self._workspace()
            Z, A = prog.forward(weights, self._rows(X, s), ws, par)
            out[s] = prog.jacobian_t(weights, Z, A, ws, par).transpose(2, 0, 1)

        self._run(chunk, *self._plan(X.shape[0], jacobian=True), _ignore,
                  self._in_kernel(jacobian=True))
        return out

    def loglik_rows(self, theta, X, y) -> np.ndarray:
        """Per-row log-likelihood, shape (n,)."""
        if y is None:
            raise SymmleValueError("y is needed for loglik_rows")
        theta, X, y = self._check(theta, X, y)
        eta = self.linear_predictor(theta, X)
        return self._family.loglik_rows(eta, y, theta[self._Pn:])

    def loglik(self, theta, X, y) -> float:
        """Log-likelihood summed over rows."""
        return self.evaluate(theta, X, y, ("loglik",))["loglik"]

    def score(self, theta, X, y) -> np.ndarray:
        """Gradient of the log-likelihood, shape (P,)."""
        return self.evaluate(theta, X, y, ("score",))["score"]

    def hessian(self, theta, X, y) -> np.ndarray:
        """Hessian of the log-likelihood, shape (P, P)."""
        return self.evaluate(theta, X, y, ("hessian",))["hessian"]

    def hessian_times(self, theta, X, y, v) -> np.ndarray:
        """``H v`` (P,) for the Hessian H of the log-likelihood, without forming H: about three
        scores' work (`symmle.compiled._hvp`).

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
        >>> theta = model.random_params(0)
        >>> X, y = model.simulate(theta, n=200, rng=1)
        >>> cm, v = model.compile(), np.arange(model.n_params, dtype=float)
        >>> bool(np.allclose(cm.hessian_times(theta, X, y, v), cm.hessian(theta, X, y) @ v))
        True
        """
        return hessian_times(self, theta, X, y, v)

    def hessian_operator(self, theta, X, y):
        """The Hessian of the log-likelihood at θ as a `scipy.sparse.linalg.LinearOperator`
        (P × P, symmetric), never formed: each product is `hessian_times`'s, and what does
        not depend on the direction (the forward pass, the slopes, the family's per-row
        derivatives) is computed once and kept while it fits in
        `symmle.compiled._hvp.HVP_CACHE_BYTES`. For conjugate gradients, Lanczos
        (``scipy.sparse.linalg.eigsh``) and other iterative methods: the Hessian's extreme
        eigenvalues show how singular the fit is.

        Examples
        --------
        >>> from scipy.sparse.linalg import eigsh
        >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
        >>> theta = model.random_params(0)
        >>> X, y = model.simulate(theta, n=200, rng=1)
        >>> cm = model.compile()
        >>> H = cm.hessian_operator(theta, X, y)
        >>> H.shape
        (14, 14)
        >>> top = eigsh(H, k=1, which="LA", return_eigenvectors=False)
        >>> bool(np.isclose(top[0], np.linalg.eigvalsh(cm.hessian(theta, X, y))[-1]))
        True
        """
        products = HessianProducts(self, theta, X, y)
        P = products.theta.size
        return LinearOperator((P, P), matvec=products, rmatvec=products, dtype=np.float64)

    def fisher(self, theta, X) -> np.ndarray:
        """Expected information ``Σ_rows E[-∂²ℓ/∂θ∂θᵀ | x]``, shape (P, P)."""
        return self.evaluate(theta, X, None, ("fisher",))["fisher"]

    def evaluate(self, theta, X, y=None, what=("loglik", "score", "fisher")) -> dict:
        """Several quantities from one shared forward pass per chunk of rows.

        Parameters
        ----------
        theta : array_like, shape (P,)
        X : array_like, shape (n, d)
        y : array_like, optional
            Needed for everything but ``"fisher"``.
        what : sequence of str
            Any of ``"loglik"``, ``"score"``, ``"fisher"``, ``"hessian"``.

        Returns
        -------
        dict
            ``{name: value}``: a float for ``loglik``, (P,) for ``score``,
            (P, P) for ``fisher`` and ``hessian``.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Bernoulli())
        >>> theta = model.random_params(0)
        >>> X, y = model.simulate(theta, n=500, rng=1)
        >>> out = model.compile().evaluate(theta, X, y, ("loglik", "score", "fisher"))
        >>> sorted(out), out["fisher"].shape
        (['fisher', 'loglik', 'score'], (13, 13))
        """
        if isinstance(what, str):
            what = (what,)
        if not isinstance(what, (tuple, list)):
            raise SymmleTypeError(f"what must be one of {_QUANTITIES} or a tuple or list of "
                                  f"them, got {type(what).__name__}")
        what = tuple(what)
        bad = [w for w in what if not isinstance(w, str) or w not in _QUANTITIES]
        if bad or not what:
            raise SymmleValueError(f"what must name some of {_QUANTITIES}, got {what!r}")
        if y is None and any(w != "fisher" for w in what):
            raise SymmleValueError("y is needed for loglik, score and hessian")
        theta, X, y = self._check(theta, X, y)
        fam, prog, Pn, P = self._family, self._prog, self._Pn, self._P
        tn, extra = theta[:Pn], theta[Pn:]
        E = P - Pn
        want_ll, want_sc = "loglik" in what, "score" in what
        want_fi, want_he = "fisher" in what, "hessian" in what
        need_jac = want_fi or want_he
        only_eta = not (want_sc or need_jac)
        in_kernel = self._in_kernel(fisher=want_fi, hessian=want_he)
        blocked = in_kernel and prog.layered is not None  # Z, A as the layered kernels keep them
        fisher_x = None  # the constant Fisher weight, when Fisher alone takes the fused path
        if (want_fi and not (want_ll or want_sc or want_he) and self._K == 1
                and prog.fused is not None):
            fisher_x = fam.constant_weight(extra)
        weights = prog.weights(tn)
        K = self._K
        # several outputs: B = J R straight from the reverse pass seeded with the weight's
        # factor (R Rᵀ = W = −∂²ℓ/∂η², canonical links), Jᵀ itself only for the Hessian's
        # cross terms with the family's parameters
        seeded = need_jac and K > 1 and prog.seeds_jacobian
        plain_jt = want_he and (not seeded or E > 0) or (want_fi and not seeded)
        chunks, parallel = self._plan(X.shape[0], jacobian=need_jac, hessian=want_he)
        gsum = None  # from INPLACE_MIN_PARAMS on: the chunks add into one P×P buffer
        if need_jac:
            gsum = self._big_sums(want_fi, want_he, chunks,
                                  buffers=int(seeded) + int(plain_jt) * (1 + int(K > 1)))
            parallel = parallel and gsum is None
        planned, bounds = chunks, None
        if only_eta or fisher_x is not None:
            chunks, bounds = self._whole(chunks, in_kernel, gram=fisher_x is not None,
                                         parallel=parallel)

        def chunk(s, par):
            ll, score, fisher, hess = 0.0, None, None, None
            ws = self._workspace()
            with np.errstate(over="ignore"):
                fused_fi = None  # numba, small P: J one tile at a time, never formed whole
                if fisher_x is not None:  # Fisher alone, constant weight: tile by tile straight from X
                    got = prog.fused_fisher_x(weights, self._rows(X, s), fisher_x, par, bounds)
                    if got is not None:
                        fused_fi, eta = got
                if fused_fi is None and only_eta:  # the log-likelihood alone
                    eta = prog.eta_only(weights, self._rows(X, s), ws, par, bounds)
                elif fused_fi is None and blocked:
                    Zb, Ab, eta = prog.forward_blocked(weights, self._rows(X, s), ws, par)
                elif fused_fi is None:
                    Z, A = prog.forward(weights, self._rows(X, s), ws, par)
                    eta = prog.eta(Z)
                yc = y[s] if y is not None else None
                if want_ll and bounds is None:
                    ll = _loglik_sum(fam, eta, yc, extra)
                elif want_ll:  # the planned chunks' sums, in their order
                    for c in planned:
                        if s.start <= c.start < s.stop:
                            r = slice(c.start - s.start, c.stop - s.start)
                            ll += _loglik_sum(fam, eta[r], yc[r], extra)
                # where the family's derivatives overflow (`Family.log_scale`: M > 0) the
                # sums leave float64's range: `symmle.compiled._wide` forms them by bands of η
                M = fam.log_scale(eta) if (want_sc or need_jac) and fused_fi is None else 0.0
                if M:
                    if blocked:
                        Z, A = prog.forward(weights, self._rows(X, s), ws, par)
                    Jt = prog.jacobian_t(weights, Z, A, ws, par)
                    parts = wide_parts(fam, prog, weights, Z, A, Jt, eta, yc, extra, P,
                                       want_sc, want_fi, want_he)
                    return ll, None, None, None, parts
                if want_sc or want_he:
                    g = fam.grad_eta(eta, yc, extra)
                if fused_fi is None and want_fi and not want_he and K == 1:
                    fused_fi = prog.fused_fisher(weights, Z, A, fam.weight(eta, extra)[:, 0, 0],
                                                 par)
                B, G = None, None  # J R (Pn, K·m) with R Rᵀ = W, and B Bᵀ
                if seeded:
                    B = prog.jacobian_t(weights, Z, A, ws, par,
                                        seed=fam.weight_root(eta, extra)).reshape(Pn, -1)
                Jt = prog.jacobian_t(weights, Z, A, ws, par) if plain_jt and fused_fi is None \
                    else None
                if want_sc:
                    score = np.zeros(P)
                    if Jt is not None:
                        for k in range(K):
                            score[:Pn] += weighted_sum(Jt[k], g[:, k])
                    elif blocked:
                        score[:Pn] = prog.grad_blocked(weights, Zb, Ab, g, par)
                    else:
                        score[:Pn] = prog.grad(weights, Z, A, g, ws, par)
                    if E:
                        score[Pn:] = fam.grad_extra(eta, yc, extra).sum(axis=0)
                if want_fi:
                    root = ((lambda J: fam.weight_root_times(J, eta, extra))
                            if K > 1 and B is None else None)
                    Wfi = None if K > 1 else fam.weight(eta, extra)  # K > 1: from the root
                if want_fi and gsum is not None:  # one after the other, into one buffer
                    if fused_fi is not None:
                        gsum.add_block(0, fused_fi)
                    elif B is not None:
                        gsum.add(B)
                    else:
                        accumulate_jwj(None, Jt, Wfi, None, root, add=gsum.add)
                    if E:
                        gsum.add_block(Pn, eta.shape[0] * fam.extra_fisher(eta, extra))
                elif want_fi:
                    fisher = np.zeros((P, P))
                    if fused_fi is not None:
                        fisher[:Pn, :Pn] = fused_fi
                    elif B is not None:
                        fisher[:Pn, :Pn] = G = gram(B)
                    else:
                        accumulate_jwj(fisher, Jt, Wfi, self._gram, root)
                    if E:
                        fisher[Pn:, Pn:] += eta.shape[0] * fam.extra_fisher(eta, extra)
                if want_he:
                    hess = np.zeros((P, P))
                    if B is not None:  # canonical link: ∂²ℓ/∂η² = −W, so −(J R)(J R)ᵀ
                        hess[:Pn, :Pn] -= gram(B) if G is None else G
                    elif K > 1:  # the same from Jᵀ and W's factor
                        accumulate_jwj(None, Jt, None, None,
                                       lambda J: fam.weight_root_times(J, eta, extra),
                                       add=lambda F, a: _add_gram(hess, F, -a))
                    else:
                        accumulate_jwj(hess, Jt, fam.hess_eta(eta, yc, extra), self._gram)
                    hess[:Pn, :Pn] += prog.hessian_g_eta(weights, Z, A, g)
                    if E:
                        cross = fam.hess_cross(eta, yc, extra)  # (m, K, E)
                        c = np.einsum("kpm,mke->pe", Jt, cross)
                        hess[:Pn, Pn:] += c
                        hess[Pn:, :Pn] += c.T
                        hess[Pn:, Pn:] += fam.hess_extra(eta, yc, extra).sum(axis=0)
            return ll, score, fisher, hess, None

        shapes = {"score": (P,), "fisher": (P, P), "hessian": (P, P)}
        total = {"loglik": 0.0, **{q: np.zeros(shapes[q]) for q in what if q in shapes
                                   and not (q == "fisher" and gsum is not None)}}
        # once a chunk's sums leave float64's range: every sum as a `WideSum`
        wides: dict = {}
        top = [0.0]  # the largest M of the wide chunks

        def reduce(part):  # in chunk order: the sums do not depend on the thread count
            ll, score, fisher, hess, bands = part
            total["loglik"] += ll
            parts = {"score": score, "fisher": fisher, "hessian": hess}
            if bands is None and not wides:
                for name, value in parts.items():
                    if value is not None:
                        total[name] += value
                return
            if not wides:  # the sums so far, at 2^0, and their magnitudes Σ |terms|
                for name in shapes:
                    if name in what:
                        wides[name] = WideSum(shapes[name])
                        wides[name + "_abs"] = WideSum(shapes[name])
                        if name in total:
                            wides[name].add(total[name])
                            wides[name + "_abs"].add(np.abs(total[name]))
            if bands is None:  # a chunk within float64's range among wide ones
                for name, value in parts.items():
                    if value is not None:
                        wides[name].add(value)
                        wides[name + "_abs"].add(np.abs(value))
                return
            for band in bands:
                top[0] = max(top[0], band.M)
                band.add_to(wides)

        self._run(chunk, chunks, parallel, reduce, in_kernel, gram=need_jac)
        if gsum is not None:
            G = gsum.result().T  # symmetric: the C-ordered view of the buffer
            if wides:
                wides["fisher"].add(G)
            else:
                total["fisher"] = G
        if wides:
            total.update(_wide_results(wides, what, X.shape[0], top[0]))
        return {q: total[q] for q in _QUANTITIES if q in what}

    def __repr__(self):
        extra = "" if self.backend == "numpy" else f", backend={self.backend!r}"
        return f"CompiledModel({self.model!r}{extra})"


def _loglik_sum(fam, eta, y, extra) -> float:
    """``fam.loglik_sum`` over pieces of at most `REDUCE_ROWS` rows, added in order."""
    m = eta.shape[0]
    if m <= REDUCE_ROWS:
        return fam.loglik_sum(eta, y, extra)
    total = 0.0
    for a in range(0, m, REDUCE_ROWS):
        total += fam.loglik_sum(eta[a:a + REDUCE_ROWS], y[a:a + REDUCE_ROWS], extra)
    return total


def _wide_results(wides, what, n, M) -> dict:
    """The `WideSum`s of a call whose sums left float64's range, as float64 (±inf beyond
    it), after refusing the entries they cannot decide (`symmle.compiled._wide`)."""
    out = {}
    for name, label in (("score", "score"), ("fisher", "Fisher information"),
                        ("hessian", "Hessian")):
        if name not in what:
            continue
        value = wides[name].value()
        bad = undecided_sum(wides[name], wides[name + "_abs"], value, n, M)
        if bad.size:
            at = np.unravel_index(int(bad[0]), value.shape)
            _refuse_wide(label, f"entry {tuple(int(i) for i in at) if value.ndim > 1 else int(at[0])} "
                         f"is {value[at]!r} at the rounding level of its rows' terms "
                         f"({bad.size} such entries)")
        out[name] = value
    return out


def _refuse_wide(what, detail):
    raise SymmleValueError(
        f"the {what} at this θ and X is beyond float64 and cannot be resolved: its {detail}: "
        "exp(η) is beyond float64 while rows cancel below rounding (or ∂η/∂θ spans more than "
        "float64 can hold); use rows and θ with |η| ≲ 700")


def _add_gram(acc, B, alpha):
    """``acc[:p, :p] += alpha · B Bᵀ`` (B: (p, k))."""
    p = B.shape[0]
    acc[:p, :p] += alpha * gram(B)


def _ignore(_):
    """The reduction of calls whose chunks write their results in place."""


def _all_finite(a) -> bool:
    return bool(np.isfinite(a).all())
