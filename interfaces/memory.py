"""An environment held in memory: a dict of state and a queue of events.

What :mod:`messaging.brokers` has in a real broker, this has in the
instance: tests and examples get an environment that behaves like the others
(actions change state and raise events, a dropped connection is a connection
error that :func:`interfaces.stream` recovers from) with nothing to install.

Example:
    >>> import asyncio
    >>> env = MemoryEnvironment(name="plant", state={"valve": "shut"})
    >>> async def main():
    ...     await env.connect()
    ...     await env.act("set", key="valve", value="open")
    ...     event = await anext(env.events())
    ...     return event.kind, event.subject, event.data, await env.observe()
    >>> asyncio.run(main())
    ('changed', 'valve', 'open', {'valve': 'open'})
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from interfaces.base import Environment, Event, Rejected

__all__ = ["ConnectionLost", "MemoryEnvironment"]


class ConnectionLost(ConnectionError):
    """The memory environment's stand-in for a dropped connection."""


_DROP = object()


class MemoryEnvironment(Environment):
    """State in a dict; ``set``/``delete`` change it and raise ``changed``/``deleted``
    events; ``emit`` raises any event; :meth:`inject` puts an outside event or a
    rejection in the stream and :meth:`drop` breaks the connection once."""

    kind = "memory"
    actions = ("set", "delete", "emit")
    connection_errors = (ConnectionLost,)

    def __init__(self, name: str, state: Mapping[str, Any] | None = None) -> None:
        super().__init__(name)
        self.world: dict[str, Any] = dict(state or {})
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.connects = 0

    async def connect(self) -> None:
        if self.state != "connected":
            self.connects += 1
            self.state = "connected"

    async def close(self) -> None:
        self.state = "disconnected"

    async def observe(self) -> dict[str, Any]:
        self._check()
        return dict(self.world)

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        self._check()
        if action == "set":
            key, value = str(args["key"]), args.get("value")
            self.world[key] = value
            self.inject(Event(self.name, "changed", value, subject=key))
            return value
        if action == "delete":
            key = str(args["key"])
            had = self.world.pop(key, None)
            self.inject(Event(self.name, "deleted", had, subject=key))
            return had
        event = Event(self.name, str(args.get("kind", "emitted")), args.get("data"),
                      subject=str(args.get("subject", "")))
        self.inject(event)
        return None

    def inject(self, item: Event | Rejected) -> None:
        """Put an event (or a rejection) in the stream, as if it came from outside."""
        self._queue.put_nowait(item)

    def drop(self) -> None:
        """Break the connection: the stream raises :class:`ConnectionLost` at this point."""
        self._queue.put_nowait(_DROP)

    def _check(self) -> None:
        if self.state != "connected":
            raise ConnectionLost(f"memory environment {self.name!r} is not connected")

    async def events(self) -> AsyncIterator[Event | Rejected]:
        while True:
            item = await self._queue.get()
            if item is _DROP:
                self.state = "disconnected"
                raise ConnectionLost(f"memory environment {self.name!r} dropped")
            yield item
