"""Bridges declared in config.yaml, started by the main job, against real Redis on loopback.

``run(keep=True)`` leaves the Supervisor, its agents and the bridge running, so
the test sends through the bridge both ways afterwards and then stops them
itself; the other tests check that ``keep=False`` stops the bridges and that a
bridge that cannot reach its broker stops the run at the start, naming itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from agents.supervisor.client import SupervisorClient
from cluster.config import RaymasConfig, parse_config
from cluster.runner import run
from messaging import Envelope
from messaging.bridge import get_bridge, stop_bridge
from messaging.brokers import BrokerError
from tests.conftest import require_service
from tests.integration.conftest import HEARTBEAT, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = "raymas-test"


@pytest.fixture
def redis_client() -> Iterator[Any]:
    import redis

    require_service("redis")
    client = redis.Redis()
    yield client
    client.close()


def _config(tmp_path: Path, tag: str, bridge: dict[str, Any],
            url: str = "redis://127.0.0.1:6379/0") -> RaymasConfig:
    """One Supervisor (its own name, bus and ledger), two agents, one goal, one bridge."""
    return parse_config({
        "cluster": {"namespace": NAMESPACE},
        "supervisor": {"name": f"sup-{tag}", "heartbeat_interval_s":
                       HEARTBEAT["heartbeat_interval_s"]},
        "ledger": {"url": f"sqlite:///{tmp_path}/ledger-{tag}.db"},
        "messaging": {"bus": f"bus-{tag}", "brokers": {"cache": {"kind": "redis", "url": url}},
                      "bridges": [bridge]},
        "agents": [{"id": f"pub-{tag}"}, {"id": f"listen-{tag}"}],
        "goals": [{"name": "g", "tasks": [{"kind": "echo", "count": 2,
                                           "args": {"value": tag}}]}],
        "report": {"path": str(tmp_path / f"report-{tag}.json")},
    }, env={})


def _agent(agent_id: str) -> Any:
    return ray.get_actor(f"raymas-agent:{agent_id}", namespace=NAMESPACE)


def _gone(name: str) -> bool:
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return True
    return False


def test_a_configured_bridge_moves_messages_both_ways(
    ray_cluster: Any, tmp_path: Path, redis_client: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    bridge_id = f"cache-{tag}"
    cfg = _config(tmp_path, tag, {"id": bridge_id, "broker": "cache",
                                  "out": [f"orders-{tag}/#"], "in": [f"alerts-{tag}"]})
    try:
        report = run(cfg, keep=True)
        assert report["ok"] and report["done"] == 2
        [listed] = report["bridges"]
        assert (listed["bridge"], listed["broker"], listed["state"]) == (
            bridge_id, "redis", "connected")
        assert listed["loops_alive"] == 2  # one outbound, one inbound
        bridge = get_bridge(bridge_id, NAMESPACE)

        # out: a bus topic under an `out` pattern lands in the Redis stream
        pub, listener = _agent(f"pub-{tag}"), _agent(f"listen-{tag}")
        ray.get(pub.publish_many.remote(f"orders-{tag}/new", list(range(20))))
        ray.get(pub.flush.remote())
        stream = f"raymas.orders-{tag}/new"

        def out_payloads() -> list[Any]:
            return [Envelope.from_bytes(f[b"e"]).payload for _, f in redis_client.xrange(stream)]

        wait_until(lambda: len(out_payloads()) >= 20,
                   lambda: f"outbound: {out_payloads()}; bridge {ray.get(bridge.health.remote())}")
        assert sorted(out_payloads()) == list(range(20))

        # in: an envelope added to the `in` stream lands on the bus (written 100 s ago)
        ray.get(listener.subscribe.remote(f"alerts-{tag}/#"))
        old = Envelope.new("outside", topic=f"alerts-{tag}/x", payload="hello",
                           created_at=time.time() - 100)
        redis_client.xadd(f"raymas.alerts-{tag}", {"e": old.to_bytes()})
        got: list[Any] = []

        def received() -> bool:
            got.extend(ray.get(listener.receive.remote(10, 0.5)))
            return bool(got)

        wait_until(received, "the inbound envelope never reached the bus")
        assert [m["payload"] for m in got] == ["hello"]

        # counted once the bus has it, which may be just after the listener got it
        wait_until(lambda: ray.get(bridge.health.remote()).get("in") == 1,
                   lambda: f"inbound not counted: {ray.get(bridge.health.remote())}")
        health = ray.get(bridge.health.remote())
        assert (health["out"], health["in"], health["state"]) == (20, 1, "connected")
        assert health["lag_s_out"] >= 0
        assert health["lag_s_in"] >= 100  # the age of the envelope when it reached the bus
        wait_until(lambda: ray.get(bridge.health.remote())["backlog"] == 0,
                   lambda: f"backlog left: {ray.get(bridge.health.remote())}")
    finally:
        if not _gone(f"raymas-bridge:{bridge_id}"):
            stop_bridge(get_bridge(bridge_id, NAMESPACE))
        if not _gone(f"sup-{tag}"):
            SupervisorClient(ray.get_actor(f"sup-{tag}", namespace=NAMESPACE)).shutdown()
        for key in redis_client.scan_iter(f"raymas.*{tag}*"):
            redis_client.delete(key)


def test_run_stops_its_bridges_unless_kept(
    ray_cluster: Any, tmp_path: Path, redis_client: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    cfg = _config(tmp_path, tag, {"id": f"out-{tag}", "broker": "cache",
                                  "out": [f"orders-{tag}/#"]})
    report = run(cfg, keep=False)
    assert report["ok"]
    assert [(b["bridge"], b["state"]) for b in report["bridges"]] == [(f"out-{tag}",
                                                                       "connected")]
    assert report["bridges"][0]["lag_s_out"] is None  # nothing went out
    assert _gone(f"raymas-bridge:out-{tag}") and _gone(f"sup-{tag}")


def test_a_bridge_that_cannot_reach_its_broker_stops_the_run(
    ray_cluster: Any, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tag = uuid.uuid4().hex[:6]
    cfg = _config(tmp_path, tag, {"id": f"nowhere-{tag}", "broker": "cache",
                                  "in": [f"alerts-{tag}"], "ready_timeout_s": 3},
                  url=f"redis://127.0.0.1:{port}/0")
    with pytest.raises(BrokerError) as info:
        run(cfg, keep=False)
    text = str(info.value)
    assert f"bridge 'nowhere-{tag}' did not connect to broker 'cache'" in text
    assert "'state': 'reconnecting'" in text  # the bridge kept trying, and said so
    assert _gone(f"raymas-bridge:nowhere-{tag}") and _gone(f"sup-{tag}")
