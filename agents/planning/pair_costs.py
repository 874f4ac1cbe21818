"""The h² heuristic: the cost of reaching every single fact and every pair of facts.

Used by regression search.  A pair that the start state can never reach (a
*mutex*, such as "x is on y" and "y is clear") has an infinite cost, so a
regressed subgoal holding one is pruned; the costs themselves are an
admissible and consistent estimate for the remaining subgoals.  Facts are
``(key index, value)`` pairs; one computation per problem, from its start.

Example:
    >>> h = PairCosts([0, 0], [((0, 0),), ((1, 0),)], [((0, 1),), ((1, 1),)], [1.0, 1.0],
    ...               [(0, 1), (1, 1)])
    >>> h.estimate([(0, 1), (1, 1)]), h.estimate([(0, 1), (0, 0)])
    (2.0, inf)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["PairCosts"]

Fact = tuple[int, Any]


class PairCosts:
    """h¹ and h² costs from ``start`` (one value per key; ``None`` entries are absent)."""

    def __init__(self, start: Sequence[Any], pre: Sequence[Sequence[Fact]],
                 eff: Sequence[Sequence[Fact]], costs: Sequence[float],
                 extra: Iterable[Fact] = (), absent: Any = None) -> None:
        ids: dict[Fact, int] = {}
        for f in [*((i, v) for i, v in enumerate(start) if v is not absent), *extra,
                  *(f for p in pre for f in p), *(f for e in eff for f in e)]:
            ids.setdefault(f, len(ids))
        self.ids = ids
        n = len(ids)
        self.n = n
        var = [f[0] for f in ids]
        self.single = [math.inf] * n
        self.pair: dict[int, float] = {}
        known = [ids[(i, v)] for i, v in enumerate(start) if v is not absent]
        for a in known:
            self.single[a] = 0.0
            for b in known:
                self.pair[self._key(a, b)] = 0.0
        acts = []
        for p, e, c in zip(pre, eff, costs, strict=True):
            pf, ef = [ids[f] for f in p], [ids[f] for f in e]
            touched = {f[0] for f in e} | {f[0] for f in p}
            # facts that can stay true while the action runs: untouched keys, or kept values
            keep = [q for q in range(n) if var[q] not in touched]
            keep += [q for q in pf if var[q] not in {f[0] for f in e}]
            acts.append((pf, ef, keep, c))
        changed = True
        while changed:
            changed = False
            for pf, ef, keep, c in acts:
                base = self.estimate_ids(pf)
                if base == math.inf:
                    continue
                for x in ef:
                    if base + c < self.single[x]:
                        self.single[x] = base + c
                        changed = True
                    for y in ef:
                        changed |= self._lower(x, y, base + c)
                for q in keep:
                    if self.single[q] == math.inf:
                        continue
                    cq = max([base, self.single[q], *(self._get(q, r) for r in pf)])
                    if cq < math.inf:
                        for x in ef:
                            changed |= self._lower(x, q, cq + c)

    def estimate(self, facts: Iterable[Fact]) -> float:
        """The h² cost of making all ``facts`` true together (``inf``: never)."""
        ids = []
        for f in facts:
            if f not in self.ids:
                return math.inf
            ids.append(self.ids[f])
        return self.estimate_ids(ids)

    def estimate_ids(self, ids: Sequence[int]) -> float:
        single, pair, n = self.single, self.pair, self.n
        best = 0.0
        for k, a in enumerate(ids):
            best = max(best, single[a])
            for b in ids[k + 1:]:
                best = max(best, pair.get(a * n + b if a < b else b * n + a, math.inf))
            if best == math.inf:
                break
        return best

    def _key(self, a: int, b: int) -> int:
        return a * self.n + b if a <= b else b * self.n + a

    def _get(self, a: int, b: int) -> float:
        return self.single[a] if a == b else self.pair.get(self._key(a, b), math.inf)

    def _lower(self, a: int, b: int, cost: float) -> bool:
        if a == b:
            return False
        key = self._key(a, b)
        if cost < self.pair.get(key, math.inf):
            self.pair[key] = cost
            return True
        return False
