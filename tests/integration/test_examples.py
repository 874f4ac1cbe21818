"""The seed's four usage examples run as they stand: ``python examples/<file>.py``.

Each runs in a fresh interpreter from the repository root, as a user would run
it; the test checks the exit status and what it prints.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, *, env: Mapping[str, str] | None = None,
                timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, f"examples/{name}.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture
def own_ray_env() -> Iterator[dict[str, str]]:
    """The environment for a script that must start a Ray of its own next to the session's.

    No ``RAY_ADDRESS``, and ``RAY_TMPDIR`` a fresh directory: with neither, ``ray.init()``
    joins the cluster recorded in ``/tmp/ray/ray_current_cluster``, which the session's
    ``Cluster`` writes (see Ray's ``ray.init(address=...)`` docs).
    """
    tmp = tempfile.mkdtemp(prefix="raymas-ex-", dir="/tmp")  # short: Ray's socket paths
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = tmp
    yield env
    shutil.rmtree(tmp, ignore_errors=True)


def test_autonomous_agent_example() -> None:
    out = ok(run_example("autonomous_agent", timeout=120))
    assert "agent agent_001 (Task Processor): idle, capabilities " \
           "['collaboration', 'learning', 'planning']" in out
    assert "goal goal_001: Process data pipeline (priority 1)" in out
    assert "count_primes: 1229" in out
    assert "echo: pipeline done" in out
    assert "completed 3 tasks; agent stopped" in out


def test_coordinator_example_starts_its_own_ray_beside_the_sessions(
        ray_cluster: Any, own_ray_env: dict[str, str]) -> None:
    out = ok(run_example("coordinator", env=own_ray_env))
    assert "AllocationResult(task_id='task_001', agent_id='agent_001', " \
           "strategy='contract_net')" in out
    assert "task_001: done by agent_001" in out
    tmp = own_ray_env["RAY_TMPDIR"]
    assert list(Path(tmp, "ray").glob("session_*")), "the example did not start a Ray of its own"
    # and stopped it when it finished
    deadline = time.monotonic() + 15
    while (left := subprocess.run(["pgrep", "-f", tmp], capture_output=True,
                                  text=True).stdout.split()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the example's Ray still running: {left}"


def test_coordinator_example_beside_a_recorded_local_cluster(
        ray_cluster: Any, own_ray_env: dict[str, str]) -> None:
    # what `ray start` or a test session's Cluster leaves for the next ray.init() to find
    recorded = Path(own_ray_env["RAY_TMPDIR"], "ray", "ray_current_cluster")
    recorded.parent.mkdir()
    recorded.write_text(ray_cluster.address)
    ok(run_example("coordinator", env=own_ray_env))


def test_swarm_optimization_example() -> None:
    out = ok(run_example("swarm_optimization", timeout=120))
    found = re.search(r"pso: best fitness (\S+) after 200 iterations \(8000 evaluations", out)
    assert found, out
    assert float(found.group(1)) < 1e-6
    assert "best position" in out


def test_ml_integration_example() -> None:
    out = ok(run_example("ml_integration", timeout=280))
    assert "'model_id'" in out.splitlines()[0]
    assert re.search(r"trained 10 epochs: loss \S+ -> \S+", out), out
    assert "training accuracy" in out


def test_fleet_example_delivers_everything_and_draws_the_routes(
        ray_cluster: Any, own_ray_env: dict[str, str], tmp_path: Path) -> None:
    png = tmp_path / "fleet.png"
    proc = subprocess.run([sys.executable, "examples/fleet.py", "--robots", "4",
                           "--deliveries", "12", "--strategy", "ssi", "--plot", str(png),
                           "--json"], cwd=ROOT, env=own_ray_env, capture_output=True,
                          text=True, timeout=240)
    report = json.loads(ok(proc).strip().splitlines()[-1])
    assert report["delivered"] == 12 and not report["not_delivered"]
    routes = report["routes"]
    assert sum(len(r) - 1 for r in routes.values()) == 12
    # each robot drove from its depot through its deliveries, in order: the distances add up
    for robot, route in routes.items():
        legs = sum(math.dist(a, b) for a, b in itertools.pairwise(route))
        assert legs == pytest.approx(report["distance_by_robot"][robot], abs=0.1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_the_flocking_example_orders_hosted_boid_agents(
        ray_cluster: Any, own_ray_env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "examples/flocking_agents.py", "--hosted",
                           "--agents", "400", "--steps", "80", "--seed", "3", "--json"],
                          cwd=ROOT, env=own_ray_env, capture_output=True, text=True,
                          timeout=240)
    report = json.loads(ok(proc).strip().splitlines()[-1])
    assert report["hosted"] and report["hosts"] == 1 and report["undelivered"] == 0
    assert report["order_first"] < 0.3 and report["order_last"] > 0.8
