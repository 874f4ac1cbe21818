"""Starting and finding the Supervisor, and the one client over it.

Every Supervisor operation is written once, in :class:`SupervisorOperations`;
:class:`SupervisorClient` runs each one blocking (scripts, jobs, the CLI) and
:class:`Coordinator` returns it awaitable (``await coordinator.allocate_task(...)``).
Both talk to the named, detached Supervisor actor, so a Ray job submitted later
finds the one ``raymas run`` started.  A new Supervisor method becomes part of
both by one definition here (and the HTTP API's routes call the same client).

Example (on a connected Ray)::

    sup = start_supervisor({"ledger_url": "sqlite:///:memory:"})
    client = SupervisorClient(sup)
    client.register_agent("agent_001", ["planning", "execution"], 10)
    client.allocate_task(TaskAllocation(task_id="t1", required_capabilities=["execution"]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ray

from agents.planning import TaskGraph
from agents.specs import TaskAllocation
from agents.supervisor.actor import Supervisor
from agents.supervisor.settings import SupervisorSettings
from messaging import trace

__all__ = ["Coordinator", "SupervisorClient", "SupervisorOperations", "get_supervisor",
           "start_supervisor", "stop_supervisor_actor"]


def start_supervisor(settings: SupervisorSettings | Mapping[str, Any] | None = None,
                     runtime_env: Mapping[str, Any] | None = None) -> Any:
    """Create the Supervisor actor (or return the running one of that name).

    Settings are checked here, before the actor exists: a bad one raises
    :class:`~messaging.errors.ConfigError` naming the field.  ``runtime_env``: Ray's
    runtime environment for a Supervisor created here (a running one keeps its own),
    which the agents and hosts it starts inherit (environment variables such as
    ``RAYMAS_METRICS``, pip packages).
    """
    from messaging.bus import on_head, start_bus

    cfg = _settings(settings)
    if cfg.bus_name:
        start_bus(cfg.bus_name, cfg.namespace)
    remote_cls: Any = ray.remote(Supervisor)
    handle = remote_cls.options(
        scheduling_strategy=on_head(),  # losing a worker node never moves it
        name=cfg.name,
        namespace=cfg.namespace,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=-1,
        num_cpus=0,
        max_concurrency=10_000,
        **({"runtime_env": dict(runtime_env)} if runtime_env else {}),
    ).remote(cfg.model_dump())
    ray.get(handle.status.remote())
    return handle


def _settings(settings: SupervisorSettings | Mapping[str, Any] | None) -> SupervisorSettings:
    if isinstance(settings, SupervisorSettings):
        return settings
    from pydantic import ValidationError

    from messaging.errors import ConfigError

    try:
        return SupervisorSettings.model_validate(dict(settings or {}))
    except ValidationError as exc:
        raise ConfigError("supervisor settings", [
            (".".join(str(p) for p in e["loc"]) or "(top level)", e["msg"])
            for e in exc.errors()]) from None


def get_supervisor(name: str = "raymas-supervisor", namespace: str = "raymas") -> Any:
    """The running Supervisor; raises ValueError if none is running."""
    return ray.get_actor(name, namespace=namespace)


def _graph(g: TaskGraph | Mapping[str, Any]) -> dict[str, Any]:
    return g.to_dict() if isinstance(g, TaskGraph) else dict(g)


def _task(t: TaskAllocation | Mapping[str, Any], correlation_id: str | None = None
          ) -> dict[str, Any]:
    out = t.to_dict() if isinstance(t, TaskAllocation) else dict(t)
    if correlation_id is not None and not out.get("correlation_id"):
        out["correlation_id"] = correlation_id
    return out


def stop_supervisor_actor(handle: Any, settings: Mapping[str, Any]) -> None:
    """Kill the Supervisor actor (no restart) and its bus."""
    ray.kill(handle, no_restart=True)
    if settings.get("bus_name"):
        try:
            ray.kill(ray.get_actor(settings["bus_name"], namespace=settings["namespace"]),
                     no_restart=True)
        except ValueError:
            pass


class SupervisorOperations:
    """Every Supervisor operation, once.  Subclasses say how a call is made (:meth:`_call`):
    blocking in :class:`SupervisorClient`, awaitable in :class:`Coordinator`."""

    handle: Any

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    # -- agents --------------------------------------------------------------------
    def register_agent(self, agent_id: str, capabilities: Sequence[str],
                       max_tasks: int | None = None, **spec: Any) -> Any:
        """Start (or re-attach to) an agent; its description (node, GPU ids, ...)."""
        return self._call("register_agent", agent_id, list(capabilities), max_tasks, **spec)

    def spawn(self, specs: Sequence[Mapping[str, Any]], message_keys: str | None = None) -> Any:
        """Start agents from specs (resources checked first); their descriptions."""
        return self._call("spawn", [dict(s) for s in specs], message_keys)

    def spawn_group(self, template: Mapping[str, Any], count: int,
                    message_keys: str | None = None) -> Any:
        """Start ``count`` shared agents like ``template`` (``hosting: shared``, ids
        ``<agent_id>-<i>``), in hosts of ``agents_per_host``: how many, and the hosts."""
        return self._call("spawn_group", dict(template), count, message_keys)

    def add_pool(self, template: Mapping[str, Any], min: int = 0, max: int = 1,
                 grow_after_s: float = 2.0, idle_after_s: float = 30.0, step: int = 8) -> Any:
        """A pool of agents like ``template`` that grows when its tasks wait and shrinks
        (draining) when its agents sit idle, between ``min`` and ``max``; its status."""
        return self._call("add_pool", dict(template), min, max, grow_after_s, idle_after_s,
                          step)

    def pools_status(self) -> Any:
        """Each pool's members, bounds and how often it grew and shrank."""
        return self._call("pools_status")

    def deregister_agent(self, agent_id: str) -> Any:
        """Stop an agent after its running tasks finish, and forget it."""
        return self._call("deregister_agent", agent_id)

    def list_agents(self) -> Any:
        """One entry per agent: capabilities, capacity, load, alive, suspect, node."""
        return self._call("list_agents")

    def describe_agent(self, agent_id: str) -> Any:
        return self._call("describe_agent", agent_id)

    # -- tasks ---------------------------------------------------------------------
    def allocate_task(self, task: TaskAllocation | Mapping[str, Any],
                      timeout_s: float | None = None) -> Any:
        """Submit one task; the id of the agent it was awarded to."""
        cid = trace.current() or trace.new_correlation_id()
        return self._call("allocate_task", _task(task, cid), timeout_s)

    def submit(self, tasks: Sequence[TaskAllocation | Mapping[str, Any]],
               correlation_id: str | None = None) -> Any:
        """Queue tasks; their ids (an id already known is not queued again).

        Tasks without a correlation id get ``correlation_id``, else the current one
        (:func:`messaging.trace.current`), else one new id for this whole submit.
        """
        cid = correlation_id or trace.current() or trace.new_correlation_id()
        return self._call("submit", [_task(t, cid) for t in tasks])

    def wait(self, task_ids: Sequence[str], timeout_s: float | None = None) -> Any:
        """Wait for tasks to end (or ``timeout_s``); ``{task_id: outcome}``."""
        return self._call("wait", list(task_ids), timeout_s)

    def result(self, task_id: str) -> Any:
        """A task's state, result or error, agent, attempts and timings."""
        return self._call("result", task_id)

    def history(self, task_id: str) -> Any:
        """Every state a task went through: ``(state, agent_id, detail)``."""
        return self._call("history", task_id)

    def cancel_tasks(self, task_ids: Sequence[str], why: str = "cancelled") -> Any:
        """Cancel tasks that have not ended; how many were (an unknown id raises)."""
        return self._call("cancel_tasks", list(task_ids), why)

    def list_tasks(self, state: str | None = None, limit: int = 50) -> Any:
        """Counts by state and the most recently changed tasks, newest first."""
        return self._call("list_tasks", state, limit)

    def status(self) -> Any:
        """Counts of agents and tasks, the Supervisor's stats and strategy."""
        return self._call("status")

    # -- coordination ----------------------------------------------------------------
    def hold_vote(self, question: str, options: Sequence[Any], **kw: Any) -> Any:
        """Agents vote on ``question`` (rule, quorum, deadline_s, capabilities in ``kw``)."""
        return self._call("hold_vote", question, list(options), **kw)

    def auction_resource(self, resource: str, **kw: Any) -> Any:
        """Sell ``resource`` by sealed bid (rule, reserve, deadline_s in ``kw``)."""
        return self._call("auction_resource", resource, **kw)

    def votes(self, proposal_id: str) -> Any:
        """Every vote recorded for a proposal (a task id, for consensus allocation)."""
        return self._call("votes", proposal_id)

    # -- plans -----------------------------------------------------------------------
    def submit_plan(self, graph: TaskGraph | Mapping[str, Any], plan_id: str | None = None,
                    **kw: Any) -> Any:
        """Validate and queue a task graph; the plan id."""
        return self._call("submit_plan", _graph(graph), plan_id, **kw)

    def wait_plan(self, plan_id: str, timeout_s: float | None = None) -> Any:
        return self._call("wait_plan", plan_id, timeout_s)

    def plan_status(self, plan_id: str, detail: bool = False) -> Any:
        return self._call("plan_status", plan_id, detail)

    def plan_results(self, plan_id: str, nodes: Sequence[str] | None = None) -> Any:
        return self._call("plan_results", plan_id, nodes)

    def list_plans(self) -> Any:
        """Every plan with its counts by state, newest first."""
        return self._call("list_plans")

    def cancel_plan(self, plan_id: str) -> Any:
        return self._call("cancel_plan", plan_id)

    def observe_plan(self, plan_id: str, changes: Mapping[str, Any]) -> Any:
        """Tell a plan the world changed; what no longer holds is replanned."""
        return self._call("observe_plan", plan_id, dict(changes))

    # -- identity --------------------------------------------------------------------
    def issue_token(self, subject: str, capabilities: Sequence[str] = (),
                    ttl_s: float | None = None) -> Any:
        """An identity token for a client outside the cluster."""
        return self._call("issue_token", subject, list(capabilities), ttl_s)

    def public_key(self) -> Any:
        return self._call("public_key")

    def flush_audit(self, timeout_s: float = 30.0) -> Any:
        """Wait until every decision so far is in the audit log (it is written behind)."""
        return self._call("flush_audit", timeout_s)

    def public_keys(self) -> Any:
        """PEM public keys that verify identity tokens now, by kid, the current one first."""
        return self._call("public_keys")

    def rotate_identity_key(self) -> Any:
        """Sign identity tokens with a new key; older tokens verify until they expire."""
        return self._call("rotate_identity_key")

    def settings(self) -> Any:
        """The Supervisor's settings, secrets redacted."""
        return self._call("settings")

    def stop_agents(self) -> Any:
        """Stop every agent (running tasks finish first); how many were stopped."""
        return self._call("shutdown")


class SupervisorClient(SupervisorOperations):
    """The Supervisor for scripts, jobs and the CLI: every call blocks for its result."""

    def __init__(self, handle: Any | None = None, *, name: str = "raymas-supervisor",
                 namespace: str = "raymas") -> None:
        self.handle = handle if handle is not None else get_supervisor(name, namespace)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return ray.get(getattr(self.handle, method).remote(*args, **kwargs))

    def shutdown(self, *, kill_supervisor: bool = True) -> int:
        """Stop every agent and, by default, the Supervisor itself."""
        stopped = int(self.stop_agents())
        if kill_supervisor:
            stop_supervisor_actor(self.handle, self.settings())
        return stopped


class Coordinator(SupervisorOperations):
    """The Supervisor for async code: every call returns an awaitable."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.handle, method).remote(*args, **kwargs)  # an ObjectRef: awaitable

    async def shutdown(self, *, kill_supervisor: bool = True) -> int:
        """Stop every agent and, by default, the Supervisor itself."""
        stopped = int(await self.stop_agents())
        if kill_supervisor:
            stop_supervisor_actor(self.handle, await self.settings())
        return stopped

