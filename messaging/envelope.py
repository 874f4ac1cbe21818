"""The one message type: :class:`Envelope`, its FIPA performatives and its wire form.

An envelope is validated when built and when decoded: a bad field raises
:class:`EnvelopeError` naming the field, what was expected and what came, and
an envelope larger than the limit is refused before it is parsed.  The wire
form is a msgpack array with a version tag, compact enough for brokers.

Example:
    >>> env = Envelope.new("a1", recipient="a2", performative="request", payload={"x": 1})
    >>> Envelope.from_bytes(env.to_bytes()) == env
    True
"""

from __future__ import annotations

import enum
import itertools
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack

from messaging.errors import RaymasError

__all__ = ["DEFAULT_MAX_BYTES", "TOPIC_PREFIX", "Envelope", "EnvelopeError", "Performative",
           "new_id"]

#: Envelopes larger than this (encoded) are refused unless a limit is given.
DEFAULT_MAX_BYTES = 1 << 20
#: how a topic is written as a destination (``Envelope.destination``), beside agent ids
TOPIC_PREFIX = "topic:"
_WIRE_VERSION = 1
_counter = itertools.count()
_PROCESS_TAG = os.urandom(3).hex()


class EnvelopeError(RaymasError):
    """An envelope is malformed or too large; the message names the field."""


class Performative(enum.StrEnum):
    """FIPA-ACL communicative acts."""

    REQUEST = "request"
    INFORM = "inform"
    QUERY = "query"
    CFP = "cfp"
    PROPOSE = "propose"
    REFUSE = "refuse"
    NOT_UNDERSTOOD = "not-understood"
    ACCEPT_PROPOSAL = "accept-proposal"
    REJECT_PROPOSAL = "reject-proposal"
    AGREE = "agree"
    CANCEL = "cancel"
    FAILURE = "failure"
    INFORM_DONE = "inform-done"
    INFORM_RESULT = "inform-result"
    SUBSCRIBE = "subscribe"


#: value (or member) -> member; a dict lookup is much cheaper than ``Performative(x)``
_PERFORMATIVES: dict[str, Performative] = {p.value: p for p in Performative}


def new_id(now_ns: int | None = None) -> str:
    """A unique id that sorts by creation time: nanoseconds, process tag, counter."""
    ns = time.time_ns() if now_ns is None else now_ns
    return f"{ns:016x}{_PROCESS_TAG}{next(_counter) & 0xFFFFFF:06x}"


def _check(cond: bool, name: str, expected: str, got: Any) -> None:
    if not cond:
        raise EnvelopeError(f"field {name!r}: expected {expected}, got {got!r}"[:300])


def _common_ok(sender: Any, recipient: Any, topic: Any, priority: Any, ttl_s: Any,
               reply_to: Any) -> bool:
    """Fast check of the fields a batch of envelopes shares (no error text)."""
    return (type(sender) is str and sender != ""
            and (recipient is None) != (topic is None)
            and (recipient is None or (type(recipient) is str and recipient != ""))
            and (topic is None or (type(topic) is str and topic != ""))
            and type(priority) is int and 0 <= priority <= 9
            and (ttl_s is None or (type(ttl_s) in (int, float) and ttl_s > 0))
            and (reply_to is None or (type(reply_to) is str and reply_to != "")))


def _row_ok(id_: Any, created_at: Any, correlation_id: Any, headers: Any) -> bool:
    """Fast check of the fields each envelope of a batch has on its own."""
    return (type(id_) is str and 0 < len(id_) <= 64
            and type(created_at) in (int, float)
            and (correlation_id is None
                 or (type(correlation_id) is str and correlation_id != ""))
            and isinstance(headers, Mapping)
            and (not headers
                 or all(type(k) is str and type(v) is str for k, v in headers.items())))


