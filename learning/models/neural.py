"""The framework-free half of the PyTorch and TensorFlow networks.

:class:`NeuralModel` checks the config, encodes labels, standardises inputs (and
regression targets), shuffles with a seeded generator, runs the epochs and
records the history; a framework module supplies only the network: build it,
train one epoch over a given order, run it forward, save and load it.  Both
frameworks thus see the same data in the same order and report the same metrics.

A ``neural_network`` has hidden layers; ``logistic_regression`` and
``linear_regression`` are the same network without any (softmax regression and
least squares, with optional weight decay).

The sizes of the input and output layers come from the data at the first fit,
unless the config declares them: ``input_shape`` (a tuple of ints; its product is
the number of features) and, for a classifier, ``num_classes``.  Declared, they
fix the network's size before any data is seen (so :attr:`NeuralModel.n_parameters`
is known at once) and the data at fit must agree: ``X`` has that many features,
``y`` at most that many classes.  Integer labels all in ``0..num_classes-1`` are
read as class indices, as Keras reads them, so every index is a class whether or
not the training data shows it; other labels are sorted as without
``num_classes``, and the outputs beyond them are never predicted.

Example:
    >>> task, params = check_nn_config(ModelType.NEURAL_NETWORK, MLFramework.PYTORCH,
    ...                                {"hidden_layers": [32, 16], "dropout": 0.1})
    >>> task, params["hidden_layers"], params["activation"]
    ('classification', [32, 16], 'relu')
    >>> check_nn_config(ModelType.NEURAL_NETWORK, MLFramework.PYTORCH, {"hiden_layers": [8]})
    Traceback (most recent call last):
    ...
    learning.models.errors.UnknownModelNameError: unknown neural_network (pytorch) config key \
'hiden_layers'; did you mean 'hidden_layers'? (known: activation, dropout, hidden_layers, \
input_shape, num_classes, standardize, task, weight_decay)
    >>> _, params = check_nn_config(ModelType.NEURAL_NETWORK, MLFramework.TENSORFLOW,
    ...                             {"input_shape": [28, 28], "num_classes": 10})
    >>> params["input_shape"], params["num_classes"], n_parameters([784, 64, 10])
    ((28, 28), 10, 50890)
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from learning.models.base import Model, ValidationData
from learning.models.config import TASKS, MLFramework, ModelType, TrainingConfig, check_task
from learning.models.data import LabelCodec, Standardizer
from learning.models.errors import ModelError, UnknownModelNameError

__all__ = ["ACTIVATIONS", "NN_DEFAULTS", "NeuralModel", "check_nn_config", "modest_threads",
           "n_parameters", "softmax"]

logger = logging.getLogger(__name__)

ACTIVATIONS = ("relu", "tanh")
NN_DEFAULTS: dict[str, Any] = {"hidden_layers": [64], "activation": "relu", "dropout": 0.0,
                               "task": "classification", "weight_decay": 0.0,
                               "standardize": True, "input_shape": None, "num_classes": None}
"""A network's config keys and their defaults (``None`` sizes: taken from the data at fit)."""
_LINEAR_KEYS = {ModelType.LOGISTIC_REGRESSION: ("task", "weight_decay", "standardize",
                                                "input_shape", "num_classes"),
                ModelType.LINEAR_REGRESSION: ("task", "weight_decay", "standardize",
                                              "input_shape")}
_LINEAR_TASK = {ModelType.LOGISTIC_REGRESSION: "classification",
                ModelType.LINEAR_REGRESSION: "regression"}


