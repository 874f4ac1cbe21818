"""A network's declared sizes, ``input_shape`` and ``num_classes``, and parameter counts.

Checked at create time (types, with the key named), against the data at fit
(the key, what it expects and what the data has), and they fix the network's
size, so its parameter count is known before any data is seen.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learning.models import (
    ModelError,
    TrainingConfig,
    UnknownModelNameError,
    create_model,
    load_model,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NETS = ["pytorch", "tensorflow"]
ONE = TrainingConfig(epochs=1, batch_size=8)
LEARN = TrainingConfig(epochs=20, batch_size=4, learning_rate=0.02)


def blobs(labels: list[Any], features: int = 4, per_class: int = 10, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """Separable clusters, one per label."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(labels), features)) * 5
    X = np.concatenate([c + rng.standard_normal((per_class, features)) for c in centres])
    return X, np.repeat(np.array(labels), per_class)


# -- create time ---------------------------------------------------------------------------------

@pytest.mark.parametrize("framework", NETS)
def test_declared_sizes_are_parsed(framework: str) -> None:
    net = create_model("neural_network", framework,
                       {"input_shape": [np.int64(28), 28], "num_classes": np.int64(10)})
    assert net.params["input_shape"] == (28, 28) and type(net.params["num_classes"]) is int
    assert create_model("neural_network", framework).params["input_shape"] is None
    logistic = create_model("logistic_regression", framework,
                            {"input_shape": (3,), "num_classes": 4})
    assert logistic.params["num_classes"] == 4


@pytest.mark.parametrize("framework", NETS)
@pytest.mark.parametrize(("model_type", "config", "message"), [
    ("neural_network", {"input_shape": 784},
     r"config key 'input_shape' of neural_network \({fw}\) must be a tuple or list of ints "
     r">= 1, such as \(784,\), or None, got 784"),
    ("neural_network", {"input_shape": ()}, r"'input_shape' .* got \(\)"),
    ("neural_network", {"input_shape": (28, 0)}, r"'input_shape' .* got \(28, 0\)"),
    ("neural_network", {"input_shape": [True]}, r"'input_shape' .* got \[True\]"),
    ("neural_network", {"input_shape": [784.0]}, r"'input_shape' .* got \[784.0\]"),
    ("neural_network", {"input_shape": "784"}, r"'input_shape' .* got '784'"),
    ("neural_network", {"num_classes": 1},
     r"config key 'num_classes' of neural_network \({fw}\) must be an int >= 2, or None, "
     r"got 1"),
    ("neural_network", {"num_classes": 10.0}, r"'num_classes' .* got 10.0"),
    ("neural_network", {"num_classes": True}, r"'num_classes' .* got True"),
    ("neural_network", {"num_classes": "10"}, r"'num_classes' .* got '10'"),
    ("neural_network", {"task": "regression", "num_classes": 3},
     r"config key 'num_classes' of neural_network \({fw}\) is for classification; this "
     r"network's task is 'regression'"),
    ("linear_regression", {"num_classes": 3},
     r"unknown linear_regression \({fw}\) config key 'num_classes'"),
])
def test_bad_declared_sizes_name_the_key(framework: str, model_type: str,
                                         config: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message.replace("{fw}", framework)):
        create_model(model_type, framework, config)


@pytest.mark.parametrize(("key", "meant"), [("input_shpae", "input_shape"),
                                            ("num_class", "num_classes"),
                                            ("n_classes", "num_classes")])
def test_a_misspelt_size_key_gets_a_did_you_mean(key: str, meant: str) -> None:
    with pytest.raises(UnknownModelNameError,
                       match=rf"config key '{key}'; did you mean '{meant}'\? \(known: "
                             r"activation, dropout, hidden_layers, input_shape, num_classes, "):
        create_model("neural_network", "tensorflow", {key: 3})


@pytest.mark.parametrize(("model_type", "config", "expected"), [
    ("neural_network", {"input_shape": (784,), "num_classes": 10, "hidden_layers": [128, 64]},
     785 * 128 + 129 * 64 + 65 * 10),
    ("neural_network", {"input_shape": (5,), "task": "regression", "hidden_layers": [4]},
     6 * 4 + 5 * 1),
    ("logistic_regression", {"input_shape": (2, 3), "num_classes": 4}, 7 * 4),
    ("linear_regression", {"input_shape": (3,)}, 4),
    ("neural_network", {"input_shape": (5,)}, None),  # classes unknown until fit
    ("neural_network", {"num_classes": 3}, None),  # features unknown until fit
    ("linear_regression", {}, None),
])
@pytest.mark.parametrize("framework", NETS)
def test_the_parameter_count_is_known_once_the_sizes_are(
        framework: str, model_type: str, config: dict[str, Any], expected: int | None) -> None:
    assert create_model(model_type, framework, config).n_parameters == expected


