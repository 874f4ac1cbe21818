"""The API's request and response bodies, as pydantic models (and so its OpenAPI schema).

Requests refuse unknown fields (``extra="forbid"``): a misspelt field is a 422
naming it, not silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AgentList", "AgentSpecIn", "AllocateIn", "AllocateOut", "AuctionIn", "HtnGoalIn",
    "LearningRunIn", "ModelDeployIn", "ObserveIn", "PlanIn", "PredictIn", "PublishIn",
    "SpawnIn", "SwarmRunIn", "TaskAccepted", "TaskBatchIn", "TaskIn", "TaskList",
    "TasksAccepted", "TokenIn", "TokenOut", "VoteIn",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$"
Id = Field(pattern=_ID, description="letters, digits and _ . : / -, at most 200")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskIn(_In):
    """One task: what to run (``kind`` and its ``args``) and who may run it."""

    task_id: str | None = Field(None, pattern=_ID, description="default: a new id")
    kind: str = Field(min_length=1, max_length=200, examples=["echo"])
    args: dict[str, Any] = Field(default_factory=dict, examples=[{"value": "hello"}])
    required_capabilities: list[str] = Field(default_factory=lambda: ["execution"],
                                             max_length=32)
    priority: int = Field(1, ge=-1000, le=1000)
    strategy: str | None = Field(None, max_length=64)
    max_attempts: int = Field(3, ge=1, le=100)
    depends_on: list[str] = Field(default_factory=list, max_length=1000)
    goal: str | None = Field(None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=64, description=(
        "what the agents' cost functions read (location, size...); deadline_s: seconds "
        "after submission by which it must be done"), examples=[{"location": [3, 4],
                                                               "deadline_s": 30}])

    @field_validator("attributes")
    @classmethod
    def _deadline(cls, value: dict[str, Any]) -> dict[str, Any]:
        deadline = value.get("deadline_s")
        if deadline is not None and (isinstance(deadline, bool)
                                     or not isinstance(deadline, int | float) or deadline <= 0):
            raise ValueError(f"deadline_s must be a positive number of seconds, "
                             f"got {deadline!r}")
        return value


class TaskBatchIn(_In):
    tasks: list[TaskIn] = Field(min_length=1, max_length=10_000)


class TaskAccepted(BaseModel):
    task_id: str
    state: str


class TasksAccepted(BaseModel):
    task_ids: list[str] = Field(description="in order; a known id is not queued again")


class TaskSummary(BaseModel):
    task_id: str
    state: str
    agent_id: str | None = None
    kind: str | None = None
    attempts: int = 0
    plan_id: str | None = None
    goal: str | None = None
    updated_at: float | None = None


class TaskList(BaseModel):
    counts: dict[str, int]
    tasks: list[TaskSummary]


class AgentSpecIn(_In):
    """An agent to start (see agents.specs.AgentSpec for every field)."""

    model_config = ConfigDict(extra="allow")
    agent_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    capabilities: list[str] = Field(default_factory=lambda: ["execution"], max_length=32)
    max_tasks: int | None = Field(None, ge=1, le=1000)
    num_cpus: float = Field(0.0, ge=0, le=1024)
    num_gpus: float = Field(0.0, ge=0, le=64)


class SpawnIn(_In):
    agents: list[AgentSpecIn] = Field(min_length=1, max_length=1000)


class AgentList(BaseModel):
    agents: list[dict[str, Any]]


class HtnGoalIn(_In):
    """A goal reached through an HTN plan: a domain declared as data and root tasks."""

    domain: dict[str, Any]
    tasks: list[str | dict[str, Any]] = Field(min_length=1)
    state: dict[str, Any] = Field(default_factory=dict)
    parallel: bool = False


class PlanIn(_In):
    """A plan: either a task graph (``graph``) or an HTN ``goal`` to decompose."""

    plan_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
    graph: dict[str, Any] | None = None
    goal: HtnGoalIn | None = None
    strategy: str | None = Field(None, max_length=64)
    capabilities: list[str] = Field(default_factory=list, max_length=32)
    priority: int = Field(1, ge=-1000, le=1000)


class ObserveIn(_In):
    changes: dict[str, Any] = Field(description="facts of the world state that changed")


class AllocateIn(_In):
    task: TaskIn
    strategy: str | None = Field(None, max_length=64, examples=["vickrey"])
    timeout_s: float = Field(10.0, gt=0, le=300)


class AllocateOut(BaseModel):
    task_id: str
    agent_id: str | None


class VoteIn(_In):
    question: str = Field(min_length=1, max_length=1000)
    options: list[str | int | float | bool] = Field(min_length=1, max_length=100)
    rule: Literal["majority", "weighted", "quorum"] = "majority"
    quorum: float = Field(0.5, gt=0, le=1)
    deadline_s: float = Field(2.0, gt=0, le=60)
    capabilities: list[str] = Field(default_factory=list, max_length=32)


class AuctionIn(_In):
    resource: str = Field(min_length=1, max_length=200)
    rule: Literal["first_price", "vickrey"] = "vickrey"
    reserve: float | None = Field(None, ge=0)
    deadline_s: float = Field(2.0, gt=0, le=60)


class SwarmRunIn(_In):
    """A swarm optimisation run as a task (the ``swarm_optimize`` kind's arguments)."""

    args: dict[str, Any] = Field(examples=[{"algorithm": "pso", "function": "sphere",
                                            "dim": 5, "iterations": 50, "seed": 0}])
    task_id: str | None = Field(None, pattern=_ID)
    required_capabilities: list[str] = Field(default_factory=lambda: ["execution"])
    priority: int = Field(1, ge=-1000, le=1000)


class LearningRunIn(_In):
    """A learning run as a task: one of the learning task kinds and its arguments."""

    kind: Literal["q_learning", "policy_gradient", "rllib_train", "automl"]
    args: dict[str, Any] = Field(default_factory=dict)
    task_id: str | None = Field(None, pattern=_ID)
    required_capabilities: list[str] = Field(default_factory=lambda: ["execution"])
    priority: int = Field(1, ge=-1000, le=1000)


class ModelDeployIn(_In):
    version: int | None = Field(None, ge=1, le=2**31, description="default: the latest")
    replicas: int = Field(1, ge=1, le=16)


class PredictIn(_In):
    inputs: list[list[float]] = Field(min_length=1, max_length=10_000)
    version: int | None = Field(None, ge=1, le=2**31,
                                description="default: the newest deployed")


class PublishIn(_In):
    topic: str = Field(min_length=1, max_length=256, examples=["sensors/room1/temp"])
    payload: Any = None
    headers: dict[str, str] = Field(default_factory=dict, max_length=32)


class TokenIn(_In):
    subject: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "operator", "agent", "viewer"]
    ttl: str | None = Field(None, max_length=16, examples=["1h"])


class TokenOut(BaseModel):
    token: str
    subject: str
    role: str
    expires_at: float
