"""Bridge actors: bus topics out to a broker, broker topics in to the bus.

Delivery is at-least-once on both legs, with de-duplication by envelope id
where envelopes land: outbound, an envelope leaves the bridge's mailbox only
after the broker accepted it; inbound, a broker message is acknowledged only
after its envelope is on the bus, and an id seen before is acknowledged and
dropped.  With the Supervisor's public key, inbound envelopes must carry an
identity token (header ``auth``, a JWT the Supervisor issued to the sender);
one without, with a forged or expired token, or a token naming someone else is
refused and dead-lettered with the reason.  Broker calls go through
:func:`messaging.brokers.ensure`, so a lost connection is re-opened with
back-off and the bridge's ``health`` shows it.

Each direction connects at once, not at its first message, so ``health``
says ``connected`` only once the broker has answered (whoever starts a bridge
can wait for that).  A :class:`BridgeMeter` measures what the bridge moves,
once per batch: envelopes per direction, their lag (how old the last one was
when the broker accepted it, or when it landed on the bus) and the backlog
waiting to go out; it keeps the last values for ``health`` and records them
as ``raymas_bridge_*`` metrics (:mod:`messaging.metrics`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import ray
from cachetools import TTLCache

from messaging.brokers import Broker, ensure, make_broker
from messaging.crypto import AuthError, Keyring, SecurityError, TokenVerifier
from messaging.endpoint import Endpoint
from messaging.envelope import Envelope, EnvelopeError
from messaging.mailbox import Parcel
from messaging.metrics import count, set_gauge
from messaging.topics import TopicMatcher

__all__ = ["Bridge", "BridgeActor", "BridgeMeter", "Direction", "actor_name", "get_bridge",
           "start_bridge", "stop_bridge"]

logger = logging.getLogger(__name__)

#: out: bus to broker; in: broker to bus
Direction = Literal["out", "in"]


class BridgeMeter:
    """How much a bridge moved and how late, measured once per batch.

    The bridge calls :meth:`moved` once per batch the broker accepted (out) or
    put on the bus (in), and :meth:`waiting` once per outbound step, so the
    cost is a few dictionary updates per batch, never per envelope.  The last
    values are kept for :meth:`Bridge.health` (None until measured) and
    recorded as metrics.  ``clock`` is wall-clock time, as envelopes'
    ``created_at`` is.
    """

    def __init__(self, bridge_id: str, clock: Callable[[], float] = time.time) -> None:
        self.bridge_id = bridge_id
        self._clock = clock
        self.lag_s: dict[Direction, float | None] = {"out": None, "in": None}
        self.backlog: int | None = None

    def moved(self, direction: Direction, n: int, last_created_at: float) -> None:
        """``n`` envelopes moved; the last of them was created at ``last_created_at``."""
        lag = max(0.0, self._clock() - last_created_at)  # clocks of two nodes may differ
        self.lag_s[direction] = lag
        count("raymas_bridge_messages", n, bridge=self.bridge_id, direction=direction)
        set_gauge("raymas_bridge_lag_s", lag, bridge=self.bridge_id, direction=direction)

    def waiting(self, n: int) -> None:
        """``n`` envelopes wait in the bridge to go out."""
        self.backlog = n
        set_gauge("raymas_bridge_backlog", n, bridge=self.bridge_id)

    def health(self) -> dict[str, Any]:
        return {"lag_s_out": self.lag_s["out"], "lag_s_in": self.lag_s["in"],
                "backlog": self.backlog}


class Bridge:
    """Pumps envelopes between one broker and the bus (see the module docstring)."""

    def __init__(self, bridge_id: str, brokers: tuple[Broker, Broker], endpoint: Endpoint, *,
                 out_patterns: Sequence[str] = (), in_topics: Sequence[str] = (),
                 group: str = "raymas-bridge", prefix: str = "raymas.",
                 keyring: Keyring | None = None, verifier: TokenVerifier | None = None,
                 batch: int = 512, out_batch: int = 4096) -> None:
        self.bridge_id = bridge_id
        # one broker connection per direction: each loop owns its own, nothing is shared
        self.out_broker, self.in_broker = brokers
        self.endpoint = endpoint
        self.out_patterns = list(out_patterns)
        self.in_topics = list(in_topics)
        self.group = group
        self.prefix = prefix
        self.keyring = keyring
        self.verifier = verifier
        self.batch = batch
        self.out_batch = out_batch  # larger: a broker confirms a whole batch in one wait
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=1_000_000, ttl=3600)
        self.counts: collections.Counter[str] = collections.Counter()
        self.meter = BridgeMeter(bridge_id)
        self.last_error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._mirror = TopicMatcher()
        for pattern in self.out_patterns:
            self._mirror.subscribe(pattern, "out")

    async def start(self) -> None:
        for pattern in self.out_patterns:
            await self.endpoint.directory.subscribe.remote(self.endpoint.agent_id, pattern)
        loop = asyncio.get_running_loop()
        if self.out_patterns:
            pending: list[Parcel] = []
            self._tasks.append(loop.create_task(
                self._forever("outbound", lambda: self._outbound(pending))))
        for topic in self.in_topics:
            self._tasks.append(loop.create_task(
                self._forever("inbound", lambda t=topic: self._inbound(t))))

    @staticmethod
    async def _call(broker: Broker, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(ensure, broker, lambda: fn(*args))

    async def _forever(self, name: str, step: Any) -> None:
        """Run ``step`` again and again; a failure is logged and retried, never fatal."""
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive any one failure; nothing is dropped
                self.counts[f"{name}_errors"] += 1
                self.last_error = f"{name}: {type(exc).__name__}: {exc}"
                logger.exception("%s: %s step failed; retrying", self.bridge_id, name)
                await asyncio.sleep(1.0)

    async def _outbound(self, pending: list[Parcel]) -> None:
        """One step: take envelopes from the mailbox and publish them.

        ``pending`` keeps runs taken but not yet accepted by the broker, so a
        failed step retries them instead of losing them.
        """
        if self.out_broker.state != "connected":  # connect before the first envelope
            await self._call(self.out_broker, _nothing)
        self.meter.waiting(len(self.endpoint.mailbox) + sum(len(p) for p in pending))
        if not pending:
            pending.extend(await self.endpoint.receive_parcels(self.out_batch, timeout_s=0.5))
        by_topic: dict[str, list[Parcel]] = collections.defaultdict(list)
        for parcel in pending:
            topic = parcel.key[3]
            if topic is None or not self._mirror.match(topic):
                self.counts["not_mirrored"] += len(parcel)  # broadcasts, direct messages
                continue
            by_topic[self.out_broker.topic_name(topic, self.prefix)].append(parcel)
        pending[:] = [p for parcels in by_topic.values() for p in parcels]
        for topic, parcels in by_topic.items():
            if self.keyring is None:
                items = [d for p in parcels for d in p.encoded()]
            else:
                items = [self.keyring.seal(e).to_bytes() for p in parcels
                         for e in p.envelopes()]
            await self._call(self.out_broker, self.out_broker.publish, topic, items)
            self.counts["out"] += len(items)
            last = parcels[-1]
            self.meter.moved("out", len(items), last.created[last.hi - 1])
            pending[:] = [p for p in pending if p not in parcels]  # the broker has them

    async def _inbound(self, bus_topic: str) -> None:
        """One step: consume a batch, put it on the bus, then acknowledge it."""
        topic = self.in_broker.topic_name(bus_topic, self.prefix)
        broker = self.in_broker
        deliveries = await self._call(broker, broker.consume, topic, self.group,
                                      self.bridge_id, self.batch, 500)
        if not deliveries:
            return
        dead: list[tuple[bytes, str]] = []
        sent, last_created = 0, 0.0
        for d in deliveries:
            try:
                env = self._admit(d.data)
            except (EnvelopeError, SecurityError, AuthError) as exc:
                self.counts["rejected"] += 1
                dead.append((bytes(d.data), f"from {topic}: {exc}"))
                continue
            if env.id in self._seen:
                self.counts["duplicates"] += 1
                continue
            self._seen[env.id] = True
            self.endpoint.send(env)
            sent, last_created = sent + 1, env.created_at
        await self.endpoint.flush()  # on the bus before the broker forgets it
        if sent:
            self.counts["in"] += sent
            self.meter.moved("in", sent, last_created)
        for data, why in dead:
            await self.endpoint.directory.dead_letter.remote([data], why)
        await self._call(broker, broker.ack, topic, self.group, [d.tag for d in deliveries])

    def _admit(self, data: bytes) -> Envelope:
        """Decode, check the sender's identity token, open; raises what was wrong."""
        env = Envelope.from_bytes(data)
        if self.verifier is not None:
            self.verifier.check(env.headers.get("auth"), env.sender)
        if self.keyring is not None:
            env = self.keyring.open(env)
        if self.verifier is not None:  # the token stays outside; the bus trusts the bridge
            headers = {k: v for k, v in env.headers.items() if k != "auth"}
            env = replace(env, headers={**headers, "verified_by": self.bridge_id})
        return env

    def state(self) -> str:
        """``connected`` once every direction in use has reached its broker;
        ``connecting`` before, ``reconnecting`` while one is retrying."""
        states = {_broker_state(broker) for broker, used in (
            (self.out_broker, self.out_patterns), (self.in_broker, self.in_topics)) if used}
        if "reconnecting" in states:
            return "reconnecting"
        if states <= {"connected"}:
            return "connected"
        return "connecting" if "disconnected" in states else sorted(states)[0]

    def health(self) -> dict[str, Any]:
        """State, counts, the last lag per direction and backlog, the last loop error."""
        out, inn = self.out_broker.health(), self.in_broker.health()
        return {"bridge": self.bridge_id, "broker": out["broker"], "state": self.state(),
                "reconnects": out["reconnects"] + inn["reconnects"], **self.counts,
                **self.meter.health(), "last_error": self.last_error,
                "loops_alive": sum(not t.done() for t in self._tasks)}


