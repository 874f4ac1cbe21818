"""ProductionMLIntegration: PyTorch, TensorFlow and scikit-learn models trained off the loop.

TensorFlow costs seconds to import and to trace, so its tests share one
module-scoped fixture that trains a small network once.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import learning.production as production
from learning.models import (
    MLFramework,
    ModelError,
    ModelType,
    TrainingConfig,
    UnknownModelNameError,
    load_model,
    model_from_bytes,
    model_to_bytes,
)
from learning.models.store import ModelStore
from learning.production import ProductionMLIntegration
from tests.datasets import digits_split

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def digits() -> tuple[Any, ...]:
    return digits_split()


@pytest.fixture(scope="module")
def tf_run(digits: tuple[Any, ...], tmp_path_factory: pytest.TempPathFactory
           ) -> dict[str, Any]:
    """One TensorFlow MLP trained through the integration, evaluated and saved."""
    Xtr, ytr, Xte, yte = digits
    ml = ProductionMLIntegration(tmp_path_factory.mktemp("tf-store"))

    async def go() -> dict[str, Any]:
        created = await ml.create_model(model_type=ModelType.NEURAL_NETWORK,
                                        framework=MLFramework.TENSORFLOW,
                                        config={"input_shape": (8, 8), "num_classes": 10,
                                                "hidden_layers": [64], "dropout": 0.1})
        model_id = created["model_id"]
        history = await ml.train_model(model_id=model_id, X_train=Xtr, y_train=ytr,
                                       config=TrainingConfig(epochs=10, batch_size=32),
                                       X_val=Xte, y_val=yte)
        metrics = await ml.evaluate_model(model_id, Xte, yte)
        saved = await ml.save_model(model_id, "digits-tf")
        loaded = await ml.load_model("digits-tf")
        return {"ml": ml, "id": model_id, "created": created, "history": history,
                "metrics": metrics, "described": ml.describe(model_id),
                "saved": saved, "loaded": loaded,
                "predictions": await ml.predict(model_id, Xte),
                "loaded_predictions": await ml.predict(loaded, Xte)}

    return dict(run(go()))


def test_tensorflow_mlp_learns_digits(tf_run: dict[str, Any]) -> None:
    metrics, history = tf_run["metrics"], tf_run["history"]
    assert metrics["accuracy"] >= 0.9, metrics
    assert len(history["loss"]) == len(history["val_accuracy"]) == 10
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] == metrics["accuracy"]
    assert history["device"] == "cpu" and history["epochs"] == 10
    model = tf_run["ml"].model(tf_run["id"])
    assert model.framework is MLFramework.TENSORFLOW and model.device == "cpu"


def test_a_declared_tensorflow_network_is_described_before_and_after_training(
        tf_run: dict[str, Any]) -> None:
    created, described = tf_run["created"], tf_run["described"]
    config = {"hidden_layers": [64], "activation": "relu", "dropout": 0.1,
              "task": "classification", "weight_decay": 0.0, "standardize": True,
              "input_shape": (8, 8), "num_classes": 10}
    n_parameters = 65 * 64 + 65 * 10
    assert created == {"model_id": tf_run["id"], "model_type": "neural_network",
                       "framework": "tensorflow", "task": "classification", "config": config,
                       "trained": False, "device": None, "n_parameters": n_parameters,
                       "name": None}
    assert described == {**created, "trained": True, "device": "cpu", "name": "digits-tf"}
    model = tf_run["ml"].model(tf_run["id"])
    assert model._net.count_params() == n_parameters
    loaded = tf_run["ml"].describe(tf_run["loaded"])
    assert (loaded["config"], loaded["n_parameters"]) == (config, n_parameters)


def test_tensorflow_is_quiet_and_modest(tf_run: dict[str, Any]) -> None:
    import os

    import keras
    import tensorflow as tf

    from learning.models.neural import modest_threads

    assert "TF_CPP_MIN_LOG_LEVEL" in os.environ and keras.backend.backend() == "tensorflow"
    assert tf.config.threading.get_intra_op_parallelism_threads() == modest_threads()


def test_tensorflow_save_load_round_trip(tf_run: dict[str, Any], digits: tuple[Any, ...]) -> None:
    _, _, Xte, _ = digits
    assert np.array_equal(tf_run["predictions"], tf_run["loaded_predictions"])
    saved = tf_run["saved"]
    assert saved.version == 1 and saved.metrics == tf_run["metrics"]
    assert sorted(p.name for p in saved.path.iterdir()) == ["meta.json", "model.keras",
                                                            "version.json"]
    model = tf_run["ml"].model(tf_run["id"])
    packed = model_from_bytes(model_to_bytes(model))
    assert np.array_equal(packed.predict_proba(Xte), model.predict_proba(Xte))


def test_tensorflow_continues_training_and_is_reproducible(tf_run: dict[str, Any],
                                                           digits: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, _ = digits
    loaded: Any = load_model(tf_run["saved"].path)
    assert int(loaded._net.optimizer.iterations) == 10 * int(np.ceil(len(ytr) / 32))
    assert loaded.partial_fit_epochs(Xtr[:200], ytr[:200], 1)["epochs"] == 11
    small = TrainingConfig(epochs=1, batch_size=64)
    model = tf_run["ml"].model(tf_run["id"])
    numpy_state = np.random.get_state()[1].copy()  # type: ignore[index]
    first = model.fit(Xtr[:300], ytr[:300], small)["loss"], model.predict_proba(Xte)
    second = model.fit(Xtr[:300], ytr[:300], small)["loss"], model.predict_proba(Xte)
    assert first[0] == second[0] and np.array_equal(first[1], second[1])
    assert np.array_equal(np.random.get_state()[1], numpy_state)  # type: ignore[index]


def test_pytorch_mlp_trains_through_the_integration(tmp_path: Path,
                                                    digits: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, yte = digits
    ml = ProductionMLIntegration(tmp_path)

    async def go() -> tuple[Any, ...]:
        created = await ml.create_model(model_type=ModelType.NEURAL_NETWORK,
                                        framework=MLFramework.PYTORCH,
                                        config={"hidden_layers": [64]})
        model_id = created["model_id"]
        assert ml.models() == [created]
        assert (created["trained"], created["device"], created["name"]) == (False, None, None)
        assert created["n_parameters"] is None  # the sizes come from the data at fit
        history = await ml.train_model(model_id=model_id, X_train=Xtr, y_train=ytr,
                                       config=TrainingConfig(epochs=10, batch_size=32))
        metrics = await ml.evaluate_model(model_id, Xte, yte)
        saved = await ml.save_model(model_id, tags={"data": "digits"})
        again = await ml.save_model(model_id, metrics={"accuracy": 0.0})
        loaded = await ml.load_model(saved.name, version=1)
        same = np.array_equal(await ml.predict(model_id, Xte), await ml.predict(loaded, Xte))
        assert (await ml.save_model(loaded)).name == model_id  # the name it was loaded as
        return model_id, history, metrics, saved, again, loaded, same

    model_id, history, metrics, saved, again, loaded, same = run(go())
    assert metrics["accuracy"] >= 0.9, metrics
    assert len(history["loss"]) == 10 and "val_accuracy" not in history
    assert model_id.startswith("neural_network-pytorch-") and len(model_id) == 31
    assert saved.name == model_id and saved.metrics == metrics and saved.tags == {"data": "digits"}
    assert (again.name, again.version, again.metrics) == (model_id, 2, {"accuracy": 0.0})
    assert same
    config = {"hidden_layers": [64], "activation": "relu", "dropout": 0.0,
              "task": "classification", "weight_decay": 0.0, "standardize": True,
              "input_shape": None, "num_classes": None}
    summary = {"model_type": "neural_network", "framework": "pytorch",
               "task": "classification", "config": config, "trained": True, "device": "cpu",
               "n_parameters": 65 * 64 + 65 * 10, "name": model_id}
    assert ml.models() == [{"model_id": model_id, **summary}, {"model_id": loaded, **summary}]
    net = ml.model(model_id)._net  # type: ignore[attr-defined]
    assert sum(p.numel() for p in net.parameters()) == summary["n_parameters"]
    ml.remove_model(loaded)
    assert [m["model_id"] for m in ml.models()] == [model_id]
    assert [v.version for v in ml.store.versions(model_id)] == [1, 2, 3]


def test_sklearn_regression_through_the_integration(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    ml = ProductionMLIntegration(str(tmp_path))

    async def go() -> tuple[dict[str, Any], dict[str, float]]:
        model_id = (await ml.create_model("gradient_boosting", "sklearn",
                                          {"task": "regression", "n_estimators": 50}))["model_id"]
        history = await ml.train_model(model_id, X[:350], y[:350], X_val=X[350:],
                                       y_val=y[350:])
        return history, await ml.evaluate_model(model_id, X[350:], y[350:])

    history, metrics = run(go())
    assert metrics["r2"] > 0.2 and history["val_r2"] == metrics["r2"]
    assert isinstance(ml.store, ModelStore) and ml.store.root == tmp_path


def test_the_event_loop_keeps_running_while_a_model_trains(tmp_path: Path,
                                                           digits: tuple[Any, ...]) -> None:
    Xtr, ytr, _, _ = digits
    ml = ProductionMLIntegration(tmp_path)

    async def go() -> tuple[int, dict[str, Any]]:
        model_id = (await ml.create_model("neural_network", "pytorch",
                                          {"hidden_layers": [64]}))["model_id"]
        ticks = 0
        training = asyncio.create_task(ml.train_model(model_id, Xtr, ytr,
                                                      TrainingConfig(epochs=5)))
        while not training.done():
            ticks += 1
            await asyncio.sleep(0.005)
        return ticks, await training

    ticks, history = run(go())
    assert ticks >= 10, (ticks, history["fit_seconds"])


def test_predictions_use_the_previous_fit_until_a_new_one_is_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    ml = ProductionMLIntegration(tmp_path)
    gate, started = threading.Event(), threading.Event()
    real = production.train_fresh

    def gated(*args: Any) -> Any:
        started.set()
        assert gate.wait(30)
        return real(*args)

    async def go() -> list[list[str]]:
        model_id = (await ml.create_model("knn", "sklearn", {"n_neighbors": 1}))["model_id"]
        await ml.train_model(model_id, X, ["a", "a", "b", "b"])
        monkeypatch.setattr(production, "train_fresh", gated)
        retrain = asyncio.create_task(ml.train_model(model_id, X, ["c", "c", "d", "d"]))
        await asyncio.to_thread(started.wait, 30)
        during = (await ml.predict(model_id, X)).tolist()
        gate.set()
        await retrain
        return [during, (await ml.predict(model_id, X)).tolist()]

    assert run(go()) == [["a", "a", "b", "b"], ["c", "c", "d", "d"]]


def test_of_two_overlapping_trainings_the_last_to_finish_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    ml = ProductionMLIntegration(tmp_path)
    gate, started = threading.Event(), threading.Event()
    real = production.train_fresh

    def gated(model: Any, X: Any, y: Any, *rest: Any) -> Any:
        if y[0] == "slow":
            started.set()
            assert gate.wait(30)
        return real(model, X, y, *rest)

    monkeypatch.setattr(production, "train_fresh", gated)

    async def go() -> list[str]:
        model_id = (await ml.create_model("knn", "sklearn", {"n_neighbors": 1}))["model_id"]
        slow = asyncio.create_task(ml.train_model(model_id, X, ["slow"] * 2 + ["x"] * 2))
        await asyncio.to_thread(started.wait, 30)
        await ml.train_model(model_id, X, ["fast"] * 2 + ["y"] * 2)
        gate.set()
        await slow
        return list((await ml.predict(model_id, X[:1])).tolist())

    assert run(go()) == ["slow"]


def test_errors_name_what_is_wrong(tmp_path: Path) -> None:
    ml = ProductionMLIntegration(tmp_path)
    X = np.array([[0.0], [1.0]])

    async def go() -> str:
        model_id = (await ml.create_model("knn", "sklearn", {"n_neighbors": 1}))["model_id"]
        with pytest.raises(ModelError, match=f"model '{model_id}' is not trained; call "
                                             "train_model first"):
            await ml.predict(model_id, X)
        with pytest.raises(ModelError, match="is not trained"):
            await ml.save_model(model_id)
        with pytest.raises(ModelError, match="give both X_val and y_val, or neither"):
            await ml.train_model(model_id, X, [0, 1], X_val=X)
        with pytest.raises(ModelError, match="y_train has 3 samples but X_train has 2"):
            await ml.train_model(model_id, X, [0, 1, 1])
        with pytest.raises(ModelError, match="X_val has 2 features but the model was fitted "
                                             "with 1"):
            await ml.train_model(model_id, X, [0, 1], X_val=[[0.0, 1.0]], y_val=[0])
        with pytest.raises(ModelError, match="config must be a TrainingConfig, got dict"):
            await ml.train_model(model_id, X, [0, 1], {"epochs": 1})  # type: ignore[arg-type]
        with pytest.raises(UnknownModelNameError, match="unknown model id 'knn-sklearn-x'"):
            await ml.evaluate_model("knn-sklearn-x", X, [0, 1])
        with pytest.raises(UnknownModelNameError, match="unknown stored model 'nothing'"):
            await ml.load_model("nothing")
        return model_id

    model_id = run(go())
    with pytest.raises(UnknownModelNameError, match=f"did you mean '{model_id}'"):
        ml.remove_model(model_id[:-1])


def test_the_seed_config_is_checked_against_the_training_data(tmp_path: Path) -> None:
    """The seed's network (input_shape (784,), ten classes) refuses data of another shape
    before training starts, naming the key, what it expects and what it got."""
    ml = ProductionMLIntegration(tmp_path)
    rng = np.random.default_rng(0)

    async def go() -> dict[str, Any]:
        model = await ml.create_model(model_type=ModelType.NEURAL_NETWORK,
                                      framework=MLFramework.TENSORFLOW,
                                      config={"input_shape": (784,), "num_classes": 10,
                                              "hidden_layers": [128, 64]})
        model_id = model["model_id"]
        with pytest.raises(ModelError, match=r"^input_shape \(784,\) expects 784 features, "
                                             r"X_train has 20$"):
            await ml.train_model(model_id, rng.random((50, 20)), np.arange(50) % 10)
        with pytest.raises(ModelError, match=r"^num_classes 10 expects at most 10 classes, "
                                             r"y_train has 12$"):
            await ml.train_model(model_id, rng.random((48, 784)), np.arange(48) % 12)
        return model

    model = run(go())
    assert model["n_parameters"] == 785 * 128 + 129 * 64 + 65 * 10
    assert model["config"]["input_shape"] == (784,) and model["config"]["num_classes"] == 10
    assert ml.describe(model["model_id"]) == model  # nothing trained


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_gpus": -1}, "num_gpus must be a number >= 0, got -1"),
    ({"num_cpus": 0}, "num_cpus must be a number > 0, got 0"),
    ({"num_cpus": True}, "num_cpus must be a number > 0, got True"),
    ({"remote": "yes"}, "remote must be a bool"),
])
def test_constructor_arguments_are_checked(kwargs: dict[str, Any], message: str,
                                           tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=message):
        ProductionMLIntegration(tmp_path, **kwargs)


def test_the_default_store_is_created_only_when_used(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ml = ProductionMLIntegration()
    assert ml.store.root == Path(".raymas/models") and not (tmp_path / ".raymas").exists()
    assert (ml.remote, ml.num_gpus, ml.num_cpus) == (False, 0.0, 1.0)
