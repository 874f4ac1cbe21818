"""The operator page: static files served at /ui (its data comes from the API itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from cluster.api.problems import Problem

__all__ = ["UI_DIR", "router"]

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}

router = APIRouter(include_in_schema=False)


@router.get("/ui", name="ui")
async def ui() -> Any:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/", name="ui_index")
async def ui_index() -> Any:
    return await ui_file("index.html")


@router.get("/ui/{name}", name="ui_file")
async def ui_file(name: str) -> Any:
    path = UI_DIR / name
    if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        raise Problem(404, f"no file {name!r} in the operator page")
    return FileResponse(path, media_type=_TYPES[path.suffix],
                        headers={"Cache-Control": "no-cache"})
