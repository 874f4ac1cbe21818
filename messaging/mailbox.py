"""A bounded mailbox: highest priority first, FIFO within a priority, no expired delivery.

Pure core (no Ray): the agent's actor shell owns one and applies back-pressure
when :meth:`Mailbox.offer` says it is full.

Example:
    >>> from messaging.envelope import Envelope
    >>> box = Mailbox(capacity=2)
    >>> lo = Envelope.new("a", recipient="b", priority=1)
    >>> hi = Envelope.new("a", recipient="b", priority=8)
    >>> box.offer(lo), box.offer(hi), box.offer(lo)
    (True, True, False)
    >>> [e.priority for e in box.take(10)[0]]
    [8, 1]
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable

from messaging.envelope import Envelope

__all__ = ["DeadLetter", "Mailbox"]

DeadLetter = tuple[Envelope, str]


class Mailbox:
    """Priority queue of envelopes with a hard capacity."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._clock = clock
        self._heap: list[tuple[int, int, Envelope]] = []
        self._seq = itertools.count()
        self.delivered = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def free(self) -> int:
        return self.capacity - len(self._heap)

    def offer(self, env: Envelope) -> bool:
        """Queue ``env``; False if the mailbox is full (the sender should wait)."""
        if len(self._heap) >= self.capacity:
            return False
        heapq.heappush(self._heap, (-env.priority, next(self._seq), env))
        return True

    def take(self, max_n: int) -> tuple[list[Envelope], list[DeadLetter]]:
        """Up to ``max_n`` deliverable envelopes, best first, and the expired ones met."""
        now = self._clock()
        out: list[Envelope] = []
        dead: list[DeadLetter] = []
        while self._heap and len(out) < max_n:
            _, _, env = heapq.heappop(self._heap)
            if env.expired(now):
                self.expired += 1
                dead.append((env, "expired before delivery"))
            else:
                out.append(env)
        self.delivered += len(out)
        return out, dead