def _number(key: str, where: str, value: object, low: float, high: float | None = None) -> float:
    if not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) \
            and value >= low and (high is None or value < high):
        return float(value)
    bound = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
    raise ModelError(f"config key {key!r} of {where} must be a number {bound}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _check_sizes(where: str, task: str, params: dict[str, Any]) -> None:
    """Check and normalise ``input_shape`` (to a tuple) and ``num_classes`` (to an int)."""
    shape = params.get("input_shape")
    if shape is not None:
        if not isinstance(shape, list | tuple) or not shape or not all(
                _is_int(d) and d >= 1 for d in shape):
            raise ModelError(f"config key 'input_shape' of {where} must be a tuple or list of "
                             f"ints >= 1, such as (784,), or None, got {shape!r}")
        params["input_shape"] = tuple(int(d) for d in shape)
    classes = params.get("num_classes")
    if classes is not None:
        if not _is_int(classes) or classes < 2:
            raise ModelError(f"config key 'num_classes' of {where} must be an int >= 2, "
                             f"or None, got {classes!r}")
        if task != "classification":
            raise ModelError(f"config key 'num_classes' of {where} is for classification; "
                             f"this network's task is {task!r}")
        params["num_classes"] = int(classes)


def n_parameters(widths: list[int]) -> int:
    """Weights and biases of a stack of dense layers of ``widths`` (input first).

    Example:
        >>> n_parameters([4, 3, 2])  # (4 + 1) * 3 + (3 + 1) * 2
        23
    """
    return sum((a + 1) * b for a, b in itertools.pairwise(widths))


def check_nn_config(model_type: ModelType, framework: MLFramework,
                    config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(task, params)``: ``config`` checked, with defaults filled in."""
    where = f"{model_type.value} ({framework.value})"
    if model_type is ModelType.NEURAL_NETWORK:
        defaults = dict(NN_DEFAULTS)
    else:
        defaults = ({k: NN_DEFAULTS[k] for k in _LINEAR_KEYS[model_type]}
                    | {"task": _LINEAR_TASK[model_type]})
    for key in config:
        if key not in defaults:
            raise UnknownModelNameError(f"{where} config key", str(key), sorted(defaults))
    params = {**defaults, **config}
    tasks = TASKS if model_type is ModelType.NEURAL_NETWORK else (_LINEAR_TASK[model_type],)
    task = check_task(model_type, framework, params["task"], tasks)
    params["weight_decay"] = _number("weight_decay", where, params["weight_decay"], 0.0)
    if not isinstance(params["standardize"], bool):
        raise ModelError(f"config key 'standardize' of {where} must be a bool, "
                         f"got {params['standardize']!r}")
    _check_sizes(where, task, params)
    if model_type is ModelType.NEURAL_NETWORK:
        layers = params["hidden_layers"]
        if not isinstance(layers, list | tuple) or not all(
                isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in layers):
            raise ModelError(f"config key 'hidden_layers' of {where} must be a list of ints "
                             f">= 1, got {layers!r}")
        params["hidden_layers"] = [int(w) for w in layers]
        if params["activation"] not in ACTIVATIONS:
            raise ModelError(f"config key 'activation' of {where} must be one of "
                             f"{', '.join(ACTIVATIONS)}, got {params['activation']!r}")
        params["dropout"] = _number("dropout", where, params["dropout"], 0.0, 1.0)
    return task, params


def modest_threads() -> int:
    """Threads for a framework's CPU kernels: ``OMP_NUM_THREADS`` if set, else half the
    usable cores, between 1 and 8.

    Small networks gain nothing from more, and a framework spinning a thread per
    core on a busy node (other agents, other trials) slows everything down by an
    order of magnitude.

    Example:
        >>> 1 <= modest_threads() <= 8
        True
    """
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, (cores or 2) // 2))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably.

    Example:
        >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).round(3).tolist()
        [[0.5, 0.5], [1.0, 0.0]]
    """
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True))


