"""The Supervisor actor: registry, allocation loop, heartbeats, ledger and recovery.

It is created named and detached in the raymas namespace (see
:mod:`agents.supervisor.client`), so scripts and jobs find it with ``ray.get_actor``; Ray
restarts it if it dies, and a restarted Supervisor reloads the ledger: agents
are re-attached by name and unfinished tasks go back to allocation.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from agents.agent.actor import AgentActor, agent_actor_name
from agents.agent.spawn import spawn_agents
from agents.errors import AllocationError, TaskFailedError
from agents.protocols import AgentView, get_strategy
from agents.specs import AgentSpec, TaskAllocation, TaskState
from agents.supervisor.allocation import AgentRecord, Allocator, TaskRecord
from agents.supervisor.deliberation import auction_resource, hold_vote
from agents.supervisor.ledger import Ledger, Transition
from agents.supervisor.plan_repair import PlanRepair
from agents.supervisor.plans import Plans
from messaging.crypto import TokenIssuer
from messaging.endpoint import Endpoint

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
    batch_size: int = 1024
    bus_name: str | None = "raymas-bus"
    #: AES-256-GCM payload keys for the bus, ``"kid:<base64>,..."``; None sends in clear.
    message_keys: str | None = None
    token_ttl_s: float = 24 * 3600.0
    cfp_fanout: int = 8
    seed: int = 0
    agent_start_timeout_s: float = 60.0
    fresh: bool = False


class Supervisor(Plans, PlanRepair, Allocator):
    """Coordinates agents; see the module docstring.  Every public method is a Ray call."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.cfg = SupervisorSettings(**dict(settings))
        self.default_strategy = self.cfg.strategy
        self.batch_size = self.cfg.batch_size
        self.bid_timeout_s = self.cfg.bid_timeout_s
        self.cfp_fanout = self.cfg.cfp_fanout
        self.ledger = Ledger.open(self.cfg.ledger_url)
        self.issuer = TokenIssuer(ttl_s=self.cfg.token_ttl_s)
        if self.cfg.fresh and not self._restarted():
            self.ledger.clear()
        self.rng = np.random.default_rng(self.cfg.seed)
        self.agents: dict[str, AgentRecord] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self._waiting: dict[str, set[str]] = {}
        self._dependents: dict[str, set[str]] = {}
        self._pending: list[tuple[int, float, str]] = []
        self._results: dict[str, tuple[bool, Any, str | None, str | None]] = {}
        self._journal: list[Transition] = []
        self._result_buf: list[tuple[str, bool, bytes | None, str | None, str | None]] = []
        self._flush_scheduled = False
        self.stats: dict[str, float] = {"rounds": 0, "late_replies": 0, "deaths": 0,
                                        "reassigned": 0, "duplicate_results": 0}
        self._wake = asyncio.Event()
        self._tasks_running = set()
        self.events = self._event_endpoint()
        self._reload()
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._allocation_loop()),
                       loop.create_task(self._monitor_loop())]

    def _event_endpoint(self) -> Endpoint | None:
        """Publishes task events of goals and plans on the bus (see ``agents.supervisor.plans``)."""
        if not self.cfg.bus_name:
            return None
        try:
            directory = ray.get_actor(self.cfg.bus_name, namespace=self.cfg.namespace)
        except ValueError:
            logger.warning("bus %r not found: no task events", self.cfg.bus_name)
            return None
        return Endpoint(f"supervisor:{self.cfg.name}", "supervisor", directory)

    @staticmethod
    def _restarted() -> bool:
        """Whether Ray restarted this actor (then the ledger is reloaded, never cleared)."""
        with warnings.catch_warnings():  # the property reads Ray's deprecated actor_id
            warnings.simplefilter("ignore", DeprecationWarning)
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
                self.agents[agent_id] = AgentRecord(parsed, None, view, time.monotonic(),
                                               death="gone when the Supervisor restarted")
                self.ledger.upsert_agent(agent_id, spec, "dead")
                continue
            parsed = AgentSpec.from_dict(spec)
            self._register(parsed, handle, None)
            self._background(self._issue_identity(parsed, handle))  # new key after a restart
        reloaded = []
        for task_id, spec, attempts, state in self.ledger.unfinished():
            task = TaskRecord(TaskAllocation.from_dict(spec), TaskState(state), attempts)
            self.tasks[task_id] = task
            reloaded.append(task)
        for task in reloaded:  # all known first: dependencies may be among them
            if task.spec.depends_on:
                self._admit(task)
            else:
                self._enqueue(task, "supervisor restarted")
        if self.tasks:
            logger.info("reloaded %d unfinished tasks from the ledger", len(self.tasks))

    # -- agents --------------------------------------------------------------
    def _register(self, spec: AgentSpec, handle: Any, node_id: str | None) -> None:
        view = AgentView(spec.agent_id, frozenset(spec.capabilities), spec.task_limit)
        rec = AgentRecord(spec, handle, view, time.monotonic(), node_id=node_id)
        self.agents[spec.agent_id] = rec
        self._background(self._watch(rec))
        self.ledger.upsert_agent(spec.agent_id, spec.to_dict(), "alive")
        self._wake.set()

    async def _watch(self, rec: AgentRecord) -> None:
        try:
            await rec.handle.watch.remote()
        except ray.exceptions.RayActorError as exc:
            self._mark_dead(rec.spec.agent_id, f"actor died: {type(exc).__name__}")

    async def spawn(self, specs: Sequence[Mapping[str, Any]],
                    message_keys: str | None = None) -> list[dict[str, Any]]:
        """Start agent actors from specs (resource checks first); return their descriptions.

        ``message_keys`` (``"kid:<base64>,..."``) overrides the configured payload keys
        for these agents; keys never go to the ledger.
        """
        parsed = [AgentSpec.from_dict(s) for s in specs]
        keys = message_keys if message_keys is not None else self.cfg.message_keys
        started = await spawn_agents(
            AgentActor, parsed, self.cfg.name, self.cfg.namespace, self.cfg.agent_start_timeout_s,
            self.cfg.bus_name, keys)
        for spec, handle, info in started:
            self._register(spec, handle, info.get("node_id"))
        await asyncio.gather(*(self._issue_identity(spec, handle) for spec, handle, _ in started))
        return [info for _, _, info in started]

    async def _issue_identity(self, spec: AgentSpec, handle: Any) -> None:
        await handle.set_identity.remote(self.issuer.issue(spec.agent_id, spec.capabilities))

    def public_key(self) -> bytes:
        """The Ed25519 public key (PEM) that verifies agents' identity tokens."""
        from cryptography.hazmat.primitives import serialization

        return self.issuer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def issue_token(self, subject: str, capabilities: Sequence[str] = (),
                    ttl_s: float | None = None) -> str:
        """An identity token for a client outside the cluster (a producer that writes
        to a broker topic a bridge brings in, a user of the HTTP API)."""
        if not isinstance(subject, str) or not subject:
            raise ValueError(f"subject: expected a non-empty string, got {subject!r}")
        return self.issuer.issue(subject, capabilities, ttl_s)

    def verify_token(self, token: str, agent_id: str | None = None) -> dict[str, Any]:
        """Claims of a valid token; raises AuthError for an expired or forged one."""
        return self.issuer.verify(token, agent_id=agent_id)

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

    def _summary(self, a: AgentRecord) -> dict[str, Any]:
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

    def _requeue_from(self, rec: AgentRecord, reason: str) -> None:
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
    def submit(self, tasks: Sequence[Mapping[str, Any] | TaskAllocation]) -> list[str]:
        """Queue tasks for allocation; an id already known is not queued again."""
        parsed = [_check_task(t if isinstance(t, TaskAllocation) else _parse_task(t))
                  for t in tasks]
        self._check_dependencies(parsed)
        self._flush()
        fresh = set(self.ledger.add_tasks((t.task_id, t.to_dict()) for t in parsed))
        new = [TaskRecord(t) for t in parsed if t.task_id in fresh and t.task_id not in self.tasks]
        for task in new:
            self.tasks[task.spec.task_id] = task
        for task in new:  # all known first: a task may depend on one later in the batch
            if task.spec.depends_on:
                self._admit(task)
            else:
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
        counts = {"total": len(task_ids), "done": 0, "failed": 0, "cancelled": 0}
        for t in task_ids:
            task = self.tasks.get(t)
            if task is not None and task.state.terminal:
                counts[task.state.value] += 1
        return counts

    async def hold_vote(self, question: str, options: Sequence[Any], *,
                        rule: str = "majority", quorum: float = 0.5, deadline_s: float = 2.0,
                        capabilities: Sequence[str] = ()) -> dict[str, Any]:
        """Ask the live agents with ``capabilities`` to vote; the decision and votes are kept."""
        voters = {a: r.handle for a, r in self.agents.items()
                  if r.view.can_do(capabilities)}
        weights = {a: float(self.agents[a].view.capacity) for a in voters}
        out = await hold_vote(question, options, voters, weights, rule=rule,  # type: ignore[arg-type]
                              quorum=quorum, deadline_s=deadline_s)
        for agent_id in out["dead"]:
            self._mark_dead(agent_id, "died during a vote")
        self.ledger.record_votes(out["proposal_id"], [(v, c, out["weights"].get(v, 1.0))
                                                      for v, c in out["votes"]],
                                 str(out["choice"]) if out["accepted"] else "rejected")
        return out

    async def auction_resource(self, resource: str, *, rule: str = "vickrey",
                               reserve: float | None = None,
                               deadline_s: float = 2.0) -> dict[str, Any]:
        """Sell ``resource`` to the live agents by sealed bid; the award goes to the ledger."""
        bidders = {a: r.handle for a, r in self.agents.items() if r.view.alive}
        out = await auction_resource(resource, bidders, rule=rule,  # type: ignore[arg-type]
                                     reserve=reserve, deadline_s=deadline_s)
        for agent_id in out["dead"]:
            self._mark_dead(agent_id, "died during an auction")
        self.ledger.record([Transition(out["auction_id"], "awarded", out["winner"],
                                       f"resource={resource} rule={rule} price={out['price']}")])
        return out

    def settings(self) -> dict[str, Any]:
        """The settings, with secrets redacted."""
        out = dict(self.cfg.__dict__)
        if out.get("message_keys"):
            out["message_keys"] = "(set)"
        return out

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


