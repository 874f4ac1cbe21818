"""Bridges against real brokers on loopback: counts in equal counts out, across drops."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import ray

from messaging import Envelope
from messaging.bridge import start_bridge
from tests.conftest import require_service
from tests.integration.conftest import specs

pytestmark = pytest.mark.integration


def _actor(info: dict[str, Any]) -> Any:
    return ray.get_actor(f"raymas-agent:{info['agent_id']}", namespace="raymas-test")


def _wait(cond: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def redis_client() -> Any:
    require_service("redis")
    import redis

    client = redis.Redis()
    yield client
    client.close()


def test_redis_bridge_out_and_in_exactly_once_across_a_dropped_connection(
    make_supervisor: Any, redis_client: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    sup = make_supervisor()
    bus = ray.get(sup.handle.settings.remote())["bus_name"]
    pub, listener = (_actor(i) for i in sup.spawn(specs("rb", 2)))
    ray.get(listener.subscribe.remote(f"alerts-{tag}/#"))
    bridge = start_bridge(f"redis-{tag}", "redis", bus_name=bus, namespace="raymas-test",
                          out_patterns=[f"orders-{tag}/#"], in_topics=[f"alerts-{tag}"])
    try:
        # outbound: bus topic -> Redis stream, with the connection killed midway
        ray.get(pub.tell_many.remote("nobody", []))
        for i in range(600):
            pub.publish.remote(f"orders-{tag}/new", {"n": i})
            if i == 300:
                redis_client.client_kill_filter(_type="normal", skipme=True)
        ray.get(pub.flush.remote())
        stream = f"raymas.orders-{tag}/new"
        _wait(lambda: redis_client.xlen(stream) >= 600, "outbound stream incomplete")
        entries = redis_client.xrange(stream)
        payloads = sorted(Envelope.from_bytes(f[b"e"]).payload["n"] for _, f in entries)
        assert payloads == list(range(600))  # all there, none twice

        # inbound: Redis stream -> bus topic, duplicates (same envelope id) dropped
        inbound = f"raymas.alerts-{tag}"
        envs = [Envelope.new("outside", topic=f"alerts-{tag}/x", payload=i) for i in range(300)]
        for env in envs + envs[:50]:
            redis_client.xadd(inbound, {"e": env.to_bytes()})
        got: list[Any] = []
        _wait(lambda: len(got.__iadd__(ray.get(listener.receive.remote(1000, 0.5)))) >= 300,
              "inbound messages missing")
        assert sorted(m["payload"] for m in got) == list(range(300))
        health = ray.get(bridge.health.remote())
        assert health["in"] == 300 and health["duplicates"] == 50 and health["out"] == 600
        assert health["reconnects"] >= 1 and health["state"] == "connected"  # the drop was seen
        pending = redis_client.xpending(inbound, "raymas-bridge")["pending"]
        _wait(lambda: redis_client.xpending(inbound, "raymas-bridge")["pending"] == 0,
              f"{pending} inbound entries never acknowledged")
    finally:
        ray.kill(bridge, no_restart=True)
        for key in redis_client.scan_iter(f"raymas.*{tag}*"):
            redis_client.delete(key)
