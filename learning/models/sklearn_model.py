"""scikit-learn models behind the :class:`~learning.models.base.Model` interface.

Every family maps to one estimator per task (``config["task"]``, default
classification where the family does it): the config's other keys are the
estimator's own keyword arguments, passed through, and an unknown one is refused
with the estimator's known keys.  The neural network (``MLPClassifier`` /
``MLPRegressor``) also takes the keys of the PyTorch and TensorFlow networks,
``hidden_layers`` (as ``hidden_layer_sizes``) and ``weight_decay`` (as ``alpha``),
and :class:`~learning.models.config.TrainingConfig` fills in ``max_iter``
(epochs), ``batch_size`` and ``learning_rate_init`` unless the config sets them.
Every estimator with a ``random_state`` gets the training seed unless the config
sets one.  scikit-learn is imported when a model is created, not before.  Fitting
and predicting cap the BLAS and OpenMP pools at
:func:`~learning.models.neural.modest_threads` (threadpoolctl): a pool spinning a
thread per core on a busy node makes a small fit a hundred times slower.

The artifact is ``model.joblib`` (a pickle): load only stores you trust.

Example:
    >>> from learning.models import TrainingConfig, create_model
    >>> net = create_model("neural_network", "sklearn", {"hidden_layers": [8]})
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # five epochs do not converge
    ...     _ = net.fit([[0.0], [1.0]], [0, 1], TrainingConfig(epochs=5, batch_size=2, seed=3))
    >>> net.estimator.hidden_layer_sizes, net.estimator.max_iter, net.estimator.random_state
    ((8,), 5, 3)
    >>> create_model("svm", "sklearn", {"kernal": "rbf"})
    Traceback (most recent call last):
    ...
    learning.models.errors.UnknownModelNameError: unknown svm (sklearn SVC) config key 'kernal'; \
did you mean 'kernel'? (known: C, break_ties, cache_size, class_weight, coef0, \
decision_function_shape, degree, gamma, kernel, max_iter, probability, random_state, shrinking, \
tol, verbose)
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from learning.models.base import Model
from learning.models.config import MLFramework, ModelType, TrainingConfig, check_task
from learning.models.data import LabelCodec
from learning.models.errors import ModelError, UnknownModelNameError
from learning.models.neural import modest_threads

__all__ = ["ESTIMATORS", "SklearnModel"]

ESTIMATORS: dict[ModelType, dict[str, str]] = {
    ModelType.NEURAL_NETWORK: {"classification": "neural_network.MLPClassifier",
                               "regression": "neural_network.MLPRegressor"},
    ModelType.LOGISTIC_REGRESSION: {"classification": "linear_model.LogisticRegression"},
    ModelType.LINEAR_REGRESSION: {"regression": "linear_model.LinearRegression"},
    ModelType.RANDOM_FOREST: {"classification": "ensemble.RandomForestClassifier",
                              "regression": "ensemble.RandomForestRegressor"},
    ModelType.GRADIENT_BOOSTING: {"classification": "ensemble.GradientBoostingClassifier",
                                  "regression": "ensemble.GradientBoostingRegressor"},
    ModelType.SVM: {"classification": "svm.SVC", "regression": "svm.SVR"},
    ModelType.KNN: {"classification": "neighbors.KNeighborsClassifier",
                    "regression": "neighbors.KNeighborsRegressor"},
}
"""Family -> task -> estimator, as ``sklearn.<module>.<class>``."""

_NN_KEYS = {"hidden_layers": "hidden_layer_sizes", "weight_decay": "alpha"}
_NN_TRAINING = {"max_iter": "epochs", "batch_size": "batch_size",
                "learning_rate_init": "learning_rate"}


def _modestly(call: Callable[..., Any], *args: Any) -> Any:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=modest_threads()):
        return call(*args)


def _estimator_class(model_type: ModelType, task: str) -> type:
    module, _, name = ESTIMATORS[model_type][task].rpartition(".")
    cls: type = getattr(importlib.import_module(f"sklearn.{module}"), name)
    return cls


class SklearnModel(Model):
    """A scikit-learn estimator; ``params`` are ``task`` plus the config as given."""

    framework = MLFramework.SKLEARN

    def __init__(self, model_type: ModelType, task: str, params: Mapping[str, Any]) -> None:
        super().__init__(model_type, task, params)
        self.estimator_class = _estimator_class(model_type, task)
        self.estimator: Any = self.estimator_class(**self._kwargs())

    @classmethod
    def from_config(cls, model_type: ModelType, config: Mapping[str, Any]) -> SklearnModel:
        tasks = tuple(ESTIMATORS[model_type])
        config = dict(config)
        task = check_task(model_type, cls.framework, config.pop("task", tasks[0]), tasks)
        est_cls = _estimator_class(model_type, task)
        known = set(est_cls().get_params(deep=False))
        extra = set(_NN_KEYS) | {"dropout"} if model_type is ModelType.NEURAL_NETWORK else set()
        for key in config:
            if key not in known and key not in extra:
                raise UnknownModelNameError(
                    f"{model_type.value} (sklearn {est_cls.__name__}) config key", str(key),
                    sorted(known | extra))
        if extra:
            if config.get("dropout", 0.0) != 0.0:
                raise ModelError("config key 'dropout' of neural_network (sklearn): "
                                 "MLPClassifier/MLPRegressor have no dropout; leave it 0 or "
                                 "use pytorch or tensorflow")
            for ours, theirs in _NN_KEYS.items():
                if ours in config and theirs in config:
                    raise ModelError(f"config of neural_network (sklearn) sets both {ours!r} "
                                     f"and {theirs!r}; give one")
        return cls(model_type, task, {"task": task, **config})

    @classmethod
    def _create(cls, model_type: ModelType, task: str, params: Mapping[str, Any]) -> SklearnModel:
        return cls(model_type, task, params)

    def _kwargs(self, training: TrainingConfig | None = None) -> dict[str, Any]:
        kwargs = {k: v for k, v in self.params.items() if k not in ("task", "dropout")}
        if self.model_type is ModelType.NEURAL_NETWORK:
            for ours, theirs in _NN_KEYS.items():
                if ours in kwargs:
                    value = kwargs.pop(ours)
                    kwargs[theirs] = tuple(value) if ours == "hidden_layers" else value
            if training is not None:
                for theirs, field in _NN_TRAINING.items():
                    kwargs.setdefault(theirs, getattr(training, field))
        if training is not None and "random_state" in self.estimator_class().get_params():
            kwargs.setdefault("random_state", training.seed)
        return kwargs

    def _fit(self, X: np.ndarray, y: np.ndarray, training: TrainingConfig,
             validation: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
        if training.gpu_index() is not None:
            raise ModelError(f"TrainingConfig.device={training.device!r}: scikit-learn trains "
                             "on the CPU only; use 'auto' or 'cpu'")
        codec = LabelCodec.fit(y) if self.task == "classification" else None
        estimator = self.estimator_class(**self._kwargs(training))
        start = time.perf_counter()
        try:
            _modestly(estimator.fit, X, y)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{self.model_type.value} (sklearn {self.estimator_class.__name__})"
                             f" could not fit: {exc}") from exc
        seconds = time.perf_counter() - start
        self.estimator, self.codec, self.n_features = estimator, codec, X.shape[1]
        history: dict[str, Any] = {"fit_seconds": seconds, "n_samples": int(X.shape[0]),
                                   "device": self.device}
        if hasattr(estimator, "loss_curve_"):
            history["loss"] = [float(v) for v in estimator.loss_curve_]
        if hasattr(estimator, "n_iter_"):
            history["n_iter"] = int(np.max(estimator.n_iter_))
        if validation is not None:
            for key, value in self._metrics(*validation).items():
                history[f"val_{key}"] = value
        return history

    @property
    def n_parameters(self) -> int | None:
        """Coefficients and intercepts of a fitted linear model or MLP; ``None`` for the
        families without such a count (trees, neighbours, kernels) and before fit."""
        if not self.fitted:
            return None
        est = self.estimator
        if hasattr(est, "coefs_"):
            arrays = [*est.coefs_, *est.intercepts_]
        elif hasattr(est, "coef_") and self.model_type is not ModelType.SVM:
            arrays = [est.coef_]
            if getattr(est, "fit_intercept", True):
                arrays.append(np.atleast_1d(est.intercept_))
        else:
            return None
        return int(sum(np.asarray(a).size for a in arrays))

    @property
    def has_proba(self) -> bool:
        return self.task == "classification" and hasattr(self.estimator, "predict_proba")

    def _no_proba_reason(self) -> str:
        if self.model_type is ModelType.SVM:
            return ("svm (sklearn SVC) gives no probabilities unless created with "
                    "probability=True, which scikit-learn 1.9 deprecates; evaluate reports "
                    "accuracy only")
        return super()._no_proba_reason()

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(_modestly(self.estimator.predict, X))

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(_modestly(self.estimator.predict_proba, X))

    def _save_artifact(self, directory: Path) -> str | None:
        import joblib

        joblib.dump(self.estimator, directory / "model.joblib")
        return "model.joblib"

    def _restore(self, directory: Path, artifact: str | None, state: Mapping[str, Any]) -> None:
        import joblib

        if artifact is None:
            raise ModelError(f"{directory} has no scikit-learn artifact")
        self.estimator = joblib.load(directory / artifact)
