"""One interface for every environment an agent senses and acts on, and reconnection
written once.

An :class:`Environment` is a connection to something outside the cluster: a
directory, an HTTP service, a database, a broker of devices, the machine
itself.  It has a handful of primitives, all coroutines, because it runs on an
agent actor's event loop:

- ``connect`` / ``close``: open and release the connection (idempotent);
- ``observe``: a snapshot of what the environment looks like now;
- ``act``: do one of its declared ``actions`` with keyword arguments;
- ``events``: an async stream of :class:`Event` (what happened outside) and
  :class:`Rejected` (what came in but was bad: it is counted, logged and
  dead-lettered, and the stream goes on);
- ``health``: state, reconnects, counts and the last error.

Each environment declares its ``connection_errors``; :func:`stream` keeps its
events flowing across lost connections, reconnecting with exponential back-off
and counting each reconnect, and :func:`call` retries ``observe``/``act`` the
same way.  Anything else an environment raises is its own error, re-raised.

Example:
    >>> p = Event("sensors", "reading", {"t": 21.5}, subject="s1", at=1.0).to_payload()
    >>> p["source"], p["kind"], p["subject"], p["data"]
    ('sensors', 'reading', 's1', {'t': 21.5})
    >>> decode_json(b"[1, 2]"), decode_json(b'"abc"', max_bytes=4)
    Traceback (most recent call last):
    ...
    interfaces.base.BadInput: payload of 5 bytes is over the limit of 4
"""

from __future__ import annotations

import abc
import asyncio
import collections
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from messaging.errors import RaymasError, did_you_mean

__all__ = ["Backoff", "BadInput", "Environment", "EnvironmentError", "Event", "Rejected",
           "UnknownAction", "call", "decode_json", "require", "stream"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class EnvironmentError(RaymasError):
    """An environment operation failed for good (bad options, retries exhausted)."""


class UnknownAction(EnvironmentError):
    """``act`` was asked for an action the environment does not have."""


class BadInput(EnvironmentError):
    """Data from outside that cannot be taken: the message says what was wrong."""


@dataclass(frozen=True)
class Event:
    """Something that happened outside, as an environment saw it.

    ``source`` is the environment's name, ``kind`` what happened (``created``,
    ``message``, ``notify``, ``reading``, ``threshold``...), ``subject`` what it
    happened to (a path, an MQTT topic, a channel, a key) and ``data`` the
    value, msgpack-able.  ``at`` is the wall-clock time it was seen, so the
    bus can tell how long the event took to reach an agent.
    """

    source: str
    kind: str
    data: Any = None
    subject: str = ""
    at: float = field(default_factory=time.time)
    #: protocol details beside the data (an MQTT message's qos and retain flag, an
    #: HTTP response's status and ETag...), msgpack-able
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "subject": self.subject,
                "data": self.data, "at": self.at, "meta": dict(self.meta)}


