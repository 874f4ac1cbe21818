"""HTN vocabulary: tasks, operators, methods and the domain that holds them.

A *primitive* task is run by an :class:`Operator` (which names the registered
task kind an agent executes, and may have a precondition and effects over the
planner's state).  A *compound* task is decomposed by the first applicable
:class:`Method` registered for it into subtasks, run one after another or in
parallel.  :func:`agents.planning.htn.plan` turns tasks into a
:class:`~agents.planning.dag.TaskGraph`.

Conditions and effects are callables ``(state, args)``, or mappings of wanted
``{key: value}`` pairs in which ``"{x}"`` stands for the task argument ``x``.

Example:
    >>> d = Domain("tea")
    >>> _ = d.register_operator(Operator("boil", effects={"water": "hot"}))
    >>> @d.operator(kind="pour")
    ... def pour_water(state, args):
    ...     return {"cup": args["into"]}
    >>> @d.method("make_tea", precondition={"kettle": True})
    ... def with_kettle(state, args):
    ...     return ["boil", ("pour_water", {"into": "mug"})]
    >>> sorted(d.task_kinds()), d.is_compound("make_tea"), d.is_primitive("boil")
    (['boil', 'pour'], True, True)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from agents.planning.dag import Resources
from agents.planning.errors import PlanError

__all__ = ["Condition", "Domain", "Effects", "Method", "Operator", "Task", "TaskLike",
           "as_task", "fill", "holds"]

Condition = Callable[[Mapping[str, Any], Mapping[str, Any]], bool] | Mapping[str, Any]
Effects = (Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any] | None]
           | Mapping[str, Any])
F = TypeVar("F", bound=Callable[..., Any])

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Task:
    """A task to accomplish: a name (an operator's or a compound task's) and its arguments."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"


TaskLike = Task | str | tuple[str, Mapping[str, Any]]
Subtasks = (Callable[[Mapping[str, Any], Mapping[str, Any]], Sequence[TaskLike] | None]
            | Sequence[TaskLike])


