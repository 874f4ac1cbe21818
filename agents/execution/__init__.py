"""Task graphs on plain Ray, without the Supervisor: one Ray task per node.

``run`` is the entry point (:func:`run_graph`, :func:`start_graph`);
``plan_run`` follows one execution (:class:`PlanRun`); ``ray_node`` is the
remote function every node runs as; ``attempts`` the Ray-free retry and
timeout loop inside it; ``report`` what a run reports; ``repair`` reruns a
plan repaired around a node that failed for good (:func:`run_with_repair`).
Importing this package does not import Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["NodeReport", "NodeState", "PlanReport", "PlanRun", "run_graph", "run_graph_async",
           "run_with_repair", "start_graph"]

_WHERE = {"NodeReport": "report", "NodeState": "report", "PlanReport": "report",
          "PlanRun": "plan_run", "run_graph": "run", "run_graph_async": "run",
          "start_graph": "run", "run_with_repair": "repair"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"agents.execution.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'agents.execution' has no attribute {name!r}")
