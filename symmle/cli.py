"""The ``symmle`` command: derive, symmetry, identify, fit, study, mermaid.

Every option is parsed with an explicit grammar (``2-3-1`` widths, registry
names, numbers); nothing a user types is evaluated. Errors print one line on
stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

import numpy as np
import sympy as sp

from . import __version__
from ._checks import check_int
from .activations import activation_names
from .architecture import mlp, parse_widths
from .data import load_csv
from .display import MAX_PRINTED_NODES, check_printable
from .errors import SymmleError, SymmleValueError
from .families import Gaussian, family_from_name
from .fitting import METHODS, fit
from .identifiability import identifiability, regularity
from .identifiability._reduction import reduction_reasons  # the reasons in words, not public
from .model import SYMBOLIC_MATRIX_MAX_PARAMS, Model
from .singular import (learning_coefficient, learning_coefficient_theory, rank_r_truth, read_theta,
                       simulate_truth)
from .study import (
    QUICK_REPS,
    QUICK_SIZES,
    QUICK_STARTS,
    SEED_THETA,
    consistency_study,
    seed_model,
)
from .study._plot import check_figure_path
from .study._study import MAX_REPLICATIONS, MAX_ROWS, MAX_STARTS
from .symmetry import symmetry_group

#: the seed's architecture: ``study --arch 2-3-1`` keeps the seed's fixed θ*.
SEED_WIDTHS = (2, 3, 1)

__all__ = ["main", "build_parser"]

_FAMILIES = ("gaussian", "bernoulli", "poisson", "categorical")

#: other names users know the families by (any case is accepted).
_FAMILY_ALIASES = {"normal": "gaussian", "logistic": "bernoulli", "binomial": "bernoulli",
                   "multinomial": "categorical", "softmax": "categorical"}


def _family_name(text):
    """``--family``: case-insensitive, with the aliases of `_FAMILY_ALIASES`."""
    name = text.strip().lower()
    return _FAMILY_ALIASES.get(name, name)


def _activation_name(text):
    """``--activation``: case-insensitive (``Tanh`` = ``tanh``)."""
    return text.strip().lower()


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"symmle: error: {message}\n")


def _int_at_least(minimum, what, maximum):
    def parse(text):
        try:  # SymmleValueError (out of range) is a ValueError too
            value = int(text) if len(text) <= _MAX_INT_DIGITS else None
            return check_int(value, "value", minimum, maximum=maximum)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(
                f"expected a {what} integer at most {maximum}, got {text[:40]!r}") from None

    return parse


#: digits an integer option may have before it is refused unread.
_MAX_INT_DIGITS = 40

#: the command line's bounds: far above any real use, a typo refused before any work.
_positive_int = _int_at_least(1, "positive", MAX_REPLICATIONS)
_starts = _int_at_least(1, "positive", MAX_STARTS)
_jobs = _int_at_least(1, "positive", 1024)
_nonneg_int = _int_at_least(0, "non-negative", 2 ** 128)


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _sizes(text):
    parts = text.split(",")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers like 100,1000, got {text!r}") from None
    try:
        return [check_int(n, "sample size", 1, maximum=MAX_ROWS) for n in sizes]
    except SymmleValueError:
        raise argparse.ArgumentTypeError(f"expected positive sample sizes, got {text!r}") from None


def _arch_args(p, *, family=True, default_arch="2-3-1",
               arch_help="layer widths, inputs first, e.g. 2-3-1 (default %(default)s)"):
    p.add_argument("--arch", default=default_arch, help=arch_help)
    p.add_argument("--activation", default="tanh", type=_activation_name, choices=activation_names(),
                   help="hidden activation (default %(default)s)")
    if family:
        p.add_argument("--family", default="gaussian", type=_family_name, choices=_FAMILIES,
                       help="output distribution, any case; also normal, logistic, multinomial (default %(default)s)")
        p.add_argument("--sigma", type=_positive_float, default=None,
                       help="known noise sd for gaussian (default: estimated, log_sigma in θ)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symmle`` command."""
    parser = _Parser(prog="symmle", description="Symbolic maximum likelihood for neural networks.")
    parser.add_argument("--version", action="version", version=f"symmle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("derive", help="print the symbolic log-likelihood, score or Fisher information")
    _arch_args(p)
    p.add_argument("--what", default="loglik", choices=("loglik", "score", "hessian", "fisher", "output"),
                   help="the quantity to print (default %(default)s)")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of plain text")
    p.add_argument("--entry", default=None, metavar="I[,J]",
                   help="one entry only: names or 1-based positions, e.g. W1_1_1,b2_1 or 1,13 (one for score/output)")

    p = sub.add_parser("symmetry", help="the discrete symmetry group and continuous symmetries")
    _arch_args(p, family=False)

    p = sub.add_parser("identify", help="identifiability report and regularity conditions")
    _arch_args(p)
    p.add_argument("--exact", action="store_true", help="exact Jacobian rank with sympy")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")

    p = sub.add_parser("fit", help="fit a network to a CSV file by maximum likelihood")
    _arch_args(p, default_arch="3-1",
               arch_help="widths after the input layer, e.g. 3-1 for 3 hidden units and one output "
                         "(the input width is the number of feature columns); the full widths, "
                         "e.g. 5-3-1 for 5 features, are accepted too (default %(default)s)")
    p.add_argument("--data", required=True, help="CSV file with a header row")
    p.add_argument("--delimiter", default=",", help="column separator of the file (default ,)")
    p.add_argument("--target", default="y",
                   help="name of the response column, or comma-separated names (default y)")
    p.add_argument("--features", default=None,
                   help="comma-separated input columns (default: every column but the target)")
    p.add_argument("--max-iter", type=_positive_int, default=None,
                   help="iterations per start of the optimiser (default 1000)")
    p.add_argument("--tol", type=_positive_float, default=None,
                   help="convergence tolerance of the optimiser (default 1e-10)")
    p.add_argument("--starts", type=_starts, default=4, help="random starts (default 4)")
    p.add_argument("--method", default=None, choices=("auto",) + METHODS,
                   help="optimiser (default auto: Fisher scoring, or L-BFGS first from 100 params)")
    p.add_argument("--json", default=None, help="also write the result to this JSON path")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")

    p = sub.add_parser(
        "study", help="the consistency study: does the MLE converge to the truth, modulo symmetries?",
        description="Simulate data from a true θ* at several sample sizes, fit each replication, and "
                    "report how far the estimates are from θ* before and after alignment by the "
                    "symmetry group. The 2-3-1 network uses the fixed, well-conditioned "
                    "θ* of symmle.study.SEED_THETA; any other architecture draws θ* with "
                    "Model.random_params(--seed, scale=2), weights N(0, 4/fan_in) and biases "
                    "N(0, 1), checks it, warns when it is nearly reducible, and prints it.")
    p.add_argument("--arch", default=None,
                   help="layer widths (default 2-3-1 with the fixed θ*); others draw θ* at random")
    p.add_argument("--activation", default="tanh", type=_activation_name, choices=activation_names(),
                   help="hidden activation (default %(default)s)")
    p.add_argument("--sizes", type=_sizes, default=None, help="comma-separated sample sizes (default "
                        + ",".join(map(str, QUICK_SIZES)) + ")")
    p.add_argument("--reps", type=_positive_int, default=None, help=f"replications per size (default {QUICK_REPS})")
    p.add_argument("--starts", type=_starts, default=None,
                   help=f"random starts per fit (default {QUICK_STARTS})")
    p.add_argument("--jobs", type=_jobs, default=None,
                   help="parallel processes (joblib; default: one a core once tasks are timed to pay)")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run on")
    p.add_argument("--plot", default=None, help="write the figure to this PNG path")
    p.add_argument("--json", default=None, help="write the result to this JSON path")
    p.add_argument("--csv", default=None, help="write the table to this CSV path")
    p.add_argument("--checkpoint", default=None, help="JSON-lines file to resume from")
    p.add_argument("--seed", type=_nonneg_int, default=0,
                   help="random seed of the data, the fits and a drawn θ* (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "lambda", help="the learning coefficient λ of a singular (or regular) truth",
        description="λ and its multiplicity m, exact where theory knows it: a linear network at a true rank "
                    "(--true-rank; Aoyagi & Watanabe 2005), a 1-H-1 odd network at the zero truth (--true-zero; "
                    "Aoyagi 2019), a regular truth (λ = d/2) from --theta or --seed; --estimate adds HMC's.")
    _arch_args(p, family=False, default_arch="2-3-1")
    truth = p.add_mutually_exclusive_group()
    truth.add_argument("--true-rank", type=_nonneg_int, help="rank of the true linear map (identity, M-H-N)")
    truth.add_argument("--true-zero", action="store_true", help="the zero truth: every weight 0, no biases")
    truth.add_argument("--theta", default=None, metavar="JSON",
                       help="θ* as JSON, a file or the text: a list of numbers, or a `symmle fit --json` result")
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                   help="biases in the network (default: yes, none with --true-rank or --true-zero)")
    p.add_argument("--sigma", type=_positive_float, default=1.0, help="known noise sd of the output (default 1)")
    p.add_argument("--estimate", action="store_true", help="also estimate λ from --n simulated rows")
    p.add_argument("--method", choices=("wbic", "local"), default="local", help="estimator (default local)")
    p.add_argument("--n", type=_positive_int, default=2000, help="rows simulated (default %(default)s)")
    p.add_argument("--inputs", choices=("normal", "uniform"), help="N(0, I) or U[-2, 2] (default: U for 1-H-1 odd)")
    p.add_argument("--chains", type=_positive_int, default=2, help="HMC chains (default %(default)s)")
    p.add_argument("--draws", type=_positive_int, default=500, help="draws per chain after as many warm-up steps")
    p.add_argument("--localization", type=_positive_float, default=1.0, help="γ of 'local' (default 1)")
    p.add_argument("--prior-scale", type=_positive_float, default=10.0, help="sd of the 'wbic' prior (default 10)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of a drawn truth, the data and the sampler")

    p = sub.add_parser("mermaid", help="print the network as a mermaid diagram")
    _arch_args(p, family=False)
    p.add_argument("--labels", action=argparse.BooleanOptionalAction, default=None,
                   help="label the edges with the weights' names (default: only up to 36 edges)")
    return parser


