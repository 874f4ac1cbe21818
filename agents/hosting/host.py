"""The agent host: one Ray actor holding many agents (``hosting: shared``).

An agent actor costs a worker process (about 66 MB and a start of a second or
more on a small machine); thousands of light agents, a swarm or a market,
want to share one.  A host holds :class:`~agents.hosting.hosted_agent.HostedAgent`
objects, each with the identity, registry entry, bus address, mailbox, goals
and contract-net part of an agent actor, and batches what an actor does once
per agent:

- **one call per round**: :meth:`AgentHost.each` runs a method (a call for
  proposals, a ballot) on many of its agents and returns all their answers;
  :meth:`AgentHost.settle_many` runs the tasks awarded to its agents;
- **one heartbeat** for all its agents, to the Supervisor's ``heartbeat_host``;
- **one bus registration** and one outbound endpoint; messages between its
  agents never leave the process (:mod:`agents.hosting.host_bus`);
- **one watch**: a host that dies takes its agents with it; the Supervisor
  marks them dead together and Ray restarts the host (``max_restarts``), which
  builds its agents again from their specs and joins the bus again.

Everything else an agent does goes through :meth:`AgentHost.call` with the
agent's id (what :class:`~agents.hosting.handle.HostedAgentHandle` sends).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from agents.agent.actor import _tune_gc
from agents.hosting.host_bus import HostBus, HostedEndpoint
from agents.hosting.hosted_agent import HostedAgent
from agents.specs import AgentSpec, LifecycleState
from messaging.endpoint import BROADCAST_ALL, Endpoint, broadcast_topic, keyring_of

__all__ = ["AgentHost", "expand_specs"]

logger = logging.getLogger(__name__)


def expand_specs(template: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
                 ) -> list[AgentSpec]:
    """Specs from a shared ``template`` and per-agent differences (at least ``agent_id``)."""
    base = AgentSpec.from_dict(template)
    if all(set(r) == {"agent_id"} for r in rows):  # the common case: only the ids differ
        import dataclasses

        return [dataclasses.replace(base, agent_id=r["agent_id"]) for r in rows]
    return [AgentSpec.from_dict({**template, **r}) for r in rows]


class AgentHost:
    """Actor body holding many agents (see the module docstring)."""

    def __init__(self, host_id: str, supervisor_name: str, namespace: str,
                 bus_name: str | None = None, message_keys: str | None = None) -> None:
        self.host_id = host_id
        #: a fresh value each time Ray (re)starts this host: a caller that sees it change
        #: knows the host's agents started over, with nothing of what they ran
        self.incarnation = uuid.uuid4().hex
        self.key = f"host:{host_id}"
        self.supervisor_name = supervisor_name
        self.namespace = namespace
        self.agents: dict[str, HostedAgent] = {}
        self.by_type: dict[str, set[str]] = {}
        self.bus: HostBus | None = None
        self.joined: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        #: stopping as a whole: its agents leave the directory with it (``deregister_host``)
        self._leaving = False
        self.has_bus = bool(bus_name)
        self._keys = message_keys
        # the agents come from the Supervisor, also after Ray restarts this host: a
        # restart never depends on constructor arguments kept in the object store
        self.started = asyncio.get_running_loop().create_task(self._start(bus_name))
        self._beat: asyncio.Task[None] | None = None

    async def _start(self, bus_name: str | None) -> None:
        supervisor = ray.get_actor(self.supervisor_name, namespace=self.namespace)
        while True:
            try:
                template, rows = await supervisor.host_plan.remote(self.host_id)
                break
            except ray.exceptions.RayActorError:  # restarting: it reloads, then answers
                await asyncio.sleep(0.2)
        if bus_name:
            self.joined = asyncio.get_running_loop().create_task(self._join_bus(bus_name))
        for spec in expand_specs(template, rows):
            self._add(spec)
        _tune_gc()
        self._beat = asyncio.get_running_loop().create_task(self._heartbeats())
        if self.joined is not None:
            await self.joined

    def _add(self, spec: AgentSpec) -> HostedAgent:
        agent = HostedAgent(spec, self)  # its _joined: the host's joining of the bus
        self.agents[spec.agent_id] = agent
        self.by_type.setdefault(spec.agent_type.value, set()).add(spec.agent_id)
        return agent

    # -- the bus ----------------------------------------------------------------------
    async def _join_bus(self, bus_name: str) -> None:
        await asyncio.sleep(0)  # the agents are made first (see _start)
        directory = ray.get_actor(bus_name, namespace=self.namespace)
        keyring = keyring_of(self._keys)
        outbound = Endpoint(self.key, "host", directory, keyring=keyring)
        self.bus = HostBus(self.key, directory, outbound, self._endpoint_of, self._members,
                           keyring=keyring)
        me = ray.get_runtime_context().current_actor
        held = await directory.register_host.remote(
            self.key, me, [(a, h.agent.spec.agent_type.value) for a, h in self.agents.items()])
        outbound._flusher = asyncio.get_running_loop().create_task(outbound._flush_loop())
        for topic in (BROADCAST_ALL, *(broadcast_topic(t) for t in self.by_type)):
            await directory.subscribe.remote(self.key, topic)
        for agent in self.agents.values():
            await self._start_senses(agent)
        if held:
            for frames in held.values():
                await self.bus.deliver(frames)

    def _endpoint_of(self, agent_id: str) -> HostedEndpoint | None:
        agent = self.agents.get(agent_id)
        if agent is None or self.bus is None:
            return None
        spec = agent.agent.spec
        ep = HostedEndpoint(agent_id, spec.agent_type.value, self.bus,
                            mailbox_capacity=spec.mailbox_capacity,
                            request_handler=agent._serve_request)
        return ep

    def _members(self, agent_type: str | None) -> list[str]:
        if agent_type is None:
            return list(self.agents)
        return list(self.by_type.get(agent_type, ()))

    async def _start_senses(self, agent: HostedAgent) -> None:
        """Environments, subscriptions, role behaviours and goals, for agents with any."""
        if agent.senses is None and agent.agent.spec.senses_wanted:
            await agent._start_senses()

    async def deliver(self, batch: Sequence[bytes]) -> int:
        """Envelopes from other actors for this host's agents (one call per batch)."""
        await self.started
        if self.joined is not None:
            await self.joined
        assert self.bus is not None
        return await self.bus.deliver(batch)

    async def serve(self, frames: Sequence[bytes]) -> list[bytes]:
        """Requests sent straight to this host's agents (the replies are the return value)."""
        await self.started
        if self.joined is not None:
            await self.joined
        assert self.bus is not None
        return await self.bus.serve(frames)

    async def gossip_exchange_of(self, agent_id: str, pushed: dict[str, Any],
                                 digest: set[str]) -> dict[str, Any]:
        """A peer's gossip push to one of this host's agents; what the caller lacks."""
        await self.started
        return self.agents[agent_id]._endpoint().gossip_exchange(pushed, digest)

    # -- the Supervisor's calls, batched ---------------------------------------------
    async def each(self, method: str, agent_ids: Sequence[str], *args: Any,
                   last: Sequence[Any] | None = None) -> list[Any]:
        """Run ``method(*args)`` on each of ``agent_ids`` (with ``last[i]`` as a last
        argument for the i-th, when given); one result per agent, in order (an exception
        object where it raised, a :class:`LookupError` for an agent not here)."""
        await self.started

        async def one(agent_id: str, *more: Any) -> Any:
            agent = self.agents.get(agent_id)
            if agent is None:
                return LookupError(f"agent {agent_id!r} is not in host {self.host_id!r}")
            try:
                return await getattr(agent, method)(*args, *more)
            except Exception as exc:
                return exc
        if last is None:
            return list(await asyncio.gather(*(one(a) for a in agent_ids)))
        return list(await asyncio.gather(*(one(a, x) for a, x in zip(agent_ids, last,
                                                                        strict=True))))

    async def settle_many(self, items: Sequence[tuple[str, str, Sequence[Mapping[str, Any]],
                                                      Sequence[str]]]) -> list[Any]:
        """``(agent id, conversation id, accepted tasks, rejected ids)`` for each agent
        settled this round: each agent runs its tasks; the outcomes of each, in order."""
        await self.started

        async def one(agent_id: str, conv: str, accepted: Sequence[Mapping[str, Any]],
                      rejected: Sequence[str]) -> Any:
            agent = self.agents.get(agent_id)
            if agent is None:
                return LookupError(f"agent {agent_id!r} is not in host {self.host_id!r}")
            try:
                return await agent.settle(conv, accepted, rejected)
            except Exception as exc:
                return exc
        return list(await asyncio.gather(*(one(*item) for item in items)))

    async def call(self, agent_id: str, method: str, args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None) -> Any:
        """Any agent method on one agent (what a hosted agent's handle sends)."""
        await self.started
        agent = self.agents.get(agent_id)
        if agent is None:
            raise LookupError(f"agent {agent_id!r} is not in host {self.host_id!r}")
        if method.startswith("_"):
            raise AttributeError(f"{method!r} is not an agent method")
        result = getattr(agent, method)(*args, **dict(kwargs or {}))
        if asyncio.iscoroutine(result):
            result = await result
        return result

    # -- Mesa-style stepping (agents.hosting.simulation) ---------------------------
    async def start_stepping(self, builder: str, options: Mapping[str, Any],
                             activation: str = "random", seed: int | None = None) -> int:
        """Build a model over this host's agents (``builder``: ``"module:function"``, see
        :mod:`agents.hosting.simulation`); how many agents step."""
        from agents.hosting.simulation import resolve_builder
        from agents.hosting.stepping import Stepper

        await self.started
        built = resolve_builder(builder)([h.agent for h in self.agents.values()],
                                         dict(options), seed)
        model, stepping, reporters = (*built, {}) if len(built) == 2 else built
        self.stepper = Stepper(activation=activation, seed=seed,  # type: ignore[arg-type]
                               model=model)
        for agent_id, agent in stepping.items():
            self.stepper.add(agent_id, agent)
        for name, reporter in dict(reporters).items():
            self.stepper.collect(name, reporter)
        return len(stepping)

    def stepping_members(self) -> list[str]:
        return list(self._stepper().agents)

    async def step_agents(self, steps: int, mail: Sequence[Any]) -> dict[str, Any]:
        """Take mail from other hosts, run ``steps`` steps; the mail for elsewhere."""
        stepper = self._stepper()
        refused = stepper.deliver([tuple(m) for m in mail])
        stats = stepper.run(steps)
        return {"delivered": stats.delivered, "seconds": stats.seconds,
                "outbound": stats.outbound, "undelivered": refused + stats.undelivered}

    def stepping_data(self, name: str) -> list[Any]:
        return list(self._stepper().data.get(name, []))

    def _stepper(self) -> Any:
        stepper = getattr(self, "stepper", None)
        if stepper is None:
            raise RuntimeError(f"host {self.host_id!r} has no model: call start_stepping")
        return stepper

    # -- membership ---------------------------------------------------------------
    async def ready(self) -> dict[str, Any]:
        """The host's node, pid and agent count, once it is on the bus."""
        await self.started
        ctx = ray.get_runtime_context()
        return {"host_id": self.host_id, "node_id": ctx.get_node_id(), "pid": os.getpid(),
                "agents": len(self.agents), "incarnation": self.incarnation}

    async def remove(self, agent_id: str) -> None:
        """An agent stopped: out of the host and off the bus."""
        agent = self.agents.pop(agent_id, None)
        if agent is None:
            return
        self.by_type.get(agent.agent.spec.agent_type.value, set()).discard(agent_id)
        if self.bus is not None:
            await self.bus.forget(agent_id)
            if not self._leaving:  # a host that stops leaves the directory in one call
                await self.bus.directory.deregister.remote(agent_id)

    async def stop_agents(self, agent_ids: Sequence[str], timeout_s: float = 30.0) -> int:
        """Stop these agents (running tasks finish, up to ``timeout_s``); how many were."""
        present = [self.agents[a] for a in agent_ids if a in self.agents]
        try:
            await asyncio.wait_for(asyncio.gather(*(a.stop() for a in present),
                                                  return_exceptions=True), timeout_s)
        except TimeoutError:
            for agent in present:
                await self.remove(agent.agent.agent_id)
        return len(present)

    # -- liveness -------------------------------------------------------------------
    async def _heartbeats(self) -> None:
        """One beat for all agents: their loads and states, and the self-reports of
        agents that sense or pursue anything."""
        supervisor = None
        while not self._stopped.is_set():
            interval = min((a.agent.spec.heartbeat_interval_s for a in self.agents.values()),
                           default=1.0)
            try:
                if supervisor is None:
                    supervisor = ray.get_actor(self.supervisor_name, namespace=self.namespace)
                await supervisor.heartbeat_host.remote(self.host_id, self.beat())
                for agent in self.agents.values():
                    if agent.unrecorded_waiting:
                        await agent._unrecorded.flush(supervisor)
            except (ray.exceptions.RayActorError, ValueError) as exc:
                logger.debug("heartbeat from host %s failed: %s", self.host_id, exc)
                supervisor = None
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=interval)
            except TimeoutError:
                pass

    def beat(self) -> dict[str, Any]:
        """What a heartbeat carries: every agent's id; the load, state and mailbox of the
        agents not idle and empty; the self-reports there are."""
        busy: dict[str, tuple[int, str, int]] = {}
        reports: dict[str, Any] = {}
        endpoints = self.bus.endpoints if self.bus is not None else {}
        for agent_id, hosted in self.agents.items():
            a = hosted.agent
            ep = endpoints.get(agent_id)
            depth = len(ep.mailbox) if ep is not None else 0
            if a.load or depth or a.state is not LifecycleState.IDLE:
                busy[agent_id] = (a.load, a.state.value, depth)
            if hosted.senses is not None:
                reports[agent_id] = hosted.senses.report()
        return {"agents": list(self.agents), "busy": busy, "reports": reports}

    async def ping(self) -> bool:
        return True

    async def life(self) -> str:
        """This start's incarnation (see ``incarnation``)."""
        return self.incarnation

    async def watch(self) -> str:
        """Return when the host stops; a RayActorError here means it died."""
        await self._stopped.wait()
        return "stopped"

    async def stop(self) -> int:
        """Stop every agent, then the host; how many agents there were."""
        await self.started
        self._leaving = True
        n = await self.stop_agents(list(self.agents))
        if self.bus is not None:
            await self.bus.flush()
            await self.bus.directory.deregister_host.remote(self.key)
        self._stopped.set()
        return n

    def stats(self) -> dict[str, Any]:
        """Agents, bus endpoints made, and in-host / received message counts."""
        bus = self.bus
        return {"host_id": self.host_id, "agents": len(self.agents),
                "endpoints": len(bus.endpoints) if bus is not None else 0,
                **(dict(bus.counts) if bus is not None else {}),
                "outbound": bus.outbound.stats() if bus is not None else {}}

    def imported_modules(self, names: Sequence[str]) -> dict[str, bool]:
        import sys

        return {n: n in sys.modules for n in names}
