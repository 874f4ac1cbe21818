"""The main job: ``raymas run`` — agents up, goals allocated and executed, a report.

The runner only wires things together: config → Ray → Supervisor → agents →
bridges → goal tasks → wait with a progress bar → summary and JSON report.

Bridges (``messaging.bridges``) start once the Supervisor's bus exists and must
reach their brokers before any goal is submitted, so a deployment whose broker
is unreachable stops at the start, naming the bridge, instead of running
with messages piling up.  They stop with the run unless ``keep``.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.agent.kinds import resolvable, resolve_task
from agents.errors import ConfigError, UnknownTaskKindError
from agents.planning import PlanError, TaskGraph
from cluster.config import RaymasConfig

__all__ = ["bridge_health", "build_report", "check_task_kinds", "plan_report", "run",
           "run_scenario", "start_bridges", "stop_bridges"]

#: goals with at most this many tasks carry their results in the report
_RESULTS_UP_TO = 12
#: how often a starting bridge's health is asked for
_POLL_S = 0.1


def check_task_kinds(cfg: RaymasConfig) -> None:
    """Import ``tasks.modules`` and make sure every goal's task kind resolves."""
    problems = []
    for i, module in enumerate(cfg.tasks.modules):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append((f"tasks.modules[{i}]", f"cannot import {module!r}: {exc}"))
    for gi, goal in enumerate(cfg.goals):
        for ti, group in enumerate(goal.tasks):
            try:
                resolve_task(group.kind)
            except UnknownTaskKindError as exc:
                problems.append((f"goals[{gi}].tasks[{ti}].kind", str(exc)))
        if goal.plan is not None:
            try:
                graph = goal.plan.graph()
                graph.validate(known_kinds=resolvable(n.kind for n in graph.nodes.values()))
            except PlanError as exc:
                problems.append((f"goals[{gi}].plan", str(exc)))
    if problems:
        raise ConfigError("config", problems)


def plan_report(graph: TaskGraph, results: dict[str, dict[str, Any]], goal: str,
                planning_s: float) -> dict[str, Any]:
    """A plan goal's shape and timing: nodes, levels, time per level, parallelism."""
    levels = graph.levels()
    per_level = []
    for level in levels:
        rs = [results.get(f"{goal}/{n}", {}) for n in level]
        starts = [r["awarded_at"] for r in rs if r.get("awarded_at")]
        ends = [r["finished_at"] for r in rs if r.get("finished_at")]
        per_level.append({"tasks": len(level),
                          "seconds": round(max(ends) - min(starts), 3)
                          if starts and ends else None})
    busy = sum(r["finished_at"] - r["awarded_at"] for t, r in results.items()
               if t.startswith(f"{goal}/") and r.get("finished_at") and r.get("awarded_at"))
    ends = [r["finished_at"] for t, r in results.items()
            if t.startswith(f"{goal}/") and r.get("finished_at")]
    starts = [r["submitted_at"] for t, r in results.items()
              if t.startswith(f"{goal}/") and r.get("submitted_at")]
    wall = max(ends) - min(starts) if ends and starts else None
    return {"nodes": len(graph.nodes), "levels": len(levels), "planning_ms":
            round(planning_s * 1000, 3), "per_level": per_level,
            "task_seconds": round(busy, 3),
            "parallelism": round(busy / wall, 2) if wall else None,
            "edges": sum(len(n.depends_on) for n in graph.nodes.values())}


