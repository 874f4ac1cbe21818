"""Models for agents: create, train, evaluate, predict, save and load, all awaitable.

:class:`ProductionMLIntegration` keeps the models an agent works with under ids
and a :class:`~learning.models.store.ModelStore` for the ones it keeps.  Nothing
blocks the event loop: training, prediction and disk work run in a worker thread
(``asyncio.to_thread``), so an agent actor keeps answering messages while a
model trains.  With ``remote=True`` training runs as a Ray task asking for
``num_cpus`` and ``num_gpus``, so a GPU node trains where the cluster has one;
the trained model comes back as a tarball in its framework's own save format.

Training always starts from scratch on a fresh copy of the model's definition,
installed under the id when it finishes: predictions made meanwhile use the
previous fit.  When two trainings of one id overlap, the last to finish stays.

:meth:`ProductionMLIntegration.create_model` answers with the new model's
summary, the dict :meth:`~ProductionMLIntegration.describe` gives: its
``model_id`` (what every other method takes), ``model_type``, ``framework``,
``task``, ``config`` (as parsed, defaults filled in), ``trained``, ``device``
(where it trained; ``None`` before), ``n_parameters`` (``None`` until the sizes
are known: at the first fit, or at once when a network's config declares
``input_shape`` and ``num_classes``) and ``name`` (in the store).

Example:
    >>> import asyncio, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> ml = ProductionMLIntegration(tmp.name)
    >>> async def demo():
    ...     model = await ml.create_model("knn", "sklearn", {"n_neighbors": 1})
    ...     model_id = model["model_id"]
    ...     await ml.train_model(model_id, [[0.0], [1.0]], ["off", "on"])
    ...     metrics = await ml.evaluate_model(model_id, [[0.2], [0.7]], ["off", "on"])
    ...     saved = await ml.save_model(model_id, "switch")
    ...     loaded = await ml.load_model("switch")
    ...     return metrics["accuracy"], saved.version, (await ml.predict(loaded, [[0.9]])).tolist()
    >>> asyncio.run(demo())
    (1.0, 1, ['on'])
    >>> net = asyncio.run(ml.create_model("neural_network", "pytorch", {
    ...     "input_shape": (784,), "num_classes": 10, "hidden_layers": [128, 64]}))
    >>> net["model_id"].startswith("neural_network-pytorch-"), net["config"]["input_shape"]
    (True, (784,))
    >>> net["trained"], net["device"], net["n_parameters"]  # 785*128 + 129*64 + 65*10
    (False, None, 109386)
    >>> [(m["model_type"], m["trained"], m["name"]) for m in ml.models()]
    [('knn', True, 'switch'), ('knn', True, 'switch'), ('neural_network', False, None)]
    >>> tmp.cleanup()
"""

from __future__ import annotations

import asyncio
import copy
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning.models import (
    MLFramework,
    Model,
    ModelError,
    ModelType,
    TrainingConfig,
    UnknownModelNameError,
    create_model,
    model_from_bytes,
    model_to_bytes,
)
from learning.models.data import check_Xy
from learning.models.store import ModelStore, ModelVersion

__all__ = ["ProductionMLIntegration", "train_fresh"]


@dataclass
class _Entry:
    model: Model
    name: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def train_fresh(model: Model, X: Any, y: Any, training: TrainingConfig,
                validation: tuple[Any, Any] | None) -> tuple[Model, dict[str, Any]]:
    """A new model with ``model``'s family, framework and params, fitted; and its history."""
    fresh = create_model(model.model_type, model.framework, model.params)
    history = fresh.fit(X, y, training, validation_data=validation)
    return fresh, history


def _train_packed(model_type: str, framework: str, params: dict[str, Any], X: Any, y: Any,
                  training: TrainingConfig, validation: tuple[Any, Any] | None
                  ) -> tuple[bytes, dict[str, Any]]:
    """The body of the Ray task: fit a fresh model, return it packed and its history."""
    import ray

    model, history = train_fresh(create_model(model_type, framework, params), X, y, training,
                                 validation)
    context = ray.get_runtime_context()
    history["remote"] = {"node_id": context.get_node_id(),
                         "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}
    return model_to_bytes(model), history


def _resource(name: str, value: object, strict: bool) -> float:
    """``value`` as a float if it is a finite number > 0 (``strict``) or >= 0."""
    if not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) \
            and (value > 0 or (value == 0 and not strict)):
        return float(value)
    raise ModelError(f"{name} must be a number {'> 0' if strict else '>= 0'}, got {value!r}")


