"""The bus inside an agent host: in-process delivery between its agents, one way out.

Every hosted agent that uses the bus gets a :class:`HostedEndpoint` (made when
it first sends, subscribes or is sent something: an agent that never talks
costs no mailbox).  What it sends to an agent of the same host goes straight
into that agent's mailbox as a parcel, in priority order, with no encoding
(payloads are passed by reference, as in Mesa: treat them as read-only); what
it sends elsewhere leaves through the host's one outbound endpoint, where
batches gather per destination with every other agent's sends.

Topics: the host subscribes at the bus directory once per pattern, under its
own key, and keeps which of its agents want which pattern (:class:`HostBus`);
a batch published anywhere reaches the host in one delivery and is handed to
each local subscriber as a parcel sharing the decoded columns.  A host's
outbound fan-out leaves the host itself out (its subscribers had it already).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from messaging import metrics, wire
from messaging.endpoint import BROADCAST_ALL, Endpoint, _traced, pattern_of
from messaging.envelope import Envelope, Performative, new_id
from messaging.mailbox import Parcel
from messaging.topics import TopicMatcher

__all__ = ["BROADCAST_PREFIX", "HostBus", "HostedEndpoint"]

BROADCAST_PREFIX = "raymas/broadcast/"


class HostedEndpoint(Endpoint):
    """A hosted agent's end of the bus (see the module docstring)."""

    def __init__(self, agent_id: str, agent_type: str, bus: HostBus, **options: Any) -> None:
        super().__init__(agent_id, agent_type, bus.directory, keyring=bus.keyring, **options)
        self.bus = bus

    async def start(self, self_handle: Any) -> None:
        """Nothing to do: the host registered this agent, and takes broadcasts for all
        its agents (see :meth:`HostBus.match`)."""

    async def subscribe(self, pattern: str) -> None:
        await self.bus.subscribe(self.agent_id, pattern)

    def send(self, env: Envelope) -> None:
        env = _traced(env)
        self.bus.send(env)
        self.counts["sent"] += 1
        metrics.count("raymas_messages", pattern=pattern_of(env))

    def send_copies(self, template: Envelope, payloads: Sequence[Any]) -> int:
        template = _traced(template)
        self.bus.send_copies(template, payloads)
        self.counts["sent"] += len(payloads)
        metrics.count("raymas_messages", len(payloads), pattern=pattern_of(template))
        return len(payloads)

    async def request(self, recipient: str, payload: Any = None, *, timeout_s: float = 5.0,
                      **fields: Any) -> Envelope:
        """A request to an agent of the same host is answered in-process."""
        local = self.bus.local_endpoint(recipient)
        if local is None or local.request_handler is None:
            return await super().request(recipient, payload, timeout_s=timeout_s, **fields)
        env = Envelope.new(self.agent_id, recipient=recipient,
                           performative=Performative.REQUEST, payload=payload,
                           reply_to=self.agent_id, **fields)
        self.counts["sent"] += 1
        try:
            return await asyncio.wait_for(local._answer(env), timeout_s)
        except TimeoutError:
            self.counts["request_timeouts"] += 1
            raise

    async def flush(self) -> None:
        await self.bus.flush()


