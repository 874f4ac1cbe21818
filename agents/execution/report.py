"""What a plan run reports: each node's state, attempts, time and error.  No Ray here.

:class:`PlanReport` is what :class:`~agents.execution.run.PlanRun` hands back while
and after a task graph runs; :meth:`PlanReport.to_dict` is its JSON form for a
ledger or a ``--json`` CLI.  A node whose dependency failed never runs: it is
``skipped`` and its ``error`` names the failed node at the root of the chain.

Example:
    >>> r = PlanReport(
    ...     [NodeReport("a", "fetch", NodeState.FAILED, attempts=3, error="boom"),
    ...      NodeReport("b", "parse", NodeState.SKIPPED, error="skipped: dependency 'a' failed"),
    ...      NodeReport("c", "stats", NodeState.DONE, attempts=1, seconds=0.25)],
    ...     wall_s=1.5, levels=[["a", "c"], ["b"]])
    >>> r.ok, r.counts()
    (False, {'pending': 0, 'done': 1, 'failed': 1, 'skipped': 1, 'cancelled': 0})
    >>> r["b"].error
    "skipped: dependency 'a' failed"
    >>> [n.id for n in r.nodes_in(NodeState.FAILED, NodeState.SKIPPED)]
    ['a', 'b']
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NodeReport", "NodeState", "PlanReport"]


class NodeState(enum.StrEnum):
    """Where one node of a running plan stands."""

    PENDING = "pending"
    """Submitted (or waiting for its dependencies); not finished yet."""
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Never ran: a dependency failed."""
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self is not NodeState.PENDING


@dataclass(frozen=True)
class NodeReport:
    """One node's outcome.

    ``attempts`` counts the attempts of the worker process that finished the
    node (``None`` where unknown: a crashed worker, a cancelled or skipped
    node); ``seconds`` is the time spent in those attempts, back-off included.
    ``given`` marks a result the caller supplied (``done=``), which did not run.
    """

    id: str
    kind: str
    state: NodeState
    attempts: int | None = None
    seconds: float | None = None
    error: str | None = None
    given: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": str(self.state),
                "attempts": self.attempts, "seconds": self.seconds, "error": self.error,
                "given": self.given}


@dataclass(frozen=True)
class PlanReport:
    """Every node's :class:`NodeReport` (in graph order), the wall time and the levels."""

    nodes: Sequence[NodeReport]
    wall_s: float | None = None
    """Seconds from the first submission to the last node settling (``None`` while running)."""
    levels: list[list[str]] = field(default_factory=list)
    """The graph's parallel waves (:meth:`~agents.planning.dag.TaskGraph.levels`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {n.id: n for n in self.nodes})

    def __getitem__(self, node_id: str) -> NodeReport:
        by_id: dict[str, NodeReport] = self._by_id  # type: ignore[attr-defined]
        return by_id[node_id]

    def __iter__(self) -> Iterator[NodeReport]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def ok(self) -> bool:
        """Whether every node is done."""
        return all(n.state is NodeState.DONE for n in self.nodes)

    @property
    def finished(self) -> bool:
        """Whether no node is pending any more."""
        return all(n.state.terminal for n in self.nodes)

    def counts(self) -> dict[str, int]:
        """How many nodes are in each state (every state listed)."""
        out = {str(s): 0 for s in NodeState}
        for n in self.nodes:
            out[str(n.state)] += 1
        return out

    def nodes_in(self, *states: NodeState) -> list[NodeReport]:
        """The nodes in any of ``states``, in graph order."""
        return [n for n in self.nodes if n.state in states]

    def to_dict(self, *, node_states: Iterable[NodeState] | None = None) -> dict[str, Any]:
        """JSON-serialisable; ``node_states`` limits the per-node list (all by default)."""
        keep = set(node_states) if node_states is not None else set(NodeState)
        return {"ok": self.ok, "wall_s": self.wall_s, "counts": self.counts(),
                "levels": len(self.levels),
                "nodes": [n.to_dict() for n in self.nodes if n.state in keep]}
