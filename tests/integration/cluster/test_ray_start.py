"""raymas deployed the documented way, on real ``ray start`` nodes with token auth on.

A head and a worker node are ``ray start`` processes on this machine, each on
its own ports (:class:`cluster.local_cluster.LocalCluster`).  Everything talks
to them as an operator's tools would, from other processes: ``raymas run
--address ... --keep`` starts the Supervisor and agents, drivers join with
``RAY_ADDRESS`` and the token, ``raymas submit`` goes through the Jobs API.
The pytest process itself never joins this cluster (it holds the session's
own Ray).  The nodes are torn down even when a test fails.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.local_cluster import LocalCluster
from tests.conftest import require_service

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
RAYMAS = [sys.executable, "-m", "cluster.cli"]
NAMESPACE = "raymas"  # the config's default: what `raymas run` and examples/submit_job.py use
REDIS = "redis://127.0.0.1:6379/0"
BRIDGED = f"rs-alerts-{uuid.uuid4().hex[:6]}"  # the bridge's topic, this run's own


@dataclass
class Deployed:
    cluster: LocalCluster
    config: Path
    ledger: str
    head: Any
    worker: Any


def raymas(cluster: LocalCluster, *args: str,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAYMAS, *args], cwd=REPO, env=cluster.env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    require_service("redis")
    root = tmp_path_factory.mktemp("rs")
    cluster = LocalCluster(root / "c", base_port=21000)
    try:
        head = cluster.start_head(num_cpus=2, resources={"rs_head": 1})
        worker = cluster.add_worker("worker", num_cpus=2, resources={"rs_worker": 1})
        ledger = f"sqlite:///{root}/ledger.db"
        config = root / "raymas.yaml"
        config.write_text(yaml.safe_dump({
            "cluster": {"namespace": NAMESPACE},
            "supervisor": {"heartbeat_interval_s": 0.5, "heartbeat_timeout_s": 3.0},
            "ledger": {"url": ledger},
            "logging": {"format": "json", "level": "INFO"},  # what `raymas trace` reads
            "messaging": {"brokers": {"redis": {"kind": "redis", "url": REDIS}},
                          "bridges": [{"id": "rs-bridge", "broker": "redis",
                                       "out": [f"{BRIDGED}/#"], "in": [BRIDGED]}]},
            # SPREAD: over both nodes; restarted by Ray wherever there is room
            "agents": [{"id": "w", "count": 4, "num_cpus": 0.5, "max_restarts": -1,
                        "scheduling": "SPREAD"}],
            "goals": [{"name": "warmup", "tasks": [{"kind": "echo", "count": 4,
                                                    "args": {"value": 1}}]}],
            "report": {"path": str(root / "report.json")},
        }))
        out = raymas(cluster, "run", str(config), "--address", cluster.address, "--keep",
                     "--json")
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout)["done"] == 4
        yield Deployed(cluster, config, ledger, head, worker)
    finally:
        cluster.shutdown()


def test_jobs_api_runs_the_example_job_against_the_running_supervisor(
        deployed: Deployed) -> None:
    out = raymas(deployed.cluster, "submit", "--address", deployed.cluster.dashboard_url,
                 "--working-dir", ".", "--json", "examples/submit_job.py")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert json.loads(lines[-1])["status"] == "SUCCEEDED"
    printed = [ln.split() for ln in lines if ln.startswith("job-primes-")]
    assert len(printed) == 20 and all(p[1] == "done" for p in printed)

    from agents.supervisor.ledger import Ledger

    ledger = Ledger.open(deployed.ledger)
    try:
        states = ledger.task_states([f"job-primes-{i}" for i in range(20)])
        assert states == {f"job-primes-{i}": "done" for i in range(20)}
        stored = ledger.result("job-primes-0")
        assert stored is not None and stored.value is not None
        assert pickle.loads(stored.value) == 9592  # primes below 100 000
    finally:
        ledger.close()
    listed = raymas(deployed.cluster, "jobs", "--address", deployed.cluster.dashboard_url,
                    "--json")
    assert listed.returncode == 0, listed.stderr
    assert any(j["entrypoint"].endswith("examples/submit_job.py") and j["status"] == "SUCCEEDED"
               for j in json.loads(listed.stdout))


def test_trace_follows_the_jobs_correlation_id_across_three_processes(
        deployed: Deployed) -> None:
    """The job script (job driver), the Supervisor and the agent each logged the id."""
    out = raymas(deployed.cluster, "trace", str(deployed.config), "job-primes-0", "--address",
                 deployed.cluster.address, "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    trail = json.loads(out.stdout)
    assert trail["state"] == "done" and trail["result"]["value"] == 9592
    logs = [e for e in trail["events"] if e["source"] == "log"]
    said = " | ".join(str(e["message"]) for e in logs)
    assert "submitted 20 tasks" in said  # the job driver
    assert "task job-primes-0 awarded to" in said  # the Supervisor
    assert "task job-primes-0 done on" in said  # the agent
    assert len(trail["processes"]) >= 3, trail["processes"]
    ledger_states = [e["state"] for e in trail["events"] if e["source"] == "ledger"]
    assert ledger_states[0] == "submitted" and ledger_states[-1] == "done"


def test_a_job_client_without_the_token_is_told_what_to_set(deployed: Deployed) -> None:
    env = deployed.cluster.env()
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key)
    env["HOME"] = str(deployed.cluster.root)  # no ~/.ray/auth_token either
    out = subprocess.run([*RAYMAS, "jobs", "--address", deployed.cluster.dashboard_url],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "RAY_AUTH_MODE=token" in out.stderr and "--token-file" in out.stderr
    with_file = subprocess.run([*RAYMAS, "jobs", "--address", deployed.cluster.dashboard_url,
                                "--token-file", str(deployed.cluster.token_path), "--json"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert with_file.returncode == 0, with_file.stderr
    assert isinstance(json.loads(with_file.stdout), list)


def next_event(driver: subprocess.Popen[str]) -> dict[str, Any]:
    """The driver's next event line; Ray's own notices on its stdout are passed over."""
    assert driver.stdout is not None
    for line in driver.stdout:
        if line.startswith("@event "):
            return dict(json.loads(line.removeprefix("@event ")))
    raise AssertionError(f"the driver ended: {driver.stderr.read() if driver.stderr else ''}")


def test_losing_the_worker_node_moves_its_agents_to_the_head_and_loses_no_task(
        deployed: Deployed) -> None:
    n = 60
    driver = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("node_loss_driver.py")), str(n), NAMESPACE],
        cwd=REPO, env=deployed.cluster.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert driver.stdout is not None and driver.stdin is not None
        placed = next_event(driver)
        assert placed["event"] == "placed"
        nodes = {p["node_id"] for p in placed["agents"].values()}
        assert nodes == {deployed.head.node_id, deployed.worker.node_id}  # both nodes used
        # the services agents report to are on the head: losing a worker never moves them
        assert placed["services"] == {"raymas-supervisor": deployed.head.node_id,
                                      "raymas-bus": deployed.head.node_id}
        on_worker = {a for a, p in placed["agents"].items()
                     if p["node_id"] == deployed.worker.node_id}
        progress = next_event(driver)
        assert progress["event"] == "progress" and progress["done"] < n
        deployed.cluster.stop_node(deployed.worker, crash=True)  # the machine is gone
        driver.stdin.write(f"{deployed.worker.node_id}\n")
        driver.stdin.flush()
        done = next_event(driver)
        assert done["event"] == "done"
        assert driver.wait(timeout=60) == 0
    finally:
        if driver.poll() is None:
            driver.kill()
    # the lost node's agents run again, on the head
    assert {done["after"][a]["node_id"] for a in on_worker} == {deployed.head.node_id}
    assert all(a["alive"] for a in done["agents"])
    # every task done exactly once: one result each, one `done` in each history
    assert len(done["results"]) == n
    assert {r["state"] for r in done["results"].values()} == {"done"}
    stats = done["status"]["stats"]
    assert stats["duplicate_results"] == 0
    # the agent paused on the head while the others moved was slow, not dead
    assert done["paused"]["alive"], done["paused"]
    # the loss was seen: Ray reports a moved agent dead, or, while it restarts it,
    # unavailable (ActorUnavailableError), and then what the agent ran is handed on without
    # taking it for dead; no task is lost or done twice for it (the ledger check below)
    assert stats["deaths"] + stats["unanswered"] >= 1 and stats["reassigned"] >= 1
    from agents.supervisor.ledger import Ledger

    ledger = Ledger.open(deployed.ledger)
    try:
        for task_id in done["results"]:
            assert sum(h[0] == "done" for h in ledger.history(task_id)) == 1, task_id
    finally:
        ledger.close()


def supervisor_status(cluster: LocalCluster) -> dict[str, Any]:
    code = (f"import json, ray; ray.init(namespace={NAMESPACE!r}, log_to_driver=False); "
            "from agents import SupervisorClient; print(json.dumps(SupervisorClient().status()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=cluster.env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_prometheus_scrapes_the_raymas_series_with_the_supervisors_numbers(
        deployed: Deployed, tmp_path: Path) -> None:
    from tests.integration.cluster.prometheus import dashboard_metrics, prometheus
    from tests.integration.conftest import wait_until

    discovery = deployed.cluster.temp_dir / "prom_metrics_service_discovery.json"
    import redis

    from messaging import Envelope

    # an envelope from outside, 5 s old, comes in through the bridge: its counters and lag
    old = Envelope.new("outside", topic=f"{BRIDGED}/x", payload="hello",
                       created_at=time.time() - 5)
    redis.Redis.from_url(REDIS).xadd(f"raymas.{BRIDGED}", {"e": old.to_bytes()})
    with prometheus(discovery, tmp_path / "prom", port=21900) as prom:
        status = supervisor_status(deployed.cluster)  # no task runs now: the numbers hold
        done = status["tasks"]["done"]
        wait_until(lambda: prom.value('sum(ray_raymas_tasks{state="done"})') == done,
                   lambda: f"raymas_tasks done: {prom.query('ray_raymas_tasks')} != {done}",
                   timeout=90)
        # the Supervisor's "alive" includes suspect agents (slow, not dead); the gauge
        # tells them apart, and a busy machine can make one suspect for a moment
        wait_until(lambda: prom.value('sum(ray_raymas_agents{state=~"alive|suspect"})')
                   == supervisor_status(deployed.cluster)["alive"],
                   lambda: f"agents: {prom.query('ray_raymas_agents')}", timeout=60)
        assert prom.value("sum(ray_raymas_allocation_awards_total)") >= done
        assert prom.value("sum(ray_raymas_allocation_latency_s_count)") >= 1
        # counters the Supervisor sends every second: equal once the scrape has caught up
        stats = {"deaths": "ray_raymas_agent_deaths_total",
                 "reassigned": "ray_raymas_task_reassignments_total"}
        wait_until(lambda: all(prom.value(f"sum({m})") == supervisor_status(
            deployed.cluster)["stats"][k] for k, m in stats.items()),
            lambda: f"{[(m, prom.value(f'sum({m})')) for m in stats.values()]} vs "
                    f"{supervisor_status(deployed.cluster)['stats']}", timeout=60)
        wait_until(lambda: prom.value(
            'sum(ray_raymas_bridge_messages_total{bridge="rs-bridge",direction="in"})') == 1,
            lambda: f"bridge series: {prom.query('ray_raymas_bridge_messages_total')}")
        lag = prom.value('max(ray_raymas_bridge_lag_s{bridge="rs-bridge",direction="in"})')
        assert lag is not None and lag >= 5
        # what the Grafana dashboard's panels query, the scrape found
        found = prom.names("ray_raymas")
        dashboard = REPO / "cluster" / "deploy" / "grafana" / "dashboards" / "raymas.json"
        missing = dashboard_metrics(dashboard) - found
        assert not missing, sorted(missing)
