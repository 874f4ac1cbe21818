"""Benchmark objectives, vectorised over the rows of an ``(n, dim)`` matrix, and a registry.

Each function takes a 2-D array of positions and returns one value per row, so it
can be handed straight to :class:`~swarm.evaluate.VectorisedEvaluator`.  The
registry records each function's standard domain and known optimum.

Example:
    >>> x = np.zeros((2, 30))
    >>> sphere(x).tolist(), rastrigin(x).tolist()
    ([0.0, 0.0], [0.0, 0.0])
    >>> bench = get_benchmark("rosenbrock")
    >>> bench.lower, bench.upper, bench.optimum_value
    (-5.0, 10.0, 0.0)
    >>> float(bench.fn(bench.optimum_position(3)[None, :])[0])
    0.0
    >>> bench.problem(4).space.dim
    4
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swarm.errors import UnknownNameError
from swarm.problem import Problem, Space

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "ackley",
    "get_benchmark",
    "griewank",
    "rastrigin",
    "rosenbrock",
    "sphere",
]


def _rows(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.asarray(x, dtype=float))


def sphere(x: np.ndarray) -> np.ndarray:
    """``sum(x**2)``; minimum 0 at the origin."""
    x = _rows(x)
    return np.asarray(np.einsum("ij,ij->i", x, x))


def rastrigin(x: np.ndarray) -> np.ndarray:
    """``10 d + sum(x**2 - 10 cos(2 pi x))``; minimum 0 at the origin, many local minima."""
    x = _rows(x)
    return np.asarray(10.0 * x.shape[1] + (x * x - 10.0 * np.cos(2.0 * np.pi * x)).sum(axis=1))


def rosenbrock(x: np.ndarray) -> np.ndarray:
    """``sum(100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2)``; minimum 0 at all-ones."""
    x = _rows(x)
    a, b = x[:, :-1], x[:, 1:]
    return np.asarray((100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2).sum(axis=1))


def ackley(x: np.ndarray) -> np.ndarray:
    """Ackley's function (a=20, b=0.2, c=2 pi); minimum 0 at the origin."""
    x = _rows(x)
    d = x.shape[1]
    s1 = np.sqrt((x * x).sum(axis=1) / d)
    s2 = np.cos(2.0 * np.pi * x).sum(axis=1) / d
    return np.asarray(np.maximum(-20.0 * np.exp(-0.2 * s1) - np.exp(s2) + 20.0 + np.e, 0.0))


def griewank(x: np.ndarray) -> np.ndarray:
    """``1 + sum(x**2)/4000 - prod(cos(x[i]/sqrt(i+1)))``; minimum 0 at the origin."""
    x = _rows(x)
    i = np.sqrt(np.arange(1, x.shape[1] + 1, dtype=float))
    return np.asarray(np.maximum(
        1.0 + (x * x).sum(axis=1) / 4000.0 - np.cos(x / i).prod(axis=1), 0.0))


@dataclass(frozen=True)
class Benchmark:
    """A registered test function with its standard box ``[lower, upper]^d`` and optimum."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    lower: float
    upper: float
    optimum_value: float
    optimum_at: float

    def optimum_position(self, dim: int) -> np.ndarray:
        """Where the global minimum lies in ``dim`` dimensions."""
        return np.full(dim, self.optimum_at)

    def problem(self, dim: int) -> Problem:
        """The minimisation problem on the standard domain in ``dim`` dimensions."""
        return Problem(Space.box(self.lower, self.upper, dim))


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("sphere", sphere, -5.12, 5.12, 0.0, 0.0),
        Benchmark("rastrigin", rastrigin, -5.12, 5.12, 0.0, 0.0),
        Benchmark("rosenbrock", rosenbrock, -5.0, 10.0, 0.0, 1.0),
        Benchmark("ackley", ackley, -32.768, 32.768, 0.0, 0.0),
        Benchmark("griewank", griewank, -600.0, 600.0, 0.0, 0.0),
    )
}


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark called ``name`` (a "did you mean" error otherwise)."""
    try:
        return BENCHMARKS[name.lower()]
    except KeyError:
        raise UnknownNameError("benchmark", name, sorted(BENCHMARKS)) from None
