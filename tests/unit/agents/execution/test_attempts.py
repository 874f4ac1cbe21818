"""The worker-side core of the executor: retries with back-off, timeouts, the plan report."""

from __future__ import annotations

import pickle
import signal
import threading
import time
from typing import Any

import pytest

from agents.errors import TaskFailedError
from agents.execution.attempts import (
    NodeFailedError,
    TaskTimeoutError,
    call_node,
    call_with_timeout,
)
from agents.execution.report import NodeReport, NodeState, PlanReport


def failing(times: int) -> Any:
    calls: list[dict[str, Any]] = []

    def fn(**kwargs: Any) -> str:
        calls.append(kwargs)
        if len(calls) <= times:
            raise ConnectionError(f"refused #{len(calls)}")
        return "ok"

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    pauses: list[float] = []
    fn = failing(4)
    assert call_node("n", fn, {"x": 1}, retries=4, backoff_s=0.1, max_backoff_s=0.3,
                     sleep=pauses.append) == (5, "ok")
    assert pauses == [0.1, 0.2, 0.3, 0.3]
    assert fn.calls == [{"x": 1}] * 5


def test_the_last_error_is_reported_with_the_node_and_the_attempts() -> None:
    pauses: list[float] = []
    with pytest.raises(NodeFailedError) as info:
        call_node("fetch", failing(9), {}, retries=2, backoff_s=0.5, sleep=pauses.append)
    err = info.value
    assert isinstance(err, TaskFailedError) and err.attempts == 3 and err.task_id == "fetch"
    assert str(err) == "task 'fetch' failed: ConnectionError: refused #3 (on each of 3 attempts)"
    assert isinstance(err.__cause__, ConnectionError)
    assert pauses == [0.5, 1.0]  # no pause after the last attempt
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.attempts, str(again)) == (NodeFailedError, 3, str(err))


def test_a_timeout_interrupts_a_sleep_and_cannot_be_swallowed() -> None:
    def stubborn() -> str:
        try:
            time.sleep(30)
        except Exception:
            return "swallowed"
        return "slept"

    before = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    with pytest.raises(TaskTimeoutError) as info:
        call_node("stuck", stubborn, {}, retries=1, timeout_s=0.05, backoff_s=0.0)
    assert time.monotonic() - started < 20
    assert str(info.value) == "task 'stuck' timed out after 0.05s on each of 2 attempts"
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert pickle.loads(pickle.dumps(info.value)).attempts == 2


def test_a_call_within_its_timeout_leaves_no_alarm_behind() -> None:
    assert call_with_timeout("quick", lambda **kw: kw["v"] * 2, {"v": 21}, 5.0) == 42
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_off_the_main_thread_the_timeout_abandons_the_attempt() -> None:
    release = threading.Event()
    caught: list[BaseException] = []

    def runner() -> None:
        try:
            call_with_timeout("bg", lambda: release.wait(30), {}, 0.05)
        except TaskTimeoutError as exc:
            caught.append(exc)

    t = threading.Thread(target=runner)
    t.start()
    t.join(20)
    release.set()
    assert [str(e) for e in caught] == ["task 'bg' timed out after 0.05s"]
    assert call_with_timeout("bg", lambda: 7, {}, None) == 7


def test_a_plan_report_serialises_and_filters() -> None:
    report = PlanReport([NodeReport("a", "k", NodeState.DONE, 1, 0.5, given=True),
                         NodeReport("b", "k", NodeState.PENDING)], wall_s=None,
                        levels=[["a"], ["b"]])
    assert not report.finished and not report.ok and len(report) == 2
    data = report.to_dict(node_states=[NodeState.PENDING])
    assert data["counts"]["done"] == 1 and data["levels"] == 2
    assert data["nodes"] == [{"id": "b", "kind": "k", "state": "pending", "attempts": None,
                              "seconds": None, "error": None, "given": False}]
