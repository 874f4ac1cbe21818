"""RedisEnvironment against a real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from interfaces import (
    Backoff,
    EnvironmentError,
    Event,
    Rejected,
    call,
    make_environment,
    stream,
)
from interfaces.redis import RedisEnvironment
from tests.conftest import require_service
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

URL = "redis://127.0.0.1:6379/0"
Item = Event | Rejected


@pytest.fixture(autouse=True)
def _redis() -> Iterator[None]:
    """The service, and its keyspace notification setting as it was (environments with
    ``keyspace`` switch it on)."""
    import redis

    require_service("redis")
    client = redis.Redis.from_url(URL)
    before = client.config_get("notify-keyspace-events").get("notify-keyspace-events") or ""
    yield
    client.config_set("notify-keyspace-events", before)
    client.close()


def unique(prefix: str) -> str:
    return f"raymas-test:{prefix}:{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def admin(*cleanup: str) -> AsyncIterator[Any]:
    """The test's own client; deletes the keys ``cleanup`` names (and patterns) at the end."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(URL)
    try:
        yield client
    finally:
        for key in cleanup:
            found = [k async for k in client.scan_iter(match=key)] if "*" in key else [key]
            if found:
                await client.delete(*found)
        await client.aclose()


async def kill(client: Any, name: str) -> int:
    """Kill every connection named ``name`` (CLIENT SETNAME); how many there were."""
    ids = [c["id"] for c in await client.client_list() if c.get("name") == name]
    for cid in ids:
        await client.client_kill_filter(_id=cid)
    return len(ids)


async def pump(env: RedisEnvironment, queue: asyncio.Queue[Item]) -> None:
    async for item in stream(env):
        queue.put_nowait(item)


async def until(queue: asyncio.Queue[Item], wanted: Callable[[Item], bool],
                poke: Callable[[int], Awaitable[Any]] | None = None,
                timeout: float = 5.0) -> Item:
    """The first item ``wanted`` accepts; ``poke(n)`` runs first and again whenever 50 ms
    pass with nothing wanted (to re-send what is lost while pub/sub is disconnected)."""
    async def first() -> Item:
        n = 0
        while True:
            if poke is not None:
                await poke(n)
                n += 1
            try:
                item = await asyncio.wait_for(queue.get(), 0.05 if poke else None)
            except TimeoutError:
                continue
            if wanted(item):
                return item

    return await asyncio.wait_for(first(), timeout)


def test_made_by_name_connects_observes_and_acts() -> None:
    base = unique("obs")

    async def main() -> None:
        env = make_environment("redis", name="cache", url=URL,
                               keys=[f"{base}:s", f"{base}:many:*", f"{base}:missing"],
                               streams=[f"{base}:log"])
        assert isinstance(env, RedisEnvironment)
        async with admin(f"{base}*") as client:
            await env.connect()
            await env.connect()  # idempotent
            try:
                assert await env.act("set", key=f"{base}:s", value={"on": True}) is True
                assert await env.act("get", key=f"{base}:s") == '{"on": true}'
                assert await env.act("get", key=f"{base}:missing") is None
                await env.act("set", key=f"{base}:many:n", value=7, ex=60)
                assert 0 < await client.ttl(f"{base}:many:n") <= 60
                assert await env.act("hset", key=f"{base}:many:h",
                                     mapping={"a": "1", "b": 2}) == 2
                assert await env.act("hgetall", key=f"{base}:many:h") == {"a": "1", "b": "2"}
                await client.rpush(f"{base}:many:l", "x", "y")
                await client.sadd(f"{base}:many:set", "q", "p")
                await client.zadd(f"{base}:many:z", {"m": 1.5})
                entry = await env.act("xadd", stream=f"{base}:log", fields={"k": "v"})
                assert isinstance(entry, str) and "-" in entry
                await client.set(f"{base}:many:raw", b"\xff\x00")
                assert await env.act("get", key=f"{base}:many:raw") == b"\xff\x00"
                assert await env.act("publish", channel=f"{base}:nobody", message="hi") == 0
                seen = await env.observe()
                assert seen["keys"] == {
                    f"{base}:s": '{"on": true}', f"{base}:many:n": "7",
                    f"{base}:many:h": {"a": "1", "b": "2"}, f"{base}:many:l": ["x", "y"],
                    f"{base}:many:set": ["p", "q"], f"{base}:many:z": [["m", 1.5]],
                    f"{base}:many:raw": b"\xff\x00"}
                assert seen["truncated"] is False
                assert seen["streams"] == {f"{base}:log": {"length": 1, "last_id": "0-0"}}
                assert await env.act("delete", keys=[f"{base}:s", f"{base}:missing"]) == 1
                assert await env.act("delete", key=f"{base}:many:n") == 1
                with pytest.raises(EnvironmentError, match="hgetall failed: WRONGTYPE"):
                    await env.act("hgetall", key=f"{base}:many:l")
                assert env.counts["actions"] == 11  # the failed one is not counted
            finally:
                await env.close()
                await env.close()  # idempotent
        assert env.state == "disconnected"

    asyncio.run(main())


