"""Optimal and greedy assignment of a round's tasks to agents with capacities.

When an agent's bid for a task does not depend on the other tasks it gets
(additive bids), a round is a transportation problem: choose agent-task pairs,
at most one agent per task and at most ``capacity`` tasks per agent, that place
as many tasks as possible and, among those, cost the least.  With every
capacity one it is the linear assignment problem, solved exactly by scipy's
``linear_sum_assignment``.  With larger capacities it is an integer programme
for ``scipy.optimize.milp`` (HiGHS); its constraint matrix is a bipartite
incidence matrix, totally unimodular, so the LP relaxation is already integral
and HiGHS finishes at the root.  The largest number of tasks that can be placed
is found first as a maximum flow, and fixed, so the cost objective needs no
big-M weight.  If HiGHS does not prove optimality within the time limit, the
better of its incumbent and the greedy answer (cheapest pair first) is kept,
marked inexact.

Costs are an ``(n_agents, n_tasks)`` array; ``inf`` (or ``nan``, which is what
``None`` becomes in a float array) means the agent refuses the task.

Example:
    >>> import numpy as np
    >>> costs = np.array([[1.0, 2.0], [1.5, 100.0]])
    >>> best = optimal_assignment(costs, [1, 1])
    >>> best.pairs, best.total, best.method
    ({0: 1, 1: 0}, 3.5, 'lsa')
    >>> greedy_assignment(costs, [1, 1]).total
    101.0
    >>> optimal_assignment(costs, [2, 0]).pairs
    {0: 0, 1: 0}
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from agents.errors import AllocationError
from agents.protocols.base import (
    AgentView,
    AllocationOutcome,
    Award,
    Proposal,
    StrategyBase,
    TaskView,
    Vote,
    task_order,
)
from agents.protocols.contract_net import best_proposals

__all__ = [
    "Assignment",
    "BidTable",
    "Costs",
    "OptimalStrategy",
    "greedy_assignment",
    "makespan",
    "optimal_assignment",
]

#: an ``(n_agents, n_tasks)`` array, or nested lists where ``None`` is a refusal
Costs = ArrayLike | Sequence[Sequence[float | None]]


@dataclass(frozen=True)
class Assignment:
    """Pairs chosen for a round.

    Attributes:
        pairs: task index -> agent index, sorted by task.
        total: sum of the costs of the pairs.
        method: ``"lsa"``, ``"milp"`` or ``"greedy"``: what produced the pairs.
        exact: True when the pairs are proven optimal (most tasks, then least cost).
        unassigned: task indices left, because capacity ran short or nobody can.
    """

    pairs: dict[int, int]
    total: float
    method: str
    exact: bool
    unassigned: tuple[int, ...]

    def by_agent(self) -> dict[int, list[int]]:
        """Agent index -> its task indices, ascending (agents without tasks absent)."""
        out: dict[int, list[int]] = {}
        for task, agent in self.pairs.items():
            out.setdefault(agent, []).append(task)
        return out


def _prepare(costs: Costs, capacities: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Validated float costs (refusals as inf) and integer capacities clipped to n_tasks."""
    c = np.array(costs, dtype=float)
    if c.ndim != 2:
        raise AllocationError(
            f"costs must be a 2-D array (agents x tasks), got shape {c.shape}"
        )
    c[np.isnan(c)] = math.inf
    if np.isneginf(c).any():
        raise AllocationError("costs must not contain -inf (use inf for a refusal)")
    try:
        caps = np.array([operator.index(k) for k in capacities], dtype=np.int64)
    except TypeError as exc:
        raise AllocationError(f"capacities must be integers, got {list(capacities)!r}") from exc
    if caps.shape != (c.shape[0],):
        raise AllocationError(
            f"{len(caps)} capacities for {c.shape[0]} agents (costs has shape {c.shape})"
        )
    if (caps < 0).any():
        raise AllocationError(f"capacities must be >= 0, got {caps.tolist()}")
    return c, np.minimum(caps, c.shape[1])


