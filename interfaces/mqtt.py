"""An MQTT broker as an environment: messages on subscribed topics in, publishes out.

Talks to one broker (Mosquitto, EMQX, HiveMQ...) with paho-mqtt 2.x, over
MQTT 5 (default) or 3.1.1.  Requires the ``iot`` extra (paho-mqtt).

Options:
    host, port: the broker (``127.0.0.1:1883``).
    client_id: the MQTT client id; by default ``raymas-<name>``, stable, so a
        persistent session is resumed after a reconnect or a restart (two
        environments with the same name on one broker would take the session
        from each other: give them different names or client ids).
    subscriptions: topic filters (``+`` and ``#`` wildcards, checked), each a
        string or ``{"topic": ..., "qos": 0|1|2}``.
    qos: the QoS of subscriptions given as plain strings, and of ``publish``
        when it is given none (1).
    persistent: keep the session at the broker while disconnected (clean start
        off, with a ``session_expiry_s`` expiry in MQTT 5; clean session off in
        3.1.1), so what is published at QoS >= 1 while the link is down is
        delivered after the reconnect (default True).
    protocol: ``"5"`` or ``"3.1.1"``.
    payload: ``"json"`` (default), ``"text"`` (UTF-8) or ``"bytes"``: how a
        message's payload is decoded into the event's data.
    max_bytes: larger payloads are refused (256 KiB).
    keepalive: seconds between pings when idle (30); timeout_s: how long to
        wait for the broker's CONNACK and acknowledgements (10).
    username, password: optional credentials.

Events:
    ``message``: subject the topic, data the decoded payload (None for an
    empty one in ``json`` mode: that is how MQTT clears a retained message),
    meta ``{"qos", "retain", "mid"}``; retained messages (sent by the broker on
    subscribing) have ``retain`` True.  A payload that is malformed JSON, not
    UTF-8 text or over ``max_bytes`` is a :class:`~interfaces.Rejected` naming
    the topic and the reason, and the stream goes on.

Actions:
    ``publish(topic, payload=None, qos=<qos>, retain=False)``: the payload is
    JSON-encoded unless it is str or bytes; at QoS >= 1 waits for the broker's
    acknowledgement; returns the message id.  ``subscribe(topic, qos=<qos>)``
    returns the granted QoS; ``unsubscribe(topic)``.  Both wait for the
    broker's acknowledgement, and the subscriptions they leave are those made
    again when a reconnect finds no session.

Guarantees:
    A dropped connection makes :meth:`MqttEnvironment.events` raise a
    connection error (paho's own reconnecting is off, so a drop shows in
    health), and :func:`interfaces.stream` reconnects with the same client id:
    with ``persistent`` the broker's session survives, and messages published
    at QoS >= 1 while the link was down are delivered then (at least once;
    paho acknowledges a message when it is handed to the environment, so a
    message not yet read when the process dies is lost).  Subscriptions are
    made on the first connect and again whenever the broker has no session for
    us; a resumed session keeps them (and does not resend retained messages).
    QoS 0 messages published while the link is down are lost, as MQTT says.
    A ``publish`` cut off before its acknowledgement raises a connection error;
    retried by :func:`interfaces.call` it may reach subscribers twice.

Messages are handed from paho's network thread to the event loop in batches: a
deque, one wake-up when it goes from empty to non-empty, and while messages flow
the reader lets a batch gather after each wake-up (5 ms, 20 ms in a flood), so
the two threads do not contend for the GIL message by message.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, ClassVar

from interfaces.base import Environment, EnvironmentError, Event, Rejected, require
from messaging.errors import did_you_mean
from messaging.topics import TopicError, validate_pattern

__all__ = ["MqttConnectionLost", "MqttEnvironment", "check_topic", "check_topic_filter",
           "parse_subscriptions"]

WHAT = "the MQTT environment"
_json = json.JSONDecoder().decode
PAYLOADS = ("json", "text", "bytes")
PROTOCOLS = ("5", "3.1.1")
#: each action's required and optional arguments
ARGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "publish": (("topic",), ("payload", "qos", "retain")),
    "subscribe": (("topic",), ("qos",)),
    "unsubscribe": (("topic",), ()),
}


class MqttConnectionLost(ConnectionError):
    """The link to the broker is down (or was never up)."""


class _Lost:
    """The marker paho's thread puts in the inbox when connection ``generation`` drops."""

    __slots__ = ("generation", "reason")

    def __init__(self, generation: int, reason: str) -> None:
        self.generation, self.reason = generation, reason


