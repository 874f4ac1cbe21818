"""The runnable edge of a task graph, kept up to date as tasks finish.

:meth:`TaskGraph.ready <agents.planning.dag.TaskGraph.ready>` scans the whole
graph; an executor that asks after every finished task would spend O(n²) on a
large plan.  A :class:`Frontier` counts each node's unfinished dependencies
once and then costs O(dependents) per finished task.

Example:
    >>> from agents.planning.dag import TaskGraph, TaskNode
    >>> g = TaskGraph([TaskNode("a", "k"), TaskNode("b", "k"),
    ...                TaskNode("c", "k", depends_on=("a", "b"))])
    >>> f = Frontier(g)
    >>> f.runnable
    ['a', 'b']
    >>> f.complete("a"), f.complete("b"), f.finished
    ([], ['c'], False)
    >>> f.complete("c"), f.finished
    ([], True)
"""

from __future__ import annotations

from collections.abc import Collection

from agents.planning.dag import TaskGraph
from agents.planning.errors import PlanError

__all__ = ["Frontier"]


class Frontier:
    """Unfinished dependency counts for every node of a (validated) graph."""

    def __init__(self, graph: TaskGraph, done: Collection[str] = ()) -> None:
        self.graph = graph
        self.done: set[str] = {d for d in done if d in graph}
        self._waiting: dict[str, int] = {}
        runnable: list[str] = []
        for node in graph.nodes.values():
            if node.id in self.done:
                continue
            count = sum(1 for d in node.depends_on if d not in self.done)
            self._waiting[node.id] = count
            if count == 0:
                runnable.append(node.id)
        #: The nodes runnable at construction, in graph order.
        self.runnable = runnable

    @property
    def finished(self) -> bool:
        """Whether every node is done."""
        return not self._waiting

    @property
    def remaining(self) -> int:
        return len(self._waiting)

    def complete(self, node_id: str) -> list[str]:
        """Mark ``node_id`` done; return the nodes that became runnable through it."""
        if node_id not in self._waiting:
            state = "done already" if node_id in self.done else "not in the graph"
            raise PlanError(f"cannot complete {node_id!r}: {state}", "invalid", (node_id,))
        if self._waiting[node_id]:
            raise PlanError(f"cannot complete {node_id!r}: {self._waiting[node_id]} of its "
                            "dependencies are unfinished", "invalid", (node_id,))
        del self._waiting[node_id]
        self.done.add(node_id)
        now: list[str] = []
        for child in self.graph.dependents(node_id):
            if child in self._waiting:
                self._waiting[child] -= 1
                if self._waiting[child] == 0:
                    now.append(child)
        return now
