"""The Supervisor's task book: every decision about agents and tasks, with no Ray in it.

The book takes events — tasks submitted, an allocation round's replies, a
task's outcome, an agent heard from, silent, dead or back, a timer tick — and
answers with the actions the actor shell must carry out (:class:`Settle` a
round with an agent, :class:`Watch` an agent again).  Each public method
returns the actions its event caused, in order.  What it decides — task
transitions, results, the votes behind a consensus award — goes into one
stream (:meth:`TaskBook.take_decisions`, a :class:`Decisions` batch) that the
shell hands to its consumers (:mod:`agents.supervisor.sinks`: the ledger, in
one transaction, then the events topic); a waiter is told a task ended only
after that.  A decision is recorded once, in one place.

The rules, each unit-tested in ``tests/unit/agents/supervisor``:

- A task is queued once: a task requeued while a pass of rounds runs (its
  agent died, an attempt failed) is taken again in that same pass.
- An agent that misses its heartbeat deadline is *suspect*: it gets no new
  work but keeps its tasks; a heartbeat makes it a full participant again.
  Only the actor's death (Ray's signal, reported by the shell) makes it dead
  and sends its tasks back to the queue; a dead agent heard from again (Ray
  restarted it) comes back.
- A round places only what it can: an award for a task that ended, or to an
  agent that left or has no free slot, is dropped and the task queued again;
  every award is settled with its agent.
- A task that fails is retried until ``max_attempts``; one that fails for
  good fails its dependents, unless its plan can be repaired around it.

Example:
    >>> book = TaskBook(Ledger.open("sqlite:///:memory:"))
    >>> _ = book.agent_joined(AgentSpec("a1", capabilities=["x"], max_tasks=1), now=0.0)
    >>> _ = book.submit([TaskAllocation(task_id="t1", required_capabilities=["x"])])
    >>> [t.spec.task_id for t in book.take_batch()["contract_net"]]
    ['t1']
"""

from __future__ import annotations

import heapq
import logging
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from agents.planning.frontier import Dependencies
from agents.protocols import AgentView, AllocationStrategy, Refusal, TaskView
from agents.specs import AgentSpec, TaskAllocation, TaskState
from agents.supervisor.book_plans import PlanBook
from agents.supervisor.ledger import Ledger, Transition
from agents.supervisor.records import (
    Action,
    AgentEntry,
    Decisions,
    Probe,
    Settle,
    TaskRecord,
    Watch,
    check_task,
)
from agents.supervisor.rounds import RoundResult

__all__ = ["TaskBook"]

logger = logging.getLogger(__name__)


