"""Sequential single-item (SSI) auctions: one task awarded at a time.

Each auction of the sequence takes every agent's bid on every open task (the
*marginal* cost of adding that task to what the agent already holds, e.g. the
extra travel of inserting a delivery into its route) and awards the single
lowest bid.  Only the winner's bundle changed, so only the winner re-bids
before the next auction.  With additive bids (marginals that ignore the
bundle) SSI is exactly the greedy assignment, cheapest pair first; with route
costs it builds routes an assignment over separate costs cannot see.

:class:`SequentialAuction` is the bookkeeping of one round (pure: the caller
supplies the re-bids, so a Supervisor can ask real agents); :func:`ssi` drives
it with a marginal-cost function.  Ties go to the lower bid, then the lower
agent id, then the lower task id.

Example:
    >>> where = {"a": 0.0, "b": 10.0, "t1": 1.0, "t2": 2.0, "t3": 9.0}
    >>> def extra(agent, held, task):  # travel along a line, visiting in order
    ...     last = where[held[-1]] if held else where[agent]
    ...     return abs(where[task] - last)
    >>> ssi(["t1", "t2", "t3"], {"a": 2, "b": 2}, extra)
    {'t1': 'a', 't2': 'a', 't3': 'b'}
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from agents.errors import AllocationError
from agents.protocols.assignment import BidTable
from agents.protocols.base import (
    AgentView,
    AllocationOutcome,
    Proposal,
    StrategyBase,
    TaskView,
    Vote,
)
from agents.protocols.exchanges import improve

__all__ = ["Marginal", "SequentialAuction", "SsiStrategy", "ssi"]

#: marginal(agent_id, held_tasks_in_award_order, task_id) -> extra cost, or None to refuse
Marginal = Callable[[str, Sequence[str], str], float | None]


class SequentialAuction:
    """SSI over one round: the lowest open bid wins, then its agent re-bids.

    Args:
        task_ids: the tasks to auction (distinct).
        capacities: agent id -> tasks it may win (>= 0).
        bids: ``bids[agent][task]`` = the agent's marginal cost of adding the
            task to what it holds; ``None``, ``inf`` or ``nan`` refuse.

    Raises:
        AllocationError: duplicate or unknown task ids, an agent without a
            capacity, a negative or non-integer capacity, a ``-inf`` bid.

    Example:
        >>> auction = SequentialAuction(["t1", "t2"], {"a": 1, "b": 1},
        ...                             {"a": {"t1": 1.0, "t2": 2.0}, "b": {"t1": 3.0}})
        >>> auction.next_award()
        ('t1', 'a', 1.0)
        >>> auction.next_award() is None, auction.unassigned_reasons()
        (True, {'t2': 'every agent that bid on it is at capacity'})
    """

    def __init__(
        self,
        task_ids: Sequence[str],
        capacities: Mapping[str, int],
        bids: Mapping[str, Mapping[str, float | None]],
    ) -> None:
        self._tasks = list(task_ids)
        if len(set(self._tasks)) != len(self._tasks):
            raise AllocationError(f"duplicate task ids in an SSI round: {self._tasks}")
        self._open: dict[str, None] = dict.fromkeys(self._tasks)  # ordered set
        self._left: dict[str, int] = {}
        for agent, cap in capacities.items():
            try:
                self._left[agent] = operator.index(cap)
            except TypeError as exc:
                raise AllocationError(f"capacity of {agent!r} must be an integer, "
                                      f"got {cap!r}") from exc
            if self._left[agent] < 0:
                raise AllocationError(f"capacity of {agent!r} must be >= 0, got {cap}")
        self._held: dict[str, list[str]] = {a: [] for a in sorted(self._left)}
        self._bids: dict[str, dict[str, float]] = {a: {} for a in self._left}
        self._version: dict[str, int] = dict.fromkeys(self._left, 0)
        self._awarded: dict[str, str] = {}
        self._heap: list[tuple[float, str, str, int]] = []
        for agent, agent_bids in bids.items():
            self._store(agent, agent_bids)
        self._rebuild()

    def _store(self, agent: str, bids: Mapping[str, float | None]) -> list[str]:
        """Replace ``agent``'s bids; returns the open tasks it bids on."""
        if agent not in self._left:
            raise AllocationError(f"{agent!r} bids in an SSI round but has no capacity entry")
        clean: dict[str, float] = {}
        for task, cost in bids.items():
            if task not in self._open and task not in self._awarded:
                raise AllocationError(f"{agent!r} bids on {task!r}, not a task of this round")
            if cost is None or math.isnan(cost) or cost == math.inf:
                continue
            if cost == -math.inf:
                raise AllocationError(f"{agent!r} bids -inf on {task!r}")
            clean[task] = float(cost)
        self._bids[agent] = clean
        self._version[agent] += 1
        return [t for t in clean if t in self._open]

    def _rebuild(self) -> None:
        """The heap from the live bids only (drops the stale entries)."""
        self._heap = [
            (cost, agent, task, self._version[agent])
            for agent, bids in self._bids.items()
            if self._left[agent] > 0
            for task, cost in bids.items()
            if task in self._open
        ]
        heapq.heapify(self._heap)
        self._compact_at = 2 * len(self._heap) + 1024

    def _live(self, entry: tuple[float, str, str, int]) -> bool:
        _, agent, task, version = entry
        return version == self._version[agent] and task in self._open and self._left[agent] > 0

    def next_award(self) -> tuple[str, str, float] | None:
        """Award the lowest bid on an open task by an agent with room.

        Returns:
            ``(task_id, agent_id, cost)``, recorded; None when nothing more can
            be awarded (every open task unbid, or its bidders full).
        """
        while self._heap:
            entry = heapq.heappop(self._heap)
            if not self._live(entry):
                continue
            cost, agent, task, _ = entry
            del self._open[task]
            self._left[agent] -= 1
            self._held[agent].append(task)
            self._awarded[task] = agent
            return task, agent, cost
        return None

    def rebid(self, agent_id: str, bids: Mapping[str, float | None]) -> None:
        """Replace ``agent_id``'s bids (an open task missing from ``bids`` is refused).

        Bids on tasks already awarded are ignored.
        """
        for task in self._store(agent_id, bids):
            heapq.heappush(self._heap, (self._bids[agent_id][task], agent_id, task,
                                        self._version[agent_id]))
        if len(self._heap) > self._compact_at:
            self._rebuild()

    def withdraw(self, agent_id: str) -> list[str]:
        """An agent died mid-round: it wins nothing more and its tasks reopen.

        Returns the reopened tasks.  Agents that re-bid after such a task was
        awarded have no bid on it until :meth:`rebid` gives them one.
        """
        if agent_id not in self._left:
            raise AllocationError(f"{agent_id!r} is not an agent of this SSI round")
        back = self._held[agent_id]
        self._held[agent_id] = []
        self._left[agent_id] = 0
        self._bids[agent_id] = {}
        self._version[agent_id] += 1
        for task in back:
            del self._awarded[task]
        self._open = {t: None for t in self._tasks if t in self._open or t in back}
        self._rebuild()
        return back

    def capacity_left(self, agent_id: str) -> int:
        """How many more tasks ``agent_id`` may win."""
        return self._left[agent_id]

    @property
    def held(self) -> dict[str, list[str]]:
        """Agent -> the tasks it won, in award order (a copy; every agent listed)."""
        return {a: list(ts) for a, ts in self._held.items()}

    @property
    def open_tasks(self) -> list[str]:
        """Tasks not awarded yet, in the order given."""
        return list(self._open)

    @property
    def awarded(self) -> dict[str, str]:
        """Task -> agent, in award order."""
        return dict(self._awarded)

    def unassigned_reasons(self) -> dict[str, str]:
        """Open task -> why it is open."""
        reasons: dict[str, str] = {}
        for task in self._open:
            bidders = [a for a, bids in self._bids.items() if task in bids]
            if not bidders:
                reasons[task] = "no agent bid on it"
            elif all(self._left[a] <= 0 for a in bidders):
                reasons[task] = "every agent that bid on it is at capacity"
            else:
                reasons[task] = "not auctioned yet"
        return reasons


