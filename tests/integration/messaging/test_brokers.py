"""Broker adapters on their own against the real brokers (no Ray needed)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from messaging import Envelope, EnvelopeError
from messaging.brokers import make_broker
from messaging.brokers.rabbitmq import DLX
from tests.conftest import require_service
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_broker() -> Iterator[Any]:
    require_service("redis")
    broker = make_broker("redis", claim_idle_ms=0)
    broker.connect()
    yield broker
    broker.close()


def test_redis_pending_entries_of_a_dead_consumer_are_reclaimed(redis_broker: Any) -> None:
    topic = f"raymas.test-{uuid.uuid4().hex[:6]}"
    data = [Envelope.new("t", topic="x", payload=i).to_bytes() for i in range(10)]
    redis_broker.publish(topic, data)
    first = redis_broker.consume(topic, "g", "dies", 10, 100)
    assert len(first) == 10  # delivered to 'dies', never acknowledged
    second = redis_broker.consume(topic, "g", "survivor", 10, 100)
    assert sorted(Envelope.from_bytes(d.data).payload for d in second) == list(range(10))
    redis_broker.ack(topic, "g", [d.tag for d in second])
    assert redis_broker.consume(topic, "g", "survivor", 10, 100) == []
    redis_broker._client.delete(topic)


@pytest.fixture
def rabbit() -> Iterator[Any]:
    require_service("rabbitmq")
    broker = make_broker("rabbitmq")
    broker.connect()
    yield broker
    broker.close()


def test_redis_pubsub_mode_and_last_value_cache() -> None:
    require_service("redis")
    channel = f"raymas.pubsub-{uuid.uuid4().hex[:6]}"
    pub = make_broker("redis", mode="pubsub", cache_ttl_s=30)
    sub = make_broker("redis", mode="pubsub")
    pub.connect()
    sub.connect()
    try:
        assert sub.consume(channel, "g", "c", 10, 50) == []  # subscribes; nothing yet
        data = [Envelope.new("t", topic="x", payload=i).to_bytes() for i in range(20)]
        pub.publish(channel, data)
        got: list[Any] = []
        deadline = time.monotonic() + 10
        while len(got) < 20 and time.monotonic() < deadline:
            got += sub.consume(channel, "g", "c", 100, 200)
        assert [Envelope.from_bytes(d.data).payload for d in got] == list(range(20))
        sub.ack(channel, "g", [d.tag for d in got])  # nothing to acknowledge; no error
        assert pub.last(channel) == data[-1]
        assert 0 < pub._client.pttl(f"{channel}:last") <= 30_000
        with pytest.raises(ValueError, match="mode"):
            make_broker("redis", mode="sometimes")
    finally:
        pub._client.delete(f"{channel}:last")
        pub.close()
        sub.close()


def _take_dead_letters(channel: Any) -> list[Any]:
    """Every message now in the dead-letter queue, taken off it: the payloads (or raw bytes)."""
    out: list[Any] = []
    while True:
        method, _, body = channel.basic_get(DLX, auto_ack=True)
        if method is None:
            return out
        try:
            out.append(Envelope.from_bytes(body).payload)
        except EnvelopeError:  # another test's raw bytes: not ours either way
            out.append(body)


def test_rabbitmq_priority_ttl_and_dead_letter_exchange(rabbit: Any) -> None:
    topic = f"raymas.test-{uuid.uuid4().hex[:6]}"
    low = [Envelope.new("t", topic="x", payload=f"low{i}", priority=1).to_bytes()
           for i in range(3)]
    high = [Envelope.new("t", topic="x", payload=f"high{i}", priority=8).to_bytes()
            for i in range(3)]
    short_lived = f"short-lived-{topic}"  # unique: the dead-letter queue is shared
    short = Envelope.new("t", topic="x", payload=short_lived, ttl_s=0.2).to_bytes()
    rabbit.publish(topic, [*low, short, *high])
    # RabbitMQ drops an expired message only once it reaches the head of its queue, so
    # the short-lived one (behind the high ones) shows no sign of expiry until consumed.
    # A probe with the same TTL, made after that publish returned and alone in its own
    # queue, expires no sooner, and RabbitMQ dead-letters it as soon as it does: once
    # the probe is in the dead-letter queue, the short-lived message has expired too.
    probe = f"{topic}-probe"
    rabbit.publish(probe, [Envelope.new("t", topic="x", payload=probe, ttl_s=0.2).to_bytes()])
    channel = rabbit._sub[1]
    dead: list[Any] = []
    try:
        wait_until(lambda: dead.extend(_take_dead_letters(channel)) or probe in dead,
                   "the probe's TTL never ran out in RabbitMQ", timeout=10)
        got = rabbit.consume(topic, "g", "c", 10, 500)
        payloads = [Envelope.from_bytes(d.data).payload for d in got]
        assert payloads == ["high0", "high1", "high2", "low0", "low1", "low2"]
        rabbit.ack(topic, "g", [d.tag for d in got])
        # expired into the dead-letter exchange, not lost
        wait_until(lambda: dead.extend(_take_dead_letters(channel)) or short_lived in dead,
                   lambda: f"{short_lived} not dead-lettered; dead letters: {dead}", timeout=10)
    finally:
        channel.queue_delete(topic)
        channel.queue_delete(probe)
