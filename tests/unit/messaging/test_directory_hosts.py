"""The bus directory with agent hosts: one route per host, agents resolved to it."""

from __future__ import annotations

from messaging.directory import Directory
from messaging.envelope import Envelope


def test_a_host_is_routed_once_and_its_agents_resolve_to_it() -> None:
    d = Directory()
    d.register("actor-1", "task_executor", "actor-handle")
    held = d.register_host("host:h0", "host-handle", [("a", "task_executor"),
                                                      ("b", "monitor")])
    assert held == {}
    d.subscribe("host:h0", "news/#")
    d.subscribe("actor-1", "news/#")
    assert d.route("news/today") == {"host:h0": "host-handle", "actor-1": "actor-handle"}
    assert d.resolve(["a", "b", "host:h0", "nobody"]) == {
        "a": "host-handle", "b": "host-handle", "host:h0": "host-handle", "nobody": None}
    assert d.locate("a") == ("host-handle", "host:h0")
    assert d.locate("actor-1") == ("actor-handle", None) and d.locate("zz") is None
    assert set(d.members()) == {"actor-1", "a", "b"}  # a host is not an agent
    assert set(d.members("monitor")) == {"b"}


def test_messages_held_for_a_hosts_agents_come_back_when_it_registers() -> None:
    d = Directory()
    env = Envelope.new("x", recipient="a", payload=1)
    assert d.hold("a", [env.to_bytes()]) == 1
    held = d.register_host("host:h0", "h", [("a", "task_executor"), ("b", "task_executor")])
    assert list(held) == ["a"] and Envelope.from_bytes(held["a"][0]).payload == 1
    assert d.hold("host:h0", [env.to_bytes()]) == 0  # it is there: the sender retries


def test_a_host_gone_for_good_takes_its_agents_and_subscriptions() -> None:
    d = Directory()
    d.register_host("host:h0", "h", [("a", "task_executor")])
    d.subscribe("host:h0", "t")
    d.deregister_host("host:h0")
    assert d.route("t") == {} and d.resolve(["a"]) == {"a": None} and d.locate("a") is None
