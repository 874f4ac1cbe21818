"""What training and evaluation report: per-episode curves and greedy evaluations.

Example:
    >>> h = TrainingHistory(returns=[0.0, 1.0, 1.0])
    >>> h.evaluations += [(0, Evaluation(0.1, 0.1, 7.0, 100)), (50, Evaluation(0.8, 0.8, 9.0, 100))]
    >>> h.first_reaching(0.7), h.first_reaching(0.9), h.moving_average(2)
    (50, None, [0.5, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["Evaluation", "TrainingHistory"]


@dataclass(frozen=True)
class Evaluation:
    """Greedy-policy results over ``episodes`` episodes."""

    mean_return: float
    success_rate: float
    mean_length: float
    episodes: int


@dataclass
class TrainingHistory:
    """Per-episode returns, lengths and exploration rates, and ``(episode, Evaluation)`` pairs.

    The episode of an evaluation is the number of training episodes done before it.
    """

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    epsilons: list[float] = field(default_factory=list)
    evaluations: list[tuple[int, Evaluation]] = field(default_factory=list)

    def first_reaching(self, threshold: float,
                       metric: Literal["mean_return", "success_rate"] = "mean_return",
                       ) -> int | None:
        """Training episodes before the first evaluation whose ``metric`` >= ``threshold``."""
        for episode, ev in self.evaluations:
            if getattr(ev, metric) >= threshold:
                return episode
        return None

    def moving_average(self, window: int) -> list[float]:
        """Mean training return over each run of ``window`` consecutive episodes."""
        if window < 1 or len(self.returns) < window:
            return []
        kernel = np.ones(window) / window
        return [float(x) for x in np.convolve(self.returns, kernel, mode="valid")]
