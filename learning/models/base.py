"""The one model interface: :class:`Model`, whatever the framework underneath.

A framework module implements the hooks (``_fit``, ``_predict``, ``_predict_proba``,
``_save_artifact``, ``_restore``); this class checks every argument, keeps the
label codec and evaluates with the NumPy metrics, so all frameworks behave alike.
A saved model is a directory holding ``meta.json`` (written last: its presence
means the directory is complete) and the framework's own artifact.

Example:
    >>> import tempfile
    >>> from learning.models import create_model, load_model
    >>> model = create_model("logistic_regression", "sklearn")
    >>> history = model.fit([[0.0], [0.2], [0.8], [1.0]], ["no", "no", "yes", "yes"])
    >>> model.predict([[0.9]]).tolist(), model.classes.tolist()
    (['yes'], ['no', 'yes'])
    >>> model.evaluate([[0.1], [0.9]], ["no", "yes"])["accuracy"]
    1.0
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     model.save(tmp)
    ...     load_model(tmp)
    SklearnModel(logistic_regression, sklearn, classification, fitted, device='cpu')
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from learning.models.config import MLFramework, ModelType, TrainingConfig
from learning.models.data import LabelCodec, check_X, check_Xy, check_y, jsonable, split_validation
from learning.models.errors import ModelError
from learning.models.metrics import classification_metrics, regression_metrics

__all__ = ["META_FILE", "Model", "ValidationData", "read_meta"]

META_FILE = "meta.json"
FORMAT = 1

ValidationData = tuple[Any, Any]


def read_meta(directory: Path) -> dict[str, Any]:
    """The ``meta.json`` of a saved model, or a :class:`ModelError` saying why not."""
    path = Path(directory) / META_FILE
    try:
        meta: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{directory} holds no saved model (no {META_FILE})") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path} has format {meta.get('format')!r}; this version reads {FORMAT}")
    return meta


class Model(ABC):
    """A trainable model of one family (``model_type``) built with one ``framework``.

    Attributes:
        model_type: the family.
        framework: the library underneath.
        task: ``"classification"`` or ``"regression"``.
        params: the hyperparameters it was created with (defaults filled in).
        device: where it computes: ``"cpu"``, ``"cuda:0"`` (PyTorch), ``"GPU:0"``
            (TensorFlow); set by :meth:`fit`.
        incremental: whether :meth:`partial_fit_epochs` can continue training.
    """

    framework: ClassVar[MLFramework]
    incremental: ClassVar[bool] = False

    def __init__(self, model_type: ModelType, task: str, params: Mapping[str, Any]) -> None:
        self.model_type = model_type
        self.task = task
        self.params = dict(params)
        self.device = "cpu"
        self.n_features: int | None = None
        self.codec: LabelCodec | None = None

    def __repr__(self) -> str:
        state = "fitted" if self.fitted else "unfitted"
        return (f"{type(self).__name__}({self.model_type.value}, {self.framework.value}, "
                f"{self.task}, {state}, device={self.device!r})")

    @property
    def fitted(self) -> bool:
        """Whether the model has been fitted (or loaded fitted)."""
        return self.n_features is not None

    @property
    def n_parameters(self) -> int | None:
        """Learned weights and biases, where the family counts them and they are known
        (networks: see :attr:`NeuralModel.n_parameters`); else ``None``."""
        return None

    def check_fit_data(self, X: np.ndarray, y: np.ndarray,
                       names: tuple[str, str] = ("X", "y")) -> None:
        """Raise a :class:`ModelError` if checked ``X`` and ``y`` contradict sizes the config
        declares (``input_shape``, ``num_classes`` of a network); most families declare none."""
        return None

    @property
    def classes(self) -> np.ndarray:
        """The class labels, in the order of :meth:`predict_proba`'s columns."""
        if self.task != "classification":
            raise ModelError(f"a {self.task} model has no classes")
        return self._fitted_codec().classes

    # -- training -------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, training: TrainingConfig | None = None, *,
            validation_data: ValidationData | None = None) -> dict[str, Any]:
        """Train from scratch; return the history.

        The history always has ``fit_seconds``, ``n_samples`` and ``device``; neural
        networks add per-epoch lists ``loss`` and, given validation data (or
        ``training.validation_split``), ``val_<metric>`` for each metric of
        :meth:`evaluate`; scikit-learn models add the final ``val_<metric>`` values.
        """
        training = training or TrainingConfig()
        X_arr, y_arr, val = self._prepare(X, y, training, validation_data)
        return self._fit(X_arr, y_arr, training, val)

    def partial_fit_epochs(self, X: Any, y: Any, epochs: int,
                           training: TrainingConfig | None = None, *,
                           validation_data: ValidationData | None = None) -> dict[str, Any]:
        """Train ``epochs`` more epochs (neural networks); others raise :class:`ModelError`."""
        raise ModelError(
            f"{self.model_type.value} ({self.framework.value}) cannot continue training epoch "
            "by epoch; partial_fit_epochs is for pytorch and tensorflow models; call fit")

    def _prepare(self, X: Any, y: Any, training: TrainingConfig,
                 validation_data: ValidationData | None
                 ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        if not isinstance(training, TrainingConfig):
            raise ModelError(f"training must be a TrainingConfig, got {type(training).__name__}")
        X_arr, y_arr = check_Xy(X, y, self.task)
        if validation_data is not None:
            if training.validation_split > 0:
                raise ModelError("give validation_data or TrainingConfig.validation_split, "
                                 "not both")
            if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
                raise ModelError("validation_data must be a pair (X_val, y_val)")
            Xv, yv = check_Xy(*validation_data, self.task, ("X_val", "y_val"), X_arr.shape[1])
            return X_arr, y_arr, (Xv, yv)
        if training.validation_split > 0:
            X_arr, y_arr, Xv, yv = split_validation(X_arr, y_arr, training.validation_split,
                                                    training.seed)
            return X_arr, y_arr, (Xv, yv)
        return X_arr, y_arr, None

    # -- inference ------------------------------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (the original label values) or regression values, one per row."""
        return self._predict(self._check_input(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per label of :attr:`classes`."""
        if self.task != "classification":
            raise ModelError(f"predict_proba needs a classification model; this one does "
                             f"{self.task}")
        X_arr = self._check_input(X)
        if not self.has_proba:
            raise ModelError(self._no_proba_reason())
        return self._predict_proba(X_arr)

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """``accuracy`` (and ``log_loss`` with probabilities), or ``mse``, ``mae``, ``r2``."""
        X_arr = self._check_input(X)
        y_arr = check_y(y, X_arr.shape[0], self.task)
        return self._metrics(X_arr, y_arr)

    def _metrics(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        if self.task == "regression":
            return regression_metrics(y, self._predict(X))
        if not self.has_proba:
            return classification_metrics(y, self._predict(X))
        return classification_metrics(y, self._predict(X), self._predict_proba(X),
                                      self._fitted_codec().lookup(y))

    @property
    def has_proba(self) -> bool:
        """Whether :meth:`predict_proba` works (a classifier that gives probabilities)."""
        return self.task == "classification"

    def _no_proba_reason(self) -> str:
        return f"{self.model_type.value} ({self.framework.value}) gives no probabilities"

    def _check_input(self, X: Any) -> np.ndarray:
        if self.n_features is None:
            raise ModelError(f"{self.model_type.value} ({self.framework.value}) is not fitted; "
                             "call fit first")
        return check_X(X, "X", self.n_features)

    def _fitted_codec(self) -> LabelCodec:
        if self.codec is None:
            raise ModelError(f"{self.model_type.value} ({self.framework.value}) is not fitted; "
                             "call fit first")
        return self.codec

    # -- persistence ----------------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        """Write the model into ``directory`` (created if missing): artifact, then meta.json."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        artifact = self._save_artifact(directory)
        meta = {
            "format": FORMAT, "framework": self.framework.value,
            "model_type": self.model_type.value, "task": self.task,
            "params": jsonable(self.params), "device": self.device,
            "n_features": self.n_features, "artifact": artifact,
            "labels": self.codec.to_json() if self.codec is not None else None,
            "state": jsonable(self._state()),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def from_directory(cls, directory: Path, meta: Mapping[str, Any]) -> Model:
        """The model saved in ``directory``, described by its ``meta``."""
        model = cls._create(ModelType(meta["model_type"]), meta["task"], meta["params"])
        model.n_features = meta["n_features"]
        if meta.get("labels") is not None:
            model.codec = LabelCodec.from_json(meta["labels"])
        model._restore(directory, meta.get("artifact"), meta.get("state") or {})
        return model

    def _state(self) -> dict[str, Any]:
        """Framework state kept in ``meta.json`` besides the artifact."""
        return {}

    # -- framework hooks ------------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def from_config(cls, model_type: ModelType, config: Mapping[str, Any]) -> Model:
        """A new unfitted model of family ``model_type``; ``config`` is checked here."""

    @classmethod
    @abstractmethod
    def _create(cls, model_type: ModelType, task: str, params: Mapping[str, Any]) -> Model:
        """A new unfitted model from already-checked ``params`` (as in ``self.params``)."""

    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray, training: TrainingConfig,
             validation: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
        """Train from scratch on checked arrays; set ``n_features``, ``codec``, ``device``."""

    @abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """Labels or values for checked ``X``."""

    @abstractmethod
    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities for checked ``X``."""

    @abstractmethod
    def _save_artifact(self, directory: Path) -> str | None:
        """Write the framework artifact; return its file name (``None``: nothing to write)."""

    @abstractmethod
    def _restore(self, directory: Path, artifact: str | None, state: Mapping[str, Any]) -> None:
        """Read back what :meth:`_save_artifact` and :meth:`_state` wrote."""
