"""Reactive repair: fix the part of a plan that an event broke; never redo done tasks.

Three events: a task failed for good (:class:`TaskFailed`), an agent was lost
with tasks on it (:class:`AgentLost`), or the world changed
(:class:`Observation`).  A lost agent's unfinished tasks are simply re-queued.
A failure in an HTN plan re-decomposes the compound task that produced the
failed primitive, from the current state and without the method that failed;
when no other method applies it climbs to the enclosing compound task.  An
observation replays the unfinished primitives from the new state and
re-decomposes the compound task above the first one whose precondition no
longer holds.  Done tasks stay in the graph, done; dropped tasks are listed.
A new decomposition that asks again for a primitive of the replaced part
(same operator, same arguments) reuses it: a done one is not run again, an
unfinished one keeps its id, with its new dependencies.
Graphs without HTN metadata (or without a domain) are repaired by re-queueing.

Example:
    >>> from agents.planning.htn import Domain, Method, Operator, plan
    >>> d = Domain()
    >>> _ = d.register_operator(Operator("pack", effects={"packed": True}))
    >>> _ = d.register_operator(Operator("truck", precondition={"packed": True}))
    >>> _ = d.register_operator(Operator("plane", precondition={"packed": True}))
    >>> _ = d.register_method(Method("road", "ship", ["pack", "truck"]))
    >>> _ = d.register_method(Method("air", "ship", ["pack", "plane"]))
    >>> g = plan(d, {}, ["ship"])
    >>> list(g)
    ['pack#1', 'truck#2']
    >>> fixed = repair(g, {"pack#1"}, TaskFailed("truck#2"), domain=d, state={"packed": True})
    >>> list(fixed.graph), fixed.removed, fixed.added
    (['pack#1', 'plane#5'], ('truck#2',), ('plane#5',))
    >>> fixed.graph["plane#5"].depends_on
    ('pack#1',)
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from agents.planning.dag import TaskGraph, TaskNode
from agents.planning.errors import PlanError
from agents.planning.htn import search
from agents.planning.htn_domain import Domain, Operator, Task

__all__ = ["AgentLost", "Event", "Observation", "Repair", "TaskFailed", "attach_repair", "repair",
           "repair_attached"]


@dataclass(frozen=True)
class TaskFailed:
    """``task_id`` failed on every attempt."""

    task_id: str
    error: str = ""


@dataclass(frozen=True)
class AgentLost:
    """The agent running ``task_ids`` is gone."""

    agent_id: str
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class Observation:
    """The world changed: ``changes`` are new values of state keys."""

    changes: Mapping[str, Any]


Event = TaskFailed | AgentLost | Observation


@dataclass(frozen=True)
class Repair:
    """The repaired plan; ``requeue`` lists unfinished tasks to run again as they are."""

    graph: TaskGraph
    requeue: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    replanned: tuple[str, ...] = ()


def repair(graph: TaskGraph, done: Collection[str], event: Event, *,
           domain: Domain | None = None, state: Mapping[str, Any] | None = None,
           max_depth: int = 1000, max_expansions: int = 200_000) -> Repair:
    """Repair ``graph`` after ``event``; ``done`` holds finished ids (or maps them to results).

    ``state`` is the current world state (done tasks' effects included); an
    :class:`Observation`'s changes are applied on top of it.

    Raises:
        PlanError: an event about an unknown or done task, or (``"repair"``)
            no compound task above the broken part can be decomposed again.
    """
    if isinstance(event, AgentLost):
        _known(graph, event.task_ids)
        return Repair(graph, tuple(t for t in event.task_ids if t not in done))
    htn = graph.meta.get("htn")
    if isinstance(event, TaskFailed):
        _known(graph, [event.task_id])
        if event.task_id in done:
            raise PlanError(f"task {event.task_id!r} is done; done tasks are never redone",
                            "repair", (event.task_id,))
        if domain is None or htn is None:
            return Repair(graph, (event.task_id,))
        fixer = _Fixer(graph, done, domain, max_depth, max_expansions)
        fixer.fix(event.task_id, dict(state or {}), ban=True)
        return fixer.result()
    now = {**(state or {}), **event.changes}
    if domain is None or htn is None:
        return Repair(graph)
    fixer = _Fixer(graph, done, domain, max_depth, max_expansions)
    for _ in range(len(htn["compounds"]) + 1):
        broken = fixer.first_broken(now)
        if broken is None:
            return fixer.result()
        fixer.fix(broken, now, ban=False)
    raise PlanError("repair: the plan still breaks after re-decomposing every compound task",
                    "repair", ())


def _known(graph: TaskGraph, ids: Collection[str]) -> None:
    unknown = [t for t in ids if t not in graph]
    if unknown:
        raise PlanError(f"repair: unknown task ids {unknown}", "repair", unknown)


class _Fixer:
    """Replaces compound subtrees of an HTN plan, one at a time."""

    def __init__(self, graph: TaskGraph, done: Collection[str], domain: Domain, max_depth: int,
                 max_expansions: int) -> None:
        self.graph, self.original, self.done, self.domain = graph, graph, set(done), domain
        self.max_depth, self.max_expansions = max_depth, max_expansions
        self.removed: list[str] = []
        self.added: list[str] = []
        self.replanned: list[str] = []

    def result(self) -> Repair:
        added = [t for t in self.added if t in self.graph]
        removed = [t for t in self.removed if t in self.original]
        return Repair(self.graph, (), tuple(removed), tuple(added), tuple(self.replanned))

    def first_broken(self, state: Mapping[str, Any]) -> str | None:
        """The first unfinished primitive (in order) whose precondition fails from ``state``."""
        current = dict(state)
        for nid in self.graph.topological_order():
            op = self._operator(nid)
            if nid in self.done or op is None:
                continue
            if not op.applicable(current, self.graph[nid].args):
                return nid
            current = op.apply(current, self.graph[nid].args)
        return None

    def fix(self, task_id: str, state: Mapping[str, Any], *, ban: bool) -> None:
        htn = self.graph.meta["htn"]
        cid = self.graph[task_id].meta.get("htn", {}).get("parent")
        reasons: list[str] = []
        while cid is not None:
            rec = htn["compounds"][cid]
            skip = {*rec.get("failed_methods", ()), *([rec["method"]] if ban else [])}
            leaves = self._leaves(cid)
            try:
                found = search(self.domain, self._project(state, leaves),
                               [Task(rec["task"], rec["args"])], start_id=htn["next_id"],
                               skip_methods=frozenset(skip), max_depth=self.max_depth,
                               max_expansions=self.max_expansions)
            except PlanError as exc:
                reasons.append(f"{cid}: {str(exc).splitlines()[0]}")
                cid = rec["parent"]
                continue
            self._splice(cid, leaves, found, sorted(skip), task_id)
            return
        raise PlanError(f"repair: no compound task above {task_id!r} can be decomposed again"
                        + "".join(f"\n  {r}" for r in reasons), "repair", (task_id,))

    def _operator(self, nid: str) -> Operator | None:
        name = self.graph[nid].meta.get("htn", {}).get("operator")
        return self.domain.operators.get(name) if name is not None else None

    def _leaves(self, cid: str) -> list[str]:
        compounds = self.graph.meta["htn"]["compounds"]
        out: list[str] = []
        stack = [cid]
        while stack:
            k = stack.pop()
            if k in compounds:
                stack.extend(reversed(compounds[k]["children"]))
            elif k in self.graph:
                out.append(k)
        return out

    def _project(self, state: Mapping[str, Any], leaves: list[str]) -> dict[str, Any]:
        """``state`` plus the effects of the unfinished tasks that must run before ``leaves``."""
        before = self.graph.ancestors(leaves) - set(leaves) - self.done
        current = dict(state)
        for nid in self.graph.topological_order():
            op = self._operator(nid) if nid in before else None
            if op is not None:
                current = op.apply(current, self.graph[nid].args)
        return current

    def _splice(self, cid: str, leaves: list[str], found: Any, failed: list[str],
                broken: str) -> None:
        g = self.graph
        htn = copy.deepcopy(g.meta["htn"])
        inside = set(leaves)
        alias = self._reuse([t for t in leaves if t != broken], found.nodes)
        reused = set(alias.values())
        dropped = [t for t in leaves if t not in self.done and t not in reused]
        orphans = [t for t in leaves if t in self.done and t not in reused]
        preds = list(dict.fromkeys(d for t in leaves for d in g[t].depends_on if d not in inside))
        succs = {d for t in leaves for d in g.dependents(t) if d not in inside}
        has_dependent = {alias.get(d, d) for n in found.nodes for d in n.depends_on}
        exits = [alias.get(n.id, n.id) for n in found.nodes
                 if alias.get(n.id, n.id) not in has_dependent]
        root = found.roots[0]
        parent = htn["compounds"][cid]["parent"]
        home = dict.fromkeys(orphans, root)
        for k, rec in found.compounds.items():
            rec["children"] = [alias.get(c, c) for c in rec["children"]]
            home.update((c, k) for c in rec["children"] if c in self.done)
        found.compounds[root].update(parent=parent, failed_methods=failed)
        found.compounds[root]["children"][:0] = orphans
        siblings = htn["compounds"][parent]["children"] if parent is not None else htn["roots"]
        siblings[siblings.index(cid)] = root
        stack = [cid]
        while stack:  # forget the old subtree's compound tasks
            rec = htn["compounds"].pop(stack.pop())
            stack.extend(k for k in rec["children"] if k in htn["compounds"])
        htn["compounds"].update(found.compounds)
        htn["next_id"] = found.next_id
        # new primitives, under their old id where an unfinished old one is reused
        fresh: dict[str, TaskNode] = {}
        for n in found.nodes:
            old = alias.get(n.id)
            if old is None or old not in self.done:
                inputs = tuple(alias.get(d, d) for d in n.depends_on) or tuple(preds)
                fresh[old or n.id] = replace(n, id=old or n.id, depends_on=inputs)
        gone = set(dropped)
        nodes: list[TaskNode] = []
        for n in g.nodes.values():
            if n.id in gone:
                continue
            if n.id in fresh:
                n = fresh.pop(n.id)
            elif n.id in succs:
                deps = [d for d in n.depends_on if d not in gone] + (exits or preds)
                n = replace(n, depends_on=tuple(deps))
            elif n.id in home:
                n = replace(n, meta={**n.meta, "htn": {**n.meta["htn"], "parent": home[n.id]}})
            nodes.append(n)
        nodes += fresh.values()
        self.graph = TaskGraph(nodes, meta={**g.meta, "htn": htn})
        self.removed += dropped
        self.added += list(fresh)
        self.replanned.append(cid)

    def _reuse(self, old: list[str], new: list[TaskNode]) -> dict[str, str]:
        """Map new primitives to old ones of the replaced subtree with equal operator and args.

        Done old tasks are matched first, so they are not run again; an unfinished
        old task that is asked for again keeps its id (it may be queued already).
        """
        alias: dict[str, str] = {}
        free = sorted(old, key=lambda t: t not in self.done)
        for n in new:
            for t in free:
                was = self.graph[t]
                if was.meta["htn"]["operator"] == n.meta["htn"]["operator"] \
                        and dict(was.args) == dict(n.args):
                    alias[n.id] = t
                    free.remove(t)
                    break
        return alias


def attach_repair(graph: TaskGraph, domain: Mapping[str, Any],
                  state: Mapping[str, Any] | None = None) -> TaskGraph:
    """``graph`` carrying the HTN domain (as config) and world state it is repaired with.

    A plan that carries them can be repaired wherever it is run — by the
    Supervisor after a restart (the plan is in the ledger), or on plain Ray —
    with :func:`repair_attached`.

    Raises:
        PlanError: the domain config is invalid (``reason="repair"``).
    """
    from agents.errors import ConfigError
    from agents.planning.htn_config import domain_from_config

    try:
        domain_from_config(domain)
    except ConfigError as exc:
        raise PlanError(f"the plan's repair domain is invalid: {exc}", "repair") from None
    return TaskGraph(graph.nodes.values(),
                     meta={**graph.meta, "repair": {"domain": dict(domain),
                                                     "state": dict(state or {})}})


def repair_attached(graph: TaskGraph, done: Collection[str], event: Event
                    ) -> Repair | None:
    """Repair a graph made by :func:`attach_repair`; None when it carries no domain, or
    when no repair exists.  The repaired graph carries the domain and the state on
    (an :class:`Observation`'s changes applied to it)."""
    from agents.planning.htn_config import domain_from_config

    info = graph.meta.get("repair")
    if not info:
        return None
    try:
        fix = repair(graph, done, event, domain=domain_from_config(info["domain"]),
                     state=info["state"])
    except PlanError:
        return None
    state = ({**info["state"], **event.changes} if isinstance(event, Observation)
             else info["state"])
    repaired = TaskGraph(fix.graph.nodes.values(),
                         meta={**fix.graph.meta, "repair": {**info, "state": state}})
    return replace(fix, graph=repaired)
