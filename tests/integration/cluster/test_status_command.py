"""``raymas status`` against the session's cluster: the numbers are the real ones.

The CLI runs in this process (Ray is already initialised here, so it uses
that connection, as ``raymas status`` from a notebook would) for the JSON,
and once as a subprocess joining the cluster by address, as an operator runs
it, for the tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import ray

from agents import TaskAllocation
from cluster.cli import main
from cluster.status_command import collect_status
from tests.conftest import require_service
from tests.integration.conftest import agent_actor, specs, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = "raymas-test"


def _config(tmp_path: Path, supervisor: str) -> Path:
    cfg = tmp_path / f"{supervisor}.yaml"
    cfg.write_text(f"cluster: {{namespace: {NAMESPACE}}}\nsupervisor: {{name: {supervisor}}}\n"
                   "agents: [{id: unused}]\n")
    return cfg


def _head(data: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["head"])


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("│").split("│")]
            for line in text.splitlines() if line.strip().startswith("│")]


def test_status_shows_the_agents_tasks_nodes_and_ledger_there_are(
    make_supervisor: Any, ray_cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sup = make_supervisor()
    name = ray.get(sup.handle.name.remote())
    # one CPU each, so the head's CPU use shows them
    executors = sup.spawn(specs("st-x", 3, num_cpus=1))
    sup.spawn(specs("st-a", 1, agent_type="analyzer"))
    sup.spawn(specs("st-m", 2, agent_type="monitor"))
    ray.kill(agent_actor(executors[0]), no_restart=True)
    wait_until(lambda: not next(a for a in sup.list_agents()
                                if a["agent_id"] == executors[0]["agent_id"])["alive"],
               "the killed agent is still alive to the Supervisor")
    done = sup.submit([TaskAllocation(task_id=f"st-echo-{i}", kind="echo",
                                      args={"value": i}) for i in range(6)])
    failed = sup.submit([TaskAllocation(task_id="st-fail", kind="fail",
                                        args={"message": "boom"}, max_attempts=1)])
    # no agent can: they stay submitted, waiting (least_loaded: no call for proposals,
    # which would show them announced, and out of the queue while it lasts)
    sup.submit([TaskAllocation(task_id=f"st-rare-{i}", required_capabilities=["rare"],
                               strategy="least_loaded") for i in range(2)])
    outcome = sup.wait([*done, *failed], timeout_s=60)
    assert sorted(r["state"] for r in outcome.values()) == ["done"] * 6 + ["failed"]
    # Ray's per-node usage follows the resource reports: wait until the two live
    # executors' CPUs show, then read what the CLI says
    wait_until(lambda: (_head(collect_status(name, NAMESPACE))["cpu"]["used"] or 0) >= 2,
               lambda: f"head CPU use never showed: {_head(collect_status(name, NAMESPACE))}")

    cfg = _config(tmp_path, name)
    assert main(["status", str(cfg), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)

    assert data["supervisor"]["name"] == name and data["namespace"] == NAMESPACE
    assert data["address"] == ray_cluster.address
    agents = data["agents"]
    assert agents["by_state"] == {"alive": 5, "suspect": 0, "leaving": 0, "dead": 1}
    assert {t: {s: row[s] for s in ("alive", "dead", "total")}
            for t, row in agents["by_type"].items()} == {
        "task_executor": {"alive": 2, "dead": 1, "total": 3},
        "analyzer": {"alive": 1, "dead": 0, "total": 1},
        "monitor": {"alive": 2, "dead": 0, "total": 2}}
    tasks = data["tasks"]
    assert {s: n for s, n in tasks["by_state"].items() if n} == {
        "done": 6, "failed": 1, "submitted": 2}
    assert tasks["total"] == 9 and tasks["pending"] == 2
    head = _head(data)
    assert head["alive"] and head["node_id"] == ray_cluster.head_node.node_id
    assert head["cpu"]["total"] == 4 and head["gpu"]["total"] == 2
    assert 2 <= head["cpu"]["used"] <= 4
    assert head["memory"]["total"] > 0 and head["object_store"]["total"] > 0
    assert data["ledger"] == {"kind": "sqlite", "location": f"{tmp_path}/{name}.db",
                              "url": f"sqlite:///{tmp_path}/{name}.db",
                              "pool": "single connection"}

    # as an operator runs it: a new driver joining by address, the tables on stdout
    shown = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "status", str(cfg), "--address",
         ray_cluster.address], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert ["task_executor", "2", "0", "0", "1", "3"] in [r[:6] for r in rows]
    assert ["all", "5", "0", "0", "1", "6"] in [r[:6] for r in rows]
    assert ["done", "6"] in rows and ["failed", "1"] in rows and ["all", "9"] in rows
    assert any(r[:4] == [head["node_id"][:8], head["ip"], "alive", "head"]
               and r[5] == "0 / 2" for r in rows), shown.stdout
    assert ["sqlite", f"{tmp_path}/{name}.db", "single connection"] in rows


def test_status_without_the_supervisor_exits_1_naming_it(
    ray_cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(_config(tmp_path, "nobody"))]) == 1
    err = capsys.readouterr().err
    assert err == (f"raymas: no Supervisor 'nobody' is running at {ray_cluster.address} "
                   f"(namespace '{NAMESPACE}')\n")


def test_status_lists_running_bridges_with_their_counts_and_lag(
    make_supervisor: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import redis

    from messaging.bridge import start_bridge

    require_service("redis")
    tag = uuid.uuid4().hex[:6]
    sup = make_supervisor()
    settings = ray.get(sup.handle.settings.remote())
    [publisher] = (agent_actor(i) for i in sup.spawn(specs("st-pub", 1)))
    bridge = start_bridge(f"st-{tag}", "redis", bus_name=settings["bus_name"],
                          namespace=NAMESPACE, out_patterns=[f"st-{tag}/#"])
    try:
        ray.get(publisher.publish_many.remote(f"st-{tag}/x", list(range(40))))
        ray.get(publisher.flush.remote())

        def mine() -> dict[str, Any] | None:
            return next((b for b in collect_status(settings["name"], NAMESPACE)["bridges"]
                         if b["bridge"] == f"st-{tag}"), None)

        wait_until(lambda: (mine() or {}).get("out") == 40,
                   lambda: f"the bridge never showed 40 out: {mine()}")
        assert main(["status", str(_config(tmp_path, settings["name"])), "--json"]) == 0
        [shown] = [b for b in json.loads(capsys.readouterr().out)["bridges"]
                   if b["bridge"] == f"st-{tag}"]
        health = ray.get(bridge.health.remote())
        assert (shown["actor"], shown["broker"], shown["state"]) == (
            f"raymas-bridge:st-{tag}", "redis", "connected")
        assert shown["out"] == health["out"] == 40 and shown["in"] == 0
        # lag and backlog as the bridge reports them: numbers once measured, None if not
        for key in ("lag_s_out", "lag_s_in", "backlog"):
            assert shown[key] == health.get(key)
        if "lag_s_out" in health:
            assert isinstance(shown["lag_s_out"], float) and shown["lag_s_out"] >= 0
    finally:
        ray.kill(bridge, no_restart=True)
        client = redis.Redis()
        for key in client.scan_iter(f"raymas.*{tag}*"):
            client.delete(key)
        client.close()
    # a bridge that is gone is not listed
    wait_until(lambda: all(b["bridge"] != f"st-{tag}"
                           for b in collect_status(settings["name"], NAMESPACE)["bridges"]),
               "a killed bridge is still listed")