def ssi(
    task_ids: Sequence[str], capacities: Mapping[str, int], marginal: Marginal
) -> dict[str, str]:
    """Run SSI to the end; ``marginal(agent, held_in_order, task)`` prices each bid.

    Every agent with capacity bids on every task against an empty bundle; after
    each award only the winner re-bids, on the tasks still open, given its new
    bundle.

    Returns:
        task -> agent, in award order (so each agent's tasks, read in order,
        are its bundle as built).  Tasks nobody could take are absent.
    """
    agents = sorted(a for a, k in capacities.items() if k > 0)
    ids = list(task_ids)
    auction = SequentialAuction(
        ids, capacities, {a: {t: marginal(a, (), t) for t in ids} for a in agents}
    )
    while (award := auction.next_award()) is not None:
        winner = award[1]
        if auction.capacity_left(winner) > 0:
            held = tuple(auction.held[winner])
            auction.rebid(winner, {t: marginal(winner, held, t) for t in auction.open_tasks})
    return auction.awarded


class SsiStrategy(StrategyBase):
    """SSI over one round's proposals, then task exchanges where the bids add up.

    Where the agents' costs add up (their bids do not depend on what else they
    hold) the proposals are every re-bid there would be, so the auctions equal
    the greedy assignment (cheapest pair first); the exchanges that follow
    (``exchanges=True``: moves and swaps while the total drops, see
    :mod:`agents.protocols.exchanges`) repair what the greedy order committed
    to early.  Where bids depend on the bundle (routes), the Supervisor's
    shell drives :class:`SequentialAuction` with the winners' real re-bids and
    hands the outcome to :meth:`decide`; no exchanges then.  Awards come in
    task order, priced at the winning bid.

    Example:
        >>> import numpy as np
        >>> from agents.protocols.base import AgentView, Proposal, TaskView
        >>> agents = {"a": AgentView("a", frozenset(), 1)}
        >>> bids = {"t1": [Proposal("t1", "a", 2.0)], "t2": [Proposal("t2", "a", 1.0)]}
        >>> out = SsiStrategy().allocate([TaskView("t1"), TaskView("t2")], agents, bids,
        ...                              np.random.default_rng(0))
        >>> out.awarded_to(), list(out.pending)
        ({'t2': 'a'}, ['t1'])
    """

    name = "ssi"
    needs_proposals = True
    whole_round = True
    rebids = True

    def __init__(self, exchanges: bool = True) -> None:
        self._decided: dict[str, tuple[str, float]] | None = None
        #: follow the auctions with task exchanges (:mod:`agents.protocols.exchanges`)
        #: where the bids add up, as market-based allocators do
        self.exchanges = exchanges
        #: exchanges the last :meth:`allocate` made
        self.exchanged = 0

    def decide(self, won: Mapping[str, tuple[str, float]]) -> None:
        """The outcome of the sequential auctions a shell ran with real re-bids (task ->
        (winner, its bid)): the next :meth:`allocate` awards exactly that."""
        self._decided = dict(won)

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
        column = {t.task_id: j for j, t in enumerate(table.tasks)}
        row_of = {a: i for i, a in enumerate(table.agent_ids)}
        if self._decided is not None:  # the winners the re-bids chose, at their bids
            decided, self._decided = self._decided, None
            table.costs[:] = np.inf
            for task_id, (agent_id, bid) in decided.items():
                if task_id in column and agent_id in row_of:
                    table.costs[row_of[agent_id], column[task_id]] = bid
            return table.outcome({column[t]: row_of[a] for t, (a, _) in decided.items()
                                  if t in column and a in row_of}, agents)
        ids = [t.task_id for t in table.tasks]
        bids = {
            a: {ids[j]: float(table.costs[i, j]) for j in np.flatnonzero(np.isfinite(row))}
            for i, (a, row) in enumerate(zip(table.agent_ids, table.costs, strict=True))
        }
        caps = dict(zip(table.agent_ids, table.capacities, strict=True))
        auction = SequentialAuction(ids, caps, bids)
        pairs: dict[int, int] = {}
        while (award := auction.next_award()) is not None:
            pairs[column[award[0]]] = row_of[award[1]]
        if self.exchanges:  # the bids add up: moves and swaps while the total drops
            pairs, self.exchanged = improve(pairs, table.costs, table.capacities)
        return table.outcome(pairs, agents)
