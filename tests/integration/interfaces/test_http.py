"""HttpEnvironment against a real HTTP server (aiohttp) the tests start on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from interfaces import Backoff, BadInput, EnvironmentError, Event, Rejected, stream
from interfaces.http import HttpEnvironment
from tests.integration.interfaces.polling import until

pytestmark = pytest.mark.integration

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Resource:
    """What the server serves at a path: a body, its validators, a status."""

    body: bytes = b"{}"
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200


class Site:
    """An HTTP server on 127.0.0.1 the test controls, counting the requests per path."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.handlers: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.headers: dict[str, list[dict[str, str]]] = {}
        self.port = 0
        self.release = asyncio.Event()  # lets handlers that hang finish at teardown
        self._seen = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.release = asyncio.Event()

    async def reached(self, path: str, n: int) -> None:
        """Wait until ``path`` has been asked for ``n`` times."""
        async with self._seen:
            await asyncio.wait_for(self._seen.wait_for(lambda: self.hits[path] >= n), 5)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.headers.setdefault(path, []).append(dict(request.headers))
        self.hits[path] += 1
        async with self._seen:
            self._seen.notify_all()
        if path in self.handlers:
            return await self.handlers[path](request)
        res = self.resources[path]
        if res.status != 200:
            return web.Response(status=res.status, body=res.body)
        headers = {}
        if res.etag:
            headers["ETag"] = res.etag
        if res.last_modified:
            headers["Last-Modified"] = res.last_modified
        if res.etag and request.headers.get("If-None-Match") == res.etag:
            return web.Response(status=304, headers=headers)
        if res.last_modified and request.headers.get("If-Modified-Since") == res.last_modified:
            return web.Response(status=304, headers=headers)
        return web.Response(body=res.body, headers=headers, content_type="application/json")


class Events:
    """``interfaces.stream(env)`` pumped into a queue, read with a timeout."""

    def __init__(self, env: HttpEnvironment) -> None:
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
        raise AssertionError(f"no event within {timeout}s; health: {self.env.health()}")

    async def event(self) -> Event:
        item = await self.next()
        assert isinstance(item, Event), item
        return item

    async def rejected(self) -> Rejected:
        item = await self.next()
        assert isinstance(item, Rejected), item
        return item


@contextlib.asynccontextmanager
async def polling(site: Site, path: str, **options: Any) -> AsyncIterator[Events]:
    await site.start()
    env = HttpEnvironment("web", base_url=site.url("/"),
                          poll=[{"path": path, "interval_s": 0.02}], **options)
    events = Events(env)
    try:
        yield events
    finally:
        events.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await events.task
        await env.close()
        await site.stop()




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_etag_flow_emits_only_changes() -> None:
    async def main() -> None:
        site = Site()
        site.resources["/doc"] = Resource(b'{"v": 1}', etag='"v1"')
        async with polling(site, "/doc") as events:
            first = await events.event()
            assert (first.kind, first.subject, first.data) == ("changed", site.url("/doc"),
                                                               {"v": 1})
            assert first.meta == {"status": 200, "etag": '"v1"', "last_modified": None}
            await site.reached("/doc", 5)
            assert events.queue.empty()
            assert site.headers["/doc"][0].get("If-None-Match") is None
            assert site.headers["/doc"][3]["If-None-Match"] == '"v1"'
            assert events.env.counts["not_modified"] >= 3
            site.resources["/doc"] = Resource(b'{"v": 2}', etag='"v2"')
            second = await events.event()
            assert second.data == {"v": 2} and second.meta["etag"] == '"v2"'
            now = site.hits["/doc"]
            await site.reached("/doc", now + 3)
            assert events.queue.empty()  # exactly one event for the change
            seen = (await events.env.observe())["polls"][site.url("/doc")]
            assert seen["status"] == 304 and seen["etag"] == '"v2"' and seen["changes"] == 2
            assert seen["changed_at"] is not None and seen["not_modified"] >= 3

    asyncio.run(main())


