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
import threading
import time
from collections.abc import Mapping
from typing import Any

from agents.agent import context
from agents.agent.kinds import task
from agents.supervisor.ledger import TableStore

__all__ = ["IncidentStore", "incident_confirm", "incident_diagnose", "incident_record", "store"]

_COLUMNS = ("series", "source", "subject", "value", "score", "confirmed", "diagnosis",
            "observed_at", "detected_at", "recorded_at", "agent_id")


_TABLE = "raymas_incidents"
_SCHEMA = (f"CREATE TABLE IF NOT EXISTS {_TABLE} (id {{key}}, series TEXT, source TEXT, "
           "subject TEXT, value DOUBLE PRECISION, score DOUBLE PRECISION, confirmed BOOLEAN, "
           "diagnosis TEXT, observed_at DOUBLE PRECISION, detected_at DOUBLE PRECISION, "
           "recorded_at DOUBLE PRECISION, agent_id TEXT)")


class IncidentStore(TableStore):
    """Incidents in their own table (``raymas_incidents``) of a SQLite (``sqlite:///path``)
    or PostgreSQL (``postgresql://...``) database, as the ledger's stores keep theirs.

    :func:`store` gives one per URL and process, so the act step of every response
    reuses its connection.
    """

    def __init__(self, url: str) -> None:
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(f"incidents: expected a sqlite:/// or postgresql:// URL, got {url!r}")
        key = "INTEGER PRIMARY KEY" if url.startswith("sqlite:") else "BIGSERIAL PRIMARY KEY"
        super().__init__(url, _TABLE, _SCHEMA.format(key=key))

    def record(self, row: Mapping[str, Any]) -> int:
        """Insert one incident; its id."""
        sql = (f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES "
               f"({', '.join('?' * len(_COLUMNS))}) RETURNING id")
        with self._lock:
            try:
                cur = self._conn.cursor()
                cur.execute(self._sql(sql), tuple(row.get(c) for c in _COLUMNS))
                found = cur.fetchone()
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
        return int(found[0])

    def all(self) -> list[dict[str, Any]]:
        rows = self._read(f"SELECT id, {', '.join(_COLUMNS)} FROM {_TABLE} ORDER BY id")
        return [dict(zip(("id", *_COLUMNS), r, strict=True)) for r in rows]

    def clear(self) -> None:
        with self._lock:
            self._conn.cursor().execute(f"DELETE FROM {_TABLE}")
            self._conn.commit()


_STORES: dict[str, IncidentStore] = {}
_STORES_LOCK = threading.Lock()


def store(url: str) -> IncidentStore:
    """This process's store for ``url`` (made on first use)."""
    with _STORES_LOCK:
        found = _STORES.get(url)
        if found is None:
            found = _STORES[url] = IncidentStore(url)
        return found


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
    incident_id = store(url).record(row)
    alert = {**row, "incident_id": incident_id, "diagnosis": diagnosis}
    if confirmed:
        context.publish(f"{alerts_topic}/{finding.get('series')}", alert)
    return {"incident_id": incident_id, "confirmed": bool(confirmed),
            "alerted": bool(confirmed) and ctx is not None}
