"""Connecting to Ray: an embedded local Ray, or an existing cluster.

With no ``cluster.address`` (and no ``RAY_ADDRESS``, which the config loader
folds in) Ray is started in this process with a bounded ``num_cpus`` and the
dashboard when ``ray[default]`` is installed; otherwise the cluster at that
address is joined.  Either way the raymas namespace is used, so named actors
created here are found by ``ray.get_actor`` from any later driver or job.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

from cluster.config import ClusterSection, LoggingSection

__all__ = ["ConnectionInfo", "connect", "dashboard_available", "join_cluster"]

logger = logging.getLogger(__name__)


@dataclass
class ConnectionInfo:
    address: str
    embedded: bool
    namespace: str
    dashboard_url: str | None
    resources: dict[str, float]


def dashboard_available() -> bool:
    """Whether the dashboard's dependencies (``ray[default]``) are installed."""
    return importlib.util.find_spec("aiohttp") is not None and (
        importlib.util.find_spec("opencensus") is not None
        or importlib.util.find_spec("prometheus_client") is not None
    )


def connect(section: ClusterSection, logs: LoggingSection | None = None) -> ConnectionInfo:
    """Start or join Ray as ``section`` says; reuse a Ray this process already started.

    With ``logs.format == "json"`` the job's processes (this driver, and the
    Supervisor, agents and bridges it starts) log one JSON object per line.
    """
    import ray

    if ray.is_initialized():
        ctx: Any = ray.get_runtime_context()
        return ConnectionInfo(ctx.gcs_address, False, ctx.namespace or section.namespace, None,
                              dict(ray.cluster_resources()))
    kwargs: dict[str, Any] = {"namespace": section.namespace, "log_to_driver": True,
                              "configure_logging": False}
    if logs is not None and logs.format == "json":
        kwargs["logging_config"] = ray.LoggingConfig(
            encoding="JSON", log_level=logs.level, additional_log_standard_attrs=["name"])
    if section.address:
        ctx = ray.init(address=section.address, **kwargs)
        embedded = False
    else:
        dash = section.dashboard and dashboard_available()
        # address="local": always a new Ray, even where a `ray start` cluster is recorded
        # on this machine (without it ray.init joins that one and refuses num_cpus)
        ctx = ray.init(address="local", num_cpus=section.num_cpus, num_gpus=section.num_gpus,
                       object_store_memory=section.object_store_memory,
                       include_dashboard=dash, **kwargs)
        embedded = True
    url = getattr(ctx, "dashboard_url", None) or None
    info = ConnectionInfo(ctx.address_info["gcs_address"], embedded, section.namespace,
                          f"http://{url}" if url else None, dict(ray.cluster_resources()))
    logger.info("connected to Ray at %s (embedded=%s)", info.address, embedded)
    return info


def join_cluster(address: str, namespace: str) -> str | None:
    """Join the running cluster at ``address`` for an inspecting command (status, agents,
    trace); reuse a Ray this process already has.  None when joined, else the error line
    to print."""
    import ray

    if ray.is_initialized():
        return None
    try:
        ray.init(address=address, namespace=namespace, log_to_driver=False,
                 configure_logging=False)
    except ConnectionError as exc:
        return f"raymas: no Ray cluster at {address!r}: {exc}"
    return None
