"""One model interface over scikit-learn and PyTorch: training, errors, persistence.

TensorFlow is exercised in test_production.py, through one module-scoped fixture.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learning.errors import LearningError
from learning.models import (
    MLFramework,
    ModelError,
    ModelType,
    TrainingConfig,
    UnknownModelNameError,
    create_model,
    is_supported,
    load_model,
    model_from_bytes,
    model_to_bytes,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = TrainingConfig(epochs=10, batch_size=32)


def split(X: np.ndarray, y: np.ndarray, test: float = 0.2, seed: int = 0) -> tuple[Any, ...]:
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * (1 - test))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


@pytest.fixture(scope="module")
def digits() -> tuple[Any, ...]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return split(X, y)


@pytest.fixture(scope="module")
def diabetes() -> tuple[Any, ...]:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return split(X, y)


@pytest.fixture(scope="module")
def torch_mlp(digits: tuple[Any, ...]) -> Any:
    Xtr, ytr, _, _ = digits
    model = create_model(ModelType.NEURAL_NETWORK, MLFramework.PYTORCH, {"hidden_layers": [32]})
    model.fit(Xtr, ytr, FAST)
    return model


def test_importing_the_model_layer_loads_no_framework() -> None:
    code = ("import sys, learning.models, learning.models.store, learning.production\n"
            "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'sklearn') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


SKLEARN_CASES = [
    (ModelType.LOGISTIC_REGRESSION, {"C": 0.1, "max_iter": 1000}),
    (ModelType.RANDOM_FOREST, {"n_estimators": 50}),
    (ModelType.GRADIENT_BOOSTING, {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.3}),
    (ModelType.SVM, {"gamma": 0.001, "C": 10.0}),
    (ModelType.KNN, {"n_neighbors": 3}),
    (ModelType.NEURAL_NETWORK, {"hidden_layers": [64]}),
]


@pytest.mark.parametrize(("model_type", "config"), SKLEARN_CASES, ids=lambda c: str(c)[:20])
def test_sklearn_families_learn_digits(model_type: ModelType, config: dict[str, Any],
                                       digits: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, yte = digits
    model: Any = create_model(model_type, "sklearn", config)
    history = model.fit(Xtr, ytr, TrainingConfig(epochs=50), validation_data=(Xte, yte))
    metrics = model.evaluate(Xte, yte)
    assert metrics["accuracy"] >= 0.9, (model_type, metrics)
    assert history["val_accuracy"] == metrics["accuracy"]
    assert history["fit_seconds"] > 0 and history["n_samples"] == len(ytr)
    assert model.predict(Xte[:5]).tolist() == model.estimator.predict(Xte[:5]).tolist()
    assert model.params == {"task": "classification", **config}
    assert model.device == "cpu" and model.fitted


def test_sklearn_mlp_takes_network_keys_and_training_config(digits: tuple[Any, ...]) -> None:
    Xtr, ytr, _, _ = digits
    model: Any = create_model("neural_network", "sklearn",
                              {"hidden_layers": [16], "weight_decay": 0.01})
    history = model.fit(Xtr[:300], ytr[:300], TrainingConfig(epochs=3, batch_size=50,
                                                             learning_rate=0.01, seed=4))
    est = model.estimator
    assert (est.hidden_layer_sizes, est.alpha, est.max_iter, est.batch_size,
            est.learning_rate_init, est.random_state) == ((16,), 0.01, 3, 50, 0.01, 4)
    assert history["n_iter"] == 3 and len(history["loss"]) == 3
    own: Any = create_model("neural_network", "sklearn", {"max_iter": 2, "random_state": 9})
    own.fit(Xtr[:100], ytr[:100], TrainingConfig(epochs=7, seed=4))
    assert (own.estimator.max_iter, own.estimator.random_state) == (2, 9)


def test_sklearn_seed_comes_from_the_training_config(digits: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, _ = digits
    model = create_model("random_forest", "sklearn", {"n_estimators": 5})
    runs = []
    for seed in (1, 1, 2):
        model.fit(Xtr, ytr, TrainingConfig(seed=seed))
        runs.append(model.predict_proba(Xte))
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_regression_on_diabetes(diabetes: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, yte = diabetes
    linear = create_model("linear_regression", "sklearn")
    linear.fit(Xtr, ytr)
    assert linear.task == "regression" and linear.evaluate(Xte, yte)["r2"] > 0.3
    forest = create_model("random_forest", "sklearn", {"task": "regression", "n_estimators": 30})
    forest.fit(Xtr, ytr)
    assert forest.evaluate(Xte, yte)["r2"] > 0.2
    net = create_model("neural_network", "pytorch", {"task": "regression", "hidden_layers": [32]})
    history = net.fit(Xtr, ytr, TrainingConfig(epochs=30, learning_rate=3e-3),
                      validation_data=(Xte, yte))
    metrics = net.evaluate(Xte, yte)
    assert metrics["r2"] > 0.2, metrics
    assert set(metrics) == {"mse", "mae", "r2"} and history["val_r2"][-1] == metrics["r2"]
    assert net.predict(Xte).dtype == np.float64
    lsq = create_model("linear_regression", "torch")
    lsq.fit(Xtr, ytr, TrainingConfig(epochs=30, learning_rate=1e-2))
    assert lsq.evaluate(Xte, yte)["r2"] > 0.3
    with pytest.raises(ModelError, match="predict_proba needs a classification model"):
        net.predict_proba(Xte)


def test_torch_mlp_learns_digits_and_reports_each_epoch(torch_mlp: Any,
                                                        digits: tuple[Any, ...]) -> None:
    _, _, Xte, yte = digits
    metrics = torch_mlp.evaluate(Xte, yte)
    assert metrics["accuracy"] >= 0.9 and metrics["log_loss"] < 0.5, metrics
    proba = torch_mlp.predict_proba(Xte)
    assert proba.shape == (len(yte), 10) and np.allclose(proba.sum(axis=1), 1.0)
    assert torch_mlp.classes.tolist() == list(range(10))
    assert torch_mlp.params == {"hidden_layers": [32], "activation": "relu", "dropout": 0.0,
                                "task": "classification", "weight_decay": 0.0,
                                "standardize": True, "input_shape": None, "num_classes": None}
    assert torch_mlp.device == "cpu" and torch_mlp.epochs_trained == 10


def test_validation_split_gives_per_epoch_metrics(digits: tuple[Any, ...]) -> None:
    Xtr, ytr, _, _ = digits
    model = create_model("neural_network", "pytorch", {"hidden_layers": [16]})
    history = model.fit(Xtr, ytr, TrainingConfig(epochs=3, validation_split=0.25))
    assert len(history["loss"]) == len(history["val_accuracy"]) == 3
    assert len(history["val_log_loss"]) == 3 and history["epochs"] == 3
    assert history["n_samples"] == len(ytr) - round(len(ytr) * 0.25)
    assert history["loss"][2] < history["loss"][0]
    with pytest.raises(ModelError, match="not both"):
        model.fit(Xtr, ytr, TrainingConfig(validation_split=0.2),
                  validation_data=(Xtr, ytr))


def test_torch_fit_is_reproducible_and_leaves_global_rng_alone(digits: tuple[Any, ...]) -> None:
    import torch

    Xtr, ytr, Xte, _ = digits
    model = create_model("neural_network", "pytorch", {"hidden_layers": [16], "dropout": 0.3,
                                                        "activation": "tanh"})
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = model.fit(Xtr, ytr, TrainingConfig(epochs=2))["loss"], model.predict_proba(Xte)
    second = model.fit(Xtr, ytr, TrainingConfig(epochs=2))["loss"], model.predict_proba(Xte)
    other = model.fit(Xtr, ytr, TrainingConfig(epochs=2, seed=1))["loss"]
    assert torch.equal(before, torch.get_rng_state())
    assert first[0] == second[0] and np.array_equal(first[1], second[1])
    assert other != first[0]


def test_partial_fit_continues_training(digits: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, yte = digits
    model = create_model("neural_network", "pytorch", {"hidden_layers": [16]})
    first = model.partial_fit_epochs(Xtr, ytr, 1, validation_data=(Xte, yte))
    second = model.partial_fit_epochs(Xtr, ytr, 2, validation_data=(Xte, yte))
    assert (len(first["loss"]), first["epochs"], len(second["loss"]), second["epochs"]) == (
        1, 1, 2, 3)
    assert second["loss"][-1] < first["loss"][0]
    assert second["val_accuracy"][-1] > first["val_accuracy"][0]
    with pytest.raises(ModelError, match="X has 3 features but the model was fitted with 64"):
        model.partial_fit_epochs(Xtr[:, :3], ytr, 1)
    with pytest.raises(ModelError, match="epochs must be an int >= 1, got 0"):
        model.partial_fit_epochs(Xtr, ytr, 0)
    sk = create_model("knn", "sklearn")
    assert model.incremental and not sk.incremental
    with pytest.raises(ModelError, match=r"knn \(sklearn\) cannot continue training"):
        sk.partial_fit_epochs(Xtr, ytr, 1)


def test_string_labels_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "high", "low")
    for framework in ("pytorch", "sklearn"):
        model = create_model("logistic_regression", framework)
        model.fit(X, y, TrainingConfig(epochs=20, learning_rate=0.05))
        assert model.evaluate(X, y)["accuracy"] > 0.95
        assert set(model.predict(X).tolist()) == {"high", "low"}
        model.save(tmp_path / framework)
        back = load_model(tmp_path / framework)
        assert back.predict(X).tolist() == model.predict(X).tolist()


def test_int32_labels_keep_their_dtype(tmp_path: Path) -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([7, 7, 9, 9], dtype=np.int32)
    model = create_model("neural_network", "torch", {"hidden_layers": [4]})
    model.fit(X, y, TrainingConfig(epochs=1))
    model.save(tmp_path)
    assert load_model(tmp_path).predict(X).dtype == np.int32


@pytest.mark.parametrize(("model_type", "framework", "config"), [
    ("knn", "sklearn", {"n_neighbors": 2}),
    ("random_forest", "sklearn", {"n_estimators": 3}),
    ("neural_network", "sklearn", {"hidden_layers": [8]}),
    ("neural_network", "pytorch", {"hidden_layers": [8], "dropout": 0.1}),
    ("logistic_regression", "pytorch", {"weight_decay": 0.01}),
])
def test_save_load_gives_identical_predictions(model_type: str, framework: str,
                                               config: dict[str, Any], tmp_path: Path,
                                               digits: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, yte = digits
    model = create_model(model_type, framework, config)
    model.fit(Xtr[:400], ytr[:400], TrainingConfig(epochs=2))
    model.save(tmp_path)
    assert (tmp_path / "meta.json").is_file()
    back = load_model(tmp_path)
    assert (back.model_type, back.framework, back.task, back.params) == (
        model.model_type, model.framework, model.task, model.params)
    assert np.array_equal(back.predict(Xte), model.predict(Xte))
    assert np.array_equal(back.predict_proba(Xte), model.predict_proba(Xte))
    assert back.evaluate(Xte, yte) == model.evaluate(Xte, yte)
    packed = model_from_bytes(model_to_bytes(model))
    assert np.array_equal(packed.predict(Xte), model.predict(Xte))


def test_loaded_torch_model_continues_with_its_optimizer_state(torch_mlp: Any, tmp_path: Path,
                                                               digits: tuple[Any, ...]) -> None:
    Xtr, ytr, _, _ = digits
    torch_mlp.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"meta.json", "model.pt", "optimizer.pt"}
    back: Any = load_model(tmp_path)
    state = back._optimizer.state_dict()["state"]
    assert state and int(state[0]["step"]) == 10 * int(np.ceil(len(ytr) / 32))
    assert back.partial_fit_epochs(Xtr, ytr, 1)["epochs"] == 11


def test_an_unfitted_model_saves_and_loads_unfitted(tmp_path: Path) -> None:
    for framework in ("pytorch", "sklearn"):
        create_model("logistic_regression", framework, {"task": "classification"}).save(
            tmp_path / framework)
        back = load_model(tmp_path / framework)
        assert not back.fitted
        with pytest.raises(ModelError, match="is not fitted; call fit first"):
            back.predict([[1.0]])


def test_svm_without_probability_evaluates_accuracy_only(digits: tuple[Any, ...]) -> None:
    Xtr, ytr, Xte, yte = digits
    model = create_model("svm", "sklearn", {"gamma": 0.001})
    model.fit(Xtr, ytr)
    assert set(model.evaluate(Xte, yte)) == {"accuracy"}
    with pytest.raises(ModelError, match="gives no probabilities unless created with "
                                         "probability=True"):
        model.predict_proba(Xte)


def test_evaluate_counts_labels_unseen_at_fit_as_wrong() -> None:
    X = np.array([[0.0], [0.1], [1.0], [1.1]])
    model = create_model("knn", "sklearn", {"n_neighbors": 1})
    model.fit(X, [0, 0, 1, 1])
    metrics = model.evaluate(X, [0, 0, 1, 5])
    assert metrics["accuracy"] == 0.75 and metrics["log_loss"] == pytest.approx(-np.log(1e-15) / 4)


def test_verbose_logs_one_line_per_epoch(caplog: pytest.LogCaptureFixture) -> None:
    model = create_model("logistic_regression", "pytorch")
    with caplog.at_level(logging.INFO, logger="learning.models.neural"):
        model.fit([[0.0], [1.0]], [0, 1], TrainingConfig(epochs=3, verbose=True))
    assert [r.getMessage().split(" loss")[0] for r in caplog.records] == [
        "pytorch epoch 1", "pytorch epoch 2", "pytorch epoch 3"]


def test_a_diverging_fit_fails_loudly() -> None:
    X = np.linspace(-1, 1, 64).reshape(-1, 1)
    model = create_model("linear_regression", "pytorch", {"standardize": False})
    with pytest.raises(ModelError, match=r"lower TrainingConfig\.learning_rate"):
        model.fit(X, 1e30 * X[:, 0], TrainingConfig(epochs=20, learning_rate=1e30))


def test_frameworks_use_a_modest_thread_pool(torch_mlp: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_info

    from learning.models import sklearn_model
    from learning.models.neural import modest_threads

    assert torch.get_num_threads() <= modest_threads()
    seen = []

    class Spy(KNeighborsClassifier):
        def fit(self, X: Any, y: Any) -> Any:
            seen.append({pool["user_api"]: pool["num_threads"] for pool in threadpool_info()})
            return super().fit(X, y)

    monkeypatch.setattr(sklearn_model, "modest_threads", lambda: 1)
    model: Any = create_model("knn", "sklearn", {"n_neighbors": 1})
    model.estimator_class = Spy
    model.fit(GOOD_X, GOOD_Y)
    assert seen[0] and set(seen[0].values()) == {1}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert modest_threads() == 3


def test_a_column_vector_of_targets_is_flattened() -> None:
    model = create_model("knn", "sklearn", {"n_neighbors": 1})
    model.fit(GOOD_X, GOOD_Y.reshape(-1, 1))
    assert model.evaluate(GOOD_X, GOOD_Y.reshape(-1, 1)) == {"accuracy": 1.0, "log_loss": 0.0}


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def test_gpu_requests_are_checked() -> None:
    """On every machine: a GPU torch cannot see is refused, ``cpu`` and ``auto`` resolve."""
    import torch

    with pytest.raises(ModelError, match="scikit-learn trains on the CPU only"):
        create_model("knn", "sklearn").fit([[0.0], [1.0]], [0, 1], TrainingConfig(device="cuda"))
    seen = _cuda_devices()
    model = create_model("logistic_regression", "pytorch")
    with pytest.raises(ModelError, match=rf"device='cuda:{seen}' but torch sees {seen} CUDA "
                                         r"device\(s\)"):
        model.fit([[0.0], [1.0]], [0, 1], TrainingConfig(device=f"cuda:{seen}"))
    assert not model.fitted
    model.fit([[0.0], [1.0]], [0, 1], TrainingConfig(device="cpu"))
    assert model.device == "cpu"
    model.fit([[0.0], [1.0]], [0, 1], TrainingConfig(device="auto"))
    assert model.device == (f"cuda:{torch.cuda.current_device()}" if seen else "cpu")


def test_a_torch_model_trains_on_the_gpu(digits: tuple[Any, ...]) -> None:
    if not _cuda_devices():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False on this machine")
    Xtr, ytr, Xte, yte = digits
    model: Any = create_model(ModelType.NEURAL_NETWORK, MLFramework.PYTORCH,
                              {"hidden_layers": [32]})
    history = model.fit(Xtr, ytr, TrainingConfig(epochs=10, batch_size=32, device="cuda"))
    assert model.device == history["device"] == "cuda:0"
    assert {p.device.type for p in model._net.parameters()} == {"cuda"}
    assert history["loss"][-1] < history["loss"][0]
    assert model.evaluate(Xte, yte)["accuracy"] >= 0.9
    back: Any = model_from_bytes(model_to_bytes(model))  # saved from the GPU, loads on the CPU
    assert back.device == "cpu"
    assert np.allclose(back.predict_proba(Xte), model.predict_proba(Xte), atol=1e-5)


# -- configuration errors name what is wrong ------------------------------------------------------

def test_names_parse_with_aliases_and_did_you_mean() -> None:
    assert create_model("NEURAL_NETWORK", "keras").framework is MLFramework.TENSORFLOW
    assert is_supported("linear_regression", "tf") and not is_supported("knn", "torch")
    with pytest.raises(UnknownModelNameError, match="did you mean 'random_forest'"):
        create_model("random_forrest", "sklearn")
    with pytest.raises(UnknownModelNameError, match="unknown framework 'pytorh'; did you mean "
                                                    "'pytorch'"):
        create_model("knn", "pytorh")


def test_unsupported_combination_names_both_and_lists_support() -> None:
    with pytest.raises(ModelError) as err:
        create_model(ModelType.GRADIENT_BOOSTING, MLFramework.TENSORFLOW)
    assert str(err.value) == (
        "gradient_boosting is not available with tensorflow; tensorflow offers neural_network, "
        "logistic_regression, linear_regression; gradient_boosting is available with sklearn")
    assert isinstance(err.value, LearningError)


@pytest.mark.parametrize(("model_type", "framework", "config", "message"), [
    ("random_forest", "sklearn", {"n_estimator": 5},
     r"unknown random_forest \(sklearn RandomForestClassifier\) config key 'n_estimator'; "
     r"did you mean 'n_estimators'"),
    ("svm", "sklearn", {"task": "regression", "probability": True},
     r"svm \(sklearn SVR\) config key 'probability'"),
    ("knn", "sklearn", {"task": "ranking"},
     r"config key 'task' of knn \(sklearn\) must be 'classification' or 'regression', "
     r"got 'ranking'"),
    ("linear_regression", "sklearn", {"task": "classification"},
     r"config key 'task' of linear_regression \(sklearn\) must be 'regression'"),
    ("neural_network", "sklearn", {"dropout": 0.5}, "config key 'dropout' of neural_network"),
    ("neural_network", "sklearn", {"hidden_layers": [3], "hidden_layer_sizes": [3]},
     "sets both 'hidden_layers' and 'hidden_layer_sizes'"),
    ("neural_network", "pytorch", {"layers": [3]},
     r"unknown neural_network \(pytorch\) config key 'layers'"),
    ("neural_network", "pytorch", {"hidden_layers": [3, 0]},
     r"config key 'hidden_layers' of neural_network \(pytorch\) must be a list of ints >= 1, "
     r"got \[3, 0\]"),
    ("neural_network", "tensorflow", {"activation": "gelu"},
     r"config key 'activation' of neural_network \(tensorflow\) must be one of relu, tanh, "
     r"got 'gelu'"),
    ("neural_network", "pytorch", {"dropout": 1.0},
     r"config key 'dropout' of neural_network \(pytorch\) must be a number in \[0, 1\), got 1.0"),
    ("neural_network", "pytorch", {"weight_decay": -1},
     r"config key 'weight_decay' of neural_network \(pytorch\) must be a number >= 0"),
    ("neural_network", "pytorch", {"standardize": "yes"}, "config key 'standardize'"),
    ("logistic_regression", "pytorch", {"hidden_layers": [3]},
     r"unknown logistic_regression \(pytorch\) config key 'hidden_layers'"),
    ("logistic_regression", "pytorch", {"task": "regression"},
     r"config key 'task' of logistic_regression \(pytorch\) must be 'classification'"),
    ("knn", "sklearn", [("n_neighbors", 3)], "config must be a mapping"),
])
def test_bad_config_names_the_key(model_type: str, framework: str, config: Any,
                                  message: str) -> None:
    with pytest.raises(ModelError, match=message):
        create_model(model_type, framework, config)


def test_bad_estimator_values_fail_at_fit_naming_the_family() -> None:
    model = create_model("svm", "sklearn", {"C": -1.0})
    with pytest.raises(ModelError, match=r"svm \(sklearn SVC\) could not fit: .*'C'"):
        model.fit([[0.0], [1.0]], [0, 1])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("epochs", 0, "TrainingConfig.epochs must be an int >= 1, got 0"),
    ("epochs", 2.0, "TrainingConfig.epochs must be an int >= 1, got 2.0"),
    ("batch_size", True, "TrainingConfig.batch_size must be an int >= 1, got True"),
    ("seed", -1, "TrainingConfig.seed must be an int >= 0"),
    ("learning_rate", 0.0, "TrainingConfig.learning_rate must be a finite number > 0"),
    ("learning_rate", float("nan"), "TrainingConfig.learning_rate"),
    ("validation_split", 1.0, r"TrainingConfig.validation_split must be a number in \[0, 1\)"),
    ("device", "tpu", "TrainingConfig.device must be 'auto', 'cpu', 'cuda"),
    ("verbose", 1, "TrainingConfig.verbose must be a bool"),
])
def test_training_config_errors_name_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        TrainingConfig(**{field: value})


def test_training_config_devices() -> None:
    assert [TrainingConfig(device=d).gpu_index() for d in ("auto", "cpu", "cuda", "GPU:2")] == [
        None, None, 0, 2]


# -- bad data names the argument -------------------------------------------------------------------

GOOD_X = np.arange(12.0).reshape(6, 2)
GOOD_Y = np.array([0, 1, 0, 1, 0, 1])


@pytest.mark.parametrize(("X", "y", "message"), [
    (np.arange(6.0), GOOD_Y, r"X must be 2-D \(samples, features\), got shape \(6,\)"),
    (np.zeros((0, 2)), [], r"X is empty \(shape \(0, 2\)\)"),
    (GOOD_X, GOOD_Y[:5], "y has 5 samples but X has 6"),
    (GOOD_X, GOOD_Y.reshape(2, 3), r"y must be 1-D \(one target per sample\), got shape \(2, 3\)"),
    (np.where(GOOD_X == 3.0, np.nan, GOOD_X), GOOD_Y,
     r"X contains NaN or infinity \(first at row 1, column 1\)"),
    (GOOD_X, np.array([0, 1, None, 1, 0, 1], dtype=object),
     "y contains a missing value .* at index 2"),
    (GOOD_X, np.array([0.0, 1.0, np.nan, 1.0, 0.0, 1.0]), "y contains a missing value"),
    ([["a", "b"]] * 6, GOOD_Y, "X must be numeric"),
    (GOOD_X, np.zeros(6), r"y has a single class \(\[0.0\]\)"),
    (GOOD_X, np.array([0, "a", 0, 1, 0, 1], dtype=object), "y mixes labels"),
])
@pytest.mark.parametrize("framework", ["sklearn", "pytorch"])
def test_bad_training_data_names_what_is_wrong(X: Any, y: Any, message: str,
                                               framework: str) -> None:
    model = create_model("logistic_regression", framework)
    with pytest.raises(ModelError, match=message):
        model.fit(X, y, TrainingConfig(epochs=1))


def test_bad_inference_and_validation_data_name_what_is_wrong() -> None:
    model = create_model("knn", "sklearn", {"n_neighbors": 1})
    with pytest.raises(ModelError, match="is not fitted; call fit first"):
        model.predict(GOOD_X)
    with pytest.raises(ModelError, match="a regression model has no classes"):
        create_model("linear_regression", "sklearn").classes  # noqa: B018
    model.fit(GOOD_X, GOOD_Y)
    with pytest.raises(ModelError, match="X has 3 features but the model was fitted with 2"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ModelError, match="y has 2 samples but X has 6"):
        model.evaluate(GOOD_X, [0, 1])
    with pytest.raises(ModelError, match="X_val has 1 features but the model was fitted with 2"):
        model.fit(GOOD_X, GOOD_Y, validation_data=(np.zeros((2, 1)), [0, 1]))
    with pytest.raises(ModelError, match="y_val has 1 samples but X_val has 2"):
        model.fit(GOOD_X, GOOD_Y, validation_data=(np.zeros((2, 2)), [0]))
    with pytest.raises(ModelError, match=r"validation_data must be a pair \(X_val, y_val\)"):
        model.fit(GOOD_X, GOOD_Y, validation_data=(GOOD_X,))  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="training must be a TrainingConfig, got dict"):
        model.fit(GOOD_X, GOOD_Y, {"epochs": 3})  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"validation_split=0\.9 leaves no training sample"):
        model.fit(GOOD_X[:2], GOOD_Y[:2], TrainingConfig(validation_split=0.9))
    torch_model = create_model("logistic_regression", "torch")
    torch_model.fit(GOOD_X, GOOD_Y, TrainingConfig(epochs=1))
    with pytest.raises(ModelError, match=r"y has label 7, unseen when the model was fitted"):
        torch_model.partial_fit_epochs(GOOD_X, [0, 1, 0, 1, 0, 7], 1)


def test_loading_something_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="holds no saved model"):
        load_model(tmp_path)
    (tmp_path / "meta.json").write_text('{"format": 99}')
    with pytest.raises(ModelError, match="has format 99; this version reads 1"):
        load_model(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="not a packed model"):
        model_from_bytes(b"junk")
