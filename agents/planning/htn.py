"""HTN planning: decompose tasks depth-first, backtracking over methods, into a task DAG.

Compound tasks are expanded by the first method (in registration order) whose
precondition holds; when a later step fails the planner backtracks and tries
the next method.  The state is threaded through the subtasks in listed order
(parallel ones too); in the resulting :class:`~agents.planning.dag.TaskGraph`
sequential subtasks depend on the previous subtask's last primitives and
parallel ones do not depend on each other.  Each node's ``meta["htn"]``
records its operator and the compound task that produced it, and the graph's
``meta["htn"]`` holds the decomposition tree, which
:mod:`agents.planning.repair` uses to re-decompose a failed part.

Example:
    >>> d = Domain()
    >>> for name in ("fetch", "clean", "train", "report"):
    ...     _ = d.register_operator(Operator(name))
    >>> _ = d.register_method(Method("split", "prepare", [("fetch", {"part": 1}),
    ...                                                   ("fetch", {"part": 2})], parallel=True))
    >>> _ = d.register_method(Method("std", "pipeline", ["prepare", "clean", "train", "report"]))
    >>> g = plan(d, {}, ["pipeline"])
    >>> g.levels()
    [['fetch#2', 'fetch#3'], ['clean#4'], ['train#5'], ['report#6']]
    >>> plan(d, {}, ["go"])
    Traceback (most recent call last):
    ...
    agents.planning.errors.PlanError: cannot decompose task go(): no method or operator named 'go'
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from agents.planning.dag import TaskGraph, TaskNode
from agents.planning.errors import PlanError
from agents.planning.htn_domain import (
    Condition,
    Domain,
    Effects,
    Method,
    Operator,
    Task,
    TaskLike,
    as_task,
    fill,
    holds,
)

__all__ = ["Condition", "Decomposition", "Domain", "Effects", "Method", "Operator", "Task",
           "TaskLike", "as_task", "fill", "holds", "plan", "search"]

_MAX_LINES = 40

# An agenda is a linked list of (task, parent compound number, depth) items;
# a trace a linked list of decisions, newest first.  Both are shared between
# choice points, so backtracking is just going back to an older list.
_Agenda = tuple[tuple[Task, int | None, int], Any] | None
_Trace = tuple[tuple[Any, ...], Any] | None


@dataclass
class _Failure:
    task: Task
    reason: str
    code: str
    causes: list[tuple[str, str, _Failure | None]] = field(default_factory=list)


@dataclass
class _Choice:
    """A compound task's remaining methods, and the search state to resume them from."""

    task: Task
    parent: int | None
    depth: int
    rest: _Agenda
    state: dict[str, Any]
    trace: _Trace
    number: int
    methods: Iterator[Method]
    current: Method | None = None
    tried: list[tuple[str, str, _Failure | None]] = field(default_factory=list)

    def advance(self) -> list[Task] | None:
        for m in self.methods:
            subtasks = m.expand(self.state, self.task.args)
            if subtasks is None:
                self.tried.append((m.name, "precondition failed", None))
                continue
            self.current = m
            return subtasks
        self.current = None
        return None

    def failure(self) -> _Failure:
        if not self.tried:
            return _Failure(self.task, "no method left to try", "no_method", self.tried)
        if all(text == "precondition failed" for _, text, _ in self.tried):
            names = ", ".join(repr(name) for name, _, _ in self.tried)
            return _Failure(self.task, f"every method's precondition failed: {names}",
                            "precondition", self.tried)
        return _Failure(self.task, "no method worked", "no_method", self.tried)


@dataclass
class Decomposition:
    """What :func:`search` found: primitives, the compound tasks above them, the final state."""

    nodes: list[TaskNode]
    compounds: dict[str, dict[str, Any]]
    roots: list[str]
    next_id: int
    state: dict[str, Any]


def plan(domain: Domain, state: Mapping[str, Any], tasks: Sequence[TaskLike] | str | Task, *,
         parallel: bool = False, max_depth: int = 1000,
         max_expansions: int = 200_000) -> TaskGraph:
    """Decompose ``tasks`` (in order, or independent if ``parallel``) from ``state``.

    Raises:
        PlanError: naming the task that could not be decomposed where the search
            got furthest, and why (no method or operator of that name, every
            method's precondition failed, an operator's precondition failed, the
            depth limit), with the search tree below; or ``search_limit`` after
            ``max_expansions`` steps.
    """
    single = isinstance(tasks, str | Task) or (
        isinstance(tasks, tuple) and len(tasks) == 2 and isinstance(tasks[1], Mapping))
    items: list[Any] = [tasks] if single else list(cast(Sequence[TaskLike], tasks))
    found = search(domain, state, [as_task(t) for t in items], parallel=parallel,
                   max_depth=max_depth, max_expansions=max_expansions)
    meta = {"htn": {"domain": domain.name, "compounds": found.compounds, "roots": found.roots,
                    "parallel": parallel, "next_id": found.next_id}}
    return TaskGraph(found.nodes, meta=meta)


