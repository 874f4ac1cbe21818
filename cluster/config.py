"""The one configuration file, typed and validated once at the edge.

:func:`load_config` reads YAML, applies ``RAYMAS_<SECTION>__<KEY>`` and
``RAY_ADDRESS`` overrides from the environment, and validates everything with
pydantic.  Any problem raises :class:`~messaging.errors.ConfigError` listing each
bad key path with what was expected, never a trace from deep inside.

Example:
    >>> cfg = parse_config({"agents": [{"id": "w", "count": 2}]}, env={})
    >>> [s.agent_id for s in cfg.agent_specs()]
    ['w-1', 'w-2']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agents.specs import AgentSpec, AgentType, TaskAllocation
from agents.supervisor.settings import SupervisorOptions, SupervisorSettings, known_strategy
from cluster.api.settings import ServeSection
from messaging.errors import ConfigError, RaymasError, did_you_mean
from messaging.topics import TopicError, validate_pattern, validate_topic

__all__ = [
    "AgentGroup",
    "BridgeSection",
    "BrokerSection",
    "ClusterSection",
    "GoalSection",
    "PlanGoal",
    "RaymasConfig",
    "load_config",
    "parse_config",
]

#: A strategy name, checked against the registry (``agents.protocols.STRATEGIES``).
Strategy = Annotated[str, AfterValidator(known_strategy)]


def _topic_check(check: Any) -> Any:
    """A validator that runs a :mod:`messaging.topics` check, its TopicError as a
    ValueError (what pydantic reports with the key path)."""
    def run(value: str) -> str:
        try:
            check(value)
        except TopicError as exc:
            raise ValueError(str(exc)) from None
        return value

    return AfterValidator(run)


#: A bus subscription pattern (``+`` one level, ``#`` the rest).
TopicPattern = Annotated[str, _topic_check(validate_pattern)]
#: A concrete bus topic, no wildcards.
Topic = Annotated[str, _topic_check(validate_topic)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ClusterSection(_Section):
    address: str | None = Field(None, description="Ray address to join; none starts Ray here")
    namespace: str = Field("raymas", min_length=1)
    num_cpus: int | None = Field(2, ge=1, description="CPUs of an embedded Ray (bounded)")
    num_gpus: int | None = Field(None, ge=0)
    dashboard: bool = True
    object_store_memory: ByteSize | None = None


class LoggingSection(_Section):
    """How raymas's processes log: Ray's plain text, or one JSON object per line.

    ``json`` gives Ray a ``LoggingConfig(encoding="JSON")`` for the job, so the
    Supervisor, agents and bridges (and this driver) write JSON lines with Ray's
    context (node, actor, pid) and raymas's fields (``correlation_id``, ``task``,
    ``agent``), which ``raymas trace`` reads back.
    """

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


#: The ``supervisor`` section: declared once, in :mod:`agents.supervisor.settings`.
SupervisorSection = SupervisorOptions


class BrokerSection(_Section):
    """An external broker the system talks to (bridges, readiness checks)."""

    kind: Literal["redis", "rabbitmq", "kafka"]
    url: str | None = Field(None, description="redis://, rediss://, amqp://, amqps:// URL")
    bootstrap_servers: str | None = Field(None, description="Kafka host:port[,host:port]")
    tls: dict[str, Any] | None = Field(None, description=(
        "TLS options (messaging.brokers.tls.TLSOptions): ca_file, cert_file, key_file, verify"))
    options: dict[str, Any] = Field(default_factory=dict, description="other broker options")

    @model_validator(mode="after")
    def _where(self) -> BrokerSection:
        if self.kind == "kafka" and not self.bootstrap_servers:
            raise ValueError("a kafka broker needs bootstrap_servers")
        if self.kind != "kafka" and not self.url:
            raise ValueError(f"a {self.kind} broker needs a url")
        if self.tls is not None:
            from messaging.brokers.tls import TLSOptions

            TLSOptions.model_validate(self.tls)
        return self

    def broker_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`messaging.brokers.make_broker`."""
        out = dict(self.options)
        if self.kind == "kafka":
            out["bootstrap_servers"] = self.bootstrap_servers
        else:
            out["url"] = self.url
        if self.tls is not None:
            out["tls"] = dict(self.tls)
        return out


