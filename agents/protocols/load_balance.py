"""Load balancing: least-loaded and power-of-two-choices.

Neither asks agents anything: both place tasks from the Supervisor's view of
capacity and load, respecting capabilities.

Example:
    >>> import numpy as np
    >>> from agents.protocols.base import AgentView, TaskView
    >>> agents = {"a": AgentView("a", frozenset({"x"}), 2, load=1),
    ...           "b": AgentView("b", frozenset({"x"}), 2, load=0)}
    >>> LeastLoaded().allocate([TaskView("t", ("x",))], agents, {},
    ...                        np.random.default_rng(0)).awarded_to()
    {'t': 'b'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agents.protocols.base import (
    AgentView,
    AllocationOutcome,
    Award,
    Proposal,
    StrategyBase,
    TaskView,
    Vote,
    capable_agents,
    task_order,
)

__all__ = ["LeastLoaded", "PowerOfTwoChoices"]


def _utilisation(agent: AgentView) -> tuple[float, int, str]:
    return (agent.load / agent.capacity if agent.capacity else 1.0, -agent.capacity, agent.agent_id)


class _Balancer(StrategyBase):
    """Place tasks one by one on a capable agent with a free slot picked by :meth:`choose`."""

    name = "balancer"
    needs_proposals = False

    def choose(self, free: list[AgentView], rng: np.random.Generator) -> AgentView:
        raise NotImplementedError

    def allocate(
        self,
        tasks: Sequence[TaskView],
        agents: Mapping[str, AgentView],
        proposals: Mapping[str, Sequence[Proposal]],
        rng: np.random.Generator,
        votes: Mapping[str, Sequence[Vote]] | None = None,
        electorate: Mapping[str, Sequence[str]] | None = None,
    ) -> AllocationOutcome:
        out = AllocationOutcome()
        for task in task_order(tasks):
            free = [a for a in capable_agents(task, agents) if a.free > 0]
            if not free:
                out.pending[task.task_id] = _why_pending(task, agents)
                continue
            best = self.choose(free, rng)
            best.load += 1
            out.awards.append(Award(task.task_id, best.agent_id))
        return out


class LeastLoaded(_Balancer):
    """Each task goes to the capable agent with the lowest utilisation (ties: id)."""

    name = "least_loaded"

    def choose(self, free: list[AgentView], rng: np.random.Generator) -> AgentView:
        return min(free, key=_utilisation)


class PowerOfTwoChoices(_Balancer):
    """Sample two capable agents with free slots at random; take the less loaded.

    Mitzenmacher's result: two random choices already give an exponentially
    better maximum load than one, at O(1) cost per task.
    """

    name = "power_of_two"

    def choose(self, free: list[AgentView], rng: np.random.Generator) -> AgentView:
        k = min(2, len(free))
        picks = [free[int(i)] for i in rng.choice(len(free), size=k, replace=False)]
        return min(picks, key=_utilisation)


def _why_pending(task: TaskView, agents: Mapping[str, AgentView]) -> str:
    if not capable_agents(task, agents):
        need = ", ".join(task.required_capabilities) or "nothing"
        return f"no live agent has capabilities [{need}]"
    return "every capable agent is at capacity"