def check_topic_filter(topic: Any) -> str:
    """``topic`` if it is a valid MQTT topic filter, else :class:`EnvironmentError` saying why.

    >>> check_topic_filter("plant/+/temp"), check_topic_filter("plant/#")
    ('plant/+/temp', 'plant/#')
    >>> check_topic_filter("plant/t+/temp")
    Traceback (most recent call last):
    ...
    interfaces.base.EnvironmentError: topic filter 'plant/t+/temp': '+' must be a whole level
    """
    if not isinstance(topic, str) or not topic:
        raise EnvironmentError(f"topic filter {topic!r}: expected a non-empty string")
    if "\0" in topic or len(topic.encode()) > 65535:
        raise EnvironmentError(f"topic filter {topic!r}: has a NUL or is over 65535 bytes")
    try:  # the bus's topics follow MQTT's wildcard rules: one check for both
        validate_pattern(topic)
    except TopicError as exc:
        raise EnvironmentError(f"topic filter {topic!r}: {str(exc).split(': ', 1)[-1]}") \
            from exc
    return topic


def check_topic(topic: Any) -> str:
    """``topic`` if one can publish on it (a filter without wildcards)."""
    check_topic_filter(topic)
    if "+" in topic or "#" in topic:
        raise EnvironmentError(f"topic {topic!r}: wildcards are for subscribing, not publishing")
    return str(topic)


def _check_qos(qos: Any, what: str) -> int:
    if isinstance(qos, bool) or qos not in (0, 1, 2):
        raise EnvironmentError(f"{what}: QoS must be 0, 1 or 2, got {qos!r}")
    return int(qos)


def parse_subscriptions(given: Iterable[str | Mapping[str, Any]], qos: int) -> dict[str, int]:
    """Topic filter -> QoS from strings (at ``qos``) and ``{"topic", "qos"}`` mappings.

    >>> parse_subscriptions(["a/#", {"topic": "b/+", "qos": 2}], qos=1)
    {'a/#': 1, 'b/+': 2}
    """
    if isinstance(given, str | bytes | Mapping):
        raise EnvironmentError(f"subscriptions: expected a list of topic filters, got {given!r}")
    out: dict[str, int] = {}
    for item in given:
        if isinstance(item, Mapping):
            unknown = set(item) - {"topic", "qos"}
            if unknown or "topic" not in item:
                raise EnvironmentError(f"subscriptions: {dict(item)!r} needs 'topic' and may "
                                       f"have 'qos', nothing else")
            topic, q = item["topic"], _check_qos(item.get("qos", qos), f"subscription {item!r}")
        else:
            topic, q = item, qos
        out[check_topic_filter(topic)] = q
    return out


