"""The HTTP API served for real: Ray Serve in the session's Ray, a Supervisor with agents.

``api`` is session-scoped (Serve keeps one proxy per cluster): tests share one
deployed app, each with its own task ids.  Tokens are signed with the app's own
HS256 secret, made here, never written in code.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import HEARTBEAT, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiHandle:
    url: str
    client: Any  # SupervisorClient over the API's Supervisor
    ctx: Any  # ApiContext
    tokens: Any  # TokenService with the app's key
    agent_ids: list[str]

    def token(self, role: str, subject: str | None = None, ttl_s: float = 3600) -> str:
        return str(self.tokens.issue(subject or f"test-{role}", role, ttl_s))

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def http(self) -> Any:
        import httpx

        return httpx.Client(base_url=self.url, timeout=60.0)


@pytest.fixture(scope="session")
def api(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHandle]:
    import httpx
    from ray import serve

    from agents.supervisor.client import SupervisorClient, start_supervisor
    from cluster.api.auth import TokenService, generate_key
    from cluster.api.backend import ApiContext
    from cluster.api.serve import deploy, undeploy
    from cluster.api.settings import ServeSection

    root: Path = tmp_path_factory.mktemp("api")
    name = f"api-{uuid.uuid4().hex[:6]}"
    ledger = f"sqlite:///{root}/ledger.db"
    client = SupervisorClient(start_supervisor({
        "name": name, "namespace": "raymas-test", "bus_name": f"bus-{name}",
        "ledger_url": ledger, "heartbeat_timeout_s": 5.0, "bid_timeout_s": 2.0}))
    agents = [f"{name}-agent-{i}" for i in range(2)]
    client.spawn([{"agent_id": a, "capabilities": ["execution"], "max_tasks": 4,
                   "valuations": {"gpu-slot": 1.0 + i}, **HEARTBEAT}
                  for i, a in enumerate(agents)])
    settings = ServeSection.model_validate({
        "port": free_port(), "app_name": name, "model_store": str(root / "models"),
        "replicas": {"min": 1, "max": 1}, "max_body_bytes": 64 * 1024, "wait_max_s": 120,
        "auth": {"key": generate_key("HS256")}})
    ctx = ApiContext(serve=settings, supervisor_name=name, namespace="raymas-test",
                     ledger_url=ledger, bus_name=f"bus-{name}",
                     brokers={"redis": ("redis", {"url": "redis://127.0.0.1:6379/0"})})
    url = deploy(ctx)

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, f"the API at {url} never answered /healthz", timeout=120)
    handle = ApiHandle(url, client, ctx, TokenService.from_settings(settings.auth), agents)
    try:
        yield handle
    finally:
        try:
            undeploy(ctx)
            serve.shutdown()
        finally:
            client.shutdown()