def test_last_modified_flow() -> None:
    async def main() -> None:
        site = Site()
        one, two = "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:29:00 GMT"
        site.resources["/m"] = Resource(b"[1]", last_modified=one)
        async with polling(site, "/m") as events:
            assert (await events.event()).meta["last_modified"] == one
            await site.reached("/m", 4)
            assert site.headers["/m"][2]["If-Modified-Since"] == one
            assert "If-None-Match" not in site.headers["/m"][2]
            assert events.queue.empty() and events.env.counts["not_modified"] >= 2
            site.resources["/m"] = Resource(b"[2]", last_modified=two)
            assert (await events.event()).data == [2]
            await site.reached("/m", site.hits["/m"] + 3)
            assert events.queue.empty()

    asyncio.run(main())


def test_hash_flow_without_validators() -> None:
    async def main() -> None:
        site = Site()
        site.resources["/h"] = Resource(b'{"a": 1}')
        async with polling(site, "/h") as events:
            assert (await events.event()).data == {"a": 1}
            await site.reached("/h", 4)
            assert events.queue.empty() and events.env.counts["unchanged"] >= 2
            assert "If-None-Match" not in site.headers["/h"][3]
            site.resources["/h"] = Resource(b'{"a": 2}')
            assert (await events.event()).data == {"a": 2}
            await site.reached("/h", site.hits["/h"] + 3)
            assert events.queue.empty()

    asyncio.run(main())


def test_bad_inputs_are_rejected_and_later_changes_arrive() -> None:
    async def main() -> None:
        site = Site()
        site.resources["/b"] = Resource(b'{"ok": ')
        async with polling(site, "/b", max_bytes=1000) as events:
            bad = await events.rejected()
            assert "malformed JSON" in bad.reason and bad.raw == b'{"ok": '
            assert bad.subject == site.url("/b")
            await site.reached("/b", site.hits["/b"] + 3)
            assert events.queue.empty()  # the same bad body is not rejected again
            site.resources["/b"] = Resource(b"oops", status=500)
            failed = await events.rejected()
            assert "HTTP 500" in failed.reason and site.url("/b") in failed.reason
            await site.reached("/b", site.hits["/b"] + 3)
            assert events.queue.empty()  # the same failure again is not rejected again
            site.resources["/b"] = Resource(b"[" + b"1," * 600 + b"1]")
            big = await events.rejected()
            assert "over max_bytes=1000" in big.reason
            site.resources["/b"] = Resource(b'{"ok": true}')
            assert (await events.event()).data == {"ok": True}
            site.resources["/b"] = Resource(b"oops", status=500)
            assert "HTTP 500" in (await events.rejected()).reason  # failing again: told again
            assert events.env.counts["errors"] >= 2

    asyncio.run(main())


def test_a_server_ignoring_conditions_with_the_same_etag_is_unchanged() -> None:
    async def main() -> None:
        site = Site()

        async def always_200(request: web.Request) -> web.StreamResponse:
            return web.Response(text="same text", headers={"ETag": '"same"'})

        site.handlers["/t"] = always_200
        async with polling(site, "/t", payload="text") as events:
            assert (await events.event()).data == "same text"
            await site.reached("/t", 4)
            assert events.queue.empty() and events.env.counts["unchanged"] >= 2

    asyncio.run(main())


