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

A message is a plain tuple ``(sender, recipient, payload, priority, step)``
(:data:`Message`): a step's hot path is the send, and a tuple is the cheapest
thing Python makes; unpack it, or index it with :data:`PAYLOAD` and friends.
Nothing per agent is allocated for mail until an agent gets some.

Porting a Mesa model: ``model.agents.shuffle_do("step")`` is ``activation="random"``;
``SimultaneousActivation`` is an ``advance(ctx)`` on the agents; ``self.model``,
``self.random`` and ``self.rng`` are ``ctx.model``, ``ctx.random`` and ``ctx.rng``;
model reporters of a ``DataCollector`` are :meth:`Stepper.collect`; an agent changing
another's state directly becomes a message that the other applies in its next step.

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

import gc
import random
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol, runtime_checkable

import numpy as np

from agents.errors import ConfigError, NotFoundError

__all__ = ["ACTIVATIONS", "DEFAULT_PRIORITY", "PAYLOAD", "PRIORITY", "RECIPIENT", "SENDER", "STEP",
           "Activation", "Message", "StagedAgent", "StepAgent", "StepContext", "StepStats",
           "Stepper"]

#: The priority of a message sent without one; higher is delivered first.
DEFAULT_PRIORITY = 5
Activation = Literal["random", "sequential"]
#: ``random``: a fresh seeded shuffle every step (Mesa's ``shuffle_do``);
#: ``sequential``: the order the agents were added in.
ACTIVATIONS: tuple[Activation, ...] = ("random", "sequential")

#: ``(sender, recipient, payload, priority, step)``; a NamedTuple would cost three times as
#: much to make, and sending is the hot path of a step.
Message = tuple[str, str, Any, int, int]
#: Where each field of a :data:`Message` is.
SENDER: Final = 0
RECIPIENT: Final = 1
PAYLOAD: Final = 2
PRIORITY: Final = 3
STEP: Final = 4
_EMPTY: tuple[Message, ...] = ()


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

    __slots__ = ("_post", "_stepper", "agent_id", "inbox", "model", "random", "rng", "step")

    def __init__(self, stepper: Stepper) -> None:
        self._stepper = stepper
        self._post = stepper._outbox.append
        self.agent_id = ""
        #: The step number, from 0.
        self.step = 0
        #: The stepper's seeded generators: NumPy's and the standard library's.
        self.rng: np.random.Generator = stepper.rng
        self.random: random.Random = stepper.random
        #: Whatever the stepper was given as ``model`` (a space, a grid, shared settings).
        self.model: Any = stepper._model
        #: The messages delivered to this agent at the last exchange, in priority order.
        self.inbox: Sequence[Message] = _EMPTY

    @property
    def stepper(self) -> Stepper:
        """The stepper itself, to add or remove agents during a step (births and deaths):
        a newcomer steps from the next step on, a removed agent that has not stepped yet
        does not."""
        return self._stepper

    def send(self, recipient: str, payload: Any, priority: int = DEFAULT_PRIORITY) -> None:
        """Queue ``payload`` for ``recipient``; it arrives in the recipient's next step."""
        if priority != 5:  # DEFAULT_PRIORITY, without a global look-up on the hot path
            self._stepper._check_priority(priority)
        self._post((self.agent_id, recipient, payload, priority, self.step))

    def broadcast(self, payload: Any, group: Hashable | None = None,
                  priority: int = DEFAULT_PRIORITY) -> int:
        """Queue ``payload`` for every other agent (of ``group``); returns how many."""
        if priority != DEFAULT_PRIORITY:
            self._stepper._check_priority(priority)
        me, step, outbox = self.agent_id, self.step, self._stepper._outbox
        before = len(outbox)
        outbox.extend([(me, r, payload, priority, step)
                       for r in self._stepper._members(group) if r != me])
        return len(outbox) - before


