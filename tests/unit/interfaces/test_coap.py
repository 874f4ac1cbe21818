"""CoapEnvironment without a server: options, URIs, payloads, change detection, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from interfaces import BadInput, EnvironmentError, Event, Rejected, make_environment
from interfaces.coap import (
    CoapConnectionLost,
    CoapEnvironment,
    _Failed,
    check_uri,
    decode_payload,
    encode_payload,
    parse_polls,
)

URI = "coap://127.0.0.1:5683/temp"


def response(payload: bytes, code: Any = None, content_format: int | None = 50) -> Any:
    """An aiocoap response message, as a server would send it."""
    import aiocoap

    return aiocoap.Message(code=code or aiocoap.CONTENT, payload=payload,
                           content_format=content_format)


@pytest.mark.parametrize("uri", [URI, "coaps://h/a", "coap+tcp://[::1]:5683/x", "coap://h"])
def test_coap_uris_pass(uri: str) -> None:
    assert check_uri(uri, "observe") == uri


@pytest.mark.parametrize("uri", ["http://h/a", "coap:///path", "", None, "temp"])
def test_other_uris_are_refused_naming_the_option(uri: Any) -> None:
    with pytest.raises(EnvironmentError, match=r"observe: .* is not a CoAP URI"):
        check_uri(uri, "observe")


def test_polls_need_a_uri_and_a_positive_interval() -> None:
    assert parse_polls([{"uri": URI, "interval_s": 2}]) == {URI: 2.0}
    with pytest.raises(EnvironmentError, match="must have 'uri' and 'interval_s'"):
        parse_polls([{"uri": URI}])
    with pytest.raises(EnvironmentError, match=r"interval_s of .* must be a positive number"):
        parse_polls([{"uri": URI, "interval_s": 0}])
    with pytest.raises(EnvironmentError, match="expected a list"):
        parse_polls({"uri": URI, "interval_s": 1})  # type: ignore[dict-item]


def test_payloads_decode_by_mode_or_say_why_not() -> None:
    assert decode_payload(b'{"t": 1}', "json", 100) == {"t": 1}
    assert decode_payload(b"", "json", 100) is None
    assert decode_payload("é".encode(), "text", 100) == "é"
    assert decode_payload(b"\xff", "bytes", 100) == b"\xff"
    for raw, mode, why in ((b"{", "json", "malformed JSON"), (b"\xff", "text", "not UTF-8"),
                           (b"x" * 11, "bytes", "over the limit of 10"),
                           (b"1" * 11, "json", "over the limit of 10")):
        with pytest.raises(BadInput, match=why):
            decode_payload(raw, mode, 10)


def test_payloads_are_sent_as_json_unless_str_or_bytes() -> None:
    assert encode_payload({"t": 1}, None) == (b'{"t": 1}', 50)
    assert encode_payload("on", None) == (b"on", 0)
    assert encode_payload(b"\x01", None) == (b"\x01", None)
    assert encode_payload(b"\x01", 42) == (b"\x01", 42)
    with pytest.raises(EnvironmentError, match="cannot be JSON-encoded"):
        encode_payload({1, 2}, None)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("observe", URI, "observe: expected a list"),
    ("observe", ["http://x/y"], "observe: 'http://x/y' is not a CoAP URI"),
    ("payload", "cbor", "payload: expected one of"),
    ("timeout_s", 0, "timeout_s: expected a positive number"),
    ("renew_s", -1, "renew_s: expected a positive number"),
    ("max_bytes", True, "max_bytes: expected a positive number"),
])
def test_bad_options_are_named(option: str, value: Any, message: str) -> None:
    with pytest.raises(EnvironmentError, match=message):
        CoapEnvironment("c", **{option: value})


def test_made_by_kind() -> None:
    env = make_environment("coap", name="field", observe=[URI, URI],
                           poll=[{"uri": "coap://h/level", "interval_s": 5}])
    assert isinstance(env, CoapEnvironment)
    assert env.observed == (URI,) and env.polled == {"coap://h/level": 5.0}
    with pytest.raises(EnvironmentError, match="did you mean 'observe'"):
        make_environment("coap", name="field", observed=[URI])


def test_responses_become_events_rejections_and_repeats_are_dropped() -> None:
    import aiocoap

    env = CoapEnvironment("c", max_bytes=32)
    env._report("changed", URI, response(b'{"t": 1}'), repeat=False)
    env._report("changed", URI, response(b'{"t": 1}'), repeat=False)  # unchanged: nothing
    env._report("notification", URI, response(b'{"t": 1}'), repeat=True)  # a notification
    env._report("notification", URI, response(b"{bad"), repeat=True)
    env._report("changed", URI, response(b"x" * 40, content_format=None), repeat=False)
    env._report("changed", URI, response(b"gone", code=aiocoap.NOT_FOUND), repeat=False)
    env._report("changed", URI, response(b"gone", code=aiocoap.NOT_FOUND), repeat=False)
    items = [env._queue.get_nowait() for _ in range(env._queue.qsize())]
    first, second, malformed, oversized, error = items
    assert isinstance(first, Event) and first.kind == "changed" and first.data == {"t": 1}
    assert first.subject == URI and first.meta == {"code": "2.05", "content_format": 50}
    assert isinstance(second, Event) and second.kind == "notification"
    assert isinstance(malformed, Rejected) and malformed.reason.startswith("malformed JSON")
    assert URI in malformed.reason and malformed.raw == b"{bad" and malformed.subject == URI
    assert isinstance(oversized, Rejected) and "over the limit of 32" in oversized.reason
    assert isinstance(error, Rejected) and "answered 4.04 Not Found" in error.reason
    assert env.counts["rejected"] == 3 and env.counts["changed"] == 1


def test_a_failed_observation_raises_from_events_and_stale_ones_are_skipped() -> None:
    async def main() -> None:
        env = CoapEnvironment("c")
        env._ctx, env.state, env._generation = object(), "connected", 2
        env._queue.put_nowait(_Failed(1, CoapConnectionLost("old")))
        env._report("changed", URI, response(b"1"), repeat=False)
        env._queue.put_nowait(_Failed(2, CoapConnectionLost("observation ended")))
        items = env.events()
        assert (await anext(items)).data == 1  # type: ignore[union-attr]
        with pytest.raises(CoapConnectionLost, match="observation ended"):
            await anext(items)
        assert env.state == "disconnected"

    asyncio.run(main())


def test_events_and_actions_without_a_connection_are_connection_errors() -> None:
    async def main() -> None:
        env = CoapEnvironment("c")
        with pytest.raises(CoapConnectionLost, match="not connected"):
            await anext(env.events())
        with pytest.raises(CoapConnectionLost, match="not connected"):
            await env.act("get", uri=URI)

    asyncio.run(main())


@pytest.mark.parametrize(("action", "args", "message"), [
    ("get", {"uri": URI, "payload": 1}, "unknown argument 'payload'"),
    ("put", {"uri": URI, "payloud": 1}, "unknown argument 'payloud'.*'payload'"),
    ("post", {"payload": 1}, "coap post: None is not a CoAP URI"),
    ("delete", {"uri": "http://h/x"}, "coap delete: 'http://h/x' is not a CoAP URI"),
])
def test_bad_action_arguments_are_named(action: str, args: dict[str, Any],
                                        message: str) -> None:
    with pytest.raises(EnvironmentError, match=message):
        asyncio.run(CoapEnvironment("c").act(action, **args))