def _broker_state(broker: Broker) -> str:
    """The broker's state, where ``disconnected`` after a failure (``ensure`` closes the
    broker between its attempts) is ``reconnecting``."""
    if broker.state == "disconnected" and broker.reconnects:
        return "reconnecting"
    return broker.state


def _nothing() -> None:
    """The operation :func:`ensure` runs to do nothing but connect."""


class BridgeActor:
    """The actor shell: builds the broker and the bus endpoint, runs the bridge."""

    def __init__(self, bridge_id: str, broker: str, broker_options: Mapping[str, Any],
                 bus_name: str, namespace: str, out_patterns: Sequence[str] = (),
                 in_topics: Sequence[str] = (), message_keys: str | None = None,
                 group: str = "raymas-bridge", identity_key: bytes | None = None,
                 prefix: str = "raymas.") -> None:
        self._args = (bridge_id, broker, dict(broker_options), bus_name, namespace,
                      list(out_patterns), list(in_topics), message_keys, group, prefix)
        self._verifier = TokenVerifier.from_pem(identity_key) if identity_key else None
        self.bridge: Bridge | None = None
        self._started = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        bridge_id, kind, options, bus_name, namespace, outs, ins, keys, group, prefix = \
            self._args
        directory = ray.get_actor(bus_name, namespace=namespace)
        endpoint = Endpoint(bridge_id, "bridge", directory, mailbox_capacity=100_000)
        await endpoint.start(ray.get_runtime_context().current_actor)
        keyring = Keyring.from_spec(keys) if keys else None
        brokers = (make_broker(kind, **options), make_broker(kind, **options))
        self.bridge = Bridge(bridge_id, brokers, endpoint,
                             out_patterns=outs, in_topics=ins, group=group, prefix=prefix,
                             keyring=keyring, verifier=self._verifier)
        await self.bridge.start()

    async def ready(self) -> dict[str, Any]:
        await self._started
        return self.health()

    async def deliver(self, batch: Sequence[bytes]) -> int:
        await self._started
        assert self.bridge is not None
        return await self.bridge.endpoint.deliver(batch)

    async def serve(self, frames: Sequence[bytes]) -> list[bytes]:
        await self._started
        assert self.bridge is not None
        return await self.bridge.endpoint.serve(frames)

    def health(self) -> dict[str, Any]:
        return self.bridge.health() if self.bridge else {"state": "starting"}


