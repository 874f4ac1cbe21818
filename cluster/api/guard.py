"""The API's gate: correlation ids, authentication, the role table, and the audit trail.

One ASGI middleware, so every request meets the same rules before any body is
parsed: the matched route's name is looked up in :data:`cluster.api.roles.ROUTE_ROLES`,
a bearer token is required unless the route is public (401 without a valid
one), its role must be allowed (403), and every mutating request (POST, PUT,
PATCH, DELETE), allowed or refused, is appended to the audit log with its
outcome before the response leaves.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from cluster.api.problems import ASGIApp, Message, Receive, Scope, Send, problem_response
from cluster.api.roles import PUBLIC, allowed, roles_for
from messaging import trace

__all__ = ["Guard"]

logger = logging.getLogger(__name__)

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _anonymous() -> Any:
    from cluster.api.auth import Principal

    return Principal(subject="anonymous", role="admin", expires_at=float("inf"), claims={})


#: the caller when ``serve.auth.enabled`` is false: every route is open (for a laptop only)
_ANONYMOUS = _anonymous()


class Guard:
    """See the module docstring.  ``tokens`` verifies ``Authorization`` headers,
    ``audit`` (an :class:`~agents.supervisor.audit.AuditLog` or None) records."""

    def __init__(self, app: ASGIApp, *, router: Any, tokens: Callable[[], Any],
                 audit: Callable[[], Any]) -> None:
        self.app = app
        self.router = router
        self.tokens = tokens
        self.audit = audit

    def _route(self, scope: Scope) -> tuple[str | None, dict[str, Any]]:
        from starlette.routing import Match

        partial = None
        for route in self.router.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "name", None), dict(child.get("path_params") or {})
            if match is Match.PARTIAL and partial is None:
                partial = getattr(route, "name", None)
        return partial, {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers") or []}
        given = headers.get("x-request-id", "")
        cid = given if _GOOD_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["correlation_id"] = cid
        name, params = self._route(scope)
        method = scope.get("method", "GET")
        principal = None
        refusal: tuple[int, str] | None = None
        if name is not None and name not in PUBLIC:
            from cluster.api.auth import AuthenticationError

            tokens = self.tokens()
            try:
                principal = (tokens.verify_header(headers.get("authorization"))
                             if tokens is not None else _ANONYMOUS)
            except AuthenticationError as exc:
                refusal = (401, str(exc))
            else:
                state["principal"] = principal
                if not allowed(name, principal.role):
                    who = ", ".join(sorted(roles_for(name))) or "no role"
                    refusal = (403, f"role {principal.role!r} may not call {name} "
                                    f"(allowed: {who})")
        record = method in _MUTATING and name is not None and name not in PUBLIC

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", cid.encode()))
                message["headers"] = headers
                if record:
                    await self._record(cid, principal, name or "?", scope, params,
                                       int(message["status"]))
            await send(message)

        if refusal is not None:
            status, detail = refusal
            extra = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else {}
            response = problem_response(status, detail, instance=scope.get("path"),
                                        headers=extra)
            await response(scope, receive, sending)
            return
        with trace.scope(cid):  # tasks this request submits carry its correlation id
            await self.app(scope, receive, sending)

    async def _record(self, cid: str, principal: Any, action: str, scope: Scope,
                      params: dict[str, Any], status: int) -> None:
        log = self.audit()
        if log is None:
            return
        target = "/".join(str(v) for v in params.values()) or scope.get("path", "")
        outcome = "ok" if status < 400 else ("refused" if status in (401, 403) else "error")
        try:
            await asyncio.to_thread(
                log.append, action, target, outcome,
                subject=getattr(principal, "subject", "anonymous"),
                role=getattr(principal, "role", "none"), correlation_id=cid,
                detail={"method": scope.get("method"), "path": scope.get("path"),
                        "status": status})
        except Exception:  # the request's outcome stands; the gap is logged loudly
            logger.exception("audit append failed for %s %s (correlation id %s)",
                             scope.get("method"), scope.get("path"), cid)
