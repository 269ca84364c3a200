"""``Model``: an architecture plus an output family, with its exact symbolic likelihood.

The symbolic layer ends here: `Model.loglik`, `Model.score`,
`Model.hessian` and `Model.fisher` are plain sympy objects built
from real symbols (the network's parameters, then the family's own), the
inputs ``x1 … xd`` and the response symbols. They are computed lazily (once)
because large networks give large expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from ._chain import symbolic_gradient, symbolic_jacobian
from ._checks import as_rng, check_choice, check_int, check_real
from .architecture import Architecture
from .display import check_printable, model_repr_latex, model_view
from .errors import ArchitectureError, SymmleTypeError, SymmleValueError
from .families import Family

__all__ = ["Model", "as_rng", "MAX_SIMULATED_ROWS", "MAX_PARAM_SCALE",
           "SYMBOLIC_MATRIX_MAX_PARAMS"]

#: the most parameters whose whole symbolic Hessian or Fisher information `Model` builds
#: (P(P+1)/2 sympy expressions: the Hessian of mlp(5, 10, 1), 71 parameters, takes 8 s and of
#: mlp(6, 12, 1), 97 parameters, 21 s);
#: beyond, `Model.hessian_entry` / `Model.fisher_entry` give one entry and the compiled model
#: the numbers.
SYMBOLIC_MATRIX_MAX_PARAMS = 64

#: The largest ``scale`` of `Model.random_params` (a standard normal draw times more would
#: overflow float64).
MAX_PARAM_SCALE = 1e300

#: The most rows `Model.simulate` draws in one call (10⁸ rows of float64 inputs are gigabytes;
#: beyond that a call would exhaust memory before it returned).
MAX_SIMULATED_ROWS = 10 ** 8


@dataclass(frozen=True, eq=False)
class Model:
    """A statistical model: ``y | x ~ family(link⁻¹(f(x; θ)))``.

    Parameters
    ----------
    architecture : Architecture
    family : Family

    Examples
    --------
    >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(sigma=1.0))
    >>> model.param_names
    ('W1_1_1', 'b1_1')
    >>> model.loglik
    -(-W1_1_1*x1 - b1_1 + y)**2/2 - log(sqrt(2)*sqrt(pi))
    >>> model.fisher
    Matrix([
    [x1**2, x1],
    [   x1,  1]])
    """

    architecture: Architecture
    family: Family

    def __post_init__(self):
        if not isinstance(self.architecture, Architecture):
            raise SymmleTypeError(
                f"architecture must be an Architecture (from sm.mlp or Architecture.from_graph), "
                f"got {type(self.architecture).__name__}")
        if not isinstance(self.family, Family):
            raise SymmleTypeError(
                f"family must be a Family such as sm.Gaussian(), got {type(self.family).__name__}")
        self.family.check_outputs(self.architecture.n_outputs)
        own = self.architecture._has_param_name   # an MLP's names are not built for this
        for what, names in (("response", [str(s) for s in self.family.y_symbols(
                self.architecture.n_outputs)]), ("family parameter", self.family.extra_names)):
            for name in names:
                if own(name):
                    # sympy symbols are equal by name: the weight would be the response (or
                    # log σ) in the log-likelihood
                    raise ArchitectureError(
                        f"parameter name {name!r} of the architecture is also the {what} symbol "
                        f"{name!r} of {self.family!r}; rename that edge or bias in the graph "
                        f"(name=... / bias_name=...)")

    # ---------------------------------------------------------------- names
    @cached_property
    def extra_params(self) -> tuple[sp.Symbol, ...]:
        return self.family.extra_symbols()

    @cached_property
    def params(self) -> tuple[sp.Symbol, ...]:
        """Network parameters followed by the family's own."""
        return tuple(self.architecture.params) + self.extra_params

    @cached_property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.architecture.param_names) + self.family.extra_names

    @property
    def n_params(self) -> int:
        return self.architecture.n_params + self.family.n_extra

    @property
    def n_network_params(self) -> int:
        return self.architecture.n_params

    @cached_property
    def response(self) -> tuple[sp.Symbol, ...]:
        """The response symbols (one-hot indicators for Categorical)."""
        return self.family.y_symbols(self.architecture.n_outputs)

    # ------------------------------------------------------------- symbolic
    @cached_property
    def eta(self) -> sp.Matrix:
        """The linear predictor ``η = f(x; θ)`` (the network output)."""
        return self.architecture.output

    @cached_property
    def mean(self) -> sp.Matrix:
        """``E[y | x]`` as a sympy Matrix."""
        return sp.Matrix(self.family.mean_expr(list(self.eta)))

    @cached_property
    def loglik(self) -> sp.Expr:
        """Per-sample log-density ``log p(y | x; θ)``, normalising constants included."""
        return self.family.loglik_expr(list(self.eta), list(self.response), self.extra_params)

    @cached_property
    def _dloglik_deta(self):
        """``∂ℓ/∂η_k`` (list over outputs) and ``∂ℓ/∂extra`` as expressions of η, y and extras.

        Differentiated with one plain symbol per output (small expressions),
        then η substituted.
        """
        K = self.architecture.n_outputs
        e = [sp.Dummy(f"eta{k + 1}", real=True) for k in range(K)]
        le = self.family.loglik_expr(e, list(self.response), self.extra_params)
        rep = dict(zip(e, list(self.eta)))
        g = [sp.factor_terms(sp.diff(le, ek)).xreplace(rep) for ek in e]
        g_extra = [sp.factor_terms(sp.diff(le, s)).xreplace(rep) for s in self.extra_params]
        return g, g_extra

    @cached_property
    def score(self) -> sp.Matrix:
        """``∂ loglik / ∂θ`` (P × 1).

        Built by the chain rule: one reverse pass through the network's
        straight-line program seeded with ``∂ℓ/∂η`` (see `jacobian`),
        not by differentiating the expanded log-likelihood.
        """
        g, g_extra = self._dloglik_deta
        return sp.Matrix(symbolic_gradient(self.architecture, g) + g_extra)

    @cached_property
    def hessian(self) -> sp.Matrix:
        """``∂² loglik / ∂θ∂θᵀ`` (P × P, symmetric); `hessian_entry` for one entry.

        Raises `SymmleValueError` beyond `SYMBOLIC_MATRIX_MAX_PARAMS` parameters."""
        self._check_matrix_size("Hessian", "hessian_entry", "hessian(theta, X, y)")
        s = self.score
        P = self.n_params
        H = sp.zeros(P, P)
        for i in range(P):
            for j in range(i, P):
                H[i, j] = H[j, i] = sp.diff(s[i], self.params[j])
        return H

    def hessian_entry(self, i, j) -> sp.Expr:
        """``∂² loglik / ∂θ_i∂θ_j``, at any size; ``i``, ``j`` parameter names or 0-based
        positions.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(sigma=1.0))
        >>> model.hessian_entry("W1_1_1", 1)
        -x1
        """
        i, j = self._param_index(i, "i"), self._param_index(j, "j")
        if "hessian" in self.__dict__:
            return self.hessian[i, j]
        return sp.diff(self.score[i], self.params[j])

    def fisher_entry(self, i, j) -> sp.Expr:
        """Entry ``(i, j)`` of `fisher`, at any size; ``i``, ``j`` parameter names or 0-based
        positions.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(sigma=1.0))
        >>> model.fisher_entry(0, "b1_1")
        x1
        """
        i, j = self._param_index(i, "i"), self._param_index(j, "j")
        if "fisher" in self.__dict__:
            return self.fisher[i, j]
        Pn = self.n_network_params
        if i >= Pn or j >= Pn:  # the family's own block (no cross terms)
            if i < Pn or j < Pn:
                return sp.S.Zero
            return self.family.extra_fisher_expr(list(self.eta), self.extra_params)[i - Pn, j - Pn]
        J = self.jacobian
        W = self.family.weight_expr(list(self.eta), self.extra_params)
        K = J.rows
        return sp.Add(*[J[k, i] * W[k, l] * J[l, j] for k in range(K) for l in range(K)
                        if J[k, i] != 0 and W[k, l] != 0 and J[l, j] != 0])

    def _param_index(self, i, name) -> int:
        """A parameter name or 0-based position, checked, as a position."""
        names = self.param_names
        if isinstance(i, str):
            if i not in names:
                shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
                raise SymmleValueError(f"{name} = {i[:40]!r} is not a parameter name ({shown})")
            return names.index(i)
        return check_int(i, name, 0, maximum=len(names) - 1)

    def _check_matrix_size(self, what, entry, numeric):
        P = self.n_params
        if P > SYMBOLIC_MATRIX_MAX_PARAMS:
            raise SymmleValueError(
                f"the symbolic {what} of this {P}-parameter model has {P * (P + 1) // 2:,} "
                f"distinct entries; beyond {SYMBOLIC_MATRIX_MAX_PARAMS} parameters it is not "
                f"built whole: take one entry with model.{entry}(i, j), or numbers with "
                f"model.compile().{numeric}")

    @cached_property
    def jacobian(self) -> sp.Matrix:
        """``∂η / ∂θ_net`` (K × P_net).

        Reverse accumulation through the network's straight-line program:
        ``∂η_k/∂w_uv = δ_kv h_u`` with ``δ_kv = σ_v'(a_v) Σ_w w_vw δ_kw``
        (`symmle._chain.symbolic_jacobian`), so the cost grows with the
        number of parameters, not with the size of the expanded tree.
        """
        return symbolic_jacobian(self.architecture)

    @cached_property
    def fisher(self) -> sp.Matrix:
        """Per-sample expected information ``E[-∂²ℓ/∂θ∂θᵀ | x]`` (P × P).

        Derived in closed form as ``Jᵀ W J`` with ``J = ∂η/∂θ`` and ``W`` the
        family's information about η, plus the block of the family's own
        parameters (cross terms vanish for these families). `fisher_entry` for one entry;
        raises `SymmleValueError` beyond `SYMBOLIC_MATRIX_MAX_PARAMS` parameters.
        """
        self._check_matrix_size("Fisher information", "fisher_entry", "fisher(theta, X)")
        J = self.jacobian
        W = self.family.weight_expr(list(self.eta), self.extra_params)
        net = _sandwich(J, W)
        E = self.family.n_extra
        if E == 0:
            return net
        Pn = self.n_network_params
        F = sp.zeros(Pn + E, Pn + E)
        F[:Pn, :Pn] = net
        F[Pn:, Pn:] = self.family.extra_fisher_expr(list(self.eta), self.extra_params)
        return F

    def latex(self, what: str = "loglik") -> str:
        """LaTeX of ``"loglik"``, ``"score"``, ``"hessian"``, ``"fisher"``, ``"output"`` or ``"mean"``.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
        >>> model.latex("loglik")
        'y \\\\left(W^{(1)}_{1 1} x_{1} + b^{(1)}_{1}\\\\right) - \\\\operatorname{softplus}\\\\left(W^{(1)}_{1 1} x_{1} + b^{(1)}_{1}\\\\right)'
        """
        choices = ("loglik", "score", "hessian", "fisher", "output", "mean")
        what = check_choice(what, "what", choices)
        obj = self.eta if what == "output" else getattr(self, what)
        check_printable(list(obj) if isinstance(obj, sp.MatrixBase) else [obj], f"LaTeX of the {what}",
                        "take one entry (hessian_entry, fisher_entry, score[i]) or a smaller model")
        names = dict(self.architecture.latex_names)
        for s in self.extra_params:
            names[s] = r"\log\sigma" if s.name == "log_sigma" else s.name
        return sp.latex(obj, symbol_names=names)

    def show(self, what: str = "loglik"):
        """`latex` as an equation a notebook typesets; ``print`` it for the bare LaTeX.

        Parameters
        ----------
        what : {"loglik", "score", "hessian", "fisher", "output", "mean"}

        Returns
        -------
        symmle.display.LatexView
            Displays as ``lhs = …`` in Jupyter (e.g. ``\\mathcal{I}(\\theta; x) = …``).

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(sigma=1.0))
        >>> print(model.show("fisher"))
        \\left[\\begin{matrix}x_{1}^{2} & x_{1}\\\\x_{1} & 1\\end{matrix}\\right]
        """
        return model_view(self, what)

    def _repr_latex_(self):
        """The log-likelihood as display LaTeX for Jupyter (None for a very large model)."""

        return model_repr_latex(self)

    # -------------------------------------------------------------- numeric
    def __getstate__(self):
        # compiled forms hold lambdified functions and thread-local scratch space: rebuilt on
        # demand after unpickling
        return {k: v for k, v in self.__dict__.items() if k != "_compiled_by_backend"}

    def compile(self, backend=None):
        """The `symmle.compiled.CompiledModel` of this model (built once per backend, then
        cached).

        Parameters
        ----------
        backend : {None, "numpy", "numba", "auto"}
            ``None``: `symmle.compiled.default_backend` (``SYMMLE_BACKEND``, else measured
            once per process: numpy where NumPy's float64 tanh is a SIMD loop);
            ``"numba"`` (``pip install 'symmle[fast]'``) evaluates tanh, sigmoid and silu
            with vectorised kernels, the same results to a few ulp and up to 5× faster where
            the activations dominate; ``"auto"`` is numba when installed.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian(sigma=1.0))
        >>> model.compile() is model.compile("numpy")
        True
        """
        from .compiled import CompiledModel, resolve_backend

        backend = resolve_backend(backend)
        cache = self.__dict__.setdefault("_compiled_by_backend", {})
        if backend not in cache:
            cache[backend] = CompiledModel(self, backend)
        return cache[backend]

    def random_params(self, rng=None, *, scale: float = 1.0) -> np.ndarray:
        """A generic random θ: weights ``N(0, scale²/fan_in)``, biases ``N(0, 0.5²·scale²)``,
        family parameters at their default (``log_sigma = 0``).

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 3, 1), sm.Gaussian())
        >>> model.random_params(0).shape
        (14,)
        """
        rng = as_rng(rng)
        scale = check_real(scale, "scale", minimum=0.0, maximum=MAX_PARAM_SCALE)
        arch = self.architecture
        theta = np.empty(self.n_params)
        for L in arch.layers:
            fan_in = np.bincount(L.rows, minlength=len(L.units))[L.rows]
            theta[L.weight_idx] = rng.standard_normal(len(L.weight_idx)) * scale / np.sqrt(fan_in)
            theta[L.bias_idx] = rng.standard_normal(len(L.bias_idx)) * 0.5 * scale
        theta[arch.n_params:] = self.family.default_extra()
        return theta

    def check_theta(self, theta, *, name="theta") -> np.ndarray:
        return self.architecture.check_theta(theta, name=name, n_params=self.n_params)

    def simulate(self, theta, n: int, rng=None, X=None):
        """Draw ``(X, y)`` from the model at θ.

        Parameters
        ----------
        theta : array_like, shape (P,)
        n : int
            Number of rows (ignored when ``X`` is given).
        rng : Generator, int or None
        X : array_like, optional
            Inputs; ``X ~ N(0, I)`` when not given.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        >>> X, y = model.simulate(np.zeros(3), n=5, rng=0)
        >>> X.shape, y.shape, set(y) <= {0.0, 1.0}
        ((5, 2), (5,), True)
        """
        rng = as_rng(rng)
        theta = self.check_theta(theta)
        if X is None:
            n = check_int(n, "n", 1, maximum=MAX_SIMULATED_ROWS)
            X = rng.standard_normal((n, self.architecture.n_inputs))
        else:
            X = self.architecture.check_X(X)
        eta = self.architecture.forward(theta[: self.n_network_params], X)
        y = self.family.sample(eta, theta[self.n_network_params:], rng)
        return X, y

    def __repr__(self):
        return f"Model({self.architecture!r}, {self.family!r})"


def _sandwich(J, W) -> sp.Matrix:
    """``Jᵀ W J`` for a symmetric W, built on the upper triangle and mirrored."""
    K, P = J.shape
    JW = J.T * W
    out = [[sp.S.Zero] * P for _ in range(P)]
    for i in range(P):
        for j in range(i, P):
            v = sp.Add(*[JW[i, k] * J[k, j] for k in range(K) if JW[i, k] != 0 and J[k, j] != 0])
            out[i][j] = out[j][i] = v
    return sp.Matrix(out)
