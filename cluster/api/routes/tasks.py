"""Tasks: submit one or many, list, read status and result, history, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from cluster.api.problems import COMMON_RESPONSES, Problem
from cluster.api.routes import backend
from cluster.api.schemas import TaskAccepted, TaskBatchIn, TaskIn, TaskList, TasksAccepted

__all__ = ["check_kind", "router", "task_dict"]

router = APIRouter(tags=["tasks"], responses=COMMON_RESPONSES)

_ENDED = frozenset({"done", "failed", "cancelled"})
_STATES = {"submitted", "awarded", "running", "reassigned", "done", "failed", "cancelled"}


def check_kind(kind: str) -> None:
    """422 for a kind no agent could resolve (``module:function`` kinds resolve on the agent)."""
    from agents.agent.kinds import known_tasks
    from messaging.errors import did_you_mean

    if ":" in kind:
        return
    known = known_tasks()
    if kind not in known:
        raise Problem(422, f"unknown task kind {kind!r}{did_you_mean(kind, known)} "
                      f"(registered: {', '.join(known)}; or give 'module:function')")


def task_dict(t: TaskIn) -> dict[str, Any]:
    check_kind(t.kind)
    if t.strategy is not None:
        from agents.protocols import STRATEGIES
        from messaging.errors import did_you_mean

        if t.strategy not in STRATEGIES:
            raise Problem(422, f"unknown strategy {t.strategy!r}"
                          f"{did_you_mean(t.strategy, list(STRATEGIES))} "
                          f"(known: {', '.join(sorted(STRATEGIES))})")
    out = t.model_dump()
    out["task_id"] = t.task_id or f"http-{uuid.uuid4().hex[:16]}"
    return out


@router.post("/v1/tasks", name="submit_task", status_code=202, response_model=TaskAccepted)
async def submit_task(request: Request, body: TaskIn) -> Any:
    """Queue one task; answers at once with its id (poll ``GET /v1/tasks/{id}``)."""
    spec = task_dict(body)
    await backend(request).ops.submit([spec])
    return JSONResponse({"task_id": spec["task_id"], "state": "submitted"}, status_code=202,
                        headers={"Location": f"/v1/tasks/{spec['task_id']}"})


@router.post("/v1/tasks/batch", name="submit_tasks", status_code=202,
             response_model=TasksAccepted)
async def submit_tasks(request: Request, body: TaskBatchIn) -> Any:
    """Queue many tasks in one call (a known id is not queued again)."""
    specs = [task_dict(t) for t in body.tasks]
    ids = [s["task_id"] for s in specs]
    if len(set(ids)) != len(ids):
        raise Problem(422, "task ids in one batch must be unique")
    await backend(request).ops.submit(specs)
    return {"task_ids": ids}


@router.get("/v1/tasks", name="list_tasks", response_model=TaskList)
async def list_tasks(request: Request, state: str | None = Query(None, max_length=20),
                     limit: int = Query(50, ge=1, le=1000)) -> Any:
    """Counts by state and the most recently changed tasks, newest first."""
    if state is not None and state not in _STATES:
        raise Problem(422, f"state must be one of {', '.join(sorted(_STATES))}, got {state!r}")
    return await backend(request).ops.list_tasks(state, limit)


@router.get("/v1/tasks/{task_id:path}/history", name="task_history")
async def task_history(request: Request, task_id: str) -> Any:
    """Every state the task went through, in order."""
    rows = await backend(request).ops.history(task_id)
    if not rows:
        raise Problem(404, f"no task {task_id!r}")
    return {"task_id": task_id, "history": [{"state": s, "agent_id": a, "detail": d}
                                            for s, a, d in rows]}


@router.post("/v1/tasks/{task_id:path}/cancel", name="cancel_task")
async def cancel_task(request: Request, task_id: str) -> Any:
    """Cancel a task that has not ended (its dependents fail); a running one finishes on
    its agent but its result no longer counts."""
    n = await backend(request).ops.cancel_tasks([task_id], "cancelled over HTTP")
    return {"task_id": task_id, "cancelled": bool(n)}


@router.get("/v1/tasks/{task_id:path}", name="task_result")
async def task_result(request: Request, task_id: str,
                      wait: float = Query(0.0, ge=0, le=300,
                                          description="seconds to wait for the task to end")
                      ) -> Any:
    """State, result or error, agent, attempts and timings of one task."""
    b = backend(request)
    ended = b.ended.get(task_id)
    if ended is not None:
        return ended
    out = await b.ops.result(task_id)
    if out.get("state") == "unknown":
        raise Problem(404, f"no task {task_id!r}")
    if wait > 0 and out.get("state") not in _ENDED:
        await b.ops.wait([task_id], min(wait, b.settings.wait_max_s))
        out = await b.ops.result(task_id)
    out = _jsonable(out)
    if out.get("state") in _ENDED:
        b.ended[task_id] = out
    return out


def _jsonable(out: dict[str, Any]) -> dict[str, Any]:
    """A result value that JSON cannot carry is shown by its repr, never a 500."""
    import json

    try:
        json.dumps(out["value"])
    except (TypeError, ValueError):
        out = {**out, "value": repr(out["value"])[:10_000], "value_repr": True}
    return out


@router.get("/v1/status", name="status")
async def status(request: Request) -> Any:
    """Counts of agents and tasks, the Supervisor's stats and default strategy."""
    return await backend(request).ops.status()