def test_observe_scans_at_most_scan_limit_keys() -> None:
    base = unique("scan")

    async def main() -> None:
        env = RedisEnvironment("cache", keys=[f"{base}:*"], scan_limit=3)
        async with admin(f"{base}*") as client:
            await client.mset({f"{base}:{i}": i for i in range(5)})
            await env.connect()
            try:
                seen = await env.observe()
            finally:
                await env.close()
        assert len(seen["keys"]) == 3 and seen["truncated"] is True

    asyncio.run(main())


def test_stream_entries_start_and_bad_entries_are_rejected() -> None:
    log = unique("log")

    async def main() -> None:
        new_only = RedisEnvironment("cache", streams=[log], max_bytes=200)
        everything = RedisEnvironment("cache", streams=[log], start="0", payload="text")
        async with admin(log) as client:
            await client.xadd(log, {"json": '{"old": 1}'})
            await new_only.connect()
            await everything.connect()
            events, text = new_only.events(), everything.events()
            try:
                await client.xadd(log, {"json": "{bad"})
                await client.xadd(log, {"json": json.dumps({"pad": "x" * 300})})
                await client.xadd(log, {"blob": b"\xff\xfe"})
                good = await client.xadd(log, {"json": '{"t": 21.5}', "unit": "C"})
                bad = await asyncio.wait_for(anext(events), 5)
                assert isinstance(bad, Rejected) and bad.subject == log
                assert log in bad.reason and "malformed JSON" in bad.reason
                big = await asyncio.wait_for(anext(events), 5)
                assert isinstance(big, Rejected) and "over the limit of 200" in big.reason
                blob = await asyncio.wait_for(anext(events), 5)
                assert isinstance(blob, Rejected) and "field 'blob' is not UTF-8" in blob.reason
                event = await asyncio.wait_for(anext(events), 5)
                assert isinstance(event, Event)
                assert (event.kind, event.subject, event.data, event.meta) == (
                    "entry", log, {"json": {"t": 21.5}, "unit": "C"}, {"id": good.decode()})
                # start="0" gives the entry added before connect; "text" parses nothing
                first = await asyncio.wait_for(anext(text), 5)
                assert isinstance(first, Event) and first.data == {"json": '{"old": 1}'}
                assert isinstance(await asyncio.wait_for(anext(text), 5), Event)  # {bad
            finally:
                await events.aclose()
                await text.aclose()
                await new_only.close()
                await everything.close()

    asyncio.run(main())


