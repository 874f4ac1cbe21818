"""Agents and Supervisor figures: spawn time, idle memory, allocation throughput, kills;
throughput with metrics on and off; a new node's first agent and a lost node's agents.

    python bench/agents.py [--quick] [--only core,metrics,nodes]

Baselines measured in the same run: 200 bare Ray actors spawned the same way
(full run only: once before the agents and once after the core part, in a Ray
with nothing else alive both times; the baseline is the mean of the two, since
the later one has always been the faster, by 13-24 %: a spawn of 200 before the
first did not make it faster), and raw Ray actor calls
straight to the same agent actors, which is the floor under any allocation
strategy (one call per task).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import ray

from agents import TaskAllocation
from agents.supervisor.client import SupervisorClient, start_supervisor
from bench._common import emit, log, selected_parts, start

B = "agents"
STRATEGIES = ["contract_net", "first_price", "vickrey", "consensus", "least_loaded",
              "power_of_two"]


class Bare:
    def ping(self) -> int:
        return os.getpid()


def uss_mb(pids: list[int]) -> float:
    sizes = [psutil.Process(p).memory_full_info().uss for p in pids if psutil.pid_exists(p)]
    return sum(sizes) / len(sizes) / 2**20


def spawn_bare(n: int) -> float:
    """Seconds to start ``n`` bare actors until each answers (then they are killed)."""
    t = time.perf_counter()
    actors = [ray.remote(Bare).options(num_cpus=0).remote() for _ in range(n)]
    ray.get([a.ping.remote() for a in actors])
    took = time.perf_counter() - t
    for a in actors:
        ray.kill(a)
    return took


def throughput(sup: SupervisorClient, strategy: str, n: int) -> float:
    tag = uuid.uuid4().hex[:6]
    tasks = [TaskAllocation(task_id=f"{strategy}-{tag}-{i}", required_capabilities=["bench"],
                            strategy=strategy) for i in range(n)]
    t = time.perf_counter()
    ids = sup.submit(tasks)
    res = sup.wait(ids, timeout_s=600)
    took = time.perf_counter() - t
    done = sum(r["state"] == "done" for r in res.values())
    if done != n:
        raise SystemExit(f"{strategy}: only {done}/{n} tasks done")
    return n / took


def median_of(runs: int, fn: Any, *args: Any) -> float:
    """The median of ``runs`` measurements: this 2-core machine is noisy under 100 agents."""
    return float(statistics.median(fn(*args) for _ in range(runs)))


def raw_calls(handles: list, n: int) -> float:
    t = time.perf_counter()
    refs = [handles[i % len(handles)].run_task.remote({"task_id": f"raw-{uuid.uuid4().hex}",
                                                       "kind": "noop"}) for i in range(n)]
    ray.get(refs)
    return n / (time.perf_counter() - t)


PARTS = ("core", "hosted", "metrics", "nodes")


def main() -> None:
    quick = start(__doc__ or "", PARTS)
    parts = selected_parts() or list(PARTS)
    # read before any part runs: Ray sets RAY_AUTH_MODE in this process's environment
    token_auth = os.environ.get("RAY_AUTH_MODE") == "token" and "RAY_AUTH_TOKEN" in os.environ
    # the quick run must end within two minutes: 200 agents alone take longer to start
    n_agents, n_bench, n_tasks = (40, 40, 400) if quick else (200, 100, 2000)
    if "core" in parts:
        core(quick, n_agents, n_bench, n_tasks)
    if "hosted" in parts:
        from bench.hosted_agents import hosted_figures

        hosted_figures(quick)
    if "metrics" in parts:
        metrics_overhead(20 if quick else 40, 400 if quick else 1000)
    if "nodes" in parts:
        if not token_auth:
            # Ray reads the auth mode when it is imported: the part runs in a child process
            import secrets
            import subprocess

            env = {**os.environ, "RAY_AUTH_MODE": "token",
                   "RAY_AUTH_TOKEN": secrets.token_hex(32)}
            args = [sys.executable, __file__, "--only", "nodes"] + (["--quick"] if quick else [])
            subprocess.run(args, env=env, check=True, stdout=sys.__stdout__)
        else:
            node_figures(runs=1 if quick else 3)


def core(quick: bool, n_agents: int, n_bench: int, n_tasks: int) -> None:
    """Spawn time, idle memory, each strategy's throughput, tasks lost under kills."""
    ray.init(num_cpus=2, include_dashboard=False, namespace="raymas-bench",
             log_to_driver=False)
    if not quick:
        bare = spawn_bare(n_agents)
        log(f"bare actors: {bare:.1f}s")
    else:
        bare = None
    sup = SupervisorClient(start_supervisor({
        "name": "bench", "namespace": "raymas-bench", "fresh": True,
        "ledger_url": "sqlite:///.raymas/bench-ledger.db", "agent_start_timeout_s": 120,
        "heartbeat_timeout_s": 30}))
    specs = [{"agent_id": f"a{i:03}", "max_tasks": 10, "heartbeat_interval_s": 5.0,
              "capabilities": ["execution", "bench"] if i < n_bench else ["execution"]}
             for i in range(n_agents)]
    t = time.perf_counter()
    infos = sup.spawn(specs)
    spawn_s = time.perf_counter() - t
    log(f"{n_agents} agents: {spawn_s:.1f}s")
    idle = uss_mb([i["pid"] for i in infos])
    emit(B, "idle_agent_uss_mb", idle, "MB", target=80, better="lower",
         agents=len(infos))
    for info in infos[n_bench:]:  # throughput is measured with n_bench agents alive
        sup.deregister_agent(info["agent_id"])
    handles = [ray.get_actor(f"raymas-agent:{i['agent_id']}", namespace="raymas-bench")
               for i in infos[:n_bench]]
    raw_calls(handles, 200)  # warm-up
    raw = median_of(3, raw_calls, handles, n_tasks)
    log(f"raw actor calls: {raw:.0f}/s")
    for strategy in STRATEGIES:
        throughput(sup, strategy, 100)  # warm-up
        rate = median_of(3, throughput, sup, strategy, n_tasks)
        log(f"{strategy}: {rate:.0f} tasks/s")
        if strategy == "contract_net":
            from bench.hosted_agents import SAME_RUN

            SAME_RUN[f"contract_net_{n_bench}_actor_agents"] = rate
        emit(B, f"{strategy}_allocations_per_s", rate, "tasks/s", baseline=raw,
             baseline_name="raw ray actor calls to the same agents",
             **({"target": 500, "better": "higher"} if strategy == "contract_net" else {}),
             agents=n_bench, tasks=n_tasks, runs=3)
    # kills: the 10 busiest bench agents die while a workload runs
    tag = uuid.uuid4().hex[:6]
    ids = sup.submit([TaskAllocation(task_id=f"kill-{tag}-{i}", kind="sha256_chain",
                                     args={"rounds": 20000, "seed": str(i)},
                                     required_capabilities=["bench"]) for i in range(n_tasks)])
    while ray.get(sup.handle.progress.remote(ids, 0.05))["done"] < n_tasks // 10:
        pass
    busiest = sorted((a for a in sup.list_agents() if a["alive"]), key=lambda a: -a["load"])
    for agent in busiest[:10]:
        ray.kill(ray.get_actor(f"raymas-agent:{agent['agent_id']}", namespace="raymas-bench"))
    res = sup.wait(ids, timeout_s=600)
    lost = sum(r["state"] != "done" for r in res.values())
    emit(B, "tasks_lost_under_kills", lost, "tasks", target=0, better="lower",
         killed_agents=10, tasks=n_tasks,
         reassigned=sup.status()["stats"]["reassigned"])
    sup.shutdown()
    if bare is not None:  # the baseline again, with the agents gone: the mean of both
        again = spawn_bare(n_agents)
        log(f"bare actors again: {again:.1f}s")
        base = (bare + again) / 2
        emit(B, f"spawn_seconds_{n_agents}_agents", spawn_s, "s", target=60, better="lower",
             baseline=round(base, 3), baseline_name="bare ray actors, mean of before and after",
             ratio=round(spawn_s / base, 3), target_ratio=1.2, bare_before=round(bare, 3),
             bare_after=round(again, 3))
    else:
        emit(B, f"spawn_seconds_{n_agents}_agents", spawn_s, "s", target=60, better="lower")
    ray.shutdown()


