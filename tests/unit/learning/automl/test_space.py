"""AutoML spaces, settings and datasets: everything that needs no Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learning.automl.space import DEFAULT_SPACE, Dist, grid_points, parse_space, split_params
from learning.errors import LearningError, UnknownNameError


def test_default_space_parses_and_every_family_resolves() -> None:
    space = parse_space(None)
    assert set(space) == set(DEFAULT_SPACE)
    assert space["knn"]["weights"] == Dist("choice", ("uniform", "distance"))
    assert space["logistic_regression"]["max_iter"] == 2000  # fixed values pass through


@pytest.mark.parametrize("spec, message", [
    ({"svn": {}}, "unknown model family 'svn'; did you mean 'svm'"),
    ({"svm": {"C": {"normal": [0, 1]}}}, "space svm.C: a distribution is one of"),
    ({"svm": {"C": {"uniform": [2, 1]}}}, "space svm.C: uniform needs low < high"),
    ({"svm": {"C": {"uniform": [1]}}}, r"space svm.C: uniform needs \[low, high\]"),
    ({"knn": {"n_neighbors": {"randint": [1.5, 4]}}}, "space knn.n_neighbors: randint needs "
                                                      "integers"),
    ({"knn": {"weights": {"choice": []}}}, "space knn.weights: choice needs a non-empty list"),
    ({"svm": 3}, "space svm: hyperparameters must be a mapping"),
    ({}, "space must map model families"),
])
def test_bad_spaces_name_family_and_key(spec: dict, message: str) -> None:
    with pytest.raises(LearningError, match=message):
        parse_space(spec)


def test_unknown_family_is_an_unknown_name_error() -> None:
    with pytest.raises(UnknownNameError):
        parse_space({"forest": {}})


def test_training_keys_go_to_training_config_for_networks_only() -> None:
    assert split_params("tf_mlp", {"epochs": 3, "dropout": 0.1}) == ({"dropout": 0.1},
                                                                      {"epochs": 3})
    # scikit-learn's MLP takes learning_rate_init etc. itself: nothing is split off
    assert split_params("mlp", {"max_iter": 50}) == ({"max_iter": 50}, {})


def test_grid_points_cover_each_range() -> None:
    assert grid_points(Dist("uniform", (0.0, 1.0)), 3) == [0.0, 0.5, 1.0]
    assert grid_points(Dist("choice", ("a", "b")), 7) == ["a", "b"]
    points = grid_points(Dist("randint", (1, 3)), 5)
    assert points == [1, 2]  # high is exclusive; duplicates collapse
    with pytest.raises(LearningError, match="n >= 2"):
        grid_points(Dist("uniform", (0.0, 1.0)), 1)


def test_automl_settings_are_checked_before_anything_runs() -> None:
    from learning.automl.search import AutoML

    with pytest.raises(LearningError, match="folds is out of range: 1"):
        AutoML(folds=1)
    with pytest.raises(LearningError, match="grace_period is out of range: 6"):
        AutoML(folds=5, grace_period=6)
    with pytest.raises(LearningError, match="task must be one of"):
        AutoML(task="clustering")  # type: ignore[arg-type]
    with pytest.raises(LearningError, match="gpus_per_trial must be"):
        AutoML(gpus_per_trial=-1)


def test_bad_data_is_refused_with_what_is_wrong() -> None:
    from learning.automl.search import AutoML

    search = AutoML({"knn": {}}, folds=2)
    with pytest.raises(LearningError, match="X must be 2-D"):
        search.fit(np.zeros(10), np.zeros(10))
    with pytest.raises(LearningError, match="differ in length: 10 vs 9"):
        search.fit(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(LearningError, match="NaN"):
        search.fit(np.full((10, 2), np.nan), np.zeros(10))
    with pytest.raises(LearningError, match="too few for 2-fold"):
        search.fit(np.zeros((3, 2)), np.zeros(3))


def test_cv_splits_are_stratified_and_cover_every_sample() -> None:
    from learning.automl.search import cv_splits

    y = np.array([0] * 50 + [1] * 10)
    splits = cv_splits(y, 5, seed=3)
    assert all((y[test] == 1).sum() == 2 for _, test in splits)
    assert sorted(np.concatenate([t for _, t in splits]).tolist()) == list(range(60))
    assert [t.tolist() for _, t in splits] == [t.tolist() for _, t in cv_splits(y, 5, seed=3)]


def test_datasets_load_from_sklearn_npz_and_csv(tmp_path: Path) -> None:
    from learning.automl.task import load_dataset

    X, y = load_dataset("iris")
    assert X.shape == (150, 4) and set(y) == {0, 1, 2}
    np.savez(tmp_path / "d.npz", X=np.ones((4, 2)), y=np.arange(4))
    assert load_dataset(path=str(tmp_path / "d.npz"))[0].shape == (4, 2)
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    X, y = load_dataset(path=str(tmp_path / "d.csv"))
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "digit"}, "unknown dataset 'digit'; did you mean 'digits'"),
    ({}, "give exactly one of dataset"),
    ({"path": "/nonexistent.npz"}, "does not exist"),
])
def test_bad_datasets_are_named(kwargs: dict, message: str) -> None:
    from learning.automl.task import load_dataset

    with pytest.raises(LearningError, match=message):
        load_dataset(**kwargs)


def test_bad_files_name_file_and_what_is_missing(tmp_path: Path) -> None:
    from learning.automl.task import load_dataset

    np.savez(tmp_path / "d.npz", X=np.ones((4, 2)))
    with pytest.raises(LearningError, match=r"missing arrays \['y'\]"):
        load_dataset(path=str(tmp_path / "d.npz"))
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,x,1\n")
    with pytest.raises(LearningError, match="line 3 has a missing or non-numeric value"):
        load_dataset(path=str(tmp_path / "d.csv"))
    with pytest.raises(LearningError, match="no column 'target'"):
        load_dataset(path=str(tmp_path / "d.csv"), label="target")
    (tmp_path / "d.txt").write_text("")
    with pytest.raises(LearningError, match=r"must be \.npz or \.csv"):
        load_dataset(path=str(tmp_path / "d.txt"))
