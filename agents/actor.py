"""The thin Ray shell around :class:`agents.agent.Agent`.

The shell adds only what needs Ray: heartbeats to the Supervisor, the GPU ids
Ray assigned, the node the agent runs on, and ``watch`` (a call that returns
only when the agent stops, so its caller learns of the actor's death at once).
Nothing here imports torch or tensorflow.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from agents.agent import Agent
from agents.model import AgentGoal, AgentSpec, Behavior, LifecycleState

__all__ = ["AgentActor", "agent_actor_name"]

logger = logging.getLogger(__name__)


def agent_actor_name(agent_id: str) -> str:
    """The Ray actor name of an agent (in the raymas namespace)."""
    return f"raymas-agent:{agent_id}"


class AgentActor:
    """Actor body: one per agent, created by the Supervisor (see ``Supervisor.spawn``)."""

    def __init__(self, spec: Mapping[str, Any], supervisor_name: str, namespace: str) -> None:
        self.agent = Agent(AgentSpec.from_dict(spec))
        self.agent.start()
        self._supervisor_name = supervisor_name
        self._namespace = namespace
        self._stopped = asyncio.Event()
        self._hb = asyncio.get_running_loop().create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        interval = self.agent.spec.heartbeat_interval_s
        supervisor = None
        while not self._stopped.is_set():
            try:
                if supervisor is None:
                    supervisor = ray.get_actor(self._supervisor_name, namespace=self._namespace)
                await supervisor.heartbeat.remote(
                    self.agent.agent_id, self.agent.load, self.agent.state.value
                )
            except (ray.exceptions.RayActorError, ValueError) as exc:
                # Supervisor restarting or not yet up: keep beating, it reloads and listens
                logger.debug("heartbeat from %s failed: %s", self.agent.agent_id, exc)
                supervisor = None
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def ready(self) -> dict[str, Any]:
        """Describe the agent, with the node and GPU ids Ray gave it."""
        return self.describe()

    def describe(self) -> dict[str, Any]:
        ctx = ray.get_runtime_context()
        info = self.agent.describe()
        info.update(
            node_id=ctx.get_node_id(),
            gpu_ids=[str(g) for g in ray.get_gpu_ids()],
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            pid=os.getpid(),
        )
        return info

    async def cfp(self, conversation_id: str, cfp: Mapping[str, Sequence[Any]]
                  ) -> dict[str, Any]:
        """Answer a round's calls for proposals (one Ray call per agent per round)."""
        return self.agent.propose(cfp)

    async def settle(self, conversation_id: str, accepted: Sequence[Mapping[str, Any]],
                     rejected: Sequence[str]) -> list[tuple[bool, Any]]:
        """accept-proposal (run) and reject-proposal in one call; returns the outcomes."""
        return await self.agent.settle(accepted, rejected)

    async def vote(self, ballots: Sequence[Mapping[str, Any]]) -> list[Any]:
        return [self.agent.vote(b) for b in ballots]

    async def vote_assignments(self, conversation_id: str,
                               payload: Mapping[str, Any]) -> list[Any]:
        """One ballot per task of a consensus round (payload shared by the committee)."""
        return self.agent.vote_assignments(payload["task_ids"], payload["candidates"])

    async def bid_for(self, resource: str) -> float | None:
        return self.agent.bid_for(resource)

    async def run_task(self, task: Mapping[str, Any]) -> Any:
        """accept-proposal: run the task; the return value is the inform-result."""
        return await self.agent.run_task(task)

    async def observe(self, observation: Mapping[str, Any]) -> list[str]:
        return [b.name for b in self.agent.observe(observation)]

    async def set_goal(self, goal: AgentGoal) -> None:
        self.agent.set_goal(goal)

    async def add_behavior(self, behavior: Behavior) -> None:
        self.agent.add_behavior(behavior)

    async def execute_behavior(self, behavior: Behavior | str) -> list[Any]:
        if isinstance(behavior, str):
            found = [b for b in self.agent.behaviors if b.name == behavior]
            if not found:
                raise KeyError(f"agent {self.agent.agent_id!r} has no behaviour {behavior!r}")
            behavior = found[0]
        return await self.agent.execute_behavior(behavior)

    async def watch(self) -> str:
        """Return when the agent stops; a RayActorError here means it died."""
        await self._stopped.wait()
        return self.agent.state.value

    async def stop(self) -> str:
        await self.agent.stop()
        self._stopped.set()
        return LifecycleState.STOPPED.value

    def imported_modules(self, names: Sequence[str]) -> dict[str, bool]:
        """Which of ``names`` this worker has imported (checks lazy heavy imports)."""
        import sys

        return {n: n in sys.modules for n in names}
