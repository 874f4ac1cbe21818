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

from messaging import metrics
from swarm.errors import SwarmError

__all__ = ["REPORT_EVERY", "Stats", "Steppable", "Stopper", "SwarmResult", "drive"]

#: iterations between progress reports to the metrics (a report is a few dict updates)
REPORT_EVERY = 100


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


class Stopper:
    """The stop rules every run loop shares: iterations, seconds, iterations without progress.

    Example:
        >>> stop = Stopper("demo", max_iterations=3, max_stagnation=2)
        >>> [stop.record(improved) for improved in (True, False, False)], stop.reason
        ([None, None, 'stagnation'], 'stagnation')
    """

    def __init__(self, what: str, max_iterations: int | None = None,
                 time_limit: float | None = None, max_stagnation: int | None = None,
                 target: float | None = None, algorithm: str | None = None) -> None:
        if max_iterations is None and time_limit is None and max_stagnation is None and (
                target is None):
            raise SwarmError(f"{what} needs a stop: max_iterations, time_limit, "
                             "max_stagnation or target")
        self.max_iterations, self.time_limit = max_iterations, time_limit
        self.max_stagnation = max_stagnation
        self.start = time.perf_counter()
        self.iterations = self.stale = 0
        self.reason = "max_iterations"
        self.algorithm = algorithm or what
        self._reported = 0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def more(self) -> bool:
        """Whether another iteration is allowed."""
        return self.max_iterations is None or self.iterations < self.max_iterations

    def record(self, improved: bool) -> str | None:
        """Count an iteration; the reason to stop now (also kept in ``reason``), or None."""
        self.iterations += 1
        self.stale = 0 if improved else self.stale + 1
        if self.time_limit is not None and self.elapsed >= self.time_limit:
            self.reason = "time_limit"
        elif self.max_stagnation is not None and self.stale >= self.max_stagnation:
            self.reason = "stagnation"
        else:
            return None
        return self.reason

    def stop(self, reason: str) -> str:
        self.reason = reason
        return reason

    def report(self, best: float) -> None:
        """Progress to the metrics: iterations since the last report and the best so far
        (``raymas_swarm_iterations``, ``raymas_swarm_best_fitness``); runs call it every
        :data:`REPORT_EVERY` iterations and at the end, not per iteration."""
        n, self._reported = self.iterations - self._reported, self.iterations
        if n:
            metrics.count("raymas_swarm_iterations", n, algorithm=self.algorithm)
        if np.isfinite(best):
            metrics.set_gauge("raymas_swarm_best_fitness", float(best), algorithm=self.algorithm)


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
    stop = Stopper("a run", max_iterations, time_limit, max_stagnation, target,
                   algorithm=type(opt).__name__)
    history: list[float] = []
    last = np.inf
    evaluations = 0
    while stop.more():
        stats = opt.step()
        history.append(stats.best_fitness)
        evaluations = stats.evaluations
        value = sense * stats.best_fitness
        improved = value < last - tolerance
        last = min(last, value)
        if callback is not None:
            callback(stats)
        if target is not None and stats.feasible and value <= sense * target:
            stop.stop("target")
            break
        if stop.record(improved):
            break
        if stop.iterations % REPORT_EVERY == 0:
            stop.report(stats.best_fitness)
    position, fitness, violation = opt.result_parts()
    stop.report(fitness)
    return SwarmResult(position, fitness, np.asarray(history), len(history), evaluations,
                       stop.elapsed, violation == 0, violation, stop.reason)
