"""Goal-oriented action planning: the cheapest action sequence from a state to a goal.

States are ``{key: value}`` facts (values hashable); an :class:`Action` applies
when each precondition key has its wanted value and then sets its effects.
:func:`plan` runs A* either forward from the start or backward from the goal
(``regress=True``, regression over partial states).  Both use consistent
heuristics, so both return cost-optimal plans.  A goal fact that no action
can ever make true is rejected up front; otherwise the search stops with an
``unreachable`` :class:`~agents.planning.errors.PlanError` once the finite space
or ``max_expansions`` is exhausted: it never loops.

Example:
    >>> acts = [Action("get_axe", {"axe": False}, {"axe": True}, 2.0),
    ...         Action("chop", {"axe": True}, {"wood": True}, 1.0),
    ...         Action("gather", {}, {"wood": True}, 5.0)]
    >>> [a.name for a in plan({"axe": False, "wood": False}, {"wood": True}, acts)]
    ['get_axe', 'chop']
    >>> [a.name for a in plan({"axe": False}, {"wood": True}, acts, regress=True)]
    ['get_axe', 'chop']
    >>> plan({}, {"fire": True}, acts)
    Traceback (most recent call last):
    ...
    agents.planning.errors.PlanError: unreachable: no action sets 'fire' to True
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.planning.dag import TaskGraph, TaskNode
from agents.planning.errors import PlanError
from agents.planning.pair_costs import PairCosts

__all__ = ["Action", "SearchResult", "State", "apply_plan", "freeze", "plan", "search",
           "to_graph"]

#: A hashable state: the frozenset of its ``(key, value)`` items.
State = frozenset[tuple[str, Any]]
Heuristic = Literal["goal_count", "zero"]


def freeze(state: Mapping[str, Any]) -> State:
    """The hashable form of a state."""
    return frozenset(state.items())


@dataclass(frozen=True)
class Action:
    """Preconditions and effects over state facts, a non-negative cost, and what to run.

    ``kind`` (default ``name``) and ``args`` say which registered task executes the
    action when a plan becomes a :class:`~agents.planning.dag.TaskGraph`.
    """

    name: str
    preconditions: Mapping[str, Any] = field(default_factory=dict, hash=False)
    effects: Mapping[str, Any] = field(default_factory=dict, hash=False)
    cost: float = 1.0
    kind: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.cost, int | float) and math.isfinite(self.cost) and self.cost >= 0):
            raise PlanError(f"action {self.name!r}: cost must be finite and >= 0, "
                            f"got {self.cost!r}")

    def applicable(self, state: Mapping[str, Any]) -> bool:
        return all(k in state and state[k] == v for k, v in self.preconditions.items())

    def apply(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return {**state, **self.effects}


@dataclass(frozen=True)
class SearchResult:
    """A plan with its cost and the search effort it took."""

    actions: tuple[Action, ...]
    cost: float
    expanded: int
    generated: int


def plan(start: Mapping[str, Any], goal: Mapping[str, Any], actions: Sequence[Action], *,
         regress: bool = False, max_expansions: int = 1_000_000,
         heuristic: Heuristic = "goal_count") -> list[Action]:
    """The cheapest list of actions turning ``start`` into a state that satisfies ``goal``."""
    return list(search(start, goal, actions, regress=regress, max_expansions=max_expansions,
                       heuristic=heuristic).actions)


def search(start: Mapping[str, Any], goal: Mapping[str, Any], actions: Sequence[Action], *,
           regress: bool = False, max_expansions: int = 1_000_000,
           heuristic: Heuristic = "goal_count") -> SearchResult:
    """Like :func:`plan`, with the cost and the number of expanded and generated nodes."""
    if heuristic not in ("goal_count", "zero"):
        raise PlanError(f"unknown heuristic {heuristic!r}: use 'goal_count' or 'zero'")
    p = _Problem(start, goal, actions)
    reach = p.relaxed_costs()
    for i, v in p.goal:
        if (i, v) not in reach:
            raise PlanError(f"unreachable: no action sets {p.keys[i]!r} to {v!r}", "unreachable",
                            (p.keys[i],))
    return p.astar(regress, max_expansions, heuristic == "goal_count")


def apply_plan(start: Mapping[str, Any], actions: Iterable[Action]) -> dict[str, Any]:
    """The state after ``actions``; raises ``PlanError`` at the first inapplicable step."""
    state = dict(start)
    for step, a in enumerate(actions):
        if not a.applicable(state):
            wrong = {k: state.get(k) for k, v in a.preconditions.items() if state.get(k) != v}
            raise PlanError(f"step {step} {a.name!r} is not applicable: {wrong}", "invalid",
                            (a.name,))
        state = a.apply(state)
    return state


def to_graph(actions: Sequence[Action], *, id_prefix: str = "") -> TaskGraph:
    """A plan as a task DAG: each step waits only for earlier steps it interferes with."""
    writer: dict[str, str] = {}
    readers: dict[str, list[str]] = {}
    nodes: list[TaskNode] = []
    for i, a in enumerate(actions):
        nid = f"{id_prefix}{a.name}#{i}"
        deps: list[str] = []
        for k in a.preconditions:
            deps += [writer[k]] if k in writer else []
        for k in a.effects:
            deps += ([writer[k]] if k in writer else []) + readers.get(k, [])
        for k in a.preconditions:
            readers.setdefault(k, []).append(nid)
        for k in a.effects:
            writer[k] = nid
            readers[k] = []
        nodes.append(TaskNode(nid, a.kind or a.name, dict(a.args),
                              tuple(d for d in deps if d != nid), meta={"goap": {"step": i}}))
    return TaskGraph(nodes)


_ANY = object()  # an unconstrained key in a regression subgoal, an absent key in a state


class _Problem:
    """The problem compiled to tuples: a state is one value per key, in key order."""

    def __init__(self, start: Mapping[str, Any], goal: Mapping[str, Any],
                 actions: Sequence[Action]) -> None:
        keys = dict.fromkeys([*start, *goal])
        for a in actions:
            keys.update(dict.fromkeys([*a.preconditions, *a.effects]))
        self.keys = list(keys)
        index = {k: i for i, k in enumerate(self.keys)}
        self.start = tuple(start.get(k, _ANY) for k in self.keys)
        self.goal = tuple((index[k], v) for k, v in goal.items())
        self.actions = list(actions)
        self.pre = [tuple((index[k], v) for k, v in a.preconditions.items()) for a in actions]
        self.eff = [tuple((index[k], v) for k, v in a.effects.items()) for a in actions]
        self.min_cost = min((a.cost for a in actions), default=0.0)

    def relaxed_costs(self) -> dict[tuple[int, Any], float]:
        """h_max cost of every fact reachable in the delete relaxation, from the start."""
        cost = {(i, v): 0.0 for i, v in enumerate(self.start) if v is not _ANY}
        changed = True
        while changed:
            changed = False
            for a, pre, eff in zip(self.actions, self.pre, self.eff, strict=True):
                if all(f in cost for f in pre):
                    c = a.cost + max((cost[f] for f in pre), default=0.0)
                    for f in eff:
                        if c < cost.get(f, math.inf):
                            cost[f] = c
                            changed = True
        return cost

    def astar(self, regress: bool, limit: int, informed: bool) -> SearchResult:
        start, goal = self.start, self.goal
        if regress:
            root = [_ANY] * len(self.keys)
            for i, v in goal:
                root[i] = v
            first: tuple[Any, ...] = tuple(root)
            per_step = max((len(e) for e in self.eff), default=1) or 1
        else:
            first = start
            wanted = set(goal)
            per_step = max((sum(1 for f in e if f in wanted) for e in self.eff), default=1) or 1
        index = self._index(regress)
        free = [] if regress else [n for n, conds in enumerate(self.pre) if not conds]
        pairs = PairCosts(start, self.pre, self.eff, [a.cost for a in self.actions], goal,
                          absent=_ANY) if regress else None

        def estimate(node: tuple[Any, ...]) -> float:
            """Admissible and consistent; infinite for a subgoal that can never hold."""
            if pairs is not None:
                h2 = pairs.estimate([(i, v) for i, v in enumerate(node) if v is not _ANY])
                if not informed or h2 == math.inf:
                    return 0.0 if h2 < math.inf else math.inf
                unmet = sum(1 for i, v in enumerate(node) if v is not _ANY and start[i] != v)
                return max(h2, math.ceil(unmet / per_step) * self.min_cost)
            if not informed:
                return 0.0
            return math.ceil(sum(1 for i, v in goal if node[i] != v) / per_step) * self.min_cost

        if estimate(first) == math.inf:
            raise PlanError(f"unreachable: the goal's facts can never hold together (h² mutex): "
                            f"{self._named(goal)}", "unreachable", [self.keys[i] for i, _ in goal])
        best = {first: 0.0}
        back: dict[tuple[Any, ...], tuple[tuple[Any, ...], int]] = {}
        tie = itertools.count()
        heap = [(estimate(first), 0.0, next(tie), first)]
        expanded = 0
        while heap:
            _, g, _, node = heapq.heappop(heap)
            if g > best[node]:
                continue  # a stale entry: the node was reached more cheaply since
            if self._done(node, regress):
                return self._result(node, back, g, expanded, len(best), regress)
            expanded += 1
            if expanded > limit:
                raise PlanError(f"unreachable: no plan found within max_expansions={limit}",
                                "unreachable", [self.keys[i] for i, _ in goal])
            if regress:
                cands = [n for i, v in enumerate(node) if v is not _ANY
                         for n in index.get((i, v), ())]
            else:
                cands = free + [n for f in enumerate(node) for n in index.get(f, ())]
            for n in dict.fromkeys(cands):
                nxt = self._regress(node, n) if regress else self._progress(node, n)
                if nxt is None:
                    continue
                ng = g + self.actions[n].cost
                if ng < best.get(nxt, math.inf):
                    h = estimate(nxt)
                    if h < math.inf:
                        best[nxt] = ng
                        back[nxt] = (node, n)
                        heapq.heappush(heap, (ng + h, ng, next(tie), nxt))
        space = "regressed subgoals" if regress else "reachable states"
        raise PlanError(f"unreachable: goal {self._named(goal)} cannot be reached (all "
                        f"{len(best)} {space} explored)", "unreachable",
                        [self.keys[i] for i, _ in goal])

    def _index(self, regress: bool) -> dict[tuple[int, Any], list[int]]:
        """Backward: actions by each effect.  Forward: by their rarest precondition."""
        index: dict[tuple[int, Any], list[int]] = {}
        if regress:
            for n, eff in enumerate(self.eff):
                for f in eff:
                    index.setdefault(f, []).append(n)
            return index
        counts = Counter(f for pre in self.pre for f in pre)
        for n, pre in enumerate(self.pre):
            if pre:
                index.setdefault(min(pre, key=lambda f: counts[f]), []).append(n)
        return index

    def _done(self, node: tuple[Any, ...], regress: bool) -> bool:
        if regress:
            return all(v is _ANY or self.start[i] == v for i, v in enumerate(node))
        return all(node[i] == v for i, v in self.goal)

    def _named(self, facts: Iterable[tuple[int, Any]]) -> dict[str, Any]:
        return {self.keys[i]: v for i, v in facts}

    def _progress(self, node: tuple[Any, ...], n: int) -> tuple[Any, ...] | None:
        if any(node[i] != v for i, v in self.pre[n]):
            return None
        out = list(node)
        for i, v in self.eff[n]:
            out[i] = v
        return tuple(out)

    def _regress(self, node: tuple[Any, ...], n: int) -> tuple[Any, ...] | None:
        out = list(node)
        for i, v in self.eff[n]:
            if node[i] is not _ANY and node[i] != v:
                return None
            out[i] = _ANY
        for i, v in self.pre[n]:
            if out[i] is not _ANY and out[i] != v:
                return None
            out[i] = v
        return tuple(out)

    def _result(self, node: tuple[Any, ...], back: Mapping[tuple[Any, ...], tuple[Any, int]],
                cost: float, expanded: int, generated: int, regress: bool) -> SearchResult:
        steps: list[Action] = []
        while node in back:
            node, n = back[node]
            steps.append(self.actions[n])
        if not regress:
            steps.reverse()  # walked back from the goal; regression steps are already in order
        return SearchResult(tuple(steps), cost, expanded, generated)

