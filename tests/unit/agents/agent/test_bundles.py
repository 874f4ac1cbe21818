"""An agent's part in the bundle algorithm, with peers in-process (no Ray)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import agents
from agents.agent import Agent
from agents.agent.bundles import DEAD, Member
from agents.agent.costs import TaskInfo
from agents.protocols.cbba import CbbaAgent, run_cbba
from agents.specs import AgentSpec

POINTS = {f"t{i}": (float(i), float(i % 2) * 4) for i in range(8)}
BASES = {"a": (0.0, 0.0), "b": (8.0, 0.0), "c": (4.0, 6.0)}


@agents.cost("test-bundle-travel")
def travel(state: Any, task: TaskInfo) -> float:
    return math.dist(state["position"], task.attributes["location"])


@agents.cost("test-bundle-route")
def route(state: Any, task: TaskInfo, bundle: Any) -> float:
    here = bundle[-1].attributes["location"] if bundle else state["position"]
    return math.dist(here, task.attributes["location"])


def cfp(points: dict[str, tuple[float, float]]) -> dict[str, Any]:
    return {"task_ids": list(points), "kinds": ["noop"] * len(points),
            "capabilities": [["execution"]] * len(points),
            "attributes": [{"location": list(p)} for p in points.values()],
            "submitted_at": [0.0] * len(points)}


def member(name: str, capacity: int = 3, cost: str = "test-bundle-route",
           bases: dict[str, tuple[float, float]] = BASES,
           points: dict[str, tuple[float, float]] = POINTS) -> Member:
    a = Agent(AgentSpec(name, cost=cost, state={"position": list(bases[name])}))
    a.start()
    return Member(a, "c1", cfp(points), peers=[p for p in bases if p != name],
                  capacity=capacity)


def pure() -> dict[str, str]:
    def extra(agent: str) -> Any:
        def f(path: Any, task: str) -> tuple[float, int]:
            here = POINTS[path[-1]] if path else BASES[agent]
            return math.dist(here, POINTS[task]), len(path)
        return f

    return run_cbba({a: CbbaAgent(a, list(POINTS), 3, extra(a)) for a in BASES},
                    {a: [b for b in BASES if b != a] for a in BASES}).assignment


def test_members_gossiping_in_process_agree_with_the_pure_algorithm() -> None:
    members = {n: member(n) for n in BASES}

    async def go() -> list[dict[str, Any]]:
        async def exchange_from(peer: str, message: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(0)  # peers answer between each other's rounds
            return members[peer].answer(message)

        return list(await asyncio.gather(*(m.run(exchange_from) for m in members.values())))

    outcomes = asyncio.run(go())
    assert all(o["converged"] for o in outcomes)
    won = {t: o["agent_id"] for o in outcomes for t in o["bundle"]}
    assert won == pure() and len(won) == len(POINTS)
    assert all(o["assignment"] == won for o in outcomes)        # everyone agrees
    assert all(sorted(o["bids"]) == sorted(o["bundle"]) for o in outcomes)


def test_a_peer_that_dies_is_forgotten_and_its_tasks_are_won_by_the_others() -> None:
    members = {n: member(n) for n in BASES}
    calls = {"c": 0}

    async def go() -> list[dict[str, Any]]:
        async def exchange(peer: str, message: dict[str, Any]) -> dict[str, Any] | str:
            await asyncio.sleep(0)
            if peer == "c":
                calls["c"] += 1
                if calls["c"] > 2:   # c answered twice, then its actor died
                    return DEAD
            return members[peer].answer(message)

        return list(await asyncio.gather(members["a"].run(exchange),
                                         members["b"].run(exchange)))

    a, b = asyncio.run(go())
    assert a["converged"] and b["converged"] and "c" in a["gone"] + b["gone"]
    assert a["assignment"] == b["assignment"]
    won = {t: o["agent_id"] for o in (a, b) for t in o["bundle"]}
    assert set(won.values()) <= {"a", "b"} and len(won) == 6     # 3 slots each


def test_a_peer_not_there_yet_is_waited_for() -> None:
    m = member("a", capacity=8)
    m.peers = ["late"]
    asked: list[int] = []

    async def exchange(peer: str, message: dict[str, Any]) -> dict[str, Any] | None:
        asked.append(1)
        return None if len(asked) < 4 else {"cbba": {
            "sender": "late", "winners": message["cbba"]["winners"], "stamps": {"late": 1.0}},
            "capacities": {"late": 0}}

    out = asyncio.run(m.run(exchange))
    assert out["converged"] and len(asked) >= 5 and len(out["bundle"]) == len(POINTS)


def test_members_whose_costs_add_up_all_reach_the_same_exchanged_allocation() -> None:
    """a-t1 1, a-t2 2, b-t1 2, b-t2 5: the bundle algorithm agrees on a-t1, b-t2 (6);
    every member then computes the same swap to a-t2, b-t1 (4)."""
    bases = {"a": (0.0, 0.0), "b": (3.0, 0.0)}
    points = {"t1": (1.0, 0.0), "t2": (-2.0, 0.0)}
    members = {n: member(n, 1, "test-bundle-travel", bases, points) for n in bases}

    async def go() -> list[dict[str, Any]]:
        async def exchange(peer: str, message: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(0)
            return members[peer].answer(message)

        return list(await asyncio.gather(*(m.run(exchange) for m in members.values())))

    a, b = asyncio.run(go())
    assert a["assignment"] == b["assignment"] == {"t1": "b", "t2": "a"}
    assert (a["bundle"], b["bundle"]) == (["t2"], ["t1"]) and a["exchanged"] == 1
    assert (a["bids"], b["bids"]) == ({"t2": 2.0}, {"t1": 2.0})


def test_a_peer_that_never_answers_is_left_out_of_the_round() -> None:
    """Stopped (SIGSTOP), cut off, or busy past the round: the others go on without it."""
    members = {n: member(n) for n in ("a", "b")}
    for m in members.values():
        m.peers = sorted({"a", "b", "c"} - {m.agent.agent_id})

    async def go() -> list[dict[str, Any]]:
        async def exchange(peer: str, message: dict[str, Any]) -> dict[str, Any] | None:
            await asyncio.sleep(0)
            return None if peer == "c" else members[peer].answer(message)

        return list(await asyncio.gather(*(m.run(exchange, give_up_s=0.2)
                                           for m in members.values())))

    a, b = asyncio.run(go())
    assert a["converged"] and b["converged"] and a["gone"] == b["gone"] == ["c"]
    won = {t: o["agent_id"] for o in (a, b) for t in o["bundle"]}
    assert a["assignment"] == b["assignment"] == won and len(won) == 6