def test_counting_parameters_at_create_builds_no_network() -> None:
    code = ("import sys\n"
            "from learning.models import create_model\n"
            "for fw in ('pytorch', 'tensorflow'):\n"
            "    net = create_model('neural_network', fw, {'input_shape': (784,),\n"
            "                       'num_classes': 10, 'hidden_layers': [128, 64]})\n"
            "    assert net.n_parameters == 109386, net.n_parameters\n"
            "heavy = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


# -- fit time ------------------------------------------------------------------------------------

@pytest.mark.parametrize("framework", NETS)
@pytest.mark.parametrize(("config", "labels", "features", "message"), [
    ({"input_shape": (3,)}, [0, 1], 2, r"^input_shape \(3,\) expects 3 features, X has 2$"),
    ({"input_shape": [2, 2]}, [0, 1], 3, r"^input_shape \(2, 2\) expects 4 features, X has 3$"),
    ({"num_classes": 2}, [0, 1, 2], 4, r"^num_classes 2 expects at most 2 classes, y has 3$"),
    ({"num_classes": 2}, ["a", "b", "c"], 4, "num_classes 2 expects at most 2 classes, y has 3"),
])
def test_data_that_contradicts_the_declared_sizes_fails_naming_the_key(
        framework: str, config: dict[str, Any], labels: list[Any], features: int,
        message: str) -> None:
    X, y = blobs(labels, features)
    net = create_model("neural_network", framework, config)
    with pytest.raises(ModelError, match=message):
        net.fit(X, y, ONE)
    assert not net.fitted


def test_integer_labels_below_num_classes_are_class_indices() -> None:
    X, y = blobs([0, 2])
    net: Any = create_model("neural_network", "pytorch", {"num_classes": 4, "hidden_layers": [8]})
    net.fit(X, y, LEARN)
    assert net.classes.tolist() == [0, 1, 2, 3] and net.n_outputs == 4
    assert net.predict_proba(X).shape == (len(y), 4)
    assert set(net.predict(X).tolist()) <= {0, 2}
    assert net.evaluate(X, y)["accuracy"] == 1.0
    assert 0.0 <= net.evaluate(X[:2], [3, 1])["accuracy"] <= 1.0  # 3 is a class, if unseen
    assert net.n_parameters == 5 * 8 + 9 * 4 == sum(p.numel() for p in net._net.parameters())


@pytest.mark.parametrize("labels", [["cat", "dog"], [5, 9]])
def test_other_labels_leave_the_extra_outputs_unused(labels: list[Any]) -> None:
    X, y = blobs(labels)
    net: Any = create_model("logistic_regression", "torch", {"num_classes": 3})
    net.fit(X, y, LEARN)
    assert net.classes.tolist() == labels and net._net[-1].out_features == 3
    proba = net.predict_proba(X)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert net.predict(X).tolist() == y.tolist()
    assert net.n_parameters == 5 * 3


def test_declared_sizes_survive_save_and_load(tmp_path: Path) -> None:
    X, y = blobs([0, 1, 2])
    net = create_model("neural_network", "pytorch",
                       {"input_shape": (2, 2), "num_classes": 3, "hidden_layers": [8]})
    net.fit(X, y, ONE)
    net.save(tmp_path)
    back = load_model(tmp_path)
    assert back.params == net.params and back.params["input_shape"] == (2, 2)
    assert back.n_parameters == net.n_parameters == 5 * 8 + 9 * 3
    assert np.array_equal(back.predict_proba(X), net.predict_proba(X))
    again = create_model(back.model_type, back.framework, back.params)  # as a retraining does
    assert again.params == net.params


# -- scikit-learn ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("model_type", "config", "expected"), [
    ("logistic_regression", {}, 3 * 4 + 3),
    ("neural_network", {"hidden_layers": [8], "max_iter": 5, "batch_size": 10},
     4 * 8 + 8 + 8 * 3 + 3),
    ("knn", {}, None),
    ("random_forest", {"n_estimators": 2}, None),
    ("svm", {"kernel": "linear"}, None),
])
def test_sklearn_counts_the_parameters_of_linear_models_and_mlps(
        model_type: str, config: dict[str, Any], expected: int | None) -> None:
    X, y = blobs([0, 1, 2])
    model = create_model(model_type, "sklearn", config)
    assert model.n_parameters is None
    model.fit(X, y)
    assert model.n_parameters == expected


@pytest.mark.parametrize(("config", "expected"), [({}, 5), ({"fit_intercept": False}, 4)])
def test_sklearn_linear_regression_counts_its_intercept_if_it_has_one(
        config: dict[str, Any], expected: int) -> None:
    X, _ = blobs([0, 1])
    model = create_model("linear_regression", "sklearn", config)
    model.fit(X, X.sum(axis=1))
    assert model.n_parameters == expected
