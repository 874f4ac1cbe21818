"""Task kinds every agent knows, used by the default config, tests and benchmarks."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from agents.agent.kinds import task, voter
from agents.errors import RaymasError

__all__: list[str] = []


class InjectedFailure(RaymasError):
    """Raised by the ``fail`` task kind, for tests of retries and failure reports."""


@task("noop", inline=True)
def noop(**_: Any) -> None:
    """Do nothing; the unit of allocation benchmarks."""
    return None


@task("echo", inline=True)
def echo(value: Any = None, **_: Any) -> Any:
    """Return ``value`` unchanged."""
    return value


@task("count_primes")
def count_primes(n: int = 10_000, **_: Any) -> int:
    """Count primes below ``n`` with a sieve of Eratosthenes."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(n - 1) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve)


@task("sha256_chain")
def sha256_chain(seed: str = "raymas", rounds: int = 10_000, **_: Any) -> str:
    """Hash ``seed`` ``rounds`` times; a deterministic CPU-bound job."""
    digest = seed.encode()
    for _round in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


@task("matrix_trace")
def matrix_trace(size: int = 128, seed: int = 0, **_: Any) -> float:
    """Trace of ``A @ A.T`` for a seeded random ``size`` by ``size`` matrix."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((size, size))
    return float(np.trace(a @ a.T))


@task("sum_results")
def sum_results(values: Sequence[float] = (), inputs: Mapping[str, Any] | None = None,
                **_: Any) -> float:
    """Sum a list of numbers and the numeric results of the tasks it depends on (a reduce
    step of a plan)."""
    upstream = [v for v in (inputs or {}).values() if isinstance(v, int | float)]
    return float(sum(values) + sum(upstream))


@task("fail", inline=True)
def fail(message: str = "injected failure", **_: Any) -> None:
    """Always raise; for tests of failure reporting."""
    raise InjectedFailure(message)


@voter("least_loaded")
def vote_least_loaded(ballot: Mapping[str, Any], me: Mapping[str, Any]) -> Any:
    """Vote for the option with the lowest ``cost`` where the candidates quoted one (an
    agent's own cost for the task, see ``agents.agent.costs``), then the lowest ``load``
    (ties: first in order).

    Options are mappings with an ``id`` and optionally a ``cost`` and a ``load``; plain
    values are voted for in the order given.
    """
    options = list(ballot["options"])
    if not options:
        return None

    def key(item: tuple[int, Any]) -> tuple[float, float, int]:
        idx, opt = item
        if not isinstance(opt, Mapping):
            return (0.0, 0.0, idx)
        return (float(opt.get("cost", 0.0)), float(opt.get("load", 0.0)), idx)

    _, best = min(enumerate(options), key=key)
    return best["id"] if isinstance(best, Mapping) else best


@voter("first")
def vote_first(ballot: Mapping[str, Any], me: Mapping[str, Any]) -> Any:
    """Vote for the first option (its ``id`` when options are mappings)."""
    options = list(ballot["options"])
    if not options:
        return None
    return options[0]["id"] if isinstance(options[0], Mapping) else options[0]
