"""The consumers of the task book's decisions: each decision is recorded once, here.

The Supervisor shell hands every batch of :class:`~agents.supervisor.book.Decisions`
to its sinks in order: :class:`LedgerSink` first (one transaction, so the
ledger is the truth a restart resumes from), then :class:`EventSink` (the end
of every goal or plan task on ``raymas/events/...``, published only once it
is in the ledger).  An audit log or metrics are further sinks of the same
stream.  No Ray here: the event sink is given the function that publishes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from agents.specs import TaskState
from messaging.topics import EVENTS_PREFIX

if TYPE_CHECKING:
    from agents.supervisor.audit import AuditLog
    from agents.supervisor.ledger import Ledger
    from agents.supervisor.records import Decisions, TaskRecord

logger = logging.getLogger(__name__)

__all__ = ["AuditSink", "DecisionSink", "EventSink", "LedgerSink"]

_ENDS = {s.value for s in TaskState if s.terminal}


class DecisionSink(Protocol):
    """Anything that consumes the book's decisions."""

    def record(self, decisions: Decisions) -> None: ...


class LedgerSink:
    """Transitions, results and votes, written in one transaction per batch."""

    def __init__(self, ledger: Ledger, stats: dict[str, float]) -> None:
        self.ledger = ledger
        self.stats = stats

    def record(self, decisions: Decisions) -> None:
        if decisions.results:
            firsts = self.ledger.save_results(decisions.results, decisions.transitions)
            self.stats["duplicate_results"] += firsts.count(False)
        elif decisions.transitions:
            self.ledger.record(decisions.transitions)
        for proposal_id, votes, choice in decisions.votes:
            self.ledger.record_votes(proposal_id, list(votes), choice)


class EventSink:
    """``raymas/events/plans/<plan>`` (or ``.../goals/<goal>``): one event per task end.

    Example:
        >>> from agents.specs import TaskAllocation
        >>> from agents.supervisor.records import Decisions, TaskRecord
        >>> from agents.supervisor.ledger import Transition
        >>> sent = []
        >>> tasks = {"p/a": TaskRecord(TaskAllocation(task_id="p/a", plan_id="p"))}
        >>> EventSink(lambda topic, body: sent.append((topic, body["state"])), tasks).record(
        ...     Decisions([Transition("p/a", "running", "a1"), Transition("p/a", "done", "a1")]))
        >>> sent
        [('raymas/events/plans/p', 'done')]
    """

    def __init__(self, publish: Callable[[str, dict[str, Any]], Any],
                 tasks: Mapping[str, TaskRecord]) -> None:
        self.publish = publish
        self.tasks = tasks

    def record(self, decisions: Decisions) -> None:
        for tr in decisions.transitions:
            if tr.state not in _ENDS:
                continue
            task = self.tasks.get(tr.task_id)
            if task is None or not (task.spec.plan_id or task.spec.goal):
                continue
            where = (f"plans/{task.spec.plan_id}" if task.spec.plan_id
                     else f"goals/{task.spec.goal}")
            self.publish(f"{EVENTS_PREFIX}{where}", {
                "task_id": tr.task_id, "state": tr.state, "agent_id": tr.agent_id,
                "error": tr.detail or None, "finished_at": task.finished_at})


#: the transitions the audit log keeps, and the action each is recorded as
_AUDITED = {TaskState.AWARDED.value: "award", TaskState.REASSIGNED.value: "reassignment",
            TaskState.DONE.value: "task_end", TaskState.FAILED.value: "task_end",
            TaskState.CANCELLED.value: "task_end"}


class AuditSink:
    """Awards, reassignments, task ends, votes and notes, into the tamper-evident audit log.

    Subject ``supervisor``, role ``system``.  A transition is recorded with its
    task as target, its state as outcome and ``{agent_id, detail}`` as detail; a
    vote behind a consensus award with the proposal as target, the choice as
    outcome and the ballots as detail; a note (an agent's death, a plan repair, a
    held vote, an auction) as the book wrote it.

    With ``background`` (the Supervisor's way) a writer thread appends what
    :meth:`record` queued, every batch waiting at that moment in one transaction
    (group commit), in order, so the Supervisor's event loop never waits on the
    audit database; a failed append is retried, never dropped, while the process
    lives.  The decisions themselves are already in the ledger when they reach
    this sink; if the process dies, what was queued and not yet written (a few
    milliseconds' worth) is missing from the audit log.  :meth:`flush` waits
    until everything queued is written.

    Example:
        >>> from agents.supervisor.audit import AuditLog
        >>> from agents.supervisor.ledger import Transition
        >>> from agents.supervisor.records import Decisions
        >>> sink = AuditSink(AuditLog("sqlite:///:memory:"))
        >>> sink.record(Decisions([Transition("t1", "awarded", "a1"),
        ...                        Transition("t1", "running", "a1"),
        ...                        Transition("t1", "done", "a1")]))
        >>> sink.flush()
        True
        >>> [(r.action, r.target, r.outcome) for r in sink.log.records()]
        [('award', 't1', 'awarded'), ('task_end', 't1', 'done')]
    """

    def __init__(self, log: AuditLog, *, background: bool = True,
                 retry_s: float = 1.0) -> None:
        self.log = log
        self.retry_s = retry_s
        self.errors = 0
        self._queued: list[dict[str, Any]] = []
        self._writing = False
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        if background:
            self._writer = threading.Thread(target=self._write_forever, name="audit-writer",
                                            daemon=True)
            self._writer.start()

    @staticmethod
    def entries(decisions: Decisions) -> list[dict[str, Any]]:
        """The audit entries one batch of decisions makes."""
        out: list[dict[str, Any]] = [
            {"action": _AUDITED[tr.state], "target": tr.task_id, "outcome": tr.state,
             "detail": {"agent_id": tr.agent_id, "detail": tr.detail}, "time": tr.ts}
            for tr in decisions.transitions if tr.state in _AUDITED]
        out += [
            {"action": "vote", "target": proposal_id, "outcome": choice,
             "detail": {"choice": choice, "votes": [
                 {"voter": voter, "choice": vote, "weight": weight}
                 for voter, vote, weight in votes]}}
            for proposal_id, votes, choice in decisions.votes]
        out += [{"action": action, "target": target, "outcome": outcome, "detail": detail}
                for action, target, outcome, detail in decisions.notes]
        return out

    def record(self, decisions: Decisions) -> None:
        entries = self.entries(decisions)
        if not entries:
            return
        if self._writer is None:
            self.log.append_many(entries)
            return
        with self._changed:
            self._queued.extend(entries)
            self._changed.notify_all()

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                while not self._queued:
                    self._changed.wait()
                batch, self._queued, self._writing = self._queued, [], True
            try:
                self.log.append_many(batch)
            except Exception:
                self.errors += 1
                logger.exception("audit append of %d record(s) failed; retrying", len(batch))
                with self._changed:
                    self._queued[:0] = batch  # first again, in order: nothing is dropped
                time.sleep(self.retry_s)
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until everything queued is in the log; False if ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._queued or self._writing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True
