"""WebSocketEnvironment's pure parts: options, ids, encoding, decoding (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

from interfaces import EnvironmentError, Event, Rejected, make_environment
from interfaces.websocket import WebSocketEnvironment, _too_big, peer_id

URL = "ws://127.0.0.1:9/feed"


@pytest.mark.parametrize(("options", "named"), [
    ({"mode": "relay", "url": URL}, "mode"),
    ({}, "url must be a ws:// or wss:// URL"),
    ({"url": "http://h/x"}, "url must be"),
    ({"mode": "server", "url": URL}, "url is for client mode"),
    ({"url": URL, "payload": "xml"}, "payload"),
    ({"url": URL, "max_bytes": 0}, "max_bytes"),
    ({"url": URL, "ping_interval_s": 0}, "ping_interval_s"),
    ({"mode": "server", "port": 70000}, "port"),
    ({"mode": "server", "port": "80"}, "port"),
])
def test_bad_options_are_named(options: dict[str, Any], named: str) -> None:
    with pytest.raises(EnvironmentError, match=named):
        WebSocketEnvironment("ws", **options)


def test_defaults_and_registry() -> None:
    env = make_environment("websocket", name="ws", url=URL)
    assert isinstance(env, WebSocketEnvironment)
    assert (env.mode, env.payload, env.max_bytes, env.ping_interval_s) == (
        "client", "json", 256 * 1024, 20.0)
    server = WebSocketEnvironment("hub", mode="server", ping_interval_s=None)
    assert (server.host, server.port, server.bound_port) == ("127.0.0.1", 0, None)
    assert server.health()["port"] is None and "port" not in env.health()
    assert server.connection_errors == (OSError,)


def test_peer_ids() -> None:
    assert peer_id(("10.0.0.2", 4000)) == "10.0.0.2:4000"
    assert peer_id(("fe80::1", 4000, 0, 2)) == "[fe80::1]:4000"
    assert peer_id("unix-socket") == "unix-socket"


def test_oversized_close_is_told_apart() -> None:
    too_big = Close(1009, "frame exceeds limit")
    assert _too_big(ConnectionClosedError(None, too_big))  # this side refused it
    assert not _too_big(ConnectionClosedError(too_big, too_big, True))  # the peer did
    assert not _too_big(ConnectionClosedError(None, Close(1000, "")))
    assert not _too_big(ConnectionClosedError(None, None))


def test_encode_by_payload() -> None:
    assert WebSocketEnvironment("ws", url=URL).encode({"a": [1]}) == '{"a": [1]}'
    assert WebSocketEnvironment("ws", url=URL, payload="text").encode("hi") == "hi"
    assert WebSocketEnvironment("ws", url=URL, payload="bytes").encode(bytearray(b"1")) == b"1"
    with pytest.raises(EnvironmentError, match="not JSON-serializable"):
        WebSocketEnvironment("ws", url=URL).encode({1, 2})
    with pytest.raises(EnvironmentError, match="payload must be str"):
        WebSocketEnvironment("ws", url=URL, payload="text").encode(b"x")


def test_decode_by_payload() -> None:
    env = WebSocketEnvironment("ws", url=URL, max_bytes=10)
    event = env._decode('{"a": 1}', "peer")
    assert isinstance(event, Event) and (event.kind, event.data, event.subject) == (
        "message", {"a": 1}, "peer")
    bad = env._decode(b"{", "peer")
    assert isinstance(bad, Rejected) and "malformed JSON" in bad.reason and bad.raw == b"{"
    big = env._decode("[" + "1," * 10 + "1]", "peer")
    assert isinstance(big, Rejected) and "over the limit of 10" in big.reason
    raw = WebSocketEnvironment("ws", url=URL, payload="bytes")._decode("é", "p")
    assert isinstance(raw, Event) and raw.data == "é".encode() and raw.meta == {"frame": "text"}


def test_actions_check_mode_and_arguments() -> None:
    async def main() -> None:
        client = WebSocketEnvironment("ws", url=URL)
        with pytest.raises(EnvironmentError, match="broadcast is not an action in client mode"):
            await client.act("broadcast", payload=1)
        with pytest.raises(EnvironmentError, match=r"takes \['payload'\], got \['client'"):
            await client.act("send", client="x", payload=1)
        with pytest.raises(ConnectionError, match="not connected"):
            await client.act("send", payload=1)
        server = WebSocketEnvironment("hub", mode="server")
        with pytest.raises(EnvironmentError, match=r"takes \['client', 'payload'\]"):
            await server.act("send", payload=1)
        with pytest.raises(EnvironmentError, match="no client 'x' is connected; connected: none"):
            await server.act("send", client="x", payload=1)
        assert await server.act("broadcast", payload=1) == 0
        with pytest.raises(ConnectionError, match="not listening"):
            await anext(server.events())
        await client.close()  # idempotent, also when never connected
        await server.close()

    asyncio.run(main())