def test_redirects_are_followed_and_loops_rejected() -> None:
    async def main() -> None:
        site = Site()
        site.resources["/new"] = Resource(b'"moved"')

        async def moved(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(site.url("/new") if site.hits["/old"] == 1 else "/old")

        site.handlers["/old"] = moved
        async with polling(site, "/old") as events:
            found = await events.event()
            assert found.data == "moved" and found.subject == site.url("/old")
            assert "TooManyRedirects" in (await events.rejected()).reason

    asyncio.run(main())


def test_oversized_stream_is_refused_without_reading_it_whole() -> None:
    async def main() -> None:
        site = Site()

        async def endless(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()  # chunked: no Content-Length to go by
            await response.prepare(request)
            await response.write(b"[" + b"1," * 600)
            await site.release.wait()  # the body never ends
            return response

        site.handlers["/big"] = endless
        async with polling(site, "/big", max_bytes=1000) as events:
            refused = await events.rejected()
            assert "over max_bytes=1000 (stopped reading)" in refused.reason

    asyncio.run(main())


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async def main() -> None:
        site = Site()

        async def huge(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Length": "1000000000"})
            await response.prepare(request)
            await response.write(b"[1,")
            await site.release.wait()  # the rest never comes
            return response

        site.handlers["/huge"] = huge
        async with polling(site, "/huge", max_bytes=1000) as events:
            refused = await events.rejected()
            assert "body of 1000000000 bytes is over max_bytes=1000" in refused.reason

    asyncio.run(main())


def test_server_stopped_mid_poll_then_restarted() -> None:
    async def main() -> None:
        site = Site()
        site.resources["/r"] = Resource(b'{"n": 1}', etag='"1"')
        async with polling(site, "/r") as events:
            assert (await events.event()).data == {"n": 1}
            await site.stop()
            await until(lambda: events.env.health()["state"] == "reconnecting")
            assert "ConnectError" in str(events.env.last_error)
            site.resources["/r"] = Resource(b'{"n": 2}', etag='"2"')
            await site.start()  # the same port
            assert (await events.event()).data == {"n": 2}
            assert events.env.reconnects >= 1
            assert events.queue.empty()

    asyncio.run(main())


def test_unchanged_across_a_restart_emits_nothing() -> None:
    async def main() -> None:
        site = Site()
        site.resources["/u"] = Resource(b'{"n": 1}', etag='"1"')
        async with polling(site, "/u") as events:
            await events.event()
            await site.stop()
            await until(lambda: events.env.reconnects >= 1)
            hits = site.hits["/u"]
            await site.start()
            await site.reached("/u", hits + 3)
            assert events.queue.empty()
            assert site.headers["/u"][hits]["If-None-Match"] == '"1"'

    asyncio.run(main())


def test_poll_timeout_reconnects() -> None:
    async def main() -> None:
        site = Site()

        async def slow_then_fast(request: web.Request) -> web.StreamResponse:
            if site.hits["/slow"] <= 2:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(site.release.wait(), 1.0)
            return web.json_response({"late": True})

        site.handlers["/slow"] = slow_then_fast
        async with polling(site, "/slow", timeout_s=0.1) as events:
            assert (await events.event()).data == {"late": True}
            assert events.env.reconnects >= 1
            assert "Timeout" in str(events.env.last_error)

    asyncio.run(main())


async def _serving(site: Site, **options: Any) -> HttpEnvironment:
    await site.start()
    env = HttpEnvironment("api", base_url=site.url("/api"), **options)
    await env.connect()
    return env


def test_request_actions() -> None:
    async def main() -> None:
        site = Site()

        async def echo(request: web.Request) -> web.StreamResponse:
            body = await request.text()
            return web.json_response({"method": request.method, "query": dict(request.query),
                                      "body": json.loads(body) if body else None,
                                      "tag": request.headers.get("X-Tag")})

        async def missing(request: web.Request) -> web.StreamResponse:
            return web.Response(status=404, text="no such thing")

        site.handlers["/api/echo"] = echo
        site.handlers["/api/missing"] = missing
        env = await _serving(site, headers={"X-Tag": "everyone"})
        try:
            got = await env.act("get", path="/echo", params={"q": "1"})
            assert got["status"] == 200 and got["headers"]["content-type"].startswith(
                "application/json")
            assert got["body"] == {"method": "GET", "query": {"q": "1"}, "body": None,
                                   "tag": "everyone"}
            posted = await env.act("post", path="echo", json={"x": 1}, headers={"X-Tag": "me"})
            assert posted["body"] == {"method": "POST", "query": {}, "body": {"x": 1},
                                      "tag": "me"}
            assert (await env.act("put", url=site.url("/api/echo"), json=[1]))["body"][
                "method"] == "PUT"
            assert (await env.act("delete", path="/echo"))["body"]["method"] == "DELETE"
            patched = await env.act("request", method="patch", path="/echo", content=b"2")
            assert patched["body"]["method"] == "PATCH" and patched["body"]["body"] == 2
            lost = await env.act("get", path="/missing")
            assert lost["status"] == 404 and lost["body"] == "no such thing"
            assert env.counts["actions"] == 6
        finally:
            await env.close()
            await site.stop()

    asyncio.run(main())


def test_retries_honour_retry_after_with_a_cap() -> None:
    async def main() -> None:
        site = Site()

        async def busy_twice(request: web.Request) -> web.StreamResponse:
            if site.hits["/api/busy"] <= 2:
                return web.Response(status=503, headers={"Retry-After": "1"})
            return web.json_response({"done": True})

        site.handlers["/api/busy"] = busy_twice
        env = await _serving(site, retries=3, backoff_s=0.01, max_retry_after_s=0.2)
        try:
            started = time.monotonic()
            got = await env.act("get", path="/busy")
            took = time.monotonic() - started
            assert got["status"] == 200 and got["body"] == {"done": True}
            assert site.hits["/api/busy"] == 3 and env.counts["retries"] == 2
            assert 0.4 <= took < 0.9  # two Retry-After waits, each capped at 0.2 s
        finally:
            await env.close()
            await site.stop()

    asyncio.run(main())


def test_non_idempotent_requests_are_not_retried_unless_asked() -> None:
    async def main() -> None:
        site = Site()

        async def unavailable(request: web.Request) -> web.StreamResponse:
            return web.Response(status=503, text="down")

        site.handlers["/api/down"] = unavailable
        env = await _serving(site, retries=2, backoff_s=0.01)
        try:
            answered = await env.act("post", path="/down", json={})
            assert answered["status"] == 503 and site.hits["/api/down"] == 1
            with pytest.raises(EnvironmentError, match=r"/api/down.*3 attempts.*HTTP 503"):
                await env.act("post", path="/down", json={}, retry=True)
            assert site.hits["/api/down"] == 4
            with pytest.raises(EnvironmentError, match="HTTP 503"):
                await env.act("get", path="/down")
            assert site.hits["/api/down"] == 7
        finally:
            await env.close()
            await site.stop()

    asyncio.run(main())


def test_connection_errors_and_timeouts_after_retries() -> None:
    async def main() -> None:
        site = Site()

        async def stuck(request: web.Request) -> web.StreamResponse:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(site.release.wait(), 1.0)
            return web.json_response({})

        site.handlers["/api/stuck"] = stuck
        env = await _serving(site, retries=1, backoff_s=0.01, timeout_s=0.1)
        nowhere = f"http://127.0.0.1:{free_port()}/x"
        try:
            with pytest.raises(EnvironmentError, match=r"/api/stuck.*2 attempts.*ReadTimeout"):
                await env.act("get", path="/stuck")
            assert site.hits["/api/stuck"] == 2
            with pytest.raises(EnvironmentError, match=rf"{nowhere}.*ConnectError"):
                await env.act("get", url=nowhere)
            with pytest.raises(EnvironmentError, match="not retried: POST is not idempotent"):
                await env.act("post", url=nowhere, json={})
        finally:
            await env.close()
            await site.stop()

    asyncio.run(main())


def test_action_bodies_over_the_limit_or_malformed() -> None:
    async def main() -> None:
        site = Site()
        site.resources["/api/big"] = Resource(b"[" + b"0," * 100 + b"0]")
        site.resources["/api/bad"] = Resource(b"{nope")
        env = await _serving(site, max_bytes=100)
        try:
            with pytest.raises(BadInput, match="over max_bytes=100"):
                await env.act("get", path="/big")
            with pytest.raises(BadInput, match="/api/bad answered 200 with a bad body"):
                await env.act("get", path="/bad")
        finally:
            await env.close()
            await site.stop()
        text = await _serving(site, payload="text")
        try:
            assert (await text.act("get", path="/bad"))["body"] == "{nope"
        finally:
            await text.close()
            await site.stop()

    asyncio.run(main())
