"""The audit log (agents/supervisor/audit.py): a hash chain that names the first bad record."""

from __future__ import annotations

import dataclasses
import doctest
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from agents.supervisor.audit import GENESIS, AuditLog, AuditRecord
from agents.supervisor.ledger import Ledger, Transition
from agents.supervisor.records import Decisions
from agents.supervisor.sinks import AuditSink


def _filled(url: str, n: int = 10) -> AuditLog:
    log = AuditLog(url)
    log.append_many([{"action": "award", "target": f"t{i}", "outcome": "awarded",
                      "detail": {"agent_id": f"a{i % 3}", "n": i}} for i in range(1, n + 1)])
    return log


def _sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for stmt in statements:
            conn.execute(stmt)


def test_a_clean_chain_verifies_and_reads_back_as_appended(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    log = AuditLog(url)
    first = log.append("award", "t1", "awarded", correlation_id="c1", time=5,
                       detail={"agent_id": "a1", "pair": (1, 2)})
    more = log.append_many([{"action": "task_end", "target": "t1", "outcome": "done"},
                            {"action": "vote", "target": "t2", "outcome": "a2",
                             "subject": "http", "role": "operator"}])
    assert first.seq == 1 and first.prev_hash == GENESIS and first.time == 5.0
    assert [r.seq for r in more] == [2, 3] and more[0].prev_hash == first.hash
    assert first.detail == {"agent_id": "a1", "pair": [1, 2]}
    assert first.hash == first.content_hash() and len(first.hash) == 64
    log.close()
    again = AuditLog(url)  # reopened: the same records, the chain goes on
    assert again.records() == [first, *more]
    assert again.records(since_seq=1, limit=1) == [more[0]]
    assert again.append("repair", "p", "repaired").prev_hash == more[1].hash
    report = again.verify()
    assert report.ok and report.checked == 4 and report.first_bad_seq is None
    assert report.reason is None


def test_an_empty_log_verifies() -> None:
    report = AuditLog("sqlite:///:memory:").verify()
    assert report.ok and report.checked == 0


def test_an_edited_field_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = _filled(f"sqlite:///{path}")
    _sql(path, "UPDATE raymas_audit SET outcome = 'failed' WHERE seq = 7")
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 7 and report.checked == 6
    assert report.reason == "record 7: hash does not match its contents"


def test_a_deleted_middle_record_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = _filled(f"sqlite:///{path}")
    _sql(path, "DELETE FROM raymas_audit WHERE seq = 5")
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 5
    assert report.reason == "record 5 missing (seq jumps 4 -> 6)"


def test_a_deleted_first_record_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = _filled(f"sqlite:///{path}")
    _sql(path, "DELETE FROM raymas_audit WHERE seq = 1")
    report = log.verify()
    assert report.first_bad_seq == 1 and "record 1 missing" in (report.reason or "")


def test_reordered_records_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = _filled(f"sqlite:///{path}")
    cols = "ts, correlation_id, subject, role, action, target, outcome, detail, prev_hash, hash"
    # swap every column but seq between records 3 and 8
    _sql(path, f"CREATE TABLE tmp AS SELECT seq, {cols} FROM raymas_audit WHERE seq IN (3, 8)",
         "UPDATE raymas_audit SET seq = -seq WHERE seq IN (3, 8)",
         f"INSERT INTO raymas_audit (seq, {cols}) SELECT 11 - seq, {cols} FROM tmp",
         "DELETE FROM raymas_audit WHERE seq < 0")
    assert [r.target for r in log.records()][2] == "t8"
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert report.reason == "record 3: hash does not match its contents"


def test_an_edited_and_rehashed_record_breaks_the_link_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = _filled(f"sqlite:///{path}")
    old = log.records(since_seq=3, limit=1)[0]
    forged = dataclasses.replace(old, outcome="cancelled")
    rehashed = forged.content_hash()
    _sql(path, f"UPDATE raymas_audit SET outcome = 'cancelled', hash = '{rehashed}' "
               "WHERE seq = 4")
    assert log.records(since_seq=3, limit=1)[0].hash == rehashed
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 5 and report.checked == 4
    assert report.reason == "record 5: prev_hash does not match record 4"


def test_a_first_record_with_a_forged_prev_hash_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = _filled(f"sqlite:///{path}", 2)
    rec = dataclasses.replace(log.records()[0], prev_hash="f" * 64)
    _sql(path, f"UPDATE raymas_audit SET prev_hash = '{rec.prev_hash}', "
               f"hash = '{rec.content_hash()}' WHERE seq = 1")
    report = log.verify()
    assert report.first_bad_seq == 1 and report.reason == (
        "record 1: prev_hash is not the genesis hash")


def test_the_hash_covers_every_field_but_itself() -> None:
    rec = AuditRecord(1, 1.0, None, "s", "r", "a", "t", "o", {"k": 1}, GENESIS, "")
    base = rec.content_hash()
    changes: dict[str, Any] = {
        "seq": 2, "time": 1.5, "correlation_id": "c", "subject": "x", "role": "x",
        "action": "x", "target": "x", "outcome": "x", "detail": {"k": 2}, "prev_hash": "1" * 64}
    for name, value in changes.items():
        assert dataclasses.replace(rec, **{name: value}).content_hash() != base, name
    assert dataclasses.replace(rec, hash="x").content_hash() == base


def test_bad_entries_write_nothing() -> None:
    log = AuditLog("sqlite:///:memory:")
    with pytest.raises(TypeError):
        log.append_many([{"action": "a", "target": "t", "outcome": "o"},
                         {"action": "a", "target": "t", "outcome": "o", "colour": "red"}])
    with pytest.raises(TypeError, match="target"):
        log.append("a", None, "o")  # type: ignore[arg-type]
    assert log.records() == [] and log.append_many([]) == []


def test_a_fresh_ledger_leaves_the_audit_log_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    led = Ledger.open(url)
    led.add_tasks([("t1", {})])
    led.record([Transition("t1", "done", "a1")])
    log = _filled(url, 3)
    led.clear()  # what a fresh run does
    Ledger.open(url).clear()
    assert led.counts() == {}
    assert [r.seq for r in log.records()] == [1, 2, 3] and log.verify().ok


def _append_from_a_process(url: str, worker: int, n: int, start: Any) -> None:
    log = AuditLog(url)
    start.wait()
    for i in range(n):
        log.append("award", f"w{worker}-t{i}", "awarded", subject=f"replica-{worker}")
    log.close()


def test_concurrent_appends_from_several_processes_keep_one_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    AuditLog(url).close()  # the table exists before the writers race
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_append_from_a_process, args=(url, w, 50, start))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    log = AuditLog(url)
    report = log.verify()
    assert report.ok and report.checked == 200, report
    records = log.records()
    assert [r.seq for r in records] == list(range(1, 201))
    assert {r.target for r in records} == {f"w{w}-t{i}" for w in range(4) for i in range(50)}
    assert {r.subject for r in records} == {f"replica-{w}" for w in range(4)}