@dataclass(frozen=True)
class Envelope:
    """A message between agents, topics and brokers.

    Exactly one of ``recipient`` (direct) and ``topic`` (publish) is set.
    ``priority`` runs 0 (lowest) to 9; ``ttl_s`` of None never expires.
    """

    id: str
    sender: str
    performative: Performative
    recipient: str | None = None
    topic: str | None = None
    payload: Any = None
    priority: int = 4
    created_at: float = field(default_factory=time.time)
    ttl_s: float | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        perf = _PERFORMATIVES.get(self.performative)
        if perf is None or not (_common_ok(self.sender, self.recipient, self.topic,
                                           self.priority, self.ttl_s, self.reply_to)
                                and _row_ok(self.id, self.created_at, self.correlation_id,
                                            self.headers)):
            self._explain()
        if perf is not self.performative:
            object.__setattr__(self, "performative", perf)

    def _explain(self) -> None:
        """Raise :class:`EnvelopeError` naming the first bad field (the slow path)."""
        _check(isinstance(self.id, str) and 0 < len(self.id) <= 64, "id",
               "a string of 1..64 characters", self.id)
        _check(isinstance(self.sender, str) and bool(self.sender), "sender",
               "a non-empty string", self.sender)
        _check(isinstance(self.performative, str) and self.performative in _PERFORMATIVES,
               "performative", f"one of {[p.value for p in Performative]}", self.performative)
        _check((self.recipient is None) != (self.topic is None), "recipient/topic",
               "exactly one of recipient and topic", (self.recipient, self.topic))
        for name in ("recipient", "topic", "correlation_id", "reply_to"):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, str) and bool(value)), name,
                   "a non-empty string or None", value)
        _check(type(self.priority) is int and 0 <= self.priority <= 9, "priority",
               "an integer 0..9", self.priority)
        _check(type(self.created_at) in (int, float), "created_at", "a timestamp",
               self.created_at)
        _check(self.ttl_s is None or (type(self.ttl_s) in (int, float) and self.ttl_s > 0),
               "ttl_s", "a positive number of seconds or None", self.ttl_s)
        _check(isinstance(self.headers, Mapping)
               and all(isinstance(k, str) and isinstance(v, str)
                       for k, v in self.headers.items()),
               "headers", "a mapping of strings to strings", self.headers)
        raise EnvelopeError(f"envelope {self.id!r}: invalid fields")  # pragma: no cover

    @classmethod
    def _trusted(cls, id_: str, sender: str, performative: Performative,
                 recipient: str | None, topic: str | None, payload: Any, priority: int,
                 created_at: float, ttl_s: float | None, correlation_id: str | None,
                 reply_to: str | None, headers: Mapping[str, str]) -> Envelope:
        """Build without re-validating: only for fields already checked by
        :func:`_common_ok` and :func:`_row_ok` (the batch decoder does that)."""
        env = object.__new__(cls)
        object.__setattr__(env, "__dict__", {
            "id": id_, "sender": sender, "performative": performative, "recipient": recipient,
            "topic": topic, "payload": payload, "priority": priority, "created_at": created_at,
            "ttl_s": ttl_s, "correlation_id": correlation_id, "reply_to": reply_to,
            "headers": headers})
        return env

    @classmethod
    def new(cls, sender: str, *, performative: Performative | str = Performative.INFORM,
            **fields: Any) -> Envelope:
        """A fresh envelope with a new time-ordered id."""
        return cls(id=new_id(), sender=sender, performative=performative,  # type: ignore[arg-type]
                   **fields)

    @property
    def destination(self) -> str:
        return self.recipient if self.recipient is not None else f"{TOPIC_PREFIX}{self.topic}"

    def expired(self, now: float | None = None) -> bool:
        """Whether the TTL has run out at ``now`` (default: the current time)."""
        if self.ttl_s is None:
            return False
        return (time.time() if now is None else now) > self.created_at + self.ttl_s

    def reply(self, sender: str, performative: Performative | str, payload: Any = None,
              **fields: Any) -> Envelope:
        """A reply addressed to ``reply_to`` (or the sender), correlated to this id."""
        return Envelope.new(sender, performative=performative,
                            recipient=self.reply_to or self.sender,
                            correlation_id=self.correlation_id or self.id, payload=payload,
                            **fields)

    def with_headers(self, **headers: str) -> Envelope:
        return replace(self, headers={**self.headers, **headers})

    # -- wire form -------------------------------------------------------------
    def to_bytes(self, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        """msgpack-encode; raises :class:`EnvelopeError` if the result exceeds ``max_bytes``."""
        try:
            data = msgpack.packb([
                _WIRE_VERSION, self.id, self.sender, self.performative.value, self.recipient,
                self.topic, self.payload, self.priority, self.created_at, self.ttl_s,
                self.correlation_id, self.reply_to, dict(self.headers),
            ], use_bin_type=True)
        except (TypeError, ValueError) as exc:
            raise EnvelopeError(f"field 'payload': not serialisable: {exc}") from None
        if len(data) > max_bytes:
            raise EnvelopeError(f"envelope {self.id}: {len(data)} bytes exceeds the limit "
                                f"of {max_bytes}")
        return data

    @classmethod
    def from_bytes(cls, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
        """Decode and validate; every failure is an :class:`EnvelopeError`."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise EnvelopeError(f"expected bytes, got {type(data).__name__}")
        if len(data) > max_bytes:
            raise EnvelopeError(f"{len(data)} bytes exceeds the limit of {max_bytes}")
        try:
            fields = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises several unrelated types
            raise EnvelopeError(f"not a msgpack envelope: {exc}") from None
        if not isinstance(fields, list) or len(fields) != 13:
            raise EnvelopeError("not an envelope: expected a 13-field array")
        if fields[0] != _WIRE_VERSION:
            raise EnvelopeError(f"unsupported envelope version {fields[0]!r}")
        (_, id_, sender, perf, recipient, topic, payload, priority, created, ttl, corr,
         reply_to, headers) = fields
        return cls(id=id_, sender=sender, performative=perf, recipient=recipient, topic=topic,
                   payload=payload, priority=priority, created_at=created, ttl_s=ttl,
                   correlation_id=corr, reply_to=reply_to,
                   headers=headers)
