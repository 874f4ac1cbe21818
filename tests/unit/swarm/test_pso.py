from __future__ import annotations

import numpy as np
import pytest

from swarm.errors import SwarmError, UnknownNameError
from swarm.evaluate import SerialEvaluator
from swarm.objectives import get_benchmark, rastrigin, sphere
from swarm.problem import Problem, Space
from swarm.pso import PSO, PSOOptions, neighbourhoods
from swarm.result import Stats


def _sphere_problem(dim: int = 5, lo: float = -5.0, hi: float = 5.0) -> Problem:
    return Problem(Space.box(lo, hi, dim=dim))


@pytest.mark.parametrize("options", [
    PSOOptions(),
    PSOOptions(topology="ring"),
    PSOOptions(topology="ring", ring_neighbours=2),
    PSOOptions(topology="von_neumann"),
    PSOOptions(variant="constriction", c1=2.05, c2=2.05),
    PSOOptions(variant="constriction", c1=2.05, c2=2.05, topology="ring", velocity_clamp=None),
    PSOOptions(c1=2.5, c2=0.5, c1_end=0.5, c2_end=2.5),
], ids=["gbest", "ring", "ring2", "von_neumann", "constriction", "constriction-ring",
        "tvac"])
def test_every_variant_finds_the_sphere_minimum(options: PSOOptions) -> None:
    res = PSO(_sphere_problem(), sphere, options, rng=1).run(max_iterations=300)
    assert res.best_fitness < 1e-6
    assert np.allclose(res.best_position, 0.0, atol=1e-3)
    assert res.evaluations == 300 * options.n_particles and res.iterations == 300
    assert res.feasible and res.stop_reason == "max_iterations"


def test_history_is_the_monotone_best_so_far() -> None:
    res = PSO(_sphere_problem(), rastrigin, rng=0).run(max_iterations=100)
    assert res.history.shape == (100,) and np.all(np.diff(res.history) <= 0)
    assert res.history[-1] == res.best_fitness
    assert rastrigin(res.best_position[None, :])[0] == res.best_fitness


def test_maximisation() -> None:
    prob = Problem(Space.box(-3, 3, dim=3), sense="maximize")
    res = PSO(prob, lambda x: 10 - sphere(x), rng=0).run(max_iterations=200)
    assert res.best_fitness == pytest.approx(10.0, abs=1e-6)
    assert np.all(np.diff(res.history) >= 0)


def test_same_seed_same_run_different_seed_different_run() -> None:
    def run(seed: int) -> np.ndarray:
        return PSO(_sphere_problem(), rastrigin, rng=seed).run(max_iterations=30).history

    assert np.array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))
    gen = np.random.default_rng(9)
    a = PSO(_sphere_problem(), sphere, rng=gen).run(max_iterations=5).best_fitness
    b = PSO(_sphere_problem(), sphere, rng=np.random.default_rng(9)).run(max_iterations=5)
    assert a == b.best_fitness


@pytest.mark.parametrize("boundary", ["clip", "reflect", "random", "periodic"])
@pytest.mark.parametrize(("lo", "hi"), [(-1e12, 1e12), (1e-9, 2e-9), (5e11, 5e11 + 1e-3),
                                        (-1e300, 1e300), (0.0, 0.0)])
