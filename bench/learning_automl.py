"""AutoML figures: Tune + ASHA on scikit-learn's digits vs GridSearchCV over the same space.

Both sides use the same 5 shuffled stratified folds.  The grid puts
``GRID_POINTS`` points on each continuous range (log-spaced for loguniform)
and every option of each choice, so it covers the space the random search
samples.  GridSearchCV has no clock per candidate; its time to the target is
estimated from ``cv_results_`` (fit + score seconds of the candidates in
order, divided by ``n_jobs``) and the total is measured.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np

from bench._common import emit, log

B = "learning"
TARGET = 0.985
GRID_POINTS = 4

SPACE: dict[str, dict[str, Any]] = {
    "svm": {"C": {"loguniform": [0.1, 100.0]}, "gamma": {"loguniform": [0.001, 1.0]}},
    "knn": {"n_neighbors": {"randint": [1, 12]}, "weights": {"choice": ["uniform", "distance"]}},
    "logistic_regression": {"C": {"loguniform": [0.01, 100.0]}, "max_iter": 2000},
    "random_forest": {"n_estimators": {"randint": [50, 300]}, "max_depth": {"choice": [None, 20]},
                      "random_state": 0},
}


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def grid_search(X: np.ndarray, y: np.ndarray, folds: int, seed: int) -> dict[str, Any]:
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from learning.automl.space import Dist, family_of, grid_points, parse_space
    from learning.models import create_model

    runs: list[tuple[float, float]] = []  # (score, fit+score seconds / n_jobs)
    best, started = 0.0, time.perf_counter()
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for family, params in parse_space(SPACE).items():
        fixed = {k: v for k, v in params.items() if not isinstance(v, Dist)}
        grid = {k: grid_points(v, GRID_POINTS) for k, v in params.items() if isinstance(v, Dist)}
        estimator = clone(create_model(*family_of(family), fixed).estimator)  # type: ignore[attr-defined]
        search = GridSearchCV(estimator, grid, cv=cv, n_jobs=2).fit(X, y)
        res = search.cv_results_
        for score, fit, sc in zip(res["mean_test_score"], res["mean_fit_time"],
                                  res["mean_score_time"], strict=True):
            runs.append((float(score), float(fit + sc) * folds / 2))
        best = max(best, float(search.best_score_))
        log(f"grid {family}: {len(list(itertools.product(*grid.values())))} candidates, "
            f"best {search.best_score_:.4f}")
    seconds = time.perf_counter() - started
    elapsed, to_target = 0.0, None
    for score, cost in runs:
        elapsed += cost
        if to_target is None and score >= TARGET:
            to_target = elapsed
    return {"best": best, "seconds": seconds, "candidates": len(runs), "to_target": to_target}


def bench_automl(quick: bool) -> None:
    """digits_automl_cv_accuracy and the time to TARGET, Tune+ASHA vs GridSearchCV."""
    import ray

    from learning.automl.search import AutoML

    X, y = digits()
    folds, seed = 5, 0
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    samples = 3 if quick else 8
    t0 = time.perf_counter()
    result = AutoML(SPACE, folds=folds, num_samples=samples, cpus_per_trial=1.0, seed=seed,
                    time_budget_s=300, storage_path=".raymas/bench-tune").fit(X, y)
    automl_seconds = time.perf_counter() - t0
    log(f"automl: best {result.best_family} {result.best_params} {result.cv_score:.4f} "
        f"in {automl_seconds:.1f}s, {len(result.trials)} trials, "
        f"{result.stopped_early} stopped early")
    grid = grid_search(X, y, folds, seed)
    emit(B, "digits_automl_cv_accuracy", result.cv_score, "accuracy", baseline=grid["best"],
         baseline_name=f"GridSearchCV over the same space ({grid['candidates']} candidates, "
                       f"n_jobs=2)", target=TARGET, better="higher",
         best_family=result.best_family, trials=len(result.trials),
         stopped_early=result.stopped_early, seconds=round(automl_seconds, 2),
         baseline_seconds=round(grid["seconds"], 2), budget_seconds=300, folds=folds)
    reached = result.time_to(TARGET)
    emit(B, f"digits_automl_seconds_to_{TARGET}", reached if reached is not None else -1,
         "seconds", baseline=grid["to_target"] if grid["to_target"] is not None else -1,
         baseline_name="GridSearchCV, estimated from cv_results_ times in candidate order / 2",
         better="lower", note="-1: not reached; automl time counts Tune's start-up")
