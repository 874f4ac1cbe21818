"""AutoML on Ray Tune: search model families and hyperparameters, keep the best model.

:class:`AutoML` runs one Tune trial per sampled configuration (``num_samples``
per family, families from :mod:`learning.automl.space`).  A trial is k-fold
cross-validation that reports its running mean score after every fold, so
Tune's ASHA scheduler stops a configuration that is behind its peers after
its first folds instead of finishing all of them.  The best configuration
among those that ran every fold is refitted on all the data and saved in a
versioned :class:`learning.models.store.ModelStore`; the result lists every
trial (score, folds run, stopped early or not, error if any — none is
dropped) and when the search first reached a score.

Trials are Ray tasks with ``cpus_per_trial`` / ``gpus_per_trial`` (``"auto"``:
one GPU per neural-network trial where the cluster has GPUs); each reports its
score as the gauge ``raymas_automl_cv_score`` (tags: experiment, trial,
family) to Ray's metrics, so trials show in the dashboard's metrics view, and
Tune writes its usual result files under ``storage_path``.  Ray, Tune and the
ML frameworks are imported when a search runs, not before.

Example (needs a running Ray; see tests/integration/learning/test_automl.py)::

    result = AutoML({"svm": {"C": {"loguniform": [1, 100]}}}, num_samples=4,
                    store=".raymas/models", name="digits").fit(X, y)
    result.cv_score, result.best_family, result.version
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from learning.automl.space import Dist, Space, family_of, parse_space, split_params
from learning.errors import LearningError

__all__ = ["AutoML", "AutoMLResult", "TrialSummary", "cv_splits"]

_NN = frozenset({"pytorch", "tensorflow"})
_METRICS = {"classification": "accuracy", "regression": "r2"}


@dataclass(frozen=True)
class TrialSummary:
    """One configuration tried: its mean score over the folds it ran."""

    trial_id: str
    family: str
    params: dict[str, Any]
    score: float | None
    folds_done: int
    completed: bool
    seconds: float
    error: str | None = None
    gpus: int = 0  # GPUs Ray gave the trial


@dataclass
class AutoMLResult:
    """The best configuration, its cross-validated score, the stored model and every trial."""

    best_family: str
    best_params: dict[str, Any]
    cv_score: float
    metric: str
    folds: int
    seconds: float
    trials: list[TrialSummary]
    version: Any = None  # learning.models.store.ModelVersion when a store was given
    experiment_path: str = ""
    reached: list[tuple[float, float]] = field(default_factory=list)  # (seconds, score)

    @property
    def stopped_early(self) -> int:
        """How many trials the scheduler stopped before their last fold."""
        return sum(1 for t in self.trials if not t.completed and t.error is None)

    def time_to(self, score: float) -> float | None:
        """Seconds from the start until a trial that ran every fold scored ``>= score``."""
        times = [s for s, v in self.reached if v >= score]
        return min(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["version"] = None if self.version is None else self.version.version
        out["stopped_early"] = self.stopped_early
        return out


def cv_splits(y: np.ndarray, folds: int, seed: int,
              task: str = "classification") -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled (stratified for classification) k-fold train/test index pairs.

    Example:
        >>> splits = cv_splits(np.array([0, 1] * 10), folds=5, seed=0)
        >>> tests = np.concatenate([test for _, test in splits])
        >>> len(splits), sorted(tests.tolist()) == list(range(20))
        (5, True)
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if folds < 2:
        raise LearningError(f"folds must be >= 2, got {folds}")
    splitter = (StratifiedKFold if task == "classification" else KFold)(
        n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _to_tune(value: Any) -> Any:
    from ray import tune

    if not isinstance(value, Dist):
        return value
    kind, args = value.kind, value.args
    if kind == "choice":
        return tune.choice(list(args))
    if kind == "randint":
        return tune.randint(*args)
    return tune.loguniform(*args) if kind == "loguniform" else tune.uniform(*args)


_GAUGE: Any = None


def _gauge() -> Any:
    global _GAUGE
    if _GAUGE is None:
        from ray.util.metrics import Gauge

        _GAUGE = Gauge("raymas_automl_cv_score",
                       description="Running mean cross-validated score of an AutoML trial",
                       tag_keys=("experiment", "trial", "family"))
    return _GAUGE


def _fit_one(family: str, params: Mapping[str, Any], training: Mapping[str, Any],
             X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    from learning.models import TrainingConfig, create_model

    model_type, framework = family_of(family)
    model_cfg, train_cfg = split_params(family, params)
    model = create_model(model_type, framework, model_cfg)
    if framework in _NN:
        model.fit(X, y, TrainingConfig(**{"seed": seed, **training, **train_cfg}))
    else:
        model.fit(X, y)
    return model


def _trial(config: dict[str, Any], *, data: tuple[np.ndarray, np.ndarray], folds: int, seed: int,
           task: str, metric: str, training: dict[str, Any], experiment: str) -> None:
    """A Tune function trainable: k-fold CV reporting the running mean after each fold."""
    import ray
    from ray import tune

    X, y = data
    gpus = len(ray.get_gpu_ids())
    family = config["family"]
    params = config["params"][family]
    trial_id = tune.get_context().get_trial_id() or "?"
    scores: list[float] = []
    for i, (train, test) in enumerate(cv_splits(y, folds, seed, task)):
        model = _fit_one(family, params, training, X[train], y[train], seed)
        scores.append(float(model.evaluate(X[test], y[test])[metric]))
        mean = float(np.mean(scores))
        _gauge().set(mean, tags={"experiment": experiment, "trial": trial_id, "family": family})
        tune.report({"cv_score": mean, "fold_score": scores[-1], "folds_done": i + 1,
                     "family": family, "gpus": gpus, "reported_at": time.time()})


class AutoML:
    """Search ``space`` with Tune (random sampling + ASHA early stopping); see the module doc."""

    def __init__(self, space: Mapping[str, Any] | None = None, *,
                 task: Literal["classification", "regression"] = "classification",
                 folds: int = 5, num_samples: int = 4, time_budget_s: float | None = None,
                 scheduler: Literal["asha", "fifo"] = "asha", grace_period: int = 1,
                 reduction_factor: float = 2.0, cpus_per_trial: float = 1.0,
                 gpus_per_trial: float | Literal["auto"] = "auto",
                 max_concurrent_trials: int | None = None, seed: int = 0,
                 training: Mapping[str, Any] | None = None,
                 store: Any = None, name: str = "automl",
                 storage_path: str | Path = ".raymas/tune") -> None:
        self.space: Space = parse_space(space)
        if task not in _METRICS:
            raise LearningError(f"task must be one of {sorted(_METRICS)}, got {task!r}")
        checks = {"folds": (folds, folds >= 2), "num_samples": (num_samples, num_samples >= 1),
                  "grace_period": (grace_period, 1 <= grace_period <= folds),
                  "reduction_factor": (reduction_factor, reduction_factor > 1),
                  "cpus_per_trial": (cpus_per_trial, cpus_per_trial > 0),
                  "time_budget_s": (time_budget_s, time_budget_s is None or time_budget_s > 0)}
        for key, (value, ok) in checks.items():
            if not ok:
                raise LearningError(f"AutoML {key} is out of range: {value!r}")
        if scheduler not in ("asha", "fifo"):
            raise LearningError(f"scheduler must be 'asha' or 'fifo', got {scheduler!r}")
        if gpus_per_trial != "auto" and (not isinstance(gpus_per_trial, int | float)
                                         or gpus_per_trial < 0):
            raise LearningError(f"gpus_per_trial must be >= 0 or 'auto', got {gpus_per_trial!r}")
        self.task, self.metric = task, _METRICS[task]
        self.folds, self.num_samples, self.time_budget_s = folds, num_samples, time_budget_s
        self.scheduler, self.grace_period, self.reduction_factor = (
            scheduler, grace_period, reduction_factor)
        self.cpus_per_trial, self.gpus_per_trial = cpus_per_trial, gpus_per_trial
        self.max_concurrent_trials, self.seed = max_concurrent_trials, seed
        self.training = dict(training or {})
        self.store, self.name = store, name
        self.storage_path = Path(storage_path).resolve()

    def _gpus(self) -> float:
        if self.gpus_per_trial != "auto":
            return float(self.gpus_per_trial)
        import ray

        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def _resources(self) -> Any:
        from ray.tune.execution.placement_groups import resource_dict_to_pg_factory

        cpus, gpus = self.cpus_per_trial, self._gpus()

        def per_trial(config: dict[str, Any]) -> Any:
            nn = family_of(config["family"])[1] in _NN
            return resource_dict_to_pg_factory({"cpu": cpus, "gpu": gpus if nn else 0.0})
        return per_trial

    def fit(self, X: Any, y: Any) -> AutoMLResult:
        """Run the search on (X, y), refit the best on all of it, store it; see the module doc."""
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
        from ray.tune.search import BasicVariantGenerator

        X, y = _check_data(X, y, self.folds)
        experiment = f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        trainable = tune.with_parameters(
            _trial, data=(X, y), folds=self.folds, seed=self.seed, task=self.task,
            metric=self.metric, training=self.training, experiment=experiment)
        trainable = tune.with_resources(trainable, self._resources())
        param_space = {"family": tune.grid_search(sorted(self.space)),
                       "params": {fam: {k: _to_tune(v) for k, v in params.items()}
                                  for fam, params in self.space.items()}}
        scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=self.folds,
                                   grace_period=self.grace_period,
                                   reduction_factor=self.reduction_factor)
                     if self.scheduler == "asha" else FIFOScheduler())
        tuner = tune.Tuner(
            trainable, param_space=param_space,
            tune_config=tune.TuneConfig(
                metric="cv_score", mode="max", scheduler=scheduler,
                # same seed, same samples; the generator itself limits concurrency (Tune
                # ignores max_concurrent_trials when given a generator)
                search_alg=BasicVariantGenerator(random_state=self.seed,
                                                 max_concurrent=self.max_concurrent_trials or 0),
                num_samples=self.num_samples, time_budget_s=self.time_budget_s,
                # a trial is a few seconds of work: starting a fresh actor for each costs
                # about as much again on a small machine
                reuse_actors=True),
            run_config=tune.RunConfig(name=experiment, storage_path=str(self.storage_path),
                                      verbose=0))
        started = time.time()
        with _quiet_tune():
            grid = tuner.fit()
        trials, reached = self._summaries(grid, started)
        done = [t for t in trials if t.completed and t.score is not None]
        if not done:
            errors = [f"{t.family} {t.params}: {t.error}" for t in trials if t.error]
            raise LearningError(f"AutoML {experiment}: no trial ran all {self.folds} folds"
                                + (f"; errors: {errors[:3]}" if errors else
                                   " (time budget too short?)"))
        best = max(done, key=lambda t: t.score or 0.0)
        version = None
        if self.store is not None:
            model = _fit_one(best.family, best.params, self.training, X, y, self.seed)
            version = _store(self.store).save(
                self.name, model, metrics={f"cv_{self.metric}": float(best.score or 0.0)},
                params={"family": best.family, **best.params},
                tags={"experiment": experiment, "folds": str(self.folds)})
        return AutoMLResult(best_family=best.family, best_params=best.params,
                            cv_score=float(best.score or 0.0), metric=self.metric,
                            folds=self.folds, seconds=time.time() - started, trials=trials,
                            version=version, experiment_path=str(self.storage_path / experiment),
                            reached=reached)

    def _summaries(self, grid: Any, started: float,
                   ) -> tuple[list[TrialSummary], list[tuple[float, float]]]:
        trials, reached = [], []
        for result in grid:
            family = result.config["family"]
            params = dict(result.config["params"][family])
            frame = result.metrics_dataframe
            rows = [] if frame is None or "cv_score" not in frame else frame.to_dict("records")
            last = rows[-1] if rows else {}
            folds_done = int(last.get("folds_done", 0) or 0)
            completed = folds_done == self.folds
            if completed:
                reached.append((float(last["reported_at"]) - started, float(last["cv_score"])))
            trials.append(TrialSummary(
                trial_id=str((result.metrics or {}).get("trial_id", "")), family=family,
                params=params, score=float(last["cv_score"]) if rows else None,
                folds_done=folds_done, completed=completed,
                seconds=float(last.get("time_total_s", 0.0) or 0.0),
                gpus=int(last.get("gpus", 0) or 0),
                error=None if result.error is None else f"{type(result.error).__name__}: "
                f"{result.error}"))
        return trials, sorted(reached)


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """Tune's new console output prints tables even at verbose=0; the classic one is silent."""
    before = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = before


def _store(store: Any) -> Any:
    from learning.models.store import ModelStore

    return store if isinstance(store, ModelStore) else ModelStore(store)


def _check_data(X: Any, y: Any, folds: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise LearningError(f"X must be 2-D (samples x features), got shape {X.shape}")
    if len(X) != len(y):
        raise LearningError(f"X and y differ in length: {len(X)} vs {len(y)}")
    if len(X) < folds * 2:
        raise LearningError(f"{len(X)} samples are too few for {folds}-fold cross-validation")
    if X.dtype.kind in "fc" and not np.isfinite(X).all():
        raise LearningError("X holds NaN or infinite values")
    return X, y
