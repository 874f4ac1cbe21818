"""Contract Net (FIPA): cfp → propose / refuse / not-understood → accept / reject → inform.

Two pieces.  :class:`Conversation` is one round's FIPA bookkeeping: it takes
proposals and refusals until the reply-by deadline, refuses late ones, and
makes awards idempotent (a Ray actor error can be raised for a call that did
run, so the same accept may be sent twice).  :class:`ContractNet` is the
allocation strategy: best proposal wins, ties broken by the proposal's total
order, no agent awarded beyond its free slots, no proposal → the task stays
pending and is re-announced.

Example:
    >>> import numpy as np
    >>> from agents.protocols.base import AgentView, Proposal, TaskView
    >>> agents = {n: AgentView(n, frozenset({"x"}), 1) for n in "ab"}
    >>> bids = {"t": [Proposal("t", "a", cost=2.0), Proposal("t", "b", cost=1.0)]}
    >>> out = ContractNet().allocate([TaskView("t", ("x",))], agents, bids,
    ...                             np.random.default_rng(0))
    >>> out.awards[0].agent_id, out.awards[0].rejected
    ('b', ('a',))
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from agents.errors import AllocationError
from agents.protocols.base import (
    AgentView,
    AllocationOutcome,
    Award,
    Proposal,
    Refusal,
    StrategyBase,
    TaskView,
    Vote,
    task_order,
)
from messaging.envelope import Performative

__all__ = ["ContractNet", "Conversation", "Performative", "best_proposals"]


def best_proposals(
    task: TaskView, proposals: Sequence[Proposal], agents: Mapping[str, AgentView]
) -> list[Proposal]:
    """Proposals from live agents with a free slot, best first."""
    usable = [
        p
        for p in proposals
        if p.task_id == task.task_id
        and p.agent_id in agents
        and agents[p.agent_id].alive
        and agents[p.agent_id].free > 0
    ]
    return sorted(usable, key=Proposal.rank)


class ContractNet(StrategyBase):
    """Award each task to its best proposal (lowest cost, then ETA, load, id)."""

    name = "contract_net"
    needs_proposals = True
    #: why a task stays pending: nobody proposed; every proposer is gone or full
    no_proposal = "no proposal before the deadline"
    proposers_gone = "every proposing agent is gone or at capacity"

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
            ranked = best_proposals(task, bids, agents)
            if not ranked:
                out.pending[task.task_id] = self.proposers_gone if bids else self.no_proposal
                continue
            winner = ranked[0]
            agents[winner.agent_id].load += 1
            losers = tuple(sorted({p.agent_id for p in bids} - {winner.agent_id}))
            out.awards.append(Award(task.task_id, winner.agent_id, winner.cost, losers))
        return out


class ConversationState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class Conversation:
    """One contract-net round under a single conversation id.

    Times are plain floats from the caller's clock, so the deadline logic is
    testable without waiting.
    """

    conversation_id: str
    task_ids: frozenset[str]
    reply_by: float
    proposals: dict[str, list[Proposal]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    late: int = 0
    awards: dict[str, Award] = field(default_factory=dict)
    outcomes: dict[str, Performative] = field(default_factory=dict)
    state: ConversationState = ConversationState.OPEN

    def receive(self, message: Proposal | Refusal, now: float) -> bool:
        """Take a reply; False (and counted as late) once the deadline has passed."""
        if message.task_id not in self.task_ids:
            raise AllocationError(
                f"conversation {self.conversation_id}: reply for unknown task "
                f"{message.task_id!r} from {message.agent_id!r}"
            )
        if self.state is ConversationState.CLOSED or now > self.reply_by:
            self.late += 1
            return False
        if isinstance(message, Proposal):
            self.proposals.setdefault(message.task_id, []).append(message)
        else:
            self.refusals.append(message)
        return True

    def close(self) -> None:
        """Stop taking replies (called at the deadline or when all have answered)."""
        self.state = ConversationState.CLOSED

    def drop_bidder(self, agent_id: str) -> None:
        """Forget the proposals of an agent that died before the award."""
        for task_id, props in self.proposals.items():
            self.proposals[task_id] = [p for p in props if p.agent_id != agent_id]

    def award(self, award: Award) -> Award:
        """Record an accept-proposal; repeating the same award is a no-op."""
        previous = self.awards.get(award.task_id)
        if previous is not None:
            if previous.agent_id != award.agent_id:
                raise AllocationError(
                    f"task {award.task_id!r} already awarded to {previous.agent_id!r} "
                    f"in conversation {self.conversation_id}; refusing to award "
                    f"{award.agent_id!r} too"
                )
            return previous
        self.awards[award.task_id] = award
        return award

    def inform(self, task_id: str, agent_id: str, performative: Performative) -> None:
        """Record the winner's inform-done / inform-result / failure."""
        award = self.awards.get(task_id)
        if award is None or award.agent_id != agent_id:
            raise AllocationError(
                f"{agent_id!r} informs on task {task_id!r} it was not awarded "
                f"in conversation {self.conversation_id}"
            )
        if performative not in (
            Performative.INFORM_DONE,
            Performative.INFORM_RESULT,
            Performative.FAILURE,
        ):
            raise AllocationError(f"{performative.value} is not an outcome performative")
        self.outcomes.setdefault(task_id, performative)