class NeuralModel(Model):
    """A feed-forward network; subclasses provide the framework hooks at the end."""

    incremental = True

    def __init__(self, model_type: ModelType, task: str, params: Mapping[str, Any]) -> None:
        super().__init__(model_type, task, params)
        if isinstance(self.params.get("input_shape"), list):  # as meta.json keeps it
            self.params["input_shape"] = tuple(self.params["input_shape"])
        self.x_scaler: Standardizer | None = None
        self.y_scaler: Standardizer | None = None
        self.epochs_trained = 0

    @classmethod
    def from_config(cls, model_type: ModelType, config: Mapping[str, Any]) -> NeuralModel:
        return cls(model_type, *check_nn_config(model_type, cls.framework, config))

    @classmethod
    def _create(cls, model_type: ModelType, task: str, params: Mapping[str, Any]) -> NeuralModel:
        return cls(model_type, task, params)

    @property
    def hidden_layers(self) -> list[int]:
        """Widths of the hidden layers (none for the linear families)."""
        return list(self.params.get("hidden_layers", []))

    @property
    def input_size(self) -> int | None:
        """Features the config declares (the product of ``input_shape``), else ``None``."""
        shape = self.params.get("input_shape")
        return math.prod(shape) if shape is not None else None

    @property
    def n_outputs(self) -> int:
        """Logits per sample (``num_classes``, else one per class seen at fit), or 1 for
        regression."""
        if self.task != "classification":
            return 1
        declared = self.params.get("num_classes")
        return int(declared) if declared is not None else len(self._fitted_codec().classes)

    @property
    def n_parameters(self) -> int | None:
        """Weights and biases of the network: known once fitted, or before when the config
        declares ``input_shape`` (and ``num_classes``, for a classifier)."""
        n_in = self.n_features if self.n_features is not None else self.input_size
        declared = self.task != "classification" or self.params.get("num_classes") is not None
        if n_in is None or not (declared or self.codec is not None):
            return None
        return n_parameters([n_in, *self.hidden_layers, self.n_outputs])

    def check_fit_data(self, X: np.ndarray, y: np.ndarray,
                       names: tuple[str, str] = ("X", "y")) -> None:
        """Raise a :class:`ModelError` if ``X`` or ``y`` contradict ``input_shape`` or
        ``num_classes``, naming the key, what it expects and what the data has.

        Example:
            >>> from learning.models import create_model
            >>> net = create_model("neural_network", "torch", {"input_shape": (3,)})
            >>> net.check_fit_data(np.zeros((4, 2)), np.array([0, 1, 0, 1]),
            ...                    ("X_train", "y_train"))
            Traceback (most recent call last):
            ...
            learning.models.errors.ModelError: input_shape (3,) expects 3 features, X_train has 2
        """
        size = self.input_size
        if size is not None and X.shape[1] != size:
            raise ModelError(f"input_shape {self.params['input_shape']} expects {size} "
                             f"features, {names[0]} has {X.shape[1]}")
        declared = self.params.get("num_classes")
        if declared is not None and self.task == "classification":
            try:
                found = np.unique(y)
            except TypeError as exc:
                raise ModelError(f"{names[1]} mixes labels that cannot be ordered: "
                                 f"{exc}") from exc
            if found.shape[0] > declared:
                raise ModelError(f"num_classes {declared} expects at most {declared} classes, "
                                 f"{names[1]} has {found.shape[0]}")

    def _label_codec(self, y: np.ndarray) -> LabelCodec:
        declared = self.params.get("num_classes")
        if declared is not None and y.dtype.kind in "iu" and y.min() >= 0 \
                and y.max() < declared:
            dtype = np.promote_types(y.dtype, np.min_scalar_type(declared - 1))
            return LabelCodec(np.arange(declared, dtype=dtype))
        return LabelCodec.fit(y)

    # -- training -------------------------------------------------------------------------------

    def _fit(self, X: np.ndarray, y: np.ndarray, training: TrainingConfig,
             validation: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
        self._setup(X, y, training)
        return self._train(X, y, training.epochs, training, validation)

    def partial_fit_epochs(self, X: Any, y: Any, epochs: int,
                           training: TrainingConfig | None = None, *,
                           validation_data: ValidationData | None = None) -> dict[str, Any]:
        """Train ``epochs`` more epochs, keeping weights and optimiser state.

        An unfitted model is set up first, as by :meth:`fit`.  The history covers
        these epochs only; its ``epochs`` is the total trained so far.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ModelError(f"epochs must be an int >= 1, got {epochs!r}")
        training = training or TrainingConfig()
        X_arr, y_arr, val = self._prepare(X, y, training, validation_data)
        if not self.fitted:
            self._setup(X_arr, y_arr, training)
        elif X_arr.shape[1] != self.n_features:
            raise ModelError(f"X has {X_arr.shape[1]} features but the model was fitted with "
                             f"{self.n_features}")
        return self._train(X_arr, y_arr, epochs, training, val)

    def _setup(self, X: np.ndarray, y: np.ndarray, training: TrainingConfig) -> None:
        self.check_fit_data(X, y)
        self.n_features = None
        self.codec = self._label_codec(y) if self.task == "classification" else None
        standardize = self.params["standardize"]
        self.x_scaler = Standardizer.fit(X) if standardize else None
        self.y_scaler = (Standardizer.fit(y) if standardize and self.task == "regression"
                         else None)
        self.device = self._resolve_device(training)
        self._build(X.shape[1], self.n_outputs, training)
        self.epochs_trained = 0
        self.n_features = X.shape[1]

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return self._fitted_codec().encode(y)
        z = self.y_scaler.transform(y) if self.y_scaler is not None else y
        return np.asarray(z, dtype=np.float32)

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        z = self.x_scaler.transform(X) if self.x_scaler is not None else X
        return np.ascontiguousarray(z, dtype=np.float32)

    def _train(self, X: np.ndarray, y: np.ndarray, epochs: int, training: TrainingConfig,
               validation: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
        handle = self._begin(self._inputs(X), self._targets(y))
        self._set_learning_rate(training.learning_rate)
        history: dict[str, Any] = {"loss": []}
        start = time.perf_counter()
        for _ in range(epochs):
            seeds = np.random.SeedSequence([training.seed, self.epochs_trained])
            order = np.random.default_rng(seeds).permutation(X.shape[0])
            loss = self._train_epoch(handle, order, training.batch_size,
                                     int(seeds.generate_state(1)[0]))
            self.epochs_trained += 1
            if not math.isfinite(loss):
                raise ModelError(f"training loss became {loss} at epoch {self.epochs_trained}; "
                                 "lower TrainingConfig.learning_rate")
            history["loss"].append(loss)
            if validation is not None:
                for key, value in self._metrics(*validation).items():
                    history.setdefault(f"val_{key}", []).append(value)
            if training.verbose:
                val = {k: v[-1] for k, v in history.items() if k.startswith("val_")}
                logger.info("%s epoch %d loss %.4f %s", self.framework.value,
                            self.epochs_trained, loss, val)
        history.update(fit_seconds=time.perf_counter() - start, n_samples=int(X.shape[0]),
                       device=self.device, epochs=self.epochs_trained)
        return history

    # -- inference and persistence --------------------------------------------------------------

    def _logits(self, X: np.ndarray) -> np.ndarray:
        """One column per class: outputs beyond the classes (``num_classes`` more than the
        labels seen at fit) are dropped."""
        return self._forward(self._inputs(X))[:, :len(self._fitted_codec().classes)]

    def _predict(self, X: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return self._fitted_codec().decode(np.argmax(self._logits(X), axis=1))
        values = self._forward(self._inputs(X))[:, 0].astype(np.float64)
        return self.y_scaler.inverse(values) if self.y_scaler is not None else values

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self._logits(X).astype(np.float64))

    def _state(self) -> dict[str, Any]:
        return {"x_scaler": self.x_scaler.to_json() if self.x_scaler else None,
                "y_scaler": self.y_scaler.to_json() if self.y_scaler else None,
                "epochs_trained": self.epochs_trained}

    def _save_artifact(self, directory: Path) -> str | None:
        return self._save_network(directory) if self.fitted else None

    def _restore(self, directory: Path, artifact: str | None, state: Mapping[str, Any]) -> None:
        self.x_scaler = Standardizer.from_json(state["x_scaler"]) if state.get("x_scaler") else None
        self.y_scaler = Standardizer.from_json(state["y_scaler"]) if state.get("y_scaler") else None
        self.epochs_trained = int(state.get("epochs_trained", 0))
        self.device = "cpu"
        if self.n_features is not None:
            if artifact is None:
                raise ModelError(f"{directory} describes a fitted model but holds no network")
            self._load_network(directory / artifact, self.n_features, self.n_outputs)

    # -- framework hooks ------------------------------------------------------------------------

    @abstractmethod
    def _resolve_device(self, training: TrainingConfig) -> str:
        """The device to train on for ``training.device`` (``"cpu"``, ``"cuda:0"``, ...)."""

    @abstractmethod
    def _build(self, n_in: int, n_out: int, training: TrainingConfig) -> None:
        """A fresh network and optimiser on ``self.device``, seeded by ``training.seed``."""

    @abstractmethod
    def _begin(self, X: np.ndarray, y: np.ndarray) -> Any:
        """The training data (float32 inputs, int64 or float32 targets) ready for epochs."""

    @abstractmethod
    def _train_epoch(self, data: Any, order: np.ndarray, batch_size: int, seed: int) -> float:
        """One pass over ``data`` in ``order`` (dropout seeded by ``seed``); the mean loss."""

    @abstractmethod
    def _set_learning_rate(self, learning_rate: float) -> None:
        """Set the optimiser's step size."""

    @abstractmethod
    def _forward(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs (logits or standardised values) for float32 ``X``."""

    @abstractmethod
    def _save_network(self, directory: Path) -> str:
        """Write the network (and optimiser state); return the artifact's file name."""

    @abstractmethod
    def _load_network(self, path: Path, n_in: int, n_out: int) -> None:
        """Read back the network :meth:`_save_network` wrote to ``path``, onto the CPU."""
