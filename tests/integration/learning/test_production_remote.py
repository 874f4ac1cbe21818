"""Training as a Ray task (``remote=True``): GPU placement, the model shipped back, errors.

The session cluster's head has two fake GPUs, so a task asking for one is placed
and told its GPU id for real; torch then finds no CUDA device and trains on the
CPU, which is what a CPU-only CI machine can check.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learning.models import ModelError, TrainingConfig
from learning.production import ProductionMLIntegration
from tests.datasets import digits_split

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]


@pytest.fixture(scope="module")
def digits() -> tuple[Any, ...]:
    return digits_split()


def test_a_remote_training_asks_for_a_gpu_and_ships_the_model_back(
        ray_cluster: Any, tmp_path: Path, digits: tuple[Any, ...]) -> None:
    import ray

    Xtr, ytr, Xte, yte = digits
    ml = ProductionMLIntegration(tmp_path, remote=True, num_gpus=1, num_cpus=1)

    async def go() -> tuple[dict[str, Any], dict[str, float], np.ndarray, np.ndarray]:
        model_id = (await ml.create_model("neural_network", "pytorch",
                                          {"hidden_layers": [64]}))["model_id"]
        history = await ml.train_model(model_id, Xtr, ytr, TrainingConfig(epochs=10),
                                       X_val=Xte, y_val=yte)
        metrics = await ml.evaluate_model(model_id, Xte, yte)
        await ml.save_model(model_id, "remote-digits")
        loaded = await ml.load_model("remote-digits")
        return history, metrics, await ml.predict(model_id, Xte), await ml.predict(loaded, Xte)

    history, metrics, predicted, reloaded = asyncio.run(go())
    assert metrics["accuracy"] >= 0.9, metrics
    assert history["val_accuracy"][-1] == metrics["accuracy"]
    assert len(history["remote"]["gpu_ids"]) == 1, history["remote"]
    assert history["remote"]["node_id"] in {n["NodeID"] for n in ray.nodes()}
    assert history["device"] == "cpu"  # the fake GPU has no CUDA behind it
    assert np.array_equal(predicted, reloaded)


def test_a_cpu_only_remote_training_gets_no_gpu(ray_cluster: Any, tmp_path: Path) -> None:
    ml = ProductionMLIntegration(tmp_path, remote=True)
    X = np.array([[0.0], [0.2], [0.8], [1.0]])

    async def go() -> tuple[dict[str, Any], list[str]]:
        model_id = (await ml.create_model("knn", "sklearn", {"n_neighbors": 1}))["model_id"]
        history = await ml.train_model(model_id, X, ["lo", "lo", "hi", "hi"])
        return history, (await ml.predict(model_id, [[0.9], [0.1]])).tolist()

    history, predicted = asyncio.run(go())
    assert history["remote"]["gpu_ids"] == [] and predicted == ["hi", "lo"]


def test_an_error_in_the_remote_training_is_ours(ray_cluster: Any, tmp_path: Path) -> None:
    ml = ProductionMLIntegration(tmp_path, remote=True)

    async def go() -> None:
        model_id = (await ml.create_model("logistic_regression", "pytorch"))["model_id"]
        await ml.train_model(model_id, [[0.0], [1.0]], [0, 1], TrainingConfig(device="cuda:3"))

    with pytest.raises(ModelError, match=r"device='cuda:3' but torch sees 0 CUDA device"):
        asyncio.run(go())


class _TrainerAgent:
    """An async actor that trains a model and answers pings meanwhile, like an agent."""

    def __init__(self, root: str, remote: bool) -> None:
        self.ml = ProductionMLIntegration(root, remote=remote)

    async def train(self, X: Any, y: Any) -> float:
        model_id = (await self.ml.create_model("neural_network", "pytorch",
                                               {"hidden_layers": [128]}))["model_id"]
        start = time.monotonic()
        await self.ml.train_model(model_id, X, y, TrainingConfig(epochs=15))
        return time.monotonic() - start

    async def ping(self) -> float:
        return time.monotonic()


@pytest.mark.parametrize("remote", [False, True])
def test_an_agent_actor_answers_while_its_model_trains(ray_cluster: Any, tmp_path: Path,
                                                       digits: tuple[Any, ...],
                                                       remote: bool) -> None:
    import ray

    Xtr, ytr, _, _ = digits
    actor: Any = ray.remote(_TrainerAgent).remote(str(tmp_path), remote)
    ray.get(actor.ping.remote())
    training = actor.train.remote(Xtr, ytr)
    answered = 0
    while not ray.wait([training], timeout=0.05)[0]:
        ray.get(actor.ping.remote(), timeout=5)
        answered += 1
    seconds = ray.get(training)
    assert answered >= 5, (answered, seconds)
    ray.kill(actor)
