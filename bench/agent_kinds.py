"""Task kinds the benchmarks run on agents (named ``"bench.agent_kinds:NAME"``)."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.agent.context import current

__all__ = ["publish_each"]


async def publish_each(topic: str, count: int, **_: Any) -> int:
    """Publish ``count`` messages on ``topic``, one ``publish`` each, as an agent's own code
    does (a sensor's readings): every publish goes back to the event loop before the next,
    so the bus sends while the messages are still coming."""
    ctx = current()
    if ctx is None:
        raise RuntimeError("publish_each runs as a task on an agent")
    for i in range(count):
        ctx.publish(topic, i)
        await asyncio.sleep(0)
    return count
