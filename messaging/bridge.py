"""Bridge actors: bus topics out to a broker, broker topics in to the bus.

Delivery is at-least-once on both legs, with de-duplication by envelope id
where envelopes land: outbound, an envelope leaves the bridge's mailbox only
after the broker accepted it; inbound, a broker message is acknowledged only
after its envelope is on the bus, and an id seen before is acknowledged and
dropped.  Broker calls go through :func:`messaging.brokers.ensure`, so a lost
connection is re-opened with back-off and the bridge's ``health`` shows it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from cachetools import TTLCache

from messaging.brokers import Broker, BrokerError, ensure, make_broker
from messaging.crypto import Keyring, SecurityError
from messaging.endpoint import Endpoint
from messaging.envelope import Envelope, EnvelopeError
from messaging.topics import TopicMatcher

__all__ = ["Bridge", "BridgeActor", "broker_topic", "start_bridge"]

logger = logging.getLogger(__name__)


def broker_topic(prefix: str, bus_topic: str) -> str:
    """The broker-side name of a bus topic (``raymas.`` + topic by default)."""
    return f"{prefix}{bus_topic}"


class Bridge:
    """Pumps envelopes between one broker and the bus (see the module docstring)."""

    def __init__(self, bridge_id: str, broker: Broker, endpoint: Endpoint, *,
                 out_patterns: Sequence[str] = (), in_topics: Sequence[str] = (),
                 group: str = "raymas-bridge", prefix: str = "raymas.",
                 keyring: Keyring | None = None, batch: int = 512) -> None:
        self.bridge_id = bridge_id
        self.broker = broker
        self.endpoint = endpoint
        self.out_patterns = list(out_patterns)
        self.in_topics = list(in_topics)
        self.group = group
        self.prefix = prefix
        self.keyring = keyring
        self.batch = batch
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=1_000_000, ttl=3600)
        self.counts: collections.Counter[str] = collections.Counter()
        self._tasks: list[asyncio.Task[None]] = []
        self._mirror = TopicMatcher()
        for pattern in self.out_patterns:
            self._mirror.subscribe(pattern, "out")

    async def start(self) -> None:
        for pattern in self.out_patterns:
            await self.endpoint.directory.subscribe.remote(self.endpoint.agent_id, pattern)
        loop = asyncio.get_running_loop()
        if self.out_patterns:
            self._tasks.append(loop.create_task(self._outbound()))
        for topic in self.in_topics:
            self._tasks.append(loop.create_task(self._inbound(topic)))

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(ensure, self.broker, lambda: fn(*args))

    async def _outbound(self) -> None:
        while True:
            envs = await self.endpoint.receive(self.batch, timeout_s=0.5)
            by_topic: dict[str, list[bytes]] = collections.defaultdict(list)
            for env in envs:
                if env.topic is None or not self._mirror.match(env.topic):
                    self.counts["not_mirrored"] += 1  # broadcasts, direct messages
                    continue
                sealed = self.keyring.seal(env) if self.keyring is not None else env
                by_topic[broker_topic(self.prefix, env.topic)].append(
                    sealed.to_bytes())
            for topic, items in by_topic.items():
                while True:  # never drop: keep the batch until the broker takes it
                    try:
                        await self._call(self.broker.publish, topic, items)
                        break
                    except BrokerError:
                        logger.exception("%s: publishing to %s failed; retrying",
                                         self.bridge_id, topic)
                        await asyncio.sleep(1.0)
                self.counts["out"] += len(items)

    async def _inbound(self, bus_topic: str) -> None:
        topic = broker_topic(self.prefix, bus_topic)
        while True:
            try:
                deliveries = await self._call(self.broker.consume, topic, self.group,
                                              self.bridge_id, self.batch, 500)
            except BrokerError:
                logger.exception("%s: consuming %s failed; retrying", self.bridge_id, topic)
                await asyncio.sleep(1.0)
                continue
            if not deliveries:
                continue
            dead: list[tuple[bytes, str]] = []
            for d in deliveries:
                try:
                    env = Envelope.from_bytes(d.data)
                    if self.keyring is not None:
                        env = self.keyring.open(env)
                except (EnvelopeError, SecurityError) as exc:
                    self.counts["rejected"] += 1
                    dead.append((bytes(d.data), f"from {topic}: {exc}"))
                    continue
                if env.id in self._seen:
                    self.counts["duplicates"] += 1
                    continue
                self._seen[env.id] = True
                self.endpoint.send(env)
                self.counts["in"] += 1
            await self.endpoint.flush()  # on the bus before the broker forgets it
            for data, why in dead:
                await self.endpoint.directory.dead_letter.remote([data], why)
            await self._call(self.broker.ack, topic, self.group, [d.tag for d in deliveries])

    def health(self) -> dict[str, Any]:
        return {"bridge": self.bridge_id, **self.broker.health(), **self.counts,
                "loops_alive": sum(not t.done() for t in self._tasks)}


class BridgeActor:
    """The actor shell: builds the broker and the bus endpoint, runs the bridge."""

    def __init__(self, bridge_id: str, broker: str, broker_options: Mapping[str, Any],
                 bus_name: str, namespace: str, out_patterns: Sequence[str] = (),
                 in_topics: Sequence[str] = (), message_keys: str | None = None,
                 group: str = "raymas-bridge") -> None:
        self._args = (bridge_id, broker, dict(broker_options), bus_name, namespace,
                      list(out_patterns), list(in_topics), message_keys, group)
        self.bridge: Bridge | None = None
        self._started = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        bridge_id, kind, options, bus_name, namespace, outs, ins, keys, group = self._args
        directory = ray.get_actor(bus_name, namespace=namespace)
        endpoint = Endpoint(bridge_id, "bridge", directory, mailbox_capacity=100_000)
        await endpoint.start(ray.get_runtime_context().current_actor)
        keyring = Keyring.from_spec(keys) if keys else None
        self.bridge = Bridge(bridge_id, make_broker(kind, **options), endpoint,
                             out_patterns=outs, in_topics=ins, group=group, keyring=keyring)
        await self.bridge.start()

    async def ready(self) -> dict[str, Any]:
        await self._started
        return self.health()

    async def deliver(self, batch: Sequence[bytes]) -> int:
        await self._started
        assert self.bridge is not None
        return await self.bridge.endpoint.deliver(batch)

    def health(self) -> dict[str, Any]:
        return self.bridge.health() if self.bridge else {"state": "starting"}


def start_bridge(bridge_id: str, broker: str, *, bus_name: str = "raymas-bus",
                 namespace: str = "raymas", broker_options: Mapping[str, Any] | None = None,
                 out_patterns: Sequence[str] = (), in_topics: Sequence[str] = (),
                 message_keys: str | None = None) -> Any:
    """Start a named, detached bridge actor (restarted by Ray if it dies)."""
    remote_cls: Any = ray.remote(BridgeActor)
    handle = remote_cls.options(
        name=f"raymas-bridge:{bridge_id}", namespace=namespace, lifetime="detached",
        get_if_exists=True, max_restarts=-1, num_cpus=0, max_concurrency=1000,
    ).remote(bridge_id, broker, dict(broker_options or {}), bus_name, namespace,
             list(out_patterns), list(in_topics), message_keys)
    ray.get(handle.ready.remote())
    return handle
