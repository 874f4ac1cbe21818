"""What a continuous swarm run reports, and the one stop-condition loop PSO and ABC share.

Example:
    >>> class Countdown:
    ...     def __init__(self): self.left = 3
    ...     def step(self):
    ...         self.left -= 1
    ...         return Stats(3 - self.left, float(self.left), 3 - self.left, True)
    ...     def result_parts(self): return np.zeros(1), float(self.left), 0.0
    >>> res = drive(Countdown(), max_iterations=10, target=0.0)
    >>> res.best_fitness, res.history.tolist(), res.stop_reason
    (0.0, [2.0, 1.0, 0.0], 'target')
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from swarm.errors import SwarmError

__all__ = ["Stats", "Steppable", "SwarmResult", "drive"]


@dataclass(frozen=True)
class Stats:
    """One iteration's progress: the best fitness so far (in the problem's own sense)."""

    iteration: int
    best_fitness: float
    evaluations: int
    feasible: bool


@dataclass(frozen=True)
class SwarmResult:
    """The outcome of a run: best position and fitness, convergence history and cost."""

    best_position: np.ndarray
    best_fitness: float
    history: np.ndarray
    iterations: int
    evaluations: int
    seconds: float
    feasible: bool
    violation: float
    stop_reason: str


class Steppable(Protocol):
    """An optimiser that :func:`drive` can run."""

    def step(self) -> Stats: ...

    def result_parts(self) -> tuple[np.ndarray, float, float]:
        """``(best position, best fitness, its total constraint violation)``."""
        ...


def drive(opt: Steppable, max_iterations: int | None = 1000, *, sense: float = 1.0,
          time_limit: float | None = None, max_stagnation: int | None = None,
          target: float | None = None, tolerance: float = 0.0,
          callback: Callable[[Stats], object] | None = None) -> SwarmResult:
    """Step ``opt`` until a stop condition holds and collect the :class:`SwarmResult`.

    Args:
        max_iterations: at most this many iterations (``None``: no limit).
        sense: ``+1`` when minimising, ``-1`` when maximising (for ``target``/stagnation).
        time_limit: stop after the iteration that passes this many seconds.
        max_stagnation: stop after this many iterations whose best improved by no more
            than ``tolerance``.
        target: stop once a feasible best is at least this good.
        callback: called with each iteration's :class:`Stats`.
    """
    if max_iterations is None and time_limit is None and max_stagnation is None and (
            target is None):
        raise SwarmError("a run needs a stop: max_iterations, time_limit, max_stagnation "
                         "or target")
    start = time.perf_counter()
    history: list[float] = []
    last = np.inf
    stale, reason, evaluations = 0, "max_iterations", 0
    while max_iterations is None or len(history) < max_iterations:
        stats = opt.step()
        history.append(stats.best_fitness)
        evaluations = stats.evaluations
        value = sense * stats.best_fitness
        stale = stale + 1 if not value < last - tolerance else 0
        last = min(last, value)
        if callback is not None:
            callback(stats)
        if target is not None and stats.feasible and value <= sense * target:
            reason = "target"
            break
        if time_limit is not None and time.perf_counter() - start >= time_limit:
            reason = "time_limit"
            break
        if max_stagnation is not None and stale >= max_stagnation:
            reason = "stagnation"
            break
    position, fitness, violation = opt.result_parts()
    return SwarmResult(position, fitness, np.asarray(history), len(history), evaluations,
                       time.perf_counter() - start, violation == 0, violation, reason)
