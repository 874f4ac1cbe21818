"""The coordinator role: findings in, response plans out for the Supervisor to allocate.

For each finding it receives (``findings/#`` by default), the coordinator
decomposes the root task ``respond`` with an HTN domain — by default
confirm → diagnose → act, each a registered task kind of
:mod:`agents.roles.incidents` — and submits the plan to the Supervisor,
which allocates every step with the configured strategy (contract net by
default) to agents that have the capabilities.  Findings on a series that
already has a response under way within ``cooldown_s`` are counted as
``suppressed`` rather than answered twice.  Alerts the act step publishes
come back to the coordinator when it subscribes to them (``alerts/#``) and
are counted.

Options: ``domain`` (an HTN domain as data, see
:mod:`agents.planning.htn_config`), ``task`` (root task, ``respond``),
``cooldown_s`` (30), ``strategy`` (``contract_net``), ``capabilities``
(``[execution]``), ``incidents`` (where the act step records incidents: a
``sqlite:///`` or ``postgresql://`` URL), ``alerts_topic`` (``alerts``),
``template`` (the findings' topic pattern, ``findings/#``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from agents.behaviours import BaseTemplate, CyclicBehaviour, Template
from agents.errors import ConfigError
from agents.planning import Task, domain_from_config, plan_htn
from agents.planning.errors import PlanError
from agents.roles import RoleContext

__all__ = ["DEFAULT_DOMAIN", "Coordinate", "coordinator"]

logger = logging.getLogger(__name__)

#: confirm → diagnose → act; "{finding}", "{incidents}", "{alerts_topic}" are the
#: root task's arguments
DEFAULT_DOMAIN: dict[str, Any] = {
    "name": "incident-response",
    "operators": {"incident_confirm": {}, "incident_diagnose": {}, "incident_record": {}},
    "methods": [{"name": "confirm-diagnose-act", "task": "respond", "subtasks": [
        {"task": "incident_confirm", "args": {"finding": "{finding}"}},
        {"task": "incident_diagnose", "args": {"finding": "{finding}"}},
        {"task": "incident_record", "args": {"finding": "{finding}", "url": "{incidents}",
                                             "alerts_topic": "{alerts_topic}"}}]}],
}

_OPTIONS = {"domain", "task", "cooldown_s", "strategy", "capabilities", "incidents",
            "alerts_topic", "template"}


class Coordinate(CyclicBehaviour):
    """Plan a response to each finding and hand it to the Supervisor."""

    def __init__(self, ctx: RoleContext, options: Mapping[str, Any]) -> None:
        super().__init__(name="coordinate")
        self.ctx = ctx
        self.domain = domain_from_config(options.get("domain") or DEFAULT_DOMAIN)
        self.task = str(options.get("task", "respond"))
        self.cooldown_s = float(options.get("cooldown_s", 30.0))
        self.strategy = str(options.get("strategy", "contract_net"))
        self.capabilities = list(options.get("capabilities") or ["execution"])
        self.incidents = str(options.get("incidents", "sqlite:///.raymas/incidents.db"))
        self.alerts_topic = str(options.get("alerts_topic", "alerts"))
        self._last: dict[str, float] = {}
        self.planned = self.suppressed = self.alerts = self.failed = 0

    async def run(self) -> None:
        env = await self.receive(timeout_s=1.0)
        if env is None:
            return
        if (env.topic or "").startswith(f"{self.alerts_topic}/"):
            self.alerts += 1
            return
        finding = env.payload
        if not isinstance(finding, Mapping):
            return
        series = str(finding.get("series"))
        now = time.monotonic()
        if now - self._last.get(series, float("-inf")) < self.cooldown_s:
            self.suppressed += 1
            return
        self._last[series] = now
        args = {"finding": dict(finding), "incidents": self.incidents,
                "alerts_topic": self.alerts_topic}
        try:
            graph = plan_htn(self.domain, {}, [Task(self.task, args)])
            sup = self.ctx.supervisor()
            await sup.submit_plan.remote(graph, None, strategy=self.strategy,
                                         capabilities=self.capabilities, goal="incident")
        except (PlanError, ValueError) as exc:  # reported, never silently dropped
            self.failed += 1
            logger.error("%s: no response planned for %s: %s", self.ctx.agent_id, series, exc)
            return
        self.planned += 1


def coordinator(ctx: RoleContext, options: Mapping[str, Any]
                ) -> list[tuple[Coordinate, BaseTemplate]]:
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigError("role coordinator", [(k, f"unknown option; known: {sorted(_OPTIONS)}")
                                               for k in sorted(unknown)])
    findings = Template(topic=str(options.get("template", "findings/#")))
    alerts = Template(topic=f"{options.get('alerts_topic', 'alerts')}/#")
    return [(Coordinate(ctx, options), findings | alerts)]
