"""Planning: goals into task DAGs.  Pure cores, no Ray here.

- :mod:`.dag` — :class:`TaskGraph` / :class:`TaskNode`, validated before anything runs;
  :mod:`.frontier` — what can run now, updated as tasks finish.
- :mod:`.htn` — hierarchical task networks (:class:`Domain`, :func:`plan_htn`).
- :mod:`.goap` — goal-oriented action planning by A*, forward or regression (:func:`plan_goap`).
- :mod:`.repair` — reactive repair after a failure, a lost agent or an observation.
- :mod:`.domains.blocks` — blocks world, for tests and benchmarks.

Example:
    >>> from agents.planning import Action, plan_goap
    >>> [a.name for a in plan_goap({"door": "shut"}, {"door": "open"},
    ...                            [Action("open", {"door": "shut"}, {"door": "open"})])]
    ['open']
"""

from __future__ import annotations

from agents.planning.dag import Resources, TaskGraph, TaskNode
from agents.planning.errors import PlanError
from agents.planning.frontier import Dependencies, Frontier
from agents.planning.goap import Action, SearchResult, apply_plan, freeze, to_graph
from agents.planning.goap import plan as plan_goap
from agents.planning.goap import search as search_goap
from agents.planning.htn import Domain, Method, Operator, Task, as_task
from agents.planning.htn import plan as plan_htn
from agents.planning.htn_config import domain_from_config
from agents.planning.repair import AgentLost, Observation, Repair, TaskFailed, repair

__all__ = [
    "Action",
    "AgentLost",
    "Dependencies",
    "Domain",
    "Frontier",
    "Method",
    "Observation",
    "Operator",
    "PlanError",
    "Repair",
    "Resources",
    "SearchResult",
    "Task",
    "TaskFailed",
    "TaskGraph",
    "TaskNode",
    "apply_plan",
    "as_task",
    "domain_from_config",
    "freeze",
    "plan_goap",
    "plan_htn",
    "repair",
    "search_goap",
    "to_graph",
]
