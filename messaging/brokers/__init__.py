"""Broker adapters behind one interface; looked up by name, imported lazily.

A broker's client library is only imported when that broker is used, and a
missing one fails with the extra to install.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from messaging.brokers.base import Broker, BrokerError, Delivery, ensure

if TYPE_CHECKING:  # pydantic loads with the broker that needs it
    from messaging.brokers.tls import TLSOptions

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


def make_broker(kind: str, *, tls: TLSOptions | Mapping[str, Any] | None = None,
                **options: Any) -> Broker:
    """A broker by name (``redis``, ``rabbitmq``, ``kafka``).

    ``tls`` (:class:`~messaging.brokers.tls.TLSOptions` or a mapping of its
    fields) is handed to the broker's constructor when given; the other
    options as they are.
    """
    if tls is not None:
        options["tls"] = tls
    return broker_class(kind)(**options)
