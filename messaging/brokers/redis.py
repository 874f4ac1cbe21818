"""Redis Streams as a broker: XADD, consumer groups with XREADGROUP / XACK, reclaiming.

Streams give durable, acknowledged delivery: a message stays pending in its
group until acknowledged, and a member's pending messages are claimed by
another member once they have been idle ``claim_idle_ms`` (its consumer
died), so nothing is lost.  With ``mode="pubsub"`` the broker uses plain
PUBLISH / SUBSCRIBE instead: fire-and-forget broadcast to whoever listens now,
nothing kept, nothing to acknowledge.  With ``cache_ttl_s`` the last message
published on each topic is also kept under ``<topic>:last`` for that long, in
the same transaction, so a late reader can ask for the current value
(:meth:`RedisBroker.last`) as MQTT's retained messages allow.  A ``rediss://``
URL, or ``tls`` given (:class:`~messaging.brokers.tls.TLSOptions`), connects
over TLS.  Requires the ``brokers`` extra (redis-py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from messaging.brokers.base import Broker, Delivery, require
from messaging.brokers.tls import TLSOptions, raise_if_refused, tls_options

__all__ = ["RedisBroker"]


class RedisBroker(Broker):
    name = "redis"

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, maxlen: int | None = None,
                 claim_idle_ms: int = 30_000, mode: str = "stream",
                 cache_ttl_s: float | None = None,
                 tls: TLSOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if mode not in ("stream", "pubsub"):
            raise ValueError(f"mode: expected 'stream' or 'pubsub', got {mode!r}")
        if cache_ttl_s is not None and cache_ttl_s <= 0:
            raise ValueError(f"cache_ttl_s: expected a positive number, got {cache_ttl_s!r}")
        self.mode = mode
        self.cache_ttl_s = cache_ttl_s
        self._pubsub: Any = None
        redis = require("redis", "the Redis bridge")
        self.connection_errors = (redis.ConnectionError, redis.TimeoutError, ConnectionError,
                                  OSError)
        self.url = url
        given = tls_options(tls)
        if given is not None and url.startswith("unix:"):
            raise ValueError("tls: not for a unix:// socket URL")
        if given is not None:
            given.context()  # a missing or unusable file stops here, naming its field
        #: the TLS settings in force: those given, the defaults for a rediss:// URL, or None
        self.tls = given if given is not None or not url.startswith("rediss:") else TLSOptions()
        self.maxlen = maxlen
        self.claim_idle_ms = claim_idle_ms
        self._client: Any = None
        self._groups: set[tuple[str, str]] = set()

    def connect(self) -> None:
        redis = require("redis", "the Redis bridge")
        if self._client is None:
            self._client = redis.Redis.from_url(self.url, **self._client_kwargs())
        if self.tls is None:
            self._client.ping()
        else:
            try:
                self._client.ping()
            except self.connection_errors as exc:
                raise_if_refused(self.name, self.url.rpartition("@")[2], exc)
                raise
        self.state = "connected"

    def _client_kwargs(self) -> dict[str, Any]:
        """What ``redis.Redis.from_url`` is given besides the URL (the URL's own query
        arguments win over these, as redis-py does)."""
        kwargs: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5,
                                  "client_name": "raymas-bridge"}
        tls = self.tls
        if tls is None:
            return kwargs
        if not self.url.startswith("rediss:"):  # tls given with a redis:// URL
            kwargs["connection_class"] = require("redis", "the Redis bridge").SSLConnection
        kwargs.update(ssl_ca_certs=tls.ca_file, ssl_certfile=tls.cert_file,
                      ssl_keyfile=tls.key_file,
                      ssl_cert_reqs="required" if tls.verify else "none",
                      ssl_check_hostname=tls.hostname_checked, ssl_min_version=tls.tls_version)
        return kwargs

    def close(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
        if self._client is not None:
            self._client.close()
        self._client = None
        self.state = "disconnected"

    def publish(self, topic: str, messages: Sequence[bytes]) -> int:
        # MULTI/EXEC: a batch lands whole or not at all, so a dropped connection can
        # duplicate a batch only if the reply to EXEC itself is lost
        pipe = self._client.pipeline(transaction=self.mode == "stream")
        for data in messages:
            if self.mode == "stream":
                pipe.xadd(topic, {"e": data}, maxlen=self.maxlen, approximate=True)
            else:
                pipe.publish(topic, data)
        if self.cache_ttl_s is not None and messages:
            pipe.set(f"{topic}:last", messages[-1], px=int(self.cache_ttl_s * 1000))
        pipe.execute()
        return len(messages)

    def last(self, topic: str) -> bytes | None:
        """The last message published on ``topic`` while it is cached (``cache_ttl_s``)."""
        value = self._client.get(f"{topic}:last")
        return bytes(value) if value is not None else None

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
        if self.mode == "pubsub":
            return self._listen(topic, max_n, block_ms)
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

    def _listen(self, channel: str, max_n: int, block_ms: int) -> list[Delivery]:
        """Messages published on ``channel`` since we subscribed (pub-sub mode)."""
        if self._pubsub is None:
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        if channel.encode() not in self._pubsub.channels:
            self._pubsub.subscribe(channel)
        out: list[Delivery] = []
        timeout = block_ms / 1000
        while len(out) < max_n:
            msg = self._pubsub.get_message(timeout=timeout)
            if msg is None:
                break
            if msg["type"] == "message":
                out.append(Delivery(channel, None, msg["data"]))
            timeout = 0.0  # once something came, take only what is already here
        return out

    def ack(self, topic: str, group: str, tags: Sequence[Any]) -> None:
        if self.mode == "pubsub":
            return  # fire and forget: nothing to acknowledge
        if tags:
            self._client.xack(topic, group, *tags)

    def broadcast(self, channel: str, data: bytes) -> int:
        """Fire-and-forget PUBLISH to whoever listens now (no durability)."""
        return int(self._client.publish(channel, data))
