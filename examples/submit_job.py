"""A script submitted as a Ray job finds the running Supervisor and gives it work.

    raymas run config.yaml --keep                # on a cluster started with `ray start --head`
    raymas submit examples/submit_job.py         # through Ray's Jobs API (see README)

Its log lines are JSON (Ray's format) and name the submit's correlation id, so
``raymas trace job-primes-0`` finds this script's part of the trail too.
"""

from __future__ import annotations

import logging

import ray

from agents import SupervisorClient, TaskAllocation
from messaging import trace

logger = logging.getLogger("examples.submit_job")


def main() -> None:
    ray.init(address="auto", namespace="raymas",
             logging_config=ray.LoggingConfig(encoding="JSON", log_level="INFO",
                                              additional_log_standard_attrs=["name"]))
    sup = SupervisorClient()
    with trace.scope(trace.new_correlation_id()) as cid:
        ids = sup.submit([TaskAllocation(task_id=f"job-primes-{i}", kind="count_primes",
                                         args={"n": 100_000 + i}) for i in range(20)])
        logger.info("submitted %d tasks", len(ids), extra=trace.log_fields())
    for task_id, result in sup.wait(ids, timeout_s=300).items():
        print(task_id, result["state"], result["value"], "by", result["agent_id"])
    logger.info("all %d results in", len(ids), extra=trace.log_fields(cid))


if __name__ == "__main__":
    main()
