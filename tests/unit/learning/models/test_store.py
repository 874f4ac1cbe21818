"""The versioned store: numbering, latest and best, deletion, atomic concurrent saves."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learning.models import ModelError, TrainingConfig, UnknownModelNameError, create_model
from learning.models.store import ModelStore, ModelVersion

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X = np.array([[0.0, 0.0], [0.1, 0.2], [1.0, 1.0], [0.9, 1.1]])
Y = np.array(["a", "a", "b", "b"])


def knn(k: int = 1) -> Any:
    model = create_model("knn", "sklearn", {"n_neighbors": k})
    model.fit(X, Y)
    return model


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def test_versions_count_up_and_latest_is_the_highest(store: ModelStore) -> None:
    assert store.names() == [] and not store.root.exists()
    start = time.time()
    v1 = store.save("clf", knn(), metrics={"accuracy": 0.5}, tags={"stage": "dev"})
    v2 = store.save("clf", knn(3), metrics={"accuracy": 0.75})
    assert (v1.version, v2.version) == (1, 2)
    assert v1.path == store.root / "clf" / "v1" and v2.path.name == "v2"
    assert isinstance(v1, ModelVersion) and start <= v1.created <= v2.created <= time.time()
    assert (v1.framework, v1.model_type, v1.metrics, v1.tags) == (
        "sklearn", "knn", {"accuracy": 0.5}, {"stage": "dev"})
    assert v1.params == {"task": "classification", "n_neighbors": 1}
    assert v2.tags == {}
    assert store.get("clf") == v2 and store.get("clf", 1) == v1
    assert [v.version for v in store.versions("clf")] == [1, 2]
    latest: Any = store.load("clf")
    first: Any = store.load("clf", 1)
    assert (latest.estimator.n_neighbors, first.estimator.n_neighbors) == (3, 1)
    assert store.names() == ["clf"]
    assert sorted(p.name for p in v1.path.iterdir()) == ["meta.json", "model.joblib",
                                                         "version.json"]
    assert [p.name for p in store.root.iterdir()] == ["clf"]  # no temporary directory left


def test_params_can_be_given(store: ModelStore) -> None:
    version = store.save("clf", knn(), params={"k": np.int64(1), "grid": (1, 2)})
    assert version.params == {"k": 1, "grid": [1, 2]}


def test_best_by_metric(store: ModelStore) -> None:
    for acc, loss in ((0.7, 0.4), (0.9, 0.3), (0.9, 0.5), (0.8, 0.2)):
        store.save("clf", knn(), metrics={"accuracy": acc, "log_loss": loss})
    store.save("clf", knn())
    assert store.best("clf", "accuracy").version == 3  # a tie goes to the latest
    assert store.best("clf", "log_loss", higher_is_better=False).version == 4
    with pytest.raises(UnknownModelNameError, match="unknown metric of stored model 'clf' "
                                                    "'acuracy'; did you mean 'accuracy'"):
        store.best("clf", "acuracy")


def test_delete_leaves_the_number_taken(store: ModelStore) -> None:
    for _ in range(3):
        store.save("clf", knn())
    store.delete("clf", 3)
    assert [v.version for v in store.versions("clf")] == [1, 2]
    assert store.get("clf").version == 2
    with pytest.raises(UnknownModelNameError, match="unknown stored model 'clf' version '3' "
                                                    r"\(known: 1, 2\)"):
        store.get("clf", 3)
    assert store.save("clf", knn()).version == 4
    for version in (1, 2, 4):
        store.delete("clf", version)
    assert store.names() == []
    with pytest.raises(UnknownModelNameError, match="unknown stored model 'clf'"):
        store.versions("clf")
    assert store.save("clf", knn()).version == 5


def test_unknown_names_suggest_the_close_one(store: ModelStore) -> None:
    store.save("digits-mlp", knn())
    with pytest.raises(UnknownModelNameError) as err:
        store.load("digits-mpl")
    assert str(err.value) == ("unknown stored model 'digits-mpl'; did you mean 'digits-mlp'? "
                              "(known: digits-mlp)")
    with pytest.raises(ModelError, match="version must be an int, got '1'"):
        store.get("digits-mlp", "1")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "a/b", "../x", ".hidden", "a\\b", "x" * 129, 3, "v 1"])
def test_names_are_checked(store: ModelStore, name: Any) -> None:
    with pytest.raises(ModelError, match="model name must be 1-128 letters, digits"):
        store.save(name, knn())
    assert not store.root.exists()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metrics": {"accuracy": "high"}}, "metric 'accuracy' must be a finite number, got 'high'"),
    ({"metrics": {"loss": float("nan")}}, "metric 'loss' must be a finite number"),
    ({"metrics": {"ok": True}}, "metric 'ok' must be a finite number"),
    ({"tags": {"stage": 1}}, "tag 'stage' must map a string to a string, got 1"),
])
def test_metrics_and_tags_are_checked(store: ModelStore, kwargs: dict[str, Any],
                                      message: str) -> None:
    with pytest.raises(ModelError, match=message):
        store.save("clf", knn(), **kwargs)


def test_a_failed_save_leaves_nothing_behind(store: ModelStore,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    model = knn()

    def broken(directory: Path) -> None:
        (Path(directory) / "half-written").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save("clf", model)
    assert [p.name for p in store.root.iterdir()] == ["clf"]
    assert list((store.root / "clf").iterdir()) == [] and store.names() == []
    with pytest.raises(ModelError, match=r"must be a learning\.models\.Model, got str"):
        store.save("clf", "model")  # type: ignore[arg-type]


def test_a_number_taken_meanwhile_is_skipped(store: ModelStore,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store.save("clf", knn())
    calls = []
    real = ModelStore._next_version

    def stale(self: ModelStore, name: str) -> int:  # another process took v1 after we looked
        calls.append(name)
        return 1 if len(calls) == 1 else real(self, name)

    monkeypatch.setattr(ModelStore, "_next_version", stale)
    assert store.save("clf", knn(3)).version == 2 and len(calls) == 2
    first: Any = store.load("clf", 1)
    assert first.estimator.n_neighbors == 1


SAVES = 15


def _save_in_step(root: str, who: int, barrier: Any, results: Any) -> None:
    """One writer: ``SAVES`` saves of "shared", each in step with the other writer.

    Every save stops at ``barrier`` once it has picked the number it will try to
    rename its directory to, and goes on only when the other writer has picked
    one too; so at least the first save of each collides (both pick v1) and the
    loser must retry.  Retries (numbers picked again) go to ``results``.
    """
    store = ModelStore(root)
    real = ModelStore._next_version
    state = {"fresh": False, "retries": 0}

    def next_version(self: ModelStore, name: str) -> int:
        number = real(self, name)
        if state["fresh"]:
            state["fresh"] = False
            barrier.wait(timeout=60)
        else:
            state["retries"] += 1
        return number

    ModelStore._next_version = next_version  # type: ignore[method-assign]
    for i in range(SAVES):
        model = create_model("knn", "sklearn", {"n_neighbors": 1})
        model.fit([[0.0], [1.0]], [f"{who}-{i}", "other"])  # the model says which save it is
        state["fresh"] = True
        store.save("shared", model, tags={"who": str(who), "i": str(i)})
    results.put((who, state["retries"]))


def test_two_processes_saving_at_once_get_distinct_versions(store: ModelStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_save_in_step, args=(str(store.root), who, barrier, results))
             for who in (1, 2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    retries = dict(results.get(timeout=10) for _ in procs)
    assert set(retries) == {1, 2}
    assert sum(retries.values()) >= 1  # the writers did collide on a number
    versions = store.versions("shared")
    assert [v.version for v in versions] == list(range(1, 2 * SAVES + 1))  # distinct, no gap
    saved = [(v.tags["who"], v.tags["i"]) for v in versions]
    assert sorted(saved) == sorted((str(w), str(i)) for w in (1, 2) for i in range(SAVES))
    for v in versions:  # each version holds the model of the save its record names
        assert store.load("shared", v.version).predict([[0.0]]).tolist() == [
            f"{v.tags['who']}-{v.tags['i']}"]
    assert sorted(p.name for p in store.root.iterdir()) == ["shared"]  # no temporary left


def test_frameworks_round_trip_through_the_store(store: ModelStore) -> None:
    rng = np.random.default_rng(1)
    X_big = rng.normal(size=(120, 3))
    y_big = (X_big[:, 0] > 0).astype(int)
    for framework in ("sklearn", "pytorch"):
        model = create_model("neural_network", framework, {"hidden_layers": [8]})
        model.fit(X_big, y_big, TrainingConfig(epochs=3))
        version = store.save(f"net-{framework}", model, metrics=model.evaluate(X_big, y_big))
        back = store.load(f"net-{framework}")
        assert np.array_equal(back.predict_proba(X_big), model.predict_proba(X_big))
        assert version.framework == framework
    assert store.names() == ["net-pytorch", "net-sklearn"]
