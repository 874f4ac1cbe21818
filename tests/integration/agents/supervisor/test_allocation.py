"""Allocation on agents' own costs, on a real Ray: whole-round strategies, re-bids,
the bundle algorithm among the agents, deadlines, and state that moves with the work."""

from __future__ import annotations

import math
import os
import signal
from typing import Any

import pytest
import ray

from agents import TaskAllocation
from agents.protocols.cbba import CbbaAgent, run_cbba
from agents.protocols.ssi import ssi
from tests.integration.conftest import specs, wait_until
from tests.integration.cost_functions import C

pytestmark = pytest.mark.integration


def robots(positions: dict[str, tuple[float, float]], cost: str, max_tasks: int
           ) -> list[dict[str, Any]]:
    return [{**spec, "agent_id": name, "cost": C + cost, "max_tasks": max_tasks,
             "state": {"position": list(at)}}
            for spec, (name, at) in zip(specs("r", len(positions)), positions.items(),
                                        strict=True)]


def deliveries(points: dict[str, tuple[float, float]], prefix: str, **attributes: Any
               ) -> list[TaskAllocation]:
    return [TaskAllocation(task_id=f"{prefix}-{name}", kind=C + "deliver",
                           args={"to": list(at)},
                           attributes={"location": list(at), **attributes})
            for name, at in points.items()]


def winners(sup: Any, ids: list[str]) -> dict[str, str]:
    res = sup.wait(ids, timeout_s=60)
    assert all(r["state"] == "done" for r in res.values()), res
    return {t.split("-", 1)[1]: r["agent_id"] for t, r in res.items()}


# a pair of robots where the cheapest pair first is not the cheapest whole:
# a-t1 1, a-t2 2, b-t1 2, b-t2 5 -> greedy 1 + 5, optimal 2 + 2
ROBOTS = {"a": (0.0, 0.0), "b": (3.0, 0.0)}
POINTS = {"t1": (1.0, 0.0), "t2": (-2.0, 0.0)}


@pytest.mark.parametrize(("strategy", "expected"), [
    ("optimal", {"t1": "b", "t2": "a"}),
    ("contract_net", {"t1": "a", "t2": "b"}),
    ("ssi", {"t1": "b", "t2": "a"}),   # auctions, then a swap: the bids add up
    ("cbba", {"t1": "b", "t2": "a"}),  # the agents agree, then all compute the same swap
    # the committee votes the cheapest: t2 waits for a (3 from where it delivered t1, b 5)
    ("consensus", {"t1": "a", "t2": "a"}),
])
def test_each_strategy_allocates_on_the_agents_own_costs(
        make_supervisor: Any, strategy: str, expected: dict[str, str]) -> None:
    sup = make_supervisor(strategy=strategy)
    sup.spawn(robots(ROBOTS, "travel", max_tasks=1))
    assert winners(sup, sup.submit(deliveries(POINTS, strategy))) == expected


def test_sequential_auctions_ask_the_winner_again_given_its_route(make_supervisor: Any
                                                                  ) -> None:
    """With re-bids the route from b goes on through t2 and t1; bids from the bases alone
    (no re-bids) would give t1 to a."""
    bases = {"a": (5.0, 10.0), "b": (1.0, 9.0)}
    points = {"t0": (3.0, 4.0), "t1": (8.0, 4.0), "t2": (5.0, 0.0), "t3": (8.0, 5.0)}

    def extra(agent: str, held: Any, task: str) -> float:
        return math.dist(points[held[-1]] if held else bases[agent], points[task])

    def from_base(agent: str, held: Any, task: str) -> float:
        return math.dist(bases[agent], points[task])

    expected = ssi(list(points), {"a": 3, "b": 3}, extra)
    assert expected != ssi(list(points), {"a": 3, "b": 3}, from_base)
    sup = make_supervisor(strategy="ssi")
    sup.spawn(robots(bases, "route", max_tasks=3))
    assert winners(sup, sup.submit(deliveries(points, "ssi"))) == expected


def test_the_agents_agree_among_themselves_with_the_bundle_algorithm(make_supervisor: Any
                                                                     ) -> None:
    bases = {"a": (0.0, 0.0), "b": (10.0, 0.0), "c": (5.0, 8.0)}
    points = {f"t{i}": (float(i), float(i % 3) * 3) for i in range(9)}

    def marginal(agent: str) -> Any:
        def extra(path: Any, task: str) -> tuple[float, int]:
            here = points[path[-1]] if path else bases[agent]
            return math.dist(here, points[task]), len(path)
        return extra

    pure = run_cbba({a: CbbaAgent(a, list(points), 3, marginal(a)) for a in bases},
                    {a: [b for b in bases if b != a] for a in bases})
    assert pure.converged
    sup = make_supervisor(strategy="cbba")
    sup.spawn(robots(bases, "route", max_tasks=3))
    assert winners(sup, sup.submit(deliveries(points, "cbba"))) == pure.assignment


