"""Every Ray call the Supervisor makes to agents, in one module.

Allocation rounds (calls for proposals and ballots: one call per agent,
carrying all of that agent's tasks), settling a round with an agent,
watching an agent's actor for its death, and the questions put to agents
outside allocation (:func:`hold_vote`, :func:`auction_resource`).  Replies
become the plain values the pure cores take; agents that die mid-call are
reported back, not hidden.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import ray

from agents.hosting.handle import host_of
from agents.protocols.auction import Bid, Rule, clear
from agents.protocols.base import AgentView, Proposal, Refusal, TaskView, Vote
from agents.protocols.consensus import Rule as VoteRule
from agents.protocols.consensus import tally
from agents.protocols.contract_net import Conversation
from agents.supervisor.rounds import RoundResult, by_capabilities, cfp_groups, offers

__all__ = ["Unanswered", "answers", "auction_resource", "ballot_round", "call_each",
           "cfp_payload", "cfp_round", "describe", "find_agent", "gather_replies", "hold_vote",
           "host_life", "pulse", "quotes", "set_identity", "settle", "settle_hosted", "stop",
           "stop_host", "watch_host"]


#: the tasks spreading a host's batched answers to its agents' futures (kept referenced)
_spreading: set[asyncio.Task[None]] = set()


def call_each(handles: Mapping[str, Any], method: str, *args: Any,
              last: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``method(*args)`` on each agent (with ``last[agent]`` as a last argument, when
    given): one awaitable per agent id.

    An agent actor gets a Ray call of its own; the hosted agents of one host share
    one call (:meth:`agents.hosting.host.AgentHost.each`), whose answers are spread
    to per-agent futures.  A host's death fails every one of its agents' futures
    with Ray's error, as an actor's death fails its call.
    """
    out: dict[str, Any] = {}
    hosts: dict[str, tuple[Any, list[str]]] = {}
    for agent_id, handle in handles.items():
        where = host_of(handle)
        if where is None:
            more = () if last is None else (last[agent_id],)
            out[agent_id] = getattr(handle, method).remote(*args, *more)
        else:
            hosts.setdefault(where[1], (where[0], []))[1].append(agent_id)
    loop = asyncio.get_running_loop()
    for host, ids in hosts.values():
        futures = {a: loop.create_future() for a in ids}
        extra = {} if last is None else {"last": [last[a] for a in ids]}
        task = loop.create_task(_spread(host.each.remote(method, ids, *args, **extra),
                                        futures))
        _spreading.add(task)
        task.add_done_callback(_spreading.discard)
        out.update(futures)
    return out


async def _spread(ref: Any, futures: Mapping[str, asyncio.Future[Any]]) -> None:
    try:
        results = await ref
    except BaseException as exc:  # the host died or could not be reached: all its agents
        for fut in futures.values():
            if not fut.done():
                fut.set_exception(exc)
        return
    for fut, result in zip(futures.values(), results, strict=True):
        if fut.done():
            continue
        if isinstance(result, LookupError):  # not in its host (any more): as good as dead
            fut.set_exception(ray.exceptions.ActorDiedError())
        elif isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)


