"""Connecting to Ray, resources and GPUs, the config, the main job and the CLI."""

from cluster.config import RaymasConfig, load_config, parse_config

__all__ = ["RaymasConfig", "load_config", "parse_config"]
