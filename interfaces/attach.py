"""Environments from an agent's spec, hosted on its event loop.

The agent actor finds :func:`attach` by name at run time (``agents`` sits
below ``interfaces`` and does not import it): each entry of
``AgentSpec.environments`` — ``{"kind", "name", "options", "topic",
"limits"}`` — becomes an :class:`~interfaces.host.EnvironmentHost` whose
events are published through the agent's bus endpoint.  A bad entry raises
:class:`~interfaces.EnvironmentError` naming its index and field before
anything starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from interfaces import EnvironmentError, Event, make_environment
from interfaces.host import EnvironmentHost, Limits

__all__ = ["attach", "build_hosts"]


def build_hosts(specs: Sequence[Mapping[str, Any]], publish: Callable[[str, Any], Any],
                dead_letter: Callable[[list[Any], str], Awaitable[Any]],
                on_event: Callable[[Event], None] | None = None
                ) -> dict[str, EnvironmentHost]:
    """One host per spec, not started; names must be unique."""
    hosts: dict[str, EnvironmentHost] = {}
    for i, spec in enumerate(specs):
        where = f"environments[{i}]"
        unknown = set(spec) - {"kind", "name", "options", "topic", "limits"}
        if unknown or "kind" not in spec:
            raise EnvironmentError(f"{where}: needs 'kind'; takes name, options, topic, limits"
                                   + (f"; unknown: {sorted(unknown)}" if unknown else ""))
        name = str(spec.get("name") or spec["kind"])
        if name in hosts:
            raise EnvironmentError(f"{where}: name {name!r} is used twice")
        try:
            env = make_environment(str(spec["kind"]), name=name, **dict(spec.get("options") or {}))
            limits = Limits(**dict(spec.get("limits") or {}))
        except (TypeError, ValueError) as exc:
            raise EnvironmentError(f"{where} ({name!r}): {exc}") from exc
        except EnvironmentError as exc:
            raise EnvironmentError(f"{where}: {exc}") from exc
        hosts[name] = EnvironmentHost(env, publish, dead_letter, topic=spec.get("topic"),
                                      limits=limits, on_event=on_event)
    return hosts


def attach(specs: Sequence[Mapping[str, Any]], publish: Callable[[str, Any], Any],
           dead_letter: Callable[[list[Any], str], Awaitable[Any]],
           on_event: Callable[[Event], None] | None = None) -> dict[str, EnvironmentHost]:
    """Build the hosts and start them on the running loop (each connects with back-off)."""
    hosts = build_hosts(specs, publish, dead_letter, on_event)
    for host in hosts.values():
        host.start()
    return hosts
