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

from agents.protocols.base import AgentView, Proposal, Refusal, TaskView, capable_agents
from agents.protocols.consensus import Vote
from agents.protocols.contract_net import Conversation

__all__ = ["RoundResult", "ballot_round", "cfp_round", "gather_replies"]


@dataclass
class RoundResult:
    conversation_id: str
    proposals: dict[str, list[Proposal]] = field(default_factory=dict)
    votes: dict[str, list[Vote]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    late_agents: list[str] = field(default_factory=list)


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


def _cfp_groups(
    tasks: Sequence[TaskView], agents: Mapping[str, AgentView], fanout: int
) -> list[tuple[list[str], list[TaskView]]]:
    """Group the participants by capability set: each group shares one cfp payload.

    With ``fanout > 0`` each group calls only that many of its least-loaded
    agents with a free slot (the manager picks its participants, as FIPA allows).
    """
    groups: dict[frozenset[str], tuple[list[str], list[TaskView]]] = {}
    for agent in sorted(agents.values(), key=lambda a: (a.load / max(a.capacity, 1),
                                                        a.agent_id)):
        if agent.alive and agent.free > 0:
            groups.setdefault(agent.capabilities, ([], []))[0].append(agent.agent_id)
    for caps, (members, mine) in groups.items():
        mine.extend(t for t in tasks if set(t.required_capabilities) <= caps)
        if fanout > 0:
            del members[fanout:]
    return [g for g in groups.values() if g[1]]


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
    result = RoundResult(conv.conversation_id, dead=dead, late_agents=late)
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
) -> RoundResult:
    """Ask every capable agent to vote on who of the candidates takes each task."""
    ballots: dict[str, dict[str, Any]] = {}
    voters: dict[str, list[str]] = {}
    for task in tasks:
        capable = capable_agents(task, agents)
        ballots[task.task_id] = {
            "proposal_id": task.task_id,
            "question": f"who takes {task.task_id}",
            "options": [{"id": a.agent_id, "load": a.load / max(a.capacity, 1)}
                        for a in capable if a.free > 0],
        }
        for a in capable:
            voters.setdefault(a.agent_id, []).append(task.task_id)
    calls = {
        agent_id: handles[agent_id].vote.remote([ballots[t] for t in ids])
        for agent_id, ids in voters.items()
    }
    replies, dead, late = await gather_replies(calls, timeout)
    result = RoundResult(uuid.uuid4().hex, dead=dead, late_agents=late)
    for agent_id, choices in replies.items():
        for task_id, choice in zip(voters[agent_id], choices, strict=True):
            result.votes.setdefault(task_id, []).append(Vote(agent_id, choice))
    return result
