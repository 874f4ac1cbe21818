"""A tamper-evident audit log: a hash chain of who did what to which, in the ledger's database.

Every record carries the SHA-256 of its own contents (every field but ``hash``,
as canonical JSON: sorted keys, no spaces) and the hash of the record before it
(:data:`GENESIS` for the first), and records are numbered 1, 2, 3, ... without
gaps.  :meth:`AuditLog.verify` walks the chain and names the first record that
does not hold: a changed field (its hash no longer matches), a record changed
*and* rehashed (the next record's ``prev_hash`` no longer matches), a deleted
or reordered record.  What the chain cannot show is the newest records cut off
the end: keep the head (:meth:`AuditLog.records`' last hash) elsewhere for that.

The log has its own table, ``raymas_audit``, which a fresh ledger
(:meth:`~agents.supervisor.ledger.Ledger.clear`) leaves alone.  Appends are
serialised across processes (the Supervisor actor and the HTTP replicas write to
the same log): each one reads the last record and inserts after it inside one
exclusive transaction (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock).
No Ray here.

Example:
    >>> log = AuditLog("sqlite:///:memory:")
    >>> rec = log.append("award", "t1", "awarded", detail={"agent_id": "a1"})
    >>> rec.seq, rec.prev_hash == GENESIS, log.verify().ok
    (1, True, True)
"""

from __future__ import annotations

import hashlib
import json
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.supervisor.ledger import TableStore, exclusive

__all__ = ["GENESIS", "AuditLog", "AuditRecord", "VerifyReport"]

#: the ``prev_hash`` of the first record
GENESIS = "0" * 64

_TABLE = "raymas_audit"
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
    seq BIGINT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, correlation_id TEXT,
    subject TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
    outcome TEXT NOT NULL, detail TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"""
_COLUMNS = ("seq, ts, correlation_id, subject, role, action, target, outcome, detail, "
            "prev_hash, hash")
_PAGE = 1000


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


#: the fields a record's hash seals: every one but the hash itself
_SEALED = ("seq", "time", "correlation_id", "subject", "role", "action", "target", "outcome",
           "detail", "prev_hash")


def _seal(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(fields).encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit log; ``hash`` seals every other field, ``prev_hash`` links."""

    seq: int
    time: float
    correlation_id: str | None
    subject: str
    role: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any] | None
    prev_hash: str
    hash: str

    def content_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of every field but ``hash``."""
        return _seal({name: getattr(self, name) for name in _SEALED})


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`AuditLog.verify` found: ``checked`` records held before the first bad one."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None


class AuditLog(TableStore):
    """The hash-chained audit log at ``url`` (``sqlite:///path`` or ``postgresql://...``)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, _TABLE, _SCHEMA)

    # -- writing ---------------------------------------------------------------------
    def append(self, action: str, target: str, outcome: str, *, subject: str = "supervisor",
               role: str = "system", correlation_id: str | None = None,
               detail: Mapping[str, Any] | None = None,
               time: float | None = None) -> AuditRecord:
        """Add one record at the end of the chain; the record as stored."""
        return self.append_many([{
            "action": action, "target": target, "outcome": outcome, "subject": subject,
            "role": role, "correlation_id": correlation_id, "detail": detail, "time": time}])[0]

    def append_many(self, entries: Sequence[Mapping[str, Any]]) -> list[AuditRecord]:
        """Add records (each with :meth:`append`'s parameters as keys) in one transaction."""
        fields = [_fields(**entry) for entry in entries]
        if not fields:
            return []
        with self._lock, exclusive(self._conn, self._ph, _TABLE) as cur:
            cur.execute(f"SELECT seq, hash FROM {_TABLE} ORDER BY seq DESC LIMIT 1")
            last = cur.fetchone()
            seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
            out = []
            for f in fields:
                seq += 1
                rec = AuditRecord(seq=seq, prev_hash=prev,
                                  hash=_seal({**f, "seq": seq, "prev_hash": prev}), **f)
                out.append(rec)
                prev = rec.hash
            cur.executemany(
                self._sql(f"INSERT INTO {_TABLE} ({_COLUMNS}) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                [(r.seq, r.time, r.correlation_id, r.subject, r.role, r.action, r.target,
                  r.outcome, None if r.detail is None else _canonical(r.detail), r.prev_hash,
                  r.hash) for r in out])
        return out

    # -- reading ---------------------------------------------------------------------
    def records(self, since_seq: int = 0, limit: int | None = None) -> list[AuditRecord]:
        """Records after ``since_seq``, in order, at most ``limit`` of them."""
        return [_record(row) for row in self._rows(since_seq, limit)]

    def _rows(self, since_seq: int, limit: int | None) -> list[tuple[Any, ...]]:
        sql = f"SELECT {_COLUMNS} FROM {_TABLE} WHERE seq > ? ORDER BY seq"
        args: tuple[Any, ...] = (since_seq,)
        if limit is not None:
            sql, args = sql + " LIMIT ?", (since_seq, int(limit))
        return self._read(sql, args)

    def verify(self) -> VerifyReport:
        """Walk the whole chain; the first record that does not hold, and why."""
        checked, prev_seq, prev_hash = 0, 0, GENESIS
        while rows := self._rows(prev_seq, _PAGE):
            for row in rows:
                seq = int(row[0])
                if seq != prev_seq + 1:
                    missing = prev_seq + 1
                    why = (f"record {missing} missing (seq jumps {prev_seq} -> {seq})" if prev_seq
                           else f"record 1 missing (the log starts at {seq})")
                    return VerifyReport(False, checked, missing, why)
                try:
                    rec = _record(row)
                except (TypeError, ValueError) as exc:
                    return VerifyReport(False, checked, seq, f"record {seq}: unreadable ({exc})")
                if rec.content_hash() != rec.hash:
                    return VerifyReport(False, checked, seq,
                                        f"record {seq}: hash does not match its contents")
                if rec.prev_hash != prev_hash:
                    why = (f"record {seq}: prev_hash does not match record {prev_seq}" if prev_seq
                           else f"record {seq}: prev_hash is not the genesis hash")
                    return VerifyReport(False, checked, seq, why)
                checked, prev_seq, prev_hash = checked + 1, seq, rec.hash
        return VerifyReport(True, checked, None, None)



def _fields(action: str, target: str, outcome: str, *, subject: str = "supervisor",
            role: str = "system", correlation_id: str | None = None,
            detail: Mapping[str, Any] | None = None, time: float | None = None) -> dict[str, Any]:
    """One entry's fields as they will read back: strings, a float time, JSON detail."""
    for name, value in (("action", action), ("target", target), ("outcome", outcome),
                        ("subject", subject), ("role", role)):
        if not isinstance(value, str):
            raise TypeError(f"audit {name}: expected a string, got {value!r}")
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise TypeError(f"audit correlation_id: expected a string, got {correlation_id!r}")
    # through JSON once, so the record appended is the record read back (tuples, keys, ...)
    parsed = None if detail is None else json.loads(_canonical(dict(detail)))
    return {"time": float(_time.time() if time is None else time),
            "correlation_id": correlation_id, "subject": subject, "role": role,
            "action": action, "target": target, "outcome": outcome, "detail": parsed}


def _record(row: Sequence[Any]) -> AuditRecord:
    seq, ts, corr, subject, role, action, target, outcome, detail, prev, digest = row
    return AuditRecord(seq=int(seq), time=float(ts), correlation_id=corr, subject=subject,
                       role=role, action=action, target=target, outcome=outcome,
                       detail=None if detail is None else json.loads(detail),
                       prev_hash=prev, hash=digest)
