"""Thresholds over a machine's figures, with hysteresis, and the CPU arithmetic: the
system environment's pure parts (no psutil, no NVML).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Threshold", "Thresholds", "cpu_busy_percent"]


@dataclass(frozen=True)
class Threshold:
    """A limit on one metric: ``above`` crosses when the value is over ``limit`` and
    clears once it is back at or under ``clear``; ``below`` the mirror image.
    ``clear`` (the hysteresis) defaults to ``limit``.

    >>> t = Threshold.parse("cpu_percent", {"above": 90, "clear": 80})
    >>> t.crossed_by(95), t.cleared_by(85), t.cleared_by(80)
    (True, False, True)
    """

    metric: str
    direction: str
    limit: float
    clear: float

    @classmethod
    def parse(cls, metric: Any, spec: Any) -> Threshold:
        """From ``{"above": x}`` or ``{"below": x}`` with an optional ``"clear"``;
        :class:`ValueError` naming what is wrong."""
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"a threshold's metric must be a non-empty name, got {metric!r}")
        if not isinstance(spec, Mapping):
            raise ValueError(f"threshold {metric!r}: expected a mapping like {{'above': 90}}, "
                             f"got {spec!r}")
        unknown = set(spec) - {"above", "below", "clear"}
        given = [d for d in ("above", "below") if spec.get(d) is not None]
        if unknown or len(given) != 1:
            raise ValueError(f"threshold {metric!r}: give one of 'above' or 'below' (and "
                             f"optionally 'clear'), got {dict(spec)!r}")
        direction = given[0]
        limit, clear = spec[direction], spec.get("clear")
        clear = limit if clear is None else clear
        for what, number in ((direction, limit), ("clear", clear)):
            if isinstance(number, bool) or not isinstance(number, int | float) or \
                    math.isnan(number):
                raise ValueError(f"threshold {metric!r}: {what} must be a number, "
                                 f"got {number!r}")
        if (direction == "above" and clear > limit) or (direction == "below" and clear < limit):
            side = "<=" if direction == "above" else ">="
            raise ValueError(f"threshold {metric!r}: clear ({clear}) must be {side} "
                             f"{direction} ({limit}), or the alarm would flap")
        return cls(metric, direction, float(limit), float(clear))

    def crossed_by(self, value: float) -> bool:
        return value > self.limit if self.direction == "above" else value < self.limit

    def cleared_by(self, value: float) -> bool:
        return value <= self.clear if self.direction == "above" else value >= self.clear

    def as_dict(self) -> dict[str, Any]:
        return {self.direction: self.limit, "clear": self.clear}


class Thresholds:
    """Thresholds and which are crossed now; :meth:`check` a reading for changes.

    >>> ts = Thresholds({"t": {"above": 30, "clear": 25}})
    >>> [c["state"] for v in (20, 31, 28, 31, 24) for c in ts.check({"t": v})]
    ['crossed', 'cleared']
    """

    def __init__(self, specs: Mapping[str, Any] | None = None) -> None:
        self._thresholds: dict[str, Threshold] = {}
        self._crossed: set[str] = set()
        for metric, spec in (specs or {}).items():
            self.set(metric, spec)

    def set(self, metric: str, spec: Any) -> Threshold:
        """Add or change ``metric``'s threshold (it stays crossed if the direction is the
        same: the next reading clears it if the new clear value says so)."""
        new = Threshold.parse(metric, spec)
        old = self._thresholds.get(metric)
        if old is not None and old.direction != new.direction:
            self._crossed.discard(metric)
        self._thresholds[metric] = new
        return new

    def remove(self, metric: str) -> bool:
        self._crossed.discard(metric)
        return self._thresholds.pop(metric, None) is not None

    def check(self, reading: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The crossings and clearings ``reading`` makes; a metric it lacks, or that is
        not a number, changes nothing."""
        changes = []
        for metric, t in self._thresholds.items():
            value = reading.get(metric)
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, int | float) or math.isnan(value):
                continue
            crossed = metric in self._crossed
            if not crossed and t.crossed_by(value):
                self._crossed.add(metric)
            elif crossed and t.cleared_by(value):
                self._crossed.discard(metric)
            else:
                continue
            changes.append({"metric": metric, "value": value, "limit": t.limit,
                            "clear": t.clear, "direction": t.direction,
                            "state": "cleared" if crossed else "crossed"})
        return changes

    def as_dict(self) -> dict[str, Any]:
        return {m: {**t.as_dict(), "crossed": m in self._crossed}
                for m, t in self._thresholds.items()}


def cpu_busy_percent(before: Mapping[str, float], after: Mapping[str, float]) -> float:
    """Busy CPU share between two ``cpu_times`` (as dicts), psutil's way: idle and
    iowait are idle; guest time is already in user time.

    >>> cpu_busy_percent({"user": 1, "idle": 9}, {"user": 4, "idle": 10})
    75.0
    """
    def total(t: Mapping[str, float]) -> float:
        return sum(t.values()) - t.get("guest", 0.0) - t.get("guest_nice", 0.0)

    def idle(t: Mapping[str, float]) -> float:
        return t.get("idle", 0.0) + t.get("iowait", 0.0)

    elapsed = total(after) - total(before)
    if elapsed <= 0:
        return 0.0
    busy = elapsed - (idle(after) - idle(before))
    return round(min(100.0, max(0.0, busy / elapsed * 100.0)), 1)
