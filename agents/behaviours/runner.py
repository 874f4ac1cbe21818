"""The runner: one asyncio task per behaviour, and the dispatch of envelopes to them.

:class:`BehaviourRunner` holds an agent's behaviours.  Each one runs as its
own task (``on_start``, its run loop, ``on_end``); a failing behaviour ends
alone.  :meth:`BehaviourRunner.dispatch` gives an envelope to every behaviour
whose template matches it, never waiting: a full inbox drops the envelope for
that behaviour and counts it, and an envelope no template matched is counted
too, so the caller can dead-letter either.

Example:
    >>> import asyncio
    >>> from agents.behaviours.base import OneShotBehaviour
    >>> from agents.behaviours.template import Template
    >>> from messaging.envelope import Envelope
    >>> class Echo(OneShotBehaviour):
    ...     async def run(self) -> None:
    ...         env = await self.receive(timeout_s=5)
    ...         await self.runner.send(env.reply("me", "inform", env.payload))
    >>> sent = []
    >>> async def main():
    ...     async with BehaviourRunner("me", send=sent.append) as runner:
    ...         echo = runner.add(Echo(), Template(performative="request"))
    ...         taken = runner.dispatch(Envelope.new("you", recipient="me",
    ...                                              performative="request", payload=42))
    ...         await echo.join(timeout_s=5)
    ...     return taken, [e.payload for e in sent], runner.status()[0]["state"]
    >>> asyncio.run(main())
    (1, [42], 'done')
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

from agents.behaviours.base import (
    DEFAULT_INBOX_SIZE,
    Behaviour,
    BehaviourError,
    PeriodicBehaviour,
    agent_label,
)
from agents.behaviours.template import BaseTemplate
from messaging.envelope import Envelope

__all__ = ["BehaviourRunner", "SendFn", "describe_exit"]

logger = logging.getLogger(__name__)


def describe_exit(code: Any) -> Any:
    """``exit_code`` as plain data for :meth:`BehaviourRunner.status`.

    Example:
        >>> describe_exit(ValueError("boom")), describe_exit(0), describe_exit(None)
        ('ValueError: boom', 0, None)
    """
    if isinstance(code, BaseException):
        return f"{type(code).__name__}: {code}"
    if code is None or isinstance(code, bool | int | float | str):
        return code
    return repr(code)


B = TypeVar("B", bound=Behaviour)

#: How behaviours send: given an envelope, sends or publishes it (sync or async).
SendFn = Callable[[Envelope], Awaitable[Any] | Any]


class BehaviourRunner:
    """Runs an agent's behaviours and dispatches envelopes to them.

    Args:
        agent: given to every behaviour as ``behaviour.agent`` (any object).
        send: how ``runner.send(envelope)`` sends; None: behaviours cannot send.
        inbox_size: envelopes each behaviour's inbox holds (default 1,000).
        stop_grace_s: how long :meth:`stop` lets killed behaviours end on their
            own before cancelling their tasks.

    Attributes:
        unmatched: envelopes dispatched that no behaviour's template matched.
        dropped: envelopes a matching behaviour refused because its inbox was full.
    """

    def __init__(self, agent: Any, send: SendFn | None = None, *,
                 inbox_size: int = DEFAULT_INBOX_SIZE, stop_grace_s: float = 1.0) -> None:
        if isinstance(inbox_size, bool) or not isinstance(inbox_size, int) or inbox_size < 1:
            raise BehaviourError(f"inbox_size must be a positive integer, got {inbox_size!r}")
        if not isinstance(stop_grace_s, int | float) or stop_grace_s < 0:
            raise BehaviourError(f"stop_grace_s must be a number of seconds >= 0, "
                                 f"got {stop_grace_s!r}")
        if send is not None and not callable(send):
            raise BehaviourError(f"send must be callable, got {type(send).__name__}")
        self.agent = agent
        self._send = send
        self.inbox_size = inbox_size
        self.stop_grace_s = float(stop_grace_s)
        self._templates: dict[Behaviour, BaseTemplate | None] = {}
        self._tasks: dict[Behaviour, asyncio.Task[None]] = {}
        self._running = False
        self.unmatched = 0
        self.dropped = 0

    # -- membership --------------------------------------------------------------
    @property
    def behaviours(self) -> list[Behaviour]:
        """The behaviours added and not removed, in the order they were added."""
        return list(self._templates)

    @property
    def running(self) -> bool:
        return self._running

    def add(self, behaviour: B, template: BaseTemplate | None = None) -> B:
        """Add ``behaviour``, receiving what ``template`` matches (None: nothing).

        Starts it at once if the runner is running.  Returns the behaviour.

        Raises:
            BehaviourError: not a behaviour, already added to a runner, or already run.
        """
        if not isinstance(behaviour, Behaviour):
            raise BehaviourError(f"can only add a Behaviour, got {type(behaviour).__name__}")
        if template is not None and not isinstance(template, BaseTemplate):
            raise BehaviourError(f"behaviour {behaviour.name!r}: template must be a Template, "
                                 f"got {type(template).__name__}")
        if behaviour.runner is not None:
            owner = "this runner" if behaviour.runner is self else "another runner"
            raise BehaviourError(f"behaviour {behaviour.name!r} was already added to {owner}")
        if behaviour.state != "pending":
            raise BehaviourError(f"behaviour {behaviour.name!r} has already run "
                                 f"({behaviour.state}); add a new instance")
        behaviour.runner = self
        behaviour.agent = self.agent
        behaviour._inbox_size = behaviour.inbox_capacity or self.inbox_size
        self._templates[behaviour] = template
        if self._running:
            self._launch(behaviour)
        return behaviour

    def remove(self, behaviour: Behaviour) -> None:
        """Kill ``behaviour`` and stop dispatching to it; it ends on its own (on_end runs).

        Raises:
            BehaviourError: it is not one of this runner's behaviours.
        """
        if behaviour not in self._templates:
            names = ", ".join(repr(b.name) for b in self._templates) or "none"
            raise BehaviourError(f"behaviour {getattr(behaviour, 'name', behaviour)!r} is "
                                 f"not in this runner (behaviours: {names})")
        del self._templates[behaviour]
        behaviour.kill()

    # -- running -----------------------------------------------------------------
    def _launch(self, behaviour: Behaviour) -> None:
        task = asyncio.get_running_loop().create_task(
            behaviour._main(), name=f"behaviour:{behaviour.agent_name}:{behaviour.name}")
        self._tasks[behaviour] = task
        task.add_done_callback(functools.partial(self._ended, behaviour))

    def _ended(self, behaviour: Behaviour, task: asyncio.Task[None]) -> None:
        if self._tasks.get(behaviour) is task:
            del self._tasks[behaviour]
        if not task.cancelled() and task.exception() is not None:
            # _main records the behaviour's own errors; anything here is a bug of ours
            logger.error("agent %s: behaviour %s task ended with an error",
                         behaviour.agent_name, behaviour.name, exc_info=task.exception())

    async def start(self) -> None:
        """Start every behaviour not started yet; later ones start when added."""
        self._running = True
        for behaviour in list(self._templates):
            if behaviour.state == "pending" and behaviour not in self._tasks:
                self._launch(behaviour)

    async def stop(self) -> None:
        """Kill every behaviour and wait for each to end (its ``on_end`` included).

        Behaviours still running after ``stop_grace_s`` (a ``run()`` busy in a
        long await) are cancelled; their ``on_end`` still runs.
        """
        self._running = False
        for behaviour in list(self._templates):
            behaviour.kill()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.stop_grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def __aenter__(self) -> BehaviourRunner:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- messages ----------------------------------------------------------------
    def dispatch(self, envelope: Envelope) -> int:
        """Put ``envelope`` in the inbox of every live behaviour whose template matches.

        Never waits; call it from the runner's event loop (the agent's).  Returns
        how many behaviours took it; 0 means nobody did:
        either no template matched (counted in ``unmatched``) or every matching
        inbox was full (counted in ``dropped`` and each behaviour's ``dropped``),
        and the caller should dead-letter it.
        """
        matched = taken = 0
        for behaviour, template in self._templates.items():
            if template is None or behaviour.is_done() or not template.match(envelope):
                continue
            matched += 1
            if behaviour._deliver(envelope):
                taken += 1
            else:
                self.dropped += 1
        if not matched:
            self.unmatched += 1
        return taken

    async def send(self, envelope: Envelope) -> Any:
        """Send (or publish, if it has a topic) ``envelope`` with the runner's ``send``.

        Raises:
            BehaviourError: the runner was built without ``send``.
        """
        if self._send is None:
            raise BehaviourError(f"agent {self.agent_name}: this BehaviourRunner was built "
                                 "without send=, so behaviours cannot send")
        result = self._send(envelope)
        if inspect.isawaitable(result):
            result = await result
        return result

    # -- reporting ---------------------------------------------------------------
    @property
    def agent_name(self) -> str:
        return agent_label(self.agent)

    def status(self) -> list[dict[str, Any]]:
        """One plain dict per behaviour: name, type, state (pending, running, done,
        killed or failed), runs, failures, last_error, exit_code (an exception as
        ``"Type: message"``), dropped, inbox (waiting envelopes) and, for periodic
        behaviours, missed ticks."""
        rows = []
        for b in self._templates:
            row: dict[str, Any] = {
                "name": b.name, "type": type(b).__name__, "state": b.state, "runs": b.runs,
                "failures": b.failures, "last_error": b.last_error,
                "exit_code": describe_exit(b.exit_code), "dropped": b.dropped,
                "inbox": b.inbox_size,
            }
            if isinstance(b, PeriodicBehaviour):
                row["missed"] = b.missed
            rows.append(row)
        return rows
