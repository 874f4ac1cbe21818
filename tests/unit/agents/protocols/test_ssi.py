from __future__ import annotations

import doctest
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import agents.protocols.ssi as ssi_module
from agents.errors import AllocationError
from agents.protocols.assignment import greedy_assignment, optimal_assignment
from agents.protocols.base import AgentView, AllocationStrategy, TaskView
from agents.protocols.ssi import SequentialAuction, SsiStrategy, ssi
from tests.unit.agents.protocols.bids import agent_views, by_task

INF = math.inf
RNG = np.random.default_rng(0)


def _drain(auction: SequentialAuction) -> list[tuple[str, str, float]]:
    out = []
    while (award := auction.next_award()) is not None:
        out.append(award)
    return out


def test_docstring_examples_run() -> None:
    result = doctest.testmod(ssi_module)
    assert result.attempted > 0 and result.failed == 0


# --- SequentialAuction ------------------------------------------------------------


def test_lowest_bid_wins_each_auction_in_turn() -> None:
    auction = SequentialAuction(
        ["t1", "t2", "t3"], {"a": 2, "b": 2},
        {"a": {"t1": 3.0, "t2": 1.0, "t3": 5.0}, "b": {"t1": 2.0, "t2": 4.0, "t3": 6.0}},
    )
    assert _drain(auction) == [("t2", "a", 1.0), ("t1", "b", 2.0), ("t3", "a", 5.0)]
    assert auction.held == {"a": ["t2", "t3"], "b": ["t1"]}
    assert auction.open_tasks == [] and auction.unassigned_reasons() == {}
    assert auction.awarded == {"t2": "a", "t1": "b", "t3": "a"}
    assert auction.next_award() is None and auction.next_award() is None


def test_ties_go_to_lower_cost_then_agent_then_task() -> None:
    bids = {a: {t: 1.0 for t in ("t2", "t1", "t3")} for a in ("b", "a", "c")}
    auction = SequentialAuction(["t3", "t2", "t1"], {"c": 1, "b": 1, "a": 1}, bids)
    assert [(t, a) for t, a, _ in _drain(auction)] == [("t1", "a"), ("t2", "b"), ("t3", "c")]


def test_refusals_are_never_awarded() -> None:
    auction = SequentialAuction(
        ["t1", "t2", "t3", "t4"], {"a": 4},
        {"a": {"t1": None, "t2": INF, "t3": float("nan"), "t4": 0.0}},
    )
    assert _drain(auction) == [("t4", "a", 0.0)]
    assert auction.unassigned_reasons() == {t: "no agent bid on it" for t in ("t1", "t2", "t3")}


def test_capacity_is_respected_and_reported() -> None:
    auction = SequentialAuction(
        ["t1", "t2", "t3", "t4"], {"a": 1, "b": 1, "z": 0},
        {"a": {"t1": 1.0, "t2": 1.0, "t3": 1.0}, "b": {"t1": 2.0, "t2": 2.0},
         "z": {"t4": 0.0, "t1": 0.0}},
    )
    assert [(t, a) for t, a, _ in _drain(auction)] == [("t1", "a"), ("t2", "b")]
    assert auction.capacity_left("a") == 0 and auction.capacity_left("z") == 0
    assert auction.unassigned_reasons() == {
        "t3": "every agent that bid on it is at capacity",
        "t4": "every agent that bid on it is at capacity",
    }


def test_nothing_to_award_in_an_empty_round() -> None:
    assert SequentialAuction([], {"a": 3}, {}).next_award() is None
    auction = SequentialAuction(["t"], {}, {})
    assert auction.next_award() is None
    assert auction.unassigned_reasons() == {"t": "no agent bid on it"}


def test_reasons_before_the_auction_is_run() -> None:
    auction = SequentialAuction(["t"], {"a": 1}, {"a": {"t": 1.0}})
    assert auction.unassigned_reasons() == {"t": "not auctioned yet"}