def _model(args, widths=None) -> Model:
    arch = mlp(*(widths or parse_widths(args.arch)), activation=args.activation)
    if args.family == "gaussian":
        family = Gaussian(sigma=args.sigma)
    else:
        if args.sigma is not None:
            raise SymmleValueError("--sigma only applies to --family gaussian")
        family = family_from_name(args.family)
    return Model(arch, family)


#: ``derive`` warns on stderr beyond this many bytes of text (10-20-1's Fisher: ≈ 10 MB).
DERIVE_WARN_BYTES = 100_000


def _entry_index(text, names, what) -> int:
    """One ``--entry`` index: a parameter name or a 1-based position; returns a 0-based index."""
    text = text.strip()
    if text in names:
        return names.index(text)
    if text.isdigit() and 1 <= int(text) <= len(names):
        return int(text) - 1
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    raise SymmleValueError(f"--entry: {text[:40]!r} is neither a {what} name ({shown}) nor a "
                           f"position 1..{len(names)}")


def _latex(model, expr) -> str:
    """LaTeX of one expression of ``model``, with the symbol names `Model.latex` uses."""
    names = dict(model.architecture.latex_names)
    for s in model.extra_params:
        names[s] = r"\log\sigma" if s.name == "log_sigma" else s.name
    return sp.latex(expr, symbol_names=names)


