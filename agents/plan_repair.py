"""Reactive repair of Supervisor plans: a node that failed for good is planned around.

A plan submitted with its HTN domain (``submit_plan(graph, domain=..., state=...)``)
is repaired when one of its tasks fails after every attempt: the compound
task that produced it is decomposed again without the method that failed
(see :func:`agents.planning.repair.repair`), replaced tasks that have not
ended are cancelled, new tasks are queued, and waiting tasks are re-wired to
their new dependencies — in the ledger too, so a restart resumes the repaired
plan.  Done tasks are never run again.  Without a domain, or when no other
decomposition exists, the failure goes down the graph as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agents.errors import ConfigError
from agents.model import TaskAllocation, TaskState
from agents.planning import PlanError, TaskGraph, domain_from_config
from agents.planning.repair import TaskFailed, repair

if TYPE_CHECKING:
    from agents.allocation import TaskRecord

__all__ = ["PlanRepair"]

logger = logging.getLogger(__name__)


class PlanRepair:
    """Mixin for the Supervisor, next to :class:`agents.plans.Plans`."""

    tasks: dict[str, TaskRecord]
    ledger: Any
    _waiting: dict[str, set[str]]
    _dependents: dict[str, set[str]]

    if TYPE_CHECKING:  # provided by Plans / Allocator / Supervisor
        def _admit(self, task: TaskRecord) -> None: ...

        def _dependency_state(self, dep: str) -> str: ...

        def _end_unrun(self, task: TaskRecord, why: str, state: TaskState, *,
                       cascade: bool = True) -> None: ...

        def submit(self, tasks: Any) -> list[str]: ...

    @staticmethod
    def _with_repair_info(graph: TaskGraph, domain: Any, state: Any) -> TaskGraph:
        try:
            domain_from_config(domain)
        except ConfigError as exc:
            raise PlanError(f"the plan's repair domain is invalid: {exc}", "repair") from None
        return TaskGraph(graph.nodes.values(),
                         meta={**graph.meta, "repair": {"domain": dict(domain),
                                                         "state": dict(state or {})}})

    def _try_repair(self, task: TaskRecord) -> bool:
        """Repair the plan of ``task`` (which failed for good); False if it cannot be."""
        plan_id = task.spec.plan_id
        stored = self.ledger.plan(plan_id) if plan_id else None
        if stored is None or "repair" not in stored[0].get("meta", {}):
            return False
        graph = TaskGraph.from_dict(stored[0])
        info = graph.meta["repair"]
        prefix = f"{plan_id}/"
        node = task.spec.task_id.removeprefix(prefix)
        done = {n for n in graph.nodes if self._dependency_state(prefix + n) == "done"}
        try:
            fix = repair(graph, done, TaskFailed(node, "failed on every attempt"),
                         domain=domain_from_config(info["domain"]), state=info["state"])
        except PlanError as exc:
            logger.info("plan %s: no repair for %s: %s", plan_id, node, exc)
            return False
        if node in fix.graph.nodes:  # only re-queued: it already failed every attempt
            return False
        repaired = TaskGraph(fix.graph.nodes.values(), meta={**fix.graph.meta, "repair": info})
        self.ledger.update_plan(plan_id, repaired.to_dict())
        for gone in fix.removed:
            rec = self.tasks.get(prefix + gone)
            if rec is not None and not rec.state.terminal:
                self._end_unrun(rec, "replaced by a plan repair", TaskState.CANCELLED,
                                cascade=False)
        self._dependents.pop(task.spec.task_id, None)
        self.submit([TaskAllocation(  # the new tasks first: re-wired ones may wait for them
            task_id=prefix + n, kind=spec.kind, args=dict(spec.args),
            depends_on=[prefix + d for d in spec.depends_on], plan_id=plan_id,
            required_capabilities=list(task.spec.required_capabilities),
            max_attempts=max(1, spec.retries + 1), strategy=task.spec.strategy,
            priority=task.spec.priority, goal=task.spec.goal)
            for n, spec in ((n, repaired.nodes[n]) for n in repaired.topological_order())
            if n in fix.added and prefix + n not in self.tasks])
        for n in repaired.topological_order():
            deps = [prefix + d for d in repaired.nodes[n].depends_on]
            rec = self.tasks.get(prefix + n)
            if rec is not None and not rec.state.terminal and rec.spec.depends_on != deps:
                self._rewire(rec, deps)
        logger.info("plan %s repaired around %s: +%s -%s", plan_id, node, fix.added, fix.removed)
        return True

    def _rewire(self, rec: TaskRecord, deps: list[str]) -> None:
        """Give a task that has not run its new dependencies (ledger included)."""
        tid = rec.spec.task_id
        for old in rec.spec.depends_on:
            self._dependents.get(old, set()).discard(tid)
        self._waiting.pop(tid, None)
        rec.spec.depends_on = deps
        self.ledger.update_spec(tid, rec.spec.to_dict())
        if rec.agent_id is None:
            self._admit(rec)
