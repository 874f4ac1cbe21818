"""Plans through the Supervisor: dependencies, HTN goals, failures, agent loss, restarts."""

from __future__ import annotations

from typing import Any

import pytest
import ray

from agents.errors import AllocationError, RaymasError
from agents.planning import Domain, TaskGraph, TaskNode, plan_htn
from tests.integration.conftest import agent_actor, specs, wait_until

pytestmark = pytest.mark.integration


def _fan_in(width: int, rounds: int = 2000) -> TaskGraph:
    """src -> width parallel hashes -> a sum of their lengths: results must flow as inputs."""
    nodes = [TaskNode("src", "echo", {"value": 1})]
    nodes += [TaskNode(f"h{i}", "count_primes", {"n": 1000 * (i + 1)}, depends_on=("src",))
              for i in range(width)]
    nodes.append(TaskNode("total", "sum_results", {"values": [0.5]},
                          depends_on=tuple(f"h{i}" for i in range(width))))
    return TaskGraph(nodes)


def _primes_below(n: int) -> int:
    sieve = bytearray([1]) * n
    sieve[:2] = b"\x00\x00"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return sum(sieve)


def test_plan_runs_in_dependency_order_with_results_as_inputs(make_supervisor: Any) -> None:
    sup = make_supervisor()
    [watcher, *_] = (agent_actor(i) for i in sup.spawn(specs("pl", 3, max_tasks=3)))
    ray.get(watcher.subscribe.remote("raymas/events/plans/#"))
    plan_id = sup.submit_plan(_fan_in(8))
    status = sup.wait_plan(plan_id, timeout_s=120)
    assert status["ok"] and status["counts"] == {"done": 10} and status["levels"] == 3
    events: list[Any] = []  # one event per task, on the bus, while it runs
    wait_until(lambda: len(events.__iadd__(ray.get(watcher.receive.remote(100, 0.5)))) >= 10,
               lambda: f"{len(events)} task events of 10")
    assert sorted(e["payload"]["task_id"] for e in events) == sorted(
        f"{plan_id}/{n}" for n in _fan_in(8).nodes)
    assert {e["topic"] for e in events} == {f"raymas/events/plans/{plan_id}"}
    assert {e["payload"]["state"] for e in events} == {"done"}
    results = sup.plan_results(plan_id)
    assert results["total"] == 0.5 + sum(_primes_below(1000 * (i + 1)) for i in range(8))
    history = {n: sup.result(f"{plan_id}/{n}")["finished_at"] for n in ("src", "h0", "total")}
    assert history["src"] <= history["h0"] <= history["total"]
    assert sup.submit_plan(_fan_in(8), plan_id) == plan_id  # idempotent: nothing runs again
    assert sup.plan_status(plan_id)["counts"] == {"done": 10}


def test_htn_goal_becomes_a_parallel_plan(make_supervisor: Any) -> None:
    domain = Domain.from_config({
        "operators": {"fetch": {"kind": "echo"}, "clean": {"kind": "count_primes"},
                      "report": {"kind": "sum_results"}},
        "methods": [
            {"name": "pipeline", "task": "etl", "subtasks": ["shards", "report"]},
            {"name": "fan", "task": "shards", "parallel": True,
             "subtasks": [{"task": "shard", "args": {"n": 5000 + i}} for i in range(6)]},
            {"name": "one", "task": "shard",
             "subtasks": [{"task": "fetch", "args": {"value": "{n}"}},
                          {"task": "clean", "args": {"n": "{n}"}}]},
        ]})
    graph = plan_htn(domain, {}, "etl")
    assert len(graph.nodes) == 13 and len(graph.levels()) == 3
    sup = make_supervisor()
    sup.spawn(specs("htn", 3, max_tasks=2))
    plan_id = sup.submit_plan(graph, goal="etl")
    status = sup.wait_plan(plan_id, timeout_s=120)
    assert status["ok"], status
    report = next(n for n, node in graph.nodes.items() if node.kind == "sum_results")
    expected = sum(_primes_below(5000 + i) for i in range(6))
    assert sup.plan_results(plan_id, [report])[report] == expected


