"""RabbitMQ as a broker: durable priority queues, confirmed publishing, manual acks.

Each bus topic maps to a durable queue declared with ``x-max-priority`` and a
dead-letter exchange, so a message rejected or expired in RabbitMQ is kept,
not lost.  Publishing uses publisher confirms kept in flight
(:class:`~messaging.brokers.amqp_confirms.ConfirmingPublisher`): a batch is
written without waiting and confirmed as a whole, never one round trip per
message; envelope priority and TTL become the AMQP ``priority`` and
per-message ``expiration``.  Consuming is a ``basic.consume`` with manual acks
and a prefetch window.  Publishing and consuming use separate connections.
An ``amqps://`` URL, or ``tls`` given (:class:`~messaging.brokers.tls.TLSOptions`),
makes both speak TLS (:func:`~messaging.brokers.amqp_confirms.amqp_parameters`).
Requires the ``brokers`` extra (pika).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from messaging.brokers.amqp_confirms import ConfirmingPublisher, amqp_parameters
from messaging.brokers.base import Broker, Delivery, require
from messaging.brokers.tls import TLSOptions, raise_if_refused, tls_options
from messaging.envelope import Envelope, EnvelopeError

__all__ = ["RabbitMQBroker"]

DLX = "raymas.dead-letter"


class RabbitMQBroker(Broker):
    name = "rabbitmq"

    def __init__(self, url: str = "amqp://guest:guest@127.0.0.1:5672/%2F", *,
                 prefetch: int = 1000, max_priority: int = 9,
                 tls: TLSOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        pika = require("pika", "the RabbitMQ bridge")
        self.connection_errors = (pika.exceptions.AMQPConnectionError,
                                  pika.exceptions.AMQPChannelError,
                                  pika.exceptions.StreamLostError, ConnectionError, OSError,
                                  TimeoutError)
        self.url = url
        given = tls_options(tls)
        if given is not None:
            given.context()  # a missing or unusable file stops here, naming its field
        #: the TLS settings in force: those given, the defaults for an amqps:// URL, or None
        self.tls = (given if given is not None or url[:6].lower() != "amqps:"
                    else TLSOptions())
        self.prefetch = prefetch
        self.max_priority = max_priority
        self._pub: ConfirmingPublisher | None = None
        self._sub: Any = None
        self._declared: set[str] = set()
        self._consumers: dict[str, Any] = {}

    def _open(self) -> tuple[Any, Any]:
        pika = require("pika", "the RabbitMQ bridge")
        conn = pika.BlockingConnection(self._parameters())
        return conn, conn.channel()

    def _parameters(self) -> Any:
        """pika's connection parameters for :attr:`url` and :attr:`tls` (no network)."""
        return amqp_parameters(self.url, self.tls)

    def connect(self) -> None:
        if self._sub is None:
            try:
                self._sub = self._open()
            except self.connection_errors as exc:
                if self.tls is not None:
                    raise_if_refused(self.name, self.url.rpartition("@")[2], exc)
                raise
            self._sub[1].exchange_declare(DLX, exchange_type="fanout", durable=True)
            self._sub[1].queue_declare(DLX, durable=True)
            self._sub[1].queue_bind(DLX, DLX)
            self._sub[1].basic_qos(prefetch_count=self.prefetch)
        self.state = "connected"

    def close(self) -> None:
        if self._pub is not None:
            self._pub.close()
        if self._sub is not None:
            try:
                self._sub[0].close()
            except Exception:  # already gone: closing is best effort
                pass
        self._pub = self._sub = None
        self._declared.clear()
        self._consumers.clear()
        self.state = "disconnected"

    def _queue(self, channel: Any, topic: str) -> None:
        if topic not in self._declared:
            channel.queue_declare(topic, durable=True, arguments={
                "x-max-priority": self.max_priority, "x-dead-letter-exchange": DLX})
            self._declared.add(topic)

    def publish(self, topic: str, messages: Sequence[bytes]) -> int:
        pika = require("pika", "the RabbitMQ bridge")
        self._queue(self._sub[1], topic)
        if self._pub is None:
            self._pub = ConfirmingPublisher(self.url, tls=self.tls)
        properties = []
        for data in messages:
            priority, expiration = 0, None
            try:
                env = Envelope.from_bytes(data)
                priority = min(env.priority, self.max_priority)
                if env.ttl_s is not None:
                    left_ms = int((env.created_at + env.ttl_s - time.time()) * 1000)
                    expiration = str(max(left_ms, 1))
            except EnvelopeError:
                pass  # forwarded as is; the receiving side rejects and dead-letters it
            properties.append(pika.BasicProperties(delivery_mode=2, priority=priority,
                                                   expiration=expiration))
        self._pub.publish(topic, messages, properties)  # confirmed as a whole
        return len(messages)

    def consume(self, topic: str, group: str, consumer: str, max_n: int,
                block_ms: int) -> list[Delivery]:
        channel = self._sub[1]
        self._queue(channel, topic)
        # pika returns the same generator for the same arguments: one consumer per queue,
        # the broker pushing up to ``prefetch`` unacknowledged messages ahead
        stream = channel.consume(topic, auto_ack=False, inactivity_timeout=block_ms / 1000)
        method, _, body = next(stream)
        if method is None:
            return []
        out = [Delivery(topic, method.delivery_tag, body)]
        for _ in range(min(max_n - 1, channel.get_waiting_message_count())):
            method, _, body = next(stream)  # already here: no waiting
            out.append(Delivery(topic, method.delivery_tag, body))
        return out

    def ack(self, topic: str, group: str, tags: Sequence[Any]) -> None:
        if tags:
            self._sub[1].basic_ack(delivery_tag=max(tags), multiple=True)
