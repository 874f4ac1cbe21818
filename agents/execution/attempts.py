"""One attempt loop for one task node: retries with exponential back-off and a timeout.

This is the worker-side core of :mod:`agents.execution.run`, kept free of Ray so it
is tested on its own.  :func:`call_node` calls a task function, retries an
application error up to ``retries`` times with exponential back-off, and
enforces ``timeout_s`` on each attempt.  What it raises names the node:
:class:`NodeFailedError` (a :class:`~agents.errors.TaskFailedError`) once
every attempt failed, or
:class:`TaskTimeoutError` when the last attempt ran out of time.

The timeout interrupts the task with ``SIGALRM`` when it runs on the main
thread (where Ray runs a task): pure Python code and sleeps are interrupted
at once, a long call into C code when it returns.  On another thread the
attempt runs on a helper thread that is abandoned at the deadline (Python
cannot stop a thread), so its result is dropped but it may keep running.

Example:
    >>> calls = []
    >>> def flaky(**kwargs):
    ...     calls.append(kwargs)
    ...     if len(calls) < 3:
    ...         raise ValueError("not yet")
    ...     return "ok"
    >>> call_node("fetch", flaky, {"url": "x"}, retries=2, backoff_s=0.0)
    (3, 'ok')
    >>> call_node("fetch", flaky, {}, retries=0, backoff_s=0.0, timeout_s=5.0)
    (1, 'ok')
    >>> [backoff_delay(a, 0.1, 0.5) for a in (1, 2, 3, 4)]
    [0.1, 0.2, 0.4, 0.5]
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from agents.errors import RaymasError, TaskFailedError

__all__ = ["NodeFailedError", "TaskTimeoutError", "backoff_delay", "call_node",
           "call_with_timeout", "pause"]


class NodeFailedError(TaskFailedError):
    """Every attempt at task node ``task_id`` raised; ``error`` is the last one."""

    def __init__(self, task_id: str, error: str, attempts: int = 1) -> None:
        super().__init__(task_id, error)
        self.attempts = attempts
        self.args = (task_id, error, attempts)


class TaskTimeoutError(RaymasError):
    """Task node ``node_id`` did not finish within ``timeout_s`` (on attempt ``attempts``)."""

    def __init__(self, node_id: str, timeout_s: float, attempts: int = 1) -> None:
        self.node_id = node_id
        self.timeout_s = timeout_s
        self.attempts = attempts
        super().__init__(node_id, timeout_s, attempts)

    def __str__(self) -> str:
        tries = f" on each of {self.attempts} attempts" if self.attempts > 1 else ""
        return f"task {self.node_id!r} timed out after {self.timeout_s:g}s{tries}"


class _Alarm(BaseException):
    """Raised by the SIGALRM handler; a BaseException so ``except Exception`` cannot eat it."""


def backoff_delay(attempt: int, base_s: float, max_s: float) -> float:
    """The pause after failed attempt ``attempt`` (1-based): ``base_s * 2**(attempt-1)``, capped."""
    return float(min(max_s, base_s * 2 ** (attempt - 1)))


def pause(seconds: float, step_s: float = 0.05) -> None:
    """Sleep ``seconds`` in steps of at most ``step_s``.

    Ray cancels a running task by raising ``KeyboardInterrupt`` between two
    bytecodes, which cannot wake one long ``time.sleep``; in short steps a
    cancelled back-off pause ends within ``step_s``.
    """
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, step_s))


def call_node(node_id: str, fn: Callable[..., Any], kwargs: Mapping[str, Any], *,
              retries: int = 0, timeout_s: float | None = None, backoff_s: float = 0.1,
              max_backoff_s: float = 30.0,
              sleep: Callable[[float], None] = pause) -> tuple[int, Any]:
    """Call ``fn(**kwargs)``, at most ``retries + 1`` times; return ``(attempts, result)``.

    Raises:
        TaskTimeoutError: the last attempt exceeded ``timeout_s``.
        NodeFailedError: the last attempt raised; ``error`` names its type and message.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return attempt, call_with_timeout(node_id, fn, kwargs, timeout_s)
        except Exception as exc:  # any application error is retried, then reported
            last = exc
        if attempt > retries:
            break
        sleep(backoff_delay(attempt, backoff_s, max_backoff_s))
    if isinstance(last, TaskTimeoutError):
        raise TaskTimeoutError(node_id, last.timeout_s, attempt) from None
    tries = f" (on each of {attempt} attempts)" if attempt > 1 else ""
    raise NodeFailedError(node_id, f"{type(last).__name__}: {last}{tries}", attempt) from last


def call_with_timeout(node_id: str, fn: Callable[..., Any], kwargs: Mapping[str, Any],
                      timeout_s: float | None) -> Any:
    """``fn(**kwargs)``, raising :class:`TaskTimeoutError` after ``timeout_s`` seconds."""
    if timeout_s is None:
        return fn(**kwargs)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _call_with_alarm(node_id, fn, kwargs, timeout_s)
    return _call_on_thread(node_id, fn, kwargs, timeout_s)


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm


def _call_with_alarm(node_id: str, fn: Callable[..., Any], kwargs: Mapping[str, Any],
                     timeout_s: float) -> Any:
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return fn(**kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Alarm:
        raise TaskTimeoutError(node_id, timeout_s) from None
    finally:
        signal.signal(signal.SIGALRM, previous)


def _call_on_thread(node_id: str, fn: Callable[..., Any], kwargs: Mapping[str, Any],
                    timeout_s: float) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(**kwargs)
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"raymas-task-{node_id}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TaskTimeoutError(node_id, timeout_s)
    if "error" in box:
        raise box["error"]
    return box.get("value")
