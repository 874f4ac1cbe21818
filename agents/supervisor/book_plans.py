"""The plans half of the task book: dependencies, whole task graphs and their repair.

A task may name the tasks whose results it needs (``depends_on``): the book
holds it back until they are done, then queues it with their results as its
``inputs`` (dependency node id -> result); if one of them fails or is
cancelled it fails too, naming the dependency, and so on down the graph.  A
plan is a :class:`~agents.planning.dag.TaskGraph` submitted whole: validated
first (cycles, missing inputs, unknown kinds refused naming the nodes), kept in
the ledger, and run as tasks ``<plan_id>/<node id>``.

A plan submitted with its HTN domain is *repaired* when one of its tasks fails
for good, or when the world changes (:meth:`PlanBook.observe`): the compound
task that produced the broken part is decomposed again
(:func:`agents.planning.repair.repair`, the same repair graph execution on
plain Ray uses), replaced tasks that have not ended are cancelled, new ones
queued, waiting ones re-wired — in the ledger too, so a restart resumes the
repaired plan.  Done tasks never run again.  No Ray here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agents.agent.kinds import resolvable
from agents.errors import AllocationError, NotFoundError
from agents.planning import PlanError, TaskGraph, TaskNode
from agents.planning.repair import (
    Observation,
    Repair,
    TaskFailed,
    attach_repair,
    repair_attached,
)
from agents.specs import TaskAllocation, TaskState

if TYPE_CHECKING:
    from agents.supervisor.book import TaskBook
    from agents.supervisor.records import TaskRecord

__all__ = ["PlanBook"]

logger = logging.getLogger(__name__)


class PlanBook:
    """Plans kept by a :class:`~agents.supervisor.book.TaskBook` (its ``plans``)."""

    def __init__(self, book: TaskBook) -> None:
        self.book = book

    @property
    def ledger(self) -> Any:
        return self.book.ledger

    # -- dependencies ----------------------------------------------------------------
    def check_dependencies(self, parsed: Sequence[TaskAllocation]) -> None:
        """Refuse unknown dependencies and cycles before anything is queued."""
        tasks = self.book.tasks
        ids = {t.task_id for t in parsed}
        outside = {d for t in parsed for d in t.depends_on if d not in ids and d not in tasks}
        known = set(self.ledger.task_states(sorted(outside))) if outside else set()
        for t in parsed:
            missing = [d for d in t.depends_on if d not in ids and d not in tasks
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

    # -- plans -------------------------------------------------------------------------
    def submit(self, graph: TaskGraph | Mapping[str, Any], plan_id: str, *,
               strategy: str | None = None, capabilities: Sequence[str] = (),
               priority: int = 1, goal: str | None = None,
               domain: Mapping[str, Any] | None = None,
               state: Mapping[str, Any] | None = None) -> str:
        """Validate and queue a whole task graph; submitting a plan id again does nothing.

        Node ``retries`` become attempts, ``meta["capabilities"]`` (or
        ``capabilities``) what an agent needs to win a node.
        """
        g = graph if isinstance(graph, TaskGraph) else TaskGraph.from_dict(graph)
        g.validate(known_kinds=resolvable(n.kind for n in g.nodes.values()))
        if domain is not None:  # failures are repaired with this HTN domain and state
            g = attach_repair(g, domain, state)
        if not self.ledger.save_plan(plan_id, g.to_dict()):
            return plan_id
        self.book.submit_specs([TaskAllocation(
            task_id=f"{plan_id}/{n.id}", kind=n.kind, args=dict(n.args),
            depends_on=[f"{plan_id}/{d}" for d in n.depends_on], plan_id=plan_id,
            required_capabilities=list(n.meta.get("capabilities", capabilities)),
            max_attempts=max(1, n.retries + 1), strategy=strategy, priority=priority,
            goal=goal) for n in (g.nodes[i] for i in g.topological_order())])
        return plan_id

    def task_ids(self, plan_id: str) -> tuple[TaskGraph, list[str]]:
        stored = self.ledger.plan(plan_id)
        if stored is None:
            raise NotFoundError("plan", plan_id)
        g = TaskGraph.from_dict(stored[0])
        return g, [f"{plan_id}/{n}" for n in g.topological_order()]

    def status(self, plan_id: str, detail: bool = False) -> dict[str, Any]:
        """Counts by state, whether it is over, its wall time so far; per node if ``detail``."""
        tasks = self.book.tasks
        g, ids = self.task_ids(plan_id)
        stored = self.ledger.task_states([i for i in ids if i not in tasks])
        states = {i: (tasks[i].state.value if i in tasks else stored.get(i, "unknown"))
                  for i in ids}
        counts: dict[str, int] = {}
        for s in states.values():
            counts[s] = counts.get(s, 0) + 1
        recs = [tasks[i] for i in ids if i in tasks]
        started = min((r.spec.submitted_at for r in recs), default=None)
        ended = [r.finished_at for r in recs if r.finished_at is not None]
        over = all(s in ("done", "failed", "cancelled") for s in states.values())
        out: dict[str, Any] = {
            "plan_id": plan_id, "total": len(ids), "counts": counts, "finished": over,
            "ok": over and counts.get("done", 0) == len(ids), "levels": len(g.levels()),
            "seconds": (max(ended) - started) if over and ended and started else None,
            "waiting": sum(1 for i in ids if i in self.book.deps.waiting)}
        if detail:
            out["nodes"] = {i.split("/", 1)[1]: s for i, s in states.items()}
        return out

    # -- repair ------------------------------------------------------------------------
    def try_repair(self, task: TaskRecord) -> bool:
        """Repair the plan of ``task`` (which failed for good); False if it cannot be."""
        plan_id = task.spec.plan_id
        if not plan_id:
            return False
        node = task.spec.task_id.removeprefix(f"{plan_id}/")
        fix = self._repair(plan_id, TaskFailed(node, "failed on every attempt"), task)
        return fix is not None and node not in fix.graph.nodes

    def observe(self, plan_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The world changed: replan what no longer holds; the tasks added and removed."""
        fix = self._repair(plan_id, Observation(dict(changes)), None)
        if fix is None:
            raise AllocationError(f"plan {plan_id!r} cannot be replanned: it was not submitted "
                                  "with a domain, or no plan fits the new state")
        return {"added": list(fix.added), "removed": list(fix.removed)}

    def _repair(self, plan_id: str, event: TaskFailed | Observation,
                like: TaskRecord | None) -> Repair | None:
        """Repair the stored plan after ``event`` and apply it; None if it cannot be."""
        book = self.book
        stored = self.ledger.plan(plan_id)
        if stored is None or "repair" not in stored[0].get("meta", {}):
            return None
        graph = TaskGraph.from_dict(stored[0])
        prefix = f"{plan_id}/"
        done = {n for n in graph.nodes if book.dependency_state(prefix + n) == "done"}
        fix = repair_attached(graph, done, event)
        if fix is None:
            logger.info("plan %s: no repair after %s", plan_id, event)
            return None
        repaired = fix.graph
        self.ledger.update_plan(plan_id, repaired.to_dict())
        for gone in fix.removed:
            rec = book.tasks.get(prefix + gone)
            if rec is not None and not rec.state.terminal:
                book.end_unrun(rec, "replaced by a plan repair", TaskState.CANCELLED,
                               cascade=False)
            book.deps.forget(prefix + gone)
        model = like or next((t for t in book.tasks.values() if t.spec.plan_id == plan_id),
                             None)
        caps = list(model.spec.required_capabilities) if model else []
        book.submit_specs([TaskAllocation(  # the new tasks first: re-wired ones may wait for them
            task_id=prefix + n, kind=spec.kind, args=dict(spec.args),
            depends_on=[prefix + d for d in spec.depends_on], plan_id=plan_id,
            required_capabilities=caps, max_attempts=max(1, spec.retries + 1),
            strategy=model.spec.strategy if model else None,
            priority=model.spec.priority if model else 1,
            goal=model.spec.goal if model else None)
            for n, spec in ((n, repaired.nodes[n]) for n in repaired.topological_order())
            if n in fix.added and prefix + n not in book.tasks])
        for n in repaired.topological_order():
            deps = [prefix + d for d in repaired.nodes[n].depends_on]
            rec = book.tasks.get(prefix + n)
            if rec is not None and not rec.state.terminal and rec.spec.depends_on != deps:
                self._rewire(rec, deps)
        logger.info("plan %s repaired after %s: +%s -%s", plan_id, event, fix.added,
                    fix.removed)
        book.note("repair", plan_id, "repaired", {"after": str(event),
                                                  "added": sorted(fix.added),
                                                  "removed": sorted(fix.removed)})
        return fix

    def _rewire(self, rec: TaskRecord, deps: list[str]) -> None:
        """Give a task that has not run its new dependencies (ledger included)."""
        book = self.book
        tid = rec.spec.task_id
        book.deps.drop(tid)
        rec.spec.depends_on = deps
        self.ledger.update_spec(tid, rec.spec.to_dict())
        if rec.agent_id is None:
            book.admit(rec)
