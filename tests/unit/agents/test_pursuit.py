"""Goal pursuit: plans from the agent's own actions, replans when the world moves,
reports progress and a missed deadline, and runs on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents.planning.errors import PlanError
from agents.pursuit import GoalPursuit, Pursuer, PursuitAction, pursuit_from_spec

OPEN = PursuitAction("open", {"valve": "shut"}, {"valve": "open"}, 1.0)
PUMP = PursuitAction("pump", {"valve": "open"}, {"level": "low"}, 1.0)
BUCKET = PursuitAction("bucket", {}, {"level": "low"}, 5.0)


def test_it_picks_the_cheapest_plan_and_keeps_it_while_valid() -> None:
    p = GoalPursuit("drain", {"level": "low"}, [OPEN, PUMP, BUCKET], clock=lambda: 0.0)
    d = p.decide({"valve": "shut", "level": "high"})
    assert d.status == "act" and d.plan == ("open", "pump") and d.progress == 0.0
    p.acted(OPEN, ok=True)
    d = p.decide({"valve": "open", "level": "high"})
    assert d.plan == ("pump",) and p.replans == 1  # still valid: no new plan


def test_the_world_moving_makes_it_replan() -> None:
    p = GoalPursuit("drain", {"level": "low"}, [OPEN, PUMP], clock=lambda: 0.0)
    p.decide({"valve": "shut", "level": "high"})
    p.acted(OPEN, ok=True)
    d = p.decide({"valve": "shut", "level": "high"})  # someone shut the valve
    assert d.action == OPEN and p.replans == 2


def test_a_failed_action_drops_the_plan() -> None:
    p = GoalPursuit("drain", {"level": "low"}, [OPEN, PUMP], clock=lambda: 0.0)
    p.decide({"valve": "shut", "level": "high"})
    p.acted(OPEN, ok=False)
    assert p.failures == 1
    p.decide({"valve": "shut", "level": "high"})
    assert p.replans == 2


def test_no_way_to_the_goal_is_stuck_with_the_reason() -> None:
    p = GoalPursuit("fire", {"fire": True}, [OPEN], clock=lambda: 0.0)
    d = p.decide({})
    assert d.status == "stuck" and "no action sets 'fire'" in d.reason


def test_a_missed_deadline_is_reported_and_the_goal_still_pursued() -> None:
    now = [0.0]
    p = GoalPursuit("drain", {"level": "low"}, [OPEN, PUMP], deadline_s=5,
                    clock=lambda: now[0])
    assert not p.decide({"valve": "shut", "level": "high"}).missed
    now[0] = 6.0
    d = p.decide({"valve": "shut", "level": "high"})
    assert d.missed and d.status == "act"
    assert p.report()["missed"] and p.report()["deadline_in_s"] == -1.0


def test_reached_and_progress() -> None:
    p = GoalPursuit("both", {"a": 1, "b": 2}, [], clock=lambda: 0.0)
    assert p.progress({"a": 1}) == 0.5
    assert p.decide({"a": 1, "b": 2}).status == "reached"
    assert p.report()["status"] == "reached" and p.report()["progress"] == 1.0


def test_bad_goals_are_refused_by_name() -> None:
    with pytest.raises(PlanError, match="target is empty"):
        GoalPursuit("g", {}, [])
    with pytest.raises(PlanError, match="action names repeat"):
        GoalPursuit("g", {"a": 1}, [OPEN, OPEN])
    with pytest.raises(PlanError, match="missing field 'target'"):
        pursuit_from_spec({"name": "g"})


def test_the_pursuer_reaches_its_goal_alone_and_replans_after_a_disturbance() -> None:
    world = {"valve": "shut", "level": "high"}
    done: list[str] = []
    reports: list[dict[str, Any]] = []

    async def observe() -> dict[str, Any]:
        return dict(world)

    async def act(action: PursuitAction) -> None:
        done.append(action.name)
        if action.name == "open" and done.count("open") == 1:
            return  # the first opening does not hold: the valve stays shut
        world.update(action.effects)

    async def main() -> None:
        reached = asyncio.Event()

        def report(r: dict[str, Any]) -> None:
            reports.append(r)
            if r["status"] == "reached":
                reached.set()

        pursuer = Pursuer(GoalPursuit("drain", {"level": "low"}, [OPEN, PUMP]),
                          observe=observe, act=act, report=report, interval_s=0.001,
                          owner="a1")
        task = asyncio.get_running_loop().create_task(pursuer.run())
        await reached.wait()  # the whole run is bounded by the wait_for below
        assert not task.done()
        task.cancel()

    asyncio.run(asyncio.wait_for(main(), 5))
    assert done == ["open", "open", "pump"]
    assert reports[-1]["replans"] == 2 and reports[-1]["agent"] == "a1"


def test_a_failing_action_is_counted_and_the_pursuer_goes_on() -> None:
    world: dict[str, Any] = {"valve": "shut"}
    calls = []

    async def observe() -> dict[str, Any]:
        return dict(world)

    async def act(action: PursuitAction) -> None:
        calls.append(action.name)
        if len(calls) == 1:
            raise RuntimeError("valve jammed")
        world.update(action.effects)

    async def main() -> Pursuer:
        pursuer = Pursuer(GoalPursuit("open", {"valve": "open"}, [OPEN]), observe=observe,
                          act=act, interval_s=0.001)
        await pursuer.step()
        await pursuer.step()
        await pursuer.step()
        return pursuer

    pursuer = asyncio.run(main())
    report = pursuer.report()
    assert report["status"] == "reached" and report["failures"] == 1
    assert "valve jammed" in (report["last_error"] or "")
