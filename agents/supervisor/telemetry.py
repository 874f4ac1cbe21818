"""What the Supervisor tells Ray's metrics (``raymas_*`` in the dashboard and Prometheus).

Per allocation round: its latency, size, awards, proposals and refusals.  Every
``interval_s``: agents by type and state, their mailboxes' depth (from their
heartbeats: agent processes export nothing themselves, which keeps Ray's
metrics agent's work independent of the number of agents), tasks by state, and
the book's
counters (deaths, reassignments, retries, tasks finished) as increments since
the last export.  Recording is :mod:`messaging.metrics` (a dictionary update,
sent to Ray in batches), so a round costs a few microseconds more, not a Ray
call; no Ray in here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agents.supervisor.records import AgentEntry, Settle
from messaging import metrics

__all__ = ["SupervisorMetrics"]

#: the book's stats that are exported as counters, and their metric names
_COUNTERS: dict[str, tuple[str, dict[str, str]]] = {
    "deaths": ("raymas_agent_deaths", {}), "reassigned": ("raymas_task_reassignments", {}),
    "retries": ("raymas_task_retries", {}),
    "plan_nodes_done": ("raymas_plan_nodes", {"state": "done"}),
    "plan_nodes_failed": ("raymas_plan_nodes", {"state": "failed"})}
_FINISHED = ("done", "failed", "cancelled")
_AGENT_STATES = ("alive", "suspect", "dead", "leaving")
_TASK_STATES = ("submitted", "announced", "awarded", "running", "reassigned", "done", "failed",
                "cancelled")


def agent_state(a: AgentEntry) -> str:
    if not a.view.alive:
        return "dead"
    if a.leaving:
        return "leaving"
    return "suspect" if a.suspect else "alive"


class SupervisorMetrics:
    """Turns the book's state into metric records; remembers what it already exported."""

    def __init__(self, strategy: str = "contract_net") -> None:
        self._stats: dict[str, float] = {}
        self._finished: dict[str, int] = {}
        self._types: set[str] = set()
        for name, tags in _COUNTERS.values():  # exported at 0 until the first event
            metrics.declare(name, **tags)
        for state in _FINISHED:
            metrics.declare("raymas_tasks_finished", state=state)
        for name in ("raymas_allocation_awards", "raymas_proposals", "raymas_refusals"):
            metrics.declare(name, strategy=strategy)

    @staticmethod
    def round(strategy: str, size: int, latency_s: float, actions: Sequence[Any],
              proposals: Mapping[str, Sequence[Any]] | None,
              refusals: Sequence[Any] | None) -> None:
        """One allocation round closed."""
        metrics.observe("raymas_allocation_latency_s", latency_s, strategy=strategy)
        metrics.observe("raymas_allocation_round_size", size, strategy=strategy)
        awarded = sum(len(a.tasks) for a in actions if isinstance(a, Settle))
        metrics.count("raymas_allocation_awards", awarded, strategy=strategy)
        if proposals:
            metrics.count("raymas_proposals", sum(map(len, proposals.values())),
                          strategy=strategy)
        if refusals:
            metrics.count("raymas_refusals", len(refusals), strategy=strategy)

    def export(self, agents: Iterable[AgentEntry], task_counts: Mapping[str, int],
               stats: Mapping[str, float], mailboxes: Mapping[str, int] | None = None) -> None:
        """Gauges of agents, their mailboxes and tasks now; counters of what happened
        since the last call."""
        agents = list(agents)
        by: Counter[tuple[str, str]] = Counter(
            (a.spec.agent_type.value, agent_state(a)) for a in agents)
        depth: Counter[str] = Counter()
        for a in agents:
            if a.view.alive:
                depth[a.spec.agent_type.value] += (mailboxes or {}).get(a.spec.agent_id, 0)
        self._types |= {t for t, _ in by}
        for agent_type in self._types:  # a state that emptied goes back to 0
            for state in _AGENT_STATES:
                metrics.set_gauge("raymas_agents", by.get((agent_type, state), 0),
                                  agent_type=agent_type, state=state)
        for agent_type in self._types:
            metrics.set_gauge("raymas_mailbox_depth", depth.get(agent_type, 0),
                              agent_type=agent_type)
        for state in {*_TASK_STATES, *task_counts}:
            metrics.set_gauge("raymas_tasks", task_counts.get(state, 0), state=state)
        for state in _FINISHED:
            now, before = task_counts.get(state, 0), self._finished.get(state)
            if before is not None and now > before:
                metrics.count("raymas_tasks_finished", now - before, state=state)
            elif before is None and now:
                metrics.count("raymas_tasks_finished", now, state=state)
            self._finished[state] = now
        for key, (name, tags) in _COUNTERS.items():
            delta = stats.get(key, 0) - self._stats.get(key, 0)
            if delta > 0:
                metrics.count(name, delta, **tags)
            self._stats[key] = stats.get(key, 0)
