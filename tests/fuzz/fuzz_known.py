"""Known violations in modules that others are editing (issue 17 §2: symmle/compiled,
symmle/families; symmle/fitting, symmle/identifiability).

Each predicate names a class of violation that has a strict-xfail reproduction in
``test_known_violations.py``; the fuzz tests tally a matching outcome as ``known`` instead of
failing. When the owners fix a class, its reproduction starts passing (XPASS fails the strict
xfail): delete the reproduction's mark and the predicate here, and the fuzz suite holds the
class to the contract again.
"""

from __future__ import annotations

import traceback



def _where(exc) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/symmle/" in f.filename]
    return frames[-1].filename.split("/symmle/")[-1] if frames else ""


#: The modules others are still editing (issue 17 §2: the compiled program and kernels, the
#: discrete families, the activations; the lead's information rule): a violation raised there
#: inside a fit or an identifiability report is theirs.
_OTHERS = ("compiled/_program.py", "compiled/_numba_", "families/_discrete.py", "activations.py",
           "_information.py")

#: The symptom in a fit of the Categorical weight's cancellation (issue 17 §2, families): the
#: information loses PSD-ness and identified parameters get NaN standard errors.
_CATEGORICAL_SYMPTOMS = ("NaN standard errors for identified parameters", "covariance not PSD")


def _others(kind, cls, failure):
    where = _where(failure) if isinstance(failure, BaseException) else ""
    if where.startswith(_OTHERS):
        return f"{kind}: {type(failure).__name__} in {where}"
    if cls in ("wrong", "nan") and isinstance(failure, AssertionError) and str(
            failure).startswith(_CATEGORICAL_SYMPTOMS):
        return f"{kind}: {str(failure).splitlines()[0][:60]}"
    return None


def identifiability(cls, failure):
    """A violation raised inside a module others are editing (`_OTHERS`) during an
    identifiability call, or a symptom of the Categorical weight's cancellation."""
    return _others("identifiability", cls, failure)


def fitting(cls, failure):
    """A violation raised inside a module others are editing (`_OTHERS`) during a fit or a
    `FitResult` method, or a symptom of the Categorical weight's cancellation."""
    return _others("fitting", cls, failure)


def cli(argv):
    """The known-violation predicate of a CLI call: ``symmle derive`` of a network with more
    than a few dozen parameters and ``--what fisher``/``hessian`` derives sympy's P×P matrix
    without a bound (``derive --arch 9-9-9 --what fisher``: over 40 s; issue 17 §6, symmle/cli.py
    and symmle/model.py), reproduced by ``test_cli_derive_of_a_large_fisher_is_bounded``;
    otherwise the fitting predicate."""

    def known(cls, failure):
        if cls == "hang" and argv and argv[0] == "derive":
            return "cli: derive of a large network unbounded"
        return fitting(cls, failure)

    return known
