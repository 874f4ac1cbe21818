"""Schemathesis against the served app's own /openapi.json: a bounded number of generated
requests per route, valid and invalid; no 5xx, and every response matches the schema
(status code documented, content type, body).

Requests run as admin, so every route is reached.  Generated tasks and plans are kept
off the agents (their capabilities are replaced by one no agent has), so fuzzing queues
work that never runs; the two routes that start actors (spawning agents, the event
stream that holds a connection open) are exercised by test_api.py instead.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

EXAMPLES = 8
SKIPPED = {("POST", "/v1/agents"), ("GET", "/v1/bus/stream")}
NOBODY = ["fuzz-no-agent-has-this"]


#: where each route's body names who may run what it queues
_CAPABILITY_FIELD = {"/v1/tasks": "required_capabilities",
                     "/v1/swarm-runs": "required_capabilities",
                     "/v1/learning-runs": "required_capabilities",
                     "/v1/plans": "capabilities"}


def _keep_off_agents(path: str, body: Any) -> None:
    """Generated tasks, runs and plans ask for a capability no agent has (set even where
    the generated body left it to its default): queued, never run."""
    if not isinstance(body, dict):
        return
    if path in _CAPABILITY_FIELD:
        body[_CAPABILITY_FIELD[path]] = list(NOBODY)
    elif path == "/v1/tasks/batch" and isinstance(body.get("tasks"), list):
        for task in body["tasks"]:
            _keep_off_agents("/v1/tasks", task)
    elif path == "/v1/allocations":
        _keep_off_agents("/v1/tasks", body.get("task"))
        if isinstance(body.get("timeout_s"), int | float):
            body["timeout_s"] = min(body["timeout_s"], 0.5)


def _fuzz(op: Any, mode: Any, auth: dict[str, str], checks: list[Any],
          ran: dict[str, int]) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    label = f"{op.method.upper()} {op.path} {mode.value}"

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        _keep_off_agents(op.path, case.body)
        case.call_and_validate(headers={**(case.headers or {}), **auth}, checks=checks,
                               timeout=60)
        ran[label] = ran.get(label, 0) + 1

    try:
        fuzz()
    except Unsatisfiable:  # an operation with nothing to get wrong (no parameters, no body)
        assert mode.value == "negative", label


def test_the_served_app_keeps_to_its_own_openapi_schema(api: Any) -> None:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    admin = api.headers("admin")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    ran: dict[str, int] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in SKIPPED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(op, mode, admin, checks, ran)
    assert len({k.rsplit(" ", 1)[0] for k in ran}) >= 30, sorted(ran)