class BridgeSection(_Section):
    """A bridge between the bus and one of ``messaging.brokers``, started by ``raymas run``.

    Declared here rather than started from code, so the one config file
    describes a deployment's brokers and what flows through them; see
    :func:`messaging.bridge.start_bridge` for the delivery guarantees.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the bridge's id, unique")
    broker: str = Field(min_length=1, description="a name in messaging.brokers")
    out: list[TopicPattern] = Field(default_factory=list, description=(
        "bus topic patterns (+, #) whose envelopes go out to the broker"))
    in_: list[Topic] = Field(default_factory=list, alias="in", description=(
        "bus topics brought in from the broker (read from <prefix><topic> there)"))
    group: str = Field("raymas-bridge", min_length=1,
                       description="the broker consumer group inbound topics are read in")
    prefix: str = Field("raymas.", description="put before a bus topic to name its broker topic")
    authenticate: bool = Field(False, description=(
        "inbound envelopes need an identity token the Supervisor issued"))
    ready_timeout_s: float = Field(30.0, gt=0, description=(
        "how long raymas run waits for the bridge to reach its broker"))

    @model_validator(mode="after")
    def _moves_something(self) -> BridgeSection:
        if not self.out and not self.in_:
            raise ValueError(f"bridge {self.id!r} moves nothing: give 'out' (bus topic "
                             "patterns) or 'in' (broker topics), or both")
        return self


class MessagingSection(_Section):
    bus: str | None = Field("raymas-bus", description="bus directory actor name; null: no bus")
    brokers: dict[str, BrokerSection] = Field(default_factory=dict, description=(
        "external brokers by name; the API's /readyz checks each"))
    keys: SecretStr | None = Field(
        None, description="AES-256-GCM payload keys 'kid:<base64>,...' (first seals)")
    bridges: list[BridgeSection] = Field(default_factory=list, description=(
        "bridges between the bus and the brokers above, started by raymas run"))

    @field_validator("bridges")
    @classmethod
    def _bridges_fit(cls, bridges: list[BridgeSection], info: ValidationInfo
                     ) -> list[BridgeSection]:
        """Checked against the fields above (validated first, so in ``info.data``)."""
        if bridges and "bus" in info.data and info.data["bus"] is None:
            raise ValueError("bridges need the bus, and messaging.bus is null")
        ids = [b.id for b in bridges]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"bridge ids must be unique; repeated: {', '.join(dupes)}")
        if "brokers" not in info.data:  # the brokers' own errors are reported instead
            return bridges
        brokers = sorted(info.data["brokers"])
        for i, bridge in enumerate(bridges):
            if bridge.broker not in brokers:
                raise ValueError(
                    f"bridges[{i}] ({bridge.id!r}): broker {bridge.broker!r} is not in "
                    f"messaging.brokers{did_you_mean(bridge.broker, brokers)} "
                    f"(known: {', '.join(brokers) or 'none'})")
        return bridges

    @model_validator(mode="after")
    def _keys_parse(self) -> MessagingSection:
        if self.keys is not None:
            from messaging.crypto import Keyring, SecurityError

            try:
                Keyring.from_spec(self.keys.get_secret_value())
            except SecurityError as exc:
                raise ValueError(str(exc)) from None
        return self


class LedgerSection(_Section):
    url: str = Field("sqlite:///.raymas/ledger.db", pattern=r"^(sqlite:///|postgres(ql)?://)")
    fresh: bool = Field(True, description="start a run with an empty ledger")


class EnvironmentEntry(_Section):
    """An environment an agent senses and acts on (see :mod:`interfaces`)."""

    kind: str = Field(description="memory, files, http, postgres, redis, mqtt, coap, websocket, "
                                  "system")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "the environment's name, in its events' topics (default: the kind)"))
    options: dict[str, Any] = Field(default_factory=dict, description="the kind's own options")
    topic: Topic | None = Field(None, description="where its events go (default env/<name>)")
    limits: dict[str, Any] = Field(default_factory=dict, description=(
        "max_event_bytes, max_events_per_s, burst, schema (field: type)"))

    @model_validator(mode="after")
    def _known(self) -> EnvironmentEntry:
        from interfaces import EnvironmentError, environment_class
        from interfaces.host import Limits

        try:
            environment_class(self.kind)  # did-you-mean on a typo; the class loads lazily
            Limits(**self.limits)
        except (EnvironmentError, TypeError) as exc:
            raise ValueError(str(exc)) from exc
        return self


class PursueAction(_Section):
    name: str = Field(min_length=1)
    pre: dict[str, Any] = Field(default_factory=dict, description="facts that must hold")
    effects: dict[str, Any] = Field(default_factory=dict, description="facts it makes hold")
    cost: float = Field(1.0, ge=0)
    do: dict[str, Any] = Field(description=(
        '{"task": kind, "args": {...}} or {"environment": name, "action": a, "args": {...}}'))

    @model_validator(mode="after")
    def _doable(self) -> PursueAction:
        if "task" not in self.do and not {"environment", "action"} <= set(self.do):
            raise ValueError("do needs task, or environment and action")
        return self


class PursueGoal(_Section):
    """A goal an agent pursues on its own (see :mod:`agents.pursuit`)."""

    name: str = Field(min_length=1)
    target: dict[str, Any] = Field(min_length=1, description="facts that must hold")
    actions: list[PursueAction] = Field(default_factory=list)
    deadline_s: float | None = Field(None, gt=0)
    priority: int = 1
    interval_s: float = Field(0.5, gt=0, description="how often it looks again")


class AgentGroup(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    count: int = Field(1, ge=1, le=1_000_000, description=(
        "how many agents (at most 10,000 with hosting: actor)"))
    type: AgentType = AgentType.TASK_EXECUTOR
    capabilities: list[str] = Field(default_factory=lambda: ["execution"])
    max_tasks: int | None = Field(None, ge=1, le=1000)
    num_cpus: float = Field(0.0, ge=0)
    num_gpus: float | Literal["auto"] = 0.0
    memory: ByteSize | None = None
    resources: dict[str, float] = Field(default_factory=dict)
    max_restarts: int = Field(0, ge=-1)
    scheduling: Literal["DEFAULT", "SPREAD"] | None = None
    voter: str = "least_loaded"
    valuations: dict[str, float] = Field(default_factory=dict)
    bidding: Literal["fixed", "epsilon_greedy", "ucb1", "thompson"] = Field(
        "fixed", description="learn a markup on contract-net bids from outcomes")
    bid_markups: list[float] = Field(default_factory=lambda: [0.8, 1.0, 1.25], min_length=1)
    worker_threads: int | None = Field(None, ge=1, description=(
        "threads for blocking tasks; default: the CPUs the agent was given, rounded up"))
    environments: list[EnvironmentEntry] = Field(default_factory=list)
    subscribe: list[TopicPattern] = Field(default_factory=list, description=(
        "bus topic patterns the agents subscribe to"))
    role: str | None = Field(None, description=(
        "monitor, analyzer, coordinator, sensor_simulator, or module:function"))
    role_options: dict[str, Any] = Field(default_factory=dict)
    pursue: list[PursueGoal] = Field(default_factory=list)
    bus_linger_ms: float | None = Field(None, ge=0, le=1000, description=(
        "ms the agents' sends may gather before they go; default 0, or 3 with environments"))
    cost: str | None = Field(None, description=(
        "what a task costs these agents: a cost function registered with @agents.cost, or "
        "module:function; default: the load-based cost"))
    state: dict[str, Any] = Field(default_factory=dict, description=(
        "the agents' own state their cost function reads (position, skills, battery...)"))
    hosting: Literal["actor", "shared"] = Field("actor", description=(
        "actor: an actor (a worker process) per agent; shared: many agents per host actor, "
        "for thousands of light agents (no resources of their own)"))
    agents_per_host: int = Field(1000, ge=1, le=1_000_000, description=(
        "shared agents one host actor holds at most"))
    min: int | None = Field(None, ge=0, description=(
        "a pool: at least this many agents (with max; count is then not given)"))
    max: int | None = Field(None, ge=1, le=1_000_000, description=(
        "a pool: at most this many agents, grown when its tasks wait grow_after_s"))
    grow_after_s: float = Field(2.0, ge=0, description=(
        "a pool grows when a task it could take has waited this long"))
    idle_after_s: float = Field(30.0, gt=0, description=(
        "a pool retires (drains) an agent idle this long, down to min"))

    @model_validator(mode="after")
    def _pool_bounds(self) -> AgentGroup:
        if self.min is not None and self.max is None:
            raise ValueError("min without max: a pool needs both")
        if self.max is not None:
            if "count" in self.model_fields_set:
                raise ValueError("a pool (min/max) takes no count: it starts with min agents")
            if (self.min or 0) > self.max:
                raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self

    @model_validator(mode="after")
    def _hosting_fits(self) -> AgentGroup:
        if self.hosting == "actor" and self.count > 10_000:
            raise ValueError(f"count {self.count}: at most 10,000 agents with hosting: actor "
                             "(a worker process each); use hosting: shared")
        if self.hosting == "shared":
            own = [f for f in ("num_cpus", "num_gpus", "memory", "resources")
                   if getattr(self, f)]
            if own:
                raise ValueError(f"hosting: shared agents run in their host's process and "
                                 f"cannot ask for {', '.join(own)}; use hosting: actor")
        return self

    @model_validator(mode="after")
    def _role_known(self) -> AgentGroup:
        if self.role is not None:
            from agents.roles import resolve_role

            try:
                resolve_role(self.role)
            except ConfigError as exc:
                raise ValueError("; ".join(m for _, m in exc.problems)) from exc
        if self.cost is not None:
            from agents.agent.costs import resolve_cost

            try:
                resolve_cost(self.cost)
            except (ImportError, RaymasError) as exc:
                raise ValueError(f"cost: {exc}") from exc
        names = [e.name or e.kind for e in self.environments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"environments: names must be unique; repeated: {dupes}")
        return self

    @model_validator(mode="after")
    def _gpus_non_negative(self) -> AgentGroup:
        if isinstance(self.num_gpus, float) and self.num_gpus < 0:
            raise ValueError(f"num_gpus must be >= 0 or 'auto', got {self.num_gpus}")
        return self


class TaskGroup(_Section):
    kind: str = Field(min_length=1)
    count: int = Field(1, ge=1, le=1_000_000)
    args: dict[str, Any] = Field(default_factory=dict)
    capabilities: list[str] = Field(default_factory=lambda: ["execution"])
    priority: int | None = None
    strategy: Strategy | None = None
    max_attempts: int = Field(3, ge=1)
    attributes: dict[str, Any] = Field(default_factory=dict, description=(
        "what the agents' cost functions read (location, size...); deadline_s: seconds "
        "after submission by which a task must be done"))


class PlanGoal(_Section):
    """A goal reached through an HTN plan: a domain declared as data and root tasks."""

    domain: dict[str, Any] = Field(description="HTN operators and methods "
                                               "(see agents.planning.htn_config)")
    tasks: list[str | dict[str, Any]] = Field(
        min_length=1, description="root tasks: a name, or {task: name, args: {...}}")
    state: dict[str, Any] = Field(default_factory=dict, description="the initial world state")
    parallel: bool = Field(False, description="root tasks independent of each other")
    capabilities: list[str] = Field(default_factory=lambda: ["execution"])

    @model_validator(mode="after")
    def _domain_parses(self) -> PlanGoal:
        from agents.planning import domain_from_config
        from messaging.errors import ConfigError

        try:
            domain_from_config(self.domain)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def graph(self) -> Any:
        """Decompose the root tasks into a task graph (raises PlanError if it cannot)."""
        from agents.planning import Task, domain_from_config, plan_htn

        roots = [Task(t, {}) if isinstance(t, str) else Task(str(t.get("task")),
                                                              dict(t.get("args") or {}))
                 for t in self.tasks]
        return plan_htn(domain_from_config(self.domain), self.state, roots,
                        parallel=self.parallel)


class GoalSection(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    priority: int = 1
    strategy: Strategy | None = None
    tasks: list[TaskGroup] = Field(default_factory=list)
    plan: PlanGoal | None = None

    @model_validator(mode="after")
    def _tasks_or_plan(self) -> GoalSection:
        if bool(self.tasks) == (self.plan is not None):
            raise ValueError(f"goal {self.name!r}: give exactly one of 'tasks' (a list of task "
                             "groups) and 'plan' (an HTN domain and root tasks)")
        return self

    def allocations(self) -> list[TaskAllocation]:
        """The goal's tasks, ids ``<goal>/<kind>-<n>`` (none for a plan goal)."""
        out = []
        for gi, group in enumerate(self.tasks):
            for i in range(group.count):
                out.append(TaskAllocation(
                    task_id=f"{self.name}/{gi}-{group.kind}-{i}",
                    required_capabilities=list(group.capabilities),
                    priority=group.priority if group.priority is not None else self.priority,
                    kind=group.kind,
                    args=dict(group.args),
                    strategy=group.strategy or self.strategy,
                    max_attempts=group.max_attempts,
                    goal=self.name,
                    attributes=dict(group.attributes),
                ))
        return out


