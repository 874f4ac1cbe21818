"""Across nodes, and the main job end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray

from agents import TaskAllocation
from cluster.config import parse_config
from cluster.runner import run
from tests.integration.conftest import specs, wait_until

pytestmark = pytest.mark.integration


def test_two_nodes_spread_agents_and_survive_losing_one(make_supervisor: Any,
                                                        ray_cluster: Any) -> None:
    node_b = ray_cluster.add_node(num_cpus=2, resources={"node_b": 1.0})
    ray_cluster.wait_for_nodes()
    # the node's resources show up a moment after it joins
    wait_until(lambda: any(n["Alive"] and "node_b" in n["Resources"] for n in ray.nodes()),
               "node_b never reported its resources")
    try:
        sup = make_supervisor()
        pinned = sup.spawn(specs("on-b", 2, resources={"node_b": 0.1}))
        on_head = sup.spawn(specs("on-head", 2, resources={"head": 0.1}))
        sup.spawn(specs("spread", 2, scheduling="SPREAD"))  # Ray's best effort: anywhere
        assert {i["node_id"] for i in pinned} == {node_b.node_id}
        assert node_b.node_id not in {i["node_id"] for i in on_head}
        ids = sup.submit([TaskAllocation(task_id=f"n-{i}", kind="sha256_chain",
                                         args={"rounds": 20000, "seed": str(i)})
                          for i in range(150)])
        wait_until(lambda: ray.get(sup.handle.progress.remote(ids, 0.2))["done"] >= 15,
                   "no progress before removing the node")
        ray_cluster.remove_node(node_b)
        node_b = None
        res = sup.wait(ids, timeout_s=120)
        assert sum(r["state"] == "done" for r in res.values()) == 150
        on_b = {p["agent_id"] for p in pinned}
        wait_until(  # by actor death or by missed heartbeats
            lambda: on_b <= {a["agent_id"] for a in sup.list_agents() if not a["alive"]},
            "agents on the removed node still alive")
        assert sup.status()["tasks"] == {"done": 150}
    finally:
        if node_b is not None:
            ray_cluster.remove_node(node_b)


def test_main_job_runs_goals_and_writes_report(ray_cluster: Any, tmp_path: Path) -> None:
    cfg = parse_config({
        "cluster": {"namespace": "raymas-test"},
        "supervisor": {"name": "main-job", "heartbeat_interval_s": 0.5},
        "ledger": {"url": f"sqlite:///{tmp_path}/l.db"},
        "agents": [{"id": "w", "count": 3, "max_tasks": 2},
                   {"id": "p", "capabilities": ["planning"]}],
        "goals": [{"name": "g1", "tasks": [{"kind": "count_primes", "count": 12,
                                            "args": {"n": 5000}}]},
                  {"name": "g2", "strategy": "least_loaded",
                   "tasks": [{"kind": "echo", "count": 3, "args": {"value": 1},
                              "capabilities": ["planning"]}]}],
        "report": {"path": str(tmp_path / "report.json")},
    }, env={})
    seen: list[int] = []
    report = run(cfg, on_progress=lambda done, total: seen.append(done))
    assert report["ok"] and report["done"] == 15 and seen[-1] == 15
    assert {g["goal"]: g["done"] for g in report["goals"]} == {"g1": 12, "g2": 3}
    by_agent = {a["agent_id"]: a["tasks_done"] for a in report["agents"]}
    assert by_agent["p"] == 3 and sum(by_agent.values()) == 15
    assert (tmp_path / "report.json").exists()
    with pytest.raises(ValueError):  # run() stopped its Supervisor
        ray.get_actor("main-job", namespace="raymas-test")


def test_cli_status_and_agents_against_a_running_supervisor(
    make_supervisor: Any, ray_cluster: Any, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    sup = make_supervisor()
    sup.spawn(specs("cli", 2))
    name = ray.get(sup.handle.name.remote())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cluster: {{namespace: raymas-test}}\nsupervisor: {{name: {name}}}\n"
                   "agents: [{id: unused}]\n")
    base = [sys.executable, "-m", "cluster.cli"]
    status = subprocess.run([*base, "status", str(cfg), "--address", ray_cluster.address,
                             "--json"], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(status.stdout.strip().splitlines()[-1])["agents"]["by_state"]["alive"] == 2
    listed = subprocess.run([*base, "agents", str(cfg), "--address", ray_cluster.address,
                             "--json"], capture_output=True, text=True, check=True, timeout=120)
    agents = json.loads(listed.stdout.strip().splitlines()[-1])
    assert sorted(a["agent_id"][:3] for a in agents) == ["cli", "cli"]
    cfg.write_text("cluster: {namespace: raymas-test}\nsupervisor: {name: nobody}\n"
                   "agents: [{id: unused}]\n")
    missing = subprocess.run([*base, "status", str(cfg), "--address", ray_cluster.address],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no Supervisor 'nobody'" in missing.stderr
