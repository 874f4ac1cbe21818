"""WebSocket as an environment: a client of one server, or a server of many clients.

In ``mode="client"`` a :class:`WebSocketEnvironment` holds one connection to
``url``; in ``mode="server"`` it listens on ``host``:``port`` and holds a
connection per client.  Messages that arrive are events; ``send`` and
``broadcast`` are its actions.  Requires websockets (its asyncio API).

Options (keyword-only):
    mode: ``"client"`` (default) or ``"server"``.
    url: the ``ws://`` or ``wss://`` URL to connect to (client mode).
    host, port: where to listen (server mode; default 127.0.0.1 and 0, a free
        port; the port bound is ``port`` in :meth:`~WebSocketEnvironment.observe`
        and in ``health()``).
    payload: ``"json"`` (default), ``"text"`` or ``"bytes"``: how messages are
        decoded and how what is sent is encoded (JSON and text go in text
        frames, bytes in binary frames).
    max_bytes: the largest message taken (default 256 KiB), also websockets'
        ``max_size``: a bigger frame makes the receiving side close that
        connection with code 1009, as the protocol says.
    ping_interval_s: seconds between keep-alive pings (default 20; None: none).

Events:
    ``message``: data the decoded payload, subject the peer (client mode: the
    URL; server mode: the client's id, ``"host:port"``), meta ``{"frame":
    "text" | "binary"}``.  Server mode also has ``connected`` (data ``{"path"}``)
    and ``disconnected`` (data ``{"code", "reason"}``, code 1006 when the
    client vanished without a close frame) per client.
    :class:`~interfaces.Rejected`: malformed JSON, text that is not UTF-8,
    and a message over ``max_bytes`` (after which that connection is closed).

Actions:
    client mode: ``send`` (``payload``).  Server mode: ``send`` (``client``,
    ``payload``) and ``broadcast`` (``payload``), which returns the number of
    clients it reached.

Guarantees: in client mode a closed connection (the server went away, or
closed it after an oversized message) makes ``events()`` raise
:class:`websockets.ConnectionClosed` and a refused connect ``OSError``, so
:func:`interfaces.stream` reconnects with back-off; WebSocket has no
redelivery: what the server sent after the connection closed is not seen.
In server mode a client that drops is a ``disconnected`` event, never a
failure of the environment.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

from interfaces.base import (
    BadInput,
    Environment,
    EnvironmentError,
    Event,
    Rejected,
    decode_json,
    require,
)

__all__ = ["WebSocketEnvironment", "peer_id"]

MODES = ("client", "server")
PAYLOADS = ("json", "text", "bytes")
MESSAGE_TOO_BIG = 1009
ABNORMAL_CLOSURE = 1006  # the code for a connection lost without a close frame


def peer_id(address: Any) -> str:
    """A client's id from its socket address.

    >>> peer_id(("127.0.0.1", 54321)), peer_id(("::1", 8000, 0, 0))
    ('127.0.0.1:54321', '[::1]:8000')
    """
    if isinstance(address, tuple | list) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


def _too_big(exc: Any) -> bool:
    """Whether this side closed the connection because a message was over ``max_size``."""
    sent = getattr(exc, "sent", None)
    return (sent is not None and sent.code == MESSAGE_TOO_BIG
            and not getattr(exc, "rcvd_then_sent", False))


class WebSocketEnvironment(Environment):
    """A WebSocket client or server (see the module docstring)."""

    kind = "websocket"
    actions = ("send", "broadcast")

    def __init__(self, name: str, *, mode: str = "client", url: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, payload: str = "json",
                 max_bytes: int = 256 * 1024, ping_interval_s: float | None = 20.0) -> None:
        super().__init__(name)
        websockets = require("websockets", "the WebSocket environment")
        if mode not in MODES:
            raise EnvironmentError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if payload not in PAYLOADS:
            raise EnvironmentError(f"payload must be one of {', '.join(PAYLOADS)}, "
                                   f"got {payload!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise EnvironmentError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        if ping_interval_s is not None and (
                isinstance(ping_interval_s, bool) or not isinstance(ping_interval_s, int | float)
                or ping_interval_s <= 0):
            raise EnvironmentError(f"ping_interval_s must be a positive number or None, "
                                   f"got {ping_interval_s!r}")
        if mode == "client":
            parts = urllib.parse.urlsplit(url or "")
            if parts.scheme not in ("ws", "wss") or not parts.netloc:
                raise EnvironmentError(f"url must be a ws:// or wss:// URL in client mode, "
                                       f"got {url!r}")
        elif url is not None:
            raise EnvironmentError(f"url is for client mode; in server mode give host and "
                                   f"port, got url={url!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise EnvironmentError(f"port must be an integer from 0 to 65535, got {port!r}")
        self.mode, self.url, self.host, self.port = mode, url, host, port
        self.payload, self.max_bytes, self.ping_interval_s = payload, max_bytes, ping_interval_s
        if mode == "client":
            self.connection_errors = (websockets.ConnectionClosed, websockets.InvalidHandshake,
                                      OSError)
        else:
            self.connection_errors = (OSError,)
        self.bound_port: int | None = None
        self._ws: Any = None
        self._server: Any = None
        self._clients: dict[str, Any] = {}
        self._queue: asyncio.Queue[Event | Rejected] | None = None
        self._connecting = asyncio.Lock()

    async def connect(self) -> None:
        async with self._connecting:  # the stream and an action may connect at once
            if self.mode == "client" and self._ws is None:
                client = require("websockets.asyncio.client", "the WebSocket environment")
                self._ws = await client.connect(self.url, max_size=self.max_bytes,
                                                ping_interval=self.ping_interval_s)
            elif self.mode == "server" and self._server is None:
                server = require("websockets.asyncio.server", "the WebSocket environment")
                self._queue = asyncio.Queue()
                self._server = await server.serve(self._handle, self.host, self.port,
                                                  max_size=self.max_bytes,
                                                  ping_interval=self.ping_interval_s)
                self.bound_port = self._server.sockets[0].getsockname()[1]
            self.state = "connected"

    async def close(self) -> None:
        self.state = "disconnected"
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
            self._clients.clear()

    async def observe(self) -> dict[str, Any]:
        if self.mode == "client":
            return {"mode": "client", "url": self.url, "connected": self._open(self._ws)}
        return {"mode": "server", "host": self.host, "port": self.bound_port,
                "clients": sorted(self._clients)}

    def health(self) -> dict[str, Any]:
        found = super().health()
        if self.mode == "server":
            found["port"] = self.bound_port
        return found

    @staticmethod
    def _open(ws: Any) -> bool:
        from websockets.protocol import State

        return ws is not None and ws.state is State.OPEN

    # -- events ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event | Rejected]:
        if self.mode == "server":
            queue = self._queue
            if self._server is None or queue is None:
                raise ConnectionError(f"websocket server {self.name!r} is not listening")
            while True:
                yield await queue.get()
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"websocket environment {self.name!r} is not connected")
        websockets = require("websockets", "the WebSocket environment")
        while True:
            try:
                message = await ws.recv()
            except websockets.ConnectionClosed as exc:
                if _too_big(exc):
                    yield self._oversized(str(self.url))
                raise
            yield self._decode(message, str(self.url))

    async def _handle(self, ws: Any) -> None:
        """One client of the server: its connect, messages and disconnect, in order."""
        websockets = require("websockets", "the WebSocket environment")
        queue = self._queue
        if queue is None:  # closed before this client was served
            return
        peer = peer_id(ws.remote_address)
        self._clients[peer] = ws
        self.counts["clients_connected"] += 1
        await queue.put(Event(self.name, "connected", {"path": ws.request.path}, subject=peer))
        code, reason = ABNORMAL_CLOSURE, "abnormal closure"
        try:
            while True:
                await queue.put(self._decode(await ws.recv(), peer))
        except websockets.ConnectionClosed as exc:
            close = exc.rcvd or exc.sent
            if close is not None:
                code, reason = int(close.code), close.reason
            if _too_big(exc):
                await queue.put(self._oversized(peer))
        finally:
            if self._clients.get(peer) is ws:
                del self._clients[peer]
        self.counts["clients_disconnected"] += 1
        await queue.put(Event(self.name, "disconnected", {"code": code, "reason": reason},
                              subject=peer))

    def _oversized(self, peer: str) -> Rejected:
        self.counts["oversized"] += 1
        return Rejected(self.name, f"a message from {peer} was over max_bytes={self.max_bytes}:"
                                   f" connection closed with code {MESSAGE_TOO_BIG}",
                        subject=peer)

    def _decode(self, message: str | bytes, peer: str) -> Event | Rejected:
        frame = "text" if isinstance(message, str) else "binary"
        raw = message.encode() if isinstance(message, str) else bytes(message)
        try:
            if self.payload == "json":
                data: Any = decode_json(message, max_bytes=self.max_bytes)
            elif self.payload == "text":
                data = message if isinstance(message, str) else raw.decode()
            else:
                data = raw
        except BadInput as exc:
            return Rejected(self.name, f"from {peer}: {exc}", raw, subject=peer)
        except UnicodeDecodeError as exc:
            return Rejected(self.name, f"from {peer}: binary frame is not UTF-8 text: {exc}",
                            raw, subject=peer)
        self.counts["messages"] += 1
        return Event(self.name, "message", data, subject=peer, meta={"frame": frame})

    # -- actions ---------------------------------------------------------------------------

    def encode(self, payload: Any) -> str | bytes:
        """``payload`` as a frame: JSON or text in a text frame, bytes in a binary one."""
        if self.payload == "json":
            try:
                return json.dumps(payload)
            except (TypeError, ValueError) as exc:
                raise EnvironmentError(f"payload is not JSON-serializable: {exc}") from exc
        if self.payload == "text" and isinstance(payload, str):
            return payload
        if self.payload == "bytes" and isinstance(payload, bytes | bytearray):
            return bytes(payload)
        raise EnvironmentError(f"payload must be {'str' if self.payload == 'text' else 'bytes'}"
                               f" with payload={self.payload!r}, got "
                               f"{type(payload).__name__}")

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        takes = {("client", "send"): {"payload"}, ("server", "send"): {"client", "payload"},
                 ("server", "broadcast"): {"payload"}}.get((self.mode, action))
        if takes is None:
            raise EnvironmentError(f"{action} is not an action in {self.mode} mode")
        if set(args) != takes:
            raise EnvironmentError(f"{action} in {self.mode} mode takes {sorted(takes)}, "
                                   f"got {sorted(args)}")
        message = self.encode(args["payload"])
        if self.mode == "client":
            if self._ws is None:
                raise ConnectionError(f"websocket environment {self.name!r} is not connected")
            await self._ws.send(message)
            self.counts["sent"] += 1
            return None
        if action == "broadcast":
            server = require("websockets.asyncio.server", "the WebSocket environment")
            reached = [ws for ws in self._clients.values() if self._open(ws)]
            server.broadcast(reached, message)
            self.counts["sent"] += len(reached)
            return len(reached)
        await self._send_to(str(args["client"]), message)
        return None

    async def _send_to(self, client: str, message: str | bytes) -> None:
        websockets = require("websockets", "the WebSocket environment")
        ws = self._clients.get(client)
        if ws is None:
            raise EnvironmentError(f"no client {client!r} is connected; connected: "
                                   f"{', '.join(sorted(self._clients)) or 'none'}")
        try:
            await ws.send(message)
        except websockets.ConnectionClosed as exc:
            raise EnvironmentError(f"client {client!r} disconnected: {exc}") from exc
        self.counts["sent"] += 1
