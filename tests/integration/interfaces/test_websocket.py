"""WebSocketEnvironment against real websockets servers and clients on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from interfaces import Backoff, EnvironmentError, Event, Rejected, call, stream
from interfaces.websocket import WebSocketEnvironment

pytestmark = pytest.mark.integration


class EchoServer:
    """A websockets server the test starts, stops and restarts on the same port.

    It echoes what it receives; the test reaches each client it accepts through
    :meth:`next_client` to push frames of its own.
    """

    def __init__(self) -> None:
        self.port = 0
        self.joined: asyncio.Queue[ServerConnection] = asyncio.Queue()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/feed"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def next_client(self) -> ServerConnection:
        return await asyncio.wait_for(self.joined.get(), 5)

    async def _handle(self, ws: ServerConnection) -> None:
        await self.joined.put(ws)
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                await ws.send(message)


class Events:
    """``interfaces.stream(env)`` pumped into a queue, read with a timeout."""

    def __init__(self, env: WebSocketEnvironment) -> None:
        self.env = env
        self.queue: asyncio.Queue[Event | Rejected] = asyncio.Queue()
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for item in stream(self.env, Backoff(first_s=0.02, max_s=0.1)):
            await self.queue.put(item)

    async def next(self, timeout: float = 5.0) -> Event | Rejected:
        get = asyncio.ensure_future(self.queue.get())
        done, _ = await asyncio.wait({get, self.task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()
        get.cancel()
        if self.task in done:
            self.task.result()
        raise AssertionError(f"nothing within {timeout}s; health: {self.env.health()}")

    async def event(self, kind: str = "message") -> Event:
        item = await self.next()
        assert isinstance(item, Event) and item.kind == kind, item
        return item

    async def rejected(self) -> Rejected:
        item = await self.next()
        assert isinstance(item, Rejected), item
        return item

    async def send(self, payload: Any) -> None:
        """``send`` as an agent does it: through :func:`interfaces.call`, which connects
        (the stream may be connecting at the same moment)."""
        await call(self.env, lambda: self.env.act("send", payload=payload))

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.env.close()


@contextlib.asynccontextmanager
async def client_of(server: EchoServer, **options: Any) -> AsyncIterator[Events]:
    await server.start()
    events = Events(WebSocketEnvironment("ws", url=server.url, **options))
    try:
        yield events
    finally:
        await events.stop()
        await server.stop()


def test_client_sends_and_receives() -> None:
    async def main() -> None:
        server = EchoServer()
        async with client_of(server) as events:
            peer = await server.next_client()
            await events.send({"a": 1})
            echoed = await events.event()
            assert (echoed.subject, echoed.data, echoed.meta) == (server.url, {"a": 1},
                                                                  {"frame": "text"})
            assert await events.env.observe() == {"mode": "client", "url": server.url,
                                                  "connected": True}
            await peer.send("{not json")
            bad = await events.rejected()
            assert "malformed JSON" in bad.reason and bad.raw == b"{not json"
            assert bad.subject == server.url
            await peer.send(b'{"b": 2}')
            binary = await events.event()
            assert binary.data == {"b": 2} and binary.meta == {"frame": "binary"}
            assert events.env.counts["sent"] == 1 and events.env.reconnects == 0

    asyncio.run(main())


def test_client_text_and_bytes_payloads() -> None:
    async def main() -> None:
        server = EchoServer()
        async with client_of(server, payload="bytes") as events:
            await server.next_client()
            await events.send(b"\x00\xff")
            got = await events.event()
            assert got.data == b"\x00\xff" and got.meta == {"frame": "binary"}
            with pytest.raises(EnvironmentError, match="payload must be bytes"):
                await events.env.act("send", payload="text")
        server = EchoServer()
        async with client_of(server, payload="text") as events:
            peer = await server.next_client()
            await events.send("héllo")
            assert (await events.event()).data == "héllo"
            await peer.send(b"\xff\xfe")
            assert "not UTF-8" in (await events.rejected()).reason
            await peer.send("still here")
            assert (await events.event()).data == "still here"

    asyncio.run(main())


def test_client_reconnects_after_the_server_restarts() -> None:
    async def main() -> None:
        server = EchoServer()
        async with client_of(server) as events:
            peer = await server.next_client()
            await peer.send('{"n": 1}')
            assert (await events.event()).data == {"n": 1}
            await server.stop()
            await server.start()  # the same port
            peer = await server.next_client()
            await peer.send('{"n": 2}')
            assert (await events.event()).data == {"n": 2}
            assert events.env.reconnects >= 1
            assert "ConnectionClosed" in str(events.env.last_error)
            await events.send("after")
            assert (await events.event()).data == "after"

    asyncio.run(main())


def test_client_rejects_an_oversized_message_and_reconnects() -> None:
    async def main() -> None:
        server = EchoServer()
        async with client_of(server, max_bytes=100) as events:
            peer = await server.next_client()
            await peer.send('"' + "x" * 200 + '"')
            with contextlib.suppress(ConnectionClosed):
                await peer.send('"lost"')  # comes after the client closed: never seen
            big = await events.rejected()
            assert "over max_bytes=100" in big.reason and "1009" in big.reason
            peer = await server.next_client()  # the client came back
            await peer.send('{"small": true}')
            assert (await events.event()).data == {"small": True}
            assert events.env.reconnects >= 1 and events.env.counts["oversized"] == 1

    asyncio.run(main())


@contextlib.asynccontextmanager
async def listening(**options: Any) -> AsyncIterator[Events]:
    env = WebSocketEnvironment("hub", mode="server", **options)
    await env.connect()
    events = Events(env)
    try:
        yield events
    finally:
        await events.stop()


async def _join(events: Events, path: str = "/") -> tuple[ClientConnection, str]:
    port = events.env.bound_port
    client = await connect(f"ws://127.0.0.1:{port}{path}")
    joined = await events.event("connected")
    assert joined.subject == f"127.0.0.1:{client.local_address[1]}"
    assert joined.data == {"path": path}
    return client, joined.subject


def test_server_clients_messages_and_actions() -> None:
    async def main() -> None:
        async with listening() as events:
            env = events.env
            port = env.bound_port
            assert port and env.health()["port"] == port
            one, one_id = await _join(events, "/feed")
            two, two_id = await _join(events)
            assert (await env.observe()) == {"mode": "server", "host": "127.0.0.1",
                                             "port": port,
                                             "clients": sorted([one_id, two_id])}
            await one.send('{"t": 21.5}')
            said = await events.event()
            assert (said.subject, said.data) == (one_id, {"t": 21.5})
            await two.send("[oops")
            bad = await events.rejected()
            assert bad.subject == two_id and "malformed JSON" in bad.reason
            await env.act("send", client=two_id, payload={"to": "two"})
            assert await asyncio.wait_for(two.recv(), 5) == '{"to": "two"}'
            assert await env.act("broadcast", payload=[1]) == 2
            assert [await asyncio.wait_for(c.recv(), 5) for c in (one, two)] == ["[1]", "[1]"]
            await one.close()
            gone = await events.event("disconnected")
            assert (gone.subject, gone.data) == (one_id, {"code": 1000, "reason": ""})
            assert await env.act("broadcast", payload="x") == 1
            with pytest.raises(EnvironmentError, match=f"no client {one_id!r}"):
                await env.act("send", client=one_id, payload=1)
            await two.close()
            assert (await events.event("disconnected")).subject == two_id
            assert env.state == "connected" and env.reconnects == 0

    asyncio.run(main())


def test_server_survives_oversized_frames_and_dropped_clients() -> None:
    async def main() -> None:
        async with listening(max_bytes=100) as events:
            env = events.env
            big, big_id = await _join(events)
            small, small_id = await _join(events)
            await big.send("x" * 200)
            refused = await events.rejected()
            assert refused.subject == big_id and "over max_bytes=100" in refused.reason
            gone = await events.event("disconnected")
            assert gone.subject == big_id and gone.data["code"] == 1009
            big.transport.abort()
            await small.send('"still"')
            assert (await events.event()).data == "still"
            small.transport.abort()  # dropped without a close frame
            dropped = await events.event("disconnected")
            assert dropped.subject == small_id and dropped.data["code"] == 1006
            again, _ = await _join(events)
            await again.send("3")
            assert (await events.event()).data == 3
            await again.close()
            assert env.counts["oversized"] == 1 and env.reconnects == 0
            assert env.state == "connected"

    asyncio.run(main())
