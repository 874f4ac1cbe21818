"""The Supervisor actor: the thin Ray shell around the task book.

Every decision is the :class:`~agents.supervisor.book.TaskBook`'s; this shell
turns Ray's events into the book's (heartbeats, an actor's death, replies to
a round, a task's outcome), carries out the actions the book returns through
:mod:`agents.supervisor.calls` (every Ray call to agents is there), writes the
book's decisions to the ledger in one transaction per burst, and wakes the
callers waiting on a task only after its result is in the ledger.

It is created named and detached in the raymas namespace (see
:mod:`agents.supervisor.client`), so scripts and jobs find it with
``ray.get_actor``; Ray restarts it if it dies, and a restarted Supervisor
rebuilds its book from the ledger: agents are re-attached by name and
unfinished tasks go back to allocation.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

import ray

from agents.agent.actor import AgentActor, agent_actor_name, restarted_by_ray
from agents.agent.spawn import spawn_agents
from agents.errors import AllocationError, NotFoundError, TaskFailedError
from agents.hosting import host_of, plan_hosts
from agents.planning import TaskGraph
from agents.protocols import get_strategy
from agents.specs import AgentSpec, TaskAllocation, TaskState
from agents.supervisor import bundle_rounds, calls
from agents.supervisor.audit import AuditLog
from agents.supervisor.book import TaskBook
from agents.supervisor.hosting_shell import HostedAgents
from agents.supervisor.hosts import Hosts
from agents.supervisor.keys import KeyStore
from agents.supervisor.ledger import Ledger, Transition, mask_url
from agents.supervisor.pool_shell import AgentPools
from agents.supervisor.pools import Pool
from agents.supervisor.records import Action, AgentEntry, Probe, Settle, TaskRecord, Watch
from agents.supervisor.settings import SupervisorSettings
from agents.supervisor.sinks import AuditSink, DecisionSink, EventSink, LedgerSink
from agents.supervisor.telemetry import SupervisorMetrics
from messaging import trace
from messaging.crypto import TokenIssuer
from messaging.endpoint import Endpoint
from messaging.envelope import new_id

__all__ = ["Supervisor", "SupervisorSettings"]

logger = logging.getLogger(__name__)


class Supervisor(HostedAgents, AgentPools):
    """Coordinates agents; see the module docstring.  Every public method is a Ray call."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.cfg = SupervisorSettings.model_validate(dict(settings))
        self.ledger = Ledger.open(self.cfg.ledger_url)
        self.metrics = SupervisorMetrics(self.cfg.strategy)
        self.mailboxes: dict[str, int] = {}  # agent id -> envelopes waiting, from heartbeats
        #: agent id -> its last self-report (environments, goals, behaviours), if it sends one
        self.reports: dict[str, dict[str, Any]] = {}
        #: the identity key rests in the ledger's database: a restart signs with the same one
        self.keys = KeyStore(self.cfg.ledger_url, retire_after_s=self.cfg.token_ttl_s)
        self.issuer = self._identity()
        if self.cfg.fresh and not restarted_by_ray():  # a restart reloads, never clears
            self.ledger.clear()
        self.book = TaskBook(self.ledger, default_strategy=self.cfg.strategy,
                             batch_size=self.cfg.batch_size,
                             heartbeat_timeout_s=self.cfg.heartbeat_timeout_s,
                             seed=self.cfg.seed)
        self.handles: dict[str, Any] = {}
        #: agent hosts (``hosting: shared``) and the agents each holds
        self.hosts = Hosts()
        #: agent pools that grow and shrink with the load (see ``add_pool``)
        self.pools: dict[str, Pool] = {}
        self._probing: set[str] = set()  # agents whose actor is being asked if it is back
        #: agents whose pulse is being pulled, with the handle it is pulled through
        self._pulling: dict[str, Any] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._awarded: dict[str, asyncio.Event] = {}
        self._flush_scheduled = False
        self._wake = asyncio.Event()
        self._tasks_running: set[asyncio.Task[None]] = set()
        self.events = self._event_endpoint()
        #: the consumers of the book's decisions, in order: the ledger first
        #: written by its own thread: the event loop never waits on the audit database
        self.audit = AuditSink(AuditLog(self.cfg.audit_url or self.cfg.ledger_url))
        self.sinks: list[DecisionSink] = [LedgerSink(self.ledger, self.book.stats), self.audit]
        if self.events is not None:
            self.sinks.append(EventSink(self.events.publish, self.book.tasks))
        self._reload()
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._allocation_loop()),
                       loop.create_task(self._monitor_loop())]

    def _event_endpoint(self) -> Endpoint | None:
        """Publishes task events of goals and plans on the bus."""
        if not self.cfg.bus_name:
            return None
        try:
            directory = ray.get_actor(self.cfg.bus_name, namespace=self.cfg.namespace)
        except ValueError:
            logger.warning("bus %r not found: no task events", self.cfg.bus_name)
            return None
        return Endpoint(f"supervisor:{self.cfg.name}", "supervisor", directory)

    def _reload(self) -> None:
        rows = self.ledger.agents()
        hosted: dict[str, list[dict[str, Any]]] = {}
        for _, spec, status in rows:
            if status == "alive" and spec.get("host"):
                hosted.setdefault(spec["host"], []).append(spec)
        for host_id, specs in hosted.items():  # before any host asks for its plan
            self.hosts.reloaded(host_id, specs)
            self._reattach_host(host_id, [AgentSpec.from_dict(s) for s in specs])
        for agent_id, spec, status in rows:
            if status != "alive" or spec.get("host"):
                continue
            parsed = AgentSpec.from_dict(spec)
            try:
                handle = calls.find_agent(agent_actor_name(agent_id), self.cfg.namespace)
            except ValueError:  # died while the Supervisor was down: keep it on the record
                self.book.agent_gone(agent_id, parsed, "gone when the Supervisor restarted")
                continue
            self._register(parsed, handle, None)
            self._background(self._issue_identity(parsed, handle))  # a fresh token
        self.book.reload()
        self._poke()

    # -- carrying out the book's actions ---------------------------------------------
    def _apply(self, actions: Sequence[Action]) -> None:
        # a host's agents share one settle call and one probe per burst of actions
        settles: dict[str, list[Settle]] = {}
        probes: dict[str, list[str]] = {}
        for action in actions:
            handle = self.handles.get(action.agent_id)
            where = host_of(handle)
            if isinstance(action, Settle):
                for task in action.tasks:
                    self._wake_awaiting_award(task.spec.task_id)
                if where is None:
                    self._background(self._settle(action))
                else:
                    settles.setdefault(where[1], []).append(action)
            elif isinstance(action, Probe):
                if handle is not None and action.agent_id not in self._probing:
                    self._probing.add(action.agent_id)
                    if where is None:
                        self._background(self._probe(action.agent_id, handle))
                    else:
                        probes.setdefault(where[1], []).append(action.agent_id)
            elif isinstance(action, Watch) and handle is not None:
                if where is not None:  # the host is watched, once; identity when asked
                    self._watch_host(where[1])
                    continue
                self._background(self._watch(action.agent_id, handle))
                rec = self.book.agents[action.agent_id]
                self._background(self._issue_identity(rec.spec, handle))
        for host_id, batch in settles.items():
            self._background(self._settle_host(host_id, batch))
        for host_id, ids in probes.items():
            self._background(self._probe_host(host_id, ids))
        if self.book.has_decisions:
            self._schedule_flush()

    def _wake_awaiting_award(self, task_id: str) -> None:
        event = self._awarded.pop(task_id, None)
        if event is not None:
            event.set()

    def _poke(self) -> None:
        """Wake the allocation loop if anything waits to be placed."""
        if self.book.pending:
            self._wake.set()

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task, holding a reference so it is not collected mid-flight."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks_running.add(task)
        task.add_done_callback(self._tasks_running.discard)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Hand the book's decisions to the sinks (the ledger first), then wake the waiters."""
        self._flush_scheduled = False
        decisions = self.book.take_decisions()
        if not decisions:
            return
        self.sinks[0].record(decisions)  # the ledger: the truth; its failure is the caller's
        for sink in self.sinks[1:]:  # audit, events: a failure is logged and counted, and
            try:                     # the waiters below still wake
                sink.record(decisions)
            except Exception:
                self.book.stats["sink_errors"] += 1
                logger.exception("decision sink %s failed", type(sink).__name__)
        for task_id, *_ in decisions.results:
            event = self._finished.pop(task_id, None)
            if event is not None:
                event.set()
            self._wake_awaiting_award(task_id)  # ended without an award (e.g. cancelled)

    async def _settle(self, action: Settle) -> None:
        handle = self.handles.get(action.agent_id)
        if handle is None:
            return
        called_at = time.monotonic()
        tracing = logger.isEnabledFor(logging.INFO)
        if tracing:
            for t in action.tasks:
                logger.info("task %s awarded to %s", t.spec.task_id, action.agent_id,
                            extra=trace.log_fields(t.spec.correlation_id, task=t.spec.task_id,
                                                   agent=action.agent_id))
        outcomes = await calls.settle(handle, action.conversation_id,
                                      [t.wire for t in action.tasks], action.rejected)
        if tracing and not isinstance(outcomes, calls.Unanswered):
            for t, (ok, _) in zip(action.tasks, outcomes, strict=True):
                logger.info("task %s %s on %s", t.spec.task_id, "done" if ok else "failed",
                            action.agent_id, extra=trace.log_fields(
                                t.spec.correlation_id, task=t.spec.task_id,
                                agent=action.agent_id))
        self._after_settle(action, outcomes, called_at)
        self._poke()

    def _after_settle(self, action: Settle, outcomes: Any, called_at: float) -> None:
        if isinstance(outcomes, calls.Unanswered):
            if outcomes.died:
                self._apply(self.book.settle_lost(action.agent_id, action.tasks,
                                                  action.tokens, outcomes.reason, called_at))
            else:
                self._apply(self.book.settle_unanswered(action.agent_id, action.tasks,
                                                        action.tokens, outcomes.reason))
        else:
            self._apply(self.book.settled(action.agent_id, action.tasks, action.tokens,
                                          outcomes))

    async def _probe(self, agent_id: str, handle: Any) -> None:
        """Heard from an agent taken for dead: back only if its actor answers a call."""
        called_at = time.monotonic()
        try:
            if await calls.answers(handle, self.book.heartbeat_timeout_s) \
                    and self.handles.get(agent_id) is handle:
                self._apply(self.book.back(agent_id, called_at))
                self._poke()
        finally:
            self._probing.discard(agent_id)

    async def _watch(self, agent_id: str, handle: Any) -> None:
        """Pull the agent's pulse until it stops, dies or is replaced: each answer is a
        heartbeat; a call that fails because the actor died is its death, at once.  Pulled,
        not pushed, so that an agent never holds a handle to the Supervisor (see
        ``AgentActor._heartbeats``)."""
        rec = self.book.agents.get(agent_id)
        if rec is None or self._pulling.get(agent_id) is handle:
            return  # gone meanwhile, or pulled already
        self._pulling[agent_id] = handle
        try:
            interval = rec.spec.heartbeat_interval_s
            while self.handles.get(agent_id) is handle:
                called_at = time.monotonic()
                beat = await calls.pulse(handle, interval)
                if self.handles.get(agent_id) is not handle:
                    return
                if beat is None:
                    self._apply(self.book.agent_dead(agent_id, "actor died: RayActorError",
                                                     called_at))
                    self._poke()
                    return
                if beat.pop("stopped"):
                    return
                self.heartbeat(agent_id, **beat)
        finally:
            if self._pulling.get(agent_id) is handle:
                del self._pulling[agent_id]

    # -- the loops --------------------------------------------------------------------
    async def _allocation_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._allocate_pending()
            except Exception:  # keep the loop alive; the failure is logged with its trace
                logger.exception("allocation pass failed")
            self.book.end_pass()
            self._flush()

    async def _allocate_pending(self) -> None:
        """One pass: rounds until nothing queued can be placed now."""
        while groups := self.book.take_batch():
            for name, tasks in groups.items():
                try:
                    await self._round(name, tasks)
                except Exception:  # a broken round must not lose its tasks: back to the queue
                    logger.exception("allocation round with %s failed", name)
                    self.book.round_failed(tasks)

    async def _round(self, name: str, tasks: list[TaskRecord]) -> None:
        strategy = get_strategy(name)
        tviews, views = self.book.round_views(tasks)
        handles = {a: self.handles[a] for a in views if a in self.handles}
        rnd = None
        started = time.perf_counter()
        if strategy.needs_proposals:
            self.book.announced(tasks)
            rnd = await calls.cfp_round(tviews, views, handles, self.cfg.bid_timeout_s,
                                        time.time(),
                                        0 if strategy.whole_round else self.cfg.cfp_fanout)
            if strategy.rebids and not rnd.additive:  # bids depend on what each holds:
                # sequential auctions where each winner bids again
                strategy.decide(await bundle_rounds.sequential_round(
                    rnd, views, handles, self.cfg.bid_timeout_s))
        elif strategy.decentralised:  # the agents agree among themselves; we record it
            self.book.announced(tasks)
            rnd = await bundle_rounds.cbba_round(tviews, views, handles,
                                                 self.cfg.cbba_timeout_s)
        elif strategy.needs_votes:
            costs = None
            if any(self.book.agents[a].spec.cost for a in views if a in self.book.agents):
                # the candidates price the tasks first: the committee votes on their costs
                costs = await calls.quotes(tviews, views, handles, self.cfg.bid_timeout_s)
            rnd = await calls.ballot_round(tviews, views, handles, self.cfg.bid_timeout_s,
                                           self.cfg.cfp_fanout, costs)
        actions = self.book.close_round(strategy, tasks, tviews, views, rnd)
        self.metrics.round(name, len(tasks), time.perf_counter() - started, actions,
                           getattr(rnd, "proposals", None), getattr(rnd, "refusals", None))
        self._apply(actions)

    async def _monitor_loop(self) -> None:
        tick = max(0.05, self.cfg.heartbeat_timeout_s / 4)
        exported = 0.0
        while True:
            await asyncio.sleep(tick)
            self._apply(self.book.tick(time.monotonic()))
            self._pools_tick(time.monotonic())
            self._poke()  # re-announce tasks nobody bid for
            if time.monotonic() - exported >= self.cfg.metrics_interval_s:
                exported = time.monotonic()
                self.metrics.export(self.book.agents.values(), self.ledger.counts(),
                                    self.book.stats, self.mailboxes)

    # -- agents -----------------------------------------------------------------------
    def _register(self, spec: AgentSpec, handle: Any, node_id: str | None) -> None:
        self.handles[spec.agent_id] = handle
        self._apply(self.book.agent_joined(spec, time.monotonic(), node_id))
        where = host_of(handle)
        if where is None:
            self._background(self._watch(spec.agent_id, handle))
        else:
            self._watch_host(where[1])
        self._poke()

    async def spawn(self, specs: Sequence[Mapping[str, Any]],
                    message_keys: str | None = None) -> list[dict[str, Any]]:
        """Start agent actors from specs (resource checks first); return their descriptions.

        ``message_keys`` (``"kid:<base64>,..."``) overrides the configured payload keys
        for these agents; keys never go to the ledger.
        """
        parsed = [AgentSpec.from_dict(s) for s in specs]
        keys = message_keys if message_keys is not None else self.cfg.message_keys
        hosted = await self._spawn_hosted(
            plan_hosts(parsed, f"{self.cfg.name}-{uuid.uuid4().hex[:8]}"), keys)
        actors = [s for s in parsed if s.hosting != "shared"]
        started = await spawn_agents(
            AgentActor, actors, self.cfg.name, self.cfg.namespace,
            self.cfg.agent_start_timeout_s, self.cfg.bus_name, keys,
            {s.agent_id: self.issuer.issue(s.agent_id, s.capabilities) for s in actors})
        for spec, handle, info in started:
            self._register(spec, handle, info.get("node_id"))
        infos = {info["agent_id"]: info for _, _, info in started}
        infos.update(hosted)
        return [infos[s.agent_id] for s in parsed]

    async def _issue_identity(self, spec: AgentSpec, handle: Any) -> None:
        await calls.set_identity(handle, self.issuer.issue(spec.agent_id, spec.capabilities))

    def _identity(self) -> TokenIssuer:
        """An issuer for the current key that also verifies rotated-out keys not yet retired."""
        kid, key = self.keys.current()
        self._identity_until = self.keys.next_retirement() or float("inf")
        return TokenIssuer(key, ttl_s=self.cfg.token_ttl_s, kid=kid,
                           keys=self.keys.verification_keys())

    def rotate_identity_key(self) -> str:
        """Sign identity tokens with a new key from now on; the new key's id.  Tokens the
        previous key signed still verify until ``token_ttl_s`` has passed."""
        kid = self.keys.rotate()
        self.issuer = self._identity()
        return kid

    def public_keys(self) -> dict[str, bytes]:
        """The PEM public keys that verify identity tokens now, by kid, the current one first
        (for ``TokenVerifier.from_pems``)."""
        return self.keys.public_pems()

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
        if time.time() >= self._identity_until:  # a rotated-out key has retired
            self.issuer = self._identity()
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
        rec = self.book.agents.get(agent_id)
        if rec is None:
            return False
        was_alive = rec.view.alive
        self.book.agent_leaving(agent_id)  # no new work while it stops
        handle = self.handles.pop(agent_id, None)
        if handle is not None:
            await calls.stop(handle, timeout_s if was_alive else 0.0)
            where = host_of(handle)
            if where is not None:
                self.hosts.discard(where[1], agent_id)
                if not self.hosts.members.get(where[1]):  # its last agent: the host goes
                    self.hosts.members.pop(where[1], None)
                    self.hosts.plans.pop(where[1], None)
                    await calls.stop_host(where[0])
        self.book.agent_left(agent_id)
        self._apply([])
        self._poke()
        return True

    def list_agents(self) -> list[dict[str, Any]]:
        out = []
        for a in sorted(self.book.agents.values(), key=lambda a: a.spec.agent_id):
            summary = self._summary(a)
            report = self.reports.get(a.spec.agent_id)
            if report is not None:
                summary["report"] = report
            out.append(summary)
        return out

    async def describe_agent(self, agent_id: str) -> dict[str, Any]:
        rec = self.book.agents.get(agent_id)
        if rec is None:
            raise NotFoundError("agent", agent_id)
        info = self._summary(rec)
        if agent_id in self.reports:
            info["report"] = self.reports[agent_id]
        if rec.view.alive and agent_id in self.handles:
            info.update(await calls.describe(self.handles[agent_id]))
        return info

    @staticmethod
    def _summary(a: AgentEntry) -> dict[str, Any]:
        return {"agent_id": a.spec.agent_id, "agent_type": a.spec.agent_type.value,
                "capabilities": sorted(a.view.capabilities), "capacity": a.view.capacity,
                "load": len(a.assigned), "alive": a.view.alive, "suspect": a.suspect,
                "done": a.done, "node_id": a.node_id, "death": a.death,
                "leaving": a.leaving}

    def heartbeat(self, agent_id: str, load: int, state: str, mailbox: int = 0,
                  report: Mapping[str, Any] | None = None) -> bool:
        """An agent is alive; ``mailbox``: envelopes waiting in it (a metric, exported here
        for all agents, so agent processes export no metrics of their own); ``report``: its
        self-report, when it senses or pursues anything (see ``agents.agent.senses``)."""
        self.mailboxes[agent_id] = mailbox
        if report is not None:
            self.reports[agent_id] = dict(report)
        rec = self.book.agents.get(agent_id)
        was_eligible = rec is not None and rec.eligible
        known, actions = self.book.heard(agent_id, time.monotonic())
        self._apply(actions)
        if known and not was_eligible:
            self._poke()
        return known

    # -- tasks ------------------------------------------------------------------------
    def submit(self, tasks: Sequence[Mapping[str, Any] | TaskAllocation]) -> list[str]:
        """Queue tasks for allocation; an id already known is not queued again."""
        parsed = [t if isinstance(t, TaskAllocation) else _parse_task(t) for t in tasks]
        self._flush()
        ids, actions = self.book.submit(parsed)
        self._apply(actions)
        self._poke()
        return ids

    async def allocate_task(self, task: Mapping[str, Any] | TaskAllocation,
                            timeout_s: float | None = None) -> str:
        """Submit one task and return the id of the agent it was awarded to."""
        task_id = self.submit([task])[0]
        rec = self.book.tasks.get(task_id)
        if rec is None:  # already finished in an earlier life: report who did it
            stored = self.ledger.result(task_id)
            return stored.agent_id if stored and stored.agent_id else ""
        if rec.agent_id is None and not rec.state.terminal:
            await asyncio.wait_for(self._until_awarded(task_id), timeout=timeout_s)
        return rec.agent_id or str(self.result(task_id)["agent_id"])

    async def _until_awarded(self, task_id: str) -> None:
        rec = self.book.tasks[task_id]
        while rec.agent_id is None and not rec.state.terminal:
            event = self._awarded.setdefault(task_id, asyncio.Event())
            await event.wait()

    def record_allocation(self, conversation_id: str, specs: Sequence[Mapping[str, Any]],
                          results: Mapping[str, Mapping[str, Any]]) -> int:
        """Agents allocated and ran ``specs`` among themselves (``allocate_with_peers``,
        while this Supervisor was away): put it on the record; how many it knew of."""
        parsed = [TaskAllocation.from_dict(s) for s in specs]
        self._flush()
        known = sum(1 for s in parsed if s.task_id in self.book.tasks)
        self._apply(self.book.recorded_elsewhere(conversation_id, parsed, results))
        self._poke()
        return known

    async def wait(self, task_ids: Sequence[str], timeout_s: float | None = None,
                   raise_on_failure: bool = False) -> dict[str, dict[str, Any]]:
        """Wait for tasks to finish (or ``timeout_s``); return each one's outcome."""
        tasks = self.book.tasks
        waits = [self._finished.setdefault(t, asyncio.Event()).wait() for t in task_ids
                 if t in tasks and not tasks[t].state.terminal]
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
        return self.book.describe(task_id)

    async def progress(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, int]:
        """Wait up to ``timeout_s`` for the tasks; count how many are done and failed."""
        await self.wait(task_ids, timeout_s)
        self._flush()
        counts = {"total": len(task_ids), "done": 0, "failed": 0, "cancelled": 0}
        for t in task_ids:
            task = self.book.tasks.get(t)
            if task is not None and task.state.terminal:
                counts[task.state.value] += 1
        return counts

    # -- plans ------------------------------------------------------------------------
    def submit_plan(self, graph: TaskGraph | Mapping[str, Any], plan_id: str | None = None, *,
                    strategy: str | None = None, capabilities: Sequence[str] = (),
                    priority: int = 1, goal: str | None = None,
                    domain: Mapping[str, Any] | None = None,
                    state: Mapping[str, Any] | None = None) -> str:
        """Validate and queue a whole task graph; returns the plan id (see ``book_plans``)."""
        self._flush()
        plan_id = self.book.plans.submit(
            graph, plan_id or f"plan-{new_id()}", strategy=strategy, capabilities=capabilities,
            priority=priority, goal=goal, domain=domain, state=state)
        self._apply(self.book.drain())
        self._poke()
        return plan_id

    def plan_status(self, plan_id: str, detail: bool = False) -> dict[str, Any]:
        """Counts by state, whether it is over, its wall time so far; per node if ``detail``."""
        return self.book.plans.status(plan_id, detail)

    async def wait_plan(self, plan_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait until every task of the plan has ended (or ``timeout_s``); its status."""
        _, ids = self.book.plans.task_ids(plan_id)
        await self.wait(ids, timeout_s)
        return self.plan_status(plan_id)

    def plan_results(self, plan_id: str, nodes: Sequence[str] | None = None) -> dict[str, Any]:
        """Results by node id (all nodes, or ``nodes``); errors for those that failed."""
        g, _ = self.book.plans.task_ids(plan_id)
        out = {}
        for n in (nodes if nodes is not None else g.topological_order()):
            r = self.result(f"{plan_id}/{n}")
            out[n] = r["value"] if r["ok"] else {"state": r["state"], "error": r["error"]}
        return out

    def cancel_tasks(self, task_ids: Sequence[str], why: str = "cancelled") -> int:
        """Cancel tasks that have not ended (their dependents fail); how many were."""
        self._flush()
        unknown = [t for t in task_ids if t not in self.book.tasks
                   and self.ledger.result(t) is None]
        if unknown:
            raise NotFoundError("task", unknown[0])
        n, actions = self.book.cancel(list(task_ids), why)
        self._apply(actions)
        return n

    def list_tasks(self, state: str | None = None, limit: int = 50) -> dict[str, Any]:
        """Counts by state and the ``limit`` most recently changed tasks, newest first."""
        self._flush()
        return {"counts": self.ledger.counts(),
                "tasks": self.ledger.recent_tasks(limit, state)}

    def list_plans(self) -> list[dict[str, Any]]:
        """Every plan in the ledger with its counts by state, newest first."""
        self._flush()
        return [self.book.plans.status(p) for p in reversed(self.ledger.plan_ids())]

    def cancel_plan(self, plan_id: str) -> int:
        """Cancel every task of the plan that has not ended; returns how many.

        Tasks waiting or queued never run; a task already running on an agent
        finishes there, but its result no longer counts.
        """
        _, ids = self.book.plans.task_ids(plan_id)
        n, actions = self.book.cancel(list(reversed(ids)), f"plan {plan_id!r} cancelled")
        self._apply(actions)
        return n

    def observe_plan(self, plan_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The world changed: replan what no longer holds (tasks not ended are replaced
        where their preconditions broke); returns the tasks added and removed."""
        self._flush()
        out = self.book.plans.observe(plan_id, changes)
        self._apply(self.book.drain())
        self._poke()
        return out

    # -- deliberation -----------------------------------------------------------------
    async def hold_vote(self, question: str, options: Sequence[Any], *,
                        rule: str = "majority", quorum: float = 0.5, deadline_s: float = 2.0,
                        capabilities: Sequence[str] = ()) -> dict[str, Any]:
        """Ask the live agents with ``capabilities`` to vote; the decision and votes are kept."""
        voters = {a: self.handles[a] for a, r in self.book.agents.items()
                  if r.view.can_do(capabilities) and a in self.handles}
        weights = {a: float(self.book.agents[a].view.capacity) for a in voters}
        out = await calls.hold_vote(question, options, voters, weights,
                                    rule=rule,  # type: ignore[arg-type]
                                    quorum=quorum, deadline_s=deadline_s)
        for agent_id in out["dead"]:
            self._apply(self.book.agent_dead(agent_id, "died during a vote"))
            self._poke()
        self.ledger.record_votes(out["proposal_id"], [(v, c, out["weights"].get(v, 1.0))
                                                      for v, c in out["votes"]],
                                 str(out["choice"]) if out["accepted"] else "rejected")
        self.book.note("vote", out["proposal_id"],
                       str(out["choice"]) if out["accepted"] else "rejected",
                       {"question": question, "rule": rule, "votes": [
                           {"voter": v, "choice": c} for v, c in out["votes"]]})
        self._flush()
        return out

    async def auction_resource(self, resource: str, *, rule: str = "vickrey",
                               reserve: float | None = None,
                               deadline_s: float = 2.0) -> dict[str, Any]:
        """Sell ``resource`` to the live agents by sealed bid; the award goes to the ledger."""
        bidders = {a: self.handles[a] for a, r in self.book.agents.items()
                   if r.view.alive and a in self.handles}
        out = await calls.auction_resource(resource, bidders,
                                           rule=rule,  # type: ignore[arg-type]
                                           reserve=reserve, deadline_s=deadline_s)
        for agent_id in out["dead"]:
            self._apply(self.book.agent_dead(agent_id, "died during an auction"))
            self._poke()
        self.ledger.record([Transition(out["auction_id"], "awarded", out["winner"],
                                       f"resource={resource} rule={rule} price={out['price']}")])
        self.book.note("auction", out["auction_id"], "awarded" if out["winner"] else "unsold",
                       {"resource": resource, "rule": rule, "winner": out["winner"],
                        "price": out["price"]})
        self._flush()
        return out

    # -- reading ----------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The settings, with secrets redacted."""
        out = self.cfg.model_dump()
        if out.get("message_keys"):
            out["message_keys"] = "(set)"
        for key in ("ledger_url", "audit_url"):
            if out.get(key):
                out[key] = mask_url(out[key])
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
        agents = self.book.agents.values()
        alive = [a for a in agents if a.view.alive]
        return {"agents": len(self.book.agents), "alive": len(alive),
                "suspect": sum(1 for a in alive if a.suspect),
                "capacity": sum(a.view.capacity for a in alive),
                "load": sum(len(a.assigned) for a in alive), "pending": self.book.pending,
                "tasks": self.ledger.counts(), "stats": dict(self.book.stats),
                "strategy": self.cfg.strategy, "ledger": self.cfg.ledger_url.split("@")[-1]}

    async def shutdown(self) -> int:
        """Stop every agent (running tasks finish first); return how many were stopped."""
        names = list(self.book.agents)
        for host_id, members in list(self.hosts.members.items()):  # a host at a time
            for agent_id in members:
                self.book.agent_leaving(agent_id)
            await calls.stop_host(self.hosts.handles[host_id])
            for agent_id in members:
                self.handles.pop(agent_id, None)
                self.book.agent_left(agent_id)
            del self.hosts.members[host_id]
        for agent_id in [a for a in names if a in self.book.agents]:
            await self.deregister_agent(agent_id)
        self._flush()
        await asyncio.to_thread(self.audit.flush)
        return len(names)

    async def flush_audit(self, timeout_s: float = 30.0) -> bool:
        """Wait until every decision so far is in the audit log; False on timeout."""
        self._flush()
        return await asyncio.to_thread(self.audit.flush, timeout_s)


def _parse_task(data: Mapping[str, Any]) -> TaskAllocation:
    try:
        return TaskAllocation.from_dict(data)
    except TypeError as exc:
        raise AllocationError(f"bad task {dict(data).get('task_id')!r}: {exc}") from None
