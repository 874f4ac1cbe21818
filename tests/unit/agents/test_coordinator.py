"""MultiAgentCoordinator's Ray-free parts: the strategy names, defaults, the result."""

from __future__ import annotations

import asyncio

import pytest

from agents import (
    AllocationResult,
    CoordinationStrategy,
    MultiAgentCoordinator,
    TaskAllocation,
)
from agents.protocols import STRATEGIES


def test_strategies_are_the_supervisors() -> None:
    assert [s.value for s in CoordinationStrategy] == list(STRATEGIES)


def test_constructing_starts_nothing() -> None:
    # the unit conftest makes ray.init raise: building one must not connect
    c = MultiAgentCoordinator(strategy="vickrey")
    assert c.strategy is CoordinationStrategy.VICKREY
    with pytest.raises(ValueError):
        MultiAgentCoordinator(strategy="contract-net")


def test_tasks_get_the_default_strategy_unless_they_name_one() -> None:
    c = MultiAgentCoordinator(strategy=CoordinationStrategy.LEAST_LOADED)
    plain = TaskAllocation(task_id="t1", required_capabilities=["planning"])
    filled = c._with_strategy(plain)
    assert filled.strategy == "least_loaded" and plain.strategy is None
    assert filled.submitted_at == plain.submitted_at
    assert c._with_strategy({"task_id": "t2", "strategy": "consensus"}).strategy == "consensus"


def test_allocation_result() -> None:
    r = AllocationResult(task_id="task_001", agent_id="agent_001", strategy="contract_net")
    assert r.to_dict() == {"task_id": "task_001", "agent_id": "agent_001",
                           "strategy": "contract_net"}
    assert "agent_001" in str(r)


def test_close_before_start_is_a_no_op() -> None:
    asyncio.run(MultiAgentCoordinator().close())
