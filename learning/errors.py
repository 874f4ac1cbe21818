"""Errors raised by the learning cores, all rooted at :class:`agents.errors.RaymasError`.

Example:
    >>> err = UnknownNameError("bandit", "ucb", ["epsilon_greedy", "thompson", "ucb1"])
    >>> str(err)
    "unknown bandit 'ucb'; did you mean 'ucb1'? (known: epsilon_greedy, thompson, ucb1)"
    >>> isinstance(err, LearningError)
    True
"""

from __future__ import annotations

import difflib

from agents.errors import RaymasError

__all__ = ["LearningError", "UnknownNameError"]


class LearningError(RaymasError):
    """A learner, buffer, bandit or environment was given something it cannot use."""


class UnknownNameError(LearningError):
    """A registry lookup (bandit kind, schedule kind, mode...) named nothing known."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(kind, name, known)

    def __str__(self) -> str:
        close = difflib.get_close_matches(self.name, self.known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {self.name!r}{hint} (known: {', '.join(self.known)})"
