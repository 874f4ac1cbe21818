"""Task exchanges after an auction: moves and swaps while the total cost drops."""

from __future__ import annotations

import numpy as np
import pytest

from agents.protocols.assignment import greedy_assignment, optimal_assignment
from agents.protocols.exchanges import improve


def total(costs: np.ndarray, pairs: dict[int, int]) -> float:
    return float(sum(costs[a, t] for t, a in pairs.items()))


@pytest.mark.parametrize("seed", range(20))
def test_exchanges_lower_greedy_toward_the_optimum_and_keep_every_task(seed: int) -> None:
    rng = np.random.default_rng(seed)
    costs = rng.random((6, 15))
    caps = rng.integers(2, 5, 6).tolist()
    start = greedy_assignment(costs, caps).pairs
    after, made = improve(start, costs, caps)
    assert set(after) == set(start)
    assert all(np.bincount(list(after.values()), minlength=6)[a] <= caps[a] for a in range(6))
    assert optimal_assignment(costs, caps).total - 1e-9 <= total(costs, after)
    assert total(costs, after) <= total(costs, start) - (1e-12 if made else -1e-12)


def test_no_single_move_or_swap_improves_the_result() -> None:
    rng = np.random.default_rng(7)
    costs = rng.random((4, 10))
    caps = [3, 3, 3, 3]
    after, _ = improve(greedy_assignment(costs, caps).pairs, costs, caps)
    load = np.bincount(list(after.values()), minlength=4)
    for t1, a in after.items():
        for b in range(4):
            if load[b] < caps[b]:
                assert costs[b, t1] >= costs[a, t1] - 1e-12
        for t2, b in after.items():
            assert costs[a, t2] + costs[b, t1] >= costs[a, t1] + costs[b, t2] - 1e-12


def test_a_refused_task_is_never_moved_to_the_agent_that_refused_it() -> None:
    costs = np.array([[1.0, np.inf], [2.0, 9.0]])
    after, made = improve({0: 0, 1: 1}, costs, [1, 1])
    assert after == {0: 0, 1: 1} and made == 0


def test_nothing_to_exchange() -> None:
    assert improve({}, np.zeros((2, 0)), [1, 1]) == ({}, 0)
    assert improve({0: 0}, np.array([[1.0]]), [1]) == ({0: 0}, 0)
