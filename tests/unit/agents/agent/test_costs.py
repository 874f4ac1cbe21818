"""Agents' own costs: cost functions by name, deadlines, bundles, markups on top."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import agents
from agents.agent import Agent
from agents.agent.costs import Quote, TaskInfo, resolve_cost
from agents.agent.kinds import task
from agents.specs import AgentSpec, TaskAllocation
from messaging.errors import UnknownNameError


@agents.cost("test-travel")
def travel(state: Mapping[str, Any], task: TaskInfo) -> float | tuple[float, float] | None:
    """Manhattan distance; refuses tasks needing a skill the agent lacks; 1 s per unit."""
    need = task.attributes.get("skill")
    if need is not None and state.get("skills", {}).get(need, 0) < 1:
        return None
    (x, y), (tx, ty) = state["position"], task.attributes["location"]
    d = abs(x - tx) + abs(y - ty)
    return d, float(d)


@agents.cost("test-route")
def route(state: Mapping[str, Any], task: TaskInfo, bundle: Sequence[TaskInfo]) -> float:
    """The extra distance of going on to ``task`` after the tasks it holds (in order)."""
    here = bundle[-1].attributes["location"] if bundle else state["position"]
    there = task.attributes["location"]
    return float(abs(here[0] - there[0]) + abs(here[1] - there[1]))


calls: list[int] = []


@agents.cost("test-batch", vectorised=True)
def batch(state: Mapping[str, Any], tasks: Sequence[TaskInfo]) -> list[float | None]:
    calls.append(len(tasks))
    return [float(t.attributes["size"]) if t.attributes["size"] > 0 else None for t in tasks]


@task("test_costed", inline=True)
def _costed(**_: object) -> str:
    return "ok"


def cfp(*tasks: tuple[str, dict[str, Any]], kind: str = "test_costed",
        submitted_at: float | None = None) -> dict[str, list[Any]]:
    at = time.time() if submitted_at is None else submitted_at
    return {"task_ids": [t for t, _ in tasks], "kinds": [kind] * len(tasks),
            "capabilities": [["execution"]] * len(tasks),
            "attributes": [a for _, a in tasks], "submitted_at": [at] * len(tasks)}


def agent(cost: str | None, **kw: Any) -> Agent:
    a = Agent(AgentSpec("a1", cost=cost, max_tasks=4, **kw))
    a.start()
    return a


def test_an_agent_bids_what_its_own_cost_function_says() -> None:
    a = agent("test-travel", state={"position": [0, 0], "skills": {"lift": 1}})
    reply = a.propose(cfp(("near", {"location": [1, 1]}), ("far", {"location": [5, 5]}),
                          ("lift", {"location": [2, 0], "skill": "lift"})))
    assert [(t, c, eta) for t, c, eta, _ in reply["propose"]] == [
        ("near", 2.0, 2.0), ("far", 10.0, 10.0), ("lift", 2.0, 2.0)]


def test_none_from_the_cost_function_is_a_refusal_with_its_reason() -> None:
    a = agent("test-travel", state={"position": [0, 0], "skills": {}})
    reply = a.propose(cfp(("weld", {"location": [1, 1], "skill": "weld"}),
                          ("go", {"location": [1, 0]})))
    assert reply["refuse"] == {"refused by its cost function": ["weld"]}
    assert [p[0] for p in reply["propose"]] == ["go"]


def test_an_agent_refuses_what_it_cannot_finish_by_the_deadline() -> None:
    a = agent("test-travel", state={"position": [0, 0]})
    reply = a.propose(cfp(("tight", {"location": [30, 30], "deadline_s": 10}),
                          ("fine", {"location": [3, 3], "deadline_s": 10})))
    assert reply["refuse"] == {"cannot finish by its deadline": ["tight"]}
    assert [p[0] for p in reply["propose"]] == ["fine"]
    late = a.propose(cfp(("past", {"location": [0, 0], "deadline_s": 1}),
                         submitted_at=time.time() - 5))
    assert late["refuse"] == {"cannot finish by its deadline": ["past"]}


def test_a_round_is_costed_in_one_call_when_the_function_is_vectorised() -> None:
    calls.clear()
    a = agent("test-batch")
    reply = a.propose(cfp(*[(f"t{i}", {"size": i}) for i in range(5)]))
    assert calls == [5]
    assert [c for _, c, _, _ in reply["propose"]] == [1.0, 2.0, 3.0, 4.0]
    assert reply["refuse"] == {"refused by its cost function": ["t0"]}


def test_the_default_cost_is_the_load_formula() -> None:
    a = agent(None)
    reply = a.propose({"task_ids": ["t"], "kinds": ["test_costed"],
                       "capabilities": [["execution"]]})
    assert reply["propose"] == [("t", 1.0, 0.0, 0.0)]


def test_adaptive_bidding_puts_its_markup_on_the_cost_function() -> None:
    a = agent("test-travel", state={"position": [0, 0]}, bidding="ucb1",
              bid_markups=[2.0])
    [(_, cost, eta, _)] = a.propose(cfp(("t", {"location": [1, 2]})))["propose"]
    assert (cost, eta) == (6.0, 3.0)


def test_marginal_bids_count_the_bundle_and_what_the_agent_runs() -> None:
    a = agent("test-route", state={"position": [0, 0]})
    round_ = cfp(("a", {"location": [1, 0]}), ("b", {"location": [5, 0]}),
                  ("c", {"location": [0, 3]}))
    assert a.marginal_bids(round_, []) == {"a": 1.0, "b": 5.0, "c": 3.0}
    assert a.marginal_bids(round_, ["b"]) == {"a": 4.0, "c": 8.0}   # on from b at (5, 0)

    async def holding() -> dict[str, float | None]:
        started, gate = asyncio.Event(), asyncio.Event()

        @task("test_gated")
        async def gated(**_: object) -> None:
            started.set()
            await gate.wait()

        running = asyncio.ensure_future(a.run_task({
            "task_id": "held", "kind": "test_gated", "args": {},
            "attributes": {"location": [0, 10]}, "submitted_at": time.time()}))
        await started.wait()      # the agent runs (and holds) it now
        bids = a.marginal_bids(round_, [])
        gate.set()
        await running
        return bids

    assert asyncio.run(holding()) == {"a": 11.0, "b": 15.0, "c": 7.0}  # on from (0, 10)
    assert a.marginal_bids(round_, [])["a"] == 1.0                      # done: not held


def test_a_full_agent_bids_nothing_more() -> None:
    a = Agent(AgentSpec("a1", cost="test-route", max_tasks=1, state={"position": [0, 0]}))
    a.start()
    round_ = cfp(("a", {"location": [1, 0]}), ("b", {"location": [2, 0]}))
    assert a.marginal_bids(round_, ["a"]) == {"b": None}


def test_cost_functions_resolve_by_name_or_module_path_with_clear_errors() -> None:
    assert resolve_cost("test-travel").fn is travel
    assert resolve_cost("tests.unit.agents.agent.test_costs:route").fn is route
    with pytest.raises(UnknownNameError, match="did you mean 'test-travel'"):
        resolve_cost("test-travle")
    with pytest.raises(ImportError, match="no_such_module"):
        resolve_cost("no_such_module:f")
    with pytest.raises(UnknownNameError):
        Agent(AgentSpec("x", cost="nope"))


def test_bad_answers_from_a_cost_function_are_named() -> None:
    bad = agents.cost("test-bad")(lambda state, task: "cheap")
    with pytest.raises(ValueError, match="'test-bad' returned 'cheap'"):
        resolve_cost("test-bad").quotes({}, [TaskInfo("t")])
    del bad
    assert resolve_cost("test-travel").quotes(
        {"position": [0, 0]}, [TaskInfo("t", attributes={"location": [1, 1]})]
    ) == [Quote(2.0, 2.0)]
    agents.cost("test-inf")(lambda state, task: math.inf)
    assert resolve_cost("test-inf").quotes({}, [TaskInfo("t")]) == [None]


def test_task_attributes_travel_with_the_task_and_deadlines_are_checked() -> None:
    t = TaskAllocation("t", attributes={"location": [1, 2], "deadline_s": 30},
                       submitted_at=100.0)
    assert t.deadline_at == 130.0
    assert TaskAllocation.from_dict(t.to_dict()).attributes == t.attributes
    with pytest.raises(ValueError, match="deadline_s must be a positive number"):
        TaskAllocation("t", attributes={"deadline_s": "soon"})


def test_an_agent_starts_from_its_specs_state_and_tasks_can_update_it() -> None:
    a = agent("test-travel", state={"position": [0, 0]})
    assert a.world["position"] == [0, 0]
    a.observe({"position": [4, 4]})
    [(_, cost, _, _)] = a.propose(cfp(("t", {"location": [4, 5]})))["propose"]
    assert cost == 1.0
    assert AgentSpec.from_dict(AgentSpec("x", cost="c", state={"b": 1}).to_dict()).state == {
        "b": 1}


@task("test_move")
def _move(to: list[int], **_: object) -> bool:
    from agents.agent.context import update_state

    return update_state(position=to)


def test_a_task_that_moves_the_agent_changes_its_next_bids() -> None:
    a = agent("test-travel", state={"position": [0, 0]})
    assert asyncio.run(a.run_task({"task_id": "m", "kind": "test_move",
                                   "args": {"to": [6, 6]}})) is True
    assert a.world["position"] == [6, 6]
    [(_, cost, _, _)] = a.propose(cfp(("t", {"location": [6, 7]})))["propose"]
    assert cost == 1.0


def test_consensus_voters_vote_the_cheapest_quote_and_skip_who_refused() -> None:
    a = agent(None)
    candidates = [{"id": "x", "load": 0, "capacity": 2}, {"id": "y", "load": 1, "capacity": 2},
                  {"id": "z", "load": 0, "capacity": 2}]
    costs = {"t1": {"x": 5.0, "y": 1.0}, "t2": {"x": 2.0, "y": 1.0}, "t3": {}}
    # t1: y is cheapest; t2: y is cheapest again, though busier now; t3: nobody quoted
    assert a.vote_assignments(["t1", "t2", "t3"], candidates, costs) == ["y", "y", None]
    assert a.vote_assignments(["t1"], candidates) == ["x"]        # no quotes: least loaded


def test_a_cost_function_that_raises_refuses_the_round_saying_why() -> None:
    agents.cost("test-broken")(lambda state, task: state["nope"])
    a = agent("test-broken")
    reply = a.propose(cfp(("t1", {}), ("t2", {})))
    assert reply["propose"] == []
    [(reason, ids)] = reply["refuse"].items()
    assert ids == ["t1", "t2"] and reason.startswith("cost function test-broken failed: KeyError")
    assert a.marginal_bids(cfp(("t1", {})), []) == {"t1": None}
