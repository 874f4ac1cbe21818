"""The role table against the app's routes, and the guard and problem documents in-process.

The app is the real one with a real token service; no backend is attached, so a
request the guard lets through gets the app's own 503 "not connected" problem
(the integration tests run the same walk against the served app with a real
Supervisor behind it).
"""

from __future__ import annotations

from typing import Any

import pytest

from cluster.api.auth import ROLES, TokenService, generate_key
from cluster.api.roles import PUBLIC, ROUTE_ROLES
from cluster.api.settings import ServeSection


@pytest.fixture(scope="module")
def app_and_tokens() -> tuple[Any, TokenService]:
    from cluster.api.app import build_app

    settings = ServeSection.model_validate({"auth": {"key": generate_key("HS256")},
                                            "max_body_bytes": 4096})
    return build_app(settings), TokenService.from_settings(settings.auth)


@pytest.fixture(scope="module")
def http(app_and_tokens: tuple[Any, TokenService]) -> Any:
    from starlette.testclient import TestClient

    app, _ = app_and_tokens
    return TestClient(app, raise_server_exceptions=False)


def routes(app: Any) -> list[tuple[str, str, str]]:
    """(name, method, concrete path) of every route, path parameters filled in."""
    import re

    out = []
    for r in app.routes:
        for method in sorted(getattr(r, "methods", None) or ()):
            if method == "HEAD":
                continue
            path = re.sub(r"\{[^}]+\}", "nothing-here", r.path)
            out.append((r.name, method, path))
    return out


def test_every_route_has_exactly_one_row_and_every_row_a_route(app_and_tokens: Any) -> None:
    app, _ = app_and_tokens
    names = {r.name for r in app.routes}
    assert sorted(n for n in names if n not in ROUTE_ROLES and n not in PUBLIC) == []
    assert sorted(n for n in ROUTE_ROLES if n not in names) == []
    assert not set(ROUTE_ROLES) & PUBLIC
    for name, roles in ROUTE_ROLES.items():
        assert roles and roles <= set(ROLES), name
        assert "admin" in roles, f"admin may do everything, but not {name}"


def test_viewer_only_reads(app_and_tokens: Any) -> None:
    app, _ = app_and_tokens
    for name, method, _ in routes(app):
        if name in ROUTE_ROLES and "viewer" in ROUTE_ROLES[name] and name != "predict":
            assert method == "GET", f"viewer may call {method} {name}"  # predict: a read
            # that takes a body, and changes nothing


def test_every_route_times_every_role(app_and_tokens: Any, http: Any) -> None:
    app, tokens = app_and_tokens
    bad = {"none": None, "garbage": "Bearer not.a.jwt", "wrong key": "Bearer " + TokenService
           .from_settings(ServeSection.model_validate(
               {"auth": {"key": generate_key("HS256")}}).auth).issue("x", "admin")}
    for name, method, path in routes(app):
        if name in PUBLIC:
            continue
        for label, header in bad.items():
            r = http.request(method, path, headers={"Authorization": header} if header else {})
            assert r.status_code == 401, (name, label, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == 401 and r.json()["detail"]
            assert r.headers["www-authenticate"].startswith("Bearer")
        for role in ROLES:
            token = tokens.issue(f"unit-{role}", role)
            r = http.request(method, path, headers={"Authorization": f"Bearer {token}"},
                             params={"max_s": 0.1} if name == "stream" else None)
            assert r.headers["content-type"].startswith("application/"), (name, role)
            if role in ROUTE_ROLES[name]:
                assert r.status_code not in (401, 403), (name, role, r.text)
            else:
                assert r.status_code == 403, (name, role, r.text)
                assert role in r.json()["detail"] and name in r.json()["detail"]


def test_public_routes_need_no_token(http: Any) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    r = http.get("/readyz")  # no system behind this app: not ready, and says why
    assert r.status_code == 503 and "not connected" in r.json()["detail"]
    assert http.get("/openapi.json").json()["components"]["securitySchemes"]["bearer"]
    assert http.get("/ui/").status_code == 200
    assert http.get("/ui/../auth.py").status_code == 404


def test_bad_requests_are_problems_naming_what_was_wrong(app_and_tokens: Any,
                                                         http: Any) -> None:
    _, tokens = app_and_tokens
    auth = {"Authorization": f"Bearer {tokens.issue('unit', 'operator')}"}
    r = http.post("/v1/tasks", content=b"{not json", headers={**auth,
                                                              "content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = http.post("/v1/tasks", json={"kind": "echo", "priority": "high"}, headers=auth)
    assert r.status_code == 422 and "body.priority" in r.json()["detail"]
    assert r.json()["errors"][0]["loc"] == "body.priority"
    r = http.post("/v1/tasks", json={"kind": "echo", "colour": "red"}, headers=auth)
    assert r.status_code == 422 and "colour" in r.json()["detail"]
    r = http.post("/v1/tasks", json={"kind": "echo", "args": {"x": "y" * 5000}}, headers=auth)
    assert r.status_code == 413 and "4096" in r.json()["detail"]

    def chunks() -> Any:  # no Content-Length: counted as it streams in
        for _ in range(10):
            yield b" " * 1000

    r = http.post("/v1/tasks", content=chunks(), headers={**auth,
                                                          "content-type": "application/json"})
    assert r.status_code == 413
    r = http.post("/v1/tasks", json={"kind": "ehco"}, headers=auth)
    assert r.status_code == 422 and "did you mean 'echo'" in r.json()["detail"]
    r = http.get("/v1/nothing", headers=auth)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    for r in (http.get("/v1/tasks", params={"limit": "many"}, headers=auth),
              http.get("/v1/tasks", params={"state": "sleeping"}, headers=auth)):
        assert r.status_code == 422, r.text
    assert "x-request-id" in r.headers
    r = http.get("/v1/me", headers={**auth, "X-Request-ID": "abc-123"})
    assert r.json()["role"] == "operator" and r.headers["x-request-id"] == "abc-123"
