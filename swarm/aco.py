"""Ant colony optimisation for the travelling salesman problem: AS, MAX-MIN AS and ACS.

All ants of a colony build their tours in lock-step, one city per NumPy step,
choosing among the current city's nearest-neighbour candidates with probability
``tau**alpha * eta**beta`` (falling back to the best unvisited city once every
candidate is taken).  Tours are then improved by batched local search
(:mod:`swarm.tour_search`, 2-opt + Or-opt by default, symmetric instances only)
before the pheromone update of the chosen variant:

* ``"as"`` — Ant System (Dorigo): every ant deposits ``1/L``.
* ``"mmas"`` — MAX-MIN Ant System (Stützle & Hoos), the default: only the
  iteration-best or the best-so-far ant deposits, trails are kept within
  ``[tau_min, tau_max]`` and reset when the search stagnates.
* ``"acs"`` — Ant Colony System (Dorigo & Gambardella): pseudo-random
  proportional choice with ``q0``, local evaporation as ants move, the global
  update on the best-so-far tour only.

Example:
    >>> from swarm.tsplib import TSPInstance
    >>> square = TSPInstance.from_coords([[0, 0], [0, 10], [10, 10], [10, 0], [5, -1]])
    >>> result = AntColony(square, rng=1).run(max_iterations=5)
    >>> result.length, sorted(result.tour.tolist())
    (40.0, [0, 1, 2, 3, 4])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swarm.errors import SwarmError, UnknownNameError
from swarm.result import Stopper
from swarm.tour_search import improve, nearest_neighbour_tour, neighbour_lists, tour_lengths
from swarm.tsplib import TSPInstance

__all__ = ["ACOOptions", "AntColony", "IterationStats", "TourResult"]

_VARIANTS = ["as", "mmas", "acs"]
_LOCAL = ["2opt+oropt", "2opt", "oropt", "none"]


@dataclass(frozen=True)
class ACOOptions:
    """Colony settings; the defaults are MAX-MIN Ant System with 2-opt + Or-opt.

    ``n_ants=None`` means 25 for MMAS, 10 for ACS and one per city for AS.
    ``restart_after`` (MMAS) resets the trails after that many iterations without
    improving the best tour found since the last reset.
    """

    variant: str = "mmas"
    n_ants: int | None = None
    alpha: float = 1.0
    beta: float = 2.0
    rho: float = 0.2
    q0: float = 0.9
    xi: float = 0.1
    candidates: int = 20
    local_search: str = "2opt+oropt"
    ls_neighbours: int = 12
    restart_after: int = 60

    def validate(self) -> None:
        """Raise :class:`SwarmError` naming the first bad setting."""
        if self.variant not in _VARIANTS:
            raise UnknownNameError("ACO variant", self.variant, _VARIANTS)
        if self.local_search not in _LOCAL:
            raise UnknownNameError("local search", self.local_search, _LOCAL)
        checks = [
            ("n_ants", self.n_ants is None or self.n_ants >= 1, "at least 1"),
            ("alpha", self.alpha >= 0, ">= 0"), ("beta", self.beta >= 0, ">= 0"),
            ("rho", 0 < self.rho <= 1, "in (0, 1]"), ("q0", 0 <= self.q0 <= 1, "in [0, 1]"),
            ("xi", 0 <= self.xi <= 1, "in [0, 1]"), ("candidates", self.candidates >= 1, ">= 1"),
            ("ls_neighbours", self.ls_neighbours >= 1, ">= 1"),
            ("restart_after", self.restart_after >= 1, ">= 1"),
        ]
        for name, ok, need in checks:
            if not ok:
                raise SwarmError(f"ACOOptions.{name} must be {need}, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class IterationStats:
    """What one colony iteration produced (for progress reporting)."""

    iteration: int
    iteration_best: float
    best_length: float
    evaluations: int


@dataclass(frozen=True)
class TourResult:
    """The outcome of a colony run: the best closed tour and how the search went."""

    tour: np.ndarray
    length: float
    history: np.ndarray
    iterations: int
    evaluations: int
    seconds: float
    seconds_to_best: float
    stop_reason: str


class AntColony:
    """An ant colony on a TSP instance (or a raw distance matrix), stepped or run to a stop."""

    def __init__(self, problem: TSPInstance | np.ndarray, options: ACOOptions | None = None, *,
                 rng: np.random.Generator | int | None = None) -> None:
        dist = problem.distances if isinstance(problem, TSPInstance) else problem
        self.dist = np.asarray(dist, dtype=float)
        n = self.dist.shape[0]
        if self.dist.ndim != 2 or self.dist.shape != (n, n) or n < 1:
            raise SwarmError(f"distance matrix must be square and non-empty, got {self.dist.shape}")
        if not np.all(np.isfinite(self.dist)) or np.any(self.dist < 0):
            raise SwarmError("distance matrix must hold finite, non-negative lengths")
        self.options = options or ACOOptions()
        self.options.validate()
        o = self.options
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.n = n
        self.symmetric = bool(np.allclose(self.dist, self.dist.T))
        default_ants = {"as": n, "mmas": 25, "acs": 10}[o.variant]
        self.n_ants = o.n_ants or default_ants
        self.cand = neighbour_lists(self.dist, o.candidates) if n > 1 else np.zeros((1, 1), int)
        self.ls_nn = neighbour_lists(self.dist, o.ls_neighbours) if n > 1 else self.cand
        self.local = o.local_search if self.symmetric else "none"
        positive = self.dist[self.dist > 0]
        floor = positive.min() / 2 if positive.size else 1.0
        self.heuristic = np.maximum(self.dist, floor) ** -o.beta
        greedy = self._improve(nearest_neighbour_tour(self.dist))[0]
        self.best_tour = greedy
        self._restart_tour = greedy
        self.best_length = float(tour_lengths(greedy, self.dist)[0])
        self._restart_best = self.best_length
        self._since_restart = 0
        self._since_restart_improved = 0
        self.iteration = 0
        self.evaluations = 0
        scale = max(self.best_length, floor)
        self.tau0 = {"as": self.n_ants / scale, "mmas": 1.0 / (o.rho * scale),
                     "acs": 1.0 / (n * scale)}[o.variant]
        self.tau = np.full((n, n), self.tau0)

    def _improve(self, tours: np.ndarray) -> np.ndarray:
        return improve(tours, self.dist, self.ls_nn, self.local) if self.n >= 4 else (
            np.atleast_2d(tours))

    def _construct(self) -> np.ndarray:
        o, n, m = self.options, self.n, self.n_ants
        choice = (self.tau if o.alpha == 1 else self.tau**o.alpha) * self.heuristic
        acs = o.variant == "acs"
        rows = np.arange(m)
        tours = np.empty((m, n), dtype=np.intp)
        visited = np.zeros((m, n), dtype=bool)
        cur = self.rng.integers(n, size=m)
        tours[:, 0] = cur
        visited[rows, cur] = True
        for step in range(1, n):
            cand = self.cand[cur]
            w = choice[cur[:, None], cand] * ~visited[rows[:, None], cand]
            total = w.sum(axis=1)
            if acs:
                greedy = self.rng.random(m) < o.q0
                pick = np.where(greedy, np.argmax(w, axis=1),
                                _roulette(w, total, self.rng.random(m)))
            else:
                pick = _roulette(w, total, self.rng.random(m))
            nxt = cand[rows, pick]
            stuck = total <= 0
            if stuck.any():
                full = np.where(visited[stuck], -1.0, choice[cur[stuck]])
                nxt[stuck] = np.argmax(full, axis=1)
            if acs:
                self.tau[cur, nxt] = (1 - o.xi) * self.tau[cur, nxt] + o.xi * self.tau0
                if self.symmetric:
                    self.tau[nxt, cur] = self.tau[cur, nxt]
                choice[cur, nxt] = self.tau[cur, nxt] ** o.alpha * self.heuristic[cur, nxt]
            tours[:, step] = nxt
            visited[rows, nxt] = True
            cur = nxt
        return tours

    def _deposit(self, tours: np.ndarray, amounts: np.ndarray) -> None:
        a, b = tours, np.roll(tours, -1, axis=1)
        w = np.broadcast_to(amounts[:, None], a.shape)
        np.add.at(self.tau, (a, b), w)
        if self.symmetric:
            np.add.at(self.tau, (b, a), w)

    def _update(self, tours: np.ndarray, lengths: np.ndarray) -> None:
        o = self.options
        inv = 1.0 / np.maximum(lengths, 1e-300)
        if o.variant == "as":
            self.tau *= 1 - o.rho
            self._deposit(tours, inv)
            return
        if o.variant == "acs":
            t = self.best_tour[None, :]
            a, b = t, np.roll(t, -1, axis=1)
            self.tau[a, b] = (1 - o.rho) * self.tau[a, b] + o.rho / self.best_length
            if self.symmetric:
                self.tau[b, a] = self.tau[a, b]
            return
        self._mmas_update(tours, lengths)

    def _mmas_update(self, tours: np.ndarray, lengths: np.ndarray) -> None:
        o = self.options
        k = int(np.argmin(lengths))
        if lengths[k] < self._restart_best - 1e-9:
            self._restart_best = float(lengths[k])
            self._restart_tour = tours[k].copy()
            self._since_restart_improved = 0
        else:
            self._since_restart_improved += 1
        self._since_restart += 1
        if self._since_restart_improved >= o.restart_after:
            tau_max = 1.0 / (o.rho * self.best_length)
            self.tau.fill(tau_max)
            self._restart_best = np.inf
            self._since_restart = self._since_restart_improved = 0
            return
        s = self._since_restart
        every = 25 if s < 25 else 5 if s < 75 else 3 if s < 125 else 2 if s < 250 else 1
        if s % every:
            deposit_tour, deposit_len = tours[k], float(lengths[k])
        elif np.isfinite(self._restart_best) and s < 250:
            deposit_tour, deposit_len = self._restart_tour, self._restart_best
        else:
            deposit_tour, deposit_len = self.best_tour, self.best_length
        self.tau *= 1 - o.rho
        self._deposit(deposit_tour[None, :], np.array([1.0 / deposit_len]))
        tau_max = 1.0 / (o.rho * self.best_length)
        tau_min = tau_max / (2.0 * self.n) if self.local != "none" else tau_max * _mmas_ratio(
            self.n, self.cand.shape[1])
        np.clip(self.tau, tau_min, tau_max, out=self.tau)

    def step(self) -> IterationStats:
        """Run one iteration: construct, improve, update the trails."""
        tours = self._improve(self._construct()) if self.n > 1 else np.zeros((1, 1), np.intp)
        lengths = tour_lengths(tours, self.dist)
        self.evaluations += tours.shape[0]
        self.iteration += 1
        k = int(np.argmin(lengths))
        if lengths[k] < self.best_length - 1e-9:
            self.best_length = float(lengths[k])
            self.best_tour = tours[k].copy()
        if self.n > 1:
            self._update(tours, lengths)
        return IterationStats(self.iteration, float(lengths[k]), self.best_length,
                              self.evaluations)

    def run(self, max_iterations: int | None = 1000, *, time_limit: float | None = 60.0,
            max_stagnation: int | None = 250, target: float | None = None,
            callback: Callable[[IterationStats], object] | None = None) -> TourResult:
        """Iterate until a stop: iterations, seconds, iterations without improvement, target.

        Args:
            max_iterations: at most this many iterations (``None``: no limit).
            time_limit: stop after the iteration that passes this many seconds.
            max_stagnation: stop after this many iterations without a better tour.
            target: stop once the best tour is this short or shorter (a known optimum).
            callback: called with each iteration's :class:`IterationStats`.
        """
        stop = Stopper("AntColony.run", max_iterations, time_limit, max_stagnation, target,
                       algorithm=type(self).__name__)
        history: list[float] = []
        found_at = 0.0
        while stop.more():
            if target is not None and self.best_length <= target:
                stop.stop("target")
                break
            before = self.best_length
            stats = self.step()
            history.append(stats.best_length)
            improved = stats.best_length < before
            if improved:
                found_at = stop.elapsed
            if callback is not None:
                callback(stats)
            if stop.record(improved):
                break
        stop.report(self.best_length)
        return TourResult(self.best_tour.copy(), self.best_length, np.asarray(history),
                          len(history), self.evaluations, stop.elapsed, found_at, stop.reason)


def _roulette(w: np.ndarray, total: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from each row of ``w`` with probability proportional to the weights."""
    cum = np.cumsum(w, axis=1)
    pick = np.minimum((cum < (u * total)[:, None]).sum(axis=1), w.shape[1] - 1)
    zero = w[np.arange(w.shape[0]), pick] <= 0
    if zero.any():  # u == 0.0 exactly, or rounding at the end of the row
        pick[zero] = np.argmax(w[zero], axis=1)
    return pick


def _mmas_ratio(n: int, candidates: int) -> float:
    """``tau_min / tau_max`` from Stützle & Hoos' ``p_best = 0.05`` rule."""
    p = 0.05 ** (1.0 / n)
    avg = max(candidates / 2.0, 1.0)
    return float((1 - p) / ((avg - 1) * p)) if avg > 1 else 0.5
