"""Allocation: the loop that turns pending tasks into awards, runs them, and records results.

:class:`Allocator` is the half of the Supervisor actor that moves tasks:
pending heap → one round per strategy (proposals or ballots first where the
strategy needs them) → dispatch to the winning agent → result or retry →
ledger.  Results and transitions are buffered and written in one transaction
per burst; a waiter is only woken after its result is in the ledger.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import pickle
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray

from agents.protocols import AgentView, AllocationStrategy, TaskView, get_strategy
from agents.specs import AgentSpec, TaskAllocation, TaskState
from agents.supervisor.calls import ballot_round, cfp_round
from agents.supervisor.ledger import Ledger, Transition

__all__ = ["Allocator"]

logger = logging.getLogger(__name__)


@dataclass
class AgentRecord:
    spec: AgentSpec
    handle: Any
    view: AgentView
    last_beat: float
    assigned: set[str] = field(default_factory=set)
    node_id: str | None = None
    done: int = 0
    death: str | None = None


@dataclass
class TaskRecord:
    spec: TaskAllocation
    state: TaskState = TaskState.SUBMITTED
    attempts: int = 0
    agent_id: str | None = None
    token: int = 0
    awarded_at: float | None = None
    finished_at: float | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    awarded: asyncio.Event = field(default_factory=asyncio.Event)
    #: results of the tasks this one depends on, by node id (set when it becomes ready)
    inputs: dict[str, Any] | None = None

    @property
    def wire(self) -> dict[str, Any]:
        """What the agent needs to run the task: id, kind and args (no scheduling fields)."""
        args = self.spec.args if self.inputs is None else {**self.spec.args,
                                                           "inputs": self.inputs}
        return {"task_id": self.spec.task_id, "kind": self.spec.kind, "args": args}


class Allocator:
    """Task movement for the Supervisor; the state it uses is set up by ``Supervisor``."""

    agents: dict[str, AgentRecord]
    tasks: dict[str, TaskRecord]
    ledger: Ledger
    rng: np.random.Generator
    stats: dict[str, float]
    _pending: list[tuple[int, float, str]]
    _results: dict[str, tuple[bool, Any, str | None, str | None]]
    _journal: list[Transition]
    _result_buf: list[tuple[str, bool, bytes | None, str | None, str | None]]
    _flush_scheduled: bool
    _wake: asyncio.Event
    default_strategy: str
    batch_size: int
    bid_timeout_s: float
    cfp_fanout: int

    _tasks_running: set[asyncio.Task[None]]

    def _mark_dead(self, agent_id: str, reason: str) -> None:
        raise NotImplementedError

    def _released(self, task_id: str, state: TaskState) -> None:
        """A task ended (dependency bookkeeping hooks in here; see ``agents.supervisor.plans``)."""

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task, holding a reference so it is not collected mid-flight."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks_running.add(task)
        task.add_done_callback(self._tasks_running.discard)

    def _enqueue(self, task: TaskRecord, reason: str = "") -> None:
        if task.state is not TaskState.SUBMITTED:
            self._journal.append(Transition(task.spec.task_id, TaskState.REASSIGNED.value,
                                            task.agent_id, reason))
            task.state = TaskState.REASSIGNED
        task.agent_id = None
        task.token += 1
        heapq.heappush(self._pending, (-task.spec.priority, task.spec.submitted_at,
                                       task.spec.task_id))
        self._wake.set()

    async def _allocation_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._allocate_pending()
            except Exception:  # keep the loop alive; the failure is logged with its trace
                logger.exception("allocation round failed")
            self._flush()

    def _has_free(self) -> bool:
        return any(a.view.alive and a.view.capacity > len(a.assigned)
                   for a in self.agents.values())

    async def _allocate_pending(self) -> None:
        unplaced: list[tuple[int, float, str]] = []
        seen: set[str] = set()  # a requeued task may sit in the heap twice
        while self._pending and self._has_free():
            batch: list[TaskRecord] = []
            while self._pending and len(batch) < self.batch_size:
                entry = heapq.heappop(self._pending)
                task = self.tasks.get(entry[2])
                if task is None or task.agent_id is not None or task.state.terminal:
                    continue
                if entry[2] in seen:
                    continue
                seen.add(entry[2])
                batch.append(task)
            if not batch:
                break
            by_strategy: dict[str, list[TaskRecord]] = {}
            for task in batch:
                by_strategy.setdefault(task.spec.strategy or self.default_strategy, []).append(task)
            for name, tasks in by_strategy.items():
                try:
                    placed = await self._round(get_strategy(name), tasks)
                except Exception:  # a broken round must not lose its tasks: back to the queue
                    logger.exception("allocation round with %s failed", name)
                    placed = set()
                unplaced.extend((-t.spec.priority, t.spec.submitted_at, t.spec.task_id)
                                for t in tasks if t.spec.task_id not in placed)
        for entry in unplaced:
            heapq.heappush(self._pending, entry)

    async def _round(self, strategy: AllocationStrategy, tasks: list[TaskRecord]) -> set[str]:
        self.stats["rounds"] += 1
        views = {a: r.view for a, r in self.agents.items() if r.view.alive}
        for agent_id, view in views.items():
            view.load = len(self.agents[agent_id].assigned)
        tviews = [TaskView(t.spec.task_id, tuple(t.spec.required_capabilities),
                           t.spec.priority, t.spec.submitted_at, t.spec.kind) for t in tasks]
        handles = {a: self.agents[a].handle for a in views}
        proposals: Mapping[str, Any] = {}
        conv = ""
        kwargs: dict[str, Any] = {}
        if strategy.needs_proposals:
            for t in tasks:
                self._journal.append(Transition(t.spec.task_id, TaskState.ANNOUNCED.value))
            rnd = await cfp_round(tviews, views, handles, self.bid_timeout_s, time.time(),
                                  self.cfp_fanout)
            proposals, conv = rnd.proposals, rnd.conversation_id
        elif getattr(strategy, "needs_votes", False):
            rnd = await ballot_round(tviews, views, handles, self.bid_timeout_s,
                                     self.cfp_fanout)
            kwargs.update(votes=rnd.votes, electorate=rnd.electorate)
            conv = rnd.conversation_id
        else:
            rnd = None
        if rnd is not None:
            self.stats["late_replies"] += len(rnd.late_agents)
            for agent_id in rnd.dead:
                self._mark_dead(agent_id, "died during an allocation round")
                views.pop(agent_id, None)
        outcome = strategy.allocate(tviews, views, proposals, self.rng, **kwargs)
        for tid, decision in getattr(strategy, "decisions", {}).items():
            self.ledger.record_votes(tid, [(v.voter, v.choice, decision.weights.get(v.voter, 1.0))
                                           for v in decision.votes], str(decision.choice))
        accepted: dict[str, list[TaskRecord]] = {}
        rejected: dict[str, list[str]] = {}
        conversation = rnd.conversation if rnd is not None else None
        for award in outcome.awards:
            if conversation is not None:  # idempotent; refuses a second winner for a task
                award = conversation.award(award)
            if self.tasks[award.task_id].state.terminal:  # cancelled while the round ran
                rejected.setdefault(award.agent_id, []).append(award.task_id)
                continue
            task = self._award(self.tasks[award.task_id], award.agent_id, conv, award.price)
            accepted.setdefault(award.agent_id, []).append(task)
            for loser in award.rejected:
                rejected.setdefault(loser, []).append(award.task_id)
        for agent_id in accepted.keys() | rejected.keys():
            if agent_id in handles:
                self._background(self._settle(self.agents[agent_id], conv,
                                              accepted.get(agent_id, []),
                                              rejected.get(agent_id, [])))
        return {a.task_id for a in outcome.awards}

    def _award(self, task: TaskRecord, agent_id: str, conv: str, price: float) -> TaskRecord:
        rec = self.agents[agent_id]
        task.agent_id, task.state, task.awarded_at = agent_id, TaskState.RUNNING, time.time()
        task.token += 1
        rec.assigned.add(task.spec.task_id)
        tid = task.spec.task_id
        self._journal.append(Transition(tid, TaskState.AWARDED.value, agent_id,
                                        f"conversation={conv} price={price:g}"))
        self._journal.append(Transition(tid, TaskState.RUNNING.value, agent_id))
        task.awarded.set()
        return task

    async def _settle(self, rec: AgentRecord, conv: str, tasks: list[TaskRecord],
                      rejected: list[str]) -> None:
        """Send accept/reject to one agent; record each accepted task's outcome."""
        tokens = [t.token for t in tasks]
        try:
            outcomes = await rec.handle.settle.remote(conv, [t.wire for t in tasks],
                                                      rejected)
        except ray.exceptions.RayActorError as exc:
            if any(t.token == tok for t, tok in zip(tasks, tokens, strict=True)):
                self._mark_dead(rec.spec.agent_id, f"actor died: {type(exc).__name__}")
            return
        for task, token, (ok, value) in zip(tasks, tokens, outcomes, strict=True):
            rec.assigned.discard(task.spec.task_id)
            if task.token != token:
                if ok:  # finished after it was handed on: the first result still counts
                    self._finish(task, True, value, None, rec)
                continue
            if ok:
                self._finish(task, True, value, None, rec)
                continue
            task.attempts += 1
            if task.attempts < task.spec.max_attempts:
                self._enqueue(task, f"attempt {task.attempts} failed: {value}")
            else:
                self._finish(task, False, None, value, rec)

    def _finish(self, task: TaskRecord, ok: bool, value: Any, error: str | None,
                rec: AgentRecord) -> None:
        if task.state.terminal:
            self.stats["duplicate_results"] += 1
            return
        try:
            blob = pickle.dumps(value)
        except Exception as exc:  # a result that cannot be stored is a failure, not a loss
            ok, value, error, blob = False, None, f"result not picklable: {exc}", b""
        task.state = TaskState.DONE if ok else TaskState.FAILED
        task.agent_id = rec.spec.agent_id
        task.finished_at = time.time()
        rec.done += 1
        self._result_buf.append((task.spec.task_id, ok, blob, error, rec.spec.agent_id))
        self._journal.append(Transition(task.spec.task_id, task.state.value, rec.spec.agent_id,
                                        error or "", attempts=task.attempts + (1 if ok else 0)))
        self._results[task.spec.task_id] = (ok, value, error, rec.spec.agent_id)
        self._schedule_flush()
        self._wake.set()
        self._released(task.spec.task_id, task.state)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write buffered transitions and results in one transaction, then wake waiters."""
        self._flush_scheduled = False
        results, self._result_buf = self._result_buf, []
        journal, self._journal = self._journal, []
        if results:
            firsts = self.ledger.save_results(results, journal)
            self.stats["duplicate_results"] += firsts.count(False)
        else:
            self.ledger.record(journal)
        for task_id, *_ in results:
            self.tasks[task_id].finished.set()

