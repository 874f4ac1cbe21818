"""RFC 9457 problem details: every error the API returns, and the request-size guard.

A bad request gets a 4xx whose ``application/problem+json`` body says what
was wrong (``detail``, and for validation errors each bad field in
``errors``); a failure of the system behind the API is a 503 naming what is
unreachable.  No handler lets a stack trace out: an unexpected exception is
logged with its correlation id and answered with a bare 500 problem.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

from messaging.errors import RaymasError

__all__ = ["COMMON_RESPONSES", "PROBLEM_JSON", "BodyLimit", "Problem", "ProblemModel",
           "install_problem_handlers", "problem_response", "root_cause"]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ProblemModel(BaseModel):
    """An RFC 9457 problem: what went wrong, in words a client can show."""

    type: str = Field("about:blank", description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        None, description="each invalid field: where it is and what was wrong")
    checks: dict[str, Any] | None = Field(None, description="readiness checks (503 /readyz)")


def _doc(status: int, text: str) -> dict[str, Any]:
    return {"model": ProblemModel, "description": text,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemModel"}}}}


#: the problems any authenticated route may answer, documented in the OpenAPI schema
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc(400, "malformed request (invalid JSON)"),
    401: _doc(401, "no bearer token, or a bad one"),
    403: _doc(403, "the token's role may not do this"),
    404: _doc(404, "no such agent, task, plan or model"),
    409: _doc(409, "the system cannot do it now (no node can host the agent, ...)"),
    413: _doc(413, "request body over the configured limit"),
    422: _doc(422, "a field is missing or has the wrong type or value"),
    503: _doc(503, "Ray, the Supervisor or a service behind the API is unreachable"),
}


class Problem(RaymasError):
    """An error the API answers as a problem document with ``status``."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 type: str = "about:blank", headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type
        self.headers = headers or {}
        self.extra = extra
        super().__init__(status, detail)

    def __str__(self) -> str:
        return self.detail


def problem_response(status: int, detail: str | None, *, title: str | None = None,
                     type: str = "about:blank", instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> Any:
    from fastapi.responses import JSONResponse

    body: dict[str, Any] = {"type": type, "title": title or HTTPStatus(status).phrase,
                            "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def root_cause(exc: BaseException) -> BaseException:
    """The exception an actor raised, not Ray's wrapper (whose text carries a traceback)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _status_of(exc: BaseException) -> int | None:
    """The status a raymas or Ray error maps to; None for an unexpected one."""
    from agents.errors import (
        AllocationError,
        NotFoundError,
        PlanningError,
        ResourceUnavailableError,
        TaskFailedError,
        UnknownTaskKindError,
    )
    from agents.planning import PlanError
    from messaging.crypto import AuthError
    from messaging.errors import ConfigError, UnknownNameError

    table: list[tuple[type[BaseException] | tuple[type[BaseException], ...], int]] = [
        (NotFoundError, 404),
        (AuthError, 401),
        (TaskFailedError, 409),
        (ResourceUnavailableError, 409),
        ((AllocationError, PlanningError, PlanError, ConfigError, UnknownNameError,
          UnknownTaskKindError), 422),
    ]
    for kinds, status in table:
        if isinstance(exc, kinds):
            return status
    return None


def _is_unreachable(exc: BaseException) -> bool:
    try:
        from ray.exceptions import GetTimeoutError, RayActorError
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return isinstance(exc, RayActorError | GetTimeoutError | TimeoutError | ConnectionError)


def install_problem_handlers(app: Any) -> None:
    """Answer every error of ``app`` as problem+json (see the module docstring)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from cluster.api.auth import AuthenticationError

    async def on_problem(request: Any, exc: Exception) -> Any:
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.detail, title=exc.title, type=exc.type,
                                instance=request.url.path, headers=exc.headers, **exc.extra)

    async def on_auth(request: Any, exc: Exception) -> Any:
        return problem_response(401, str(exc), instance=request.url.path,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    async def on_validation(request: Any, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": ".".join(str(p) for p in e.get("loc", ())),
                   "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(400, "the body is not valid JSON: " + "; ".join(
                e["msg"] for e in errors if e["type"] == "json_invalid"),
                instance=request.url.path)
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "invalid request"
        return problem_response(422, detail, instance=request.url.path, errors=errors)

    async def on_http(request: Any, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(exc.status_code, str(exc.detail), instance=request.url.path,
                                headers=dict(exc.headers or {}))

    async def on_error(request: Any, exc: Exception) -> Any:
        cause = root_cause(exc)
        if isinstance(cause, Problem):
            return await on_problem(request, cause)
        status = _status_of(cause)
        if status is not None:
            return problem_response(status, str(cause), instance=request.url.path)
        if _is_unreachable(exc) or _is_unreachable(cause):
            found = getattr(request.app.state, "backend", None)
            if found is not None:
                found.forget_supervisor()
            return problem_response(503, f"the Supervisor did not answer: "
                                    f"{type(cause).__name__}", instance=request.url.path)
        cid = getattr(request.state, "correlation_id", None)
        logger.exception("unexpected error on %s %s (correlation id %s)", request.method,
                         request.url.path, cid, exc_info=exc)
        return problem_response(500, f"internal error (correlation id {cid})",
                                instance=request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(AuthenticationError, on_auth)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_error)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, declared or streamed.

    A ``Content-Length`` over the limit is answered before the body is read;
    a chunked body is counted as it arrives and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await self._refuse(scope, send, 400, "Content-Length is not a number")
                return
            if too_big:
                await self._refuse(scope, send, 413, self._over(int(declared)))
                return
        seen = 0
        over = False

        async def counted() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True  # the app sees the client go; we answer 413 for it
                    return {"type": "http.disconnect"}
            return message

        async def held(message: Message) -> None:
            if not over:
                await send(message)

        try:
            await self.app(scope, counted, held)
        except Exception:
            if not over:
                raise
        if over:
            await self._refuse(scope, send, 413, f"request body of more than {self.max_bytes} "
                               f"bytes is over the limit of {self.max_bytes} bytes")

    def _over(self, n: int) -> str:
        return f"request body of {n} bytes is over the limit of {self.max_bytes} bytes"

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase,
                           "status": status, "detail": detail,
                           "instance": scope.get("path")}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
