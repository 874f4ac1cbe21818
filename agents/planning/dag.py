"""Task graphs: the DAG a planner produces and an executor runs.

A :class:`TaskGraph` is an immutable set of :class:`TaskNode` s, each naming the
nodes it depends on.  :meth:`TaskGraph.validate` rejects missing inputs, unknown
task kinds and cycles before anything runs, naming the offending nodes.  Every
traversal is iterative, so graphs of 10,000+ nodes (or chains that deep) are
fine.

Example:
    >>> g = TaskGraph([TaskNode("fetch", "http_get"),
    ...                TaskNode("parse", "parse", depends_on=("fetch",)),
    ...                TaskNode("stats", "stats", depends_on=("fetch",))])
    >>> g.validate(known_kinds={"http_get", "parse", "stats"}).levels()
    [['fetch'], ['parse', 'stats']]
    >>> g.ready({"fetch"})
    ['parse', 'stats']
    >>> a, b = TaskNode("a", "k", depends_on=("b",)), TaskNode("b", "k", depends_on=("a",))
    >>> TaskGraph([a, b]).validate()
    Traceback (most recent call last):
    ...
    agents.planning.errors.PlanError: cycle (each node depends on the next): a -> b -> a
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from agents.planning.errors import PlanError

__all__ = ["Resources", "TaskGraph", "TaskNode"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Resources:
    """What one task asks the cluster for (Ray's names); ``None`` leaves the default."""

    num_cpus: float | None = None
    num_gpus: float | None = None
    memory: int | None = None

    def options(self) -> dict[str, float]:
        """The set fields only, ready for ``remote_fn.options(**...)``."""
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "memory": self.memory}