def test_a_failed_node_fails_its_descendants_and_nothing_else(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("pf", 2))
    graph = TaskGraph([
        TaskNode("ok", "echo", {"value": 1}),
        TaskNode("bad", "fail", {"message": "boom"}, retries=1),
        TaskNode("after_bad", "echo", depends_on=("bad",)),
        TaskNode("after_after", "echo", depends_on=("after_bad",)),
        TaskNode("after_ok", "echo", {"value": 2}, depends_on=("ok",)),
    ])
    plan_id = sup.submit_plan(graph)
    status = sup.wait_plan(plan_id, timeout_s=60)
    assert status["finished"] and not status["ok"]
    assert status["counts"] == {"done": 2, "failed": 3}
    bad = sup.result(f"{plan_id}/bad")
    assert bad["attempts"] == 2 and "boom" in bad["error"]
    assert "dependency" in sup.result(f"{plan_id}/after_after")["error"]


@pytest.mark.parametrize(("nodes", "needle"), [
    ([TaskNode("a", "echo", depends_on=("b",)), TaskNode("b", "echo", depends_on=("a",))],
     "cycle"),
    ([TaskNode("a", "echo", depends_on=("ghost",))], "ghost"),
    ([TaskNode("a", "no_such_kind")], "no_such_kind"),
])
def test_bad_plans_are_refused_before_anything_runs(make_supervisor: Any, nodes: list[TaskNode],
                                                    needle: str) -> None:
    sup = make_supervisor()
    with pytest.raises((RaymasError, ray.exceptions.RayTaskError)) as info:
        sup.submit_plan(TaskGraph(nodes))
    assert needle in str(info.value)
    assert sup.status()["tasks"] == {}


def test_tasks_depending_on_unknown_tasks_are_refused(make_supervisor: Any) -> None:
    sup = make_supervisor()
    with pytest.raises(AllocationError, match="unknown task"):
        sup.submit([{"task_id": "x", "kind": "echo", "depends_on": ["nowhere"]}])


def test_plan_survives_losing_an_agent_and_a_supervisor_restart(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("pr", 3, max_tasks=2))
    width = 24
    nodes = [TaskNode(f"w{i}", "sha256_chain", {"rounds": 60_000, "seed": str(i)})
             for i in range(width)]
    nodes += [TaskNode(f"n{i}", "echo", {"value": i}, depends_on=(f"w{i}",))
              for i in range(width)]
    nodes.append(TaskNode("end", "sum_results", depends_on=tuple(f"n{i}" for i in range(width))))
    plan_id = sup.submit_plan(TaskGraph(nodes))
    running: dict[str, Any] = {}

    def someone_busy() -> bool:
        for i in range(width):
            r = sup.result(f"{plan_id}/w{i}")
            if r["state"] == "running" and r["agent_id"]:
                running["agent"] = r["agent_id"]
                return True
        return False

    wait_until(someone_busy, "no plan task ever ran")
    ray.kill(ray.get_actor(f"raymas-agent:{running['agent']}", namespace="raymas-test"),
             no_restart=True)
    wait_until(lambda: sup.plan_status(plan_id)["counts"].get("done", 0) >= 4,
               "no progress after the agent was killed")
    ray.kill(sup.handle, no_restart=False)  # Ray restarts it; it reloads plan and ledger
    status = sup.wait_plan(plan_id, timeout_s=180)
    assert status["ok"], status
    assert sup.plan_results(plan_id, ["end"])["end"] == sum(range(width))


def test_cancelling_a_plan_stops_what_has_not_run(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("pc", 1, max_tasks=1))
    chain = [TaskNode("c0", "sha256_chain", {"rounds": 200_000})]
    chain += [TaskNode(f"c{i}", "sha256_chain", {"rounds": 200_000}, depends_on=(f"c{i - 1}",))
              for i in range(1, 20)]
    plan_id = sup.submit_plan(TaskGraph(chain))
    cancelled = sup.cancel_plan(plan_id)
    status = sup.plan_status(plan_id)
    assert cancelled >= 19 and status["finished"] and not status["ok"]
    assert status["counts"].get("cancelled", 0) == cancelled


