"""Plain data types shared by agents, the Supervisor and the protocols.

Dataclasses, not pydantic models: agent actors import this module, and an idle
agent should stay small (pydantic is only loaded where config is parsed).
"""

from __future__ import annotations

import enum
import itertools
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_TASK_LIMITS",
    "AgentGoal",
    "AgentSpec",
    "AgentType",
    "Behavior",
    "Capability",
    "LifecycleState",
    "TaskAllocation",
    "TaskState",
]


class AgentType(enum.StrEnum):
    """What an agent is for; sets its default concurrent task limit."""

    COORDINATOR = "coordinator"
    TASK_EXECUTOR = "task_executor"
    MONITOR = "monitor"
    ANALYZER = "analyzer"
    SWARM_MEMBER = "swarm_member"


#: Concurrent tasks an agent runs at once unless its spec says otherwise.
DEFAULT_TASK_LIMITS: dict[AgentType, int] = {
    AgentType.COORDINATOR: 5,
    AgentType.TASK_EXECUTOR: 20,
    AgentType.MONITOR: 5,
    AgentType.ANALYZER: 10,
    AgentType.SWARM_MEMBER: 10,
}


class Capability(enum.StrEnum):
    """The built-in capabilities; agents may add free-form skills as plain strings."""

    PLANNING = "planning"
    LEARNING = "learning"
    COMMUNICATION = "communication"
    COLLABORATION = "collaboration"
    ADAPTATION = "adaptation"
    EXECUTION = "execution"


class LifecycleState(enum.StrEnum):
    """created → idle → busy → stopping → stopped, or failed from anywhere."""

    CREATED = "created"
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class TaskState(enum.StrEnum):
    """States a task goes through in the Supervisor's ledger."""

    SUBMITTED = "submitted"
    ANNOUNCED = "announced"
    AWARDED = "awarded"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REASSIGNED = "reassigned"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED)


_goal_seq = itertools.count()


@dataclass(order=True)
class AgentGoal:
    """A goal an agent pursues; higher ``priority`` is pursued first.

    ``name`` and ``goal_id`` are the same identifier (give either; ``goal_id``
    is the name the seed's examples use); ``description`` is free text.

    Example:
        >>> AgentGoal("keep-cpu-low", priority=5, target={"cpu_high": False}).name
        'keep-cpu-low'
        >>> g = AgentGoal(goal_id="goal_001", description="Process data pipeline", priority=1)
        >>> g.name, g.goal_id, g.description
        ('goal_001', 'goal_001', 'Process data pipeline')
    """

    sort_key: tuple[int, int] = field(init=False, repr=False, compare=True)
    name: str = field(default="", compare=False)
    priority: int = field(default=1, compare=False)
    target: dict[str, Any] = field(default_factory=dict, compare=False)
    deadline: float | None = field(default=None, compare=False)
    goal_id: str = field(default="", compare=False)
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.name and self.goal_id and self.name != self.goal_id:
            raise ValueError(f"AgentGoal: name {self.name!r} and goal_id {self.goal_id!r} "
                             "name the same thing; give one of them")
        self.name = self.name or self.goal_id
        if not self.name:
            raise TypeError("AgentGoal needs a name (or goal_id)")
        self.goal_id = self.name
        self.sort_key = (-self.priority, next(_goal_seq))

    def satisfied_by(self, state: Mapping[str, Any]) -> bool:
        """True when every key of ``target`` has its wanted value in ``state``."""
        return all(state.get(k) == v for k, v in self.target.items())


Condition = Callable[[Mapping[str, Any]], bool]


@dataclass
class Behavior:
    """A condition over the agent's observed state and the actions it triggers.

    ``condition`` is a callable or a dict of wanted key/values; ``actions`` are
    names of registered task callables run in order, each given the state and
    the previous action's result.  ``on_start``/``on_end`` hooks are optional.
    """

    name: str
    actions: list[str]
    condition: Condition | dict[str, Any] | None = None
    args: dict[str, Any] = field(default_factory=dict)
    on_start: Callable[[Mapping[str, Any]], None] | None = None
    on_end: Callable[[Mapping[str, Any], list[Any]], None] | None = None

    def applies(self, state: Mapping[str, Any]) -> bool:
        """Whether the behaviour's condition holds in ``state``."""
        if self.condition is None:
            return True
        if callable(self.condition):
            return bool(self.condition(state))
        return all(state.get(k) == v for k, v in self.condition.items())


