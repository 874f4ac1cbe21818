"""What every allocation strategy sees and returns.

A strategy is a pure object: the Supervisor gives it the tasks to place, a
view of each live agent (capabilities, capacity, current load) and, for
strategies that ask agents first, the proposals that arrived before the
deadline.  It returns awards and the reason each unplaced task stays pending.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "AgentView",
    "AllocationOutcome",
    "AllocationStrategy",
    "Award",
    "Decision",
    "Proposal",
    "Refusal",
    "StrategyBase",
    "TaskView",
    "Vote",
    "capable_agents",
    "task_order",
]


@dataclass
class AgentView:
    """The Supervisor's view of one agent when it allocates."""

    agent_id: str
    capabilities: frozenset[str]
    capacity: int
    load: int = 0
    alive: bool = True

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.load)

    def can_do(self, required: Iterable[str]) -> bool:
        return self.alive and set(required) <= self.capabilities


@dataclass(frozen=True)
class TaskView:
    """What a strategy needs to know of a task."""

    task_id: str
    required_capabilities: tuple[str, ...] = ()
    priority: int = 1
    submitted_at: float = 0.0
    kind: str = "noop"
    #: what the agents' cost functions read (see ``agents.agent.costs``)
    attributes: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Proposal:
    """An agent's bid for a task: lower ``cost`` is better."""

    task_id: str
    agent_id: str
    cost: float
    eta_s: float = 0.0
    load: float = 0.0

    def rank(self) -> tuple[float, float, float, str]:
        """Total order used to pick winners: cost, ETA, load, then agent id."""
        return (self.cost, self.eta_s, self.load, self.agent_id)


@dataclass(frozen=True)
class Refusal:
    """An agent declining a call for proposals, with the reason (or not-understood)."""

    task_id: str
    agent_id: str
    reason: str
    not_understood: bool = False


@dataclass(frozen=True)
class Award:
    """A task given to an agent; ``price`` is what an auction charged (else the bid)."""

    task_id: str
    agent_id: str
    price: float = 0.0
    rejected: tuple[str, ...] = ()


@dataclass
class AllocationOutcome:
    """Awards made and, for each task left pending, why."""

    awards: list[Award] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)

    def awarded_to(self) -> dict[str, str]:
        return {a.task_id: a.agent_id for a in self.awards}


@dataclass(frozen=True)
class Vote:
    """One voter's choice; ``None`` abstains."""

    voter: str
    choice: Hashable | None


@dataclass
class Decision:
    """The outcome of a vote, with every vote kept for the record."""

    accepted: bool
    choice: Hashable | None
    counts: dict[Hashable, float]
    votes: list[Vote]
    reason: str = ""
    turnout: float = 0.0
    weights: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class AllocationStrategy(Protocol):
    """One interface for every way of placing tasks on agents.

    Every member is declared by every strategy (:class:`StrategyBase` gives
    the defaults), so the Supervisor never probes for an attribute.
    """

    name: str
    #: True when the Supervisor must collect proposals (bids) from agents first.
    needs_proposals: bool
    #: True when the Supervisor must collect ballots from a committee first.
    needs_votes: bool
    #: True when, after the proposals, each winner bids again on the open tasks given
    #: what it won (sequential auctions; the shell passes the outcome to :meth:`decide`)
    rebids: bool
    #: True when it weighs every capable agent's bids for the whole round at once: the
    #: call for proposals then goes to all of them, not to the least-loaded fan-out
    whole_round: bool
    #: True when the agents allocate among themselves (the bundle algorithm) and the
    #: proposals the strategy gets are their agreed claims
    decentralised: bool

    @property
    def decisions(self) -> Mapping[str, Decision]:
        """The votes behind the last :meth:`allocate`, by task id (empty if none)."""
        ...

    def allocate(
        self,
        tasks: Sequence[TaskView],
        agents: Mapping[str, AgentView],
        proposals: Mapping[str, Sequence[Proposal]],
        rng: np.random.Generator,
        votes: Mapping[str, Sequence[Vote]] | None = None,
        electorate: Mapping[str, Sequence[str]] | None = None,
    ) -> AllocationOutcome:
        """Place ``tasks``; must not award an agent more than its free slots."""
        ...

    def decide(self, won: Mapping[str, tuple[str, float]]) -> None:
        """With ``rebids``: the winners (task -> (agent, bid)) the shell's re-bid rounds
        chose, for the next :meth:`allocate` to award."""
        ...


class StrategyBase:
    """Defaults for the members of :class:`AllocationStrategy` a strategy does not use."""

    name: str = ""
    needs_proposals: bool = False
    needs_votes: bool = False
    rebids: bool = False
    whole_round: bool = False
    decentralised: bool = False
    _decisions: Mapping[str, Decision] = MappingProxyType({})

    @property
    def decisions(self) -> Mapping[str, Decision]:
        return self._decisions

    def decide(self, won: Mapping[str, tuple[str, float]]) -> None:
        raise NotImplementedError(f"strategy {self.name!r} takes no re-bid outcome")


def task_order(tasks: Iterable[TaskView]) -> list[TaskView]:
    """Highest priority first, then oldest, then task id: a deterministic order."""
    return sorted(tasks, key=lambda t: (-t.priority, t.submitted_at, t.task_id))


def capable_agents(task: TaskView, agents: Mapping[str, AgentView]) -> list[AgentView]:
    """Live agents that have every capability the task needs, sorted by id."""
    return sorted(
        (a for a in agents.values() if a.can_do(task.required_capabilities)),
        key=lambda a: a.agent_id,
    )
