"""The analyzer role: observations in, findings out.

The analyzer receives the environment events it subscribes to (``subscribe:``
of its agent group, e.g. ``env/sensors/#``), takes the numeric fields of
each reading — the event's data as a mapping, or each row of a list of rows
(a CSV file's ``content``) — and scores them with a :class:`~agents.roles.detector.RobustDetector`,
one series per ``<key>.<field>`` (``key_field`` of the row, else the event's
subject).  Each anomalous value is published as a finding on
``<findings_topic>/<source>`` with the evidence (value, score, median),
when the reading was observed (``observed_at``, the environment event's
time) and when it was found (``detected_at``).  Values that are not numbers
are counted as ``skipped``, not scored.

Options: ``fields`` (names to score; default every numeric field),
``key_field``, ``time_field`` (a row field carrying the reading's own time),
``findings_topic`` (default ``findings``), ``template`` (topic pattern of the
events taken, default ``env/#``), and the detector's ``window``,
``threshold``, ``min_samples``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from agents.behaviours import CyclicBehaviour, Template
from agents.errors import ConfigError
from agents.roles import RoleContext
from agents.roles.detector import RobustDetector

__all__ = ["Analyze", "analyzer"]

_OPTIONS = {"fields", "key_field", "time_field", "findings_topic", "template", "window",
            "threshold", "min_samples"}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class Analyze(CyclicBehaviour):
    """Score each reading that arrives; publish what is anomalous."""

    def __init__(self, ctx: RoleContext, detector: RobustDetector, *,
                 fields: list[str] | None, key_field: str | None, time_field: str | None,
                 findings_topic: str) -> None:
        super().__init__(name="analyze")
        self.ctx, self.detector = ctx, detector
        self.fields, self.key_field, self.time_field = fields, key_field, time_field
        self.findings_topic = findings_topic
        self.scored = self.found = self.skipped = 0

    async def run(self) -> None:
        env = await self.receive(timeout_s=1.0)
        if env is None or not isinstance(env.payload, Mapping):
            return
        event = env.payload
        data = event.get("data")
        if isinstance(data, Mapping) and "content" in data:  # a file with what it holds
            data = data["content"]
        rows = data if isinstance(data, list) else [data]
        for row in rows:
            if isinstance(row, Mapping):
                self._score(event, row)

    def _score(self, event: Mapping[str, Any], row: Mapping[str, Any]) -> None:
        key = str(row.get(self.key_field) if self.key_field and self.key_field in row
                  else event.get("subject") or event.get("source"))
        for name in self.fields or [k for k in row if k not in (self.key_field,
                                                                self.time_field)]:
            value = _number(row.get(name))
            if value is None:
                self.skipped += 1
                continue
            self.scored += 1
            score = self.detector.update(f"{key}.{name}", value)
            if score.anomalous:
                self.found += 1
                self.ctx.publish(f"{self.findings_topic}/{event.get('source')}", {
                    "series": score.series, "key": key, "field": name, "value": value,
                    "score": round(score.score, 3), "median": score.median,
                    "source": event.get("source"), "subject": event.get("subject"),
                    "reading_at": _number(row.get(self.time_field)) if self.time_field
                    else None,
                    "observed_at": event.get("at"), "detected_at": time.time(),
                    "analyzer": self.ctx.agent_id})


def analyzer(ctx: RoleContext, options: Mapping[str, Any]
             ) -> list[tuple[Analyze, Template]]:
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigError("role analyzer", [(k, f"unknown option; known: {sorted(_OPTIONS)}")
                                            for k in sorted(unknown)])
    detector = RobustDetector(window=int(options.get("window", 60)),
                              threshold=float(options.get("threshold", 6.0)),
                              min_samples=int(options.get("min_samples", 10)))
    fields = options.get("fields")
    behaviour = Analyze(ctx, detector, fields=list(fields) if fields else None,
                        key_field=options.get("key_field"), time_field=options.get("time_field"),
                        findings_topic=str(options.get("findings_topic", "findings")))
    return [(behaviour, Template(topic=str(options.get("template", "env/#"))))]
