"""One client: every Supervisor operation is defined once and offered sync and async."""

from __future__ import annotations

import inspect

from agents.supervisor.actor import Supervisor
from agents.supervisor.client import Coordinator, SupervisorClient, SupervisorOperations

#: Supervisor methods that are not operations for users: agents' own calls and internals
# calls agents make (heartbeats, identity, rounds they ran among themselves), not users
NOT_CLIENT_CALLS = {"heartbeat", "verify_token", "progress", "name", "record_allocation",
                    "heartbeat_host", "host_plan", "issue_identity"}


def _public(cls: type, *bases: type) -> set[str]:
    """Public methods defined on ``cls`` (and on ``bases``: the Supervisor's mixins)."""
    return {n for c in (cls, *bases) for n, v in vars(c).items()
            if callable(v) and not n.startswith("_")}


def test_every_supervisor_method_is_a_client_operation() -> None:
    ops = _public(SupervisorOperations)
    calls = _public(Supervisor, *Supervisor.__bases__) - NOT_CLIENT_CALLS
    missing = {m for m in calls if m not in ops and m != "shutdown"}
    assert not missing, f"Supervisor methods without a client operation: {sorted(missing)}"
    assert "shutdown" in calls and "stop_agents" in ops


def test_the_sync_and_async_clients_add_no_operation_of_their_own() -> None:
    assert _public(SupervisorClient) - {"shutdown"} == set()
    assert _public(Coordinator) - {"shutdown"} == set()
    assert inspect.iscoroutinefunction(Coordinator.shutdown)
    assert not inspect.iscoroutinefunction(SupervisorClient.shutdown)


class _Recorder(SupervisorOperations):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def _call(self, method: str, *args: object, **kwargs: object) -> object:
        self.calls.append((method, args, kwargs))
        return method


def test_each_operation_calls_the_supervisor_method_of_its_name() -> None:
    rec = _Recorder()
    assert rec.submit([{"task_id": "t"}], correlation_id="c1") == "submit"
    assert rec.observe_plan("p", {"road": False}) == "observe_plan"
    assert rec.stop_agents() == "shutdown"
    assert rec.calls[0] == ("submit", ([{"task_id": "t", "correlation_id": "c1"}],), {})


def test_a_submit_stamps_one_correlation_id_on_its_tasks_unless_they_carry_their_own() -> None:
    from messaging import trace

    rec = _Recorder()
    rec.submit([{"task_id": "a"}, {"task_id": "b", "correlation_id": "mine"}])
    rec.submit([{"task_id": "c"}])
    first, second = rec.calls[0][1][0], rec.calls[1][1][0]
    assert first[0]["correlation_id"] and first[1]["correlation_id"] == "mine"
    assert second[0]["correlation_id"] != first[0]["correlation_id"]  # one id per submit
    with trace.scope("request-7"):
        rec.submit([{"task_id": "d"}])
    assert rec.calls[2][1][0][0]["correlation_id"] == "request-7"
