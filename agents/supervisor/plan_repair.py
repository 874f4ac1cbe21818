"""Reactive repair of Supervisor plans: a node that failed for good is planned around.

A plan submitted with its HTN domain (``submit_plan(graph, domain=..., state=...)``)
is repaired when one of its tasks fails after every attempt: the compound
task that produced it is decomposed again without the method that failed
(see :func:`agents.planning.repair.repair`), replaced tasks that have not
ended are cancelled, new tasks are queued, and waiting tasks are re-wired to
their new dependencies — in the ledger too, so a restart resumes the repaired
plan.  Done tasks are never run again.  Without a domain, or when no other
decomposition exists, the failure goes down the graph as before.  When the
world changes, :meth:`PlanRepair.observe_plan` replans the part whose
preconditions no longer hold in the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agents.errors import AllocationError, ConfigError
from agents.planning import PlanError, TaskGraph, domain_from_config
from agents.planning.repair import Observation, Repair, TaskFailed, repair
from agents.specs import TaskAllocation, TaskState

if TYPE_CHECKING:
    from agents.supervisor.allocation import TaskRecord

__all__ = ["PlanRepair"]

logger = logging.getLogger(__name__)


class PlanRepair:
    """Mixin for the Supervisor, next to :class:`agents.supervisor.plans.Plans`."""

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
        if not plan_id:
            return False
        node = task.spec.task_id.removeprefix(f"{plan_id}/")
        fix = self._repair(plan_id, TaskFailed(node, "failed on every attempt"), task)
        return fix is not None and node not in fix.graph.nodes

    def observe_plan(self, plan_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The world changed: replan what no longer holds (tasks not ended are replaced
        where their preconditions broke); returns the tasks added and removed."""
        fix = self._repair(plan_id, Observation(dict(changes)), None)
        if fix is None:
            raise AllocationError(f"plan {plan_id!r} cannot be replanned: it was not submitted "
                                  "with a domain, or no plan fits the new state")
        return {"added": list(fix.added), "removed": list(fix.removed)}

    def _repair(self, plan_id: str, event: TaskFailed | Observation,
                like: TaskRecord | None) -> Repair | None:
        """Repair the stored plan after ``event`` and apply it; None if it cannot be."""
        stored = self.ledger.plan(plan_id)
        if stored is None or "repair" not in stored[0].get("meta", {}):
            return None
        graph = TaskGraph.from_dict(stored[0])
        info = dict(graph.meta["repair"])
        prefix = f"{plan_id}/"
        done = {n for n in graph.nodes if self._dependency_state(prefix + n) == "done"}
        try:
            fix = repair(graph, done, event, domain=domain_from_config(info["domain"]),
                         state=info["state"])
        except PlanError as exc:
            logger.info("plan %s: no repair after %s: %s", plan_id, event, exc)
            return None
        if isinstance(event, Observation):
            info["state"] = {**info["state"], **event.changes}
        repaired = TaskGraph(fix.graph.nodes.values(), meta={**fix.graph.meta, "repair": info})
        self.ledger.update_plan(plan_id, repaired.to_dict())
        for gone in fix.removed:
            rec = self.tasks.get(prefix + gone)
            if rec is not None and not rec.state.terminal:
                self._end_unrun(rec, "replaced by a plan repair", TaskState.CANCELLED,
                                cascade=False)
            self._dependents.pop(prefix + gone, None)
        model = like or next((t for t in self.tasks.values() if t.spec.plan_id == plan_id),
                             None)
        caps = list(model.spec.required_capabilities) if model else []
        self.submit([TaskAllocation(  # the new tasks first: re-wired ones may wait for them
            task_id=prefix + n, kind=spec.kind, args=dict(spec.args),
            depends_on=[prefix + d for d in spec.depends_on], plan_id=plan_id,
            required_capabilities=caps, max_attempts=max(1, spec.retries + 1),
            strategy=model.spec.strategy if model else None,
            priority=model.spec.priority if model else 1,
            goal=model.spec.goal if model else None)
            for n, spec in ((n, repaired.nodes[n]) for n in repaired.topological_order())
            if n in fix.added and prefix + n not in self.tasks])
        for n in repaired.topological_order():
            deps = [prefix + d for d in repaired.nodes[n].depends_on]
            rec = self.tasks.get(prefix + n)
            if rec is not None and not rec.state.terminal and rec.spec.depends_on != deps:
                self._rewire(rec, deps)
        logger.info("plan %s repaired after %s: +%s -%s", plan_id, event, fix.added,
                    fix.removed)
        return fix

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
