"""An agent's end of the bus: outbox with micro-batching, bounded mailbox, replies.

One :class:`Endpoint` lives inside each agent actor.  Sending never makes a
Ray call per message: envelopes are encoded, coalesced per destination and
flushed when a batch is full or has lingered ``linger_s``; one ``deliver``
call carries the batch.  With ``linger_s=0`` (the default) batching adapts to
load: a message to a destination with nothing on the way goes at once, and
what is published on a topic while one of its batches is on the way gathers
into the next one (see ``Endpoint._held``), so latency stays low when idle and
batches grow under load.  The receiver
validates each envelope on its own (a bad one is rejected, counted and
dead-lettered; the rest of the batch goes through), routes replies to waiting
requests, and queues the rest in a bounded priority mailbox, waiting for room
when it is full, which holds up the sender's flush: back-pressure instead of
unbounded memory.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ray
from cachetools import TTLCache

from messaging import metrics, trace, wire
from messaging.batcher import Batcher
from messaging.envelope import DEFAULT_MAX_BYTES, TOPIC_PREFIX, Envelope, Performative
from messaging.errors import SecurityError
from messaging.gossip import RumourStore
from messaging.mailbox import DeadLetter, Mailbox, Parcel
from messaging.requests import RequestHandler, Requests
from messaging.topics import ENVIRONMENT_PREFIX, EVENTS_PREFIX, HEARD_IF_WANTED

if TYPE_CHECKING:  # an endpoint with keys is given its keyring: see messaging/__init__.py
    from messaging.crypto import Keyring

__all__ = ["BROADCAST_ALL", "EVENTS_PREFIX", "ROUTE_TTL_S", "Endpoint", "broadcast_topic",
           "keyring_of", "pattern_of"]

logger = logging.getLogger(__name__)

BROADCAST_ALL = "raymas/broadcast/all"
#: a fan-out frame under this size is sent inline with every delivery, not put once
INLINE_FRAME_BYTES = 100_000
#: a topic with this many subscribers (agent actors or hosts) or more lets its sends
#: gather FANOUT_LINGER_S before each fan-out: one batch costs a Ray call per subscriber
FANOUT_LINGER_MIN = 8
FANOUT_LINGER_S = 0.005
#: how long the subscribers of an environment's topic are remembered (see Endpoint._route)
ROUTE_TTL_S = 1.0
#: topics under EVENTS_PREFIX and ENVIRONMENT_PREFIX carry events for whoever listens: when
#: nobody does they are counted ("unrouted_events"), not dead-lettered


def _traced(env: Envelope) -> Envelope:
    """``env`` with the current correlation id in its header (when there is one)."""
    cid = trace.current()
    if cid is None or trace.HEADER in env.headers:
        return env
    return replace(env, headers={**env.headers, trace.HEADER: cid})


def pattern_of(env: Envelope) -> str:
    """The messaging pattern an envelope is sent with (the ``raymas_messages`` tag).

    >>> pattern_of(Envelope.new("a", recipient="b", performative="request"))
    'request'
    >>> pattern_of(Envelope.new("a", topic=BROADCAST_ALL))
    'broadcast'
    """
    if env.correlation_id is not None and env.performative is not Performative.REQUEST \
            and env.recipient is not None:
        return "reply"
    if env.performative is Performative.REQUEST:
        return "request"
    if env.recipient is not None:
        return "direct"
    return "broadcast" if (env.topic or "").startswith("raymas/broadcast/") else "publish"


def broadcast_topic(agent_type: str | None) -> str:
    return BROADCAST_ALL if agent_type is None else f"raymas/broadcast/{agent_type}"


def keyring_of(message_keys: str | None) -> Keyring | None:
    """The keyring of ``"kid:<base64>,..."`` keys, or None without keys; cryptography is
    imported only here, where keys are (7 ms of CPU in every agent's start otherwise)."""
    if not message_keys:
        return None
    from messaging.crypto import Keyring

    return Keyring.from_spec(message_keys)


class Endpoint(Requests):
    """Send, publish, broadcast, request and receive for one agent (or driver)."""

    def __init__(self, agent_id: str, agent_type: str, directory: Any, *,
                 mailbox_capacity: int = 10_000, max_batch: int = 512, linger_s: float = 0.0,
                 keyring: Keyring | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 request_handler: RequestHandler | None = None) -> None:
        self.agent_id = agent_id
        self.agent_type = agent_type
        self.directory = directory
        self.mailbox = Mailbox(mailbox_capacity)
        self.keyring = keyring
        self.max_bytes = max_bytes
        self.request_handler = request_handler
        self._batcher: Batcher[str, wire.Row] = Batcher(max_batch, linger_s)
        self._busy: set[str] = set()  # destinations with a batch on the way
        #: full batches for a topic that has one on the way, sent after it in this order
        self._queued: dict[str, collections.deque[list[wire.Row]]] = {}
        self._handles: dict[str, Any] = {}
        #: look-ups on their way to the directory, by destination
        self._resolving: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._replies: dict[str, asyncio.Future[Envelope]] = {}
        self._timed_out: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=600)
        self._room = asyncio.Condition()
        self._arrived = asyncio.Condition()
        self._kick = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self.counts: collections.Counter[str] = collections.Counter()
        self.rumours = RumourStore()
        self._flusher: asyncio.Task[None] | None = None
        self._routes: dict[str, tuple[float, dict[str, Any]]] = {}  # see _route
        #: leave this endpoint out of its own topics' fan-out (an agent host's outbound
        #: endpoint: the host's subscribers already had the message in-process)
        self.fanout_skips_self = False

    async def start(self, self_handle: Any) -> None:
        """Join the bus (receiving what was held for us) and start the flusher."""
        held = await self.directory.register.remote(  # one call: joining is on every start
            self.agent_id, self.agent_type, self_handle,
            [BROADCAST_ALL, broadcast_topic(self.agent_type)])
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())
        if held:
            await self.deliver(held)

    async def subscribe(self, pattern: str) -> None:
        """Take what is published on topics matching ``pattern`` from now on."""
        await self.directory.subscribe.remote(self.agent_id, pattern)

    def tune(self, max_batch: int | None = None, linger_s: float | None = None) -> None:
        """Change the batching of what is sent from now on (like a producer's
        ``batch.size`` and ``linger.ms``); ``max_batch=1`` sends every envelope alone."""
        old = self._batcher
        for dest, rows in old.flush_all():
            self._launch(dest, rows)
        self._batcher = Batcher(old.max_batch if max_batch is None else max_batch,
                                old.linger_s if linger_s is None else linger_s)

    # -- sending -------------------------------------------------------------------
    def send(self, env: Envelope) -> None:
        """Queue ``env`` for its recipient or topic (validated and encoded now).

        Sent while a task runs, it carries that task's correlation id (header
        ``correlation``) unless it names one already.
        """
        env = _traced(env)
        if self.keyring is not None:
            env = self.keyring.seal(env)
        self._queue(env.destination, [wire.encode(env, self.max_bytes)])
        metrics.count("raymas_messages", pattern=pattern_of(env))

    def send_copies(self, template: Envelope, payloads: Sequence[Any]) -> int:
        """One envelope per payload, otherwise like ``template`` (which is validated once):
        the fast path for many messages to one destination."""
        template = _traced(template)
        if self.keyring is not None:  # each payload is sealed on its own
            for p in payloads:
                self.send(Envelope.new(template.sender, performative=template.performative,
                                       recipient=template.recipient, topic=template.topic,
                                       payload=p, priority=template.priority,
                                       ttl_s=template.ttl_s, headers=template.headers))
            return len(payloads)
        self._queue(template.destination,
                    wire.encode_payloads(template, payloads, self.max_bytes))
        metrics.count("raymas_messages", len(payloads), pattern=pattern_of(template))
        return len(payloads)

    def _queue(self, dest: str, rows: list[wire.Row]) -> None:
        for d, batch in self._batcher.extend(dest, rows, time.monotonic()):
            self._launch(d, batch)
        if self._batcher.linger_s == 0 and dest not in self._busy \
                and dest not in self._batcher.lingers:
            self._launch(dest, self._batcher.take(dest))  # idle line: go now, no linger
        else:
            self._kick.set()
        self.counts["sent"] += len(rows)

    def tell(self, recipient: str, payload: Any = None, *,
             performative: Performative | str = Performative.INFORM, **fields: Any) -> Envelope:
        env = Envelope.new(self.agent_id, recipient=recipient, performative=performative,
                           payload=payload, **fields)
        self.send(env)
        return env

    def publish(self, topic: str, payload: Any = None, *,
                performative: Performative | str = Performative.INFORM, **fields: Any
                ) -> Envelope:
        env = Envelope.new(self.agent_id, topic=topic, performative=performative,
                           payload=payload, **fields)
        self.send(env)
        return env

    def broadcast(self, payload: Any = None, agent_type: str | None = None, **fields: Any
                  ) -> Envelope:
        """To every agent on the bus, or every agent of ``agent_type``."""
        return self.publish(broadcast_topic(agent_type), payload, **fields)

    async def flush(self) -> None:
        """Send everything buffered now and wait until it is delivered."""
        for dest, batch in self._batcher.flush_all():
            self._launch(dest, batch)
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    def _launch(self, dest: str, batch: list[wire.Row]) -> None:
        if not batch:
            return
        if dest in self._busy and dest.startswith(TOPIC_PREFIX):  # one at a time: see _held
            self._queued.setdefault(dest, collections.deque()).append(batch)
            return
        self.counts["batches"] += 1
        self._busy.add(dest)
        self._background(self._deliver_then_next(dest, batch))

    async def _deliver_then_next(self, dest: str, batch: list[wire.Row]) -> None:
        """Deliver; meanwhile later sends to ``dest`` gather into the next batch."""
        try:
            await self._deliver_batch(dest, batch)
        finally:
            self._busy.discard(dest)
            queued = self._queued.get(dest)
            if queued:
                following = queued.popleft()
                if not queued:
                    del self._queued[dest]
            else:
                following = self._batcher.take(dest)
            if following:
                self._launch(dest, following)

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    def _held(self) -> list[str]:
        """Topics with a batch on its way: what is sent meanwhile waits for it
        (``_deliver_then_next`` takes it).  Two batches of one topic on their way at once
        could pass each other (each asks the directory for the subscribers first), and a
        fan-out topic's batches grow with the load instead of each linger starting another
        fan-out to every subscriber.  A direct destination's batches are not held, so a
        large send keeps several on their way (holding them cost 40 % of agent-to-agent
        throughput); they carry their frames inline and the receiver takes each in as Ray
        starts it, in the order sent.  Ray documents that order for synchronous actors
        only: ``test_direct_messages_arrive_batched_in_priority_order`` checks it here."""
        return [d for d in self._busy if d.startswith(TOPIC_PREFIX)]

    async def _flush_loop(self) -> None:
        while True:
            deadline = self._batcher.next_deadline(self._held())
            if deadline is None:
                self._kick.clear()
                await self._kick.wait()
                continue
            delay = deadline - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._kick.wait(), delay)
                    self._kick.clear()
                    continue
                except TimeoutError:
                    pass
            for dest, batch in self._batcher.due(time.monotonic(), self._held()):
                self._launch(dest, batch)

    async def _route(self, topic: str) -> dict[str, Any]:
        """Who is subscribed to ``topic``.  For environment observations (``env/``: a
        stream at the outside world's rate, heard only if wanted) the answer is kept
        ``ROUTE_TTL_S``, saving the directory a call per batch; a subscriber that joins
        meanwhile hears them from then on, at most that much later."""
        if not topic.startswith(ENVIRONMENT_PREFIX):
            targets: dict[str, Any] = await self.directory.route.remote(topic)
            return targets
        now = time.monotonic()
        cached = self._routes.get(topic)
        if cached is not None and cached[0] > now:
            return cached[1]
        targets = await self.directory.route.remote(topic)
        self._routes[topic] = (now + ROUTE_TTL_S, targets)
        return targets

    async def _deliver_batch(self, dest: str, rows: list[wire.Row]) -> None:
        frame = wire.pack_frame(rows)
        if dest.startswith(TOPIC_PREFIX):
            topic = dest[len(TOPIC_PREFIX):]
            targets = await self._route(topic)
            if not targets and topic.startswith(HEARD_IF_WANTED):
                self.counts["unrouted_events"] += len(rows)
                return
            if not targets:
                await self.directory.dead_letter.remote(wire.explode(frame),
                                                        f"no subscriber for {dest}")
                self.counts["dead_lettered"] += len(rows)
                return
            if len(targets) >= FANOUT_LINGER_MIN:
                self._batcher.lingers[dest] = max(FANOUT_LINGER_S, self._batcher.linger_s)
            else:
                self._batcher.lingers.pop(dest, None)
            if self.fanout_skips_self:  # a host: its own subscribers were served in-process
                targets = {a: h for a, h in targets.items() if a != self.agent_id}
                if not targets:
                    return
            # a large frame is put once for all; a small one goes inline with each call
            # (resolving a put object costs each subscriber a lookup at the owner)
            batch: Any = ([frame] if len(targets) == 1 or len(frame) < INLINE_FRAME_BYTES
                          else ray.put([frame]))
            await asyncio.gather(*(self._to_agent(a, h, batch) for a, h in targets.items()))
            return
        batch = [frame]
        handle = self._handles.get(dest)
        if handle is None:
            handle = await self._resolve(dest)
            if handle is None:
                await self._hold(dest, batch, "not on the bus")
                return
            self._handles[dest] = handle
        await self._to_agent(dest, handle, batch)

    async def _resolve(self, dest: str) -> Any:
        """``dest``'s handle from the directory (None when it is not on the bus).  The
        batches of one large send all go out at once: they share one look-up instead of
        each asking the directory (2,000 calls for a million-message ``tell_many``)."""
        pending = self._resolving.get(dest)
        if pending is None:
            pending = asyncio.ensure_future(self.directory.resolve.remote([dest]))
            self._resolving[dest] = pending
            pending.add_done_callback(lambda _: self._resolving.pop(dest, None))
        found: dict[str, Any] = await asyncio.shield(pending)
        return found[dest]

    async def _to_agent(self, agent_id: str, handle: Any, batch: Any) -> None:
        """Deliver ``batch`` (a list of frames, or a reference to one shared by a fan-out)."""
        try:
            await handle.deliver.remote(batch)
        except ray.exceptions.RayActorError:
            self._handles.pop(agent_id, None)
            self._routes.clear()  # a subscriber is gone or restarting: ask again
            await self._hold(agent_id, batch, "dead or restarting")

    async def _hold(self, recipient: str, batch: Any, why: str) -> None:
        frames = await batch if isinstance(batch, ray.ObjectRef) else batch
        singles = [d for frame in frames for d in wire.explode(frame)]
        held = await self.directory.hold.remote(recipient, singles)
        if held:
            self.counts["held"] += held
            logger.debug("holding %d envelopes for %s (%s)", held, recipient, why)
        else:  # it registered meanwhile: try once more through a fresh lookup
            handle = (await self.directory.resolve.remote([recipient]))[recipient]
            if handle is not None:
                self._handles[recipient] = handle
                await self._to_agent(recipient, handle, batch)

    # -- receiving -------------------------------------------------------------------
    async def deliver(self, batch: Sequence[bytes]) -> int:
        """Called by senders (one Ray call per batch of frames or single envelopes);
        returns how many envelopes were accepted."""
        dead: dict[str, list[bytes]] = {}
        parcels = [p for data in batch for p in self._decode(data, dead)]
        accepted = await self.accept(parcels, dead)
        await self._dead_letter(dead)
        return accepted

    async def accept(self, parcels: Sequence[Parcel], dead: dict[str, list[bytes]],
                     opened: bool = False) -> int:
        """Take decoded parcels in (replies to their requests, requests to the handler, the
        rest into the mailbox); what cannot be opened goes into ``dead``.  How many were.
        ``opened``: the payloads are not sealed (they never left the process)."""
        accepted = 0
        for parcel in parcels:
            if ((self.keyring is None or opened)
                    and parcel.performative is not Performative.REQUEST
                    and parcel.corrs.count(None) == len(parcel.corrs)):
                await self._enqueue(parcel)  # the common case: straight into the mailbox
                accepted += len(parcel)
            else:
                accepted += await self._sort(parcel.envelopes(), dead, opened)
        self.counts["received"] += accepted
        if accepted:
            async with self._arrived:
                self._arrived.notify_all()
        return accepted

    def _decode(self, data: bytes, dead: dict[str, list[bytes]]) -> list[Parcel]:
        """A frame's valid envelopes; the rest go into ``dead`` by reason."""
        parcels, bad = wire.decode_parcels(data, self.max_bytes)
        for single, reason in bad:
            dead.setdefault(reason, []).append(single)
        return parcels

    def _open(self, env: Envelope, dead: dict[str, list[bytes]]) -> Envelope | None:
        """The envelope with its payload opened (None, and into ``dead``, if it cannot be)."""
        if self.keyring is None:
            return env
        try:
            return self.keyring.open(env)
        except SecurityError as exc:
            dead.setdefault(f"rejected: {exc}", []).append(env.to_bytes())
            return None

    async def _sort(self, envs: list[Envelope], dead: dict[str, list[bytes]],
                    opened: bool = False) -> int:
        """Open, route replies, serve requests, queue the rest; returns how many were taken."""
        taken = 0
        for sealed in envs:
            env = sealed if opened else self._open(sealed, dead)
            if env is None:
                continue
            if env.correlation_id is not None and self._route_reply(env):
                pass
            elif env.performative is Performative.REQUEST and self.request_handler is not None:
                self._background(self._serve(env))
            else:
                await self._enqueue(Parcel.of(env))
            taken += 1
        return taken

    async def _enqueue(self, parcel: Parcel) -> None:
        """Queue into the mailbox, waiting for room while it is full (back-pressure)."""
        left = len(parcel) - self.mailbox.offer_parcel(parcel)
        if not left:
            return
        async with self._room:
            while left:
                got = self.mailbox.offer_parcel(parcel)
                if not got:
                    self.counts["waits_for_room"] += 1
                    await self._room.wait()
                left -= got

    async def _dead_letter(self, dead: dict[str, list[bytes]]) -> None:
        for reason, items in dead.items():
            self.counts["dead_lettered"] += len(items)
            if reason.startswith("rejected"):
                self.counts["rejected"] += len(items)
            await self.directory.dead_letter.remote(items, reason)

    async def receive(self, max_n: int = 100, timeout_s: float = 0.0) -> list[Envelope]:
        """Up to ``max_n`` envelopes, highest priority first; waits up to ``timeout_s``."""
        await self._wait_for_mail(timeout_s)
        got, expired = self.mailbox.take(max_n)
        await self._after_take(bool(got), expired)
        return got

    async def receive_records(self, max_n: int = 100, timeout_s: float = 0.0
                              ) -> list[dict[str, Any]]:
        """Like :meth:`receive`, as plain dicts (no envelope objects are built)."""
        await self._wait_for_mail(timeout_s)
        got, expired = self.mailbox.take_records(max_n)
        await self._after_take(bool(got), expired)
        return got

    async def receive_parcels(self, max_n: int = 100, timeout_s: float = 0.0) -> list[Parcel]:
        """Like :meth:`receive`, as parcels (runs sharing their fields; bridges use this)."""
        await self._wait_for_mail(timeout_s)
        got, expired = self.mailbox.take_parcels(max_n)
        await self._after_take(bool(got), expired)
        return got

    async def _wait_for_mail(self, timeout_s: float) -> None:
        if not len(self.mailbox) and timeout_s > 0:
            async with self._arrived:
                try:
                    await asyncio.wait_for(
                        self._arrived.wait_for(lambda: len(self.mailbox) > 0), timeout_s)
                except TimeoutError:
                    pass

    async def _after_take(self, took: bool, expired: list[DeadLetter]) -> None:
        if took or expired:
            async with self._room:
                self._room.notify_all()
        if expired:
            self.counts["dead_lettered"] += len(expired)
            await self.directory.dead_letter.remote([e.to_bytes() for e, _ in expired],
                                                    "expired in the mailbox")

    # -- gossip ------------------------------------------------------------------
    async def gossip_round(self, fanout: int, rng: Any) -> int:
        """Push-pull with ``fanout`` random members; returns how many rumours were new here."""
        members = await self.directory.members.remote()
        hosted = await self.directory.hosted.remote()  # their host answers for them
        peers = sorted(a for a in members if a != self.agent_id)
        if not peers:
            return 0
        picks = [peers[int(i)] for i in rng.choice(len(peers), min(fanout, len(peers)),
                                                   replace=False)]
        hot, digest = self.rumours.hot(), self.rumours.digest()
        metrics.count("raymas_messages", len(picks), pattern="gossip")
        learned = 0
        replies = await asyncio.gather(
            *(members[p].gossip_exchange_of.remote(p, hot, digest) if p in hosted
              else members[p].gossip_exchange.remote(hot, digest) for p in picks),
            return_exceptions=True)
        for reply in replies:
            if isinstance(reply, dict):
                learned += len(self.rumours.absorb(reply))
            else:
                self.counts["gossip_failures"] += 1
        self.rumours.tick()
        return learned

    def gossip_exchange(self, pushed: dict[str, Any], digest: set[str]) -> dict[str, Any]:
        """The peer side of a round: take what was pushed, return what the caller lacks."""
        self.rumours.absorb(pushed)
        return self.rumours.missing_from(digest | set(pushed))

    def stats(self) -> dict[str, Any]:
        """Mailbox depth and counters (Ray shows no actor queue depth; this does)."""
        return {"agent_id": self.agent_id, "mailbox_depth": len(self.mailbox),
                "mailbox_capacity": self.mailbox.capacity,
                "outbox": len(self._batcher) + sum(len(b) for q in self._queued.values()
                                                   for b in q),
                "in_flight_batches": len(self._inflight), "rumours": len(self.rumours),
                **self.counts}