@dataclass
class StepStats:
    """What one or more steps did: steps, messages put into inboxes, seconds, and the mail
    that did not stay here: ``outbound`` by foreign recipient, and ``undelivered``: the
    messages to agents that were removed."""

    steps: int = 0
    delivered: int = 0
    seconds: float = 0.0
    outbound: dict[str, list[Message]] = field(default_factory=dict)
    undelivered: list[Message] = field(default_factory=list)

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


def _checked(msg: Any) -> Message:
    sender, recipient, payload, priority, step = msg
    if not isinstance(recipient, str):
        raise ConfigError("Stepper.deliver", [("recipient", f"must be an agent id (a str), "
                                                            f"got {recipient!r} in {msg!r}")])
    if not isinstance(priority, int):
        raise ConfigError("Stepper.deliver", [("priority", f"must be an int, got {priority!r} "
                                                           f"in {msg!r}")])
    return (sender, recipient, payload, priority, step)


def _priority(msg: Message) -> int:
    return msg[3]


class Stepper:
    """A population of agents run in synchronous steps with a message exchange after each.

    Args:
        activation: ``"random"`` (a fresh seeded shuffle every step) or ``"sequential"``.
        seed: seeds ``rng`` (NumPy) and ``random`` (standard library); same seed, same run.
        model: shared state the agents reach as ``ctx.model`` (a spatial grid, say).
        pause_gc: hold Python's cyclic garbage collector until the step ends (reference
            counting still frees everything as usual).  A step allocates a message per send;
            collections triggered in the middle of it would cost more than the step itself.
    """

    def __init__(self, *, activation: Activation = "random", seed: int | None = None,
                 model: Any = None, pause_gc: bool = True) -> None:
        if activation not in ACTIVATIONS:
            raise ConfigError("Stepper", [("activation", f"must be one of {list(ACTIVATIONS)}, "
                                                         f"got {activation!r}")])
        self.activation = activation
        self.rng = np.random.default_rng(seed)
        self.random = random.Random(seed)
        self._model = model
        self.pause_gc = pause_gc
        #: Steps completed.
        self.steps = 0
        self._agents: dict[str, StepAgent] = {}
        self._advancing: set[str] = set()           # the ids of agents with advance()
        self._entries: list[tuple[str, StepAgent]] | None = None  # the order of the last step
        self._stepping = False
        self._gone: set[str] = set()                # removed during the step under way
        self._groups: dict[Hashable, dict[str, None]] = {}
        self._group_of: dict[str, Hashable] = {}    # only agents that have a group
        self._inboxes: dict[str, list[Message]] = {}  # mail for the next step
        self._outbox: list[Message] = []              # sent this step, in order
        self._removed: set[str] = set()
        self._prioritised = False
        self._reporters: dict[str, Callable[[Stepper], Any]] = {}
        #: Each reporter's values: at registration, then after every step.
        self.data: dict[str, list[Any]] = {}
        self._ctx = StepContext(self)

    # -- the population ---------------------------------------------------------------

    @property
    def model(self) -> Any:
        """What the agents see as ``ctx.model``."""
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        self._model = self._ctx.model = model

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
        The id is interned (``sys.intern``): a model that addresses agents by ids it keeps
        itself should intern them too, or take them from :attr:`agents`, so that the
        exchange finds each inbox by identity rather than by comparing strings (7 % of a
        wealth-model step when every id was a copy, as ids that came through Ray are).
        """
        agent_id = sys.intern(agent_id)
        if agent_id in self._agents:
            raise ConfigError("Stepper.add", [("agent_id", f"{agent_id!r} is already here")])
        if not callable(getattr(agent, "step", None)):
            raise ConfigError("Stepper.add", [(agent_id, f"{type(agent).__name__} has no "
                                                         "step(ctx) method")])
        self._agents[agent_id] = agent
        self._entries = None
        self._removed.discard(agent_id)
        if callable(getattr(agent, "advance", None)):
            self._advancing.add(agent_id)
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
        self._entries = None
        self._advancing.discard(agent_id)
        if self._stepping:
            self._gone.add(agent_id)
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
        return self._groups.get(group, ())

    def _check_priority(self, priority: object) -> None:
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise ConfigError("StepContext.send", [("priority", f"must be an int, "
                                                                f"got {priority!r}")])
        self._prioritised = True

    # -- stepping ---------------------------------------------------------------------

    def step(self) -> StepStats:
        """Step every agent, advance the staged ones, exchange the mail, record the data.

        An agent's exception ends the step there and propagates; what was sent before it
        goes out with the next exchange.
        """
        start = time.perf_counter()
        paused = self.pause_gc and gc.isenabled()
        if paused:
            gc.disable()
        try:
            stats = self._step()
        finally:
            if paused:
                gc.enable()
        stats.seconds = time.perf_counter() - start
        return stats

    def _step(self) -> StepStats:
        entries = self._entries
        if entries is None:
            entries = self._entries = list(self._agents.items())
        if self.activation == "random":
            self.rng.shuffle(entries)  # in place: a fresh order
        inboxes, ctx, gone = self._inboxes, self._ctx, self._gone
        mail_of = inboxes.get
        ctx.step = self.steps
        self._stepping = True
        try:
            for aid, agent in entries:
                if gone and aid in gone:  # removed during this step
                    continue
                ctx.agent_id = aid
                ctx.inbox = mail_of(aid, _EMPTY)
                agent.step(ctx)
            advancing = self._advancing
            if advancing:
                for aid, agent in entries:
                    if aid in advancing and not (gone and aid in gone):
                        ctx.agent_id = aid
                        ctx.inbox = mail_of(aid, _EMPTY)
                        agent.advance(ctx)  # type: ignore[attr-defined]
        finally:
            self._stepping = False
            gone.clear()
            ctx.agent_id, ctx.inbox = "", _EMPTY
        stats = self._exchange()
        self.steps += 1
        for name, reporter in self._reporters.items():
            self.data[name].append(reporter(self))
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
        if self._prioritised:  # a stable sort: first in, first out within a priority
            outbox.sort(key=_priority, reverse=True)
            self._prioritised = False
        inboxes: dict[str, list[Message]] = {}
        box_of = inboxes.setdefault
        for msg in outbox:  # every recipient first; the strangers are taken out after
            box_of(msg[1], []).append(msg)
        sent = len(outbox)
        outbox.clear()
        outbound: dict[str, list[Message]] = {}
        undelivered: list[Message] = []
        here = self._agents.keys()
        if not inboxes.keys() <= here:
            for recipient in [r for r in inboxes if r not in here]:
                msgs = inboxes.pop(recipient)
                if recipient in self._removed:
                    undelivered.extend(msgs)
                else:
                    outbound[recipient] = msgs
        self._inboxes = inboxes
        delivered = sent - len(undelivered) - sum(map(len, outbound.values()))
        return StepStats(1, delivered, 0.0, outbound, undelivered)

    def deliver(self, messages: Iterable[Message]) -> list[Message]:
        """Put mail from elsewhere into inboxes for the next step, in priority order.

        Returns the messages whose recipient is not here.
        """
        refused: list[Message] = []
        touched: dict[str, list[Message]] = {}
        for msg in messages:
            msg = _checked(msg)
            recipient = sys.intern(msg[1])  # the stepper's own id object: see add
            if recipient not in self._agents:
                refused.append(msg)
                continue
            box = self._inboxes.get(recipient)
            if box is None:
                box = self._inboxes[recipient] = []
            box.append(msg)
            touched[recipient] = box
        for box in touched.values():
            box.sort(key=_priority, reverse=True)
        return refused

    # -- data collection --------------------------------------------------------------

    def collect(self, name: str, reporter: Callable[[Stepper], Any]) -> None:
        """Record ``reporter(stepper)`` now and after every step into ``data[name]``."""
        self._reporters[name] = reporter
        self.data[name] = [reporter(self)]
