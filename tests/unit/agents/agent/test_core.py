from __future__ import annotations

import asyncio

import pytest

from agents.agent import Agent
from agents.agent.kinds import resolve_task, task
from agents.errors import LifecycleError, UnknownTaskKindError
from agents.specs import (
    DEFAULT_TASK_LIMITS,
    AgentGoal,
    AgentSpec,
    AgentType,
    Behavior,
    LifecycleState,
)


@task("test_add")
def _add(a: int = 0, b: int = 0, **_: object) -> int:
    return a + b


def _agent(**kw: object) -> Agent:
    a = Agent(AgentSpec("a1", **kw))  # type: ignore[arg-type]
    a.start()
    return a


def test_task_limits_by_type() -> None:
    assert AgentSpec("x", agent_type="coordinator").task_limit == 5
    assert AgentSpec("x", agent_type=AgentType.TASK_EXECUTOR).task_limit == 20
    assert AgentSpec("x", agent_type="monitor", max_tasks=7).task_limit == 7
    assert set(DEFAULT_TASK_LIMITS.values()) <= set(range(5, 21))


def test_lifecycle_transitions_are_checked() -> None:
    a = Agent(AgentSpec("a1"))
    assert a.state is LifecycleState.CREATED
    with pytest.raises(LifecycleError, match="created to busy"):
        a.transition(LifecycleState.BUSY)
    a.start()
    asyncio.run(a.stop())
    assert a.state is LifecycleState.STOPPED
    with pytest.raises(LifecycleError):
        a.transition(LifecycleState.IDLE)


def test_busy_while_running_then_idle() -> None:
    a = _agent()

    async def go() -> list[object]:
        gate, started = asyncio.Event(), asyncio.Event()

        @task("test_wait")
        async def wait(**_: object) -> str:
            started.set()
            await gate.wait()
            return "ok"

        run = asyncio.create_task(a.run_task({"task_id": "w", "kind": "test_wait"}))
        await started.wait()  # the task is inside the agent now
        states = [a.state, a.load]
        gate.set()
        states.append(await run)
        states.append(a.state)
        return states

    assert asyncio.run(go()) == [LifecycleState.BUSY, 1, "ok", LifecycleState.IDLE]


def test_repeated_task_id_runs_once() -> None:
    calls: list[int] = []

    @task("test_count")
    def count(**_: object) -> int:
        calls.append(1)
        return len(calls)

    a = _agent()

    async def go() -> list[int]:
        t = {"task_id": "same", "kind": "test_count"}
        return [*list(await asyncio.gather(a.run_task(t), a.run_task(t))), await a.run_task(t)]

    assert asyncio.run(go()) == [1, 1, 1] and calls == [1]


def test_goals_by_priority_and_satisfaction() -> None:
    a = _agent()
    a.set_goal(AgentGoal("low", priority=1, target={"x": 1}))
    a.set_goal(AgentGoal("high", priority=9, target={"y": 2}))
    assert a.current_goal().name == "high"  # type: ignore[union-attr]
    a.observe({"y": 2})
    assert a.current_goal().name == "low"  # type: ignore[union-attr]
    a.observe({"x": 1})
    assert a.current_goal() is None


def test_behaviour_runs_when_condition_holds() -> None:
    a = _agent()
    b = Behavior("sum", actions=["test_add", "echo"], condition={"ready": True},
                 args={"a": 2, "b": 3})
    a.add_behavior(b)
    assert a.observe({"ready": False}) == []
    assert asyncio.run(a.execute_behavior(b)) == []
    assert a.observe({"ready": True}) == [b]
    assert asyncio.run(a.execute_behavior(b)) == [5, None]


def test_proposals_refusals_and_not_understood() -> None:
    a = _agent(capabilities=["execution"], max_tasks=1)
    reply = a.propose({"task_ids": ["ok", "cap", "kind"],
                       "kinds": ["noop", "noop", "no_such_kind"],
                       "capabilities": [["execution"], ["gpu"], []]})
    assert [p[0] for p in reply["propose"]] == ["ok"]
    assert reply["refuse"] == {"lacks ['gpu']": ["cap"]}
    [(reason, ids)] = reply["not-understood"].items()
    assert ids == ["kind"] and "no_such_kind" in reason


