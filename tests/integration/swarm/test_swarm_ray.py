"""Swarm evaluation on Ray tasks, and a swarm run allocated to an agent by the Supervisor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from swarm import (
    ObjectiveError,
    RayEvaluator,
    SwarmIntelligenceFramework,
    SwarmObjective,
    make_evaluator,
    rastrigin,
)
from swarm.evaluate import SerialEvaluator, VectorisedEvaluator
from swarm.task import swarm_optimize
from tests.integration.conftest import specs

pytestmark = pytest.mark.integration

EIL51 = Path(__file__).resolve().parents[2] / "data" / "tsplib" / "eil51.tsp"  # in the repo
X = np.random.default_rng(0).uniform(-5, 5, (23, 4))


def per_row(p: np.ndarray) -> float:
    return float(rastrigin(p[None, :])[0])


@pytest.mark.parametrize("chunks", [1, 3, 50, None])
def test_ray_results_equal_in_process(ray_cluster: Any, chunks: int | None) -> None:
    want = VectorisedEvaluator(rastrigin)(X)
    ev = RayEvaluator(per_row, chunks)
    assert ev(X).tolist() == want.tolist() == SerialEvaluator(per_row)(X).tolist()
    vec = RayEvaluator(rastrigin, chunks, vectorised=True)
    assert vec(X).tolist() == want.tolist()
    assert ev.calls == vec.calls == 23 and ev(X[:0]).shape == (0,)


def test_errors_name_the_row(ray_cluster: Any) -> None:
    def picky(p: np.ndarray) -> float:
        if p[0] == X[17, 0]:
            raise ValueError("not this one")
        return 0.0

    with pytest.raises(ObjectiveError, match="row 17: ValueError: not this one") as info:
        RayEvaluator(picky, chunks=4)(X)
    assert (info.value.first, info.value.last) == (17, 17)
    with pytest.raises(ObjectiveError, match="rows 0-22"):
        RayEvaluator(lambda x: np.zeros(2), chunks=1, vectorised=True)(X)


def counting_objective() -> tuple[Callable[[np.ndarray], float], list[int]]:
    """A per-row objective that counts how often the driver pickles it."""
    pickled: list[int] = []

    class Objective:
        def __call__(self, p: np.ndarray) -> float:
            return float(p.sum())

        def __reduce__(self) -> Any:
            pickled.append(1)
            return (Objective, ())

    return Objective(), pickled


def test_objective_is_shipped_once(ray_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    puts: list[Any] = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(value) or real_put(value, **kw))
    fn, pickled = counting_objective()
    ev = RayEvaluator(fn, chunks=4)
    ref = ev.fn_ref
    for _ in range(3):
        assert ev(X).tolist() == X.sum(axis=1).tolist()
    assert len(puts) == 1 and puts[0] is fn and ev.fn_ref is ref
    assert len(pickled) == 1  # 3 calls x 4 tasks passed the reference, not the objective


def test_auto_moves_an_expensive_objective_to_ray(ray_cluster: Any) -> None:
    ev = make_evaluator(per_row, "auto", threshold_s=0.0, chunks=2)
    assert ev(X).tolist() == VectorisedEvaluator(rastrigin)(X).tolist()
    assert ev.chosen == "ray" and isinstance(ev.backend, RayEvaluator)


def test_framework_on_ray_matches_in_process(ray_cluster: Any) -> None:
    obj = SwarmObjective(fitness_function=per_row, dimensions=3, bounds=(-5.12, 5.12))

    def run(backend: str) -> dict[str, Any]:
        swarm = SwarmIntelligenceFramework("pso", backend=backend, seed=5,
                                           options={"n_particles": 12})
        return swarm.optimize_sync(obj, 15)

    on_ray, local = run("ray"), run("inprocess")
    assert on_ray["backend"] == "ray" and local["backend"] == "inprocess"
    assert on_ray["best_position"] == local["best_position"]
    assert on_ray["convergence_history"] == local["convergence_history"]


def test_supervisor_runs_a_swarm_task(make_supervisor: Callable[..., Any]) -> None:
    sup = make_supervisor()
    sup.spawn(specs("sw", 1))
    args = {"algorithm": "pso", "function": "sphere", "dim": 5, "max_iterations": 60,
            "seed": 7, "backend": "inprocess"}
    assert EIL51.is_file(), f"{EIL51} is missing: the ACO half of this test needs it"
    tasks = [{"task_id": "s1", "kind": "swarm_optimize", "args": args},
             {"task_id": "s2", "kind": "swarm_optimize",
              "args": {"algorithm": "aco", "tsp": str(EIL51), "optimum": 426,
                       "max_iterations": 5, "seed": 1}}]
    ids = sup.submit(tasks)
    res = sup.wait(ids, 120)
    assert all(r["state"] == "done" for r in res.values()), res
    value = res["s1"]["value"]
    assert value["best_position"] == swarm_optimize(**args)["best_position"]
    assert value["evaluations"] == 60 * 40 and value["best_fitness"] < 1e-3
    tour = res["s2"]["value"]["tour"]
    assert sorted(tour) == list(range(51)) and res["s2"]["value"]["best_length"] >= 426
