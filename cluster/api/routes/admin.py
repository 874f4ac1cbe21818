"""Identity, tokens, signing keys and the audit log; liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from cluster.api.problems import COMMON_RESPONSES, Problem, problem_response
from cluster.api.routes import backend, principal
from cluster.api.schemas import TokenIn, TokenOut

__all__ = ["health", "router"]

router = APIRouter(tags=["administration"], responses=COMMON_RESPONSES)
health = APIRouter(tags=["health"])


@health.get("/healthz", name="healthz")
async def healthz() -> Any:
    """Liveness: the API process answers (it checks nothing behind it)."""
    return {"status": "ok"}


@health.get("/readyz", name="readyz")
async def readyz(request: Request) -> Any:
    """Readiness: Ray, the Supervisor, the ledger and the configured brokers answer;
    503 naming each that does not."""
    found = getattr(request.app.state, "backend", None)
    if found is None:
        return problem_response(503, "the API replica is not connected to a raymas system",
                                checks={})
    checks = await found.readiness()
    bad = sorted(n for n, c in checks.items() if not c["ok"])
    if bad:
        return problem_response(503, "not ready: " + "; ".join(
            f"{n}: {checks[n]['detail']}" for n in bad), checks=checks)
    return {"ready": True, "checks": checks}


@router.get("/v1/me", name="whoami")
async def whoami(request: Request) -> Any:
    """The caller's subject, role and when its token expires."""
    who = principal(request)
    return {"subject": who.subject, "role": who.role, "expires_at": who.expires_at}


@router.post("/v1/tokens", name="issue_token", status_code=201, response_model=TokenOut)
async def issue_token(request: Request, body: TokenIn) -> Any:
    """Sign a token for ``subject`` with ``role`` (admin only)."""
    from cluster.api.auth import parse_ttl

    tokens = request.app.state.tokens
    if tokens is None:
        raise Problem(409, "authentication is off (serve.auth.enabled: false): no tokens")
    try:
        ttl = parse_ttl(body.ttl) if body.ttl else None
        token = tokens.issue(body.subject, body.role, ttl)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    claims = tokens.verify(token)
    return JSONResponse({"token": token, "subject": body.subject, "role": body.role,
                         "expires_at": claims.expires_at}, status_code=201)


@router.post("/v1/keys/rotate", name="rotate_identity_key")
async def rotate_identity_key(request: Request) -> Any:
    """A new agent-identity signing key for the Supervisor; the old one still verifies
    the tokens it signed until they expire."""
    return {"kid": await backend(request).ops.rotate_identity_key()}


@router.get("/v1/keys", name="public_keys")
async def public_keys(request: Request) -> Any:
    """The public keys (PEM, by key id) that verify agents' identity tokens."""
    keys = await backend(request).ops.public_keys()
    return {"keys": {kid: bytes(pem).decode() for kid, pem in keys.items()}}


@router.get("/v1/audit", name="audit_records")
async def audit_records(request: Request, since: int = Query(0, ge=0, le=2**62),
                        limit: int = Query(100, ge=1, le=10_000)) -> Any:
    """Audit records after sequence number ``since``, oldest first (the Supervisor's
    decisions so far included: its writer is flushed first)."""
    b = backend(request)
    await b.ops.flush_audit(10.0)
    rows = await asyncio.to_thread(b.audit.records, since, limit)
    return {"records": [r.__dict__ if not hasattr(r, "_asdict") else r._asdict()
                        for r in rows]}


@router.get("/v1/audit/verify", name="audit_verify")
async def audit_verify(request: Request) -> Any:
    """Check the audit log's hash chain; the first bad record, if any."""
    b = backend(request)
    await b.ops.flush_audit(10.0)
    report = await asyncio.to_thread(b.audit.verify)
    return {"ok": report.ok, "checked": report.checked, "first_bad_seq": report.first_bad_seq,
            "reason": report.reason}
