"""The audit log on PostgreSQL: tampering caught, concurrent appenders kept in one chain.

Each test gets its own schema (the connection's ``search_path``), so its
``raymas_audit`` table is its own and is dropped with the schema afterwards.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agents.supervisor.audit import AuditLog
from tests.conftest import require_service

pytestmark = pytest.mark.integration

BASE = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_service("postgres")
    import psycopg

    schema = f"raymas_audit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        for stmt in statements:
            conn.execute(stmt)


def _filled(url: str, n: int = 10) -> AuditLog:
    log = AuditLog(url)
    log.append_many([{"action": "award", "target": f"t{i}", "outcome": "awarded",
                      "detail": {"agent_id": f"a{i % 3}"}} for i in range(1, n + 1)])
    return log


def test_a_clean_chain_verifies(pg_url: str) -> None:
    log = _filled(pg_url)
    first = log.append("task_end", "t1", "done", correlation_id="c", time=1.25)
    log.close()
    again = AuditLog(pg_url)
    assert again.records(since_seq=10) == [first]
    report = again.verify()
    assert report.ok and report.checked == 11
    again.close()


@pytest.mark.parametrize("tamper, bad_seq, reason", [
    (["UPDATE raymas_audit SET outcome = 'failed' WHERE seq = 7"], 7,
     "record 7: hash does not match its contents"),
    (["DELETE FROM raymas_audit WHERE seq = 5"], 5, "record 5 missing (seq jumps 4 -> 6)"),
    (["UPDATE raymas_audit SET seq = -seq WHERE seq IN (3, 8)",
      "UPDATE raymas_audit SET seq = 11 + seq WHERE seq IN (-3, -8)"], 3,
     "record 3: hash does not match its contents"),
], ids=["edited", "deleted", "reordered"])
def test_tampering_is_caught(pg_url: str, tamper: list[str], bad_seq: int, reason: str) -> None:
    log = _filled(pg_url)
    _sql(pg_url, *tamper)
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.reason) == (False, bad_seq, reason)
    log.close()


def test_an_edited_and_rehashed_record_is_caught(pg_url: str) -> None:
    log = _filled(pg_url)
    forged = dataclasses.replace(log.records(since_seq=3, limit=1)[0], outcome="cancelled")
    _sql(pg_url, f"UPDATE raymas_audit SET outcome = 'cancelled', "
                 f"hash = '{forged.content_hash()}' WHERE seq = 4")
    report = log.verify()
    assert (report.first_bad_seq, report.reason) == (
        5, "record 5: prev_hash does not match record 4")
    log.close()


def _append_from_a_process(url: str, worker: int, n: int, start: Any) -> None:
    log = AuditLog(url)
    start.wait()
    for i in range(n):
        log.append("award", f"w{worker}-t{i}", "awarded", subject=f"replica-{worker}")
    log.close()


def test_concurrent_appends_from_several_processes_keep_one_chain(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_append_from_a_process, args=(pg_url, w, 50, start))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    log = AuditLog(pg_url)
    report = log.verify()
    assert report.ok and report.checked == 200, report
    assert {r.target for r in log.records()} == {
        f"w{w}-t{i}" for w in range(4) for i in range(50)}
    log.close()
