"""``CompiledModel``: the model evaluated as vectorised numpy, at hand-written speed.

The network is run as a straight-line program (`symmle._slp`): one
pre-activation and one activation per unit, each layer one BLAS product, the
activation derivatives derived by sympy from the registry's sympy forms and
lambdified once. The family's stable numpy forms of ``ℓ(η, y)`` and its
derivatives in η are then chained with the network:

* log-likelihood: one forward pass, ``Σ_rows ℓ(η, y)``;
* score: ``Jᵀ ∂ℓ/∂η`` by one reverse pass (back-propagation), without ever
  forming ``J``;
* Fisher information: ``Jᵀ W J`` with ``J = ∂η/∂θ`` built per row by the
  reverse pass seeded at each output, laid out as ``Jᵀ`` (K, P, m); the
  product is one symmetric rank-k update (BLAS ``syrk``) per chunk, with
  ``W`` factored per row as ``Σ_j ± b_j b_jᵀ`` (one factor for one output);
* Hessian (exact): ``Jᵀ (∂²ℓ/∂η²) J + Σ_k (∂ℓ/∂η_k) ∂²η_k/∂θ²``, the second
  term by forward-over-reverse differentiation of the same program.

Rows are processed in chunks (at most `CHUNK_ROWS`, fewer when the
per-chunk Jacobian or Hessian tangents would exceed a fixed memory budget), so
memory stays bounded for any n; `CompiledModel.evaluate` shares one
forward pass per chunk between all the quantities asked for. Everything is
float64; no sympy object reaches the numeric layer.

Chunks run on a small thread pool (numpy ufuncs and BLAS release the GIL), see
`num_threads`. The chunk boundaries depend on n and the memory budgets
only, and per-chunk sums are reduced in chunk order, so every result is
bit-identical whatever the number of threads.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._slp import NumericProgram, Workspace
from .errors import DataError, SymmleValueError

__all__ = ["BACKENDS", "CompiledModel", "default_backend", "num_threads", "resolve_backend",
           "threads"]

#: the evaluation backends: ``"numpy"`` (the default) and ``"numba"`` (the ``fast`` extra:
#: vectorised activation kernels, `symmle._numba`).
BACKENDS = ("numpy", "numba")

#: the most rows per chunk in the numeric evaluation.
CHUNK_ROWS = 16384

#: memory budget (bytes) of one chunk's activations (units × m float64).
CHUNK_BYTES = 2 * 2 ** 20

#: the fewest values (rows × (units + K·P when the Jacobian is formed)) per chunk when a
#: mid-size n is split so that threads have work.
MIN_CHUNK_WORK = 150_000

#: the fewest values per chunk for threads to pay (below it the Python overhead per chunk,
#: run under the GIL, costs more than the second core gives).
PARALLEL_MIN_WORK = 40_000

#: for a fused numba program (`symmle._numba.FusedProgram`: the forward pass, the score and the
#: Jacobian one call per chunk each) a value costs a few times less than in the numpy
#: program, so its chunks have up to `FUSED_CHUNK_FACTOR` × `CHUNK_ROWS` rows.
FUSED_CHUNK_FACTOR = 2

#: worker threads for row chunks; ``None`` = automatic (see `num_threads`).
N_THREADS = None

#: the most threads chosen automatically.
MAX_AUTO_THREADS = 4

#: whether the threads of a parallel evaluation are kept on distinct CPUs (Linux; elsewhere
#: nothing is done): for the duration of the call, the calling thread stays on the CPU it is
#: on and the workers run on the others (see `_affinity_plan`). ``SYMMLE_PIN_THREADS=0`` in
#: the environment, or setting this to False, turns it off.
PIN_THREADS = os.environ.get("SYMMLE_PIN_THREADS", "1").strip().lower() not in ("0", "false",
                                                                                "no", "off")

#: memory budget (bytes) of one chunk's Jacobian ``Jᵀ`` (K × P × m float64).
JACOBIAN_BYTES = 32 * 2 ** 20

#: memory budget (bytes) of one chunk's Hessian tangents (P × units × m float64, a few arrays).
HESSIAN_BYTES = 64 * 2 ** 20

_QUANTITIES = ("loglik", "score", "fisher", "hessian")


class CompiledModel:
    """Vectorised numpy evaluation of a `symmle.model.Model`.

    Get one with ``model.compile()`` (cached per model). All methods take θ
    as one flat float64 vector in the model's parameter order and ``X`` of
    shape (n, d); sums run over rows.

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
        self.model = model
        #: ``"numpy"`` or ``"numba"`` (see `BACKENDS`).
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
            from ._numba import KERNELS as kernels, all_finite, weighted_gram

            self._gram = weighted_gram
            self._all_finite = all_finite
        self._prog = NumericProgram(arch, kernels, fused=self.backend == "numba")
        self._local = threading.local()

    def _workspace(self):
        """This thread's scratch buffers (`symmle._slp.Workspace`), kept between calls."""
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = Workspace()
        return ws

    def __reduce__(self):
        # compiled again on the other side: the lambdified pieces and thread-local scratch
        # space do not pickle, and the program is rebuilt in milliseconds
        return (CompiledModel, (self.model, self.backend))

    # ------------------------------------------------------------ checking
    def _check(self, theta, X, y=None):
        theta = self.model.check_theta(theta)
        if theta.ndim != 1:
            raise SymmleValueError(f"theta must be one vector of length {self._P}")
        # NaN and inf in X are looked for chunk by chunk (`_rows`): in parallel, and while the
        # chunk is in cache for the forward pass (a separate scan of 10⁵ × 10 values cost
        # ≈ 1 ms, a tenth of a log-likelihood evaluation)
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

    def _chunk_rows(self, jacobian=False, hessian=False):
        prog = self._prog
        rows = CHUNK_ROWS * (FUSED_CHUNK_FACTOR if prog.fused is not None else 1)
        m = min(rows, max(1, CHUNK_BYTES // (8 * prog.n_nodes)))
        if jacobian:
            m = min(m, max(1, JACOBIAN_BYTES // (8 * self._K * max(1, self._Pn))))
        if hessian:
            per_row = 8 * 4 * max(1, self._Pn) * (prog.n_nodes + prog.n_units)
            m = min(m, max(1, HESSIAN_BYTES // per_row))
        return max(1, int(m))

    def _plan(self, n, jacobian=False, hessian=False):
        """Row chunks and whether they are big enough to be worth a thread each.

        ``ceil(n / m)`` chunks of near-equal size for the chunk size m above (when
        they are worth threads, rounded up to a multiple of `MAX_AUTO_THREADS`, so
        that 1, 2 or 4 threads finish together); a
        mid-size n is split further (into at most `MAX_AUTO_THREADS`
        chunks of at least `MIN_CHUNK_WORK` values each) so that threads
        have work. The boundaries depend on n and the model only, never on the
        number of threads.
        """
        per_row = self._prog.n_nodes + (self._K * self._Pn if jacobian or hessian else 0)
        k = max(1, -(-n // self._chunk_rows(jacobian, hessian)))
        k = max(k, min(MAX_AUTO_THREADS, n * per_row // MIN_CHUNK_WORK))
        if k > MAX_AUTO_THREADS and (n // k) * per_row >= PARALLEL_MIN_WORK:
            k = -(-k // MAX_AUTO_THREADS) * MAX_AUTO_THREADS  # no thread idles at the end
        bounds = [n * i // k for i in range(k + 1)]
        chunks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        return chunks, (n // k) * per_row >= PARALLEL_MIN_WORK

    # ------------------------------------------------------------- public
    def linear_predictor(self, theta, X) -> np.ndarray:
        """η = f(X; θ), shape (n, K)."""
        theta, X, _ = self._check(theta, X)
        prog = self._prog
        weights = prog.weights(theta[: self._Pn])
        out = np.empty((X.shape[0], self._K))

        def chunk(s):
            out[s] = prog.eta_only(weights, self._rows(X, s), self._workspace())

        _run_chunks(chunk, *self._plan(X.shape[0]))
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

        def chunk(s):
            ws = self._workspace()
            Z, A = prog.forward(weights, self._rows(X, s), ws)
            out[s] = prog.jacobian_t(weights, Z, A, ws).transpose(2, 0, 1)

        _run_chunks(chunk, *self._plan(X.shape[0], jacobian=True))
        return out

    def loglik_rows(self, theta, X, y) -> np.ndarray:
        """Per-row log-likelihood, shape (n,)."""
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
        what = tuple(what)
        bad = [w for w in what if w not in _QUANTITIES]
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
        fisher_x = None  # the constant Fisher weight, when Fisher alone takes the fused path
        if (want_fi and not (want_ll or want_sc or want_he) and self._K == 1
                and prog.fused is not None):
            fisher_x = fam.constant_weight(extra)
        weights = prog.weights(tn)
        K = self._K

        def chunk(s):
            ll, score, fisher, hess = 0.0, None, None, None
            ws = self._workspace()
            with np.errstate(over="ignore"):
                fused_fi = None  # numba, small P: J one tile at a time, never formed whole
                if fisher_x is not None:  # Fisher alone, constant weight: tile by tile straight from X
                    got = prog.fused_fisher_x(weights, self._rows(X, s), fisher_x, ws)
                    if got is not None:
                        fused_fi, eta = got
                if fused_fi is None and only_eta:  # the log-likelihood alone
                    eta = prog.eta_only(weights, self._rows(X, s), ws)
                elif fused_fi is None:
                    Z, A = prog.forward(weights, self._rows(X, s), ws)
                    eta = prog.eta(Z)
                yc = y[s] if y is not None else None
                if want_ll:
                    ll = fam.loglik_sum(eta, yc, extra)
                if want_sc or want_he:
                    g = fam.grad_eta(eta, yc, extra)
                if fused_fi is None and want_fi and not want_he and K == 1:
                    fused_fi = prog.fused_fisher(weights, Z, A, fam.weight(eta, extra)[:, 0, 0],
                                                 ws)
                need_jt = want_he or (want_fi and fused_fi is None)
                Jt = prog.jacobian_t(weights, Z, A, ws) if need_jt else None
                if want_sc:
                    score = np.zeros(P)
                    if Jt is not None:
                        for k in range(K):
                            score[:Pn] += Jt[k] @ g[:, k]
                    else:
                        score[:Pn] = prog.grad(weights, Z, A, g, ws)
                    if E:
                        score[Pn:] = fam.grad_extra(eta, yc, extra).sum(axis=0)
                if want_fi:
                    fisher = np.zeros((P, P))
                    if fused_fi is not None:
                        fisher[:Pn, :Pn] = fused_fi
                    else:
                        _accumulate_jwj(fisher, Jt, fam.weight(eta, extra), self._gram)
                    if E:
                        fisher[Pn:, Pn:] += eta.shape[0] * fam.extra_fisher(eta, extra)
                if want_he:
                    hess = np.zeros((P, P))
                    _accumulate_jwj(hess, Jt, fam.hess_eta(eta, yc, extra), self._gram)
                    hess[:Pn, :Pn] += prog.hessian_g_eta(weights, Z, A, g)
                    if E:
                        cross = fam.hess_cross(eta, yc, extra)  # (m, K, E)
                        c = np.einsum("kpm,mke->pe", Jt, cross)
                        hess[:Pn, Pn:] += c
                        hess[Pn:, :Pn] += c.T
                        hess[Pn:, Pn:] += fam.hess_extra(eta, yc, extra).sum(axis=0)
            return ll, score, fisher, hess

        shapes = {"score": (P,), "fisher": (P, P), "hessian": (P, P)}
        total = {"loglik": 0.0, **{q: np.zeros(shapes[q]) for q in what if q in shapes}}

        def reduce(part):  # in chunk order: the sums do not depend on the thread count
            ll, score, fisher, hess = part
            total["loglik"] += ll
            for name, value in (("score", score), ("fisher", fisher), ("hessian", hess)):
                if value is not None:
                    total[name] += value

        chunks, parallel = self._plan(X.shape[0], jacobian=need_jac, hessian=want_he)
        _run_chunks(chunk, chunks, parallel, reduce)
        return {q: total[q] for q in _QUANTITIES if q in what}

    def __repr__(self):
        extra = "" if self.backend == "numpy" else f", backend={self.backend!r}"
        return f"CompiledModel({self.model!r}{extra})"


def default_backend() -> str:
    """The backend of ``model.compile()`` without one: ``SYMMLE_BACKEND`` if set, else numpy.

    ``SYMMLE_BACKEND=auto`` picks numba when it is installed.

    Examples
    --------
    >>> from symmle.compiled import default_backend
    >>> default_backend() in ("numpy", "numba")
    True
    """
    return resolve_backend(os.environ.get("SYMMLE_BACKEND", "").strip() or "numpy",
                           "SYMMLE_BACKEND")


def resolve_backend(backend=None, name="backend") -> str:
    """Check a backend name (``None``: `default_backend`); ``"auto"`` is numba if installed.

    Raises `symmle.errors.MissingDependencyError` for numba when it is not installed.

    Examples
    --------
    >>> from symmle.compiled import resolve_backend
    >>> resolve_backend("numpy")
    'numpy'
    >>> resolve_backend("jax")
    Traceback (most recent call last):
    ...
    symmle.errors.SymmleValueError: backend must be one of ('numpy', 'numba', 'auto'), got 'jax'
    """
    if backend is None:
        return default_backend()
    if not isinstance(backend, str) or backend not in BACKENDS + ("auto",):
        raise SymmleValueError(f"{name} must be one of {BACKENDS + ('auto',)}, got {backend!r}")
    if backend == "auto":
        import importlib.util

        return "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    if backend == "numba":
        from .errors import require

        require("numba", "fast")
    return backend


def _accumulate_jwj(acc, Jt, W, gram=None):
    """``acc[:Pn, :Pn] += Σ_rows J W Jᵀ`` for Jt (K, Pn, m) and W (m, K, K) symmetric per row.

    W is factored per row as ``Σ_j λ_j v_j v_jᵀ``; the rows of each sign are
    stacked into one (Pn, K·m) matrix ``B`` and added as ``± B Bᵀ``, which
    numpy hands to BLAS ``syrk`` (half the work of a general product). With one
    output, ``gram(J, w)`` (the numba backend's small-P kernel) is tried first.
    """
    K, Pn, m = Jt.shape
    if K == 1:
        w = np.asarray(W[:, 0, 0])
        J = Jt[0]
        if gram is not None:
            G = gram(J, w)
            if G is not None:
                acc[:Pn, :Pn] += G
                return
        if np.all(w == w[0]):
            if w[0] != 0:
                acc[:Pn, :Pn] += w[0] * (J @ J.T)
            return
        pos, neg = np.maximum(w, 0.0), np.maximum(-w, 0.0)
        if np.any(pos):
            B = J * np.sqrt(pos)
            acc[:Pn, :Pn] += B @ B.T
        if np.any(neg):
            B = J * np.sqrt(neg)
            acc[:Pn, :Pn] -= B @ B.T
        return
    lam, V = np.linalg.eigh(W)  # (m, K), (m, K, K)
    for sign in (1.0, -1.0):
        r = np.sqrt(np.maximum(sign * lam, 0.0))  # (m, K)
        if not np.any(r):
            continue
        # B[p, j, m] = Σ_k Jt[k, p, m] V[m, k, j] r[m, j]
        B = np.einsum("kpm,mkj->pjm", Jt, V * r[:, None, :]).reshape(Pn, K * m)
        acc[:Pn, :Pn] += sign * (B @ B.T)


# ------------------------------------------------------------------ threads
_BLAS = {"controllers": None}
_POOL = {"pool": None, "size": 0, "pid": None}
_POOL_LOCK = threading.Lock()
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = {"count": 0, "saved": ()}


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded here (``()`` without it)."""
    if _BLAS["controllers"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS["controllers"] = ()
        else:
            _BLAS["controllers"] = tuple(c for c in ThreadpoolController().lib_controllers
                                         if c.user_api == "blas")
    return _BLAS["controllers"]


def _blas_threads():
    """The BLAS thread limit in force (threadpoolctl, else the usual environment variables)."""
    ctl = _blas_controllers()
    if ctl:
        return max(1, min(c.num_threads for c in ctl))
    limits = []
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        try:
            limits.append(int(os.environ[var]))
        except (KeyError, ValueError):
            pass
    return max(1, min(limits)) if limits else None


def _parse_threads(value, name):
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1 or (not isinstance(value, str) and n != value):
        raise SymmleValueError(f"{name} must be a positive integer, got {value!r}")
    return n


def _all_finite(a) -> bool:
    return bool(np.isfinite(a).all())


def num_threads() -> int:
    """The number of threads `CompiledModel` runs row chunks on.

    In order: `N_THREADS` when set (e.g. by `threads`), else the
    environment variable ``SYMMLE_NUM_THREADS``, else ``os.cpu_count()``
    capped at `MAX_AUTO_THREADS` and at the BLAS thread limit in force,
    so that a process that pinned BLAS to one thread (``threadpoolctl``'s
    ``threadpool_limits(1)``, ``OMP_NUM_THREADS=1`` in joblib/loky workers, a
    consistency study) also evaluates on one thread. 1 is the sequential path.
    Results do not depend on it.

    Examples
    --------
    >>> from symmle.compiled import num_threads, threads
    >>> with threads(1):
    ...     num_threads()
    1
    >>> num_threads() >= 1
    True
    """
    if N_THREADS is not None:
        return _parse_threads(N_THREADS, "symmle.compiled.N_THREADS")
    env = os.environ.get("SYMMLE_NUM_THREADS", "").strip()
    if env:
        return _parse_threads(env, "SYMMLE_NUM_THREADS")
    n = min(os.cpu_count() or 1, MAX_AUTO_THREADS)
    blas = _blas_threads()
    return max(1, min(n, blas) if blas is not None else n)


@contextlib.contextmanager
def threads(n):
    """Evaluate on ``n`` threads inside the ``with`` block (``None``: automatic).

    Sets the process-wide `N_THREADS` and restores it on exit.

    Examples
    --------
    >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=1.0))
    >>> theta = model.random_params(0)
    >>> X, y = model.simulate(theta, n=20_000, rng=1)
    >>> cm = model.compile()
    >>> with sm.compiled.threads(1):
    ...     one = cm.evaluate(theta, X, y, ("loglik", "score"))
    >>> with sm.compiled.threads(2):
    ...     two = cm.evaluate(theta, X, y, ("loglik", "score"))
    >>> one["loglik"] == two["loglik"], bool(np.array_equal(one["score"], two["score"]))
    (True, True)
    """
    global N_THREADS
    if n is not None:
        n = _parse_threads(n, "n")
    saved = N_THREADS
    N_THREADS = n
    try:
        yield n
    finally:
        N_THREADS = saved


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS on one thread while worker threads run (else OpenBLAS's own threads, which spin
    between calls, take the cores from them); restored when the last parallel region ends."""
    ctl = _blas_controllers()
    if not ctl:
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_USERS["count"] == 0:
            _BLAS_USERS["saved"] = tuple(c.num_threads for c in ctl)
            for c, n in zip(ctl, _BLAS_USERS["saved"]):
                if n != 1:
                    c.set_num_threads(1)
        _BLAS_USERS["count"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS["count"] -= 1
            if _BLAS_USERS["count"] == 0:
                for c, n in zip(ctl, _BLAS_USERS["saved"]):
                    if n != 1:
                        c.set_num_threads(n)


def _load_getcpu():
    """libc's ``sched_getcpu`` (glibc, musl), or None where there is none."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError, ImportError):
        return None
    fn.restype, fn.argtypes = ctypes.c_int, []
    return fn


_GETCPU = _load_getcpu()
_AFFINITY = threading.local()  # a pool worker's ``pinned`` flag
_AFFINITY_USED = [False]  # whether any call pinned threads


def _affinity_plan(size):
    """``(caller's mask, workers' mask, caller's mask to restore)`` for one parallel call on
    ``size`` threads, or Nones when the threads are not pinned (`PIN_THREADS` off, not Linux,
    fewer CPUs allowed than threads: then the scheduler's balancing is worth more).

    Why: a pool worker woken by the calling thread is often placed by the Linux scheduler
    on the caller's own CPU ("wake-affine"), and every GIL hand-off wakes one thread by
    the other again; the two then take turns on one CPU while the other idles, until the
    load balancer moves one, milliseconds later. Measured on the 2-vCPU VM of the
    benchmarks, mlp(2, 3, 1)'s Fisher information at n = 10⁵ (4 chunks, 0.75 ms each): in
    half of the calls one thread computed three chunks while the other waited, and the
    median call took 4.0–4.9 ms; with the caller kept on its CPU and the worker on the
    other, every call ran two chunks at a time and the median was 2.9 ms. Moving only the
    worker off the caller's CPU did not help (the caller was then woken onto the worker's).

    When the threads are not pinned but pool workers were by an earlier call, the third
    item is the caller's mask all the same, for the workers to get back.
    """
    if _GETCPU is None or not (PIN_THREADS or _AFFINITY_USED[0]):
        return None, None, None
    try:
        allowed = os.sched_getaffinity(0)
        cpu = _GETCPU()
    except OSError:
        return None, None, None
    if not PIN_THREADS or len(allowed) < max(2, size) or cpu not in allowed:
        return None, None, allowed
    _AFFINITY_USED[0] = True
    return {cpu}, allowed - {cpu}, allowed


def _set_affinity(mask):
    """``os.sched_setaffinity(0, mask)`` for the calling thread; False when refused (a
    container may forbid it, or a CPU went offline)."""
    try:
        os.sched_setaffinity(0, mask)
    except OSError:
        return False
    return True


def _worker_affinity(mask, restore):
    """A pool worker runs on ``mask`` (None: not pinned; a worker pinned by an earlier call
    gets ``restore`` back).

    A pinned worker keeps its mask between calls, so that the next call wakes it on its own
    CPU: restoring it at the end of each call made the 2-3-1 Fisher's median call 3.3–3.7
    against 2.1–2.7 ms (every wake-up then landed on the caller's CPU again first).
    """
    if mask is not None:
        _AFFINITY.pinned = _set_affinity(mask)
    elif getattr(_AFFINITY, "pinned", False) and restore is not None:
        _AFFINITY.pinned = not _set_affinity(restore)


def _pool(size):
    """The shared worker pool with ``size`` threads (made again after a fork or a resize)."""
    with _POOL_LOCK:
        pid = os.getpid()
        if _POOL["pool"] is None or _POOL["size"] != size or _POOL["pid"] != pid:
            if _POOL["pool"] is not None and _POOL["pid"] == pid:
                _POOL["pool"].shutdown(wait=False)
            _POOL.update(pool=ThreadPoolExecutor(size, thread_name_prefix="symmle"), size=size,
                         pid=pid)
        return _POOL["pool"]


def _run_chunks(fn, chunks, parallel=True, reduce=None):
    """``reduce(fn(s))`` for every chunk ``s``, in chunk order, on `num_threads` threads
    (one when ``parallel`` is false).

    With several chunks, BLAS runs on one thread whatever the number of
    workers, so that every chunk is computed alike (a multi-threaded BLAS may
    sum in another order). The calling thread computes chunks too (see
    `_run_parallel`); memory stays bounded; an exception raised by ``fn`` in a
    worker is raised here unchanged.
    """
    chunks = list(chunks)
    if len(chunks) <= 1:
        for s in chunks:
            r = fn(s)
            if reduce is not None:
                reduce(r)
        return
    size = min(num_threads(), len(chunks)) if parallel else 1
    with _one_blas_thread():
        if size <= 1:
            for s in chunks:
                r = fn(s)
                if reduce is not None:
                    reduce(r)
        else:
            _run_parallel(_pool(size - 1), size, fn, chunks, reduce)


def _run_parallel(pool, size, fn, chunks, reduce):
    """Chunks shared by the calling thread and ``size − 1`` pool workers, reduced in order.

    Every thread takes the next chunk index from one counter; the calling thread reduces
    each finished chunk in chunk order as soon as it can, and otherwise computes chunks
    itself. So a worker that is slow to wake (an idle vCPU takes milliseconds on a VM)
    costs nothing but its share, and the results do not depend on who computed what. At
    most ``2·size`` chunks are computed ahead of the reduction (memory stays bounded).
    For the duration of the call the threads are kept on distinct CPUs (`PIN_THREADS`,
    `_affinity_plan`); the caller's CPU affinity is restored on return.
    """
    n = len(chunks)
    results = [None] * n
    done = [threading.Event() for _ in range(n)]
    failed = []
    counter = itertools.count()
    lock = threading.Lock()
    ahead = threading.Semaphore(2 * size)

    def take(block):
        if failed or not ahead.acquire(blocking=block):
            return None
        with lock:
            i = next(counter)
        if i >= n:
            ahead.release()
            return None
        return i

    def run(i):
        try:
            results[i] = (True, fn(chunks[i]))
        except BaseException as exc:  # noqa: BLE001 - re-raised by the calling thread
            results[i] = (False, exc)
            failed.append(i)
        finally:
            done[i].set()

    def worker():
        _worker_affinity(worker_mask, caller_allowed)
        while True:
            i = take(True)
            if i is None:
                return
            run(i)

    caller_mask, worker_mask, caller_allowed = _affinity_plan(size)
    pinned = caller_mask is not None and _set_affinity(caller_mask)
    futures = []
    try:
        for _ in range(size - 1):
            futures.append(pool.submit(worker))
        nxt = 0
        while nxt < n:
            if done[nxt].is_set():
                ok, value = results[nxt]
                results[nxt] = None
                if not ok:
                    raise value
                if reduce is not None:
                    reduce(value)
                ahead.release()
                nxt += 1
                continue
            i = take(False)
            if i is not None:
                run(i)
            else:
                done[nxt].wait()
    finally:
        failed.append(-1)  # workers stop taking chunks
        for _ in futures:
            ahead.release()  # wake any worker blocked on the semaphore
        for f in futures:
            f.result()  # wait: no worker may still write into the caller's arrays
        if pinned:
            _set_affinity(caller_allowed)
