from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from agents.planning import PlanError, freeze, plan_goap
from agents.planning.domains import blocks
from agents.planning.goap import search


def bfs_length(start: dict[str, Any], goal: dict[str, Any], n: int) -> int:
    """Breadth-first search over tower configurations: the shortest plan's length."""
    acts = blocks.actions(blocks.block_names(n))
    seen = {freeze(start)}
    frontier = deque([(start, 0)])
    while frontier:
        state, depth = frontier.popleft()
        if all(state[k] == v for k, v in goal.items()):
            return depth
        for a in acts:
            if a.applicable(state):
                nxt = a.apply(state)
                if freeze(nxt) not in seen:
                    seen.add(freeze(nxt))
                    frontier.append((nxt, depth + 1))
    raise AssertionError("blocks world goals are always reachable")


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_optimal_against_breadth_first_search(n: int, seed: int) -> None:
    start, goal = blocks.random_instance(n, seed)
    acts = blocks.actions(blocks.block_names(n))
    shortest = bfs_length(start, goal, n)
    for regress in (False, True):
        steps = plan_goap(start, goal, acts, regress=regress)
        assert len(steps) == shortest
        assert blocks.valid(steps, start, goal)


@pytest.mark.parametrize("n", [5, 6])
@pytest.mark.parametrize("seed", range(4))
def test_valid_plans_and_equal_costs_for_larger_instances(n: int, seed: int) -> None:
    start, goal = blocks.random_instance(n, seed + 100)
    acts = blocks.actions(blocks.block_names(n))
    forward = search(start, goal, acts)
    backward = search(start, goal, acts, regress=True)
    assert blocks.valid(forward.actions, start, goal)
    assert blocks.valid(backward.actions, start, goal)
    assert forward.cost == backward.cost == len(forward.actions)


def test_sussman_anomaly_needs_three_moves() -> None:
    start = blocks.state([["a", "c"], ["b"]])  # c on a; b alone
    goal = blocks.goal_of([["c", "b", "a"]])  # a on b on c
    acts = blocks.actions(["a", "b", "c"])
    for regress in (False, True):
        steps = plan_goap(start, goal, acts, regress=regress)
        assert [s.name for s in steps] == ["move(c,a,table)", "move(b,table,c)",
                                           "move(a,table,b)"]


def test_state_towers_round_trip_and_instances_are_seeded() -> None:
    stacks = [["b0", "b3"], ["b1"], ["b2", "b4", "b5"]]
    assert blocks.towers(blocks.state(stacks)) == stacks
    assert blocks.random_instance(6, 7) == blocks.random_instance(6, 7)
    assert blocks.random_instance(6, 7) != blocks.random_instance(6, 8)
    start, goal = blocks.random_instance(8, 3)
    assert sorted(b for t in blocks.towers(start) for b in t) == blocks.block_names(8)
    assert len(goal) == 8
    assert len(blocks.actions(blocks.block_names(4))) == 4 * 4 * 3


def test_valid_rejects_illegal_or_incomplete_plans() -> None:
    start = blocks.state([["a", "b"], ["c"]])
    goal = blocks.goal_of([["c", "a"], ["b"]])
    by_name = {a.name: a for a in blocks.actions(["a", "b", "c"])}
    good = [by_name["move(b,a,table)"], by_name["move(a,table,c)"]]
    assert blocks.valid(good, start, goal)
    assert not blocks.valid(good[:1], start, goal)  # goal not reached
    assert not blocks.valid([by_name["move(a,table,c)"]], start, goal)  # a is not clear
    assert not blocks.valid([by_name["move(c,table,b)"], by_name["move(b,a,table)"]], start,
                            goal)  # b is covered
    assert blocks.valid([], start, {"clear:b": True, "clear:a": False})


def test_impossible_goal_is_unreachable() -> None:
    start = blocks.state([["a"], ["b"]])
    with pytest.raises(PlanError) as exc:
        plan_goap(start, {"on:a": "b", "on:b": "a"}, blocks.actions(["a", "b"]), regress=True)
    assert exc.value.reason == "unreachable"
    with pytest.raises(PlanError, match="unreachable"):
        plan_goap(start, {"on:a": "b", "on:b": "a"}, blocks.actions(["a", "b"]))
