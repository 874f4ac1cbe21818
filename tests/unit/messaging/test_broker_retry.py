"""The retry policy every bridge shares (a broker stub stands in for the network here;
the real brokers are exercised in tests/integration/test_bridges.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from messaging.brokers import Broker, BrokerError, Delivery, ensure, make_broker


class Flaky(Broker):
    name = "flaky"
    connection_errors = (ConnectionError,)

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.connects = 0

    def connect(self) -> None:
        self.connects += 1
        self.state = "connected"

    def close(self) -> None:
        self.state = "disconnected"

    def publish(self, topic: str, messages: Sequence[bytes]) -> int:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("connection reset")
        return len(messages)

    def consume(self, topic: str, group: str, consumer: str, max_n: int,
                block_ms: int) -> list[Delivery]:
        return []

    def ack(self, topic: str, group: str, tags: Sequence[Any]) -> None:
        return None


def test_ensure_reconnects_with_backoff_then_succeeds() -> None:
    broker, sleeps = Flaky(failures=3), []
    assert ensure(broker, lambda: broker.publish("t", [b"x"]), sleep=sleeps.append) == 1
    assert sleeps == [0.05, 0.1, 0.2] and broker.reconnects == 3 and broker.connects == 4
    assert broker.health()["state"] == "connected"


def test_ensure_gives_up_with_a_clear_error() -> None:
    broker = Flaky(failures=100)
    with pytest.raises(BrokerError, match="gave up after 3 attempts"):
        ensure(broker, lambda: broker.publish("t", [b"x"]), attempts=3, sleep=lambda s: None)


def test_other_errors_are_not_retried() -> None:
    broker = Flaky(failures=0)

    def boom() -> None:
        raise ValueError("bad data")

    with pytest.raises(ValueError):
        ensure(broker, boom, sleep=lambda s: None)
    assert broker.reconnects == 0


def test_unknown_broker_name() -> None:
    with pytest.raises(BrokerError, match="did you mean 'redis'"):
        make_broker("rediss")
