"""Starting agent actors: resource checks first, then a bounded wait for readiness.

Ray leaves an actor whose resources no node has in PENDING forever and says
nothing to the caller.  Here an infeasible request is refused before the actor
is created, and an actor that does not come up (resources busy, a crash in
``__init__``) is killed and reported with what it asked and what is free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from agents.agent.actor import agent_actor_name
from agents.agent.resources import check_feasible, node_resources, request_for
from agents.errors import RaymasError
from agents.specs import AgentSpec

__all__ = ["AgentStartError", "actor_options", "spawn_agents"]


class AgentStartError(RaymasError):
    """An agent actor was created but did not become ready."""


def actor_options(spec: AgentSpec, nodes: list[dict[str, float]], namespace: str) -> dict[str, Any]:
    """Ray ``.options()`` for an agent, after checking the cluster can hold it."""
    request = request_for(spec.to_dict(), nodes)
    check_feasible(spec.agent_id, request, nodes)
    opts: dict[str, Any] = {
        **request,
        "name": agent_actor_name(spec.agent_id),
        "namespace": namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "max_restarts": spec.max_restarts,
        "max_concurrency": 1000,
    }
    if spec.scheduling:
        opts["scheduling_strategy"] = spec.scheduling
    return opts


async def spawn_agents(
    actor_cls: type,
    specs: Sequence[AgentSpec],
    supervisor_name: str,
    namespace: str,
    stall_timeout_s: float,
    bus_name: str | None = None,
    message_keys: str | None = None,
    tokens: Mapping[str, str] | None = None,
) -> list[tuple[AgentSpec, Any, dict[str, Any]]]:
    """Create the actors and wait until each answers ``ready``.

    The wait fails only if no agent becomes ready for ``stall_timeout_s`` in a
    row, so a slow start of hundreds of agents is not mistaken for a hang.
    """
    nodes = node_resources()
    remote_cls: Any = ray.remote(actor_cls)
    created = []
    for spec in specs:  # check all before creating any
        created.append((spec, actor_options(spec, nodes, namespace)))
    handles = [(spec, remote_cls.options(**opts).remote(
        spec.to_dict(), supervisor_name, namespace, bus_name, message_keys,
        (tokens or {}).get(spec.agent_id)))
        for spec, opts in created]
    futures = {asyncio.ensure_future(h.ready.remote()): (spec, h) for spec, h in handles}
    infos: dict[str, dict[str, Any]] = {}
    pending = set(futures)
    while pending:
        done, pending = await asyncio.wait(
            pending, timeout=stall_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            stuck = [futures[f] for f in pending]
            for _, handle in stuck:
                ray.kill(handle, no_restart=True)
            spec = stuck[0][0]
            raise AgentStartError(
                f"{len(stuck)} agent(s) not ready after {stall_timeout_s:g}s without progress, "
                f"e.g. {spec.agent_id!r} asking {request_for(spec.to_dict(), nodes)}; "
                f"the cluster has free now: {ray.available_resources()}"
            )
        for fut in done:
            spec, _ = futures[fut]
            infos[spec.agent_id] = fut.result()  # re-raises an __init__ failure
    return [(spec, h, infos[spec.agent_id]) for spec, h in handles]
