"""Plans: submit a task graph or an HTN goal, list, status, results, cancel, observe."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from cluster.api.problems import COMMON_RESPONSES, Problem
from cluster.api.routes import backend
from cluster.api.schemas import ObserveIn, PlanIn

__all__ = ["router"]

router = APIRouter(tags=["plans"], responses=COMMON_RESPONSES)


def _graph(body: PlanIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task graph to submit, and the HTN domain and state (for repair) if a goal."""
    from agents.agent.kinds import resolvable
    from agents.planning import PlanError, TaskGraph

    if (body.graph is None) == (body.goal is None):
        raise Problem(422, "give exactly one of 'graph' (a task graph) and 'goal' "
                      "(an HTN domain and root tasks)")
    extra: dict[str, Any] = {}
    try:
        if body.goal is not None:
            from cluster.config import PlanGoal

            goal = PlanGoal.model_validate({**body.goal.model_dump(), "capabilities": []})
            graph = goal.graph()
            extra = {"domain": body.goal.domain, "state": body.goal.state}
        else:
            graph = TaskGraph.from_dict(body.graph or {})
        graph.validate(known_kinds=resolvable(n.kind for n in graph.nodes.values()))
    except PlanError as exc:
        raise Problem(422, str(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:  # pydantic's ValidationError included
        raise Problem(422, f"not a valid plan: {exc}") from None
    return graph.to_dict(), extra


@router.get("/v1/plans", name="list_plans")
async def list_plans(request: Request) -> Any:
    """Every plan with its counts by state, newest first."""
    return {"plans": await backend(request).ops.list_plans()}


@router.post("/v1/plans", name="submit_plan", status_code=202)
async def submit_plan(request: Request, body: PlanIn) -> Any:
    """Validate and queue a whole task graph (or the graph an HTN goal decomposes into)."""
    graph, extra = _graph(body)
    plan_id = await backend(request).ops.submit_plan(
        graph, body.plan_id, strategy=body.strategy, capabilities=body.capabilities,
        priority=body.priority, **extra)
    return JSONResponse({"plan_id": plan_id, "nodes": len(graph.get("nodes", []))},
                        status_code=202, headers={"Location": f"/v1/plans/{plan_id}"})


@router.get("/v1/plans/{plan_id}", name="plan_status")
async def plan_status(request: Request, plan_id: str, detail: bool = False,
                      wait: float = Query(0.0, ge=0, le=300)) -> Any:
    """Counts by state, whether it is over, its time so far; each node's state if ``detail``."""
    b = backend(request)
    if wait > 0:
        await b.ops.wait_plan(plan_id, min(wait, b.settings.wait_max_s))
    return await b.ops.plan_status(plan_id, detail)


@router.get("/v1/plans/{plan_id}/results", name="plan_results")
async def plan_results(request: Request, plan_id: str) -> Any:
    """Results by node (the error and state of those that did not succeed)."""
    from cluster.api.routes.tasks import _jsonable

    out = await backend(request).ops.plan_results(plan_id)
    return {"plan_id": plan_id,
            "results": {n: _jsonable({"value": v})["value"] for n, v in out.items()}}


@router.delete("/v1/plans/{plan_id}", name="cancel_plan")
async def cancel_plan(request: Request, plan_id: str) -> Any:
    """Cancel every task of the plan that has not ended."""
    return {"plan_id": plan_id, "cancelled": await backend(request).ops.cancel_plan(plan_id)}


@router.post("/v1/plans/{plan_id}/observations", name="observe_plan")
async def observe_plan(request: Request, plan_id: str, body: ObserveIn) -> Any:
    """The world changed: what no longer holds is replanned."""
    return await backend(request).ops.observe_plan(plan_id, body.changes)
