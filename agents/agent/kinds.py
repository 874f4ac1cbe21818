"""Named callables: the task kinds agents run and the voters they vote with.

Register with the decorators; name them in config or in a
:class:`~agents.specs.TaskAllocation`.  A kind of the form ``"module:function"``
is imported on first use, so an agent on another node resolves it without the
driver having registered anything.

Example:
    >>> from agents.agent.kinds import task, resolve_task
    >>> @task("double")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> resolve_task("double")(x=21)
    42
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from agents.errors import UnknownTaskKindError

__all__ = ["known_tasks", "resolvable", "resolve_task", "resolve_voter", "task", "voter"]

F = TypeVar("F", bound=Callable[..., Any])

_TASKS: dict[str, Callable[..., Any]] = {}
#: kinds whose module registers them when first asked for, so that an agent that never
#: runs them does not import their packages at start-up
_DEFERRED = {"swarm_optimize": "swarm.task", "q_learning": "learning.task",
             "automl": "learning.automl.task", "policy_gradient": "learning.pg.task",
             "rllib_train": "learning.rllib.task", "rl_act": "learning.rllib.task",
             "incident_confirm": "agents.roles.incidents",
             "incident_diagnose": "agents.roles.incidents",
             "incident_record": "agents.roles.incidents"}
_VOTERS: dict[str, Callable[..., Any]] = {}
_BUILTINS_LOADED = False


def task(name: str, *, inline: bool = False) -> Callable[[F], F]:
    """Register a task callable under ``name``; it receives the task's args as kwargs.

    Plain functions run in a worker thread so the agent keeps answering
    (heartbeats, proposals) while they run; ``inline=True`` runs a trivial
    function on the agent's event loop instead, saving the thread hop.
    """

    def register(fn: F) -> F:
        if inline:
            fn.__raymas_inline__ = True  # type: ignore[attr-defined]
        _TASKS[name] = fn
        return fn

    return register


def voter(name: str) -> Callable[[F], F]:
    """Register a voter: ``fn(ballot, agent_view) -> option``."""

    def register(fn: F) -> F:
        _VOTERS[name] = fn
        return fn

    return register


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("agents.agent.builtin_kinds")


def _import_path(path: str) -> Callable[..., Any] | None:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        fn = getattr(module, attr)
    except (ImportError, AttributeError):
        return None
    return fn if callable(fn) else None


def resolve_task(kind: str) -> Callable[..., Any]:
    """The callable for ``kind``; raises :class:`UnknownTaskKindError` naming close matches."""
    _load_builtins()
    fn = _TASKS.get(kind)
    if fn is None and kind in _DEFERRED:
        importlib.import_module(_DEFERRED[kind])  # registers it with @task
        fn = _TASKS.get(kind)
    if fn is None and ":" in kind:
        fn = _import_path(kind)
        if fn is not None:
            _TASKS[kind] = fn
    if fn is None:
        raise UnknownTaskKindError(kind, sorted(_TASKS.keys() | _DEFERRED.keys()))
    return fn


def resolvable(kinds: Iterable[str]) -> list[str]:
    """Those of ``kinds`` that resolve (``module:function`` kinds are imported on the way);
    what a task graph's validation takes as its known kinds."""
    out = []
    for kind in set(kinds):
        try:
            resolve_task(kind)
        except UnknownTaskKindError:
            continue
        out.append(kind)
    return sorted(out)


def known_tasks() -> list[str]:
    """Names of every registered task kind."""
    _load_builtins()
    return sorted(_TASKS.keys() | _DEFERRED.keys())


def resolve_voter(name: str) -> Callable[..., Any]:
    """The voter registered as ``name`` (or a ``module:function`` path)."""
    _load_builtins()
    fn = _VOTERS.get(name) or (_import_path(name) if ":" in name else None)
    if fn is None:
        raise UnknownTaskKindError(name, sorted(_VOTERS))
    return fn
