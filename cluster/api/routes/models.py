"""Models: stored versions, their Serve deployments, and predictions."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from cluster.api.problems import COMMON_RESPONSES
from cluster.api.routes import backend
from cluster.api.schemas import ModelDeployIn, PredictIn

__all__ = ["router"]

router = APIRouter(tags=["models"], responses=COMMON_RESPONSES)

#: a stored model's name (learning.models.store's rule)
ModelName = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@router.get("/v1/models", name="list_models")
async def list_models(request: Request) -> Any:
    """Every stored model version, and the Serve deployment serving it, if any."""
    return {"models": await asyncio.to_thread(backend(request).models.listing)}


@router.post("/v1/models/{name}/deployments", name="deploy_model", status_code=201)
async def deploy_model(request: Request, body: ModelDeployIn, name: str = ModelName) -> Any:
    """Serve a stored version (default: the latest) as its own Serve application."""
    out = await asyncio.to_thread(backend(request).models.deploy, name, body.version,
                                  body.replicas)
    return JSONResponse(out, status_code=201)


@router.post("/v1/models/{name}/predict", name="predict")
async def predict(request: Request, body: PredictIn, name: str = ModelName) -> Any:
    """Predictions of the newest deployed version of ``name`` (or ``version``)."""
    return await backend(request).models.predict(name, body.version, body.inputs)
