"""One allocation round against live agents: calls for proposals and ballots.

These functions do the Ray calls of a round (one call per agent, carrying all
of that agent's tasks) and turn the replies into the plain values the pure
strategies take.  Agents that die mid-round are reported back, not hidden.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray

from agents.protocols.base import AgentView, Proposal, Refusal, TaskView
from agents.protocols.consensus import Vote
from agents.protocols.contract_net import Conversation

__all__ = ["RoundResult", "ballot_round", "cfp_round", "gather_replies"]


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


async def gather_replies(
    calls: Mapping[str, Any], timeout: float
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Await one ref per agent until ``timeout``: (replies, dead agents, late agents)."""
    futures = {asyncio.ensure_future(ref): agent_id for agent_id, ref in calls.items()}
    if not futures:
        return {}, [], []
    done, pending = await asyncio.wait(futures, timeout=timeout)
    replies: dict[str, Any] = {}
    dead: list[str] = []
    for fut in done:
        agent_id = futures[fut]
        exc = fut.exception()
        if exc is None:
            replies[agent_id] = fut.result()
        elif isinstance(exc, ray.exceptions.RayActorError):
            dead.append(agent_id)
        else:
            raise exc
    for fut in pending:  # a reply after the deadline is late: dropped, counted by the caller
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
    return replies, dead, [futures[f] for f in pending]


def _by_capabilities(agents: Mapping[str, AgentView]) -> dict[frozenset[str], list[AgentView]]:
    """Live agents grouped by capability set, least utilised first within a group."""
    groups: dict[frozenset[str], list[AgentView]] = {}
    for agent in sorted(agents.values(), key=lambda a: (a.load / max(a.capacity, 1),
                                                        a.agent_id)):
        if agent.alive:
            groups.setdefault(agent.capabilities, []).append(agent)
    return groups


def _cfp_groups(
    tasks: Sequence[TaskView], agents: Mapping[str, AgentView], fanout: int
) -> list[tuple[list[str], list[TaskView]]]:
    """Group the participants by capability set: each group shares one cfp payload.

    With ``fanout > 0`` each group calls only its ``fanout`` least-loaded
    agents with a free slot, plus more while their free slots do not cover
    twice the group's tasks (the manager picks its participants, as FIPA allows).
    """
    out = []
    for caps, everyone in _by_capabilities(agents).items():
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


async def cfp_round(
    tasks: Sequence[TaskView],
    agents: Mapping[str, AgentView],
    handles: Mapping[str, Any],
    timeout: float,
    now: float,
    fanout: int = 0,
) -> RoundResult:
    """One call for proposals per participant, the payload put once per capability group."""
    conv = Conversation(uuid.uuid4().hex, frozenset(t.task_id for t in tasks), now + timeout)
    calls = {}
    for members, mine in _cfp_groups(tasks, agents, fanout):
        payload = ray.put({"task_ids": [t.task_id for t in mine],
                           "kinds": [t.kind for t in mine],
                           "capabilities": [t.required_capabilities for t in mine]})
        for agent_id in members:
            calls[agent_id] = handles[agent_id].cfp.remote(conv.conversation_id, payload)
    replies, dead, late = await gather_replies(calls, timeout)
    result = RoundResult(conv.conversation_id, dead=dead, late_agents=late, conversation=conv)
    for agent_id, reply in replies.items():
        for task_id, cost, eta, load in reply["propose"]:
            conv.receive(Proposal(task_id, agent_id, cost, eta, load), now)
        for kind in ("refuse", "not-understood"):
            for reason, ids in reply[kind].items():
                for task_id in ids:
                    conv.receive(Refusal(task_id, agent_id, reason, kind != "refuse"), now)
    conv.close()
    result.proposals = conv.proposals
    result.refusals = conv.refusals
    return result


async def ballot_round(
    tasks: Sequence[TaskView],
    agents: Mapping[str, AgentView],
    handles: Mapping[str, Any],
    timeout: float,
    committee_size: int = 0,
) -> RoundResult:
    """Ask a committee of capable agents who of the candidates takes each task.

    Per capability group the candidates are the agents with a free slot; the
    committee is the ``committee_size`` least loaded of them (0: all capable).
    """
    result = RoundResult(uuid.uuid4().hex)
    calls, asked = {}, {}
    for caps, members in _by_capabilities(agents).items():
        mine = [t.task_id for t in tasks if set(t.required_capabilities) <= caps]
        candidates = [{"id": a.agent_id, "load": a.load, "capacity": a.capacity}
                      for a in members if a.free > 0]
        if not mine or not candidates:
            continue
        committee = members[:committee_size] if committee_size > 0 else members
        payload = ray.put({"task_ids": mine, "candidates": candidates})
        for a in committee:
            calls[a.agent_id] = handles[a.agent_id].vote_assignments.remote(
                result.conversation_id, payload)
            asked[a.agent_id] = mine
        for task_id in mine:
            result.electorate[task_id] = [a.agent_id for a in committee]
    replies, result.dead, result.late_agents = await gather_replies(calls, timeout)
    for agent_id, choices in replies.items():
        for task_id, choice in zip(asked[agent_id], choices, strict=True):
            result.votes.setdefault(task_id, []).append(Vote(agent_id, choice))
    return result
