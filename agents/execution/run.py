"""Run a task graph on Ray: one Ray task per node, results passed on as ObjectRefs.

:func:`run_graph` validates a :class:`~agents.planning.dag.TaskGraph` (nothing
runs if a dependency is missing, a kind unknown or the graph cyclic), submits
every node in topological order as one Ray task with the node's resources, and
hands each task its dependencies' ObjectRefs, so results travel worker to
worker and Ray starts a task once its inputs exist.  A task with dependencies
receives their results as ``inputs={dependency id: result}``.

- Application errors are retried in the worker with exponential back-off
  (``node.retries`` times); a crashed worker process is retried by Ray
  (``max_retries=node.retries``); ``node.timeout_s`` bounds each attempt.
- A failed node's descendants never run: they are reported ``skipped``, naming
  the failed node.  :meth:`PlanRun.cancel` cancels every unfinished task.
- ``done={node id: result}`` resumes a plan: those nodes are not run again.
- Progress is tracked on small status objects with ``ray.wait(...,
  fetch_local=False)``; results stay in the object store until asked for
  (:meth:`PlanRun.result`, :meth:`PlanRun.fetch`; the sinks by default).

Task kinds are resolved by name in the worker, so a kind must be registered
by a module the worker imports: a builtin, or a ``"module:function"`` kind.

Example:
    >>> from agents.planning import TaskGraph, TaskNode
    >>> g = TaskGraph([TaskNode("a", "echo", {"value": 1}), TaskNode("b", "echo", {"value": 2}),
    ...                TaskNode("sum", "sum_results", {"values": [10]}, ("a", "b"))])
    >>> run = run_graph(g)  # doctest: +SKIP
    >>> run.results, run.report().counts()["done"]  # doctest: +SKIP
    ({'sum': 13.0}, 3)
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from agents.execution.attempts import NodeFailedError, TaskTimeoutError
from agents.execution.plan_run import Fetch, PlanRun, ProgressFn
from agents.execution.report import NodeReport, NodeState, PlanReport
from agents.planning import TaskGraph

__all__ = ["Fetch", "NodeFailedError", "NodeReport", "NodeState", "PlanReport", "PlanRun",
           "ProgressFn", "TaskTimeoutError", "run_graph", "run_graph_async", "start_graph"]


def start_graph(graph: TaskGraph, *, known_kinds: Collection[str] | None = None,
                done: Mapping[str, Any] | None = None, backoff_s: float = 0.1,
                max_backoff_s: float = 30.0, check_resources: bool = True) -> PlanRun:
    """Validate and submit ``graph``; return the running :class:`PlanRun` without waiting."""
    return PlanRun(graph, known_kinds=known_kinds, done=done, backoff_s=backoff_s,
                   max_backoff_s=max_backoff_s, check_resources=check_resources).submit()


def run_graph(graph: TaskGraph, *, known_kinds: Collection[str] | None = None,
              done: Mapping[str, Any] | None = None, on_progress: ProgressFn | None = None,
              backoff_s: float = 0.1, max_backoff_s: float = 30.0, fetch: Fetch = "sinks",
              interval_s: float = 0.2, check_resources: bool = True) -> PlanRun:
    """Run ``graph`` to the end; fetch the results named by ``fetch`` (:meth:`PlanRun.fetch`).

    Failed, skipped and cancelled nodes are in :meth:`PlanRun.report`;
    :meth:`PlanRun.check` raises the first failure.

    Raises:
        PlanError: the graph is invalid (missing input, unknown kind, cycle) or asks
            for resources no node of the cluster has; nothing was run.
    """
    run = start_graph(graph, known_kinds=known_kinds, done=done, backoff_s=backoff_s,
                      max_backoff_s=max_backoff_s, check_resources=check_resources)
    run.wait(on_progress=on_progress, interval_s=interval_s)
    run.fetch(fetch)
    return run


async def run_graph_async(graph: TaskGraph, *, known_kinds: Collection[str] | None = None,
                          done: Mapping[str, Any] | None = None,
                          on_progress: ProgressFn | None = None, backoff_s: float = 0.1,
                          max_backoff_s: float = 30.0, fetch: Fetch = "sinks",
                          interval_s: float = 0.2, check_resources: bool = True) -> PlanRun:
    """:func:`run_graph` for async code (an async actor): the event loop is never blocked.

    Validating, submitting and waiting happen on helper threads; ``on_progress``
    (a function or a coroutine function) is called on the event loop.  Cancelling
    the awaiting task cancels the plan.
    """
    run = await asyncio.to_thread(PlanRun, graph, known_kinds=known_kinds, done=done,
                                  backoff_s=backoff_s, max_backoff_s=max_backoff_s,
                                  check_resources=check_resources)
    loop = asyncio.get_running_loop()
    progress: ProgressFn | None = None
    if on_progress is not None:
        callback = on_progress

        def progress(done: int, bad: int, total: int, ids: list[str]) -> None:
            if asyncio.iscoroutinefunction(callback):
                asyncio.run_coroutine_threadsafe(callback(done, bad, total, ids), loop)
            else:
                loop.call_soon_threadsafe(callback, done, bad, total, ids)

    try:
        await asyncio.to_thread(run.submit)
        await asyncio.to_thread(run.wait, on_progress=progress, interval_s=interval_s)
    except asyncio.CancelledError:
        run.cancel(force=True)  # a running node may be in a call no interrupt reaches
        raise
    await asyncio.to_thread(run.fetch, fetch)
    return run
