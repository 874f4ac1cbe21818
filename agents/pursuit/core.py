"""Pursuing a goal on one's own: plan from one's actions, act, look, replan.

:class:`GoalPursuit` is the pure core (no Ray, no I/O).  Each call of
:meth:`GoalPursuit.decide` gets the world as the agent sees it now and
answers what to do: the next action of a plan that still reaches the goal
from here, ``reached`` when the target holds, or ``stuck`` when no plan
exists.  A plan is kept while it is still valid from the observed world —
each action applicable in turn and the target reached at the end — and made
again (GOAP, :func:`agents.planning.goap.plan`) the moment the world moves
so that it is not.  A goal still unreached at its deadline is reported
``missed`` once and pursued on; nothing is dropped silently.

Example:
    >>> acts = [PursuitAction("open", {"valve": "shut"}, {"valve": "open"}),
    ...         PursuitAction("pump", {"valve": "open"}, {"level": "low"})]
    >>> p = GoalPursuit("drain", {"level": "low"}, acts, clock=lambda: 0.0)
    >>> d = p.decide({"valve": "shut", "level": "high"})
    >>> d.status, d.action.name, d.plan
    ('act', 'open', ('open', 'pump'))
    >>> p.acted(d.action, ok=True)
    >>> p.decide({"valve": "shut", "level": "high"}).plan   # someone shut it again: replan
    ('open', 'pump')
    >>> p.replans
    2
    >>> p.decide({"valve": "open", "level": "low"}).status
    'reached'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.planning.errors import PlanError
from agents.planning.goap import Action, plan

__all__ = ["Decision", "GoalPursuit", "PursuitAction"]

Status = Literal["act", "reached", "stuck"]


@dataclass(frozen=True)
class PursuitAction:
    """An action the agent can take: preconditions and effects over world facts, a
    cost, and what doing it means (``do``: ``{"environment", "action", "args"}`` or
    ``{"task", "args"}``, read by whoever runs the pursuit)."""

    name: str
    preconditions: Mapping[str, Any] = field(default_factory=dict)
    effects: Mapping[str, Any] = field(default_factory=dict)
    cost: float = 1.0
    do: Mapping[str, Any] = field(default_factory=dict)

    def planning(self) -> Action:
        return Action(self.name, dict(self.preconditions), dict(self.effects), self.cost)


@dataclass(frozen=True)
class Decision:
    """What to do now: ``act`` on ``action`` (first of ``plan``), or nothing
    (``reached``, ``stuck`` with the ``reason``); ``progress`` is the share of
    the target's facts that hold."""

    status: Status
    progress: float
    action: PursuitAction | None = None
    plan: tuple[str, ...] = ()
    reason: str = ""
    missed: bool = False


class GoalPursuit:
    """One goal's pursuit state (see the module docstring).

    Args:
        name: the goal's name.
        target: the facts that must hold, ``{key: value}``.
        actions: what the agent can do.
        deadline_s: seconds from creation after which an unreached goal is missed.
        clock: monotonic clock, for tests.
    """

    def __init__(self, name: str, target: Mapping[str, Any], actions: Sequence[PursuitAction],
                 *, deadline_s: float | None = None, priority: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not target:
            raise PlanError(f"goal {name!r}: its target is empty")
        names = [a.name for a in actions]
        if len(set(names)) != len(names):
            raise PlanError(f"goal {name!r}: action names repeat: {sorted(names)}")
        self.name = name
        self.target = dict(target)
        self.actions = {a.name: a for a in actions}
        self.priority = priority
        self._clock = clock
        self.started_at = clock()
        self.deadline_at = None if deadline_s is None else self.started_at + deadline_s
        #: the world facts the goal and its actions name: all planning looks at
        self.facts = frozenset(self.target) | {k for a in actions
                                               for k in (*a.preconditions, *a.effects)}
        self._plan: list[PursuitAction] = []
        self.replans = 0
        self.taken = 0
        self.failures = 0
        self.missed = False
        self.reached_at: float | None = None
        self.last: Decision | None = None

    def progress(self, world: Mapping[str, Any]) -> float:
        held = sum(world.get(k) == v for k, v in self.target.items())
        return held / len(self.target)

    def _facts(self, world: Mapping[str, Any]) -> dict[str, Any]:
        """The facts planning needs: only the keys actions and target name."""
        return {k: world[k] for k in self.facts if k in world}

    def _valid(self, facts: Mapping[str, Any]) -> bool:
        state = dict(facts)
        for action in self._plan:
            if not all(k in state and state[k] == v for k, v in action.preconditions.items()):
                return False
            state.update(action.effects)
        return bool(self._plan) and all(state.get(k) == v for k, v in self.target.items())

    def decide(self, world: Mapping[str, Any]) -> Decision:
        """What to do given the world now (see the module docstring)."""
        progress = self.progress(world)
        now = self._clock()
        if progress == 1.0:
            if self.reached_at is None:
                self.reached_at = now
            self._plan = []
            return self._keep(Decision("reached", 1.0, missed=self.missed))
        self.reached_at = None
        if self.deadline_at is not None and now > self.deadline_at:
            self.missed = True
        facts = self._facts(world)
        if not self._valid(facts):
            self.replans += 1
            try:
                steps = plan(facts, self.target, [a.planning() for a in self.actions.values()])
            except PlanError as exc:
                self._plan = []
                return self._keep(Decision("stuck", progress, reason=str(exc),
                                           missed=self.missed))
            self._plan = [self.actions[s.name] for s in steps]
        return self._keep(Decision("act", progress, self._plan[0],
                                   tuple(a.name for a in self._plan), missed=self.missed))

    def _keep(self, decision: Decision) -> Decision:
        self.last = decision
        return decision

    def acted(self, action: PursuitAction, ok: bool) -> None:
        """``action`` was done (``ok``) or failed: a failure drops the plan, so the next
        :meth:`decide` plans again from what is observed then."""
        if ok:
            self.taken += 1
            if self._plan and self._plan[0].name == action.name:
                self._plan.pop(0)
        else:
            self.failures += 1
            self._plan = []

    def report(self) -> dict[str, Any]:
        """Goal progress for self-monitoring: status, progress, plan, counts, deadline."""
        last = self.last
        return {"goal": self.name, "status": last.status if last else "new",
                "progress": last.progress if last else 0.0,
                "plan": list(last.plan) if last else [],
                "reason": last.reason if last else "", "replans": self.replans,
                "actions_taken": self.taken, "failures": self.failures,
                "missed": self.missed, "priority": self.priority,
                "deadline_in_s": (None if self.deadline_at is None
                                  else round(self.deadline_at - self._clock(), 3))}