def search(domain: Domain, state: Mapping[str, Any], tasks: Sequence[Task], *,
           parallel: bool = False, max_depth: int = 1000, max_expansions: int = 200_000,
           start_id: int = 0, skip_methods: frozenset[str] = frozenset()) -> Decomposition:
    """The decomposition itself; ``skip_methods`` are not tried for the top-level ``tasks``."""
    agenda: _Agenda = None
    for t in reversed(tasks):
        agenda = ((t, None, 0), agenda)
    cur: dict[str, Any] = dict(state)
    trace: _Trace = None
    number = start_id
    stack: list[_Choice] = []
    first: _Failure | None = None  # the failure where the search got furthest
    furthest = -1
    steps = 0
    while True:
        if agenda is None:
            return _build(domain, trace, parallel, number, cur)
        (task, parent, depth), rest = agenda
        steps += 1
        if steps > max_expansions:
            raise PlanError(f"search limit: no plan within max_expansions={max_expansions} "
                            f"steps (stopped at task {task})", "search_limit", (task.name,))
        failure: _Failure | None = None
        op = domain.operators.get(task.name)
        if op is not None:
            if op.applicable(cur, task.args):
                cur = op.apply(cur, task.args)
                trace = (("p", number, parent, task, op.name), trace)
                number += 1
                agenda = rest
                continue
            failure = _Failure(task, f"operator {op.name!r}: precondition failed", "precondition")
        elif task.name not in domain.methods:
            failure = _Failure(task, f"no method or operator named {task.name!r}"
                               f"{domain.unknown_task_hint(task.name)}", "no_method")
        elif depth >= max_depth:
            failure = _Failure(task, f"depth limit {max_depth} exceeded (does a method recurse "
                               "without end?)", "depth")
        else:
            methods = domain.methods[task.name]
            choice = _Choice(task, parent, depth, rest, cur, trace, number, iter(methods))
            if parent is None and skip_methods:
                choice.methods = iter([m for m in methods if m.name not in skip_methods])
                choice.tried = [(m.name, "excluded (it failed before)", None)
                                for m in methods if m.name in skip_methods]
            stack.append(choice)
        if failure is not None and number > furthest:
            first, furthest = failure, number
        while True:  # resume the newest choice point that still has a method to try
            if not stack:
                assert failure is not None  # the loop only empties the stack after a failure
                raise _error(first or failure, failure)
            choice = stack[-1]
            if choice.current is not None:
                choice.tried.append((choice.current.name, "was applied, but then", failure))
            subtasks = choice.advance()
            if subtasks is not None:
                break
            stack.pop()
            failure = choice.failure()
            if choice.number > furthest:
                first, furthest = failure, choice.number
        assert choice.current is not None
        trace = (("c", choice.number, choice.parent, choice.task, choice.current), choice.trace)
        agenda = choice.rest
        for sub in reversed(subtasks):
            agenda = ((sub, choice.number, choice.depth + 1), agenda)
        cur = choice.state
        number = choice.number + 1


def _build(domain: Domain, trace: _Trace, parallel: bool, next_id: int,
           state: dict[str, Any]) -> Decomposition:
    entries: list[tuple[Any, ...]] = []
    while trace is not None:
        entries.append(trace[0])
        trace = trace[1]
    entries.reverse()  # pre-order: every compound before its subtasks
    ids = {e[1]: f"{e[3].name}#{e[1]}" for e in entries}
    children: dict[int | None, list[int]] = {None: []}
    for e in entries:
        children.setdefault(e[2], []).append(e[1])
    deps: dict[int, list[int]] = {}
    first: dict[int | None, list[int]] = {}
    last: dict[int | None, list[int]] = {}

    def join(owner: int | None, is_parallel: bool) -> None:
        kids = [k for k in children.get(owner, ()) if first[k]]
        if is_parallel:
            first[owner] = [leaf for k in kids for leaf in first[k]]
            last[owner] = [leaf for k in kids for leaf in last[k]]
            return
        for a, b in itertools.pairwise(kids):
            for leaf in first[b]:
                deps[leaf].extend(last[a])
        first[owner] = first[kids[0]] if kids else []
        last[owner] = last[kids[-1]] if kids else []

    for e in reversed(entries):  # subtasks before the compound that produced them
        if e[0] == "p":
            first[e[1]] = last[e[1]] = [e[1]]
            deps[e[1]] = []
        else:
            join(e[1], e[4].parallel)
    join(None, parallel)
    nodes: list[TaskNode] = []
    compounds: dict[str, dict[str, Any]] = {}
    for e in entries:
        kind, number, parent, task = e[:4]
        parent_id = ids[parent] if parent is not None else None
        if kind == "p":
            op = domain.operators[e[4]]
            meta = {"htn": {"operator": op.name, "parent": parent_id}}
            nodes.append(TaskNode(ids[number], op.task_kind, dict(task.args),
                                  tuple(ids[d] for d in deps[number]), op.resources, op.retries,
                                  op.timeout_s, meta))
        else:
            compounds[ids[number]] = {
                "task": task.name, "args": dict(task.args), "method": e[4].name,
                "parallel": e[4].parallel, "parent": parent_id,
                "children": [ids[k] for k in children.get(number, ())],
            }
    return Decomposition(nodes, compounds, [ids[k] for k in children[None]], next_id, state)


def _error(first: _Failure, last: _Failure) -> PlanError:
    lines = [f"cannot decompose task {first.task}: {first.reason}"]
    if last is not first or (last.causes and last.code != "precondition"):
        lines.append("search tree:")
        todo: list[tuple[int, _Failure | str]] = [(1, last)]
        while todo and len(lines) < _MAX_LINES:
            indent, item = todo.pop()
            pad = "  " * indent
            if isinstance(item, str):
                lines.append(pad + item)
                continue
            lines.append(f"{pad}{item.task}: {item.reason}")
            if item.code == "precondition" and item.causes:
                continue  # the reason already lists every method
            for name, text, sub in reversed(item.causes):
                if sub is not None:
                    todo.append((indent + 2, sub))
                todo.append((indent + 1, f"method {name!r}: {text}"))
        if todo:
            lines.append("  ...")
    return PlanError("\n".join(lines), first.code, (first.task.name,))
