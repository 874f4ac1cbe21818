"""Agents as Ray actors, the Supervisor and its coordination protocols.

Importing this package does not import Ray; the Ray-facing names
(:class:`SupervisorClient`, :class:`Coordinator`, :func:`start_supervisor`)
load on first use.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from agents.agent import Agent
from agents.agent.costs import cost
from agents.agent.kinds import task, voter
from agents.autonomous import AgentCapability, AutonomousAgent
from agents.coordinator import AllocationResult, CoordinationStrategy, MultiAgentCoordinator
from agents.errors import (
    AllocationError,
    ConfigError,
    LifecycleError,
    RaymasError,
    ResourceUnavailableError,
    TaskFailedError,
    UnknownTaskKindError,
)
from agents.specs import (
    AgentGoal,
    AgentSpec,
    AgentType,
    Behavior,
    Capability,
    LifecycleState,
    TaskAllocation,
    TaskState,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Agent",
    "AgentCapability",
    "AgentGoal",
    "AgentSpec",
    "AgentType",
    "AllocationError",
    "AllocationResult",
    "AutonomousAgent",
    "Behavior",
    "Capability",
    "ConfigError",
    "CoordinationStrategy",
    "Coordinator",
    "LifecycleError",
    "LifecycleState",
    "MultiAgentCoordinator",
    "RaymasError",
    "ResourceUnavailableError",
    "SupervisorClient",
    "TaskAllocation",
    "TaskFailedError",
    "TaskState",
    "UnknownTaskKindError",
    "cost",
    "get_supervisor",
    "start_supervisor",
    "task",
    "voter",
]

_LAZY = {"Coordinator", "SupervisorClient", "get_supervisor", "start_supervisor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("agents.supervisor.client"), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