class HostBus:
    """The host's agents' bus: local subscriptions, local delivery, one outbound endpoint.

    ``make_endpoint(agent_id)`` builds a hosted agent's endpoint (None when the
    agent is not in this host); ``outbound`` is the host's own endpoint on the bus.
    """

    def __init__(self, host_key: str, directory: Any, outbound: Endpoint,
                 make_endpoint: Callable[[str], HostedEndpoint | None],
                 members: Callable[[str | None], Iterable[str]], keyring: Any = None) -> None:
        self.host_key = host_key
        self.directory = directory
        self.keyring = keyring
        self.outbound = outbound
        outbound.fanout_skips_self = True
        self._make = make_endpoint
        self._members = members
        self.endpoints: dict[str, HostedEndpoint] = {}
        self.topics = TopicMatcher()
        #: patterns subscribed at the directory under the host's key, with how many of its
        #: agents want each
        self._patterns: collections.Counter[str] = collections.Counter()
        self._pending: dict[str, list[Parcel]] = {}
        self._drainer: asyncio.Task[None] | None = None
        self.counts: collections.Counter[str] = collections.Counter()

    # -- endpoints -------------------------------------------------------------------
    def local_endpoint(self, agent_id: str | None) -> HostedEndpoint | None:
        """The endpoint of a hosted agent of this host (made on first use), else None."""
        if agent_id is None:
            return None
        ep = self.endpoints.get(agent_id)
        if ep is None:
            ep = self._make(agent_id)
            if ep is not None:
                self.endpoints[agent_id] = ep
        return ep

    async def forget(self, agent_id: str) -> None:
        """The agent left the host: its subscriptions go, at the directory too where no
        other agent of the host holds them."""
        self.endpoints.pop(agent_id, None)
        for pattern in self.topics.patterns(agent_id):
            await self.unsubscribe(agent_id, pattern)

    # -- subscriptions ---------------------------------------------------------------
    async def subscribe(self, agent_id: str, pattern: str) -> None:
        if self.topics.has(agent_id, pattern):
            return
        self.topics.subscribe(pattern, agent_id)
        self._patterns[pattern] += 1
        if self._patterns[pattern] == 1:
            await self.directory.subscribe.remote(self.host_key, pattern)

    async def unsubscribe(self, agent_id: str, pattern: str) -> None:
        if self._drop(agent_id, pattern):
            await self.directory.unsubscribe.remote(self.host_key, pattern)

    def _drop(self, agent_id: str, pattern: str) -> bool:
        """Local unsubscribe; True when the host no longer needs ``pattern`` at all."""
        if not self.topics.has(agent_id, pattern):
            return False
        self.topics.unsubscribe(pattern, agent_id)
        self._patterns[pattern] -= 1
        if self._patterns[pattern] <= 0:
            del self._patterns[pattern]
            return True
        return False

    def patterns(self) -> list[str]:
        """The patterns the host holds at the directory (subscribed again after a restart)."""
        return sorted(self._patterns)

    def match(self, topic: str) -> Iterable[str]:
        """The host's agents that take ``topic``: its subscribers, and for a broadcast every
        agent (of the type, for a typed broadcast) without a subscription each."""
        if topic.startswith(BROADCAST_PREFIX):
            kind = topic[len(BROADCAST_PREFIX):]
            return self._members(None if topic == BROADCAST_ALL else kind)
        return self.topics.match(topic)

    # -- sending ---------------------------------------------------------------------
    def send(self, env: Envelope) -> None:
        if env.recipient is not None:
            if self.local_endpoint(env.recipient) is not None:
                self._local(env.recipient, Parcel.of(env))
            else:
                self.outbound.send(env)
            return
        for agent_id in self.match(env.topic or ""):
            self._local(agent_id, Parcel.of(env))
        self.outbound.send(env)  # the other hosts and agent actors, if any subscribe

    def send_copies(self, template: Envelope, payloads: Sequence[Any]) -> None:
        """One envelope per payload, like ``template``: in-host, one parcel for the lot."""
        local: list[str] = (
            [template.recipient] if template.recipient is not None
            and self.local_endpoint(template.recipient) is not None
            else [] if template.recipient is not None
            else list(self.match(template.topic or "")))
        if local:
            n = len(payloads)
            ns, now = time.time_ns(), time.time()
            ids = [new_id(ns + i) for i in range(n)]
            parcel = Parcel((template.sender, template.performative, template.recipient,
                             template.topic, template.priority, template.ttl_s,
                             template.reply_to), ids, [now] * n,
                            [template.correlation_id] * n, [template.headers] * n,
                            list(payloads))
            for agent_id in local:
                self._local(agent_id, _copy(parcel))
        if template.recipient is None or not local:
            self.outbound.send_copies(template, payloads)

    def _local(self, agent_id: str, parcel: Parcel) -> None:
        self.counts["in_host"] += len(parcel)
        self._pending.setdefault(agent_id, []).append(parcel)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Hand local parcels to their mailboxes (waiting for room where one is full)."""
        while self._pending:
            pending, self._pending = self._pending, {}
            for agent_id, parcels in pending.items():
                ep = self.local_endpoint(agent_id)
                if ep is None:  # it left meanwhile: nothing is dropped silently
                    await self.directory.dead_letter.remote(
                        [e for p in parcels for e in p.encoded()],
                        f"recipient {agent_id!r} left its host")
                    continue
                dead: dict[str, list[bytes]] = {}
                await ep.accept(parcels, dead, opened=True)  # never sealed: never left
                await ep._dead_letter(dead)

    async def flush(self) -> None:
        """Wait until everything sent so far is in local mailboxes or delivered remotely."""
        while self._drainer is not None and not self._drainer.done():
            await self._drainer
        await self.outbound.flush()

    # -- receiving from other actors -----------------------------------------------
    async def deliver(self, batch: Sequence[bytes]) -> int:
        """Frames from elsewhere: each parcel to its recipient, or to every local
        subscriber of its topic (one parcel each, sharing the columns)."""
        dead: dict[str, list[bytes]] = {}
        by_agent: dict[str, list[Parcel]] = {}
        for data in batch:
            parcels, bad = wire.decode_parcels(data, self.outbound.max_bytes)
            for single, reason in bad:
                dead.setdefault(reason, []).append(single)
            for parcel in parcels:
                recipient = parcel.key[2]
                if recipient is not None:
                    if self.local_endpoint(recipient) is not None:
                        by_agent.setdefault(recipient, []).append(parcel)
                    else:  # moved or gone: held until it is back, like any message
                        self.counts["held"] += len(parcel)
                        await self.directory.hold.remote(recipient, parcel.encoded())
                    continue
                for agent_id in self.match(parcel.key[3] or ""):
                    by_agent.setdefault(agent_id, []).append(_copy(parcel))
        accepted = 0
        for agent_id, parcels in by_agent.items():
            ep = self.local_endpoint(agent_id)
            assert ep is not None
            accepted += await ep.accept(parcels, dead)
        if dead:
            await self.outbound._dead_letter(dead)
        self.counts["received"] += accepted
        return accepted

    async def serve(self, frames: Sequence[bytes]) -> list[bytes]:
        """Direct requests to hosted agents: each answered by its recipient (a frame a
        requester sends holds one request, handed on as it came); a recipient that is
        not here has its requests held, and what cannot be decoded is dead-lettered."""
        replies: list[bytes] = []
        dead: dict[str, list[bytes]] = {}
        for data in frames:
            parcels, bad = wire.decode_parcels(data, self.outbound.max_bytes)
            for single, reason in bad:
                dead.setdefault(reason, []).append(single)
            recipients = {p.key[2] for p in parcels}
            if not bad and len(recipients) == 1:
                ep = self.local_endpoint(next(iter(recipients)))
                if ep is not None:
                    replies.extend(await ep.serve([data]))
                    continue
            for parcel in parcels:
                ep = self.local_endpoint(parcel.key[2])
                if ep is None:
                    await self.directory.hold.remote(parcel.key[2] or "", parcel.encoded())
                else:
                    replies.extend(await ep.serve(parcel.encoded()))
        if dead:
            await self.outbound._dead_letter(dead)
        return replies


def _copy(parcel: Parcel) -> Parcel:
    """Another parcel over the same columns (a mailbox moves its parcel's ``lo``)."""
    return Parcel(parcel.key, parcel.ids, parcel.created, parcel.corrs, parcel.headers,
                  parcel.payloads, parcel.lo, parcel.hi)
