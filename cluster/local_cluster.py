"""A Ray cluster of real ``ray start`` processes on this machine: a head and workers.

What an operator runs by hand on several machines, run here on one: every
node is a ``ray start --block`` process with its own ports (GCS, dashboard,
dashboard agent, metrics export, workers), all on loopback, with Ray's token
authentication on (``RAY_AUTH_MODE=token``, the token in a file passed as
``RAY_AUTH_TOKEN_PATH``).  :meth:`LocalCluster.env` is the environment a
driver, ``raymas`` command or job client needs to reach it.  Tests and
benches use it to deploy raymas the documented way; stopping a worker with
``crash=True`` kills its whole process tree, as a lost machine would.

Example:
    >>> from pathlib import Path
    >>> c = LocalCluster(Path("/tmp/rc"), base_port=21000)
    >>> c.address, c.dashboard_url
    ('127.0.0.1:21000', 'http://127.0.0.1:21001')
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LocalCluster", "Node"]

logger = logging.getLogger(__name__)

#: ports each node takes from its block: 0 GCS (head), 1 dashboard (head), 2 client
#: server (head), 3 dashboard agent HTTP, 4 dashboard agent gRPC, 5 metrics export,
#: 6 runtime-env agent, 7 node manager, 8 object manager; workers use 100..199
_BLOCK = 200


@dataclass
class Node:
    """One ``ray start`` process and what it was started with."""

    name: str
    head: bool
    ports: dict[str, int]
    resources: dict[str, float]
    process: subprocess.Popen[bytes]
    log: Path
    node_id: str | None = None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class LocalCluster:
    """``ray start`` nodes on loopback, each on its own block of ports from ``base_port``.

    Args:
        root: A directory for the token file, Ray's temp dir and the nodes' logs.
            Keep it short: Ray's sockets live under it (Unix socket paths are
            limited to about 100 characters).
        base_port: The first port of the head's block; node *k* uses
            ``base_port + k * 200`` onwards.  Keep the blocks outside Ray's
            default worker ports (10002-19999) and away from services (6379).
        token: Ray's auth token; a fresh random one by default.
        object_store_bytes: Each node's object store (small: many nodes, one machine).
    """

    def __init__(self, root: Path, *, base_port: int = 20400, token: str | None = None,
                 object_store_bytes: int = 200 * 1024 * 1024, host: str = "127.0.0.1") -> None:
        self.root = Path(root)
        self.base_port = base_port
        self.host = host
        self.object_store_bytes = object_store_bytes
        self._token = token
        self.nodes: list[Node] = []

    # ---- where it is and how to reach it --------------------------------------------
    @property
    def address(self) -> str:
        """The GCS address other nodes and drivers join (``ray start --address``)."""
        return f"{self.host}:{self.base_port}"

    @property
    def dashboard_url(self) -> str:
        """The dashboard, the Jobs API and the state API."""
        return f"http://{self.host}:{self.base_port + 1}"

    @property
    def token_path(self) -> Path:
        return self.root / "auth_token"

    @property
    def temp_dir(self) -> Path:
        return self.root / "ray"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a process that talks to this cluster (token auth on)."""
        env = dict(os.environ if base is None else base)
        for key in ("RAY_AUTH_TOKEN", "RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
            env.pop(key, None)
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_path),
                   RAY_ADDRESS=self.address)
        # `python` in a job's entrypoint and the nodes' workers: this interpreter's
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
        return env

    def headers(self) -> dict[str, str]:
        """The HTTP header the dashboard, Jobs and state APIs ask for."""
        return {"Authorization": f"Bearer {self.token_path.read_text().strip()}"}

    # ---- nodes -----------------------------------------------------------------------
    def start_head(self, *, num_cpus: float = 2, resources: Mapping[str, float] | None = None,
                   timeout_s: float = 60.0) -> Node:
        """Start the head (GCS, dashboard, Jobs API) and wait until it is up."""
        if self.nodes:
            raise RuntimeError("the head is already started")
        self.root.mkdir(parents=True, exist_ok=True)
        self.token_path.write_text(self._token or secrets.token_hex(32))
        self.token_path.chmod(0o600)
        return self._start("head", True, num_cpus, resources, timeout_s)

    def add_worker(self, name: str | None = None, *, num_cpus: float = 2,
                   resources: Mapping[str, float] | None = None,
                   timeout_s: float = 60.0) -> Node:
        """Start a worker node joining the head and wait until the cluster lists it alive."""
        if not self.nodes:
            raise RuntimeError("start the head first")
        return self._start(name or f"worker{len(self.nodes)}", False, num_cpus, resources,
                           timeout_s)

    def _ports(self, index: int) -> dict[str, int]:
        b = self.base_port + index * _BLOCK
        names = ("gcs", "dashboard", "client", "agent_http", "agent_grpc", "metrics",
                 "runtime_env", "node_manager", "object_manager")
        ports = {n: b + i for i, n in enumerate(names)}
        ports.update(min_worker=b + 100, max_worker=b + 199)
        return ports

    def _start(self, name: str, head: bool, num_cpus: float,
               resources: Mapping[str, float] | None, timeout_s: float) -> Node:
        ports = self._ports(len(self.nodes))
        res = dict(resources or {})
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               f"--node-ip-address={self.host}", f"--num-cpus={num_cpus}",
               f"--resources={json.dumps(res)}",
               f"--object-store-memory={self.object_store_bytes}",
               f"--dashboard-agent-listen-port={ports['agent_http']}",
               f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
               f"--metrics-export-port={ports['metrics']}",
               f"--runtime-env-agent-port={ports['runtime_env']}",
               f"--node-manager-port={ports['node_manager']}",
               f"--object-manager-port={ports['object_manager']}",
               f"--min-worker-port={ports['min_worker']}",
               f"--max-worker-port={ports['max_worker']}",
               "--disable-usage-stats"]
        if head:
            cmd += ["--head", f"--port={ports['gcs']}", f"--dashboard-port={ports['dashboard']}",
                    f"--dashboard-host={self.host}", f"--ray-client-server-port={ports['client']}",
                    f"--temp-dir={self.temp_dir}"]
        else:
            cmd += [f"--address={self.address}"]
        log = self.root / f"{name}.log"
        env = self.env()
        env.pop("RAY_ADDRESS")  # `ray start` reads it as the cluster to join
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        node = Node(name, head, ports, res, proc, log)
        self.nodes.append(node)
        logger.info("starting %s node %s: %s", "head" if head else "worker", name, " ".join(cmd))
        known = {n.node_id for n in self.nodes if n.node_id}
        deadline = time.monotonic() + timeout_s
        while True:
            if not node.alive:
                raise RuntimeError(f"ray start of node {name} exited with "
                                   f"{node.process.returncode}: see {log}")
            fresh = [n for n in self._alive_nodes() if n["node_id"] not in known
                     and bool(n.get("is_head_node")) == head]
            if fresh:
                node.node_id = fresh[0]["node_id"]
                return node
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {name} not alive after {timeout_s} s: see {log}")
            time.sleep(0.2)

    def _alive_nodes(self) -> list[dict[str, Any]]:
        try:
            return [n for n in self.list_nodes() if n.get("state") == "ALIVE"]
        except Exception:  # the dashboard is not up yet
            return []

    def list_nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes, from the state API (``ray list nodes``)."""
        import httpx

        r = httpx.get(f"{self.dashboard_url}/api/v0/nodes", params={"limit": 1000, "detail": 1},
                      headers=self.headers(), timeout=10.0)
        r.raise_for_status()
        return list(r.json()["data"]["result"]["result"])

    def stop_node(self, node: Node, *, crash: bool = False, timeout_s: float = 30.0) -> None:
        """Stop one node: gracefully (SIGTERM, Ray cleans up), or ``crash`` it (SIGKILL, tree)."""
        import psutil

        if not node.alive:
            return
        try:
            tree = psutil.Process(node.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        if crash:
            for p in [*tree, psutil.Process(node.process.pid)]:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        else:
            node.process.send_signal(signal.SIGTERM)
        try:
            node.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
        # what the node started and did not stop with it (actor workers) is killed
        _, alive = psutil.wait_procs(tree, timeout=5.0)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass

    def shutdown(self) -> None:
        """Stop every node, workers first; kill what does not stop."""
        for node in reversed(self.nodes):
            try:
                self.stop_node(node)
            except Exception:  # teardown goes on: the next node still has to stop
                logger.exception("stopping node %s", node.name)
                self.stop_node(node, crash=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
