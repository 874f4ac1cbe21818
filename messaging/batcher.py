"""Micro-batching per destination: flush on size or after a linger, like Kafka's linger.ms.

Pure core: the caller feeds items and the clock, and sends what comes back.

Example:
    >>> b = Batcher(max_batch=2, linger_s=0.005)
    >>> b.add("a", 1, now=0.0), b.add("a", 2, now=0.001)
    ([], [('a', [1, 2])])
    >>> b.add("b", 3, now=0.002), b.due(now=0.003), b.due(now=0.008, held={"b"})
    ([], [], [])
    >>> b.next_deadline(held={"b"}), b.due(now=0.008)
    (None, [('b', [3])])
    >>> b.extend("c", [4, 5, 6], now=0.01), len(b)
    ([('c', [4, 5])], 1)
"""

from __future__ import annotations

from collections.abc import Container, Hashable
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
D = TypeVar("D", bound=Hashable)


class Batcher(Generic[D, T]):
    """Buffers per destination; returns ``(destination, items)`` batches ready to send."""

    def __init__(self, max_batch: int = 512, linger_s: float = 0.002) -> None:
        if max_batch < 1 or linger_s < 0:
            raise ValueError(f"max_batch >= 1 and linger_s >= 0 required, got "
                             f"{max_batch}, {linger_s}")
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._buf: dict[D, list[T]] = {}
        self._since: dict[D, float] = {}
        #: destinations that linger longer (or shorter) than ``linger_s``
        self.lingers: dict[D, float] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._buf.values())

    def add(self, dest: D, item: T, now: float) -> list[tuple[D, list[T]]]:
        """Buffer ``item``; return the destination's batch if it just became full."""
        buf = self._buf.setdefault(dest, [])
        if not buf:
            self._since[dest] = now
        buf.append(item)
        if len(buf) >= self.max_batch:
            return [(dest, self._pop(dest))]
        return []

    def extend(self, dest: D, items: list[T], now: float) -> list[tuple[D, list[T]]]:
        """Buffer many items at once; return the full batches they made."""
        buf = self._buf.setdefault(dest, [])
        if not buf:
            self._since[dest] = now
        buf.extend(items)
        if len(buf) < self.max_batch:
            return []
        full = self._pop(dest)
        size = self.max_batch
        cut = len(full) - len(full) % size
        if cut < len(full):
            self._buf[dest] = full[cut:]
            self._since[dest] = now
        return [(dest, full[i:i + size]) for i in range(0, cut, size)]

    def due(self, now: float, held: Container[D] = ()) -> list[tuple[D, list[T]]]:
        """Batches whose oldest item has lingered ``linger_s`` or longer, but for the
        ``held`` destinations (their caller takes them when it is ready)."""
        ready = [d for d, t in self._since.items()
                 if now - t >= self.lingers.get(d, self.linger_s) and d not in held]
        return [(d, self._pop(d)) for d in ready]

    def next_deadline(self, held: Container[D] = ()) -> float | None:
        """When the oldest buffered batch not ``held`` falls due (None if there is none)."""
        times = [t + self.lingers.get(d, self.linger_s) for d, t in self._since.items()
                 if d not in held]
        return min(times) if times else None

    def take(self, dest: D) -> list[T]:
        """Whatever is buffered for ``dest`` now (possibly nothing)."""
        return self._pop(dest) if dest in self._buf else []

    def flush_all(self) -> list[tuple[D, list[T]]]:
        return [(d, self._pop(d)) for d in list(self._buf)]

    def _pop(self, dest: D) -> list[T]:
        self._since.pop(dest, None)
        return self._buf.pop(dest)
