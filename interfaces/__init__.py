"""Environments agents sense and act on, behind one interface; looked up by name,
imported lazily.

An environment's client library (watchdog, httpx, psycopg, redis, paho-mqtt,
aiocoap, websockets, psutil, nvidia-ml-py) is imported only when that
environment is made, and a missing one fails with the extra to install.
MongoDB has no adapter: no server can be run on the machines raymas is
tested on, and an untested adapter is not shipped.

Example:
    >>> env = make_environment("memory", name="plant", state={"valve": "shut"})
    >>> env.kind, env.name
    ('memory', 'plant')
    >>> make_environment("mqt", name="x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    interfaces.base.EnvironmentError: unknown environment 'mqt'; did you mean 'mqtt'? (known: ...)
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

from interfaces.base import (
    Backoff,
    BadInput,
    Environment,
    EnvironmentError,
    Event,
    Rejected,
    UnknownAction,
    call,
    decode_json,
    stream,
)
from messaging.errors import did_you_mean

__all__ = ["ENVIRONMENTS", "Backoff", "BadInput", "Environment", "EnvironmentError", "Event",
           "Rejected", "UnknownAction", "call", "decode_json", "environment_class",
           "make_environment", "stream"]

logging.getLogger(__name__).addHandler(logging.NullHandler())  # libraries don't configure logging

ENVIRONMENTS = {
    "memory": "interfaces.memory:MemoryEnvironment",
    "files": "interfaces.files:FileEnvironment",
    "http": "interfaces.http:HttpEnvironment",
    "postgres": "interfaces.postgres:PostgresEnvironment",
    "redis": "interfaces.redis:RedisEnvironment",
    "mqtt": "interfaces.mqtt:MqttEnvironment",
    "coap": "interfaces.coap:CoapEnvironment",
    "websocket": "interfaces.websocket:WebSocketEnvironment",
    "system": "interfaces.system:SystemEnvironment",
}


def environment_class(kind: str) -> type[Environment]:
    """The environment class registered as ``kind``; unknown names get a did-you-mean."""
    path = ENVIRONMENTS.get(kind)
    if path is None:
        hint = did_you_mean(kind, list(ENVIRONMENTS))
        raise EnvironmentError(f"unknown environment {kind!r}{hint} "
                               f"(known: {', '.join(ENVIRONMENTS)})")
    module, _, cls = path.partition(":")
    found: type[Environment] = getattr(importlib.import_module(module), cls)
    return found


def make_environment(kind: str, *, name: str, **options: Any) -> Environment:
    """An environment by kind, named ``name``, with its own options.

    An option the environment does not take is refused by name, with a
    did-you-mean among those it does take.
    """
    cls = environment_class(kind)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [p for p in params if p not in ("self", "name")]
    for key in options:
        if key not in known and not takes_any:
            raise EnvironmentError(f"{kind} environment {name!r}: unknown option {key!r}"
                                   f"{did_you_mean(key, known)} (it takes: "
                                   f"{', '.join(known) or 'none'})")
    return cls(name=name, **options)
