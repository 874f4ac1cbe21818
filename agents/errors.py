"""The errors of agents, the Supervisor and graph execution.

All derive from :class:`messaging.errors.RaymasError` (re-exported here with the
other shared errors, so ``from agents.errors import RaymasError`` keeps working).  Fields
are passed to ``super().__init__`` so the exceptions pickle across actor
boundaries: Ray re-raises an actor's exception in the caller with its own type.
"""

from __future__ import annotations

from messaging.errors import ConfigError, RaymasError, UnknownNameError, did_you_mean

__all__ = [
    "AllocationError",
    "ConfigError",
    "LifecycleError",
    "NotFoundError",
    "PlanningError",
    "RaymasError",
    "ResourceUnavailableError",
    "TaskFailedError",
    "UnknownNameError",
    "UnknownTaskKindError",
]


class ResourceUnavailableError(RaymasError):
    """An agent asked for a resource the cluster cannot provide."""

    def __init__(self, agent_id: str, resource: str, asked: float, available: float) -> None:
        self.agent_id = agent_id
        self.resource = resource
        self.asked = asked
        self.available = available
        super().__init__(agent_id, resource, asked, available)

    def __str__(self) -> str:
        return (
            f"agent {self.agent_id!r} asks for {self.resource}={self.asked:g} but no alive "
            f"node of the cluster has that much (the largest node offers {self.available:g})"
        )


class LifecycleError(RaymasError):
    """A lifecycle transition that the agent state machine does not allow."""


class UnknownTaskKindError(RaymasError):
    """A task names a callable that is not registered."""

    def __init__(self, kind: str, known: list[str]) -> None:
        self.kind = kind
        self.known = known
        super().__init__(kind, known)

    def __str__(self) -> str:
        return (f"unknown task kind {self.kind!r}{did_you_mean(self.kind, self.known)} "
                f"(registered: {', '.join(self.known)})")


class AllocationError(RaymasError):
    """A task could not be allocated (no capable agent, bad strategy name, ...)."""


class NotFoundError(AllocationError):
    """No agent, task or plan of that id is known (an HTTP API answers 404)."""

    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(what, ident)

    def __str__(self) -> str:
        return f"no {self.what} {self.ident!r}"


class TaskFailedError(RaymasError):
    """A task ran and failed on every attempt; ``error`` is the last failure."""

    def __init__(self, task_id: str, error: str) -> None:
        self.task_id = task_id
        self.error = error
        super().__init__(task_id, error)

    def __str__(self) -> str:
        return f"task {self.task_id!r} failed: {self.error}"


class PlanningError(RaymasError):
    """A goal could not be turned into a plan."""