def test_a_task_nobody_can_finish_in_time_fails_saying_why(make_supervisor: Any) -> None:
    sup = make_supervisor(strategy="optimal")
    sup.spawn(robots(ROBOTS, "travel", max_tasks=2))
    far = deliveries({"far": (500.0, 0.0)}, "late", deadline_s=2)     # 50 s away
    near = deliveries({"near": (2.0, 0.0)}, "ok", deadline_s=30)
    lift = deliveries({"lift": (1.0, 0.0)}, "skill", skill="lift", deadline_s=3)
    res = sup.wait(sup.submit(far + near + lift), timeout_s=60)
    assert res["late-far"]["state"] == "failed"
    assert "deadline passed before any agent could take it" in res["late-far"]["error"]
    assert "refused: cannot finish by its deadline" in res["late-far"]["error"]
    assert res["ok-near"]["state"] == "done" and res["ok-near"]["lateness_s"] < 0
    assert res["skill-lift"]["state"] == "failed"
    assert "refused by its cost function" in res["skill-lift"]["error"]


def test_a_robot_that_moved_bids_from_where_it_is_now(make_supervisor: Any) -> None:
    sup = make_supervisor(strategy="contract_net")
    sup.spawn(robots({"a": (0.0, 0.0), "b": (14.0, 0.0)}, "travel", max_tasks=1))
    assert winners(sup, sup.submit(deliveries({"t1": (5.0, 0.0)}, "m1"))) == {"t1": "a"}
    # a is at 5 now: 3 from t2, b is 6 from it (from its base a would be 8)
    assert winners(sup, sup.submit(deliveries({"t2": (8.0, 0.0)}, "m2"))) == {"t2": "a"}


def test_agents_allocate_among_themselves_while_the_supervisor_is_gone(
        make_supervisor: Any, tmp_path: Any) -> None:
    """The reason to have the bundle algorithm: with the Supervisor killed, one agent
    starts a round with its peers, they agree and run what they won; the Supervisor
    started again is told, and holds it on its record."""
    sup = make_supervisor()
    settings = ray.get(sup.handle.settings.remote())
    sup.spawn(robots({"a": (0.0, 0.0), "b": (3.0, 0.0), "c": (50.0, 50.0)}, "travel",
                     max_tasks=2))
    ray.kill(sup.handle, no_restart=True)
    a = ray.get_actor("raymas-agent:a", namespace="raymas-test")
    tasks = [t.to_dict() for t in deliveries({**POINTS, "t3": (49.0, 50.0)}, "peers")]
    tasks.append(TaskAllocation("peers-weld", kind=C + "deliver", args={"to": [0, 0]},
                                required_capabilities=["welding"]).to_dict())
    out = ray.get(a.allocate_with_peers.remote(tasks, ["b", "c"]))
    assert out["converged"] and not out["recorded"]
    assert out["assignment"] == {"peers-t1": "a", "peers-t2": "a", "peers-t3": "c"}
    assert all(r["ok"] for r in out["results"].values()) and out["unassigned"] == ["peers-weld"]
    back = make_supervisor(**{k: settings[k] for k in ("name", "bus_name", "ledger_url")})
    wait_until(lambda: back.status()["tasks"].get("done") == 3, lambda: str(back.status()))
    res = back.wait(["peers-t1", "peers-t2", "peers-t3"], timeout_s=30)
    assert {t: r["agent_id"] for t, r in res.items()} == out["assignment"]
    weld = ray.get(back.handle.result.remote("peers-weld"))      # queued here: never dropped
    assert weld["state"] in ("submitted", "announced") and "no live agent has ['welding']" in (
        weld["unplaced"] or "")


def test_a_bundle_round_under_load_goes_on_without_a_paused_agent_and_a_killed_one(
        make_supervisor: Any) -> None:
    """Every agent busy with a CPU-bound task; one paused with SIGSTOP for the whole round is
    left out of it by its peers, not taken for dead; one killed mid-round is forgotten and
    found dead.  Every delivery is done, once, by the others."""
    sup = make_supervisor(strategy="cbba", cbba_timeout_s=8.0, heartbeat_timeout_s=30.0)
    bases = {"a": (0.0, 0.0), "b": (10.0, 0.0), "c": (0.0, 10.0), "d": (10.0, 10.0),
             "e": (5.0, 5.0)}
    infos = {i["agent_id"]: i for i in sup.spawn(robots(bases, "travel", max_tasks=3))}
    busy = sup.submit([TaskAllocation(f"busy-{n}", kind="sha256_chain", strategy="least_loaded",
                                      args={"rounds": 2_000_000, "seed": n}) for n in bases])
    wait_until(lambda: sum(a["load"] for a in sup.list_agents()) == len(bases),
               "the CPU-bound tasks did not start")
    os.kill(infos["d"]["pid"], signal.SIGSTOP)
    try:
        points = {f"p{i}": (float(i), float(10 - i)) for i in range(8)}
        ids = sup.submit(deliveries(points, "load"))
        wait_until(lambda: "announced" in [s for s, _, _ in sup.history(ids[0])],
                   "the bundle round did not start")
        ray.kill(ray.get_actor("raymas-agent:e", namespace="raymas-test"))
        res = sup.wait(ids, timeout_s=120)
        assert all(r["state"] == "done" for r in res.values()), res
        assert {r["agent_id"] for r in res.values()} <= {"a", "b", "c"}
    finally:
        os.kill(infos["d"]["pid"], signal.SIGCONT)
    assert all(r["state"] == "done" for r in sup.wait(busy, timeout_s=120).values()
               if r["agent_id"] != "e")
    agents = {a["agent_id"]: a for a in sup.list_agents()}
    assert agents["d"]["alive"] and not agents["e"]["alive"]
    stats = sup.status()["stats"]
    assert stats["deaths"] == 1 and stats["duplicate_results"] == 0