def actor_name(bridge_id: str) -> str:
    """The Ray actor name of bridge ``bridge_id`` (in its namespace)."""
    return f"raymas-bridge:{bridge_id}"


def start_bridge(bridge_id: str, broker: str, *, bus_name: str = "raymas-bus",
                 namespace: str = "raymas", broker_options: Mapping[str, Any] | None = None,
                 out_patterns: Sequence[str] = (), in_topics: Sequence[str] = (),
                 message_keys: str | None = None, supervisor: str | None = None,
                 group: str = "raymas-bridge", prefix: str = "raymas.") -> Any:
    """Start a named, detached bridge actor (restarted by Ray if it dies).

    With ``supervisor`` (its actor name in ``namespace``), inbound envelopes
    must carry an identity token that Supervisor issued (see the module docstring).
    ``group`` is the broker consumer group inbound topics are read in; ``prefix``
    is put before a bus topic to name its broker topic (``Broker.topic_name``).
    A bridge of that id already running is returned as it is.
    """
    identity_key: bytes | None = None
    if supervisor:
        owner: Any = ray.get_actor(supervisor, namespace=namespace)
        identity_key = bytes(ray.get(owner.public_key.remote()))
    remote_cls: Any = ray.remote(BridgeActor)
    handle = remote_cls.options(
        name=actor_name(bridge_id), namespace=namespace, lifetime="detached",
        get_if_exists=True, max_restarts=-1, num_cpus=0, max_concurrency=1000,
    ).remote(bridge_id, broker, dict(broker_options or {}), bus_name, namespace,
             list(out_patterns), list(in_topics), message_keys, group, identity_key, prefix)
    ray.get(handle.ready.remote())
    return handle


def get_bridge(bridge_id: str, namespace: str = "raymas") -> Any:
    """The handle of a running bridge (Ray's ValueError if there is none)."""
    return ray.get_actor(actor_name(bridge_id), namespace=namespace)


def stop_bridge(handle: Any) -> None:
    """Stop a bridge for good: it is detached and restartable, so only a kill without
    restart ends it.  Inbound deliveries not yet acknowledged stay with the broker."""
    ray.kill(handle, no_restart=True)
