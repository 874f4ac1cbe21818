"""AutoML on Ray Tune, for real: trials on the test cluster, ASHA, the model store, an agent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learning.automl.search import AutoML
from learning.errors import LearningError
from tests.integration.conftest import specs, wait_until

pytestmark = pytest.mark.integration


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_search_stops_bad_trials_early_and_stores_the_best(ray_cluster: Any,
                                                           tmp_path: Path) -> None:
    from learning.models.store import ModelStore

    X, y = digits()
    space = {"svm": {"C": {"loguniform": [1.0, 100.0]}, "gamma": {"loguniform": [0.01, 0.1]}},
             # C this small leaves logistic regression near chance: ASHA should cut it short
             "logistic_regression": {"C": {"loguniform": [1e-6, 1e-5]}, "max_iter": 200}}
    store = ModelStore(tmp_path / "models")
    # one trial at a time: each is judged against the ones before it at the same fold,
    # so a near-chance trial after any svm one is cut (ASHA with all six at once may not)
    result = AutoML(space, folds=4, num_samples=3, cpus_per_trial=0.5, max_concurrent_trials=1,
                    store=store, name="digits",
                    storage_path=tmp_path / "tune").fit(X, y)
    assert len(result.trials) == 6 and not any(t.error for t in result.trials)
    assert result.best_family == "svm" and result.cv_score >= 0.97
    stopped = [t for t in result.trials if not t.completed]
    assert result.stopped_early == len(stopped) >= 1  # ASHA cut some short...
    assert all(1 <= t.folds_done < 4 for t in stopped)
    # the tiny-C family is near chance on every fold it ran (a stopped trial's mean over
    # its first folds may still beat the best's mean over all folds, so no more is claimed)
    assert all((t.score or 0) < 0.5 for t in result.trials if t.family != "svm")
    assert all(t.gpus == 0 for t in result.trials)  # no GPU for scikit-learn trials
    assert result.time_to(0.97) is not None and result.time_to(1.01) is None
    # the best configuration was refitted on all the data and stored as version 1
    assert result.version.version == 1 and result.version.params["family"] == "svm"
    model = store.load("digits")
    assert (model.predict(X) == y).mean() > 0.99  # refitted on all of it
    assert Path(result.experiment_path).is_dir()  # Tune's own result files
    # each trial's score went to Ray's metrics (what the dashboard's metrics view shows)
    experiment = Path(result.experiment_path).name
    wait_until(lambda: f'experiment="{experiment}"' in _scrape_metrics("raymas_automl_cv_score"),
               "no raymas_automl_cv_score in the node's metrics export", timeout=60)


def _scrape_metrics(name: str) -> str:
    import urllib.request

    import ray

    lines = []
    for node in ray.nodes():
        if node["Alive"]:
            url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
            with urllib.request.urlopen(url, timeout=5) as reply:
                lines += [ln for ln in reply.read().decode().splitlines() if name in ln]
    return "\n".join(lines)


def test_no_trial_completing_is_reported_not_hidden(ray_cluster: Any, tmp_path: Path) -> None:
    X, y = digits()
    with pytest.raises(LearningError, match="no trial ran all 3 folds; errors"):
        AutoML({"svm": {"C": 1.0, "kernel": "no-such-kernel"}}, folds=3, num_samples=1,
               cpus_per_trial=0.5, storage_path=tmp_path).fit(X, y)


def test_an_agent_runs_an_automl_task(make_supervisor: Callable[..., Any],
                                      tmp_path: Path) -> None:
    from learning.models.store import ModelStore

    sup = make_supervisor()
    sup.spawn(specs("ml", 1))
    args = {"dataset": "digits", "folds": 3, "num_samples": 2, "cpus_per_trial": 0.5,
            "space": {"knn": {"n_neighbors": {"randint": [1, 6]}}},
            "store": str(tmp_path / "models"), "name": "digits-knn"}
    ids = sup.submit([{"task_id": "a1", "kind": "automl", "args": args}])
    res = sup.wait(ids, 240)
    assert res["a1"]["state"] == "done", res
    value = res["a1"]["value"]
    assert value["best_family"] == "knn" and value["cv_accuracy"] > 0.95
    assert value["trials"] == 2 and value["model"]["version"] == 1
    assert ModelStore(tmp_path / "models").get("digits-knn").metrics["cv_accuracy"] == \
        pytest.approx(value["cv_accuracy"])


def test_networks_of_both_frameworks_are_searched_on_gpu_slots(ray_cluster: Any,
                                                             tmp_path: Path) -> None:
    """PyTorch and TensorFlow families; 'auto' gives each network trial one of the
    cluster's (fake) GPUs, so they are placed like GPU work and train on the CPU here."""
    X, y = digits()
    space = {"torch_mlp": {"hidden_layers": {"choice": [[32], [64]]}, "epochs": 8,
                           "learning_rate": {"loguniform": [0.003, 0.01]}},
             "tf_mlp": {"hidden_layers": [32], "epochs": 8, "learning_rate": 0.005}}
    result = AutoML(space, folds=2, num_samples=1, cpus_per_trial=0.5, scheduler="fifo",
                    storage_path=tmp_path).fit(X, y)
    assert sorted(t.family for t in result.trials) == ["tf_mlp", "torch_mlp"]
    assert all(t.error is None and t.completed for t in result.trials), result.trials
    assert all((t.score or 0) > 0.9 for t in result.trials)  # chance is 0.1
    assert all(t.gpus == 1 for t in result.trials)