@dataclass(frozen=True)
class TaskNode:
    """One task of a plan: run the registered task ``kind`` with ``args`` after ``depends_on``.

    ``meta`` records where the node came from (an HTN node notes its operator and
    the compound task that produced it); it must stay JSON-serialisable.
    """

    id: str
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict, hash=False)
    depends_on: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    retries: int = 0
    timeout_s: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise PlanError(f"a task node needs a non-empty string id, got {self.id!r}")
        if not isinstance(self.kind, str) or not self.kind:
            raise PlanError(f"task node {self.id!r} needs a task kind, got {self.kind!r}")
        if self.retries < 0:
            raise PlanError(f"task node {self.id!r}: retries must be >= 0, got {self.retries}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise PlanError(f"task node {self.id!r}: timeout_s must be > 0, got {self.timeout_s}")
        object.__setattr__(self, "depends_on", tuple(dict.fromkeys(self.depends_on)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "args": dict(self.args),
            "depends_on": list(self.depends_on),
            "resources": self.resources.to_dict(),
            "retries": self.retries,
            "timeout_s": self.timeout_s,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskNode:
        d = dict(data)
        d["depends_on"] = tuple(d.get("depends_on", ()))
        d["resources"] = Resources(**d.get("resources") or {})
        return cls(**d)


class TaskGraph:
    """An immutable DAG of :class:`TaskNode` keyed by id, in insertion order."""

    def __init__(self, nodes: Iterable[TaskNode], *, meta: Mapping[str, Any] | None = None) -> None:
        table: dict[str, TaskNode] = {}
        for node in nodes:
            if node.id in table:
                raise PlanError(f"duplicate task node id {node.id!r}", "duplicate", (node.id,))
            table[node.id] = node
        self._nodes = table
        self._dependents: dict[str, list[str]] | None = None
        #: Plan-wide, JSON-serialisable metadata (the HTN planner keeps its tree here).
        self.meta: dict[str, Any] = dict(meta or {})

    @property
    def nodes(self) -> Mapping[str, TaskNode]:
        return MappingProxyType(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __getitem__(self, node_id: str) -> TaskNode:
        return self._nodes[node_id]

    def __repr__(self) -> str:
        return f"TaskGraph({len(self._nodes)} nodes)"

    def dependents(self, node_id: str) -> tuple[str, ...]:
        """The nodes that list ``node_id`` in their ``depends_on``."""
        if self._dependents is None:
            rev: dict[str, list[str]] = {k: [] for k in self._nodes}
            for node in self._nodes.values():
                for dep in node.depends_on:
                    if dep in rev:
                        rev[dep].append(node.id)
            self._dependents = rev
        return tuple(self._dependents[node_id])

    def validate(self, known_kinds: Collection[str] | None = None) -> TaskGraph:
        """Reject missing inputs, then unknown kinds (if ``known_kinds``), then cycles.

        Returns the graph itself, so ``TaskGraph(nodes).validate(...)`` chains.
        """
        missing = [(n.id, d) for n in self._nodes.values() for d in n.depends_on
                   if d not in self._nodes]
        if missing:
            text = "; ".join(f"node {n!r} depends on missing input {d!r}" for n, d in missing)
            raise PlanError(f"missing input: {text}", "missing_input",
                            list(dict.fromkeys(n for n, _ in missing)))
        if known_kinds is not None:
            known = set(known_kinds)
            bad: dict[str, list[str]] = {}
            for n in self._nodes.values():
                if n.kind not in known:
                    bad.setdefault(n.kind, []).append(n.id)
            if bad:
                text = "; ".join(f"{k!r} (used by {', '.join(ids)})" for k, ids in bad.items())
                raise PlanError(f"unknown task kind: {text}", "unknown_kind", list(bad))
        self.topological_order()
        return self

    def levels(self) -> list[list[str]]:
        """Parallel waves: every node's dependencies lie in earlier waves."""
        indeg = self._indegrees()
        wave = [k for k, d in indeg.items() if d == 0]
        out: list[list[str]] = []
        seen = 0
        while wave:
            out.append(wave)
            seen += len(wave)
            nxt: list[str] = []
            for k in wave:
                for s in self.dependents(k):
                    indeg[s] -= 1
                    if indeg[s] == 0:
                        nxt.append(s)
            wave = nxt
        if seen < len(self._nodes):
            self._raise_cycle(indeg)
        return out

    def topological_order(self) -> list[str]:
        """Every node after its dependencies; ties keep insertion order."""
        indeg = self._indegrees()
        queue = deque(k for k, d in indeg.items() if d == 0)
        order: list[str] = []
        while queue:
            k = queue.popleft()
            order.append(k)
            for s in self.dependents(k):
                indeg[s] -= 1
                if indeg[s] == 0:
                    queue.append(s)
        if len(order) < len(self._nodes):
            self._raise_cycle(indeg)
        return order

    def ready(self, done: Collection[str]) -> list[str]:
        """Nodes not in ``done`` whose dependencies all are (``done`` may map ids to results)."""
        return [n.id for n in self._nodes.values()
                if n.id not in done and all(d in done for d in n.depends_on)]

    def descendants(self, ids: Iterable[str]) -> set[str]:
        """Every node that depends, directly or not, on one of ``ids`` (``ids`` excluded)."""
        return self._reach(ids, self.dependents)

    def ancestors(self, ids: Iterable[str]) -> set[str]:
        """Every node that one of ``ids`` depends on, directly or not (``ids`` excluded)."""
        return self._reach(ids, lambda k: self._nodes[k].depends_on)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form for the ledger; :meth:`from_dict` reverses it."""
        return {"version": FORMAT_VERSION, "nodes": [n.to_dict() for n in self._nodes.values()],
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskGraph:
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise PlanError(f"task graph format version {version!r} is not {FORMAT_VERSION}")
        return cls((TaskNode.from_dict(n) for n in data["nodes"]), meta=data.get("meta"))

    # -- internals ---------------------------------------------------------

    def _indegrees(self) -> dict[str, int]:
        indeg: dict[str, int] = {}
        for n in self._nodes.values():
            for d in n.depends_on:
                if d not in self._nodes:
                    raise PlanError(f"missing input: node {n.id!r} depends on missing input {d!r}",
                                    "missing_input", (n.id,))
            indeg[n.id] = len(n.depends_on)
        return indeg

    def _reach(self, ids: Iterable[str], step: Any) -> set[str]:
        start = list(ids)
        seen: set[str] = set()
        stack = list(start)
        while stack:
            for nxt in step(stack.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen - set(start)

    def _raise_cycle(self, indeg: Mapping[str, int]) -> None:
        """Name the cycles among the nodes Kahn's algorithm could not order."""
        stuck = {k for k, d in indeg.items() if d > 0}
        position = {k: i for i, k in enumerate(self._nodes)}
        explored: set[str] = set()
        cycles: list[list[str]] = []
        for start in self._nodes:
            if start not in stuck or start in explored:
                continue
            path: dict[str, int] = {}
            k = start
            # every stuck node has a stuck dependency, so this walk must revisit a node
            while k not in path and k not in explored:
                path[k] = len(path)
                k = next(d for d in self._nodes[k].depends_on if d in stuck)
            if k in path:
                cycle = list(path)[path[k]:]
                first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
                cycles.append(cycle[first:] + cycle[:first])
            explored.update(path)
        text = "; ".join(" -> ".join([*c, c[0]]) for c in cycles[:5])
        more = f" (and {len(cycles) - 5} more cycles)" if len(cycles) > 5 else ""
        blocked = len(stuck) - sum(len(c) for c in cycles)
        tail = f"; {blocked} more nodes wait on a cycle" if blocked > 0 else ""
        raise PlanError(f"cycle (each node depends on the next): {text}{more}{tail}", "cycle",
                        list(dict.fromkeys(x for c in cycles for x in c)))
