"""Agents that allocate work among themselves, with the Supervisor gone.

:meth:`AgentActor.allocate_with_peers <agents.agent.actor.AgentActor.allocate_with_peers>`
starts a bundle-algorithm round (:mod:`agents.agent.bundles`) between the agent
and named peers, found by their Ray actor names: every member gossips until
they agree, runs the tasks it won, and answers with their results.  Nothing
here needs the Supervisor; it is told afterwards — the outcome goes into its
ledger as tasks done by the agents that ran them — and while it cannot be
reached the record waits in the agent (:class:`Unrecorded`) and goes with a
later heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import ray

from agents.specs import TaskAllocation

__all__ = ["Unrecorded", "allocate", "payload_for"]

logger = logging.getLogger(__name__)


def payload_for(tasks: Sequence[Mapping[str, Any] | TaskAllocation]
                ) -> tuple[dict[str, list[Any]], list[TaskAllocation]]:
    """The columnar round members read (with what they need to run the tasks), and the
    checked tasks; a bad task raises naming it."""
    specs = [t if isinstance(t, TaskAllocation) else TaskAllocation.from_dict(t) for t in tasks]
    ids = [t.task_id for t in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"task ids repeat in {ids}")
    payload: dict[str, list[Any]] = {"task_ids": ids, "kinds": [t.kind for t in specs],
                                     "capabilities": [list(t.required_capabilities)
                                                      for t in specs],
                                     "attributes": [dict(t.attributes) for t in specs],
                                     "submitted_at": [t.submitted_at for t in specs],
                                     "args": [dict(t.args) for t in specs],
                                     "correlation_ids": [t.correlation_id for t in specs]}
    return payload, specs


Join = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any]]]


async def allocate(members: Mapping[str, Any], me: str, join_me: Join,
                   payload: dict[str, list[Any]], timeout_s: float) -> dict[str, Any]:
    """One round between ``members`` (agent id -> actor handle, ``me`` included): each
    takes part through its ``cbba`` method (``me`` through ``join_me``) and runs what it
    won.  Returns the agreement, each task's result, and what nobody took."""
    conversation_id = f"peers-{uuid.uuid4().hex}"
    ref = ray.put(payload)

    def others(agent_id: str) -> dict[str, Any]:
        return {p: h for p, h in members.items() if p != agent_id}

    calls = {a: (join_me(conversation_id, payload, others(a)) if a == me else
                 h.cbba.remote(conversation_id, ref, others(a), None, 500, True))
             for a, h in members.items()}
    done = await asyncio.wait_for(asyncio.gather(*calls.values(), return_exceptions=True),
                                  timeout_s)
    results: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for agent_id, reply in zip(calls, done, strict=True):
        if isinstance(reply, BaseException):
            failed[agent_id] = f"{type(reply).__name__}: {reply}"
            continue
        for task_id, (ok, value) in reply.get("results", {}).items():
            if task_id in results:  # claimed twice (a round cut short): both ran it
                logger.warning("%s: task %s ran on %s and %s", conversation_id, task_id,
                               results[task_id]["agent_id"], agent_id)
                continue
            results[task_id] = {"agent_id": agent_id, "ok": ok,
                                "value": value if ok else None,
                                "error": None if ok else value}
    return {"conversation_id": conversation_id,
            "assignment": {t: r["agent_id"] for t, r in results.items()},
            "results": results, "failed_members": failed,
            "unassigned": [t for t in payload["task_ids"] if t not in results],
            "converged": not failed and all(
                not isinstance(r, BaseException) and r["converged"] for r in done)}


class Unrecorded:
    """Peer rounds the Supervisor has not been told of yet, oldest first."""

    def __init__(self) -> None:
        self.waiting: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = []

    def add(self, conversation_id: str, specs: Sequence[TaskAllocation],
            results: Mapping[str, Any]) -> None:
        self.waiting.append((conversation_id, [s.to_dict() for s in specs], dict(results)))

    async def flush(self, supervisor: Any) -> int:
        """Tell ``supervisor`` every waiting round; stops (keeping the rest) at a failure."""
        told = 0
        while self.waiting:
            conversation_id, specs, results = self.waiting[0]
            await supervisor.record_allocation.remote(conversation_id, specs, results)
            self.waiting.pop(0)
            told += 1
        return told
