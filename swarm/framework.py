"""The high-level API: describe an objective, pick an algorithm, ``await optimize``.

:class:`SwarmIntelligenceFramework` runs PSO, ABC (on a :class:`SwarmObjective`)
or an ant colony (on a :class:`TSPObjective`, a :class:`~swarm.tsplib.TSPInstance`
or a TSPLIB path) and returns a plain dict, ready for JSON:

* always ``best_position``, ``best_fitness``, ``convergence_history`` (best so
  far per iteration), ``evaluations``, ``seconds``, ``iterations``,
  ``stop_reason`` and ``algorithm``;
* PSO/ABC add ``feasible``, ``violation`` and ``backend`` (the evaluation
  backend actually used);
* ACO adds ``best_length``, ``tour`` (0-based cities, also ``best_position``),
  ``seconds_to_best`` and, when the optimum is known, ``optimum`` and ``gap_pct``.

:meth:`~SwarmIntelligenceFramework.optimize` runs the search in a worker thread
so the event loop stays free; :meth:`~SwarmIntelligenceFramework.optimize_sync`
is the same for scripts.

Example:
    >>> objective = SwarmObjective(optimization_type=OptimizationType.MINIMIZE,
    ...                            fitness_function=lambda p: float((p ** 2).sum()),
    ...                            dimensions=3, bounds=(-5.0, 5.0))
    >>> swarm = SwarmIntelligenceFramework(algorithm=SwarmAlgorithm.PARTICLE_SWARM, seed=0)
    >>> result = swarm.optimize_sync(objective=objective, max_iterations=100)
    >>> result["best_fitness"] < 1e-6, result["evaluations"], len(result["convergence_history"])
    (True, 4000, 100)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from swarm.aco import ACOOptions, AntColony, IterationStats
from swarm.bee import ABC, ABCOptions
from swarm.errors import SwarmError, UnknownNameError
from swarm.problem import Constraint, Problem, Space
from swarm.pso import PSO, PSOOptions
from swarm.ray_eval import BACKENDS, make_evaluator
from swarm.result import Stats
from swarm.tsplib import TSPInstance, load_tsplib

__all__ = ["OptimizationType", "SwarmAlgorithm", "SwarmIntelligenceFramework", "SwarmObjective",
           "TSPObjective"]

Progress = Callable[[Stats | IterationStats], object]


class SwarmAlgorithm(StrEnum):
    """Which swarm to run; the values are the CLI's names."""

    PARTICLE_SWARM = "pso"
    ANT_COLONY = "aco"
    BEE_COLONY = "abc"


class OptimizationType(StrEnum):
    """Whether lower or higher fitness is better."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


def _sense(value: OptimizationType | str) -> Literal["minimize", "maximize"]:
    try:
        return "minimize" if OptimizationType(value) is OptimizationType.MINIMIZE else "maximize"
    except ValueError:
        raise UnknownNameError("optimization type", str(value),
                               [t.value for t in OptimizationType]) from None


def _bounds(bounds: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` from a scalar pair, per-dimension pairs or two arrays."""
    arr = np.asarray(bounds, dtype=float)
    if arr.shape == (2,):
        return np.full(dim, arr[0]), np.full(dim, arr[1])
    if arr.shape == (dim, 2):  # [(lo, hi), ...] wins when dim == 2
        return arr[:, 0].copy(), arr[:, 1].copy()
    if arr.shape == (2, dim):  # (lower array, upper array), as pyswarms takes them
        return arr[0].copy(), arr[1].copy()
    raise SwarmError(f"bounds must be (lo, hi), {dim} (lo, hi) pairs or two arrays of {dim} "
                     f"values, got shape {arr.shape}")


