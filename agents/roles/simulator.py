"""The sensor simulator role: the outside world of the monitoring scenario.

Every ``interval_s`` it takes one reading per sensor — ``base`` plus Gaussian
noise of ``noise`` — and at ``anomalies`` planned ticks (drawn from ``seed``,
after ``warmup_ticks``, at least ``spacing_ticks`` apart on one sensor) adds
``magnitude`` (up or down) to one sensor's reading.  The readings leave as
the scenario says:

- ``directory``: one CSV file per tick (``time,sensor,value``), written under a
  hidden temporary name and renamed, so a watcher sees only whole files;
- ``environment`` (+ ``topic``, default ``sensors/{sensor}``): published
  through that environment's ``publish`` action (an MQTT environment of this
  agent), one JSON message per reading.

The ground truth — each injected anomaly with its wall-clock time — is
appended as JSON lines to ``ground_truth``, closed by a ``{"done": ...}``
line after the last tick, so a report can score the detections.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from agents.behaviours import PeriodicBehaviour
from agents.errors import ConfigError
from agents.roles import RoleContext

__all__ = ["Simulate", "plan_anomalies", "sensor_simulator"]

_OPTIONS = {"directory", "environment", "topic", "sensors", "interval_s", "duration_s",
            "anomalies", "magnitude", "base", "noise", "seed", "ground_truth",
            "warmup_ticks", "spacing_ticks"}


def plan_anomalies(ticks: int, sensors: int, count: int, warmup: int, spacing: int,
                   rng: np.random.Generator) -> dict[int, tuple[int, float]]:
    """Tick -> (sensor, sign) for ``count`` anomalies, one per tick, ``spacing`` apart
    on a sensor.

    >>> plan = plan_anomalies(100, 2, 3, 20, 10, np.random.default_rng(0))
    >>> len(plan), all(t >= 20 for t in plan)
    (3, True)
    """
    plan: dict[int, tuple[int, float]] = {}
    for tick in (int(t) for t in rng.permutation(np.arange(warmup, ticks))):
        if len(plan) == count:
            break
        sensor = int(rng.integers(sensors))
        if any(abs(tick - t) < spacing for t, (s, _) in plan.items() if s == sensor):
            continue
        plan[tick] = (sensor, 1.0 if rng.random() < 0.5 else -1.0)
    return plan


class Simulate(PeriodicBehaviour):
    def __init__(self, ctx: RoleContext, options: Mapping[str, Any]) -> None:
        self.interval_s = float(options.get("interval_s", 0.25))
        super().__init__(self.interval_s, name="simulate")
        self.ctx = ctx
        self.directory = options.get("directory")
        self.environment = options.get("environment")
        if (self.directory is None) == (self.environment is None):
            raise ConfigError("role sensor_simulator",
                              [("directory", "give exactly one of directory or environment")])
        self.topic = str(options.get("topic", "sensors/{sensor}"))
        self.sensors = [f"s{i + 1}" for i in range(int(options.get("sensors", 4)))]
        self.ticks = int(float(options.get("duration_s", 30)) / self.interval_s)
        self.magnitude = float(options.get("magnitude", 8.0))
        self.base, self.noise = float(options.get("base", 20.0)), float(options.get("noise", 0.5))
        self.rng = np.random.default_rng(int(options.get("seed", 0)))
        self.anomalies = plan_anomalies(self.ticks, len(self.sensors),
                                        int(options.get("anomalies", 8)),
                                        int(options.get("warmup_ticks", 20)),
                                        int(options.get("spacing_ticks", 12)), self.rng)
        self.truth = str(options.get("ground_truth", ".raymas/ground_truth.jsonl"))
        self.tick = 0
        self.readings = 0
        os.makedirs(os.path.dirname(self.truth) or ".", exist_ok=True)
        with open(self.truth, "w") as f:
            f.write(json.dumps({"start": time.time(), "sensors": self.sensors,
                                "ticks": self.ticks, "interval_s": self.interval_s}) + "\n")
        if self.directory:
            os.makedirs(self.directory, exist_ok=True)

    async def run(self) -> None:
        if self.tick >= self.ticks:
            with open(self.truth, "a") as f:
                f.write(json.dumps({"done": time.time(), "readings": self.readings}) + "\n")
            self.kill()
            return
        now = time.time()
        values = self.base + self.rng.normal(0.0, self.noise, len(self.sensors))
        injected = self.anomalies.get(self.tick)
        if injected is not None:
            sensor, sign = injected
            values[sensor] += sign * self.magnitude
            with open(self.truth, "a") as f:
                f.write(json.dumps({"sensor": self.sensors[sensor], "tick": self.tick,
                                    "time": now, "value": float(values[sensor])}) + "\n")
        rows = [{"time": now, "sensor": s, "value": round(float(v), 4)}
                for s, v in zip(self.sensors, values, strict=True)]
        if self.directory:
            name = f"tick-{self.tick:06d}.csv"
            tmp = os.path.join(self.directory, f".{name}.tmp")
            with open(tmp, "w") as f:
                f.write("time,sensor,value\n")
                f.writelines(f"{r['time']:.6f},{r['sensor']},{r['value']}\n" for r in rows)
            os.replace(tmp, os.path.join(self.directory, name))
        else:
            host = self.ctx.environments[str(self.environment)]
            for r in rows:
                await host.act("publish", {"topic": self.topic.format(sensor=r["sensor"]),
                                           "payload": r, "qos": 1})
        self.readings += len(rows)
        self.tick += 1


def sensor_simulator(ctx: RoleContext, options: Mapping[str, Any]
                     ) -> list[tuple[Simulate, None]]:
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigError("role sensor_simulator",
                          [(k, f"unknown option; known: {sorted(_OPTIONS)}")
                           for k in sorted(unknown)])
    return [(Simulate(ctx, options), None)]