def test_the_audit_sink_records_awards_reassignments_ends_and_votes() -> None:
    log = AuditLog("sqlite:///:memory:")
    sink = AuditSink(log)
    sink.record(Decisions(
        transitions=[Transition("t1", "announced", ts=1.0),
                     Transition("t1", "awarded", "a1", ts=2.0),
                     Transition("t1", "running", "a1", ts=2.0),
                     Transition("t1", "reassigned", "a1", "ValueError: boom", ts=3.0),
                     Transition("t1", "awarded", "a2", ts=4.0),
                     Transition("t1", "done", "a2", ts=5.0),
                     Transition("t2", "failed", "a1", "out of attempts", ts=6.0),
                     Transition("t3", "cancelled", None, "plan cancelled", ts=7.0)],
        results=[("t1", True, b"x", None, "a2")],
        votes=[("t4", (("a1", "a2", 1.0), ("a2", "a2", 2.0), ("a3", "a1", 1.0)), "a2")]))
    assert sink.flush()
    got = log.records()
    assert [(r.action, r.target, r.outcome) for r in got] == [
        ("award", "t1", "awarded"), ("reassignment", "t1", "reassigned"),
        ("award", "t1", "awarded"), ("task_end", "t1", "done"), ("task_end", "t2", "failed"),
        ("task_end", "t3", "cancelled"), ("vote", "t4", "a2")]
    assert {(r.subject, r.role) for r in got} == {("supervisor", "system")}
    assert got[1].detail == {"agent_id": "a1", "detail": "ValueError: boom"}
    assert got[5].detail == {"agent_id": None, "detail": "plan cancelled"}
    assert [r.time for r in got[:6]] == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert got[6].detail == {"choice": "a2", "votes": [
        {"voter": "a1", "choice": "a2", "weight": 1.0},
        {"voter": "a2", "choice": "a2", "weight": 2.0},
        {"voter": "a3", "choice": "a1", "weight": 1.0}]}
    sink.record(Decisions([Transition("t5", "running", "a1")]))  # nothing audited: no write
    assert sink.flush() and len(log.records()) == 7
    sink.record(Decisions(notes=[("agent_death", "a1", "dead", {"why": "actor died"})]))
    assert sink.flush()
    noted = log.records()[-1]
    assert (noted.seq, noted.action, noted.detail) == (8, "agent_death", {"why": "actor died"})
    assert log.verify().ok


def test_one_batch_is_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog(f"sqlite:///{tmp_path}/a.db")
    calls: list[int] = []
    real = log.append_many

    def counted(entries: Any) -> list[AuditRecord]:
        calls.append(len(entries))
        return real(entries)

    monkeypatch.setattr(log, "append_many", counted)
    AuditSink(log, background=False).record(Decisions(
        [Transition("t1", "awarded", "a1"), Transition("t1", "done", "a1")],
        votes=[("t1", (("a1", "a1", 1.0),), "a1")]))
    assert calls == [3]


def test_the_writer_thread_group_commits_in_order_and_retries_what_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog(f"sqlite:///{tmp_path}/a.db")
    real = log.append_many
    calls: list[int] = []
    first_open = threading.Event()
    release = threading.Event()

    def held_then_failing(entries: Any) -> list[AuditRecord]:
        calls.append(len(entries))
        if len(calls) == 1:  # the first write is held open while more batches queue
            first_open.set()
            release.wait(10)
        if len(calls) == 2:
            raise OSError("disk full")  # the group fails once: retried, not dropped
        return real(entries)

    monkeypatch.setattr(log, "append_many", held_then_failing)
    sink = AuditSink(log, retry_s=0.01)
    sink.record(Decisions([Transition("first", "awarded", "a1")]))
    assert first_open.wait(10)
    for i in range(5):
        sink.record(Decisions([Transition(f"t{i}", "awarded", "a1")]))
    release.set()
    assert sink.flush(10)
    assert calls == [1, 5, 5] and sink.errors == 1
    assert [r.target for r in log.records()] == ["first"] + [f"t{i}" for i in range(5)]
    assert log.verify().ok


def test_the_docstring_examples_run() -> None:
    import agents.supervisor.audit

    result = doctest.testmod(agents.supervisor.audit)
    assert result.attempted > 0 and result.failed == 0
