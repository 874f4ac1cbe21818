"""Particle swarm optimisation: global or local best, inertia weight or constriction.

One iteration is a handful of whole-swarm NumPy operations::

    v <- w v + c1 r1 (pbest - x) + c2 r2 (nbest - x)       (inertia weight, w falls linearly)
    v <- chi (v + c1 r1 (pbest - x) + c2 r2 (nbest - x))   (Clerc's constriction)
    x <- boundary(x + clamp(v))

``nbest`` is the best personal best of the whole swarm (``"global"``) or of each
particle's neighbourhood (``"ring"``, ``"von_neumann"``).  Integer dimensions
are rounded before evaluation and the rounded points become the personal bests;
constraints and the sense come from the :class:`~swarm.problem.Problem`.
Drive it with :meth:`PSO.ask` / :meth:`PSO.tell`, with :meth:`PSO.step` or with
:meth:`PSO.run`.

Example:
    >>> from swarm.objectives import sphere
    >>> from swarm.problem import Problem, Space
    >>> pso = PSO(Problem(Space.box(-5, 5, dim=3)), sphere, rng=0)
    >>> result = pso.run(max_iterations=200)
    >>> result.best_fitness < 1e-12, result.evaluations
    (True, 8000)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swarm.errors import SwarmError, UnknownNameError
from swarm.evaluate import Evaluator, check_fitness
from swarm.problem import Problem, better
from swarm.result import Stats, SwarmResult, drive

__all__ = ["PSO", "PSOOptions", "neighbourhoods"]

_TOPOLOGIES = ["global", "ring", "von_neumann"]
_VARIANTS = ["inertia", "constriction"]
_BOUNDARIES = ["clip", "reflect", "random", "periodic"]


@dataclass(frozen=True)
class PSOOptions:
    """Swarm settings.

    ``w_start -> w_end`` is the linearly decreasing inertia of the ``"inertia"``
    variant (over the run's horizon); the ``"constriction"`` variant ignores it and
    needs ``c1 + c2 > 4`` (2.05 each is Clerc's choice).  ``velocity_clamp`` is a
    fraction of each dimension's width (``None``: no clamp).
    """

    n_particles: int = 40
    topology: str = "global"
    ring_neighbours: int = 1
    variant: str = "inertia"
    w_start: float = 0.9
    w_end: float = 0.2
    c1: float = 2.0
    c2: float = 2.0
    c1_end: float | None = None
    c2_end: float | None = None
    velocity_clamp: float | None = 0.5
    boundary: str = "clip"

    def validate(self) -> None:
        """Raise :class:`SwarmError` naming the first bad setting."""
        for kind, value, known in (("topology", self.topology, _TOPOLOGIES),
                                   ("PSO variant", self.variant, _VARIANTS),
                                   ("boundary handling", self.boundary, _BOUNDARIES)):
            if value not in known:
                raise UnknownNameError(kind, value, known)
        if self.n_particles < 1:
            raise SwarmError(f"PSOOptions.n_particles must be >= 1, got {self.n_particles}")
        if self.ring_neighbours < 1:
            raise SwarmError(f"PSOOptions.ring_neighbours must be >= 1, got "
                             f"{self.ring_neighbours}")
        if self.c1 < 0 or self.c2 < 0:
            raise SwarmError(f"PSOOptions.c1 and c2 must be >= 0, got {self.c1}, {self.c2}")
        if self.variant == "constriction" and self.c1 + self.c2 <= 4:
            raise SwarmError(f"constriction needs c1 + c2 > 4, got {self.c1 + self.c2:g}")
        if self.velocity_clamp is not None and not self.velocity_clamp > 0:
            raise SwarmError(f"PSOOptions.velocity_clamp must be > 0 or None, got "
                             f"{self.velocity_clamp}")


def neighbourhoods(n: int, topology: str, k: int = 1) -> np.ndarray | None:
    """Each particle's neighbours (itself included) as an index array, ``None`` for global.

    Example:
        >>> neighbourhoods(5, "ring").tolist()[0]
        [4, 0, 1]
    """
    if topology == "global":
        return None
    idx = np.arange(n)[:, None]
    if topology == "ring":
        offsets = np.arange(-k, k + 1)[None, :]
    elif topology == "von_neumann":
        cols = max(1, round(float(np.sqrt(n))))
        offsets = np.array([[0, -1, 1, -cols, cols]])
    else:
        raise UnknownNameError("topology", topology, _TOPOLOGIES)
    return np.asarray((idx + offsets) % n)


class PSO:
    """A particle swarm on a :class:`~swarm.problem.Problem` (see the module docstring)."""

    def __init__(self, problem: Problem, evaluator: Evaluator | Callable[..., object] | None = None,
                 options: PSOOptions | None = None, *,
                 rng: np.random.Generator | int | None = None, horizon: int = 1000) -> None:
        self.problem = problem
        self.space = problem.space
        self.evaluator = evaluator
        self.options = options or PSOOptions()
        self.options.validate()
        o = self.options
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.horizon = max(1, horizon)
        n = o.n_particles
        self.neighbours = neighbourhoods(n, o.topology, o.ring_neighbours)
        width = self.space.width + self.space.integer  # an integer dim spans width + 1 values
        self.vmax = None if o.velocity_clamp is None else o.velocity_clamp * width
        self._has_int = bool(self.space.integer.any())
        self.x = self.space.sample(self.rng, n)
        self.xe = self.x
        self.v = (self.space.sample(self.rng, n) - self.x) / 2.0
        if self.vmax is not None:
            np.clip(self.v, -self.vmax, self.vmax, out=self.v)
        self.pbest = self.x.copy()
        self.pbest_v = np.full(n, np.inf)
        self.pbest_f = np.full(n, np.inf)
        self.pbest_raw = np.full(n, np.nan)
        self.best = 0
        self.iteration = 0
        self.evaluations = 0
        self._pending = False
        self._started = False
        if o.variant == "constriction":
            phi = o.c1 + o.c2
            self.chi = 2.0 / abs(2.0 - phi - np.sqrt(phi * phi - 4.0 * phi))

    def _schedule(self, start: float, end: float | None) -> float:
        if end is None:
            return start
        return start + (end - start) * min(self.iteration / self.horizon, 1.0)

    @property
    def inertia(self) -> float:
        """This iteration's inertia weight (linear from ``w_start`` to ``w_end``)."""
        return self._schedule(self.options.w_start, self.options.w_end)

    def ask(self) -> np.ndarray:
        """The positions to evaluate next (moving the swarm first, once per :meth:`tell`)."""
        if not self._pending:
            if self._started:
                self._move()
            self._pending = True
            self.xe = self.space.repair(self.x) if self._has_int else self.x
        return self.xe.copy()

    def tell(self, fitness: np.ndarray) -> None:
        """Report the fitness of the positions from :meth:`ask` and update the bests."""
        if not self._pending:
            raise SwarmError("tell() without a preceding ask()")
        f_raw = check_fitness(fitness, self.xe.shape[0])
        v, f = self.problem.keys(f_raw, self.xe)
        improved = better(v, f, self.pbest_v, self.pbest_f)
        self.pbest[improved] = self.xe[improved]
        self.pbest_v[improved], self.pbest_f[improved] = v[improved], f[improved]
        self.pbest_raw[improved] = f_raw[improved]
        self.best = int(np.lexsort((self.pbest_f, self.pbest_v))[0])
        self.evaluations += self.xe.shape[0]
        self.iteration += 1
        self._pending = False
        self._started = True

    def _leaders(self) -> np.ndarray:
        if self.neighbours is None:
            return self.pbest[self.best][None, :]
        rank = np.empty(self.pbest_f.size, dtype=np.intp)
        rank[np.lexsort((self.pbest_f, self.pbest_v))] = np.arange(rank.size)
        hood = self.neighbours
        return self.pbest[hood[np.arange(hood.shape[0]), np.argmin(rank[hood], axis=1)]]

    def _move(self) -> None:
        o, x = self.options, self.x
        n, d = x.shape
        r = self.rng.random((2, n, d))
        c1, c2 = self._schedule(o.c1, o.c1_end), self._schedule(o.c2, o.c2_end)
        pull, social = r[0], r[1]  # in place: one iteration is a few passes over n x d
        pull *= self.pbest - x
        social *= self._leaders() - x
        if o.variant == "constriction":
            pull *= self.chi * c1
            social *= self.chi * c2
            v = self.chi * self.v
        else:
            pull *= c1
            social *= c2
            v = self.inertia * self.v
        v += pull
        v += social
        if self.vmax is not None:
            np.minimum(v, self.vmax, out=v)
            np.maximum(v, -self.vmax, out=v)
        self.x, self.v = self._bound(x + v, v)

    def _bound(self, x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi, rule = self.space.lower, self.space.upper, self.options.boundary
        out = (x < lo) | (x > hi)
        if out.any():
            if rule == "clip":
                v = np.where(out, 0.0, v)
            elif rule == "reflect":
                span = 2.0 * (hi - lo)
                y = np.mod(x - lo, np.where(span > 0, span, 1.0))
                x = np.where(out, lo + np.where(y > hi - lo, span - y, y), x)
                v = np.where(out, -0.5 * v, v)
            elif rule == "periodic":
                x = np.where(out, lo + np.mod(x - lo, np.where(hi > lo, hi - lo, 1.0)), x)
            else:
                x = np.where(out, self.space.sample(self.rng, x.shape[0]), x)
            np.minimum(np.maximum(x, lo, out=x), hi, out=x)
        return x, v

    def step(self) -> Stats:
        """One iteration through the evaluator: ask, evaluate, tell."""
        if self.evaluator is None:
            raise SwarmError("step()/run() need an evaluator; use ask()/tell() without one")
        x = self.ask()
        self.tell(np.asarray(self.evaluator(x)))
        return Stats(self.iteration, self.best_fitness, self.evaluations,
                     self.problem.point_violation(self.pbest[self.best]) == 0)

    @property
    def best_position(self) -> np.ndarray:
        """The best position found so far (integer dims hold integers)."""
        return self.pbest[self.best].copy()

    @property
    def best_fitness(self) -> float:
        """The fitness of :attr:`best_position`, as the objective returned it."""
        return float(self.pbest_raw[self.best])

    def result_parts(self) -> tuple[np.ndarray, float, float]:
        """``(best position, best fitness, its constraint violation)``."""
        best = self.best_position
        return best, self.best_fitness, self.problem.point_violation(best)

    def run(self, max_iterations: int | None = 1000, *, time_limit: float | None = None,
            max_stagnation: int | None = None, target: float | None = None,
            tolerance: float = 0.0, callback: Callable[[Stats], object] | None = None
            ) -> SwarmResult:
        """Step until a stop condition (see :func:`swarm.result.drive`); the inertia
        schedule spans ``max_iterations`` when it is given."""
        if max_iterations is not None:
            self.horizon = max(1, self.iteration + max_iterations)
        return drive(self, max_iterations, sense=self.problem.sign, time_limit=time_limit,
                     max_stagnation=max_stagnation, target=target, tolerance=tolerance,
                     callback=callback)
