"""A bounded mailbox: highest priority first, FIFO within a priority, no expired delivery.

Pure core (no Ray): the agent's actor shell owns one and applies back-pressure
when :meth:`Mailbox.offer` says it is full.  The mailbox queues
:class:`Parcel` s — runs of envelopes that share sender, performative,
destination, priority and TTL, kept as the columns they arrived in — so a
batch from the bus is queued in one step and an envelope object is only made
when someone takes it (or not at all, for :meth:`Mailbox.take_records`).

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

import collections
import time
from collections.abc import Callable
from typing import Any

import msgpack

from messaging.envelope import Envelope, Performative

__all__ = ["DeadLetter", "Mailbox", "Parcel"]

DeadLetter = tuple[Envelope, str]


class Parcel:
    """Envelopes ``lo..hi`` of a group: shared fields once, the rest as columns.

    Columns are shared, not copied, when a parcel is split; a parcel only
    ever moves its ``lo`` forward.
    """

    __slots__ = ("corrs", "created", "headers", "hi", "ids", "key", "lo", "payloads",
                 "performative", "priority", "ttl_s")

    def __init__(self, key: tuple[Any, ...], ids: list[str], created: list[float],
                 corrs: list[str | None], headers: list[Any], payloads: list[Any],
                 lo: int = 0, hi: int | None = None) -> None:
        #: sender, performative (a Performative), recipient, topic, priority, ttl_s, reply_to
        self.key = key
        self.performative: Performative = key[1]
        self.priority: int = key[4]
        self.ttl_s: float | None = key[5]
        self.ids, self.created, self.corrs = ids, created, corrs
        self.headers, self.payloads = headers, payloads
        self.lo, self.hi = lo, len(ids) if hi is None else hi

    @classmethod
    def of(cls, env: Envelope) -> Parcel:
        """A parcel of one envelope."""
        return cls((env.sender, env.performative, env.recipient, env.topic, env.priority,
                    env.ttl_s, env.reply_to), [env.id], [env.created_at],
                   [env.correlation_id], [env.headers], [env.payload])

    def __len__(self) -> int:
        return self.hi - self.lo

    def split(self, n: int) -> Parcel:
        """Detach and return the first ``n`` envelopes; this parcel keeps the rest."""
        head = Parcel(self.key, self.ids, self.created, self.corrs, self.headers,
                      self.payloads, self.lo, self.lo + n)
        self.lo += n
        return head

    def envelope(self, i: int) -> Envelope:
        sender, perf, recipient, topic, priority, ttl, reply_to = self.key
        headers = self.headers[i]
        return Envelope._trusted(self.ids[i], sender, perf, recipient, topic, self.payloads[i],
                                 priority, self.created[i], ttl, self.corrs[i], reply_to,
                                 headers if headers is not None else {})

    def envelopes(self) -> list[Envelope]:
        return [self.envelope(i) for i in range(self.lo, self.hi)]

    def encoded(self) -> list[bytes]:
        """Each envelope in the single-envelope wire form (:meth:`Envelope.to_bytes`)."""
        sender, perf, recipient, topic, priority, ttl, reply_to = self.key
        packb, value, lo, hi = msgpack.packb, perf.value, self.lo, self.hi
        return [packb([1, i, sender, value, recipient, topic, p, priority, c, ttl, corr,
                       reply_to, h or {}])
                for i, p, c, corr, h in zip(self.ids[lo:hi], self.payloads[lo:hi],
                                            self.created[lo:hi], self.corrs[lo:hi],
                                            self.headers[lo:hi], strict=True)]

    def records(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """Plain dicts of envelopes ``lo..hi`` (what an actor returns to its callers)."""
        sender, perf, _, topic, priority = self.key[:5]
        value = perf.value
        return [{"id": i, "sender": sender, "performative": value, "topic": topic,
                 "payload": p, "priority": priority, "correlation_id": c}
                for i, p, c in zip(self.ids[lo:hi], self.payloads[lo:hi], self.corrs[lo:hi],
                                   strict=True)]


class Mailbox:
    """Ten FIFO queues of parcels, one per priority, under one hard capacity."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._clock = clock
        self._queues: list[collections.deque[Parcel]] = [collections.deque()
                                                         for _ in range(10)]
        self._len = 0
        self.delivered = 0
        self.expired = 0

    def __len__(self) -> int:
        return self._len

    @property
    def free(self) -> int:
        return self.capacity - self._len

    def offer(self, env: Envelope) -> bool:
        """Queue ``env``; False if the mailbox is full (the sender should wait)."""
        return self.offer_parcel(Parcel.of(env)) == 1

    def offer_parcel(self, parcel: Parcel) -> int:
        """Queue as much of ``parcel`` as there is room for; returns how many envelopes.

        If only part fits, the part queued is split off and ``parcel`` keeps the
        rest for the caller to offer again; if all fits, ``parcel`` itself is
        queued and the caller must not touch it again.
        """
        n = min(len(parcel), self.capacity - self._len)
        if n <= 0:
            return 0
        self._queues[parcel.priority].append(parcel if n == len(parcel) else parcel.split(n))
        self._len += n
        return n

    def take(self, max_n: int) -> tuple[list[Envelope], list[DeadLetter]]:
        """Up to ``max_n`` deliverable envelopes, best first, and the expired ones met."""
        out: list[Envelope] = []
        dead = self._take(max_n, lambda p, lo, hi: out.extend(
            p.envelope(i) for i in range(lo, hi)))
        self.delivered += len(out)
        return out, dead

    def take_records(self, max_n: int) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
        """Like :meth:`take`, as plain dicts, without building envelope objects."""
        out: list[dict[str, Any]] = []
        dead = self._take(max_n, lambda p, lo, hi: out.extend(p.records(lo, hi)))
        self.delivered += len(out)
        return out, dead

    def take_parcels(self, max_n: int) -> tuple[list[Parcel], list[DeadLetter]]:
        """Like :meth:`take`, as parcels (for bridges, which re-encode whole runs)."""
        out: list[Parcel] = []
        dead = self._take(max_n, lambda p, lo, hi: out.append(Parcel(
            p.key, p.ids, p.created, p.corrs, p.headers, p.payloads, lo, hi)))
        self.delivered += sum(len(p) for p in out)
        return out, dead

    def _take(self, max_n: int, emit: Callable[[Parcel, int, int], None]) -> list[DeadLetter]:
        now = self._clock()
        dead: list[DeadLetter] = []
        want = max_n
        for queue in reversed(self._queues):
            while queue and want > 0:
                parcel = queue[0]
                lo = parcel.lo
                hi = min(parcel.hi, lo + want)
                parcel.lo = hi
                if not len(parcel):
                    queue.popleft()
                self._len -= hi - lo
                ttl = parcel.ttl_s
                if ttl is None or now <= min(parcel.created[lo:hi]) + ttl:
                    emit(parcel, lo, hi)
                    want -= hi - lo
                    continue
                for i in range(lo, hi):  # some of these expired: sort them one by one
                    if now > parcel.created[i] + ttl:
                        self.expired += 1
                        dead.append((parcel.envelope(i), "expired before delivery"))
                    else:
                        emit(parcel, i, i + 1)
                        want -= 1
            if want <= 0:
                break
        return dead
