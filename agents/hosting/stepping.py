"""Synchronous stepping of many agents in one process, as Mesa schedules them.

A :class:`Stepper` holds a population of agents keyed by id and runs them in
steps: every agent's ``step(ctx)`` (in a fresh seeded shuffle, or in insertion
order), then every ``advance(ctx)`` of the agents that define one (Mesa's
simultaneous / staged activation: read in ``step``, write in ``advance``), then
the *exchange*.  Messages sent during a step (``ctx.send``, ``ctx.broadcast``)
are not seen by anyone until the exchange; it puts each into its recipient's
inbox exactly once, for the **next** step, highest priority first and first in,
first out within a priority.  Mail for an id that is not here comes back from
the step as ``outbound`` (one list per recipient, so a host ships a batch);
mail for an agent that was removed comes back as ``undelivered``.  Nothing is
dropped silently.  :meth:`Stepper.deliver` takes mail from elsewhere before the
next step.

No Ray and no asyncio here: a host actor owns a stepper and calls it.

Example:
    >>> class Counter:
    ...     def __init__(self) -> None:
    ...         self.seen = 0
    ...     def step(self, ctx: StepContext) -> None:
    ...         self.seen += len(ctx.inbox)
    ...         ctx.broadcast("hello")
    >>> stepper = Stepper(seed=1)
    >>> for name in "abc":
    ...     stepper.add(name, Counter())
    >>> stats = stepper.run(3)
    >>> stats.steps, stats.delivered, stepper.agents["a"].seen
    (3, 18, 4)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np

from agents.errors import ConfigError, NotFoundError

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_PRIORITY",
    "Activation",
    "Message",
    "StagedAgent",
    "StepAgent",
    "StepContext",
    "StepStats",
    "Stepper",
]

#: The priority of a message sent without one; higher is delivered first.
DEFAULT_PRIORITY = 5
Activation = Literal["random", "sequential"]
#: ``random``: a fresh seeded shuffle every step (Mesa's ``shuffle_do``);
#: ``sequential``: the order the agents were added in.
ACTIVATIONS: tuple[Activation, ...] = ("random", "sequential")
_EMPTY: tuple[Message, ...] = ()


class Message(NamedTuple):
    """One message: who sent it, what, how urgent, and in which step."""

    sender: str
    payload: Any
    priority: int = DEFAULT_PRIORITY
    step: int = 0


_new_message = tuple.__new__  # Message(...) without NamedTuple's slower __new__


@runtime_checkable
class StepAgent(Protocol):
    """Anything with ``step(ctx)`` can be stepped."""

    def step(self, ctx: StepContext) -> None: ...


@runtime_checkable
class StagedAgent(StepAgent, Protocol):
    """An agent whose ``advance(ctx)`` runs after every agent's ``step``."""

    def advance(self, ctx: StepContext) -> None: ...


class StepContext:
    """What an agent sees while it steps: itself, the step, randomness, its mail, the model.

    One context serves every agent of a stepper in turn; keep what you need from it,
    not the context itself.
    """

    __slots__ = ("_outbox", "_stepper", "agent_id", "inbox", "model", "random", "rng", "step")

    def __init__(self, stepper: Stepper) -> None:
        self._stepper = stepper
        self._outbox = stepper._outbox
        self.agent_id = ""
        #: The step number, from 0.
        self.step = 0
        #: The stepper's seeded generators: NumPy's and the standard library's.
        self.rng: np.random.Generator = stepper.rng
        self.random: random.Random = stepper.random
        #: Whatever the stepper was given as ``model`` (a space, a grid, shared settings).
        self.model: Any = stepper.model
        #: The messages delivered to this agent at the last exchange, in priority order.
        self.inbox: Sequence[Message] = _EMPTY

    def send(self, recipient: str, payload: Any, priority: int = DEFAULT_PRIORITY) -> None:
        """Queue ``payload`` for ``recipient``; it arrives in the recipient's next step."""
        if priority != DEFAULT_PRIORITY:
            self._stepper._check_priority(priority)
        self._outbox.append(
            (recipient, _new_message(Message, (self.agent_id, payload, priority, self.step))))

    def broadcast(self, payload: Any, group: Hashable | None = None,
                  priority: int = DEFAULT_PRIORITY) -> int:
        """Queue ``payload`` for every other agent (of ``group``); returns how many."""
        if priority != DEFAULT_PRIORITY:
            self._stepper._check_priority(priority)
        me = self.agent_id
        msg = _new_message(Message, (me, payload, priority, self.step))
        before = len(self._outbox)
        self._outbox.extend([(r, msg) for r in self._stepper._members(group) if r != me])
        return len(self._outbox) - before


