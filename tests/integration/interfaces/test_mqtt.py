"""MqttEnvironment against the real Mosquitto on 127.0.0.1:1883."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from interfaces import Backoff, Event, Rejected, stream
from interfaces.mqtt import MqttConnectionLost, MqttEnvironment
from tests.conftest import require_service
from tests.integration.interfaces.polling import until
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

FAST = Backoff(first_s=0.05, max_s=0.2)


@pytest.fixture(autouse=True)
def _mosquitto() -> None:
    require_service("mqtt")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def take(items: AsyncIterator[Event | Rejected], n: int,
               timeout: float = 5.0, what: str = "") -> list[Event | Rejected]:
    """The next ``n`` items, or a timeout naming how many came."""
    got: list[Event | Rejected] = []

    async def read() -> None:
        while len(got) < n:
            got.append(await anext(items))

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        pytest.fail(f"{len(got)} of {n} items came in {timeout} s: {got} {what}")
    return got




async def publisher() -> MqttEnvironment:
    env = MqttEnvironment(unique("pub"), persistent=False)
    await env.connect()
    return env


def mosquitto_pub(topic: str, message: bytes, *args: str) -> None:
    subprocess.run(["mosquitto_pub", "-q", "1", "-t", topic, "-s", *args], input=message,
                   check=True, timeout=10)


async def forget_session(client_id: str, protocol: str) -> None:
    """Connect once with a clean session, so the broker drops the test's persistent one."""
    env = MqttEnvironment(unique("clean"), client_id=client_id, protocol=protocol,
                          persistent=False)
    await env.connect()
    await env.close()


def test_qos_0_1_and_2_are_delivered_and_actions_wait_for_the_broker() -> None:
    async def main() -> None:
        base = unique("qos")
        env = MqttEnvironment(unique("sub"), subscriptions=[{"topic": f"{base}/#", "qos": 2}],
                              persistent=False)
        await env.connect()
        pub = await publisher()
        try:
            mids = [await pub.act("publish", topic=f"{base}/q{q}", payload={"q": q}, qos=q)
                    for q in (0, 1, 2)]
            assert all(isinstance(mid, int) and mid > 0 for mid in mids)
            got = await take(env.events(), 3)
            assert [(e.subject, e.data, e.meta["qos"], e.meta["retain"]) for e in got
                    if isinstance(e, Event)] == [(f"{base}/q{q}", {"q": q}, q, False)
                                                 for q in (0, 1, 2)]
            assert got[1].meta["mid"] > 0  # type: ignore[union-attr]
            seen = await env.observe()
            assert seen["connected"] and seen["subscriptions"] == {f"{base}/#": 2}
            assert seen["received"] == 3 and (await pub.observe())["published"] == 3
        finally:
            await env.close()
            await pub.close()
            await env.close()  # idempotent

    asyncio.run(main())


def test_a_retained_message_reaches_an_environment_that_connects_later() -> None:
    async def main() -> None:
        topic = f"{unique('ret')}/state"
        pub = await publisher()
        await pub.act("publish", topic=topic, payload={"valve": "open"}, qos=1, retain=True)
        env = MqttEnvironment(unique("late"), subscriptions=[topic], persistent=False)
        await env.connect()
        try:
            [event] = await take(env.events(), 1)
            assert isinstance(event, Event) and event.data == {"valve": "open"}
            assert event.meta["retain"] is True and event.subject == topic
        finally:
            await pub.act("publish", topic=topic, payload=b"", qos=1, retain=True)  # clear it
            await env.close()
            await pub.close()

    asyncio.run(main())


