"""RedisEnvironment without a server: options, decoding of entries and messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from interfaces import EnvironmentError, Event, Rejected, UnknownAction, make_environment
from interfaces.redis import RedisEnvironment, _encode, _stop, _text


def test_defaults_and_registry() -> None:
    env = make_environment("redis", name="cache")
    assert isinstance(env, RedisEnvironment)
    assert env.kind == "redis" and env.url == "redis://127.0.0.1:6379/0"
    assert (env.start, env.payload, env.configure_keyspace) == ("$", "json", True)
    assert env.actions == ("get", "set", "delete", "xadd", "publish", "hset", "hgetall")
    for error in (redis.ConnectionError, redis.TimeoutError, OSError):
        assert error in env.connection_errors
    assert env.client_name == "raymas/cache"
    assert RedisEnvironment("my cache").client_name == "raymas/my_cache"  # no spaces allowed


@pytest.mark.parametrize(("options", "named"), [
    ({"url": "http://x"}, "url"),
    ({"start": "now"}, "start"),
    ({"payload": "bytes"}, "payload"),
    ({"keys": "k"}, "keys"),
    ({"streams": [""]}, "streams"),
    ({"channels": [1]}, "channels"),
    ({"keyspace": "k*"}, "keyspace"),
    ({"max_bytes": 0}, "max_bytes"),
    ({"scan_limit": -1}, "scan_limit"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"block_ms": True}, "block_ms"),
    ({"count": 1.5}, "count"),
])
def test_bad_options_are_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(EnvironmentError, match=rf"^{named}: expected"):
        RedisEnvironment("cache", **options)


def test_an_unknown_option_gets_a_did_you_mean() -> None:
    with pytest.raises(EnvironmentError, match="did you mean 'streams'"):
        make_environment("redis", name="cache", stream=["s"])


def test_values_sent_and_read() -> None:
    assert [_encode(v) for v in ("a", b"b", 3, 1.5)] == ["a", b"b", 3, 1.5]
    assert [_encode(v) for v in (True, None, {"a": [1]})] == ["true", "null", '{"a": [1]}']
    assert (_text(b"caf\xc3\xa9"), _text(b"\xff"), _text(None), _text(3)) == (
        "café", b"\xff", None, 3)


def test_stream_entries_decoded_and_rejected() -> None:
    env = RedisEnvironment("cache", max_bytes=40)
    good = env._entry("s", "1-0", {b"json": b'{"t": 1}', b"unit": b"C"})
    assert isinstance(good, Event)
    assert (good.kind, good.subject, good.data, good.meta) == (
        "entry", "s", {"json": {"t": 1}, "unit": "C"}, {"id": "1-0"})
    bad = env._entry("s", "2-0", {b"json": b"{x"})
    assert isinstance(bad, Rejected) and bad.subject == "s"
    assert bad.reason.startswith("stream 's' entry 2-0: malformed JSON")
    assert bad.raw == b"json={x"
    big = env._entry("s", "3-0", {b"k": b"v" * 50})
    assert isinstance(big, Rejected) and "entry of 52 bytes is over the limit of 40" in big.reason
    binary = env._entry("s", "4-0", {b"k": b"\xff"})
    assert isinstance(binary, Rejected) and "field 'k' is not UTF-8" in binary.reason
    text = RedisEnvironment("cache", payload="text")._entry("s", "5-0", {b"json": b"{x"})
    assert isinstance(text, Event) and text.data == {"json": "{x"}


def message(channel: bytes, data: bytes, pattern: bytes | None = None) -> dict[str, Any]:
    return {"type": "pmessage" if pattern else "message", "pattern": pattern,
            "channel": channel, "data": data}


def test_messages_and_keyspace_notifications() -> None:
    env = RedisEnvironment("cache", max_bytes=20)
    keyspace = {b"__keyspace@0__:dev:*"}
    note = env._message(message(b"__keyspace@0__:dev:a:b", b"expired",
                                b"__keyspace@0__:dev:*"), keyspace)
    assert isinstance(note, Event)
    assert (note.kind, note.subject, note.data) == ("keyspace", "dev:a:b", "expired")
    got = env._message(message(b"room.1", b'{"t": 2}', b"room.*"), keyspace)
    assert isinstance(got, Event)
    assert (got.kind, got.subject, got.data, got.meta) == (
        "message", "room.1", {"t": 2}, {"pattern": "room.*"})
    bad = env._message(message(b"c", b"nope"), keyspace)
    assert isinstance(bad, Rejected) and bad.reason.startswith("channel 'c': malformed JSON")
    big = env._message(message(b"c", b'"' + b"x" * 30 + b'"'), keyspace)
    assert isinstance(big, Rejected) and "over the limit of 20" in big.reason
    text = RedisEnvironment("cache", payload="text", max_bytes=4)
    plain, binary, long = (text._message(message(b"c", raw), set())
                           for raw in (b"nope", b"\xff", b"hello"))
    assert isinstance(plain, Event) and plain.data == "nope"
    assert isinstance(binary, Rejected) and "payload is not UTF-8" in binary.reason
    assert isinstance(long, Rejected) and "payload of 5 bytes" in long.reason


class NoCommands:
    """A client stand-in that fails the test if a command is sent."""

    def __getattr__(self, command: str) -> Any:
        async def sent(*args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"{command} was sent with bad arguments {args} {kwargs}")
        return sent


def test_not_connected_is_a_connection_error_and_bad_arguments_are_named() -> None:
    async def main() -> None:
        env = RedisEnvironment("cache", streams=["s"])
        with pytest.raises(env.connection_errors, match="is not connected"):
            await env.observe()
        with pytest.raises(env.connection_errors, match="is not connected"):
            await env.act("get", key="k")
        with pytest.raises(env.connection_errors, match="is not connected"):
            await anext(env.events())
        with pytest.raises(UnknownAction, match="did you mean 'xadd'"):
            await env.act("xad", stream="s", fields={"a": 1})
        await env.close()  # closing what was never opened is fine
        env._client = NoCommands()  # arguments are checked before a command is sent
        with pytest.raises(EnvironmentError, match="key: expected a name"):
            await env.act("get", key="")
        with pytest.raises(EnvironmentError, match="xadd: fields: expected a non-empty"):
            await env.act("xadd", stream="s", fields={})
        with pytest.raises(EnvironmentError, match="hset: mapping: expected a non-empty"):
            await env.act("hset", key="h", mapping=[1])
        with pytest.raises(EnvironmentError, match="delete: keys: expected a list"):
            await env.act("delete", keys="abc")
        env._client = None

    asyncio.run(main())


def test_stop_cancels_again_a_task_that_swallowed_a_cancel() -> None:
    async def main() -> int:
        swallowed = 0

        async def stubborn() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    swallowed += 1
                    if swallowed > 1:
                        raise

        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        await asyncio.wait_for(_stop([task]), 2)
        assert task.cancelled()
        return swallowed

    assert asyncio.run(main()) == 2
