"""A hosted agent's handle: ``handle.method.remote(...)`` as for an agent actor.

A hosted agent has no actor of its own; its handle is the host's actor handle
and the agent's id, and every call goes to the host, which runs it on that
agent (:meth:`agents.hosting.host.AgentHost.call`).  Code that holds agent
handles (the Supervisor, tests, scripts) calls either kind the same way;
:func:`find_agent` finds either by agent id.

Example:
    >>> class Host:  # what a Ray actor handle offers, for the example
    ...     class call:
    ...         @staticmethod
    ...         def remote(agent_id, method, args, kwargs):
    ...             return (agent_id, method, args, kwargs)
    >>> HostedAgentHandle(Host(), "h1", "a7").describe.remote()
    ('a7', 'describe', (), {})
"""

from __future__ import annotations

from typing import Any

__all__ = ["HostedAgentHandle", "find_agent", "host_actor_name", "host_of"]


def host_actor_name(host_id: str) -> str:
    """The Ray actor name of an agent host (in the raymas namespace)."""
    return f"raymas-host:{host_id}"


class _Method:
    __slots__ = ("handle", "name")

    def __init__(self, handle: HostedAgentHandle, name: str) -> None:
        self.handle, self.name = handle, name

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self.handle.host.call.remote(self.handle.agent_id, self.name, args, kwargs)


class HostedAgentHandle:
    """The handle of agent ``agent_id`` living in host ``host_id`` (actor handle ``host``)."""

    __slots__ = ("agent_id", "host", "host_id")

    def __init__(self, host: Any, host_id: str, agent_id: str) -> None:
        self.host, self.host_id, self.agent_id = host, host_id, agent_id

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("__"):  # pickling and copying look these up: not agent methods
            raise AttributeError(name)
        return _Method(self, name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (HostedAgentHandle, (self.host, self.host_id, self.agent_id))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, HostedAgentHandle) and other.agent_id == self.agent_id
                and other.host_id == self.host_id)

    def __hash__(self) -> int:
        return hash((self.host_id, self.agent_id))

    def __repr__(self) -> str:
        return f"HostedAgentHandle({self.agent_id!r} in host {self.host_id!r})"


def host_of(handle: Any) -> tuple[Any, str] | None:
    """``(host actor handle, host id)`` of a hosted agent's handle; None for an actor's."""
    if isinstance(handle, HostedAgentHandle):
        return handle.host, handle.host_id
    return None


def find_agent(agent_id: str, namespace: str = "raymas", bus_name: str = "raymas-bus") -> Any:
    """The handle of a running agent, actor or hosted; ValueError when there is none.

    An agent actor is found by its actor name; a hosted agent through the bus
    directory, which knows its host.
    """
    import ray

    from agents.agent.actor import agent_actor_name

    try:
        return ray.get_actor(agent_actor_name(agent_id), namespace=namespace)
    except ValueError:
        pass
    try:
        directory = ray.get_actor(bus_name, namespace=namespace)
    except ValueError:
        raise ValueError(f"no agent {agent_id!r} (no actor of that name, and no bus "
                         f"{bus_name!r} to ask for a hosted one)") from None
    found: Any = ray.get(directory.locate.remote(agent_id))  # (handle, host key) or None
    if found is None or found[1] is None:
        raise ValueError(f"no agent {agent_id!r} in namespace {namespace!r}")
    host, host_key = found
    return HostedAgentHandle(host, host_key.removeprefix("host:"), agent_id)