def _derive_entry(args, model) -> list[str]:
    parts = args.entry.split(",")
    names = list(model.param_names)
    if args.what == "loglik":
        raise SymmleValueError("--entry applies to --what score, hessian, fisher or output; the "
                               "log-likelihood is a single expression")
    if args.what in ("score", "output"):
        if len(parts) != 1:
            raise SymmleValueError(f"--entry takes one index for --what {args.what}, got "
                                   f"{args.entry[:40]!r}")
        if args.what == "output":
            outs = [f"f{k + 1}" for k in range(len(model.eta))]
            k = _entry_index(parts[0], outs, "output")
            label, expr = f"{outs[k]}(x)", model.eta[k]
        else:
            i = _entry_index(parts[0], names, "parameter")
            label, expr = f"d loglik / d {names[i]}", model.score[i]
    else:
        if len(parts) != 2:
            raise SymmleValueError(f"--entry takes two indices I,J for --what {args.what}, got "
                                   f"{args.entry[:40]!r}")
        i, j = (_entry_index(t, names, "parameter") for t in parts)
        label, expr = f"{args.what}[{names[i]}, {names[j]}]", getattr(model, f"{args.what}_entry")(i, j)
    return [_latex(model, expr)] if args.latex else [f"{label} = {expr}"]


def _derive_lines(args, model) -> list[str]:
    if model.n_params > MAX_PRINTED_NODES // 25:  # 20 000: every parameter is printed
        raise SymmleValueError(f"derive: a {model.n_params}-parameter model is beyond printing")
    if args.entry is not None:
        return _derive_entry(args, model)
    if args.latex:
        return [model.latex(args.what)]
    names, lines = model.param_names, [f"# {model!r}: per-sample {args.what}"]
    fix = "print one entry with --entry I,J (names or 1-based positions)"
    if args.what in ("fisher", "hessian") and model.n_params > SYMBOLIC_MATRIX_MAX_PARAMS:
        raise SymmleValueError(f"--what {args.what}: the whole matrix of a {model.n_params}-"
                               f"parameter model is not derived (over {SYMBOLIC_MATRIX_MAX_PARAMS}); {fix}")
    exprs = {"loglik": lambda: [model.loglik], "output": lambda: list(model.eta),  # or a stand-in
             "score": lambda: list(model.score),  # as large, before it is built
             "hessian": lambda: list(model.score) * model.n_params,
             "fisher": lambda: list(model.jacobian) * model.n_params}[args.what]
    check_printable(exprs(), f"{args.what} of this {model.n_params}-parameter model", fix)
    if args.what == "loglik":
        lines.append(f"loglik = {model.loglik}")
    elif args.what == "output":
        lines += [f"f{i + 1}(x) = {e}" for i, e in enumerate(model.eta)]
    elif args.what == "score":
        lines += [f"d loglik / d {n} = {e}" for n, e in zip(names, model.score)]
    else:
        M = getattr(model, args.what)
        for i in range(M.rows):
            for j in range(i, M.cols):
                if M[i, j] != 0:
                    lines.append(f"{args.what}[{names[i]}, {names[j]}] = {M[i, j]}")
    return lines


