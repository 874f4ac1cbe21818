"""The pursuit loop: look, decide, act, again — with no caller driving it.

:class:`Pursuer` runs one :class:`~agents.pursuit.core.GoalPursuit` on the
agent's event loop: it observes the world (``observe``, e.g. the agent's
environments), asks the core what to do, does it (``act``), and looks again
``interval_s`` later, or at once when ``wake`` is set (an event arrived).
Each change of status, plan or deadline is reported (``report``, e.g. a
publish on ``raymas/goals/<agent>``); a missed deadline is logged once.  An
action that raises is counted and the plan dropped, so the next look plans
again; the loop itself only stops when it is cancelled.

:func:`pursuit_from_spec` builds the core from config data, naming the field
that is wrong.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agents.planning.errors import PlanError
from agents.pursuit.core import GoalPursuit, PursuitAction

__all__ = ["Pursuer", "pursuit_from_spec"]

logger = logging.getLogger(__name__)


def pursuit_from_spec(spec: Mapping[str, Any], where: str = "pursue") -> GoalPursuit:
    """A :class:`GoalPursuit` from ``{"name", "target", "actions": [{"name", "pre",
    "effects", "cost", "do"}], "deadline_s", "priority"}``.

    >>> p = pursuit_from_spec({"name": "g", "target": {"x": 1},
    ...                        "actions": [{"name": "a", "effects": {"x": 1},
    ...                                     "do": {"task": "noop"}}]})
    >>> p.decide({}).action.do
    {'task': 'noop'}
    >>> pursuit_from_spec({"name": "g", "target": {"x": 1}, "actions": [{"name": "a"}]})
    Traceback (most recent call last):
    ...
    agents.planning.errors.PlanError: pursue.actions[0] ('a'): 'do' needs task or environment+action
    """
    try:
        name, target = str(spec["name"]), dict(spec["target"])
        actions = []
        for i, a in enumerate(spec.get("actions") or []):
            do = dict(a.get("do") or {})
            if "task" not in do and not ("environment" in do and "action" in do):
                raise PlanError(f"{where}.actions[{i}] ({a.get('name')!r}): 'do' needs task "
                                "or environment+action")
            actions.append(PursuitAction(str(a["name"]), dict(a.get("pre") or {}),
                                         dict(a.get("effects") or {}),
                                         float(a.get("cost", 1.0)), do))
    except KeyError as exc:
        raise PlanError(f"{where}: missing field {exc}") from exc
    return GoalPursuit(name, target, actions, deadline_s=spec.get("deadline_s"),
                       priority=int(spec.get("priority", 1)))


class Pursuer:
    """Runs one pursuit until cancelled (see the module docstring)."""

    def __init__(self, pursuit: GoalPursuit, *,
                 observe: Callable[[], Awaitable[Mapping[str, Any]]],
                 act: Callable[[PursuitAction], Awaitable[Any]],
                 report: Callable[[dict[str, Any]], None] = lambda r: None,
                 interval_s: float = 0.5, owner: str = "") -> None:
        self.pursuit = pursuit
        self._observe, self._act, self._report = observe, act, report
        self.interval_s = interval_s
        self.owner = owner
        self.wake = asyncio.Event()
        self.last_error: str | None = None
        self._said: tuple[Any, ...] | None = None

    async def run(self) -> None:
        while True:
            await self.step()
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass

    async def step(self) -> None:
        """One look, decision and (maybe) action."""
        try:
            world = await self._observe()
        except Exception as exc:  # an environment down: keep pursuing, say why
            self.last_error = f"observe: {type(exc).__name__}: {exc}"
            logger.warning("%s: goal %s cannot look: %s", self.owner, self.pursuit.name, exc)
            return
        decision = self.pursuit.decide(world)
        if decision.missed and not (self._said and self._said[2]):
            logger.warning("%s: goal %s missed its deadline (progress %.0f%%)", self.owner,
                           self.pursuit.name, 100 * decision.progress)
        self._tell()
        if decision.status != "act" or decision.action is None:
            return
        try:
            await self._act(decision.action)
        except Exception as exc:  # counted and replanned from what is seen next
            self.last_error = f"{decision.action.name}: {type(exc).__name__}: {exc}"
            logger.warning("%s: goal %s: action %s failed: %s", self.owner,
                           self.pursuit.name, decision.action.name, exc)
            self.pursuit.acted(decision.action, ok=False)
        else:
            self.pursuit.acted(decision.action, ok=True)
        self._tell()

    def _tell(self) -> None:
        report = self.report()
        said = (report["status"], tuple(report["plan"]), report["missed"],
                report["actions_taken"], report["failures"])
        if said != self._said:
            self._said = said
            self._report(report)

    def report(self) -> dict[str, Any]:
        return {**self.pursuit.report(), "agent": self.owner, "last_error": self.last_error}
