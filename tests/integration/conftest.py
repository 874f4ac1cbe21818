"""One Ray for the whole integration session: a local multi-node-capable cluster.

The head node has fake GPUs (``num_gpus=2``) so GPU placement is tested for
real on a CPU-only machine; tests that need a second node add one to this same
cluster and remove it again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HEARTBEAT = {"heartbeat_interval_s": 0.5}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 4, "num_gpus": 2, "resources": {"head": 1.0},
        "include_dashboard": False})
    ray.init(address=cluster.address, namespace="raymas-test", log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def make_supervisor(ray_cluster: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start Supervisors with unique names and their own ledger; stop them after the test."""
    from agents.supervisor.client import SupervisorClient, start_supervisor

    made: list[SupervisorClient] = []

    def make(runtime_env: dict[str, Any] | None = None, **settings: Any) -> SupervisorClient:
        name = f"sup-{uuid.uuid4().hex[:8]}"
        full = {"name": name, "namespace": "raymas-test", "bus_name": f"bus-{name}",
                "ledger_url": f"sqlite:///{tmp_path}/{name}.db", "heartbeat_timeout_s": 2.0,
                "bid_timeout_s": 2.0, **settings}
        client = SupervisorClient(start_supervisor(full, runtime_env))
        made.append(client)
        return client

    yield make
    for client in made:
        try:
            client.shutdown()
        except Exception:  # the test may have killed it on purpose
            pass


def wait_until(predicate: Callable[[], Any], what: str | Callable[[], str],
               timeout: float = 60.0) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` (or its result) at ``timeout``.

    Polling a condition, not sleeping a fixed time: the test goes on as soon as
    the system has done what is awaited.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.05)


def agent_actor(info: dict[str, Any], namespace: str = "raymas-test") -> Any:
    """The actor handle of an agent described by ``spawn``."""
    import ray

    return ray.get_actor(f"raymas-agent:{info['agent_id']}", namespace=namespace)


def specs(prefix: str, n: int, **kw: Any) -> list[dict[str, Any]]:
    return [{"agent_id": f"{prefix}-{uuid.uuid4().hex[:4]}-{i}", **HEARTBEAT, **kw}
            for i in range(n)]
