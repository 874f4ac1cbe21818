"""PostgresEnvironment against a real PostgreSQL on 127.0.0.1:5432 (database ``test``)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
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
from interfaces.postgres import PostgresEnvironment
from tests.conftest import require_service
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_service("postgres")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def has(key: str) -> Callable[[Event | Rejected], bool]:
    """Whether an item is an event whose data is a dict with ``key``."""
    return lambda item: isinstance(item, Event) and isinstance(item.data, dict) \
        and key in item.data


@asynccontextmanager
async def admin() -> AsyncIterator[Any]:
    """A connection of the test's own, in autocommit."""
    import psycopg

    conn = await psycopg.AsyncConnection.connect(URL, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def notify(conn: Any, channel: str, payload: str) -> None:
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


async def pump(env: PostgresEnvironment, queue: asyncio.Queue[Event | Rejected]) -> None:
    async for item in stream(env):
        queue.put_nowait(item)


async def until(queue: asyncio.Queue[Event | Rejected], wanted: Callable[[Any], bool],
                poke: Callable[[int], Awaitable[None]] | None = None,
                timeout: float = 5.0) -> Event | Rejected:
    """The first item ``wanted`` accepts; ``poke(n)`` runs first and again whenever 50 ms
    pass with nothing wanted (to re-send what a not-yet-listening listener missed)."""
    async def first() -> Event | Rejected:
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
    table = unique("t")

    async def main() -> None:
        env = make_environment("postgres", name="db", url=URL,
                               observe_query=f"SELECT id, label FROM {table} ORDER BY id")
        assert isinstance(env, PostgresEnvironment)
        await env.connect()
        await env.connect()  # idempotent
        try:
            assert await env.act("execute", sql=f"CREATE TABLE {table} (id int primary key, "
                                                f"label text)") == -1
            assert await env.act("execute", sql=f"INSERT INTO {table} VALUES (%s, %s)",
                                 params=(1, "one")) == 1
            assert await env.act("executemany", sql=f"INSERT INTO {table} VALUES (%s, %s)",
                                 params_seq=[(2, "two"), (3, "three")]) == 2
            rows = await env.act("query", sql=f"SELECT id, label FROM {table} WHERE id > %(m)s "
                                              f"ORDER BY id", params={"m": 1})
            assert rows == [{"id": 2, "label": "two"}, {"id": 3, "label": "three"}]
            seen = await env.observe()
            assert seen["database"] == "test" and seen["server_version"] >= 100000
            assert seen["rows"] == [{"id": 1, "label": "one"}, {"id": 2, "label": "two"},
                                    {"id": 3, "label": "three"}]
            assert seen["pool"]["pool_min"] == 1 and seen["pool"]["pool_max"] == 4
            assert seen["listening"] is False and seen["channels"] == []
            assert env.counts["queries"] == 1 and env.counts["executes"] == 3
            assert [item async for item in env.events()] == []  # no channels: nothing to wait on
        finally:
            await env.act("execute", sql=f"DROP TABLE IF EXISTS {table}")
            await env.close()
            await env.close()  # idempotent
        assert env.state == "disconnected"

    asyncio.run(main())


def test_sql_errors_are_environment_errors_with_the_server_message() -> None:
    table = unique("t")

    async def main() -> None:
        env = PostgresEnvironment("db", url=URL, statement_timeout_ms=100, pool_max=1)
        await env.connect()
        try:
            with pytest.raises(EnvironmentError, match=r"query failed: 42601: syntax error"):
                await env.act("query", sql="SELEC 1")
            with pytest.raises(EnvironmentError, match=r"42P01: relation .* does not exist"):
                await env.act("execute", sql=f"INSERT INTO {table} VALUES (1)")
            with pytest.raises(EnvironmentError, match=r"57014: canceling statement due to "
                                                       r"statement timeout"):
                await call(env, lambda: env.act("query", sql="SELECT pg_sleep(2)"))
            await env.act("execute", sql=f"CREATE TABLE {table} (id int primary key)")
            await env.act("execute", sql=f"INSERT INTO {table} VALUES (1)")
            with pytest.raises(EnvironmentError, match=r"23505: duplicate key"):
                await env.act("executemany", sql=f"INSERT INTO {table} VALUES (%s)",
                              params_seq=[(2,), (1,)])
            # the failed batch was rolled back whole, and the one connection still works
            assert await env.act("query", sql=f"SELECT id FROM {table}") == [{"id": 1}]
            # a deferred constraint fails only at the commit, as the action ends
            await env.act("execute", sql=f"CREATE TABLE {table}_d (id int UNIQUE DEFERRABLE "
                                         f"INITIALLY DEFERRED)")
            with pytest.raises(EnvironmentError, match=r"execute failed: 23505: duplicate key"):
                await env.act("execute", sql=f"INSERT INTO {table}_d VALUES (1), (1)")
            assert await env.act("query", sql=f"SELECT count(*) AS n FROM {table}_d") == [
                {"n": 0}]
            assert env.reconnects == 0
        finally:
            await env.act("execute", sql=f"DROP TABLE IF EXISTS {table}, {table}_d")
            await env.close()

    asyncio.run(main())


def test_notifications_are_events_and_bad_payloads_are_rejected() -> None:
    channel = unique("Chan")  # mixed case: the channel is quoted, not folded

    async def main() -> None:
        env = PostgresEnvironment("db", url=URL, channels=[channel], max_bytes=100)
        await env.connect()
        events = env.events()
        try:
            async with admin() as conn:
                await notify(conn, channel, "{bad json")
                await notify(conn, channel, json.dumps({"pad": "x" * 200}))
                await notify(conn, channel, json.dumps({"t": 21.5}))
                sender = conn.info.backend_pid
            bad = await asyncio.wait_for(anext(events), 5)
            assert isinstance(bad, Rejected) and bad.subject == channel
            assert channel in bad.reason and "malformed JSON" in bad.reason
            assert bad.raw == b"{bad json"
            big = await asyncio.wait_for(anext(events), 5)
            assert isinstance(big, Rejected) and "over the limit of 100" in big.reason
            good = await asyncio.wait_for(anext(events), 5)
            assert isinstance(good, Event)
            assert (good.kind, good.subject, good.data, good.meta) == (
                "notify", channel, {"t": 21.5}, {"pid": sender})
            await env.act("notify", channel=channel, payload={"from": "env"})
            own = await asyncio.wait_for(anext(events), 5)
            assert isinstance(own, Event) and own.data == {"from": "env"}
            assert env.counts["notifies_sent"] == 1
        finally:
            await events.aclose()
            await env.close()

    asyncio.run(main())


def test_text_payloads_are_given_as_they_are() -> None:
    channel = unique("c")

    async def main() -> None:
        env = PostgresEnvironment("db", url=URL, channels=[channel], payload="text",
                                  max_bytes=10)
        await env.connect()
        events = env.events()
        try:
            await env.act("notify", channel=channel, payload="{not json")
            await env.act("notify", channel=channel, payload="é" * 6)  # 12 bytes
            await env.act("notify", channel=channel, payload="ok")
            first = await asyncio.wait_for(anext(events), 5)
            assert isinstance(first, Event) and first.data == "{not json"
            big = await asyncio.wait_for(anext(events), 5)
            assert isinstance(big, Rejected) and "12 bytes" in big.reason
            last = await asyncio.wait_for(anext(events), 5)
            assert isinstance(last, Event) and last.data == "ok"
        finally:
            await events.aclose()
            await env.close()

    asyncio.run(main())


def test_a_notification_is_delivered_when_its_transaction_commits() -> None:
    channel = unique("c")

    async def main() -> None:
        import psycopg

        env = PostgresEnvironment("db", url=URL, channels=[channel])
        await env.connect()
        events = env.events()
        try:
            async with admin() as other, await psycopg.AsyncConnection.connect(URL) as tx:
                await notify(tx, channel, json.dumps("in a transaction"))  # not committed
                await notify(other, channel, json.dumps("committed first"))
                first = await asyncio.wait_for(anext(events), 5)
                await tx.commit()
                second = await asyncio.wait_for(anext(events), 5)
        finally:
            await events.aclose()
            await env.close()
        assert isinstance(first, Event) and first.data == "committed first"
        assert isinstance(second, Event) and second.data == "in a transaction"

    asyncio.run(main())


def test_listener_terminated_while_streaming_reconnects() -> None:
    channel = unique("c")

    async def main() -> None:
        env = PostgresEnvironment("db", url=URL, channels=[channel])
        queue: asyncio.Queue[Event | Rejected] = asyncio.Queue()
        task = asyncio.create_task(pump(env, queue))
        try:
            async with admin() as conn:
                async def before(n: int) -> None:
                    await notify(conn, channel, json.dumps({"before": n}))

                await until(queue, has("before"), before)
                old = env.listener_pid
                cur = await conn.execute("SELECT pg_terminate_backend(pid) FROM "
                                         "pg_stat_activity WHERE pid = %s", (old,))
                assert await cur.fetchall() == [(True,)]

                async def after(n: int) -> None:
                    await notify(conn, channel, json.dumps({"after": n}))

                got = await until(queue, has("after"), after)
            assert isinstance(got, Event) and got.kind == "notify"
            assert env.reconnects >= 1 and env.state == "connected"
            assert env.listener_pid not in (None, old)
            assert env.last_error is not None and "OperationalError" in env.last_error
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await env.close()

    asyncio.run(main())


def test_notifications_sent_while_nobody_listens_are_lost() -> None:
    channel = unique("c")

    async def main() -> None:
        env = PostgresEnvironment("db", url=URL, channels=[channel])
        await env.connect()
        await env.close()
        async with admin() as conn:
            await notify(conn, channel, json.dumps("sent while closed"))
            await env.connect()
            await notify(conn, channel, json.dumps("sent while listening"))
        events = env.events()
        try:
            first = await asyncio.wait_for(anext(events), 5)
            assert isinstance(first, Event) and first.data == "sent while listening"
        finally:
            await events.aclose()
            await env.close()

    asyncio.run(main())


def test_an_idle_pool_connection_terminated_is_replaced() -> None:
    async def main() -> None:
        env = PostgresEnvironment("db", url=URL, pool_min=1, pool_max=1)
        await env.connect()
        try:
            before = (await env.act("query", sql="SELECT pg_backend_pid() AS pid"))[0]["pid"]
            async with admin() as conn:
                await conn.execute("SELECT pg_terminate_backend(%s)", (before,))
            rows = await call(env, lambda: env.act("query", sql="SELECT pg_backend_pid() AS pid"))
            assert rows[0]["pid"] != before
        finally:
            await env.close()

    asyncio.run(main())


def test_a_connection_lost_mid_action_is_retried_by_call_and_the_listener_kept() -> None:
    seq, channel = unique("s"), unique("c")

    async def main() -> None:
        env = PostgresEnvironment("db", url=URL, pool_max=1, channels=[channel])
        await env.connect()
        listener = env.listener_pid
        await env.act("execute", sql=f"CREATE SEQUENCE {seq}")
        events = env.events()
        try:
            # the first run kills its own backend mid-query; the sequence is not transactional,
            # so the retry (on a new connection) gets past it
            rows = await call(env, lambda: env.act(
                "query", sql=f"SELECT CASE WHEN nextval('{seq}') = 1 THEN "
                             f"pg_terminate_backend(pg_backend_pid()) END AS killed, "
                             f"pg_sleep(0.05), 42 AS answer"))
            assert rows[0]["answer"] == 42 and rows[0]["killed"] is None
            assert env.reconnects == 1 and "AdminShutdown" in (env.last_error or "")
            # the reconnect kept the listener, so nothing sent meanwhile was missed
            assert env.listener_pid == listener
            await env.act("notify", channel=channel, payload=["still listening"])
            got = await asyncio.wait_for(anext(events), 5)
            assert isinstance(got, Event) and got.data == ["still listening"]
        finally:
            await events.aclose()
            await call(env, lambda: env.act("execute", sql=f"DROP SEQUENCE IF EXISTS {seq}"))
            await env.close()
        assert env.listener_pid is None and env.state == "disconnected"
        with pytest.raises(env.connection_errors):  # a plain close() closes the pool too
            await env.act("query", sql="SELECT 1")

    asyncio.run(main())


def test_every_connection_cut_by_a_proxy_comes_back() -> None:
    channel = unique("c")

    async def main() -> None:
        proxy = TcpProxy(5432)
        env = PostgresEnvironment("db", url=f"postgresql://postgres@127.0.0.1:{proxy.port}/test",
                                  channels=[channel])
        queue: asyncio.Queue[Event | Rejected] = asyncio.Queue()
        task = asyncio.create_task(pump(env, queue))
        try:
            def poke(key: str) -> Callable[[int], Awaitable[None]]:
                async def send(n: int) -> None:
                    await call(env, lambda: env.act("notify", channel=channel,
                                                    payload={key: n}))
                return send

            await until(queue, has("before"), poke("before"))
            assert proxy.drop() >= 2  # the pool's connection and the listener
            # the pool replaces its connection while the stream reopens the listener: the
            # action waits for neither a reconnect of the pool nor its timeout (5 s)
            assert await asyncio.wait_for(
                call(env, lambda: env.act("query", sql="SELECT 1 AS one")), 2) == [{"one": 1}]
            got = await until(queue, has("after"), poke("after"))
            assert isinstance(got, Event)
            assert env.reconnects >= 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await env.close()
            proxy.close()

    asyncio.run(main())


def test_after_the_server_was_unreachable_listener_and_pool_come_back() -> None:
    channel = unique("c")

    async def main() -> None:
        proxy = TcpProxy(5432)
        port = proxy.port
        env = PostgresEnvironment("db", url=f"postgresql://postgres@127.0.0.1:{port}/test",
                                  channels=[channel], timeout_s=1)
        queue: asyncio.Queue[Event | Rejected] = asyncio.Queue()
        task = asyncio.create_task(pump(env, queue))
        try:
            async with admin() as conn:
                async def before(n: int) -> None:
                    await notify(conn, channel, json.dumps({"before": n}))

                await until(queue, has("before"), before)
                proxy.close()  # every connection cut, no new one taken
                with pytest.raises(EnvironmentError, match="gave up after 1 attempts"):
                    await call(env, lambda: env.act("query", sql="SELECT 1"),
                               Backoff(first_s=0.01, attempts=1))
                proxy = TcpProxy(5432, listen_port=port)  # the server is back

                async def after(n: int) -> None:
                    await notify(conn, channel, json.dumps({"after": n}))

                await until(queue, has("after"), after, timeout=10)
            assert await call(env, lambda: env.act("query", sql="SELECT 1 AS one")) == [
                {"one": 1}]
            assert env.reconnects >= 2
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await env.close()
            proxy.close()

    asyncio.run(main())


def test_a_server_that_is_not_there_is_a_connection_error() -> None:
    async def main() -> None:
        env = PostgresEnvironment("db", url="postgresql://postgres@127.0.0.1:9/test",
                                  timeout_s=0.5)
        with pytest.raises(env.connection_errors):
            await env.connect()
        assert env._pool is None  # nothing left open
        with pytest.raises(env.connection_errors):
            await env.observe()

    asyncio.run(main())