@dataclass
class TaskAllocation:
    """A unit of work for the Supervisor to allocate.

    ``kind`` names a callable registered with :func:`agents.agent.kinds.task`;
    ``args`` are passed to it as keyword arguments.  ``task_id`` keys the
    result: submitting the same id twice does not run the task twice.

    Example:
        >>> t = TaskAllocation(task_id="t1", required_capabilities=["execution"], priority=1)
        >>> t.kind
        'noop'
    """

    task_id: str
    required_capabilities: list[str] = field(default_factory=list)
    priority: int = 1
    kind: str = "noop"
    args: dict[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    max_attempts: int = 3
    goal: str | None = None
    submitted_at: float = field(default_factory=time.time)
    #: ids of tasks whose results this one needs (passed to it as ``inputs``)
    depends_on: list[str] = field(default_factory=list)
    plan_id: str | None = None
    #: names the submit this task came from (an HTTP request, a CLI run, a job); the
    #: client stamps one when none is given (see :mod:`messaging.trace`)
    correlation_id: str | None = None
    #: what the task is, for the agents' cost functions (``location``, ``size``...);
    #: ``deadline_s``: seconds after submission by which it must be done (agents that
    #: cannot make it refuse; a result past it reports its lateness)
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        deadline = self.attributes.get("deadline_s")
        if deadline is not None and (isinstance(deadline, bool)
                                     or not isinstance(deadline, int | float) or deadline <= 0):
            raise ValueError(f"task {self.task_id!r}: attributes.deadline_s must be a positive "
                             f"number of seconds, got {deadline!r}")

    @property
    def deadline_at(self) -> float | None:
        """When the task must be done (wall clock), if it has a deadline."""
        deadline = self.attributes.get("deadline_s")
        return None if deadline is None else self.submitted_at + float(deadline)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "required_capabilities": list(self.required_capabilities),
            "priority": self.priority,
            "kind": self.kind,
            "args": dict(self.args),
            "strategy": self.strategy,
            "max_attempts": self.max_attempts,
            "goal": self.goal,
            "submitted_at": self.submitted_at,
            "depends_on": list(self.depends_on),
            "plan_id": self.plan_id,
            "correlation_id": self.correlation_id,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskAllocation:
        return cls(**dict(data))


@dataclass
class AgentSpec:
    """Everything needed to start one agent actor.

    Resources follow Ray's names: ``num_cpus``, ``num_gpus`` (fractions allowed,
    or ``"auto"`` for a GPU only where the cluster has one), ``memory`` in
    bytes and free-form ``resources``.
    """

    agent_id: str
    agent_type: AgentType = AgentType.TASK_EXECUTOR
    capabilities: list[str] = field(default_factory=lambda: ["execution"])
    max_tasks: int | None = None
    num_cpus: float = 0.0
    num_gpus: float | str = 0.0
    memory: int | None = None
    resources: dict[str, float] = field(default_factory=dict)
    max_restarts: int = 0
    heartbeat_interval_s: float = 1.0
    voter: str = "least_loaded"
    #: Ray scheduling strategy name, e.g. ``"SPREAD"`` to spread agents over nodes.
    scheduling: str | None = None
    #: What the agent would pay for a resource in a resource auction (none: no bid).
    valuations: dict[str, float] = field(default_factory=dict)
    #: Envelopes the agent's mailbox holds before senders have to wait.
    mailbox_capacity: int = 10_000
    #: "fixed" proposes its cost as is; "ucb1", "thompson" or "epsilon_greedy" learn which
    #: of ``bid_markups`` to put on it from the outcomes (see ``agents.agent.bidding``)
    bidding: str = "fixed"
    bid_markups: list[float] = field(default_factory=lambda: [0.8, 1.0, 1.25])
    #: Threads that run the agent's blocking task callables; None: bounded by what the
    #: agent was given (see :attr:`task_threads`), so CPU-bound tasks leave its event
    #: loop (heartbeats, proposals) time to run.
    worker_threads: int | None = None
    #: environments the agent senses and acts on, each ``{"kind", "name", "options",
    #: "topic", "limits"}`` (see :mod:`interfaces`); their events go on the bus
    environments: list[dict[str, Any]] = field(default_factory=list)
    #: bus topic patterns the agent subscribes to when it joins
    subscribe: list[str] = field(default_factory=list)
    #: a role (``"analyzer"``, ``"coordinator"``... or ``"module:function"``) giving the
    #: agent behaviours of its own, with ``role_options`` (see :mod:`agents.roles`)
    role: str | None = None
    role_options: dict[str, Any] = field(default_factory=dict)
    #: goals the agent pursues on its own (see :mod:`agents.pursuit`)
    pursue: list[dict[str, Any]] = field(default_factory=list)
    #: milliseconds its sends may gather before they go (a producer's linger); None: 0,
    #: or ``ENVIRONMENT_LINGER_MS`` for an agent with environments (agents.agent.senses)
    bus_linger_ms: float | None = None
    #: what a task costs this agent: a cost function's name (``agents.cost``) or
    #: ``"module:function"``; None: the load-based default (see ``agents.agent.costs``)
    cost: str | None = None
    #: the agent's own state its cost function reads (``position``, ``skills``,
    #: ``battery``...); tasks and observations update it as they run
    state: dict[str, Any] = field(default_factory=dict)
    #: "actor": an actor (a worker process) of its own; "shared": one of many agents in
    #: an agent host actor (see :mod:`agents.hosting`), for thousands of light agents
    hosting: str = "actor"
    #: how many shared agents one host holds at most
    agents_per_host: int = 1000
    #: the host a shared agent lives in (set when it is placed)
    host: str | None = None

    def __post_init__(self) -> None:
        self.agent_type = AgentType(self.agent_type)
        if self.hosting not in ("actor", "shared"):
            raise ValueError(f"agent {self.agent_id!r}: hosting must be 'actor' or 'shared', "
                             f"got {self.hosting!r}")
        if self.hosting == "shared":
            own = [f for f, unset in (("num_cpus", self.num_cpus == 0),
                                      ("num_gpus", self.num_gpus in (0, 0.0)),
                                      ("memory", self.memory is None),
                                      ("resources", not self.resources)) if not unset]
            if own:
                raise ValueError(
                    f"agent {self.agent_id!r}: a shared agent runs in its host's process and "
                    f"cannot ask for {', '.join(own)} of its own; use hosting: actor")
            if self.agents_per_host < 1:
                raise ValueError(f"agent {self.agent_id!r}: agents_per_host must be >= 1, "
                                 f"got {self.agents_per_host}")
        if self.bidding not in ("fixed", "epsilon_greedy", "ucb1", "thompson"):
            raise ValueError(f"agent {self.agent_id!r}: bidding must be one of fixed, "
                             f"epsilon_greedy, ucb1, thompson; got {self.bidding!r}")
        if self.max_tasks is None:
            self.max_tasks = DEFAULT_TASK_LIMITS[self.agent_type]

    @property
    def senses_wanted(self) -> bool:
        """Whether the agent has environments, subscriptions, a role or goals to pursue
        (then it starts its senses when it joins the bus; see ``agents.agent.senses``)."""
        return bool(self.environments or self.subscribe or self.role or self.pursue)

    @property
    def task_limit(self) -> int:
        assert self.max_tasks is not None  # set in __post_init__
        return self.max_tasks

    @property
    def task_threads(self) -> int:
        """Worker threads for blocking tasks: ``worker_threads``, else the CPUs the agent
        was given (rounded up), else — given none — the machine's cores; never more
        than its task limit.

        Example:
            >>> AgentSpec("a", num_cpus=0.25, max_tasks=4).task_threads
            1
            >>> AgentSpec("a", num_cpus=2, max_tasks=8, worker_threads=3).task_threads
            3
        """
        if self.worker_threads is not None:
            return max(1, int(self.worker_threads))
        given = math.ceil(self.num_cpus) if self.num_cpus > 0 else (os.cpu_count() or 1)
        return max(1, min(self.task_limit, given))

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "agent_type": self.agent_type.value,
            "capabilities": list(self.capabilities),
            "max_tasks": self.max_tasks,
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "memory": self.memory,
            "resources": dict(self.resources),
            "max_restarts": self.max_restarts,
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "voter": self.voter,
            "scheduling": self.scheduling,
            "valuations": dict(self.valuations),
            "mailbox_capacity": self.mailbox_capacity,
            "bidding": self.bidding,
            "bid_markups": list(self.bid_markups),
            "worker_threads": self.worker_threads,
            "environments": [dict(e) for e in self.environments],
            "subscribe": list(self.subscribe),
            "role": self.role,
            "role_options": dict(self.role_options),
            "pursue": [dict(p) for p in self.pursue],
            "bus_linger_ms": self.bus_linger_ms,
            "cost": self.cost,
            "state": dict(self.state),
            "hosting": self.hosting,
            "agents_per_host": self.agents_per_host,
            "host": self.host,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentSpec:
        return cls(**dict(data))
