"""Behaviours as SPADE users know them: hooks, a run loop, a kill switch and an inbox.

A :class:`Behaviour` is a unit of an agent's activity.  A
:class:`~agents.behaviours.runner.BehaviourRunner` runs each one as its own
asyncio task: ``on_start()``, then the run loop of its kind, then ``on_end()``.
The kinds differ only in that loop:

* :class:`OneShotBehaviour` runs ``run()`` once;
* :class:`CyclicBehaviour` runs it again and again until killed or ``done()``;
* :class:`PeriodicBehaviour` runs it every ``period_s`` on a fixed grid (no drift;
  ticks missed by an overrunning run are skipped and counted);
* :class:`TimeoutBehaviour` runs it once at ``start_at``.

An exception from a hook or from ``run()`` is logged with the agent's and the
behaviour's names, counted in ``failures``/``last_error``, and ends that
behaviour with the exception as its ``exit_code``; nothing else stops.

Example:
    >>> import asyncio
    >>> from agents.behaviours.runner import BehaviourRunner
    >>> class Hello(OneShotBehaviour):
    ...     async def run(self) -> None:
    ...         print("hello from", self.name, "of", self.agent_name)
    >>> async def main() -> Hello:
    ...     async with BehaviourRunner("agent-1") as runner:
    ...         hello = runner.add(Hello())
    ...         await hello.join(timeout_s=5)
    ...     return hello
    >>> b = asyncio.run(main())
    hello from Hello of agent-1
    >>> b.runs, b.is_done(), b.state, b.exit_code
    (1, True, 'done', 0)
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
import time
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from messaging.envelope import Envelope
from messaging.errors import RaymasError

if TYPE_CHECKING:
    from agents.behaviours.runner import BehaviourRunner

__all__ = [
    "DEFAULT_INBOX_SIZE",
    "Behaviour",
    "BehaviourError",
    "CyclicBehaviour",
    "OneShotBehaviour",
    "PeriodicBehaviour",
    "TimeoutBehaviour",
    "agent_label",
    "next_tick",
]

logger = logging.getLogger(__name__)

#: Envelopes a behaviour's inbox holds before the runner drops (and counts) new ones.
DEFAULT_INBOX_SIZE = 1_000


class BehaviourError(RaymasError):
    """A behaviour, a template or a runner was used wrongly; the message says how."""


def next_tick(planned: float, period_s: float, now: float) -> tuple[float, int]:
    """The next planned run time after a run planned at ``planned``, and the ticks missed.

    Ticks lie on the grid ``planned + k * period_s``, so a late run does not push
    later ones back (no drift).  When ``now`` is already past the next tick (the
    run overran), the ticks before ``now`` are skipped and counted.

    Example:
        >>> next_tick(10.0, 1.0, 10.4)   # on time: the next tick of the grid
        (11.0, 0)
        >>> next_tick(10.0, 1.0, 12.5)   # overran: 11 and 12 are skipped
        (13.0, 2)
        >>> next_tick(10.0, 1.0, 12.0)   # exactly on a tick: run it, skip only 11
        (12.0, 1)
    """
    if not period_s > 0:
        raise BehaviourError(f"next_tick: period_s must be > 0, got {period_s!r}")
    following = planned + period_s
    if now <= following:
        return following, 0
    k = math.ceil((now - planned) / period_s)
    return planned + k * period_s, k - 1


def _wall_delay(start_at: datetime | float | None) -> float:
    """Seconds from now until ``start_at`` (a datetime or a ``time.time()`` stamp); ≥ 0."""
    if start_at is None:
        return 0.0
    if isinstance(start_at, datetime):
        now = datetime.now(start_at.tzinfo)
        return max(0.0, (start_at - now).total_seconds())
    return max(0.0, float(start_at) - time.time())


def _check_start_at(owner: str, start_at: Any) -> None:
    if start_at is None or isinstance(start_at, datetime):
        return
    if isinstance(start_at, bool) or not isinstance(start_at, int | float):
        raise BehaviourError(f"{owner}: start_at must be a datetime, a time.time() "
                             f"timestamp or None, got {start_at!r}")


def agent_label(agent: Any) -> str:
    """A name for ``agent`` in logs: its ``agent_id``, ``name`` or ``jid``, itself if it
    is a string, else its repr.

    Example:
        >>> agent_label("a1"), agent_label(None)
        ('a1', 'None')
    """
    if isinstance(agent, str):
        return agent
    for attr in ("agent_id", "name", "jid"):
        value = getattr(agent, attr, None)
        if isinstance(value, str) and value:
            return value
    return repr(agent)


class Behaviour(abc.ABC):
    """One activity of an agent, run by a :class:`BehaviourRunner` as an asyncio task.

    Subclasses implement :meth:`run` and may override :meth:`on_start`,
    :meth:`on_end` and :meth:`done`.  A direct subclass runs like a
    :class:`CyclicBehaviour`; the other kinds change only the run loop.
    ``agent`` and ``runner`` are set when the behaviour is added to a runner.

    Attributes:
        name: shown in logs and status; defaults to the class name.
        agent: whatever object the runner was given (``None`` before that).
        runner: the runner this behaviour was added to; ``await self.runner.send(env)``.
        runs: calls of ``run()`` so far.
        failures: exceptions raised by the hooks or ``run()``.
        last_error: the last of them as ``"Type: message"``, or None.
        dropped: envelopes refused because the inbox was full.
    """

    def __init__(self, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise BehaviourError(f"behaviour name must be a non-empty string, got {name!r}")
        self.name: str = name or type(self).__name__
        self.agent: Any = None
        self.runner: BehaviourRunner | None = None
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self.dropped = 0
        #: envelopes this behaviour's inbox holds before dropping; None: the runner's size
        self.inbox_capacity: int | None = None
        self._inbox: deque[Envelope] = deque()
        self._inbox_size = DEFAULT_INBOX_SIZE
        self._arrived = asyncio.Event()
        self._kill_event = asyncio.Event()
        self._ended = asyncio.Event()
        self._killed = False
        self._failed = False
        self._started = False
        self._exit_code: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.state}>"

    # -- hooks -----------------------------------------------------------------
    async def on_start(self) -> None:  # noqa: B027 - an optional hook
        """Called once before the first run."""

    @abc.abstractmethod
    async def run(self) -> None:
        """The behaviour's work; how often it is called depends on the kind."""

    async def on_end(self) -> None:  # noqa: B027 - an optional hook
        """Called once after the last run, whether it ended, was killed or failed."""

    def done(self) -> bool:
        """Whether the behaviour has finished its work (checked after each run)."""
        return False

    # -- kill and state --------------------------------------------------------
    def kill(self, exit_code: Any = None) -> None:
        """Stop the behaviour after its current run; ``exit_code`` becomes its exit code.

        A behaviour waiting in :meth:`receive` or for its next tick wakes at once.
        Killing an ended behaviour changes nothing.
        """
        if self._ended.is_set():
            return
        self._killed = True
        if exit_code is not None:
            self._exit_code = exit_code
        self._kill_event.set()
        self._arrived.set()

    def is_killed(self) -> bool:
        return self._killed

    def is_done(self) -> bool:
        """Whether the behaviour has ended (``on_end`` has returned)."""
        return self._ended.is_set()

    @property
    def exit_code(self) -> Any:
        """None while running; then the code given to :meth:`kill`, the exception
        that ended it, or 0."""
        return self._exit_code

    @property
    def state(self) -> str:
        """``pending``, ``running``, ``done``, ``killed`` or ``failed``."""
        if not self._started:
            return "pending"
        if not self._ended.is_set():
            return "running"
        if self._failed:
            return "failed"
        return "killed" if self._killed else "done"

    async def join(self, timeout_s: float | None = None) -> None:
        """Wait until the behaviour has ended; raises ``TimeoutError`` after ``timeout_s``."""
        await asyncio.wait_for(self._ended.wait(), timeout_s)

    @property
    def agent_name(self) -> str:
        """The agent's name for logs (see :func:`agent_label`)."""
        return agent_label(self.agent)

    # -- inbox -------------------------------------------------------------------
    @property
    def inbox_size(self) -> int:
        """Envelopes waiting in the inbox."""
        return len(self._inbox)

    def _deliver(self, envelope: Envelope) -> bool:
        """Put ``envelope`` in the inbox; False (and counted in ``dropped``) when full."""
        if len(self._inbox) >= self._inbox_size:
            self.dropped += 1
            return False
        self._inbox.append(envelope)
        self._arrived.set()
        return True

    async def receive(self, timeout_s: float | None = None) -> Envelope | None:
        """The next envelope of this behaviour's inbox.

        Waits up to ``timeout_s`` seconds (None: until one comes, 0: not at all);
        returns None on timeout or when the behaviour is killed while waiting.
        """
        while True:
            if self._inbox:
                return self._inbox.popleft()
            if self._killed or (timeout_s is not None and timeout_s <= 0):
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                return self._inbox.popleft() if self._inbox else None

    # -- running -----------------------------------------------------------------
    async def _sleep(self, delay_s: float) -> bool:
        """Sleep ``delay_s`` seconds unless killed first; True when not killed."""
        if self._killed:
            return False
        if delay_s <= 0:
            await asyncio.sleep(0)
            return not self._killed
        try:
            await asyncio.wait_for(self._kill_event.wait(), delay_s)
        except TimeoutError:
            return not self._killed
        return False

    async def _step(self) -> None:
        self.runs += 1
        await self.run()

    async def _loop(self) -> None:
        """The run loop of the kind of behaviour (between on_start and on_end).

        By default (as for :class:`CyclicBehaviour`): run until killed or ``done()``,
        yielding to the event loop between runs.
        """
        while not self._killed and not self.done():
            await self._step()
            await asyncio.sleep(0)

    def _record_failure(self, exc: Exception, phase: str) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        logger.error("agent %s: behaviour %s failed in %s: %s", self.agent_name, self.name,
                     phase, self.last_error, exc_info=exc)
        if not self._failed:
            self._failed = True
            self._exit_code = exc

    async def _main(self) -> None:
        """on_start, the run loop, on_end; what the runner runs as the behaviour's task.

        A cancel (the runner stopping) ends the run loop as a kill would; on_end
        still runs and the cancel is then passed on.
        """
        if self._started:
            raise BehaviourError(f"behaviour {self.name!r} has already been started")
        self._started = True
        cancelled: asyncio.CancelledError | None = None
        phase = "on_start"
        try:
            await self.on_start()
            phase = "run"
            await self._loop()
        except asyncio.CancelledError as exc:
            cancelled = exc
            self._killed = True
        except Exception as exc:
            self._record_failure(exc, phase)
        try:
            await self.on_end()
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
        except Exception as exc:
            self._record_failure(exc, "on_end")
        finally:
            if self._exit_code is None:
                self._exit_code = 0
            self._ended.set()
        if cancelled is not None:
            raise cancelled


