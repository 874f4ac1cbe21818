"""A PostgreSQL database as an environment: LISTEN/NOTIFY in, SQL out.

Events come from ``LISTEN`` on the given ``channels``, read on a connection
of their own (never one of the pool's, so a long query cannot delay a
notification and a notification cannot be taken by a pooled connection that
happens to hold the LISTEN); actions run on an
:class:`psycopg_pool.AsyncConnectionPool`, each in a transaction of its own
(committed when it succeeds, rolled back when it fails).  Requires psycopg 3
and psycopg_pool (the ``iot`` extra).

Options (keyword-only):
    url: a libpq URL or conninfo string
        (default ``postgresql://postgres@127.0.0.1:5432/test``).
    channels: the channels to LISTEN on (case kept: they are quoted); with
        none, :meth:`~PostgresEnvironment.events` ends at once.
    payload: ``"json"`` (default): a notification's payload is parsed as JSON;
        ``"text"``: it is given as the string it is.
    max_bytes: the largest payload taken (default 256 KiB; PostgreSQL itself
        refuses NOTIFY payloads of 8000 bytes or more).
    pool_min, pool_max: the pool's size (default 1 and 4).
    observe_query: SQL whose rows :meth:`~PostgresEnvironment.observe` returns.
    statement_timeout_ms: a server-side limit on each statement of the pool's
        connections (a statement over it fails with an ``EnvironmentError``).
    timeout_s: how long to wait for a connection, new or from the pool (default 5).

Events:
    ``notify``: subject = the channel, data = the decoded payload,
    meta = ``{"pid": <the notifying backend's pid>}``.  A payload that is not
    JSON (with ``payload="json"``) or is over ``max_bytes`` is yielded as a
    :class:`~interfaces.Rejected` naming the channel and what was wrong, and
    the stream goes on.

Actions:
    ``query(sql, params=None)``: the rows as a list of dicts (column name to
    value, as psycopg gives them);
    ``execute(sql, params=None)``: the number of rows affected;
    ``executemany(sql, params_seq)``: the number of rows affected, in total;
    ``notify(channel, payload)``: ``pg_notify``; a payload that is not a string
    is sent as JSON.

An SQL error (bad syntax, a constraint, a statement timeout) raises
:class:`~interfaces.EnvironmentError` with the server's SQLSTATE and
message; a lost connection raises one of ``connection_errors``, so
:func:`interfaces.call` and :func:`interfaces.stream` reconnect.  The pool
checks a connection before handing it out, so one that died while idle is
replaced without the action noticing.  A reconnect reopens only what broke:
a lost listener does not close the pool under actions in flight, and an
action's lost connection does not close the listener.

Guarantees: a notification is delivered when its sending transaction
commits (not before), in commit order, to a listener connected then.
PostgreSQL keeps nothing for a channel nobody listens on: notifications
sent while the listening connection is down (between a drop and the
``LISTEN`` of the reconnect) are lost by PostgreSQL itself.  Keep state
that must not be missed in a table and use notifications as the wake-up
(re-read the table after a reconnect).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
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

__all__ = ["PostgresEnvironment"]

WHAT = "the postgres environment"
PAYLOADS = ("json", "text")


def _positive_int(option: str, value: Any, *, zero: bool = False) -> int:
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EnvironmentError(f"{option}: expected an integer >= {low}, got {value!r}")
    return value


class PostgresEnvironment(Environment):
    """A PostgreSQL database: LISTEN/NOTIFY events, SQL actions (see the module docstring)."""

    kind = "postgres"
    actions = ("query", "execute", "executemany", "notify")

    def __init__(self, name: str, *, url: str = "postgresql://postgres@127.0.0.1:5432/test",
                 channels: Sequence[str] = (), payload: str = "json",
                 max_bytes: int = 256 * 1024, pool_min: int = 1, pool_max: int = 4,
                 observe_query: str | None = None, statement_timeout_ms: int | None = None,
                 timeout_s: float = 5.0) -> None:
        super().__init__(name)
        if not isinstance(url, str) or not url:
            raise EnvironmentError(f"url: expected a libpq URL or conninfo string, got {url!r}")
        if isinstance(channels, str):
            raise EnvironmentError(f"channels: expected a list of channel names, got the "
                                   f"string {channels!r}")
        for channel in channels:
            if not isinstance(channel, str) or not channel:
                raise EnvironmentError(f"channels: expected non-empty names, got {channel!r}")
        if payload not in PAYLOADS:
            raise EnvironmentError(f"payload: expected one of {', '.join(PAYLOADS)}, "
                                   f"got {payload!r}")
        self.max_bytes = _positive_int("max_bytes", max_bytes)
        self.pool_min = _positive_int("pool_min", pool_min, zero=True)
        self.pool_max = _positive_int("pool_max", pool_max)
        if self.pool_max < self.pool_min:
            raise EnvironmentError(f"pool_max: expected at least pool_min ({pool_min}), "
                                   f"got {pool_max!r}")
        if observe_query is not None and (not isinstance(observe_query, str)
                                          or not observe_query.strip()):
            raise EnvironmentError(f"observe_query: expected SQL, got {observe_query!r}")
        if statement_timeout_ms is not None:
            _positive_int("statement_timeout_ms", statement_timeout_ms)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) \
                or not timeout_s > 0:
            raise EnvironmentError(f"timeout_s: expected a positive number, got {timeout_s!r}")
        self.url = url
        self.channels = tuple(dict.fromkeys(channels))
        self.payload = payload
        self.observe_query = observe_query
        self.statement_timeout_ms = statement_timeout_ms
        self.timeout_s = float(timeout_s)
        self._pg: Any = require("psycopg", WHAT)
        pool = require("psycopg_pool", WHAT)
        self._pool_module: Any = pool
        self.connection_errors = (self._pg.OperationalError, self._pg.InterfaceError,
                                  pool.PoolTimeout, ConnectionError, OSError)
        self._pool: Any = None
        self._listener: Any = None
        self._lock = asyncio.Lock()
        self._reopening = False
        #: the application_name of the pool's connections (the listener's ends in ``/listen``)
        self.application_name = f"raymas/{name}"[:63]

    def _kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"application_name": self.application_name,
                                  "connect_timeout": max(2, math.ceil(self.timeout_s))}
        if self.statement_timeout_ms is not None:
            kwargs["options"] = f"-c statement_timeout={self.statement_timeout_ms}"
        return kwargs

    async def connect(self) -> None:
        """Open the pool and, with channels, the listening connection; idempotent (what
        is open already is kept; what this call opened is closed again if it fails)."""
        async with self._lock:  # call() and stream() may both reconnect at once
            if self._pool is None:
                pool = self._pool_module.AsyncConnectionPool(
                    self.url, min_size=self.pool_min, max_size=self.pool_max, open=False,
                    kwargs=self._kwargs(), timeout=self.timeout_s,
                    check=self._pool_module.AsyncConnectionPool.check_connection,
                    name=self.application_name)
                try:
                    await pool.open(wait=True, timeout=self.timeout_s)
                    await self._listen()
                except BaseException:
                    await self._close_listener()
                    await pool.close(timeout=self.timeout_s)
                    raise
                self._pool = pool
            else:
                try:
                    await self._listen()
                except BaseException:
                    await self._close_listener()
                    raise

    async def _listen(self) -> None:
        """Open the listening connection unless there is one (or no channel to listen on)."""
        if not self.channels or (self._listener is not None and not self._listener.closed):
            return
        kwargs = self._kwargs()
        kwargs.pop("options", None)  # LISTEN needs no statement timeout
        kwargs["application_name"] = f"{self.application_name[:56]}/listen"
        self._listener = await self._pg.AsyncConnection.connect(self.url, autocommit=True,
                                                                **kwargs)
        for channel in self.channels:
            await self._listener.execute(self._pg.sql.SQL("LISTEN {}").format(
                self._pg.sql.Identifier(channel)))
        self.counts["listens"] += 1

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()

    def _failed(self, exc: BaseException) -> None:
        super()._failed(exc)
        self._reopening = True

    async def close(self) -> None:
        """Close the listening connection and the pool; idempotent.

        The close that :func:`interfaces.stream` or :func:`interfaces.call` makes
        after a connection error (the one right after ``_failed``) keeps what still
        works: the pool (it replaces its broken connections itself, so actions in
        flight are not failed) and a listener that is still open (so a lost action
        connection costs no notifications); the listener that failed has closed
        itself already.
        """
        async with self._lock:
            if self._reopening:
                self._reopening = False
                if self._listener is not None and self._listener.closed:
                    self._listener = None
                return
            pool, self._pool = self._pool, None
            self.state = "disconnected"
            await self._close_listener()
            if pool is not None:
                await pool.close(timeout=self.timeout_s)

    @property
    def listener_pid(self) -> int | None:
        """The server pid of the listening connection, or None when there is none."""
        conn = self._listener
        return None if conn is None or conn.closed else int(conn.info.backend_pid)

    def _not_connected(self) -> Exception:
        error: Exception = self._pg.OperationalError(
            f"postgres environment {self.name!r} is not connected")
        return error

    async def events(self) -> AsyncGenerator[Event | Rejected, None]:
        """Notifications on ``channels`` as they come; raises a connection error on a drop."""
        if not self.channels:
            return
        conn = self._listener
        if conn is None or conn.closed:
            raise self._not_connected()
        name, as_json, max_bytes, clock = self.name, self.payload == "json", self.max_bytes, \
            time.time
        try:
            async for note in conn.notifies():
                text = note.payload
                try:
                    if as_json:
                        data = decode_json(text, max_bytes=max_bytes)
                    elif len(text) > max_bytes // 4 and len(text.encode()) > max_bytes:
                        raise BadInput(f"payload of {len(text.encode())} bytes is over the limit "
                                       f"of {max_bytes}")
                    else:
                        data = text
                except BadInput as exc:
                    yield Rejected(name, f"channel {note.channel!r}: {exc}", text.encode(),
                                   subject=note.channel)
                    continue
                yield Event(name, "notify", data, subject=note.channel, at=clock(),
                            meta={"pid": note.pid})
        except self.connection_errors:
            if self._listener is conn:  # so the reconnect opens a new one
                self._listener = None
            await conn.close()
            raise

    async def observe(self) -> dict[str, Any]:
        """The database, the pool's state, whether it listens, and ``observe_query``'s rows."""
        pool = self._pool
        if pool is None:
            raise self._not_connected()
        rows: list[dict[str, Any]] | None = None
        try:
            async with pool.connection() as conn:
                database, version = conn.info.dbname, conn.info.server_version
                if self.observe_query is not None:
                    rows = await self._rows(conn, self.observe_query, None)
        except self._pg.Error as exc:
            self._raise_sql_error("observe_query", exc)
            raise
        stats = pool.get_stats()
        return {"database": database, "server_version": version,
                "channels": list(self.channels), "listening": self.listener_pid is not None,
                "pool": {key: stats.get(key, 0) for key in
                         ("pool_min", "pool_max", "pool_size", "pool_available",
                          "requests_waiting")},
                "rows": rows}

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        pool = self._pool
        if pool is None:
            raise self._not_connected()
        sql: Any
        params: Any
        if action == "notify":
            channel, value = args.get("channel"), args.get("payload", "")
            if not isinstance(channel, str) or not channel:
                raise EnvironmentError(f"notify: channel: expected a name, got {channel!r}")
            text = value if isinstance(value, str) else json.dumps(value)
            sql, params = "SELECT pg_notify(%s, %s)", (channel, text)
        else:
            many = action == "executemany"
            sql, params = args.get("sql"), args.get("params_seq" if many else "params")
            if not isinstance(sql, str) or not sql.strip():
                raise EnvironmentError(f"{action}: sql: expected SQL, got {sql!r}")
            if many and (params is None or isinstance(params, str | bytes | Mapping)):
                raise EnvironmentError(f"executemany: params_seq: expected a list of "
                                       f"parameter sets, got {params!r}")
        try:  # the transaction commits as the connection goes back: that can fail too
            async with pool.connection() as conn:
                if action == "query":
                    result: Any = await self._rows(conn, sql, params)
                else:
                    async with conn.cursor() as cur:
                        if action == "executemany":
                            await cur.executemany(sql, params)
                        else:
                            await cur.execute(sql, params)
                        result = None if action == "notify" else int(cur.rowcount)
        except self._pg.Error as exc:
            self._raise_sql_error(action, exc)
            raise
        self.counts[{"query": "queries", "notify": "notifies_sent"}.get(action, "executes")] += 1
        return result

    async def _rows(self, conn: Any, sql: str, params: Any) -> list[dict[str, Any]]:
        async with conn.cursor(row_factory=self._pg.rows.dict_row) as cur:
            await cur.execute(sql, params)
            return list(await cur.fetchall()) if cur.description is not None else []

    def _raise_sql_error(self, what: str, exc: Any) -> None:
        """Raise an EnvironmentError saying why ``exc`` happened, unless it is a lost
        connection (then the caller re-raises it for :func:`interfaces.call` to reconnect)."""
        state = exc.sqlstate
        if isinstance(exc, self._pg.OperationalError | self._pg.InterfaceError) and (
                state is None or state.startswith(("08", "57P"))):
            return
        message = exc.diag.message_primary or str(exc)
        raise EnvironmentError(f"postgres environment {self.name!r}: {what} failed: "
                               f"{state or type(exc).__name__}: {message}") from exc