def build_report(cfg: RaymasConfig, results: dict[str, dict[str, Any]],
                 timings: dict[str, float], agents: list[dict[str, Any]],
                 status: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: per goal, per agent, failures, timings and Supervisor stats."""
    goals = []
    for goal in cfg.goals:
        mine = [r for t, r in results.items() if t.startswith(f"{goal.name}/")]
        starts = [r["submitted_at"] for r in mine if r.get("submitted_at")]
        ends = [r["finished_at"] for r in mine if r.get("finished_at")]
        goals.append({
            "goal": goal.name, "tasks": len(mine),
            "done": sum(r["state"] == "done" for r in mine),
            "failed": sum(r["state"] == "failed" for r in mine),
            "seconds": round(max(ends) - min(starts), 3) if starts and ends else None,
        })
        if len(mine) <= _RESULTS_UP_TO:  # small goals (a learning run, a pipeline) show results
            goals[-1]["results"] = {t.split("/", 1)[1]: r["value"] for t, r in results.items()
                                    if t.startswith(f"{goal.name}/") and r["state"] == "done"}
    by_agent = Counter(r["agent_id"] for r in results.values() if r["state"] == "done")
    failures = [{"task_id": t, "error": r["error"], "attempts": r["attempts"]}
                for t, r in results.items() if r["state"] != "done"]
    return {
        "ok": not failures,
        "tasks": len(results),
        "done": sum(r["state"] == "done" for r in results.values()),
        "failed": len(failures),
        "goals": goals,
        "agents": [{**a, "tasks_done": by_agent.get(a["agent_id"], 0)} for a in agents],
        "failures": failures,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "supervisor": status,
    }


def start_bridges(cfg: RaymasConfig) -> dict[str, Any]:
    """Start every configured bridge and wait until each has reached its broker.

    Returns the actor handles by bridge id.  If one fails to start or connect,
    those already started are stopped and the error is raised.
    """
    from messaging.bridge import start_bridge

    msg = cfg.messaging
    if not msg.bridges:
        return {}
    if msg.bus is None:  # parse_config refuses this; a config built by hand may not
        raise ConfigError("config", [("messaging.bus", "bridges need the bus; it is null")])
    keys = msg.keys.get_secret_value() if msg.keys else None
    started: dict[str, Any] = {}
    try:
        for bridge in msg.bridges:
            broker = msg.brokers[bridge.broker]
            started[bridge.id] = start_bridge(
                bridge.id, broker.kind, bus_name=msg.bus, namespace=cfg.cluster.namespace,
                broker_options=broker.broker_options(), out_patterns=bridge.out,
                in_topics=bridge.in_, message_keys=keys, group=bridge.group,
                prefix=bridge.prefix,
                supervisor=cfg.supervisor.name if bridge.authenticate else None)
        for bridge in msg.bridges:
            _wait_connected(bridge.id, bridge.broker, started[bridge.id],
                            bridge.ready_timeout_s)
    except BaseException:
        stop_bridges(started)
        raise
    return started


def _wait_connected(bridge_id: str, broker: str, handle: Any, timeout_s: float
                    ) -> dict[str, Any]:
    """Poll the bridge's health until it says ``connected``; BrokerError at the deadline."""
    import ray

    from messaging.brokers import BrokerError

    deadline = time.monotonic() + timeout_s
    while True:
        health: dict[str, Any] = ray.get(handle.health.remote(), timeout=timeout_s)
        if health.get("state") == "connected":
            return health
        if time.monotonic() >= deadline:
            raise BrokerError(f"bridge {bridge_id!r} did not connect to broker {broker!r} "
                              f"within {timeout_s:g} s; last health: {health}")
        time.sleep(_POLL_S)


def bridge_health(bridges: dict[str, Any]) -> list[dict[str, Any]]:
    """Each bridge's health (state, counts, lag, backlog), in the order started."""
    import ray

    return list(ray.get([h.health.remote() for h in bridges.values()]))


def stop_bridges(bridges: dict[str, Any]) -> None:
    """Stop the bridges for good (before the bus they are on goes)."""
    from messaging.bridge import stop_bridge

    for handle in bridges.values():
        stop_bridge(handle)


def _prepare_scenario(cfg: RaymasConfig) -> None:
    """A fresh start: no ground truth or incidents from an earlier run."""
    from agents.roles.incidents import store

    assert cfg.scenario is not None
    Path(cfg.scenario.ground_truth).unlink(missing_ok=True)
    store(cfg.scenario.incidents).clear()


def run_scenario(cfg: RaymasConfig, client: Any) -> dict[str, Any]:
    """Wait for the simulator to finish and the response plans to end; score detections."""
    from agents.roles.incidents import store
    from cluster.scenario import score, wait_for_truth

    sc = cfg.scenario
    assert sc is not None
    t0 = time.perf_counter()
    header, truth, done = wait_for_truth(sc.ground_truth, sc.timeout_s)
    simulated_s = time.perf_counter() - t0
    deadline = time.monotonic() + sc.settle_s
    plans: list[dict[str, Any]] = client.list_plans()
    while any(not p["finished"] for p in plans) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        plans = client.list_plans()
    incidents = store(sc.incidents).all()
    return {"simulator_done": done is not None, "readings": (done or {}).get("readings"),
            "sensors": header.get("sensors"), "plans": len(plans),
            "plans_unfinished": sum(not p["finished"] for p in plans),
            "plans_failed": sum(p["finished"] and not p["ok"] for p in plans),
            "waited_s": round(simulated_s, 3),
            **score(truth, incidents, source=sc.source, window_s=sc.match_window_s),
            "incidents_other_sources": sum(i.get("source") != sc.source for i in incidents)}


def run(cfg: RaymasConfig, *, keep: bool = False,
        on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the configured goals to completion and return the report (also written to disk)."""
    import ray

    from agents.supervisor.client import SupervisorClient, start_supervisor
    from cluster.connect import connect

    check_task_kinds(cfg)
    if cfg.scenario is not None:
        _prepare_scenario(cfg)
    t0 = time.perf_counter()
    info = connect(cfg.cluster, cfg.logging)
    timings = {"connect_s": time.perf_counter() - t0}
    sup = start_supervisor(cfg.supervisor_settings())
    client = SupervisorClient(sup)
    bridges: dict[str, Any] = {}
    try:
        t1 = time.perf_counter()
        client.spawn([s.to_dict() for s in cfg.agent_specs()])
        for pool in cfg.pools():
            client.add_pool(**pool)
        timings["spawn_s"] = time.perf_counter() - t1
        if cfg.messaging.bridges:
            t1 = time.perf_counter()
            bridges = start_bridges(cfg)
            timings["bridges_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        ids = [t for goal in cfg.goals for t in client.submit(goal.allocations())]
        plans: dict[str, tuple[TaskGraph, float]] = {}
        for goal in cfg.goals:
            if goal.plan is not None:
                t3 = time.perf_counter()
                graph = goal.plan.graph()
                plans[goal.name] = (graph, time.perf_counter() - t3)
                client.submit_plan(graph, goal.name, strategy=goal.strategy,
                                   capabilities=goal.plan.capabilities,
                                   priority=goal.priority, goal=goal.name,
                                   domain=goal.plan.domain, state=goal.plan.state)
                ids += [f"{goal.name}/{n}" for n in graph.topological_order()]
        while True:
            counts = ray.get(sup.progress.remote(ids, 0.5))
            finished = counts["done"] + counts["failed"] + counts["cancelled"]
            if on_progress is not None:
                on_progress(finished, len(ids))
            if finished >= len(ids):
                break
        scenario = run_scenario(cfg, client) if cfg.scenario is not None else None
        timings["run_s"] = time.perf_counter() - t2
        results = client.wait(ids)
        report = build_report(cfg, results, timings, client.list_agents(), client.status())
        for entry in report["goals"]:
            if entry["goal"] in plans:
                graph, planning_s = plans[entry["goal"]]
                entry["plan"] = plan_report(graph, results, entry["goal"], planning_s)
        report["cluster"] = {"address": info.address, "embedded": info.embedded,
                             "dashboard": info.dashboard_url, "resources": info.resources}
        report["bridges"] = bridge_health(bridges)
        if scenario is not None:
            report["scenario"] = scenario
            report["ok"] = report["ok"] and scenario["simulator_done"] and \
                not scenario["plans_unfinished"] and not scenario["plans_failed"]
    finally:
        if not keep:
            stop_bridges(bridges)
            client.shutdown()
            if info.embedded:
                ray.shutdown()
    path = Path(cfg.report.path)
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    report["report_path"] = str(path)
    return report
