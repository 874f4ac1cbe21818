"""Rounds that look at bundles: sequential auctions with re-bids, and the bundle algorithm.

:func:`sequential_round` runs sequential single-item auctions over a round the
calls for proposals opened: the lowest bid wins one task, then only the
winner is asked again (one Ray call) for its bids on the open tasks given
what it now holds — the extra travel of adding a delivery to its route, say.

:func:`cbba_round` hands the round to the agents: each capable agent gets the
tasks and its peers' handles in one call and the agents settle the
allocation among themselves by gossip (see :mod:`agents.agent.bundles`).
The Supervisor only records what they agreed: each agent's bundle becomes
its claims, and a task two agents still both claim (a round cut short) goes
to the better bid.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from agents.protocols.base import AgentView, Proposal, TaskView
from agents.protocols.ssi import SequentialAuction
from agents.supervisor.calls import cfp_payload, gather_replies
from agents.supervisor.rounds import RoundResult, by_capabilities

__all__ = ["cbba_round", "sequential_round"]

logger = logging.getLogger(__name__)


async def sequential_round(rnd: RoundResult, agents: Mapping[str, AgentView],
                           handles: Mapping[str, Any], timeout: float
                           ) -> dict[str, tuple[str, float]]:
    """SSI over ``rnd``'s proposals with real re-bids: task -> (winner, its bid)."""
    bids: dict[str, dict[str, float | None]] = {}
    for task_id, proposals in rnd.proposals.items():
        for p in proposals:
            bids.setdefault(p.agent_id, {})[task_id] = p.cost
    caps = {a: agents[a].free for a in bids if a in agents and agents[a].alive}
    auction = SequentialAuction(sorted(rnd.proposals), caps,
                                {a: b for a, b in bids.items() if a in caps})
    won: dict[str, tuple[str, float]] = {}
    while (award := auction.next_award()) is not None:
        task_id, agent_id, cost = award
        won[task_id] = (agent_id, cost)
        mine = [t for t in auction.open_tasks if t in bids[agent_id]]
        if not mine or auction.capacity_left(agent_id) <= 0:
            continue
        try:
            fresh = await asyncio.wait_for(handles[agent_id].marginal_bids.remote(
                rnd.conversation_id, rnd.payloads[agent_id], auction.held[agent_id]), timeout)
        except (TimeoutError, ray.exceptions.RayActorError) as exc:
            logger.warning("ssi: %s gave no re-bids (%s); its tasks reopen", agent_id, exc)
            for t in auction.withdraw(agent_id):
                won.pop(t, None)
            continue
        auction.rebid(agent_id, {t: fresh.get(t) for t in mine})
    return won


async def cbba_round(tasks: Sequence[TaskView], agents: Mapping[str, AgentView],
                     handles: Mapping[str, Any], timeout: float, max_rounds: int = 500
                     ) -> RoundResult:
    """Let each capability group's agents run the bundle algorithm among themselves."""
    result = RoundResult(uuid.uuid4().hex)
    calls: dict[str, Any] = {}
    for caps, members in by_capabilities(agents).items():
        mine = [t for t in tasks if set(t.required_capabilities) <= caps]
        free = [a for a in members if a.free > 0 and a.agent_id in handles]
        if not mine or not free:
            continue
        payload = ray.put(cfp_payload(mine))
        peers = {a.agent_id: handles[a.agent_id] for a in free}
        for a in free:
            others = {p: h for p, h in peers.items() if p != a.agent_id}
            calls[a.agent_id] = handles[a.agent_id].cbba.remote(
                result.conversation_id, payload, others, a.free, max_rounds)
    replies, result.dead, result.late_agents = await gather_replies(calls, timeout)
    for agent_id, reply in replies.items():
        for task_id in reply["bundle"]:
            result.proposals.setdefault(task_id, []).append(
                Proposal(task_id, agent_id, float(reply["bids"][task_id])))
        if not reply["converged"]:
            logger.warning("cbba %s: %s stopped after %d rounds without agreement",
                           result.conversation_id, agent_id, reply["rounds"])
    result.rounds = max((r["rounds"] for r in replies.values()), default=0)
    return result