def encode_payload(payload: Any) -> bytes:
    """What goes on the wire: bytes as they are, str as UTF-8, anything else as JSON."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    try:
        return json.dumps(payload).encode()
    except (TypeError, ValueError) as exc:
        raise EnvironmentError(f"payload: cannot be JSON-encoded: {exc}") from exc


class MqttEnvironment(Environment):
    """Subscribed topics in as ``message`` events; publish, subscribe and unsubscribe out."""

    kind = "mqtt"
    actions = ("publish", "subscribe", "unsubscribe")
    #: while messages flow, how long the reader lets a batch gather after a wake-up, and
    #: how long in a flood (a batch of ``flood_batch`` or more)
    linger_s: ClassVar[float] = 0.005
    flood_linger_s: ClassVar[float] = 0.02
    flood_batch: ClassVar[int] = 64

    def __init__(self, name: str, *, host: str = "127.0.0.1", port: int = 1883,
                 client_id: str | None = None,
                 subscriptions: Iterable[str | Mapping[str, Any]] = (), qos: int = 1,
                 persistent: bool = True, session_expiry_s: int = 3600,
                 protocol: str = "5", payload: str = "json", max_bytes: int = 256 * 1024,
                 keepalive: int = 30, timeout_s: float = 10.0, username: str | None = None,
                 password: str | None = None) -> None:
        super().__init__(name)
        self._mqtt = require("paho.mqtt.client", WHAT)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise EnvironmentError(f"port: expected 1..65535, got {port!r}")
        if protocol not in PROTOCOLS:
            raise EnvironmentError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}")
        if payload not in PAYLOADS:
            raise EnvironmentError(f"payload: expected one of {PAYLOADS}, got {payload!r}")
        for option, value in (("max_bytes", max_bytes), ("keepalive", keepalive),
                              ("timeout_s", timeout_s), ("session_expiry_s", session_expiry_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise EnvironmentError(f"{option}: expected a positive number, got {value!r}")
        self.host, self.port = host, port
        self.client_id = client_id if client_id is not None else f"raymas-{name}"
        if not self.client_id:
            raise EnvironmentError("client_id: must not be empty")
        self.qos = _check_qos(qos, "qos")
        self.subscriptions = parse_subscriptions(subscriptions, self.qos)
        self.persistent, self.session_expiry_s = bool(persistent), int(session_expiry_s)
        self.protocol, self.payload, self.max_bytes = protocol, payload, int(max_bytes)
        self.keepalive, self.timeout_s = int(keepalive), float(timeout_s)
        self.username, self.password = username, password
        self.connection_errors = (MqttConnectionLost, ConnectionError, OSError, TimeoutError)
        self.session_present = False
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self._subscribed = False  # made our subscriptions on this broker since we were made
        self._inbox: collections.deque[Any] = collections.deque()
        self._ready = asyncio.Event()
        self._waiting: dict[int, asyncio.Future[Any]] = {}

    # -- paho's network thread ----------------------------------------------------------

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        inbox = self._inbox
        inbox.append((msg.topic, msg.payload, msg.qos, msg.retain, msg.mid, time.time()))
        if len(inbox) == 1:  # it was empty: the reader may be asleep
            self._from_thread(self._ready.set)

    def _from_thread(self, callback: Any, *args: Any) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass

    def _on_connect(self, client: Any, gen: int, flags: Any, code: Any, props: Any) -> None:
        self._from_thread(self._settle, -gen, code, bool(flags.session_present))

    def _on_disconnect(self, client: Any, gen: int, flags: Any, code: Any, props: Any) -> None:
        if gen == self._generation:  # not a client we closed ourselves
            reason = f"connection to {self.host}:{self.port} lost: {code}"
            self._inbox.append(_Lost(gen, reason))  # after the messages that came before it
            self._from_thread(self._ready.set)
            self._from_thread(self._lost, gen, reason)

    def _on_ack(self, client: Any, gen: int, mid: int, codes: Any, props: Any) -> None:
        if gen == self._generation:
            self._from_thread(self._settle, mid, codes, None)

    # -- the event loop -----------------------------------------------------------------

    def _settle(self, key: int, codes: Any, value: Any) -> None:
        future = self._waiting.pop(key, None)
        if future is None or future.done():
            return
        failed = [c for c in (codes if isinstance(codes, list) else [codes]) if c.is_failure]
        if failed:
            future.set_exception(EnvironmentError(
                f"mqtt environment {self.name!r}: the broker refused: {failed[0]}"))
        else:
            future.set_result(value if value is not None else codes)

    def _lost(self, gen: int, reason: str) -> None:
        if gen == self._generation:
            self.state = "disconnected"
            self.last_error = reason
            self._fail_waiting(MqttConnectionLost(f"mqtt environment {self.name!r}: {reason}"))

    def _fail_waiting(self, exc: BaseException) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def _expect(self, key: int) -> asyncio.Future[Any]:
        """A future for the broker's answer ``key`` (a message id, or -generation for
        CONNACK), made before paho's thread can report it (it does so via the loop)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    async def _wait(self, key: int, what: str, future: asyncio.Future[Any] | None = None
                    ) -> Any:
        future = self._expect(key) if future is None else future
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise TimeoutError(f"mqtt environment {self.name!r}: no answer from "
                               f"{self.host}:{self.port} to {what} in {self.timeout_s:g} s"
                               ) from None
        finally:
            self._waiting.pop(key, None)

    def _new_client(self, gen: int) -> Any:
        mqtt = self._mqtt
        v5 = self.protocol == "5"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=None if v5 else not self.persistent, userdata=gen,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                             reconnect_on_failure=False)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.on_message, client.on_connect = self._on_message, self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = client.on_subscribe = client.on_unsubscribe = self._on_ack
        return client

    async def connect(self) -> None:
        if self._client is not None:
            if self.state == "connected":
                return
            await self.close()
        self._loop = asyncio.get_running_loop()
        self._generation += 1
        gen = self._generation
        client = self._new_client(gen)
        kwargs: dict[str, Any] = {}
        if self.protocol == "5":
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s if self.persistent else 0
            kwargs = {"clean_start": not self.persistent, "properties": props}
        connack = self._expect(-gen)
        try:
            await asyncio.to_thread(client.connect, self.host, self.port, self.keepalive,
                                    **kwargs)
            client.loop_start()
            self.session_present = await self._wait(-gen, "CONNECT", connack)
        except BaseException:
            self._generation += 1  # its callbacks are stale from now on
            self._waiting.pop(-gen, None)
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            raise
        self._client = client
        self.state = "connected"
        if not (self._subscribed and self.session_present):
            for topic, qos in self.subscriptions.items():
                await self._subscribe(topic, qos)
            self._subscribed = True

    async def close(self) -> None:
        client, self._client = self._client, None
        self.state = "disconnected"
        self._generation += 1  # what the old client reports from now on is stale
        self._fail_waiting(MqttConnectionLost(f"mqtt environment {self.name!r} was closed"))
        if client is not None:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def _connected(self) -> Any:
        if self._client is None or self.state != "connected":
            raise MqttConnectionLost(f"mqtt environment {self.name!r} is not connected to "
                                     f"{self.host}:{self.port}")
        return self._client

    async def observe(self) -> dict[str, Any]:
        return {"state": self.state, "connected": self.state == "connected",
                "broker": f"{self.host}:{self.port}", "client_id": self.client_id,
                "protocol": self.protocol, "session_present": self.session_present,
                "subscriptions": dict(self.subscriptions),
                **{k: self.counts[k] for k in ("received", "published", "rejected")}}

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        required, optional = ARGS[action]
        for key in args:
            if key not in required + optional:
                raise EnvironmentError(f"mqtt {action}: unknown argument {key!r}"
                                       f"{did_you_mean(key, list(required + optional))} "
                                       f"(it takes: {', '.join(required + optional)})")
        for key in required:
            if key not in args:
                raise EnvironmentError(f"mqtt {action}: needs {key!r}")
        if action == "publish":
            return await self._publish(check_topic(args["topic"]), args.get("payload"),
                                       _check_qos(args.get("qos", self.qos), "publish"),
                                       bool(args.get("retain", False)))
        topic = check_topic_filter(args["topic"])
        if action == "subscribe":
            qos = _check_qos(args.get("qos", self.qos), "subscribe")
            granted = await self._subscribe(topic, qos)
            self.subscriptions[topic] = qos
            return granted
        _, mid = self._connected().unsubscribe(topic)
        await self._wait(mid, f"UNSUBSCRIBE {topic!r}")
        self.subscriptions.pop(topic, None)
        return None

    async def _publish(self, topic: str, payload: Any, qos: int, retain: bool) -> int:
        body = encode_payload(payload)
        info = self._connected().publish(topic, body, qos, retain)
        if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
            raise MqttConnectionLost(f"mqtt publish to {topic!r}: "
                                     f"{self._mqtt.error_string(info.rc)}")
        if qos > 0:  # registered before paho's thread can report the ack: it comes via the loop
            await self._wait(info.mid, f"PUBLISH to {topic!r}")
        self.counts["published"] += 1
        return int(info.mid)

    async def _subscribe(self, topic: str, qos: int) -> int:
        rc, mid = self._connected().subscribe(topic, qos)
        if rc != self._mqtt.MQTT_ERR_SUCCESS:
            raise MqttConnectionLost(f"mqtt subscribe to {topic!r}: "
                                     f"{self._mqtt.error_string(rc)}")
        codes = await self._wait(mid, f"SUBSCRIBE {topic!r}")
        return int(codes[0].value)

    async def events(self) -> AsyncIterator[Event | Rejected]:
        self._connected()
        inbox, ready = self._inbox, self._ready
        while True:
            batch = 0
            while inbox:
                batch += 1
                item = inbox.popleft()
                if type(item) is _Lost:
                    if item.generation == self._generation:  # not a stale one
                        self.state, self.last_error = "disconnected", item.reason
                        raise MqttConnectionLost(f"mqtt environment {self.name!r}: "
                                                 f"{item.reason}")
                    continue
                yield self._decode(*item)
            ready.clear()
            if not inbox:
                await ready.wait()
                if batch > 1:  # a flow: let the next batch gather rather than wake per message
                    await asyncio.sleep(self.flood_linger_s if batch >= self.flood_batch
                                        else self.linger_s)

    def _decode(self, topic: str, raw: bytes, qos: int, retain: bool, mid: int,
                at: float) -> Event | Rejected:
        """One message as an event, or a rejection naming the topic and what was wrong
        (the reasons of :func:`~interfaces.decode_json`, decoded here a little faster)."""
        self.counts["received"] += 1
        mode, why = self.payload, ""
        data: Any = None
        if len(raw) > self.max_bytes:
            why = f"payload of {len(raw)} bytes is over the limit of {self.max_bytes}"
        elif mode == "bytes":
            data = raw
        else:
            try:
                text = raw.decode()
                data = text if mode == "text" else _json(text) if text else None
            except ValueError as exc:  # UnicodeDecodeError is one too
                why = (f"malformed JSON: {exc}" if mode == "json"
                       else f"payload is not UTF-8 text: {exc}")
        if why:
            self.counts["rejected"] += 1
            return Rejected(self.name, f"{why} (topic {topic!r})", bytes(raw), topic)
        return Event(self.name, "message", data, topic, at,
                     {"qos": qos, "retain": retain, "mid": mid})
