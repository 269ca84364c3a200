"""symmle: symbolic-first maximum-likelihood estimation of neural networks.

The network is a graph whose weights are sympy symbols; the likelihood, score,
Hessian and Fisher information are exact sympy expressions, compiled to
vectorised numpy for fitting; and the parameter symmetries that make neural
networks non-identifiable are computed as an exact group.
"""

from importlib import metadata as _metadata

from .activations import Activation, activation_names, get_activation
from .architecture import Architecture, mlp, parse_widths
from .compiled import CompiledModel
from .errors import (
    ArchitectureError,
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    MissingDependencyError,
    SymmleResourceError,
    NonIdentifiableWarning,
    ParamsError,
    PersistenceError,
    SymmleError,
    SymmleTypeError,
    SymmleValueError,
    SymmleWarning,
    UnknownActivationError,
)
from .families import Bernoulli, Categorical, Family, Gaussian, Poisson, family_from_name
from .fitting import (
    FitResult,
    FitStart,
    Prediction,
    TestResult,
    compare,
    fit,
    input_relevance,
    lr_test,
)
from .identifiability import (
    IdentifiabilityReport,
    OptimaClusters,
    Profile,
    RegularityCondition,
    RegularityTable,
    cluster_optima,
    identifiability,
    is_reducible,
    profile,
    profile_conf_int,
    reduce,
    regularity,
)
from .model import Model
from .singular import (
    LearningCoefficient,
    LearningCoefficientEstimate,
    learning_coefficient,
    learning_coefficient_theory,
    odd_1h1_learning_coefficient,
    population_kl,
    population_kl_function,
    rrr_learning_coefficient,
)
from .study import SingularStudyResult, StudyResult, consistency_study, singular_study
from .symmetry import (
    ParamTransform,
    SymmetryGroup,
    align,
    canonicalize,
    continuous_symmetries,
    orbit_distance,
    symmetry_group,
)

try:
    __version__ = _metadata.version("symmle")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Activation",
    "activation_names",
    "get_activation",
    "Architecture",
    "mlp",
    "parse_widths",
    "CompiledModel",
    "Model",
    "Family",
    "Gaussian",
    "Bernoulli",
    "Poisson",
    "Categorical",
    "family_from_name",
    "fit",
    "FitResult",
    "FitStart",
    "Prediction",
    "TestResult",
    "lr_test",
    "input_relevance",
    "compare",
    "identifiability",
    "IdentifiabilityReport",
    "is_reducible",
    "reduce",
    "regularity",
    "RegularityTable",
    "RegularityCondition",
    "profile",
    "Profile",
    "profile_conf_int",
    "cluster_optima",
    "OptimaClusters",
    "consistency_study",
    "StudyResult",
    "singular_study",
    "SingularStudyResult",
    "rrr_learning_coefficient",
    "odd_1h1_learning_coefficient",
    "learning_coefficient_theory",
    "learning_coefficient",
    "LearningCoefficient",
    "LearningCoefficientEstimate",
    "population_kl",
    "population_kl_function",
    "symmetry_group",
    "SymmetryGroup",
    "ParamTransform",
    "continuous_symmetries",
    "canonicalize",
    "align",
    "orbit_distance",
    "SymmleError",
    "SymmleValueError",
    "SymmleTypeError",
    "ArchitectureError",
    "UnknownActivationError",
    "DataError",
    "ParamsError",
    "ConvergenceError",
    "PersistenceError",
    "MissingDependencyError",
    "SymmleResourceError",
    "SymmleWarning",
    "NonIdentifiableWarning",
    "ConvergenceWarning",
]
