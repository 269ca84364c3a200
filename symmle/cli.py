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

from . import __version__
from ._checks import check_int
from .activations import activation_names
from .architecture import mlp, parse_widths
from .data import load_csv
from .errors import SymmleError, SymmleValueError
from .families import Gaussian, family_from_name
from .fitting import fit
from .identifiability import identifiability, regularity
from .model import Model
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

__all__ = ["main", "build_parser"]

_FAMILIES = ("gaussian", "bernoulli", "poisson", "categorical")


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

#: the command line's bounds: far above any real use, low enough that a typo is refused before
#: any work (the study checks the same bounds).
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


def _arch_args(p, *, family=True, default_arch="2-3-1"):
    p.add_argument("--arch", default=default_arch, help="layer widths, e.g. 2-3-1 (default %(default)s)")
    p.add_argument("--activation", default="tanh", choices=activation_names(),
                   help="hidden activation (default %(default)s)")
    if family:
        p.add_argument("--family", default="gaussian", choices=_FAMILIES,
                       help="output distribution (default %(default)s)")
        p.add_argument("--sigma", type=_positive_float, default=None,
                       help="known noise sd for gaussian (default: estimated, log_sigma in θ)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symmle`` command."""
    parser = _Parser(prog="symmle", description="Symbolic maximum likelihood for neural networks.")
    parser.add_argument("--version", action="version", version=f"symmle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("derive", help="print the symbolic log-likelihood, score or Fisher information")
    _arch_args(p)
    p.add_argument("--what", default="loglik", choices=("loglik", "score", "hessian", "fisher", "output"))
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of plain text")

    p = sub.add_parser("symmetry", help="the discrete symmetry group and continuous symmetries")
    _arch_args(p, family=False)

    p = sub.add_parser("identify", help="identifiability report and regularity conditions")
    _arch_args(p)
    p.add_argument("--exact", action="store_true", help="exact Jacobian rank with sympy")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed (default 0)")

    p = sub.add_parser("fit", help="fit a network to a CSV file by maximum likelihood")
    _arch_args(p)
    p.add_argument("--data", required=True, help="CSV file with a header row")
    p.add_argument("--target", default="y", help="name of the response column (default y)")
    p.add_argument("--features", default=None,
                   help="comma-separated input columns (default: every column but the target)")
    p.add_argument("--starts", type=_starts, default=4, help="random starts (default 4)")
    p.add_argument("--method", default=None, choices=("scoring", "lm", "trf", "trust-exact"),
                   help="optimiser (default: damped Fisher scoring)")
    p.add_argument("--json", default=None, help="also write the result to this JSON path")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed (default 0)")

    p = sub.add_parser("study", help="the consistency study (the seed's experiment)")
    p.add_argument("--arch", default=None,
                   help="layer widths (default: the seed's 2-3-1 network with its θ*); another "
                        "architecture gets a random truth θ*, which may be nearly reducible")
    p.add_argument("--activation", default="tanh", choices=activation_names())
    p.add_argument("--sizes", type=_sizes, default=None, help="sample sizes, e.g. 100,1000,10000")
    p.add_argument("--reps", type=_positive_int, default=None, help="replications per size")
    p.add_argument("--starts", type=_starts, default=None, help="random starts per fit")
    p.add_argument("--jobs", type=_jobs, default=None, help="parallel processes (joblib)")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run on")
    p.add_argument("--plot", default=None, help="write the figure to this PNG path")
    p.add_argument("--json", default=None, help="write the result to this JSON path")
    p.add_argument("--csv", default=None, help="write the table to this CSV path")
    p.add_argument("--checkpoint", default=None, help="JSON-lines file to resume from")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("mermaid", help="print the network as a mermaid diagram")
    _arch_args(p, family=False)
    return parser


def _model(args) -> Model:
    arch = mlp(*parse_widths(args.arch), activation=args.activation)
    if args.family == "gaussian":
        family = Gaussian(sigma=args.sigma)
    else:
        if args.sigma is not None:
            raise SymmleValueError("--sigma only applies to --family gaussian")
        family = family_from_name(args.family)
    return Model(arch, family)


def _cmd_derive(args):
    model = _model(args)
    if args.latex:
        print(model.latex(args.what))
        return
    names = model.param_names
    print(f"# {model!r}: per-sample {args.what}")
    if args.what == "loglik":
        print(f"loglik = {model.loglik}")
    elif args.what == "output":
        for i, e in enumerate(model.eta):
            print(f"f{i + 1}(x) = {e}")
    elif args.what == "score":
        for n, e in zip(names, model.score):
            print(f"d loglik / d {n} = {e}")
    else:
        M = getattr(model, args.what)
        for i in range(M.rows):
            for j in range(i, M.cols):
                if M[i, j] != 0:
                    print(f"{args.what}[{names[i]}, {names[j]}] = {M[i, j]}")


def _cmd_symmetry(args):
    print(symmetry_group(mlp(*parse_widths(args.arch), activation=args.activation)))


def _cmd_identify(args):
    model = _model(args)
    report = identifiability(model, rng=args.seed, exact=args.exact)
    print(report)
    print()
    print(regularity(model, rng=args.seed))


def _cmd_fit(args):
    model = _model(args)
    targets = args.target.split(",")
    features = [f.strip() for f in args.features.split(",")] if args.features else None
    X, y, _ = load_csv(args.data, target=targets if len(targets) > 1 else targets[0],
                       features=features)
    options = {"method": args.method} if args.method else {}
    res = fit(model, X, y, n_starts=args.starts, rng=args.seed, **options)
    print(res.summary())
    if args.json:
        res.to_json(args.json)
        print(f"result written to {args.json}")


def _cmd_study(args):
    if args.arch is None:
        if args.activation != "tanh":
            model = Model(mlp(2, 3, 1, activation=args.activation), Gaussian(sigma=0.5))
            theta = SEED_THETA
        else:
            model, theta = seed_model(), SEED_THETA
    else:
        model = Model(mlp(*parse_widths(args.arch), activation=args.activation), Gaussian(sigma=0.5))
        theta = model.random_params(args.seed, scale=2.0)
    client = args.scheduler
    if args.plot:
        check_figure_path(args.plot)  # before the study runs, not after
    result = consistency_study(
        model, theta,
        sample_sizes=args.sizes or QUICK_SIZES,
        replications=args.reps or QUICK_REPS,
        n_starts=args.starts or QUICK_STARTS,
        rng=args.seed,
        n_jobs=args.jobs or (1 if client else 2),
        client=client,
        checkpoint=args.checkpoint,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(result)
    if args.plot:
        result.plot(args.plot)
        print(f"figure written to {args.plot}")
    if args.json:
        result.to_json(args.json)
        print(f"result written to {args.json}")
    if args.csv:
        result.to_csv(args.csv)
        print(f"table written to {args.csv}")


def _cmd_mermaid(args):
    print(mlp(*parse_widths(args.arch), activation=args.activation).to_mermaid())


_COMMANDS = {"derive": _cmd_derive, "symmetry": _cmd_symmetry, "identify": _cmd_identify,
             "fit": _cmd_fit, "study": _cmd_study, "mermaid": _cmd_mermaid}


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