def _result(c: np.ndarray, pairs: Mapping[int, int], method: str, exact: bool) -> Assignment:
    ordered = dict(sorted(pairs.items()))
    total = math.fsum(float(c[a, t]) for t, a in ordered.items())
    left = tuple(t for t in range(c.shape[1]) if t not in ordered)
    return Assignment(ordered, total, method, exact, left)


def _greedy(c: np.ndarray, caps: np.ndarray) -> dict[int, int]:
    agent, task = np.nonzero(np.isfinite(c) & (caps[:, None] > 0))
    order = np.lexsort((task, agent, c[agent, task]))  # cost, then agent, then task
    left = caps.copy()
    room = int(caps.sum())
    pairs: dict[int, int] = {}
    for k in order.tolist():
        a, t = int(agent[k]), int(task[k])
        if t in pairs or left[a] == 0:
            continue
        pairs[t] = a
        left[a] -= 1
        if len(pairs) == room:
            break
    return pairs


def greedy_assignment(costs: Costs, capacities: Sequence[int]) -> Assignment:
    """Cheapest pair first, repeated while a task is open and its agent has room.

    Ties go to the lower agent index, then the lower task index.
    """
    c, caps = _prepare(costs, capacities)
    return _result(c, _greedy(c, caps), "greedy", False)


def makespan(costs: Costs, pairs: Mapping[int, int]) -> float:
    """The largest sum of task costs over agents (0.0 for no pairs)."""
    c = np.array(costs, dtype=float)
    loads: dict[int, float] = {}
    for task, agent in pairs.items():
        value = float(c[agent, task])
        loads[agent] = loads.get(agent, 0.0) + (math.inf if math.isnan(value) else value)
    return max(loads.values(), default=0.0)


Pairs = list[tuple[int, int]]


def _lsa(sub: np.ndarray) -> Pairs:
    """(row, column) pairs of a min-cost maximum matching of finite entries."""
    from scipy.optimize import linear_sum_assignment  # lazy: agent processes never solve
    finite = np.isfinite(sub)
    shifted = np.where(finite, sub - sub[finite].min(), 0.0)
    # One more finite pair always beats any change in cost among finite pairs.
    big = min(sub.shape) * float(shifted.max()) + 1.0
    rows, cols = linear_sum_assignment(np.where(finite, shifted, big))
    return [(int(r), int(k)) for r, k in zip(rows, cols, strict=True) if finite[r, k]]


def _max_pairs(agent: np.ndarray, task: np.ndarray, caps: np.ndarray, n_tasks: int) -> int:
    """Most tasks placeable: max flow source -> agent (cap) -> task (1) -> sink."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_flow

    n_agents = len(caps)
    sink = n_agents + n_tasks + 1
    heads = np.concatenate([np.zeros(n_agents, int), 1 + agent, 1 + n_agents + np.arange(n_tasks)])
    tails = np.concatenate([1 + np.arange(n_agents), 1 + n_agents + task, np.full(n_tasks, sink)])
    flows = np.concatenate([caps, np.ones(len(agent), int), np.ones(n_tasks, int)])
    graph = csr_array((flows.astype(np.int32), (heads, tails)), shape=(sink + 1, sink + 1))
    return int(maximum_flow(graph, 0, sink).flow_value)


def _milp(sub: np.ndarray, caps: np.ndarray, time_limit_s: float) -> tuple[Pairs | None, bool]:
    """(row, column) pairs from HiGHS and whether they are proven optimal."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array

    agent, task = np.nonzero(np.isfinite(sub))
    n_agents, n_tasks = sub.shape
    n = len(agent)
    most = _max_pairs(agent, task, caps, n_tasks)
    ones, var = np.ones(n), np.arange(n)
    per_task = csr_array((ones, (task, var)), shape=(n_tasks, n))
    per_agent = csr_array((ones, (agent, var)), shape=(n_agents, n))
    if most == n_tasks:  # every task placed: no dense cardinality row needed
        constraints = [LinearConstraint(per_task, 1, 1), LinearConstraint(per_agent, 0, caps)]
    elif most == int(caps.sum()):  # every agent full
        constraints = [LinearConstraint(per_task, 0, 1), LinearConstraint(per_agent, caps, caps)]
    else:
        constraints = [
            LinearConstraint(per_task, 0, 1),
            LinearConstraint(per_agent, 0, caps),
            LinearConstraint(csr_array(np.ones((1, n))), most, most),
        ]
    res = milp(
        sub[agent, task],
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        constraints=constraints,
        options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0},
    )
    if res.x is None:
        return None, False
    chosen = np.flatnonzero(res.x > 0.5)
    rows, cols = agent[chosen], task[chosen]
    if len(set(cols.tolist())) != len(cols) or (np.bincount(rows, minlength=n_agents) > caps).any():
        return None, False  # numerically broken answer: never trust it
    pairs = list(zip(rows.tolist(), cols.tolist(), strict=True))
    return pairs, res.status == 0 and len(pairs) == most


