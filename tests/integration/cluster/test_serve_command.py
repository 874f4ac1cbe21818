"""``raymas serve`` as a user runs it: its own embedded Ray, HTTPS with a certificate the
test makes, a token from ``raymas token``, a task over HTTP, Ctrl-C (SIGTERM) stops it
all, and ``raymas audit verify`` finds the chain it left intact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.cluster.conftest import free_port
from tests.pki import make_pki

pytestmark = pytest.mark.integration

RAYMAS = str(Path(sys.executable).parent / "raymas")


@pytest.fixture
def own_ray_env() -> Iterator[dict[str, str]]:
    """No RAY_ADDRESS and a fresh RAY_TMPDIR: the command starts a Ray of its own beside
    the session's (which is recorded under /tmp/ray)."""
    tmp = tempfile.mkdtemp(prefix="raymas-serve-", dir="/tmp")  # short: Ray's socket paths
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = tmp
    yield env
    shutil.rmtree(tmp, ignore_errors=True)


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first line the command prints (where it serves), or fail with what it said."""
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline()  # type: ignore
                                                        if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    if not out or not out[0]:
        proc.kill()
        raise AssertionError(f"raymas serve printed nothing in {timeout:g} s; stderr:\n"
                             f"{proc.stderr.read() if proc.stderr else ''}")
    return out[0]


def test_raymas_serve_over_https_stops_on_sigterm_and_leaves_a_verifiable_audit_log(
        tmp_path: Path, own_ray_env: dict[str, str]) -> None:
    import httpx

    pki = make_pki(tmp_path)
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "cluster": {"num_cpus": 1, "dashboard": False},
        "supervisor": {"heartbeat_interval_s": 0.5, "heartbeat_timeout_s": 5.0},
        "ledger": {"url": "sqlite:///state/ledger.db"},
        "agents": [{"id": "worker", "capabilities": ["execution"], "max_tasks": 2}],
        "serve": {"port": port, "replicas": {"min": 1, "max": 1},
                  "tls": {"certfile": pki["server_cert"], "keyfile": pki["server_key"]},
                  "auth": {"algorithm": "EdDSA", "key_file": "state/api.key"}},
    }))
    proc = subprocess.Popen([RAYMAS, "serve", str(config), "--json"], cwd=tmp_path,
                            env=own_ray_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        summary = json.loads(_first_line(proc, 240))
        assert summary["url"] == f"https://127.0.0.1:{port}" and summary["embedded"]
        assert (tmp_path / "state" / "api.key").stat().st_mode & 0o777 == 0o600
        token = subprocess.run([RAYMAS, "token", str(config), "--subject", "ci",
                                "--role", "operator", "--ttl", "10m"], cwd=tmp_path,
                               env=own_ray_env, capture_output=True, text=True, check=True
                               ).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        trusted = ssl.create_default_context(cafile=pki["ca"])
        with httpx.Client(base_url=summary["url"], verify=trusted, timeout=60) as h:
            ready = h.get("/readyz")
            assert ready.status_code == 200, ready.text
            r = h.post("/v1/tasks", json={"kind": "echo", "args": {"value": "over tls"}},
                       headers=auth)
            assert r.status_code == 202, r.text
            done = h.get(f"/v1/tasks/{r.json()['task_id']}", params={"wait": 60},
                         headers=auth).json()
            assert done["state"] == "done" and done["value"] == "over tls"
            assert done["agent_id"] == "worker"
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the CA
            httpx.get(f"{summary['url']}/healthz", timeout=10)
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).raise_for_status()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    leftover = subprocess.run(["pgrep", "-f", own_ray_env["RAY_TMPDIR"]],
                              capture_output=True, text=True).stdout.split()
    assert not leftover, f"Ray processes left running: {leftover}"
    verdict = subprocess.run([RAYMAS, "audit", "verify", str(config)], cwd=tmp_path,
                             env=own_ray_env, capture_output=True, text=True)
    assert verdict.returncode == 0, verdict.stderr
    assert "intact" in verdict.stdout and " 0 records" not in verdict.stdout


def test_raymas_serve_refuses_a_missing_key_before_starting_anything(
        tmp_path: Path, own_ray_env: dict[str, str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "agents": [{"id": "worker"}],
        "serve": {"auth": {"key_env": "RAYMAS_TEST_UNSET_KEY"}}}))
    env = {k: v for k, v in own_ray_env.items() if k != "RAYMAS_TEST_UNSET_KEY"}
    out = subprocess.run([RAYMAS, "serve", str(config)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out
    assert "key_env" in out.stderr and "RAYMAS_TEST_UNSET_KEY" in out.stderr
    assert not list(Path(own_ray_env["RAY_TMPDIR"]).glob("ray/session_*")), \
        "a Ray was started before the key was checked"