def test_a_plan_with_its_domain_is_repaired_around_a_failed_task(make_supervisor: Any) -> None:
    domain_cfg = {
        "operators": {"prep": {"kind": "echo"}, "fast": {"kind": "fail"},
                      "safe": {"kind": "echo"}, "notify": {"kind": "echo"}},
        "methods": [
            {"name": "deliver", "task": "deliver",
             "subtasks": ["ship", {"task": "notify", "args": {"value": "notified"}}]},
            {"name": "quick", "task": "ship",
             "subtasks": [{"task": "prep", "args": {"value": "packed"}}, "fast"]},
            {"name": "careful", "task": "ship",
             "subtasks": [{"task": "prep", "args": {"value": "packed"}},
                          {"task": "safe", "args": {"value": "shipped"}}]},
        ]}
    graph = plan_htn(Domain.from_config(domain_cfg), {}, "deliver")
    kinds = {n: node.kind for n, node in graph.nodes.items()}
    assert sorted(kinds.values()) == ["echo", "echo", "fail"]
    sup = make_supervisor()
    sup.spawn(specs("rp", 2))
    plan_id = sup.submit_plan(graph, domain=domain_cfg, state={})
    sup.wait_plan(plan_id, timeout_s=60)
    status = sup.plan_status(plan_id, detail=True)
    assert status["ok"], status
    assert sorted(status["nodes"]) != sorted(graph.nodes)  # the failed node was replaced
    results = sup.plan_results(plan_id)
    assert sorted(results.values()) == ["notified", "packed", "shipped"]
    prep = next(n for n, k in kinds.items() if k == "echo" and n.startswith("prep"))
    assert [s for s, _, _ in sup.history(f"{plan_id}/{prep}")].count("done") == 1
    failed = next(n for n, k in kinds.items() if k == "fail")
    assert sup.result(f"{plan_id}/{failed}")["state"] == "failed"


def test_an_observation_replans_what_no_longer_holds(make_supervisor: Any) -> None:
    domain_cfg = {
        "operators": {"pack": {"kind": "sha256_chain"},
                      "truck": {"kind": "echo", "precondition": {"road_open": True}},
                      "plane": {"kind": "echo"}},
        "methods": [
            {"name": "road", "task": "ship", "precondition": {"road_open": True},
             "subtasks": [{"task": "pack", "args": {"rounds": 3_000_000}},
                          {"task": "truck", "args": {"value": "by road"}}]},
            {"name": "air", "task": "ship",
             "subtasks": [{"task": "pack", "args": {"rounds": 3_000_000}},
                          {"task": "plane", "args": {"value": "by air"}}]},
        ]}
    graph = plan_htn(Domain.from_config(domain_cfg), {"road_open": True}, "ship")
    assert sorted(n.split("#")[0] for n in graph.nodes) == ["pack", "truck"]
    sup = make_supervisor()
    sup.spawn(specs("ob", 1, max_tasks=1))
    plan_id = sup.submit_plan(graph, domain=domain_cfg, state={"road_open": True})
    change = sup.observe_plan(plan_id, {"road_open": False})  # while pack still runs
    assert [n.split("#")[0] for n in change["removed"]] == ["truck"]
    assert [n.split("#")[0] for n in change["added"]] == ["plane"]
    sup.wait_plan(plan_id, timeout_s=120)
    status = sup.plan_status(plan_id, detail=True)
    assert status["ok"], status
    assert sorted(v for v in sup.plan_results(plan_id).values() if isinstance(v, str)
                  and v.startswith("by")) == ["by air"]
    with pytest.raises(AllocationError, match="domain"):
        sup.observe_plan(sup.submit_plan(TaskGraph([TaskNode("x", "noop")])), {"a": 1})