@pytest.mark.parametrize(
    ("tasks", "caps", "bids", "match"),
    [
        (["t", "t"], {"a": 1}, {}, "duplicate task ids"),
        (["t"], {"a": 1}, {"a": {"u": 1.0}}, "not a task of this round"),
        (["t"], {"a": 1}, {"b": {"t": 1.0}}, "no capacity entry"),
        (["t"], {"a": -1}, {}, ">= 0"),
        (["t"], {"a": 1.5}, {}, "must be an integer"),
        (["t"], {"a": 1}, {"a": {"t": -INF}}, "-inf"),
    ],
)
def test_bad_rounds_are_allocation_errors(
    tasks: list[str], caps: dict[str, Any], bids: dict[str, dict[str, float]], match: str
) -> None:
    with pytest.raises(AllocationError, match=match):
        SequentialAuction(tasks, caps, bids)


def test_rebid_errors() -> None:
    auction = SequentialAuction(["t"], {"a": 1}, {})
    with pytest.raises(AllocationError, match="no capacity entry"):
        auction.rebid("ghost", {"t": 1.0})
    with pytest.raises(AllocationError, match="not a task of this round"):
        auction.rebid("a", {"u": 1.0})
    with pytest.raises(AllocationError, match="not an agent"):
        auction.withdraw("ghost")


def test_rebid_replaces_every_bid_of_the_agent() -> None:
    auction = SequentialAuction(
        ["t1", "t2", "t3"], {"a": 3, "b": 3},
        {"a": {"t1": 1.0, "t2": 1.0, "t3": 1.0}, "b": {"t1": 5.0, "t2": 5.0, "t3": 5.0}},
    )
    assert auction.next_award() == ("t1", "a", 1.0)
    # a's new bundle makes t2 dear; t3 is missing from the re-bid, so a refuses it now;
    # the bid on the awarded t1 is ignored.
    auction.rebid("a", {"t1": 0.0, "t2": 9.0})
    assert _drain(auction) == [("t2", "b", 5.0), ("t3", "b", 5.0)]


def test_rebid_can_lower_a_bid_and_win() -> None:
    auction = SequentialAuction(["t1", "t2"], {"a": 2, "b": 2},
                                {"a": {"t1": 1.0, "t2": 9.0}, "b": {"t1": 8.0, "t2": 3.0}})
    assert auction.next_award() == ("t1", "a", 1.0)
    auction.rebid("a", {"t2": 0.5})
    assert auction.next_award() == ("t2", "a", 0.5)


def test_rebid_of_a_full_agent_wins_nothing() -> None:
    auction = SequentialAuction(["t1", "t2"], {"a": 1, "b": 1},
                                {"a": {"t1": 1.0}, "b": {"t2": 9.0}})
    auction.next_award()
    auction.rebid("a", {"t2": 0.0})
    assert auction.next_award() == ("t2", "b", 9.0)


def test_withdraw_reopens_a_dead_agents_tasks() -> None:
    auction = SequentialAuction(
        ["t1", "t2", "t3"], {"a": 3, "b": 3},
        {"a": {"t1": 1.0, "t2": 1.0, "t3": 1.0}, "b": {"t1": 5.0, "t2": 6.0, "t3": 7.0}},
    )
    assert auction.next_award() == ("t1", "a", 1.0)
    assert auction.next_award() == ("t2", "a", 1.0)
    assert auction.withdraw("a") == ["t1", "t2"]
    assert auction.open_tasks == ["t1", "t2", "t3"] and auction.held["a"] == []
    assert auction.awarded == {}
    assert _drain(auction) == [("t1", "b", 5.0), ("t2", "b", 6.0), ("t3", "b", 7.0)]
    auction.rebid("a", {"t1": 0.0})  # a dead agent's late bids win nothing
    assert auction.next_award() is None


def test_withdraw_then_rebid_gives_reopened_tasks_newbids() -> None:
    auction = SequentialAuction(["t1", "t2"], {"a": 1, "b": 2},
                                {"a": {"t1": 1.0}, "b": {"t1": 2.0, "t2": 2.0}})
    assert auction.next_award() == ("t1", "a", 1.0)
    assert auction.next_award() == ("t2", "b", 2.0)
    auction.rebid("b", {})  # b's bundle changed; t1 was closed, so it is not re-bid
    auction.withdraw("a")
    assert auction.next_award() is None
    assert auction.unassigned_reasons() == {"t1": "no agent bid on it"}
    auction.rebid("b", {"t1": 4.0})
    assert auction.next_award() == ("t1", "b", 4.0)


def test_properties_are_copies() -> None:
    auction = SequentialAuction(["t"], {"a": 1}, {"a": {"t": 1.0}})
    auction.held["a"].append("x")
    auction.open_tasks.clear()
    auction.awarded["x"] = "a"
    assert auction.held == {"a": []} and auction.open_tasks == ["t"] and auction.awarded == {}


