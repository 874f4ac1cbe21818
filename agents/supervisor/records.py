"""What the task book keeps and says: its records, its actions, its decisions.  No Ray.

:class:`AgentEntry` and :class:`TaskRecord` are the book's view of an agent
and a task; :class:`Settle` and :class:`Watch` are the actions it asks its
shell to carry out; :class:`Decisions` is one batch of the stream of what it
decided, for the sinks (:mod:`agents.supervisor.sinks`); :func:`check_task`
refuses a task that could never be allocated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.errors import AllocationError
from agents.protocols import AgentView
from agents.specs import AgentSpec, TaskAllocation, TaskState
from agents.supervisor.ledger import Transition

__all__ = ["Action", "AgentEntry", "Decisions", "ResultRow", "Settle", "TaskRecord", "VoteRow",
           "Watch", "check_task"]


@dataclass
class AgentEntry:
    """What the book knows of one agent."""

    spec: AgentSpec
    view: AgentView
    last_beat: float
    assigned: set[str] = field(default_factory=set)
    node_id: str | None = None
    done: int = 0
    death: str | None = None
    #: missed its heartbeat deadline: no new work until it is heard from again
    suspect: bool = False
    #: being stopped (deregistered): no new work, its running tasks finish
    leaving: bool = False
    #: when it was last heard from after a death (Ray restarted its actor): a call made
    #: before then that fails failed with the old actor, not this one
    back_at: float = float("-inf")

    @property
    def eligible(self) -> bool:
        """Alive, heard from in time and staying: may be offered new work."""
        return self.view.alive and not self.suspect and not self.leaving


@dataclass
class TaskRecord:
    spec: TaskAllocation
    state: TaskState = TaskState.SUBMITTED
    attempts: int = 0
    agent_id: str | None = None
    #: bumped at every hand-over, so an outcome from an earlier holder is recognised
    token: int = 0
    awarded_at: float | None = None
    finished_at: float | None = None
    #: in the pending queue now (a task is never queued twice)
    queued: bool = False
    #: results of the tasks this one depends on, by node id (set when it becomes ready)
    inputs: dict[str, Any] | None = None
    #: why the last round did not place it (the agents' refusals, else the strategy's)
    unplaced: str = ""

    @property
    def wire(self) -> dict[str, Any]:
        """What the agent needs to run the task: id, kind and args (no scheduling fields)."""
        args = self.spec.args if self.inputs is None else {**self.spec.args,
                                                           "inputs": self.inputs}
        wire: dict[str, Any] = {"task_id": self.spec.task_id, "kind": self.spec.kind,
                                "args": args, "correlation_id": self.spec.correlation_id}
        if self.spec.attributes:  # what its cost function reads while the agent holds it
            wire.update(attributes=self.spec.attributes, submitted_at=self.spec.submitted_at)
        return wire


# -- actions -----------------------------------------------------------------------
@dataclass(frozen=True)
class Settle:
    """Tell one agent which of its proposals won (run them) and which lost."""

    agent_id: str
    conversation_id: str
    tasks: tuple[TaskRecord, ...]
    tokens: tuple[int, ...]
    rejected: tuple[str, ...]


@dataclass(frozen=True)
class Probe:
    """Ask this agent's actor whether it is back: a heartbeat came from an agent taken
    for dead, and a heartbeat sent just before its actor died can arrive after."""

    agent_id: str


@dataclass(frozen=True)
class Watch:
    """Watch this agent's actor again (it came back after being taken for dead)."""

    agent_id: str


ResultRow = tuple[str, bool, bytes | None, str | None, str | None]
VoteRow = tuple[str, tuple[tuple[str, Any, float], ...], str]
NoteRow = tuple[str, str, str, dict[str, Any]]


@dataclass
class Decisions:
    """What the book decided since the last :meth:`TaskBook.take_decisions`."""

    #: every task state change, in order
    transitions: list[Transition] = field(default_factory=list)
    #: ``(task_id, ok, pickled value, error, agent_id)`` of tasks that ended
    results: list[ResultRow] = field(default_factory=list)
    #: ``(proposal_id, ((voter, choice, weight), ...), choice)`` behind consensus awards
    votes: list[VoteRow] = field(default_factory=list)
    #: decisions about more than one task: ``(action, target, outcome, detail)``, such as an
    #: agent declared dead (``agent_death``) or a plan repaired (``repair``)
    notes: list[NoteRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.transitions or self.results or self.votes or self.notes)


Action = Settle | Probe | Watch


def check_task(task: TaskAllocation) -> TaskAllocation:
    """Refuse a task that could never be allocated, before it is queued."""
    from agents.protocols import get_strategy

    if not isinstance(task.task_id, str) or not task.task_id:
        raise AllocationError(f"task_id must be a non-empty string, got {task.task_id!r}")
    if task.strategy is not None:
        get_strategy(task.strategy)  # raises with the known names
    if not isinstance(task.max_attempts, int) or task.max_attempts < 1:
        raise AllocationError(
            f"task {task.task_id!r}: max_attempts must be an integer >= 1, "
            f"got {task.max_attempts!r}")
    if not (isinstance(task.depends_on, list | tuple)
            and all(isinstance(d, str) and d for d in task.depends_on)):
        raise AllocationError(f"task {task.task_id!r}: depends_on must be a list of task ids, "
                              f"got {task.depends_on!r}")
    if task.task_id in task.depends_on:
        raise AllocationError(f"task {task.task_id!r} depends on itself")
    if not isinstance(task.priority, int):
        raise AllocationError(f"task {task.task_id!r}: priority must be an integer, "
                              f"got {task.priority!r}")
    return task
