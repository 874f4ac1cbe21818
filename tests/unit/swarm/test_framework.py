"""The seed's API: SwarmIntelligenceFramework on continuous, mixed-integer and TSP problems."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.agent.kinds import resolve_task
from swarm import (
    ABCOptions,
    OptimizationType,
    SwarmAlgorithm,
    SwarmError,
    SwarmIntelligenceFramework,
    SwarmObjective,
    TSPInstance,
    TSPObjective,
    UnknownNameError,
    sphere,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "tsplib"  # copied from ../shared/data
CIRCLE = TSPInstance.from_coords(
    [[100 * np.cos(a), 100 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 12, endpoint=False)])


def objective(**kw: Any) -> SwarmObjective:
    base: dict[str, Any] = {"fitness_function": sphere, "dimensions": 4, "bounds": (-5.0, 5.0),
                            "vectorised": True}
    return SwarmObjective(**{**base, **kw})


def test_pso_result_is_plain_json() -> None:
    swarm = SwarmIntelligenceFramework(algorithm=SwarmAlgorithm.PARTICLE_SWARM, seed=3)
    res = swarm.optimize_sync(objective=objective(), max_iterations=150)
    assert res["best_fitness"] < 1e-8 and len(res["best_position"]) == 4
    assert len(res["convergence_history"]) == res["iterations"] == 150
    assert res["evaluations"] == 150 * 40 and res["seconds"] > 0
    assert res["backend"] == "inprocess" and res["feasible"]
    assert np.all(np.diff(res["convergence_history"]) <= 0)
    assert json.loads(json.dumps(res)) == res


def test_seed_makes_runs_reproducible() -> None:
    def run(seed: int) -> dict[str, Any]:
        return SwarmIntelligenceFramework("abc", seed=seed).optimize_sync(objective(), 30)

    a, b = run(1), run(1)
    assert a["best_position"] == b["best_position"]
    assert a["convergence_history"] == b["convergence_history"]
    assert run(2)["best_position"] != a["best_position"]


def test_maximise_per_row_function() -> None:
    obj = SwarmObjective(optimization_type=OptimizationType.MAXIMIZE,
                         fitness_function=lambda p: -float(((p - 1.0) ** 2).sum()),
                         dimensions=3, bounds=[(-4, 4)] * 3)
    res = SwarmIntelligenceFramework("pso", seed=0).optimize_sync(obj, 200)
    assert -1e-6 < res["best_fitness"] <= 0
    assert np.allclose(res["best_position"], 1.0, atol=1e-3)


def test_bounds_forms_agree() -> None:
    lo, hi = np.array([-1.0, 0.0, 2.0]), np.array([1.0, 5.0, 3.0])
    forms = [list(zip(lo, hi, strict=True)), (lo, hi), np.stack([lo, hi])]
    for form in forms:
        space = objective(dimensions=3, bounds=form).problem().space
        assert space.lower.tolist() == lo.tolist() and space.upper.tolist() == hi.tolist()
    assert objective(bounds=(-2, 2)).problem().space.upper.tolist() == [2.0] * 4
    with pytest.raises(SwarmError, match="bounds must be"):
        objective(bounds=[1, 2, 3]).problem()


def test_integer_dims_and_constraints() -> None:
    obj = objective(dimensions=3, integer_dims=(1,), bounds=(-3.3, 3.3),
                    constraints=(lambda x: 1.0 - x[:, 0],))  # x0 >= 1
    res = SwarmIntelligenceFramework("pso", seed=4).optimize_sync(obj, 200)
    x = res["best_position"]
    assert x[1] == round(x[1]) and res["feasible"]
    assert x[0] == pytest.approx(1.0, abs=1e-4) and res["best_fitness"] == pytest.approx(1.0,
                                                                                        abs=1e-3)


def test_objective_and_framework_checks() -> None:
    with pytest.raises(SwarmError, match="callable"):
        SwarmObjective(fitness_function=None, dimensions=2)
    with pytest.raises(SwarmError, match="dimensions"):
        objective(dimensions=0)
    with pytest.raises(SwarmError, match="integer_dims"):
        objective(integer_dims=(7,))
    with pytest.raises(UnknownNameError, match="did you mean 'maximize'"):
        objective(optimization_type="maximise")
    with pytest.raises(UnknownNameError, match="did you mean 'pso'"):
        SwarmIntelligenceFramework("psoo")
    with pytest.raises(UnknownNameError, match="evaluation backend"):
        SwarmIntelligenceFramework("pso", backend="gpu")
    with pytest.raises(SwarmError, match="PSOOptions"):
        SwarmIntelligenceFramework("pso", options={"n_particle": 3})
    with pytest.raises(SwarmError, match="ABCOptions"):
        SwarmIntelligenceFramework("abc", options={"n_sources": 1})
    with pytest.raises(SwarmError, match="must be ABCOptions"):
        SwarmIntelligenceFramework("abc", options=42)
    with pytest.raises(SwarmError, match="TSPObjective"):
        SwarmIntelligenceFramework("aco").optimize_sync(objective(), 5)
    with pytest.raises(SwarmError, match="SwarmObjective"):
        SwarmIntelligenceFramework("pso").optimize_sync(CIRCLE, 5)


def test_options_as_dataclass_or_dict() -> None:
    a = SwarmIntelligenceFramework("abc", seed=1, options=ABCOptions(n_sources=10))
    b = SwarmIntelligenceFramework("abc", seed=1, options={"n_sources": 10})
    ra, rb = a.optimize_sync(objective(), 10), b.optimize_sync(objective(), 10)
    assert ra["best_position"] == rb["best_position"]


def test_aco_on_an_instance() -> None:
    swarm = SwarmIntelligenceFramework(SwarmAlgorithm.ANT_COLONY, seed=0)
    res = swarm.optimize_sync(CIRCLE, max_iterations=10)
    assert sorted(res["tour"]) == list(range(12)) and res["tour"] == res["best_position"]
    assert res["best_length"] == pytest.approx(CIRCLE.tour_length(res["tour"]))
    assert res["best_length"] == 12 * round(200 * np.sin(np.pi / 12))  # EUC_2D rounds edges
    assert "gap_pct" not in res


def test_aco_on_a_tsplib_path_with_optimum() -> None:
    obj = TSPObjective(DATA / "eil51.tsp", optimum=426)
    res = SwarmIntelligenceFramework("aco", seed=1).optimize_sync(obj, max_iterations=8)
    assert sorted(res["tour"]) == list(range(51))
    assert res["gap_pct"] == pytest.approx(100 * (res["best_length"] - 426) / 426)
    assert res["instance"] == "eil51" and res["iterations"] <= 8


def test_async_optimize_leaves_the_loop_free() -> None:
    seen: list[int] = []

    async def main() -> dict[str, Any]:
        loop_ran = threading.Event()

        def callback(stats: Any) -> None:  # in the worker thread: wait for the loop to run
            if stats.iteration == 1:
                assert loop_ran.wait(30), "the event loop was blocked during optimize"

        async def record(stats: Any) -> None:
            seen.append(stats.iteration)

        swarm = SwarmIntelligenceFramework("pso", seed=0)
        run = asyncio.ensure_future(swarm.optimize(objective(), 20, callback))
        await asyncio.sleep(0)
        loop_ran.set()
        first = await run
        second = await swarm.optimize(objective=objective(), max_iterations=5, callback=record)
        assert second["iterations"] == 5
        return first

    assert asyncio.run(main())["iterations"] == 20
    assert seen == [1, 2, 3, 4, 5]  # every coroutine callback ran before optimize returned


def test_swarm_optimize_task_kind() -> None:
    fn = resolve_task("swarm_optimize")
    res = fn(algorithm="pso", function="sphere", dim=3, max_iterations=100, seed=0)
    assert res["best_fitness"] < 1e-6 and res["algorithm"] == "pso"
    again = fn(algorithm="pso", function="sphere", dim=3, max_iterations=100, seed=0)
    assert again["best_position"] == res["best_position"]
    out = fn(algorithm="pso", function="tests.unit.swarm.test_framework:shifted", dim=2,
             bounds=[-3, 3], max_iterations=100, seed=0, sense="maximize")
    assert np.allclose(out["best_position"], 0.5, atol=1e-3)
    with pytest.raises(SwarmError, match="needs 'bounds'"):
        fn(function="tests.unit.swarm.test_framework:shifted", dim=2)
    with pytest.raises(SwarmError, match="needs 'dim'"):
        fn(function="sphere")
    with pytest.raises(SwarmError, match="needs 'tsp'"):
        fn(algorithm="aco")
    with pytest.raises(SwarmError, match="cannot import"):
        fn(function="nowhere.at_all:fn", dim=2, bounds=[0, 1])


def shifted(p: np.ndarray) -> float:
    """A per-row objective to maximise, at 0.5 everywhere."""
    return -float(((p - 0.5) ** 2).sum())