@dataclass(frozen=True)
class Rejected:
    """Data that came in but was refused; ``reason`` names what was wrong."""

    source: str
    reason: str
    raw: bytes = b""
    subject: str = ""


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off between reconnects: ``first_s``, doubling, up to ``max_s``."""

    first_s: float = 0.05
    max_s: float = 2.0
    attempts: int = 0  # 0: keep trying for ever (an environment outlives its outages)

    def delays(self) -> AsyncIterator[float]:
        return _delays(self)


async def _delays(backoff: Backoff) -> AsyncIterator[float]:
    delay, n = backoff.first_s, 0
    while backoff.attempts == 0 or n < backoff.attempts:
        yield delay
        n += 1
        delay = min(backoff.max_s, delay * 2)


class Environment(abc.ABC):
    """The primitives an agent needs from something outside (see the module docstring).

    Subclasses set ``kind``, ``actions`` and ``connection_errors`` and
    implement the abstract coroutines.  ``name`` is the instance's own name,
    used as the events' ``source`` and in topics.
    """

    kind: ClassVar[str] = "environment"
    #: the actions :meth:`act` takes
    actions: ClassVar[tuple[str, ...]] = ()
    #: errors that mean "the connection is gone": reconnect and go on (may be set per instance)
    connection_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, name: str) -> None:
        if not name:
            raise EnvironmentError(f"a {self.kind} environment needs a name")
        self.name = name
        self.state = "disconnected"
        self.reconnects = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self.last_error: str | None = None

    @abc.abstractmethod
    async def connect(self) -> None:
        """(Re)open the connection; idempotent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection (a later ``connect`` opens it again)."""

    @abc.abstractmethod
    async def observe(self) -> dict[str, Any]:
        """A snapshot of the environment now."""

    @abc.abstractmethod
    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        """Do ``action`` (one of ``actions``, already checked)."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[Event | Rejected]:
        """What happens outside, as it happens; raises a connection error on a drop."""

    async def act(self, action: str, **args: Any) -> Any:
        """Do one of the declared ``actions``; an unknown one gets a did-you-mean error."""
        if action not in self.actions:
            raise UnknownAction(f"{self.kind} environment {self.name!r} has no action "
                                f"{action!r}{did_you_mean(action, list(self.actions))} "
                                f"(it has: {', '.join(self.actions) or 'none'})")
        result = await self._act(action, args)
        self.counts["actions"] += 1
        return result

    def health(self) -> dict[str, Any]:
        return {"environment": self.name, "kind": self.kind, "state": self.state,
                "reconnects": self.reconnects, **self.counts, "last_error": self.last_error}

    def _failed(self, exc: BaseException) -> None:
        """A connection error ended an operation; the ``close`` that follows is part of a
        reconnect.  Subclasses with more than one connection may extend this to note
        which one broke, so that ``close`` keeps the ones still working."""
        self.state = "reconnecting"
        self.reconnects += 1
        self.last_error = f"{type(exc).__name__}: {exc}"


async def _reopen(env: Environment, backoff: Backoff, exc: BaseException,
                  delays: AsyncIterator[float]) -> None:
    """After ``exc``: close, wait the next back-off delay (or give up), mark reconnecting."""
    env._failed(exc)
    logger.warning("%s %r: %s; reconnecting", env.kind, env.name, env.last_error)
    try:
        await env.close()
    except env.connection_errors:
        pass
    env.state = "reconnecting"
    try:
        delay = await anext(delays)
    except StopAsyncIteration:
        env.state = "failed"
        raise EnvironmentError(f"{env.kind} environment {env.name!r}: gave up after "
                               f"{backoff.attempts} attempts: {env.last_error}") from exc
    await asyncio.sleep(delay)


async def _connect(env: Environment) -> None:
    await env.connect()
    env.state = "connected"


async def stream(env: Environment, backoff: Backoff = Backoff()
                 ) -> AsyncIterator[Event | Rejected]:
    """``env``'s events for as long as it has any, reconnecting after each drop.

    A connection error (one of ``env.connection_errors``) closes the
    environment, waits the next back-off delay and connects again; the delay
    starts over once events flow again.  The stream ends when the
    environment's own ``events`` ends (a finite source) or, with
    ``backoff.attempts``, when the attempts run out (:class:`EnvironmentError`).
    """
    delays = backoff.delays()
    while True:
        try:
            if env.state != "connected":
                await _connect(env)
            async for item in env.events():
                if isinstance(item, Event):
                    env.counts["events"] += 1
                    delays = backoff.delays()
                yield item
            return
        except env.connection_errors as exc:
            await _reopen(env, backoff, exc, delays)


async def call(env: Environment, op: Callable[[], Awaitable[T]],
               backoff: Backoff = Backoff(attempts=5)) -> T:
    """Run ``op`` (an ``observe`` or ``act`` of ``env``), reconnecting on connection errors."""
    delays = backoff.delays()
    while True:
        try:
            if env.state != "connected":
                await _connect(env)
            return await op()
        except env.connection_errors as exc:
            await _reopen(env, backoff, exc, delays)


def decode_json(raw: bytes | str, *, max_bytes: int = 256 * 1024) -> Any:
    """The JSON value in ``raw``, or :class:`BadInput` saying why not (size, syntax)."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise BadInput(f"payload of {size} bytes is over the limit of {max_bytes}")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"malformed JSON: {exc}") from exc


def require(module: str, what: str, extra: str = "iot") -> Any:
    """Import an environment's client library, or fail with the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EnvironmentError(f"{what} needs {module}: pip install 'raymas[{extra}]'") from exc
