"""Broker adapters behind one interface; looked up by name, imported lazily.

A broker's client library is only imported when that broker is used, and a
missing one fails with the extra to install.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from messaging.brokers.base import Broker, BrokerError, Delivery, ensure

__all__ = ["BROKERS", "Broker", "BrokerError", "Delivery", "broker_class", "ensure",
           "make_broker"]

BROKERS = {
    "redis": "messaging.brokers.redis:RedisBroker",
    "rabbitmq": "messaging.brokers.rabbitmq:RabbitMQBroker",
    "kafka": "messaging.brokers.kafka:KafkaBroker",
}


def broker_class(kind: str) -> type[Broker]:
    """The broker class registered as ``kind``; unknown names get a did-you-mean error."""
    path = BROKERS.get(kind)
    if path is None:
        close = difflib.get_close_matches(kind, BROKERS, n=1)
        hint = f" did you mean {close[0]!r}?" if close else ""
        raise BrokerError(f"unknown broker {kind!r};{hint} known: {', '.join(BROKERS)}")
    module, _, cls = path.partition(":")
    found: type[Broker] = getattr(importlib.import_module(module), cls)
    return found


def make_broker(kind: str, **options: Any) -> Broker:
    """A broker by name (``redis``, ``rabbitmq``, ``kafka``)."""
    return broker_class(kind)(**options)
