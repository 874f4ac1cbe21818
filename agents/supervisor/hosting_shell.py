"""The Supervisor's part for hosted agents (``hosting: shared``): a mixin of its actor.

Starting hosts and their agents (``spawn_group``, and the shared agents of
``spawn``), a host's one heartbeat for all its agents, the plan a host is built
from when it starts or Ray restarts it, a round's awards to one host's agents
in one call, probing a host's agents back in one call, and watching each host
once: a host that dies or restarts takes its agents with it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agents.errors import NotFoundError
from agents.hosting import HostPlan, host_actor_name, host_of
from agents.hosting.host import expand_specs
from agents.specs import AgentSpec
from agents.supervisor import calls
from agents.supervisor.book import TaskBook
from agents.supervisor.hosts import Hosts, start_hosts
from agents.supervisor.records import Action, Settle
from agents.supervisor.settings import SupervisorSettings
from messaging.crypto import TokenIssuer

__all__ = ["HostedAgents"]


class HostedAgents:
    """Mixin of :class:`~agents.supervisor.actor.Supervisor` (its state is set up there)."""

    cfg: SupervisorSettings
    book: TaskBook
    hosts: Hosts
    handles: dict[str, Any]
    issuer: TokenIssuer
    mailboxes: dict[str, int]
    reports: dict[str, dict[str, Any]]
    _probing: set[str]

    if TYPE_CHECKING:  # provided by the Supervisor
        def _apply(self, actions: Sequence[Action]) -> None: ...

        def _background(self, coro: Coroutine[Any, Any, None]) -> None: ...

        def _poke(self) -> None: ...

        def _after_settle(self, action: Settle, outcomes: Any, called_at: float) -> None: ...

    def _reattach_host(self, host_id: str, specs: Sequence[AgentSpec]) -> None:
        """A restarted Supervisor finds a host by name and takes its agents back."""
        try:
            host = calls.find_agent(host_actor_name(host_id), self.cfg.namespace)
        except ValueError:
            for spec in specs:
                self.book.agent_gone(spec.agent_id, spec, "its host was gone when the "
                                     "Supervisor restarted")
            return
        handles = self.hosts.add(host_id, host, [s.agent_id for s in specs])
        self.handles.update((s.agent_id, h) for s, h in zip(specs, handles, strict=True))
        self._apply(self.book.agents_joined(specs, time.monotonic()))
        self._watch_host(host_id)

    async def _settle_host(self, host_id: str, actions: Sequence[Settle]) -> None:
        """The awards of one round to agents of one host: one call for them all."""
        called_at = time.monotonic()
        outcomes = await calls.settle_hosted(self.hosts.handles[host_id], [
            (a.agent_id, a.conversation_id, [t.wire for t in a.tasks], a.rejected)
            for a in actions])
        for action, outcome in zip(actions, outcomes, strict=True):
            self._after_settle(action, outcome, called_at)
        self._poke()

    async def _probe_host(self, host_id: str, agent_ids: Sequence[str]) -> None:
        """Heard from agents of a host taken for dead: back if the host answers a call."""
        called_at = time.monotonic()
        try:
            host = self.hosts.handles[host_id]
            if await calls.answers(host, self.book.heartbeat_timeout_s):
                for agent_id in agent_ids:
                    if host_of(self.handles.get(agent_id)) is not None:
                        self._apply(self.book.back(agent_id, called_at))
                self._poke()
        finally:
            self._probing.difference_update(agent_ids)

    def _watch_host(self, host_id: str) -> None:
        if host_id not in self.hosts.watched:
            self.hosts.watched.add(host_id)
            self._background(self._host_watch(host_id, self.hosts.handles[host_id]))

    async def _host_watch(self, host_id: str, handle: Any) -> None:
        """A host that dies takes its agents with it: all are dead together.  Ray restarts
        a host (its incarnation changes): its agents, started over, beat again and are
        probed back; one that is gone for good stays dead."""
        try:
            while True:
                called_at = time.monotonic()
                life = await calls.host_life(handle)
                if life is not None and self.hosts.lives.setdefault(host_id, life) == life:
                    if await calls.watch_host(handle) == "stopped":
                        return
                    continue  # unreachable or restarted: ask its incarnation again
                for agent_id in sorted(self.hosts.members.get(host_id, ())):
                    self._apply(self.book.agent_dead(
                        agent_id, f"host {host_id} " + ("died" if life is None
                                                        else "restarted"), called_at))
                self._poke()
                if life is None:
                    return
                self.hosts.lives[host_id] = life
        finally:
            self.hosts.watched.discard(host_id)

    async def spawn_group(self, template: Mapping[str, Any], count: int,
                          message_keys: str | None = None) -> dict[str, Any]:
        """Start ``count`` shared agents like ``template`` (ids ``<agent_id>-<i>``, from 0),
        in hosts of ``agents_per_host``; returns how many and the hosts, not one
        description per agent (there may be a hundred thousand)."""
        base = AgentSpec.from_dict({**template, "hosting": "shared"})
        prefix = f"{self.cfg.name}-{uuid.uuid4().hex[:8]}"
        name, size = base.agent_id, base.agents_per_host
        plans = []
        for k, lo in enumerate(range(0, count, size)):
            host_id = f"{prefix}-{k}"
            plans.append(HostPlan(host_id, {**base.to_dict(), "host": host_id},
                                  [{"agent_id": f"{name}-{i}"}
                                   for i in range(lo, min(count, lo + size))]))
        keys = message_keys if message_keys is not None else self.cfg.message_keys
        await self._spawn_hosted(plans, keys, describe=False)
        return {"agents": sum(len(p.rows) for p in plans), "hosts": [p.host_id for p in plans]}

    async def _spawn_hosted(self, plans: Sequence[HostPlan], keys: str | None,
                            describe: bool = True) -> dict[str, dict[str, Any]]:
        """Start hosts and put their agents in the book; a description per agent (none
        without ``describe``)."""
        if not plans:
            return {}
        for plan in plans:
            self.hosts.plans[plan.host_id] = plan
        started = await start_hosts(plans, self.cfg.name, self.cfg.namespace,
                                    self.cfg.bus_name, keys, self.cfg.agent_start_timeout_s,
                                    plans[0].template.get("scheduling"))
        out: dict[str, dict[str, Any]] = {}
        now = time.monotonic()
        for plan, host, info in started:
            self.hosts.lives[plan.host_id] = info["incarnation"]
            handles = self.hosts.add(plan.host_id, host, plan.agent_ids)
            specs = expand_specs(plan.template, plan.rows)  # the template names the host
            for spec, handle in zip(specs, handles, strict=True):
                self.handles[spec.agent_id] = handle
            self._apply(self.book.agents_joined(specs, now, info.get("node_id")))
            self._watch_host(plan.host_id)
            if describe:
                for spec in specs:
                    out[spec.agent_id] = {
                        "agent_id": spec.agent_id, "agent_type": spec.agent_type.value,
                        "capabilities": sorted(spec.capabilities), "hosting": "shared",
                        "host_id": plan.host_id, "node_id": info.get("node_id"),
                        "pid": info.get("pid"), "capacity": spec.task_limit}
        self._poke()
        return out

    def host_plan(self, host_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """What agent host ``host_id`` holds: a template spec and each agent's differences
        (a host asks when it starts, and again when Ray restarts it)."""
        return self.hosts.plan_of(host_id)

    def heartbeat_host(self, host_id: str, beat: Mapping[str, Any]) -> int:
        """A host's heartbeat for all its agents (see ``AgentHost.beat``); how many of
        them the book knows."""
        now = time.monotonic()
        busy, reports = beat.get("busy", {}), beat.get("reports", {})
        known_n, poke = 0, False
        actions: list[Action] = []
        for agent_id in beat["agents"]:
            self.mailboxes[agent_id] = busy[agent_id][2] if agent_id in busy else 0
            if agent_id in reports:
                self.reports[agent_id] = dict(reports[agent_id])
            rec = self.book.agents.get(agent_id)
            was_eligible = rec is not None and rec.eligible
            known, acts = self.book.heard(agent_id, now)
            actions.extend(acts)
            known_n += known
            poke = poke or (known and not was_eligible)
        self._apply(actions)
        if poke:
            self._poke()
        return known_n

    async def issue_identity(self, agent_id: str) -> str:
        """The identity token of a registered agent (hosted agents ask when first needed)."""
        rec = self.book.agents.get(agent_id)
        if rec is None:
            raise NotFoundError("agent", agent_id)
        return self.issuer.issue(agent_id, rec.spec.capabilities)