def _naive_next(bids: dict[str, dict[str, float]], left: dict[str, int],
                open_tasks: set[str]) -> tuple[str, str, float] | None:
    pool = [(c, a, t) for a, row in bids.items() if left[a] > 0
            for t, c in row.items() if t in open_tasks]
    if not pool:
        return None
    c, a, t = min(pool)
    return t, a, c


@pytest.mark.parametrize("seed", range(12))
def test_heap_matches_a_naive_scan_under_many_rebids(seed: int) -> None:
    rng = np.random.default_rng(seed)
    agents = [f"a{i}" for i in range(6)]
    tasks = [f"t{j:02d}" for j in range(40)]
    caps = {a: int(rng.integers(0, 9)) for a in agents}

    def draw(open_tasks: Sequence[str]) -> dict[str, float]:
        return {t: float(rng.integers(0, 5)) for t in open_tasks if rng.random() > 0.2}

    bids = {a: draw(tasks) for a in agents}
    auction = SequentialAuction(tasks, caps, bids)
    left, open_tasks = dict(caps), set(tasks)
    while True:
        for _ in range(int(rng.integers(0, 30))):  # many re-bids: stale entries pile up
            who = agents[int(rng.integers(0, len(agents)))]
            bids[who] = draw(sorted(open_tasks))
            auction.rebid(who, bids[who])
        want = _naive_next(bids, left, open_tasks)
        got = auction.next_award()
        assert got == want
        if got is None:
            break
        open_tasks.discard(got[0])
        left[got[1]] -= 1
    assert set(auction.open_tasks) == open_tasks


# --- the ssi driver ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_ssi_equals_greedy_on_additive_costs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_agents, n_tasks = 6, 15
    # even seeds: integer costs with many ties; odd: continuous
    costs = (rng.integers(0, 4, (n_agents, n_tasks)).astype(float) if seed % 2 == 0
             else rng.random((n_agents, n_tasks)))
    costs[rng.random(costs.shape) < 0.15] = INF
    caps = rng.integers(0, 4, n_agents).tolist()
    agents = [f"a{i}" for i in range(n_agents)]  # ids sort like the indices: same tie-breaks
    tasks = [f"t{j:02d}" for j in range(n_tasks)]

    def additive(agent: str, held: Sequence[str], task: str) -> float:
        return float(costs[agents.index(agent), tasks.index(task)])

    got = ssi(tasks, dict(zip(agents, caps, strict=True)), additive)
    want = greedy_assignment(costs, caps)
    assert {tasks.index(t): agents.index(a) for t, a in got.items()} == want.pairs


def _router(points: dict[str, np.ndarray]) -> tuple[Any, Any]:
    """Route-style costs: an agent's tasks form an open path from its position, each new
    task inserted where it adds the least travel.  ``held`` comes in award order, so the
    path is rebuilt by replaying the insertions."""

    def leg(u: str, v: str) -> float:
        return float(np.linalg.norm(points[u] - points[v]))

    def insert(path: list[str], task: str) -> tuple[float, int]:
        options = [(leg(path[-1], task), len(path))]  # append at the end
        for k in range(1, len(path)):  # or between path[k-1] and path[k]
            options.append((leg(path[k - 1], task) + leg(task, path[k])
                            - leg(path[k - 1], path[k]), k))
        return min(options)

    def route(agent: str, held: Sequence[str]) -> tuple[list[str], float]:
        path, length = [agent], 0.0
        for task in held:
            cost, at = insert(path, task)
            path.insert(at, task)
            length += cost
        return path, length

    def marginal(agent: str, held: Sequence[str], task: str) -> float:
        return insert(route(agent, held)[0], task)[0]

    return marginal, route


def _plane(n_agents: int, n_tasks: int, seed: int) -> tuple[dict[str, np.ndarray], list[str],
                                                             list[str]]:
    rng = np.random.default_rng(seed)
    agents = [f"r{i}" for i in range(n_agents)]
    tasks = [f"d{j:02d}" for j in range(n_tasks)]
    points = dict(zip(agents + tasks, rng.random((n_agents + n_tasks, 2)), strict=True))
    return points, agents, tasks


