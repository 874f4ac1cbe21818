"""Runs an environment inside an agent: its events onto the bus, bad input to the
dead-letter topic.

An :class:`EnvironmentHost` pumps :func:`interfaces.stream` (so a lost
connection is reopened with back-off and the agent never sees it) and turns
each :class:`~interfaces.Event` into an envelope published on
``<topic>/<event kind>`` (``topic`` defaults to ``env/<environment name>``), so
any agent can subscribe, e.g. to ``env/sensors/#``.  Before an event goes out
the host checks it against :class:`Limits`: its size, the fields and types
of a declared ``schema``, and a flood limit (events per second with a
burst).  What fails — and every :class:`~interfaces.Rejected` item an
environment yields (malformed JSON, an oversized message) — is counted by
reason, logged, and dead-lettered with the reason; the stream goes on.

The host needs no Ray: ``publish(topic, payload)`` and the awaitable
``dead_letter(items, reason)`` are handed in (an agent's
:class:`~messaging.endpoint.Endpoint` and its bus directory in the actor), and
``on_event`` is told of each event published (the agent's goal pursuit
looks again at once).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interfaces.base import Backoff, Environment, Event, Rejected, call, stream
from messaging.envelope import EnvelopeError

__all__ = ["EnvironmentHost", "Limits", "check_schema"]

logger = logging.getLogger(__name__)

#: JSON-ish type names a schema may use, and what each accepts
TYPES: dict[str, tuple[type, ...]] = {
    "float": (float, int), "number": (float, int), "int": (int,), "str": (str,),
    "bool": (bool,), "list": (list, tuple), "dict": (dict,),
}


@dataclass(frozen=True)
class Limits:
    """What an event must satisfy to go on the bus.

    ``max_event_bytes`` bounds a str/bytes payload (environments check the raw
    size of what they decode themselves); ``max_events_per_s`` with ``burst``
    is a token bucket (0: no limit); ``schema`` maps field names of a mapping
    payload to a type name (float, number, int, str, bool, list, dict).
    """

    max_event_bytes: int = 256 * 1024
    max_events_per_s: float = 0.0
    burst: int = 1000
    schema: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, kind in self.schema.items():
            if kind not in TYPES:
                raise ValueError(f"schema field {name!r}: unknown type {kind!r}; "
                                 f"use one of {', '.join(TYPES)}")


def check_schema(data: Any, schema: Mapping[str, str]) -> str | None:
    """What is wrong with ``data`` against ``schema``, or None.

    >>> check_schema({"t": 21.5, "id": "s1"}, {"t": "float", "id": "str"}) is None
    True
    >>> check_schema({"t": "hot"}, {"t": "float"})
    "field 't' is str, not float"
    >>> check_schema([1], {"t": "float"})
    'payload is list, not an object with fields t'
    """
    if not schema:
        return None
    if not isinstance(data, Mapping):
        return f"payload is {type(data).__name__}, not an object with fields {', '.join(schema)}"
    for name, kind in schema.items():
        if name not in data:
            return f"field {name!r} is missing"
        value = data[name]
        if (isinstance(value, bool) and kind != "bool") or not isinstance(value, TYPES[kind]):
            return f"field {name!r} is {type(value).__name__}, not {kind}"
    return None


class _Bucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self.tokens, self.at = float(burst), clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class EnvironmentHost:
    """One environment's pump from outside to the bus (see the module docstring)."""

    def __init__(self, env: Environment, publish: Callable[[str, Any], Any],
                 dead_letter: Callable[[list[Any], str], Awaitable[Any]], *,
                 topic: str | None = None, limits: Limits = Limits(),
                 backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.env = env
        self.topic = topic or f"env/{env.name}"
        self.limits = limits
        self.backoff = backoff or Backoff()
        self._publish = publish
        self._dead_letter = dead_letter
        self._bucket = (_Bucket(limits.max_events_per_s, limits.burst, clock)
                        if limits.max_events_per_s > 0 else None)
        self.published = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        self.last_event_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._logged: dict[str, float] = {}
        self._on_event = on_event

    def start(self) -> None:
        """Start pumping on the running loop (connects first, with back-off)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.env.close()

    async def _pump(self) -> None:
        try:
            async for item in stream(self.env, self.backoff):
                if isinstance(item, Rejected):
                    await self._reject(item.reason, item, item.subject)
                else:
                    await self._take(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the environment gave up: say so in health, keep the agent
            self.env.state = "failed"
            self.env.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("environment %r stopped", self.env.name)

    async def _take(self, event: Event) -> None:
        why = self._check(event)
        if why is not None:
            await self._reject(why, event, event.subject)
            return
        try:
            self._publish(f"{self.topic}/{event.kind}", event.to_payload())
        except (EnvelopeError, TypeError, ValueError) as exc:  # what the bus cannot carry
            await self._reject(f"cannot go on the bus: {exc}", event, event.subject)
            return
        self.published += 1
        self.last_event_at = event.at
        if self._on_event is not None:
            self._on_event(event)

    def _check(self, event: Event) -> str | None:
        data = event.data
        if isinstance(data, str | bytes) and len(data) > self.limits.max_event_bytes:
            return (f"payload of {len(data)} bytes is over the limit of "
                    f"{self.limits.max_event_bytes}")
        why = check_schema(data, self.limits.schema)
        if why is not None:
            return why
        if self._bucket is not None and not self._bucket.take():
            return f"flood: over {self.limits.max_events_per_s:g} events/s"
        return None

    async def _reject(self, reason: str, item: Event | Rejected, subject: str) -> None:
        """Count, log (once a second per reason) and dead-letter what was refused."""
        head = reason.split(":", 1)[0]
        self.rejected[head] += 1
        now = time.monotonic()
        if now - self._logged.get(head, 0.0) >= 1.0:
            self._logged[head] = now
            logger.warning("environment %r refused input from %r: %s (%d so far)",
                           self.env.name, subject, reason, self.rejected[head])
        record = (item.to_payload() if isinstance(item, Event)
                  else {"source": item.source, "subject": item.subject,
                        "raw": bytes(item.raw[:4096])})
        if isinstance(item, Event) and isinstance(item.data, str | bytes):
            record["data"] = item.data[:4096]  # the evidence, not the flood of it
        await self._dead_letter([{"topic": f"{self.topic}/rejected", **record}],
                                f"environment {self.env.name}: {reason}")

    async def observe(self) -> dict[str, Any]:
        """The environment's snapshot (reconnecting first if it must)."""
        return await call(self.env, self.env.observe)

    async def act(self, action: str, args: Mapping[str, Any]) -> Any:
        """Do an action on the environment (reconnecting first if it must)."""
        return await call(self.env, lambda: self.env.act(action, **dict(args)))

    def health(self) -> dict[str, Any]:
        """The environment's health with what this host published and refused."""
        return {**self.env.health(), "topic": self.topic, "published": self.published,
                "rejected": dict(self.rejected), "last_event_at": self.last_event_at,
                "running": self._task is not None and not self._task.done()}