@dataclass(frozen=True)
class SwarmObjective:
    """A continuous (or mixed-integer) problem for PSO or ABC.

    ``fitness_function`` takes one position (a 1-D array) and returns a number,
    or with ``vectorised=True`` the ``(n, dimensions)`` matrix and returns ``n``
    numbers.  ``bounds`` is ``(lo, hi)`` for every dimension, a sequence of
    ``(lo, hi)`` pairs, or ``(lower_array, upper_array)``.  ``integer_dims``
    lists the indices of integer dimensions; ``constraints`` are vectorised
    ``g(X) <= 0`` functions (see :class:`~swarm.problem.Problem`).
    """

    optimization_type: OptimizationType | str = OptimizationType.MINIMIZE
    fitness_function: Callable[[np.ndarray], object] | None = None
    dimensions: int = 0
    bounds: Any = (-1.0, 1.0)
    integer_dims: Sequence[int] = ()
    constraints: Sequence[Constraint] = ()
    vectorised: bool = False
    constraint_handling: str = "feasibility"

    def __post_init__(self) -> None:
        if not callable(self.fitness_function):
            raise SwarmError("SwarmObjective.fitness_function must be callable, got "
                             f"{type(self.fitness_function).__name__}")
        if self.dimensions < 1:
            raise SwarmError(f"SwarmObjective.dimensions must be >= 1, got {self.dimensions}")
        bad = [i for i in self.integer_dims if not 0 <= int(i) < self.dimensions]
        if bad:
            raise SwarmError(f"integer_dims {bad} are outside 0..{self.dimensions - 1}")
        _sense(self.optimization_type)

    def problem(self) -> Problem:
        """The :class:`~swarm.problem.Problem` the optimisers work on."""
        lo, hi = _bounds(self.bounds, self.dimensions)
        integer = np.zeros(self.dimensions, dtype=bool)
        integer[list(self.integer_dims)] = True
        return Problem(Space(lo, hi, integer), _sense(self.optimization_type),
                       tuple(self.constraints),
                       self.constraint_handling)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TSPObjective:
    """A travelling-salesman instance for the ant colony (a path is read on construction);
    a known ``optimum`` is reported as a gap and, with ``stop_at_optimum``, ends the run."""

    instance: TSPInstance | str | Path
    optimum: float | None = None
    stop_at_optimum: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.instance, TSPInstance):
            object.__setattr__(self, "instance", load_tsplib(self.instance))

    def load(self) -> TSPInstance:
        """The instance."""
        return cast(TSPInstance, self.instance)  # made so by __post_init__


_OPTIONS: dict[SwarmAlgorithm, type] = {SwarmAlgorithm.PARTICLE_SWARM: PSOOptions,
                                        SwarmAlgorithm.BEE_COLONY: ABCOptions,
                                        SwarmAlgorithm.ANT_COLONY: ACOOptions}