def _cmd_derive(args):
    model = _model(args)
    text = "\n".join(_derive_lines(args, model))
    size = len(text.encode("utf-8"))
    if size > DERIVE_WARN_BYTES:
        print(f"symmle: warning: the {args.what} of this {model.n_params}-parameter model is "
              f"{size / 1e6:.1f} MB of text; redirect it to a file, or print one entry with "
              f"--entry I,J (names or 1-based positions)", file=sys.stderr)
    print(text)


def _cmd_symmetry(args):
    print(symmetry_group(mlp(*parse_widths(args.arch), activation=args.activation)))


def _cmd_identify(args):
    model = _model(args)
    report = identifiability(model, rng=args.seed, exact=args.exact)
    print(report)
    print()
    print(regularity(model, rng=args.seed))


def _fit_widths(arch_text, n_features) -> tuple:
    """``fit --arch``: the widths after the input layer (the input width is the number of
    feature columns), or the full widths when the first one is that number."""
    try:
        widths = parse_widths(arch_text) if "-" in arch_text else parse_widths(f"1-{arch_text}")[1:]
    except SymmleError:
        raise SymmleValueError(f"--arch must look like 3-1 (hidden widths, then the output "
                               f"width) or {n_features}-3-1 (with the input width), got "
                               f"{arch_text[:40]!r}") from None
    if len(widths) >= 2 and widths[0] == n_features:
        return tuple(widths)
    return (n_features, *widths)


def _cmd_fit(args):
    targets = [t.strip() for t in args.target.split(",")]
    features = [f.strip() for f in args.features.split(",")] if args.features else None
    X, y, names = load_csv(args.data, target=targets if len(targets) > 1 else targets[0],
                           features=features, delimiter=args.delimiter)
    widths = _fit_widths(args.arch, X.shape[1])
    model = _model(args, widths)
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    print(f"architecture {'-'.join(map(str, widths))}: {X.shape[1]} inputs ({shown}), "
          f"{len(y)} rows, {model.n_params} parameters")
    options = {"method": args.method} if args.method else {}
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    if args.tol is not None:
        options["tol"] = args.tol
    res = fit(model, X, y, n_starts=args.starts, rng=args.seed, **options)
    print(res.summary())
    if args.json:
        res.to_json(args.json)
        print(f"result written to {args.json}")


#: a drawn truth: `Model.random_params` at this scale (weights N(0, 4/fan_in), biases N(0, 1)).
TRUTH_SCALE = 2.0

#: a drawn truth is "nearly singular" when its information per row (x ~ N(0, I)) has a larger
#: condition number: the seed's θ* has about 6e2, and near 5e7 the study's coverage collapses.
NEAR_SINGULAR_CONDITION = 1e5

#: ... and "nearly reducible" when a Sussmann reduction applies at this absolute tolerance (an
#: output weight, an incoming weight vector, or two units' weights within 0.1 of each other).
NEAR_REDUCIBLE_TOL = 0.1

