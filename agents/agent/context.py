"""The agent a task runs on, for task code that wants to speak on the bus.

While an agent runs a task, :func:`current` is that agent's
:class:`AgentContext` (in the task's own thread too: the context travels
with it), so a registered task kind can :func:`publish` what it found —
an alert, say — on the bus of the agent that runs it, and
:func:`update_state` what it changed of the agent (where a robot is now, its
battery), which the agent's cost function reads for its next bids.  Outside
an agent, or on an agent without a bus, both return False and do nothing.

Example:
    >>> publish("alerts/x", {"level": "high"})
    False
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentContext", "current", "publish", "running_on", "update_state"]


@dataclass(frozen=True)
class AgentContext:
    """Who runs the task, and how to publish from wherever the task runs."""

    agent_id: str
    loop: asyncio.AbstractEventLoop
    #: None on an agent without a bus
    publisher: Callable[[str, Any], Any] | None
    #: the agent's own state (its cost function reads it); a task may update it
    state: dict[str, Any] = field(default_factory=dict)

    def publish(self, topic: str, payload: Any) -> None:
        """Publish on the agent's bus, from its event loop or from a task thread."""
        if self.publisher is None:
            raise RuntimeError(f"agent {self.agent_id!r} has no bus")
        if self.loop.is_closed():
            raise RuntimeError(f"agent {self.agent_id!r} is gone")
        on_loop = getattr(self.loop, "_thread_id", None) == threading.get_ident()
        if on_loop:
            self.publisher(topic, payload)
        else:
            self.loop.call_soon_threadsafe(self.publisher, topic, payload)


_CURRENT: contextvars.ContextVar[AgentContext | None] = contextvars.ContextVar(
    "raymas_agent", default=None)


def current() -> AgentContext | None:
    """The agent running the current task, or None."""
    return _CURRENT.get()


@contextlib.contextmanager
def running_on(context: AgentContext | None) -> Iterator[None]:
    """Make ``context`` current for the code inside (the agent does this per task)."""
    token = _CURRENT.set(context)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def publish(topic: str, payload: Any) -> bool:
    """Publish on the current agent's bus; False when there is none."""
    ctx = _CURRENT.get()
    if ctx is None or ctx.publisher is None:
        return False
    ctx.publish(topic, payload)
    return True


def update_state(**values: Any) -> bool:
    """Update the running agent's state (``position=[x, y]``...); False when there is none."""
    ctx = _CURRENT.get()
    if ctx is None:
        return False
    ctx.state.update(values)
    return True
