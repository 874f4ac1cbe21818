"""Task dependencies and whole plans in the Supervisor.

A task may name the tasks whose results it needs (``depends_on``).  It is held
back until they are done, then allocated like any task with their results as
its ``inputs`` argument (dependency node id -> result); if one of them fails or
is cancelled it fails too, naming the dependency, and so on down the graph.
A plan is a :class:`~agents.planning.dag.TaskGraph` (from HTN, GOAP or by
hand) submitted whole: validated first (cycles, missing inputs, unknown task
kinds are refused naming the nodes), kept in the ledger, and run as tasks
``<plan_id>/<node id>``.  Everything is in the ledger, so a plan survives the
loss of an agent (its tasks are re-allocated) and a Supervisor restart (the
reload admits unfinished tasks again, with the results of those already done).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agents.agent.kinds import resolvable
from agents.errors import AllocationError
from agents.planning import PlanError, TaskGraph, TaskNode
from agents.specs import TaskAllocation, TaskState
from agents.supervisor.allocation import TaskRecord
from agents.supervisor.ledger import Transition
from messaging.endpoint import EVENTS_PREFIX, Endpoint
from messaging.envelope import new_id

__all__ = ["Plans"]

logger = logging.getLogger(__name__)


class Plans:
    """Mixin for the Supervisor (its state is set up there)."""

    tasks: dict[str, TaskRecord]
    events: Endpoint | None
    _waiting: dict[str, set[str]]
    _dependents: dict[str, set[str]]

    # supplied by Allocator / Supervisor
    ledger: Any
    _results: dict[str, tuple[bool, Any, str | None, str | None]]
    _result_buf: list[tuple[str, bool, bytes | None, str | None, str | None]]
    _journal: list[Transition]

    if TYPE_CHECKING:  # provided by Allocator and Supervisor
        def _enqueue(self, task: TaskRecord, reason: str = "") -> None: ...

        def _schedule_flush(self) -> None: ...

        def submit(self, tasks: Sequence[Mapping[str, Any] | TaskAllocation]) -> list[str]: ...

        def result(self, task_id: str) -> dict[str, Any]: ...

        def _try_repair(self, task: TaskRecord) -> bool: ...

        @staticmethod
        def _with_repair_info(graph: TaskGraph, domain: Any, state: Any) -> TaskGraph: ...

        async def wait(self, task_ids: Sequence[str], timeout_s: float | None = None,
                       raise_on_failure: bool = False) -> dict[str, dict[str, Any]]: ...

    # -- dependencies ----------------------------------------------------------------
    def _check_dependencies(self, parsed: Sequence[TaskAllocation]) -> None:
        """Refuse unknown dependencies and cycles before anything is queued."""
        ids = {t.task_id for t in parsed}
        outside = {d for t in parsed for d in t.depends_on if d not in ids and d not in self.tasks}
        known = set(self.ledger.task_states(sorted(outside))) if outside else set()
        for t in parsed:
            missing = [d for d in t.depends_on if d not in ids and d not in self.tasks
                       and d not in known]
            if missing:
                raise AllocationError(f"task {t.task_id!r} depends on unknown task(s) "
                                      f"{missing}: submit them first or in the same batch")
        if any(t.depends_on for t in parsed):
            try:
                TaskGraph([TaskNode(t.task_id, t.kind,
                                    depends_on=tuple(d for d in t.depends_on if d in ids))
                           for t in parsed]).validate()
            except PlanError as exc:
                raise AllocationError(str(exc)) from None

    def _admit(self, task: TaskRecord) -> None:
        """Queue a new or reloaded task now, or hold it until its dependencies are done."""
        tid = task.spec.task_id
        open_deps: set[str] = set()
        for dep in task.spec.depends_on:
            state = self._dependency_state(dep)
            if state in ("failed", "cancelled", "unknown"):
                self._end_unrun(task, f"dependency {dep!r} {state}", TaskState.FAILED)
                return
            if state != "done":
                open_deps.add(dep)
                self._dependents.setdefault(dep, set()).add(tid)
        if open_deps:
            self._waiting[tid] = open_deps
        else:
            self._ready(task)

    def _dependency_state(self, dep: str) -> str:
        rec = self.tasks.get(dep)
        if rec is not None:
            return rec.state.value if rec.state.terminal else "open"
        stored = self.ledger.result(dep)
        if stored is not None:
            return "done" if stored.ok else "failed"
        state = self.ledger.task_states([dep]).get(dep)
        return "unknown" if state is None else ("cancelled" if state == "cancelled" else "open")

    def _publish_event(self, task_id: str, state: TaskState) -> None:
        """``raymas/events/plans/<plan>`` (or ``.../goals/<goal>``): one event per task end."""
        task = self.tasks.get(task_id)
        if self.events is None or task is None or not (task.spec.plan_id or task.spec.goal):
            return
        where = (f"plans/{task.spec.plan_id}" if task.spec.plan_id
                 else f"goals/{task.spec.goal}")
        _, _, error, agent = self._results.get(task_id, (False, None, None, None))
        self.events.publish(f"{EVENTS_PREFIX}{where}", {
            "task_id": task_id, "state": state.value, "agent_id": agent, "error": error,
            "finished_at": task.finished_at})

    def _ready(self, task: TaskRecord) -> None:
        prefix = f"{task.spec.plan_id}/" if task.spec.plan_id else ""
        task.inputs = {d.removeprefix(prefix): self.result(d)["value"]
                       for d in task.spec.depends_on}
        self._enqueue(task)

    def _released(self, task_id: str, state: TaskState) -> None:
        """A task ended: admit dependents now complete, fail those it leaves stranded
        (unless its plan can be repaired around it, see ``agents.supervisor.plan_repair``)."""
        task = self.tasks.get(task_id)
        if state is TaskState.FAILED and task is not None and task.spec.plan_id \
                and task.attempts > 0:  # it ran and failed (not a stranded dependent)
            try:
                repaired = self._try_repair(task)
            except Exception:  # a repair that breaks must not strand the plan: fail as before
                logger.exception("plan %s: repair around %s failed", task.spec.plan_id, task_id)
                repaired = False
            if repaired:
                self._publish_event(task_id, state)
                return
        ended = [(task_id, state)]
        while ended:  # iterative: a failure can cascade down a long chain
            tid, st = ended.pop()
            self._publish_event(tid, st)
            for child_id in sorted(self._dependents.pop(tid, ())):
                waiting, child = self._waiting.get(child_id), self.tasks.get(child_id)
                if waiting is None or child is None or child.state.terminal:
                    continue
                if st is TaskState.DONE:
                    waiting.discard(tid)
                    if not waiting:
                        del self._waiting[child_id]
                        self._ready(child)
                else:
                    del self._waiting[child_id]
                    self._end_unrun(child, f"dependency {tid!r} {st.value}", TaskState.FAILED,
                                    cascade=False)
                    ended.append((child_id, TaskState.FAILED))

    def _end_unrun(self, task: TaskRecord, why: str, state: TaskState, *,
                   cascade: bool = True) -> None:
        """End a task that no agent ran (a failed dependency, a cancelled plan)."""
        tid = task.spec.task_id
        task.state, task.finished_at = state, time.time()
        self._waiting.pop(tid, None)
        self._result_buf.append((tid, False, None, why, None))
        self._journal.append(Transition(tid, state.value, None, why))
        self._results[tid] = (False, None, why, None)
        self._schedule_flush()
        if cascade:
            self._released(tid, state)

    # -- plans -------------------------------------------------------------------------
    def submit_plan(self, graph: TaskGraph | Mapping[str, Any], plan_id: str | None = None, *,
                    strategy: str | None = None, capabilities: Sequence[str] = (),
                    priority: int = 1, goal: str | None = None,
                    domain: Mapping[str, Any] | None = None,
                    state: Mapping[str, Any] | None = None) -> str:
        """Validate and queue a whole task graph; returns the plan id.

        Node ``retries`` become attempts, ``meta["capabilities"]`` (or
        ``capabilities``) what an agent needs to win a node.  Submitting the same
        plan id again does nothing (plans are idempotent, like tasks).
        """
        g = graph if isinstance(graph, TaskGraph) else TaskGraph.from_dict(graph)
        g.validate(known_kinds=resolvable(n.kind for n in g.nodes.values()))
        if domain is not None:  # failures are repaired with this HTN domain and state
            g = self._with_repair_info(g, domain, state)
        plan_id = plan_id or f"plan-{new_id()}"
        if not self.ledger.save_plan(plan_id, g.to_dict()):
            return plan_id
        tasks = [TaskAllocation(
            task_id=f"{plan_id}/{n.id}", kind=n.kind, args=dict(n.args),
            depends_on=[f"{plan_id}/{d}" for d in n.depends_on], plan_id=plan_id,
            required_capabilities=list(n.meta.get("capabilities", capabilities)),
            max_attempts=max(1, n.retries + 1), strategy=strategy, priority=priority,
            goal=goal) for n in (g.nodes[i] for i in g.topological_order())]
        self.submit(tasks)
        return plan_id

    def _plan_task_ids(self, plan_id: str) -> tuple[TaskGraph, list[str]]:
        stored = self.ledger.plan(plan_id)
        if stored is None:
            raise AllocationError(f"no plan {plan_id!r}")
        g = TaskGraph.from_dict(stored[0])
        return g, [f"{plan_id}/{n}" for n in g.topological_order()]

    def plan_status(self, plan_id: str, detail: bool = False) -> dict[str, Any]:
        """Counts by state, whether it is over, its wall time so far; per node if ``detail``."""
        g, ids = self._plan_task_ids(plan_id)
        stored = self.ledger.task_states([i for i in ids if i not in self.tasks])
        states = {i: (self.tasks[i].state.value if i in self.tasks else stored.get(i, "unknown"))
                  for i in ids}
        counts: dict[str, int] = {}
        for s in states.values():
            counts[s] = counts.get(s, 0) + 1
        recs = [self.tasks[i] for i in ids if i in self.tasks]
        started = min((r.spec.submitted_at for r in recs), default=None)
        ended = [r.finished_at for r in recs if r.finished_at is not None]
        over = all(s in ("done", "failed", "cancelled") for s in states.values())
        out: dict[str, Any] = {
            "plan_id": plan_id, "total": len(ids), "counts": counts, "finished": over,
            "ok": over and counts.get("done", 0) == len(ids), "levels": len(g.levels()),
            "seconds": (max(ended) - started) if over and ended and started else None,
            "waiting": sum(1 for i in ids if i in self._waiting)}
        if detail:
            out["nodes"] = {i.split("/", 1)[1]: s for i, s in states.items()}
        return out

    async def wait_plan(self, plan_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait until every task of the plan has ended (or ``timeout_s``); its status."""
        _, ids = self._plan_task_ids(plan_id)
        await self.wait(ids, timeout_s)
        return self.plan_status(plan_id)

    def plan_results(self, plan_id: str, nodes: Sequence[str] | None = None) -> dict[str, Any]:
        """Results by node id (all nodes, or ``nodes``); errors for those that failed."""
        g, _ = self._plan_task_ids(plan_id)
        out = {}
        for n in (nodes if nodes is not None else g.topological_order()):
            r = self.result(f"{plan_id}/{n}")
            out[n] = r["value"] if r["ok"] else {"state": r["state"], "error": r["error"]}
        return out

    def cancel_plan(self, plan_id: str) -> int:
        """Cancel every task of the plan that has not ended; returns how many.

        Tasks waiting or queued never run; a task already running on an agent
        finishes there, but its result no longer counts.
        """
        _, ids = self._plan_task_ids(plan_id)
        n = 0
        for tid in reversed(ids):  # dependents first, so each is cancelled, not failed
            task = self.tasks.get(tid)
            if task is not None and not task.state.terminal:
                self._end_unrun(task, f"plan {plan_id!r} cancelled", TaskState.CANCELLED)
                n += 1
        return n
