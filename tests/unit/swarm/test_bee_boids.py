from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import swarm
from swarm.bee import ABC, ABCOptions, allocate_workers
from swarm.boids import BoidsOptions, Flock, order_parameter
from swarm.errors import SwarmError
from swarm.objectives import get_benchmark, sphere
from swarm.problem import Problem, Space


@pytest.mark.parametrize("dim", [2, 10])
def test_abc_optimises_sphere(dim: int) -> None:
    res = ABC(Problem(Space.box(-5, 5, dim=dim)), sphere, rng=0).run(max_iterations=300)
    assert res.best_fitness < 1e-6
    assert np.all(np.diff(res.history) <= 0)
    assert res.evaluations >= 300 * 2 * 25


def test_abc_on_rastrigin_in_ten_dimensions() -> None:
    b = get_benchmark("rastrigin")
    res = ABC(b.problem(10), b.fn, rng=1).run(max_iterations=400)
    assert res.best_fitness < 1.0


def test_abc_is_reproducible() -> None:
    def run(seed: int) -> np.ndarray:
        return ABC(Problem(Space.box(-5, 5, dim=3)), sphere, rng=seed).run(40).history

    assert np.array_equal(run(2), run(2)) and not np.array_equal(run(2), run(3))


def test_abc_constraints_integers_and_maximisation() -> None:
    space = Space.box([-5.0, -5.0], [5.0, 5.0], integer=[False, True])
    prob = Problem(space, sense="maximize", constraints=(lambda x: x[:, 0] + x[:, 1] - 2.5,))
    res = ABC(prob, lambda x: x[:, 0] + 0.5 * x[:, 1], ABCOptions(n_sources=15), rng=0).run(300)
    x = res.best_position
    assert res.feasible and x[1] == np.round(x[1]) and x[0] + x[1] <= 2.5 + 1e-9
    # x0 is capped at 5 by the box, so the best integer x1 is the largest with 5 + x1 <= 2.5
    assert res.best_fitness == pytest.approx(3.5, abs=1e-3)
    assert x[1] == -3.0


def test_abc_scouts_replace_exhausted_sources() -> None:
    flat = ABC(Problem(Space.box(-1, 1, dim=2)), lambda x: np.ones(len(x)),
               ABCOptions(n_sources=4, limit=3), rng=0)
    before = flat.x.copy()
    for _ in range(10):
        flat.step()
    assert not np.array_equal(before, flat.x)


def test_abc_bad_options() -> None:
    with pytest.raises(SwarmError, match="n_sources"):
        ABC(Problem(Space.box(0, 1, dim=1)), sphere, ABCOptions(n_sources=1))
    with pytest.raises(SwarmError, match="limit"):
        ABC(Problem(Space.box(0, 1, dim=1)), sphere, ABCOptions(limit=0))


def test_workers_concentrate_on_the_best_site_and_quality_rises() -> None:
    alloc = allocate_workers([0.1, 0.5, 0.9, 0.3], n_workers=100, noise=0.3, rng=0)
    assert alloc.counts.sum() <= 100 and np.argmax(alloc.counts) == 2
    assert alloc.counts[2] >= 70
    assert alloc.trace[-10:].mean() > alloc.trace[:10].mean()
    assert alloc.trace[-1] > 0.8
    assert alloc.history.shape == (100, 4) and np.array_equal(alloc.history[-1], alloc.counts)
    assert abs(alloc.estimates[2] - 0.9) < 0.1


def test_capacities_send_the_overflow_to_the_next_best_site() -> None:
    alloc = allocate_workers([0.1, 0.5, 0.9, 0.3, 0.85], n_workers=100, noise=0.1,
                             capacities=[100, 100, 30, 100, 100], steps=150, rng=1)
    assert np.all(alloc.history[:, 2] <= 30)
    assert alloc.counts[2] >= 25 and alloc.counts[4] >= 50
    assert alloc.counts[[0, 3]].sum() <= 10


def test_allocation_is_reproducible_and_validates() -> None:
    a = allocate_workers([1.0, 2.0], 20, rng=5)
    b = allocate_workers([1.0, 2.0], 20, rng=5)
    assert np.array_equal(a.history, b.history)
    with pytest.raises(SwarmError, match="qualities"):
        allocate_workers([], 10)
    with pytest.raises(SwarmError, match="n_workers"):
        allocate_workers([1.0], 0)
    with pytest.raises(SwarmError, match="capacities"):
        allocate_workers([1.0, 2.0], 5, capacities=[1])


def test_order_parameter_rises_from_disorder_to_a_flock() -> None:
    flock = Flock(rng=0)
    trace = flock.run(200)
    assert trace[0] < 0.3
    assert trace[-1] > 0.8
    assert np.all((flock.positions >= 0) & (flock.positions < flock.options.box))
    assert np.allclose(np.linalg.norm(flock.velocities, axis=1), flock.options.speed)


def test_without_alignment_or_cohesion_there_is_no_order() -> None:
    opts = BoidsOptions(alignment=0.0, cohesion=0.0, separation=0.0, noise=0.3)
    assert Flock(opts, rng=0).run(100)[-20:].mean() < 0.4


def test_flock_is_reproducible_and_works_in_three_dimensions() -> None:
    a, b = Flock(rng=3).run(30), Flock(rng=3).run(30)
    assert np.array_equal(a, b)
    flock = Flock(BoidsOptions(dim=3, n_boids=50, box=5.0), rng=0)
    flock.run(5)
    assert flock.positions.shape == (50, 3)


def test_order_parameter_and_bad_options() -> None:
    assert order_parameter(np.array([[1.0, 0.0], [-1.0, 0.0]])) == 0.0
    with pytest.raises(SwarmError, match="radius"):
        Flock(BoidsOptions(radius=0))
    with pytest.raises(SwarmError, match="noise"):
        Flock(BoidsOptions(noise=-1))
    with pytest.raises(SwarmError, match="steps"):
        Flock().run(-1)


def test_public_surface_and_no_ray_on_import() -> None:
    for name in swarm.__all__:
        assert getattr(swarm, name) is not None
    code = ("import sys, swarm, swarm.aco, swarm.pso, swarm.bee, swarm.boids, swarm.tsplib\n"
            "assert 'ray' not in sys.modules, 'swarm imported ray'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
