"""PostgresEnvironment without a server: options, error sorting, the not-connected paths."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import psycopg_pool
import pytest

from interfaces import EnvironmentError, UnknownAction, make_environment
from interfaces.postgres import PostgresEnvironment


def test_defaults_and_registry() -> None:
    env = make_environment("postgres", name="db")
    assert isinstance(env, PostgresEnvironment)
    assert env.kind == "postgres" and env.url == "postgresql://postgres@127.0.0.1:5432/test"
    assert (env.channels, env.payload, env.pool_min, env.pool_max) == ((), "json", 1, 4)
    assert env.actions == ("query", "execute", "executemany", "notify")
    for error in (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout,
                  OSError):
        assert error in env.connection_errors
    assert env.application_name == "raymas/db"


def test_channels_are_kept_once_in_order() -> None:
    env = PostgresEnvironment("db", channels=["b", "A", "b"])
    assert env.channels == ("b", "A")


@pytest.mark.parametrize(("options", "named"), [
    ({"url": ""}, "url"),
    ({"channels": "alerts"}, "channels"),
    ({"channels": ["ok", ""]}, "channels"),
    ({"payload": "bytes"}, "payload"),
    ({"max_bytes": 0}, "max_bytes"),
    ({"max_bytes": True}, "max_bytes"),
    ({"pool_min": -1}, "pool_min"),
    ({"pool_max": 0}, "pool_max"),
    ({"pool_min": 5, "pool_max": 2}, "pool_max"),
    ({"observe_query": "  "}, "observe_query"),
    ({"statement_timeout_ms": 0}, "statement_timeout_ms"),
    ({"timeout_s": 0}, "timeout_s"),
])
def test_bad_options_are_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(EnvironmentError, match=rf"^{named}: expected"):
        PostgresEnvironment("db", **options)


def test_an_unknown_option_gets_a_did_you_mean() -> None:
    with pytest.raises(EnvironmentError, match="did you mean 'channels'"):
        make_environment("postgres", name="db", chanels=["a"])


def test_statement_timeout_goes_in_the_pool_connections_options() -> None:
    env = PostgresEnvironment("db", statement_timeout_ms=250, timeout_s=0.5)
    assert env._kwargs() == {"application_name": "raymas/db", "connect_timeout": 2,
                             "options": "-c statement_timeout=250"}


def sql_error(env: PostgresEnvironment, exc: Exception) -> BaseException | None:
    try:
        env._raise_sql_error("query", exc)
    except EnvironmentError as raised:
        return raised
    return None


def test_lost_connections_are_left_to_reconnect_and_sql_errors_become_ours() -> None:
    env = PostgresEnvironment("db")
    # a lost connection (no SQLSTATE, class 08, or the server shutting the backend down)
    for lost in (psycopg.OperationalError("server closed the connection unexpectedly"),
                 psycopg.errors.AdminShutdown("terminating connection"),
                 psycopg.errors.ConnectionFailure("gone"),
                 psycopg_pool.PoolTimeout("couldn't get a connection")):
        assert sql_error(env, lost) is None, lost
    for bad, state in ((psycopg.errors.SyntaxError("syntax error at or near"), "42601"),
                       (psycopg.errors.QueryCanceled("statement timeout"), "57014"),
                       (psycopg.errors.UniqueViolation("duplicate key"), "23505")):
        raised = sql_error(env, bad)
        assert isinstance(raised, EnvironmentError), bad
        assert f"query failed: {state}: {bad}" in str(raised) and raised.__cause__ is bad
    raised = sql_error(env, psycopg.ProgrammingError("the query has 1 placeholder but 2 "
                                                     "parameters were passed"))
    assert raised is not None and "ProgrammingError: the query has 1 placeholder" in str(raised)


def test_not_connected_is_a_connection_error_and_bad_arguments_are_named() -> None:
    async def main() -> None:
        env = PostgresEnvironment("db", channels=["a"])
        with pytest.raises(env.connection_errors, match="is not connected"):
            await env.observe()
        with pytest.raises(env.connection_errors, match="is not connected"):
            await env.act("query", sql="SELECT 1")
        with pytest.raises(env.connection_errors, match="is not connected"):
            await anext(env.events())
        with pytest.raises(UnknownAction, match="did you mean 'query'"):
            await env.act("querry", sql="SELECT 1")
        await env.close()  # closing what was never opened is fine
        env._pool = object()  # arguments are checked before a connection is taken
        with pytest.raises(EnvironmentError, match="query: sql: expected SQL"):
            await env.act("query", sql="")
        with pytest.raises(EnvironmentError, match="notify: channel: expected a name"):
            await env.act("notify", channel=None, payload="x")
        with pytest.raises(EnvironmentError, match="executemany: params_seq: expected a list"):
            await env.act("executemany", sql="INSERT", params_seq={"a": 1})
        env._pool = None

    asyncio.run(main())


def test_no_channels_no_events() -> None:
    async def main() -> list[Any]:
        env = PostgresEnvironment("db")
        return [item async for item in env.events()]

    assert asyncio.run(main()) == []
