"""How fitness gets computed: the :class:`Evaluator` protocol and two in-process backends.

An evaluator is any callable that takes the ``(n, dim)`` matrix of positions of
one iteration and returns the ``n`` fitness values.  The optimisers only ever
call it that way, so a parallel backend (Ray tasks over chunks of rows) is one
more class with the same call.

Example:
    >>> import numpy as np
    >>> fast = VectorisedEvaluator(lambda x: (x ** 2).sum(axis=1))
    >>> slow = SerialEvaluator(lambda p: float(sum(v * v for v in p)))
    >>> x = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> fast(x).tolist(), slow(x).tolist(), slow.calls
    ([5.0, 9.0], [5.0, 9.0], 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from swarm.errors import SwarmError

__all__ = ["Evaluator", "SerialEvaluator", "VectorisedEvaluator", "check_fitness"]


@runtime_checkable
class Evaluator(Protocol):
    """Maps an ``(n, dim)`` array of positions to an ``(n,)`` array of fitness values."""

    def __call__(self, positions: np.ndarray) -> np.ndarray: ...


def check_fitness(values: object, n: int, source: str = "objective") -> np.ndarray:
    """``values`` as a float vector of length ``n``, or a :class:`SwarmError` saying what is wrong.

    Example:
        >>> check_fitness([1, 2], 2).tolist()
        [1.0, 2.0]
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SwarmError(f"{source} returned values that are not numbers: {exc}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise SwarmError(f"{source} must return one value per position: expected shape ({n},), "
                         f"got {arr.shape}")
    return arr


class _Counting:
    """Holds the objective (checked callable) and counts positions evaluated (``calls``)."""

    def __init__(self, fn: Callable[[np.ndarray], object]) -> None:
        if not callable(fn):
            raise SwarmError(f"objective must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.calls = 0


class VectorisedEvaluator(_Counting):
    """Calls ``fn`` once on the whole matrix; for cheap NumPy objectives.

    ``calls`` counts positions evaluated.
    """

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(positions)
        self.calls += x.shape[0]
        return check_fitness(self.fn(x), x.shape[0])


class SerialEvaluator(_Counting):
    """Calls ``fn`` on each position (a 1-D array) in turn; for objectives written per point.

    ``calls`` counts positions evaluated.
    """

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(positions)
        out = np.empty(x.shape[0])
        for i, row in enumerate(x):
            value = np.asarray(self.fn(row), dtype=float)
            if value.size != 1:
                raise SwarmError(f"objective must return one number per position, got shape "
                                 f"{value.shape} for position {i}")
            out[i] = value.reshape(())
        self.calls += x.shape[0]
        return out
