"""Shared test helpers: real services on loopback, required in CI."""

from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "postgres": ("127.0.0.1", 5432),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "mqtt": ("127.0.0.1", 1883),
    "nats": ("127.0.0.1", 4222),
}


def require_service(name: str) -> tuple[str, int]:
    """Skip when the service is down, or fail when RAYMAS_REQUIRE_SERVICES=1 (CI)."""
    host, port = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return host, port
    except OSError as exc:
        message = f"{name} is not reachable on {host}:{port}: {exc}"
        if os.environ.get("RAYMAS_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
