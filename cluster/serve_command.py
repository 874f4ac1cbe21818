"""What ``raymas serve`` does: the Supervisor and agents up (or attached to), the HTTP API
deployed on Ray Serve, then stay up until interrupted."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

from cluster.config import RaymasConfig

__all__ = ["ensure_key_file", "run_serve", "start_system"]


def start_system(cfg: RaymasConfig) -> tuple[Any, Any, int]:
    """Connect to Ray, start or attach to the Supervisor, spawn the configured agents that
    are not running; ``(connection info, client, agents spawned)``."""
    from agents.supervisor.client import SupervisorClient, start_supervisor
    from cluster.connect import connect

    info = connect(cfg.cluster, cfg.logging)
    client = SupervisorClient(start_supervisor(cfg.supervisor_settings()))
    running = {a["agent_id"] for a in client.list_agents() if a.get("alive")}
    missing = [s.to_dict() for s in cfg.agent_specs() if s.agent_id not in running]
    if missing:
        client.spawn(missing)
    pools = {p["name"] for p in client.pools_status()}
    for pool in cfg.pools():
        if pool["template"]["agent_id"] not in pools:
            client.add_pool(**pool)
    return info, client, len(missing)


def ensure_key_file(cfg: RaymasConfig) -> str | None:
    """Create ``serve.auth.key_file`` with a fresh key if it names a file that does not
    exist yet (a first ``raymas serve`` on a laptop); the path made, or None."""
    from pathlib import Path

    from cluster.api.auth import generate_key

    auth = cfg.serve.auth
    if not auth.enabled or not auth.key_file or Path(auth.key_file).exists():
        return None
    path = Path(auth.key_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(generate_key(auth.algorithm))
    return str(path)


def run_serve(cfg: RaymasConfig, *, host: str | None = None, port: int | None = None,
              as_json: bool = False, detach: bool = False,
              until: threading.Event | None = None) -> int:
    """Deploy the API and block until SIGINT/SIGTERM (or ``until`` is set), then take the
    API down (and, on an embedded Ray, everything).  With ``detach`` (a cluster only)
    leave it running on the cluster and return at once."""
    import ray

    from cluster.api.serve import deploy, undeploy

    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if updates:
        cfg = cfg.model_copy(update={"serve": cfg.serve.model_copy(update=updates)})
    if cfg.serve.throughput_optimized:
        # read by Serve's processes when they start: set before Ray starts them
        os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
    if detach and not cfg.cluster.address:
        from messaging.errors import ConfigError

        raise ConfigError("raymas serve", [("--detach", "needs a cluster to stay on "
                                            "(--address or cluster.address): an embedded "
                                            "Ray ends with this process")])
    made = ensure_key_file(cfg)
    if made:
        print(f"raymas serve: made a new {cfg.serve.auth.algorithm} signing key in {made} "
              "(mode 600); `raymas token` signs with it", file=sys.stderr)
    ctx = cfg.api_context()  # reads and checks the signing key: a bad one stops here
    info, client, spawned = start_system(cfg)
    url = deploy(ctx)
    summary = {"url": url, "docs": f"{url}/docs", "ui": f"{url}/ui/", "app": ctx.serve.app_name,
               "ray": info.address, "embedded": info.embedded,
               "dashboard": info.dashboard_url, "agents_spawned": spawned,
               "throughput_optimized": os.environ.get("RAY_SERVE_THROUGHPUT_OPTIMIZED") == "1"}
    print(json.dumps(summary) if as_json else
          f"raymas API at {url} (docs {url}/docs, operator page {url}/ui/); "
          f"Ray at {info.address}; " + ("left running" if detach else "Ctrl-C stops"),
          flush=True)
    if detach:
        return 0
    stop = until or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        print("raymas serve: stopping", file=sys.stderr, flush=True)
        undeploy(ctx)
        if info.embedded:
            client.shutdown()
            ray.shutdown()
    return 0
