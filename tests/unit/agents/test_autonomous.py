"""The seed's agent API: AutonomousAgent from keywords, AgentGoal(goal_id=, description=)."""

from __future__ import annotations

import asyncio
import doctest

import pytest

import agents.autonomous
from agents import (
    Agent,
    AgentCapability,
    AgentGoal,
    AgentType,
    AutonomousAgent,
    Behavior,
    Capability,
    LifecycleState,
)


def test_goal_by_name_as_before() -> None:
    goal = AgentGoal("keep-cpu-low", priority=5, target={"cpu_high": False})
    assert (goal.name, goal.goal_id, goal.description) == ("keep-cpu-low", "keep-cpu-low", "")
    assert goal.satisfied_by({"cpu_high": False}) and not goal.satisfied_by({"cpu_high": True})


def test_goal_by_goal_id_and_description() -> None:
    goal = AgentGoal(goal_id="goal_001", description="Process data pipeline", priority=1)
    assert (goal.name, goal.goal_id) == ("goal_001", "goal_001")
    assert goal.description == "Process data pipeline"
    assert AgentGoal(name="g", goal_id="g").goal_id == "g"  # both, agreeing


def test_goal_needs_one_consistent_identifier() -> None:
    with pytest.raises(TypeError, match="name"):
        AgentGoal(description="no id")
    with pytest.raises(ValueError, match="same thing"):
        AgentGoal(name="a", goal_id="b")


def test_goals_still_ordered_by_priority() -> None:
    a = AutonomousAgent(agent_id="a1")
    a.set_goal(AgentGoal(goal_id="low", priority=1, target={"x": 1}))
    a.set_goal(AgentGoal("high", priority=9, target={"y": 2}))
    assert [g.goal_id for g in a.goals] == ["high", "low"]
    current = a.current_goal()
    assert current is not None and current.name == "high"
    assert [g["name"] for g in a.describe()["goals"]] == ["high", "low"]


def test_agent_from_the_seeds_arguments() -> None:
    agent = AutonomousAgent(agent_id="agent_001", name="Task Processor",
                            agent_type=AgentType.TASK_EXECUTOR,
                            capabilities=[AgentCapability.PLANNING, AgentCapability.LEARNING,
                                          AgentCapability.COLLABORATION])
    assert isinstance(agent, Agent)
    assert agent.spec.capabilities == ["planning", "learning", "collaboration"]
    assert all(type(c) is str for c in agent.spec.capabilities)
    assert agent.spec.task_limit == 20  # the task executor's default
    assert agent.state is LifecycleState.IDLE
    assert agent.describe()["name"] == "Task Processor"
    assert "Task Processor" in repr(agent)


def test_capability_alias_is_the_same_enum() -> None:
    assert AgentCapability is Capability


def test_agent_options() -> None:
    agent = AutonomousAgent(agent_id="w", agent_type="analyzer", capabilities=["etl", "planning"],
                            max_tasks=3, start=False, num_cpus=0.5, voter="first")
    assert agent.name == "w"  # defaults to the id
    assert agent.spec.agent_type is AgentType.ANALYZER
    assert (agent.spec.task_limit, agent.spec.num_cpus, agent.spec.voter) == (3, 0.5, "first")
    assert agent.state is LifecycleState.CREATED
    assert AutonomousAgent(agent_id="d").spec.capabilities == ["execution"]
    with pytest.raises(TypeError, match="capability"):
        AutonomousAgent(agent_id="x", capabilities=[3])
    with pytest.raises(TypeError):
        AutonomousAgent(agent_id="x", no_such_field=1)


def test_execute_behavior_runs_builtin_kinds_in_order() -> None:
    agent = AutonomousAgent(agent_id="agent_001", capabilities=[AgentCapability.PLANNING])
    behavior = Behavior(name="process", actions=["count_primes", "echo"],
                        args={"n": 10_000, "value": "done"})
    assert asyncio.run(agent.execute_behavior(behavior)) == [1229, "done"]
    assert agent.completed == 2 and agent.state is LifecycleState.IDLE


def test_module_example() -> None:
    result = doctest.testmod(agents.autonomous)
    assert result.attempted > 0 and result.failed == 0
