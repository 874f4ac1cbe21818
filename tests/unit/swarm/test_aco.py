from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from swarm.aco import ACOOptions, AntColony, IterationStats
from swarm.errors import SwarmError, UnknownNameError
from swarm.tour_search import (
    improve,
    nearest_neighbour_tour,
    neighbour_lists,
    or_opt,
    tour_lengths,
    two_opt,
)
from swarm.tsplib import TSPInstance, load_tsplib

DATA = Path(__file__).resolve().parents[2] / "data" / "tsplib"  # copied from ../shared/data


def _random_instance(n: int, seed: int) -> TSPInstance:
    pts = np.random.default_rng(seed).random((n, 2)) * 100
    return TSPInstance.from_coords(pts)


def _brute_force(dist: np.ndarray) -> float:
    n = dist.shape[0]
    best = np.inf
    for perm in itertools.permutations(range(1, n)):
        t = (0, *perm)
        best = min(best, float(sum(dist[t[i], t[(i + 1) % n]] for i in range(n))))
    return best


def _is_permutation(tour: np.ndarray, n: int) -> bool:
    return sorted(np.asarray(tour).tolist()) == list(range(n))


def test_neighbour_lists_are_nearest_first_without_self() -> None:
    inst = _random_instance(30, 0)
    nn = neighbour_lists(inst.distances, 5)
    assert nn.shape == (30, 5)
    for i in range(30):
        assert i not in nn[i]
        d = inst.distances[i].copy()
        d[i] = np.inf
        assert np.allclose(inst.distances[i, nn[i]], np.sort(d)[:5])
    assert neighbour_lists(inst.distances, 100).shape == (30, 29)


@pytest.mark.parametrize("method", ["2opt", "oropt", "2opt+oropt"])
def test_local_search_keeps_permutations_and_never_worsens(method: str) -> None:
    inst = _random_instance(40, 1)
    rng = np.random.default_rng(0)
    tours = np.array([rng.permutation(40) for _ in range(12)])
    original = tours.copy()
    out = improve(tours, inst.distances, neighbour_lists(inst.distances, 8), method)
    assert out.shape == tours.shape
    assert all(_is_permutation(t, 40) for t in out)
    before, after = tour_lengths(tours, inst.distances), tour_lengths(out, inst.distances)
    assert np.all(after <= before + 1e-9) and after.mean() < 0.5 * before.mean()
    assert np.array_equal(tours, original) and not np.shares_memory(out, tours)


@pytest.mark.parametrize("seed", range(8))
def test_every_round_of_simultaneous_moves_shortens_every_tour(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    d = _random_instance(n, seed).distances
    nn = neighbour_lists(d, int(rng.integers(2, 10)))
    for one_round in (two_opt, or_opt):
        cur = np.array([rng.permutation(n) for _ in range(6)])
        for _ in range(30):
            nxt = one_round(cur, d, nn, max_rounds=1)
            assert all(_is_permutation(t, n) for t in nxt)
            before, after = tour_lengths(cur, d), tour_lengths(nxt, d)
            assert np.all(after <= before + 1e-9)
            if np.allclose(before, after):
                break
            cur = nxt


def test_two_opt_result_has_no_improving_move_left() -> None:
    inst = _random_instance(25, 2)
    d = inst.distances
    t = two_opt(np.random.default_rng(1).permutation(25), d, neighbour_lists(d, 24))[0]
    n = len(t)
    for i in range(n):
        for j in range(i + 2, n):
            a, b, c, e = t[i], t[i + 1], t[j], t[(j + 1) % n]
            if a == e:
                continue
            assert d[a, c] + d[b, e] >= d[a, b] + d[c, e] - 1e-9


def test_or_opt_moves_a_misplaced_city() -> None:
    pts = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [3, 1], [2, 1], [1, 1], [0, 1]], float)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    bad = np.array([0, 1, 5, 2, 3, 4, 6, 7])  # city 5 visited out of place
    fixed = or_opt(bad, d, neighbour_lists(d, 7))[0]
    assert tour_lengths(fixed, d)[0] == pytest.approx(8.0)


