"""Starting and finding the Supervisor, and two facades over it.

:class:`Coordinator` is the async API (``await coordinator.allocate_task(...)``);
:class:`SupervisorClient` is the same API for scripts, blocking.  Both talk to
the named, detached Supervisor actor, so a Ray job submitted later finds the
one ``raymas run`` started.

Example (on a connected Ray)::

    sup = start_supervisor({"ledger_url": "sqlite:///:memory:"})
    client = SupervisorClient(sup)
    client.register_agent("agent_001", ["planning", "execution"], 10)
    client.allocate_task(TaskAllocation(task_id="t1", required_capabilities=["execution"]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ray

from agents.model import TaskAllocation
from agents.supervisor import Supervisor, SupervisorSettings

__all__ = ["Coordinator", "SupervisorClient", "get_supervisor", "start_supervisor"]


def start_supervisor(settings: Mapping[str, Any] | None = None) -> Any:
    """Create the Supervisor actor (or return the running one of that name)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cfg = SupervisorSettings(**dict(settings or {}))
    if cfg.bus_name:
        from messaging.bus import start_bus

        start_bus(cfg.bus_name, cfg.namespace)
    # near the driver (the head node, where a SQLite ledger lives); elsewhere if it dies
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    remote_cls: Any = ray.remote(Supervisor)
    handle = remote_cls.options(
        scheduling_strategy=here,
        name=cfg.name,
        namespace=cfg.namespace,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=-1,
        num_cpus=0,
        max_concurrency=10_000,
    ).remote(cfg.__dict__)
    ray.get(handle.status.remote())
    return handle


def get_supervisor(name: str = "raymas-supervisor", namespace: str = "raymas") -> Any:
    """The running Supervisor; raises ValueError if none is running."""
    return ray.get_actor(name, namespace=namespace)


def _task(t: TaskAllocation | Mapping[str, Any]) -> dict[str, Any]:
    return t.to_dict() if isinstance(t, TaskAllocation) else dict(t)


class Coordinator:
    """Async facade: every method awaits one Supervisor call."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def register_agent(self, agent_id: str, capabilities: Sequence[str],
                             max_tasks: int | None = None, **spec: Any) -> dict[str, Any]:
        return await self.handle.register_agent.remote(agent_id, list(capabilities),
                                                       max_tasks, **spec)

    async def spawn(self, specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return await self.handle.spawn.remote([dict(s) for s in specs])

    async def deregister_agent(self, agent_id: str) -> bool:
        return await self.handle.deregister_agent.remote(agent_id)

    async def list_agents(self) -> list[dict[str, Any]]:
        return await self.handle.list_agents.remote()

    async def describe_agent(self, agent_id: str) -> dict[str, Any]:
        return await self.handle.describe_agent.remote(agent_id)

    async def allocate_task(self, task: TaskAllocation | Mapping[str, Any],
                            timeout_s: float | None = None) -> str:
        return await self.handle.allocate_task.remote(_task(task), timeout_s)

    async def submit(self, tasks: Sequence[TaskAllocation | Mapping[str, Any]]) -> list[str]:
        return await self.handle.submit.remote([_task(t) for t in tasks])

    async def wait(self, task_ids: Sequence[str], timeout_s: float | None = None
                   ) -> dict[str, dict[str, Any]]:
        return await self.handle.wait.remote(list(task_ids), timeout_s)

    async def status(self) -> dict[str, Any]:
        return await self.handle.status.remote()

    async def hold_vote(self, question: str, options: Sequence[Any], **kw: Any
                        ) -> dict[str, Any]:
        return await self.handle.hold_vote.remote(question, list(options), **kw)

    async def auction_resource(self, resource: str, **kw: Any) -> dict[str, Any]:
        return await self.handle.auction_resource.remote(resource, **kw)


class SupervisorClient:
    """Blocking facade for scripts and jobs; the same methods as :class:`Coordinator`."""

    def __init__(self, handle: Any | None = None, *, name: str = "raymas-supervisor",
                 namespace: str = "raymas") -> None:
        self.handle = handle if handle is not None else get_supervisor(name, namespace)

    def register_agent(self, agent_id: str, capabilities: Sequence[str],
                       max_tasks: int | None = None, **spec: Any) -> dict[str, Any]:
        return ray.get(self.handle.register_agent.remote(agent_id, list(capabilities),
                                                         max_tasks, **spec))

    def spawn(self, specs: Sequence[Mapping[str, Any]], message_keys: str | None = None
              ) -> list[dict[str, Any]]:
        return ray.get(self.handle.spawn.remote([dict(s) for s in specs], message_keys))

    def deregister_agent(self, agent_id: str) -> bool:
        return ray.get(self.handle.deregister_agent.remote(agent_id))

    def list_agents(self) -> list[dict[str, Any]]:
        return ray.get(self.handle.list_agents.remote())

    def describe_agent(self, agent_id: str) -> dict[str, Any]:
        return ray.get(self.handle.describe_agent.remote(agent_id))

    def allocate_task(self, task: TaskAllocation | Mapping[str, Any],
                      timeout_s: float | None = None) -> str:
        return ray.get(self.handle.allocate_task.remote(_task(task), timeout_s))

    def submit(self, tasks: Sequence[TaskAllocation | Mapping[str, Any]]) -> list[str]:
        return ray.get(self.handle.submit.remote([_task(t) for t in tasks]))

    def wait(self, task_ids: Sequence[str], timeout_s: float | None = None
             ) -> dict[str, dict[str, Any]]:
        return ray.get(self.handle.wait.remote(list(task_ids), timeout_s))

    def status(self) -> dict[str, Any]:
        return ray.get(self.handle.status.remote())

    def hold_vote(self, question: str, options: Sequence[Any], **kw: Any) -> dict[str, Any]:
        """Agents vote on ``question`` (rule, quorum, deadline_s, capabilities in ``kw``)."""
        return ray.get(self.handle.hold_vote.remote(question, list(options), **kw))

    def auction_resource(self, resource: str, **kw: Any) -> dict[str, Any]:
        """Sell ``resource`` by sealed bid (rule, reserve, deadline_s in ``kw``)."""
        return ray.get(self.handle.auction_resource.remote(resource, **kw))

    def shutdown(self, *, kill_supervisor: bool = True) -> int:
        """Stop every agent and, by default, the Supervisor itself."""
        stopped = ray.get(self.handle.shutdown.remote())
        if kill_supervisor:
            settings = ray.get(self.handle.settings.remote())
            ray.kill(self.handle, no_restart=True)
            if settings["bus_name"]:
                try:
                    ray.kill(ray.get_actor(settings["bus_name"], namespace=settings["namespace"]),
                             no_restart=True)
                except ValueError:
                    pass
        return stopped