@dataclass
class StepStats:
    """What one or more steps did: steps, messages put into inboxes, seconds, and the mail
    that did not stay here (``outbound`` by foreign recipient, ``undelivered`` to removed
    agents as ``(recipient, message)``)."""

    steps: int = 0
    delivered: int = 0
    seconds: float = 0.0
    outbound: dict[str, list[Message]] = field(default_factory=dict)
    undelivered: list[tuple[str, Message]] = field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        """Steps per second (0 when no time passed)."""
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    def merge(self, other: StepStats) -> None:
        """Add ``other``'s counts and mail to these."""
        self.steps += other.steps
        self.delivered += other.delivered
        self.seconds += other.seconds
        for recipient, msgs in other.outbound.items():
            self.outbound.setdefault(recipient, []).extend(msgs)
        self.undelivered.extend(other.undelivered)


def _priority(entry: tuple[str, Message]) -> int:
    return entry[1][2]


def _message_priority(msg: Message) -> int:
    return msg[2]


class Stepper:
    """A population of agents run in synchronous steps with a message exchange after each.

    Args:
        activation: ``"random"`` (a fresh seeded shuffle every step) or ``"sequential"``.
        seed: seeds ``rng`` (NumPy) and ``random`` (standard library); same seed, same run.
        model: shared state the agents reach as ``ctx.model`` (a spatial grid, say).
    """

    def __init__(self, *, activation: Activation = "random", seed: int | None = None,
                 model: Any = None) -> None:
        if activation not in ACTIVATIONS:
            raise ConfigError("Stepper", [("activation", f"must be one of {list(ACTIVATIONS)}, "
                                                         f"got {activation!r}")])
        self.activation = activation
        self.rng = np.random.default_rng(seed)
        self.random = random.Random(seed)
        self.model = model
        #: Steps completed.
        self.steps = 0
        self._agents: dict[str, StepAgent] = {}
        self._advancing: dict[str, None] = {}       # ids of agents with advance(), ordered
        self._groups: dict[Hashable, dict[str, None]] = {}
        self._group_of: dict[str, Hashable] = {}    # only agents that have a group
        self._inboxes: dict[str, list[Message]] = {}  # mail for the next step
        self._outbox: list[tuple[str, Message]] = []
        self._removed: set[str] = set()
        self._prioritised = False
        self._reporters: dict[str, Callable[[Stepper], Any]] = {}
        #: Each reporter's values: at registration, then after every step.
        self.data: dict[str, list[Any]] = {}
        self._ctx = StepContext(self)

    # -- the population ---------------------------------------------------------------

    @property
    def agents(self) -> Mapping[str, StepAgent]:
        """The agents by id (read-only)."""
        return MappingProxyType(self._agents)

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    def add(self, agent_id: str, agent: StepAgent, group: Hashable | None = None) -> None:
        """Add ``agent`` under ``agent_id``; it steps from the next step on.

        ``group`` (or else the agent's ``group`` attribute) is what ``broadcast`` filters on.
        """
        if agent_id in self._agents:
            raise ConfigError("Stepper.add", [("agent_id", f"{agent_id!r} is already here")])
        if not callable(getattr(agent, "step", None)):
            raise ConfigError("Stepper.add", [(agent_id, f"{type(agent).__name__} has no "
                                                         "step(ctx) method")])
        self._agents[agent_id] = agent
        self._removed.discard(agent_id)
        if callable(getattr(agent, "advance", None)):
            self._advancing[agent_id] = None
        if group is None:
            group = getattr(agent, "group", None)
        if group is not None:
            self._group_of[agent_id] = group
            self._groups.setdefault(group, {})[agent_id] = None

    def remove(self, agent_id: str) -> list[Message]:
        """Take the agent out; returns the mail it had not read yet.

        Messages sent to it afterwards come back from the exchange as ``undelivered``.
        """
        if agent_id not in self._agents:
            raise NotFoundError("agent", agent_id)
        del self._agents[agent_id]
        self._advancing.pop(agent_id, None)
        group = self._group_of.pop(agent_id, None)
        if group is not None:
            members = self._groups[group]
            del members[agent_id]
            if not members:
                del self._groups[group]
        self._removed.add(agent_id)
        return self._inboxes.pop(agent_id, [])

    def mail_for(self, agent_id: str) -> Sequence[Message]:
        """The mail waiting for ``agent_id``'s next step."""
        return self._inboxes.get(agent_id, _EMPTY)

    def _members(self, group: Hashable | None) -> Iterable[str]:
        if group is None:
            return self._agents
        return self._groups.get(group, _EMPTY_GROUP)

    def _check_priority(self, priority: object) -> None:
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise ConfigError("StepContext.send", [("priority", f"must be an int, "
                                                                f"got {priority!r}")])
        self._prioritised = True

    # -- stepping ---------------------------------------------------------------------

    def step(self) -> StepStats:
        """Step every agent, advance the staged ones, exchange the mail, record the data."""
        start = time.perf_counter()
        ids = list(self._agents)
        if self.activation == "random":
            self.random.shuffle(ids)
        agents, inboxes, ctx = self._agents, self._inboxes, self._ctx
        ctx.step = self.steps
        for aid in ids:
            agent = agents.get(aid)
            if agent is None:  # removed during this step
                continue
            ctx.agent_id = aid
            ctx.inbox = inboxes.get(aid, _EMPTY)
            agent.step(ctx)
        if self._advancing:
            advancing = self._advancing
            for aid in ids:
                if aid in advancing:
                    ctx.agent_id = aid
                    ctx.inbox = inboxes.get(aid, _EMPTY)
                    agents[aid].advance(ctx)  # type: ignore[attr-defined]
        ctx.agent_id, ctx.inbox = "", _EMPTY
        stats = self._exchange()
        self.steps += 1
        for name, reporter in self._reporters.items():
            self.data[name].append(reporter(self))
        stats.seconds = time.perf_counter() - start
        return stats

    def run(self, steps: int) -> StepStats:
        """Run ``steps`` steps; their stats summed."""
        if steps < 0:
            raise ConfigError("Stepper.run", [("steps", f"must be >= 0, got {steps}")])
        total = StepStats()
        for _ in range(steps):
            total.merge(self.step())
        return total

    def _exchange(self) -> StepStats:
        outbox = self._outbox
        if self._prioritised:
            outbox.sort(key=_priority, reverse=True)  # stable: FIFO within a priority
            self._prioritised = False
        inboxes: dict[str, list[Message]] = {}
        outbound: dict[str, list[Message]] = {}
        undelivered: list[tuple[str, Message]] = []
        agents, removed, box_of = self._agents, self._removed, inboxes.get
        for recipient, msg in outbox:
            box = box_of(recipient)
            if box is not None:
                box.append(msg)
            elif recipient in agents:
                inboxes[recipient] = [msg]
            elif recipient in removed:
                undelivered.append((recipient, msg))
            else:
                away = outbound.get(recipient)
                if away is None:
                    outbound[recipient] = [msg]
                else:
                    away.append(msg)
        sent = len(outbox)
        outbox.clear()
        self._inboxes = inboxes
        delivered = sent - len(undelivered) - sum(map(len, outbound.values()))
        return StepStats(1, delivered, 0.0, outbound, undelivered)

    def deliver(self, mail: Mapping[str, Iterable[Message | tuple[Any, ...]]]
                ) -> list[tuple[str, Message]]:
        """Put mail from elsewhere into inboxes for the next step, in priority order.

        Returns ``(recipient, message)`` for every recipient that is not here.
        """
        refused: list[tuple[str, Message]] = []
        for recipient, msgs in mail.items():
            batch = [m if type(m) is Message else Message._make(m) for m in msgs]
            if recipient not in self._agents:
                refused.extend((recipient, m) for m in batch)
                continue
            box = self._inboxes.get(recipient)
            if box is None:
                box = self._inboxes[recipient] = []
            box.extend(batch)
            box.sort(key=_message_priority, reverse=True)
        return refused

    # -- data collection --------------------------------------------------------------

    def collect(self, name: str, reporter: Callable[[Stepper], Any]) -> None:
        """Record ``reporter(stepper)`` now and after every step into ``data[name]``."""
        self._reporters[name] = reporter
        self.data[name] = [reporter(self)]


_EMPTY_GROUP: dict[str, None] = {}
