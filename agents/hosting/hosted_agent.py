"""One agent inside a host: the agent actor's methods, without an actor of its own.

:class:`HostedAgent` is :class:`~agents.agent.actor.AgentActor`'s body run as
a plain object in the host's process: the same :class:`~agents.agent.core.Agent`
core and the same methods (calls for proposals, settling, bundle rounds,
requests, the bus, environments, goals), so a hosted agent behaves as an
actor agent does.  What an actor has once per process is the host's instead:
the heartbeat (one per host, for all its agents), the bus registration, the
outbound bus endpoint.  The parts an agent may never use (its bus endpoint
and mailbox, bundle-round state, a stop event) are made when first used, so
an idle hosted agent costs a few kilobytes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from agents.agent.actor import AgentActor
from agents.agent.context import AgentContext
from agents.agent.core import Agent
from agents.agent.peer_allocation import Unrecorded
from agents.specs import AgentSpec, LifecycleState

if TYPE_CHECKING:
    from agents.agent.senses import Senses
    from agents.hosting.host import AgentHost
    from messaging.endpoint import Endpoint

__all__ = ["HostedAgent"]


class HostedAgent(AgentActor):
    """An agent of a host (see the module docstring)."""

    def __init__(self, spec: AgentSpec, host: AgentHost) -> None:  # no actor set-up here
        self.agent = Agent(spec)
        self.agent.start()
        self._host = host
        self._supervisor_name = host.supervisor_name
        self._namespace = host.namespace
        self.token: str | None = None
        self.senses: Senses | None = None
        self._joined = host.joined
        self._lazy: dict[str, Any] | None = None
        if host.has_bus:  # tasks may publish from this agent (agents.agent.context)
            self.agent.context = AgentContext(
                spec.agent_id, asyncio.get_running_loop(),
                lambda topic, payload: self._endpoint().publish(topic, payload),
                self.agent.world)

    def _part(self, name: str, make: Any) -> Any:
        if self._lazy is None:
            self._lazy = {}
        part = self._lazy.get(name)
        if part is None:
            part = self._lazy[name] = make()
        return part

    # what AgentActor keeps as attributes, made when first used
    @property
    def _stopped(self) -> asyncio.Event:  # type: ignore[override]
        return self._part("stopped", asyncio.Event)

    @property
    def _bundles(self) -> TTLCache[str, Any]:  # type: ignore[override]
        return self._part("bundles", lambda: TTLCache(maxsize=64, ttl=600))

    @property
    def _early(self) -> TTLCache[str, list[dict[str, Any]]]:  # type: ignore[override]
        return self._part("early", lambda: TTLCache(maxsize=64, ttl=600))

    @property
    def _unrecorded(self) -> Unrecorded:  # type: ignore[override]
        return self._part("unrecorded", Unrecorded)

    @property
    def bus(self) -> Endpoint | None:  # type: ignore[override]
        """This agent's endpoint on the host's bus (made when first used)."""
        bus = self._host.bus
        return None if bus is None else bus.local_endpoint(self.agent.agent_id)

    @property
    def unrecorded_waiting(self) -> bool:
        return self._lazy is not None and "unrecorded" in self._lazy \
            and bool(self._unrecorded.waiting)

    async def identity(self) -> str | None:
        """Its identity token, asked of the Supervisor when first wanted (issuing one for
        each of a hundred thousand agents at start would cost seconds nobody may need)."""
        if self.token is None:
            self.token = await self._supervisor().issue_identity.remote(self.agent.agent_id)
        return self.token

    async def ready(self) -> dict[str, Any]:
        if self._joined is not None:
            await self._joined
        return self.describe()

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(host_id=self._host.host_id, hosting="shared")
        return info

    async def stop(self) -> str:
        """Stop this agent (its running tasks finish) and take it out of its host."""
        if self.senses is not None:
            await self.senses.stop()
        await self.agent.stop()
        await self._host.remove(self.agent.agent_id)
        self._stopped.set()
        return LifecycleState.STOPPED.value
