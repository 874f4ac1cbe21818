"""Views and bids the whole-round strategy tests share."""

from __future__ import annotations

from agents.protocols.base import AgentView, Proposal


def agent_views(*names: str, cap: int = 1) -> dict[str, AgentView]:
    return {n: AgentView(n, frozenset({"x"}), cap) for n in names}


def by_task(table: dict[str, dict[str, float]]) -> dict[str, list[Proposal]]:
    """Proposals by task from ``{agent: {task: cost}}``."""
    out: dict[str, list[Proposal]] = {}
    for agent, row in table.items():
        for task, cost in row.items():
            out.setdefault(task, []).append(Proposal(task, agent, cost))
    return out
