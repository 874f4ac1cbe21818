"""The thin Ray shell around :class:`agents.agent.Agent`.

The shell adds only what needs Ray: ``pulse`` (the call the Supervisor holds
open on every agent: it answers with a heartbeat after an interval, or at once
when the agent stops, and fails when the actor dies, so the Supervisor learns
of a death at once), the GPU ids Ray assigned and the node the agent runs on.
Nothing here imports torch or tensorflow.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ray
from cachetools import TTLCache

from agents.agent import Agent
from agents.agent.context import AgentContext
from agents.agent.peer_allocation import Unrecorded, allocate, payload_for
from agents.specs import AgentGoal, AgentSpec, Behavior, LifecycleState
from messaging.endpoint import Endpoint, keyring_of
from messaging.envelope import Envelope

if TYPE_CHECKING:  # imported where used: most agents never sense nor run a bundle round
    from agents.agent.bundles import Member
    from agents.agent.senses import Senses

__all__ = ["AgentActor", "agent_actor_name", "restarted_by_ray"]

logger = logging.getLogger(__name__)


def _tune_gc() -> None:
    """Collect less often in agent processes, which allocate an object or two per message.

    Start-up objects (Ray, the modules) are moved out of the collector's view
    (``gc.freeze``) and the young generation is collected every 20,000
    allocations instead of 700: the bus's decode loop spent a third of its
    time in the collector with the defaults (``bench/messaging.py``).
    Reference cycles are still collected, just in larger, rarer sweeps.
    """
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


#: how long one gossip exchange of a bundle round waits for a peer before asking again
#: next round (a peer silent for several rounds is left out of that round)
CBBA_EXCHANGE_TIMEOUT_S = 1.0


def restarted_by_ray() -> bool:
    """Whether Ray restarted the actor this runs in (``max_restarts``)."""
    with warnings.catch_warnings():  # the property reads Ray's deprecated actor_id
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


def agent_actor_name(agent_id: str) -> str:
    """The Ray actor name of an agent (in the raymas namespace)."""
    return f"raymas-agent:{agent_id}"


class AgentActor:
    """Actor body: one per agent, created by the Supervisor (see ``Supervisor.spawn``)."""

    def __init__(self, spec: Mapping[str, Any], supervisor_name: str, namespace: str,
                 bus_name: str | None = None, message_keys: str | None = None,
                 token: str | None = None) -> None:
        self.agent = Agent(AgentSpec.from_dict(spec))
        self.agent.start()
        _tune_gc()
        self._supervisor_name = supervisor_name
        self._namespace = namespace
        self._stopped = asyncio.Event()
        #: set when the Supervisor first pulls this agent's :meth:`pulse`
        self._pulled = asyncio.Event()
        loop = asyncio.get_running_loop()
        # A new agent is pulled by the Supervisor that started it and sends nothing of its
        # own.  One that Ray restarted is not known to be back: it beats until pulled.
        self._hb = loop.create_task(self._heartbeats()) if restarted_by_ray() else None
        self.bus: Endpoint | None = None
        self.senses: Senses | None = None
        #: its identity token, issued before the actor was created (one call fewer at start)
        self.token: str | None = token
        #: rounds run among peers while the Supervisor could not be told
        self._unrecorded = Unrecorded()
        #: bundle-algorithm rounds by conversation id, and pushes that came before them
        self._bundles: TTLCache[str, Member] = TTLCache(maxsize=64, ttl=600)
        self._early: TTLCache[str, list[dict[str, Any]]] = TTLCache(maxsize=64, ttl=600)
        # joining the bus also runs after a restart, so held messages come back
        self._joined = (loop.create_task(self._join_bus(bus_name, message_keys))
                        if bus_name else None)

    async def _join_bus(self, bus_name: str, message_keys: str | None) -> None:
        directory = ray.get_actor(bus_name, namespace=self._namespace)
        spec = self.agent.spec
        self.bus = Endpoint(spec.agent_id, spec.agent_type.value, directory,
                            mailbox_capacity=spec.mailbox_capacity,
                            keyring=keyring_of(message_keys),
                            request_handler=self._serve_request)
        await self.bus.start(ray.get_runtime_context().current_actor)
        bus = self.bus
        self.agent.context = AgentContext(spec.agent_id, asyncio.get_running_loop(),
                                          lambda topic, payload: bus.publish(topic, payload),
                                          self.agent.world)
        if spec.senses_wanted:
            await self._start_senses()

    async def _start_senses(self) -> Senses:
        """Environments, subscriptions, role behaviours and goals (``agents.agent.senses``)."""
        from agents.agent.senses import Senses

        self.senses = Senses(self.agent, self._endpoint(), self._supervisor)
        await self.senses.start()
        return self.senses

    def _supervisor(self) -> Any:
        return ray.get_actor(self._supervisor_name, namespace=self._namespace)

    async def _serve_request(self, env: Envelope) -> Any:
        """A request's payload names a task kind and its args; the reply is its result."""
        body = env.payload
        if not isinstance(body, Mapping) or "kind" not in body:
            raise ValueError("a request's payload must be {'kind': <task kind>, 'args': {...}}")
        return await self.agent.run_task({"task_id": f"msg:{env.id}", "kind": body["kind"],
                                          "args": body.get("args") or {}})

    def _endpoint(self) -> Endpoint:
        if self.bus is None:
            raise RuntimeError(f"agent {self.agent.agent_id!r} is not on a bus")
        return self.bus

    async def _heartbeats(self) -> None:
        """Beats pushed to the Supervisor by an agent Ray restarted, until it is pulled.

        Only then does the agent hold a handle to the Supervisor: deserialising one imports
        the Supervisor's whole module tree (0.3 s of CPU and the memory of numpy and
        pydantic), which a fresh agent never pays.
        """
        interval = self.agent.spec.heartbeat_interval_s
        supervisor = None
        while not (self._stopped.is_set() or self._pulled.is_set()):
            try:
                if supervisor is None:
                    supervisor = self._supervisor()
                await supervisor.heartbeat.remote(self.agent.agent_id, **self._vitals())
                await self._flush_unrecorded(supervisor)
            except (ray.exceptions.RayActorError, ValueError) as exc:
                # Supervisor restarting or not yet up: keep beating, it reloads and listens
                logger.debug("heartbeat from %s failed: %s", self.agent.agent_id, exc)
                supervisor = None
            await self._pause(interval)

    def _vitals(self) -> dict[str, Any]:
        """What a heartbeat carries: load, state, the mailbox's depth (Ray shows no actor
        queue depth) and, when the agent senses or pursues anything, its self-report."""
        report = self.senses.report() if self.senses is not None else None
        return {"load": self.agent.load, "state": self.agent.state.value,
                "mailbox": len(self.bus.mailbox) if self.bus is not None else 0,
                "report": report or None}

    async def _flush_unrecorded(self, supervisor: Any) -> None:
        """Rounds run among peers while the Supervisor could not be told."""
        if self._unrecorded.waiting:
            await self._unrecorded.flush(supervisor)

    async def pulse(self, wait_s: float) -> dict[str, Any]:
        """The Supervisor's heartbeat, pulled: answers after ``wait_s`` (at once when the
        agent stops) with what a heartbeat carries, and ``stopped``.  The Supervisor calls
        again as soon as it has the answer; an agent too busy or paused to answer is
        missed, not taken for dead."""
        self._pulled.set()
        await self._pause(wait_s)
        if self._unrecorded.waiting:
            try:
                await self._flush_unrecorded(self._supervisor())
            except (ray.exceptions.RayActorError, ValueError) as exc:
                logger.info("the Supervisor is not reachable (%s): peer rounds wait", exc)
        return {"stopped": self._stopped.is_set(), **self._vitals()}

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the agent stops meanwhile."""
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def ready(self) -> dict[str, Any]:
        """Describe the agent (node, GPU ids) once it is on the bus, if it has one."""
        if self._joined is not None:
            await self._joined
        return self.describe()

    # -- the bus ----------------------------------------------------------------------
    async def deliver(self, batch: Sequence[bytes]) -> int:
        """Receive a batch of encoded envelopes (called by other agents' endpoints)."""
        if self._joined is not None:
            await self._joined
        return await self._endpoint().deliver(batch)

    async def serve(self, frames: Sequence[bytes]) -> list[bytes]:
        """Answer requests sent straight to this agent (the reply is the return value)."""
        if self._joined is not None:
            await self._joined
        return await self._endpoint().serve(frames)

    async def tell(self, recipient: str, payload: Any = None, **fields: Any) -> str:
        return self._endpoint().tell(recipient, payload, **fields).id

    async def tell_many(self, recipient: str, payloads: Sequence[Any], **fields: Any) -> int:
        """Send one message per payload to ``recipient`` (one Ray call for the lot)."""
        endpoint = self._endpoint()
        return endpoint.send_copies(Envelope.new(endpoint.agent_id, recipient=recipient,
                                                 **fields), payloads)

    async def publish_many(self, topic: str, payloads: Sequence[Any], **fields: Any) -> int:
        """Publish one message per payload on ``topic`` (one Ray call for the lot)."""
        endpoint = self._endpoint()
        return endpoint.send_copies(Envelope.new(endpoint.agent_id, topic=topic, **fields),
                                    payloads)

    async def publish(self, topic: str, payload: Any = None, **fields: Any) -> str:
        return self._endpoint().publish(topic, payload, **fields).id

    async def broadcast(self, payload: Any = None, agent_type: str | None = None,
                        **fields: Any) -> str:
        return self._endpoint().broadcast(payload, agent_type, **fields).id

    async def subscribe(self, pattern: str) -> None:
        await self._endpoint().subscribe(pattern)

    async def request(self, recipient: str, payload: Any = None, timeout_s: float = 5.0
                      ) -> dict[str, Any]:
        reply = await self._endpoint().request(recipient, payload, timeout_s=timeout_s)
        return {"performative": reply.performative.value, "payload": reply.payload,
                "sender": reply.sender, "correlation_id": reply.correlation_id}

    async def receive(self, max_n: int = 100, timeout_s: float = 0.0) -> list[dict[str, Any]]:
        return await self._endpoint().receive_records(max_n, timeout_s)

    async def set_identity(self, token: str) -> None:
        """Take the signed identity token the Supervisor issued to this agent."""
        self.token = token

    async def identity(self) -> str | None:
        """This agent's identity token (a JWT bridges and the HTTP API verify)."""
        return self.token

    async def spread(self, rumour_id: str, rumour: Any) -> bool:
        """Start a rumour here; gossip rounds carry it to every agent."""
        return self._endpoint().rumours.add(rumour_id, rumour)

    async def gossip_round(self, fanout: int = 1, seed: int | None = None) -> int:
        import numpy as np

        return await self._endpoint().gossip_round(fanout, np.random.default_rng(seed))

    async def gossip_exchange(self, pushed: dict[str, Any], digest: set[str]
                              ) -> dict[str, Any]:
        return self._endpoint().gossip_exchange(pushed, digest)

    async def rumours(self) -> list[str]:
        return sorted(self._endpoint().rumours.digest())

    async def tune_bus(self, max_batch: int | None = None, linger_ms: float | None = None
                       ) -> None:
        """Change this agent's send batching (see ``Endpoint.tune``)."""
        self._endpoint().tune(max_batch, None if linger_ms is None else linger_ms / 1000)

    async def flush(self) -> None:
        await self._endpoint().flush()

    def bus_stats(self) -> dict[str, Any]:
        return self._endpoint().stats()

    def describe(self) -> dict[str, Any]:
        ctx = ray.get_runtime_context()
        info = self.agent.describe()
        info.update(
            node_id=ctx.get_node_id(),
            gpu_ids=[str(g) for g in ray.get_gpu_ids()],
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            pid=os.getpid(),
        )
        return info

    async def cfp(self, conversation_id: str, cfp: Mapping[str, Sequence[Any]],
                  subset: Sequence[int] | None = None) -> dict[str, Any]:
        """Answer a round's calls for proposals (one Ray call per agent per round), on the
        tasks at positions ``subset`` of ``cfp`` when given."""
        return self.agent.propose(cfp, subset)

    async def settle(self, conversation_id: str, accepted: Sequence[Mapping[str, Any]],
                     rejected: Sequence[str]) -> list[tuple[bool, Any]]:
        """accept-proposal (run) and reject-proposal in one call; returns the outcomes."""
        return await self.agent.settle(accepted, rejected)

    async def marginal_bids(self, conversation_id: str, cfp: Mapping[str, Any],
                            held: Sequence[str]) -> dict[str, float | None]:
        """Sequential auctions: bids on the round's open tasks given it also wins ``held``."""
        return self.agent.marginal_bids(cfp, held)

    async def cbba(self, conversation_id: str, cfp: Mapping[str, Any],
                   peers: Mapping[str, Any], capacity: int | None = None,
                   max_rounds: int = 500, run: bool = False) -> dict[str, Any]:
        """Take part in a bundle-algorithm round with ``peers`` (id -> actor handle):
        gossip with them until the winners agree; returns what this agent won (its free
        slots, unless ``capacity``) and, with ``run``, the results of running it."""
        from agents.agent.bundles import DEAD, Member

        member = Member(self.agent, conversation_id, cfp, list(peers),
                        self.agent.free_slots if capacity is None else capacity)
        self._bundles[conversation_id] = member
        for early in self._early.pop(conversation_id, []):
            member.answer(early)

        async def exchange(peer: str, message: dict[str, Any]) -> dict[str, Any] | str | None:
            try:
                reply: dict[str, Any] | None = await asyncio.wait_for(
                    peers[peer].cbba_exchange.remote(conversation_id, message),
                    CBBA_EXCHANGE_TIMEOUT_S)
                return reply
            except (TimeoutError, ray.exceptions.ActorUnavailableError):
                return None  # not now (busy, paused, restarting): asked again next round
            except ray.exceptions.RayActorError:
                return DEAD

        outcome = await member.run(exchange, max_rounds=max_rounds)
        if run:
            column = {t: i for i, t in enumerate(cfp["task_ids"])}
            wires = [{"task_id": t, "kind": cfp["kinds"][column[t]],
                      "args": cfp["args"][column[t]], "attributes": cfp["attributes"][column[t]],
                      "submitted_at": cfp["submitted_at"][column[t]],
                      "correlation_id": cfp["correlation_ids"][column[t]]}
                     for t in outcome["bundle"]]
            outcomes = await self.agent.settle(wires, [])
            outcome["results"] = {w["task_id"]: list(o)
                                  for w, o in zip(wires, outcomes, strict=True)}
        return outcome

    async def allocate_with_peers(self, tasks: Sequence[Mapping[str, Any]],
                                  peers: Sequence[str], timeout_s: float = 60.0
                                  ) -> dict[str, Any]:
        """Allocate ``tasks`` between this agent and ``peers`` (agent ids) with no
        Supervisor: the bundle algorithm among them, each running what it won.  Returns
        the assignment and each task's result; the Supervisor is told when it can be
        (see :mod:`agents.agent.peer_allocation`)."""
        payload, specs = payload_for(tasks)
        me = self.agent.agent_id
        members = {me: ray.get_runtime_context().current_actor}
        for peer in sorted(set(peers) - {me}):
            members[peer] = ray.get_actor(agent_actor_name(peer), namespace=self._namespace)
        out = await allocate(members, me, lambda conv, cfp, others: self.cbba(
            conv, cfp, others, None, 500, True), payload, timeout_s)
        self._unrecorded.add(out["conversation_id"], specs, out["results"])
        try:
            supervisor = self._supervisor()
            out["recorded"] = await self._unrecorded.flush(supervisor) > 0
        except (ray.exceptions.RayActorError, ValueError) as exc:
            logger.info("the Supervisor is not reachable (%s): the outcome of %s waits",
                        exc, out["conversation_id"])
            out["recorded"] = False
        return out

    async def cbba_exchange(self, conversation_id: str, message: dict[str, Any]
                            ) -> dict[str, Any] | None:
        """A peer's push; our news back (None until this agent has joined that round)."""
        member = self._bundles.get(conversation_id)
        if member is None:
            self._early.setdefault(conversation_id, []).append(message)
            return None
        return member.answer(message)

    async def vote(self, ballots: Sequence[Mapping[str, Any]]) -> list[Any]:
        return [self.agent.vote(b) for b in ballots]

    async def vote_assignments(self, conversation_id: str,
                               payload: Mapping[str, Any]) -> list[Any]:
        """One ballot per task of a consensus round (payload shared by the committee)."""
        return self.agent.vote_assignments(payload["task_ids"], payload["candidates"],
                                           payload.get("costs"))

    async def bid_for(self, resource: str) -> float | None:
        return self.agent.bid_for(resource)

    async def run_task(self, task: Mapping[str, Any]) -> Any:
        """accept-proposal: run the task; the return value is the inform-result."""
        return await self.agent.run_task(task)

    async def observe(self, observation: Mapping[str, Any]) -> list[str]:
        return [b.name for b in self.agent.observe(observation)]

    async def set_goal(self, goal: AgentGoal) -> None:
        self.agent.set_goal(goal)

    async def add_behavior(self, behavior: Behavior) -> None:
        self.agent.add_behavior(behavior)

    async def execute_behavior(self, behavior: Behavior | str) -> list[Any]:
        if isinstance(behavior, str):
            found = [b for b in self.agent.behaviors if b.name == behavior]
            if not found:
                raise KeyError(f"agent {self.agent.agent_id!r} has no behaviour {behavior!r}")
            behavior = found[0]
        return await self.agent.execute_behavior(behavior)

    # -- environments and goals ------------------------------------------------------
    async def _senses(self) -> Senses:
        if self._joined is not None:
            await self._joined
        if self.senses is None:
            if self.bus is None:
                raise RuntimeError(f"agent {self.agent.agent_id!r} is not on a bus")
            return await self._start_senses()  # a goal given at run time
        return self.senses

    async def environment_act(self, environment: str, action: str,
                              args: Mapping[str, Any] | None = None) -> Any:
        """Do ``action`` on one of the agent's environments."""
        return await (await self._senses()).act(environment, action, dict(args or {}))

    async def environment_observe(self, environment: str) -> dict[str, Any]:
        """A snapshot of one of the agent's environments."""
        return await (await self._senses()).observe(environment)

    async def pursue(self, goal: Mapping[str, Any]) -> dict[str, Any]:
        """Pursue ``goal`` from now on (``{"name", "target", "actions", "deadline_s", ...}``,
        as under ``pursue:`` in config); replaces a goal of the same name."""
        return (await self._senses()).pursue(goal)

    async def self_report(self) -> dict[str, Any]:
        """Environments' health, goals' progress and behaviours' state."""
        return (await self._senses()).report()

    async def ping(self) -> bool:
        """Answers when the actor is up (the Supervisor asks an agent it took for dead)."""
        return True

    async def stop(self) -> str:
        if self.senses is not None:
            await self.senses.stop()
        await self.agent.stop()
        if self.bus is not None:
            await self.bus.flush()
            await self.bus.directory.deregister.remote(self.agent.agent_id)
        self._stopped.set()
        return LifecycleState.STOPPED.value

    def imported_modules(self, names: Sequence[str]) -> dict[str, bool]:
        """Which of ``names`` this worker has imported (checks lazy heavy imports)."""
        import sys

        return {n: n in sys.modules for n in names}
