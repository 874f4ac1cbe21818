"""CoAP resources as an environment: observed and polled resources in, requests out.

Talks CoAP (RFC 7252) over UDP with aiocoap.  Requires the ``iot`` extra.

Options:
    observe: URIs to observe (RFC 7641), e.g. ``"coap://127.0.0.1:5683/sensors/temp"``.
    poll: ``{"uri": ..., "interval_s": ...}`` for resources that cannot be
        observed: fetched with GET every ``interval_s``.
    payload: ``"json"`` (default), ``"text"`` (UTF-8) or ``"bytes"``: how
        payloads are decoded into the events' data and the actions' results.
    max_bytes: larger payloads are refused (256 KiB).
    timeout_s: how long a request may go unanswered (10).
    renew_s: an observation silent this long is registered again (60, CoAP's
        default Max-Age): that is how a server that went away, or restarted
        and forgot its observers, is noticed.

Events:
    ``notification`` (an observed resource) and ``changed`` (a polled one, only
    when its code, content format or payload differs from the last fetch):
    subject the URI, data the decoded payload (None when empty), meta ``{"code":
    "2.05", "content_format": 50 or None}``.  The first response of each
    observation is reported too (the state at registration) unless it equals
    the last one seen, so a re-registration repeats nothing.  A payload that is
    malformed JSON, not UTF-8 text or over ``max_bytes``, and an error response
    to a poll, is a :class:`~interfaces.Rejected` naming the URI (a poll's
    repeated answer only once); the stream goes on.

Actions:
    ``get(uri)``, ``put(uri, payload)``, ``post(uri, payload)``, ``delete(uri)``
    return ``{"code": "2.05", "payload": <decoded>}`` (an error response's
    payload is its diagnostic text).  A payload is sent JSON-encoded (content
    format 50) unless it is str (0, text/plain) or bytes (none, unless
    ``content_format`` is given).

Guarantees:
    CoAP is UDP: there is no connection to lose, only observations and
    requests that fail.  An observation that ends with an error (the server
    answers its re-registration with nothing or a port-unreachable error, says
    an error code, or ends it) makes :meth:`CoapEnvironment.events` raise a
    connection error, and :func:`interfaces.stream` registers every
    observation again with back-off; a failing poll does the same.
    Observation is eventually consistent (RFC 7641): notifications that come
    faster than they are read may be skipped, the latest state is never lost.
    A resource answering a registration with a 4.xx code, or without the
    Observe option, is an :class:`~interfaces.EnvironmentError` naming it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from interfaces.base import (
    BadInput,
    Environment,
    EnvironmentError,
    Event,
    Rejected,
    decode_json,
    require,
)
from messaging.errors import did_you_mean

__all__ = ["CoapConnectionLost", "CoapEnvironment", "check_uri", "decode_payload",
           "encode_payload", "parse_polls"]

WHAT = "the CoAP environment"
PAYLOADS = ("json", "text", "bytes")
SCHEMES = ("coap", "coaps", "coap+tcp", "coaps+tcp", "coap+ws", "coaps+ws")
JSON, TEXT = 50, 0  # content formats


class CoapConnectionLost(ConnectionError):
    """A server did not answer, refused, or ended an observation."""


class _Failed:
    """An error from a background task of connection ``generation``, for ``events`` to raise."""

    __slots__ = ("error", "generation")

    def __init__(self, generation: int, error: BaseException) -> None:
        self.generation, self.error = generation, error


def check_uri(uri: Any, what: str) -> str:
    """``uri`` if it is a CoAP URI with a host, else :class:`EnvironmentError` naming ``what``.

    >>> check_uri("coap://127.0.0.1:5683/temp", "observe")
    'coap://127.0.0.1:5683/temp'
    >>> check_uri("http://x/temp", "observe")
    Traceback (most recent call last):
    ...
    interfaces.base.EnvironmentError: observe: 'http://x/temp' is not a CoAP URI (coap://host/path)
    """
    if isinstance(uri, str):
        parts = urlsplit(uri)
        if parts.scheme in SCHEMES and parts.hostname:
            return uri
    raise EnvironmentError(f"{what}: {uri!r} is not a CoAP URI (coap://host/path)")


def parse_polls(given: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """URI -> interval from ``[{"uri": ..., "interval_s": ...}]``.

    >>> parse_polls([{"uri": "coap://h/a", "interval_s": 5}])
    {'coap://h/a': 5.0}
    """
    if isinstance(given, str | bytes | Mapping):
        raise EnvironmentError(f"poll: expected a list of {{uri, interval_s}}, got {given!r}")
    out: dict[str, float] = {}
    for item in given:
        if not isinstance(item, Mapping) or set(item) != {"uri", "interval_s"}:
            raise EnvironmentError(f"poll: {item!r} must have 'uri' and 'interval_s', "
                                   f"nothing else")
        interval = item["interval_s"]
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise EnvironmentError(f"poll: interval_s of {item['uri']!r} must be a positive "
                                   f"number, got {interval!r}")
        out[check_uri(item["uri"], "poll")] = float(interval)
    return out


def decode_payload(raw: bytes, mode: str, max_bytes: int) -> Any:
    """``raw`` decoded as ``mode`` (json, text, bytes), or :class:`BadInput` saying why not."""
    if mode == "json":
        return decode_json(raw, max_bytes=max_bytes) if raw else None
    if len(raw) > max_bytes:
        raise BadInput(f"payload of {len(raw)} bytes is over the limit of {max_bytes}")
    if mode == "bytes":
        return raw
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise BadInput(f"payload is not UTF-8 text: {exc}") from exc


def encode_payload(payload: Any, content_format: int | None) -> tuple[bytes, int | None]:
    """The body and content format a request sends (see the module docstring)."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload), content_format
    if isinstance(payload, str):
        return payload.encode(), TEXT if content_format is None else content_format
    try:
        body = json.dumps(payload).encode()
    except (TypeError, ValueError) as exc:
        raise EnvironmentError(f"payload: cannot be JSON-encoded: {exc}") from exc
    return body, JSON if content_format is None else content_format


class CoapEnvironment(Environment):
    """Observed resources' ``notification`` and polled ones' ``changed`` events;
    get, put, post and delete out."""

    kind = "coap"
    actions = ("get", "put", "post", "delete")
    connection_errors = (CoapConnectionLost, ConnectionError, OSError, TimeoutError)

    def __init__(self, name: str, *, observe: Iterable[str] = (),
                 poll: Iterable[Mapping[str, Any]] = (), payload: str = "json",
                 max_bytes: int = 256 * 1024, timeout_s: float = 10.0,
                 renew_s: float = 60.0) -> None:
        super().__init__(name)
        self._coap = require("aiocoap", WHAT)
        if isinstance(observe, str):
            raise EnvironmentError(f"observe: expected a list of URIs, got {observe!r}")
        self.observed = tuple(dict.fromkeys(check_uri(uri, "observe") for uri in observe))
        self.polled = parse_polls(poll)
        if payload not in PAYLOADS:
            raise EnvironmentError(f"payload: expected one of {PAYLOADS}, got {payload!r}")
        for option, value in (("max_bytes", max_bytes), ("timeout_s", timeout_s),
                              ("renew_s", renew_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise EnvironmentError(f"{option}: expected a positive number, got {value!r}")
        self.payload, self.max_bytes = payload, int(max_bytes)
        self.timeout_s, self.renew_s = float(timeout_s), float(renew_s)
        self._ctx: Any = None
        self._generation = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[Event | Rejected | _Failed] = asyncio.Queue()
        #: (kind, uri) -> (code, content format, payload) last seen, kept across reconnects
        self._last: dict[tuple[str, str], tuple[str, int | None, bytes]] = {}

    async def connect(self) -> None:
        if self._ctx is not None:
            if self.state == "connected":
                return
            await self.close()
        self._ctx = await self._coap.Context.create_client_context()
        self._generation += 1
        try:
            for uri in self.observed:
                request, first = await self._register(uri)
                self._report("notification", uri, first, repeat=False)
                self._start(self._watch(uri, request))
            for uri, interval in self.polled.items():
                self._start(self._poll(uri, interval))
        except BaseException:
            await self.close()
            raise
        self.state = "connected"

    def _start(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        generation = self._generation
        task.add_done_callback(lambda done: self._ended(generation, done))
        self._tasks.append(task)

    def _ended(self, generation: int, task: asyncio.Task[None]) -> None:
        """A watch or poll ended: its error is raised by ``events`` (nothing is swallowed)."""
        error = None if task.cancelled() else task.exception()
        if error is not None and generation == self._generation:
            self.state = "disconnected"
            self._queue.put_nowait(_Failed(generation, error))

    async def close(self) -> None:
        self._generation += 1  # what the old tasks report from now on is stale
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ctx, self._ctx = self._ctx, None
        self.state = "disconnected"
        if ctx is not None:
            await ctx.shutdown()

    async def _request(self, method: str, uri: str, payload: Any = None,
                       content_format: int | None = None, observe: bool = False) -> Any:
        """Send one request; answer its response, or a connection error naming the URI."""
        if self._ctx is None:
            raise CoapConnectionLost(f"coap environment {self.name!r} is not connected")
        coap = self._coap
        options: dict[str, Any] = {"observe": 0} if observe else {}
        if method in ("PUT", "POST"):
            options["payload"], cf = encode_payload(payload, content_format)
            if cf is not None:
                options["content_format"] = cf
        request = self._ctx.request(coap.Message(code=getattr(coap, method), uri=uri,
                                                 **options))
        what = "observe" if observe else method
        try:
            response = await asyncio.wait_for(request.response, self.timeout_s)
        except TimeoutError:
            _end(request)
            raise TimeoutError(f"coap {what} {uri}: no answer in {self.timeout_s:g} s"
                               ) from None
        except coap.error.NetworkError as exc:
            _end(request)
            cause = exc.__cause__ or exc
            raise CoapConnectionLost(f"coap {what} {uri}: {cause}") from exc
        return (request, response) if observe else response

    async def _register(self, uri: str) -> tuple[Any, Any]:
        request, response = await self._request("GET", uri, observe=True)
        code = response.code
        if not code.is_successful() or response.opt.observe is None:
            _end(request)
            if code.class_ == 5:
                raise CoapConnectionLost(f"coap observe {uri}: the server answered {code}")
            if not code.is_successful():
                raise EnvironmentError(f"coap observe {uri}: the server answered {code}")
            raise EnvironmentError(f"coap observe {uri}: the resource is not observable; "
                                   f"poll it instead")
        return request, response

    async def _watch(self, uri: str, request: Any) -> None:
        """Report ``uri``'s notifications; re-register it when it has been silent ``renew_s``."""
        coap = self._coap
        try:
            while True:
                notifications = request.observation.__aiter__()
                while True:
                    try:
                        response = await asyncio.wait_for(anext(notifications), self.renew_s)
                    except TimeoutError:
                        break
                    except StopAsyncIteration:
                        raise CoapConnectionLost(f"coap observe {uri}: the server ended the "
                                                 f"observation") from None
                    except coap.error.NetworkError as exc:
                        raise CoapConnectionLost(f"coap observe {uri}: "
                                                 f"{exc.__cause__ or exc}") from exc
                    if not response.code.is_successful():
                        raise CoapConnectionLost(f"coap observe {uri}: the server answered "
                                                 f"{response.code}")
                    self._report("notification", uri, response, repeat=True)
                _end(request)
                self.counts["renewals"] += 1
                request, first = await self._register(uri)
                self._report("notification", uri, first, repeat=False)
        finally:
            _end(request)

    async def _poll(self, uri: str, interval: float) -> None:
        while True:
            response = await self._request("GET", uri)
            self.counts["polls"] += 1
            self._report("changed", uri, response, repeat=False)
            await asyncio.sleep(interval)

    def _report(self, kind: str, uri: str, response: Any, *, repeat: bool) -> None:
        """Queue ``response`` as an event (or a rejection); unless ``repeat``, only when it
        differs from the last one seen of ``uri``."""
        code, raw = response.code, bytes(response.payload)
        cf = response.opt.content_format
        key = (code.dotted, None if cf is None else int(cf), raw)
        if not repeat and self._last.get((kind, uri)) == key:
            return
        self._last[(kind, uri)] = key
        item: Event | Rejected
        if not code.is_successful():
            item = Rejected(self.name, f"error response: GET {uri} answered {code}", raw, uri)
        else:
            try:
                data = decode_payload(raw, self.payload, self.max_bytes)
                item = Event(self.name, kind, data, uri, time.time(),
                             {"code": key[0], "content_format": key[1]})
            except BadInput as exc:
                item = Rejected(self.name, f"{exc} (from {uri})", raw, uri)
        self.counts["rejected" if isinstance(item, Rejected) else kind] += 1
        self._queue.put_nowait(item)

    async def events(self) -> AsyncIterator[Event | Rejected]:
        if self._ctx is None or self.state != "connected":
            raise CoapConnectionLost(f"coap environment {self.name!r} is not connected")
        while True:
            item = await self._queue.get()
            if isinstance(item, _Failed):
                if item.generation == self._generation:
                    self.state = "disconnected"
                    raise item.error
                continue
            yield item

    async def observe(self) -> dict[str, Any]:
        return {"state": self.state, "connected": self.state == "connected",
                "observing": list(self.observed), "polling": dict(self.polled),
                "last": {uri: {"kind": kind, "code": code, "content_format": cf}
                         for (kind, uri), (code, cf, _) in self._last.items()},
                **{k: self.counts[k] for k in ("notification", "changed", "polls",
                                               "renewals", "rejected")}}

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        takes = ("uri", "payload", "content_format") if action in ("put", "post") else ("uri",)
        for key in args:
            if key not in takes:
                raise EnvironmentError(f"coap {action}: unknown argument {key!r}"
                                       f"{did_you_mean(key, list(takes))} "
                                       f"(it takes: {', '.join(takes)})")
        uri = check_uri(args.get("uri"), f"coap {action}")
        response = await self._request(action.upper(), uri, args.get("payload"),
                                       args.get("content_format"))
        raw = bytes(response.payload)
        if not response.code.is_successful():
            return {"code": response.code.dotted, "payload": raw.decode(errors="replace")}
        try:
            data = decode_payload(raw, self.payload, self.max_bytes)
        except BadInput as exc:
            raise BadInput(f"coap {action} {uri}: {exc}") from exc
        return {"code": response.code.dotted, "payload": data}


def _end(request: Any) -> None:
    """Stop observing with ``request`` (once; a no-op for a plain request)."""
    observation = getattr(request, "observation", None)
    if observation is not None and not observation.cancelled:
        observation.cancel()
