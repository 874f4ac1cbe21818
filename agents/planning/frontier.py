"""The runnable edge of a task graph, kept up to date as tasks finish.

:meth:`TaskGraph.ready <agents.planning.dag.TaskGraph.ready>` scans the whole
graph; an executor that asks after every finished task would spend O(n²) on a
large plan.  :class:`Dependencies` is the incremental core: which node waits
on which, what a finished node makes ready, and — when one fails — every node
it strands, down the graph, at O(dependents) per event.  The Supervisor's task
book keeps its tasks' dependencies in one (tasks arrive over time, across
plans); a :class:`Frontier` is one over a whole validated graph.

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

from collections.abc import Collection, Iterable

from agents.planning.dag import TaskGraph
from agents.planning.errors import PlanError

__all__ = ["Dependencies", "Frontier"]


class Dependencies:
    """Which nodes wait on which unfinished dependencies.

    Example:
        >>> d = Dependencies()
        >>> d.hold("c", ["a", "b"]), d.hold("e", ["c"]), d.hold("f", [])
        (True, True, False)
        >>> d.done("a"), d.done("b")
        ([], ['c'])
        >>> d.failed("c")
        [('e', 'c')]
        >>> d.waiting
        {}
    """

    def __init__(self) -> None:
        #: node -> its dependencies not finished yet
        self.waiting: dict[str, set[str]] = {}
        #: dependency -> the nodes waiting on it
        self.dependents: dict[str, set[str]] = {}

    def hold(self, node: str, open_deps: Iterable[str]) -> bool:
        """Make ``node`` wait for ``open_deps``; False (not held) when there are none."""
        deps = set(open_deps)
        if not deps:
            return False
        self.waiting[node] = deps
        for dep in deps:
            self.dependents.setdefault(dep, set()).add(node)
        return True

    def done(self, dep: str) -> list[str]:
        """``dep`` finished well: the nodes that now wait on nothing, sorted."""
        ready = []
        for node in sorted(self.dependents.pop(dep, ())):
            waiting = self.waiting.get(node)
            if waiting is None:
                continue
            waiting.discard(dep)
            if not waiting:
                del self.waiting[node]
                ready.append(node)
        return ready

    def failed(self, dep: str) -> list[tuple[str, str]]:
        """``dep`` will never finish well: every node it strands, transitively, each with
        the dependency that stranded it, in the order they are found."""
        stranded: list[tuple[str, str]] = []
        todo = [dep]
        while todo:  # iterative: a failure can cascade down a long chain
            parent = todo.pop()
            for node in sorted(self.dependents.pop(parent, ())):
                if self.waiting.pop(node, None) is None:
                    continue
                stranded.append((node, parent))
                todo.append(node)
        return stranded

    def drop(self, node: str) -> None:
        """Forget that ``node`` waits (it ended another way, or gets new dependencies)."""
        for dep in self.waiting.pop(node, ()):
            self.dependents.get(dep, set()).discard(node)

    def forget(self, dep: str) -> None:
        """``dep`` is gone from its plan: nothing waits on it any more."""
        self.dependents.pop(dep, None)


class Frontier:
    """:class:`Dependencies` over every node of a (validated) graph."""

    def __init__(self, graph: TaskGraph, done: Collection[str] = ()) -> None:
        self.graph = graph
        self.done: set[str] = {d for d in done if d in graph}
        self.deps = Dependencies()
        self._left: set[str] = set()
        runnable: list[str] = []
        for node in graph.nodes.values():
            if node.id in self.done:
                continue
            self._left.add(node.id)
            if not self.deps.hold(node.id, (d for d in node.depends_on if d not in self.done)):
                runnable.append(node.id)
        #: The nodes runnable at construction, in graph order.
        self.runnable = runnable

    @property
    def finished(self) -> bool:
        """Whether every node is done."""
        return not self._left

    @property
    def remaining(self) -> int:
        return len(self._left)

    def complete(self, node_id: str) -> list[str]:
        """Mark ``node_id`` done; return the nodes that became runnable through it."""
        if node_id not in self._left:
            state = "done already" if node_id in self.done else "not in the graph"
            raise PlanError(f"cannot complete {node_id!r}: {state}", "invalid", (node_id,))
        if node_id in self.deps.waiting:
            raise PlanError(f"cannot complete {node_id!r}: {len(self.deps.waiting[node_id])} of "
                            "its dependencies are unfinished", "invalid", (node_id,))
        self._left.discard(node_id)
        self.done.add(node_id)
        return self.deps.done(node_id)
