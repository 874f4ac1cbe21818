"""The consumers of the task book's decisions: each decision is recorded once, here.

The Supervisor shell hands every batch of :class:`~agents.supervisor.book.Decisions`
to its sinks in order: :class:`LedgerSink` first (one transaction, so the
ledger is the truth a restart resumes from), then :class:`EventSink` (the end
of every goal or plan task on ``raymas/events/...``, published only once it
is in the ledger).  An audit log or metrics are further sinks of the same
stream.  No Ray here: the event sink is given the function that publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from agents.specs import TaskState
from messaging.topics import EVENTS_PREFIX

if TYPE_CHECKING:
    from agents.supervisor.ledger import Ledger
    from agents.supervisor.records import Decisions, TaskRecord

__all__ = ["DecisionSink", "EventSink", "LedgerSink"]

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