#: rows x ~ N(0, I) that the check averages the information over.
CHECK_ROWS = 20_000

#: the information costs P² numbers per row: above this many parameters the check is skipped.
CHECK_MAX_PARAMS = 500

#: θ* is printed value by value up to this many parameters, summarised beyond.
PRINT_MAX_PARAMS = 60

#: the bracket searched for the nearest reducibility (absolute tolerances).
_REDUCIBILITY_BRACKET = (1e-12, 10.0)

#: what the study table's columns mean, printed under it.
STUDY_LEGEND = """\
columns (medians over the replications at each n):
  raw ‖θ̂−θ*‖   distance of the estimate from the truth, as fitted
  aligned      the same after moving θ̂ to its closest symmetric copy (min over the group)
  function     RMS distance of the fitted function from the true one, on a fixed test set
  coverage     share of the parameters whose Wald interval (at the aligned θ̂) covers θ*
  efficiency   n·tr Cov(aligned θ̂) / tr I₁(θ*)⁻¹: 1 is the Cramér–Rao bound
  robust eff.  the same with a robust (median absolute deviation) variance
  KS max       largest Kolmogorov–Smirnov distance of the standardized estimates from N(0, 1)
  below θ*     share of fits whose log-likelihood is below the truth's (a missed maximum)"""


def _nearest_reducibility(arch, theta):
    """(tolerance, reason) of the closest Sussmann reduction of θ, or None within the bracket."""
    lo, hi = _REDUCIBILITY_BRACKET
    if not reduction_reasons(arch, theta, hi):
        return None
    if reduction_reasons(arch, theta, lo):
        return lo, reduction_reasons(arch, theta, lo)[0]
    for _ in range(40):  # bisection in log scale: a factor 1.5 in 40 steps from 1e-12 to 10
        mid = math.sqrt(lo * hi)
        if reduction_reasons(arch, theta, mid):
            hi = mid
        else:
            lo = mid
    return hi, reduction_reasons(arch, theta, hi)[0]


def _check_truth(model, theta, seed) -> None:
    """Warn on stderr when a drawn θ* is nearly reducible or its information nearly singular."""
    problems = []
    near = _nearest_reducibility(model.architecture, theta)
    if near is not None and near[0] <= NEAR_REDUCIBLE_TOL:
        problems.append(f"nearly reducible: {near[1]} within {near[0]:.2g}")
    if model.n_params <= CHECK_MAX_PARAMS:
        X = np.random.default_rng(seed).standard_normal((CHECK_ROWS, model.architecture.n_inputs))
        cond = float(np.linalg.cond(model.compile().fisher(theta, X) / CHECK_ROWS))
        condition = f"information condition number {cond:.2g}"
        if not cond <= NEAR_SINGULAR_CONDITION:
            problems.append(condition)
    else:
        condition = f"information not checked ({model.n_params} parameters)"
    if problems:
        print(f"symmle: warning: the drawn truth θ* is close to non-identifiable "
              f"({'; '.join(problems)}; the 2-3-1 network's fixed θ* has a condition number of "
              f"about 6e2): estimates converge slowly and intervals under-cover. Draw another θ* "
              f"with --seed.", file=sys.stderr)
    else:
        nearest = f"nearest reducibility {near[0]:.2g} away" if near else "no reduction near"
        print(f"checked: {condition}, {nearest}")


def _print_truth(model, theta, origin) -> None:
    names = model.param_names
    print(f"true θ* ({origin}):")
    if len(theta) <= PRINT_MAX_PARAMS:
        cells = [f"{n}={v:.4g}" for n, v in zip(names, theta)]
        for i in range(0, len(cells), 6):
            print("  " + "  ".join(cells[i:i + 6]))
    else:
        print(f"  {len(theta)} values, |θ*| in [{np.min(np.abs(theta)):.3g}, "
              f"{np.max(np.abs(theta)):.3g}] (the JSON output holds them all)")


