"""The bus: publish, a live stream of a topic (Server-Sent Events), dead letters."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from cluster.api.problems import COMMON_RESPONSES, Problem
from cluster.api.routes import backend, principal
from cluster.api.schemas import PublishIn

__all__ = ["router"]

router = APIRouter(tags=["bus"], responses=COMMON_RESPONSES)


def _check(pattern: str, *, wildcards: bool) -> None:
    from messaging.topics import TopicError, validate_pattern, validate_topic

    try:
        (validate_pattern if wildcards else validate_topic)(pattern)
    except TopicError as exc:
        raise Problem(422, str(exc)) from None


@router.post("/v1/bus/publish", name="publish", status_code=202)
async def publish(request: Request, body: PublishIn) -> Any:
    """Publish ``payload`` on ``topic``, as an agent would; the envelope id."""
    _check(body.topic, wildcards=False)
    who = principal(request)
    try:
        env_id = await backend(request).tap.publish.remote(
            body.topic, body.payload, getattr(who, "subject", "?"), body.headers)
    except Exception as exc:
        from cluster.api.problems import root_cause
        from messaging.envelope import EnvelopeError

        cause = root_cause(exc)
        if isinstance(cause, EnvelopeError | OverflowError | TypeError | ValueError):
            raise Problem(422, f"the message cannot be carried on the bus: {cause}") from None
        raise
    return JSONResponse({"id": env_id, "topic": body.topic}, status_code=202)


@router.get("/v1/bus/dead-letters", name="dead_letters")
async def dead_letters(request: Request, limit: int = Query(100, ge=1, le=10_000)) -> Any:
    """The newest undeliverable messages, each with the reason."""
    rows = await backend(request).tap.dead_letters.remote(limit)
    return {"dead_letters": [{"envelope": _plain(e), "reason": r} for e, r in rows]}


@router.get("/v1/bus/stream", name="stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "one event per message: id (a sequence number "
                                            "for Last-Event-ID), data: topic, sender, payload, "
                                            "time"}})
async def stream(request: Request, topic: str = Query(min_length=1, max_length=256),
                 max_s: float | None = Query(None, gt=0, le=86_400,
                                             description="end the stream after this long"),
                 last_event_id: str | None = Header(None, max_length=32)) -> Any:
    """Follow the messages on topics matching ``topic`` (``+`` and ``#`` wildcards) live.

    Reconnecting with ``Last-Event-ID`` resumes after that message while it is
    still in the API's buffer (``serve.stream_buffer`` messages).
    """
    _check(topic, wildcards=True)
    b = backend(request)
    tap = b.tap
    if last_event_id is not None and last_event_id.isdigit():
        after = int(last_event_id)
        await tap.follow.remote(topic)
    else:
        after = await tap.follow.remote(topic)
    # Serve's proxy cuts any response at request_timeout_s, streams included: end cleanly
    # before that (a client resumes with Last-Event-ID)
    limit = min(max_s or b.settings.stream_max_s, b.settings.stream_max_s,
                max(1.0, b.settings.request_timeout_s - 5.0))

    async def events() -> AsyncIterator[str]:
        nonlocal after
        deadline = time.monotonic() + limit
        yield ": following " + topic + "\n\n"
        while time.monotonic() < deadline and not await request.is_disconnected():
            wait = max(0.1, min(10.0, deadline - time.monotonic()))
            msgs, after = await tap.poll.remote(topic, after, wait)
            if not msgs:
                yield ": keep-alive\n\n"
                continue
            for m in msgs:
                data = json.dumps({k: m[k] for k in ("topic", "sender", "payload", "time",
                                                     "id")}, default=repr)
                yield f"id: {m['seq']}\nevent: message\ndata: {data}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _plain(record: Any) -> Any:
    return json.loads(json.dumps(record, default=repr))
