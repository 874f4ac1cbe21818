"""The agent itself, as a plain class: testable without Ray.

:class:`Agent` holds the lifecycle, goals, behaviours, observed state and task
slots; it answers calls for proposals, votes and runs tasks.  The actor shell
in :mod:`agents.agent.actor` only adds Ray plumbing (heartbeats, GPU ids).

Example:
    >>> import asyncio
    >>> from agents.specs import AgentSpec
    >>> a = Agent(AgentSpec("a1", capabilities=["execution"], max_tasks=2))
    >>> a.start()
    >>> asyncio.run(a.run_task({"task_id": "t1", "kind": "echo", "args": {"value": 7}}))
    7
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import heapq
import inspect
import logging
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any

from cachetools import LRUCache

from agents.agent import context as agent_context
from agents.agent.bidding import AdaptiveBidder
from agents.agent.costs import CostFunction, Quote, TaskInfo, resolve_cost, task_infos
from agents.agent.kinds import resolve_task, resolve_voter
from agents.errors import LifecycleError, UnknownTaskKindError
from agents.specs import AgentGoal, AgentSpec, Behavior, LifecycleState
from messaging import trace

__all__ = ["TRANSITIONS", "Agent"]

logger = logging.getLogger(__name__)

S = LifecycleState
#: Allowed lifecycle moves; anything else raises LifecycleError.
TRANSITIONS: dict[LifecycleState, frozenset[LifecycleState]] = {
    S.CREATED: frozenset({S.IDLE, S.STOPPING, S.FAILED}),
    S.IDLE: frozenset({S.BUSY, S.STOPPING, S.FAILED}),
    S.BUSY: frozenset({S.IDLE, S.STOPPING, S.FAILED}),
    S.STOPPING: frozenset({S.STOPPED, S.FAILED}),
    S.STOPPED: frozenset(),
    S.FAILED: frozenset(),
}


class Agent:
    """An autonomous agent: lifecycle, goals, behaviours, bids, votes and task slots."""

    def __init__(self, spec: AgentSpec, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.state = LifecycleState.CREATED
        self.world: dict[str, Any] = {}
        self._goals: list[AgentGoal] = []
        self.behaviors: list[Behavior] = []
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        # results of recent tasks by id: a repeated call for a task that ran returns its result
        self._done: LRUCache[str, Any] = LRUCache(maxsize=4096)
        self._durations: dict[str, float] = {}
        self._pool: ThreadPoolExecutor | None = None
        #: set by the actor shell: what a running task sees as :func:`agent_context.current`
        self.context: agent_context.AgentContext | None = None
        self.completed = 0
        self.failed = 0
        self.rejections = 0
        self.world.update(spec.state)
        #: what a task costs this agent; None: the load-based default (see propose)
        self.costs: CostFunction | None = resolve_cost(spec.cost) if spec.cost else None
        #: the tasks it runs now, as its cost function sees them (its bundle)
        self._holding: dict[str, TaskInfo] = {}
        self.bidder = (None if spec.bidding == "fixed" else
                       AdaptiveBidder(spec.bidding, spec.bid_markups,
                                      seed=zlib.crc32(spec.agent_id.encode())))

    # -- identity and load -------------------------------------------------
    @property
    def agent_id(self) -> str:
        return self.spec.agent_id

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(self.spec.capabilities)

    @property
    def load(self) -> int:
        return len(self._inflight)

    @property
    def free_slots(self) -> int:
        return max(0, self.spec.task_limit - self.load)

    # -- lifecycle -----------------------------------------------------------
    def transition(self, new: LifecycleState) -> None:
        """Move to ``new``; raises :class:`LifecycleError` for a move not in TRANSITIONS."""
        if new == self.state:
            return
        if new not in TRANSITIONS[self.state]:
            raise LifecycleError(
                f"agent {self.agent_id!r} cannot go from {self.state.value} to {new.value}"
            )
        self.state = new

    def start(self) -> None:
        self.transition(LifecycleState.IDLE)

    async def stop(self) -> None:
        """Stop taking work, let running tasks finish, then stop."""
        if self.state in (LifecycleState.STOPPED, LifecycleState.FAILED):
            return
        self.transition(LifecycleState.STOPPING)
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        self.transition(LifecycleState.STOPPED)

    # -- goals and behaviours ------------------------------------------------
    def set_goal(self, goal: AgentGoal) -> None:
        """Adopt a goal; goals are pursued highest priority first."""
        heapq.heappush(self._goals, goal)

    @property
    def goals(self) -> list[AgentGoal]:
        return sorted(self._goals)

    def current_goal(self) -> AgentGoal | None:
        """The highest-priority goal not yet satisfied by the observed state."""
        for goal in sorted(self._goals):
            if not goal.satisfied_by(self.world):
                return goal
        return None

    def add_behavior(self, behavior: Behavior) -> None:
        self.behaviors.append(behavior)

    def observe(self, observation: Mapping[str, Any]) -> list[Behavior]:
        """Merge ``observation`` into the world state; return behaviours now applicable."""
        self.world.update(observation)
        return [b for b in self.behaviors if b.applies(self.world)]

    async def execute_behavior(self, behavior: Behavior) -> list[Any]:
        """Run a behaviour's actions in order if its condition holds; [] if it does not."""
        if not behavior.applies(self.world):
            return []
        if behavior.on_start is not None:
            behavior.on_start(self.world)
        results: list[Any] = []
        previous: Any = None
        for i, action in enumerate(behavior.actions):
            args = {**behavior.args, "state": dict(self.world), "previous": previous}
            task = {"task_id": f"{self.agent_id}:{behavior.name}:{i}:{time.time_ns()}",
                    "kind": action, "args": args}
            previous = await self.run_task(task)
            results.append(previous)
        if behavior.on_end is not None:
            behavior.on_end(self.world, results)
        return results

    # -- contract net --------------------------------------------------------
    def propose(self, cfp: Mapping[str, Sequence[Any]],
                subset: Sequence[int] | None = None) -> dict[str, Any]:
        """Answer a round's calls for proposals in one go.

        ``cfp`` is columnar: ``task_ids``, ``kinds`` and ``capabilities`` (one
        list per task), and ``attributes`` and ``submitted_at`` when the tasks
        have any.  The reply is ``{"propose": [(task_id, cost, eta_s, load)],
        "refuse": {reason: [task_id]}, "not-understood": {reason: [...]}}``:
        every task gets exactly one answer, compactly, because one Ray call
        carries a whole round.  The cost is the agent's cost function's (all
        the round's tasks in one call), else ``1 + utilisation + eta``; an
        adaptive bidder's markup goes on top.  ``subset``: the positions of the tasks
        this agent is asked about (a round shared by many agents); None: all.
        """
        if subset is not None:
            cfp = {k: [v[i] for i in subset] for k, v in cfp.items()}
        # additive: its bids do not depend on what else it holds (then nobody needs to ask
        # it again as it wins tasks, and exchanges may be computed from these bids alone)
        reply: dict[str, Any] = {"propose": [], "refuse": {}, "not-understood": {},
                                 "additive": self.costs is None or not self.costs.takes_bundle}
        ids = list(cfp["task_ids"])
        if self.state not in (LifecycleState.IDLE, LifecycleState.BUSY):
            reply["refuse"][f"agent is {self.state.value}"] = ids
            return reply
        full = self.free_slots <= 0
        utilisation = self.load / self.spec.task_limit
        caps = self.capabilities
        biddable: list[TaskInfo] = []
        for task, needs in zip(task_infos(cfp), cfp["capabilities"], strict=True):
            missing = set(needs) - caps
            if missing:
                reply["refuse"].setdefault(f"lacks {sorted(missing)}", []).append(task.task_id)
                continue
            try:
                resolve_task(task.kind)
            except UnknownTaskKindError as exc:
                reply["not-understood"].setdefault(str(exc), []).append(task.task_id)
                continue
            if full:
                reply["refuse"].setdefault("at capacity", []).append(task.task_id)
                continue
            biddable.append(task)
        try:
            quotes = self.quotes(biddable, utilisation)
        except Exception as exc:  # a broken cost function refuses, saying why: others bid
            logger.warning("agent %s: cost function %s failed: %s", self.agent_id,
                           self.spec.cost, exc)
            broken = f"cost function {self.spec.cost} failed: {type(exc).__name__}: {exc}"
            reply["refuse"].setdefault(broken, []).extend(t.task_id for t in biddable)
            return reply
        markup = 1.0
        if self.bidder is not None and biddable:
            markup = self.bidder.choose([t.task_id for t in biddable])
        for task, quote in zip(biddable, quotes, strict=True):
            reason = self.refusal(task, quote)
            if reason is not None:
                reply["refuse"].setdefault(reason, []).append(task.task_id)
                continue
            assert quote is not None
            reply["propose"].append((task.task_id, quote.cost * markup,
                                     quote.eta_s or 0.0, utilisation))
        return reply

    def quotes(self, tasks: Sequence[TaskInfo], utilisation: float | None = None,
               bundle: Sequence[TaskInfo] = ()) -> list[Quote | None]:
        """What each task costs this agent on top of what it holds and ``bundle``."""
        if utilisation is None:
            utilisation = self.load / self.spec.task_limit
        if self.costs is None:
            # a cost of 1 for taking a task at all, so a markup means something at zero load
            etas = [self._durations.get(t.kind, 0.0) * (1 + utilisation) for t in tasks]
            return [Quote(1.0 + utilisation + eta, eta) for eta in etas]
        held = [*self._holding.values(), *bundle]
        return self.costs.quotes(MappingProxyType(self.world), tasks, held)

    def refusal(self, task: TaskInfo, quote: Quote | None) -> str | None:
        """Why the agent will not take ``task`` at ``quote``, or None when it will."""
        if quote is None:
            return "refused by its cost function"
        deadline = task.deadline_at
        if deadline is not None:
            eta = quote.eta_s if quote.eta_s is not None else self._durations.get(task.kind, 0.0)
            if time.time() + eta > deadline:
                return "cannot finish by its deadline"
        return None

    def marginal_bids(self, cfp: Mapping[str, Sequence[Any]], held: Sequence[str]
                      ) -> dict[str, float | None]:
        """Bids on ``cfp``'s tasks not in ``held``, given it would also hold ``held``
        (tasks of the same cfp): the extra cost of each, or None where it refuses."""
        tasks = {t.task_id: t for t in task_infos(cfp)}
        bundle = [tasks[t] for t in held if t in tasks]
        if self.state not in (LifecycleState.IDLE, LifecycleState.BUSY) \
                or self.free_slots - len(bundle) <= 0:
            return {t: None for t in tasks if t not in held}
        open_ = [t for tid, t in tasks.items() if tid not in held]
        return dict(zip((t.task_id for t in open_), self.bids(open_, bundle), strict=True))

    def bids(self, tasks: Sequence[TaskInfo], bundle: Sequence[TaskInfo] = ()
             ) -> list[float | None]:
        """What it would bid on each task on top of ``bundle``: None where it refuses
        (its cost function, a deadline), and on every task when the function fails."""
        try:
            quotes = self.quotes(tasks, bundle=bundle)
        except Exception as exc:
            logger.warning("agent %s: cost function %s failed: %s", self.agent_id,
                           self.spec.cost, exc)
            return [None] * len(tasks)
        return [None if q is None or self.refusal(t, q) is not None else q.cost
                for t, q in zip(tasks, quotes, strict=True)]

    async def settle(
        self, accepted: Sequence[Mapping[str, Any]], rejected: Sequence[str]
    ) -> list[tuple[bool, Any]]:
        """accept-proposal for ``accepted`` (run them) and reject-proposal for ``rejected``.

        Returns one ``(ok, value or "Type: message")`` per accepted task, in
        order: the inform-result or failure of each.
        """
        self.rejections += len(rejected)
        outcomes = await asyncio.gather(*(self.run_task(t) for t in accepted),
                                        return_exceptions=True)
        if self.bidder is not None:
            self.bidder.settle({t["task_id"]: not isinstance(o, BaseException)
                                for t, o in zip(accepted, outcomes, strict=True)}, rejected)
        return [(False, f"{type(o).__name__}: {o}") if isinstance(o, BaseException) else (True, o)
                for o in outcomes]

    def bid_for(self, resource: str) -> float | None:
        """Sealed bid for a resource: the agent's valuation, or None (no bid)."""
        value = self.spec.valuations.get(resource)
        return None if value is None else float(value)

    def vote(self, ballot: Mapping[str, Any]) -> Any:
        """Vote on ``ballot`` with this agent's registered voter."""
        voter = resolve_voter(self.spec.voter)
        return voter(ballot, self.describe())

    def vote_assignments(self, task_ids: Sequence[str],
                         candidates: Sequence[Mapping[str, Any]],
                         costs: Mapping[str, Mapping[str, float]] | None = None) -> list[Any]:
        """Vote who takes each task, in order, counting this agent's own earlier votes.

        Each candidate is ``{"id", "load", "capacity"}``; ``costs`` (task -> candidate
        -> cost), where the candidates quoted their own costs, puts a ``cost`` on each
        option and leaves out a candidate that quoted none for the task (it refused).
        After voting a task to a candidate the voter treats that candidate as one task
        busier, so a voter spreads a round's tasks instead of piling them on one agent.
        """
        voter = resolve_voter(self.spec.voter)
        me = self.describe()
        options = [{"id": c["id"], "load": c["load"] / max(c["capacity"], 1),
                    "step": 1.0 / max(c["capacity"], 1)} for c in candidates]
        by_id = {o["id"]: o for o in options}
        choices = []
        for task_id in task_ids:
            quoted = None if costs is None else costs.get(task_id, {})
            here = options if quoted is None else [
                {**o, "cost": quoted[o["id"]]} for o in options if o["id"] in quoted]
            choice = voter({"proposal_id": task_id, "question": f"who takes {task_id}",
                            "options": here}, me) if here else None
            if choice in by_id:
                by_id[choice]["load"] += by_id[choice]["step"]
            choices.append(choice)
        return choices

    # -- running tasks -------------------------------------------------------
    async def run_task(self, task: Mapping[str, Any]) -> Any:
        """Run a task once; a repeated call with the same id joins or returns the first run."""
        task_id = task["task_id"]
        if task_id in self._done:
            return self._done[task_id]
        running = self._inflight.get(task_id)
        if running is not None:
            return await asyncio.shield(running)
        if self.state not in (LifecycleState.IDLE, LifecycleState.BUSY):
            raise LifecycleError(f"agent {self.agent_id!r} is {self.state.value}")
        fn = resolve_task(task.get("kind", "noop"))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[task_id] = fut
        if task.get("attributes"):
            self._holding[task_id] = TaskInfo(task_id, task.get("kind", "noop"),
                                              MappingProxyType(dict(task["attributes"])),
                                              float(task.get("submitted_at") or 0.0))
        self.transition(LifecycleState.BUSY)
        started = self._clock()
        cid = task.get("correlation_id")
        fields = trace.log_fields(cid, task=task_id, agent=self.agent_id) \
            if logger.isEnabledFor(logging.INFO) else None
        if fields is not None:
            logger.info("task %s running on %s", task_id, self.agent_id, extra=fields)
        try:
            # what the task sends carries the id; it may publish on this agent's bus
            if self.context is None:  # no bus: tasks may still update the agent's state
                self.context = agent_context.AgentContext(
                    self.agent_id, asyncio.get_running_loop(), None, self.world)
            with trace.scope(cid), agent_context.running_on(self.context):
                result = await self._call(fn, dict(task.get("args") or {}))
        except BaseException as exc:
            if fields is not None:
                logger.info("task %s failed on %s: %s", task_id, self.agent_id, exc,
                            extra=fields)
            self.failed += 1
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: joiners re-raise it, nobody else must
            raise
        else:
            if fields is not None:
                logger.info("task %s done on %s", task_id, self.agent_id, extra=fields)
            self.completed += 1
            self._done[task_id] = result
            fut.set_result(result)
            return result
        finally:
            kind = task.get("kind", "noop")
            took = self._clock() - started
            self._durations[kind] = 0.8 * self._durations.get(kind, took) + 0.2 * took
            del self._inflight[task_id]
            self._holding.pop(task_id, None)
            if not self._inflight and self.state == LifecycleState.BUSY:
                self.transition(LifecycleState.IDLE)

    async def _call(self, fn: Callable[..., Any], args: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(fn):
            return await fn(**args)
        if getattr(fn, "__raymas_inline__", False):
            return fn(**args)
        if self._pool is None:  # bounded: N CPU-bound threads must not starve the loop
            self._pool = ThreadPoolExecutor(self.spec.task_threads,
                                            thread_name_prefix=f"task-{self.agent_id}")
        # in the task's context: its correlation id is current in the thread too
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, contextvars.copy_context().run, functools.partial(fn, **args))

    def describe(self) -> dict[str, Any]:
        """A snapshot for the Supervisor, the CLI and voters."""
        return {
            "agent_id": self.agent_id,
            "agent_type": self.spec.agent_type.value,
            "capabilities": sorted(self.capabilities),
            "state": self.state.value,
            "load": self.load,
            "capacity": self.spec.task_limit,
            "completed": self.completed,
            "failed": self.failed,
            "rejections": self.rejections,
            "goals": [{"name": g.name, "priority": g.priority} for g in self.goals],
            "bidding": (self.bidder.stats() if self.bidder is not None
                        else {"strategy": "fixed"}),
        }

