"""What a task costs *this* agent: cost functions by name, a whole round at a time.

A cost function reads the agent's state (``position``, ``skills``, ``battery``:
whatever its spec's ``state`` holds and its tasks and observations put there)
and a task (:class:`TaskInfo`: kind and ``attributes``), and returns the cost
of doing it (lower wins), a ``(cost, eta_s)`` pair when it knows how long the
task will take, or None to refuse (it lacks the skill, cannot make the
deadline).  An optional third parameter, ``bundle``, gets the tasks the agent
already holds, so a function can quote the *extra* cost of adding one more
(the added travel of inserting a delivery into its route): the sequential
auctions and the bundle algorithm bid that.

Register by name with :func:`cost` (``@agents.cost("delivery")``), or name a
``"module:function"`` in config; ``vectorised=True`` takes the whole round's
tasks in one call and returns one answer per task.

Example:
    >>> @cost("doc-travel")
    ... def travel(state, task):
    ...     (x, y), (tx, ty) = state["position"], task.attributes["location"]
    ...     return abs(x - tx) + abs(y - ty)
    >>> resolve_cost("doc-travel").quotes({"position": [0, 0]},
    ...                                   [TaskInfo("t", attributes={"location": [3, 4]})])
    [Quote(cost=7.0, eta_s=None)]
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from messaging.errors import UnknownNameError

__all__ = ["CostFunction", "Quote", "TaskInfo", "cost", "known_costs", "resolve_cost",
           "task_infos"]

F = TypeVar("F", bound=Callable[..., Any])

_COSTS: dict[str, CostFunction] = {}


@dataclass(frozen=True)
class TaskInfo:
    """What a cost function sees of a task."""

    task_id: str
    kind: str = "noop"
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    submitted_at: float = 0.0

    @property
    def deadline_at(self) -> float | None:
        """When it must be done (wall clock), from ``attributes["deadline_s"]``."""
        deadline = self.attributes.get("deadline_s")
        return None if deadline is None else self.submitted_at + float(deadline)


@dataclass(frozen=True)
class Quote:
    """A cost, and how long the agent expects the task to take when it knows."""

    cost: float
    eta_s: float | None = None


@dataclass(frozen=True)
class CostFunction:
    """A registered cost function and how to call it."""

    name: str
    fn: Callable[..., Any]
    vectorised: bool = False

    @functools.cached_property
    def takes_bundle(self) -> bool:
        """Whether its costs depend on the tasks the agent holds (a third parameter);
        read once, not at every quote."""
        return len(inspect.signature(self.fn).parameters) >= 3

    def quotes(self, state: Mapping[str, Any], tasks: Sequence[TaskInfo],
               bundle: Sequence[TaskInfo] = ()) -> list[Quote | None]:
        """One answer per task: its :class:`Quote`, or None where the agent refuses."""
        extra = (tuple(bundle),) if self.takes_bundle else ()
        if self.vectorised:
            answers = list(self.fn(state, list(tasks), *extra))
            if len(answers) != len(tasks):
                raise ValueError(f"cost function {self.name!r} returned {len(answers)} "
                                 f"answers for {len(tasks)} tasks")
        else:
            answers = [self.fn(state, t, *extra) for t in tasks]
        return [_quote(self.name, a) for a in answers]


def _quote(name: str, answer: Any) -> Quote | None:
    if answer is None:
        return None
    value, eta = (answer if isinstance(answer, tuple) else (answer, None))
    try:
        value = float(value)
        eta = None if eta is None else float(eta)
    except (TypeError, ValueError):
        raise ValueError(f"cost function {name!r} returned {answer!r}: expected a number, "
                         f"(cost, eta_s) or None") from None
    if math.isnan(value) or value == math.inf:
        return None
    return Quote(value, eta)


def cost(name: str, *, vectorised: bool = False) -> Callable[[F], F]:
    """Register ``fn(state, task[, bundle])`` (or, vectorised, ``fn(state, tasks[,
    bundle])``) as the cost function ``name``."""

    def register(fn: F) -> F:
        _COSTS[name] = CostFunction(name, fn, vectorised)
        return fn

    return register


def known_costs() -> list[str]:
    return sorted(_COSTS)


def resolve_cost(name: str) -> CostFunction:
    """The cost function ``name``: registered, or ``"module:function"`` imported now."""
    found = _COSTS.get(name)
    if found is not None:
        return found
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"cost function {name!r} cannot be imported: {exc}") from None
        if isinstance(fn, CostFunction):
            return fn
        registered = next((c for c in _COSTS.values() if c.fn is fn), None)
        return registered or CostFunction(name, fn, bool(getattr(fn, "vectorised", False)))
    raise UnknownNameError("cost function (register one with @agents.cost(name), or name a "
                           "module:function)", name, known_costs())


def task_infos(cfp: Mapping[str, Sequence[Any]]) -> list[TaskInfo]:
    """The tasks of a columnar call for proposals, as cost functions see them."""
    n = len(cfp["task_ids"])
    attributes = cfp.get("attributes") or [None] * n
    submitted = cfp.get("submitted_at") or [0.0] * n
    return [TaskInfo(tid, kind, MappingProxyType(dict(attrs or {})), float(at))
            for tid, kind, attrs, at in zip(cfp["task_ids"], cfp["kinds"], attributes,
                                            submitted, strict=True)]
