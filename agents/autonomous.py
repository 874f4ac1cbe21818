"""The seed's agent API: ``AutonomousAgent(agent_id=, name=, agent_type=, capabilities=)``.

:class:`AutonomousAgent` is an :class:`~agents.agent.core.Agent` built from
keyword arguments instead of an :class:`~agents.specs.AgentSpec`, with a display
``name``; it is started (idle, ready for work) once built, so
``await agent.execute_behavior(behavior)`` runs straight away.  A behaviour's
actions are names of registered task kinds (the built-ins such as ``echo``,
``count_primes``, ``sha256_chain``, or your own ``@agents.task``).
:data:`AgentCapability` is :class:`~agents.specs.Capability` under the seed's
name.  No Ray here: this is the plain agent, in this process.

Example:
    >>> import asyncio
    >>> from agents import AgentGoal, Behavior
    >>> agent = AutonomousAgent(agent_id="agent_001", name="Task Processor",
    ...                         agent_type=AgentType.TASK_EXECUTOR,
    ...                         capabilities=[AgentCapability.PLANNING, "etl"])
    >>> agent.spec.capabilities, agent.state.value, agent.spec.task_limit
    (['planning', 'etl'], 'idle', 20)
    >>> agent.set_goal(AgentGoal(goal_id="goal_001", description="Process data pipeline"))
    >>> agent.goals[0].description
    'Process data pipeline'
    >>> asyncio.run(agent.execute_behavior(
    ...     Behavior(name="process", actions=["count_primes", "echo"],
    ...              args={"n": 100, "value": "done"})))
    [25, 'done']
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

from agents.agent.core import Agent
from agents.specs import AgentSpec, AgentType, Capability

__all__ = ["AgentCapability", "AutonomousAgent"]

#: The seed's name for :class:`~agents.specs.Capability` (the same class).
AgentCapability = Capability


def _capability(value: Capability | str) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, str) and value:
        return value
    raise TypeError(f"a capability is a Capability or a non-empty string, got {value!r}")


class AutonomousAgent(Agent):
    """An :class:`Agent` made from the seed's keyword arguments.

    Args:
        agent_id: unique id.
        name: a display name (defaults to ``agent_id``); shown by :meth:`describe`.
        agent_type: an :class:`AgentType` or its value.
        capabilities: :class:`AgentCapability` members and/or free-form strings
            (default: ``["execution"]``).
        max_tasks: concurrent task limit (default: by ``agent_type``).
        start: start the agent (lifecycle ``idle``) at once; ``False`` leaves it
            ``created`` until :meth:`start`.
        clock: monotonic clock, for tests.
        **spec: any further :class:`AgentSpec` field (``num_cpus``, ``voter``,
            ``bidding``...).
    """

    def __init__(self, agent_id: str, name: str | None = None,
                 agent_type: AgentType | str = AgentType.TASK_EXECUTOR,
                 capabilities: Iterable[Capability | str] | None = None,
                 max_tasks: int | None = None, *, start: bool = True,
                 clock: Callable[[], float] | None = None, **spec: Any) -> None:
        caps = (["execution"] if capabilities is None
                else [_capability(c) for c in capabilities])
        full = AgentSpec(agent_id=agent_id, agent_type=AgentType(agent_type), capabilities=caps,
                         max_tasks=max_tasks, **spec)
        if clock is None:
            super().__init__(full)
        else:
            super().__init__(full, clock=clock)
        self.name = name or agent_id
        if start:
            self.start()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": self.name}

    def __repr__(self) -> str:
        return (f"AutonomousAgent(agent_id={self.agent_id!r}, name={self.name!r}, "
                f"agent_type={self.spec.agent_type.value!r}, state={self.state.value!r})")
