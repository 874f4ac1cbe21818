"""The host: events to bus topics, bad input counted and dead-lettered, the rest flowing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from interfaces import Backoff, EnvironmentError, Event, Rejected
from interfaces.attach import attach, build_hosts
from interfaces.host import EnvironmentHost, Limits, check_schema
from interfaces.memory import MemoryEnvironment


class Bus:
    """What the host is handed: a publish and a dead-letter call, recorded."""

    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []
        self.dead: list[tuple[list[Any], str]] = []
        self.arrived = asyncio.Event()

    def publish(self, topic: str, payload: Any) -> None:
        self.published.append((topic, payload))
        self.arrived.set()

    async def dead_letter(self, items: list[Any], reason: str) -> None:
        self.dead.append((items, reason))
        self.arrived.set()

    async def until(self, n: int) -> None:
        while len(self.published) + len(self.dead) < n:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 2.0)


def run_host(items: list[Event | Rejected | str], limits: Limits | None = None,
             clock: Any = None, expect: int | None = None) -> tuple[Bus, EnvironmentHost]:
    async def main() -> tuple[Bus, EnvironmentHost]:
        bus = Bus()
        env = MemoryEnvironment(name="plant")
        kwargs: dict[str, Any] = {"clock": clock} if clock else {}
        host = EnvironmentHost(env, bus.publish, bus.dead_letter, limits=limits or Limits(),
                               backoff=Backoff(first_s=0.001), **kwargs)
        for item in items:
            if item == "drop":
                env.drop()
            else:
                assert not isinstance(item, str)
                env.inject(item)
        host.start()
        await bus.until(expect if expect is not None
                        else sum(not isinstance(i, str) for i in items))
        await host.stop()
        return bus, host

    return asyncio.run(main())


def test_events_go_to_a_topic_per_source_and_kind() -> None:
    bus, host = run_host([Event("plant", "reading", {"t": 1.0}, subject="s1", at=5.0)])
    assert bus.published == [("env/plant/reading", {
        "source": "plant", "kind": "reading", "subject": "s1", "data": {"t": 1.0},
        "at": 5.0, "meta": {}})]
    assert host.published == 1 and host.last_event_at == 5.0


def test_rejected_input_is_counted_dead_lettered_and_the_rest_flows() -> None:
    bus, host = run_host([Rejected("plant", "malformed JSON: line 1", b"{x", "s1"),
                          Event("plant", "reading", 1, subject="s1")])
    assert [t for t, _ in bus.published] == ["env/plant/reading"]
    (items, reason), = bus.dead
    assert reason == "environment plant: malformed JSON: line 1"
    assert items[0]["raw"] == b"{x" and items[0]["topic"] == "env/plant/rejected"
    assert host.health()["rejected"] == {"malformed JSON": 1}


def test_a_schema_refuses_wrong_types_and_missing_fields_by_name() -> None:
    limits = Limits(schema={"t": "float", "sensor": "str"})
    bus, _ = run_host([Event("plant", "r", {"t": "hot", "sensor": "s"}),
                          Event("plant", "r", {"t": 1}),
                          Event("plant", "r", {"t": 2.5, "sensor": "s"})], limits)
    assert len(bus.published) == 1
    assert [r for _, r in bus.dead] == ["environment plant: field 't' is str, not float",
                                        "environment plant: field 'sensor' is missing"]


def test_bool_is_not_a_number_in_a_schema() -> None:
    assert check_schema({"t": True}, {"t": "float"}) == "field 't' is bool, not float"
    assert check_schema({"t": True}, {"t": "bool"}) is None


def test_an_unknown_schema_type_is_refused() -> None:
    with pytest.raises(ValueError, match="field 't': unknown type 'flaot'"):
        Limits(schema={"t": "flaot"})


def test_an_oversized_payload_is_refused() -> None:
    bus, _ = run_host([Event("plant", "r", "x" * 100), Event("plant", "r", "ok")],
                      Limits(max_event_bytes=50))
    assert len(bus.published) == 1
    assert bus.dead[0][1] == "environment plant: payload of 100 bytes is over the limit of 50"
    assert len(bus.dead[0][0][0]["data"]) == 100  # short enough to keep whole


def test_a_flood_over_the_rate_is_refused_and_what_fits_goes_through() -> None:
    now = [0.0]
    events: list[Event | Rejected | str] = [Event("plant", "r", i) for i in range(10)]
    bus, host = run_host(events, Limits(max_events_per_s=1.0, burst=3), clock=lambda: now[0])
    assert [p["data"] for _, p in bus.published] == [0, 1, 2]
    assert len(bus.dead) == 7 and bus.dead[0][1] == "environment plant: flood: over 1 events/s"
    assert host.rejected["flood"] == 7


def test_a_dropped_connection_is_reopened_and_visible_in_health() -> None:
    bus, host = run_host([Event("plant", "a"), "drop", Event("plant", "b")])
    assert [p["kind"] for _, p in bus.published] == ["a", "b"]
    health = host.health()
    assert health["reconnects"] == 1 and health["published"] == 2
    assert health["state"] == "disconnected"  # stopped: closed by stop()


def test_what_the_bus_cannot_carry_is_dead_lettered() -> None:
    from messaging import wire
    from messaging.envelope import Envelope

    async def main() -> Bus:
        bus = Bus()

        def publish(topic: str, payload: Any) -> None:  # as the endpoint does it
            wire.encode(Envelope.new("agent", topic=topic, payload=payload))
            bus.publish(topic, payload)

        env = MemoryEnvironment(name="plant")
        host = EnvironmentHost(env, publish, bus.dead_letter)
        env.inject(Event("plant", "r", {1, 2}))  # a set: msgpack cannot carry it
        env.inject(Event("plant", "r", 1))
        host.start()
        await bus.until(2)
        await host.stop()
        return bus

    bus = asyncio.run(main())
    assert [p["data"] for _, p in bus.published] == [1]
    assert bus.dead[0][1].startswith("environment plant: cannot go on the bus")


def test_attach_builds_hosts_from_spec_entries_and_names_bad_ones() -> None:
    bus = Bus()
    hosts = build_hosts([{"kind": "memory", "name": "a", "topic": "plant/a",
                          "limits": {"max_events_per_s": 5}},
                         {"kind": "memory", "options": {"state": {"x": 1}}}],
                        bus.publish, bus.dead_letter)
    assert list(hosts) == ["a", "memory"]
    assert hosts["a"].topic == "plant/a" and hosts["memory"].topic == "env/memory"
    with pytest.raises(EnvironmentError, match=r"environments\[1\]: name 'a' is used twice"):
        build_hosts([{"kind": "memory", "name": "a"}, {"kind": "memory", "name": "a"}],
                    bus.publish, bus.dead_letter)
    with pytest.raises(EnvironmentError, match=r"environments\[0\].*unknown: \['kidn'\]"):
        build_hosts([{"kidn": "memory"}], bus.publish, bus.dead_letter)
    with pytest.raises(EnvironmentError, match=r"environments\[0\].*did you mean 'mqtt'"):
        build_hosts([{"kind": "mqt"}], bus.publish, bus.dead_letter)
    with pytest.raises(EnvironmentError, match=r"environments\[0\] \('m'\): .*unknown type"):
        build_hosts([{"kind": "memory", "name": "m", "limits": {"schema": {"a": "x"}}}],
                    bus.publish, bus.dead_letter)


def test_attach_starts_the_hosts_and_events_reach_the_listener() -> None:
    async def main() -> list[str]:
        bus, seen = Bus(), []
        hosts = attach([{"kind": "memory", "name": "m"}], bus.publish, bus.dead_letter,
                       on_event=lambda e: seen.append(e.kind))
        await hosts["m"].act("set", {"key": "k", "value": 1})
        await bus.until(1)
        assert await hosts["m"].observe() == {"k": 1}
        await hosts["m"].stop()
        return seen

    assert asyncio.run(main()) == ["changed"]
