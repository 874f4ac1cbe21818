"""HTTP API figures: authenticated status reads and submits through Ray Serve, against a
bare Ray Serve FastAPI deployment that returns a constant, under the same Serve settings
and measured in the same run; and the cost of verifying a token.

``http_status_read_*`` reads a finished task: its outcome never changes, so the API
replica answers from its cache of ended tasks.  ``http_status_read_unended_*`` reads a
task that has not ended (queued for a capability no agent has), so every request goes
on to the Supervisor actor: the figure for polling a running task.

    python bench/http.py [--quick] [--only tokens,read,submit]

The load generator (aiohttp, asyncio, on loopback) keeps N requests in flight for a
fixed time and records each latency.  The API runs as ``raymas serve`` deploys it
(one replica here, like the bare app), with a Supervisor and two agents behind it;
the full run measures it with Serve's throughput-optimised settings (what
``raymas serve`` turns on) and with Serve's defaults, each in a fresh Ray.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

from bench._common import emit, log, selected_parts, start

BENCH = "http"
PARTS = ("tokens", "read", "submit")


def bench_tokens(quick: bool) -> None:
    """Microseconds per verify(): cached (the API's path) against verifying every time."""
    from cluster.api.auth import AuthSettings, TokenService, generate_key

    for alg in ("HS256", "EdDSA"):
        settings = AuthSettings(algorithm=alg, key=generate_key(alg))  # type: ignore[arg-type]
        cached = TokenService.from_settings(settings)
        uncached = TokenService.from_settings(settings.model_copy(update={"cache_size": 0}))
        token = cached.issue("bench", "viewer")
        n_fast, n_slow = (5_000, 500) if quick else (50_000, 5_000)

        def per_call(svc: TokenService, n: int, token: str = token) -> float:
            svc.verify(token)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(n):
                    svc.verify(token)
                best = min(best, (time.perf_counter() - t0) / n)
            return best * 1e6

        slow = per_call(uncached, n_slow)
        fast = per_call(cached, n_fast)
        emit(BENCH, f"token_verify_us_{alg.lower()}", fast, "us", baseline=slow,
             baseline_name="verify without the cache", target=100.0, better="lower")


async def _load(url: str, method: str, make: Any, headers: dict[str, str], clients: int,
                seconds: float) -> dict[str, float]:
    """``clients`` loops each sending one request after another for ``seconds`` (aiohttp:
    a light client, so the generator takes as little as it can of the two cores)."""
    import aiohttp

    lat: list[float] = []
    errors = 0
    conn = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(base_url=url, headers=headers, connector=conn,
                                     timeout=aiohttp.ClientTimeout(total=30)) as client:

        async def call(path: str, body: Any) -> int:
            async with client.request(method, path, json=body) as r:
                await r.read()
                return r.status

        for _ in range(2 * clients):  # warm the connections
            await call(*make("warm"))
        stop = time.perf_counter() + seconds

        async def one(worker: int) -> None:
            nonlocal errors
            i = 0
            while time.perf_counter() < stop:
                path, body = make(f"{worker}-{i}")
                t0 = time.perf_counter()
                status = await call(path, body)
                lat.append(time.perf_counter() - t0)
                errors += status >= 400
                i += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(w) for w in range(clients)))
        wall = time.perf_counter() - t0
    lat.sort()
    return {"rps": len(lat) / wall, "p50_ms": 1e3 * statistics.median(lat),
            "p99_ms": 1e3 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "n": len(lat), "errors": errors}


def _bare_app() -> Any:
    from fastapi import FastAPI
    from ray import serve

    app = FastAPI()

    @app.get("/v1/tasks/{task_id}")
    async def read(task_id: str) -> dict[str, Any]:
        return {"task_id": task_id, "state": "done", "value": 1}

    @app.post("/v1/tasks", status_code=202)
    async def submit() -> dict[str, Any]:
        return {"task_id": "t", "state": "submitted"}

    @serve.deployment(name="bare", num_replicas=1, max_ongoing_requests=64,
                      ray_actor_options={"num_cpus": 0})
    @serve.ingress(app)
    class Bare:
        pass

    return Bare.bind()  # type: ignore[attr-defined]


