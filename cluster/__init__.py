"""Connecting to Ray, resources and GPUs, the config, the main job and the CLI."""

import logging

from cluster.config import RaymasConfig, load_config, parse_config

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["RaymasConfig", "load_config", "parse_config"]
