"""One interface for every external broker, and retry written once.

A :class:`Broker` moves encoded envelopes (bytes) to and from named topics
with consumer-group, acknowledged delivery: ``publish`` a batch, ``consume``
up to n deliveries for a group member, ``ack`` the ones handled.  Each broker
declares its ``connection_errors``; :func:`ensure` retries an operation on
those with exponential back-off, reconnecting in between, and re-raises
anything else at once.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from messaging.errors import RaymasError

__all__ = ["Broker", "BrokerError", "Delivery", "ensure", "require"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class BrokerError(RaymasError):
    """A broker operation failed for good (retries exhausted, or not retryable)."""


@dataclass(frozen=True)
class Delivery:
    """One message handed to a consumer; ``tag`` is what :meth:`Broker.ack` takes."""

    topic: str
    tag: Any
    data: bytes


class Broker(abc.ABC):
    """The handful of primitives a bridge needs from a broker."""

    name: str = "broker"
    connection_errors: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self.state = "disconnected"
        self.reconnects = 0

    @abc.abstractmethod
    def connect(self) -> None:
        """(Re)open the connection; idempotent."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection (a later call reconnects)."""

    @abc.abstractmethod
    def publish(self, topic: str, messages: Sequence[bytes]) -> int:
        """Durably append ``messages`` to ``topic``; returns how many were accepted."""

    @abc.abstractmethod
    def consume(self, topic: str, group: str, consumer: str, max_n: int,
                block_ms: int) -> list[Delivery]:
        """Up to ``max_n`` unacknowledged deliveries for this group member."""

    @abc.abstractmethod
    def ack(self, topic: str, group: str, tags: Sequence[Any]) -> None:
        """Acknowledge handled deliveries so they are not delivered again."""

    @classmethod
    def topic_name(cls, bus_topic: str, prefix: str = "raymas.") -> str:
        """The broker-side name of a bus topic."""
        return f"{prefix}{bus_topic}"

    def health(self) -> dict[str, Any]:
        return {"broker": self.name, "state": self.state, "reconnects": self.reconnects}


def require(module: str, what: str) -> Any:
    """Import a broker's client library, or fail with the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BrokerError(f"{what} needs {module}: pip install 'raymas[brokers]'") from exc


def ensure(broker: Broker, op: Callable[[], T], *, attempts: int = 8,
           first_delay_s: float = 0.05, max_delay_s: float = 2.0,
           sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``op``; on a connection error reconnect with back-off and try again."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            if broker.state != "connected":
                broker.connect()
            return op()
        except broker.connection_errors as exc:
            broker.state = "reconnecting"
            broker.reconnects += 1
            logger.warning("%s: %s (attempt %d of %d)", broker.name, exc, attempt, attempts)
            if attempt == attempts:
                raise BrokerError(f"{broker.name}: gave up after {attempts} attempts: "
                                  f"{exc}") from exc
            try:
                broker.close()
            except broker.connection_errors:
                pass
            sleep(delay)
            delay = min(max_delay_s, delay * 2)
    raise AssertionError("unreachable")
