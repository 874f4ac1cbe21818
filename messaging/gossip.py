"""Epidemic push-pull gossip: the rumour store each agent keeps, and a round simulator.

Each round every agent contacts ``fanout`` random peers; it pushes the rumours
it knows and pulls the ones it lacks.  With push-pull a rumour reaches all N
agents in O(log N) rounds (Karp et al., 2000); :func:`simulate` measures it
with a seeded generator, and the actors use :class:`RumourStore` the same way.

Example:
    >>> import numpy as np
    >>> simulate(1000, fanout=1, rng=np.random.default_rng(0)) <= 12
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # agents import this module; numpy loads only for the simulator
    import numpy as np

__all__ = ["RumourStore", "simulate"]


class RumourStore:
    """Rumours one agent knows, by id, with how many rounds each has been spread."""

    def __init__(self, max_rounds: int = 20) -> None:
        self.max_rounds = max_rounds
        self._rumours: dict[str, Any] = {}
        self._age: dict[str, int] = {}

    def __contains__(self, rumour_id: str) -> bool:
        return rumour_id in self._rumours

    def __len__(self) -> int:
        return len(self._rumours)

    def add(self, rumour_id: str, rumour: Any) -> bool:
        """Learn a rumour; True if it was new."""
        if rumour_id in self._rumours:
            return False
        self._rumours[rumour_id] = rumour
        self._age[rumour_id] = 0
        return True

    def digest(self) -> set[str]:
        """Ids of every rumour known (what a peer compares against when pulling)."""
        return set(self._rumours)

    def hot(self) -> dict[str, Any]:
        """Rumours still being pushed (spread for fewer than ``max_rounds`` rounds)."""
        return {r: self._rumours[r] for r, age in self._age.items() if age < self.max_rounds}

    def missing_from(self, digest: Iterable[str]) -> dict[str, Any]:
        """The rumours this store has that a peer with ``digest`` lacks."""
        theirs = set(digest)
        return {r: v for r, v in self._rumours.items() if r not in theirs}

    def absorb(self, rumours: Mapping[str, Any]) -> list[str]:
        """Learn several rumours; the ids that were new."""
        return [r for r, v in rumours.items() if self.add(r, v)]

    def tick(self) -> None:
        for r in self._age:
            self._age[r] += 1


def simulate(n: int, fanout: int, rng: np.random.Generator, max_rounds: int = 200) -> int:
    """Rounds of push-pull until all ``n`` agents know one rumour started at agent 0."""
    import numpy as np

    if n < 1 or fanout < 1:
        raise ValueError(f"need n >= 1 and fanout >= 1, got {n}, {fanout}")
    informed = np.zeros(n, dtype=bool)
    informed[0] = True
    for rnd in range(1, max_rounds + 1):
        if informed.all():
            return rnd - 1
        peers = rng.integers(0, n - 1, size=(n, fanout))
        peers += peers >= np.arange(n)[:, None]  # never yourself
        before = informed.copy()
        pushed = peers[before].ravel()
        informed[pushed] = True  # push: informed callers tell their peers
        pulled = before[peers].any(axis=1)
        informed |= pulled  # pull: callers ask their peers and learn
    if informed.all():
        return max_rounds
    raise RuntimeError(f"gossip did not converge in {max_rounds} rounds")
