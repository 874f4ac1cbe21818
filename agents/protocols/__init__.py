"""Allocation strategies: pure cores the Supervisor runs (no Ray here).

Task by task: ``contract_net``, ``first_price``, ``vickrey``, ``consensus``, and the
load balancers ``least_loaded`` and ``power_of_two``.  Whole round, on the agents'
own costs: ``optimal`` (the cost-minimal assignment), ``ssi`` (sequential
single-item auctions with re-bids) and ``cbba`` (the agents agree by gossip).

:func:`get_strategy` maps a name from config or a task to a fresh strategy.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from agents.errors import AllocationError
from agents.protocols.assignment import OptimalStrategy
from agents.protocols.auction import Auction, Bid, Clearing, clear
from agents.protocols.base import (
    AgentView,
    AllocationOutcome,
    AllocationStrategy,
    Award,
    Proposal,
    Refusal,
    TaskView,
)
from agents.protocols.claims import CbbaStrategy
from agents.protocols.consensus import Consensus, Decision, Vote, tally
from agents.protocols.contract_net import ContractNet, Conversation, Performative
from agents.protocols.load_balance import LeastLoaded, PowerOfTwoChoices
from agents.protocols.ssi import SsiStrategy

__all__ = [
    "STRATEGIES",
    "AgentView",
    "AllocationOutcome",
    "AllocationStrategy",
    "Auction",
    "Award",
    "Bid",
    "CbbaStrategy",
    "Clearing",
    "Consensus",
    "ContractNet",
    "Conversation",
    "Decision",
    "LeastLoaded",
    "OptimalStrategy",
    "Performative",
    "PowerOfTwoChoices",
    "Proposal",
    "Refusal",
    "SsiStrategy",
    "TaskView",
    "Vote",
    "clear",
    "get_strategy",
    "tally",
]

STRATEGIES: dict[str, Callable[[], AllocationStrategy]] = {
    "contract_net": ContractNet,
    "first_price": lambda: Auction("first_price"),
    "vickrey": lambda: Auction("vickrey"),
    "consensus": Consensus,
    "optimal": OptimalStrategy,
    "ssi": SsiStrategy,
    "cbba": CbbaStrategy,
    "least_loaded": LeastLoaded,
    "power_of_two": PowerOfTwoChoices,
}


def get_strategy(name: str) -> AllocationStrategy:
    """A new strategy object for ``name``; unknown names get a did-you-mean error."""
    try:
        return STRATEGIES[name]()
    except KeyError:
        close = difflib.get_close_matches(name, STRATEGIES, n=1)
        hint = f" did you mean {close[0]!r}?" if close else ""
        raise AllocationError(
            f"unknown allocation strategy {name!r};{hint} known: {', '.join(STRATEGIES)}"
        ) from None
