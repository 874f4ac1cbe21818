"""What a continuous or mixed-integer optimiser searches: a :class:`Space` and a :class:`Problem`.

A :class:`Space` gives lower and upper bounds per dimension and marks integer
dimensions.  A :class:`Problem` adds the sense (minimise or maximise) and
constraints ``g(x) <= 0``.  Constraint functions are vectorised: they take the
``(n, dim)`` matrix of positions and return ``(n,)`` or ``(n, k)`` values; a
positive value is a violation.  Constraints are handled either by Deb's
feasibility rules (the default: feasible beats infeasible, two infeasible points
compare by total violation) or by a static penalty added to the objective.

The optimisers rank points by :meth:`Problem.keys`, which turns fitness and
violations into two arrays to minimise lexicographically, so every optimiser
treats the sense and constraints the same way.

Example:
    >>> space = Space.box([-1.0, 0], [1.0, 10], integer=[False, True])
    >>> space.repair(np.array([[3.0, 4.6]])).tolist()
    [[1.0, 5.0]]
    >>> prob = Problem(space, sense="maximize", constraints=(lambda x: x[:, 0] - 0.5,))
    >>> v, f = prob.keys(np.array([2.0, 3.0]), np.array([[0.0, 1], [0.9, 1]]))
    >>> v.tolist(), f.tolist()
    ([0.0, 0.4], [-2.0, -3.0])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from swarm.errors import SwarmError

__all__ = ["Constraint", "Problem", "Space", "better"]

Constraint = Callable[[np.ndarray], np.ndarray]
ArrayLike = float | Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Space:
    """A box ``lower <= x <= upper`` (finite bounds of any size); ``integer`` marks integer dims."""

    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        lo = np.atleast_1d(np.asarray(self.lower, dtype=float))
        hi = np.atleast_1d(np.asarray(self.upper, dtype=float))
        if lo.shape != hi.shape or lo.ndim != 1 or lo.size == 0:
            raise SwarmError(f"bounds must be two equal-length 1-D sequences, got shapes "
                             f"{lo.shape} and {hi.shape}")
        integer = np.asarray(self.integer, dtype=bool)
        integer = np.zeros(lo.size, bool) if integer.size == 0 else np.broadcast_to(
            integer, lo.shape).copy()
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise SwarmError("bounds must be finite (use large finite values for a huge domain)")
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise SwarmError(f"dimension {i}: lower bound {lo[i]!r} is above upper bound {hi[i]!r}")
        with np.errstate(over="ignore"):
            finite_width = bool(np.all(np.isfinite(hi - lo)))
        if not finite_width:
            raise SwarmError("each dimension's width upper - lower must be a finite float")
        lo = np.where(integer, np.ceil(lo), lo)
        hi = np.where(integer, np.floor(hi), hi)
        bad = np.flatnonzero(integer & (lo > hi))
        if bad.size:
            raise SwarmError(f"integer dimension {int(bad[0])} has no integer within its bounds")
        for name, value in (("lower", lo), ("upper", hi), ("integer", integer)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @classmethod
    def box(cls, lower: ArrayLike, upper: ArrayLike, dim: int | None = None,
            integer: bool | Sequence[bool] | np.ndarray = False) -> Space:
        """Bounds given per dimension, or as scalars repeated ``dim`` times."""
        lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        if dim is not None:
            if dim < 1:
                raise SwarmError(f"dim must be at least 1, got {dim}")
            lo, hi = np.broadcast_to(lo, (dim,)), np.broadcast_to(hi, (dim,))
        n = np.atleast_1d(lo).size
        return cls(lo, hi, np.broadcast_to(np.asarray(integer, dtype=bool), (n,)))

    @property
    def dim(self) -> int:
        """The number of dimensions."""
        return int(self.lower.size)

    @property
    def width(self) -> np.ndarray:
        """``upper - lower`` per dimension."""
        return np.asarray(self.upper - self.lower)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points uniform in the box (uniform over the integers on integer dims)."""
        u = rng.random((n, self.dim))
        x = self.lower * (1.0 - u) + self.upper * u  # cannot overflow, unlike lower + width * u
        return self.repair(np.where(self.integer, self.lower - 0.5 + u * (self.width + 1), x))

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Round integer dims and clip into the box (a new array)."""
        out = np.where(self.integer, np.round(x), x)
        return np.clip(out, self.lower, self.upper)

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Per row: inside the box, with integer values on integer dims."""
        x = np.atleast_2d(x)
        inside = np.all((x >= self.lower) & (x <= self.upper), axis=1)
        return np.asarray(inside & np.all(~self.integer | (x == np.round(x)), axis=1))