class ProductionMLIntegration:
    """An agent's models, by id, with an on-disk store; every operation awaitable.

    Args:
        store: a :class:`ModelStore` or its root directory.
        remote: train in a Ray task instead of a local thread.
        num_gpus: GPUs the Ray task asks for (``remote=True``).
        num_cpus: CPUs the Ray task asks for (``remote=True``).
    """

    def __init__(self, store: ModelStore | str | Path = ".raymas/models", *, remote: bool = False,
                 num_gpus: float = 0.0, num_cpus: float = 1.0) -> None:
        self.store = store if isinstance(store, ModelStore) else ModelStore(store)
        if not isinstance(remote, bool):
            raise ModelError(f"remote must be a bool, got {remote!r}")
        self.remote = remote
        self.num_gpus = _resource("num_gpus", num_gpus, strict=False)
        self.num_cpus = _resource("num_cpus", num_cpus, strict=True)
        self._entries: dict[str, _Entry] = {}

    def _entry(self, model_id: str) -> _Entry:
        try:
            return self._entries[model_id]
        except KeyError:
            raise UnknownModelNameError("model id", str(model_id), sorted(self._entries)) from None

    def _trained(self, model_id: str) -> Model:
        model = self._entry(model_id).model
        if not model.fitted:
            raise ModelError(f"model {model_id!r} is not trained; call train_model first")
        return model

    def _add(self, model: Model, name: str | None = None) -> str:
        model_id = f"{model.model_type.value}-{model.framework.value}-{uuid.uuid4().hex[:8]}"
        self._entries[model_id] = _Entry(model, name)
        return model_id

    def model(self, model_id: str) -> Model:
        """The :class:`Model` under ``model_id`` (as trained so far)."""
        return self._entry(model_id).model

    def describe(self, model_id: str) -> dict[str, Any]:
        """What there is to know about ``model_id``, as it stands now.

        ``model_id``; ``model_type``, ``framework`` and ``task`` (strings); ``config``,
        the hyperparameters as parsed (defaults filled in); ``trained``; ``device``, where
        it was trained (``None`` before); ``n_parameters``, its weights and biases where
        the family counts them, ``None`` while unknown (a network's sizes come from the
        data at the first fit unless its config declares ``input_shape`` and
        ``num_classes``); ``name``, the store name it was loaded or saved as, else ``None``.
        """
        entry = self._entry(model_id)
        model = entry.model
        return {"model_id": model_id, "model_type": model.model_type.value,
                "framework": model.framework.value, "task": model.task,
                "config": copy.deepcopy(model.params), "trained": model.fitted,
                "device": model.device if model.fitted else None,
                "n_parameters": model.n_parameters, "name": entry.name}

    def models(self) -> list[dict[str, Any]]:
        """:meth:`describe` of each model, in the order they were added."""
        return [self.describe(model_id) for model_id in self._entries]

    def remove_model(self, model_id: str) -> None:
        """Forget ``model_id`` (what the store holds stays)."""
        self._entry(model_id)
        del self._entries[model_id]

    async def create_model(self, model_type: ModelType | str, framework: MLFramework | str,
                           config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A new untrained model; its :meth:`describe`, whose ``model_id``
        (``<type>-<framework>-<8 hex digits>``) the other methods take.

        The config is checked now (see :func:`learning.models.create_model`); a
        network's declared ``input_shape`` and ``num_classes`` are checked against the
        data by :meth:`train_model`.
        """
        model = await asyncio.to_thread(create_model, model_type, framework, config)
        return self.describe(self._add(model))

    async def train_model(self, model_id: str, X_train: Any, y_train: Any,
                          config: TrainingConfig | None = None, X_val: Any = None,
                          y_val: Any = None) -> dict[str, Any]:
        """Fit ``model_id`` from scratch; the history (see :meth:`Model.fit`).

        With ``X_val`` and ``y_val`` the history has validation metrics.  A remote
        training's history also has ``remote``: the ``node_id`` and ``gpu_ids`` it
        ran with.
        """
        entry = self._entry(model_id)
        model = entry.model
        training = config or TrainingConfig()
        if not isinstance(training, TrainingConfig):
            raise ModelError(f"config must be a TrainingConfig, got {type(training).__name__}")
        if (X_val is None) != (y_val is None):
            raise ModelError("give both X_val and y_val, or neither")
        X, y = check_Xy(X_train, y_train, model.task, ("X_train", "y_train"))
        model.check_fit_data(X, y, ("X_train", "y_train"))
        validation = None
        if X_val is not None:
            validation = check_Xy(X_val, y_val, model.task, ("X_val", "y_val"), X.shape[1])
        if self.remote:
            trained, history = await self._train_remote(model, X, y, training, validation)
        else:
            trained, history = await asyncio.to_thread(train_fresh, model, X, y, training,
                                                       validation)
        entry.model = trained
        return history

    async def _train_remote(self, model: Model, X: Any, y: Any, training: TrainingConfig,
                            validation: tuple[Any, Any] | None) -> tuple[Model, dict[str, Any]]:
        import ray

        task = ray.remote(_train_packed).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus)
        packed, history = await task.remote(model.model_type.value, model.framework.value,
                                            dict(model.params), X, y, training, validation)
        return await asyncio.to_thread(model_from_bytes, packed), history

    async def evaluate_model(self, model_id: str, X_test: Any, y_test: Any) -> dict[str, float]:
        """The metrics of :meth:`Model.evaluate`; kept as the default of :meth:`save_model`."""
        entry = self._entry(model_id)
        metrics = await asyncio.to_thread(self._trained(model_id).evaluate, X_test, y_test)
        entry.metrics = dict(metrics)
        return metrics

    async def predict(self, model_id: str, X: Any) -> Any:
        """Labels or values for each row of ``X`` (a NumPy array)."""
        return await asyncio.to_thread(self._trained(model_id).predict, X)

    async def save_model(self, model_id: str, name: str | None = None,
                         metrics: Mapping[str, float] | None = None,
                         tags: Mapping[str, str] | None = None) -> ModelVersion:
        """Store ``model_id`` as the next version of ``name``.

        ``name`` defaults to the name it was loaded or last saved as, else its id;
        ``metrics`` to those of its last :meth:`evaluate_model`.
        """
        entry = self._entry(model_id)
        model = self._trained(model_id)
        name = name if name is not None else entry.name or model_id
        version = await asyncio.to_thread(
            self.store.save, name, model, metrics=entry.metrics if metrics is None else metrics,
            tags=tags)
        entry.name = name
        return version

    async def load_model(self, name: str, version: int | None = None) -> str:
        """Load a stored version (``None``: the latest) under a new id; the id."""
        model = await asyncio.to_thread(self.store.load, name, version)
        return self._add(model, name)