@pytest.mark.parametrize("seed", range(8))
def test_ssi_with_route_costs_is_valid_capacity_respecting_and_deterministic(seed: int) -> None:
    points, agents, tasks = _plane(5, 18, seed)
    caps = dict(zip(agents, [4, 4, 4, 4, 3], strict=True))  # 19 slots for 18 tasks
    marginal, _ = _router(points)
    got = ssi(tasks, caps, marginal)
    assert sorted(got) == tasks  # every task placed, each once
    for agent in agents:
        assert sum(1 for a in got.values() if a == agent) <= caps[agent]
    again = ssi(list(tasks), dict(caps), _router(dict(points))[0])
    assert list(again.items()) == list(got.items())  # same awards, same order


def test_ssi_with_route_costs_and_too_few_slots_fills_every_slot() -> None:
    points, agents, tasks = _plane(3, 10, seed=3)
    marginal, _ = _router(points)
    got = ssi(tasks, dict(zip(agents, [2, 3, 0], strict=True)), marginal)
    assert len(got) == 5 and set(got.values()) == {"r0", "r1"}
    assert sum(1 for a in got.values() if a == "r0") == 2


def test_ssi_with_route_costs_awards_the_lowest_current_marginal() -> None:
    points, agents, tasks = _plane(3, 9, seed=11)
    marginal, route = _router(points)
    auction = SequentialAuction(tasks, dict.fromkeys(agents, 3),
                                {a: {t: marginal(a, (), t) for t in tasks} for a in agents})
    won: dict[str, float] = dict.fromkeys(agents, 0.0)
    while auction.open_tasks:
        held, open_tasks = auction.held, auction.open_tasks
        lowest = min(marginal(a, held[a], t) for a in agents if auction.capacity_left(a) > 0
                     for t in open_tasks)
        award = auction.next_award()
        assert award is not None
        task, winner, cost = award
        assert cost == pytest.approx(marginal(winner, held[winner], task)) == pytest.approx(lowest)
        won[winner] += cost
        auction.rebid(winner, {t: marginal(winner, auction.held[winner], t)
                               for t in auction.open_tasks})
    # each agent's route length is the sum of the prices it won at
    for agent in agents:
        assert route(agent, auction.held[agent])[1] == pytest.approx(won[agent])


def test_ssi_routes_beat_separate_costs_in_the_plane() -> None:
    # Bidding the marginal route cost (SSI) gives shorter routes than the greedy
    # assignment over direct distances, summed over seeded instances.
    ssi_total = greedy_total = 0.0
    for seed in range(10):
        points, agents, tasks = _plane(4, 16, seed=200 + seed)
        marginal, route = _router(points)
        got = ssi(tasks, dict.fromkeys(agents, 4), marginal)
        direct = np.array([[marginal(a, (), t) for t in tasks] for a in agents])
        greedy = greedy_assignment(direct, [4] * 4).by_agent()
        for i, agent in enumerate(agents):
            ssi_total += route(agent, [t for t, a in got.items() if a == agent])[1]
            greedy_total += route(agent, [tasks[j] for j in greedy.get(i, [])])[1]
    assert ssi_total < greedy_total


def test_ssi_leaves_refused_tasks_and_respects_capacity() -> None:
    def marginal(agent: str, held: Sequence[str], task: str) -> float | None:
        if task == "nobody":
            return None
        return 1.0 + len(held)

    got = ssi(["t1", "t2", "t3", "nobody"], {"a": 1, "b": 1, "c": 0}, marginal)
    assert got == {"t1": "a", "t2": "b"}


def test_ssi_asks_only_agents_with_room_and_only_for_open_tasks() -> None:
    calls: list[tuple[str, tuple[str, ...], str]] = []

    def marginal(agent: str, held: Sequence[str], task: str) -> float:
        assert isinstance(held, tuple)
        calls.append((agent, tuple(held), task))
        return 1.0

    got = ssi(["t1", "t2"], {"a": 2, "z": 0}, marginal)
    assert got == {"t1": "a", "t2": "a"}
    assert calls == [("a", (), "t1"), ("a", (), "t2"), ("a", ("t1",), "t2")]


# --- the strategy -------------------------------------------------------------------


def test_strategy_conforms_to_the_protocol() -> None:
    s = SsiStrategy(exchanges=False)
    assert isinstance(s, AllocationStrategy)
    assert (s.name, s.needs_proposals, s.needs_votes) == ("ssi", True, False)


