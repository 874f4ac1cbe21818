"""Schedules: a value (exploration rate, learning rate, IS exponent) as a function of a step.

A schedule is any ``Callable[[int], float]``; the three here are small frozen
dataclasses, so they pickle across actor boundaries and print readably.
:func:`as_schedule` turns a plain number into a :class:`Constant`, so every
parameter that takes a schedule also takes a float.

Example:
    >>> eps = Linear(start=1.0, end=0.1, steps=10)
    >>> [round(eps(t), 2) for t in (0, 5, 10, 50)]
    [1.0, 0.55, 0.1, 0.1]
    >>> Exponential(start=1.0, end=0.05, decay=0.5)(3)
    0.125
    >>> as_schedule(0.3)(1000)
    0.3
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from learning.errors import LearningError

__all__ = ["Constant", "Exponential", "Linear", "Schedule", "as_schedule"]

Schedule = Callable[[int], float]


@dataclass(frozen=True)
class Constant:
    """The same value at every step."""

    value: float

    def __call__(self, step: int) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Linear:
    """From ``start`` at step 0 straight to ``end`` at ``steps``, then ``end`` for ever.

    Example:
        >>> Linear(0.4, 1.0, steps=3)(1)
        0.6
    """

    start: float
    end: float
    steps: int

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise LearningError(f"Linear.steps must be >= 1, got {self.steps}")

    def __call__(self, step: int) -> float:
        frac = min(max(step, 0) / self.steps, 1.0)
        return float(self.start + frac * (self.end - self.start))


@dataclass(frozen=True)
class Exponential:
    """``start * decay**step``, never below ``end`` (``0 < decay <= 1``).

    Example:
        >>> round(Exponential(1.0, 0.01, decay=0.999)(1000), 4)
        0.3677
    """

    start: float
    end: float
    decay: float

    def __post_init__(self) -> None:
        if not 0.0 < self.decay <= 1.0:
            raise LearningError(f"Exponential.decay must be in (0, 1], got {self.decay}")

    def __call__(self, step: int) -> float:
        return float(max(self.end, self.start * self.decay ** max(step, 0)))


def as_schedule(value: float | Schedule) -> Schedule:
    """Return ``value`` if it is callable, else a :class:`Constant` of it.

    Example:
        >>> as_schedule(Constant(0.5)) == Constant(0.5), as_schedule(2)
        (True, Constant(value=2.0))
    """
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LearningError(f"expected a number or a schedule callable, got {value!r}")
    return Constant(float(value))
