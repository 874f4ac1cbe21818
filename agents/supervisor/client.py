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

from agents.planning import TaskGraph
from agents.specs import TaskAllocation
from agents.supervisor.actor import Supervisor, SupervisorSettings

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


def _graph(g: TaskGraph | Mapping[str, Any]) -> dict[str, Any]:
    return g.to_dict() if isinstance(g, TaskGraph) else dict(g)


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

    async def submit_plan(self, graph: TaskGraph | Mapping[str, Any], plan_id: str | None = None,
                          **kw: Any) -> str:
        return await self.handle.submit_plan.remote(_graph(graph), plan_id, **kw)

    async def wait_plan(self, plan_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        return await self.handle.wait_plan.remote(plan_id, timeout_s)

    async def plan_status(self, plan_id: str, detail: bool = False) -> dict[str, Any]:
        return await self.handle.plan_status.remote(plan_id, detail)

    async def plan_results(self, plan_id: str, nodes: Sequence[str] | None = None
                           ) -> dict[str, Any]:
        return await self.handle.plan_results.remote(plan_id, nodes)

    async def cancel_plan(self, plan_id: str) -> int:
        return await self.handle.cancel_plan.remote(plan_id)


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

    def result(self, task_id: str) -> dict[str, Any]:
        """A task's state, result or error, agent, attempts and timings."""
        return ray.get(self.handle.result.remote(task_id))

    def history(self, task_id: str) -> list[tuple[str, str | None, str]]:
        """Every state a task went through: ``(state, agent_id, detail)``."""
        return ray.get(self.handle.history.remote(task_id))

    def hold_vote(self, question: str, options: Sequence[Any], **kw: Any) -> dict[str, Any]:
        """Agents vote on ``question`` (rule, quorum, deadline_s, capabilities in ``kw``)."""
        return ray.get(self.handle.hold_vote.remote(question, list(options), **kw))

    def auction_resource(self, resource: str, **kw: Any) -> dict[str, Any]:
        """Sell ``resource`` by sealed bid (rule, reserve, deadline_s in ``kw``)."""
        return ray.get(self.handle.auction_resource.remote(resource, **kw))

    def submit_plan(self, graph: TaskGraph | Mapping[str, Any], plan_id: str | None = None,
                    **kw: Any) -> str:
        """Validate and queue a task graph; returns the plan id."""
        return ray.get(self.handle.submit_plan.remote(_graph(graph), plan_id, **kw))

    def wait_plan(self, plan_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        return ray.get(self.handle.wait_plan.remote(plan_id, timeout_s))

    def plan_status(self, plan_id: str, detail: bool = False) -> dict[str, Any]:
        return ray.get(self.handle.plan_status.remote(plan_id, detail))

    def plan_results(self, plan_id: str, nodes: Sequence[str] | None = None) -> dict[str, Any]:
        return ray.get(self.handle.plan_results.remote(plan_id, nodes))

    def cancel_plan(self, plan_id: str) -> int:
        return ray.get(self.handle.cancel_plan.remote(plan_id))

    def observe_plan(self, plan_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Tell a plan the world changed; what no longer holds is replanned."""
        return ray.get(self.handle.observe_plan.remote(plan_id, dict(changes)))

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
