"""A script submitted as a Ray job finds the running Supervisor and gives it work.

    raymas run config.yaml --keep        # on a cluster started with `ray start --head`
    ray job submit --working-dir . -- python examples/submit_job.py
"""

from __future__ import annotations

import ray

from agents import SupervisorClient, TaskAllocation


def main() -> None:
    ray.init(address="auto", namespace="raymas")
    sup = SupervisorClient()
    ids = sup.submit([TaskAllocation(task_id=f"job-primes-{i}", kind="count_primes",
                                     args={"n": 100_000 + i}) for i in range(20)])
    for task_id, result in sup.wait(ids, timeout_s=300).items():
        print(task_id, result["state"], result["value"], "by", result["agent_id"])


if __name__ == "__main__":
    main()
