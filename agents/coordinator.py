"""The seed's coordinator API: ``MultiAgentCoordinator(strategy=CoordinationStrategy...)``.

A thin layer over what ``raymas run`` uses: on first use it joins Ray
(``RAY_ADDRESS`` or ``address=``) or starts an embedded one (a new local Ray,
as ``raymas run`` does without a cluster address), attaches to the running Supervisor or starts
one with the chosen default strategy (:func:`~agents.supervisor.client.start_supervisor`),
then hands every call to the async :class:`~agents.supervisor.client.Coordinator`.
:meth:`MultiAgentCoordinator.close` (or leaving ``async with``) stops only what
it started: the Supervisor and its agents if it started them, Ray if it is
embedded.  Importing this module does not import Ray.

Example::

    async with MultiAgentCoordinator(strategy=CoordinationStrategy.CONTRACT_NET) as c:
        await c.register_agent("agent_001", ["planning", "execution"], 10)
        allocation = await c.allocate_task(TaskAllocation(task_id="task_001",
                                                          required_capabilities=["planning"]))
        allocation.agent_id        # 'agent_001'
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from agents.specs import TaskAllocation

if TYPE_CHECKING:
    from agents.supervisor.client import Coordinator

__all__ = ["AllocationResult", "CoordinationStrategy", "MultiAgentCoordinator"]


class CoordinationStrategy(enum.StrEnum):
    """The allocation strategies the Supervisor knows (``agents.protocols.STRATEGIES``)."""

    CONTRACT_NET = "contract_net"
    FIRST_PRICE = "first_price"
    VICKREY = "vickrey"
    CONSENSUS = "consensus"
    OPTIMAL = "optimal"
    SSI = "ssi"
    CBBA = "cbba"
    LEAST_LOADED = "least_loaded"
    POWER_OF_TWO = "power_of_two"


@dataclass(frozen=True)
class AllocationResult:
    """Who got a task: ``agent_id`` won ``task_id`` under ``strategy``."""

    task_id: str
    agent_id: str
    strategy: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _names(capabilities: Iterable[Any]) -> list[str]:
    return [str(c.value) if isinstance(c, enum.Enum) else str(c) for c in capabilities]


class MultiAgentCoordinator:
    """Agents and task allocation on Ray, from a script: see the module docstring.

    Args:
        strategy: the Supervisor's default strategy when this starts it, and the
            strategy of every task given here without one.
        address: Ray to join (default ``RAY_ADDRESS``; neither: start Ray here).
        namespace: Ray namespace of the Supervisor and agents.
        supervisor_name: the Supervisor actor's name (attached to if running).
        num_cpus: CPUs of an embedded Ray.
        dashboard: start Ray's dashboard with an embedded Ray.
        settings: further Supervisor settings when this starts it (``ledger_url``,
            ``bus_name``, ``heartbeat_timeout_s``...; see ``SupervisorSettings``).
            As with ``raymas run`` the ledger starts empty (``fresh``) unless
            ``settings`` say otherwise.
    """

    def __init__(self, strategy: CoordinationStrategy | str = CoordinationStrategy.CONTRACT_NET,
                 *, address: str | None = None, namespace: str = "raymas",
                 supervisor_name: str = "raymas-supervisor", num_cpus: int = 2,
                 dashboard: bool = False, settings: Mapping[str, Any] | None = None) -> None:
        self.strategy = CoordinationStrategy(strategy)
        self.address = address
        self.namespace = namespace
        self.supervisor_name = supervisor_name
        self.num_cpus = num_cpus
        self.dashboard = dashboard
        self.settings = dict(settings or {})
        self._coordinator: Coordinator | None = None
        self._owns_ray = False
        self._owns_supervisor = False
        self._lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> Coordinator:
        """Connect and find or start the Supervisor (once); the async ``Coordinator``."""
        async with self._lock:
            if self._coordinator is None:
                self._coordinator = await self._start()
            return self._coordinator

    async def _start(self) -> Coordinator:
        import ray

        from agents.supervisor.client import Coordinator, get_supervisor, start_supervisor

        address = self.address or os.environ.get("RAY_ADDRESS") or None
        namespace = self.namespace
        if ray.is_initialized():
            namespace = ray.get_runtime_context().namespace or namespace
        elif address:  # join the cluster, as `raymas run --address` does
            ray.init(address=address, namespace=namespace, configure_logging=False)
        else:  # on this thread, not a worker thread: ray.init installs signal handlers
            ray.init(address="local", num_cpus=self.num_cpus, namespace=namespace,
                     include_dashboard=self.dashboard, configure_logging=False)
            self._owns_ray = True
        try:
            handle = get_supervisor(self.supervisor_name, namespace)
        except ValueError:
            settings = {"fresh": True, **self.settings, "name": self.supervisor_name,
                        "namespace": namespace, "strategy": self.strategy.value}
            handle = await asyncio.to_thread(start_supervisor, settings)
            self._owns_supervisor = True
        return Coordinator(handle)

    async def close(self) -> None:
        """Stop what this started: its Supervisor (and agents), then its embedded Ray."""
        async with self._lock:
            coordinator, self._coordinator = self._coordinator, None
            if coordinator is None:
                return
            import ray

            try:
                if self._owns_supervisor:
                    await coordinator.shutdown()
            finally:
                if self._owns_ray:
                    ray.shutdown()
                self._owns_ray = self._owns_supervisor = False

    async def __aenter__(self) -> MultiAgentCoordinator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- the seed's calls, and a few more --------------------------------------
    def _with_strategy(self, task: TaskAllocation | Mapping[str, Any]) -> TaskAllocation:
        spec = task if isinstance(task, TaskAllocation) else TaskAllocation.from_dict(task)
        if spec.strategy is None:
            spec = dataclasses.replace(spec, strategy=self.strategy.value)
        return spec

    async def register_agent(self, agent_id: str, capabilities: Iterable[Any],
                             max_tasks: int | None = None, **spec: Any) -> dict[str, Any]:
        """Start (or re-attach to) an agent actor; ``spec`` takes ``AgentSpec`` fields."""
        coordinator = await self.start()
        return await coordinator.register_agent(agent_id, _names(capabilities), max_tasks,
                                                **spec)

    async def deregister_agent(self, agent_id: str) -> bool:
        return await (await self.start()).deregister_agent(agent_id)

    async def allocate_task(self, task: TaskAllocation | Mapping[str, Any],
                            timeout_s: float | None = None) -> AllocationResult:
        """Submit ``task`` and wait until an agent is awarded it (not until it finishes)."""
        spec = self._with_strategy(task)
        agent_id = await (await self.start()).allocate_task(spec, timeout_s)
        return AllocationResult(task_id=spec.task_id, agent_id=agent_id,
                                strategy=str(spec.strategy))

    async def submit(self, tasks: Sequence[TaskAllocation | Mapping[str, Any]]) -> list[str]:
        """Queue tasks (without waiting for their awards); their ids."""
        return await (await self.start()).submit([self._with_strategy(t) for t in tasks])

    async def wait(self, task_ids: Sequence[str], timeout_s: float | None = None
                   ) -> dict[str, dict[str, Any]]:
        """Each task's outcome (``state``, ``value``, ``agent_id``...) once finished."""
        return await (await self.start()).wait(task_ids, timeout_s)

    async def list_agents(self) -> list[dict[str, Any]]:
        return await (await self.start()).list_agents()

    async def status(self) -> dict[str, Any]:
        return await (await self.start()).status()