class TasksSection(_Section):
    modules: list[str] = Field(default_factory=list, description="imported to register tasks")


class ReportSection(_Section):
    path: str = "reports/run.json"


class ScenarioSection(_Section):
    """A monitoring scenario: run until the simulator is done, then score the detections."""

    ground_truth: str = Field(".raymas/ground_truth.jsonl", description=(
        "the simulator's ground truth (JSON lines)"))
    incidents: str = Field("sqlite:///.raymas/incidents.db",
                           pattern=r"^(sqlite:///|postgres(ql)?://)",
                           description="where the act step records incidents")
    source: str = Field("sensors", description="the environment whose findings are scored")
    match_window_s: float = Field(5.0, gt=0, description=(
        "an incident this soon after an injected anomaly on its sensor detects it"))
    timeout_s: float = Field(110.0, gt=0, description="how long to wait for the simulator")

    @model_validator(mode="after")
    def _anchor(self) -> ScenarioSection:
        self.ground_truth = str(Path(self.ground_truth).absolute())
        self.incidents = _absolute(self.incidents)
        return self
    settle_s: float = Field(10.0, ge=0, description=(
        "after the simulator is done, how long response plans may take to finish"))


class RaymasConfig(_Section):
    cluster: ClusterSection = Field(default_factory=ClusterSection)  # type: ignore[arg-type]
    supervisor: SupervisorSection = Field(default_factory=SupervisorSection)  # type: ignore[arg-type]
    ledger: LedgerSection = Field(default_factory=LedgerSection)  # type: ignore[arg-type]
    messaging: MessagingSection = Field(default_factory=MessagingSection)  # type: ignore[arg-type]
    agents: list[AgentGroup] = Field(min_length=1)
    tasks: TasksSection = Field(default_factory=TasksSection)
    goals: list[GoalSection] = Field(default_factory=list)
    report: ReportSection = Field(default_factory=ReportSection)
    serve: ServeSection = Field(default_factory=ServeSection)  # type: ignore[arg-type]
    logging: LoggingSection = Field(default_factory=LoggingSection)
    scenario: ScenarioSection | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> RaymasConfig:
        for what, names in (("agents[].id", [a.id for a in self.agents]),
                            ("goals[].name", [g.name for g in self.goals])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} must be unique; repeated: {', '.join(dupes)}")
        return self

    def agent_specs(self) -> list[AgentSpec]:
        """One :class:`AgentSpec` per agent (groups with ``count > 1`` get ``-1``, ``-2``…);
        pools (groups with ``max``) start through :meth:`pools` instead."""
        specs: list[AgentSpec] = []
        for g in self.agents:
            if g.max is not None:
                continue
            ids = [g.id] if g.count == 1 else [f"{g.id}-{i + 1}" for i in range(g.count)]
            specs.extend(self._spec(g, agent_id) for agent_id in ids)
        return specs

    def pools(self) -> list[dict[str, Any]]:
        """The pools (groups with ``max``), as ``SupervisorClient.add_pool`` takes them."""
        return [{"template": self._spec(g, g.id).to_dict(), "min": g.min or 0, "max": g.max,
                 "grow_after_s": g.grow_after_s, "idle_after_s": g.idle_after_s}
                for g in self.agents if g.max is not None]

    def _spec(self, g: AgentGroup, agent_id: str) -> AgentSpec:
        """The spec of agent ``agent_id`` of group ``g``."""
        return AgentSpec(
            agent_id=agent_id, agent_type=g.type, capabilities=list(g.capabilities),
            max_tasks=g.max_tasks, num_cpus=g.num_cpus, num_gpus=g.num_gpus,
            memory=int(g.memory) if g.memory else None, resources=dict(g.resources),
            max_restarts=g.max_restarts,
            heartbeat_interval_s=self.supervisor.heartbeat_interval_s,
            voter=g.voter, scheduling=g.scheduling, valuations=dict(g.valuations),
            bidding=g.bidding, bid_markups=list(g.bid_markups),
            worker_threads=g.worker_threads,
            environments=[{**e.model_dump(exclude_none=True),
                           "options": _anchored(e.options)} for e in g.environments],
            subscribe=list(g.subscribe), role=g.role,
            role_options=_anchored(g.role_options),
            pursue=[p.model_dump() for p in g.pursue],
            bus_linger_ms=g.bus_linger_ms, cost=g.cost, state=dict(g.state),
            hosting=g.hosting, agents_per_host=g.agents_per_host,
        )

    def audit_url(self) -> str:
        """Where the audit log lives: ``serve.audit_url``, else the ledger's database."""
        return _absolute(self.serve.audit_url or self.ledger.url)

    def api_context(self) -> Any:
        """What the HTTP API's replicas need (:class:`cluster.api.backend.ApiContext`)."""
        from cluster.api.auth import inline_key
        from cluster.api.backend import ApiContext

        auth = self.serve.auth
        for name in ("key_file", "public_key_file"):
            if getattr(auth, name):
                auth = auth.model_copy(update={name: str(Path(getattr(auth, name)).absolute())})
        tls = self.serve.tls
        if tls is not None:
            tls = tls.model_copy(update={"certfile": str(Path(tls.certfile).absolute()),
                                         "keyfile": str(Path(tls.keyfile).absolute())})
        serve = self.serve.model_copy(update={
            "auth": inline_key(auth), "tls": tls,
            "model_store": str(Path(self.serve.model_store).absolute()),
            "audit_url": _absolute(self.serve.audit_url) if self.serve.audit_url else None})
        return ApiContext(serve=serve, supervisor_name=self.supervisor.name,
                          namespace=self.cluster.namespace, ledger_url=_absolute(self.ledger.url),
                          bus_name=self.messaging.bus,
                          brokers={n: (b.kind, b.broker_options())
                                   for n, b in self.messaging.brokers.items()})

    def supervisor_settings(self) -> SupervisorSettings:
        """What the Supervisor actor takes: its section and the wiring from the others."""
        return SupervisorSettings(
            **self.supervisor.model_dump(), namespace=self.cluster.namespace,
            ledger_url=_absolute(self.ledger.url), bus_name=self.messaging.bus,
            message_keys=(self.messaging.keys.get_secret_value()
                          if self.messaging.keys else None), fresh=self.ledger.fresh,
            audit_url=_absolute(self.serve.audit_url) if self.serve.audit_url else None)


