"""The Supervisor's identity key survives a restart of its actor, and rotates."""

from __future__ import annotations

import os
from typing import Any

import pytest
import ray

from messaging.crypto import TokenVerifier
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration


def _pid(handle: Any, timeout: float = 2.0) -> int | None:
    """The Supervisor process's id, or None while it does not answer."""
    try:
        return int(ray.get(handle.__ray_call__.remote(lambda self: os.getpid()),
                           timeout=timeout))
    except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
        return None


def test_identity_key_survives_a_restart_and_rotates(make_supervisor: Any) -> None:
    sup = make_supervisor(bus_name=None)
    pem = sup.public_key()
    token = sup.issue_token("outside-1", ["read"])
    before = _pid(sup.handle)
    assert before is not None

    ray.kill(sup.handle, no_restart=False)  # Ray restarts it; it reads the key back
    wait_until(lambda: _pid(sup.handle) not in (None, before),
               "the Supervisor did not come back after the kill")
    assert sup.public_key() == pem
    claims = ray.get(sup.handle.verify_token.remote(token, "outside-1"))
    assert claims["caps"] == ["read"]

    old_kid = next(iter(sup.public_keys()))
    new_kid = sup.rotate_identity_key()
    assert new_kid != old_kid and sup.public_key() != pem
    assert ray.get(sup.handle.verify_token.remote(token, "outside-1"))["sub"] == "outside-1"
    fresh = sup.issue_token("outside-2")
    assert ray.get(sup.handle.verify_token.remote(fresh))["sub"] == "outside-2"
    keys = sup.public_keys()
    assert list(keys) == [new_kid, old_kid] and keys[old_kid] == pem
    outside = TokenVerifier.from_pems(keys)  # what a bridge or the HTTP API would hold
    assert outside.verify(token)["sub"] == "outside-1"
    assert outside.verify(fresh)["sub"] == "outside-2"
