"""The Supervisor's task ledger: every transition, every result, every agent and vote.

One class, two SQL back ends: SQLite (default, a file next to the head node)
and PostgreSQL (``postgresql://`` URLs, via psycopg).  Results are keyed by
task id and written with ``ON CONFLICT DO NOTHING``: however often a task is
retried or re-run after a crash, the first result stands and no second one is
recorded.

Example:
    >>> led = Ledger.open("sqlite:///:memory:")
    >>> led.add_tasks([("t1", {"kind": "noop"})])
    ['t1']
    >>> led.record([Transition("t1", "done", "a1")])
    >>> led.save_result("t1", True, b"x", None, "a1"), led.save_result("t1", True, b"y", None, "a2")
    (True, False)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agents.errors import ConfigError

__all__ = ["Ledger", "StoredResult", "Transition", "connect", "exclusive", "mask_url"]

logger = logging.getLogger(__name__)

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS raymas_tasks (
        task_id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL,
        agent_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS raymas_transitions (
        task_id TEXT NOT NULL, state TEXT NOT NULL, agent_id TEXT, detail TEXT,
        ts DOUBLE PRECISION NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS raymas_transitions_task ON raymas_transitions (task_id)""",
    """CREATE TABLE IF NOT EXISTS raymas_results (
        task_id TEXT PRIMARY KEY, ok INTEGER NOT NULL, value BYTEA, error TEXT,
        agent_id TEXT, ts DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS raymas_agents (
        agent_id TEXT PRIMARY KEY, spec TEXT NOT NULL, status TEXT NOT NULL,
        updated_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS raymas_plans (
        plan_id TEXT PRIMARY KEY, graph TEXT NOT NULL, created_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS raymas_votes (
        proposal_id TEXT NOT NULL, voter TEXT NOT NULL, choice TEXT, weight DOUBLE PRECISION,
        decision TEXT, ts DOUBLE PRECISION NOT NULL)""",
]


_SECRET_PARAMS = {"password", "sslpassword", "passfile"}


def mask_url(url: str) -> str:
    """``url`` with its password (and secret query parameters) replaced by ``***``."""
    parts = urlsplit(url)
    netloc, query, changed = parts.netloc, parts.query, False
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
        changed = True
    if query:
        pairs = []
        for pair in query.split("&"):
            key, eq, _value = pair.partition("=")
            if eq and key.lower() in _SECRET_PARAMS:
                pair, changed = f"{key}=***", True
            pairs.append(pair)
        query = "&".join(pairs)
    if not changed:
        return url
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


@dataclass
class Transition:
    """One state change of one task."""

    task_id: str
    state: str
    agent_id: str | None = None
    detail: str = ""
    ts: float = field(default_factory=time.time)
    attempts: int | None = None


@dataclass
class StoredResult:
    task_id: str
    ok: bool
    value: bytes | None
    error: str | None
    agent_id: str | None