def test_wildcard_subscriptions_get_what_matches_and_nothing_else() -> None:
    async def main() -> None:
        base = unique("wc")
        env = MqttEnvironment(unique("wc"), persistent=False,
                              subscriptions=[f"{base}/+/temp", f"{base}/b/#"])
        await env.connect()
        pub = await publisher()
        sent = [("x/temp", True), ("x/hum", False), ("x/y/temp", False), ("b/c/d", True),
                ("c/d", False), ("b", True), ("bb/c", False), ("y/temp", True)]
        try:
            for suffix, _ in sent:  # one connection, one QoS: the broker keeps the order
                await pub.act("publish", topic=f"{base}/{suffix}", payload=[suffix], qos=1)
            got = await take(env.events(), 4)
            assert all(isinstance(e, Event) for e in got), got
            assert [e.subject for e in got] == [f"{base}/{s}" for s, match in sent if match]
            await env.act("unsubscribe", topic=f"{base}/+/temp")
            assert await env.act("subscribe", topic=f"{base}/c/+", qos=0) == 0
            for suffix in ("z/temp", "c/d"):
                await pub.act("publish", topic=f"{base}/{suffix}", payload=[suffix], qos=1)
            [event] = await take(env.events(), 1)
            assert event.subject == f"{base}/c/d" and event.meta["qos"] == 0  # type: ignore[union-attr]
            assert (await env.observe())["subscriptions"] == {f"{base}/b/#": 1,
                                                              f"{base}/c/+": 0}
        finally:
            await env.close()
            await pub.close()

    asyncio.run(main())


def test_bad_payloads_are_rejected_and_good_ones_still_flow() -> None:
    async def main() -> None:
        base = unique("bad")
        env = MqttEnvironment(unique("bad"), subscriptions=[f"{base}/#"], max_bytes=64,
                              persistent=False)
        text = MqttEnvironment(unique("text"), subscriptions=[f"{base}/t"], payload="text",
                               persistent=False)
        await env.connect()
        await text.connect()
        pub = await publisher()
        try:
            await asyncio.to_thread(mosquitto_pub, f"{base}/a", b'{"t": 21.5')
            await pub.act("publish", topic=f"{base}/b", payload={"pad": "x" * 100}, qos=1)
            await pub.act("publish", topic=f"{base}/t", payload=b"\xff\xfe not text", qos=1)
            await pub.act("publish", topic=f"{base}/c", payload={"t": 22.0}, qos=1)
            malformed, oversized, not_json, good = await take(env.events(), 4)
            assert isinstance(malformed, Rejected) and malformed.subject == f"{base}/a"
            assert "malformed JSON" in malformed.reason and f"{base}/a" in malformed.reason
            assert malformed.raw == b'{"t": 21.5'
            assert isinstance(oversized, Rejected) and oversized.subject == f"{base}/b"
            assert "over the limit of 64" in oversized.reason
            assert isinstance(not_json, Rejected) and "malformed JSON" in not_json.reason
            assert isinstance(good, Event) and good.data == {"t": 22.0}
            [not_text] = await take(text.events(), 1)
            assert isinstance(not_text, Rejected) and "not UTF-8" in not_text.reason
            assert (await env.observe())["rejected"] == 3
        finally:
            for each in (env, text, pub):
                await each.close()

    asyncio.run(main())


def test_a_dropped_connection_makes_events_raise() -> None:
    async def main() -> None:
        proxy = TcpProxy(1883)
        env = MqttEnvironment(unique("drop"), port=proxy.port, persistent=False)
        try:
            await env.connect()
            events = env.events()
            reading = asyncio.ensure_future(anext(events))
            await until(lambda: proxy.open_connections() == 1, "the client is connected")
            proxy.drop()
            with pytest.raises(MqttConnectionLost, match="lost"):  # not a timeout
                await asyncio.wait_for(reading, 5)
            assert env.state == "disconnected" and "lost" in str(env.last_error)
            with pytest.raises(MqttConnectionLost, match="not connected"):
                await env.act("publish", topic="x", payload=1)
        finally:
            await env.close()
            proxy.close()

    asyncio.run(main())


