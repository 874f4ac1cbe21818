"""What one API replica holds: the Supervisor client, the audit log, the bus tap and
the model deployments; and the readiness checks.

Built once per replica from :class:`ApiContext` (what ``raymas serve`` knows
from config.yaml), so the routes only ever reach the system through here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from cluster.api.settings import ServeSection

__all__ = ["ApiBackend", "ApiContext"]

logger = logging.getLogger(__name__)


@dataclass
class ApiContext:
    """The wiring an API replica needs, taken from config.yaml by ``raymas serve``."""

    serve: ServeSection
    supervisor_name: str = "raymas-supervisor"
    namespace: str = "raymas"
    ledger_url: str = "sqlite:///.raymas/ledger.db"
    bus_name: str | None = "raymas-bus"
    #: broker name -> (kind, options) to check in /readyz
    brokers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def audit_url(self) -> str:
        return self.serve.audit_url or self.ledger_url


class ApiBackend:
    """See the module docstring.  Ray calls go through :attr:`ops` (awaitable)."""

    def __init__(self, ctx: ApiContext) -> None:
        from agents.supervisor.audit import AuditLog

        self.ctx = ctx
        self.settings = ctx.serve
        self.audit = AuditLog(ctx.audit_url)
        self._ops: Any = None
        #: outcomes of ended tasks, which never change (the first result stands), so a
        #: client polling a finished task is answered here; cleared when the Supervisor is
        #: looked up again (a new one may reuse ids after a fresh ledger)
        self.ended: LRUCache[str, dict[str, Any]] = LRUCache(maxsize=ctx.serve.result_cache)
        self._tap: Any = None
        self._models: Any = None

    # -- the Supervisor and the bus, found lazily (and again after they restart) ----------
    @property
    def ops(self) -> Any:
        """The async Supervisor client (:class:`~agents.supervisor.client.Coordinator`)."""
        if self._ops is None:
            from agents.supervisor.client import Coordinator, get_supervisor

            try:
                handle = get_supervisor(self.ctx.supervisor_name, self.ctx.namespace)
            except ValueError:
                from cluster.api.problems import Problem

                raise Problem(503, f"no Supervisor {self.ctx.supervisor_name!r} is running "
                              f"in namespace {self.ctx.namespace!r}") from None
            self._ops = Coordinator(handle)
            self.ended.clear()
        return self._ops

    def forget_supervisor(self) -> None:
        """The Supervisor did not answer: look it up again on the next request."""
        self._ops = None

    @property
    def tap(self) -> Any:
        if self._tap is None:
            from cluster.api.tap import start_tap

            self._tap = start_tap(self.settings.app_name, self.ctx.bus_name, self.ctx.namespace,
                                  self.settings.stream_buffer)
        return self._tap

    @property
    def models(self) -> Any:
        if self._models is None:
            from cluster.api.models import ModelDeployments

            self._models = ModelDeployments(self.settings.model_store, self.settings.app_name)
        return self._models

    # -- readiness -------------------------------------------------------------------------
    async def readiness(self, timeout_s: float = 3.0) -> dict[str, dict[str, Any]]:
        """Each dependency's check: ``{"ok": bool, "detail": str}``; run concurrently."""
        checks: dict[str, Any] = {"ray": self._check_ray(), "supervisor": self._check_sup(),
                                  "ledger": asyncio.to_thread(self._check_db,
                                                              self.ctx.ledger_url),
                                  "environments": self._check_environments()}
        if self.ctx.audit_url != self.ctx.ledger_url:
            checks["audit"] = asyncio.to_thread(self._check_db, self.ctx.audit_url)
        for name, (kind, options) in self.ctx.brokers.items():
            checks[f"broker:{name}"] = asyncio.to_thread(self._check_broker, kind, options)

        async def one(coro: Any) -> dict[str, Any]:
            try:
                detail = await asyncio.wait_for(coro, timeout_s)
                return {"ok": True, "detail": detail}
            except TimeoutError:
                return {"ok": False, "detail": f"no answer within {timeout_s:g} s"}
            except Exception as exc:
                from cluster.api.problems import root_cause

                cause = root_cause(exc)
                return {"ok": False, "detail": f"{type(cause).__name__}: {cause}"[:300]}

        names = list(checks)
        results = await asyncio.gather(*(one(checks[n]) for n in names))
        return dict(zip(names, results, strict=True))

    @staticmethod
    async def _check_ray() -> str:
        import ray

        if not ray.is_initialized():
            raise ConnectionError("this process is not connected to Ray")
        nodes = await asyncio.to_thread(ray.nodes)
        alive = sum(1 for n in nodes if n.get("Alive"))
        return f"{alive} node(s) alive"

    async def _check_sup(self) -> str:
        try:
            status = await self.ops.status()
        except Exception:
            self.forget_supervisor()  # find it again next time (it may have been replaced)
            raise
        return f"{status['alive']} agent(s) alive, {status['pending']} task(s) pending"

    async def _check_environments(self) -> str:
        """Every environment agents report is connected (a lost connection is named)."""
        from cluster.status_command import sensing_rows

        rows, _ = sensing_rows(await self.ops.list_agents())
        down = [r for r in rows if r["state"] != "connected"]
        if down:
            raise ConnectionError("; ".join(
                f"{r['agent']}/{r['environment']} ({r['kind']}) is {r['state']}"
                + (f": {r['last_error']}" if r["last_error"] else "") for r in down))
        return f"{len(rows)} environment(s) connected"

    @staticmethod
    def _check_db(url: str) -> str:
        from agents.supervisor.ledger import connect

        conn, _ = connect(url)
        try:
            conn.cursor().execute("SELECT 1")
        finally:
            conn.close()
        return url.split("@")[-1].split("?")[0]

    @staticmethod
    def _check_broker(kind: str, options: dict[str, Any]) -> str:
        from messaging.brokers import make_broker

        broker = make_broker(kind, **options)
        try:
            broker.connect()
        finally:
            broker.close()
        return "connected"
