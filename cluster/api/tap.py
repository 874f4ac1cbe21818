"""The API's seat on the bus: it publishes for HTTP clients and keeps what streams read.

One named, detached :class:`BusTap` actor per API application joins the bus
like an agent (an :class:`~messaging.endpoint.Endpoint`), so a published
message travels exactly as an agent's would, and a topic an HTTP client
streams is subscribed on the bus once, however many clients follow it.  What
arrives is kept in a bounded ring with sequence numbers; a stream long-polls
:meth:`BusTap.poll` for what came after the last number it saw, so a client
that reconnects with ``Last-Event-ID`` misses nothing still in the ring.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from typing import Any

import ray

from messaging.endpoint import Endpoint
from messaging.topics import TopicMatcher

__all__ = ["BusTap", "start_tap", "tap_name"]


def tap_name(app_name: str) -> str:
    return f"raymas-api-tap:{app_name}"


class BusTap:
    """See the module docstring.  Runs as an async actor."""

    def __init__(self, tap_id: str, bus_name: str | None, namespace: str,
                 capacity: int = 10_000) -> None:
        self.tap_id = tap_id
        self.bus_name = bus_name
        self.namespace = namespace
        self.ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self.seq = 0
        self.patterns: set[str] = set()
        self.endpoint: Endpoint | None = None
        self._arrived = asyncio.Condition()
        self._started = asyncio.get_running_loop().create_task(self._start())
        self._reader: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        if not self.bus_name:
            return
        directory = ray.get_actor(self.bus_name, namespace=self.namespace)
        self.endpoint = Endpoint(self.tap_id, "api", directory, mailbox_capacity=100_000)
        await self.endpoint.start(ray.get_runtime_context().current_actor)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.endpoint is not None
        while True:
            envs = await self.endpoint.receive(1000, timeout_s=1.0)
            if not envs:
                continue
            async with self._arrived:
                for env in envs:
                    self.seq += 1
                    self.ring.append({"seq": self.seq, "topic": env.topic, "sender": env.sender,
                                      "payload": env.payload, "time": env.created_at,
                                      "id": env.id})
                self._arrived.notify_all()

    async def ready(self) -> bool:
        await self._started
        return self.endpoint is not None

    async def deliver(self, batch: Sequence[bytes]) -> int:
        await self._started
        if self.endpoint is None:
            return 0
        return await self.endpoint.deliver(batch)

    async def follow(self, pattern: str) -> int:
        """Subscribe the tap to ``pattern`` (once); the sequence number to read after."""
        await self._started
        if self.endpoint is None:
            raise ConnectionError("no bus is configured (messaging.bus is null)")
        if pattern not in self.patterns:
            await self.endpoint.directory.subscribe.remote(self.tap_id, pattern)
            self.patterns.add(pattern)
        return self.seq

    async def poll(self, pattern: str, after: int, timeout_s: float = 15.0,
                   limit: int = 500) -> tuple[list[dict[str, Any]], int]:
        """Messages on topics matching ``pattern`` numbered after ``after`` (waiting up
        to ``timeout_s`` for one); and the number to ask after next time."""
        await self.follow(pattern)
        matcher = TopicMatcher()
        matcher.subscribe(pattern, pattern)
        deadline = time.monotonic() + timeout_s
        async with self._arrived:
            while True:
                out = [m for m in self.ring if m["seq"] > after
                       and m["topic"] is not None and matcher.match(m["topic"])][:limit]
                left = deadline - time.monotonic()
                if out or left <= 0:
                    last = out[-1]["seq"] if len(out) == limit else self.seq
                    return out, max(last, after)
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    pass

    async def dead_letters(self, limit: int = 100) -> list[tuple[dict[str, Any], str]]:
        """The directory's newest dead letters, each with its reason."""
        await self._started
        if self.endpoint is None:
            raise ConnectionError("no bus is configured (messaging.bus is null)")
        rows: list[tuple[dict[str, Any], str]] = await \
            self.endpoint.directory.dead_letters.remote(limit)
        return rows

    async def publish(self, topic: str, payload: Any, sender: str,
                      headers: dict[str, str] | None = None) -> str:
        """Publish on the bus as the tap, naming the HTTP caller in a header; the id."""
        await self._started
        if self.endpoint is None:
            raise ConnectionError("no bus is configured (messaging.bus is null)")
        env = self.endpoint.publish(topic, payload,
                                    headers={**(headers or {}), "http-subject": sender})
        await self.endpoint.flush()
        return env.id


def start_tap(app_name: str, bus_name: str | None, namespace: str,
              capacity: int = 10_000) -> Any:
    """The tap of ``app_name`` (created if it is not running)."""
    remote_cls: Any = ray.remote(BusTap)
    handle = remote_cls.options(
        name=tap_name(app_name), namespace=namespace, lifetime="detached",
        get_if_exists=True, max_restarts=-1, max_task_retries=-1, num_cpus=0,
        max_concurrency=10_000,
    ).remote(tap_name(app_name), bus_name, namespace, capacity)
    ray.get(handle.ready.remote())
    return handle