def run_serve_setting(setting: str, quick: bool, parts: list[str]) -> None:
    import httpx
    import ray
    from ray import serve

    from agents.supervisor.client import SupervisorClient, start_supervisor
    from cluster.api.auth import TokenService, generate_key
    from cluster.api.backend import ApiContext
    from cluster.api.serve import deploy
    from cluster.api.settings import ServeSection

    if setting == "throughput_optimized":
        os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    else:
        os.environ.pop("RAY_SERVE_THROUGHPUT_OPTIMIZED", None)
    tmp = Path(tempfile.mkdtemp(prefix="raymas-bench-http-"))
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="bench-http",
             log_to_driver=False, configure_logging=False)
    try:
        client = SupervisorClient(start_supervisor({
            "name": "bench-sup", "namespace": "bench-http", "bus_name": "bench-bus",
            "ledger_url": f"sqlite:///{tmp}/ledger.db", "heartbeat_interval_s": 1.0,
            "heartbeat_timeout_s": 10.0}))
        client.spawn([{"agent_id": f"bench-{i}", "capabilities": ["execution"],
                       "max_tasks": 64} for i in range(2)])
        port = 18_000 + os.getpid() % 1000
        settings = ServeSection.model_validate({
            "port": port, "app_name": "api", "replicas": {"min": 1, "max": 1},
            "auth": {"key": generate_key("HS256")}})
        ctx = ApiContext(serve=settings, supervisor_name="bench-sup", namespace="bench-http",
                         ledger_url=f"sqlite:///{tmp}/ledger.db", bus_name="bench-bus")
        url = deploy(ctx)
        serve.run(_bare_app(), name="bare", route_prefix="/bare")
        token = TokenService.from_settings(settings.auth).issue("bench", "operator", 3600)
        auth = {"Authorization": f"Bearer {token}"}
        done = client.submit([{"task_id": "bench-read", "kind": "echo", "args": {"value": 1},
                               "required_capabilities": ["execution"]}])[0]
        client.wait([done], 30)
        assert httpx.get(f"{url}/v1/tasks/{done}", headers=auth).json()["state"] == "done"
        live = client.submit([{"task_id": "bench-queued", "kind": "echo",
                               "required_capabilities": ["nobody-has-this"]}])[0]
        seconds = 4.0 if quick else 12.0
        run = uuid.uuid4().hex[:6]
        shapes = {
            "read": ("GET", lambda _: (f"/v1/tasks/{done}", None),
                     lambda _: (f"/bare/v1/tasks/{done}", None)),
            # a task that has not ended: every read asks the Supervisor
            "read_live": ("GET", lambda _: (f"/v1/tasks/{live}", None),
                          lambda _: (f"/bare/v1/tasks/{live}", None)),
            "submit": ("POST", lambda i: ("/v1/tasks", {"task_id": f"b-{run}-{i}",
                                                       "kind": "echo", "args": {"value": 1}}),
                       lambda i: ("/bare/v1/tasks", {"task_id": f"b-{i}", "kind": "echo"})),
        }
        for part, (method, api_req, bare_req) in shapes.items():
            if parts and part.split("_")[0] not in parts:
                continue
            name = {"read": "status_read", "read_live": "status_read_unended"}.get(part, part)
            for clients in (1, 16):
                bare = asyncio.run(_load(url, method, bare_req, auth, clients, seconds))
                ours = asyncio.run(_load(url, method, api_req, auth, clients, seconds))
                log(f"{setting} {name} x{clients}: api {ours} bare {bare}")
                extra = {"serve": setting, "clients": clients, "requests": ours["n"],
                         "errors": ours["errors"]}
                target = {"target": 0.8, "better": "higher", "target_on": "ratio"} \
                    if (name, clients) == ("status_read", 16) else {}
                emit(BENCH, f"http_{name}_rps_{clients}", ours["rps"], "req/s",
                     baseline=bare["rps"], baseline_name="bare Ray Serve FastAPI constant",
                     **extra, **target)
                for q in ("p50_ms", "p99_ms"):
                    tq = {"target": 100.0, "better": "lower"} \
                        if (name, clients, q) == ("status_read", 16, "p99_ms") else {}
                    emit(BENCH, f"http_{name}_{q}_{clients}", ours[q], "ms",
                         baseline=bare[q], baseline_name="bare Ray Serve FastAPI constant",
                         **extra, **tq)
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


def main() -> None:
    quick = start(__doc__ or "", PARTS)
    parts = selected_parts()
    if not parts or "tokens" in parts:
        bench_tokens(quick)
    if not parts or {"read", "submit"} & set(parts):
        settings = ["throughput_optimized"] if quick else ["throughput_optimized", "default"]
        for setting in settings:
            run_serve_setting(setting, quick, parts)


if __name__ == "__main__":
    main()
