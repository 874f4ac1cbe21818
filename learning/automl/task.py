"""The ``automl`` task kind: an AutoML search on a dataset, run by whichever agent wins it.

::

    {"kind": "automl",
     "args": {"dataset": "digits", "space": {"svm": {...}, "knn": {...}},
              "num_samples": 4, "folds": 5, "cpus_per_trial": 0.25,
              "store": ".raymas/models", "name": "digits"}}

``dataset`` is one of scikit-learn's bundled sets (:data:`DATASETS`, no
download) or ``path`` names a ``.npz`` (arrays ``X`` and ``y``) or a ``.csv``
with a header row whose ``label`` column (default ``label``) is the target.
``scale: true`` divides X by its largest absolute value (one constant, so no
fold leaks into another).  Returns the best family, parameters and CV score,
the stored model's version, the number of trials, how many ASHA stopped early,
and the seconds taken.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.agent.kinds import task
from learning.automl.search import AutoML
from learning.errors import LearningError, UnknownNameError

__all__ = ["DATASETS", "automl", "load_dataset"]

DATASETS = {"digits": "classification", "iris": "classification", "wine": "classification",
            "breast_cancer": "classification", "diabetes": "regression"}


def load_dataset(dataset: str | None = None, path: str | None = None,
                 label: str = "label") -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a bundled scikit-learn dataset or of a .npz / .csv file."""
    if (dataset is None) == (path is None):
        raise LearningError("give exactly one of dataset (a bundled name) or path (.npz/.csv)")
    if dataset is not None:
        if dataset not in DATASETS:
            raise UnknownNameError("dataset", dataset, sorted(DATASETS))
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, f"load_{dataset}")(return_X_y=True)
        return np.asarray(X, dtype=float), np.asarray(y)
    file = Path(str(path))
    if not file.is_file():
        raise LearningError(f"dataset file {file} does not exist")
    if file.suffix == ".npz":
        with np.load(file, allow_pickle=False) as arrays:
            missing = {"X", "y"} - set(arrays.files)
            if missing:
                raise LearningError(f"{file}: missing arrays {sorted(missing)} "
                                    f"(has {sorted(arrays.files)})")
            return np.asarray(arrays["X"], dtype=float), np.asarray(arrays["y"])
    if file.suffix == ".csv":
        table = np.genfromtxt(file, delimiter=",", names=True, dtype=float)
        names = list(table.dtype.names or [])
        if label not in names:
            raise LearningError(f"{file}: no column {label!r} (columns: {names})")
        features = [n for n in names if n != label]
        X = np.column_stack([table[n] for n in features])
        if not np.isfinite(X).all():
            row = int(np.argwhere(~np.isfinite(X))[0][0]) + 2
            raise LearningError(f"{file}: line {row} has a missing or non-numeric value")
        return X, np.asarray(table[label])
    raise LearningError(f"{file}: dataset files must be .npz or .csv")


@task("automl")
def automl(dataset: str | None = None, path: str | None = None, label: str = "label",
           space: Mapping[str, Any] | None = None, task: str | None = None,
           folds: int = 5, num_samples: int = 4, time_budget_s: float | None = None,
           cpus_per_trial: float = 1.0, gpus_per_trial: float | str = "auto",
           max_concurrent_trials: int | None = None, scale: bool = True,
           store: str | None = ".raymas/models", name: str | None = None, seed: int = 0,
           **_: Any) -> dict[str, Any]:
    """Search, refit the best, store it; returns the summary (see the module doc)."""
    t0 = time.perf_counter()
    X, y = load_dataset(dataset, path, label)
    if scale:
        top = float(np.max(np.abs(X))) if X.size else 0.0
        X = X / top if top > 0 else X
    kind = task or (DATASETS.get(dataset or "", "classification"))
    search = AutoML(space, task=kind,  # type: ignore[arg-type]
                    folds=folds, num_samples=num_samples, time_budget_s=time_budget_s,
                    cpus_per_trial=cpus_per_trial,
                    gpus_per_trial=gpus_per_trial,  # type: ignore[arg-type]
                    max_concurrent_trials=max_concurrent_trials, seed=seed, store=store,
                    name=name or dataset or Path(str(path)).stem)
    result = search.fit(X, y)
    return {"dataset": dataset or str(path), "best_family": result.best_family,
            "best_params": result.best_params, f"cv_{result.metric}": result.cv_score,
            "folds": folds, "trials": len(result.trials), "stopped_early": result.stopped_early,
            "errors": sum(1 for t in result.trials if t.error),
            "model": None if result.version is None else
            {"name": result.version.name, "version": result.version.version,
             "path": str(result.version.path)},
            "search_seconds": round(result.seconds, 3),
            "seconds": round(time.perf_counter() - t0, 3)}
