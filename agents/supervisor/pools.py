"""Agent pools that follow the load: pure, no Ray.

A pool is a group of agents made from one template, between ``min`` and
``max`` of them.  At each tick the Supervisor shows it the tasks waiting for
an agent (their capabilities and how long they waited) and the load of its
agents; the pool answers what to do:

- **grow** when a task it could take has waited ``grow_after_s`` or more: by
  enough agents to give every such task a slot (at most ``step`` at a time),
  then no more growth until those agents are up and ``grow_after_s`` passed
  again, so a burst is not answered twice;
- **shrink** when one of its agents has had nothing to do for ``idle_after_s``:
  down to ``min``, the longest idle first.  A retired agent is drained by the
  Supervisor (no new work; what it runs finishes or goes back to the queue).

Example:
    >>> pool = Pool(PoolSpec("w", {"agent_id": "w", "capabilities": ["x"]}, 1, 3,
    ...                      grow_after_s=1.0, idle_after_s=5.0, capacity=2))
    >>> pool.started(pool.next_ids(1), now=0.0)
    >>> pool.decide(0.5, [(("x",), 2.0)] * 3, {"w-0": 2})  # 3 tasks, 2 slots each
    Grow(agent_ids=['w-1', 'w-2'])
    >>> pool.started(["w-1", "w-2"], now=0.5)
    >>> idle = {"w-0": 0, "w-1": 0, "w-2": 0}
    >>> pool.decide(1.0, [], idle), pool.decide(6.1, [], idle)
    (None, Shrink(agent_ids=['w-1', 'w-2']))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Grow", "Pool", "PoolSpec", "Shrink"]


@dataclass(frozen=True)
class PoolSpec:
    """A pool: its name, the template of its agents, its bounds and its timings."""

    name: str
    template: dict[str, Any]
    min: int = 0
    max: int = 1
    #: a task the pool could take waiting this long makes it grow
    grow_after_s: float = 2.0
    #: an agent with nothing to do this long is retired (down to ``min``)
    idle_after_s: float = 30.0
    #: most agents added at once
    step: int = 8
    #: tasks one agent takes at a time (its task limit)
    capacity: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.min <= self.max or self.max < 1:
            raise ValueError(f"pool {self.name!r}: need 0 <= min <= max and max >= 1, got "
                             f"min={self.min}, max={self.max}")
        if self.grow_after_s < 0 or self.idle_after_s <= 0 or self.step < 1:
            raise ValueError(f"pool {self.name!r}: grow_after_s >= 0, idle_after_s > 0 and "
                             f"step >= 1 required")

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(self.template.get("capabilities", ["execution"]))


@dataclass(frozen=True)
class Grow:
    agent_ids: list[str]


@dataclass(frozen=True)
class Shrink:
    agent_ids: list[str]


@dataclass
class Pool:
    """One pool's members and what it saw of them (see the module docstring)."""

    spec: PoolSpec
    members: list[str] = field(default_factory=list)
    #: agent -> when it was first seen with nothing to do (absent: busy)
    idle_since: dict[str, float] = field(default_factory=dict)
    next_index: int = 0
    #: agents asked for and not started yet (they count as members meanwhile)
    starting: int = 0
    last_grow: float = -math.inf
    grown: int = 0
    shrunk: int = 0

    def next_ids(self, n: int) -> list[str]:
        ids = [f"{self.spec.template['agent_id']}-{self.next_index + i}" for i in range(n)]
        self.next_index += n
        return ids

    def started(self, agent_ids: Sequence[str], now: float) -> None:
        """Agents of the pool are up (at creation, or after a grow)."""
        self.members.extend(a for a in agent_ids if a not in self.members)
        self.starting = max(0, self.starting - len(agent_ids))
        for agent_id in agent_ids:
            self.idle_since.setdefault(agent_id, now)

    def failed_to_start(self, n: int) -> None:
        self.starting = max(0, self.starting - n)

    def retired(self, agent_ids: Iterable[str]) -> None:
        for agent_id in agent_ids:
            if agent_id in self.members:
                self.members.remove(agent_id)
            self.idle_since.pop(agent_id, None)

    def decide(self, now: float, waiting: Sequence[tuple[Sequence[str], float]],
               loads: Mapping[str, int]) -> Grow | Shrink | None:
        """What to do now, given the tasks waiting ``(required capabilities, seconds
        waited)`` and the load of each member (a member missing from ``loads`` is
        dead or gone: it is no longer counted)."""
        self.retired([a for a in self.members if a not in loads])
        for agent_id in self.members:
            if loads[agent_id] > 0:
                self.idle_since.pop(agent_id, None)
            else:
                self.idle_since.setdefault(agent_id, now)
        caps = self.spec.capabilities
        mine = [w for needs, w in waiting if set(needs) <= caps]
        stale = sum(1 for w in mine if w >= self.spec.grow_after_s)
        size = len(self.members) + self.starting
        if stale and size < self.spec.max and self.starting == 0 \
                and now - self.last_grow >= self.spec.grow_after_s:
            free = sum(max(0, self.spec.capacity - loads[a]) for a in self.members)
            want = math.ceil(max(0, len(mine) - free) / self.spec.capacity)
            n = min(max(1, want), self.spec.step, self.spec.max - size)
            self.starting += n
            self.last_grow = now
            self.grown += n
            return Grow(self.next_ids(n))
        if mine or len(self.members) <= self.spec.min:
            return None
        idle = sorted((since, a) for a, since in self.idle_since.items()
                      if now - since >= self.spec.idle_after_s and a in self.members)
        if not idle:
            return None
        out = [a for _, a in idle][:len(self.members) - self.spec.min]
        self.shrunk += len(out)
        self.retired(out)
        return Shrink(out)

    def status(self) -> dict[str, Any]:
        return {"name": self.spec.name, "members": sorted(self.members),
                "size": len(self.members), "starting": self.starting, "min": self.spec.min,
                "max": self.spec.max, "grown": self.grown, "shrunk": self.shrunk}
