"""HttpEnvironment's pure parts: options, poll specs, URLs, Retry-After (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from interfaces import EnvironmentError, UnknownAction, make_environment
from interfaces.http import HttpEnvironment, join_url, poll_targets, retry_after_s


@pytest.mark.parametrize(("options", "named"), [
    ({"timeout_s": 0}, "timeout_s"),
    ({"timeout_s": "10"}, "timeout_s"),
    ({"retries": -1}, "retries"),
    ({"retries": 1.5}, "retries"),
    ({"backoff_s": -0.1}, "backoff_s"),
    ({"max_retry_after_s": True}, "max_retry_after_s"),
    ({"max_bytes": 0}, "max_bytes"),
    ({"payload": "xml"}, "payload"),
    ({"base_url": "localhost:8080"}, "base_url"),
    ({"poll": [{"url": "http://h/x"}]}, "interval_s"),
    ({"poll": [{"path": "/x", "interval_s": 1}]}, "base_url"),
    ({"poll": [{"url": "http://h/x", "path": "/x", "interval_s": 1}]}, "exactly one"),
    ({"poll": [{"url": "http://h/x", "interval_s": 1, "method": "POST"}]}, "method"),
    ({"poll": [{"url": "http://h/x", "interval_s": 1, "every": 2}]}, "every"),
    ({"poll": ["http://h/x"]}, r"poll\[0\]: expected a mapping"),
])
def test_bad_options_are_named(options: dict[str, Any], named: str) -> None:
    with pytest.raises(EnvironmentError, match=named):
        HttpEnvironment("web", **options)


def test_defaults_and_registry() -> None:
    env = make_environment("http", name="web", base_url="http://h:1/api",
                           poll=[{"path": "items", "interval_s": 2}])
    assert isinstance(env, HttpEnvironment)
    assert (env.timeout_s, env.retries, env.payload, env.max_bytes) == (10.0, 3, "json", 1 << 20)
    assert [(t.url, t.interval_s) for t in env.targets] == [("http://h:1/api/items", 2.0)]
    with pytest.raises(EnvironmentError, match="unknown option 'time_out'"):
        make_environment("http", name="web", time_out=3)


def test_join_url() -> None:
    assert join_url(None, "/a", "http://h/", "x") == "http://h/a"
    assert join_url(None, "a", "http://h/base", "x") == "http://h/base/a"
    assert join_url("https://h/a?q=1", None, "http://other", "x") == "https://h/a?q=1"
    with pytest.raises(EnvironmentError, match="get: path '/a' needs the base_url option"):
        join_url(None, "/a", None, "get")
    with pytest.raises(EnvironmentError, match="absolute"):
        join_url("/relative", None, "http://h", "get")


def test_retry_after() -> None:
    assert retry_after_s(" 2 ") == 2.0
    assert retry_after_s("-5") == 0.0
    assert retry_after_s("Thu, 01 Jan 1970 00:01:00 GMT", now=30.0) == 30.0
    assert retry_after_s("Thu, 01 Jan 1970 00:01:00 GMT", now=90.0) == 0.0
    assert retry_after_s("tomorrow") is None


def test_poll_targets_start_empty() -> None:
    (target,) = poll_targets([{"url": "http://h/x", "interval_s": 0.5, "method": "get"}], None)
    assert target.snapshot() == {"status": None, "etag": None, "last_modified": None,
                                 "changed_at": None}


def test_actions_check_their_arguments() -> None:
    async def main() -> None:
        env = HttpEnvironment("web", base_url="http://127.0.0.1:9")
        with pytest.raises(UnknownAction, match="did you mean 'get'"):
            await env.act("gett", path="/")
        with pytest.raises(ConnectionError, match="not connected"):
            await env.act("get", path="/")
        await env.connect()
        try:
            with pytest.raises(EnvironmentError, match=r"unknown arguments \['method'\]"):
                await env.act("get", path="/", method="POST")
            with pytest.raises(EnvironmentError, match="retry must be True or False"):
                await env.act("get", path="/", retry="yes")
            with pytest.raises(EnvironmentError, match="exactly one of 'url' and 'path'"):
                await env.act("request", method="GET")
        finally:
            await env.close()
        await env.close()  # idempotent
        assert env.state == "disconnected"

    asyncio.run(main())


def test_no_polls_means_no_events() -> None:
    async def main() -> list[Any]:
        env = HttpEnvironment("web")
        await env.connect()
        try:
            return [item async for item in env.events()]
        finally:
            await env.close()

    assert asyncio.run(main()) == []
    assert asyncio.run(HttpEnvironment("web").observe()) == {"base_url": None, "polls": {}}
