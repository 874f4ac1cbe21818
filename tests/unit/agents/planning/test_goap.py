from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from agents.planning import Action, PlanError, apply_plan, freeze, plan_goap, to_graph
from agents.planning.goap import search


def brute_force_cost(start: Mapping[str, Any], goal: Mapping[str, Any],
                     actions: Sequence[Action]) -> float | None:
    """Uniform-cost search over every reachable state: the optimal cost, or None."""
    tie = itertools.count()
    heap = [(0.0, next(tie), dict(start))]
    best = {freeze(start): 0.0}
    while heap:
        g, _, state = heapq.heappop(heap)
        if g > best[freeze(state)]:
            continue
        if all(k in state and state[k] == v for k, v in goal.items()):
            return g
        for a in actions:
            if a.applicable(state):
                nxt = a.apply(state)
                key = freeze(nxt)
                if g + a.cost < best.get(key, math.inf):
                    best[key] = g + a.cost
                    heapq.heappush(heap, (g + a.cost, next(tie), nxt))
    return None


def random_domain(rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any],
                                                     list[Action]]:
    keys = [f"v{i}" for i in range(int(rng.integers(2, 5)))]

    def facts(n: int) -> dict[str, Any]:
        chosen = rng.choice(len(keys), size=min(n, len(keys)), replace=False)
        return {keys[i]: int(rng.integers(3)) for i in chosen}

    actions = [Action(f"a{j}", facts(int(rng.integers(0, 3))), facts(int(rng.integers(1, 3))),
                      float(rng.choice([0.5, 1.0, 2.0, 3.0])))
               for j in range(int(rng.integers(4, 14)))]
    start = facts(len(keys)) if rng.random() < 0.8 else facts(len(keys) - 1)
    if rng.random() < 0.4:
        return start, facts(int(rng.integers(1, 4))), actions
    state = dict(start)  # a goal from a random walk: reachable, often not trivially
    for _ in range(int(rng.integers(1, 7))):
        usable = [a for a in actions if a.applicable(state)]
        if usable:
            state = usable[int(rng.integers(len(usable)))].apply(state)
    items = list(state.items())
    picked = rng.choice(len(items), size=min(len(items), int(rng.integers(1, 4))), replace=False)
    return start, dict(items[i] for i in picked), actions


@pytest.mark.parametrize("seed", range(8))
def test_random_domains_optimal_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        start, goal, actions = random_domain(rng)
        expected = brute_force_cost(start, goal, actions)
        for regress in (False, True):
            if expected is None:
                with pytest.raises(PlanError) as exc:
                    plan_goap(start, goal, actions, regress=regress)
                assert str(exc.value).startswith("unreachable")
                continue
            result = search(start, goal, actions, regress=regress)
            assert result.cost == pytest.approx(expected), (start, goal, actions, regress)
            assert sum(a.cost for a in result.actions) == pytest.approx(expected)
            end = apply_plan(start, result.actions)
            assert all(end.get(k) == v for k, v in goal.items())


def test_cheaper_longer_plan_wins() -> None:
    acts = [Action("teleport", {}, {"at": "b"}, 10.0),
            Action("walk1", {"at": "a"}, {"at": "m"}, 1.0),
            Action("walk2", {"at": "m"}, {"at": "b"}, 1.0)]
    for regress in (False, True):
        steps = plan_goap({"at": "a"}, {"at": "b"}, acts, regress=regress)
        assert [a.name for a in steps] == ["walk1", "walk2"]


def test_goal_already_met_and_zero_heuristic() -> None:
    assert plan_goap({"x": 1}, {"x": 1}, []) == []
    acts = [Action("inc", {"x": 0}, {"x": 1}), Action("inc2", {"x": 1}, {"x": 2})]
    for regress in (False, True):
        r = search({"x": 0}, {"x": 2}, acts, regress=regress, heuristic="zero")
        assert [a.name for a in r.actions] == ["inc", "inc2"] and r.cost == 2
    with pytest.raises(PlanError, match="heuristic"):
        search({}, {}, [], heuristic="magic")  # type: ignore[arg-type]


def test_unreachable_fact_no_action_sets() -> None:
    with pytest.raises(PlanError) as exc:
        plan_goap({"a": 0}, {"a": 5}, [Action("x", {}, {"a": 1})])
    assert exc.value.reason == "unreachable"
    assert str(exc.value) == "unreachable: no action sets 'a' to 5"


def two_of_three() -> list[Action]:
    """a, b and c can be set only while another of them is 0: all three is unreachable."""
    acts = []
    for x, others in (("a", "bc"), ("b", "ac"), ("c", "ab")):
        acts += [Action(f"set_{x}_{o}", {o: 0}, {x: 1}) for o in others]
        acts.append(Action(f"reset_{x}", {}, {x: 0}))
    return acts


def test_unreachable_after_exhausting_the_space() -> None:
    start = {"a": 0, "b": 0, "c": 0}
    goal = {"a": 1, "b": 1, "c": 1}
    for regress in (False, True):
        with pytest.raises(PlanError) as exc:
            plan_goap(start, goal, two_of_three(), regress=regress)
        assert exc.value.reason == "unreachable"
        assert "explored" in str(exc.value)
    # pairs are reachable, so the pairwise mutex check does not catch it; pairs themselves plan
    assert len(plan_goap(start, {"a": 1, "b": 1}, two_of_three(), regress=True)) == 2


def test_mutually_exclusive_goal_caught_before_searching() -> None:
    acts = [Action("p", {"q": False}, {"p": True}), Action("q", {"p": False}, {"q": True})]
    with pytest.raises(PlanError, match="can never hold together"):
        plan_goap({"p": False, "q": False}, {"p": True, "q": True}, acts, regress=True)
    with pytest.raises(PlanError, match="explored"):
        plan_goap({"p": False, "q": False}, {"p": True, "q": True}, acts)


def test_expansion_limit_reports_unreachable_not_loops() -> None:
    toggles = [Action(f"t{i}{v}", {}, {f"t{i}": v}) for i in range(10) for v in (0, 1)]
    start = {"a": 0, "b": 0, "c": 0, **{f"t{i}": 0 for i in range(10)}}
    with pytest.raises(PlanError) as exc:
        plan_goap(start, {"a": 1, "b": 1, "c": 1}, two_of_three() + toggles,
                  max_expansions=200)
    assert exc.value.reason == "unreachable"
    assert "max_expansions=200" in str(exc.value)


def test_negative_cost_rejected_and_apply_plan_checks_steps() -> None:
    with pytest.raises(PlanError, match="cost"):
        Action("x", cost=-1)
    with pytest.raises(PlanError, match="step 1 'b' is not applicable"):
        apply_plan({}, [Action("a", {}, {"k": 1}), Action("b", {"k": 2}, {})])


def test_plan_as_graph_orders_only_interfering_steps() -> None:
    steps = [Action("fetch_a", {}, {"a": 1}), Action("fetch_b", {}, {"b": 1}),
             Action("join", {"a": 1, "b": 1}, {"ab": 1}, kind="joiner", args={"how": "inner"}),
             Action("clear_a", {}, {"a": 0})]
    g = to_graph(steps, id_prefix="p/")
    assert g.levels() == [["p/fetch_a#0", "p/fetch_b#1"], ["p/join#2"], ["p/clear_a#3"]]
    assert g["p/join#2"].kind == "joiner" and g["p/join#2"].args == {"how": "inner"}
    assert g["p/clear_a#3"].depends_on == ("p/fetch_a#0", "p/join#2")
