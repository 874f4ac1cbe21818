"""The monitoring scenario end to end over MQTT (Mosquitto) and PostgreSQL, as
``examples/monitoring-mqtt.yaml`` runs it, shortened: readings published on MQTT,
observed, analysed, answered by plans allocated by contract net, incidents recorded
in PostgreSQL and alerts published; the report scores it against the ground truth."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.config import parse_config
from cluster.runner import run
from tests.conftest import require_service
from tests.integration.conftest import HEARTBEAT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PG = "postgresql://postgres@127.0.0.1:5432/test"


def test_the_mqtt_and_postgres_scenario_detects_the_injected_anomalies(
        ray_cluster: Any, tmp_path: Path) -> None:
    require_service("mqtt")
    require_service("postgres")
    tag = uuid.uuid4().hex[:6]
    data = yaml.safe_load((ROOT / "examples" / "monitoring-mqtt.yaml").read_text())
    data["cluster"] = {"namespace": "raymas-test"}
    data["supervisor"].update({"name": f"sup-{tag}", **HEARTBEAT})
    data["messaging"] = {"bus": f"bus-{tag}"}
    data["ledger"] = {"url": f"sqlite:///{tmp_path}/ledger.db"}
    data["report"] = {"path": str(tmp_path / "report.json")}
    truth = str(tmp_path / "truth.jsonl")
    data["scenario"].update({"ground_truth": truth, "timeout_s": 60})
    for group in data["agents"]:
        group["id"] = f"{group['id']}-{tag}"
        for env in group.get("environments", []):
            env["options"]["client_id"] = f"raymas-{env['name']}-{tag}"
        if group.get("role") == "sensor_simulator":
            group["role_options"].update({"duration_s": 16, "anomalies": 4,
                                          "topic": f"sensors-{tag}/{{sensor}}",
                                          "ground_truth": truth})
        if group.get("role") == "monitor":
            group["environments"][0]["options"]["subscriptions"] = [f"sensors-{tag}/#"]
    cfg = parse_config(data, env={})
    report = run(cfg)
    sc = report["scenario"]
    assert sc["simulator_done"] and sc["readings"] == 4 * 64
    assert sc["injected"] == 4
    assert sc["recall"] >= 0.75 and sc["precision"] >= 0.75, sc
    assert sc["plans"] >= sc["true_positives"] and sc["plans_failed"] == 0
    assert sc["reading_to_alert_s"]["max"] < 5.0
    # the incidents are in PostgreSQL, recorded by the responders that won the act steps
    import psycopg

    with psycopg.connect(PG) as conn:
        rows = conn.execute("SELECT agent_id, confirmed FROM raymas_incidents").fetchall()
    assert len(rows) == sc["incidents"] + sc["incidents_other_sources"]
    assert all(agent and agent.startswith(f"responder-{tag}") for agent, _ in rows)
    # the monitor's self-report reached the Supervisor: its environment is connected
    monitor = next(a for a in report["agents"] if a["agent_id"] == f"monitor-{tag}")
    [health] = monitor["report"]["environments"]
    assert health["kind"] == "mqtt" and health["state"] == "connected"
    assert health["published"] >= 4 * 60 and health["rejected"] == {}