def metrics_overhead(n_agents: int, n_tasks: int) -> None:
    """Allocation throughput with metrics on against the same with them off, in one Ray:
    two Supervisors, one with ``RAYMAS_METRICS=0`` in its runtime environment (which its
    agents inherit), each with ``n_agents`` agents; each measured five times, alternating,
    so drift on this shared machine hits both; the medians are compared.  (Six fresh Rays
    took 3.5 minutes each.)"""
    ray.init(num_cpus=2, include_dashboard=False, namespace="raymas-bench", log_to_driver=False)
    try:
        sups: dict[bool, SupervisorClient] = {}
        for on in (False, True):
            name = f"bench-metrics-{'on' if on else 'off'}"
            sups[on] = SupervisorClient(start_supervisor({
                "name": name, "namespace": "raymas-bench", "fresh": True,
                "ledger_url": f"sqlite:///.raymas/{name}.db", "agent_start_timeout_s": 120,
                "heartbeat_timeout_s": 30}, runtime_env={"env_vars": {
                    "RAYMAS_METRICS": "1" if on else "0"}}))
            sups[on].spawn([{"agent_id": f"{name}-{i:03}", "max_tasks": 10,
                             "heartbeat_interval_s": 5.0, "capabilities": ["execution", "bench"]}
                            for i in range(n_agents)])
            throughput(sups[on], "contract_net", 100)  # warm-up
        rates: dict[bool, list[float]] = {False: [], True: []}
        for on in (False, True) * 5:
            rates[on].append(throughput(sups[on], "contract_net", n_tasks))
            log(f"metrics {'on' if on else 'off'}: {rates[on][-1]:.0f} tasks/s")
        for sup in sups.values():
            sup.shutdown()
    finally:
        ray.shutdown()
    on_rate, off_rate = statistics.median(rates[True]), statistics.median(rates[False])
    emit(B, "contract_net_allocations_per_s_metrics_on", on_rate, "tasks/s",
         baseline=off_rate, baseline_name="the same with RAYMAS_METRICS=0", target=0.95,
         better="higher (ratio)", agents=n_agents, tasks=n_tasks, runs=5,
         idle_agents_beside=n_agents,
         each_on=[round(r) for r in rates[True]], each_off=[round(r) for r in rates[False]])


