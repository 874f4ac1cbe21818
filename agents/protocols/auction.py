"""Sealed-bid auctions: first-price and Vickrey (second-price), for tasks and resources.

For tasks the auction is a procurement (reverse) auction: the lowest cost
wins.  For resources it is a selling auction: the highest value wins.  The
first-price winner pays its own bid; the Vickrey winner pays the best losing
bid (or the reserve when it bid alone), which makes truthful bidding a
dominant strategy.  Ties are broken deterministically by agent id.

Example:
    >>> clear([Bid("a", 5.0), Bid("b", 3.0), Bid("c", 4.0)], rule="vickrey", side="procure")
    Clearing(winner='b', price=4.0, ranked=('b', 'c', 'a'))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from agents.errors import AllocationError
from agents.protocols.base import (
    AgentView,
    AllocationOutcome,
    Award,
    Proposal,
    StrategyBase,
    TaskView,
    Vote,
    task_order,
)
from agents.protocols.contract_net import best_proposals

__all__ = ["Auction", "Bid", "Clearing", "clear"]

Rule = Literal["first_price", "vickrey"]
Side = Literal["procure", "sell"]


@dataclass(frozen=True)
class Bid:
    """A sealed bid: a cost when procuring, a value when selling."""

    agent_id: str
    amount: float


@dataclass(frozen=True)
class Clearing:
    """The auction's result: winner (None if no valid bid), price paid, bidders ranked."""

    winner: str | None
    price: float | None
    ranked: tuple[str, ...]


def clear(
    bids: Sequence[Bid],
    *,
    rule: Rule = "first_price",
    side: Side = "procure",
    reserve: float | None = None,
    alive: frozenset[str] | None = None,
) -> Clearing:
    """Clear a sealed-bid auction.

    Args:
        bids: at most one bid per agent (a second bid from an agent is an error).
        rule: ``first_price`` or ``vickrey``.
        side: ``procure`` (lowest wins) or ``sell`` (highest wins).
        reserve: a bid worse than this is ignored; Vickrey's lone winner pays it.
        alive: if given, bids from agents outside it (dead mid-auction) are dropped.
    """
    if rule not in ("first_price", "vickrey"):
        raise AllocationError(f"unknown auction rule {rule!r}: use 'first_price' or 'vickrey'")
    if side not in ("procure", "sell"):
        raise AllocationError(f"unknown auction side {side!r}: use 'procure' or 'sell'")
    seen: set[str] = set()
    for b in bids:
        if b.agent_id in seen:
            raise AllocationError(f"agent {b.agent_id!r} bid twice in a sealed-bid auction")
        seen.add(b.agent_id)
    sign = 1.0 if side == "procure" else -1.0
    valid = [
        b
        for b in bids
        if (alive is None or b.agent_id in alive)
        and np.isfinite(b.amount)
        and (reserve is None or sign * b.amount <= sign * reserve)
    ]
    ranked = sorted(valid, key=lambda b: (sign * b.amount, b.agent_id))
    if not ranked:
        return Clearing(None, None, ())
    winner = ranked[0]
    if rule == "first_price":
        price: float | None = winner.amount
    elif len(ranked) > 1:
        price = ranked[1].amount
    else:
        price = reserve if reserve is not None else winner.amount
    return Clearing(winner.agent_id, price, tuple(b.agent_id for b in ranked))


class Auction(StrategyBase):
    """Allocation by sealed-bid procurement auction over the agents' proposals."""

    needs_proposals = True

    def __init__(self, rule: Rule = "first_price") -> None:
        self.rule: Rule = rule
        self.name = "vickrey" if rule == "vickrey" else "first_price"

    def allocate(
        self,
        tasks: Sequence[TaskView],
        agents: Mapping[str, AgentView],
        proposals: Mapping[str, Sequence[Proposal]],
        rng: np.random.Generator,
        votes: Mapping[str, Sequence[Vote]] | None = None,
        electorate: Mapping[str, Sequence[str]] | None = None,
    ) -> AllocationOutcome:
        out = AllocationOutcome()
        for task in task_order(tasks):
            bids = proposals.get(task.task_id, ())
            usable = best_proposals(task, bids, agents)
            result = clear([Bid(p.agent_id, p.cost) for p in usable], rule=self.rule)
            if result.winner is None:
                out.pending[task.task_id] = (
                    "no bid before the deadline" if not bids else "no usable bid"
                )
                continue
            agents[result.winner].load += 1
            losers = tuple(sorted({p.agent_id for p in bids} - {result.winner}))
            out.awards.append(Award(task.task_id, result.winner, result.price or 0.0, losers))
        return out
