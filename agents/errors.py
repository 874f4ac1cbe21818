"""The raymas exception hierarchy, in one shallow module.

Every error raymas raises on purpose derives from :class:`RaymasError`.  Fields
are passed to ``super().__init__`` so the exceptions pickle across actor
boundaries: Ray re-raises an actor's exception in the caller with its own type.
"""

from __future__ import annotations

__all__ = [
    "AllocationError",
    "ConfigError",
    "LifecycleError",
    "PlanningError",
    "RaymasError",
    "ResourceUnavailableError",
    "TaskFailedError",
    "UnknownNameError",
    "UnknownTaskKindError",
]


class RaymasError(Exception):
    """Root of every error raised by raymas on purpose."""


class ConfigError(RaymasError):
    """The configuration is invalid; ``problems`` lists ``(key path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path}: {msg}" for path, msg in problems)
        super().__init__(source, problems)
        self._text = f"invalid configuration in {source}:\n{lines}"

    def __str__(self) -> str:
        return self._text

    def __reduce__(self) -> tuple[type, tuple[str, list[tuple[str, str]]]]:
        return (type(self), (self.source, self.problems))


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


def did_you_mean(name: str, known: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known``, or nothing."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class UnknownNameError(RaymasError):
    """A lookup by name (a benchmark, a bandit kind, a topology...) found nothing.

    Packages subclass it together with their own error, e.g.
    ``class UnknownNameError(SwarmError, agents.errors.UnknownNameError)``.
    """

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(kind, name, known)

    def __str__(self) -> str:
        return (f"unknown {self.kind} {self.name!r}{did_you_mean(self.name, self.known)} "
                f"(known: {', '.join(self.known)})")


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