def connect(url: str) -> tuple[Any, str]:
    """A DB-API connection to ``url`` and its placeholder (``"?"`` or ``"%s"``).

    ``sqlite:///path`` (WAL), ``sqlite:///:memory:`` or ``postgresql://...``; the
    ledger and the stores that share its database (the audit log, the key store)
    open it here.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        conn: Any = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn, "?"
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - psycopg is a core dependency
            raise ConfigError("ledger.url", [("ledger.url", "pip install psycopg")]) from exc
        try:
            conn = psycopg.connect(url)
        except psycopg.OperationalError as exc:
            raise ConfigError(
                "ledger.url", [("ledger.url", f"cannot connect to {url}: {exc}")]
            ) from exc
        return conn, "%s"
    raise ConfigError(
        "ledger.url",
        [("ledger.url", f"expected sqlite:///<path> or postgresql://..., got {url!r}")],
    )


@contextmanager
def exclusive(conn: Any, placeholder: str, name: str) -> Iterator[Any]:
    """One write transaction at a time under the lock ``name``, across processes; a cursor.

    SQLite: ``BEGIN IMMEDIATE`` (a second writer waits for the connection's busy
    timeout); PostgreSQL: ``pg_advisory_xact_lock`` on a key derived from ``name``,
    released at the end of the transaction.  Commits on success, rolls back on error.
    For stores that read their last row and append after it (the audit chain).
    """
    cur = conn.cursor()
    if placeholder == "?":
        cur.execute("BEGIN IMMEDIATE")
    else:
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        cur.execute("SELECT pg_advisory_xact_lock(%s::bigint)", (key,))
    try:
        yield cur
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


class TableStore:
    """A store with its own table in the ledger's database (the audit log, the key store):
    one connection shared by the process's threads under :attr:`_lock`, the table made
    under :func:`exclusive`, and ``?`` placeholders turned into the driver's."""

    def __init__(self, url: str, table: str, schema: str) -> None:
        self.url = url
        self._conn, self._ph = connect(url)
        self._lock = threading.Lock()  # one connection, shared by the threads of a process
        if self._ph == "?":
            self._conn.execute("PRAGMA busy_timeout = 60000")
        with self._lock, exclusive(self._conn, self._ph, table) as cur:
            cur.execute(schema)

    def _sql(self, text: str) -> str:
        return text if self._ph == "?" else text.replace("?", "%s")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query, the transaction ended after it (PostgreSQL: no snapshot held)."""
        with self._lock:
            try:
                cur = self._conn.cursor()
                cur.execute(self._sql(sql), tuple(args))
                return list(cur.fetchall())
            finally:
                self._conn.commit()

    def close(self) -> None:
        self._conn.close()


class Ledger:
    """SQL ledger over a DB-API connection; use :meth:`open` with a URL."""

    def __init__(self, conn: Any, *, placeholder: str, url: str) -> None:
        self._conn = conn
        self._ph = placeholder
        self.url = url
        cur = conn.cursor()
        for stmt in _SCHEMA:
            cur.execute(stmt.replace("BYTEA", "BLOB") if placeholder == "?" else stmt)
        conn.commit()

    @classmethod
    def open(cls, url: str) -> Ledger:
        """Open ``sqlite:///path``, ``sqlite:///:memory:`` or ``postgresql://...``."""
        conn, placeholder = connect(url)
        return cls(conn, placeholder=placeholder, url=url)

    def _sql(self, text: str) -> str:
        return text if self._ph == "?" else text.replace("?", "%s")

    def _many(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._conn.cursor().executemany(self._sql(text), rows)

    def _query(self, text: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        cur.execute(self._sql(text), tuple(args))
        return list(cur.fetchall())

    # -- tasks ---------------------------------------------------------------
    def add_tasks(self, tasks: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
        """Insert new tasks (state ``submitted``); return the ids that were not known yet."""
        tasks = list(tasks)
        if not tasks:
            return []
        known = set(self.task_states([t for t, _ in tasks]))
        now = time.time()
        fresh = [(t, spec) for t, spec in tasks if t not in known]
        self._many(
            "INSERT INTO raymas_tasks (task_id, spec, state, attempts, updated_at) "
            "VALUES (?, ?, 'submitted', 0, ?) ON CONFLICT (task_id) DO NOTHING",
            [(t, json.dumps(spec), now) for t, spec in fresh],
        )
        self._many(
            "INSERT INTO raymas_transitions (task_id, state, agent_id, detail, ts) "
            "VALUES (?, 'submitted', NULL, '', ?)",
            [(t, now) for t, _ in fresh],
        )
        self._conn.commit()
        return [t for t, _ in fresh]

    def record(self, transitions: Sequence[Transition]) -> None:
        """Append transitions and move each task's current state; one transaction."""
        if not transitions:
            return
        self._many(
            "INSERT INTO raymas_transitions (task_id, state, agent_id, detail, ts) "
            "VALUES (?, ?, ?, ?, ?)",
            [(t.task_id, t.state, t.agent_id, t.detail, t.ts) for t in transitions],
        )
        self._many(
            "UPDATE raymas_tasks SET state = ?, agent_id = ?, updated_at = ?, "
            "attempts = COALESCE(?, attempts) WHERE task_id = ?",
            [(t.state, t.agent_id, t.ts, t.attempts, t.task_id) for t in transitions],
        )
        self._conn.commit()

    def save_result(
        self, task_id: str, ok: bool, value: bytes | None, error: str | None, agent_id: str | None
    ) -> bool:
        """Store a task's result; False if one was already stored (the first one stands)."""
        return self.save_results([(task_id, ok, value, error, agent_id)])[0]

    def save_results(
        self,
        rows: Sequence[tuple[str, bool, bytes | None, str | None, str | None]],
        transitions: Sequence[Transition] = (),
    ) -> list[bool]:
        """Store results and transitions in one transaction; per row, whether it was first."""
        cur = self._conn.cursor()
        sql = self._sql(
            "INSERT INTO raymas_results (task_id, ok, value, error, agent_id, ts) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO NOTHING"
        )
        now = time.time()
        first = []
        for task_id, ok, value, error, agent_id in rows:
            cur.execute(sql, (task_id, int(ok), value, error, agent_id, now))
            first.append(cur.rowcount == 1)
        self.record(transitions)  # commits
        if not transitions:
            self._conn.commit()
        return first

    def result(self, task_id: str) -> StoredResult | None:
        rows = self._query(
            "SELECT task_id, ok, value, error, agent_id FROM raymas_results WHERE task_id = ?",
            (task_id,),
        )
        if not rows:
            return None
        t, ok, value, error, agent = rows[0]
        return StoredResult(t, bool(ok), bytes(value) if value is not None else None, error, agent)

    def unfinished(self) -> list[tuple[str, dict[str, Any], int, str]]:
        """Tasks not done or failed: ``(task_id, spec, attempts, state)``, for reload."""
        rows = self._query(
            "SELECT task_id, spec, attempts, state FROM raymas_tasks "
            "WHERE state NOT IN ('done', 'failed', 'cancelled') ORDER BY updated_at"
        )
        return [(t, json.loads(spec), int(att), st) for t, spec, att, st in rows]

    def spec(self, task_id: str) -> dict[str, Any] | None:
        """The task as it was submitted (its ``TaskAllocation`` dict), or None."""
        rows = self._query("SELECT spec FROM raymas_tasks WHERE task_id = ?", (task_id,))
        return dict(json.loads(rows[0][0])) if rows else None

    def trail(self, task_id: str) -> list[tuple[float, str, str | None, str]]:
        """``(time, state, agent_id, detail)`` of every transition of one task, in order."""
        rows = self._query(
            "SELECT ts, state, agent_id, detail FROM raymas_transitions WHERE task_id = ? "
            "ORDER BY ts", (task_id,))
        return [(float(ts), s, a, d) for ts, s, a, d in rows]

    def task_states(self, task_ids: Sequence[str] | None = None) -> dict[str, str]:
        """Current state of every task (or of ``task_ids``)."""
        if task_ids is None:
            return {t: s for t, s in self._query("SELECT task_id, state FROM raymas_tasks")}
        out: dict[str, str] = {}
        ids = list(task_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            out.update({t: s for t, s in self._query(
                f"SELECT task_id, state FROM raymas_tasks WHERE task_id IN ({marks})", chunk)})
        return out

    # -- plans -----------------------------------------------------------------
    def save_plan(self, plan_id: str, graph: dict[str, Any]) -> bool:
        """Keep a plan's task graph; False if the id is already taken (the first stands)."""
        cur = self._conn.cursor()
        cur.execute(self._sql("INSERT INTO raymas_plans (plan_id, graph, created_at) "
                              "VALUES (?, ?, ?) ON CONFLICT (plan_id) DO NOTHING"),
                    (plan_id, json.dumps(graph), time.time()))
        self._conn.commit()
        return bool(cur.rowcount == 1)

    def update_plan(self, plan_id: str, graph: dict[str, Any]) -> None:
        """Replace a plan's graph (after a repair)."""
        sql = self._sql("UPDATE raymas_plans SET graph = ? WHERE plan_id = ?")
        self._conn.cursor().execute(sql, (json.dumps(graph), plan_id))
        self._conn.commit()

    def update_spec(self, task_id: str, spec: dict[str, Any]) -> None:
        """Replace a task's spec (its dependencies changed in a plan repair)."""
        sql = self._sql("UPDATE raymas_tasks SET spec = ? WHERE task_id = ?")
        self._conn.cursor().execute(sql, (json.dumps(spec), task_id))
        self._conn.commit()

    def plan(self, plan_id: str) -> tuple[dict[str, Any], float] | None:
        rows = self._query("SELECT graph, created_at FROM raymas_plans WHERE plan_id = ?",
                           (plan_id,))
        return (json.loads(rows[0][0]), float(rows[0][1])) if rows else None

    def plan_ids(self) -> list[str]:
        return [r[0] for r in self._query("SELECT plan_id FROM raymas_plans ORDER BY created_at")]

    def history(self, task_id: str) -> list[tuple[str, str | None, str]]:
        """``(state, agent_id, detail)`` of every transition of one task, in order."""
        rows = self._query(
            "SELECT state, agent_id, detail FROM raymas_transitions WHERE task_id = ? ORDER BY ts",
            (task_id,),
        )
        return [(s, a, d) for s, a, d in rows]

    def recent_tasks(self, limit: int = 50, state: str | None = None
                     ) -> list[dict[str, Any]]:
        """The most recently changed tasks (optionally only in ``state``), newest first."""
        where, args = ("WHERE state = ? ", [state]) if state else ("", [])
        rows = self._query(
            f"SELECT task_id, spec, state, agent_id, attempts, updated_at FROM raymas_tasks "
            f"{where}ORDER BY updated_at DESC LIMIT ?", [*args, int(limit)])
        out = []
        for tid, spec, st, agent, attempts, updated in rows:
            parsed = json.loads(spec)
            out.append({"task_id": tid, "state": st, "agent_id": agent,
                        "kind": parsed.get("kind"), "attempts": int(attempts),
                        "plan_id": parsed.get("plan_id"), "goal": parsed.get("goal"),
                        "updated_at": updated})
        return out

    def counts(self) -> dict[str, int]:
        return {s: int(n) for s, n in self._query(
            "SELECT state, COUNT(*) FROM raymas_tasks GROUP BY state")}

    # -- agents and votes ------------------------------------------------------
    def upsert_agent(self, agent_id: str, spec: dict[str, Any], status: str) -> None:
        cur = self._conn.cursor()
        cur.execute(
            self._sql(
                "INSERT INTO raymas_agents (agent_id, spec, status, updated_at) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT (agent_id) DO UPDATE SET spec = excluded.spec, "
                "status = excluded.status, updated_at = excluded.updated_at"
            ),
            (agent_id, json.dumps(spec), status, time.time()),
        )
        self._conn.commit()

    def upsert_agents(self, rows: Sequence[tuple[str, dict[str, Any], str]]) -> None:
        """:meth:`upsert_agent` for many agents in one transaction (a host's)."""
        now = time.time()
        self._many(
            "INSERT INTO raymas_agents (agent_id, spec, status, updated_at) "
            "VALUES (?, ?, ?, ?) "
            "ON CONFLICT (agent_id) DO UPDATE SET spec = excluded.spec, "
            "status = excluded.status, updated_at = excluded.updated_at",
            [(a, json.dumps(spec), status, now) for a, spec, status in rows])
        self._conn.commit()

    def agents(self) -> list[tuple[str, dict[str, Any], str]]:
        rows = self._query("SELECT agent_id, spec, status FROM raymas_agents ORDER BY agent_id")
        return [(a, json.loads(spec), status) for a, spec, status in rows]

    def record_votes(
        self, proposal_id: str, votes: Sequence[tuple[str, Any, float]], decision: str
    ) -> None:
        now = time.time()
        self._many(
            "INSERT INTO raymas_votes (proposal_id, voter, choice, weight, decision, ts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(proposal_id, v, json.dumps(c), w, decision, now) for v, c, w in votes],
        )
        self._conn.commit()

    def votes(self, proposal_id: str) -> list[tuple[str, Any, float, str]]:
        rows = self._query(
            "SELECT voter, choice, weight, decision FROM raymas_votes WHERE proposal_id = ?",
            (proposal_id,),
        )
        return [(v, json.loads(c), float(w), d) for v, c, w, d in rows]

    def clear(self) -> None:
        """Delete everything (a fresh run)."""
        for table in ("raymas_tasks", "raymas_transitions", "raymas_results",
                      "raymas_agents", "raymas_votes", "raymas_plans"):
            self._conn.cursor().execute(f"DELETE FROM {table}")
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()
