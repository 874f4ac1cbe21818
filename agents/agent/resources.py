"""Resource requests: resolve ``gpu: auto`` and fail fast on what no node can give.

Pure functions over a list of node resource dicts (``ray.nodes()``'s
``Resources`` of alive nodes), so they are tested without a cluster.  Ray
itself would leave an infeasible actor PENDING forever; raymas refuses it up
front with the resource, the amount asked and the most any node offers.

Example:
    >>> nodes = [{"CPU": 2.0, "memory": 8e9}]
    >>> request_for({"num_cpus": 1, "num_gpus": "auto"}, nodes)["num_gpus"]
    0.0
    >>> check_feasible("a1", {"num_gpus": 1}, nodes)
    Traceback (most recent call last):
    ...
    agents.errors.ResourceUnavailableError: agent 'a1' asks for GPU=1 but no alive node \
of the cluster has that much (the largest node offers 0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.errors import ResourceUnavailableError

__all__ = ["check_feasible", "node_resources", "request_for", "total"]

_RAY_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def node_resources() -> list[dict[str, float]]:
    """Total resources of each alive node of the connected Ray cluster."""
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


def total(nodes: Sequence[Mapping[str, float]], resource: str) -> float:
    return float(sum(n.get(resource, 0.0) for n in nodes))


def request_for(spec: Mapping[str, Any], nodes: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """Ray actor options from an agent spec; ``num_gpus: auto`` → ``1`` only if a node has a GPU."""
    gpus = spec.get("num_gpus", 0.0)
    if gpus == "auto":
        gpus = 1.0 if total(nodes, "GPU") > 0 else 0.0
    opts: dict[str, Any] = {
        "num_cpus": float(spec.get("num_cpus", 0.0) or 0.0),
        "num_gpus": float(gpus or 0.0),
    }
    if spec.get("memory"):
        opts["memory"] = int(spec["memory"])
    if spec.get("resources"):
        opts["resources"] = {k: float(v) for k, v in spec["resources"].items()}
    return opts


def _as_ray(request: Mapping[str, Any]) -> dict[str, float]:
    wanted = {_RAY_NAMES[k]: float(v) for k, v in request.items() if k in _RAY_NAMES and v}
    wanted.update({k: float(v) for k, v in (request.get("resources") or {}).items() if v})
    return wanted


def check_feasible(
    agent_id: str, request: Mapping[str, Any], nodes: Sequence[Mapping[str, float]]
) -> None:
    """Raise :class:`ResourceUnavailableError` unless one alive node can hold ``request``.

    Each resource is first checked on its own (so the error names the one that
    is missing); then the whole request must fit on a single node, as Ray
    places an actor on one node.
    """
    wanted = _as_ray(request)
    for name, amount in wanted.items():
        most = max((n.get(name, 0.0) for n in nodes), default=0.0)
        if most < amount:
            raise ResourceUnavailableError(agent_id, name, amount, most)
    if wanted and not any(all(n.get(k, 0.0) >= v for k, v in wanted.items()) for n in nodes):
        name, amount = next(iter(wanted.items()))
        raise ResourceUnavailableError(
            agent_id, "+".join(f"{k}={v:g}" for k, v in wanted.items()), amount, 0.0
        )