class SwarmIntelligenceFramework:
    """Runs one swarm algorithm; ``options`` is its options dataclass or a dict of its fields.

    Args:
        algorithm: a :class:`SwarmAlgorithm` (or its value, ``"pso"``...).
        backend: fitness evaluation backend for PSO/ABC: ``auto``, ``inprocess`` or ``ray``.
        seed: makes runs reproducible (a fresh generator per run from this seed).
        options: :class:`~swarm.pso.PSOOptions`, :class:`~swarm.bee.ABCOptions`,
            :class:`~swarm.aco.ACOOptions`, or a dict of their fields.
    """

    def __init__(self, algorithm: SwarmAlgorithm | str = SwarmAlgorithm.PARTICLE_SWARM,
                 backend: str = "auto", seed: int | None = None,
                 options: Any = None) -> None:
        try:
            self.algorithm = SwarmAlgorithm(algorithm)
        except ValueError:
            raise UnknownNameError("swarm algorithm", str(algorithm),
                                   [a.value for a in SwarmAlgorithm]) from None
        if backend not in BACKENDS:
            raise UnknownNameError("evaluation backend", str(backend), BACKENDS)
        self.backend = backend
        self.seed = seed
        cls = _OPTIONS[self.algorithm]
        if options is None:
            options = cls()
        elif isinstance(options, dict):
            try:
                options = cls(**options)
            except TypeError as exc:
                raise SwarmError(f"bad {cls.__name__}: {exc}") from exc
        elif not isinstance(options, cls):
            raise SwarmError(f"options for {self.algorithm.name} must be {cls.__name__} or a "
                             f"dict, got {type(options).__name__}")
        options.validate()
        self.options = options

    async def optimize(self, objective: Any, max_iterations: int | None = None,
                       callback: Callable[..., object] | None = None, **stops: Any
                       ) -> dict[str, Any]:
        """Run to a stop in a worker thread; see :meth:`optimize_sync` for the arguments.

        A coroutine-function ``callback`` is scheduled on this event loop (each
        call is awaited before the result is returned); a plain one is called from
        the worker thread.
        """
        cb = callback
        pending: list[concurrent.futures.Future[Any]] = []
        if callback is not None and inspect.iscoroutinefunction(callback):
            loop = asyncio.get_running_loop()
            coro_fn = callback

            def cb(stats: Any) -> None:
                pending.append(asyncio.run_coroutine_threadsafe(coro_fn(stats), loop))

        result = await asyncio.to_thread(self.optimize_sync, objective, max_iterations, cb,
                                         **stops)
        await asyncio.gather(*(asyncio.wrap_future(f) for f in pending))
        return result

    def optimize_sync(self, objective: Any, max_iterations: int | None = None,
                      callback: Callable[..., object] | None = None, *,
                      time_limit: float | None = None, max_stagnation: int | None = None,
                      target: float | None = None) -> dict[str, Any]:
        """Run to a stop and return the result dict (see the module docstring).

        Args:
            objective: a :class:`SwarmObjective` (PSO, ABC); a :class:`TSPObjective`,
                :class:`~swarm.tsplib.TSPInstance` or TSPLIB path (ACO).
            max_iterations: at most this many iterations (default 1000).
            callback: called with each iteration's stats.
            time_limit, max_stagnation, target: further stops (ACO defaults: 60 s
                and 250 iterations without improvement; target: the known optimum).
        """
        rng = np.random.default_rng(self.seed)
        if self.algorithm is SwarmAlgorithm.ANT_COLONY:
            return self._aco(objective, rng, max_iterations, callback, time_limit,
                             max_stagnation, target)
        if not isinstance(objective, SwarmObjective):
            raise SwarmError(f"{self.algorithm.name} needs a SwarmObjective, got "
                             f"{type(objective).__name__}")
        problem = objective.problem()
        evaluator = make_evaluator(objective.fitness_function,  # type: ignore[arg-type]
                                   self.backend, vectorised=objective.vectorised)
        iterations = max_iterations if max_iterations is not None or any(
            s is not None for s in (time_limit, max_stagnation, target)) else 1000
        opt: PSO | ABC
        if self.algorithm is SwarmAlgorithm.PARTICLE_SWARM:
            opt = PSO(problem, evaluator, self.options, rng=rng)
        else:
            opt = ABC(problem, evaluator, self.options, rng=rng)
        res = opt.run(iterations, time_limit=time_limit, max_stagnation=max_stagnation,
                      target=target, callback=callback)
        return {"algorithm": self.algorithm.value,
                "best_position": res.best_position.tolist(),
                "best_fitness": float(res.best_fitness),
                "convergence_history": res.history.tolist(),
                "evaluations": int(res.evaluations), "seconds": float(res.seconds),
                "iterations": int(res.iterations), "stop_reason": res.stop_reason,
                "feasible": bool(res.feasible), "violation": float(res.violation),
                "backend": getattr(evaluator, "chosen", None) or self.backend}

    def _aco(self, objective: Any, rng: np.random.Generator, max_iterations: int | None,
             callback: Progress | None, time_limit: float | None, max_stagnation: int | None,
             target: float | None) -> dict[str, Any]:
        if isinstance(objective, TSPInstance | str | Path):
            objective = TSPObjective(objective)
        if not isinstance(objective, TSPObjective):
            raise SwarmError(f"ANT_COLONY needs a TSPObjective, TSPInstance or TSPLIB path, "
                             f"got {type(objective).__name__}")
        instance = objective.load()
        if target is None and objective.stop_at_optimum:
            target = objective.optimum
        colony = AntColony(instance, self.options, rng=rng)
        res = colony.run(1000 if max_iterations is None else max_iterations,
                         time_limit=60.0 if time_limit is None else time_limit,
                         max_stagnation=250 if max_stagnation is None else max_stagnation,
                         target=target, callback=callback)
        tour = res.tour.tolist()
        out: dict[str, Any] = {
            "algorithm": self.algorithm.value, "instance": instance.name,
            "best_length": float(res.length), "tour": tour, "best_position": tour,
            "best_fitness": float(res.length), "convergence_history": res.history.tolist(),
            "evaluations": int(res.evaluations), "seconds": float(res.seconds),
            "seconds_to_best": float(res.seconds_to_best), "iterations": int(res.iterations),
            "stop_reason": res.stop_reason}
        if objective.optimum:
            out["optimum"] = float(objective.optimum)
            out["gap_pct"] = 100.0 * (res.length - objective.optimum) / objective.optimum
        return out
