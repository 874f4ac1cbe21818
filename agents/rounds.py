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

__all__ = ["RoundResult", "ballot_round", "cfp_round"]


@dataclass
class RoundResult:
    conversation_id: str
    proposals: dict[str, list[Proposal]] = field(default_factory=dict)
    votes: dict[str, list[Vote]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    late_agents: list[str] = field(default_factory=list)


async def _gather(
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


def _per_agent(
    tasks: Sequence[TaskView], agents: Mapping[str, AgentView]
) -> dict[str, list[TaskView]]:
    by_agent: dict[str, list[TaskView]] = {}
    for task in tasks:
        for agent in capable_agents(task, agents):
            if agent.free > 0:
                by_agent.setdefault(agent.agent_id, []).append(task)
    return by_agent


async def cfp_round(
    tasks: Sequence[TaskView],
    agents: Mapping[str, AgentView],
    handles: Mapping[str, Any],
    timeout: float,
    now: float,
) -> RoundResult:
    """Send one batched cfp per capable agent; collect proposals until ``timeout``."""
    conv = Conversation(uuid.uuid4().hex, frozenset(t.task_id for t in tasks), now + timeout)
    calls = {
        agent_id: handles[agent_id].cfp.remote(
            conv.conversation_id,
            [{"task_id": t.task_id, "kind": t.kind,
              "required_capabilities": t.required_capabilities} for t in ts],
        )
        for agent_id, ts in _per_agent(tasks, agents).items()
    }
    replies, dead, late = await _gather(calls, timeout)
    result = RoundResult(conv.conversation_id, dead=dead, late_agents=late)
    for agent_id, answers in replies.items():
        for answer in answers:
            if answer[0] == "propose":
                _, task_id, cost, eta, load = answer
                conv.receive(Proposal(task_id, agent_id, cost, eta, load), now)
            else:
                conv.receive(Refusal(answer[1], agent_id, answer[2],
                                     answer[0] == "not-understood"), now)
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
    replies, dead, late = await _gather(calls, timeout)
    result = RoundResult(uuid.uuid4().hex, dead=dead, late_agents=late)
    for agent_id, choices in replies.items():
        for task_id, choice in zip(voters[agent_id], choices, strict=True):
            result.votes.setdefault(task_id, []).append(Vote(agent_id, choice))
    return result
