"""Publishing to RabbitMQ with publisher confirms kept in flight.

pika's blocking channel waits for the broker's confirm after every publish
(one round trip per message: about 1,700 msg/s here).  This publisher runs
pika's asynchronous ``SelectConnection`` on a thread of its own: a batch is
written without waiting, each message gets the next delivery tag, and the
caller waits once, until the broker has confirmed (``Basic.Ack``, usually
``multiple``) every tag of its batch.  A ``Basic.Nack`` or a lost connection
fails the batch with an error the caller's retry (:func:`messaging.brokers.ensure`)
understands, and the whole batch is sent again: at-least-once, like the rest
of the bridges.

:func:`amqp_parameters` turns a URL and TLS settings into pika's connection
parameters, for this publisher and the broker's consuming connection alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from messaging.brokers.base import require
from messaging.brokers.tls import TLSOptions

__all__ = ["ConfirmingPublisher", "amqp_parameters"]


def amqp_parameters(url: str, tls: TLSOptions | None = None) -> Any:
    """pika ``URLParameters`` for ``url``.

    With an ``amqps://`` URL, or ``tls`` given, the connection speaks TLS with
    ``tls``'s context (the defaults when only the URL asks for TLS) and the URL's
    host as the server name; an ``amqp://`` URL with ``tls`` given becomes
    ``amqps://``, so without an explicit port it goes to the TLS port, 5671.  These
    settings replace any ``ssl_options`` in the URL's query.
    """
    pika = require("pika", "the RabbitMQ bridge")
    secure = url[:6].lower() == "amqps:"
    if tls is None and not secure:
        return pika.URLParameters(url)
    if not secure and url[:5].lower() == "amqp:":
        url = "amqps:" + url[5:]
    params = pika.URLParameters(url)
    context = (tls if tls is not None else TLSOptions()).context()
    params.ssl_options = pika.SSLOptions(context, server_hostname=params.host)
    return params


class ConfirmingPublisher:
    """One connection and one confirm-mode channel, driven by a background I/O thread."""

    def __init__(self, url: str, timeout_s: float = 30.0, *,
                 tls: TLSOptions | None = None) -> None:
        self._pika = require("pika", "the RabbitMQ bridge")
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._ready = False
        self._error: BaseException | None = None
        self._channel: Any = None
        self._next_tag = 0
        self._outstanding: dict[int, None] = {}  # tags sent, not yet confirmed (in order)
        self._nacked: set[int] = set()
        self._conn = self._pika.SelectConnection(
            amqp_parameters(url, tls), on_open_callback=self._on_open,
            on_open_error_callback=self._on_failure, on_close_callback=self._on_failure)
        self._thread = threading.Thread(target=self._conn.ioloop.start,
                                        name="raymas-amqp-confirms", daemon=True)
        self._thread.start()
        self._wait(lambda: self._ready, "opening the connection")

    # -- I/O thread callbacks ----------------------------------------------------------
    def _on_open(self, conn: Any) -> None:
        conn.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel: Any) -> None:
        channel.add_on_close_callback(self._on_failure)
        self._channel = channel
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._set_ready())

    def _set_ready(self) -> None:
        with self._cond:
            self._ready = True
            self._cond.notify_all()

    def _on_failure(self, _source: Any, reason: Any = None) -> None:
        with self._cond:
            if self._error is None:
                error = reason if isinstance(reason, BaseException) else None
                self._error = error or self._pika.exceptions.AMQPConnectionError(
                    f"connection or channel closed: {reason}")
            self._cond.notify_all()
        if self._conn.is_closed:
            self._conn.ioloop.stop()

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag, multiple = method.delivery_tag, method.multiple
        nack = isinstance(method, self._pika.spec.Basic.Nack)
        with self._cond:
            outstanding = self._outstanding
            if multiple:  # every tag up to this one: they are the oldest, in order
                while outstanding:
                    first = next(iter(outstanding))
                    if first > tag:
                        break
                    del outstanding[first]
                    if nack:
                        self._nacked.add(first)
            elif tag in outstanding:
                del outstanding[tag]
                if nack:
                    self._nacked.add(tag)
            self._cond.notify_all()

    # -- caller side ------------------------------------------------------------------
    def _wait(self, done: Callable[[], bool], what: str) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: done() or self._error is not None, self.timeout_s)
            if self._error is not None:
                raise self._error
            if not ok:
                raise self._pika.exceptions.AMQPConnectionError(
                    f"no answer from RabbitMQ for {self.timeout_s} s while {what}")

    def _call(self, fn: Callable[[], None]) -> None:
        if self._error is not None:
            raise self._error
        self._conn.ioloop.add_callback_threadsafe(fn)

    def declare(self, queue: str, arguments: dict[str, Any]) -> None:
        """Declare a durable queue and wait for the broker's answer."""
        declared = threading.Event()

        def do() -> None:
            self._channel.queue_declare(queue, durable=True, arguments=arguments,
                                        callback=lambda _frame: declared.set())
        self._call(do)
        self._wait(declared.is_set, f"declaring {queue!r}")

    def publish(self, routing_key: str, bodies: Sequence[bytes],
                properties: Sequence[Any]) -> None:
        """Publish a batch without waiting per message; return once all are confirmed.

        Raises the connection's error, or ``NackError`` if the broker refused any.
        """
        tags: list[int] = []
        sent = threading.Event()

        def do() -> None:
            first = self._next_tag + 1
            try:
                with self._cond:  # confirms for these can only be handled after we return
                    for body, props in zip(bodies, properties, strict=True):
                        self._channel.basic_publish("", routing_key, body, props)
                        self._next_tag += 1
                        self._outstanding[self._next_tag] = None
            finally:
                tags.extend((first, self._next_tag))
                sent.set()
        self._call(do)
        self._wait(sent.is_set, "publishing")
        first, last = tags
        # confirmed when the oldest tag still outstanding (if any) is newer than our last
        self._wait(lambda: not self._outstanding or next(iter(self._outstanding)) > last,
                   "waiting for confirms")
        with self._cond:
            refused = {t for t in self._nacked if first <= t <= last}
            self._nacked -= refused
        if refused:
            raise self._pika.exceptions.NackError(
                [f"{len(refused)} of {last - first + 1} messages refused by the broker"])

    def close(self) -> None:
        if not self._conn.is_closed and not self._conn.is_closing:
            try:
                self._conn.ioloop.add_callback_threadsafe(self._conn.close)
            except Exception:  # the loop is already gone
                pass
        self._thread.join(timeout=5)
