"""What a model is (family, framework) and how it is trained (:class:`TrainingConfig`).

Families and frameworks are string enums (``StrEnum``), so ``"svm"`` and ``ModelType.SVM`` are
interchangeable; :func:`parse_model_type` and :func:`parse_framework` accept either
(case-insensitive, framework aliases such as ``"torch"`` and ``"keras"`` included)
and answer an unknown name with a did-you-mean.

Example:
    >>> parse_model_type("Random_Forest") is ModelType.RANDOM_FOREST
    True
    >>> parse_framework("torch") is MLFramework.PYTORCH
    True
    >>> TrainingConfig(epochs=5).batch_size
    32
    >>> TrainingConfig(epochs=0)
    Traceback (most recent call last):
    ...
    learning.models.errors.ModelError: TrainingConfig.epochs must be an int >= 1, got 0
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from learning.models.errors import ModelError, UnknownModelNameError

__all__ = [
    "TASKS",
    "MLFramework",
    "ModelType",
    "TrainingConfig",
    "check_task",
    "parse_framework",
    "parse_model_type",
]

TASKS = ("classification", "regression")


class ModelType(StrEnum):
    """A model family."""

    NEURAL_NETWORK = "neural_network"
    LOGISTIC_REGRESSION = "logistic_regression"
    LINEAR_REGRESSION = "linear_regression"
    RANDOM_FOREST = "random_forest"
    GRADIENT_BOOSTING = "gradient_boosting"
    SVM = "svm"
    KNN = "knn"


class MLFramework(StrEnum):
    """The library a model is built with."""

    SKLEARN = "sklearn"
    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"


_FRAMEWORK_ALIASES = {"scikit-learn": "sklearn", "scikit_learn": "sklearn", "torch": "pytorch",
                      "tf": "tensorflow", "keras": "tensorflow"}


def parse_model_type(value: ModelType | str) -> ModelType:
    """The :class:`ModelType` named by ``value`` (its value or name, any case)."""
    if isinstance(value, ModelType):
        return value
    key = str(value).strip().lower()
    try:
        return ModelType(key)
    except ValueError:
        known = [t.value for t in ModelType]
        raise UnknownModelNameError("model type", str(value), known) from None


def parse_framework(value: MLFramework | str) -> MLFramework:
    """The :class:`MLFramework` named by ``value`` (value, name or alias, any case)."""
    if isinstance(value, MLFramework):
        return value
    key = str(value).strip().lower()
    try:
        return MLFramework(_FRAMEWORK_ALIASES.get(key, key))
    except ValueError:
        known = [f.value for f in MLFramework] + sorted(_FRAMEWORK_ALIASES)
        raise UnknownModelNameError("framework", str(value), known) from None


def check_task(model_type: ModelType, framework: MLFramework, task: object,
               tasks: tuple[str, ...] = TASKS) -> str:
    """``task`` if it is one of ``tasks`` (those ``model_type`` can do with ``framework``).

    Example:
        >>> check_task(ModelType.LOGISTIC_REGRESSION, MLFramework.SKLEARN, "regression",
        ...            ("classification",))
        Traceback (most recent call last):
        ...
        learning.models.errors.ModelError: config key 'task' of logistic_regression (sklearn) \
must be 'classification', got 'regression'
    """
    if task not in tasks:
        allowed = " or ".join(repr(t) for t in tasks)
        raise ModelError(f"config key 'task' of {model_type.value} ({framework.value}) must be "
                         f"{allowed}, got {task!r}")
    return str(task)


_DEVICE = re.compile(r"(auto|cpu|(cuda|gpu)(:\d+)?)", re.IGNORECASE)


def _int_at_least(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ModelError(f"TrainingConfig.{name} must be an int >= {low}, got {value!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """How to train: epochs and batches (neural networks), seed, device, validation split.

    Attributes:
        epochs: passes over the training data (neural networks; scikit-learn's MLP
            takes it as ``max_iter`` unless its config sets one).
        batch_size: samples per gradient step (neural networks).
        learning_rate: the optimiser's step size (neural networks).
        validation_split: fraction of the training data held out, after a seeded
            shuffle, to report validation metrics; 0 holds out nothing.
        seed: seeds weight initialisation, shuffling and dropout (and scikit-learn's
            ``random_state`` unless the model config sets one).
        device: ``"auto"`` (a GPU when the framework sees one), ``"cpu"``, or a GPU
            as ``"cuda"``, ``"cuda:N"``, ``"gpu"`` or ``"gpu:N"``.
        verbose: log one line per epoch at INFO level.
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    validation_split: float = 0.0
    seed: int = 0
    device: str = "auto"
    verbose: bool = False

    def __post_init__(self) -> None:
        _int_at_least("epochs", self.epochs, 1)
        _int_at_least("batch_size", self.batch_size, 1)
        _int_at_least("seed", self.seed, 0)
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not (
                math.isfinite(lr) and lr > 0):
            raise ModelError(
                f"TrainingConfig.learning_rate must be a finite number > 0, got {lr!r}")
        split = self.validation_split
        if isinstance(split, bool) or not isinstance(split, int | float) or not 0 <= split < 1:
            raise ModelError(
                f"TrainingConfig.validation_split must be a number in [0, 1), got {split!r}")
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device):
            raise ModelError("TrainingConfig.device must be 'auto', 'cpu', 'cuda[:N]' or "
                             f"'gpu[:N]', got {self.device!r}")
        if not isinstance(self.verbose, bool):
            raise ModelError(f"TrainingConfig.verbose must be a bool, got {self.verbose!r}")

    def gpu_index(self) -> int | None:
        """The GPU asked for explicitly (``"cuda:1"`` gives 1, ``"gpu"`` 0), else ``None``.

        Example:
            >>> TrainingConfig(device="GPU:1").gpu_index(), TrainingConfig().gpu_index()
            (1, None)
        """
        device = self.device.lower()
        if device in ("auto", "cpu"):
            return None
        _, _, index = device.partition(":")
        return int(index) if index else 0
