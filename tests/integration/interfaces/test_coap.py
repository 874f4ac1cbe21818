"""CoapEnvironment against a real aiocoap server the tests start on a free UDP port."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from interfaces import Backoff, EnvironmentError, Event, Rejected, stream
from interfaces.coap import CoapConnectionLost, CoapEnvironment
from tests.integration.interfaces.polling import until

pytestmark = pytest.mark.integration

FAST = Backoff(first_s=0.05, max_s=0.2)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


class Server:
    """A CoAP server on 127.0.0.1:``port``: ``/temp`` observable (GET, PUT), ``/plain``
    not observable (GET), ``/text`` observable text/plain."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ctx: Any = None

    async def start(self, temp: bytes = b'{"t": 20}') -> Server:
        import aiocoap
        from aiocoap import resource

        class Reading(resource.ObservableResource):
            def __init__(self, payload: bytes) -> None:
                super().__init__()
                self.payload: bytes | None = payload

            def set(self, payload: bytes | None) -> None:
                """A new value; None: the resource is gone (4.04 from now on)."""
                self.payload = payload
                self.updated_state()

            async def render_get(self, request: Any) -> Any:
                if self.payload is None:
                    raise aiocoap.error.NotFound()
                return aiocoap.Message(payload=self.payload, content_format=50)

            async def render_put(self, request: Any) -> Any:
                self.set(request.payload)
                return aiocoap.Message(code=aiocoap.CHANGED)

        class Plain(resource.Resource):
            def __init__(self) -> None:
                super().__init__()
                self.payload = body({"level": 1})

            async def render_get(self, request: Any) -> Any:
                return aiocoap.Message(payload=self.payload, content_format=50)

        self.temp, self.plain = Reading(temp), Plain()
        site = resource.Site()
        site.add_resource(["temp"], self.temp)
        site.add_resource(["plain"], self.plain)
        # UDP only: the default also listens on TCP, where the port may well be taken
        self.ctx = await aiocoap.Context.create_server_context(
            site, bind=("127.0.0.1", self.port), transports=["udp6"])
        return self

    async def stop(self) -> None:
        if self.ctx is not None:
            await self.ctx.shutdown()
            self.ctx = None

    def uri(self, path: str) -> str:
        return f"coap://127.0.0.1:{self.port}/{path}"




async def next_item(items: Any, timeout: float = 5.0) -> Event | Rejected:
    try:
        item: Event | Rejected = await asyncio.wait_for(anext(items), timeout)
    except TimeoutError:
        pytest.fail(f"nothing came in {timeout} s")
    return item


def test_notifications_arrive_and_get_put_post_delete_answer() -> None:
    async def main() -> None:
        server = await Server(free_udp_port()).start()
        env = CoapEnvironment("sensors", observe=[server.uri("temp")])
        try:
            await env.connect()
            items = env.events()
            first = await next_item(items)
            assert isinstance(first, Event) and first.kind == "notification"
            assert first.subject == server.uri("temp") and first.data == {"t": 20}
            assert first.meta == {"code": "2.05", "content_format": 50}
            assert await env.act("put", uri=server.uri("temp"), payload={"t": 21}) == \
                {"code": "2.04", "payload": None}
            changed = await next_item(items)
            assert isinstance(changed, Event) and changed.data == {"t": 21}
            server.temp.set(body({"t": 22}))  # the server's own change
            assert (await next_item(items)).data == {"t": 22}  # type: ignore[union-attr]
            assert await env.act("get", uri=server.uri("temp")) == {"code": "2.05",
                                                                    "payload": {"t": 22}}
            assert (await env.act("post", uri=server.uri("temp"), payload="x"))["code"] \
                == "4.05"
            assert (await env.act("delete", uri=server.uri("temp")))["code"] == "4.05"
            missing = await env.act("get", uri=server.uri("nope"))
            assert missing["code"] == "4.04" and isinstance(missing["payload"], str)
            seen = await env.observe()
            assert seen["connected"] and seen["notification"] == 3
            assert seen["last"][server.uri("temp")] == {"kind": "notification", "code": "2.05",
                                                         "content_format": 50}
        finally:
            await env.close()
            await env.close()  # idempotent
            await server.stop()

    asyncio.run(main())


def test_a_polled_resource_reports_changes_only() -> None:
    async def main() -> None:
        server = await Server(free_udp_port()).start()
        env = CoapEnvironment("tank", poll=[{"uri": server.uri("plain"), "interval_s": 0.02}])
        try:
            await env.connect()
            items = env.events()
            first = await next_item(items)
            assert isinstance(first, Event) and first.kind == "changed"
            assert first.data == {"level": 1} and first.subject == server.uri("plain")
            await until(lambda: env.counts["polls"] >= 4, "four polls")
            server.plain.payload = body({"level": 2})
            second = await next_item(items)  # not the unchanged {"level": 1} again
            assert isinstance(second, Event) and second.data == {"level": 2}
        finally:
            await env.close()
            await server.stop()

    asyncio.run(main())


