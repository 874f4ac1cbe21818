"""The driver of the node-loss test: its own process, joined to a ``ray start`` cluster.

Run as ``python node_loss_driver.py N_TASKS NAMESPACE`` with ``RAY_ADDRESS`` and
the token in the environment.  It talks to the test through lines of JSON on
stdout (marked ``@event``) and one line on stdin:

1. ``placed``: where each agent's actor runs (the state API), with its pid;
   a third of N CPU-bound tasks are then submitted.
2. ``progress``: a fifth of them are done (of a first third submitted; the rest
   go in then, so work is left).  The test now crashes the worker node and
   writes the lost node's id on stdin.
3. The driver pauses one agent on the head (SIGSTOP) until every agent of
   the lost node is alive again on another node, then resumes it (SIGCONT).
4. ``done``: every result, the agents' placement and the Supervisor's stats.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

import ray
from ray.util.state import list_actors

from agents import SupervisorClient, TaskAllocation

EVENT = "@event "


def say(**fields: Any) -> None:
    # marked: Ray prints its own notices (a node died) on this stdout too
    print(EVENT + json.dumps(fields, default=str), flush=True)


def placement() -> dict[str, dict[str, Any]]:
    return {a.name.split(":", 1)[1]: {"node_id": a.node_id, "pid": a.pid}
            for a in list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
            if a.name and a.name.startswith("raymas-agent:")}


def until(predicate: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)
    return value


def main() -> None:
    n, namespace = int(sys.argv[1]), sys.argv[2]
    ray.init(namespace=namespace, log_to_driver=False)
    sup = SupervisorClient()
    before = placement()
    services = {a.name: a.node_id for a in list_actors(filters=[("state", "=", "ALIVE")])
                if a.name in ("raymas-supervisor", "raymas-bus")}
    say(event="placed", agents=before, services=services)
    tasks = [TaskAllocation(task_id=f"loss-{i}", kind="sha256_chain",
                            args={"rounds": 150_000, "seed": str(i)}) for i in range(n)]
    first = sup.submit(tasks[:n // 3])
    until(lambda: ray.get(sup.handle.progress.remote(first, 0.2))["done"] >= n // 5,
          "no progress before the node loss")
    # the rest now: work is left when the node goes, however fast the first third ran
    ids = first + sup.submit(tasks[n // 3:])
    say(event="progress", done=ray.get(sup.handle.progress.remote(ids, 0.0))["done"])
    lost = sys.stdin.readline().strip()
    on_lost = {a for a, p in before.items() if p["node_id"] == lost}
    paused = next(p["pid"] for p in before.values() if p["node_id"] != lost)
    os.kill(paused, signal.SIGSTOP)  # a slow agent, while the lost node's agents move
    try:
        after = until(lambda: (lambda now: now if on_lost <= now.keys() and all(
            now[a]["node_id"] != lost for a in on_lost) else None)(placement()),
            "the lost node's agents were not placed again")
        while_paused = {a["agent_id"]: a for a in sup.list_agents()}
    finally:
        os.kill(paused, signal.SIGCONT)
    results = sup.wait(ids, timeout_s=300)
    until(lambda: all(a["alive"] for a in sup.list_agents()), "agents not all alive again")
    paused_id = next(a for a, p in before.items() if p["pid"] == paused)
    say(event="done", after=after, paused=while_paused[paused_id],
        results={t: {"state": r["state"], "agent_id": r["agent_id"]} for t, r in results.items()},
        agents=sup.list_agents(), status=sup.status())


if __name__ == "__main__":
    main()
