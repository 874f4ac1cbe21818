from __future__ import annotations

import doctest
import itertools
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import scipy.optimize

import agents.protocols.assignment as assignment_module
from agents.errors import AllocationError
from agents.protocols.assignment import (
    Assignment,
    OptimalStrategy,
    greedy_assignment,
    makespan,
    optimal_assignment,
)
from agents.protocols.base import AllocationStrategy, Proposal, TaskView
from agents.protocols.contract_net import ContractNet
from tests.unit.agents.protocols.bids import agent_views, by_task

INF = math.inf
RNG = np.random.default_rng(0)


def _valid(a: Assignment, costs: Any, caps: list[int]) -> None:
    """Every invariant an Assignment must keep, whatever produced it."""
    c = np.array(costs, dtype=float)
    n_agents, n_tasks = c.shape
    assert list(a.pairs) == sorted(a.pairs)
    for task, agent in a.pairs.items():
        assert 0 <= task < n_tasks and 0 <= agent < n_agents
        assert math.isfinite(c[agent, task])
    counts = np.bincount(list(a.pairs.values()), minlength=n_agents) if a.pairs else np.zeros(
        n_agents, int)
    assert (counts <= np.array(caps)).all()
    assert a.total == pytest.approx(math.fsum(c[ag, t] for t, ag in a.pairs.items()))
    assert a.unassigned == tuple(t for t in range(n_tasks) if t not in a.pairs)
    assert a.method in ("lsa", "milp", "greedy")
    assert not (a.exact and a.method == "greedy")


def _brute(costs: np.ndarray, caps: list[int]) -> tuple[int, float]:
    """(most pairs, least cost among those) by enumerating every choice per task."""
    n_agents, n_tasks = costs.shape
    best = (0, 0.0)
    for choice in itertools.product([None, *range(n_agents)], repeat=n_tasks):
        used = [0] * n_agents
        total = 0.0
        ok = True
        for task, agent in enumerate(choice):
            if agent is None:
                continue
            used[agent] += 1
            if used[agent] > caps[agent] or not math.isfinite(costs[agent, task]):
                ok = False
                break
            total += costs[agent, task]
        if not ok:
            continue
        n = sum(used)
        if n > best[0] or (n == best[0] and total < best[1]):
            best = (n, total)
    return best