def test_nearest_neighbour_tour_is_a_permutation() -> None:
    inst = _random_instance(20, 3)
    assert _is_permutation(nearest_neighbour_tour(inst.distances, start=4), 20)


@pytest.mark.parametrize("variant", ["as", "mmas", "acs"])
@pytest.mark.parametrize("local", ["2opt+oropt", "none"])
def test_colony_finds_the_brute_force_optimum_on_a_tiny_instance(variant: str, local: str) -> None:
    inst = _random_instance(8, 5)
    opt = _brute_force(inst.distances)
    res = AntColony(inst, ACOOptions(variant=variant, local_search=local), rng=1).run(
        max_iterations=60, time_limit=None)
    assert _is_permutation(res.tour, 8)
    assert res.length == pytest.approx(opt)
    assert res.length == pytest.approx(inst.tour_length(res.tour))


def test_same_seed_same_run_and_history_is_monotone() -> None:
    inst = _random_instance(30, 7)
    runs = [AntColony(inst, rng=11).run(max_iterations=8, time_limit=None) for _ in range(2)]
    assert np.array_equal(runs[0].tour, runs[1].tour)
    assert np.array_equal(runs[0].history, runs[1].history)
    assert np.all(np.diff(runs[0].history) <= 0)
    assert runs[0].iterations == 8 and runs[0].evaluations == 8 * 25


def test_default_colony_gets_within_one_percent_on_eil51() -> None:
    inst = load_tsplib(DATA / "eil51.tsp")
    res = AntColony(inst, rng=0).run(max_iterations=40, target=426)
    assert _is_permutation(res.tour, 51)
    assert res.length <= 426 * 1.01
    assert res.length == inst.tour_length(res.tour)


def test_stop_conditions_and_progress_callback() -> None:
    inst = _random_instance(12, 4)
    seen: list[IterationStats] = []
    colony = AntColony(inst, rng=0)
    res = colony.run(max_iterations=None, time_limit=None, max_stagnation=3, callback=seen.append)
    assert res.stop_reason == "stagnation" and len(seen) == res.iterations >= 3
    assert [s.iteration for s in seen] == list(range(1, res.iterations + 1))
    res = AntColony(inst, rng=0).run(target=1e9)
    assert res.stop_reason == "target" and res.iterations == 0
    res = AntColony(inst, rng=0).run(max_iterations=None, time_limit=0.0, max_stagnation=None)
    assert res.stop_reason == "time_limit" and res.iterations == 1
    with pytest.raises(SwarmError, match="needs a stop"):
        AntColony(inst).run(max_iterations=None, time_limit=None, max_stagnation=None)


def test_asymmetric_matrix_gives_a_valid_tour_without_local_search() -> None:
    rng = np.random.default_rng(2)
    d = rng.integers(1, 50, (9, 9)).astype(float)
    np.fill_diagonal(d, 0)
    colony = AntColony(d, ACOOptions(variant="mmas"), rng=0)
    assert not colony.symmetric and colony.local == "none"
    res = colony.run(max_iterations=80, time_limit=None)
    assert _is_permutation(res.tour, 9)
    assert res.length == pytest.approx(_brute_force(d))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_degenerate_sizes(n: int) -> None:
    inst = _random_instance(n, 9)
    res = AntColony(inst, rng=0).run(max_iterations=3, time_limit=None)
    assert _is_permutation(res.tour, n)


def test_bad_options_and_matrices_are_rejected() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'mmas'"):
        AntColony(np.zeros((3, 3)), ACOOptions(variant="mmaz"))
    with pytest.raises(UnknownNameError):
        AntColony(np.zeros((3, 3)), ACOOptions(local_search="3opt"))
    with pytest.raises(SwarmError, match="rho"):
        AntColony(np.zeros((3, 3)), ACOOptions(rho=0))
    with pytest.raises(SwarmError, match="square"):
        AntColony(np.zeros((3, 4)))
    with pytest.raises(SwarmError, match="non-negative"):
        AntColony(np.full((3, 3), -1.0))
