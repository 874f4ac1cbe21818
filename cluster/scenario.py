"""Scoring a monitoring scenario: detections against the injected ground truth.

The simulator (:mod:`agents.roles.simulator`) writes the anomalies it
injected, with their times, as JSON lines; the act step of each response
plan records an incident (:class:`agents.roles.incidents.IncidentStore`).
:func:`score` matches them: an incident from the scored source, on the
anomaly's sensor, detected within ``window_s`` after it, detects it (each
anomaly at most once); every other confirmed incident from that source is
a false positive.  It gives precision, recall, the detection delay (anomaly
written → finding) and the end-to-end latency (anomaly written → incident
recorded and alert published), as p50/p95/max.

Example:
    >>> truth = [{"sensor": "s1", "time": 100.0}, {"sensor": "s2", "time": 200.0}]
    >>> incidents = [{"series": "s1.value", "source": "sensors", "confirmed": 1,
    ...               "detected_at": 100.2, "recorded_at": 100.5}]
    >>> r = score(truth, incidents, source="sensors", window_s=5)
    >>> r["precision"], r["recall"], r["detection_delay_s"]["p50"]
    (1.0, 0.5, 0.2)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_truth", "score", "wait_for_truth"]


def read_truth(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]],
                                           dict[str, Any] | None]:
    """The simulator's header, its injected anomalies, and its ``done`` line (or None)."""
    header: dict[str, Any] = {}
    anomalies: list[dict[str, Any]] = []
    done = None
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        if "start" in record:
            header = record
        elif "done" in record:
            done = record
        else:
            anomalies.append(record)
    return header, anomalies, done


def wait_for_truth(path: str | Path, timeout_s: float, poll_s: float = 0.2
                   ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """Read the ground truth once the simulator has written its ``done`` line (or at the
    timeout, with ``done`` None)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if Path(path).exists():
            found = read_truth(path)
            if found[2] is not None or time.monotonic() >= deadline:
                return found
        elif time.monotonic() >= deadline:
            return {}, [], None
        time.sleep(poll_s)


def _figures(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    arr = np.asarray(values)
    return {"p50": round(float(np.percentile(arr, 50)), 4),
            "p95": round(float(np.percentile(arr, 95)), 4), "max": round(float(arr.max()), 4)}


def score(truth: Sequence[Mapping[str, Any]], incidents: Sequence[Mapping[str, Any]], *,
          source: str, window_s: float) -> dict[str, Any]:
    """Precision, recall, detection delay and reading-to-alert latency (see the module)."""
    mine = sorted((i for i in incidents if i.get("source") == source and i.get("confirmed")),
                  key=lambda i: float(i.get("detected_at") or 0.0))
    used: set[int] = set()
    delays, latencies = [], []
    for anomaly in sorted(truth, key=lambda a: float(a["time"])):
        for n, inc in enumerate(mine):
            if n in used or str(inc.get("series", "")).split(".")[0] != anomaly["sensor"]:
                continue
            delay = float(inc.get("detected_at") or 0.0) - float(anomaly["time"])
            if 0.0 <= delay <= window_s:
                used.add(n)
                delays.append(delay)
                latencies.append(float(inc.get("recorded_at") or 0.0) - float(anomaly["time"]))
                break
    tp = len(used)
    fp, fn = len(mine) - tp, len(truth) - tp
    return {"injected": len(truth), "incidents": len(mine), "true_positives": tp,
            "false_positives": fp, "missed": fn,
            "precision": round(tp / len(mine), 4) if mine else None,
            "recall": round(tp / len(truth), 4) if truth else None,
            "detection_delay_s": _figures(delays), "reading_to_alert_s": _figures(latencies)}
