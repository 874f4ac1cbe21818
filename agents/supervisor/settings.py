"""The Supervisor's settings, typed once: the config section and what the actor takes.

:class:`SupervisorOptions` is the ``supervisor:`` section of ``config.yaml``
(``cluster.config`` uses this class for it, so a field is declared here and
nowhere else); :class:`SupervisorSettings` adds what the actor also needs from
the other sections (namespace, ledger, bus, payload keys).  Both are checked
on construction and name the bad field.

Example:
    >>> SupervisorSettings(strategy="vickrey", ledger_url="sqlite:///:memory:").batch_size
    1024
    >>> try:
    ...     SupervisorOptions(strategy="vikrey")
    ... except ValueError as exc:
    ...     print(exc.errors()[0]["loc"], exc.errors()[0]["msg"].split(";")[1].split("?")[0])
    ('strategy',)  did you mean 'vickrey'
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["SupervisorOptions", "SupervisorSettings", "known_strategy"]


def known_strategy(value: str) -> str:
    """``value`` if it names a registered allocation strategy; else the did-you-mean error."""
    from agents.errors import AllocationError
    from agents.protocols import get_strategy

    try:
        get_strategy(value)
    except AllocationError as exc:
        raise ValueError(str(exc)) from None
    return value


class SupervisorOptions(BaseModel):
    """The ``supervisor`` section of the configuration."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("raymas-supervisor", min_length=1, description="the actor's name")
    strategy: str = Field("contract_net", description=(
        "default allocation strategy (contract_net, first_price, vickrey, consensus, "
        "optimal, ssi, cbba, least_loaded, power_of_two)"))
    heartbeat_interval_s: float = Field(1.0, gt=0, description="how often agents beat")
    heartbeat_timeout_s: float = Field(5.0, gt=0, description=(
        "silence after which an agent is suspect: it gets no new work until heard again"))
    bid_timeout_s: float = Field(2.0, gt=0, description="how long a round waits for replies")
    cbba_timeout_s: float = Field(10.0, gt=0, description=(
        "how long the agents of a bundle-algorithm (cbba) round may take to agree"))
    batch_size: int = Field(1024, ge=1, le=100_000, description="tasks per allocation round")
    cfp_fanout: int = Field(8, ge=0, description=(
        "least-loaded agents called per contract-net round (more if their free slots do not "
        "cover twice the tasks); 0 calls every capable agent"))
    seed: int = Field(0, description="seeds the strategies' randomness")
    agent_start_timeout_s: float = Field(60.0, gt=0, description=(
        "how long spawning may go without an agent becoming ready"))
    metrics_interval_s: float = Field(1.0, gt=0, description=(
        "how often agents and tasks by state go to Ray's metrics (raymas_agents, "
        "raymas_tasks)"))

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        return known_strategy(value)

    @model_validator(mode="after")
    def _timeout_exceeds_interval(self) -> SupervisorOptions:
        if self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"heartbeat_timeout_s ({self.heartbeat_timeout_s}) must exceed "
                f"heartbeat_interval_s ({self.heartbeat_interval_s})"
            )
        return self


class SupervisorSettings(SupervisorOptions):
    """Everything the Supervisor actor takes: its section plus the wiring around it."""

    namespace: str = Field("raymas", min_length=1)
    ledger_url: str = "sqlite:///.raymas/ledger.db"
    bus_name: str | None = Field("raymas-bus", description="the bus directory; None: no bus")
    #: AES-256-GCM payload keys for the bus, ``"kid:<base64>,..."``; None sends in clear.
    message_keys: str | None = None
    token_ttl_s: float = Field(24 * 3600.0, gt=0)
    fresh: bool = Field(False, description="clear the ledger at start (never on a restart)")
    audit_url: str | None = Field(None, pattern=r"^(sqlite:///|postgres(ql)?://)", description=(
        "the tamper-evident audit log of every decision; default: the ledger's database "
        "(its own table, which a fresh ledger leaves alone)"))
