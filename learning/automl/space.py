"""AutoML search spaces as plain data: model families and their hyperparameter ranges.

A space maps a *family* name to its hyperparameters; each hyperparameter is a
fixed value or one distribution written the way config.yaml can hold it::

    {"svm": {"C": {"loguniform": [0.1, 100]}, "gamma": {"loguniform": [0.001, 1]}},
     "knn": {"n_neighbors": {"randint": [1, 10]}},
     "torch_mlp": {"hidden_layers": {"choice": [[64], [128, 64]]}, "epochs": 30}}

Distributions: ``uniform``, ``loguniform`` ([low, high]), ``randint`` ([low, high),
high exclusive, like NumPy and Tune), ``choice`` (a list).  A family names a model
type and a framework (:data:`FAMILIES`); the hyperparameters of a neural network
that drive its training (epochs, batch size, learning rate) go to
:class:`learning.models.TrainingConfig`, the rest to the model.  Nothing here
imports Ray or an ML framework: :mod:`learning.automl.search` turns a space into Tune's.

Example:
    >>> space = parse_space({"svm": {"C": {"loguniform": [0.1, 100]}, "kernel": "rbf"}})
    >>> space["svm"]["C"]
    Dist(kind='loguniform', args=(0.1, 100.0))
    >>> split_params("torch_mlp", {"epochs": 20, "hidden_layers": [32], "learning_rate": 0.01})
    ({'hidden_layers': [32]}, {'epochs': 20, 'learning_rate': 0.01})
    >>> parse_space({"svm": {"C": {"loguniform": [0, 1]}}})
    Traceback (most recent call last):
    ...
    learning.errors.LearningError: space svm.C: loguniform needs 0 < low < high, got [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from learning.errors import LearningError, UnknownNameError

__all__ = ["DEFAULT_SPACE", "FAMILIES", "TRAINING_KEYS", "Dist", "Space", "family_of",
           "grid_points", "parse_space", "split_params"]

#: family -> (model type, framework), values of :mod:`learning.models`' enums.
FAMILIES: dict[str, tuple[str, str]] = {
    "svm": ("svm", "sklearn"),
    "knn": ("knn", "sklearn"),
    "logistic_regression": ("logistic_regression", "sklearn"),
    "linear_regression": ("linear_regression", "sklearn"),
    "random_forest": ("random_forest", "sklearn"),
    "gradient_boosting": ("gradient_boosting", "sklearn"),
    "mlp": ("neural_network", "sklearn"),
    "torch_mlp": ("neural_network", "pytorch"),
    "tf_mlp": ("neural_network", "tensorflow"),
}

#: Hyperparameters that configure training (TrainingConfig) rather than the model.
TRAINING_KEYS = frozenset({"epochs", "batch_size", "learning_rate", "validation_split"})
_NN_FRAMEWORKS = frozenset({"pytorch", "tensorflow"})
_KINDS = ("uniform", "loguniform", "randint", "choice")


@dataclass(frozen=True)
class Dist:
    """One distribution: ``kind`` in uniform, loguniform, randint, choice."""

    kind: str
    args: tuple[Any, ...]


Space = dict[str, dict[str, Any]]  # family -> name -> Dist or fixed value

#: A classification space for small tabular data (digits, iris, wine...).
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "svm": {"C": {"loguniform": [0.1, 100.0]}, "gamma": {"loguniform": [0.001, 1.0]}},
    "knn": {"n_neighbors": {"randint": [1, 12]}, "weights": {"choice": ["uniform", "distance"]}},
    "logistic_regression": {"C": {"loguniform": [0.01, 100.0]}, "max_iter": 2000},
    "random_forest": {"n_estimators": {"randint": [50, 300]},
                      "max_depth": {"choice": [None, 10, 20]}, "random_state": 0},
}


def family_of(name: str) -> tuple[str, str]:
    """(model type, framework) of a family; unknown names get a did-you-mean."""
    if name not in FAMILIES:
        raise UnknownNameError("model family", name, sorted(FAMILIES))
    return FAMILIES[name]


def _dist(where: str, spec: Mapping[str, Any]) -> Dist:
    if len(spec) != 1 or next(iter(spec)) not in _KINDS:
        raise LearningError(f"space {where}: a distribution is one of {list(_KINDS)} "
                            f"with its arguments, got {dict(spec)}")
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(args, list | tuple) or not args:
            raise LearningError(f"space {where}: choice needs a non-empty list, got {args!r}")
        return Dist(kind, tuple(args))
    if (not isinstance(args, list | tuple) or len(args) != 2
            or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)):
        raise LearningError(f"space {where}: {kind} needs [low, high], got {args!r}")
    low, high = args
    if kind == "loguniform" and not 0 < low < high:
        raise LearningError(f"space {where}: loguniform needs 0 < low < high, got {list(args)}")
    if kind == "randint" and not (int(low) == low and int(high) == high and low < high):
        raise LearningError(f"space {where}: randint needs integers low < high, "
                            f"got {list(args)}")
    if not low < high:
        raise LearningError(f"space {where}: {kind} needs low < high, got {list(args)}")
    if kind == "randint":
        return Dist(kind, (int(low), int(high)))
    return Dist(kind, (float(low), float(high)))


def parse_space(space: Mapping[str, Any] | None) -> Space:
    """Validate a space (None: :data:`DEFAULT_SPACE`); errors name family and key."""
    if space is None:
        space = DEFAULT_SPACE
    if not isinstance(space, Mapping) or not space:
        raise LearningError(f"space must map model families to hyperparameters, got {space!r}")
    out: Space = {}
    for family, params in space.items():
        family_of(family)
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise LearningError(f"space {family}: hyperparameters must be a mapping, "
                                f"got {params!r}")
        out[family] = {key: _dist(f"{family}.{key}", value) if isinstance(value, Mapping)
                       else value for key, value in params.items()}
    return out


def split_params(family: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, training config) of a sampled configuration of ``family``."""
    _, framework = family_of(family)
    if framework not in _NN_FRAMEWORKS:
        return dict(params), {}
    model = {k: v for k, v in params.items() if k not in TRAINING_KEYS}
    training = {k: v for k, v in params.items() if k in TRAINING_KEYS}
    return model, training


def grid_points(dist: Dist, n: int) -> list[Any]:
    """``n`` evenly spread values of a distribution (log-spaced for loguniform).

    Used to build the equivalent grid for scikit-learn's GridSearchCV.

    Example:
        >>> grid_points(Dist("loguniform", (0.1, 10.0)), 3)
        [0.1, 1.0, 10.0]
        >>> grid_points(Dist("randint", (1, 12)), 4)
        [1, 4, 8, 11]
    """
    if dist.kind == "choice":
        return list(dist.args)
    low, high = dist.args
    if n < 2:
        raise LearningError(f"grid_points needs n >= 2, got {n}")
    if dist.kind == "randint":
        step = (high - 1 - low) / (n - 1)
        return sorted({round(low + i * step) for i in range(n)})
    if dist.kind == "loguniform":
        a, b = math.log10(low), math.log10(high)
        return [float(f"{10 ** (a + i * (b - a) / (n - 1)):.6g}") for i in range(n)]
    return [float(f"{low + i * (high - low) / (n - 1):.6g}") for i in range(n)]
