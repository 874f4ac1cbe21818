"""Flock 10,000 boid agents, each stepping on its own.

    python examples/flocking_agents.py [--agents 10000] [--steps 250] [--seed 0] [--json]
                                       [--hosted]

Every boid is an agent (:class:`swarm.flock_agents.BoidAgent`) run by a
:class:`agents.hosting.stepping.Stepper`; it sees only the boids near it. The order
parameter (``|mean heading|``) starts near 0 and climbs towards 1 as the flock forms.
In this process, no Ray; with ``--hosted``, the boids are hosted agents of a
Supervisor on an embedded Ray (one host actor; ``raymas-agent`` ids ``boid-<i>``),
stepped through :class:`agents.hosting.simulation.Simulation`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.flock_agents import flock_of


def run_flock(agents: int = 10_000, steps: int = 250, seed: int = 0,
              progress: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Build ``agents`` boid agents, step them ``steps`` times; a summary of the run.

    ``progress(step, order)`` is called every 25 steps when given.
    """
    built = time.perf_counter()
    stepper = flock_of(agents, seed=seed)
    build_s = time.perf_counter() - built
    seconds = 0.0
    for done in range(1, steps + 1):
        seconds += stepper.step().seconds
        if progress is not None and (done % 25 == 0 or done == steps):
            progress(done, stepper.data["order"][-1])
    order = stepper.data["order"]
    return {"agents": agents, "steps": steps, "seed": seed,
            "order_first": round(order[0], 4), "order_last": round(order[-1], 4),
            "steps_per_s": round(steps / seconds, 3) if seconds else None,
            "ms_per_step": round(1e3 * seconds / steps, 2) if steps else None,
            "build_s": round(build_s, 3)}


def run_hosted_flock(agents: int = 10_000, steps: int = 250, seed: int = 0
                     ) -> dict[str, Any]:
    """The same flock as hosted agents of a Supervisor on an embedded Ray; its summary."""
    import ray

    from agents.hosting.simulation import Simulation
    from agents.supervisor.client import SupervisorClient, start_supervisor

    ray.init(num_cpus=2, include_dashboard=False, namespace="flocking", log_to_driver=False)
    try:
        sup = SupervisorClient(start_supervisor({
            "name": "flocking", "namespace": "flocking", "fresh": True,
            "bus_name": "flocking-bus", "ledger_url": "sqlite:///.raymas/flocking.db"}))
        built = time.perf_counter()
        out = sup.spawn_group({"agent_id": "boid", "capabilities": ["flock"],
                               "agents_per_host": agents}, agents)
        sim = Simulation.of_supervisor(sup.handle, out["hosts"],
                                       "swarm.flock_agents:hosted_flock", seed=seed)
        build_s = time.perf_counter() - built
        stats = sim.run(steps)
        order = sim.collected("order")[0]
        sup.shutdown()
    finally:
        ray.shutdown()
    return {"agents": agents, "steps": steps, "seed": seed, "hosted": True,
            "hosts": len(out["hosts"]), "order_first": round(order[0], 4),
            "order_last": round(order[-1], 4), "steps_per_s": round(stats.steps_per_s, 3),
            "ms_per_step": round(1e3 * stats.seconds / steps, 2) if steps else None,
            "build_s": round(build_s, 3), "undelivered": len(stats.undelivered)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10_000, help="boids (default 10000)")
    parser.add_argument("--steps", type=int, default=250, help="steps (default 250)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON summary line")
    parser.add_argument("--hosted", action="store_true",
                        help="as hosted agents of a Supervisor on an embedded Ray")
    args = parser.parse_args(argv)

    def show(step: int, order: float) -> None:
        print(f"step {step:4d}  order {order:.3f}", file=sys.stderr if args.json else sys.stdout)

    summary = (run_hosted_flock(args.agents, args.steps, args.seed) if args.hosted
               else run_flock(args.agents, args.steps, args.seed, progress=show))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['agents']} boid agents: order {summary['order_first']:.3f} -> "
              f"{summary['order_last']:.3f} in {summary['steps']} steps, "
              f"{summary['ms_per_step']} ms a step")


if __name__ == "__main__":
    main()
