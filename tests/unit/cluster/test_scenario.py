"""Scoring the monitoring scenario against its ground truth, and how raymas run shows it."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from cluster.cli import _scenario_table
from cluster.scenario import read_truth, score

TRUTH = [{"sensor": "s1", "time": 100.0}, {"sensor": "s2", "time": 200.0},
         {"sensor": "s1", "time": 300.0}]


def _incident(series: str, detected: float, source: str = "sensors",
              confirmed: bool = True) -> dict[str, object]:
    return {"series": series, "source": source, "confirmed": confirmed,
            "detected_at": detected, "recorded_at": detected + 0.1}


def test_each_anomaly_is_detected_at_most_once_within_the_window() -> None:
    incidents = [_incident("s1.value", 100.5), _incident("s1.value", 100.7),  # a repeat
                 _incident("s2.value", 209.0),  # too late: outside the window
                 _incident("s1.value", 300.2),
                 _incident("cpu", 150.0, source="machine"),  # another source: not scored
                 _incident("s2.value", 201.0, confirmed=False)]  # dismissed: not counted
    r = score(TRUTH, incidents, source="sensors", window_s=5.0)
    assert (r["true_positives"], r["false_positives"], r["missed"]) == (2, 2, 1)
    assert r["precision"] == 0.5 and r["recall"] == round(2 / 3, 4)
    assert r["detection_delay_s"]["max"] == 0.5
    assert r["reading_to_alert_s"]["p50"] == 0.45  # 0.6 and 0.3


def test_an_incident_on_another_sensor_does_not_count() -> None:
    r = score(TRUTH[:1], [_incident("s2.value", 100.1)], source="sensors", window_s=5)
    assert r["true_positives"] == 0 and r["false_positives"] == 1
    assert r["detection_delay_s"] == {"p50": None, "p95": None, "max": None}


def test_nothing_found_and_nothing_injected_has_no_ratios() -> None:
    r = score([], [], source="sensors", window_s=5)
    assert r["precision"] is None and r["recall"] is None


def test_the_ground_truth_file_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in (
        {"start": 1.0, "sensors": ["s1"]}, {"sensor": "s1", "time": 2.0, "tick": 3},
        {"done": 4.0, "readings": 10})) + "\n")
    header, anomalies, done = read_truth(path)
    assert header["sensors"] == ["s1"] and anomalies[0]["tick"] == 3
    assert done == {"done": 4.0, "readings": 10}


def test_raymas_run_shows_the_scores() -> None:
    report = {"readings": 720, "plans": 8, "plans_unfinished": 0, "plans_failed": 0,
              **score(TRUTH, [_incident("s1.value", 100.5)], source="sensors", window_s=5)}
    console = Console(record=True, width=120)
    console.print(_scenario_table(report))
    text = console.export_text()
    assert "1 / 2 / 0" in text and "recall" in text and "0.3333" in text
