"""The Ray side of one task node: the remote function every node runs as, and its errors.

A :class:`NodeSender` submits a node as the one Ray remote function (two
returns: a small status, then the result) with the node's resources and crash
retries;
:func:`check_resources` rejects requests no node of the cluster could meet;
:func:`as_error` turns what Ray raised for a node into a raymas error.
"""

from __future__ import annotations

import pickle
import struct
import time
from collections.abc import Collection
from typing import Any

import ray
from ray.exceptions import TaskCancelledError

from agents.agent.kinds import resolve_task
from agents.errors import RaymasError, TaskFailedError, UnknownTaskKindError
from agents.execution.attempts import NodeFailedError, call_node
from agents.planning import PlanError, Resources, TaskGraph, TaskNode

__all__ = ["STATUS", "NodeSender", "as_error", "check_resources", "resolvable_kinds"]

#: The status a node's task returns first: attempts, seconds.
STATUS = struct.Struct("<Id")
_RAY_RESOURCE = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def _execute(spec: bytes, *dep_values: Any) -> tuple[bytes, Any]:
    """The one Ray task: run the pickled node ``spec``; return ``(status, result)``.

    The spec and the status (attempts, seconds) travel as ``bytes``, which Ray
    serialises for a fraction of the cost of a tuple of the same fields.
    """
    node_id, kind, args, dep_ids, retries, timeout_s, backoff_s, max_backoff_s = pickle.loads(
        spec)
    try:
        fn = resolve_task(kind)
    except UnknownTaskKindError as exc:
        raise NodeFailedError(node_id, str(exc), 0) from exc
    kwargs = args  # a fresh dict from the spec
    if dep_ids:
        kwargs["inputs"] = dict(zip(dep_ids, dep_values, strict=True))
    start = time.perf_counter()
    attempts, value = call_node(node_id, fn, kwargs, retries=retries, timeout_s=timeout_s,
                                backoff_s=backoff_s, max_backoff_s=max_backoff_s)
    return STATUS.pack(attempts, time.perf_counter() - start), value


_REMOTE = ray.remote(num_returns=2, max_retries=0)(_execute)


class NodeSender:
    """Submits nodes as the one remote function, with each node's resources and retries.

    The ``.options(...)`` variants are made once per distinct (retries, resources)
    pair; a node with neither uses the bare remote function.
    """

    def __init__(self, backoff_s: float, max_backoff_s: float) -> None:
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._remotes: dict[tuple[int, Resources], Any] = {}

    def __call__(self, node: TaskNode, refs: list[ray.ObjectRef]) -> tuple[ray.ObjectRef,
                                                                          ray.ObjectRef]:
        """Submit ``node`` with its dependencies' result refs; return (status, result) refs."""
        remote = self._remotes.get((node.retries, node.resources))
        if remote is None:
            opts = node.resources.options()
            remote = _REMOTE.options(max_retries=node.retries, **opts) if (
                opts or node.retries) else _REMOTE
            self._remotes[(node.retries, node.resources)] = remote
        args = node.args if type(node.args) is dict else dict(node.args)
        fields = (node.id, node.kind, args, node.depends_on, node.retries, node.timeout_s,
                  self.backoff_s, self.max_backoff_s)
        try:
            spec = pickle.dumps(fields, 5)
        except (pickle.PicklingError, AttributeError, TypeError):  # a lambda, a local class...
            spec = ray.cloudpickle.dumps(fields)
        status, value = remote.remote(spec, *refs)
        return status, value


def resolvable_kinds(graph: TaskGraph) -> set[str]:
    """The graph's task kinds that resolve here (registered, or importable ``module:function``)."""
    known: set[str] = set()
    for kind in {n.kind for n in graph.nodes.values()}:
        try:
            resolve_task(kind)
        except UnknownTaskKindError:
            continue
        known.add(kind)
    return known


def check_resources(nodes: Collection[TaskNode]) -> None:
    """Reject resource requests that no alive node of the cluster could ever satisfy."""
    wants: dict[Any, list[str]] = {}
    for node in nodes:
        if node.resources.options():
            wants.setdefault(node.resources, []).append(node.id)
    if not wants or not ray.is_initialized():
        return
    offers = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for res, ids in wants.items():
        asked = {_RAY_RESOURCE[k]: v for k, v in res.options().items()}
        if not any(all(o.get(k, 0) >= v for k, v in asked.items()) for o in offers):
            shown = ", ".join(f"{k}={v:g}" for k, v in res.options().items())
            more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
            raise PlanError(f"no node of the cluster offers {shown}, asked for by "
                            f"{', '.join(map(repr, ids[:3]))}{more}", "invalid", ids)


def as_error(node_id: str, exc: BaseException) -> RaymasError:
    """The raymas error behind a Ray failure (the task's own error where there is one)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, RaymasError):
        return cause
    if isinstance(exc, RaymasError):
        return exc
    if isinstance(exc, TaskCancelledError):
        return TaskFailedError(node_id, "cancelled")
    head = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return TaskFailedError(node_id, f"{type(exc).__name__}: {head}")
