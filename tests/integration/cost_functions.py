"""Cost functions and a task kind for the allocation tests, named as
``"tests.integration.cost_functions:<fn>"`` (Ray workers import this module by that name).

Agents stand at ``state["position"]``; a task is a point ``attributes["location"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from agents.agent.context import update_state
from agents.agent.costs import TaskInfo

__all__ = ["deliver", "route", "travel"]

C = "tests.integration.cost_functions:"


def travel(state: Mapping[str, Any], task: TaskInfo) -> float | tuple[float, float] | None:
    """The distance from the agent to the task; 10 distance units a second; None to a
    task that needs a skill the agent lacks."""
    need = task.attributes.get("skill")
    if need is not None and need not in state.get("skills", ()):
        return None
    d = math.dist(state["position"], task.attributes["location"])
    return d, d / 10


def route(state: Mapping[str, Any], task: TaskInfo, bundle: Sequence[TaskInfo]) -> float:
    """The extra distance of going on to ``task`` after the tasks the agent holds."""
    here = bundle[-1].attributes["location"] if bundle else state["position"]
    return math.dist(here, task.attributes["location"])


def deliver(to: Sequence[float], **_: Any) -> list[float]:
    """Go to ``to``: the agent's position is there afterwards."""
    update_state(position=list(to))
    return list(to)