def test_an_entry_read_ahead_but_not_given_out_comes_again() -> None:
    log = unique("log")

    async def main() -> None:
        env = RedisEnvironment("cache", streams=[log])
        async with admin(log) as client:
            await env.connect()
            ids = [(await client.xadd(log, {"n": str(n)})).decode() for n in range(3)]
            try:
                events = env.events()
                first = await asyncio.wait_for(anext(events), 5)
                await events.aclose()  # the other two were read, not given out
                assert env.last_ids[log] == ids[0]
                events = env.events()
                rest = [await asyncio.wait_for(anext(events), 5) for _ in range(2)]
                await events.aclose()
            finally:
                await env.close()
        assert [e.meta["id"] for e in (first, *rest) if isinstance(e, Event)] == ids

    asyncio.run(main())


def test_pubsub_messages_patterns_and_rejections() -> None:
    chan, prefix = unique("chan"), unique("pat")

    async def main() -> None:
        env = RedisEnvironment("cache", channels=[chan, f"{prefix}.*"], max_bytes=50)
        texts = RedisEnvironment("cache", channels=[chan], payload="text")
        await env.connect()
        await texts.connect()
        events, plain = env.events(), texts.events()
        try:
            assert await env.act("publish", channel=chan, message="{bad") == 2
            await env.act("publish", channel=chan, message={"pad": "x" * 60})
            await env.act("publish", channel=f"{prefix}.room1", message={"t": 1})
            await env.act("publish", channel=chan, message=b"\xff")
            bad = await asyncio.wait_for(anext(events), 5)
            assert isinstance(bad, Rejected) and chan in bad.reason and bad.raw == b"{bad"
            big = await asyncio.wait_for(anext(events), 5)
            assert isinstance(big, Rejected) and "over the limit of 50" in big.reason
            got = await asyncio.wait_for(anext(events), 5)
            assert isinstance(got, Event)
            assert (got.kind, got.subject, got.data, got.meta) == (
                "message", f"{prefix}.room1", {"t": 1}, {"pattern": f"{prefix}.*"})
            assert isinstance(await asyncio.wait_for(anext(events), 5), Rejected)  # \xff
            text = await asyncio.wait_for(anext(plain), 5)
            assert isinstance(text, Event) and (text.data, text.meta) == ("{bad", {})
            await asyncio.wait_for(anext(plain), 5)
            binary = await asyncio.wait_for(anext(plain), 5)
            assert isinstance(binary, Rejected) and "payload is not UTF-8" in binary.reason
        finally:
            await events.aclose()
            await plain.aclose()
            await env.close()
            await texts.close()

    asyncio.run(main())


def test_keyspace_notifications_are_switched_on_and_become_events() -> None:
    base = unique("ks")

    async def main() -> None:
        env = RedisEnvironment("cache", keyspace=[f"{base}:*"])
        async with admin(f"{base}*") as client:
            await client.config_set("notify-keyspace-events", "")  # the fixture restores it
            try:
                await env.connect()
                flags = (await client.config_get("notify-keyspace-events"))[
                    "notify-keyspace-events"]
                assert set(flags) == set("AKE"), flags
                events = env.events()
                await client.set(f"{base}:a", "1")
                await client.delete(f"{base}:a")
                await client.set(f"{base}-not-matched", "1")
                await client.set(f"{base}:b", "1")
                got = [await asyncio.wait_for(anext(events), 5) for _ in range(3)]
                await events.aclose()
            finally:
                await env.close()
        assert [(e.kind, e.subject, e.data) for e in got if isinstance(e, Event)] == [
            ("keyspace", f"{base}:a", "set"), ("keyspace", f"{base}:a", "del"),
            ("keyspace", f"{base}:b", "set")]

    asyncio.run(main())