def test_settle_runs_accepted_reports_failures_and_counts_rejections() -> None:
    a = _agent()
    out = asyncio.run(a.settle([{"task_id": "x", "kind": "echo", "args": {"value": 3}},
                                {"task_id": "y", "kind": "fail", "args": {"message": "no"}}],
                               ["z1", "z2"]))
    assert out == [(True, 3), (False, "InjectedFailure: no")]
    assert a.rejections == 2 and a.completed == 1 and a.failed == 1


def test_stopping_agent_refuses() -> None:
    a = _agent()
    asyncio.run(a.stop())
    reply = a.propose({"task_ids": ["t"], "kinds": ["noop"], "capabilities": [[]]})
    assert reply["refuse"] == {"agent is stopped": ["t"]} and reply["propose"] == []


def test_unknown_kind_suggests() -> None:
    with pytest.raises(UnknownTaskKindError, match="did you mean 'count_primes'"):
        resolve_task("count_prime")
    assert resolve_task("agents.agent.builtin_kinds:count_primes")(n=30) == 10


def test_vote_uses_registered_voter() -> None:
    a = _agent(voter="least_loaded")
    ballot = {"options": [{"id": "x", "load": 0.5}, {"id": "y", "load": 0.1}]}
    assert a.vote(ballot) == "y"


def test_vote_assignments_spread_a_round_over_candidates() -> None:
    a = _agent(voter="least_loaded")
    cands = [{"id": "x", "load": 0, "capacity": 2}, {"id": "y", "load": 1, "capacity": 4}]
    # x at 0/2, y at 1/4: x, then y (0.25 < 0.5), then tie 0.5/0.5 -> first (x), then y
    assert a.vote_assignments(["t1", "t2", "t3", "t4"], cands) == ["x", "y", "x", "y"]


def test_adaptive_bidding_learns_the_markup_that_pays_best() -> None:
    """A rival always bids 1.1 on the same task: 0.8 and 1.0 win (earning 0.8 and 1.0 of the
    top markup), 1.25 loses; the agent must settle on 1.0."""
    agent = Agent(AgentSpec("learner", bidding="ucb1", bid_markups=[0.8, 1.0, 1.25]))
    agent.start()

    async def rounds(n: int) -> None:
        for i in range(n):
            reply = agent.propose({"task_ids": [f"t{i}"], "kinds": ["noop"],
                                   "capabilities": [[]]})
            [(task_id, cost, _, _)] = reply["propose"]
            if cost < 1.1:
                await agent.settle([{"task_id": task_id, "kind": "noop", "args": {}}], [])
            else:
                await agent.settle([], [task_id])

    asyncio.run(rounds(300))
    stats = agent.describe()["bidding"]
    assert stats["best"] == "1.0"
    assert stats["counts"]["1.0"] > stats["counts"]["0.8"] > 0
    assert sum(stats["counts"].values()) == 300  # every proposal was scored
    fixed = Agent(AgentSpec("fixed"))
    fixed.start()
    assert fixed.describe()["bidding"] == {"strategy": "fixed"}
    with pytest.raises(ValueError, match="bidding"):
        AgentSpec("x", bidding="greedy")


@task("_current_correlation")
def _current_correlation(**_: object) -> str | None:
    from messaging import trace

    return trace.current()


def test_a_task_runs_with_its_correlation_id_current_in_its_thread() -> None:
    from messaging import trace

    a = _agent()
    out = asyncio.run(a.run_task({"task_id": "c1", "kind": "_current_correlation",
                                  "correlation_id": "req-42"}))
    assert out == "req-42" and trace.current() is None  # set for the task only
    assert asyncio.run(a.run_task({"task_id": "c2", "kind": "_current_correlation"})) is None