def test_strategy_awards_cheapest_first_within_free_slots() -> None:
    agents = agent_views("a", "b", cap=2)
    agents["b"].load = 1
    bids = by_task({"a": {"t1": 1.0, "t2": 2.0, "t3": 3.0}, "b": {"t1": 1.0, "t2": 9.0, "t3": 4.0}})
    tasks = [TaskView("t1"), TaskView("t2"), TaskView("t3")]
    out = SsiStrategy(exchanges=False).allocate(tasks, agents, bids, RNG)
    assert [(a.task_id, a.agent_id, a.price, a.rejected) for a in out.awards] == [
        ("t1", "a", 1.0, ("b",)), ("t2", "a", 2.0, ("b",)), ("t3", "b", 4.0, ("a",))]
    assert agents["a"].load == 2 and agents["b"].load == 2 and out.pending == {}


@pytest.mark.parametrize("seed", range(5))
def test_strategy_equals_greedy_on_the_proposals(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [f"a{i}" for i in range(4)]
    task_ids = [f"t{j}" for j in range(8)]
    costs = rng.integers(0, 3, (4, 8)).astype(float)
    caps = rng.integers(1, 4, 4).tolist()
    agents = {n: AgentView(n, frozenset(), k) for n, k in zip(names, caps, strict=True)}
    bids = by_task({n: {t: costs[i, j] for j, t in enumerate(task_ids)}
                  for i, n in enumerate(names)})
    out = SsiStrategy(exchanges=False).allocate([TaskView(t) for t in task_ids], agents, bids, RNG)
    want = greedy_assignment(costs, caps)
    assert out.awarded_to() == {task_ids[t]: names[a] for t, a in want.pairs.items()}


def test_strategy_dead_agent_mid_round_gets_nothing() -> None:
    agents = agent_views("a", "b", "c", cap=2)
    agents["a"].alive = False
    bids = by_task({"a": {"t1": 0.0, "t2": 0.0}, "b": {"t1": 5.0}, "c": {"t2": 7.0}})
    out = SsiStrategy(exchanges=False).allocate([TaskView("t1"), TaskView("t2")], agents, bids, RNG)
    assert out.awarded_to() == {"t1": "b", "t2": "c"} and agents["a"].load == 0


def test_strategy_pending_reasons() -> None:
    agents = agent_views("a", "b", "c", "d")
    agents["b"].alive = False
    agents["c"].load = 1
    bids = by_task({"a": {"t1": 1.0, "t4": 2.0}, "b": {"t2": 1.0}, "c": {"t2": 1.0},
                  "d": {"t3": INF}})
    tasks = [TaskView(t) for t in ("t0", "t1", "t2", "t3", "t4")]
    out = SsiStrategy(exchanges=False).allocate(tasks, agents, bids, RNG)
    assert out.awarded_to() == {"t1": "a"}
    assert out.pending == {
        "t0": "no proposal before the deadline",
        "t2": "every proposing agent is gone or at capacity",
        "t3": "every proposal refuses the task (non-finite cost)",
        "t4": "the free slots of the agents that proposed went to other tasks of this round",
    }


@pytest.mark.parametrize("seed", range(5))
def test_exchanges_after_the_auctions_never_cost_more_and_keep_capacities(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [f"a{i}" for i in range(5)]
    task_ids = [f"t{j}" for j in range(12)]
    costs = rng.random((5, 12))
    caps = rng.integers(1, 4, 5).tolist()

    def run(exchanges: bool) -> tuple[dict[str, str], float]:
        agents = {n: AgentView(n, frozenset(), k) for n, k in zip(names, caps, strict=True)}
        bids = by_task({n: {t: costs[i, j] for j, t in enumerate(task_ids)}
                      for i, n in enumerate(names)})
        won = SsiStrategy(exchanges=exchanges).allocate(
            [TaskView(t) for t in task_ids], agents, bids, RNG).awarded_to()
        assert all(list(won.values()).count(n) <= k for n, k in zip(names, caps, strict=True))
        return won, sum(costs[names.index(a), task_ids.index(t)] for t, a in won.items())

    plain, plain_cost = run(False)
    better, better_cost = run(True)
    assert set(better) == set(plain) and better_cost <= plain_cost + 1e-12
    opt = optimal_assignment(costs, caps)
    assert better_cost >= opt.total - 1e-9
