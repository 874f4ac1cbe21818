"""Roles: the behaviours an agent takes on from config (``role:`` of an agent group).

A role is a function ``(ctx: RoleContext, options) -> [(behaviour, template)]``
looked up by name (the built-ins below, or ``"module:function"``) when the
agent starts, so an agent imports only its own role's code.

- ``monitor``: no behaviours of its own; its environments (``environments:``)
  put what they observe on the bus.
- ``analyzer``: scores the observations it subscribes to with an online
  detector (:mod:`agents.roles.detector`) and publishes findings.
- ``coordinator``: turns findings into HTN plans (confirm → diagnose → act)
  for the Supervisor to allocate (:mod:`agents.roles.coordinator`).
- ``sensor_simulator``: writes sensor readings as CSV files, with anomalies
  injected at known times, and the ground truth beside them
  (:mod:`agents.roles.simulator`).
- ``latency_probe``: measures how long events took from outside to this agent
  (:mod:`agents.roles.probe`; ``bench/interfaces.py`` uses it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.behaviours import BaseTemplate, Behaviour
from agents.errors import ConfigError
from messaging.errors import did_you_mean

__all__ = ["ROLES", "RoleContext", "RoleFactory", "resolve_role"]


@dataclass
class RoleContext:
    """What a role's behaviours may use: who they are and how to speak.

    ``publish(topic, payload)`` puts a message on the bus; ``supervisor()``
    returns the Supervisor's actor handle; ``environments`` are the agent's
    environment hosts by name (``observe``/``act``/``health``).
    """

    agent_id: str
    publish: Callable[[str, Any], Any]
    supervisor: Callable[[], Any]
    agent: Any = None
    environments: Mapping[str, Any] = field(default_factory=dict)


RoleFactory = Callable[[RoleContext, Mapping[str, Any]],
                       Sequence[tuple[Behaviour, BaseTemplate | None]]]

ROLES = {
    "monitor": "agents.roles:_monitor",
    "analyzer": "agents.roles.analyzer:analyzer",
    "coordinator": "agents.roles.coordinator:coordinator",
    "sensor_simulator": "agents.roles.simulator:sensor_simulator",
    "latency_probe": "agents.roles.probe:latency_probe",
}


def _monitor(ctx: RoleContext, options: Mapping[str, Any]
             ) -> list[tuple[Behaviour, BaseTemplate | None]]:
    """A monitor's environments do its work; it has no behaviours of its own."""
    if options:
        raise ConfigError("role monitor", [(k, "the monitor role takes no options")
                                           for k in options])
    return []


def resolve_role(name: str) -> RoleFactory:
    """The role called ``name`` (or ``module:function``); a did-you-mean when unknown."""
    path = ROLES.get(name) or (name if ":" in name else None)
    if path is None:
        raise ConfigError("role", [(name, f"unknown role{did_you_mean(name, list(ROLES))} "
                                          f"(known: {', '.join(ROLES)})")])
    module, _, attr = path.partition(":")
    try:
        factory: RoleFactory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("role", [(name, f"cannot load {path!r}: {exc}")]) from exc
    return factory
