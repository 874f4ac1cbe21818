"""Allocate a task to an agent by contract net, on Ray.

    python examples/coordinator.py                  # starts Ray here, stops it at the end
    RAY_ADDRESS=auto python examples/coordinator.py # on a running cluster

With no Ray running, the coordinator starts an embedded one and a Supervisor
(as ``raymas run`` does); ``close()`` stops what it started.  On a cluster it
attaches to the Supervisor already running there, if any, and leaves it up.
"""

import asyncio

from agents import CoordinationStrategy, MultiAgentCoordinator, TaskAllocation


async def main() -> None:
    coordinator = MultiAgentCoordinator(strategy=CoordinationStrategy.CONTRACT_NET)
    try:
        await coordinator.register_agent("agent_001", ["planning", "execution"], 10)
        allocation = await coordinator.allocate_task(TaskAllocation(
            task_id="task_001", required_capabilities=["planning", "execution"], priority=1))
        print(allocation)  # which agent got it
        outcome = (await coordinator.wait([allocation.task_id], timeout_s=60))["task_001"]
        print(f"{allocation.task_id}: {outcome['state']} by {outcome['agent_id']}")
    finally:
        await coordinator.close()


if __name__ == "__main__":
    asyncio.run(main())
