"""Request-response for an :class:`~messaging.endpoint.Endpoint`.

A request goes to its recipient as a direct Ray call whose return value
carries the reply: two Ray messages, no mailbox on either side.  If the
recipient is dead or restarting, the request takes the bus way instead (held
until it is back, like any message) and the reply comes back over the bus.
Either way replies are matched by correlation id; one that comes after its
requester gave up is dropped and counted.  The receiving side answers with
its ``request_handler`` (an agent runs the named task kind) or, without one,
queues the request for application code to answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import ray
from cachetools import TTLCache

from messaging import wire
from messaging.envelope import Envelope, Performative
from messaging.mailbox import Parcel

__all__ = ["RequestHandler", "Requests"]

logger = logging.getLogger(__name__)

RequestHandler = Callable[[Envelope], Awaitable[Any]]


class Requests:
    """Mixin of :class:`~messaging.endpoint.Endpoint` (its state is set up there)."""

    agent_id: str
    directory: Any
    keyring: Any
    max_bytes: int
    request_handler: RequestHandler | None
    counts: Any
    _handles: dict[str, Any]
    _replies: dict[str, asyncio.Future[Envelope]]
    _timed_out: TTLCache[str, bool]
    _arrived: asyncio.Condition

    if TYPE_CHECKING:  # provided by Endpoint
        def send(self, env: Envelope) -> None: ...

        def _background(self, coro: Any) -> None: ...

        def _decode(self, data: bytes, dead: dict[str, list[bytes]]) -> list[Parcel]: ...

        def _open(self, env: Envelope, dead: dict[str, list[bytes]]) -> Envelope | None: ...

        async def _sort(self, envs: list[Envelope], dead: dict[str, list[bytes]],
                        opened: bool = False) -> int: ...

        async def _enqueue(self, parcel: Parcel) -> None: ...

        async def _dead_letter(self, dead: dict[str, list[bytes]]) -> None: ...

    async def request(self, recipient: str, payload: Any = None, *, timeout_s: float = 5.0,
                      **fields: Any) -> Envelope:
        """Send a request and await its reply; a reply after ``timeout_s`` is dropped."""
        env = Envelope.new(self.agent_id, recipient=recipient,
                           performative=Performative.REQUEST, payload=payload,
                           reply_to=self.agent_id, **fields)
        fut: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._replies[env.id] = fut
        handle = self._handles.get(recipient)
        if handle is None:
            handle = (await self.directory.resolve.remote([recipient]))[recipient]
        if handle is None:
            self.send(env)  # not on the bus: held until it comes, like any message
        else:
            self._handles[recipient] = handle
            self._background(self._ask(recipient, handle, env))
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            self._timed_out[env.id] = True
            self.counts["request_timeouts"] += 1
            raise
        finally:
            self._replies.pop(env.id, None)

    def _route_reply(self, env: Envelope) -> bool:
        corr = env.correlation_id
        if corr is None or env.performative is Performative.REQUEST:
            return False
        fut = self._replies.get(corr)
        if fut is not None and not fut.done():
            fut.set_result(env)
            return True
        if corr in self._timed_out:
            self.counts["late_replies"] += 1  # its requester gave up: dropped and counted
            return True
        return False

    async def _serve(self, env: Envelope) -> None:
        self.send(await self._answer(env))

    async def _answer(self, env: Envelope) -> Envelope:
        assert self.request_handler is not None
        try:
            result = await self.request_handler(env)
            return env.reply(self.agent_id, Performative.INFORM_RESULT, result)
        except Exception as exc:  # the requester gets the failure, the agent keeps going
            return env.reply(self.agent_id, Performative.FAILURE,
                             f"{type(exc).__name__}: {exc}")

    async def _ask(self, recipient: str, handle: Any, env: Envelope) -> None:
        """Send a request as a direct call whose return value carries the reply.

        Two Ray messages instead of a delivery each way through the mailboxes; if
        the recipient is dead or restarting the request goes the bus way instead
        (held until it is back).  Replies are routed like any reply, so a late
        one is dropped and counted.
        """
        sealed = self.keyring.seal(env) if self.keyring is not None else env
        try:
            replies = await handle.serve.remote([wire.pack_frame([wire.encode(sealed,
                                                                              self.max_bytes)])])
        except (ray.exceptions.RayActorError, AttributeError, TypeError) as exc:
            logger.debug("direct request to %s failed (%s); using the bus", recipient, exc)
            self._handles.pop(recipient, None)
            self.send(env)
            return
        dead: dict[str, list[bytes]] = {}
        for data in replies:
            for parcel in self._decode(data, dead):
                await self._sort(parcel.envelopes(), dead)
        await self._dead_letter(dead)

    async def serve(self, frames: Sequence[bytes]) -> list[bytes]:
        """The receiving side of :meth:`_ask`: answer requests, return the replies.

        A request with no handler here (a driver's or a bridge's endpoint) goes
        to the mailbox, and its answer comes back over the bus.
        """
        replies: list[bytes] = []
        dead: dict[str, list[bytes]] = {}
        for data in frames:
            for parcel in self._decode(data, dead):
                for sealed in parcel.envelopes():
                    env = self._open(sealed, dead)
                    if env is None:
                        continue
                    self.counts["received"] += 1
                    if (env.performative is Performative.REQUEST
                            and self.request_handler is not None):
                        reply = await self._answer(env)
                        if self.keyring is not None:
                            reply = self.keyring.seal(reply)
                        replies.append(wire.pack_frame([wire.encode(reply, self.max_bytes)]))
                    else:
                        await self._enqueue(Parcel.of(env))
                        async with self._arrived:
                            self._arrived.notify_all()
        await self._dead_letter(dead)
        return replies
