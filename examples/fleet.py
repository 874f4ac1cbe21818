"""A delivery fleet: robots bid their own travel for deliveries on a map.

    python examples/fleet.py                                # 6 robots, 30 deliveries, optimal
    python examples/fleet.py --strategy ssi --plot fleet.png
    python examples/fleet.py --strategy contract_net --json # the report as one JSON object
    raymas run examples/fleet.yaml                          # a fleet declared in a config

Robots start at depots on a 100 x 100 map and carry one delivery at a time.
A robot's cost for a delivery is the distance from where it stands *now*
(the cost function :func:`travel`, named ``examples.fleet:travel`` in specs
and config); a robot whose battery cannot cover the trip refuses it.
Carrying a delivery (the task kind :func:`deliver`) moves the robot there and
drains its battery, so every later round is bid from where each robot
ended.  The script prints each robot's route and the fleet's total distance;
``--plot`` draws the depots, the deliveries and each robot's route to a PNG.

Ray and a Supervisor start here (``RAY_ADDRESS=auto`` joins a running
cluster instead), and stop at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import numpy as np

from agents import MultiAgentCoordinator, TaskAllocation
from agents.agent.context import current, update_state
from agents.agent.costs import TaskInfo

#: seconds of simulated driving per map unit (a delivery across the map takes ~1 s)
SECONDS_PER_UNIT = 0.01
COST = "examples.fleet:travel"
DELIVER = "examples.fleet:deliver"


def travel(state: Mapping[str, Any], task: TaskInfo) -> tuple[float, float] | None:
    """The distance from the robot to the delivery, and the time it takes; None when
    the robot's battery cannot cover it."""
    distance = math.dist(state["position"], task.attributes["location"])
    if distance > state.get("battery", math.inf):
        return None
    return distance, distance * SECONDS_PER_UNIT


def deliver(to: Sequence[float], **_: Any) -> dict[str, Any]:
    """Drive to ``to``: the robot is there afterwards, with that much less battery."""
    robot = current()
    state: Mapping[str, Any] = robot.state if robot is not None else {"position": list(to)}
    here = list(state["position"])
    distance = math.dist(here, to)
    time.sleep(distance * SECONDS_PER_UNIT)  # the drive itself, simulated
    update_state(position=list(to), battery=state.get("battery", math.inf) - distance)
    return {"robot": robot.agent_id if robot is not None else None, "from": here,
            "to": list(to), "distance": distance, "at": time.time()}


def scenario(robots: int, deliveries: int, seed: int
             ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Depots and delivery points, uniformly on the map."""
    rng = np.random.default_rng(seed)
    depots = {f"robot-{i + 1}": [round(float(v), 1) for v in rng.random(2) * 100]
              for i in range(robots)}
    points = {f"delivery-{j + 1:03d}": [round(float(v), 1) for v in rng.random(2) * 100]
              for j in range(deliveries)}
    return depots, points


async def run(depots: Mapping[str, list[float]], points: Mapping[str, list[float]],
              strategy: str, battery: float) -> dict[str, Any]:
    """Start the robots, hand them the deliveries, and report who drove where."""
    async with MultiAgentCoordinator(strategy=strategy) as fleet:
        for robot, depot in depots.items():
            await fleet.register_agent(robot, ["delivery"], 1, cost=COST,
                                       state={"position": depot, "battery": battery})
        started = time.perf_counter()
        ids = await fleet.submit([
            TaskAllocation(task_id=name, kind=DELIVER, args={"to": at},
                           required_capabilities=["delivery"], attributes={"location": at})
            for name, at in points.items()])
        outcomes = await fleet.wait(ids, timeout_s=300)
        took = time.perf_counter() - started
    legs = sorted((o["value"] for o in outcomes.values() if o["state"] == "done"),
                  key=lambda leg: leg["at"])
    routes = {robot: [depot] for robot, depot in depots.items()}
    driven = dict.fromkeys(depots, 0.0)
    for leg in legs:
        routes[leg["robot"]].append(leg["to"])
        driven[leg["robot"]] += leg["distance"]
    return {"strategy": strategy, "robots": len(depots), "deliveries": len(points),
            "delivered": len(legs), "total_distance": round(sum(driven.values()), 1),
            "longest_route": round(max(driven.values(), default=0.0), 1),
            "seconds": round(took, 2), "routes": routes,
            "distance_by_robot": {r: round(d, 1) for r, d in driven.items()},
            "not_delivered": {t: o["state"] for t, o in outcomes.items()
                              if o["state"] != "done"}}


def plot(report: Mapping[str, Any], points: Mapping[str, list[float]], path: Path) -> None:
    """The map: depots (squares), deliveries (dots) and each robot's route, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 7))
    xs, ys = zip(*points.values(), strict=True) if points else ((), ())
    ax.scatter(xs, ys, s=18, c="black", zorder=3, label="deliveries")
    for robot, route in report["routes"].items():
        rx, ry = zip(*route, strict=True)
        line, = ax.plot(rx, ry, "-", lw=1.5, alpha=0.8,
                        label=f"{robot}: {report['distance_by_robot'][robot]}")
        ax.scatter(rx[:1], ry[:1], marker="s", s=70, color=line.get_color(), zorder=4)
    ax.set(xlim=(-2, 102), ylim=(-2, 102), aspect="equal",
           title=f"{report['strategy']}: {report['delivered']}/{report['deliveries']} "
                 f"delivered, {report['total_distance']} driven")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robots", type=int, default=6)
    parser.add_argument("--deliveries", type=int, default=30)
    parser.add_argument("--strategy", default="optimal",
                        help="optimal, ssi, cbba, contract_net, first_price, vickrey...")
    parser.add_argument("--battery", type=float, default=1000.0,
                        help="map units each robot can drive")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, help="draw the routes to this PNG")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    depots, points = scenario(args.robots, args.deliveries, args.seed)
    report = asyncio.run(run(depots, points, args.strategy, args.battery))
    if args.plot:
        plot(report, points, args.plot)
        report["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['strategy']}: {report['delivered']}/{report['deliveries']} delivered "
              f"by {report['robots']} robots in {report['seconds']} s; "
              f"{report['total_distance']} driven, longest route "
              f"{report['longest_route']}")
        for robot, route in report["routes"].items():
            print(f"  {robot}: {len(route) - 1} deliveries, "
                  f"{report['distance_by_robot'][robot]} driven")
        if args.plot:
            print(f"routes drawn to {args.plot}")
    return 0 if report["delivered"] == report["deliveries"] else 1


if __name__ == "__main__":
    sys.exit(main())
