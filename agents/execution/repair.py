"""Reactive replanning on Ray: run a plan, and when a node fails for good, repair the
plan around it and go on with what is already done.

The repair is :func:`agents.planning.repair.repair`: with an HTN domain the
compound task that produced the failed node is decomposed again without the
method that failed (climbing to the enclosing task if nothing else applies);
without one the node is simply run again.  Done nodes are handed to the next
run as known results (``done=``), so they are never run twice.

Example (needs Ray)::

    outcome = run_with_repair(plan_htn(domain, state, "ship"), domain, state=state)
    outcome.run.report().ok, [r.added for r in outcome.repairs]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.execution.run import NodeState, PlanRun, run_graph
from agents.planning import Domain, TaskGraph
from agents.planning.repair import Repair, TaskFailed, repair, repair_attached

__all__ = ["AdaptiveRun", "run_with_repair"]


@dataclass
class AdaptiveRun:
    """The last run, the graph it ran, and every repair made on the way."""

    run: PlanRun
    graph: TaskGraph
    repairs: list[Repair] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.run.report().ok


def run_with_repair(graph: TaskGraph, domain: Domain | None = None, *,
                    state: Mapping[str, Any] | None = None, max_repairs: int = 3,
                    **run_options: Any) -> AdaptiveRun:
    """Run ``graph`` on Ray; after a failure, repair and resume, up to ``max_repairs`` times.

    ``state`` is the world state the repair decomposes from (the HTN state after
    the done tasks' effects).  A graph that carries its domain and state
    (:func:`agents.planning.repair.attach_repair`, as plans given to the
    Supervisor with a domain do) needs neither: it is repaired the same way
    the Supervisor repairs it.  Every result is fetched to the driver between
    rounds, since the next round is given the done ones.  Other keyword
    arguments go to :func:`agents.execution.run.run_graph`.

    Raises:
        PlanError: the graph is invalid, or no decomposition is left to try.
    """
    if max_repairs < 0:
        raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
    outcome = AdaptiveRun(run_graph(graph, fetch="all", **run_options), graph)
    while len(outcome.repairs) < max_repairs:
        report = outcome.run.report()
        failed = report.nodes_in(NodeState.FAILED)
        if not failed:
            break
        done = {n.id: outcome.run.result(n.id) for n in report.nodes_in(NodeState.DONE)}
        event = TaskFailed(failed[0].id, failed[0].error or "")
        attached = (repair_attached(outcome.graph, done, event)
                    if domain is None and "repair" in outcome.graph.meta else None)
        fix = attached or repair(outcome.graph, done, event, domain=domain, state=state)
        outcome.repairs.append(fix)
        outcome.graph = fix.graph
        outcome.run = run_graph(fix.graph, done={k: v for k, v in done.items()
                                                 if k in fix.graph.nodes},
                                fetch="all", **run_options)
    return outcome
