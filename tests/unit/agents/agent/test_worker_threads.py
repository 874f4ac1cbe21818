"""An agent's blocking tasks run on as many threads as it was given CPUs, no more."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from agents.agent.core import Agent
from agents.agent.kinds import task
from agents.specs import AgentSpec

_lock = threading.Lock()
_running = {"now": 0, "most": 0}


@task("test_threads_busy")
def _busy(seconds: float = 0.05, **_: Any) -> int:
    with _lock:
        _running["now"] += 1
        _running["most"] = max(_running["most"], _running["now"])
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # CPU-bound on purpose
        pass
    with _lock:
        _running["now"] -= 1
    return 1


def _most_at_once(spec: AgentSpec, n: int) -> int:
    _running.update(now=0, most=0)
    agent = Agent(spec)
    agent.start()

    async def main() -> list[Any]:
        return await asyncio.gather(*(agent.run_task(
            {"task_id": f"t{i}", "kind": "test_threads_busy"}) for i in range(n)))

    assert asyncio.run(main()) == [1] * n
    return _running["most"]


def test_an_agent_given_one_cpu_runs_one_blocking_task_at_a_time() -> None:
    assert _most_at_once(AgentSpec("a", num_cpus=1, max_tasks=4), 4) == 1


def test_worker_threads_overrides_the_bound() -> None:
    assert _most_at_once(AgentSpec("a", num_cpus=1, max_tasks=4, worker_threads=3), 6) == 3


def test_the_bound_never_exceeds_the_task_limit() -> None:
    assert AgentSpec("a", num_cpus=8, max_tasks=2).task_threads == 2
    assert AgentSpec("a", num_cpus=0.1, max_tasks=2).task_threads == 1
