"""What one allocation round collects, and whom it asks: pure, no Ray.

:func:`cfp_groups` picks the participants of a call for proposals (per
capability group, the least loaded agents with a free slot);
:class:`RoundResult` is what the round's calls (:mod:`agents.supervisor.calls`)
bring back for the task book.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.protocols.base import AgentView, Proposal, Refusal, TaskView, Vote
from agents.protocols.contract_net import Conversation

__all__ = ["RoundResult", "by_capabilities", "cfp_groups", "offers"]


@dataclass
class RoundResult:
    conversation_id: str
    proposals: dict[str, list[Proposal]] = field(default_factory=dict)
    votes: dict[str, list[Vote]] = field(default_factory=dict)
    electorate: dict[str, list[str]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    late_agents: list[str] = field(default_factory=list)
    #: the FIPA bookkeeping of a contract-net round (awards go through it)
    conversation: Conversation | None = None
    #: the cfp each agent was sent (an object ref), for asking it again (re-bids)
    payloads: dict[str, Any] = field(default_factory=dict)
    #: gossip rounds the agents took to agree (the bundle algorithm)
    rounds: int = 0
    #: every bidder's costs add up (none depends on what else it holds)
    additive: bool = True


def by_capabilities(agents: Mapping[str, AgentView]) -> dict[frozenset[str], list[AgentView]]:
    """Live agents grouped by capability set, least utilised first within a group."""
    groups: dict[frozenset[str], list[AgentView]] = {}
    for agent in sorted(agents.values(), key=lambda a: (a.load / max(a.capacity, 1),
                                                        a.agent_id)):
        if agent.alive:
            groups.setdefault(agent.capabilities, []).append(agent)
    return groups


def offers(n_members: int, n_tasks: int, per_task: int) -> list[list[int]]:
    """Which tasks each of ``n_members`` participants is asked about: every task by
    ``per_task`` of them (all, if fewer), dealt round-robin so each gets an even share.

    Example:
        >>> offers(3, 4, 2)
        [[0, 1, 3], [0, 2, 3], [1, 2]]
        >>> all(sorted(sum(offers(5, 7, 3), [])) == sorted(list(range(7)) * 3) for _ in [0])
        True
    """
    k = min(per_task, n_members)
    out: list[list[int]] = [[] for _ in range(n_members)]
    for task in range(n_tasks):
        for j in range(k):
            out[(task * k + j) % n_members].append(task)
    return out


def cfp_groups(
    tasks: Sequence[TaskView], agents: Mapping[str, AgentView], fanout: int
) -> list[tuple[list[str], list[TaskView]]]:
    """Group the participants by capability set: each group shares one cfp payload.

    With ``fanout > 0`` each group calls only its ``fanout`` least-loaded
    agents with a free slot, plus more while their free slots do not cover
    twice the group's tasks (the manager picks its participants, as FIPA allows).
    """
    out = []
    for caps, everyone in by_capabilities(agents).items():
        members = [a for a in everyone if a.free > 0]
        mine = [t for t in tasks if set(t.required_capabilities) <= caps]
        if not mine or not members:
            continue
        chosen = members
        if fanout > 0:  # the least loaded, and enough of them to bid on every task twice
            cover, n = 0, 0
            while n < len(members) and (n < fanout or cover < 2 * len(mine)):
                cover += members[n].free
                n += 1
            chosen = members[:n]
        out.append(([a.agent_id for a in chosen], mine))
    return out
