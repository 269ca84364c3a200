"""The record of a fit: `FitResult` (estimate, information, standard errors, intervals, summary,
predictions, tests, canonical form, JSON).

A singular information matrix is a finding, not a crash: rank, null space, identified parameters
and standard errors come from the library's one information rule
(`symmle._information.information_rank`), and every other covariance (penalised, observed,
robust) is taken on the identified subspace of that verdict (`symmle.fitting._inference`). The
summary, JSON and canonical form live in ``_summary``, ``_persist`` and ``_canonical``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.stats as st

from .._checks import (
    as_rng,
    check_choice,
    check_probability,
    json_dumps,
    read_json,
)
from .._information import INFO_RTOL, NULL_COMPONENT_TOL, information_rank
from ..display import html_report
from ..errors import SymmleValueError
from ..model import Model
from ..symmetry import symmetry_group
from ._canonical import canonical_result
from ._inference import (
    Prediction,
    TestResult,
    delta_functional,
    delta_prediction,
    effective_df,
    restricted_cov,
    sandwich,
    score_rows,
    wald,
)
from ._names import render_param_names, select_columns
from ._persist import result_from_doc, result_to_doc
from ._problem import penalised_mask
from ._profile import profile_intervals
from ._records import CovarianceMatrix, FitStart, check_result_fields, frozen_array
from ._root import information_root
from ._summary import summary_parts, summary_text

__all__ = ["FitResult", "FitStart", "CovarianceMatrix", "METHODS", "COV_TYPES", "INFO_RTOL",
           "NULL_COMPONENT_TOL"]

#: the optimisation methods `fit` runs (a `FitResult` records which one it used; `fit` also
#: takes ``"auto"``, its default, which picks one of these).
METHODS = ("scoring", "lbfgs", "lm", "trf", "trust-exact")
#: the kinds of covariance (``FitResult.covariance(kind)``, ``fit(..., cov_type=)``).
COV_TYPES = ("expected", "observed", "robust")
#: group elements tried by `FitResult.functional` to check that g is invariant.
_INVARIANCE_CHECKS = 4


@dataclass(frozen=True, eq=False)
class FitResult:
    """The result of `fit`: the maximum-likelihood estimate and its uncertainty.

    Attributes
    ----------
    model : Model
    params : ndarray, shape (P,)
        θ̂ in the model's parameter order (``model.param_names``).
    loglik : float
        The maximised log-likelihood ℓ(θ̂), summed over rows.
    converged : bool
        Whether the best start met its convergence criterion (and the MLE
        exists: see ``message``).
    n_iter : int
        Iterations of the best start.
    n_obs : int
        Number of rows.
    method : str
        The optimisation method used (one of `METHODS`).
    message : str
        A status message: the optimiser's, or why the fit is not trustworthy.
    information : ndarray, shape (P, P)
        The expected (Fisher) information at θ̂, summed over rows.
    starts : tuple of FitStart
        Every start's outcome, in the order they were run.
    X, y : ndarray or None
        The data (kept so that profile likelihoods can re-optimise; not saved
        by `to_json`).
    info_rtol : float or None
        Relative tolerance of the information rule (`symmle._information`); None (the default)
        takes the rule's own: ``ROOT_RTOL = 1e-8`` on the singular values of the information's
        root when the data (or a saved root) are at hand, ``INFO_RTOL = 1e-10`` on the
        eigenvalues of the matrix otherwise.
    information_root_ : ndarray or None
        A saved root ``R`` (``RᵀR`` = the information); computed from ``X`` when None.
    score_outer_ : ndarray or None
        A saved ``Σᵢ sᵢ sᵢᵀ`` of the per-row scores (the robust covariance's meat); computed
        from ``X``, ``y`` when None.
    penalty : float
        The weight penalty of the fit: θ̂ maximises ``ℓ(θ) − (penalty/2)·Σ w²`` over the
        network's weights (biases and family parameters unpenalised).
    cov_type : {"expected", "observed", "robust"}
        The covariance behind `cov`, `stderr`, `conf_int`, the summary, predictions and tests.
    input_names, output_names : tuple of str or None
        The data's column names (a pandas DataFrame's columns, a named Series): the weights
        out of each input are named after it in `param_names` (see
        `symmle.fitting._names`); ``model.param_names`` keep the architecture's symbols.
    tol, max_iter : float or int or None
        The convergence settings `fit` used (refits of the same model, by `lr_test` and
        `input_relevance`, use them too).
    refined : int
        How many of the last ``starts`` are `fit`'s refinement of the best start (hidden
        units re-drawn one at a time).
    diagnostics : tuple of str
        Findings of `fit` that qualify the estimate (separation, saturated units, diverging
        weights, interpolation), in words; hidden units are numbered as in the canonical form
        (`canonical`, which `summary` prints).

    Examples
    --------
    >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian(sigma=1.0))
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array([1.0, 3.0, 5.0, 7.5])
    >>> res = sm.fit(model, X, y, rng=0)
    >>> res.params.round(3)
    array([2.15, 0.9 ])
    >>> res.stderr.round(4)            # sqrt(diag((XᵀX)⁻¹)) with σ = 1
    array([0.4472, 0.8367])
    >>> res.conf_int(0.05).shape
    (2, 2)
    """

    model: Model
    params: np.ndarray
    loglik: float
    converged: bool
    n_iter: int
    n_obs: int
    method: str
    message: str
    information: np.ndarray
    starts: tuple = ()
    X: np.ndarray | None = field(default=None, repr=False)
    y: np.ndarray | None = field(default=None, repr=False)
    info_rtol: float | None = None
    observed_information_: np.ndarray | None = field(default=None, repr=False)
    information_root_: np.ndarray | None = field(default=None, repr=False)
    score_outer_: np.ndarray | None = field(default=None, repr=False)
    penalty: float = 0.0
    cov_type: str = "expected"
    input_names: tuple | None = None
    output_names: tuple | None = None
    diagnostics: tuple = ()
    tol: float | None = None
    max_iter: int | None = None
    refined: int = 0

    def __post_init__(self):
        check_result_fields(self, METHODS, COV_TYPES)

    # ------------------------------------------------------------ basics
    @cached_property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in θ order, with the weights out of each input named after its
        column when the data had names (``W1_2[bmi]``); else ``model.param_names``."""
        return render_param_names(self.model, self.input_names)

    @property
    def n_params(self) -> int:
        return self.model.n_params

    @property
    def aic(self) -> float:
        """Akaike's criterion ``2k - 2ℓ(θ̂)``, where k = `information_rank` counts the identified
        parameters (P minus the null-space dimension of the information at θ̂, by the library's
        information rule), not P: directions of θ that do not change the distribution (the
        softmax shift of a multinomial logit, ReLU rescaling, ...) are not parameters of the
        model. For ``mlp(d, K)`` with `symmle.families.Categorical` this is statsmodels'
        ``MNLogit`` AIC.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 3), sm.Categorical())    # 6 raw parameters, 4 identified
        >>> X, y = model.simulate(np.array([1.0, -1.0, 0.0, 0.5, 0.0, 0.0]), n=400, rng=0)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", sm.NonIdentifiableWarning)
        ...     res = sm.fit(model, X, y, rng=0)
        >>> res.information_rank, bool(np.isclose(res.aic, 2 * 4 - 2 * res.loglik))
        (4, True)
        """
        return 2.0 * self.information_rank - 2.0 * self.loglik

    @property
    def bic(self) -> float:
        """Schwarz's criterion ``k log n - 2ℓ(θ̂)`` with k = `information_rank`, the identified
        parameters (as `aic`)."""
        return self.information_rank * math.log(self.n_obs) - 2.0 * self.loglik

    @property
    def sigma(self) -> float | None:
        """The Gaussian noise σ (``exp(log_sigma)``, or the known one); None for other families."""
        return self.model.family.noise_scale(self.params[self.model.n_network_params:])

    # ------------------------------------------------------ information
    @cached_property
    def rank_verdict(self):
        """The information rule's verdict on the expected information at θ̂
        (`symmle._information.InformationRank`: rank, null space, identified parameters, the
        tolerance policy in words)."""
        with np.errstate(over="ignore"):  # an underflowed information: inf variances (see fit)
            return information_rank(self.information, root=self.information_root,
                                    rtol=self.info_rtol)

    @cached_property
    def information_root(self) -> np.ndarray | None:
        """An upper-triangular ``R`` with ``RᵀR`` = `information` (from the data, or saved);
        None for a fit loaded without data or root."""
        if self.information_root_ is not None:
            return self.information_root_
        if self.X is None:
            return None
        return frozen_array(information_root(self.model, self.params, self.X))

    @property
    def information_rank(self) -> int:
        """Numerical rank of the expected information (the library's one information rule,
        `symmle._information`; `rank_verdict` says how it was decided)."""
        return self.rank_verdict.rank

    @property
    def null_space(self) -> np.ndarray:
        """An orthonormal basis (P × k) of the information's numerical null space."""
        return self.rank_verdict.null_space.copy()

    @property
    def null_space_dim(self) -> int:
        return self.rank_verdict.null_dim

    @property
    def condition_number(self) -> float:
        """Largest over smallest eigenvalue of the equilibrated expected information (inf when
        singular)."""
        return self.rank_verdict.condition_number

    @property
    def identified(self) -> np.ndarray:
        """Mask of the parameters with no component (> ``NULL_COMPONENT_TOL``) in the null space."""
        return self.rank_verdict.identified.copy()

    def _need_data(self, what: str, saved: str) -> None:
        """A `SymmleValueError` when the fit holds no X and y (loaded from JSON)."""
        if self.X is None or self.y is None:
            raise SymmleValueError(f"{what}: this FitResult was loaded without X and y and "
                                   f"without {saved}")

    @cached_property
    def observed_information(self) -> np.ndarray:
        """Minus the Hessian of the log-likelihood at θ̂ (needs the data, or a saved value)."""
        if self.observed_information_ is not None:
            return self.observed_information_
        self._need_data("the observed information needs the data", "a saved observed information")
        H = self.model.compile().hessian(self.params, self.X, self.y)
        return frozen_array(-0.5 * (H + H.T))

    @cached_property
    def score_outer(self) -> np.ndarray:
        """``Σᵢ sᵢ sᵢᵀ`` of the per-row scores at θ̂ (needs the data, or a saved value)."""
        if self.score_outer_ is not None:
            return self.score_outer_
        self._need_data("the robust covariance needs the per-row scores", "saved score products")
        S = score_rows(self.model, self.params, self.X, self.y)
        with np.errstate(over="ignore", invalid="ignore"):  # scores beyond 1e154: inf entries
            return frozen_array(S.T @ S)

    @property
    def penalised(self) -> np.ndarray:
        """Mask of the parameters the penalty applies to (the network's weights)."""
        return penalised_mask(self.model)

    @property
    def _penalty_diag(self) -> np.ndarray:
        return self.penalty * self.penalised

    @property
    def objective(self) -> float:
        """The penalised log-likelihood ``ℓ(θ̂) − (penalty/2)·Σ w²`` that θ̂ maximises."""
        w = self.params[self.penalised]
        if not self.penalty:
            return self.loglik
        with np.errstate(over="ignore"):  # weights beyond 1e154: the penalty is inf
            return self.loglik - 0.5 * self.penalty * float(w @ w)

    @cached_property
    def effective_df(self) -> float:
        """Effective degrees of freedom ``tr[(I + penalty·D)⁻ I]`` on the identified subspace
        (D the indicator of the penalised weights): `information_rank` without a penalty,
        smaller with one."""
        if not self.penalty:
            return float(self.information_rank)
        return effective_df(self.rank_verdict, self.information, self._penalty_diag)

    def _cov(self, kind: str, mask: bool) -> np.ndarray:
        kind = check_choice(kind, "kind", COV_TYPES)
        verdict, D = self.rank_verdict, np.diag(self._penalty_diag)
        if kind == "robust":
            if not self.penalty and mask:
                return sandwich(verdict, outer=self.score_outer)
            return restricted_cov(verdict, self.information + D, self.score_outer, mask=mask)
        M = self.information if kind == "expected" else self.observed_information
        if self.penalty:
            return restricted_cov(verdict, M + D, M, mask=mask)
        if not mask:
            return restricted_cov(verdict, M, mask=False)
        if kind == "expected":
            return verdict.cov.copy()
        with np.errstate(over="ignore"):  # an underflowed information: inf variances (see fit)
            return information_rank(self.observed_information).cov.copy()

    def covariance(self, kind: str = "expected") -> np.ndarray:
        """Covariance of θ̂; rows/columns of unidentified parameters are NaN.

        Parameters
        ----------
        kind : {"expected", "observed", "robust"}
            The inverse expected (Fisher) information; minus the inverse Hessian (observed);
            or the HC0 sandwich ``A⁻ B A⁻`` with ``A`` the expected information and
            ``B = Σᵢ sᵢ sᵢᵀ`` the per-row scores' products, valid when the family's variance
            is wrong (over-dispersed counts, heteroscedastic noise); for a GLM it is
            statsmodels' ``cov_type="HC0"``. Each is taken on the identified subspace of the
            information. With a penalty, ``A`` is the information plus ``penalty·D`` and the
            expected and observed kinds are the sandwich ``A⁻ I A⁻`` of the penalised
            estimator.

        """
        return self._cov(kind, mask=True)

    def _function_cov(self) -> np.ndarray:
        """The fit's covariance as a generalised inverse without the NaN mask, for estimable
        functions (predictions, functionals, Wald tests)."""
        return self._cov(self.cov_type, mask=False)

    @property
    def cov(self) -> CovarianceMatrix:
        """The covariance of the fit's ``cov_type``; call it as ``cov(kind=...)`` for
        another kind."""
        return CovarianceMatrix(self.covariance(self.cov_type), self)

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors of the fit's ``cov_type`` (NaN for unidentified parameters)."""
        if self.cov_type == "expected" and not self.penalty:
            return self.rank_verdict.stderr
        d = np.diag(self.covariance(self.cov_type)).copy()
        with np.errstate(invalid="ignore"):
            return np.where(d >= 0, np.sqrt(np.abs(d)), np.nan)

    def conf_int(self, alpha: float = 0.05, method: str = "wald", *, kind: str | None = None):
        """Confidence intervals at level ``1 - alpha``, shape (P, 2).

        Parameters
        ----------
        alpha : float
            In (0, 1).
        method : {"wald", "profile"}
            ``"wald"``: θ̂ ± z₁₋α/₂ · stderr. ``"profile"``: profile-likelihood
            intervals, computed by `symmle.fitting.profile_intervals` (as
            `symmle.fitting.profile_conf_int` does).
        kind : {"expected", "observed", "robust"}, optional
            Which covariance the Wald standard errors use (default: the fit's ``cov_type``).
        """
        alpha = check_probability(alpha, "alpha")
        if method == "profile":
            if self.X is None or self.y is None:
                raise SymmleValueError(
                    "this FitResult has no data (X, y): profile likelihoods re-optimise, so "
                    "use a FitResult from sm.fit rather than one loaded from JSON")
            return profile_intervals(self.model, self.X, self.y, self.params, alpha=alpha,
                                     loglik=self.loglik, information=self.information)
        if method != "wald":
            raise SymmleValueError(f"method must be 'wald' or 'profile', got {method!r}")
        if kind is None or kind == self.cov_type:
            se = self.stderr
        else:
            with np.errstate(invalid="ignore"):
                se = np.sqrt(np.diag(self.covariance(kind)))
        z = st.norm.ppf(1.0 - alpha / 2.0)
        return np.column_stack([self.params - z * se, self.params + z * se])

    # ---------------------------------------------------- predictions and tests
    def predict(self, X) -> np.ndarray:
        """``E[y | x]`` at θ̂ for the rows of X: shape (n,), or (n, C) for several outputs or
        classes. A DataFrame is matched to the fit's columns by name.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1), sm.Bernoulli())
        >>> res = sm.fit(model, *model.simulate(np.array([2.0, 0.0]), n=500, rng=0), rng=0)
        >>> res.predict(np.array([[0.0], [10.0]])).round(2)
        array([0.48, 1.  ])
        """
        X = self.model.architecture.check_X(select_columns(X, self.input_names))
        return self.model.compile().predict(self.params, X)

    def get_prediction(self, X, alpha: float = 0.05) -> Prediction:
        """Predictions of ``E[y | x]`` with delta-method standard errors and intervals.

        The regression function is the same at every point of θ̂'s orbit under the symmetry
        group, so the prediction, its gradient and its standard error are too. Its standard
        error is valid whether or not the weights are identified, as long as the prediction's
        gradient is orthogonal to the information's null space (`Prediction.estimable` says
        so per row): always when the null space holds only symmetry directions (ReLU
        rescaling, the softmax shift: the prediction does not move along them); not at a
        reducible point, whose extra null directions can move the function.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian())
        >>> X, y = model.simulate(np.array([2.0, 1.0, np.log(0.5)]), n=200, rng=0)
        >>> pred = sm.fit(model, X, y, rng=0).get_prediction(np.array([[0.0], [1.0]]))
        >>> pred.mean.round(3), pred.se.round(4)
        (array([0.956, 2.922]), array([0.0362, 0.0518]))
        >>> pred.pred_int().round(2)       # mean ± z·√(se² + σ̂²)
        array([[-0.05,  1.96],
               [ 1.91,  3.93]])
        """
        X = select_columns(X, self.input_names)
        return delta_prediction(self.model, self.params, X, self.rank_verdict,
                                self._function_cov(), alpha=alpha,
                                names=self.output_names or ())

    def functional(self, g, alpha: float = 0.05, *, name: str = "g", rng=0) -> Prediction:
        """Delta-method estimate, standard error and interval of a scalar function g(θ).

        ``g(theta)`` returns a number, or a pair ``(value, gradient)`` (else the gradient is
        taken by central differences). g must be a function of the distribution, not of the
        labelling of units: it is refused when ``g(h(θ̂)) ≠ g(θ̂)`` for one of a few random
        symmetries h (seeded by ``rng``), or when its gradient has a component along the
        information's null space (a direction the data do not determine).

        Returns
        -------
        Prediction
            With a scalar ``mean`` (the estimate) and ``se``; ``conf_int()`` is the interval.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 2, 1), sm.Gaussian(sigma=0.3))
        >>> X, y = model.simulate(np.array([2, -1, 0.5, 0, 1, 1.5, 0.2]), n=400, rng=0)
        >>> res = sm.fit(model, X, y, n_starts=3, rng=0)
        >>> f0 = res.functional(lambda t: model.architecture.forward(t, [[0.5]])[0, 0])
        >>> bool(abs(float(f0.mean) - res.predict([[0.5]])[0]) < 1e-12), bool(f0.se > 0)
        (True, True)
        >>> res.functional(lambda t: t[0])
        Traceback (most recent call last):
        ...
        symmle.errors.SymmleValueError: g is not invariant under the symmetry group: ...
        """
        G = symmetry_group(self.model.architecture)
        images = []
        if G.order > 1:
            gen = as_rng(rng)
            images = [G.random_element(gen)(self.params) for _ in range(_INVARIANCE_CHECKS)]
        return delta_functional(g, self.params, self.rank_verdict, self._function_cov(),
                                images, alpha=alpha, name=name)

    def wald_test(self, R, q=None) -> TestResult:
        """Wald test of the linear hypothesis ``R θ = q`` (q = 0 by default), with the fit's
        covariance. ``R`` is an (m, P) matrix, or a list of parameter names (each row then
        sets one of them to zero). A row with a component along the information's null space
        is refused: it is about a direction the data do not identify.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        >>> X, y = model.simulate(np.array([1.0, 0.0, 0.5]), n=500, rng=0)
        >>> t = sm.fit(model, X, y, rng=0).wald_test(["W1_1_2"])
        >>> t.df, bool(t.pvalue > 0.01)
        (1, True)
        """
        if isinstance(R, (list, tuple)) and R and all(isinstance(r, str) for r in R):
            rows = np.zeros((len(R), self.n_params))
            for k, name in enumerate(R):
                rows[k, self._index(name)] = 1.0
            R = rows
        return wald(self.params, self.rank_verdict, self._function_cov(), R, q)

    def _index(self, name: str) -> int:
        for names in (self.param_names, self.model.param_names):
            if name in names:
                return names.index(name)
        raise SymmleValueError(f"{name!r} is not a parameter name; known: {self.param_names}")

    def canonical(self) -> "FitResult":
        """The same fit at the canonical representative of θ̂'s orbit (`symmle.canonicalize`):
        units sorted and signed by a fixed rule, with the information, its root and the score
        products carried along; two fits that reach the same optimum have the same canonical
        form (`summary` prints it).

        Examples
        --------
        >>> arch = sm.mlp(1, 2, 1)
        >>> model = sm.Model(arch, sm.Gaussian(sigma=0.3))
        >>> X, y = model.simulate(np.array([2, -1, 0.5, 0, 1, 1.5, 0.2]), n=300, rng=0)
        >>> a, b = (sm.fit(model, X, y, n_starts=3, rng=s) for s in (1, 2))
        >>> bool(np.allclose(a.canonical().params, b.canonical().params, atol=1e-3))
        True
        """
        return self._canonical

    @cached_property
    def _canonical(self) -> "FitResult":
        return canonical_result(self)

    # ------------------------------------------------------------ report
    def summary(self, alpha: float = 0.05, *, canonical: bool = True) -> str:
        """A text table: name, estimate, std. err., z, p, interval; with a header.

        ``canonical`` (the default) prints the canonical form of the fit (`canonical`), so that
        the same optimum reached from other starts prints the same table.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(1, 1, activation="identity"), sm.Gaussian())
        >>> X, y = model.simulate(np.array([2.0, 1.0, np.log(0.5)]), n=200, rng=0)
        >>> print(sm.fit(model, X, y, rng=0).summary())
        Maximum-likelihood fit: mlp(1, 1) with Gaussian()
        n = 200   log-likelihood = -149.73   AIC = 305.461   BIC = 315.356
        method = scoring   converged = yes (3 iterations)   starts = 1 (1 converged)
        information: rank 3 of 3 at relative tolerance 1e-08 on the singular values of its equilibrated root; equilibrated condition number 1.03
        sigma = 0.511562
        name         estimate   std. err.         z    P>|z|              95% interval
        ------------------------------------------------------------------------------
        W1_1_1          1.965     0.03763      52.2        0            [1.892, 2.039]
        b1_1           0.9563     0.03618      26.4  5.73e-154           [0.8854, 1.027]
        log_sigma     -0.6703        0.05     -13.4  5.6e-41        [-0.7683, -0.5723]
        """
        return summary_text(self.canonical() if canonical else self, alpha)

    def _repr_html_(self) -> str:
        """The `summary` (at ``alpha = 0.05``, canonical form) as HTML, for notebooks."""
        title, lines, headers, rows = summary_parts(self.canonical(), 0.05)
        return html_report(title, lines=lines, headers=headers, rows=rows)

    def __repr__(self):
        return (f"FitResult(model={self.model!r}, loglik={self.loglik:.6g}, "
                f"converged={self.converged}, n_obs={self.n_obs}, method={self.method!r})")

    # ------------------------------------------------------- persistence
    def to_json(self, path=None) -> str:
        """The result as JSON text (data ``X``, ``y`` excluded); also written to ``path`` if given.

        The observed information and the per-row score products are saved too when they can
        be computed (the data are on the result), so a loaded result still gives every kind
        of covariance; the column names, penalty, covariance kind and diagnostics are saved.

        Examples
        --------
        >>> model = sm.Model(sm.mlp(2, 1), sm.Bernoulli())
        >>> X, y = model.simulate(np.array([1.0, -1.0, 0.5]), n=300, rng=0)
        >>> res = sm.fit(model, X, y, rng=0)
        >>> back = sm.FitResult.from_json(res.to_json())
        >>> bool(np.array_equal(back.params, res.params)), back.loglik == res.loglik
        (True, True)
        """
        text = json_dumps(result_to_doc(self))
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_json(cls, source) -> "FitResult":
        """Load a result written by `to_json`: JSON text, or a path to such a file.

        A ``str`` whose first non-blank character is ``{`` (or ``[``) is read
        as JSON text, anything else as a path. The JSON is read strictly
        (`symmle._checks.read_json`) and the document validated; anything
        malformed raises `symmle.errors.PersistenceError`.
        """
        return result_from_doc(read_json(source, what="FitResult JSON"), cls, FitStart)