class OneShotBehaviour(Behaviour):
    """Runs ``run()`` once (unless killed before)."""

    def done(self) -> bool:
        return self.runs > 0

    async def _loop(self) -> None:
        if not self._killed:
            await self._step()


class CyclicBehaviour(Behaviour):
    """Runs ``run()`` again and again until killed or :meth:`done` returns True.

    Between runs it yields to the event loop, so a ``run()`` that never awaits
    does not starve the agent's other behaviours.  (The loop is
    :class:`Behaviour`'s own; this class names the kind, as in SPADE.)
    """


class PeriodicBehaviour(Behaviour):
    """Runs ``run()`` every ``period_s`` seconds, first at ``start_at`` (default: now).

    Runs are planned on a fixed grid from the first planned time, not from the
    end of the previous run, so they do not drift; ticks missed while a run
    overran are skipped and counted in ``missed`` (see :func:`next_tick`).
    During a run, ``planned_at`` is the event-loop time (``loop.time()``) that run
    was planned for; between runs, the next one's.

    Args:
        period_s: seconds between planned runs (> 0).
        start_at: when to run first: a ``datetime``, a ``time.time()`` timestamp,
            or None for at once.
        name: defaults to the class name.
    """

    def __init__(self, period_s: float, start_at: datetime | float | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(period_s, bool) or not isinstance(period_s, int | float) \
                or not period_s > 0 or math.isinf(period_s):
            raise BehaviourError(f"{self.name}: period_s must be a positive number of "
                                 f"seconds, got {period_s!r}")
        _check_start_at(self.name, start_at)
        self.period_s = float(period_s)
        self.start_at = start_at
        self.missed = 0
        self.planned_at: float | None = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        self.planned_at = loop.time() + _wall_delay(self.start_at)
        while not self._killed and not self.done():
            if not await self._sleep(self.planned_at - loop.time()):
                return
            await self._step()
            self.planned_at, missed = next_tick(self.planned_at, self.period_s, loop.time())
            self.missed += missed


class TimeoutBehaviour(OneShotBehaviour):
    """Runs ``run()`` once at ``start_at`` (a ``datetime`` or a ``time.time()`` stamp).

    Killed before then, it never runs.
    """

    def __init__(self, start_at: datetime | float, name: str | None = None) -> None:
        super().__init__(name)
        if start_at is None:
            raise BehaviourError(f"{self.name}: a TimeoutBehaviour needs start_at")
        _check_start_at(self.name, start_at)
        self.start_at = start_at

    async def _loop(self) -> None:
        if await self._sleep(_wall_delay(self.start_at)):
            await self._step()
