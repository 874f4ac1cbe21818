"""The Supervisor's side of agent hosts: starting them, and knowing who lives where.

A host (:mod:`agents.hosting.host`) is one actor for many agents.  The
Supervisor keeps each agent in its book as it keeps an agent actor, with a
:class:`~agents.hosting.handle.HostedAgentHandle` as its handle; here it
starts hosts (:func:`start_hosts`) and keeps which agents each host holds
(:class:`Hosts`), so one heartbeat, one watch, one settle call and one probe
serve all of a host's agents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import ray

from agents.agent.spawn import AgentStartError
from agents.hosting.handle import HostedAgentHandle, host_actor_name
from agents.hosting.placement import HostPlan

__all__ = ["Hosts", "start_hosts"]


class Hosts:
    """Host id -> its actor handle and the ids of the agents it holds."""

    def __init__(self) -> None:
        self.handles: dict[str, Any] = {}
        self.members: dict[str, set[str]] = {}
        #: what each host is made of: it asks for this when it starts and restarts
        self.plans: dict[str, HostPlan] = {}
        #: hosts whose actor is being watched now (one watch per host)
        self.watched: set[str] = set()
        #: each host's incarnation when last seen (it changes when Ray restarts the host)
        self.lives: dict[str, str] = {}

    def add(self, host_id: str, handle: Any, agent_ids: Sequence[str]) -> list[HostedAgentHandle]:
        """Record a host and its agents; the agents' handles, in order."""
        self.handles[host_id] = handle
        self.members.setdefault(host_id, set()).update(agent_ids)
        return [HostedAgentHandle(handle, host_id, a) for a in agent_ids]

    def discard(self, host_id: str, agent_id: str) -> None:
        self.members.get(host_id, set()).discard(agent_id)
        plan = self.plans.get(host_id)
        if plan is not None:
            plan.rows[:] = [r for r in plan.rows if r["agent_id"] != agent_id]

    def plan_of(self, host_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(template, rows)`` of a host's agents (what ``AgentHost`` is built from)."""
        plan = self.plans.get(host_id)
        if plan is None:
            raise LookupError(f"no agent host {host_id!r} is known to this Supervisor")
        return plan.template, plan.rows

    def reloaded(self, host_id: str, specs: Sequence[dict[str, Any]]) -> None:
        """Rebuild a host's plan from its agents' specs in the ledger (a restart)."""
        if specs:
            self.plans[host_id] = HostPlan(host_id, dict(specs[0]), [dict(s) for s in specs])


async def start_hosts(plans: Sequence[HostPlan], supervisor_name: str, namespace: str,
                      bus_name: str | None, message_keys: str | None, timeout_s: float,
                      scheduling: str | None = None) -> list[tuple[HostPlan, Any, dict[str, Any]]]:
    """Create the hosts of ``plans`` (named, detached, restarted by Ray when they die) and
    wait until each is on the bus; a host that does not come up within ``timeout_s`` is
    killed and reported."""
    from agents.hosting.host import AgentHost

    remote_cls: Any = ray.remote(AgentHost)
    handles = []
    for plan in plans:  # the host asks the Supervisor for its plan (Supervisor.host_plan)
        opts: dict[str, Any] = {"name": host_actor_name(plan.host_id), "namespace": namespace,
                                "lifetime": "detached", "get_if_exists": True,
                                "max_restarts": -1, "max_concurrency": 10_000, "num_cpus": 0}
        if scheduling:
            opts["scheduling_strategy"] = scheduling
        handles.append(remote_cls.options(**opts).remote(
            plan.host_id, supervisor_name, namespace, bus_name, message_keys))
    try:
        infos = await asyncio.wait_for(asyncio.gather(*(h.ready.remote() for h in handles)),
                                       timeout_s)
    except TimeoutError:
        for handle in handles:
            ray.kill(handle, no_restart=True)
        raise AgentStartError(
            f"{len(plans)} agent host(s) not ready after {timeout_s:g}s; the cluster has "
            f"free now: {ray.available_resources()}") from None
    return list(zip(plans, handles, infos, strict=True))
