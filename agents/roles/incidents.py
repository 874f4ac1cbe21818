"""The incident response steps (task kinds) and where incidents are recorded.

The coordinator's default plan runs three registered task kinds, each on
whichever agent wins it:

- ``incident_confirm``: is the finding strong enough to act on (its score
  at or above ``min_score``)?
- ``incident_diagnose``: what kind of anomaly (a spike up or down), and by
  how much it left the series' median;
- ``incident_record``: writes the incident (:class:`IncidentStore`: SQLite by
  default, PostgreSQL for a ``postgresql://`` URL) and publishes an alert on
  ``<alerts_topic>/<series>`` from the agent that runs it — or records it as
  dismissed when it was not confirmed.  The record keeps when the reading
  was observed, found and alerted on, so the end-to-end latency is in it.

Example:
    >>> f = {"series": "s1.value", "value": 31.0, "median": 20.0, "score": 9.0}
    >>> incident_confirm(f)["confirmed"], incident_diagnose(f)["kind"]
    (True, 'spike_high')
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from agents.agent import context
from agents.agent.kinds import task

__all__ = ["IncidentStore", "incident_confirm", "incident_diagnose", "incident_record"]

_COLUMNS = ("series", "source", "subject", "value", "score", "confirmed", "diagnosis",
            "observed_at", "detected_at", "recorded_at", "agent_id")


class IncidentStore:
    """Incidents in SQLite (``sqlite:///path``) or PostgreSQL (``postgresql://...``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        if not self.postgres and not url.startswith("sqlite:///"):
            raise ValueError(f"incidents: expected a sqlite:/// or postgresql:// URL, got {url!r}")

    def _connect(self) -> Any:
        if self.postgres:
            import psycopg

            pg: Any = psycopg.connect(self.url, autocommit=True)
            pg.execute("CREATE TABLE IF NOT EXISTS raymas_incidents (id BIGSERIAL PRIMARY KEY,"
                         " series TEXT, source TEXT, subject TEXT, value DOUBLE PRECISION, "
                         "score DOUBLE PRECISION, confirmed BOOLEAN, diagnosis TEXT, "
                         "observed_at DOUBLE PRECISION, detected_at DOUBLE PRECISION, "
                         "recorded_at DOUBLE PRECISION, agent_id TEXT)")
            return pg
        path = self.url[len("sqlite:///"):]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS raymas_incidents (id INTEGER PRIMARY KEY, "
                     "series TEXT, source TEXT, subject TEXT, value REAL, score REAL, "
                     "confirmed INTEGER, diagnosis TEXT, observed_at REAL, detected_at REAL, "
                     "recorded_at REAL, agent_id TEXT)")
        return conn

    def record(self, row: Mapping[str, Any]) -> int:
        """Insert one incident; its id."""
        values = [row.get(c) for c in _COLUMNS]
        mark = "%s" if self.postgres else "?"
        sql = (f"INSERT INTO raymas_incidents ({', '.join(_COLUMNS)}) VALUES "
               f"({', '.join([mark] * len(_COLUMNS))})")
        conn = self._connect()
        try:
            if self.postgres:
                found = conn.execute(sql + " RETURNING id", values).fetchone()
                return int(found[0])
            return int(conn.execute(sql, values).lastrowid)
        finally:
            conn.close()

    def all(self) -> list[dict[str, Any]]:
        conn = self._connect()
        try:
            cur = conn.execute(f"SELECT id, {', '.join(_COLUMNS)} FROM raymas_incidents "
                               "ORDER BY id")
            return [dict(zip(("id", *_COLUMNS), r, strict=True)) for r in cur.fetchall()]
        finally:
            conn.close()

    def clear(self) -> None:
        conn = self._connect()
        try:
            conn.execute("DELETE FROM raymas_incidents")
        finally:
            conn.close()


@task("incident_confirm", inline=True)
def incident_confirm(finding: Mapping[str, Any], min_score: float = 0.0,
                     **_: Any) -> dict[str, Any]:
    """Confirm a finding whose score reaches ``min_score``."""
    score = float(finding.get("score") or 0.0)
    return {"confirmed": score >= min_score, "score": score}


@task("incident_diagnose", inline=True)
def incident_diagnose(finding: Mapping[str, Any], inputs: Mapping[str, Any] | None = None,
                      **_: Any) -> dict[str, Any]:
    """Which way and how far the value left the series' median (and, passed on from the
    confirm step before it, whether it was confirmed)."""
    value, median = float(finding.get("value", 0.0)), float(finding.get("median", 0.0))
    confirmed = next((r["confirmed"] for r in (inputs or {}).values()
                      if isinstance(r, Mapping) and "confirmed" in r), True)
    return {"kind": "spike_high" if value >= median else "spike_low",
            "deviation": round(value - median, 6), "series": finding.get("series"),
            "confirmed": bool(confirmed)}


@task("incident_record")
def incident_record(finding: Mapping[str, Any], url: str = "sqlite:///.raymas/incidents.db",
                    alerts_topic: str = "alerts", inputs: Mapping[str, Any] | None = None,
                    **_: Any) -> dict[str, Any]:
    """Record the incident and publish the alert (see the module docstring)."""
    results = list((inputs or {}).values())
    diagnosis = next((r for r in results if isinstance(r, Mapping) and "kind" in r), {})
    confirmed = next((r["confirmed"] for r in results
                      if isinstance(r, Mapping) and "confirmed" in r), True)
    ctx = context.current()
    row = {**{k: finding.get(k) for k in ("series", "source", "subject", "value", "score",
                                          "observed_at", "detected_at")},
           "confirmed": bool(confirmed), "diagnosis": json.dumps(diagnosis),
           "recorded_at": time.time(), "agent_id": ctx.agent_id if ctx else None}
    incident_id = IncidentStore(url).record(row)
    alert = {**row, "incident_id": incident_id, "diagnosis": diagnosis}
    if confirmed:
        context.publish(f"{alerts_topic}/{finding.get('series')}", alert)
    return {"incident_id": incident_id, "confirmed": bool(confirmed),
            "alerted": bool(confirmed) and ctx is not None}
