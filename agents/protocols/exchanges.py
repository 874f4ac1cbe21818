"""Task exchanges after an auction: move or swap tasks while the total cost drops.

Auctions that award one task at a time (sequential single-item auctions, and
the bundle algorithm, which reproduces them) commit early: the cheapest pair
goes first even when it leaves another agent a long way to go.  Market-based
allocators follow the auction with exchanges between agents — Sandholm's
O-contracts (one task moves to an agent with a free slot) and S-contracts
(two agents swap one task each) — taken whenever they lower the total cost,
until none does.  Every exchange strictly lowers the total, so it ends, at an
allocation no single move or swap improves; the tasks placed stay placed and
capacities hold.

This needs costs that add up (an agent's cost for a task does not depend on
its other tasks); for costs that do (routes), the exchanges would have to
ask the agents again, which this does not do.

Example:
    >>> import numpy as np
    >>> costs = np.array([[1.0, 2.0], [2.0, 9.0]])   # the greedy pick a-t0 leaves b-t1
    >>> improve({0: 0, 1: 1}, costs, [1, 1])
    ({0: 1, 1: 0}, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["improve"]

_EPS = 1e-12


def improve(pairs: Mapping[int, int], costs: np.ndarray, capacities: Sequence[int],
            max_passes: int = 100) -> tuple[dict[int, int], int]:
    """Moves and swaps that lower the total: (task -> agent after, exchanges made).

    Args:
        pairs: task column -> agent row, as an auction left them.
        costs: agents x tasks; ``inf`` where an agent refuses a task (never moved there).
        capacities: tasks each agent may hold.
        max_passes: a bound on the sweeps over the tasks (each sweep tries every task).
    """
    owner = dict(pairs)
    cost = np.asarray(costs, dtype=float)
    load = np.zeros(cost.shape[0], dtype=int)
    for a in owner.values():
        load[a] += 1
    caps = np.asarray(capacities, dtype=int)
    made = 0
    for _ in range(max_passes):
        changed = False
        for t1 in sorted(owner):
            a = owner[t1]
            free = np.flatnonzero(load < caps)
            if free.size:  # O-contract: the task goes where it is cheaper and there is room
                b = int(free[np.argmin(cost[free, t1])])
                if cost[b, t1] < cost[a, t1] - _EPS:
                    owner[t1], load[a], load[b] = b, load[a] - 1, load[b] + 1
                    a, changed, made = b, True, made + 1
            others = np.fromiter((t for t in owner if owner[t] != a), dtype=int)
            if not others.size:
                continue
            holders = np.fromiter((owner[int(t)] for t in others), dtype=int)
            # S-contract: a takes t2 from its holder b, b takes t1
            gain = (cost[a, t1] + cost[holders, others]
                    - cost[a, others] - cost[holders, t1])
            best = int(np.argmax(gain))
            if gain[best] > _EPS:
                t2, b = int(others[best]), int(holders[best])
                owner[t1], owner[t2] = b, a
                changed, made = True, made + 1
        if not changed:
            break
    return owner, made
