"""The task-graph executor on a real Ray: results, retries, crashes, timeouts, cancel, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from agents.errors import TaskFailedError
from agents.execution.report import NodeState
from agents.execution.run import PlanRun, TaskTimeoutError, run_graph, run_graph_async, start_graph
from agents.planning import PlanError, Resources, TaskGraph, TaskNode
from tests.integration.conftest import wait_until
from tests.integration.executor_kinds import K

pytestmark = pytest.mark.integration


def layered_sums(layers: int, width: int, seed: int) -> TaskGraph:
    """``sum_results`` nodes, each adding its own value to 1-3 nodes of the layer before."""
    rng = np.random.default_rng(seed)
    nodes = []
    for k in range(layers):
        for j in range(width):
            deps: tuple[str, ...] = ()
            if k:
                picks = rng.choice(width, size=int(rng.integers(1, 4)), replace=False)
                deps = tuple(f"L{k - 1}.{int(p)}" for p in picks)
            nodes.append(TaskNode(f"L{k}.{j}", "sum_results", {"values": [k * width + j]}, deps))
    return TaskGraph(nodes)


def evaluate(graph: TaskGraph) -> dict[str, float]:
    """The same graph evaluated in plain Python."""
    out: dict[str, float] = {}
    for nid in graph.topological_order():
        node = graph[nid]
        out[nid] = float(sum(node.args["values"]) + sum(out[d] for d in node.depends_on))
    return out


def test_a_thousand_task_dag_gives_the_pure_python_results(ray_cluster: Any) -> None:
    graph = layered_sums(20, 50, seed=7)
    calls: list[tuple[int, int, int, list[str]]] = []
    run = run_graph(graph, fetch="all", interval_s=0.05,
                    on_progress=lambda *args: calls.append(args))
    assert len(graph) == 1000
    assert dict(run.results) == evaluate(graph)
    report = run.report()
    assert report.ok and report.counts()["done"] == 1000
    assert len(report.levels) == 20 and report.wall_s is not None
    assert {n.attempts for n in report} == {1}
    assert len(run.refs) == 1000 and all(isinstance(r, ray.ObjectRef) for r in run.refs.values())
    # progress: monotone, every node reported once, the last call says all done
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert calls[-1][:3] == (1000, 0, 1000)
    finished = [nid for c in calls for nid in c[3]]
    assert sorted(finished) == sorted(graph)


def test_only_the_sinks_are_fetched_by_default(ray_cluster: Any) -> None:
    graph = layered_sums(3, 4, seed=1)
    run = run_graph(graph)
    sinks = {n for n in graph if not graph.dependents(n)}
    expected = evaluate(graph)
    assert set(run.results) == sinks
    assert run.result("L0.2") == expected["L0.2"]  # any other result on request


def test_a_killed_worker_is_retried_and_the_plan_completes(ray_cluster: Any,
                                                          tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    graph = TaskGraph([
        TaskNode("a", "echo", {"value": 1}),
        TaskNode("c", K + "crash_once", {"marker": str(marker), "value": 10}, ("a",),
                 retries=1),
        TaskNode("d", "sum_results", {"values": [100]}, ("c",)),
    ])
    run = run_graph(graph)
    assert run.results == {"d": 111.0}
    assert marker.exists()  # the first attempt really died
    assert run.report().ok


def test_a_worker_killed_without_retries_fails_the_node(ray_cluster: Any,
                                                        tmp_path: Path) -> None:
    graph = TaskGraph([
        TaskNode("c", K + "crash_once", {"marker": str(tmp_path / "crashed")}),
        TaskNode("d", K + "record", {"log_dir": str(tmp_path), "name": "d"}, ("c",)),
    ])
    report = run_graph(graph).report()
    assert report["c"].state is NodeState.FAILED
    assert "WorkerCrashedError" in (report["c"].error or "")
    assert report["d"].state is NodeState.SKIPPED
    assert report["d"].error == "skipped: dependency 'c' failed"
    assert not (tmp_path / "d").exists()


def test_application_errors_are_retried_with_backoff(ray_cluster: Any, tmp_path: Path) -> None:
    ok, bad = tmp_path / "ok.log", tmp_path / "bad.log"
    graph = TaskGraph([
        TaskNode("flaky", K + "fail_times", {"counter": str(ok), "times": 2, "value": 3},
                 retries=3),
        TaskNode("broken", K + "fail_times", {"counter": str(bad), "times": 9}, retries=2),
    ])
    run = run_graph(graph, backoff_s=0.05, fetch="none")
    report = run.report()
    assert run.result("flaky") == 3
    assert report["flaky"].state is NodeState.DONE and report["flaky"].attempts == 3
    stamps = [float(x) for x in ok.read_text().split()]
    gaps = np.diff(stamps)
    assert gaps[0] >= 0.05 * 0.9 and gaps[1] >= 0.1 * 0.9  # exponential back-off
    assert report["broken"].state is NodeState.FAILED and report["broken"].attempts == 3
    assert report["broken"].error == ("task 'broken' failed: ConnectionError: attempt 3 refused "
                                      "(on each of 3 attempts)")
    assert len(bad.read_text().split()) == 3
    with pytest.raises(TaskFailedError, match="broken"):
        run.result("broken")
    with pytest.raises(TaskFailedError, match="broken"):
        run.check()


def test_a_timeout_stops_the_task_and_names_the_node(ray_cluster: Any) -> None:
    graph = TaskGraph([TaskNode("stuck", K + "slow", {"seconds": 120}, timeout_s=0.3,
                                retries=1),
                       TaskNode("after", "echo", {"value": 1}, ("stuck",))])
    run = start_graph(graph, backoff_s=0.01)
    assert run.wait(timeout_s=60)  # long before the task's 120 s
    report = run.report()
    assert report["stuck"].state is NodeState.FAILED and report["stuck"].attempts == 2
    assert report["stuck"].error == "task 'stuck' timed out after 0.3s on each of 2 attempts"
    assert report["after"].error == "skipped: dependency 'stuck' failed"
    with pytest.raises(TaskTimeoutError, match="stuck"):
        run.result("stuck")


@pytest.mark.parametrize(("nodes", "reason", "named"), [
    ([TaskNode("a", "echo", depends_on=("c",)), TaskNode("b", "echo", depends_on=("a",)),
      TaskNode("c", "echo", depends_on=("b",))], "cycle", ("a", "b", "c")),
    ([TaskNode("a", "echo", depends_on=("ghost",))], "missing_input", ("a",)),
    ([TaskNode("a", "echoo")], "unknown_kind", ("echoo",)),
    ([TaskNode("a", "echo", resources=Resources(num_gpus=3))], "invalid", ("a",)),
])
def test_invalid_graphs_are_rejected_before_anything_runs(
        ray_cluster: Any, tmp_path: Path, nodes: list[TaskNode], reason: str,
        named: tuple[str, ...]) -> None:
    ran = TaskNode("ran", K + "record", {"log_dir": str(tmp_path), "name": "ran"})
    with pytest.raises(PlanError) as info:
        run_graph(TaskGraph([ran, *nodes]))
    assert info.value.reason == reason and set(named) <= set(info.value.nodes)
    assert not (tmp_path / "ran").exists()


def test_cancelling_a_long_plan_leaves_nothing_running(ray_cluster: Any,
                                                      tmp_path: Path) -> None:
    started = tmp_path / "started"
    free_before = ray.available_resources().get("CPU", 0)
    heads = [TaskNode(f"long{i}", K + "slow", {"seconds": 300, "started": str(started)})
             for i in range(3)]
    tail = [TaskNode(f"next{i}", "echo", depends_on=(f"long{i % 3}",)) for i in range(30)]
    run = start_graph(TaskGraph([*heads, *tail]))
    wait_until(lambda: started.exists() and len(list(started.iterdir())) == 3,
               "the long tasks did not start")
    run.cancel()
    assert run.wait(timeout_s=60)
    report = run.report()
    assert report.counts()["cancelled"] == 33
    assert report["long0"].error == "cancelled"
    assert report["next0"].error == "cancelled: dependency 'long0' was cancelled"
    wait_until(lambda: ray.available_resources().get("CPU", 0) >= free_before,
               lambda: f"CPUs still held: {ray.available_resources()}")
    with pytest.raises(TaskFailedError, match="cancelled"):
        run.result("next5")


def test_an_error_in_on_progress_cancels_the_plan(ray_cluster: Any) -> None:
    graph = TaskGraph([TaskNode("quick", "echo", {"value": 1}),
                       TaskNode("long", K + "slow", {"seconds": 300})])
    run = start_graph(graph)

    def broken_bar(*_: Any) -> None:
        raise RuntimeError("the progress bar broke")

    with pytest.raises(RuntimeError, match="progress bar"):
        run.wait(on_progress=broken_bar, interval_s=0.05)
    assert run.wait(timeout_s=60)
    assert run.report()["long"].state is NodeState.CANCELLED


def test_resume_runs_only_the_remaining_nodes(ray_cluster: Any, tmp_path: Path) -> None:
    def rec(nid: str, value: int, deps: tuple[str, ...] = ()) -> TaskNode:
        return TaskNode(nid, K + "record", {"log_dir": str(tmp_path), "name": nid,
                                            "value": value}, deps)

    graph = TaskGraph([rec("a", 1), rec("b", 2, ("a",)), rec("c", 3, ("a",)),
                       rec("d", 4, ("b", "c"))])
    run = run_graph(graph, done={"a": 100, "b": 1000, "elsewhere": 5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "d"]
    assert run.results == {"d": 4 + 1000 + (3 + 100)}
    report = run.report()
    assert report.ok and report["a"].given and report["b"].given and not report["c"].given
    assert run.result("a") == 100


def test_dependents_of_a_failed_node_are_skipped_and_never_run(ray_cluster: Any,
                                                               tmp_path: Path) -> None:
    def rec(nid: str, deps: tuple[str, ...]) -> TaskNode:
        return TaskNode(nid, K + "record", {"log_dir": str(tmp_path), "name": nid}, deps)

    graph = TaskGraph([TaskNode("a", "fail", {"message": "disk full"}), rec("b", ("a",)),
                       rec("c", ("b",)), rec("x", ()), rec("d", ("x", "c"))])
    run = run_graph(graph)
    report = run.report()
    assert report["a"].state is NodeState.FAILED
    assert report["a"].error == "task 'a' failed: InjectedFailure: disk full"
    for nid in "bcd":
        assert report[nid].state is NodeState.SKIPPED
        assert report[nid].error == "skipped: dependency 'a' failed"
    assert report["x"].state is NodeState.DONE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    assert report.counts() == {"pending": 0, "done": 1, "failed": 1, "skipped": 3,
                               "cancelled": 0}


def test_node_resources_reach_ray(ray_cluster: Any) -> None:
    graph = TaskGraph([TaskNode("gpu", K + "gpu_ids", resources=Resources(num_gpus=1)),
                       TaskNode("cpu", K + "gpu_ids", resources=Resources(num_cpus=0.5))])
    run = run_graph(graph)
    assert len(run.results["gpu"]) == 1 and run.results["cpu"] == []


@ray.remote
class _AsyncUser:
    """An async actor that runs a plan without blocking its event loop."""

    async def run(self, graph_data: dict[str, Any]) -> tuple[Any, int, bool]:
        seen: list[int] = []
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        run = await run_graph_async(TaskGraph.from_dict(graph_data), interval_s=0.05,
                                    on_progress=lambda d, f, n, ids: seen.append(d))
        ticker.cancel()
        return dict(run.results), ticks, bool(seen) and seen[-1] == len(graph_data["nodes"])


def test_run_graph_async_inside_an_async_actor(ray_cluster: Any) -> None:
    graph = TaskGraph([TaskNode("slow", K + "slow", {"seconds": 0.5, "value": 2}),
                       TaskNode("sum", "sum_results", {"values": [1]}, ("slow",))])
    user = _AsyncUser.remote()  # type: ignore[attr-defined]
    results, ticks, progressed = ray.get(user.run.remote(graph.to_dict()))
    assert results == {"sum": 3.0} and progressed
    assert ticks > 5  # the loop kept running while the plan did
    ray.kill(user)


def test_cancelling_the_awaiting_task_cancels_the_plan(ray_cluster: Any,
                                                       tmp_path: Path) -> None:
    started = tmp_path / "started"
    graph = TaskGraph([TaskNode("long", K + "slow", {"seconds": 300, "started": str(started)})])
    free_before = ray.available_resources().get("CPU", 0)

    async def main() -> None:
        task = asyncio.ensure_future(run_graph_async(graph))
        while not started.exists():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    wait_until(lambda: ray.available_resources().get("CPU", 0) >= free_before,
               lambda: f"CPUs still held: {ray.available_resources()}")


def test_a_plan_run_is_submitted_once(ray_cluster: Any) -> None:
    run = PlanRun(TaskGraph([TaskNode("a", "noop")]))
    with pytest.raises(PlanError, match="submit"):
        run.wait()
    run.submit()
    with pytest.raises(PlanError, match="submitted already"):
        run.submit()
    assert run.wait() and run.report().ok


SHIP = {
    "operators": {"prep": {"kind": "echo"}, "fast": {"kind": "fail"},
                  "safe": {"kind": "echo"}},
    "methods": [
        {"name": "quick", "task": "ship", "subtasks": [
            {"task": "prep", "args": {"value": "packed"}}, "fast"]},
        {"name": "careful", "task": "ship", "subtasks": [
            {"task": "prep", "args": {"value": "packed"}},
            {"task": "safe", "args": {"value": "shipped"}}]},
    ]}


@pytest.mark.parametrize("attached", [False, True], ids=["domain given", "domain attached"])
def test_a_failed_node_is_replanned_around_and_done_nodes_are_not_rerun(
        ray_cluster: Any, attached: bool) -> None:
    """Given the domain, or carrying it as a plan for the Supervisor does (the same repair)."""
    from agents.execution.repair import run_with_repair
    from agents.planning import Domain, plan_htn
    from agents.planning.repair import attach_repair

    domain = Domain.from_config(SHIP)
    graph = plan_htn(domain, {}, "ship")
    assert [n.kind for n in graph.nodes.values()] == ["echo", "fail"]
    outcome = (run_with_repair(attach_repair(graph, SHIP, {})) if attached
               else run_with_repair(graph, domain, state={}))
    report = outcome.run.report()
    assert report.ok and len(outcome.repairs) == 1
    fix = outcome.repairs[0]
    assert [graph.nodes[r].kind for r in fix.removed] == ["fail"]
    [added] = fix.added
    assert outcome.run.result(added) == "shipped"
    prep = next(n for n in graph.nodes if graph.nodes[n].kind == "echo")
    assert report[prep].given  # done before the failure: handed on, not run again
