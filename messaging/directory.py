"""The bus directory: who is on the bus, who subscribes to what, and what could not be delivered.

A plain class run as one named actor (``raymas-bus``).  Senders ask it where
to send (and cache the answer); it keeps topic subscriptions, holds messages
for agents that are not (yet, or again) on the bus until they register or
their TTL runs out, and keeps the dead-letter topic with a reason per message.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Sequence
from typing import Any

from messaging import metrics
from messaging.envelope import Envelope, EnvelopeError
from messaging.topics import TopicMatcher

__all__ = ["DEAD_LETTER_TOPIC", "Directory"]

DEAD_LETTER_TOPIC = "raymas/dead-letter"


def reason_kind(reason: str) -> str:
    """A dead letter's reason without its details (names, ids, sizes): a tag with few values.

    >>> reason_kind("recipient 'a-17' did not come back in time")
    'recipient did not come back in time'
    >>> reason_kind("malformed: bad header")
    'malformed'
    """
    text = re.sub(r"\s*('[^']*'|\"[^\"]*\")", "", reason.split(":")[0])
    return " ".join(text.split())[:60] or "unknown"


#: the reasons the bus itself gives; their series are exported at 0 from the start
REASONS = ("expired while the recipient was away", "malformed",
           "recipient did not come back in time", "no subscriber for topic",
           "expired in the mailbox", "rejected")


class Directory:
    """Membership, subscriptions, held messages and dead letters of one bus."""

    def __init__(self, hold_s: float = 30.0, dead_capacity: int = 10_000) -> None:
        self.hold_s = hold_s
        self._members: dict[str, tuple[str, Any]] = {}
        #: agent hosts (``agents.hosting``): key -> handle; a host takes the messages of a
        #: topic once for all its subscribing agents and hands them out itself
        self._hosts: dict[str, Any] = {}
        #: hosted agent id -> its host's key
        self._hosted: dict[str, str] = {}
        self._topics = TopicMatcher()
        self._held: dict[str, list[tuple[float, bytes]]] = {}
        self._dead: collections.deque[tuple[dict[str, Any], str]] = collections.deque(
            maxlen=dead_capacity)
        self.dead_counts: collections.Counter[str] = collections.Counter()
        #: dead-letter notices waiting to go to subscribers of DEAD_LETTER_TOPIC
        self.outgoing: list[bytes] = []

    # -- membership --------------------------------------------------------------
    def register(self, agent_id: str, agent_type: str, handle: Any,
                 topics: Sequence[str] = ()) -> list[bytes]:
        """Join (or re-join after a restart), subscribed to ``topics``; returns the
        messages held for this agent."""
        self._members[agent_id] = (agent_type, handle)
        for topic in topics:
            self._topics.subscribe(topic, agent_id)
        now = time.time()
        held = self._held.pop(agent_id, [])
        live = []
        for deadline, data in held:
            if now <= deadline:
                live.append(data)
            else:
                self._dead_bytes(data, "expired while the recipient was away")
        return live

    def deregister(self, agent_id: str) -> None:
        self._members.pop(agent_id, None)
        self._hosted.pop(agent_id, None)
        self._topics.unsubscribe_all(agent_id)

    def register_host(self, host_key: str, handle: Any,
                      agents: Sequence[tuple[str, str]]) -> dict[str, list[bytes]]:
        """A host joins (or re-joins after a restart) with its ``(agent id, agent type)``
        pairs: each agent resolves to the host's handle.  Returns the messages held for
        the host's key and for each of its agents, by key or agent id (only non-empty)."""
        self._hosts[host_key] = handle
        held = {host_key: self.register(host_key, "host", handle)}
        self._members.pop(host_key, None)  # a host is not an agent: not in members()
        for agent_id, agent_type in agents:
            self._hosted[agent_id] = host_key
            held[agent_id] = self.register(agent_id, agent_type, handle)
        return {k: v for k, v in held.items() if v}

    def hosted(self) -> set[str]:
        """The ids of the agents that live in hosts (their host answers calls for them)."""
        return set(self._hosted)

    def deregister_host(self, host_key: str) -> None:
        """The host is gone for good, with every agent it held."""
        self._hosts.pop(host_key, None)
        self._topics.unsubscribe_all(host_key)
        for agent_id in [a for a, h in self._hosted.items() if h == host_key]:
            self.deregister(agent_id)

    def locate(self, agent_id: str) -> tuple[Any, str | None] | None:
        """Where an agent lives: ``(handle, None)`` for an agent actor, ``(host handle,
        host key)`` for a hosted agent, None when it is not on the bus."""
        member = self._members.get(agent_id)
        if member is None:
            return None
        return member[1], self._hosted.get(agent_id)

    def resolve(self, agent_ids: Sequence[str]) -> dict[str, Any]:
        """Handles of the named agents (None for those not on the bus)."""
        return {a: (self._members[a][1] if a in self._members else self._hosts.get(a))
                for a in agent_ids}

    def members(self, agent_type: str | None = None) -> dict[str, Any]:
        return {a: h for a, (t, h) in self._members.items()
                if agent_type is None or t == agent_type}

    # -- topics ---------------------------------------------------------------
    def subscribe(self, agent_id: str, pattern: str) -> None:
        self._topics.subscribe(pattern, agent_id)

    def unsubscribe(self, agent_id: str, pattern: str) -> None:
        self._topics.unsubscribe(pattern, agent_id)

    def route(self, topic: str) -> dict[str, Any]:
        """Handles of every member subscribed to ``topic``: an agent actor by its id, a
        host once by its key (it delivers to its own subscribers)."""
        out = {}
        for a in self._topics.match(topic):
            handle = self._hosts.get(a)
            if handle is None and a in self._members:
                handle = self._members[a][1]
            if handle is not None:
                out[a] = handle
        return out

    # -- held and dead ------------------------------------------------------------
    def hold(self, recipient: str, envelopes: Sequence[bytes]) -> int:
        """Keep envelopes for an absent recipient until it registers or they expire."""
        if recipient in self._members or recipient in self._hosts:  # it came back meanwhile:
            # the sender should retry
            return 0
        slot = self._held.setdefault(recipient, [])
        for data in envelopes:
            try:
                env = Envelope.from_bytes(data)
            except EnvelopeError as exc:
                self._dead_bytes(data, f"malformed: {exc}")
                continue
            ttl = env.ttl_s if env.ttl_s is not None else self.hold_s
            slot.append((env.created_at + ttl, data))
        return len(envelopes)

    def expire_held(self) -> int:
        """Dead-letter held envelopes past their deadline; returns how many."""
        now, n = time.time(), 0
        for recipient in list(self._held):
            keep = []
            for deadline, data in self._held[recipient]:
                if now > deadline:
                    self._dead_bytes(data, f"recipient {recipient!r} did not come back in time")
                    n += 1
                else:
                    keep.append((deadline, data))
            self._held[recipient] = keep
        return n

    def dead_letter(self, envelopes: Sequence[bytes], reason: str) -> None:
        for data in envelopes:
            self._dead_bytes(data, reason)

    def _dead_bytes(self, data: bytes, reason: str) -> None:
        metrics.count("raymas_dead_letters", reason=reason_kind(reason))
        try:
            env = Envelope.from_bytes(data)
            record = {"id": env.id, "sender": env.sender, "recipient": env.recipient,
                      "topic": env.topic, "performative": env.performative.value,
                      "payload": env.payload}
            self.dead_counts[env.destination] += 1
        except EnvelopeError:
            record = {"raw": bytes(data[:256])}
            self.dead_counts["(malformed)"] += 1
        self._dead.append((record, reason))
        if record.get("topic") != DEAD_LETTER_TOPIC:  # never dead-letter the dead letters
            self.outgoing.append(Envelope.new(
                "raymas-bus", topic=DEAD_LETTER_TOPIC, performative="failure",
                payload={"envelope": record, "reason": reason}).to_bytes())

    def dead_letters(self, limit: int = 100) -> list[tuple[dict[str, Any], str]]:
        """The most recent dead letters on ``raymas/dead-letter``, oldest first."""
        return list(self._dead)[-limit:]

    def stats(self) -> dict[str, Any]:
        return {"members": len(self._members), "hosts": len(self._hosts),
                "held": sum(len(v) for v in self._held.values()),
                "dead_letters": sum(self.dead_counts.values()),
                "dead_by_recipient": dict(self.dead_counts)}
