"""Correlation ids: one id from a submit (HTTP request, CLI run, job script) to the result.

The id travels with the work, not through globals: a task carries it
(``TaskAllocation.correlation_id``, stamped by the client at submit); an agent
running the task sets it as the *current* id (a context variable, so each
task, thread and coroutine sees its own); envelopes sent meanwhile carry it in
their ``correlation`` header; and log records name it in their
``correlation_id`` field (pass :func:`log_fields` as ``extra``).  ``raymas
trace TASK_ID`` follows it back through the ledger and the logs.

Example:
    >>> with scope("req-1"):
    ...     current()
    'req-1'
    >>> current() is None
    True
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

__all__ = ["HEADER", "current", "log_fields", "new_correlation_id", "scope"]

#: the envelope header that carries the id
HEADER = "correlation"

_CURRENT: ContextVar[str | None] = ContextVar("raymas_correlation_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current() -> str | None:
    """The correlation id of the work this code runs for, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def scope(correlation_id: str | None) -> Iterator[str | None]:
    """Make ``correlation_id`` current inside the block (None leaves it as it is)."""
    if correlation_id is None:
        yield current()
        return
    token = _CURRENT.set(correlation_id)
    try:
        yield correlation_id
    finally:
        _CURRENT.reset(token)


def log_fields(correlation_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """``extra`` for a log record: the correlation id (given, else current) and ``fields``.

    Ray's JSON log format writes each as a key of the line's object.
    """
    out = {k: v for k, v in fields.items() if v is not None}
    cid = correlation_id or current()
    if cid is not None:
        out["correlation_id"] = cid
    return out
