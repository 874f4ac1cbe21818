"""Adaptive bidding: an agent learns which markup on its contract-net cost pays best.

Each round the agent picks one markup (a multiplier on the cost it proposes)
with a bandit from :mod:`learning.bandits`; when the round settles, every
proposal it made is scored: won and done earns ``markup / max(markups)``,
lost or failed earns 0.  Bidding low wins often but earns little; bidding
high earns more per win but wins less — the bandit finds the markup with the
best expected earnings against the other bidders it actually meets.

Example:
    >>> bidder = AdaptiveBidder("ucb1", [0.8, 1.0, 1.25], seed=0)
    >>> m = bidder.choose(["t1"])
    >>> bidder.settle(won={"t1": True}, lost=[])
    1
    >>> bidder.stats()["counts"][str(m)]
    1
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from cachetools import LRUCache

__all__ = ["BANDIT_FACTORY", "BIDDING_KINDS", "AdaptiveBidder"]

#: Where the bandits come from: the learning package provides them and an agent
#: looks them up by name, only when its group asks for adaptive bidding — a
#: plug-in like the task kinds other packages register, so agents never import
#: the learning package above them.
BANDIT_FACTORY = "learning.bandits:make_bandit"

BIDDING_KINDS = ("fixed", "epsilon_greedy", "ucb1", "thompson")


class AdaptiveBidder:
    """A bandit over markups, fed by the outcomes of the agent's proposals."""

    def __init__(self, kind: str, markups: Sequence[float], seed: int | None = None) -> None:
        make_bandit = _bandit_factory()

        if not markups or any(not (m > 0) for m in markups):
            raise ValueError(f"bid_markups: expected positive numbers, got {list(markups)}")
        self.markups = {str(float(m)): float(m) for m in markups}
        self.top = max(self.markups.values())
        self.bandit = make_bandit(kind, list(self.markups), rng=seed)
        self._pending: LRUCache[str, str] = LRUCache(maxsize=100_000)

    def choose(self, task_ids: Sequence[str]) -> float:
        """The markup for this round's proposals on ``task_ids``."""
        option = self.bandit.choose()
        for task_id in task_ids:
            self._pending[task_id] = option
        return self.markups[option]

    def settle(self, won: Mapping[str, bool], lost: Sequence[str]) -> int:
        """Score proposals: ``won`` maps task id to whether it ran well; returns how many."""
        scored = 0
        for task_id, ok in won.items():
            option = self._pending.pop(task_id, None)
            if option is not None:
                self.bandit.record(option, self.markups[option] / self.top if ok else 0.0)
                scored += 1
        for task_id in lost:
            option = self._pending.pop(task_id, None)
            if option is not None:
                self.bandit.record(option, 0.0)
                scored += 1
        return scored

    def stats(self) -> dict[str, Any]:
        """Pulls and mean earnings per markup, and the best so far."""
        return {"counts": dict(self.bandit.counts), "values": dict(self.bandit.values),
                "best": self.bandit.best()}


def _bandit_factory() -> Callable[..., Any]:
    module, _, name = BANDIT_FACTORY.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), name))
