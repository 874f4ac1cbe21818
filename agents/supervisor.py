"""The Supervisor actor: registry, allocation loop, heartbeats, ledger and recovery.

It is created named and detached in the raymas namespace (see
:mod:`agents.client`), so scripts and jobs find it with ``ray.get_actor``; Ray
restarts it if it dies, and a restarted Supervisor reloads the ledger: agents
are re-attached by name and unfinished tasks go back to allocation.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray

from agents.actor import AgentActor, agent_actor_name
from agents.errors import AllocationError, TaskFailedError
from agents.ledger import Ledger, Transition
from agents.model import AgentSpec, TaskAllocation, TaskState
from agents.protocols import AgentView, AllocationStrategy, TaskView, get_strategy
from agents.rounds import ballot_round, cfp_round
from agents.spawn import spawn_agents

__all__ = ["Supervisor", "SupervisorSettings"]

logger = logging.getLogger(__name__)


@dataclass
class SupervisorSettings:
    """What the Supervisor actor needs (built from the ``supervisor`` config section)."""

    name: str = "raymas-supervisor"
    namespace: str = "raymas"
    strategy: str = "contract_net"
    ledger_url: str = "sqlite:///.raymas/ledger.db"
    heartbeat_timeout_s: float = 5.0
    bid_timeout_s: float = 2.0
    batch_size: int = 256
    seed: int = 0
    agent_start_timeout_s: float = 60.0
    fresh: bool = False


@dataclass
class _Agent:
    spec: AgentSpec
    handle: Any
    view: AgentView
    last_beat: float
    assigned: set[str] = field(default_factory=set)
    node_id: str | None = None
    done: int = 0
    death: str | None = None


@dataclass
class _Task:
    spec: TaskAllocation
    state: TaskState = TaskState.SUBMITTED
    attempts: int = 0
    agent_id: str | None = None
    token: int = 0
    awarded_at: float | None = None
    finished_at: float | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    awarded: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    """Coordinates agents; see the module docstring.  Every public method is a Ray call."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.cfg = SupervisorSettings(**dict(settings))
        self.ledger = Ledger.open(self.cfg.ledger_url)
        if self.cfg.fresh and not self._restarted():
            self.ledger.clear()
        self.rng = np.random.default_rng(self.cfg.seed)
        self.agents: dict[str, _Agent] = {}
        self.tasks: dict[str, _Task] = {}
        self._pending: list[tuple[int, float, str]] = []
        self._results: dict[str, tuple[bool, Any, str | None, str | None]] = {}
        self._journal: list[Transition] = []
        self._result_buf: list[tuple[str, bool, bytes | None, str | None, str | None]] = []
        self._flush_scheduled = False
        self.stats: dict[str, float] = {"rounds": 0, "late_replies": 0, "deaths": 0,
                                        "reassigned": 0, "duplicate_results": 0}
        self._wake = asyncio.Event()
        self._reload()
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._allocation_loop()),
                       loop.create_task(self._monitor_loop())]

    @staticmethod
    def _restarted() -> bool:
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)

    # -- recovery ------------------------------------------------------------
    def _reload(self) -> None:
        for agent_id, spec, status in self.ledger.agents():
            if status != "alive":
                continue
            try:
                handle = ray.get_actor(agent_actor_name(agent_id), namespace=self.cfg.namespace)
            except ValueError:  # died while the Supervisor was down: keep it on the record
                parsed = AgentSpec.from_dict(spec)
                view = AgentView(agent_id, frozenset(parsed.capabilities), parsed.task_limit,
                                 alive=False)
                self.agents[agent_id] = _Agent(parsed, None, view, time.monotonic(),
                                               death="gone when the Supervisor restarted")
                self.ledger.upsert_agent(agent_id, spec, "dead")
                continue
            self._register(AgentSpec.from_dict(spec), handle, None)
        for task_id, spec, attempts, state in self.ledger.unfinished():
            task = _Task(TaskAllocation.from_dict(spec), TaskState(state), attempts)
            self.tasks[task_id] = task
            self._enqueue(task, "supervisor restarted")
        if self.tasks:
            logger.info("reloaded %d unfinished tasks from the ledger", len(self.tasks))

    # -- agents --------------------------------------------------------------
    def _register(self, spec: AgentSpec, handle: Any, node_id: str | None) -> None:
        view = AgentView(spec.agent_id, frozenset(spec.capabilities), spec.task_limit)
        rec = _Agent(spec, handle, view, time.monotonic(), node_id=node_id)
        self.agents[spec.agent_id] = rec
        asyncio.get_running_loop().create_task(self._watch(rec))
        self.ledger.upsert_agent(spec.agent_id, spec.to_dict(), "alive")
        self._wake.set()

    async def _watch(self, rec: _Agent) -> None:
        try:
            await rec.handle.watch.remote()
        except ray.exceptions.RayActorError as exc:
            self._mark_dead(rec.spec.agent_id, f"actor died: {type(exc).__name__}")

    async def spawn(self, specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Start agent actors from specs (resource checks first); return their descriptions."""
        parsed = [AgentSpec.from_dict(s) for s in specs]
        started = await spawn_agents(
            AgentActor, parsed, self.cfg.name, self.cfg.namespace, self.cfg.agent_start_timeout_s
        )
        for spec, handle, info in started:
            self._register(spec, handle, info.get("node_id"))
        return [info for _, _, info in started]

    async def register_agent(
        self, agent_id: str, capabilities: Sequence[str], max_tasks: int | None = None,
        **spec: Any,
    ) -> dict[str, Any]:
        """Start (or re-attach to) an agent with these capabilities and task limit."""
        full = {"agent_id": agent_id, "capabilities": list(capabilities),
                "max_tasks": max_tasks, **spec}
        return (await self.spawn([full]))[0]

    async def deregister_agent(self, agent_id: str, timeout_s: float = 30.0) -> bool:
        """Stop an agent after its running tasks finish, and forget it."""
        rec = self.agents.pop(agent_id, None)
        if rec is None:
            return False
        was_alive, rec.view.alive = rec.view.alive, False
        if was_alive:
            try:
                await asyncio.wait_for(rec.handle.stop.remote(), timeout=timeout_s)
            except (TimeoutError, ray.exceptions.RayActorError):
                pass
        if rec.handle is not None:
            ray.kill(rec.handle, no_restart=True)
        self._requeue_from(rec, "agent deregistered")
        self.ledger.upsert_agent(agent_id, rec.spec.to_dict(), "deregistered")
        return True

    def list_agents(self) -> list[dict[str, Any]]:
        return [self._summary(a) for a in sorted(self.agents.values(),
                                                 key=lambda a: a.spec.agent_id)]

    async def describe_agent(self, agent_id: str) -> dict[str, Any]:
        rec = self.agents.get(agent_id)
        if rec is None:
            raise AllocationError(f"no agent {agent_id!r} is registered")
        info = self._summary(rec)
        if rec.view.alive:
            info.update(await rec.handle.describe.remote())
        return info

    def _summary(self, a: _Agent) -> dict[str, Any]:
        return {"agent_id": a.spec.agent_id, "agent_type": a.spec.agent_type.value,
                "capabilities": sorted(a.view.capabilities), "capacity": a.view.capacity,
                "load": len(a.assigned), "alive": a.view.alive, "done": a.done,
                "node_id": a.node_id, "death": a.death}

    def heartbeat(self, agent_id: str, load: int, state: str) -> bool:
        rec = self.agents.get(agent_id)
        if rec is None or not rec.view.alive:
            return False
        rec.last_beat = time.monotonic()
        return True

    def _mark_dead(self, agent_id: str, reason: str) -> None:
        rec = self.agents.get(agent_id)
        if rec is None or not rec.view.alive:
            return
        logger.warning("agent %s is dead: %s", agent_id, reason)
        rec.view.alive = False
        rec.death = reason
        self.stats["deaths"] += 1
        self.ledger.upsert_agent(agent_id, rec.spec.to_dict(), "dead")
        self._requeue_from(rec, f"agent {agent_id} lost: {reason}")

    def _requeue_from(self, rec: _Agent, reason: str) -> None:
        for task_id in sorted(rec.assigned):
            task = self.tasks[task_id]
            if not task.state.terminal:
                self.stats["reassigned"] += 1
                self._enqueue(task, reason)
        rec.assigned.clear()
        self._schedule_flush()

    async def _monitor_loop(self) -> None:
        tick = max(0.05, self.cfg.heartbeat_timeout_s / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for agent_id, rec in list(self.agents.items()):
                if rec.view.alive and now - rec.last_beat > self.cfg.heartbeat_timeout_s:
                    self._mark_dead(agent_id, "missed heartbeat deadline")
            if self._pending:
                self._wake.set()  # re-announce tasks nobody bid for

    # -- tasks ---------------------------------------------------------------
    def _enqueue(self, task: _Task, reason: str = "") -> None:
        if task.state is not TaskState.SUBMITTED:
            self._journal.append(Transition(task.spec.task_id, TaskState.REASSIGNED.value,
                                            task.agent_id, reason))
            task.state = TaskState.REASSIGNED
        task.agent_id = None
        task.token += 1
        heapq.heappush(self._pending, (-task.spec.priority, task.spec.submitted_at,
                                       task.spec.task_id))
        self._wake.set()

    def submit(self, tasks: Sequence[Mapping[str, Any] | TaskAllocation]) -> list[str]:
        """Queue tasks for allocation; an id already known is not queued again."""
        parsed = [t if isinstance(t, TaskAllocation) else TaskAllocation.from_dict(t)
                  for t in tasks]
        self._flush()
        fresh = set(self.ledger.add_tasks((t.task_id, t.to_dict()) for t in parsed))
        for t in parsed:
            if t.task_id in fresh and t.task_id not in self.tasks:
                task = _Task(t)
                self.tasks[t.task_id] = task
                self._enqueue(task)
        return [t.task_id for t in parsed]

    async def allocate_task(self, task: Mapping[str, Any] | TaskAllocation,
                            timeout_s: float | None = None) -> str:
        """Submit one task and return the id of the agent it was awarded to."""
        task_id = self.submit([task])[0]
        rec = self.tasks.get(task_id)
        if rec is None:  # already finished in an earlier life: report who did it
            stored = self.ledger.result(task_id)
            return stored.agent_id if stored and stored.agent_id else ""
        await asyncio.wait_for(rec.awarded.wait(), timeout=timeout_s)
        return rec.agent_id or str(self.result(task_id)["agent_id"])

    async def wait(self, task_ids: Sequence[str], timeout_s: float | None = None,
                   raise_on_failure: bool = False) -> dict[str, dict[str, Any]]:
        """Wait for tasks to finish (or ``timeout_s``); return each one's outcome."""
        waits = [self.tasks[t].finished.wait() for t in task_ids
                 if t in self.tasks and not self.tasks[t].state.terminal]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), timeout=timeout_s)
            except TimeoutError:
                pass
        out = {t: self.result(t) for t in task_ids}
        if raise_on_failure:
            for t, r in out.items():
                if r["state"] == TaskState.FAILED.value:
                    raise TaskFailedError(t, r["error"] or "")
        return out

    def result(self, task_id: str) -> dict[str, Any]:
        cached = self._results.get(task_id)
        if cached is None:
            stored = self.ledger.result(task_id)
            if stored is not None:
                value = pickle.loads(stored.value) if stored.value else None
                cached = (stored.ok, value, stored.error, stored.agent_id)
        task = self.tasks.get(task_id)
        state = task.state.value if task else ("unknown" if cached is None else
                                               ("done" if cached[0] else "failed"))
        ok, value, error, agent = cached or (False, None, None, task.agent_id if task else None)
        return {"task_id": task_id, "state": state, "ok": ok, "value": value, "error": error,
                "agent_id": agent, "attempts": task.attempts if task else None,
                "submitted_at": task.spec.submitted_at if task else None,
                "awarded_at": task.awarded_at if task else None,
                "finished_at": task.finished_at if task else None}

    async def progress(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, int]:
        """Wait up to ``timeout_s`` for the tasks; count how many are done and failed."""
        await self.wait(task_ids, timeout_s)
        self._flush()
        counts = {"total": len(task_ids), "done": 0, "failed": 0}
        for t in task_ids:
            task = self.tasks.get(t)
            if task is not None and task.state.terminal:
                counts[task.state.value] += 1
        return counts

    def name(self) -> str:
        return self.cfg.name

    def votes(self, proposal_id: str) -> list[tuple[str, Any, float, str]]:
        """Every vote recorded for a proposal (a task id, for consensus allocation)."""
        return self.ledger.votes(proposal_id)

    def history(self, task_id: str) -> list[tuple[str, str | None, str]]:
        self._flush()
        return self.ledger.history(task_id)

    def status(self) -> dict[str, Any]:
        self._flush()
        alive = [a for a in self.agents.values() if a.view.alive]
        return {"agents": len(self.agents), "alive": len(alive),
                "capacity": sum(a.view.capacity for a in alive),
                "load": sum(len(a.assigned) for a in alive), "pending": len(self._pending),
                "tasks": self.ledger.counts(), "stats": dict(self.stats),
                "strategy": self.cfg.strategy, "ledger": self.cfg.ledger_url.split("@")[-1]}

    async def shutdown(self) -> int:
        """Stop every agent (running tasks finish first); return how many were stopped."""
        names = list(self.agents)
        for agent_id in names:
            await self.deregister_agent(agent_id)
        self._flush()
        return len(names)

    # -- allocation ----------------------------------------------------------
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
            batch: list[_Task] = []
            while self._pending and len(batch) < self.cfg.batch_size:
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
            by_strategy: dict[str, list[_Task]] = {}
            for task in batch:
                by_strategy.setdefault(task.spec.strategy or self.cfg.strategy, []).append(task)
            for name, tasks in by_strategy.items():
                placed = await self._round(get_strategy(name), tasks)
                unplaced.extend((-t.spec.priority, t.spec.submitted_at, t.spec.task_id)
                                for t in tasks if t.spec.task_id not in placed)
        for entry in unplaced:
            heapq.heappush(self._pending, entry)

    async def _round(self, strategy: AllocationStrategy, tasks: list[_Task]) -> set[str]:
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
            rnd = await cfp_round(tviews, views, handles, self.cfg.bid_timeout_s, time.time())
            proposals, conv = rnd.proposals, rnd.conversation_id
        elif getattr(strategy, "needs_votes", False):
            rnd = await ballot_round(tviews, views, handles, self.cfg.bid_timeout_s)
            kwargs["votes"], conv = rnd.votes, rnd.conversation_id
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
        rejects: dict[str, list[str]] = {}
        for award in outcome.awards:
            self._dispatch(self.tasks[award.task_id], award.agent_id, conv, award.price)
            for loser in award.rejected:
                rejects.setdefault(loser, []).append(award.task_id)
        for agent_id, ids in rejects.items():
            if agent_id in handles:
                handles[agent_id].reject.remote(conv, ids)  # fire and forget: nothing reserved
        return {a.task_id for a in outcome.awards}

    def _dispatch(self, task: _Task, agent_id: str, conv: str, price: float) -> None:
        rec = self.agents[agent_id]
        task.agent_id, task.state, task.awarded_at = agent_id, TaskState.RUNNING, time.time()
        task.token += 1
        rec.assigned.add(task.spec.task_id)
        tid = task.spec.task_id
        self._journal.append(Transition(tid, TaskState.AWARDED.value, agent_id,
                                        f"conversation={conv} price={price:g}"))
        self._journal.append(Transition(tid, TaskState.RUNNING.value, agent_id))
        task.awarded.set()
        asyncio.get_running_loop().create_task(self._run(task, rec, task.token))

    async def _run(self, task: _Task, rec: _Agent, token: int) -> None:
        tid = task.spec.task_id
        try:
            value = await rec.handle.run_task.remote(task.spec.to_dict())
        except ray.exceptions.RayActorError as exc:
            if task.token == token:
                self._mark_dead(rec.spec.agent_id, f"actor died running {tid}: "
                                f"{type(exc).__name__}")
            return
        except ray.exceptions.RayTaskError as exc:
            rec.assigned.discard(tid)
            if task.token != token or task.state.terminal:
                return
            task.attempts += 1
            cause = exc.cause if exc.cause is not None else exc
            error = f"{type(cause).__name__}: {cause}"
            if task.attempts < task.spec.max_attempts:
                self._enqueue(task, f"attempt {task.attempts} failed: {error}")
            else:
                self._finish(task, False, None, error, rec)
            return
        rec.assigned.discard(tid)
        self._finish(task, True, value, None, rec)

    def _finish(self, task: _Task, ok: bool, value: Any, error: str | None, rec: _Agent) -> None:
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
