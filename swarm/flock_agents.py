"""Boids as agents: one :class:`BoidAgent` per swarm member, stepped by a Stepper.

The same rules as :class:`swarm.boids.Flock` (separation, alignment, cohesion, heading
noise, constant speed, a periodic box, nearest images), but every boid is an agent that
decides for itself from what it senses of its neighbours (:class:`Senses`: how many,
their mean heading, their centre, the separation push).  The model's :class:`FlockSpace`
answers that through a uniform cell grid (cells at least ``radius`` wide) rebuilt once
per step: a boid looks at the 3x3 cells around it, not at the whole flock, and the boids
of one cell are sensed together (NumPy over the cell), since they look at the same
block.  A step is then O(neighbours) per boid.  Activation is staged: ``step``
computes the new heading from the current positions, ``advance`` moves, so the order
in which the boids are activated does not matter.

Example:
    >>> stepper = flock_of(400, seed=1)
    >>> _ = stepper.run(60)
    >>> order = stepper.data["order"]
    >>> bool(order[0] < 0.3), bool(order[-1] > 0.8)
    (True, True)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from agents.hosting.stepping import Activation, StepContext, Stepper
from swarm.boids import BoidsOptions, order_parameter
from swarm.errors import SwarmError

__all__ = ["FLOCKING_DENSITY", "BoidAgent", "FlockSpace", "Neighbours", "Senses", "flock_of",
           "flocking_options", "hosted_flock"]

#: Boids per unit area for :func:`flocking_options`: dense enough (about 110 neighbours
#: each) that 10,000 boids in a 25 x 25 box order within about 200 steps.
FLOCKING_DENSITY = 16.0


def flocking_options(n_boids: int, density: float = FLOCKING_DENSITY) -> BoidsOptions:
    """Settings under which ``n_boids`` agents flock: a 2-D box of the given density and
    full alignment (a boid takes its neighbours' mean heading, Vicsek-style).

    Example:
        >>> flocking_options(10_000).box
        25.0
    """
    if n_boids < 1 or density <= 0:
        raise SwarmError(f"need n_boids >= 1 and density > 0, got {n_boids}, {density}")
    return BoidsOptions(n_boids=n_boids, dim=2, box=math.sqrt(n_boids / density), alignment=1.0)


class Neighbours(NamedTuple):
    """The boids within ``radius`` of one boid (itself excluded): their indices, the
    offsets to them (nearest image), their headings and their distances."""

    indices: np.ndarray
    offsets: np.ndarray
    headings: np.ndarray
    distances: np.ndarray


class Senses(NamedTuple):
    """What one boid perceives of its neighbours within ``radius``: how many, their mean
    heading, their centre (the mean offset to them) and the separation push (minus the
    sum of ``offset / distance**2`` over those closer than ``separation_radius``)."""

    number: int
    heading: np.ndarray
    centre: np.ndarray
    push: np.ndarray


class _CellSenses(NamedTuple):
    number: np.ndarray   # (m,)
    heading: np.ndarray  # (m, dim)
    centre: np.ndarray
    push: np.ndarray


class FlockSpace:
    """The periodic box and its cell grid; the boids' ``ctx.model``.

    It reads every boid's position and heading once per step, at the first question of
    that step, so all boids of a step see the same flock (the one before ``advance``).
    :meth:`senses` works out what the boids of one cell perceive together, at the first
    question from that cell: they all look at the same 3x3 block of cells.
    """

    def __init__(self, options: BoidsOptions) -> None:
        options.validate()
        self.options = options
        self.boids: list[BoidAgent] = []
        self.cells = max(1, int(options.box // options.radius))  # per dimension
        self.cell_size = options.box / self.cells                  # >= radius
        self._wrap = self.cells < 3  # too few cells for a 3x3 block: everyone is a candidate
        self._built: int | None = None
        self._positions = np.empty((0, options.dim))
        self._headings = np.empty((0, options.dim))
        self._cell: np.ndarray = np.empty(0, dtype=np.intp)
        self._order: np.ndarray = np.empty(0, dtype=np.intp)
        self._bounds: np.ndarray = np.empty(0, dtype=np.intp)
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._senses: dict[int, _CellSenses] = {}
        self._row: np.ndarray = np.empty(0, dtype=np.intp)  # a boid's row in its cell
        # for every cell, the 3**dim cells around it and the shift (-box, 0 or +box per
        # coordinate) that brings their boids to the image nearest it
        k, dim = self.cells, options.dim
        cells = np.indices((k,) * dim).reshape(dim, -1).T
        at = cells[:, None, :] + np.array(list(itertools.product((-1, 0, 1), repeat=dim)))
        self._around = np.ravel_multi_index(tuple(np.moveaxis(at % k, -1, 0)), (k,) * dim)
        self._shift = options.box * (at // k)

    def place(self, boid: BoidAgent) -> None:
        """Add a boid; it gets the next index."""
        boid.index = len(self.boids)
        self.boids.append(boid)

    def headings(self) -> np.ndarray:
        """Every boid's heading now, in index order."""
        return np.array([b.heading for b in self.boids])

    def order(self) -> float:
        """The flock's order parameter now."""
        return order_parameter(self.headings())

    def neighbours(self, index: int, step: int | None = None) -> Neighbours:
        """The boids within ``radius`` of boid ``index`` as the flock was at ``step``.

        A new ``step`` (or ``None``: always) re-reads the flock and rebuilds the grid.
        """
        if step is None or step != self._built:
            self._build(step)
        cand, pos, heads = self._block(int(self._cell[index]))
        off = pos - self._positions[index]
        if self._wrap:
            off -= self.options.box * np.round(off / self.options.box)
        d2 = np.einsum("ij,ij->i", off, off)
        near = (d2 < self.options.radius ** 2) & (d2 > 0)
        return Neighbours(cand[near], off[near], heads[near], np.sqrt(d2[near]))

    def senses(self, index: int, step: int | None = None) -> Senses:
        """What boid ``index`` perceives of its neighbours as the flock was at ``step``."""
        if step is None or step != self._built:
            self._build(step)
        cell = int(self._cell[index])
        seen = self._senses.get(cell)
        if seen is None:
            seen = self._senses[cell] = self._perceive(cell)
        row = self._row[index]
        return Senses(int(seen.number[row]), seen.heading[row], seen.centre[row], seen.push[row])

    def _perceive(self, cell: int) -> _CellSenses:
        """:class:`Senses` for every boid of ``cell`` at once (rows in grid order).

        Coordinate by coordinate, so every array is (boids of the cell) x (candidates).
        """
        o = self.options
        _, pos, heads = self._block(cell)
        members = self._order[self._bounds[cell]:self._bounds[cell + 1]]
        here = self._positions[members]
        offsets = []
        d2 = np.zeros((len(members), len(pos)))
        for k in range(o.dim):
            dk = pos[:, k][None, :] - here[:, k][:, None]
            if self._wrap:
                dk -= o.box * np.round(dk / o.box)
            offsets.append(dk)
            d2 += dk * dk
        d2[d2 == 0] = np.inf  # itself, and any boid right on top of it: no direction
        near = (d2 < o.radius ** 2).astype(float)
        count = near.sum(axis=1)
        safe = np.maximum(count, 1.0)[:, None]
        inverse = (d2 < o.separation_radius ** 2) / d2
        centre = np.stack([np.einsum("mc,mc->m", near, dk) for dk in offsets], axis=1)
        push = np.stack([-np.einsum("mc,mc->m", inverse, dk) for dk in offsets], axis=1)
        return _CellSenses(count.astype(np.intp), (near @ heads) / safe, centre / safe, push)

    def _build(self, step: int | None) -> None:
        o, k, n = self.options, self.cells, len(self.boids)
        self._positions = np.array([b.position for b in self.boids], dtype=float).reshape(n, o.dim)
        self._headings = self.headings().reshape(n, o.dim)
        coords = np.minimum((self._positions // self.cell_size).astype(np.intp), k - 1)
        self._cell = np.ravel_multi_index(tuple(coords.T), (k,) * o.dim)
        self._order = np.argsort(self._cell, kind="stable")
        self._bounds = np.searchsorted(self._cell[self._order], np.arange(k ** o.dim + 1))
        self._row = np.empty(n, dtype=np.intp)
        self._row[self._order] = np.arange(n) - self._bounds[self._cell[self._order]]
        self._blocks = {}
        self._senses = {}
        self._built = step

    def _block(self, cell: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The boids of the cells around ``cell``: indices, positions shifted to the image
        nearest ``cell``, headings."""
        block = self._blocks.get(cell)
        if block is not None:
            return block
        if self._wrap:
            block = (np.arange(len(self.boids)), self._positions, self._headings)
        else:
            bounds, order = self._bounds, self._order
            parts = [order[bounds[f]:bounds[f + 1]] for f in self._around[cell].tolist()]
            cand = np.concatenate(parts)
            shift = np.repeat(self._shift[cell], [len(p) for p in parts], axis=0)
            block = (cand, self._positions[cand] + shift, self._headings[cand])
        self._blocks[cell] = block
        return block


class BoidAgent:
    """One boid: a position and a unit heading; ``ctx.model`` is its :class:`FlockSpace`."""

    __slots__ = ("_next", "heading", "index", "position")

    def __init__(self, position: np.ndarray, heading: np.ndarray) -> None:
        self.position = np.asarray(position, dtype=float)
        self.heading = np.asarray(heading, dtype=float)
        self._next = self.heading
        self.index = -1

    def step(self, ctx: StepContext) -> None:
        """Steer by the three rules and a little noise; keep the new heading for ``advance``."""
        space: FlockSpace = ctx.model
        o = space.options
        seen = space.senses(self.index, ctx.step)
        heading = self.heading
        new = heading
        if seen.number:
            new = heading + (o.alignment * (seen.heading - heading) + o.cohesion * seen.centre
                             + o.separation * seen.push)
        new = new + o.noise * ctx.rng.standard_normal(o.dim)
        norm = math.sqrt(float(new @ new))
        self._next = new / norm if norm > 0 else heading

    def advance(self, ctx: StepContext) -> None:
        """Turn to the new heading and move one step at constant speed."""
        o = ctx.model.options
        self.heading = self._next
        self.position = np.mod(self.position + o.speed * self.heading, o.box)


def flock_of(n: int, options: BoidsOptions | None = None, *, seed: int | None = 0,
             activation: Activation = "random") -> Stepper:
    """A Stepper of ``n`` boid agents (ids ``boid-<i>``) at random positions and headings,
    with the order parameter recorded as ``data["order"]``.

    ``options`` default to :func:`flocking_options` for ``n``; their ``n_boids`` is set to
    ``n``.
    """
    options = dataclasses.replace(options or flocking_options(n), n_boids=n)
    space = FlockSpace(options)
    stepper = Stepper(seed=seed, model=space, activation=activation)
    positions = stepper.rng.random((n, options.dim)) * options.box
    heads = stepper.rng.normal(size=(n, options.dim))
    heads /= np.linalg.norm(heads, axis=1, keepdims=True)
    for i in range(n):
        boid = BoidAgent(positions[i], heads[i])
        space.place(boid)
        stepper.add(f"boid-{i}", boid)
    stepper.collect("order", lambda s: space.order())
    return stepper


def hosted_flock(agents: Sequence[Any], options: Mapping[str, Any], seed: int | None
                 ) -> tuple[FlockSpace, dict[str, BoidAgent], dict[str, Any]]:
    """A model builder for hosted agents (:mod:`agents.hosting.simulation`): one boid per
    hosted agent of the host, at random positions and headings, with the order parameter
    as reporter ``order``.  ``options`` may give ``density`` (boids per unit area)."""
    n = len(agents)
    opts = dataclasses.replace(flocking_options(n, float(options.get("density",
                                                                   FLOCKING_DENSITY))),
                               n_boids=n)
    space = FlockSpace(opts)
    rng = np.random.default_rng(seed)
    positions = rng.random((n, opts.dim)) * opts.box
    heads = rng.normal(size=(n, opts.dim))
    heads /= np.linalg.norm(heads, axis=1, keepdims=True)
    made: dict[str, BoidAgent] = {}
    for i, agent in enumerate(agents):
        boid = BoidAgent(positions[i], heads[i])
        space.place(boid)
        made[agent.agent_id] = boid
    return space, made, {"order": lambda stepper: space.order()}
