"""A real Prometheus for metric tests: Debian's ``prometheus``, on loopback, scraping Ray.

It reads the service-discovery file Ray's head writes (every node's metrics
export port), scrapes every second and answers PromQL through its HTTP API.
Installed with ``apt-get`` by the test set-up when missing (:mod:`tests.debian`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.debian import ensure_programs

PROMETHEUS = Path("/usr/bin/prometheus")


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector: ``[{"metric": {...}, "value": [ts, "v"]}]``."""
        import httpx

        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10.0)
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        """The single value of a query that aggregates to one series; None when empty."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def names(self, prefix: str) -> set[str]:
        """Every metric name the scrape found that starts with ``prefix``."""
        import httpx

        r = httpx.get(f"{self.url}/api/v1/label/__name__/values", timeout=10.0)
        r.raise_for_status()
        return {n for n in r.json()["data"] if n.startswith(prefix)}


@contextmanager
def prometheus(discovery_file: Path, root: Path, port: int) -> Iterator[Prometheus]:
    """Run Prometheus scraping the targets in Ray's ``discovery_file``; stop it after."""
    ensure_programs((PROMETHEUS,), ("prometheus",))
    root.mkdir(parents=True, exist_ok=True)
    config = root / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "ray",
                            "file_sd_configs": [{"files": [str(discovery_file)],
                                                 "refresh_interval": "1s"}]}],
    }))
    log = root / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:
        _ready(prom)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(prom: Prometheus, timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        assert prom.process.poll() is None, f"prometheus exited: {prom.log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{prom.url}/-/ready", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"prometheus not ready: {prom.log.read_text()[-2000:]}"
        time.sleep(0.2)


def dashboard_metrics(path: Path) -> set[str]:
    """Every metric name the Grafana dashboard's panels query (``ray_raymas_...``)."""
    import json
    import re

    names: set[str] = set()
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel.get("targets", []):
            names |= set(re.findall(r"\bray_raymas_[a-z0-9_]+", target["expr"]))
    return names