def optimal_assignment(
    costs: Costs, capacities: Sequence[int], time_limit_s: float = 10.0
) -> Assignment:
    """The assignment placing the most tasks and, among those, costing the least.

    Args:
        costs: ``(n_agents, n_tasks)``; ``inf`` or ``nan`` means the agent refuses.
        capacities: tasks each agent may take (>= 0).
        time_limit_s: HiGHS's limit when some capacity exceeds one; ``<= 0``
            skips the solver and returns the greedy answer.

    Returns:
        ``method="lsa"`` (capacities one) or ``"milp"``, ``exact=True`` when
        proven optimal; else the better of the solver's incumbent and the greedy
        answer (more tasks, then lower cost), ``exact=False``.  Among optima of
        equal cost the solver's choice is kept (deterministic for a given input).

    Raises:
        AllocationError: bad shape, capacities or a ``-inf`` cost.
    """
    c, caps = _prepare(costs, capacities)
    usable = np.isfinite(c) & (caps[:, None] > 0)
    rows = np.flatnonzero(usable.any(axis=1))
    cols = np.flatnonzero(usable.any(axis=0))
    sub = c[np.ix_(rows, cols)]
    if int(caps[rows].max(initial=0)) <= 1:
        if sub.size == 0:
            return _result(c, {}, "lsa", True)
        pairs = {int(cols[k]): int(rows[r]) for r, k in _lsa(sub)}
        return _result(c, pairs, "lsa", True)
    greedy = _result(c, _greedy(c, caps), "greedy", False)
    if time_limit_s <= 0:
        return greedy
    found, exact = _milp(sub, caps[rows], time_limit_s)
    if found is None:
        return greedy
    solved = _result(c, {int(cols[k]): int(rows[r]) for r, k in found}, "milp", exact)
    if exact or (-len(solved.pairs), solved.total) <= (-len(greedy.pairs), greedy.total):
        return solved
    return greedy


