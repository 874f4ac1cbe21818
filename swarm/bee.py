"""Bee colonies: the Artificial Bee Colony optimiser and a scout-worker allocation of sites.

:class:`ABC` is Karaboga's algorithm.  Each food source is a candidate point;
in one iteration every *employed* bee tries ``x_j + phi (x_j - x_k,j)`` on one
(or ``perturbed_dims``) random dimension(s) of its source against a random other
source ``k``, *onlookers* do the same on sources drawn in proportion to their
quality, and a source that has not improved for ``limit`` trials is abandoned
for a random one by a *scout*.  Comparisons use the problem's feasibility rules,
so constraints, integer dims and maximisation work as in :mod:`swarm.pso`.

:func:`allocate_workers` is the foraging side: workers spread over sites whose
quality they can only sample with noise; scouts explore, employed workers
recruit others in proportion to what they observe, and workers leave sites they
judge worse than the colony's average.

Example:
    >>> from swarm.objectives import sphere
    >>> from swarm.problem import Problem, Space
    >>> abc = ABC(Problem(Space.box(-5, 5, dim=2)), sphere, rng=0)
    >>> abc.run(max_iterations=100).best_fitness < 1e-6
    True
    >>> alloc = allocate_workers([0.2, 0.9, 0.4], n_workers=60, rng=0)
    >>> int(np.argmax(alloc.counts)), bool(alloc.trace[-1] > alloc.trace[0])
    (1, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from swarm.errors import SwarmError
from swarm.evaluate import Evaluator, check_fitness
from swarm.problem import Problem, better
from swarm.result import Stats, SwarmResult, drive

__all__ = ["ABC", "ABCOptions", "Allocation", "allocate_workers"]


@dataclass(frozen=True)
class ABCOptions:
    """Colony settings: ``n_sources`` employed bees (and as many onlookers);
    ``limit=None`` means ``n_sources * dim`` trials before a source is abandoned."""

    n_sources: int = 25
    limit: int | None = None
    perturbed_dims: int = 1

    def validate(self) -> None:
        """Raise :class:`SwarmError` naming the first bad setting."""
        if self.n_sources < 2:
            raise SwarmError(f"ABCOptions.n_sources must be >= 2, got {self.n_sources}")
        if self.limit is not None and self.limit < 1:
            raise SwarmError(f"ABCOptions.limit must be >= 1, got {self.limit}")
        if self.perturbed_dims < 1:
            raise SwarmError(f"ABCOptions.perturbed_dims must be >= 1, got {self.perturbed_dims}")


class ABC:
    """Artificial Bee Colony on a :class:`~swarm.problem.Problem`, stepped or run to a stop."""

    def __init__(self, problem: Problem, evaluator: Evaluator | Callable[..., object],
                 options: ABCOptions | None = None, *,
                 rng: np.random.Generator | int | None = None) -> None:
        self.problem = problem
        self.space = problem.space
        self.evaluator = evaluator
        self.options = options or ABCOptions()
        self.options.validate()
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.limit = self.options.limit or self.options.n_sources * self.space.dim
        self.evaluations = 0
        self.iteration = 0
        self.x = self.space.sample(self.rng, self.options.n_sources)
        self.raw, self.v, self.f = self._evaluate(self.x)
        self.trials = np.zeros(self.options.n_sources, dtype=np.intp)
        self.best_x, self.best_raw = self.x[0].copy(), float(self.raw[0])
        self.best_v, self.best_f = float(self.v[0]), float(self.f[0])
        self._remember()

    def _evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raw = check_fitness(self.evaluator(x), x.shape[0])
        self.evaluations += x.shape[0]
        v, f = self.problem.keys(raw, x)
        return raw, v, f

    def _remember(self) -> None:
        i = int(np.lexsort((self.f, self.v))[0])
        if better(self.v[i], self.f[i], self.best_v, self.best_f):
            self.best_x, self.best_raw = self.x[i].copy(), float(self.raw[i])
            self.best_v, self.best_f = float(self.v[i]), float(self.f[i])

    def _try(self, sources: np.ndarray) -> None:
        """One neighbour trial for each index in ``sources`` (repeats allowed); keep the best."""
        m, d = sources.size, self.space.dim
        partner = (sources + self.rng.integers(1, self.x.shape[0], size=m)) % self.x.shape[0]
        cand = self.x[sources].copy()
        dims = np.argsort(self.rng.random((m, d)), axis=1)[:, : min(self.options.perturbed_dims, d)]
        rows = np.arange(m)[:, None]
        phi = self.rng.uniform(-1.0, 1.0, dims.shape)
        old = cand[rows, dims]
        cand[rows, dims] = old + phi * (old - self.x[partner][rows, dims])
        cand = self.space.repair(cand)
        raw, v, f = self._evaluate(cand)
        # the best candidate per source competes with it; the others count as failed trials
        order = np.lexsort((f, v, sources))
        first = order[np.r_[True, sources[order][1:] != sources[order][:-1]]]
        src = sources[first]
        win = better(v[first], f[first], self.v[src], self.f[src])
        np.add.at(self.trials, sources, 1)
        self.trials[src[win]] = 0
        w = first[win]
        self.x[src[win]], self.raw[src[win]] = cand[w], raw[w]
        self.v[src[win]], self.f[src[win]] = v[w], f[w]

    def _onlooker_weights(self) -> np.ndarray:
        f = self.f
        fit = np.where(f >= 0, 1.0 / (1.0 + np.where(f >= 0, f, 0.0)), 1.0 + np.abs(f))
        fit = np.where(np.isfinite(fit), fit, 0.0)
        feasible = self.v == 0
        p = np.where(feasible, 0.1 + 0.9 * fit / max(fit.max(), 1e-300), 0.0)
        if not feasible.all():
            vmax = self.v[~feasible].max()
            p = np.where(feasible, p, 0.1 * (1.0 - self.v / (vmax * 1.0001)))
        return p / p.sum()

    def step(self) -> Stats:
        """One iteration: employed, onlooker and scout phases."""
        n = self.x.shape[0]
        self._try(np.arange(n))
        self._try(np.asarray(self.rng.choice(n, size=n, p=self._onlooker_weights())))
        self._remember()
        tired = np.flatnonzero(self.trials > self.limit)
        if tired.size:
            worst = tired[np.lexsort((-self.f[tired], -self.v[tired]))[:1]]  # one scout per cycle
            self.x[worst] = self.space.sample(self.rng, worst.size)
            self.raw[worst], self.v[worst], self.f[worst] = self._evaluate(self.x[worst])
            self.trials[worst] = 0
            self._remember()
        self.iteration += 1
        feasible = self.problem.point_violation(self.best_x) == 0
        return Stats(self.iteration, self.best_raw, self.evaluations, feasible)

    def result_parts(self) -> tuple[np.ndarray, float, float]:
        """``(best position, best fitness, its constraint violation)``."""
        return self.best_x.copy(), self.best_raw, self.problem.point_violation(self.best_x)

    def run(self, max_iterations: int | None = 1000, *, time_limit: float | None = None,
            max_stagnation: int | None = None, target: float | None = None,
            tolerance: float = 0.0, callback: Callable[[Stats], object] | None = None
            ) -> SwarmResult:
        """Step until a stop condition (see :func:`swarm.result.drive`)."""
        return drive(self, max_iterations, sense=self.problem.sign, time_limit=time_limit,
                     max_stagnation=max_stagnation, target=target, tolerance=tolerance,
                     callback=callback)


@dataclass(frozen=True)
class Allocation:
    """Workers per site at the end, the colony's quality estimates, and per-step traces.

    ``trace[t]`` is the mean true quality of the employed workers after step ``t``;
    ``history[t]`` the worker counts per site.
    """

    counts: np.ndarray
    estimates: np.ndarray
    trace: np.ndarray
    history: np.ndarray


def allocate_workers(qualities: Sequence[float] | np.ndarray, n_workers: int, *,
                     steps: int = 100, noise: float = 0.1, scout_fraction: float = 0.05,
                     capacities: Sequence[int] | np.ndarray | None = None,
                     rng: np.random.Generator | int | None = None) -> Allocation:
    """Spread ``n_workers`` over sites of unknown, noisily observed quality.

    Each step: every employed worker observes its site's quality plus Gaussian
    ``noise``; the colony's estimate of a site is the running mean of what was
    observed there.  A worker abandons its site with probability 5 % plus a share
    that grows as the estimate falls below the colony's (worker-weighted) mean; a
    ``scout_fraction`` of the idle workers explores a uniformly random site and the
    rest follow dances, picking sites in proportion to ``workers there * s**2``,
    ``s`` the site's estimate rescaled to ``[0, 1]`` over the sites seen so far (a
    better site is danced for longer).  Sites never take more workers than their
    capacity.
    """
    q = np.asarray(qualities, dtype=float)
    if q.ndim != 1 or q.size == 0 or not np.all(np.isfinite(q)):
        raise SwarmError("qualities must be a non-empty 1-D sequence of finite numbers")
    if n_workers < 1 or steps < 1 or noise < 0 or not 0 < scout_fraction <= 1:
        raise SwarmError(f"need n_workers >= 1, steps >= 1, noise >= 0 and 0 < scout_fraction "
                         f"<= 1; got {n_workers}, {steps}, {noise}, {scout_fraction}")
    cap = np.full(q.size, n_workers) if capacities is None else np.asarray(capacities, int)
    if cap.shape != q.shape or np.any(cap < 0):
        raise SwarmError("capacities must give a non-negative count for every site")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    counts = np.zeros(q.size, dtype=np.int64)
    seen = np.zeros(q.size)
    total = np.zeros(q.size)
    idle = n_workers
    trace, history = np.empty(steps), np.empty((steps, q.size), dtype=np.int64)
    for t in range(steps):
        obs = gen.normal(q * counts, noise * np.sqrt(counts))  # sum of the workers' samples
        seen += counts
        total += obs
        est = np.where(seen > 0, total / np.maximum(seen, 1), 0.0)
        mean = float((est * counts).sum() / counts.sum()) if counts.sum() else float(est.max())
        spread = max(float(np.ptp(est[seen > 0])) if (seen > 0).any() else 0.0, 1e-12)
        leave_p = np.clip(0.5 * (mean - est) / spread, 0.0, 1.0) + 0.05
        leaving = gen.binomial(counts, np.minimum(leave_p, 1.0))
        counts -= leaving
        idle += int(leaving.sum())
        scouts = gen.binomial(idle, scout_fraction)
        low = est[seen > 0].min() if (seen > 0).any() else 0.0
        dance = counts * (np.maximum(est - low, 0.0) / spread) ** 2
        going = gen.multinomial(scouts, np.full(q.size, 1.0 / q.size))
        if dance.sum() > 0:
            going += gen.multinomial(idle - scouts, dance / dance.sum())
        going = np.minimum(going, cap - counts)
        counts += going
        idle -= int(going.sum())
        history[t] = counts
        trace[t] = float((q * counts).sum() / counts.sum()) if counts.sum() else 0.0
    return Allocation(counts, np.where(seen > 0, total / np.maximum(seen, 1), np.nan), trace,
                      history)
