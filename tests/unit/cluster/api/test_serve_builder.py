"""``cluster.api.serve:app_from_args``: the builder a Serve config file (or a RayService) names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cluster.api.auth import generate_key
from cluster.api.serve import app_from_args
from messaging.errors import ConfigError


def _config(tmp_path: Path, key: bool = True) -> Path:
    if key:
        (tmp_path / "api.key").write_text(generate_key("HS256"))
    path = tmp_path / "raymas.yaml"
    path.write_text(yaml.safe_dump({
        "agents": [{"id": "a"}],
        "serve": {"port": 8123, "replicas": {"min": 2, "max": 2},
                  "auth": {"key_file": str(tmp_path / "api.key")}},
    }))
    return path


def test_builds_the_api_application_from_the_config_file_without_starting_ray(
        tmp_path: Path) -> None:
    import ray
    from ray.serve import Application

    was_up = ray.is_initialized()  # the full suite's integration tests may have started one
    app = app_from_args({"config": str(_config(tmp_path))})
    assert isinstance(app, Application)
    assert ray.is_initialized() == was_up


def test_a_config_without_its_signing_key_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key_file"):
        app_from_args({"config": str(_config(tmp_path, key=False))})
