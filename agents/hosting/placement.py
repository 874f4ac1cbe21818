"""Which agents share a host, and the hosts' plans: pure, no Ray.

Shared agents (``hosting: shared``) are cut into hosts of at most
``agents_per_host`` in the order given; each host gets a template spec (the
first agent's) and, per agent, only what differs from it, so a host of 10,000
agents that differ only by id travels as one spec and 10,000 ids.

Example:
    >>> from agents.specs import AgentSpec
    >>> specs = [AgentSpec(f"b{i}", hosting="shared", agents_per_host=2) for i in range(3)]
    >>> [(p.host_id, [r["agent_id"] for r in p.rows]) for p in plan_hosts(specs, "h")]
    [('h-0', ['b0', 'b1']), ('h-1', ['b2'])]
    >>> specs[2].host
    'h-1'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.specs import AgentSpec

__all__ = ["HostPlan", "plan_hosts"]


@dataclass(frozen=True)
class HostPlan:
    """One host to start: its id, the template spec and each agent's differences."""

    host_id: str
    template: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def agent_ids(self) -> list[str]:
        return [r["agent_id"] for r in self.rows]


def plan_hosts(specs: Sequence[AgentSpec], prefix: str) -> list[HostPlan]:
    """Hosts ``<prefix>-0``, ``<prefix>-1``... for the shared agents of ``specs``, filled
    in order up to each one's ``agents_per_host``; sets each spec's ``host``."""
    plans: list[HostPlan] = []
    chunk: list[AgentSpec] = []

    def close() -> None:
        host_id = f"{prefix}-{len(plans)}"
        for spec in chunk:
            spec.host = host_id
        template = chunk[0].to_dict()
        rows = []
        for spec in chunk:
            row = {"agent_id": spec.agent_id}
            if spec is not chunk[0]:
                row.update((k, v) for k, v in spec.to_dict().items()
                           if k not in ("agent_id", "host") and v != template[k])
            rows.append(row)
        plans.append(HostPlan(host_id, template, rows))
        chunk.clear()

    for spec in specs:
        if spec.hosting != "shared":
            continue
        if chunk and (len(chunk) >= chunk[0].agents_per_host
                      or spec.agents_per_host != chunk[0].agents_per_host):
            close()
        chunk.append(spec)
    if chunk:
        close()
    return plans