def _parse_task(data: Mapping[str, Any]) -> TaskAllocation:
    try:
        return TaskAllocation.from_dict(data)
    except TypeError as exc:
        raise AllocationError(f"bad task {dict(data).get('task_id')!r}: {exc}") from None


def _check_task(task: TaskAllocation) -> TaskAllocation:
    """Refuse a task that could never be allocated, before it is queued."""
    if not isinstance(task.task_id, str) or not task.task_id:
        raise AllocationError(f"task_id must be a non-empty string, got {task.task_id!r}")
    if task.strategy is not None:
        get_strategy(task.strategy)  # raises with the known names
    if not isinstance(task.max_attempts, int) or task.max_attempts < 1:
        raise AllocationError(
            f"task {task.task_id!r}: max_attempts must be an integer >= 1, "
            f"got {task.max_attempts!r}")
    if not (isinstance(task.depends_on, list | tuple)
            and all(isinstance(d, str) and d for d in task.depends_on)):
        raise AllocationError(f"task {task.task_id!r}: depends_on must be a list of task ids, "
                              f"got {task.depends_on!r}")
    if task.task_id in task.depends_on:
        raise AllocationError(f"task {task.task_id!r} depends on itself")
    if not isinstance(task.priority, int):
        raise AllocationError(f"task {task.task_id!r}: priority must be an integer, "
                              f"got {task.priority!r}")
    return task