async def gather_replies(
    calls: Mapping[str, Any], timeout: float
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Await one ref per agent until ``timeout``: (replies, dead agents, late agents)."""
    futures = {asyncio.ensure_future(ref): agent_id for agent_id, ref in calls.items()}
    if not futures:
        return {}, [], []
    done, pending = await asyncio.wait(futures, timeout=timeout)
    replies: dict[str, Any] = {}
    dead: list[str] = []
    late: list[str] = []
    for fut in done:
        agent_id = futures[fut]
        exc = fut.exception()
        if exc is None:
            replies[agent_id] = fut.result()
        elif isinstance(exc, ray.exceptions.ActorUnavailableError):
            late.append(agent_id)  # unreachable for a moment (busy, restarting): not dead
        elif isinstance(exc, ray.exceptions.RayActorError):
            dead.append(agent_id)
        else:
            raise exc
    for fut in pending:  # a reply after the deadline is late: dropped, counted by the caller
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
    return replies, dead, late + [futures[f] for f in pending]


def cfp_payload(tasks: Sequence[TaskView]) -> dict[str, list[Any]]:
    """A round's tasks, columnar, as :meth:`agents.agent.core.Agent.propose` reads them."""
    payload: dict[str, list[Any]] = {"task_ids": [t.task_id for t in tasks],
                                     "kinds": [t.kind for t in tasks],
                                     "capabilities": [t.required_capabilities for t in tasks]}
    if any(t.attributes for t in tasks):  # only then: most rounds carry none
        payload["attributes"] = [dict(t.attributes) for t in tasks]
        payload["submitted_at"] = [t.submitted_at for t in tasks]
    return payload


async def cfp_round(
    tasks: Sequence[TaskView],
    agents: Mapping[str, AgentView],
    handles: Mapping[str, Any],
    timeout: float,
    now: float,
    fanout: int = 0,
) -> RoundResult:
    """One call for proposals per participant, the payload put once per capability group."""
    conv = Conversation(uuid.uuid4().hex, frozenset(t.task_id for t in tasks), now + timeout)
    calls, payloads = {}, {}
    for members, mine in cfp_groups(tasks, agents, fanout):
        payload = ray.put(cfp_payload(mine))
        # many participants: each is asked about a share, every task still by ``fanout``
        subsets = (dict(zip(members, offers(len(members), len(mine), fanout), strict=True))
                   if 0 < fanout < len(members) else None)
        calls.update(call_each({a: handles[a] for a in members}, "cfp",
                               conv.conversation_id, payload, last=subsets))
        payloads.update(dict.fromkeys(members, payload))
    replies, dead, late = await gather_replies(calls, timeout)
    result = RoundResult(conv.conversation_id, dead=dead, late_agents=late, conversation=conv,
                         payloads=payloads)
    for agent_id, reply in replies.items():
        result.additive = result.additive and reply.get("additive", True)
        for task_id, cost, eta, load in reply["propose"]:
            conv.receive(Proposal(task_id, agent_id, cost, eta, load), now)
        for kind in ("refuse", "not-understood"):
            for reason, ids in reply[kind].items():
                for task_id in ids:
                    conv.receive(Refusal(task_id, agent_id, reason, kind != "refuse"), now)
    conv.close()
    result.proposals = conv.proposals
    result.refusals = conv.refusals
    return result


async def quotes(tasks: Sequence[TaskView], agents: Mapping[str, AgentView],
                 handles: Mapping[str, Any], timeout: float
                 ) -> dict[str, dict[str, float]]:
    """What each capable agent says each task costs it (task -> agent -> cost): a call for
    proposals to all of them, for a committee to vote on."""
    rnd = await cfp_round(tasks, agents, handles, timeout, time.time(), 0)
    return {t: {p.agent_id: p.cost for p in ps} for t, ps in rnd.proposals.items()}


async def ballot_round(
    tasks: Sequence[TaskView],
    agents: Mapping[str, AgentView],
    handles: Mapping[str, Any],
    timeout: float,
    committee_size: int = 0,
    costs: Mapping[str, Mapping[str, float]] | None = None,
) -> RoundResult:
    """Ask a committee of capable agents who of the candidates takes each task.

    Per capability group the candidates are the agents with a free slot; the
    committee is the ``committee_size`` least loaded of them (0: all capable).
    """
    result = RoundResult(uuid.uuid4().hex)
    calls, asked = {}, {}
    for caps, members in by_capabilities(agents).items():
        mine = [t.task_id for t in tasks if set(t.required_capabilities) <= caps]
        candidates = [{"id": a.agent_id, "load": a.load, "capacity": a.capacity}
                      for a in members if a.free > 0]
        if not mine or not candidates:
            continue
        committee = members[:committee_size] if committee_size > 0 else members
        ballot: dict[str, Any] = {"task_ids": mine, "candidates": candidates}
        if costs is not None:  # the candidates' own costs, from a call for proposals
            ballot["costs"] = {t: dict(costs.get(t, {})) for t in mine}
        payload = ray.put(ballot)
        calls.update(call_each({a.agent_id: handles[a.agent_id] for a in committee},
                               "vote_assignments", result.conversation_id, payload))
        for a in committee:
            asked[a.agent_id] = mine
        for task_id in mine:
            result.electorate[task_id] = [a.agent_id for a in committee]
    replies, result.dead, result.late_agents = await gather_replies(calls, timeout)
    for agent_id, choices in replies.items():
        for task_id, choice in zip(asked[agent_id], choices, strict=True):
            result.votes.setdefault(task_id, []).append(Vote(agent_id, choice))
    return result


class Unanswered(NamedTuple):
    """A settle call without outcomes: ``died`` (Ray says the actor is dead) or not
    (unreachable for a moment: the tasks may or may not have run)."""

    died: bool
    reason: str


async def settle(handle: Any, conversation_id: str, tasks: Sequence[Mapping[str, Any]],
                 rejected: Sequence[str]) -> list[tuple[bool, Any]] | Unanswered:
    """accept-proposal (run ``tasks``) and reject-proposal in one call; the outcomes,
    or :class:`Unanswered` when the agent's actor did not answer."""
    try:
        return await handle.settle.remote(conversation_id, list(tasks), list(rejected))
    except ray.exceptions.ActorUnavailableError as exc:
        return Unanswered(False, f"ActorUnavailableError: {exc}")
    except ray.exceptions.RayActorError:
        return Unanswered(True, "actor died: RayActorError")


async def answers(handle: Any, timeout_s: float) -> bool:
    """Whether the agent's actor answers a call within ``timeout_s``."""
    try:
        await asyncio.wait_for(handle.ping.remote(), timeout=timeout_s)
    except (TimeoutError, ray.exceptions.RayActorError):
        return False
    return True


async def pulse(handle: Any, wait_s: float) -> dict[str, Any] | None:
    """An agent's heartbeat, pulled (see ``AgentActor.pulse``); None when its actor died."""
    while True:
        try:
            return dict(await handle.pulse.remote(wait_s))
        except ray.exceptions.ActorUnavailableError:
            # unreachable for a moment, not dead: ask again, without spinning
            await asyncio.sleep(min(wait_s, 0.1))
        except ray.exceptions.RayActorError:
            return None


async def host_life(host: Any) -> str | None:
    """A host's incarnation (waiting while Ray restarts it), or None when it is dead."""
    while True:
        try:
            return str(await host.life.remote())
        except ray.exceptions.ActorUnavailableError:
            await asyncio.sleep(0.1)
        except ray.exceptions.RayActorError:
            return None


async def watch_host(host: Any) -> str | None:
    """Until the host stops ("stopped"), dies or restarts (None: ask :func:`host_life`)."""
    try:
        return str(await host.watch.remote())
    except ray.exceptions.RayActorError:  # includes ActorUnavailableError
        return None


async def set_identity(handle: Any, token: str) -> None:
    await handle.set_identity.remote(token)


async def describe(handle: Any) -> dict[str, Any]:
    """What a live agent says of itself (node, GPU ids, pid, load, goals)."""
    return dict(await handle.describe.remote())


async def settle_hosted(host: Any, items: Sequence[tuple[str, str, Sequence[Mapping[str, Any]],
                                                         Sequence[str]]]
                        ) -> list[list[tuple[bool, Any]] | Unanswered]:
    """:func:`settle` for many agents of one host in one call: ``(agent id, conversation
    id, tasks, rejected ids)`` each; the outcomes of each, or :class:`Unanswered`."""
    try:
        results = await host.settle_many.remote(list(items))
    except ray.exceptions.ActorUnavailableError as exc:
        return [Unanswered(False, f"ActorUnavailableError: {exc}")] * len(items)
    except ray.exceptions.RayActorError:
        return [Unanswered(True, "host died: RayActorError")] * len(items)
    return [Unanswered(True, f"{type(r).__name__}: {r}") if isinstance(r, LookupError)
            else Unanswered(False, f"{type(r).__name__}: {r}") if isinstance(r, BaseException)
            else r for r in results]


async def stop_host(host: Any, timeout_s: float = 30.0) -> None:
    """Stop every agent of a host (their running tasks finish), then kill the host."""
    try:
        await asyncio.wait_for(host.stop.remote(), timeout=timeout_s)
    except (TimeoutError, ray.exceptions.RayActorError):
        pass
    ray.kill(host, no_restart=True)


async def stop(handle: Any, timeout_s: float) -> None:
    """Let the agent finish its running tasks (up to ``timeout_s``), then kill its actor
    (a hosted agent leaves its host, which stays)."""
    where = host_of(handle)
    if where is not None:
        try:
            await where[0].stop_agents.remote([handle.agent_id], timeout_s)
        except ray.exceptions.RayActorError:
            pass
        return
    if timeout_s > 0:
        try:
            await asyncio.wait_for(handle.stop.remote(), timeout=timeout_s)
        except (TimeoutError, ray.exceptions.RayActorError):
            pass
    ray.kill(handle, no_restart=True)


def find_agent(actor_name: str, namespace: str) -> Any:
    """The handle of a running agent actor; ValueError if there is none."""
    return ray.get_actor(actor_name, namespace=namespace)


async def hold_vote(
    question: str,
    options: Sequence[Any],
    voters: Mapping[str, Any],
    weights: Mapping[str, float],
    *,
    rule: VoteRule = "majority",
    quorum: float = 0.5,
    deadline_s: float = 2.0,
) -> dict[str, Any]:
    """Put ``question`` to ``voters`` (agent id → actor handle); votes after the deadline miss."""
    proposal_id = f"vote-{uuid.uuid4().hex[:12]}"
    ballot = {"proposal_id": proposal_id, "question": question, "options": list(options)}
    calls = call_each(voters, "vote", [ballot])
    replies, dead, late = await gather_replies(calls, deadline_s)
    votes = [Vote(a, r[0]) for a, r in sorted(replies.items())]
    decision = tally(votes, rule=rule, eligible=sorted(voters), weights=weights, quorum=quorum)
    return {"proposal_id": proposal_id, "question": question, "accepted": decision.accepted,
            "choice": decision.choice, "reason": decision.reason, "turnout": decision.turnout,
            "counts": decision.counts, "votes": [(v.voter, v.choice) for v in decision.votes],
            "weights": decision.weights, "late": sorted(late), "dead": sorted(dead)}


async def auction_resource(
    resource: str,
    bidders: Mapping[str, Any],
    *,
    rule: Rule = "vickrey",
    reserve: float | None = None,
    deadline_s: float = 2.0,
) -> dict[str, Any]:
    """Sell ``resource`` to the highest sealed bid; agents without a valuation do not bid."""
    calls = call_each(bidders, "bid_for", resource)
    replies, dead, late = await gather_replies(calls, deadline_s)
    bids = [Bid(a, float(v)) for a, v in sorted(replies.items()) if v is not None]
    result = clear(bids, rule=rule, side="sell", reserve=reserve)
    return {"auction_id": f"auction-{uuid.uuid4().hex[:12]}", "resource": resource,
            "rule": rule, "winner": result.winner, "price": result.price,
            "ranked": list(result.ranked), "bids": [(b.agent_id, b.amount) for b in bids],
            "late": sorted(late), "dead": sorted(dead)}