@dataclass
class BidTable:
    """A round's proposals as a cost matrix, shared by the whole-round strategies.

    Rows are the usable agents (alive, with a free slot), sorted by id; columns
    the tasks in :func:`~agents.protocols.base.task_order`.  An entry is the
    agent's lowest finite proposal for the task, ``inf`` where it has none (a
    non-finite cost is a refusal).

    Attributes:
        tasks: the tasks, in column order.
        agent_ids: the agents, in row order.
        costs: ``(len(agent_ids), len(tasks))``.
        capacities: each row's free slots.
        proposers: per task, every agent that proposed (sorted), for ``rejected``.
        reasons: task id -> why no usable agent bid on it at all.
    """

    tasks: list[TaskView]
    agent_ids: list[str]
    costs: np.ndarray
    capacities: list[int]
    proposers: list[tuple[str, ...]]
    reasons: dict[str, str]

    @classmethod
    def from_proposals(
        cls,
        tasks: Sequence[TaskView],
        agents: Mapping[str, AgentView],
        proposals: Mapping[str, Sequence[Proposal]],
    ) -> BidTable:
        ordered = task_order(tasks)
        ids = sorted(k for k, a in agents.items() if a.alive and a.free > 0)
        row = {a: i for i, a in enumerate(ids)}
        costs = np.full((len(ids), len(ordered)), math.inf)
        proposers: list[tuple[str, ...]] = []
        reasons: dict[str, str] = {}
        for j, task in enumerate(ordered):
            bids = proposals.get(task.task_id, ())
            proposers.append(tuple(sorted({p.agent_id for p in bids})))
            usable = best_proposals(task, bids, agents)
            for p in usable:
                if math.isfinite(p.cost):
                    costs[row[p.agent_id], j] = min(costs[row[p.agent_id], j], p.cost)
            if not bids:
                reasons[task.task_id] = "no proposal before the deadline"
            elif not usable:
                reasons[task.task_id] = "every proposing agent is gone or at capacity"
            elif not np.isfinite(costs[:, j]).any():
                reasons[task.task_id] = "every proposal refuses the task (non-finite cost)"
        caps = [agents[a].free for a in ids]
        return cls(list(ordered), ids, costs, caps, proposers, reasons)

    def outcome(
        self, pairs: Mapping[int, int], agents: Mapping[str, AgentView]
    ) -> AllocationOutcome:
        """Awards (in task order) for ``pairs`` (task column -> agent row); loads += 1."""
        out = AllocationOutcome()
        for j, task in enumerate(self.tasks):
            i = pairs.get(j)
            if i is None:
                out.pending[task.task_id] = self.reasons.get(
                    task.task_id,
                    "the free slots of the agents that proposed went to other tasks "
                    "of this round",
                )
                continue
            agent_id = self.agent_ids[i]
            cost = float(self.costs[i, j])
            if not math.isfinite(cost):
                raise AllocationError(f"task {task.task_id!r} paired with {agent_id!r}, "
                                      "which did not bid on it")
            agents[agent_id].load += 1
            rejected = tuple(a for a in self.proposers[j] if a != agent_id)
            out.awards.append(Award(task.task_id, agent_id, cost, rejected))
        return out


class OptimalStrategy(StrategyBase):
    """The cost-minimal assignment of a round's proposals, respecting free slots.

    Bids are taken as additive (an agent's cost for a task does not depend on
    its other tasks).  Each task gets its price = the winner's bid; the other
    proposers are rejected.  :attr:`last` keeps the :class:`Assignment` of the
    latest round (method, exactness).

    Example:
        >>> import numpy as np
        >>> from agents.protocols.base import AgentView, Proposal, TaskView
        >>> agents = {n: AgentView(n, frozenset(), 1) for n in "ab"}
        >>> bids = {"t1": [Proposal("t1", "a", 1.0), Proposal("t1", "b", 1.5)],
        ...         "t2": [Proposal("t2", "a", 2.0), Proposal("t2", "b", 100.0)]}
        >>> out = OptimalStrategy().allocate([TaskView("t1"), TaskView("t2")], agents,
        ...                                  bids, np.random.default_rng(0))
        >>> out.awarded_to()
        {'t1': 'b', 't2': 'a'}
    """

    name = "optimal"
    needs_proposals = True
    whole_round = True

    def __init__(self, time_limit_s: float = 10.0) -> None:
        self.time_limit_s = time_limit_s
        self.last: Assignment | None = None

    def allocate(
        self,
        tasks: Sequence[TaskView],
        agents: Mapping[str, AgentView],
        proposals: Mapping[str, Sequence[Proposal]],
        rng: np.random.Generator,
        votes: Mapping[str, Sequence[Vote]] | None = None,
        electorate: Mapping[str, Sequence[str]] | None = None,
    ) -> AllocationOutcome:
        table = BidTable.from_proposals(tasks, agents, proposals)
        self.last = optimal_assignment(table.costs, table.capacities, self.time_limit_s)
        return table.outcome(self.last.pairs, agents)