def node_figures(runs: int) -> None:
    """On real `ray start` nodes (token auth on): a new worker node's first agent, and the
    agents of a crashed worker node placed again.  Baselines, same runs: the node's own
    join (ray start until Ray lists it alive), and Ray marking the lost node dead."""
    import tempfile

    from ray.util.state import list_actors

    from cluster.local_cluster import LocalCluster

    join, first, dead, replaced = [], [], [], []
    for run in range(runs):
        root = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))
        cluster = LocalCluster(root, base_port=22000, token=os.environ["RAY_AUTH_TOKEN"])
        try:
            cluster.start_head(num_cpus=2)
            os.environ.update(cluster.env())
            ray.init(address=cluster.address, namespace="raymas-bench", log_to_driver=False)
            sup = SupervisorClient(start_supervisor({
                "name": "bench-nodes", "namespace": "raymas-bench", "fresh": True,
                "ledger_url": f"sqlite:///{root}/ledger.db", "heartbeat_timeout_s": 5}))
            t0 = time.monotonic()
            worker = cluster.add_worker(num_cpus=2, resources={"bench_worker": 1})
            join.append(time.monotonic() - t0)
            sup.spawn([{"agent_id": "first", "resources": {"bench_worker": 0.1}}])
            first.append(time.monotonic() - t0)
            sup.deregister_agent("first")
            sup.spawn([{"agent_id": f"s{i}", "num_cpus": 0.25, "max_restarts": -1,
                        "scheduling": "SPREAD"} for i in range(8)])
            on_worker = {a.name for a in list_actors(filters=[("state", "=", "ALIVE")])
                         if a.node_id == worker.node_id and (a.name or "").startswith(
                             "raymas-agent:")}
            t1 = time.monotonic()
            cluster.stop_node(worker, crash=True)
            while any(n["state"] == "ALIVE" for n in cluster.list_nodes()
                      if n["node_id"] == worker.node_id):
                time.sleep(0.05)
            dead.append(time.monotonic() - t1)
            while True:
                alive = {a.name: a.node_id for a in list_actors(
                    filters=[("state", "=", "ALIVE")], limit=10_000)}
                if all(alive.get(n) not in (None, worker.node_id) for n in on_worker):
                    break
                time.sleep(0.05)
            replaced.append(time.monotonic() - t1)
            log(f"nodes run {run}: join {join[-1]:.1f}s, first agent {first[-1]:.1f}s, "
                f"node dead {dead[-1]:.1f}s, {len(on_worker)} agents placed again "
                f"{replaced[-1]:.1f}s")
            sup.shutdown()
        finally:
            ray.shutdown()
            cluster.shutdown()
    emit(B, "worker_node_to_first_agent_s", statistics.median(first), "s",
         baseline=statistics.median(join), baseline_name="ray start until the node is alive",
         better="lower", runs=runs)
    emit(B, "agents_of_lost_node_placed_again_s", statistics.median(replaced), "s",
         baseline=statistics.median(dead), baseline_name="crash until Ray marks the node dead",
         better="lower", runs=runs)


if __name__ == "__main__":
    main()
