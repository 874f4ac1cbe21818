from __future__ import annotations

import numpy as np
import pytest

from agents.protocols import AgentView, LeastLoaded, PowerOfTwoChoices, TaskView


def _agents(**loads: tuple[int, int]) -> dict[str, AgentView]:
    return {n: AgentView(n, frozenset({"x"}), cap, load=load) for n, (cap, load) in loads.items()}


def test_least_loaded_picks_lowest_utilisation_and_updates_load() -> None:
    agents = _agents(a=(4, 2), b=(4, 1), c=(2, 1))
    out = LeastLoaded().allocate([TaskView("t1", ("x",)), TaskView("t2", ("x",))], agents, {},
                                 np.random.default_rng(0))
    # b is at 25%, then a and b tie at 50%: capacity breaks it (bigger first), then id
    assert out.awarded_to() == {"t1": "b", "t2": "a"}
    assert agents["a"].load == 3 and agents["b"].load == 2


def test_least_loaded_ties_are_broken_by_id() -> None:
    agents = _agents(b=(2, 0), a=(2, 0))
    out = LeastLoaded().allocate([TaskView("t", ("x",))], agents, {}, np.random.default_rng(0))
    assert out.awarded_to() == {"t": "a"}


def test_capacity_is_respected_and_overflow_stays_pending() -> None:
    agents = _agents(a=(1, 0))
    tasks = [TaskView(f"t{i}", ("x",)) for i in range(3)]
    for strategy in (LeastLoaded(), PowerOfTwoChoices()):
        agents["a"].load = 0
        out = strategy.allocate(tasks, agents, {}, np.random.default_rng(1))
        assert len(out.awards) == 1
        assert set(out.pending.values()) == {"every capable agent is at capacity"}


def test_missing_capability_is_named() -> None:
    agents = _agents(a=(1, 0))
    out = LeastLoaded().allocate([TaskView("t", ("gpu",))], agents, {}, np.random.default_rng(0))
    assert out.pending == {"t": "no live agent has capabilities [gpu]"}


def test_dead_agents_get_nothing() -> None:
    agents = _agents(a=(4, 0), b=(4, 3))
    agents["a"].alive = False
    out = PowerOfTwoChoices().allocate([TaskView("t", ("x",))], agents, {},
                                       np.random.default_rng(0))
    assert out.awarded_to() == {"t": "b"}


@pytest.mark.parametrize("seed", range(5))
def test_power_of_two_beats_random_on_max_load(seed: int) -> None:
    """With n agents and n tasks, max load of two choices stays far below one choice."""
    n = 200
    agents = {f"a{i:03}": AgentView(f"a{i:03}", frozenset({"x"}), n) for i in range(n)}
    tasks = [TaskView(f"t{i}", ("x",)) for i in range(n)]
    PowerOfTwoChoices().allocate(tasks, agents, {}, np.random.default_rng(seed))
    two_choice_max = max(a.load for a in agents.values())
    one_choice = np.bincount(np.random.default_rng(seed).integers(0, n, n), minlength=n)
    assert two_choice_max <= 3 < one_choice.max() + 1
    assert sum(a.load for a in agents.values()) == n


def test_higher_priority_first_when_capacity_is_short() -> None:
    agents = _agents(a=(1, 0))
    tasks = [TaskView("low", ("x",), priority=1, submitted_at=0),
             TaskView("high", ("x",), priority=9, submitted_at=5)]
    out = LeastLoaded().allocate(tasks, agents, {}, np.random.default_rng(0))
    assert out.awarded_to() == {"high": "a"}
