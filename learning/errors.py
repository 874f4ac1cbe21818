"""Errors raised by the learning cores, all rooted at :class:`messaging.errors.RaymasError`.

Example:
    >>> err = UnknownNameError("bandit", "ucb", ["epsilon_greedy", "thompson", "ucb1"])
    >>> str(err)
    "unknown bandit 'ucb'; did you mean 'ucb1'? (known: epsilon_greedy, thompson, ucb1)"
    >>> isinstance(err, LearningError)
    True
"""

from __future__ import annotations

from messaging import errors
from messaging.errors import RaymasError

__all__ = ["LearningError", "UnknownNameError"]


class LearningError(RaymasError):
    """A learner, buffer, bandit or environment was given something it cannot use."""


class UnknownNameError(LearningError, errors.UnknownNameError):
    """A registry lookup (bandit kind, schedule kind, mode...) named nothing known."""
