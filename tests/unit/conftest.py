"""Unit tests never start Ray: any ray.init here is a bug in the test or the code."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("ray.init called in a unit test")

    monkeypatch.setattr(ray, "init", refuse)