@dataclass(frozen=True)
class Problem:
    """A space to search, a sense, and constraints ``g(x) <= 0`` (vectorised callables)."""

    space: Space
    sense: Literal["minimize", "maximize"] = "minimize"
    constraints: tuple[Constraint, ...] = ()
    constraint_handling: Literal["feasibility", "penalty"] = "feasibility"
    penalty: float = 1e6

    def __post_init__(self) -> None:
        if self.sense not in ("minimize", "maximize"):
            raise SwarmError(f"sense must be 'minimize' or 'maximize', got {self.sense!r}")
        if self.constraint_handling not in ("feasibility", "penalty"):
            raise SwarmError("constraint_handling must be 'feasibility' or 'penalty', got "
                             f"{self.constraint_handling!r}")
        if not self.penalty > 0:
            raise SwarmError(f"penalty must be positive, got {self.penalty!r}")
        object.__setattr__(self, "constraints", tuple(self.constraints))

    @property
    def sign(self) -> float:
        """``+1`` when minimising, ``-1`` when maximising."""
        return 1.0 if self.sense == "minimize" else -1.0

    def violation(self, x: np.ndarray) -> np.ndarray:
        """Total constraint violation per row of ``x`` (0 for feasible rows)."""
        x = np.atleast_2d(x)
        total = np.zeros(x.shape[0])
        for i, g in enumerate(self.constraints):
            values = np.asarray(g(x), dtype=float)
            if values.shape[:1] != (x.shape[0],):
                raise SwarmError(f"constraint {i} must return one value (or row) per position: "
                                 f"got shape {values.shape} for {x.shape[0]} positions")
            values = np.where(np.isnan(values), np.inf, values)
            total += np.maximum(values, 0.0).reshape(x.shape[0], -1).sum(axis=1)
        return total

    def point_violation(self, x: np.ndarray) -> float:
        """Total violation of one point (0.0 when there are no constraints)."""
        return float(self.violation(x)[0]) if self.constraints else 0.0

    def keys(self, fitness: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(violation, minimised objective)`` to rank rows lexicographically (lower is better).

        NaN fitness ranks worst.  With ``penalty`` handling the violation is folded
        into the objective and the first key is zero.
        """
        f = self.sign * np.asarray(fitness, dtype=float)
        f = np.where(np.isnan(f), np.inf, f)
        v = self.violation(x) if self.constraints else np.zeros(f.shape)
        if self.constraint_handling == "penalty":
            return np.zeros(f.shape), f + self.penalty * v
        return v, f


def better(v_new: np.ndarray | float, f_new: np.ndarray | float, v_old: np.ndarray | float,
           f_old: np.ndarray | float) -> np.ndarray:
    """Where ``(v_new, f_new)`` beats ``(v_old, f_old)`` under the feasibility rules.

    Example:
        >>> better(np.array([0.0, 1.0, 0.5]), np.array([5.0, 0.0, 9.0]),
        ...        np.array([1.0, 0.0, 0.5]), np.array([0.0, 1.0, 10.0])).tolist()
        [True, False, True]
    """
    return np.asarray((v_new < v_old) | ((v_new == v_old) & (f_new < f_old)))
