"""The API's routes, one module per area; each handler calls the Supervisor client
(:class:`~agents.supervisor.client.Coordinator`) and holds no logic of its own."""

from __future__ import annotations

from typing import Any

__all__ = ["backend", "principal"]


def backend(request: Any) -> Any:
    """The replica's :class:`~cluster.api.backend.ApiBackend`."""
    from cluster.api.problems import Problem

    found = getattr(request.app.state, "backend", None)
    if found is None:
        raise Problem(503, "the API replica is not connected to a raymas system")
    return found


def principal(request: Any) -> Any:
    """Who is calling (:class:`~cluster.api.auth.Principal`), set by the guard."""
    return request.scope.get("state", {}).get("principal")
