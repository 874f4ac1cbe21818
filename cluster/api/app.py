"""The FastAPI app: every route, the guard, problem+json errors; no Ray needed to build it.

:func:`build_app` returns the app for a ``serve:`` section; a replica attaches
its :class:`~cluster.api.backend.ApiBackend` as ``app.state.backend`` (see
:mod:`cluster.api.serve`).  Middleware, outermost first: the guard
(correlation id, authentication, the role table, audit), then the body-size
limit, then FastAPI's routing.

Example:
    >>> from cluster.api.settings import ServeSection
    >>> app = build_app(ServeSection.model_validate({"auth": {"key": "k" * 32}}))
    >>> sorted(r.path for r in app.routes if getattr(r, "name", "") == "submit_task")
    ['/v1/tasks']
"""

from __future__ import annotations

from typing import Any

from cluster.api.settings import ServeSection

__all__ = ["API_VERSION", "build_app"]

API_VERSION = "1.0.0"


def build_app(settings: ServeSection) -> Any:
    """The API as a FastAPI app (see the module docstring)."""
    from fastapi import FastAPI

    from cluster.api.guard import Guard
    from cluster.api.problems import BodyLimit, install_problem_handlers
    from cluster.api.routes import agents, bus, coordination, models, plans, tasks, ui
    from cluster.api.routes.admin import health
    from cluster.api.routes.admin import router as admin

    app = FastAPI(title="raymas", version=API_VERSION, description=(
        "The HTTP API of a raymas multi-agent system: agents, tasks, plans, coordination, "
        "runs, models and the bus. Every /v1 route needs a bearer JWT; the role it carries "
        "(admin, operator, agent, viewer) decides what it may call. Errors are RFC 9457 "
        "problem details."))
    app.state.settings = settings
    app.state.tokens = _tokens(settings)
    routers = [health, agents.router, tasks.router, plans.router, coordination.router,
               models.router, bus.router, admin] + ([ui.router] if settings.ui else [])
    for router in routers:
        # the routes themselves, not a nested router: the guard matches them one by one
        app.router.routes.extend(router.routes)
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=int(settings.max_body_bytes))
    app.add_middleware(Guard, router=app.router,
                       tokens=lambda: app.state.tokens,
                       audit=lambda: getattr(app.state, "backend", None)
                       and app.state.backend.audit)
    _bearer_in_schema(app)
    return app


def _tokens(settings: ServeSection) -> Any:
    """The token service (None when ``auth.enabled`` is false: every route is open)."""
    from cluster.api.auth import TokenService

    return TokenService.from_settings(settings.auth) if settings.auth.enabled else None


def _bearer_in_schema(app: Any) -> None:
    """Declare the bearer scheme in /openapi.json, on every route the role table guards."""
    from fastapi.openapi.utils import get_openapi

    from cluster.api.roles import PUBLIC

    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return dict(app.openapi_schema)
        out = get_openapi(title=app.title, version=app.version,
                          description=app.description, routes=app.routes)
        out.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        names = {r.path: r.name for r in app.routes if hasattr(r, "name")}
        for path, ops in out.get("paths", {}).items():
            if names.get(path) in PUBLIC:
                continue
            for op in ops.values():
                op["security"] = [{"bearer": []}]
        app.openapi_schema = out
        return out

    app.openapi = schema
