"""The Environment interface, the registry, the memory environment and reconnection."""

from __future__ import annotations

import asyncio

import pytest

from interfaces import (
    ENVIRONMENTS,
    Backoff,
    BadInput,
    EnvironmentError,
    Event,
    Rejected,
    UnknownAction,
    call,
    decode_json,
    environment_class,
    make_environment,
    stream,
)
from interfaces.memory import ConnectionLost, MemoryEnvironment

FAST = Backoff(first_s=0.001, max_s=0.004)


def test_the_registry_names_every_environment_the_issue_lists() -> None:
    assert set(ENVIRONMENTS) == {"memory", "files", "http", "postgres", "redis", "mqtt",
                                 "coap", "websocket", "system"}


def test_an_unknown_kind_gets_a_did_you_mean() -> None:
    with pytest.raises(EnvironmentError, match="did you mean 'postgres'"):
        environment_class("postgre")


def test_an_unknown_option_is_named_with_a_did_you_mean() -> None:
    with pytest.raises(EnvironmentError, match=r"unknown option 'stat'.*did you mean 'state'"):
        make_environment("memory", name="m", stat={})


def test_an_environment_needs_a_name() -> None:
    with pytest.raises(EnvironmentError, match="needs a name"):
        MemoryEnvironment(name="")


def test_an_unknown_action_gets_a_did_you_mean() -> None:
    async def main() -> None:
        env = MemoryEnvironment(name="m")
        await env.connect()
        with pytest.raises(UnknownAction, match=r"did you mean 'set'.*set, delete, emit"):
            await env.act("sett", key="a", value=1)

    asyncio.run(main())


def test_actions_change_state_and_raise_events() -> None:
    async def main() -> list[Event | Rejected]:
        env = MemoryEnvironment(name="m", state={"a": 1})
        await env.connect()
        assert await env.act("set", key="b", value=2) == 2
        assert await env.act("delete", key="a") == 1
        assert await env.observe() == {"b": 2}
        got = []
        async for item in env.events():
            got.append(item)
            if len(got) == 2:
                break
        return got

    first, second = asyncio.run(main())
    assert isinstance(first, Event) and (first.kind, first.subject, first.data) == \
        ("changed", "b", 2)
    assert isinstance(second, Event) and (second.kind, second.subject) == ("deleted", "a")


def test_stream_reconnects_after_a_drop_and_counts_it() -> None:
    async def main() -> tuple[list[object], MemoryEnvironment]:
        env = MemoryEnvironment(name="m")
        env.inject(Event("m", "one"))
        env.drop()
        env.inject(Event("m", "two"))
        env.drop()
        env.inject(Event("m", "three"))
        got = []
        async for item in stream(env, FAST):
            got.append(item)
            if len(got) == 3:
                break
        return got, env

    got, env = asyncio.run(main())
    assert [e.kind for e in got if isinstance(e, Event)] == ["one", "two", "three"]
    assert env.reconnects == 2 and env.connects == 3
    assert env.counts["events"] == 3
    assert env.state == "connected"
    assert "dropped" in (env.last_error or "")


def test_stream_gives_up_after_its_attempts_and_says_so() -> None:
    class Broken(MemoryEnvironment):
        async def connect(self) -> None:
            raise ConnectionLost("refused")

    async def main() -> None:
        env = Broken(name="b")
        with pytest.raises(EnvironmentError, match=r"gave up after 3 attempts.*refused"):
            async for _ in stream(env, Backoff(first_s=0.001, attempts=3)):
                pass
        assert env.state == "failed" and env.reconnects == 4

    asyncio.run(main())


def test_call_reconnects_before_an_operation() -> None:
    async def main() -> None:
        env = MemoryEnvironment(name="m", state={"k": "v"})
        assert env.state == "disconnected"
        assert await call(env, env.observe, FAST) == {"k": "v"}
        assert env.state == "connected"

    asyncio.run(main())


def test_other_errors_are_not_retried() -> None:
    class Faulty(MemoryEnvironment):
        async def observe(self) -> dict[str, object]:
            raise KeyError("not a connection problem")

    async def main() -> None:
        env = Faulty(name="f")
        with pytest.raises(KeyError):
            await call(env, env.observe, FAST)
        assert env.reconnects == 0

    asyncio.run(main())


def test_decode_json_names_what_is_wrong() -> None:
    assert decode_json(b'{"a": 1}') == {"a": 1}
    with pytest.raises(BadInput, match="malformed JSON"):
        decode_json(b"{nope")
    with pytest.raises(BadInput, match="11 bytes is over the limit of 10"):
        decode_json(b'"123456789"', max_bytes=10)


def test_health_reports_state_counts_and_last_error() -> None:
    env = MemoryEnvironment(name="m")
    health = env.health()
    assert health["environment"] == "m" and health["kind"] == "memory"
    assert health["state"] == "disconnected" and health["reconnects"] == 0
