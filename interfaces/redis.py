"""A Redis server as an environment: stream entries, pub/sub messages and keyspace
notifications in; key, stream and channel commands out.

Events are read by two tasks of the event stream: one blocks in ``XREAD`` on
the ``streams``, the other reads a pub/sub connection subscribed to the
``channels`` and the keyspace notifications of the ``keyspace`` patterns.
Every connection is named ``raymas/<name>`` (``CLIENT SETNAME``), so
``CLIENT LIST`` shows them.  Requires redis-py (the ``iot`` extra).

Options (keyword-only):
    url: the server (default ``redis://127.0.0.1:6379/0``).
    keys: key names or glob patterns whose values :meth:`~RedisEnvironment.observe`
        reports (patterns are looked up with a bounded ``SCAN``: ``scan_limit``
        keys at most, default 1000).
    streams: stream keys to read; ``start="$"`` (default) reads the entries
        added after the first ``connect``, ``start="0"`` every entry.
    channels: pub/sub channels; a name with ``*``, ``?`` or ``[`` is a pattern.
    keyspace: key patterns whose keyspace notifications are events.  Redis
        sends none unless ``notify-keyspace-events`` says so: with
        ``configure_keyspace=True`` (default) ``connect`` runs
        ``CONFIG SET notify-keyspace-events KEA`` when that setting lacks ``K``
        (keyspace events off); a setting that has ``K`` is left as it is.
    payload: how a pub/sub message, and the field named ``json`` of a stream
        entry, are read: ``"json"`` (default) parsed, ``"text"`` as UTF-8 text.
    max_bytes: the largest message or stream entry taken (default 256 KiB).
    timeout_s: the connect timeout (default 5); block_ms: how long one XREAD
        waits (default 5000); count: entries per XREAD (default 100).

Events:
    ``entry``: subject = the stream, data = the entry's fields as a dict of
    text (with ``payload="json"``, the value of a field named ``json`` is
    parsed), meta = ``{"id": <entry id>}``;
    ``message``: subject = the channel, data = the message (JSON or text),
    meta = ``{"pattern": ...}`` for a pattern subscription;
    ``keyspace``: subject = the key, data = the operation (``"set"``,
    ``"del"``, ``"expired"``, ``"xadd"``...).
    Malformed JSON, text that is not UTF-8 and anything over ``max_bytes`` is
    yielded as a :class:`~interfaces.Rejected` naming the stream or channel,
    and the stream goes on.

Actions:
    ``get(key)`` the value as text (bytes if it is not UTF-8, None if missing);
    ``set(key, value, ex=None)``; ``delete(key)`` or ``delete(keys=[...])`` the
    number deleted; ``xadd(stream, fields, maxlen=None)`` the new entry's id;
    ``publish(channel, message)`` the number of subscribers that got it;
    ``hset(key, mapping)`` the number of new fields; ``hgetall(key)`` a dict.
    A value that is not a string, bytes or number is sent as JSON.

Guarantees: the last entry id given out is kept per stream and the next
``XREAD`` after a reconnect starts there, so every stream entry, including
those added while the connection was down, is delivered exactly once and in
order.  Pub/sub keeps nothing: messages and keyspace notifications sent
while the pub/sub connection is down are lost.  A reconnect reopens only
what broke (the command pool replaces its broken connections itself).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

from interfaces.base import BadInput, Environment, EnvironmentError, Event, Rejected, require
from interfaces.base import decode_json as _decode_json

__all__ = ["RedisEnvironment"]

WHAT = "the redis environment"
GLOB = frozenset("*?[")


def _names(option: str, value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str | bytes):
        raise EnvironmentError(f"{option}: expected a list of names, got the string {value!r}")
    for item in value:
        if not isinstance(item, str) or not item:
            raise EnvironmentError(f"{option}: expected non-empty names, got {item!r}")
    return tuple(dict.fromkeys(value))


def _positive(option: str, value: Any, *, whole: bool = True) -> Any:
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise EnvironmentError(f"{option}: expected a positive number, got {value!r}")
    return value


def _encode(value: Any) -> str | bytes | int | float:
    """What Redis is sent for ``value``: strings, bytes and numbers as they are, else JSON."""
    if isinstance(value, str | bytes | int | float) and not isinstance(value, bool):
        return value
    return json.dumps(value)


def _text(raw: Any) -> Any:
    """``raw`` as text when it is UTF-8 bytes, else as it is."""
    if isinstance(raw, bytes):
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw
    return raw


class RedisEnvironment(Environment):
    """A Redis server: streams, pub/sub and keyspace events; key commands (see the module
    docstring)."""

    kind = "redis"
    actions = ("get", "set", "delete", "xadd", "publish", "hset", "hgetall")

    def __init__(self, name: str, *, url: str = "redis://127.0.0.1:6379/0",
                 keys: Sequence[str] = (), streams: Sequence[str] = (), start: str = "$",
                 channels: Sequence[str] = (), keyspace: Sequence[str] = (),
                 configure_keyspace: bool = True, payload: str = "json",
                 max_bytes: int = 256 * 1024, scan_limit: int = 1000, timeout_s: float = 5.0,
                 block_ms: int = 5000, count: int = 100) -> None:
        super().__init__(name)
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise EnvironmentError(f"url: expected a redis://, rediss:// or unix:// URL, "
                                   f"got {url!r}")
        if start not in ("$", "0"):
            raise EnvironmentError(f"start: expected '$' (new entries) or '0' (all), "
                                   f"got {start!r}")
        if payload not in ("json", "text"):
            raise EnvironmentError(f"payload: expected one of json, text, got {payload!r}")
        self.url, self.start, self.payload = url, start, payload
        self.keys, self.streams = _names("keys", keys), _names("streams", streams)
        self.channels, self.keyspace = _names("channels", channels), _names("keyspace", keyspace)
        self.configure_keyspace = bool(configure_keyspace)
        self.max_bytes = _positive("max_bytes", max_bytes)
        self.scan_limit = _positive("scan_limit", scan_limit)
        self.timeout_s = float(_positive("timeout_s", timeout_s, whole=False))
        self.block_ms, self.count = _positive("block_ms", block_ms), _positive("count", count)
        self._redis: Any = require("redis", WHAT)
        self._aio: Any = require("redis.asyncio", WHAT)
        self.connection_errors = (self._redis.ConnectionError, self._redis.TimeoutError,
                                  ConnectionError, OSError)
        #: the name every connection of this environment has (``CLIENT SETNAME``)
        self.client_name = f"raymas/{name}".replace(" ", "_")
        #: per stream, the id of the last entry given out (where the next XREAD starts)
        self.last_ids: dict[str, str] = {}
        self._client: Any = None
        self._pubsub: Any = None
        self._early: list[Any] = []  # messages read while waiting for subscriptions
        self._db = 0
        self._lock = asyncio.Lock()
        self._reopening = False
        self._readers: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        """Open the client and the pub/sub subscriptions, find where the streams start;
        idempotent."""
        async with self._lock:  # call() and stream() may both reconnect at once
            try:
                if self._client is None:
                    retry = self._aio.retry.Retry(self._redis.backoff.NoBackoff(), 0)
                    self._client = self._aio.Redis.from_url(
                        self.url, client_name=self.client_name, retry=retry,
                        socket_connect_timeout=self.timeout_s, socket_keepalive=True)
                    self._db = int(self._client.connection_pool.connection_kwargs.get("db", 0))
                await self._client.ping()
                await self._start_ids()
                if (self.channels or self.keyspace) and self._pubsub is None:
                    await self._subscribe()
            except BaseException:
                if self.state == "disconnected":  # a first connect leaves nothing open
                    await self._close()
                raise

    async def _start_ids(self) -> None:
        for stream in self.streams:
            if stream not in self.last_ids:
                try:
                    last = [] if self.start == "0" else await self._client.xrevrange(
                        stream, "+", "-", count=1)
                except self._redis.ResponseError as exc:
                    raise EnvironmentError(f"redis environment {self.name!r}: stream "
                                           f"{stream!r}: {exc}") from exc
                self.last_ids[stream] = _text(last[0][0]) if last else "0-0"

    async def _subscribe(self) -> None:
        if self.keyspace and self.configure_keyspace:
            flags = (await self._client.config_get("notify-keyspace-events")).get(
                "notify-keyspace-events", b"")
            if "K" not in _text(flags):
                try:
                    await self._client.config_set("notify-keyspace-events", "KEA")
                except self._redis.ResponseError as exc:
                    raise EnvironmentError(
                        f"redis environment {self.name!r}: keyspace notifications are off and "
                        f"CONFIG SET failed ({exc}); set notify-keyspace-events to KEA on the "
                        f"server and pass configure_keyspace=False") from exc
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            self._early = await self._confirmed(pubsub)
        except BaseException:
            await pubsub.aclose()
            raise
        self._pubsub = pubsub

    async def _confirmed(self, pubsub: Any) -> list[Any]:
        """Subscribe ``pubsub`` and wait for the server to confirm each subscription, so
        that what is published after connect() returns is seen; what comes first is kept."""
        plain = [c for c in self.channels if not GLOB & set(c)]
        patterns = [c for c in self.channels if GLOB & set(c)] + [
            f"__keyspace@{self._db}__:{key}" for key in self.keyspace]
        if plain:
            await pubsub.subscribe(*plain)
        if patterns:
            await pubsub.psubscribe(*patterns)
        waiting, early = len(plain) + len(patterns), []
        while waiting:
            reply = await pubsub.parse_response(block=False, timeout=self.timeout_s)
            if reply is None:
                raise self._redis.TimeoutError(f"redis environment {self.name!r}: no "
                                               f"subscribe confirmation in {self.timeout_s} s")
            message = await pubsub.handle_message(reply, ignore_subscribe_messages=True)
            if message is None:
                waiting -= _text(reply[0]) in ("subscribe", "psubscribe")
            else:
                early.append(message)
        return early

    def _failed(self, exc: BaseException) -> None:
        super()._failed(exc)
        self._reopening = True

    async def close(self) -> None:
        """Close the pub/sub connection and the client; idempotent.

        The close that :func:`interfaces.stream` or :func:`interfaces.call` makes
        after a connection error keeps the client (its pool replaces broken
        connections) and a pub/sub connection that still works; the event side
        closes its own pub/sub connection when it fails.
        """
        async with self._lock:
            if self._reopening:
                self._reopening = False
                return
            await self._close()

    async def _close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        self.state = "disconnected"
        for task in self._readers:  # of an event stream that was not closed
            task.cancel()
        if pubsub is not None:
            await pubsub.aclose()
        if client is not None:
            await client.aclose()

    def _check(self) -> Any:
        if self._client is None:
            raise self._redis.ConnectionError(f"redis environment {self.name!r} is not "
                                              f"connected")
        return self._client

    async def events(self) -> AsyncGenerator[Event | Rejected, None]:
        """Stream entries and pub/sub messages as they come; raises a connection error on
        a drop (after giving out what was read before it)."""
        self._check()
        pubsub = self._pubsub
        if (self.channels or self.keyspace) and pubsub is None:
            raise self._redis.ConnectionError(f"redis environment {self.name!r} is not "
                                              f"subscribed")
        if not self.streams and pubsub is None:
            return
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=2 * self.count)
        readers = [asyncio.create_task(self._reader(queue, read)) for read, wanted in
                   ((self._read_streams, self.streams), (self._read_pubsub, pubsub)) if wanted]
        self._readers.update(readers)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, tuple):  # a stream entry: its id is given out now
                    stream, entry_id, item = item
                    self.last_ids[stream] = entry_id
                yield item
        finally:
            await _stop(readers)
            self._readers.difference_update(readers)

    async def _reader(self, queue: asyncio.Queue[Any], read: Any) -> None:
        try:
            await read(queue)
        except asyncio.CancelledError:
            raise
        except self._redis.ResponseError as exc:  # e.g. a stream key holding a string
            await queue.put(EnvironmentError(f"redis environment {self.name!r}: {exc}"))
        except Exception as exc:  # not swallowed: events() raises it
            await queue.put(exc)

    async def _read_streams(self, queue: asyncio.Queue[Any]) -> None:
        ids = {stream: self.last_ids[stream] for stream in self.streams}
        client, count, block = self._check(), self.count, self.block_ms
        while True:
            reply = await client.xread(ids, count=count, block=block) or ()
            for name, entries in reply.items() if isinstance(reply, dict) else reply:
                stream = _text(name)
                for raw_id, fields in entries:
                    ids[stream] = entry_id = _text(raw_id)
                    await queue.put((stream, entry_id, self._entry(stream, entry_id, fields)))

    def _entry(self, stream: str, entry_id: str, fields: Mapping[bytes, bytes]
               ) -> Event | Rejected:
        where = f"stream {stream!r} entry {entry_id}"
        raw = b"\n".join(k + b"=" + v for k, v in fields.items())
        try:
            if len(raw) > self.max_bytes:
                raise BadInput(f"entry of {len(raw)} bytes is over the limit of "
                               f"{self.max_bytes}")
            data = {self._utf8(k, "a field name"): self._utf8(v, f"field {_text(k)!r}")
                    for k, v in fields.items()}
            if self.payload == "json" and "json" in data:
                data["json"] = _decode_json(data["json"], max_bytes=self.max_bytes)
        except BadInput as exc:
            return Rejected(self.name, f"{where}: {exc}", raw, subject=stream)
        return Event(self.name, "entry", data, subject=stream, at=time.time(),
                     meta={"id": entry_id})

    @staticmethod
    def _utf8(raw: bytes, what: str) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise BadInput(f"{what} is not UTF-8: {exc}") from exc

    async def _read_pubsub(self, queue: asyncio.Queue[Any]) -> None:
        pubsub = self._pubsub
        keyspace = {f"__keyspace@{self._db}__:{key}".encode() for key in self.keyspace}
        while self._early:
            await queue.put(self._message(self._early.pop(0), keyspace))
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=None)
                if message is not None:
                    await queue.put(self._message(message, keyspace))
        except self.connection_errors:
            # a pub/sub connection that failed is dropped: the reconnect subscribes again (a
            # working one is kept while the stream side reconnects, and loses nothing)
            if self._pubsub is pubsub:
                self._pubsub = None
            await pubsub.aclose()
            raise

    def _message(self, message: Mapping[str, Any], keyspace: set[bytes]) -> Event | Rejected:
        channel, pattern, raw = _text(message["channel"]), message["pattern"], message["data"]
        if pattern in keyspace:
            return Event(self.name, "keyspace", _text(raw), subject=channel.split(":", 1)[1],
                         at=time.time())
        try:
            if self.payload == "json":
                data = _decode_json(raw, max_bytes=self.max_bytes)
            elif len(raw) > self.max_bytes:
                raise BadInput(f"payload of {len(raw)} bytes is over the limit of "
                               f"{self.max_bytes}")
            else:
                data = self._utf8(raw, "the payload")
        except BadInput as exc:
            return Rejected(self.name, f"channel {channel!r}: {exc}", raw, subject=channel)
        meta = {} if pattern is None else {"pattern": _text(pattern)}
        return Event(self.name, "message", data, subject=channel, at=time.time(), meta=meta)

    async def observe(self) -> dict[str, Any]:
        """The values of ``keys`` (``truncated`` when a pattern matched more than
        ``scan_limit`` keys) and each stream's length and last id given out."""
        client = self._check()
        names: list[str] = []
        truncated = False
        for key in self.keys:
            if not GLOB & set(key):
                names.append(key)
                continue
            async for match in client.scan_iter(match=key, count=100):
                if len(names) >= self.scan_limit:
                    truncated = True
                    break
                names.append(_text(match))
        names = list(dict.fromkeys(names))[:self.scan_limit]
        pipe = client.pipeline(transaction=False)
        for key in names:
            pipe.type(key)
        types = [_text(t) for t in await pipe.execute()]
        pipe = client.pipeline(transaction=False)
        for key, kind in zip(names, types, strict=True):
            if kind in READ:
                getattr(pipe, READ[kind][0])(key, *READ[kind][1])
        for stream in self.streams:
            pipe.xlen(stream)
        values = iter(await pipe.execute())
        found = {key: READ[kind][2](next(values)) if kind in READ else {"type": kind}
                 for key, kind in zip(names, types, strict=True) if kind != "none"}
        streams = {s: {"length": n, "last_id": self.last_ids.get(s)}
                   for s, n in zip(self.streams, values, strict=True)}
        return {"keys": found, "truncated": truncated, "streams": streams}

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        client = self._check()
        try:
            if action == "get":
                return _text(await client.get(self._name(args, "key")))
            if action == "set":
                return bool(await client.set(self._name(args, "key"), _encode(args.get("value")),
                                             ex=args.get("ex")))
            if action == "delete":
                keys = args.get("keys") or [self._name(args, "key")]
                if isinstance(keys, str) or not all(isinstance(k, str) and k for k in keys):
                    raise EnvironmentError(f"delete: keys: expected a list of names, "
                                           f"got {keys!r}")
                return int(await client.delete(*keys))
            if action == "xadd":
                fields = args.get("fields")
                if not isinstance(fields, Mapping) or not fields:
                    raise EnvironmentError(f"xadd: fields: expected a non-empty mapping, "
                                           f"got {fields!r}")
                return _text(await client.xadd(
                    self._name(args, "stream"), {k: _encode(v) for k, v in fields.items()},
                    maxlen=args.get("maxlen"), approximate=args.get("maxlen") is not None))
            if action == "publish":
                return int(await client.publish(self._name(args, "channel"),
                                                _encode(args.get("message"))))
            if action == "hset":
                mapping = args.get("mapping")
                if not isinstance(mapping, Mapping) or not mapping:
                    raise EnvironmentError(f"hset: mapping: expected a non-empty mapping, "
                                           f"got {mapping!r}")
                return int(await client.hset(self._name(args, "key"),
                                             mapping={k: _encode(v) for k, v in mapping.items()}))
            value = await client.hgetall(self._name(args, "key"))
            return {_text(k): _text(v) for k, v in value.items()}
        except (self._redis.ResponseError, self._redis.DataError) as exc:
            raise EnvironmentError(f"redis environment {self.name!r}: {action} failed: "
                                   f"{exc}") from exc

    @staticmethod
    def _name(args: Mapping[str, Any], option: str) -> str:
        value = args.get(option)
        if not isinstance(value, str) or not value:
            raise EnvironmentError(f"{option}: expected a name, got {value!r}")
        return value


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them to end, cancelling again those still running
    (redis-py can lose a cancel that comes while it checks a pooled connection)."""
    while running := [task for task in tasks if not task.done()]:
        for task in running:
            task.cancel()
        await asyncio.wait(running, timeout=0.1)


#: how observe() reads a key of each type: the command, its arguments, the value's shape
READ: dict[str, tuple[str, tuple[Any, ...], Callable[[Any], Any]]] = {
    "string": ("get", (), _text),
    "hash": ("hgetall", (), lambda v: {_text(k): _text(x) for k, x in v.items()}),
    "list": ("lrange", (0, 99), lambda v: [_text(x) for x in v]),
    "set": ("smembers", (), lambda v: sorted(map(_text, v), key=str)),
    "zset": ("zrange", (0, 99, False, True), lambda v: [[_text(m), score] for m, score in v]),
    "stream": ("xlen", (), lambda n: {"type": "stream", "length": n}),
}
