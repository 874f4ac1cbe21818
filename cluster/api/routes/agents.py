"""Agents: list, describe, spawn from specs, stop."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cluster.api.problems import COMMON_RESPONSES, Problem
from cluster.api.routes import backend
from cluster.api.schemas import AgentList, SpawnIn

__all__ = ["router"]

router = APIRouter(tags=["agents"], responses=COMMON_RESPONSES)


@router.get("/v1/agents", name="list_agents", response_model=AgentList)
async def list_agents(request: Request) -> Any:
    """Every agent: type, capabilities, capacity, load, alive, suspect, node."""
    return {"agents": await backend(request).ops.list_agents()}


@router.get("/v1/agents/{agent_id}", name="describe_agent")
async def describe_agent(request: Request, agent_id: str) -> Any:
    """One agent, with what it reports about itself when it is alive."""
    return await backend(request).ops.describe_agent(agent_id)


@router.post("/v1/agents", name="spawn_agents", status_code=201, response_model=AgentList)
async def spawn_agents(request: Request, body: SpawnIn) -> Any:
    """Start agents from specs (resources are checked first: 409 if no node can host one)."""
    from agents.specs import AgentSpec

    specs = [a.model_dump() for a in body.agents]
    known = set(AgentSpec.__dataclass_fields__)
    for i, spec in enumerate(specs):
        unknown = sorted(set(spec) - known)
        if unknown:
            raise Problem(422, f"agents[{i}]: unknown field(s) {', '.join(unknown)}")
    made = await backend(request).ops.spawn(specs)
    return JSONResponse({"agents": made}, status_code=201)


@router.delete("/v1/agents/{agent_id}", name="stop_agent")
async def stop_agent(request: Request, agent_id: str) -> Any:
    """Stop an agent once its running tasks finish, and forget it."""
    if not await backend(request).ops.deregister_agent(agent_id):
        raise Problem(404, f"no agent {agent_id!r}")
    return {"agent_id": agent_id, "stopped": True}
