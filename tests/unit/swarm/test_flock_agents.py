"""Boids as agents: the grid finds the same neighbours as brute force, the rules are
:class:`swarm.boids.Flock`'s, and a small flock orders."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agents.hosting.stepping import Activation, Stepper
from swarm.boids import BoidsOptions, Flock
from swarm.errors import SwarmError
from swarm.flock_agents import BoidAgent, FlockSpace, flock_of, flocking_options


def space_with(positions: np.ndarray, headings: np.ndarray, options: BoidsOptions) -> FlockSpace:
    space = FlockSpace(options)
    for p, h in zip(positions, headings, strict=True):
        space.place(BoidAgent(p, h))
    return space


def brute_force(positions: np.ndarray, i: int, box: float, radius: float
                ) -> tuple[np.ndarray, np.ndarray]:
    off = positions - positions[i]
    off -= box * np.round(off / box)
    dist = np.linalg.norm(off, axis=1)
    near = np.flatnonzero((dist < radius) & (dist > 0))
    return near, off[near]


@pytest.mark.parametrize(("dim", "box", "radius"), [(2, 10.0, 1.5), (2, 4.0, 1.5),
                                                    (3, 6.0, 1.9), (2, 25.0, 1.5)])
def test_grid_neighbours_equal_brute_force(dim: int, box: float, radius: float) -> None:
    rng = np.random.default_rng(dim * 100 + int(box))
    n = 300
    positions = rng.random((n, dim)) * box
    positions[:3] = [[0.0] * dim, [box * (1 - 1e-12)] * dim, [box / 2] * dim]  # edges
    options = BoidsOptions(n_boids=n, dim=dim, box=box, radius=radius)
    space = space_with(positions, rng.normal(size=(n, dim)), options)
    found = 0
    for i in range(n):
        nb = space.neighbours(i, step=0)
        want, offsets = brute_force(positions, i, box, radius)
        order = np.argsort(nb.indices)
        assert np.array_equal(nb.indices[order], want)
        assert np.allclose(nb.offsets[order], offsets)
        assert np.allclose(nb.distances[order], np.linalg.norm(offsets, axis=1))
        seen = space.senses(i, step=0)
        assert seen.number == len(want)
        if len(want):
            assert np.allclose(seen.centre, offsets.mean(axis=0))
            assert np.allclose(seen.heading, nb.headings.mean(axis=0))
        found += len(want)
    assert found > n  # the test looked at real neighbourhoods


def agents_like(flock: Flock, activation: Activation, seed: int = 0) -> Stepper:
    space = space_with(flock.positions.copy(), flock.headings.copy(), flock.options)
    stepper = Stepper(model=space, activation=activation, seed=seed)
    for i, boid in enumerate(space.boids):
        stepper.add(f"b{i}", boid)
    return stepper


@pytest.mark.parametrize("box", [10.0, 4.0])
def test_the_agents_follow_the_rules_of_the_vectorised_flock(box: float) -> None:
    options = BoidsOptions(n_boids=120, box=box, noise=0.0, separation=0.2)
    flock = Flock(options, rng=4)
    ours = agents_like(flock, "random")
    shuffled_again = agents_like(flock, "sequential")
    for _ in range(12):
        flock.step()
        ours.step()
        shuffled_again.step()
    for stepper in (ours, shuffled_again):
        space = stepper.model
        assert np.allclose(np.array([b.heading for b in space.boids]), flock.headings,
                           atol=1e-9)
        assert np.allclose(np.array([b.position for b in space.boids]), flock.positions,
                           atol=1e-9)


def test_a_small_flock_of_agents_orders() -> None:
    stepper = flock_of(400, seed=3)
    stepper.run(80)
    order = stepper.data["order"]
    assert len(order) == 81
    assert order[0] < 0.3 and order[-1] > 0.8
    again = flock_of(400, seed=3)
    again.run(5)
    assert again.data["order"] == order[:6]  # same seed, same flight


def test_flocking_options() -> None:
    assert flocking_options(10_000).box == 25.0
    assert flocking_options(400, density=4.0).box == 10.0
    with pytest.raises(SwarmError):
        flocking_options(0)
    assert dataclasses.replace(flocking_options(100), noise=0.0).alignment == 1.0
