"""Coordination: allocate a task with a chosen strategy, hold a vote, auction a resource;
and swarm and learning runs, which are tasks of their kinds."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cluster.api.problems import COMMON_RESPONSES
from cluster.api.routes import backend
from cluster.api.routes.tasks import task_dict
from cluster.api.schemas import (
    AllocateIn,
    AllocateOut,
    AuctionIn,
    LearningRunIn,
    SwarmRunIn,
    TaskIn,
    VoteIn,
)

__all__ = ["router"]

router = APIRouter(tags=["coordination"], responses=COMMON_RESPONSES)


@router.post("/v1/allocations", name="allocate", response_model=AllocateOut,
             responses={202: {"model": AllocateOut,
                              "description": "queued, not awarded within timeout_s"}})
async def allocate(request: Request, body: AllocateIn) -> Any:
    """Submit a task with ``strategy`` and wait until it is awarded; who got it (202 with
    no agent if nobody took it within ``timeout_s``: it stays queued)."""
    task = body.task.model_copy(update={"strategy": body.strategy or body.task.strategy})
    spec = task_dict(task)
    b = backend(request)
    try:
        agent = await b.ops.allocate_task(spec, min(body.timeout_s, b.settings.wait_max_s))
    except TimeoutError:  # accepted, queued, not yet awarded: the caller polls the task
        return JSONResponse({"task_id": spec["task_id"], "agent_id": None}, status_code=202,
                            headers={"Location": f"/v1/tasks/{spec['task_id']}"})
    return {"task_id": spec["task_id"], "agent_id": agent}


@router.post("/v1/votes", name="hold_vote")
async def hold_vote(request: Request, body: VoteIn) -> Any:
    """The live agents (with ``capabilities``) vote on ``question``; decision and votes."""
    out = await backend(request).ops.hold_vote(
        body.question, body.options, rule=body.rule, quorum=body.quorum,
        deadline_s=body.deadline_s, capabilities=body.capabilities)
    return _plain(out)


@router.get("/v1/votes/{proposal_id}", name="list_votes")
async def list_votes(request: Request, proposal_id: str) -> Any:
    """Every vote recorded for a proposal (a vote, or a consensus-allocated task)."""
    rows = await backend(request).ops.votes(proposal_id)
    return {"proposal_id": proposal_id,
            "votes": [{"voter": v, "choice": c, "weight": w, "decision": d}
                      for v, c, w, d in rows]}


@router.post("/v1/auctions", name="auction_resource")
async def auction_resource(request: Request, body: AuctionIn) -> Any:
    """Sell ``resource`` to the live agents by sealed bid; the winner and price."""
    out = await backend(request).ops.auction_resource(
        body.resource, rule=body.rule, reserve=body.reserve, deadline_s=body.deadline_s)
    return _plain(out)


async def _run(request: Request, kind: str, args: dict[str, Any], task_id: str | None,
               capabilities: list[str], priority: int) -> Any:
    spec = task_dict(TaskIn.model_validate({
        "task_id": task_id or f"{kind}-{uuid.uuid4().hex[:12]}", "kind": kind, "args": args,
        "required_capabilities": capabilities, "priority": priority, "max_attempts": 1}))
    await backend(request).ops.submit([spec])
    return JSONResponse({"task_id": spec["task_id"], "state": "submitted", "kind": kind},
                        status_code=202, headers={"Location": f"/v1/tasks/{spec['task_id']}"})


@router.post("/v1/swarm-runs", name="start_swarm_run", status_code=202)
async def start_swarm_run(request: Request, body: SwarmRunIn) -> Any:
    """A PSO, bee-colony or ant-colony run as a task; its result is the run's report."""
    return await _run(request, "swarm_optimize", body.args, body.task_id,
                      body.required_capabilities, body.priority)


@router.post("/v1/learning-runs", name="start_learning_run", status_code=202)
async def start_learning_run(request: Request, body: LearningRunIn) -> Any:
    """A Q-learning, policy-gradient, RLlib or AutoML run as a task."""
    return await _run(request, body.kind, body.args, body.task_id,
                      body.required_capabilities, body.priority)


def _plain(out: Any) -> Any:
    """Tuples and numpy scalars as plain JSON."""
    import json

    return json.loads(json.dumps(out, default=lambda o: o.item() if hasattr(o, "item")
                                 else str(o)))
