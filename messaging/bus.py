"""Starting and finding the bus directory actor.

The directory is one named, detached actor per cluster (``raymas-bus`` in the
raymas namespace), like the Supervisor; a background loop dead-letters held
envelopes whose recipient did not come back before their TTL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from messaging import metrics
from messaging.directory import DEAD_LETTER_TOPIC, REASONS, Directory

__all__ = ["DirectoryActor", "get_bus", "on_head", "start_bus"]


class DirectoryActor(Directory):
    """The directory as an async actor, with its expiry sweep."""

    def __init__(self, hold_s: float = 30.0, sweep_s: float = 0.5) -> None:
        super().__init__(hold_s=hold_s)
        for reason in REASONS:
            metrics.declare("raymas_dead_letters", reason=reason)
        self._sweep_s = sweep_s
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_s)
            self.expire_held()
            self._publish_dead_letters()

    def _publish_dead_letters(self) -> None:
        """Send queued dead-letter notices to whoever subscribes to the dead-letter topic."""
        notices, self.outgoing = self.outgoing, []
        targets = self.route(DEAD_LETTER_TOPIC) if notices else {}
        for handle in targets.values():
            handle.deliver.remote(notices)  # fire and forget: the record stays here anyway


def on_head() -> Any:
    """Ray's scheduling strategy for a cluster-wide service actor: the head node.

    The head is the node a cluster lives and dies with (the GCS runs there), so the
    Supervisor and the bus directory run there: losing a worker node moves agents,
    never the services they report to.  The affinity is hard: Ray's soft node
    affinity does not hold zero-CPU actors on the node it names (seen on Ray 2.60:
    three of four went to the other node).  Without a head in sight, the driver's
    node, softly.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head = next((n["NodeID"] for n in ray.nodes()
                 if n.get("Alive") and "node:__internal_head__" in n.get("Resources", {})), None)
    if head is None:
        return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    return NodeAffinitySchedulingStrategy(head, soft=False)


def start_bus(name: str = "raymas-bus", namespace: str = "raymas", hold_s: float = 30.0) -> Any:
    """Create the bus directory (or return the running one of that name), on the head."""
    remote_cls: Any = ray.remote(DirectoryActor)
    handle = remote_cls.options(scheduling_strategy=on_head(), name=name, namespace=namespace,
                                lifetime="detached",
                                get_if_exists=True, max_restarts=-1, max_task_retries=-1,
                                num_cpus=0, max_concurrency=10_000).remote(hold_s)
    ray.get(handle.stats.remote())
    return handle


def get_bus(name: str = "raymas-bus", namespace: str = "raymas") -> Any:
    return ray.get_actor(name, namespace=namespace)