def test_a_refused_connection_is_a_connection_error() -> None:
    async def main() -> None:
        with socket.socket() as bound:  # a port of ours that nobody listens on
            bound.bind(("127.0.0.1", 0))
            env = MqttEnvironment(unique("refused"), port=bound.getsockname()[1])
            with pytest.raises(ConnectionRefusedError):
                await env.connect()
        await env.close()

    asyncio.run(main())


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_qos1_messages_sent_while_cut_off_arrive_after_the_reconnect(protocol: str) -> None:
    async def main() -> None:
        base, n = unique("cut"), 20
        proxy = TcpProxy(1883)
        port = proxy.port
        env = MqttEnvironment(unique("cut"), port=port, protocol=protocol,
                              subscriptions=[f"{base}/#"], session_expiry_s=60)
        pub = await publisher()
        items: asyncio.Queue[Event | Rejected] = asyncio.Queue()

        async def pump() -> None:
            async for item in stream(env, FAST):
                items.put_nowait(item)

        task = asyncio.create_task(pump())
        try:
            await until(lambda: env.state == "connected", "the environment connected")
            await pub.act("publish", topic=f"{base}/x", payload={"i": -1}, qos=1)
            [first] = await take(_drain(items), 1)
            assert first.data == {"i": -1}  # type: ignore[union-attr]
            proxy.drop()
            proxy.close()  # and nothing to reconnect to until the relay is back
            await until(lambda: env.state != "connected", "the drop was noticed")
            await pub.act("publish", topic=f"{base}/x", payload={"i": "qos 0"}, qos=0)
            for i in range(n):  # acknowledged by the broker: kept in our session
                await pub.act("publish", topic=f"{base}/x", payload={"i": i}, qos=1)
            proxy = TcpProxy(1883, listen_port=port)
            await until(lambda: env.state == "connected", "the environment reconnected")
            for i in range(n, n + 5):
                await pub.act("publish", topic=f"{base}/x", payload={"i": i}, qos=1)
            seen: set[Any] = set()
            while not set(range(n + 5)) <= seen:  # at least once: duplicates are allowed
                [item] = await take(_drain(items), 1, what=f"seen {seen}, {env.health()}")
                assert isinstance(item, Event), item
                seen.add(item.data["i"])
            assert "qos 0" not in seen  # the broker keeps only QoS >= 1 for an absent client
            assert env.reconnects >= 1 and env.session_present
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await env.close()
            await pub.close()
            proxy.close()
            await forget_session(env.client_id, protocol)

    asyncio.run(main())


def test_a_resumed_session_keeps_its_subscriptions_and_sends_no_retained_again() -> None:
    async def main() -> None:
        base = unique("resume")
        pub = await publisher()
        await pub.act("publish", topic=f"{base}/state", payload=["on"], qos=1, retain=True)
        env = MqttEnvironment(unique("resume"), subscriptions=[f"{base}/#"],
                              session_expiry_s=60)
        try:
            await env.connect()
            assert not env.session_present
            await pub.act("publish", topic=f"{base}/x", payload=1, qos=1)
            retained, one = await take(env.events(), 2)  # taking 1 means the retained one
            assert retained.meta["retain"] and one.data == 1  # type: ignore[union-attr]
            await env.close()  # was acknowledged before this DISCONNECT
            await pub.act("publish", topic=f"{base}/x", payload=2, qos=1)  # while away
            await env.connect()
            assert env.session_present
            await pub.act("publish", topic=f"{base}/x", payload=3, qos=1)
            got: list[Any] = []
            while 3 not in got:
                [item] = await take(env.events(), 1)
                assert isinstance(item, Event) and not item.meta["retain"], item
                got.append(item.data)
            assert got in ([2, 3], [1, 2, 3])  # 1 again only if its ack was cut off
        finally:
            await env.close()
            await pub.act("publish", topic=f"{base}/state", payload=b"", qos=1, retain=True)
            await pub.close()
            await forget_session(env.client_id, "5")

    asyncio.run(main())


async def _drain(queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    while True:
        yield await queue.get()