class TaskBook:
    """Agents, tasks, the pending queue and dependencies; see the module docstring."""

    def __init__(self, ledger: Ledger, *, default_strategy: str = "contract_net",
                 batch_size: int = 1024, heartbeat_timeout_s: float = 5.0,
                 seed: int = 0, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.default_strategy = default_strategy
        self.batch_size = batch_size
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.rng = np.random.default_rng(seed)
        self.clock = clock
        self.agents: dict[str, AgentEntry] = {}
        self.tasks: dict[str, TaskRecord] = {}
        #: which tasks wait on which (the planning frontier's incremental core)
        self.deps = Dependencies()
        self.results: dict[str, tuple[bool, Any, str | None, str | None]] = {}
        self.stats: dict[str, float] = {"rounds": 0, "late_replies": 0, "deaths": 0,
                                        "reassigned": 0, "duplicate_results": 0, "sink_errors": 0,
                                        "suspected": 0, "recovered": 0, "retries": 0,
                                        "plan_nodes_done": 0, "plan_nodes_failed": 0,
                                        "missed_deadlines": 0, "unanswered": 0}
        self.plans = PlanBook(self)
        self._pending: list[tuple[int, float, str]] = []
        self._deferred: list[TaskRecord] = []
        #: (deadline, task id) of tasks with a deadline: one nobody took by then fails
        self._deadlines: list[tuple[float, str]] = []
        self._decided = Decisions()
        self._out: list[Action] = []

    # -- the decision stream -------------------------------------------------------
    def _drain(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def take_decisions(self) -> Decisions:
        """Everything decided since the last call, for the ledger and the other consumers."""
        out, self._decided = self._decided, Decisions()
        return out

    @property
    def has_decisions(self) -> bool:
        return bool(self._decided)

    def note(self, action: str, target: str, outcome: str, detail: dict[str, Any]) -> None:
        """Put a decision that is not one task's transition into the stream."""
        self._decided.notes.append((action, target, outcome, detail))

    def _note(self, transition: Transition) -> None:
        self._decided.transitions.append(transition)

    # -- agents --------------------------------------------------------------------
    def agent_joined(self, spec: AgentSpec, now: float, node_id: str | None = None
                     ) -> list[Action]:
        view = AgentView(spec.agent_id, frozenset(spec.capabilities), spec.task_limit)
        self.agents[spec.agent_id] = AgentEntry(spec, view, now, node_id=node_id)
        self.ledger.upsert_agent(spec.agent_id, spec.to_dict(), "alive")
        return self._drain()

    def agents_joined(self, specs: Sequence[AgentSpec], now: float,
                      node_id: str | None = None) -> list[Action]:
        """Many agents joined at once (a host's): one write to the ledger."""
        for spec in specs:
            view = AgentView(spec.agent_id, frozenset(spec.capabilities), spec.task_limit)
            self.agents[spec.agent_id] = AgentEntry(spec, view, now, node_id=node_id)
        self.ledger.upsert_agents([(s.agent_id, s.to_dict(), "alive") for s in specs])
        return self._drain()

    def agent_gone(self, agent_id: str, spec: AgentSpec, reason: str) -> None:
        """Record an agent that was found dead when the book was rebuilt."""
        view = AgentView(agent_id, frozenset(spec.capabilities), spec.task_limit, alive=False)
        self.agents[agent_id] = AgentEntry(spec, view, 0.0, death=reason)
        self.ledger.upsert_agent(agent_id, spec.to_dict(), "dead")

    def agent_leaving(self, agent_id: str) -> None:
        """The agent is being stopped: no new work; what it runs finishes there."""
        rec = self.agents.get(agent_id)
        if rec is not None:
            rec.leaving = True

    def agent_left(self, agent_id: str, reason: str = "agent deregistered"
                   ) -> AgentEntry | None:
        """The agent is being stopped and forgotten; its unfinished tasks are requeued."""
        rec = self.agents.pop(agent_id, None)
        if rec is not None:
            rec.view.alive = False
            self._requeue_from(rec, reason)
            self.ledger.upsert_agent(agent_id, rec.spec.to_dict(), "deregistered")
        return rec

    def heard(self, agent_id: str, now: float) -> tuple[bool, list[Action]]:
        """A heartbeat: False for an agent the book does not know."""
        rec = self.agents.get(agent_id)
        if rec is None:
            return False, []
        rec.last_beat = now
        if rec.leaving:
            return True, self._drain()
        if rec.suspect:
            logger.info("agent %s heard from again", agent_id)
            rec.suspect = False
            self.stats["recovered"] += 1
        elif not rec.view.alive:  # Ray restarted its actor, or the beat left before it died
            self._out.append(Probe(agent_id))
        return True, self._drain()

    def back(self, agent_id: str, called_at: float) -> list[Action]:
        """An agent taken for dead answered a call made at ``called_at``: it is back
        (Ray restarted its actor), and calls made before then went to the old one."""
        rec = self.agents.get(agent_id)
        if rec is None or rec.view.alive or rec.leaving:
            return self._drain()
        logger.info("agent %s is back after %s", agent_id, rec.death)
        rec.view.alive, rec.suspect, rec.death, rec.back_at = True, False, None, called_at
        rec.last_beat = max(rec.last_beat, called_at)
        self.stats["recovered"] += 1
        self.ledger.upsert_agent(agent_id, rec.spec.to_dict(), "alive")
        self._out.append(Watch(agent_id))
        return self._drain()

    def tick(self, now: float) -> list[Action]:
        """Timer: agents silent past the heartbeat deadline become suspect."""
        for agent_id, rec in self.agents.items():
            if rec.eligible and now - rec.last_beat > self.heartbeat_timeout_s:
                logger.warning("agent %s missed its heartbeat deadline: suspect", agent_id)
                rec.suspect = True
                self.stats["suspected"] += 1
        self._expire(self.clock())
        return self._drain()

    def _expire(self, now: float) -> None:
        """A task whose deadline passed before any agent took it fails, saying why."""
        while self._deadlines and self._deadlines[0][0] <= now:
            task = self.tasks.get(heapq.heappop(self._deadlines)[1])
            if task is not None and task.agent_id is None and not task.state.terminal:
                self.stats["missed_deadlines"] += 1
                self.end_unrun(task, "deadline passed before any agent could take it"
                               + (f": {task.unplaced}" if task.unplaced else ""),
                               TaskState.FAILED)

    def agent_dead(self, agent_id: str, reason: str, called_at: float | None = None
                   ) -> list[Action]:
        """Ray reported the agent's actor dead: its tasks go back to the queue.

        ``called_at``: when the call that failed was made.  A call made before the
        agent came back (Ray restarted it) failed with the old actor: the agent that
        is back, and the tasks it runs now, stay.
        """
        rec = self.agents.get(agent_id)
        if rec is None or not rec.view.alive:
            return self._drain()
        if called_at is not None and called_at < rec.back_at:
            logger.info("agent %s: a call to its previous actor failed (%s); it is back",
                        agent_id, reason)
            return self._drain()
        logger.warning("agent %s is dead: %s", agent_id, reason)
        rec.view.alive, rec.suspect, rec.death = False, False, reason
        self.stats["deaths"] += 1
        self.ledger.upsert_agent(agent_id, rec.spec.to_dict(), "dead")
        self._decided.notes.append(("agent_death", agent_id, "dead", {
            "reason": reason, "tasks_requeued": sorted(
                t for t in rec.assigned if not self.tasks[t].state.terminal)}))
        self._requeue_from(rec, f"agent {agent_id} lost: {reason}")
        return self._drain()

    def _requeue_from(self, rec: AgentEntry, reason: str) -> None:
        for task_id in sorted(rec.assigned):
            task = self.tasks[task_id]
            if not task.state.terminal and task.agent_id == rec.spec.agent_id:
                self.stats["reassigned"] += 1
                self._enqueue(task, reason)
        rec.assigned.clear()

    def waiting(self, limit: int = 100_000) -> list[tuple[tuple[str, ...], float]]:
        """Queued tasks not placed yet: their required capabilities and how long since they
        were submitted (a pool grows on these), the first ``limit`` of them."""
        now = self.clock()
        out = []
        for _, _, task_id in self._pending[:limit]:
            task = self.tasks.get(task_id)
            if task is not None and task.queued and task.agent_id is None:
                out.append((tuple(task.spec.required_capabilities),
                            now - task.spec.submitted_at))
        out.extend((tuple(t.spec.required_capabilities), now - t.spec.submitted_at)
                   for t in self._deferred[:limit] if t.agent_id is None)
        return out

    def has_free(self) -> bool:
        return any(a.eligible and a.view.capacity > len(a.assigned)
                   for a in self.agents.values())

    # -- tasks ---------------------------------------------------------------------
    def submit(self, tasks: Sequence[TaskAllocation]) -> tuple[list[str], list[Action]]:
        """Queue checked tasks; an id already known is not queued again."""
        ids = self.submit_specs(tasks)
        return ids, self._drain()

    def submit_specs(self, tasks: Sequence[TaskAllocation]) -> list[str]:
        """:meth:`submit` without handing back the actions (they stay for the caller's)."""
        parsed = [check_task(t) for t in tasks]
        self.plans.check_dependencies(parsed)
        fresh = set(self.ledger.add_tasks((t.task_id, t.to_dict()) for t in parsed))
        new = [TaskRecord(t) for t in parsed if t.task_id in fresh and t.task_id not in self.tasks]
        self._take_in(new)
        return [t.task_id for t in parsed]

    def _take_in(self, tasks: Sequence[TaskRecord], reason: str = "") -> None:
        """Know every task first (one may depend on a later one), then queue or hold each."""
        for task in tasks:
            self.tasks[task.spec.task_id] = task
            if task.spec.deadline_at is not None:
                heapq.heappush(self._deadlines, (task.spec.deadline_at, task.spec.task_id))
        for task in tasks:
            if task.spec.depends_on:
                self.admit(task)
            else:
                self._enqueue(task, reason)

    def _outcome(self, task_id: str) -> tuple[bool, Any, str | None, str | None] | None:
        """``(ok, value, error, agent_id)`` of an ended task, from memory or the ledger."""
        cached = self.results.get(task_id)
        if cached is None:
            stored = self.ledger.result(task_id)
            if stored is not None:
                value = pickle.loads(stored.value) if stored.value else None
                cached = (stored.ok, value, stored.error, stored.agent_id)
        return cached

    def describe(self, task_id: str) -> dict[str, Any]:
        """A task's state, result or error, agent, attempts and timings."""
        cached = self._outcome(task_id)
        task = self.tasks.get(task_id)
        state = task.state.value if task else ("unknown" if cached is None else
                                               ("done" if cached[0] else "failed"))
        ok, value, error, agent = cached or (False, None, None, task.agent_id if task else None)
        return {"task_id": task_id, "state": state, "ok": ok, "value": value, "error": error,
                "agent_id": agent, "attempts": task.attempts if task else None,
                "submitted_at": task.spec.submitted_at if task else None,
                "awarded_at": task.awarded_at if task else None,
                "finished_at": task.finished_at if task else None,
                "correlation_id": task.spec.correlation_id if task else None,
                "unplaced": task.unplaced if task and task.agent_id is None
                and not task.state.terminal else None,
                **(_lateness(task) if task else {})}

    def reload(self) -> None:
        """Rebuild the unfinished tasks from the ledger (after a Supervisor restart)."""
        self._take_in([TaskRecord(TaskAllocation.from_dict(spec), TaskState(state), attempts)
                       for _, spec, attempts, state in self.ledger.unfinished()],
                      "supervisor restarted")
        if self.tasks:
            logger.info("reloaded %d unfinished tasks from the ledger", len(self.tasks))

    def _enqueue(self, task: TaskRecord, reason: str = "") -> None:
        if task.state is not TaskState.SUBMITTED:
            self._note(Transition(task.spec.task_id, TaskState.REASSIGNED.value,
                                  task.agent_id, reason))
            task.state = TaskState.REASSIGNED
        task.agent_id = None
        task.token += 1
        self._queue(task)

    def _queue(self, task: TaskRecord) -> None:
        """Into the pending heap, at most once: highest priority, then oldest, first."""
        if not task.queued:
            task.queued = True
            heapq.heappush(self._pending, (-task.spec.priority, task.spec.submitted_at,
                                           task.spec.task_id))

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._deferred)

    def take_batch(self) -> dict[str, list[TaskRecord]]:
        """Up to ``batch_size`` queued tasks, grouped by strategy; {} when nothing to do."""
        batch: list[TaskRecord] = []
        if self.has_free():
            while self._pending and len(batch) < self.batch_size:
                task = self.tasks.get(heapq.heappop(self._pending)[2])
                if task is None or not task.queued:
                    continue
                task.queued = False
                if task.agent_id is None and not task.state.terminal:
                    batch.append(task)
        groups: dict[str, list[TaskRecord]] = {}
        for task in batch:
            groups.setdefault(task.spec.strategy or self.default_strategy, []).append(task)
        return groups

    def end_pass(self) -> None:
        """Tasks no round could place this pass go back to the queue."""
        deferred, self._deferred = self._deferred, []
        for task in deferred:
            if task.agent_id is None and not task.state.terminal:
                self._queue(task)

    def round_views(self, tasks: Sequence[TaskRecord]
                    ) -> tuple[list[TaskView], dict[str, AgentView]]:
        """What a strategy and the round's calls see: the tasks and the eligible agents."""
        self.stats["rounds"] += 1
        views = {a: r.view for a, r in self.agents.items() if r.eligible}
        for agent_id, view in views.items():
            view.load = len(self.agents[agent_id].assigned)
        tviews = [TaskView(t.spec.task_id, tuple(t.spec.required_capabilities),
                           t.spec.priority, t.spec.submitted_at, t.spec.kind,
                           t.spec.attributes) for t in tasks]
        return tviews, views

    def announced(self, tasks: Sequence[TaskRecord]) -> None:
        for t in tasks:
            self._note(Transition(t.spec.task_id, TaskState.ANNOUNCED.value))

    def close_round(self, strategy: AllocationStrategy, tasks: Sequence[TaskRecord],
                    tviews: Sequence[TaskView], views: dict[str, AgentView],
                    rnd: RoundResult | None) -> list[Action]:
        """Place the round's tasks with ``strategy`` and the replies in ``rnd``."""
        proposals: Mapping[str, Any] = {}
        ballots: dict[str, Any] = {}
        conv = ""
        if rnd is not None:
            self.stats["late_replies"] += len(rnd.late_agents)
            for agent_id in rnd.dead:
                self.agent_dead(agent_id, "died during an allocation round")
                views.pop(agent_id, None)
            proposals, conv = rnd.proposals, rnd.conversation_id
            if strategy.needs_votes:
                ballots = {"votes": rnd.votes, "electorate": rnd.electorate}
        for agent_id in [a for a in views if a not in self.agents or not self.agents[a].eligible]:
            views.pop(agent_id)  # left or fell silent while the round ran
        outcome = strategy.allocate(tviews, views, proposals, self.rng, **ballots)
        for tid, decision in strategy.decisions.items():
            self._decided.votes.append((tid, tuple(
                (v.voter, v.choice, decision.weights.get(v.voter, 1.0)) for v in decision.votes),
                str(decision.choice)))
        accepted: dict[str, list[TaskRecord]] = {}
        rejected: dict[str, list[str]] = {}
        placed: set[str] = set()
        conversation = rnd.conversation if rnd is not None else None
        for award in outcome.awards:
            if conversation is not None:  # idempotent; refuses a second winner for a task
                award = conversation.award(award)
            task, rec = self.tasks.get(award.task_id), self.agents.get(award.agent_id)
            if task is None or task.state.terminal or task.agent_id is not None \
                    or award.task_id in placed:  # ended or placed while the round ran
                if rec is not None:
                    rejected.setdefault(award.agent_id, []).append(award.task_id)
                continue
            if rec is None or not rec.eligible or len(rec.assigned) >= rec.view.capacity:
                continue  # the agent left or is full: the task stays unplaced
            self._award(task, rec, conv, award.price)
            placed.add(award.task_id)
            accepted.setdefault(award.agent_id, []).append(task)
            for loser in award.rejected:
                rejected.setdefault(loser, []).append(award.task_id)
        for agent_id in accepted.keys() | rejected.keys():
            if agent_id in self.agents:
                mine = accepted.get(agent_id, [])
                self._out.append(Settle(agent_id, conv, tuple(mine),
                                        tuple(t.token for t in mine),
                                        tuple(rejected.get(agent_id, []))))
        self._deferred.extend(t for t in tasks if t.spec.task_id not in placed)
        _note_unplaced(tasks, placed, outcome.pending, rnd.refusals if rnd is not None else (),
                       views)
        return self._drain()

    def round_failed(self, tasks: Sequence[TaskRecord]) -> None:
        """A round broke before placing anything: its tasks wait for the next pass."""
        self._deferred.extend(t for t in tasks if t.agent_id is None)

    def _award(self, task: TaskRecord, rec: AgentEntry, conv: str, price: float) -> None:
        agent_id = rec.spec.agent_id
        task.agent_id, task.state, task.awarded_at = agent_id, TaskState.RUNNING, self.clock()
        task.token += 1
        rec.assigned.add(task.spec.task_id)
        tid = task.spec.task_id
        self._note(Transition(tid, TaskState.AWARDED.value, agent_id,
                              f"conversation={conv} price={price:g}"))
        self._note(Transition(tid, TaskState.RUNNING.value, agent_id))

    def settled(self, agent_id: str, tasks: Sequence[TaskRecord], tokens: Sequence[int],
                outcomes: Sequence[tuple[bool, Any]]) -> list[Action]:
        """An agent's outcomes for the tasks a :class:`Settle` gave it."""
        rec = self.agents.get(agent_id)
        for task, token, (ok, value) in zip(tasks, tokens, outcomes, strict=True):
            if rec is not None:
                rec.assigned.discard(task.spec.task_id)
            if task.token != token:
                if ok:  # finished after it was handed on: the first result still counts
                    self._finish(task, True, value, None, agent_id)
                continue
            if ok:
                self._finish(task, True, value, None, agent_id)
                continue
            task.attempts += 1
            if task.attempts < task.spec.max_attempts:
                self.stats["retries"] += 1
                self._enqueue(task, f"attempt {task.attempts} failed: {value}")
            else:
                self._finish(task, False, None, value, agent_id)
        return self._drain()

    def settle_unanswered(self, agent_id: str, tasks: Sequence[TaskRecord],
                          tokens: Sequence[int], reason: str) -> list[Action]:
        """Ray could not reach the agent for a moment and cannot say whether it ran
        ``tasks``: they are handed on (a result that still comes counts once); the agent
        is not taken for dead, its actor's watch says when it is."""
        rec = self.agents.get(agent_id)
        self.stats["unanswered"] += 1
        for task, token in zip(tasks, tokens, strict=True):
            if rec is not None:
                rec.assigned.discard(task.spec.task_id)
            if task.token == token and not task.state.terminal:
                self.stats["reassigned"] += 1
                self._enqueue(task, f"agent {agent_id} unreachable: {reason}")
        return self._drain()

    def recorded_elsewhere(self, conversation_id: str, specs: Sequence[TaskAllocation],
                           results: Mapping[str, Mapping[str, Any]]) -> list[Action]:
        """Tasks the agents allocated and ran among themselves while the Supervisor was
        away (``results``: task id -> agent_id, ok, value, error): they go on the record
        as done or failed by those agents; one nobody took is queued here now; a task
        already known is left as it is."""
        fresh = set(self.ledger.add_tasks((s.task_id, s.to_dict()) for s in specs))
        for spec in specs:
            if spec.task_id not in fresh or spec.task_id in self.tasks:
                continue
            task = self.tasks[spec.task_id] = TaskRecord(spec)
            res = results.get(spec.task_id)
            if res is None:
                self._enqueue(task, f"nobody took it in peer round {conversation_id}")
                continue
            task.awarded_at = self.clock()
            self._note(Transition(spec.task_id, TaskState.AWARDED.value, res["agent_id"],
                                  f"allocated among the agents: {conversation_id}"))
            self._finish(task, bool(res["ok"]), res.get("value"), res.get("error"),
                         res["agent_id"])
        return self._drain()

    def settle_lost(self, agent_id: str, tasks: Sequence[TaskRecord], tokens: Sequence[int],
                    reason: str, called_at: float | None = None) -> list[Action]:
        """The settle call (made at ``called_at``) died with the agent's actor."""
        if any(t.token == tok for t, tok in zip(tasks, tokens, strict=True)):
            self.agent_dead(agent_id, reason, called_at)
        return self._drain()

    def _finish(self, task: TaskRecord, ok: bool, value: Any, error: str | None,
                agent_id: str) -> None:
        if task.state.terminal:
            self.stats["duplicate_results"] += 1
            return
        try:
            blob = pickle.dumps(value)
        except Exception as exc:  # a result that cannot be stored is a failure, not a loss
            ok, value, error, blob = False, None, f"result not picklable: {exc}", b""
        task.state = TaskState.DONE if ok else TaskState.FAILED
        if task.spec.plan_id:  # plan progress (raymas_plan_nodes)
            self.stats[f"plan_nodes_{task.state.value}"] += 1
        task.agent_id = agent_id
        task.finished_at = self.clock()
        rec = self.agents.get(agent_id)
        if rec is not None:
            rec.done += 1
        self._decided.results.append((task.spec.task_id, ok, blob, error, agent_id))
        self._note(Transition(task.spec.task_id, task.state.value, agent_id,
                              error or "", attempts=task.attempts + (1 if ok else 0)))
        self.results[task.spec.task_id] = (ok, value, error, agent_id)
        self.released(task.spec.task_id, task.state)

    # -- dependencies ----------------------------------------------------------------
    def admit(self, task: TaskRecord) -> None:
        """Queue a new or reloaded task now, or hold it until its dependencies are done."""
        open_deps: list[str] = []
        for dep in task.spec.depends_on:
            state = self.dependency_state(dep)
            if state in ("failed", "cancelled", "unknown"):
                self.end_unrun(task, f"dependency {dep!r} {state}", TaskState.FAILED)
                return
            if state != "done":
                open_deps.append(dep)
        if not self.deps.hold(task.spec.task_id, open_deps):
            self._ready(task)

    def dependency_state(self, dep: str) -> str:
        rec = self.tasks.get(dep)
        if rec is not None:
            return rec.state.value if rec.state.terminal else "open"
        stored = self.ledger.result(dep)
        if stored is not None:
            return "done" if stored.ok else "failed"
        state = self.ledger.task_states([dep]).get(dep)
        return "unknown" if state is None else ("cancelled" if state == "cancelled" else "open")

    def _ready(self, task: TaskRecord) -> None:
        prefix = f"{task.spec.plan_id}/" if task.spec.plan_id else ""
        task.inputs = {d.removeprefix(prefix): (self._outcome(d) or (False, None))[1]
                       for d in task.spec.depends_on}
        self._enqueue(task)

    def released(self, task_id: str, state: TaskState) -> None:
        """A task ended: admit dependents now complete, fail those it leaves stranded
        (unless its plan can be repaired around it)."""
        task = self.tasks.get(task_id)
        if state is TaskState.FAILED and task is not None and task.spec.plan_id \
                and task.attempts > 0:  # it ran and failed (not a stranded dependent)
            try:
                repaired = self.plans.try_repair(task)
            except Exception:  # a repair that breaks must not strand the plan: fail as before
                logger.exception("plan %s: repair around %s failed", task.spec.plan_id, task_id)
                repaired = False
            if repaired:
                return
        if state is TaskState.DONE:
            for child_id in self.deps.done(task_id):
                child = self.tasks.get(child_id)
                if child is not None and not child.state.terminal:
                    self._ready(child)
            return
        for child_id, parent in self.deps.failed(task_id):
            child = self.tasks.get(child_id)
            if child is None or child.state.terminal:
                continue
            why = state.value if parent == task_id else TaskState.FAILED.value
            self.end_unrun(child, f"dependency {parent!r} {why}", TaskState.FAILED,
                           cascade=False)

    def end_unrun(self, task: TaskRecord, why: str, state: TaskState, *,
                  cascade: bool = True) -> None:
        """End a task that no agent ran (a failed dependency, a cancelled plan)."""
        tid = task.spec.task_id
        task.state, task.finished_at = state, self.clock()
        self.deps.drop(tid)
        self._decided.results.append((tid, False, None, why, None))
        self._note(Transition(tid, state.value, None, why))
        self.results[tid] = (False, None, why, None)
        if cascade:
            self.released(tid, state)

    def cancel(self, task_ids: Sequence[str], why: str) -> tuple[int, list[Action]]:
        """Cancel the tasks that have not ended (dependents first); how many were."""
        n = 0
        for tid in task_ids:
            task = self.tasks.get(tid)
            if task is not None and not task.state.terminal:
                self.end_unrun(task, why, TaskState.CANCELLED)
                n += 1
        return n, self._drain()

    def drain(self) -> list[Action]:
        """Actions caused by calls made through :attr:`plans`."""
        return self._drain()


def _lateness(task: TaskRecord) -> dict[str, Any]:
    """A task with a deadline: when it was due and, once ended, how late (negative: early)."""
    due = task.spec.deadline_at
    if due is None:
        return {}
    done = task.finished_at
    return {"deadline_at": due, "lateness_s": None if done is None else done - due}


def _note_unplaced(tasks: Sequence[TaskRecord], placed: set[str], pending: Mapping[str, str],
                   refusals: Sequence[Refusal], views: Mapping[str, AgentView]) -> None:
    """Keep, on each task a round left, why: no agent able, its refusals by reason, else
    the strategy's."""
    said: dict[str, dict[str, int]] = {}
    for r in refusals:
        if r.task_id not in placed:
            reasons = said.setdefault(r.task_id, {})
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    for task in tasks:
        tid = task.spec.task_id
        if tid in placed:
            task.unplaced = ""
        elif not any(v.can_do(task.spec.required_capabilities) for v in views.values()):
            task.unplaced = (f"no live agent has {sorted(task.spec.required_capabilities)}")
        elif tid in said:
            task.unplaced = "; ".join(f"{n} refused: {why}" for why, n in said[tid].items())
        else:
            task.unplaced = pending.get(tid, "")