def _plane(n_agents: int, n_tasks: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    agents, tasks = rng.random((n_agents, 2)), rng.random((n_tasks, 2))
    return np.linalg.norm(agents[:, None, :] - tasks[None, :, :], axis=2)


def _replicated(costs: np.ndarray, caps: list[int]) -> Assignment:
    """The same problem as one-slot rows, solved by linear_sum_assignment."""
    owner = [a for a, k in enumerate(caps) for _ in range(min(k, costs.shape[1]))]
    return optimal_assignment(costs[owner], [1] * len(owner))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(assignment_module)
    assert result.attempted > 0 and result.failed == 0


def test_capacity_one_uses_lsa_and_beats_greedy() -> None:
    costs = np.array([[1.0, 2.0], [1.5, 100.0]])
    best = optimal_assignment(costs, [1, 1])
    assert (best.pairs, best.total, best.method, best.exact) == ({0: 1, 1: 0}, 3.5, "lsa", True)
    greedy = greedy_assignment(costs, [1, 1])
    assert (greedy.pairs, greedy.total, greedy.method, greedy.exact) == (
        {0: 0, 1: 1}, 101.0, "greedy", False)


def test_more_tasks_placed_beats_lower_cost_lsa() -> None:
    costs = np.array([[1.0, 100.0], [2.0, INF]])
    best = optimal_assignment(costs, [1, 1])
    assert best.pairs == {0: 1, 1: 0} and best.total == 102.0 and best.unassigned == ()


def test_more_tasks_placed_beats_lower_cost_milp() -> None:
    costs = np.array([[1.0, 1.0, 100.0], [1.0, INF, INF]])
    best = optimal_assignment(costs, [2, 1])
    assert best.method == "milp" and best.exact
    assert best.pairs == {0: 1, 1: 0, 2: 0} and best.total == 102.0
    greedy = greedy_assignment(costs, [2, 1])
    assert greedy.pairs == {0: 0, 1: 0} and greedy.unassigned == (2,)


def test_negative_costs_are_fine() -> None:
    costs = np.array([[-5.0, -1.0], [-4.0, -3.0]])
    assert optimal_assignment(costs, [1, 1]).total == -8.0
    assert optimal_assignment(costs, [2, 2]).total == -8.0


@pytest.mark.parametrize("caps", [[1, 1], [2, 2]])
def test_refusals_inf_nan_and_none(caps: list[int]) -> None:
    costs: list[list[float | None]] = [[None, 1.0, INF], [2.0, float("nan"), INF]]
    best = optimal_assignment(costs, caps)
    _valid(best, [[INF, 1.0, INF], [2.0, INF, INF]], caps)
    assert best.pairs == {0: 1, 1: 0} and best.unassigned == (2,) and best.exact
    assert greedy_assignment(costs, caps).pairs == {0: 1, 1: 0}


@pytest.mark.parametrize("caps", [[1, 1], [3, 3], [0, 0]])
def test_nobody_can_leaves_every_task(caps: list[int]) -> None:
    costs = np.full((2, 3), INF)
    best = optimal_assignment(costs, caps)
    assert best.pairs == {} and best.total == 0.0 and best.unassigned == (0, 1, 2)
    assert best.exact
    assert greedy_assignment(costs, caps).unassigned == (0, 1, 2)


def test_zero_capacity_agent_gets_nothing() -> None:
    costs = np.array([[0.0, 0.0, 0.0], [5.0, 6.0, 7.0], [1.0, 1.0, 1.0]])
    for caps in ([0, 1, 1], [0, 2, 2]):
        for a in (optimal_assignment(costs, caps), greedy_assignment(costs, caps)):
            _valid(a, costs, caps)
            assert 0 not in a.pairs.values()


def test_more_tasks_than_capacity_lsa() -> None:
    costs = _plane(3, 7, seed=1)
    best = optimal_assignment(costs, [1, 1, 1])
    _valid(best, costs, [1, 1, 1])
    assert len(best.pairs) == 3 and len(best.unassigned) == 4
    assert (len(best.pairs), best.total) == pytest.approx(_brute(costs, [1, 1, 1]))


def test_more_tasks_than_capacity_milp() -> None:
    costs = _plane(2, 7, seed=2)
    best = optimal_assignment(costs, [2, 2])
    _valid(best, costs, [2, 2])
    assert best.method == "milp" and best.exact and len(best.pairs) == 4
    assert (len(best.pairs), best.total) == pytest.approx(_brute(costs, [2, 2]))


def test_refusals_limit_placement_below_tasks_and_capacity_milp() -> None:
    # Neither every task nor every slot can be used: the cardinality row is needed.
    costs = np.array([[1.0, 2.0, 3.0, INF], [INF, INF, INF, INF], [5.0, 1.0, INF, INF]])
    caps = [2, 3, 2]
    best = optimal_assignment(costs, caps)
    assert best.exact and len(best.pairs) == 3 and best.unassigned == (3,)
    assert (len(best.pairs), best.total) == pytest.approx(_brute(costs, caps))


def test_capacity_above_task_count_is_clipped() -> None:
    costs = np.array([[3.0, 2.0, 1.0], [0.5, INF, INF]])
    best = optimal_assignment(costs, [100, 1])
    assert best.pairs == {0: 1, 1: 0, 2: 0} and best.total == 3.5


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty_rounds(shape: tuple[int, int]) -> None:
    costs = np.zeros(shape)
    caps = [2] * shape[0]
    for a in (optimal_assignment(costs, caps), greedy_assignment(costs, caps)):
        assert a.pairs == {} and a.total == 0.0 and a.unassigned == tuple(range(shape[1]))


@pytest.mark.parametrize(
    ("costs", "caps", "match"),
    [
        ([1.0, 2.0], [1], "2-D"),
        ([[1.0, 2.0]], [1, 1], "2 capacities for 1 agents"),
        ([[1.0, 2.0]], [-1], ">= 0"),
        ([[1.0, 2.0]], [1.5], "integers"),
        ([[1.0, -INF]], [1], "-inf"),
    ],
)
def test_bad_input_is_an_allocation_error(costs: Any, caps: list[Any], match: str) -> None:
    with pytest.raises(AllocationError, match=match):
        optimal_assignment(costs, caps)
    with pytest.raises(AllocationError, match=match):
        greedy_assignment(costs, caps)


def test_numpy_integer_capacities_are_accepted() -> None:
    caps = np.array([2, 1])
    assert len(optimal_assignment(np.ones((2, 3)), list(caps)).pairs) == 3


@pytest.mark.parametrize("seed", range(40))
def test_optimal_matches_brute_force_on_small_random_instances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_agents, n_tasks = int(rng.integers(1, 4)), int(rng.integers(1, 7))
    costs = rng.integers(0, 6, (n_agents, n_tasks)).astype(float)  # integers: many ties
    costs[rng.random(costs.shape) < 0.3] = INF
    caps = rng.integers(0, 4, n_agents).tolist()
    best = optimal_assignment(costs, caps)
    _valid(best, costs, caps)
    assert best.exact
    assert (len(best.pairs), best.total) == pytest.approx(_brute(costs, caps))
    greedy = greedy_assignment(costs, caps)
    _valid(greedy, costs, caps)
    assert (-len(best.pairs), best.total) <= (-len(greedy.pairs), greedy.total + 1e-9)


@pytest.mark.parametrize("seed", range(15))
def test_milp_matches_lsa_on_replicated_rows(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    costs = rng.random((8, 25)) * 10
    costs[rng.random(costs.shape) < 0.2] = INF
    caps = rng.integers(1, 5, 8).tolist()
    caps[0] = 2  # at least one capacity above one: the milp path
    best = optimal_assignment(costs, caps)
    _valid(best, costs, caps)
    assert best.method == "milp" and best.exact
    ref = _replicated(costs, caps)
    assert ref.method == "lsa"
    assert len(best.pairs) == len(ref.pairs)
    assert best.total == pytest.approx(ref.total, rel=1e-9, abs=1e-9)


def test_milp_matches_lsa_in_the_plane_50x200() -> None:
    costs = _plane(50, 200, seed=7)
    caps = [4] * 50
    best = optimal_assignment(costs, caps)
    _valid(best, costs, caps)
    assert best.exact and len(best.pairs) == 200
    assert best.total == pytest.approx(_replicated(costs, caps).total, rel=1e-9)
    assert greedy_assignment(costs, caps).total >= best.total - 1e-9


@pytest.mark.parametrize("caps", [[1, 1, 1], [2, 2, 2]])
def test_all_equal_costs_are_valid_and_deterministic(caps: list[int]) -> None:
    costs = np.ones((3, 5))
    first = optimal_assignment(costs, caps)
    _valid(first, costs, caps)
    assert len(first.pairs) == min(5, sum(caps)) and first.total == len(first.pairs)
    assert optimal_assignment(costs.copy(), list(caps)) == first


def test_greedy_breaks_ties_by_agent_then_task() -> None:
    assert greedy_assignment([[1.0, 1.0], [1.0, 1.0]], [1, 1]).pairs == {0: 0, 1: 1}
    assert greedy_assignment([[2.0, 1.0], [1.0, 2.0]], [1, 1]).pairs == {0: 1, 1: 0}
    assert greedy_assignment([[1.0, 1.0, 1.0]], [2]).pairs == {0: 0, 1: 0}


@pytest.mark.parametrize("seed", range(10))
def test_greedy_equals_a_naive_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    costs = rng.integers(0, 4, (5, 9)).astype(float)
    costs[rng.random(costs.shape) < 0.2] = INF
    caps = rng.integers(0, 3, 5).tolist()
    pairs: dict[int, int] = {}
    left = list(caps)
    for _cost, agent, task in sorted(
        (costs[a, t], a, t) for a in range(5) for t in range(9) if math.isfinite(costs[a, t])
    ):
        if task not in pairs and left[agent] > 0:
            pairs[task] = agent
            left[agent] -= 1
    assert greedy_assignment(costs, caps).pairs == dict(sorted(pairs.items()))


def _fake_milp(status: int, x: Any) -> Any:
    def fake(c: np.ndarray, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(status=status, x=None if x is None else x(len(c)))
    return fake


def test_time_limit_without_incumbent_falls_back_to_greedy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    costs = _plane(5, 12, seed=3)
    monkeypatch.setattr(scipy.optimize, "milp", _fake_milp(1, None))
    got = optimal_assignment(costs, [3] * 5, time_limit_s=0.5)
    assert got == greedy_assignment(costs, [3] * 5)
    assert got.method == "greedy" and not got.exact


def test_time_limit_keeps_the_better_of_incumbent_and_greedy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    costs = np.array([[1.0, 1.0, 100.0], [1.0, INF, INF]])
    # An incumbent placing nothing loses to greedy ...
    monkeypatch.setattr(scipy.optimize, "milp", _fake_milp(1, np.zeros))
    assert optimal_assignment(costs, [2, 1]).method == "greedy"
    # ... one placing all three wins, but is not claimed exact.  The variables are the
    # finite pairs in row-major order: (a0,t0) (a0,t1) (a0,t2) (a1,t0).
    incumbent = _fake_milp(1, lambda n: np.array([0.0, 1.0, 1.0, 1.0]))
    monkeypatch.setattr(scipy.optimize, "milp", incumbent)
    got = optimal_assignment(costs, [2, 1])
    assert got.method == "milp" and not got.exact and len(got.pairs) == 3


def test_broken_solver_answer_is_never_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    costs = np.ones((2, 2))
    monkeypatch.setattr(scipy.optimize, "milp", _fake_milp(0, np.ones))  # 2 agents per task
    got = optimal_assignment(costs, [2, 2])
    assert got.method == "greedy" and not got.exact
    _valid(got, costs, [2, 2])


def test_zero_time_limit_skips_the_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("milp must not run")

    monkeypatch.setattr(scipy.optimize, "milp", boom)
    costs = _plane(4, 9, seed=4)
    assert optimal_assignment(costs, [3] * 4, time_limit_s=0).method == "greedy"
    # The capacity-one path has no time limit: it stays exact.
    assert optimal_assignment(costs, [1] * 4, time_limit_s=0).method == "lsa"


def test_tiny_real_time_limit_still_gives_a_valid_assignment() -> None:
    costs = _plane(60, 600, seed=5)
    caps = [10] * 60
    got = optimal_assignment(costs, caps, time_limit_s=1e-6)
    _valid(got, costs, caps)
    assert len(got.pairs) == 600  # greedy and the optimum both place every task
    if got.exact:
        assert got.method == "milp"
    assert got.total >= optimal_assignment(costs, caps).total - 1e-9


def test_makespan_and_by_agent() -> None:
    costs = np.array([[1.0, 2.0, 3.0], [4.0, INF, 0.5]])
    assert makespan(costs, {0: 0, 1: 0, 2: 1}) == 3.0
    assert makespan(costs, {0: 1, 1: 0, 2: 0}) == 5.0
    assert makespan(costs, {}) == 0.0
    assert makespan(costs, {1: 1}) == INF
    a = optimal_assignment(costs, [2, 2])
    assert a.by_agent() == {0: [0, 1], 1: [2]} and a.pairs == {0: 0, 1: 0, 2: 1}


# --- the strategy -------------------------------------------------------------------


def test_strategy_conforms_to_the_protocol() -> None:
    s = OptimalStrategy(time_limit_s=3.0)
    assert isinstance(s, AllocationStrategy)
    assert (s.name, s.needs_proposals, s.needs_votes, s.time_limit_s) == ("optimal", True,
                                                                          False, 3.0)
    assert dict(s.decisions) == {} and s.last is None


def test_strategy_beats_contract_net_and_records_awards() -> None:
    bids = by_task({"a": {"t1": 1.0, "t2": 2.0}, "b": {"t1": 1.5, "t2": 100.0}})
    tasks = [TaskView("t1", ("x",)), TaskView("t2", ("x",))]
    cnet = ContractNet().allocate(tasks, agent_views("a", "b"), bids, RNG)
    assert sum(a.price for a in cnet.awards) == 101.0
    agents = agent_views("a", "b")
    s = OptimalStrategy()
    out = s.allocate(tasks, agents, bids, RNG)
    assert [(a.task_id, a.agent_id, a.price, a.rejected) for a in out.awards] == [
        ("t1", "b", 1.5, ("a",)), ("t2", "a", 2.0, ("b",))]
    assert out.pending == {} and agents["a"].load == 1 and agents["b"].load == 1
    assert s.last is not None and s.last.method == "lsa" and s.last.exact


def test_strategy_dead_agent_mid_round_gets_nothing() -> None:
    agents = agent_views("a", "b", "c", cap=2)
    agents["a"].alive = False  # proposed, then died before the award
    bids = by_task({"a": {"t1": 0.0, "t2": 0.0}, "b": {"t1": 5.0}, "c": {"t2": 7.0}})
    out = OptimalStrategy().allocate([TaskView("t1"), TaskView("t2")], agents, bids, RNG)
    assert out.awarded_to() == {"t1": "b", "t2": "c"} and agents["a"].load == 0
    assert out.awards[0].rejected == ("a",)


def test_strategy_pending_reasons() -> None:
    agents = agent_views("a", "b", "c", "d")
    agents["b"].alive = False
    agents["c"].load = 1  # full
    bids = by_task({"a": {"t1": 1.0, "t4": 2.0, "t5": 3.0}, "b": {"t2": 1.0}, "c": {"t2": 1.0},
                  "d": {"t3": INF}})
    tasks = [TaskView(t) for t in ("t0", "t1", "t2", "t3", "t4", "t5")]
    out = OptimalStrategy().allocate(tasks, agents, bids, RNG)
    assert out.awarded_to() == {"t1": "a"}
    assert out.pending == {
        "t0": "no proposal before the deadline",
        "t2": "every proposing agent is gone or at capacity",
        "t3": "every proposal refuses the task (non-finite cost)",
        "t4": "the free slots of the agents that proposed went to other tasks of this round",
        "t5": "the free slots of the agents that proposed went to other tasks of this round",
    }


def test_strategy_uses_free_slots_and_milp() -> None:
    agents = agent_views("a", "b", cap=3)
    agents["a"].load = 1  # two free
    bids = by_task({"a": {f"t{i}": 0.0 for i in range(4)}, "b": {f"t{i}": 1.0 for i in range(4)}})
    s = OptimalStrategy()
    out = s.allocate([TaskView(f"t{i}") for i in range(4)], agents, bids, RNG)
    assert sum(1 for a in out.awards if a.agent_id == "a") == 2
    assert agents["a"].load == 3 and agents["b"].load == 2
    assert s.last is not None and s.last.method == "milp" and s.last.total == 2.0


def test_strategy_ignores_unknown_agents_and_takes_an_agents_lowest_bid() -> None:
    agents = agent_views("a")
    bids = {"t": [Proposal("t", "ghost", 0.0), Proposal("t", "a", 4.0), Proposal("t", "a", 3.0),
                  Proposal("u", "a", 0.0)]}  # a proposal filed under the wrong task: ignored
    out = OptimalStrategy().allocate([TaskView("t")], agents, bids, RNG)
    assert [(a.agent_id, a.price, a.rejected) for a in out.awards] == [("a", 3.0, ("ghost",))]


def test_strategy_awards_in_task_order_and_time_limit_reaches_the_solver() -> None:
    agents = agent_views("a", "b", cap=2)
    bids = by_task({"a": {"x": 1.0, "y": 1.0, "z": 1.0}, "b": {"x": 2.0, "y": 2.0, "z": 2.0}})
    tasks = [TaskView("z", priority=1), TaskView("y", priority=5), TaskView("x", priority=1)]
    s = OptimalStrategy(time_limit_s=0)
    out = s.allocate(tasks, agents, bids, RNG)
    assert [a.task_id for a in out.awards] == ["y", "x", "z"]
    assert s.last is not None and s.last.method == "greedy"


def test_strategy_with_no_tasks_or_noagent_views() -> None:
    out = OptimalStrategy().allocate([], agent_views("a"), {}, RNG)
    assert out.awards == [] and out.pending == {}
    out = OptimalStrategy().allocate([TaskView("t")], {}, by_task({"a": {"t": 1.0}}), RNG)
    assert out.pending == {"t": "every proposing agent is gone or at capacity"}
