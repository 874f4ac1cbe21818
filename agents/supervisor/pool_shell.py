"""The Supervisor's part for agent pools that follow the load: a mixin of its actor.

``add_pool`` starts a pool's ``min`` agents; at each tick of the monitor loop
each pool (:class:`~agents.supervisor.pools.Pool`, the pure core) sees the tasks
waiting and its agents' loads and may grow (new agents, with the autoscaler
asked for their resources through ``ray.autoscaler.sdk.request_resources``)
or shrink (its longest idle agents are drained: no new work, their running
tasks finish, and what they held goes back to the queue).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agents.errors import RaymasError
from agents.specs import AgentSpec
from agents.supervisor.book import TaskBook
from agents.supervisor.pools import Grow, Pool, PoolSpec, Shrink

__all__ = ["AgentPools", "resource_bundle"]

logger = logging.getLogger(__name__)


def resource_bundle(spec: AgentSpec) -> dict[str, float]:
    """What one agent of ``spec`` asks of a node, as the autoscaler reads a bundle.

    Example:
        >>> resource_bundle(AgentSpec("a", num_cpus=0.5, resources={"camera": 1}))
        {'CPU': 0.5, 'camera': 1.0}
    """
    bundle = {"CPU": float(spec.num_cpus), "memory": float(spec.memory or 0),
              **{k: float(v) for k, v in spec.resources.items()}}
    if isinstance(spec.num_gpus, int | float):
        bundle["GPU"] = float(spec.num_gpus)
    return {k: v for k, v in bundle.items() if v > 0}


class AgentPools:
    """Mixin of :class:`~agents.supervisor.actor.Supervisor` (its state is set up there)."""

    book: TaskBook
    pools: dict[str, Pool]

    if TYPE_CHECKING:  # provided by the Supervisor
        async def spawn(self, specs: Sequence[Mapping[str, Any]],
                        message_keys: str | None = None) -> list[dict[str, Any]]: ...

        async def deregister_agent(self, agent_id: str, timeout_s: float = 30.0) -> bool: ...

        def _background(self, coro: Coroutine[Any, Any, None]) -> None: ...

    async def add_pool(self, template: Mapping[str, Any], min: int = 0, max: int = 1,
                       grow_after_s: float = 2.0, idle_after_s: float = 30.0,
                       step: int = 8) -> dict[str, Any]:
        """A pool of agents like ``template`` (ids ``<agent_id>-<n>``), between ``min`` and
        ``max``: grown when a task it could take waits ``grow_after_s``, shrunk (drained)
        when an agent sits idle ``idle_after_s``.  Starts ``min`` agents; its status."""
        spec = AgentSpec.from_dict(template)
        name = spec.agent_id
        if name in self.pools:
            raise RaymasError(f"pool {name!r} exists already")
        pool = Pool(PoolSpec(name, dict(template), min, max, grow_after_s, idle_after_s,
                             step, spec.task_limit))
        self.pools[name] = pool
        if min:
            ids = pool.next_ids(min)
            await self.spawn([{**template, "agent_id": a} for a in ids])
            pool.started(ids, time.monotonic())
        self._request_resources()
        return pool.status()

    def pools_status(self) -> list[dict[str, Any]]:
        """Each pool's members, bounds and how often it grew and shrank."""
        return [p.status() for p in self.pools.values()]

    def _pools_tick(self, now: float) -> None:
        if not self.pools:
            return
        waiting = self.book.waiting()
        for pool in self.pools.values():
            loads = {a: len(r.assigned) for a in pool.members
                     if (r := self.book.agents.get(a)) is not None and r.view.alive}
            decision = pool.decide(now, waiting, loads)
            if isinstance(decision, Grow):
                logger.info("pool %s grows by %d: tasks waited %.1fs or more",
                            pool.spec.name, len(decision.agent_ids), pool.spec.grow_after_s)
                self._background(self._grow(pool, decision.agent_ids))
            elif isinstance(decision, Shrink):
                logger.info("pool %s retires %s: idle %.1fs", pool.spec.name,
                            decision.agent_ids, pool.spec.idle_after_s)
                for agent_id in decision.agent_ids:
                    self._background(self._retire(agent_id))

    async def _grow(self, pool: Pool, agent_ids: Sequence[str]) -> None:
        self._request_resources(pool, len(pool.members) + len(agent_ids))
        try:
            await self.spawn([{**pool.spec.template, "agent_id": a} for a in agent_ids])
        except Exception:  # not started (no room yet): the next tick may try again
            logger.exception("pool %s could not grow by %d", pool.spec.name, len(agent_ids))
            pool.failed_to_start(len(agent_ids))
            return
        pool.started(agent_ids, time.monotonic())

    async def _retire(self, agent_id: str) -> None:
        await self.deregister_agent(agent_id)  # drains: no new work, its tasks finish
        self._request_resources()

    def _request_resources(self, growing: Pool | None = None, size: int = 0) -> None:
        """Tell Ray's autoscaler what the pools need now (their agents' bundles); the
        request replaces the previous one.  Without an autoscaler nobody reads it."""
        bundles: list[dict[str, float]] = []
        for pool in self.pools.values():
            bundle = resource_bundle(AgentSpec.from_dict(pool.spec.template))
            n = size if pool is growing else len(pool.members) + pool.starting
            if bundle:
                bundles.extend([bundle] * n)
        try:
            from ray.autoscaler.sdk import request_resources

            request_resources(bundles=bundles)
        except Exception as exc:  # a local Ray without the GCS key it writes: nothing to ask
            logger.debug("request_resources not made: %s", exc)
