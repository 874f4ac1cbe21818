"""Flocking: Reynolds' boids in a periodic box, and the order parameter that measures it.

Every boid moves at a constant speed and steers by three local rules computed over
the boids within ``radius`` (nearest periodic image): *separation* (away from
boids closer than ``separation_radius``), *alignment* (towards the neighbours'
mean heading) and *cohesion* (towards their centre), plus a little heading noise.
No boid sees the whole flock, yet alignment spreads: the order parameter
``|mean of the unit headings|`` starts near 0 for random headings and rises
towards 1 as the flock forms.  One step is a few ``n x n`` NumPy operations.

Example:
    >>> flock = Flock(rng=0)
    >>> trace = flock.run(150)
    >>> bool(trace[0] < 0.3), bool(trace[-1] > 0.8)
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swarm.errors import SwarmError

__all__ = ["BoidsOptions", "Flock", "order_parameter"]


@dataclass(frozen=True)
class BoidsOptions:
    """Flock settings: ``n_boids`` in a ``box``-sized periodic cube of ``dim`` dimensions."""

    n_boids: int = 100
    dim: int = 2
    box: float = 10.0
    speed: float = 0.1
    radius: float = 1.5
    separation_radius: float = 0.4
    separation: float = 0.05
    alignment: float = 0.3
    cohesion: float = 0.02
    noise: float = 0.05

    def validate(self) -> None:
        """Raise :class:`SwarmError` naming the first bad setting."""
        positive = ("n_boids", "dim", "box", "speed", "radius")
        for name in positive:
            if not getattr(self, name) > 0:
                raise SwarmError(f"BoidsOptions.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("separation_radius", "separation", "alignment", "cohesion", "noise"):
            if getattr(self, name) < 0:
                raise SwarmError(f"BoidsOptions.{name} must be >= 0, got {getattr(self, name)!r}")


def order_parameter(velocities: np.ndarray) -> float:
    """``|mean of the unit headings|``: 1 when all boids fly the same way, ~0 when random.

    Example:
        >>> order_parameter(np.array([[1.0, 0.0], [2.0, 0.0]])), order_parameter(np.eye(2) - 0.5)
        (1.0, 0.0)
    """
    v = np.asarray(velocities, dtype=float)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    heads = v / np.where(norm > 0, norm, 1.0)
    return float(np.linalg.norm(heads.mean(axis=0)))


class Flock:
    """A flock of boids with random positions and headings, stepped in place."""

    def __init__(self, options: BoidsOptions | None = None, *,
                 rng: np.random.Generator | int | None = None) -> None:
        self.options = options or BoidsOptions()
        self.options.validate()
        o = self.options
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.positions = self.rng.random((o.n_boids, o.dim)) * o.box
        heads = self.rng.normal(size=(o.n_boids, o.dim))
        self.headings = heads / np.linalg.norm(heads, axis=1, keepdims=True)
        self.steps = 0

    @property
    def velocities(self) -> np.ndarray:
        """Heading times speed, per boid."""
        return self.headings * self.options.speed

    def order(self) -> float:
        """The current order parameter."""
        return order_parameter(self.headings)

    def step(self) -> float:
        """Apply the three rules once, move, and return the new order parameter."""
        o = self.options
        offset = self.positions[None, :, :] - self.positions[:, None, :]  # from i to j
        offset -= o.box * np.round(offset / o.box)                          # nearest image
        dist = np.sqrt((offset**2).sum(axis=2))
        near = (dist < o.radius) & (dist > 0)
        count = near.sum(axis=1, keepdims=True)
        has = count > 0
        safe = np.maximum(count, 1)
        align = (near @ self.headings) / safe - self.headings
        centre = (near[:, :, None] * offset).sum(axis=1) / safe
        close = near & (dist < o.separation_radius)
        push = -(close[:, :, None] * offset / np.maximum(dist, 1e-12)[:, :, None] ** 2).sum(axis=1)
        steer = o.alignment * align + o.cohesion * centre + o.separation * push
        heads = self.headings + np.where(has, steer, 0.0)
        heads += o.noise * self.rng.normal(size=heads.shape)
        norm = np.linalg.norm(heads, axis=1, keepdims=True)
        self.headings = np.where(norm > 0, heads / np.where(norm > 0, norm, 1.0), self.headings)
        self.positions = np.mod(self.positions + o.speed * self.headings, o.box)
        self.steps += 1
        return self.order()

    def run(self, steps: int) -> np.ndarray:
        """Step ``steps`` times; the order parameter before the first step and after each."""
        if steps < 0:
            raise SwarmError(f"steps must be >= 0, got {steps}")
        trace = np.empty(steps + 1)
        trace[0] = self.order()
        for t in range(steps):
            trace[t + 1] = self.step()
        return trace
