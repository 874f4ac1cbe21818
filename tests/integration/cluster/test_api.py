"""The HTTP API served by Ray Serve, driven over HTTP with real tokens.

Every request goes through the Serve proxy to the FastAPI replica and on to a
real Supervisor with real agents (the ``api`` fixture); nothing is stubbed.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

import pytest

from cluster.api.auth import ROLES
from cluster.api.roles import PUBLIC, ROUTE_ROLES

pytestmark = pytest.mark.integration


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_task_from_submit_to_result_history_and_listing(api: Any) -> None:
    op, viewer = api.headers("operator"), api.headers("viewer")
    with api.http() as h:
        tid = uid("t")
        r = h.post("/v1/tasks", json={"task_id": tid, "kind": "echo", "args": {"value": 42}},
                   headers={**op, "X-Request-ID": f"req-{tid}"})
        assert r.status_code == 202 and r.json() == {"task_id": tid, "state": "submitted"}
        assert r.headers["location"] == f"/v1/tasks/{tid}"
        r = h.get(f"/v1/tasks/{tid}", params={"wait": 30}, headers=viewer)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["state"] == "done" and out["value"] == 42
        assert out["agent_id"] in api.agent_ids
        assert out["correlation_id"] == f"req-{tid}"  # the request's id follows the task
        states = [s["state"] for s in h.get(f"/v1/tasks/{tid}/history",
                                            headers=viewer).json()["history"]]
        assert states[0] == "submitted" and states[-1] == "done"
        listing = h.get("/v1/tasks", params={"limit": 1000}, headers=viewer).json()
        assert tid in {t["task_id"] for t in listing["tasks"]}
        assert listing["counts"]["done"] >= 1
        batch = [{"task_id": uid("b"), "kind": "echo", "args": {"value": i}} for i in range(5)]
        r = h.post("/v1/tasks/batch", json={"tasks": batch}, headers=op)
        assert r.status_code == 202 and r.json()["task_ids"] == [t["task_id"] for t in batch]
        for i, t in enumerate(batch):
            assert h.get(f"/v1/tasks/{t['task_id']}", params={"wait": 30},
                         headers=viewer).json()["value"] == i
        r = h.post("/v1/tasks/batch", json={"tasks": batch}, headers=op)  # known ids: not rerun
        assert r.status_code == 202
        assert [len(h.get(f"/v1/tasks/{t['task_id']}/history", headers=viewer).json()[
            "history"]) for t in batch] == [len(states)] * 5
        assert h.get("/v1/status", headers=viewer).json()["alive"] >= 2


def test_unknown_ids_and_bad_values_are_problems_not_500s(api: Any) -> None:
    op = api.headers("operator")
    with api.http() as h:
        for method, path in (("GET", "/v1/tasks/no-such-task"),
                             ("GET", "/v1/tasks/no-such-task/history"),
                             ("POST", "/v1/tasks/no-such-task/cancel"),
                             ("GET", "/v1/agents/no-such-agent"),
                             ("DELETE", "/v1/agents/no-such-agent"),
                             ("GET", "/v1/plans/no-such-plan"),
                             ("GET", "/v1/plans/no-such-plan/results"),
                             ("DELETE", "/v1/plans/no-such-plan")):
            r = h.request(method, path, headers=op)
            assert r.status_code == 404, (method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert "no-such" in r.json()["detail"] and "Traceback" not in r.text
        r = h.post("/v1/tasks", json={"kind": "ehco"}, headers=op)
        assert r.status_code == 422 and "did you mean 'echo'" in r.json()["detail"]
        r = h.post("/v1/tasks", json={"kind": "echo", "strategy": "vickery"}, headers=op)
        assert r.status_code == 422 and "vickrey" in r.json()["detail"]
        r = h.post("/v1/tasks", json={"kind": "echo", "args": "x" * 70_000}, headers=op)
        assert r.status_code == 413  # the fixture's limit is 64 KiB
        r = h.post("/v1/plans", json={"graph": {"nodes": [{"id": "a", "kind": "echo",
                                                           "depends_on": ["zz"]}]}},
                   headers=op)
        assert r.status_code == 422 and "zz" in r.json()["detail"]


def test_cancel_a_task_no_agent_can_take(api: Any) -> None:
    op = api.headers("operator")
    tid = uid("stuck")
    with api.http() as h:
        h.post("/v1/tasks", json={"task_id": tid, "kind": "echo",
                                  "required_capabilities": ["nobody-has-this"]}, headers=op)
        r = h.post(f"/v1/tasks/{tid}/cancel", headers=op)
        assert r.status_code == 200 and r.json()["cancelled"] is True
        assert h.get(f"/v1/tasks/{tid}", headers=op).json()["state"] == "cancelled"
        assert h.post(f"/v1/tasks/{tid}/cancel", headers=op).json()["cancelled"] is False


def test_plans_from_a_graph_and_from_an_htn_goal(api: Any) -> None:
    op, viewer = api.headers("operator"), api.headers("viewer")
    graph = {"nodes": [{"id": "a", "kind": "echo", "args": {"value": 2}},
                       {"id": "b", "kind": "echo", "args": {"value": 3}},
                       {"id": "sum", "kind": "sum_results", "depends_on": ["a", "b"]}]}
    with api.http() as h:
        pid = uid("plan")
        r = h.post("/v1/plans", json={"plan_id": pid, "graph": graph}, headers=op)
        assert r.status_code == 202, r.text
        status = h.get(f"/v1/plans/{pid}", params={"wait": 60, "detail": True},
                       headers=viewer).json()
        assert status["finished"] and status["ok"], status
        assert h.get(f"/v1/plans/{pid}/results", headers=viewer).json()["results"]["sum"] == 5
        assert pid in {p["plan_id"] for p in h.get("/v1/plans", headers=viewer).json()["plans"]}
        goal = {"domain": {"operators": {"fetch": {"kind": "echo"}, "sum": {
                    "kind": "sum_results"}},
                "methods": [{"name": "m", "task": "job", "subtasks": [
                    {"task": "fetch", "args": {"value": 1}}, "sum"]}]},
                "tasks": ["job"]}
        r = h.post("/v1/plans", json={"goal": goal}, headers=op)
        assert r.status_code == 202, r.text
        htn = r.json()["plan_id"]
        assert h.get(f"/v1/plans/{htn}", params={"wait": 60},
                     headers=viewer).json()["ok"] is True
        r = h.post(f"/v1/plans/{htn}/observations", json={"changes": {"x": 1}}, headers=op)
        assert r.status_code == 200, r.text
        stuck = uid("stuck-plan")
        h.post("/v1/plans", json={"plan_id": stuck, "graph": graph,
                                  "capabilities": ["nobody-has-this"]}, headers=op)
        assert h.delete(f"/v1/plans/{stuck}", headers=op).json()["cancelled"] == 3
        r = h.post("/v1/plans", json={"graph": graph, "goal": goal}, headers=op)
        assert r.status_code == 422 and "exactly one" in r.json()["detail"]


def test_coordination_allocate_vote_and_auction(api: Any) -> None:
    op, viewer = api.headers("operator"), api.headers("viewer")
    with api.http() as h:
        r = h.post("/v1/allocations", json={"task": {"kind": "echo", "args": {"value": 1}},
                                            "strategy": "vickrey"}, headers=op)
        assert r.status_code == 200, r.text
        assert r.json()["agent_id"] in api.agent_ids
        r = h.post("/v1/votes", json={"question": "which?", "options": ["a", "b"],
                                      "deadline_s": 5}, headers=op)
        assert r.status_code == 200, r.text
        vote = r.json()
        assert vote["choice"] in ("a", "b") and len(vote["votes"]) == 2
        recorded = h.get(f"/v1/votes/{vote['proposal_id']}", headers=viewer).json()["votes"]
        assert {v["voter"] for v in recorded} == set(api.agent_ids)
        r = h.post("/v1/auctions", json={"resource": "gpu-slot", "deadline_s": 5}, headers=op)
        assert r.status_code == 200, r.text
        assert r.json()["winner"] in api.agent_ids


def test_swarm_and_learning_runs_are_tasks(api: Any) -> None:
    op, viewer = api.headers("operator"), api.headers("viewer")
    with api.http() as h:
        r = h.post("/v1/swarm-runs", json={"args": {
            "algorithm": "pso", "function": "sphere", "dim": 3, "max_iterations": 30,
            "seed": 1, "backend": "inprocess"}}, headers=op)
        assert r.status_code == 202, r.text
        swarm = r.json()["task_id"]
        r = h.post("/v1/learning-runs", json={"kind": "q_learning", "args": {
            "env": "FrozenLake-v1", "env_args": {"is_slippery": False}, "episodes": 300,
            "eval_episodes": 20, "seed": 0}}, headers=op)
        assert r.status_code == 202, r.text
        learn = r.json()["task_id"]
        out = h.get(f"/v1/tasks/{swarm}", params={"wait": 120}, headers=viewer).json()
        assert out["state"] == "done", out
        assert out["value"]["best_fitness"] < 1.0
        out = h.get(f"/v1/tasks/{learn}", params={"wait": 120}, headers=viewer).json()
        assert out["state"] == "done", out
        r = h.post("/v1/learning-runs", json={"kind": "sorcery"}, headers=op)
        assert r.status_code == 422


def test_a_stored_model_version_served_as_its_own_deployment(api: Any) -> None:
    import numpy as np
    from ray import serve

    from learning.models.factory import create_model
    from learning.models.store import ModelStore

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = create_model("logistic_regression", "sklearn")
    model.fit(X, y)
    name = uid("clf")
    version = ModelStore(api.ctx.serve.model_store).save(name, model).version
    op, viewer = api.headers("operator"), api.headers("viewer")
    with api.http() as h:
        r = h.post(f"/v1/models/{name}/predict", json={"inputs": [[0, 0, 0, 0]]},
                   headers=viewer)
        assert r.status_code == 404 and "deployments first" in r.json()["detail"]
        r = h.post(f"/v1/models/{name}/deployments", json={}, headers=op)
        assert r.status_code == 201, r.text
        app = r.json()["deployment"]
        assert app in serve.status().applications
        rows = [[3, 3, 0, 0], [-3, -3, 0, 0]]
        r = h.post(f"/v1/models/{name}/predict", json={"inputs": rows}, headers=viewer)
        assert r.status_code == 200, r.text
        assert r.json() == {"name": name, "version": version, "predictions": [1, 0]}
        r = h.post(f"/v1/models/{name}/predict", json={"inputs": [[1, 2]]}, headers=viewer)
        assert r.status_code == 422 and "cannot predict" in r.json()["detail"]
        listed = {(m["name"], m["version"]): m for m in
                  h.get("/v1/models", headers=viewer).json()["models"]}
        assert listed[(name, version)]["deployment"] == app
        r = h.post("/v1/models/no-such-model/deployments", json={}, headers=op)
        assert r.status_code == 404
    serve.delete(app)


def test_publish_and_follow_a_topic_live(api: Any) -> None:
    topic = f"sensors/{uid('room')}/temp"
    got: list[dict[str, Any]] = []
    opened = threading.Event()

    def follow() -> None:
        with api.http() as h, h.stream("GET", "/v1/bus/stream",
                                       params={"topic": topic.rsplit("/", 1)[0] + "/#",
                                               "max_s": 60},
                                       headers=api.headers("viewer")) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                opened.set()
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    if len(got) == 3:
                        return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(60), "the stream never opened"
    with api.http() as h:
        for i in range(3):
            r = h.post("/v1/bus/publish", json={"topic": topic, "payload": {"t": 20 + i}},
                       headers=api.headers("agent"))
            assert r.status_code == 202, r.text
        r = h.post("/v1/bus/publish", json={"topic": "sensors/+/temp"},
                   headers=api.headers("agent"))
        assert r.status_code == 422 and "wildcard" in r.json()["detail"]
        assert "dead_letters" in h.get("/v1/bus/dead-letters",
                                       headers=api.headers("viewer")).json()
    reader.join(60)
    assert [m["payload"] for m in got] == [{"t": 20}, {"t": 21}, {"t": 22}]
    assert {m["topic"] for m in got} == {topic}


def test_every_route_with_every_role_over_http(api: Any) -> None:
    """No token or a bad one: 401; a role the table refuses: 403; always problem+json."""
    from cluster.api.app import build_app

    app = build_app(api.ctx.serve)
    with api.http() as h:
        for route in app.routes:
            if route.name in PUBLIC:
                continue
            path = re.sub(r"\{[^}]+\}", "nothing-here", route.path)
            for method in sorted(set(route.methods) - {"HEAD"}):
                for header in (None, "Bearer x.y.z", "Basic Zm9vOmJhcg=="):
                    r = h.request(method, path, headers={"Authorization": header}
                                  if header else {})
                    assert r.status_code == 401, (route.name, header, r.text)
                    assert r.headers["content-type"] == "application/problem+json"
                for role in ROLES:
                    if role in ROUTE_ROLES[route.name]:
                        continue  # exercised by the tests above, with real bodies
                    r = h.request(method, path, headers=api.headers(role), json={})
                    assert r.status_code == 403, (route.name, role, r.text)
                    assert r.json()["status"] == 403


def test_admin_tokens_keys_and_the_audit_trail(api: Any) -> None:
    admin = api.headers("admin")
    with api.http() as h:
        r = h.post("/v1/tokens", json={"subject": "ci-bot", "role": "operator", "ttl": "10m"},
                   headers=admin)
        assert r.status_code == 201, r.text
        issued = r.json()["token"]
        bot = {"Authorization": f"Bearer {issued}"}
        assert h.get("/v1/me", headers=bot).json()["subject"] == "ci-bot"
        tid = uid("audited")
        h.post("/v1/tasks", json={"task_id": tid, "kind": "echo"}, headers=bot)
        h.get(f"/v1/tasks/{tid}", params={"wait": 30}, headers=bot)
        h.post("/v1/tasks", json={"kind": "echo"}, headers=api.headers("viewer"))  # refused
        keys = h.get("/v1/keys", headers=admin).json()["keys"]
        kid = h.post("/v1/keys/rotate", headers=admin).json()["kid"]
        assert kid not in keys and kid in h.get("/v1/keys", headers=admin).json()["keys"]
        records = h.get("/v1/audit", params={"limit": 10_000}, headers=admin).json()["records"]
        mine = [r for r in records if r["subject"] == "ci-bot"]
        assert [(r["action"], r["outcome"]) for r in mine] == [("submit_task", "ok")]
        assert any(r["action"] == "submit_task" and r["outcome"] == "refused"
                   and r["role"] == "viewer" for r in records)
        assert any(r["action"] == "award" and r["target"] == tid for r in records)
        assert any(r["action"] == "rotate_identity_key" for r in records)
        assert all(r["correlation_id"] for r in records if r["subject"] == "ci-bot")
        verdict = h.get("/v1/audit/verify", headers=admin).json()
        assert verdict["ok"] and verdict["checked"] >= len(records), verdict


def test_readiness_names_what_is_down(api: Any) -> None:
    import asyncio

    from cluster.api.backend import ApiBackend, ApiContext

    with api.http() as h:
        r = h.get("/readyz")
        assert r.status_code == 200 and r.json()["ready"], r.text
        assert set(r.json()["checks"]) == {"ray", "supervisor", "ledger", "broker:redis",
                                           "environments"}
    broken = ApiContext(serve=api.ctx.serve, supervisor_name="no-such-supervisor",
                        namespace=api.ctx.namespace, ledger_url=api.ctx.ledger_url,
                        bus_name=api.ctx.bus_name,
                        brokers={"redis": ("redis", {"url": "redis://127.0.0.1:1/0"})})
    checks = asyncio.run(ApiBackend(broken).readiness())
    assert checks["ray"]["ok"] and checks["ledger"]["ok"]
    assert not checks["supervisor"]["ok"] and "no-such-supervisor" in checks["supervisor"][
        "detail"]
    assert not checks["broker:redis"]["ok"]
