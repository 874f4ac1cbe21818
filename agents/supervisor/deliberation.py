"""Questions the Supervisor puts to agents outside task allocation.

:func:`hold_vote` asks agents to vote on a free question (simple majority,
weighted by capacity, or quorum) before a deadline; :func:`auction_resource`
sells a resource to the agents by sealed bid (first-price or Vickrey).  Both
do one Ray call per agent and hand the replies to the pure cores in
:mod:`agents.protocols`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from agents.protocols.auction import Bid, Rule, clear
from agents.protocols.consensus import Rule as VoteRule
from agents.protocols.consensus import Vote, tally
from agents.supervisor.calls import gather_replies

__all__ = ["auction_resource", "hold_vote"]


async def hold_vote(
    question: str,
    options: Sequence[Any],
    voters: Mapping[str, Any],
    weights: Mapping[str, float],
    *,
    rule: VoteRule = "majority",
    quorum: float = 0.5,
    deadline_s: float = 2.0,
) -> dict[str, Any]:
    """Put ``question`` to ``voters`` (agent id → actor handle); votes after the deadline miss."""
    proposal_id = f"vote-{uuid.uuid4().hex[:12]}"
    ballot = {"proposal_id": proposal_id, "question": question, "options": list(options)}
    calls = {a: h.vote.remote([ballot]) for a, h in voters.items()}
    replies, dead, late = await gather_replies(calls, deadline_s)
    votes = [Vote(a, r[0]) for a, r in sorted(replies.items())]
    decision = tally(votes, rule=rule, eligible=sorted(voters), weights=weights, quorum=quorum)
    return {"proposal_id": proposal_id, "question": question, "accepted": decision.accepted,
            "choice": decision.choice, "reason": decision.reason, "turnout": decision.turnout,
            "counts": decision.counts, "votes": [(v.voter, v.choice) for v in decision.votes],
            "weights": decision.weights, "late": sorted(late), "dead": sorted(dead)}


async def auction_resource(
    resource: str,
    bidders: Mapping[str, Any],
    *,
    rule: Rule = "vickrey",
    reserve: float | None = None,
    deadline_s: float = 2.0,
) -> dict[str, Any]:
    """Sell ``resource`` to the highest sealed bid; agents without a valuation do not bid."""
    calls = {a: h.bid_for.remote(resource) for a, h in bidders.items()}
    replies, dead, late = await gather_replies(calls, deadline_s)
    bids = [Bid(a, float(v)) for a, v in sorted(replies.items()) if v is not None]
    result = clear(bids, rule=rule, side="sell", reserve=reserve)
    return {"auction_id": f"auction-{uuid.uuid4().hex[:12]}", "resource": resource,
            "rule": rule, "winner": result.winner, "price": result.price,
            "ranked": list(result.ranked), "bids": [(b.agent_id, b.amount) for b in bids],
            "late": sorted(late), "dead": sorted(dead)}