def as_task(item: TaskLike) -> Task:
    """``"name"``, ``("name", {args})`` or a :class:`Task` as a :class:`Task`."""
    if isinstance(item, Task):
        return item
    if isinstance(item, str):
        return Task(item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return Task(item[0], dict(item[1]))
    raise PlanError(f"not a task: {item!r} (use 'name', ('name', {{args}}) or Task)")


def fill(value: Any, args: Mapping[str, Any]) -> Any:
    """Replace ``"{x}"`` placeholders with task arguments, in strings, lists and dicts.

    A string that is exactly one placeholder takes the argument's value as is.

    Example:
        >>> fill({"to": "{dest}", "label": "to {dest}", "n": "{n}"}, {"dest": "b", "n": 3})
        {'to': 'b', 'label': 'to b', 'n': 3}
    """
    if isinstance(value, str):
        def arg(name: str) -> Any:
            if name not in args:
                raise PlanError(f"template {value!r} names {name!r}, which is not an argument "
                                f"(arguments: {sorted(args)})", "template", (name,))
            return args[name]

        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return arg(whole.group(1))
        return _PLACEHOLDER.sub(lambda m: str(arg(m.group(1))), value)
    if isinstance(value, Mapping):
        return {fill(k, args): fill(v, args) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(fill(v, args) for v in value)
    return value


def holds(condition: Condition | None, state: Mapping[str, Any], args: Mapping[str, Any]) -> bool:
    """Whether ``condition`` (callable, or ``{key: value}`` equalities) holds in ``state``."""
    if condition is None:
        return True
    if callable(condition):
        return bool(condition(_view(state), _view(args)))
    return all(state.get(k) == v for k, v in fill(dict(condition), args).items())


def _view(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view, so user callables cannot change the planner's state in place."""
    return mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(mapping)


@dataclass(frozen=True)
class Operator:
    """A primitive task: runs the registered task ``kind`` (default: ``name``)."""

    name: str
    kind: str | None = None
    precondition: Condition | None = field(default=None, compare=False)
    effects: Effects | None = field(default=None, compare=False)
    resources: Resources = field(default_factory=Resources)
    retries: int = 0
    timeout_s: float | None = None

    @property
    def task_kind(self) -> str:
        return self.kind or self.name

    def applicable(self, state: Mapping[str, Any], args: Mapping[str, Any]) -> bool:
        return holds(self.precondition, state, args)

    def apply(self, state: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
        """The state after the task: a new dict, ``state`` itself is not changed."""
        new = dict(state)
        if callable(self.effects):
            new.update(self.effects(_view(state), _view(args)) or {})
        elif self.effects is not None:
            new.update(fill(dict(self.effects), args))
        return new


@dataclass(frozen=True)
class Method:
    """One way to decompose the compound task ``task`` into ``subtasks``.

    ``subtasks`` is a static list (templated with the task's arguments) or a
    callable ``(state, args)`` returning the list, or ``None`` when it does not
    apply.  ``parallel`` subtasks get no ordering among themselves.
    """

    name: str
    task: str
    subtasks: Subtasks = field(compare=False)
    precondition: Condition | None = field(default=None, compare=False)
    parallel: bool = False

    def expand(self, state: Mapping[str, Any], args: Mapping[str, Any]) -> list[Task] | None:
        """The subtasks in ``state``, or ``None`` when the method does not apply."""
        if not holds(self.precondition, state, args):
            return None
        if callable(self.subtasks):
            found = self.subtasks(_view(state), _view(args))
            return None if found is None else [as_task(t) for t in found]
        return [Task(t.name, fill(dict(t.args), args)) for t in map(as_task, self.subtasks)]


class Domain:
    """Operators and methods by name; methods of one task are tried in registration order."""

    def __init__(self, name: str = "domain") -> None:
        self.name = name
        self.operators: dict[str, Operator] = {}
        self.methods: dict[str, list[Method]] = {}

    def __repr__(self) -> str:
        return f"Domain({self.name!r}, {len(self.operators)} operators, {len(self.methods)} tasks)"

    def register_operator(self, op: Operator) -> Operator:
        if op.name in self.methods:
            raise PlanError(f"{op.name!r} is a compound task already; an operator cannot share "
                            "its name", "invalid", (op.name,))
        self.operators[op.name] = op
        return op

    def register_method(self, method: Method) -> Method:
        if method.task in self.operators:
            raise PlanError(f"{method.task!r} is a primitive task (an operator); methods decompose "
                            "compound tasks only", "invalid", (method.task,))
        existing = self.methods.setdefault(method.task, [])
        if any(m.name == method.name for m in existing):
            raise PlanError(f"task {method.task!r} already has a method {method.name!r}",
                            "duplicate", (method.name,))
        existing.append(method)
        return method

    def operator(self, name: str | None = None, *, kind: str | None = None,
                 precondition: Condition | None = None, resources: Resources | None = None,
                 retries: int = 0, timeout_s: float | None = None) -> Callable[[F], F]:
        """Decorate an effects function ``(state, args) -> {key: value}`` as an operator."""

        def register(fn: F) -> F:
            self.register_operator(Operator(name or fn.__name__, kind, precondition, fn,
                                            resources or Resources(), retries, timeout_s))
            return fn

        return register

    def method(self, task: str, *, name: str | None = None, precondition: Condition | None = None,
               parallel: bool = False) -> Callable[[F], F]:
        """Decorate a subtasks function ``(state, args) -> [tasks] | None`` as a method."""

        def register(fn: F) -> F:
            self.register_method(Method(name or fn.__name__, task, fn, precondition, parallel))
            return fn

        return register

    def is_primitive(self, task: str) -> bool:
        return task in self.operators

    def is_compound(self, task: str) -> bool:
        return task in self.methods

    def task_kinds(self) -> set[str]:
        """The registered task kinds the operators run (for ``TaskGraph.validate``)."""
        return {op.task_kind for op in self.operators.values()}

    def unknown_task_hint(self, task: str) -> str:
        names = [*self.operators, *self.methods]
        close = difflib.get_close_matches(task, names, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, name: str = "config") -> Domain:
        """A domain declared as data; see :func:`agents.planning.htn_config.domain_from_config`."""
        from agents.planning.htn_config import domain_from_config

        return domain_from_config(config, name=name)
