"""Hosted agents stepped together, Mesa-style, across one or more hosts.

A model is made in each host by a *builder*, ``"module:function"`` called as
``builder(agents, options, seed)`` with the host's :class:`~agents.agent.core.Agent`
objects (each agent's ``world`` is its state, so what a step changes shows in
``describe`` and its cost function); it returns ``(model, {agent_id: step
agent})``, the step agents having ``step(ctx)`` (and ``advance(ctx)`` for staged
activation) as :mod:`agents.hosting.stepping` runs them, ``model`` what they
share as ``ctx.model`` (a grid, say).

:class:`Simulation` drives the hosts in lockstep: each step every host steps
its agents and exchanges the mail among them in-process (no Ray, no encoding);
mail for an agent of another host comes back to the driver, which hands it to
that host before the next step, so every message arrives exactly once, in the
recipient's next step, whatever host it lives in.  One Ray call per host per
step; with one host, ``run`` does all the steps in one call.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.errors import RaymasError

__all__ = ["Simulation", "SimulationStats", "resolve_builder"]


def resolve_builder(name: str) -> Any:
    """The model builder named ``"module:function"``."""
    module, _, attr = name.partition(":")
    if not module or not attr:
        raise RaymasError(f"a model builder is named 'module:function', got {name!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise RaymasError(f"model builder {name!r} not found: {exc}") from exc


@dataclass
class SimulationStats:
    """Steps run, messages delivered (in-host and across hosts), the wall time, and the mail
    no host holds a recipient for (returned, never dropped)."""

    steps: int = 0
    delivered: int = 0
    across_hosts: int = 0
    seconds: float = 0.0
    undelivered: list[Any] = field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    def merge(self, other: SimulationStats) -> None:
        self.steps += other.steps
        self.delivered += other.delivered
        self.across_hosts += other.across_hosts
        self.seconds += other.seconds
        self.undelivered.extend(other.undelivered)


class Simulation:
    """Step the hosted agents of ``hosts`` (host id -> actor handle) in lockstep.

    ``builder``: ``"module:function"`` (see the module docstring); ``options`` go to it;
    host ``i`` gets ``seed + i``.
    """

    def __init__(self, hosts: Mapping[str, Any], builder: str, options: Mapping[str, Any]
                 | None = None, *, activation: str = "random", seed: int = 0) -> None:
        import ray

        self.hosts = dict(hosts)
        self._ray = ray
        counts = ray.get([h.start_stepping.remote(builder, dict(options or {}), activation,
                                                  seed + i)
                          for i, h in enumerate(self.hosts.values())])
        self.agents = sum(counts)
        members = ray.get([h.stepping_members.remote() for h in self.hosts.values()])
        self._home = {a: host_id for host_id, ids in zip(self.hosts, members, strict=True)
                      for a in ids}
        #: mail between hosts from the last step run, delivered with the next step
        self._mail: dict[str, list[Any]] = {}

    @property
    def in_flight(self) -> int:
        """Messages between hosts waiting for the next step."""
        return sum(len(m) for m in self._mail.values())

    def run(self, steps: int) -> SimulationStats:
        """Run ``steps`` steps; what they did."""
        import time

        stats = SimulationStats()
        start = time.perf_counter()
        if len(self.hosts) == 1:  # nothing crosses: all the steps in one call
            (host,) = self.hosts.values()
            out = self._ray.get(host.step_agents.remote(steps, []))
            self._take(out, stats, {})
        else:
            for _ in range(steps):
                mail, self._mail = self._mail, {}
                outs = self._ray.get([h.step_agents.remote(1, mail.get(host_id, []))
                                      for host_id, h in self.hosts.items()])
                for out in outs:
                    self._take(out, stats, self._mail)
        stats.steps = steps
        stats.seconds = time.perf_counter() - start
        return stats

    def _take(self, out: Mapping[str, Any], stats: SimulationStats,
              mail: dict[str, list[Any]]) -> None:
        stats.delivered += out["delivered"]
        stats.undelivered.extend(out["undelivered"])
        for recipient, msgs in out["outbound"].items():
            home = self._home.get(recipient)
            if home is None:
                stats.undelivered.extend(msgs)
            else:
                mail.setdefault(home, []).extend(msgs)
                stats.across_hosts += len(msgs)
                stats.delivered += len(msgs)

    def collected(self, name: str) -> list[list[Any]]:
        """Each host's values of reporter ``name`` (one per step, and one at the start)."""
        return self._ray.get([h.stepping_data.remote(name) for h in self.hosts.values()])

    @classmethod
    def of_supervisor(cls, supervisor: Any, host_ids: Sequence[str], builder: str,
                      options: Mapping[str, Any] | None = None, **kw: Any) -> Simulation:
        """A simulation over the named hosts of a Supervisor's namespace."""
        import ray

        from agents.hosting.handle import host_actor_name

        namespace = ray.get(supervisor.settings.remote())["namespace"]
        return cls({h: ray.get_actor(host_actor_name(h), namespace=namespace)
                    for h in host_ids}, builder, options, **kw)