def _cmd_study(args):
    if args.plot:
        check_figure_path(args.plot)  # before any work, not after the study
    widths = None if args.arch is None else parse_widths(args.arch)
    if widths is None or widths == SEED_WIDTHS:
        if args.activation != "tanh":
            model = Model(mlp(*SEED_WIDTHS, activation=args.activation), Gaussian(sigma=0.5))
        else:
            model = seed_model()
        theta = SEED_THETA
        _print_truth(model, theta, "the fixed truth symmle.study.SEED_THETA")
    else:
        model = Model(mlp(*widths, activation=args.activation), Gaussian(sigma=0.5))
        theta = model.random_params(args.seed, scale=TRUTH_SCALE)
        _print_truth(model, theta, f"drawn by Model.random_params(seed={args.seed}, "
                                   f"scale={TRUTH_SCALE:g})")
        _check_truth(model, theta, args.seed)
    client = args.scheduler
    result = consistency_study(
        model, theta,
        sample_sizes=args.sizes or QUICK_SIZES,
        replications=args.reps or QUICK_REPS,
        n_starts=args.starts or QUICK_STARTS,
        rng=args.seed,
        n_jobs=args.jobs or (1 if client else "auto"),
        client=client,
        checkpoint=args.checkpoint,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(result)
    print(STUDY_LEGEND)
    if args.plot:
        result.plot(args.plot)
        print(f"figure written to {args.plot}")
    if args.json:
        result.to_json(args.json)
        print(f"result written to {args.json}")
    if args.csv:
        result.to_csv(args.csv)
        print(f"table written to {args.csv}")


def _cmd_lambda(args):
    widths, rng = parse_widths(args.arch), np.random.default_rng(args.seed)
    if args.true_rank is not None and (args.activation != "identity" or len(widths) != 3):
        raise SymmleValueError("--true-rank applies to a linear network with one hidden "
                               "layer: --activation identity and --arch M-H-N")
    special = args.true_rank is not None or args.true_zero
    if special and args.bias:
        raise SymmleValueError("--true-rank and --true-zero build the network without biases")
    bias = not special if args.bias is None else args.bias
    model = Model(mlp(*widths, activation=args.activation, bias=bias), Gaussian(sigma=args.sigma))
    if args.true_rank is not None:
        theta, where = rank_r_truth(widths, args.true_rank, rng), f"of rank {args.true_rank} (rank_r_truth)"
    elif args.true_zero:
        theta, where = np.zeros(model.n_params), "= 0 (the zero function)"
    elif args.theta:
        theta, where = read_theta(args.theta, model), f"read from {args.theta}"
    elif widths == SEED_WIDTHS and args.activation == "tanh" and bias:
        theta, where = SEED_THETA, "the fixed truth symmle.study.SEED_THETA"
    else:
        theta, where = model.random_params(args.seed, scale=TRUTH_SCALE), f"by random_params(seed={args.seed})"
    print(f"{model!r}{'' if bias else ' without biases'}, θ* {where}")
    rec = learning_coefficient_theory(model, theta)
    print(rec.summary(model.n_params) if rec else "λ: no exact value known for this truth; use --estimate")
    if args.estimate:
        inputs = args.inputs or ("uniform" if rec and rec.case.startswith("1-H-1") else "normal")
        X, y = simulate_truth(model, theta, args.n, inputs=inputs, rng=rng)
        est = learning_coefficient(model, X, y, theta=theta if args.method == "wbic" else None,
                                   method=args.method, rng=args.seed, n_chains=args.chains,
                                   n_warmup=args.draws, n_draws=args.draws,
                                   localization=args.localization, prior_scale=args.prior_scale)
        print(f"estimate ({inputs} inputs) {est.summary()}"
              + (f"; {est.estimate / float(rec.lambda_) - 1:+.1%} from λ" if rec else ""))


def _cmd_mermaid(args):
    print(mlp(*parse_widths(args.arch), activation=args.activation).to_mermaid(labels=args.labels))


_COMMANDS = {"derive": _cmd_derive, "symmetry": _cmd_symmetry, "identify": _cmd_identify,
             "fit": _cmd_fit, "study": _cmd_study, "lambda": _cmd_lambda,
             "mermaid": _cmd_mermaid}


def _format_warning(message, category, *args, **kwargs) -> str:
    """A warning as one line: ``symmle: NonIdentifiableWarning: ...``."""
    return f"symmle: {category.__name__}: {message}\n"


def main(argv=None) -> int:
    """Run the ``symmle`` command; returns the exit status.

    Warnings print as one line while the command runs (``warnings.formatwarning`` is
    restored on return, so calling `main` from Python leaves the caller's setting alone).
    """
    saved_format = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = saved_format


def _main(argv) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line message (or --help)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        _COMMANDS[args.command](args)
    except BrokenPipeError:  # e.g. `symmle mermaid | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (SymmleError, OSError) as exc:
        print(f"symmle: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("symmle: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
