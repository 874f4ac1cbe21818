"""HTTP as an environment: polled URLs whose changes are events, requests as actions.

An :class:`HttpEnvironment` polls the URLs in ``poll``, each on its own
interval, and emits an event only when what a URL serves has changed.  Each
poll is a conditional GET: it sends ``If-None-Match`` with the last ETag and
``If-Modified-Since`` with the last ``Last-Modified``; a 304 is counted as
``not_modified``, and a 200 whose validator is the one already seen as
``unchanged``.  When the server gives neither validator, the sha256 of the
body is compared with the last one instead.  Redirects are followed.
Requires httpx.

Options (keyword-only):
    base_url: joined with the ``path`` of polls and actions (``url`` is absolute).
    headers: sent with every request.
    timeout_s: connect/read/write timeout of each request (default 10).
    retries: how many times an action is retried (default 3) after a connection
        error, a timeout or a 429/502/503/504 answer; only idempotent methods
        (GET, HEAD, PUT, DELETE, OPTIONS) unless the action says ``retry=True``.
    backoff_s: the first delay between retries, doubling (default 0.1); a
        ``Retry-After`` header (seconds or HTTP date) is honoured instead, up
        to ``max_retry_after_s`` (default 30).
    poll: a list of ``{"url" or "path", "interval_s", "method": "GET"}``.
    payload: ``"json"`` (default) or ``"text"``: how bodies are decoded.
    max_bytes: the largest body taken (default 1 MiB); bodies are streamed and
        one over the limit is refused without being read whole.

Events:
    ``changed``: subject the URL, data the decoded body, meta ``{"status",
    "etag", "last_modified"}``.  The first response counts as a change.
    :class:`~interfaces.Rejected`, subject the URL: an answer other than 2xx or
    304 (the reason names the status), malformed JSON, an oversized body.  A
    failure that repeats poll after poll is rejected once, until the URL
    answers well again; a malformed body is rejected once, until it changes.

Actions:
    ``request`` (``method``, ``url`` or ``path``, ``json``, ``content``,
    ``params``, ``headers``, ``retry``) and the shortcuts ``get``, ``post``,
    ``put``, ``delete``: each returns ``{"status", "headers", "body"}``.  A 4xx
    (or a 5xx that is not retried) is returned, not raised; when the retries
    run out, :class:`~interfaces.EnvironmentError` names the URL and the last
    error.  A body over ``max_bytes``, or a 2xx body that is not JSON (with
    ``payload="json"``), raises :class:`~interfaces.BadInput`; the bodies of
    other answers that are not JSON are returned as text.

Guarantees: a connection error or timeout while polling makes ``events()``
raise it, so :func:`interfaces.stream` reconnects with back-off.  What was last
seen of each URL (ETag, Last-Modified, body hash) is kept across reconnects:
a URL that did not change while the server was away emits nothing, one that
did emits its current content once (intermediate versions are not seen).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
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

__all__ = ["HttpEnvironment", "PollTarget", "join_url", "retry_after_s"]

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAYLOADS = ("json", "text")
REQUEST_ARGS = frozenset({"url", "path", "json", "content", "params", "headers", "retry"})
POLL_KEYS = frozenset({"url", "path", "interval_s", "method"})


def join_url(url: str | None, path: str | None, base_url: str | None, where: str) -> str:
    """The absolute URL named by ``url``, or by ``path`` under ``base_url``.

    >>> join_url(None, "/items?x=1", "http://h:8080/api/", "poll[0]")
    'http://h:8080/api/items?x=1'
    >>> join_url("ftp://h/x", None, None, "get")
    Traceback (most recent call last):
    ...
    interfaces.base.EnvironmentError: get: url must be an absolute http(s) URL, got 'ftp://h/x'
    """
    if (url is None) == (path is None):
        raise EnvironmentError(f"{where}: give exactly one of 'url' and 'path', "
                               f"got url={url!r}, path={path!r}")
    if path is not None:
        if base_url is None:
            raise EnvironmentError(f"{where}: path {path!r} needs the base_url option")
        return f"{base_url.rstrip('/')}/{str(path).lstrip('/')}"
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EnvironmentError(f"{where}: url must be an absolute http(s) URL, got {url!r}")
    return str(url)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """The delay a ``Retry-After`` header asks for (seconds or an HTTP date), or None.

    >>> retry_after_s("3"), retry_after_s("soon"), retry_after_s(None)
    (3.0, None, None)
    >>> retry_after_s("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0)
    6.0
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass
class PollTarget:
    """A polled URL and what was last seen of it."""

    url: str
    interval_s: float
    etag: str | None = None
    last_modified: str | None = None
    digest: str | None = None
    status: int | None = None
    changed_at: float | None = None
    #: the reason of the last rejection, so a repeated failure is rejected once
    rejected: str | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {"status": self.status, "etag": self.etag, "last_modified": self.last_modified,
                "changed_at": self.changed_at, **self.counts}


def poll_targets(poll: Sequence[Mapping[str, Any]] | None,
                 base_url: str | None) -> list[PollTarget]:
    """The ``poll`` option checked and turned into targets."""
    targets = []
    for i, spec in enumerate(poll or ()):
        where = f"poll[{i}]"
        if not isinstance(spec, Mapping):
            raise EnvironmentError(f"{where}: expected a mapping with 'url' or 'path' and "
                                   f"'interval_s', got {spec!r}")
        unknown = sorted(set(spec) - POLL_KEYS)
        if unknown:
            raise EnvironmentError(f"{where}: unknown keys {unknown}; it takes "
                                   f"{', '.join(sorted(POLL_KEYS))}")
        interval = spec.get("interval_s")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise EnvironmentError(f"{where}: interval_s must be a positive number, "
                                   f"got {interval!r}")
        method = str(spec.get("method", "GET")).upper()
        if method != "GET":
            raise EnvironmentError(f"{where}: method must be GET, got {spec.get('method')!r}")
        url = join_url(spec.get("url"), spec.get("path"), base_url, where)
        targets.append(PollTarget(url=url, interval_s=float(interval)))
    return targets


def _number(name: str, value: Any, *, positive: bool = False, integer: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, int if integer else int | float)
    if not ok or value < 0 or (positive and value == 0):
        what = "integer" if integer else "number"
        raise EnvironmentError(f"{name} must be a {'positive' if positive else 'non-negative'} "
                               f"{what}, got {value!r}")


class HttpEnvironment(Environment):
    """Polled URLs and HTTP requests (see the module docstring)."""

    kind = "http"
    actions = ("request", "get", "post", "put", "delete")

    def __init__(self, name: str, *, base_url: str | None = None,
                 headers: Mapping[str, str] | None = None, timeout_s: float = 10.0,
                 retries: int = 3, backoff_s: float = 0.1, max_retry_after_s: float = 30.0,
                 poll: Sequence[Mapping[str, Any]] | None = None, payload: str = "json",
                 max_bytes: int = 1024 * 1024) -> None:
        super().__init__(name)
        self._httpx = require("httpx", "the HTTP environment")
        self.connection_errors = (self._httpx.TransportError, OSError)
        if base_url is not None:
            join_url(base_url, None, None, "base_url")
        _number("timeout_s", timeout_s, positive=True)
        _number("retries", retries, integer=True)
        _number("backoff_s", backoff_s)
        _number("max_retry_after_s", max_retry_after_s)
        _number("max_bytes", max_bytes, positive=True, integer=True)
        if payload not in PAYLOADS:
            raise EnvironmentError(f"payload must be one of {', '.join(PAYLOADS)}, "
                                   f"got {payload!r}")
        self.base_url = base_url
        self.headers = dict(headers or {})
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.targets = poll_targets(poll, base_url)
        self.payload = payload
        self.max_bytes = max_bytes
        self._client: Any = None

    async def connect(self) -> None:
        if self._client is None:
            self._client = self._httpx.AsyncClient(
                headers=self.headers, timeout=self._httpx.Timeout(self.timeout_s),
                follow_redirects=True)
        self.state = "connected"

    async def close(self) -> None:
        client, self._client = self._client, None
        self.state = "disconnected"
        if client is not None:
            await client.aclose()

    def _live(self) -> Any:
        if self._client is None:
            raise ConnectionError(f"http environment {self.name!r} is not connected")
        return self._client

    async def observe(self) -> dict[str, Any]:
        return {"base_url": self.base_url,
                "polls": {t.url: t.snapshot() for t in self.targets}}

    # -- events ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event | Rejected]:
        self._live()
        due = [time.monotonic()] * len(self.targets)
        while self.targets:
            i = min(range(len(due)), key=due.__getitem__)
            wait = due[i] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            item = await self._poll(self.targets[i])
            due[i] = time.monotonic() + self.targets[i].interval_s
            if item is not None:
                yield item

    async def _poll(self, target: PollTarget) -> Event | Rejected | None:
        """One conditional GET of ``target``: its change, its rejection, or None."""
        headers = {}
        if target.etag:
            headers["If-None-Match"] = target.etag
        if target.last_modified:
            headers["If-Modified-Since"] = target.last_modified
        self.counts["polls"] += 1
        target.counts["polls"] += 1
        httpx = self._httpx
        try:
            async with self._live().stream("GET", target.url, headers=headers) as response:
                return await self._polled(target, response)
        except (httpx.DecodingError, httpx.TooManyRedirects) as exc:
            return self._reject(target, f"GET {target.url}: {type(exc).__name__}: {exc}")

    async def _polled(self, target: PollTarget, response: Any) -> Event | Rejected | None:
        status = target.status = response.status_code
        if status == 304:
            return self._unchanged(target, "not_modified")
        if not 200 <= status < 300:
            self.counts["errors"] += 1
            return self._reject(target, f"GET {target.url} answered HTTP {status} "
                                        f"{response.reason_phrase}".rstrip())
        etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
        if (etag and etag == target.etag) or (
                not etag and modified and modified == target.last_modified):
            return self._unchanged(target, "unchanged")
        try:
            raw = await self._read(response, target.url)
        except BadInput as exc:
            target.etag, target.last_modified, target.digest = etag, modified, None
            return self._reject(target, str(exc))
        digest = hashlib.sha256(raw).hexdigest()
        if not etag and not modified and digest == target.digest:
            return self._unchanged(target, "unchanged")
        target.etag, target.last_modified, target.digest = etag, modified, digest
        try:
            data = self._decode(raw, response)
        except BadInput as exc:
            return self._reject(target, f"GET {target.url}: {exc}", raw)
        target.rejected, target.changed_at = None, time.time()
        self.counts["changes"] += 1
        target.counts["changes"] += 1
        return Event(self.name, "changed", data, subject=target.url, at=target.changed_at,
                     meta={"status": status, "etag": etag, "last_modified": modified})

    def _unchanged(self, target: PollTarget, what: str) -> Event | Rejected | None:
        """Count a poll that found nothing new (so a later failure is rejected again)."""
        target.rejected = None
        self.counts[what] += 1
        target.counts[what] += 1
        return None

    def _reject(self, target: PollTarget, reason: str, raw: bytes = b"") -> Rejected | None:
        target.counts["rejected"] += 1
        if reason == target.rejected:
            self.counts["repeated_rejections"] += 1
            return None
        target.rejected = reason
        return Rejected(self.name, reason, raw, subject=target.url)

    async def _read(self, response: Any, url: str) -> bytes:
        """The body, streamed; :class:`BadInput` as soon as it is over ``max_bytes``."""
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise BadInput(f"{url}: body of {length} bytes is over max_bytes={self.max_bytes}")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise BadInput(f"{url}: body is over max_bytes={self.max_bytes} "
                               f"(stopped reading)")
            chunks.append(chunk)
        return b"".join(chunks)

    def _decode(self, raw: bytes, response: Any) -> Any:
        if self.payload == "json":
            return decode_json(raw, max_bytes=self.max_bytes)
        encoding = response.charset_encoding or "utf-8"
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise BadInput(f"body is not {encoding} text: {exc}") from exc

    # -- actions ---------------------------------------------------------------------------

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        allowed = REQUEST_ARGS | {"method"} if action == "request" else REQUEST_ARGS
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise EnvironmentError(f"{action}: unknown arguments {unknown}; it takes "
                                   f"{', '.join(sorted(allowed))}")
        method = str(args.get("method", "GET") if action == "request" else action).upper()
        url = join_url(args.get("url"), args.get("path"), self.base_url, action)
        retry = args.get("retry")
        if retry is not None and not isinstance(retry, bool):
            raise EnvironmentError(f"{action}: retry must be True or False, got {retry!r}")
        send: dict[str, Any] = {key: args[key] for key in ("json", "content", "params", "headers")
                if key in args}
        return await self.request(method, url, send, retry=retry)

    async def request(self, method: str, url: str, send: Mapping[str, Any],
                      retry: bool | None = None) -> dict[str, Any]:
        """``method`` on ``url`` with httpx arguments ``send``, retried as the options say."""
        client = self._live()
        eligible = method in IDEMPOTENT if retry is None else retry
        attempts = 1 + (self.retries if eligible else 0)
        last: BaseException | str = ""
        wait = 0.0
        for attempt in range(attempts):
            if attempt:
                self.counts["retries"] += 1
                await asyncio.sleep(wait)
            wait = self.backoff_s * 2 ** attempt
            try:
                async with client.stream(method, url, **send) as response:
                    status = response.status_code
                    if eligible and status in RETRY_STATUSES:
                        last = f"HTTP {status} {response.reason_phrase}".rstrip()
                        after = retry_after_s(response.headers.get("retry-after"))
                        if after is not None:
                            wait = min(after, self.max_retry_after_s)
                        continue
                    raw = await self._read(response, url)
            except self._httpx.TransportError as exc:
                last = exc
                if not eligible:
                    raise EnvironmentError(
                        f"{method} {url} failed: {type(exc).__name__}: {exc} (not retried: "
                        f"{method} is not idempotent; pass retry=True)") from exc
                continue
            return {"status": status, "headers": dict(response.headers),
                    "body": self._body(raw, response, method, url)}
        what = f"{type(last).__name__}: {last}" if isinstance(last, BaseException) else last
        cause = last if isinstance(last, BaseException) else None
        raise EnvironmentError(f"{method} {url}: failed after {attempts} attempts; "
                               f"last error: {what}") from cause

    def _body(self, raw: bytes, response: Any, method: str, url: str) -> Any:
        if not raw:
            return None
        try:
            return self._decode(raw, response)
        except BadInput as exc:
            if response.is_success:
                raise BadInput(f"{method} {url} answered {response.status_code} "
                               f"with a bad body: {exc}") from exc
        return raw.decode(response.charset_encoding or "utf-8", errors="replace")
