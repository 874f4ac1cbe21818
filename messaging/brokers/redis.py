"""Redis Streams as a broker: XADD, consumer groups with XREADGROUP / XACK, reclaiming.

Streams give durable, acknowledged delivery: a message stays pending in its
group until acknowledged, and a member's pending messages are claimed by
another member once they have been idle ``claim_idle_ms`` (its consumer
died), so nothing is lost.  Plain PUBLISH is offered for fire-and-forget
broadcast.  Requires the ``brokers`` extra (redis-py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messaging.brokers.base import Broker, Delivery, require

__all__ = ["RedisBroker"]


class RedisBroker(Broker):
    name = "redis"

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, maxlen: int | None = None,
                 claim_idle_ms: int = 30_000) -> None:
        super().__init__()
        redis = require("redis", "the Redis bridge")
        self.connection_errors = (redis.ConnectionError, redis.TimeoutError, ConnectionError,
                                  OSError)
        self.url = url
        self.maxlen = maxlen
        self.claim_idle_ms = claim_idle_ms
        self._client: Any = None
        self._groups: set[tuple[str, str]] = set()

    def connect(self) -> None:
        redis = require("redis", "the Redis bridge")
        if self._client is None:
            self._client = redis.Redis.from_url(self.url, socket_timeout=10,
                                                socket_connect_timeout=5)
        self._client.ping()
        self.state = "connected"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self.state = "disconnected"

    def publish(self, topic: str, messages: Sequence[bytes]) -> int:
        # MULTI/EXEC: a batch lands whole or not at all, so a dropped connection can
        # duplicate a batch only if the reply to EXEC itself is lost
        pipe = self._client.pipeline(transaction=True)
        for data in messages:
            pipe.xadd(topic, {"e": data}, maxlen=self.maxlen, approximate=True)
        pipe.execute()
        return len(messages)

    def _group(self, topic: str, group: str) -> None:
        if (topic, group) in self._groups:
            return
        redis = require("redis", "the Redis bridge")
        try:
            self._client.xgroup_create(topic, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((topic, group))

    def consume(self, topic: str, group: str, consumer: str, max_n: int,
                block_ms: int) -> list[Delivery]:
        self._group(topic, group)
        # first what dead members left pending, then new entries
        _, claimed, *_ = self._client.xautoclaim(topic, group, consumer, self.claim_idle_ms,
                                                 start_id="0-0", count=max_n)
        out = [Delivery(topic, mid, fields[b"e"]) for mid, fields in claimed if fields]
        if len(out) < max_n:
            reply = self._client.xreadgroup(group, consumer, {topic: ">"},
                                            count=max_n - len(out),
                                            block=(block_ms or None) if not out else None)
            for _, entries in reply or []:
                out.extend(Delivery(topic, mid, fields[b"e"]) for mid, fields in entries)
        return out

    def ack(self, topic: str, group: str, tags: Sequence[Any]) -> None:
        if tags:
            self._client.xack(topic, group, *tags)

    def broadcast(self, channel: str, data: bytes) -> int:
        """Fire-and-forget PUBLISH to whoever listens now (no durability)."""
        return int(self._client.publish(channel, data))
