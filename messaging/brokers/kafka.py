"""Kafka as a broker: topics with keyed partitions, consumer groups with committed offsets.

Producing waits for ``acks=all`` on the whole batch (one flush, not a round
trip per message); records are keyed by the envelope's sender, so one
sender's messages stay in order on one partition.  Consuming commits offsets
only when the bridge acknowledges, so a crash re-delivers (at-least-once).
Nothing here relies on the broker's log-end offset (``end_offsets`` /
``seek_to_end``), which Kafka-compatible brokers such as Tansu report wrongly.
With ``tls`` given (:class:`~messaging.brokers.tls.TLSOptions`) the producer,
the consumers and the admin client connect with ``security_protocol="SSL"``
and its context.  Requires the ``brokers`` extra (kafka-python).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from messaging.brokers.base import Broker, Delivery, require
from messaging.brokers.tls import TLSOptions, tls_options
from messaging.envelope import Envelope, EnvelopeError

__all__ = ["KafkaBroker"]


class KafkaBroker(Broker):
    name = "kafka"

    def __init__(self, bootstrap_servers: str = "127.0.0.1:9092", *, partitions: int = 3,
                 session_timeout_ms: int = 6000, heartbeat_interval_ms: int = 1000,
                 tls: TLSOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        kafka = require("kafka", "the Kafka bridge")
        errors = kafka.errors
        self.connection_errors = (errors.KafkaConnectionError, errors.KafkaTimeoutError,
                                  errors.RequestTimedOutError, errors.NodeNotReadyError,
                                  errors.BrokerNotAvailableError, ConnectionError, OSError)
        self.bootstrap = bootstrap_servers
        #: the TLS settings (None: plaintext); a missing or unusable file stops here
        self.tls = tls_options(tls)
        if self.tls is not None:
            self.tls.context()
        self.partitions = partitions
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._producer: Any = None
        self._consumers: dict[tuple[str, str], Any] = {}
        self._topics: set[str] = set()

    @classmethod
    def topic_name(cls, bus_topic: str, prefix: str = "raymas.") -> str:
        """Kafka allows only ``[A-Za-z0-9._-]``: levels become dots, the rest underscores."""
        return re.sub(r"[^A-Za-z0-9._-]", "_", f"{prefix}{bus_topic}".replace("/", "."))

    def connect(self) -> None:
        kafka = require("kafka", "the Kafka bridge")
        if self._producer is None:
            self._producer = kafka.KafkaProducer(**self._client_kwargs(), acks="all",
                                                 linger_ms=5, retries=5)
        self.state = "connected"

    def _client_kwargs(self) -> dict[str, Any]:
        """What every kafka-python client here is given: the servers and, with TLS,
        ``security_protocol="SSL"`` and a context built from :attr:`tls`."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap}
        if self.tls is not None:
            kwargs.update(security_protocol="SSL", ssl_context=self.tls.context(),
                          ssl_check_hostname=self.tls.hostname_checked)
        return kwargs

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=1)
        for consumer in self._consumers.values():
            consumer.close(autocommit=False)
        self._producer = None
        self._consumers.clear()
        self.state = "disconnected"

    def _topic(self, topic: str) -> None:
        if topic in self._topics:
            return
        kafka = require("kafka", "the Kafka bridge")
        admin = kafka.KafkaAdminClient(**self._client_kwargs())
        try:
            admin.create_topics([kafka.admin.NewTopic(topic, self.partitions, 1)])
        except kafka.errors.TopicAlreadyExistsError:
            pass
        finally:
            admin.close()
        self._topics.add(topic)

    def publish(self, topic: str, messages: Sequence[bytes]) -> int:
        self._topic(topic)
        futures = []
        for data in messages:
            try:
                key = Envelope.from_bytes(data).sender.encode()
            except EnvelopeError:
                key = None  # forwarded as is; the receiving side rejects it
            futures.append(self._producer.send(topic, key=key, value=data))
        self._producer.flush()
        for fut in futures:
            fut.get(timeout=30)  # raises if any record was not acknowledged
        return len(messages)

    def _consumer(self, topic: str, group: str, consumer: str) -> Any:
        key = (topic, group)
        if key not in self._consumers:
            kafka = require("kafka", "the Kafka bridge")
            self._topic(topic)
            self._consumers[key] = kafka.KafkaConsumer(
                topic, **self._client_kwargs(), group_id=group, client_id=consumer,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=self.session_timeout_ms,
                heartbeat_interval_ms=self.heartbeat_interval_ms)
        return self._consumers[key]

    def consume(self, topic: str, group: str, consumer: str, max_n: int,
                block_ms: int) -> list[Delivery]:
        records = self._consumer(topic, group, consumer).poll(timeout_ms=block_ms,
                                                              max_records=max_n)
        return [Delivery(topic, (r.topic, r.partition, r.offset), r.value)
                for batch in records.values() for r in batch]

    def ack(self, topic: str, group: str, tags: Sequence[Any]) -> None:
        if not tags:
            return
        kafka = require("kafka", "the Kafka bridge")
        last: dict[Any, int] = {}
        for t, partition, offset in tags:
            tp = kafka.TopicPartition(t, partition)
            last[tp] = max(last.get(tp, -1), offset)
        consumer = self._consumers[(topic, group)]
        consumer.commit({tp: kafka.structs.OffsetAndMetadata(off + 1, "", -1)
                         for tp, off in last.items()})