#: options of environments and roles that name files: relative ones are taken from the
#: directory the config is used in, since agents run in processes started elsewhere
_PATH_OPTIONS = {"path", "paths", "directory", "ground_truth"}
_URL_OPTIONS = {"incidents", "url"}


def _anchored(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with relative paths (see ``_PATH_OPTIONS``) and SQLite URLs made absolute."""
    out = dict(options)
    for key, value in options.items():
        if key in _PATH_OPTIONS and isinstance(value, str):
            out[key] = str(Path(value).absolute())
        elif key in _PATH_OPTIONS and isinstance(value, list):
            out[key] = [str(Path(v).absolute()) if isinstance(v, str) else v for v in value]
        elif key in _URL_OPTIONS and isinstance(value, str):
            out[key] = _absolute(value)
    return out


def _absolute(url: str) -> str:
    """A relative SQLite path made absolute here, so actors started elsewhere find it."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix):] != ":memory:":
        return prefix + str(Path(url[len(prefix):]).absolute())
    return url


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "literal") or str(part).startswith(("function-", "lax-")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _apply_env(data: dict[str, Any], env: Mapping[str, str], source: str) -> None:
    if env.get("RAY_ADDRESS"):
        data.setdefault("cluster", {})["address"] = env["RAY_ADDRESS"]
    for name, raw in env.items():
        if not name.startswith("RAYMAS_") or "__" not in name:
            continue
        keys = name[len("RAYMAS_"):].lower().split("__")
        node = data
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(source, [(name, f"{key} is not a section")])
            node = child
        node[keys[-1]] = yaml.safe_load(raw) if raw else None


def parse_config(
    data: Mapping[str, Any] | None, *, env: Mapping[str, str] | None = None,
    source: str = "<config>",
) -> RaymasConfig:
    """Validate a config mapping (with environment overrides) into :class:`RaymasConfig`."""
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v)
                              for k, v in (data or {}).items()}
    _apply_env(merged, os.environ if env is None else env, source)
    try:
        return RaymasConfig.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            problems.append((_path(tuple(err["loc"])), f"{err['msg']}{shown}"))
        raise ConfigError(source, problems) from None


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
                ) -> RaymasConfig:
    """Read and validate a YAML config file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(str(p), [("(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), [("(yaml)", str(exc).replace("\n", " "))]) from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(str(p), [("(top level)", "expected a mapping of sections")])
    return parse_config(data, env=env, source=str(p))