def test_keyspace_settings_with_k_are_left_alone_and_expiry_is_seen() -> None:
    base = unique("ks")

    async def main() -> None:
        env = RedisEnvironment("cache", keyspace=[f"{base}:*"])
        async with admin(f"{base}*") as client:
            await client.config_set("notify-keyspace-events", "Kx")  # expiries only
            try:
                await env.connect()
                flags = (await client.config_get("notify-keyspace-events"))[
                    "notify-keyspace-events"]
                events = env.events()
                await client.set(f"{base}:c", "1", px=1)  # "set" is not in Kx
                got = await asyncio.wait_for(anext(events), 5)
                await events.aclose()
            finally:
                await env.close()
        assert sorted(flags) == ["K", "x"]
        assert isinstance(got, Event) and (got.subject, got.data) == (f"{base}:c", "expired")

    asyncio.run(main())


def test_connections_killed_while_streaming_lose_no_entry_and_events_flow_again() -> None:
    log, chan, base = unique("log"), unique("chan"), unique("ks")

    async def main() -> None:
        env = RedisEnvironment("cache", streams=[log], channels=[chan], keyspace=[f"{base}:*"],
                               payload="text")
        queue: asyncio.Queue[Item] = asyncio.Queue()  # all but the entries
        entries: list[str] = []
        last = asyncio.Event()
        sent: list[str] = []

        async def route() -> None:
            async for item in stream(env):
                if isinstance(item, Event) and item.kind == "entry":
                    entries.append(item.meta["id"])
                    if item.data == {"n": "last"}:
                        last.set()
                else:
                    queue.put_nowait(item)

        async def add(*ns: Any) -> None:
            for n in ns:
                sent.append((await client.xadd(log, {"n": str(n)})).decode())

        async with admin(log, f"{base}*") as client:
            task = asyncio.create_task(route())
            try:
                async def pub_before(n: int) -> None:
                    await client.publish(chan, f"before {n}")

                await until(queue, lambda e: e.subject == chan, pub_before)
                await add(0, 1, 2)
                assert await kill(client, env.client_name) >= 2  # XREAD's and pub/sub's
                await add(3, 4, 5)  # while the environment reconnects

                async def pub_after(n: int) -> None:
                    await client.publish(chan, f"after {n}")

                got = await until(queue, lambda e: isinstance(e, Event)
                                  and str(e.data).startswith("after"), pub_after)
                assert got.subject == chan

                async def touch(n: int) -> None:
                    await client.set(f"{base}:k", n)

                got = await until(queue, lambda e: isinstance(e, Event)
                                  and e.kind == "keyspace", touch)
                assert isinstance(got, Event) and (got.subject, got.data) == (f"{base}:k", "set")
                await add(6, 7, 8, "last")
                await asyncio.wait_for(last.wait(), 5)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await env.close()
        assert entries == sent  # each once, in order: none lost, none repeated
        assert env.reconnects >= 1 and "ConnectionError" in (env.last_error or "")

    asyncio.run(main())


def test_when_only_the_stream_side_reconnects_no_pubsub_message_is_lost() -> None:
    log, chan = unique("log"), unique("chan")

    async def main() -> None:
        env = RedisEnvironment("cache", streams=[log], channels=[chan], payload="text")
        queue: asyncio.Queue[Item] = asyncio.Queue()
        async with admin(log) as client:
            task = asyncio.create_task(pump(env, queue))
            try:
                async def xadd(n: int) -> None:
                    await client.xadd(log, {"n": str(n)})

                await until(queue, lambda e: e.subject == log, xadd)
                xread = [c["id"] for c in await client.client_list()
                         if c.get("name") == env.client_name and c.get("cmd") == "xread"]
                assert len(xread) == 1
                await client.client_kill_filter(_id=xread[0])
                for n in range(20):  # while the stream side reconnects
                    await client.publish(chan, str(n))
                got = [(await until(queue, lambda e: e.subject == chan)) for _ in range(20)]
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await env.close()
        assert [e.data for e in got if isinstance(e, Event)] == [str(n) for n in range(20)]
        assert env.reconnects == 1 and env.counts["events"] >= 21

    asyncio.run(main())


def unreachable(proxy: TcpProxy) -> None:
    """Cut every connection and take no new one."""
    proxy.close()


