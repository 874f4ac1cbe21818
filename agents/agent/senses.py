"""What an agent perceives and pursues: its environments, role behaviours and goals.

:class:`Senses` lives in the agent actor beside the bus endpoint and starts,
from the agent's spec:

- its **environments** (``spec.environments``), hosted by
  :mod:`interfaces.attach` — found by name at run time, since ``agents``
  sits below ``interfaces`` — whose events go on the bus and whose bad input
  goes to the dead-letter topic;
- its **subscriptions** (``spec.subscribe``) and its **role**'s behaviours
  (``spec.role``, :mod:`agents.roles`), run by a
  :class:`~agents.behaviours.BehaviourRunner`; while the agent has
  behaviours listening, what arrives in its mailbox is dispatched to them;
- its **goals to pursue** (``spec.pursue``), each a
  :class:`~agents.pursuit.Pursuer` that looks at the world (the agent's
  observed state and the ``observe`` of each environment its facts name,
  keyed ``<environment>.<field>``), acts through an environment action or one of
  the agent's task kinds, and replans; progress is published on
  ``raymas/events/agents/<agent>/goals``.

:meth:`Senses.report` is the agent's self-report (environments' health,
goals' progress, behaviours' state) that travels with its heartbeat to the
Supervisor, where ``raymas status`` and ``/readyz`` read it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agents.agent.core import Agent
from agents.behaviours import BehaviourRunner
from agents.pursuit import Pursuer, PursuitAction, pursuit_from_spec
from agents.roles import RoleContext, resolve_role
from messaging.endpoint import Endpoint
from messaging.envelope import Envelope, EnvelopeError

__all__ = ["ENVIRONMENT_HOSTING", "ENVIRONMENT_LINGER_MS", "Senses", "goals_topic"]

logger = logging.getLogger(__name__)

#: where environments are hosted from (a layer above: found by name, not imported)
ENVIRONMENT_HOSTING = "interfaces.attach:attach"
#: how long an agent with environments lets its sends gather before they go (unless its
#: spec says ``bus_linger_ms``): outside events come one by one, and batches of a few
#: milliseconds' worth cost the bus far less than one Ray call each
#: (``bench/interfaces.py``: PostgreSQL notifications at 1,000/s, p99 134 -> 28 ms)
ENVIRONMENT_LINGER_MS = 3.0


def goals_topic(agent_id: str) -> str:
    return f"raymas/events/agents/{agent_id}/goals"


class Senses:
    """One agent's environments, behaviours and goal pursuits (see the module docstring)."""

    def __init__(self, agent: Agent, endpoint: Endpoint, supervisor: Callable[[], Any]) -> None:
        self.agent = agent
        self.endpoint = endpoint
        self._supervisor = supervisor
        self.hosts: dict[str, Any] = {}
        #: goal name -> its pursuer and the task running it
        self.pursuers: dict[str, tuple[Pursuer, asyncio.Task[None]]] = {}
        self.runner = BehaviourRunner(agent.agent_id, send=self._send)
        self._tasks: list[asyncio.Task[None]] = []
        self.unhandled = 0

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id

    async def start(self) -> None:
        spec = self.agent.spec
        for pattern in spec.subscribe:
            await self.endpoint.subscribe(pattern)
        linger_ms = spec.bus_linger_ms
        if linger_ms is None and spec.environments:
            linger_ms = ENVIRONMENT_LINGER_MS
        if linger_ms:
            self.endpoint.tune(linger_s=linger_ms / 1000)
        if spec.environments:
            module, _, attr = ENVIRONMENT_HOSTING.partition(":")
            attach = getattr(importlib.import_module(module), attr)
            self.hosts = attach(spec.environments, self.endpoint.publish, self._dead_letter,
                                on_event=self._wake)
        if spec.role:
            ctx = RoleContext(self.agent_id, self.endpoint.publish, self._supervisor,
                              self.agent, self.hosts)
            for behaviour, template in resolve_role(spec.role)(ctx, spec.role_options):
                self.runner.add(behaviour, template)
        for i, goal in enumerate(spec.pursue):
            self.pursue(goal, f"pursue[{i}]")
        await self.runner.start()
        if self.runner.behaviours:
            self._tasks.append(asyncio.get_running_loop().create_task(self._dispatch()))

    def pursue(self, goal: Mapping[str, Any], where: str = "pursue") -> dict[str, Any]:
        """Start pursuing ``goal`` (the ``pursue:`` entry's shape) now; its first report.

        A goal of the same name already pursued is replaced (its loop stops).
        """
        pursuit = pursuit_from_spec(goal, where)
        replaced = self.pursuers.pop(pursuit.name, None)
        if replaced is not None:
            replaced[1].cancel()
        # it looks only at the environments its facts name ("<environment>.<key>")
        looked_at = sorted({f.split(".", 1)[0] for f in pursuit.facts} & set(self.hosts))
        pursuer = Pursuer(pursuit, observe=lambda: self.world(looked_at), act=self._do,
                          report=self._goal_report,
                          interval_s=float(goal.get("interval_s", 0.5)), owner=self.agent_id)
        task = asyncio.get_running_loop().create_task(pursuer.run())
        self.pursuers[pursuit.name] = (pursuer, task)
        return pursuer.report()

    async def _dispatch(self) -> None:
        """Hand what arrives to the behaviours.  What none takes (no template matches, or
        every matching inbox is full) is counted and, unless it was a broadcast to all,
        dead-lettered: it was sent to this agent, or on a topic it subscribed to."""
        while True:
            refused = []
            for env in await self.endpoint.receive(1000, timeout_s=1.0):
                if not self.runner.dispatch(env):
                    self.unhandled += 1
                    if not (env.topic or "").startswith("raymas/broadcast/"):
                        refused.append(env.to_bytes())
            if refused:
                await self.endpoint.directory.dead_letter.remote(
                    refused, f"no behaviour of {self.agent_id} took it (none matches, or "
                    "its inbox is full)")

    async def _send(self, env: Envelope) -> None:
        self.endpoint.send(env)

    async def _dead_letter(self, records: list[Any], reason: str) -> None:
        """Bad input from an environment, as envelopes on the dead-letter topic."""
        frames = []
        for record in records:
            topic = str(record.get("topic") or f"env/{self.agent_id}/rejected")
            try:
                env = Envelope.new(self.agent_id, topic=topic, payload=record)
                frames.append(env.to_bytes())
            except (EnvelopeError, TypeError, ValueError):  # what even the record cannot carry
                frames.append(Envelope.new(self.agent_id, topic=topic,
                                           payload={"repr": repr(record)[:4096]}).to_bytes())
        await self.endpoint.directory.dead_letter.remote(frames, reason)

    def _wake(self, event: Any) -> None:
        for pursuer, _ in self.pursuers.values():
            pursuer.wake.set()

    async def world(self, environments: Iterable[str] | None = None) -> dict[str, Any]:
        """The agent's observed state with the snapshot of each of ``environments`` (all
        when None) as ``<environment>.<key>``."""
        world = dict(self.agent.world)
        for name in self.hosts if environments is None else environments:
            snapshot = await self.hosts[name].observe()
            world.update({f"{name}.{k}": v for k, v in snapshot.items()})
        return world

    async def _do(self, action: PursuitAction) -> Any:
        do = action.do
        if "environment" in do:
            host = self.hosts.get(str(do["environment"]))
            if host is None:
                raise KeyError(f"agent {self.agent_id!r} has no environment "
                               f"{do['environment']!r} (it has {sorted(self.hosts)})")
            return await host.act(str(do["action"]), dict(do.get("args") or {}))
        return await self.agent.run_task({
            "task_id": f"{self.agent_id}:pursue:{action.name}:{time.time_ns()}",
            "kind": do["task"], "args": dict(do.get("args") or {})})

    def _goal_report(self, report: dict[str, Any]) -> None:
        try:
            self.endpoint.publish(goals_topic(self.agent_id), report)
        except EnvelopeError:
            logger.exception("goal report of %s could not be published", self.agent_id)

    async def act(self, environment: str, action: str, args: Mapping[str, Any]) -> Any:
        host = self.hosts.get(environment)
        if host is None:
            raise KeyError(f"agent {self.agent_id!r} has no environment {environment!r} "
                           f"(it has {sorted(self.hosts)})")
        return await host.act(action, args)

    async def observe(self, environment: str) -> dict[str, Any]:
        host = self.hosts.get(environment)
        if host is None:
            raise KeyError(f"agent {self.agent_id!r} has no environment {environment!r} "
                           f"(it has {sorted(self.hosts)})")
        snapshot: dict[str, Any] = await host.observe()
        return snapshot

    def report(self) -> dict[str, Any]:
        """Environments' health, goals' progress, behaviours' state (the self-report)."""
        out: dict[str, Any] = {}
        if self.hosts:
            out["environments"] = [h.health() for h in self.hosts.values()]
        if self.pursuers:
            out["goals"] = [p.report() for p, _ in self.pursuers.values()]
        if self.runner.behaviours:
            out["behaviours"] = self.runner.status()
            out["unhandled"] = self.unhandled
        return out

    async def stop(self) -> None:
        tasks = self._tasks + [task for _, task in self.pursuers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.runner.stop()
        for host in self.hosts.values():
            await host.stop()
