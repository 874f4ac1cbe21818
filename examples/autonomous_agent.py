"""An autonomous agent in this process: a goal, a behaviour, its results (no Ray).

    python examples/autonomous_agent.py

A behaviour's actions are names of registered task kinds, run in order, each
given the behaviour's ``args``; these are built-ins (``agents/agent/builtin_kinds.py``),
``@agents.task("name")`` registers your own.
"""

import asyncio

from agents import AgentCapability, AgentGoal, AgentType, AutonomousAgent, Behavior


async def main() -> None:
    agent = AutonomousAgent(agent_id="agent_001", name="Task Processor",
                            agent_type=AgentType.TASK_EXECUTOR,
                            capabilities=[AgentCapability.PLANNING, AgentCapability.LEARNING,
                                          AgentCapability.COLLABORATION])
    goal = AgentGoal(goal_id="goal_001", description="Process data pipeline", priority=1)
    agent.set_goal(goal)
    behavior = Behavior(name="process", actions=["count_primes", "sha256_chain", "echo"],
                        args={"n": 10_000, "seed": "raymas", "rounds": 1_000,
                              "value": "pipeline done"})
    results = await agent.execute_behavior(behavior)

    print(f"agent {agent.agent_id} ({agent.name}): {agent.state.value}, "
          f"capabilities {sorted(agent.capabilities)}")
    print(f"goal {goal.goal_id}: {goal.description} (priority {goal.priority})")
    for action, result in zip(behavior.actions, results, strict=True):
        print(f"{action}: {result}")
    await agent.stop()
    print(f"completed {agent.describe()['completed']} tasks; agent {agent.state.value}")


if __name__ == "__main__":
    asyncio.run(main())