def test_malformed_and_oversized_payloads_are_rejected_and_the_stream_goes_on() -> None:
    async def main() -> None:
        server = await Server(free_udp_port()).start()
        uri = server.uri("temp")
        env = CoapEnvironment("bad", observe=[uri], max_bytes=64)
        try:
            await env.connect()
            items = env.events()
            assert (await next_item(items)).data == {"t": 20}  # type: ignore[union-attr]
            server.temp.set(b'{"t": 21')
            malformed = await next_item(items)
            assert isinstance(malformed, Rejected) and malformed.subject == uri
            assert "malformed JSON" in malformed.reason and uri in malformed.reason
            assert malformed.raw == b'{"t": 21'
            server.temp.set(body({"pad": "x" * 100}))
            oversized = await next_item(items)
            assert isinstance(oversized, Rejected) and "over the limit of 64" in oversized.reason
            server.temp.set(body({"t": 23}))
            good = await next_item(items)
            assert isinstance(good, Event) and good.data == {"t": 23}
            assert (await env.observe())["rejected"] == 2
        finally:
            await env.close()
            await server.stop()

    asyncio.run(main())


def test_a_restarted_server_is_observed_again_after_a_reconnect() -> None:
    async def main() -> None:
        port = free_udp_port()
        server = await Server(port).start()
        uri = server.uri("temp")
        env = CoapEnvironment("restart", observe=[uri], renew_s=0.2, timeout_s=2)
        items: asyncio.Queue[Event | Rejected] = asyncio.Queue()

        async def pump() -> None:
            async for item in stream(env, FAST):
                items.put_nowait(item)

        task = asyncio.create_task(pump())
        try:
            first = await asyncio.wait_for(items.get(), 5)
            assert isinstance(first, Event) and first.data == {"t": 20}
            await until(lambda: env.counts["renewals"] >= 3, "three re-registrations")
            assert items.empty()  # a re-registration repeats nothing
            await server.stop()
            await until(lambda: env.reconnects >= 1, "the lost observation was noticed")
            server = await Server(port).start(temp=body({"t": 100}))
            again = await asyncio.wait_for(items.get(), 5)
            assert isinstance(again, Event) and again.data == {"t": 100}
            server.temp.set(body({"t": 101}))
            later = await asyncio.wait_for(items.get(), 5)
            assert isinstance(later, Event) and later.data == {"t": 101}
            assert env.reconnects >= 1 and env.state == "connected"
            assert "Connection refused" in str(env.last_error)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await env.close()
            await server.stop()

    asyncio.run(main())


def test_an_observation_ended_by_an_error_response_raises_from_events() -> None:
    async def main() -> None:
        server = await Server(free_udp_port()).start()
        env = CoapEnvironment("gone", observe=[server.uri("temp")])
        try:
            await env.connect()
            items = env.events()
            assert (await next_item(items)).data == {"t": 20}  # type: ignore[union-attr]
            server.temp.set(None)
            with pytest.raises(CoapConnectionLost, match=r"answered 4\.04 Not Found"):
                await next_item(items)
            assert env.state == "disconnected"
            with pytest.raises(EnvironmentError, match=r"answered 4\.04"):
                await env.connect()  # registering again: still gone, for good
        finally:
            await env.close()
            await server.stop()

    asyncio.run(main())


def test_observing_what_cannot_be_observed_is_an_error_naming_it() -> None:
    async def main() -> None:
        server = await Server(free_udp_port()).start()
        try:
            for path, why in (("plain", "is not observable; poll it instead"),
                              ("missing", "answered 4.04 Not Found")):
                env = CoapEnvironment("wrong", observe=[server.uri(path)])
                with pytest.raises(EnvironmentError, match=why):
                    await env.connect()
                assert env.state == "disconnected"
        finally:
            await server.stop()

    asyncio.run(main())


def test_no_server_is_a_connection_error() -> None:
    async def main() -> None:
        uri = f"coap://127.0.0.1:{free_udp_port()}/temp"
        env = CoapEnvironment("nobody", observe=[uri], timeout_s=2)
        with pytest.raises(CoapConnectionLost, match="Connection refused"):
            await env.connect()
        assert isinstance(CoapConnectionLost(), env.connection_errors)
        await env.close()
        polling = CoapEnvironment("nobody", poll=[{"uri": uri, "interval_s": 1}], timeout_s=2)
        await polling.connect()  # nothing is sent until the first poll
        try:
            with pytest.raises(CoapConnectionLost, match=r"GET .* Connection refused"):
                await next_item(polling.events())
        finally:
            await polling.close()

    asyncio.run(main())