def test_positions_stay_inside_bounds_of_any_size(boundary: str, lo: float, hi: float) -> None:
    prob = Problem(Space.box(lo, hi, dim=4))
    seen: list[np.ndarray] = []

    def record(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return rastrigin(x / max(abs(lo), abs(hi), 1.0))

    opts = PSOOptions(boundary=boundary, n_particles=20, velocity_clamp=None)
    res = PSO(prob, record, opts, rng=0).run(max_iterations=40)
    allx = np.concatenate(seen)
    assert np.all(np.isfinite(allx))
    assert np.all((allx >= lo) & (allx <= hi))
    assert np.all((res.best_position >= lo) & (res.best_position <= hi))


def test_huge_domain_still_converges() -> None:
    prob = _sphere_problem(dim=3, lo=-1e12, hi=1e12)
    res = PSO(prob, lambda x: sphere(x / 1e12), rng=0).run(max_iterations=400)
    assert res.best_fitness < 1e-8


def test_integer_and_mixed_dimensions() -> None:
    space = Space.box([-10.0, -10.0, 0.0], [10.0, 10.0, 50.0], integer=[False, True, True])
    target = np.array([2.3, -3.0, 17.0])
    seen: list[np.ndarray] = []

    def f(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return ((x - target) ** 2).sum(axis=1)

    res = PSO(Problem(space), f, rng=0).run(max_iterations=200)
    allx = np.concatenate(seen)
    assert np.all(allx[:, 1:] == np.round(allx[:, 1:]))
    assert res.best_position[1:].tolist() == [-3.0, 17.0]
    assert res.best_position[0] == pytest.approx(2.3, abs=1e-4)


def test_integer_dims_with_fractional_bounds_use_the_integers_inside() -> None:
    space = Space.box([0.5], [3.5], integer=True)
    res = PSO(Problem(space), lambda x: -x[:, 0], PSOOptions(n_particles=8), rng=0).run(
        max_iterations=30)
    assert res.best_position.tolist() == [3.0]


@pytest.mark.parametrize("handling", ["feasibility", "penalty"])
def test_constrained_optimum_is_feasible(handling: str) -> None:
    # minimise x0^2 + x1^2 subject to x0 + x1 >= 1 and x0 <= 0.8: optimum (0.5, 0.5), f = 0.5
    constraints = (lambda x: 1.0 - x[:, 0] - x[:, 1], lambda x: x[:, 0] - 0.8)
    prob = Problem(Space.box(-5, 5, dim=2), constraints=constraints,
                   constraint_handling=handling)  # type: ignore[arg-type]
    res = PSO(prob, sphere, rng=0).run(max_iterations=300)
    x = res.best_position
    assert x[0] + x[1] >= 1 - 1e-6 and x[0] <= 0.8 + 1e-9
    assert res.best_fitness == pytest.approx(0.5, abs=1e-3)
    assert res.feasible and res.violation == 0


@pytest.mark.parametrize("handling", ["feasibility", "penalty"])
def test_an_unsatisfiable_constraint_is_reported_not_hidden(handling: str) -> None:
    prob = Problem(Space.box(-1, 1, dim=2), constraints=(lambda x: x[:, 0] ** 2 + 1.0,),
                   constraint_handling=handling)  # type: ignore[arg-type]
    res = PSO(prob, sphere, PSOOptions(n_particles=10), rng=0).run(max_iterations=50)
    assert not res.feasible and res.violation == pytest.approx(1.0, abs=1e-6)
    assert res.stop_reason == "max_iterations"


def test_constraint_excluding_the_unconstrained_optimum_region() -> None:
    # maximise x0 on the unit disc, with a hole: x0 <= 0.6
    constraints = (lambda x: (x**2).sum(axis=1) - 1.0, lambda x: x[:, 0] - 0.6)
    prob = Problem(Space.box(-2, 2, dim=2), sense="maximize", constraints=constraints)
    res = PSO(prob, lambda x: x[:, 0], rng=3).run(max_iterations=200)
    assert res.feasible and res.best_fitness == pytest.approx(0.6, abs=1e-4)


def test_ask_tell_drives_the_swarm_without_an_evaluator() -> None:
    pso = PSO(_sphere_problem(dim=2), options=PSOOptions(n_particles=10), rng=0, horizon=100)
    with pytest.raises(SwarmError, match="without a preceding ask"):
        pso.tell(np.zeros(10))
    first = pso.ask()
    assert np.array_equal(first, pso.ask())  # asking twice moves nothing
    pso.tell(sphere(first))
    for _ in range(100):
        x = pso.ask()
        pso.tell(sphere(x))
    assert pso.best_fitness < 1e-6 and pso.evaluations == 1010 and pso.iteration == 101
    with pytest.raises(SwarmError, match="need an evaluator"):
        pso.step()
    with pytest.raises(SwarmError, match="expected shape"):
        pso.ask()
        pso.tell(np.zeros(3))


def test_serial_evaluator_and_progress_callback_and_stops() -> None:
    calls: list[Stats] = []
    ev = SerialEvaluator(lambda p: float((p**2).sum()))
    res = PSO(_sphere_problem(dim=2), ev, PSOOptions(n_particles=10), rng=0).run(
        max_iterations=50, callback=calls.append)
    assert [c.iteration for c in calls] == list(range(1, 51)) and ev.calls == 500
    assert calls[-1].best_fitness == res.best_fitness
    res = PSO(_sphere_problem(dim=2), sphere, rng=0).run(max_iterations=None, target=1e-3)
    assert res.stop_reason == "target" and res.best_fitness <= 1e-3
    res = PSO(_sphere_problem(dim=2), lambda x: np.ones(len(x)), rng=0).run(
        max_iterations=None, max_stagnation=5)
    assert res.stop_reason == "stagnation" and res.iterations == 6
    res = PSO(_sphere_problem(dim=2), sphere, rng=0).run(max_iterations=None, time_limit=0.0)
    assert res.stop_reason == "time_limit" and res.iterations == 1
    with pytest.raises(SwarmError, match="needs a stop"):
        PSO(_sphere_problem(), sphere).run(max_iterations=None)


def test_nan_fitness_never_becomes_the_best() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        out = sphere(x)
        out[::2] = np.nan
        return out

    res = PSO(_sphere_problem(dim=2), f, PSOOptions(n_particles=10), rng=0).run(20)
    assert np.isfinite(res.best_fitness)


def test_neighbourhoods() -> None:
    assert neighbourhoods(4, "global") is None
    ring = neighbourhoods(6, "ring", 2)
    assert ring is not None and ring[0].tolist() == [4, 5, 0, 1, 2]
    vn = neighbourhoods(9, "von_neumann")
    assert vn is not None and sorted(vn[4].tolist()) == [1, 3, 4, 5, 7]


def test_benchmark_problem_in_thirty_dimensions_improves_a_lot() -> None:
    b = get_benchmark("rastrigin")
    res = PSO(b.problem(30), b.fn, PSOOptions(n_particles=30), rng=0).run(max_iterations=300)
    assert res.history[-1] < 0.5 * res.history[0]


@pytest.mark.parametrize(("options", "match"), [
    (PSOOptions(topology="rign"), "did you mean 'ring'"),
    (PSOOptions(boundary="bounce"), "boundary"),
    (PSOOptions(variant="constriction"), "c1 \\+ c2 > 4"),
    (PSOOptions(n_particles=0), "n_particles"),
    (PSOOptions(velocity_clamp=0.0), "velocity_clamp"),
    (PSOOptions(c1=-1), "c1 and c2"),
    (PSOOptions(ring_neighbours=0), "ring_neighbours"),
])
def test_bad_options_are_rejected(options: PSOOptions, match: str) -> None:
    with pytest.raises((SwarmError, UnknownNameError), match=match):
        PSO(_sphere_problem(), sphere, options)