def test_entries_added_while_the_server_is_unreachable_arrive_once_it_is_back() -> None:
    log, chan = unique("log"), unique("chan")

    async def main() -> None:
        proxy = TcpProxy(6379)
        port = proxy.port
        env = RedisEnvironment("cache", url=f"redis://127.0.0.1:{port}/0", streams=[log],
                               channels=[chan], timeout_s=0.5)
        queue: asyncio.Queue[Item] = asyncio.Queue()
        entries: list[str] = []
        last = asyncio.Event()
        sent: list[str] = []

        async def route() -> None:
            async for item in stream(env, Backoff(first_s=0.01, max_s=0.1)):
                if isinstance(item, Event) and item.kind == "entry":
                    entries.append(item.meta["id"])
                    if item.data == {"n": "last"}:
                        last.set()
                else:
                    queue.put_nowait(item)

        async def add(*ns: Any) -> None:
            for n in ns:
                sent.append((await client.xadd(log, {"n": str(n)})).decode())

        async with admin(log) as client:
            task = asyncio.create_task(route())
            try:
                async def publish(n: int) -> None:
                    await client.publish(chan, n)

                await until(queue, lambda e: e.subject == chan, publish)
                await add(0, 1)
                unreachable(proxy)
                await add(2, 3)
                with pytest.raises(EnvironmentError, match="gave up after 1 attempts"):
                    await call(env, lambda: env.act("get", key=chan),
                               Backoff(first_s=0.01, attempts=1))
                await add(4)
                proxy = TcpProxy(6379, listen_port=port)  # the server is back
                await add(5, "last")
                await asyncio.wait_for(last.wait(), 5)
                got = await until(queue, lambda e: isinstance(e, Event), publish)
                assert got.subject == chan
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await env.close()
                proxy.close()
        assert entries == sent
        assert env.reconnects >= 2 and env.state == "disconnected"

    asyncio.run(main())


def test_pubsub_messages_sent_while_disconnected_are_lost() -> None:
    chan = unique("chan")

    async def main() -> None:
        env = RedisEnvironment("cache", channels=[chan])
        async with admin() as client:
            await env.connect()
            await env.close()
            assert await client.publish(chan, json.dumps("sent while closed")) == 0
            await env.connect()  # subscribed when connect returns
            assert await client.publish(chan, json.dumps("sent while subscribed")) == 1
        events = env.events()
        try:
            first = await asyncio.wait_for(anext(events), 5)
        finally:
            await events.aclose()
            await env.close()
        assert isinstance(first, Event) and first.data == "sent while subscribed"

    asyncio.run(main())


def test_actions_after_every_connection_was_killed() -> None:
    key = unique("k")

    async def main() -> None:
        env = RedisEnvironment("cache", channels=[unique("chan")])
        async with admin(key) as client:
            await env.connect()
            try:
                await env.act("set", key=key, value="v")
                assert await kill(client, env.client_name) >= 2  # the pool's and pub/sub's
                assert await call(env, lambda: env.act("get", key=key)) == "v"
            finally:
                await env.close()

    asyncio.run(main())


def test_a_stream_key_of_another_type_is_named() -> None:
    key = unique("notastream")

    async def main() -> None:
        env = RedisEnvironment("cache", streams=[key])
        async with admin(key) as client:
            await client.set(key, "x")
            with pytest.raises(EnvironmentError, match=rf"stream '{key}': WRONGTYPE"):
                await env.connect()
        assert env._client is None  # nothing left open

    asyncio.run(main())


def test_a_server_that_is_not_there_is_a_connection_error() -> None:
    async def main() -> None:
        env = RedisEnvironment("cache", url="redis://127.0.0.1:9/0", timeout_s=0.5)
        with pytest.raises(env.connection_errors):
            await env.connect()
        assert env._client is None
        with pytest.raises(env.connection_errors, match="is not connected"):
            await env.observe()

    asyncio.run(main())
