"""The ``swarm_optimize`` task kind: a swarm run allocated to an agent like any task.

The args are plain JSON, so a goal in config, the CLI or HTTP can ask for one::

    {"kind": "swarm_optimize",
     "args": {"algorithm": "pso", "function": "rastrigin", "dim": 10,
              "max_iterations": 200, "seed": 1}}

``function`` names a registered benchmark (its standard bounds are used unless
``bounds`` is given) or a ``"module:function"`` path (then ``bounds`` is
required; ``vectorised`` says whether it takes the whole matrix).  For
``"algorithm": "aco"`` give ``tsp``, a TSPLIB path readable by the agent, and
optionally ``optimum``.  The result is the framework's dict.

Example:
    >>> out = swarm_optimize(algorithm="abc", function="sphere", dim=2, max_iterations=50,
    ...                      seed=0)
    >>> out["best_fitness"] < 1e-3, out["algorithm"]
    (True, 'abc')
"""

from __future__ import annotations

import importlib
from typing import Any

from agents.agent.kinds import task
from swarm.errors import SwarmError
from swarm.framework import SwarmIntelligenceFramework, SwarmObjective, TSPObjective
from swarm.objectives import BENCHMARKS, get_benchmark

__all__ = ["swarm_optimize"]


def _function(name: str) -> Any:
    module, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise SwarmError(f"cannot import objective {name!r}: {exc}") from exc
    if not callable(fn):
        raise SwarmError(f"objective {name!r} is not callable")
    return fn


@task("swarm_optimize")
def swarm_optimize(algorithm: str = "pso", function: str | None = None, dim: int | None = None,
                   bounds: Any = None, tsp: str | None = None, optimum: float | None = None,
                   max_iterations: int | None = None, time_limit: float | None = None,
                   seed: int | None = None, backend: str = "auto", options: Any = None,
                   sense: str = "minimize", vectorised: bool | None = None,
                   **_: Any) -> dict[str, Any]:
    """Run one swarm optimisation from JSON-friendly arguments (see the module docstring)."""
    swarm = SwarmIntelligenceFramework(algorithm, backend=backend, seed=seed, options=options)
    objective: SwarmObjective | TSPObjective
    if swarm.algorithm.value == "aco":
        if not tsp:
            raise SwarmError("swarm_optimize with algorithm 'aco' needs 'tsp': a TSPLIB path")
        objective = TSPObjective(tsp, optimum)
    else:
        if not function:
            raise SwarmError(f"swarm_optimize needs 'function': one of {sorted(BENCHMARKS)} "
                             "or a 'module:function' path")
        if dim is None or dim < 1:
            raise SwarmError(f"swarm_optimize needs 'dim' >= 1, got {dim!r}")
        if ":" in function:
            if bounds is None:
                raise SwarmError(f"objective {function!r} needs 'bounds'")
            fn, vec = _function(function), bool(vectorised)
        else:
            bench = get_benchmark(function)
            fn, vec = bench.fn, True if vectorised is None else vectorised
            bounds = (bench.lower, bench.upper) if bounds is None else bounds
        objective = SwarmObjective(optimization_type=sense, fitness_function=fn,
                                   dimensions=dim, bounds=bounds, vectorised=vec)
    return swarm.optimize_sync(objective, max_iterations, time_limit=time_limit)
