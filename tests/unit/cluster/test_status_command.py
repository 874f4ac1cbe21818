"""``raymas status``: the status dict from raw answers, its JSON shape, and its tables.

No Ray here: :func:`build_status` gets what ``ray.nodes()``, the Supervisor
and the bridges would answer, written by hand, and :func:`render_status`
draws the result on a recording console.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agents.specs import TaskState
from agents.supervisor.ledger import mask_url
from cluster import status_command as sc
from cluster.cli import main
from cluster.status_command import (
    build_status,
    ledger_info,
    render_status,
)

HEAD = "a1b2c3d4" + "0" * 48
WORKER = "e5f6a7b8" + "1" * 48
DEAD = "deadbeef" + "2" * 48
GIB = 1024**3


def _agent(agent_id: str, agent_type: str, *, alive: bool = True, suspect: bool = False,
           leaving: bool | None = None, load: int = 0, capacity: int = 5) -> dict[str, Any]:
    entry = {"agent_id": agent_id, "agent_type": agent_type, "capabilities": ["execution"],
             "capacity": capacity, "load": load, "alive": alive, "suspect": suspect,
             "done": 0, "node_id": HEAD, "death": None if alive else "actor died"}
    if leaving is not None:
        entry["leaving"] = leaving
    return entry


def _node(node_id: str, ip: str, *, head: bool = False, alive: bool = True,
          cpus: float = 4.0, gpus: float = 0.0) -> dict[str, Any]:
    resources = {"CPU": cpus, "memory": 16.0 * GIB, "object_store_memory": 4.0 * GIB,
                 f"node:{ip}": 1.0}
    if gpus:
        resources["GPU"] = gpus
    if head:
        resources["node:__internal_head__"] = 1.0
    return {"NodeID": node_id, "Alive": alive, "NodeManagerAddress": ip,
            "Resources": resources}


def _raw(**over: Any) -> dict[str, Any]:
    """Answers as Ray, the Supervisor and two bridges give them."""
    raw: dict[str, Any] = dict(
        address="10.0.0.1:6379", namespace="raymas", supervisor="raymas-supervisor",
        status={"agents": 6, "alive": 5, "suspect": 1, "capacity": 25, "load": 3, "pending": 2,
                "tasks": {"done": 7, "failed": 1, "submitted": 2}, "stats": {"rounds": 4},
                "strategy": "contract_net", "ledger": "db.example:5432/raymas"},
        agents=[_agent("w1", "task_executor", load=2), _agent("w2", "task_executor", load=1),
                _agent("w3", "task_executor", suspect=True),
                _agent("w4", "task_executor", alive=False, load=9),
                _agent("a1", "analyzer", leaving=True), _agent("m1", "monitor")],
        settings={"name": "raymas-supervisor",
                  "ledger_url": "postgresql://raymas:s3cret@db.example:5432/raymas"},
        # listed out of order: the head must come first, the dead node last
        nodes=[_node(DEAD, "10.0.0.9", alive=False), _node(WORKER, "10.0.0.2", cpus=8),
               _node(HEAD, "10.0.0.1", head=True, gpus=2)],
        available={HEAD: {"CPU": 1.5, "GPU": 2.0, "memory": 15.0 * GIB,
                          "object_store_memory": 3.5 * GIB},
                   # nothing of CPU left: Ray leaves it out of the map
                   WORKER: {"memory": 16.0 * GIB, "object_store_memory": 4.0 * GIB}},
        bridges=[("raymas-bridge:redis-out", {
                      "bridge": "redis-out", "broker": "redis", "state": "connected",
                      "reconnects": 1, "out": 600, "in": 300, "duplicates": 50,
                      "lag_s_out": 0.25, "lag_s_in": 1.5, "backlog": 12, "last_error": None,
                      "loops_alive": 2}, None),
                  # a bridge from before lag was measured, with nothing moved yet
                  ("raymas-bridge:old", {"bridge": "old", "broker": "rabbitmq",
                                         "state": "reconnecting", "reconnects": 3,
                                         "loops_alive": 1}, None),
                  ("raymas-bridge:stuck", None, "no answer within 30s")],
        prefix="raymas-bridge:")
    raw.update(over)
    return raw


def test_the_json_shape_is_stable() -> None:
    data = build_status(**_raw())
    assert json.loads(json.dumps(data)) == data  # plain JSON, nothing needs default=str
    assert set(data) == {"version", "address", "namespace", "supervisor", "nodes", "agents",
                         "tasks", "bridges", "ledger", "environments", "goals"}
    assert data["version"] == sc.STATUS_VERSION == 1
    assert set(data["supervisor"]) == {"name", "strategy", "load", "capacity", "stats"}
    for node in data["nodes"]:
        assert set(node) == {"node_id", "ip", "alive", "head", "cpu", "gpu", "memory",
                             "object_store"}
        for key in ("cpu", "gpu", "memory", "object_store"):
            assert set(node[key]) == {"used", "total"}
    assert set(data["agents"]) == {"total", "by_state", "by_type"}
    assert list(data["agents"]["by_state"]) == ["alive", "suspect", "leaving", "dead"]
    for row in data["agents"]["by_type"].values():
        assert list(row) == ["alive", "suspect", "leaving", "dead", "total", "load",
                             "capacity"]
    assert set(data["tasks"]) == {"total", "pending", "by_state"}
    assert list(data["tasks"]["by_state"]) == [s.value for s in TaskState]  # zeros kept
    for bridge in data["bridges"]:
        assert set(bridge) == {"bridge", "actor", "broker", "state", "lag_s_out", "lag_s_in",
                               "backlog", "out", "in", "reconnects", "last_error", "health"}
    assert set(data["ledger"]) == {"kind", "location", "url", "pool"}


def test_agents_are_counted_by_type_and_in_exactly_one_state() -> None:
    agents = build_status(**_raw())["agents"]
    assert agents["total"] == 6
    assert agents["by_state"] == {"alive": 3, "suspect": 1, "leaving": 1, "dead": 1}
    assert agents["by_type"]["task_executor"] == {
        "alive": 2, "suspect": 1, "leaving": 0, "dead": 1, "total": 4,
        "load": 3, "capacity": 15}  # the dead one's load and capacity do not count
    assert agents["by_type"]["analyzer"]["leaving"] == 1
    assert list(agents["by_type"]) == ["analyzer", "monitor", "task_executor"]


def test_tasks_by_state_and_the_supervisor_line() -> None:
    data = build_status(**_raw())
    assert data["tasks"]["total"] == 10 and data["tasks"]["pending"] == 2
    assert {s: n for s, n in data["tasks"]["by_state"].items() if n} == {
        "submitted": 2, "done": 7, "failed": 1}
    assert data["supervisor"] == {"name": "raymas-supervisor", "strategy": "contract_net",
                                  "load": 3, "capacity": 25, "stats": {"rounds": 4}}
    # a state the ledger knows and this module does not is shown, not dropped
    odd = build_status(**_raw(status={**_raw()["status"], "tasks": {"paused": 3}}))
    assert odd["tasks"]["by_state"]["paused"] == 3 and odd["tasks"]["total"] == 3


def test_nodes_head_first_usage_is_total_minus_available_and_dead_ones_unknown() -> None:
    head, worker, dead = build_status(**_raw())["nodes"]
    assert (head["node_id"], head["head"], head["alive"]) == (HEAD, True, True)
    assert head["cpu"] == {"used": 2.5, "total": 4.0}
    assert head["gpu"] == {"used": 0.0, "total": 2.0}
    assert head["memory"] == {"used": 1.0 * GIB, "total": 16.0 * GIB}
    assert head["object_store"] == {"used": 0.5 * GIB, "total": 4.0 * GIB}
    assert worker["cpu"] == {"used": 8.0, "total": 8.0}  # left out of the map: all used
    assert worker["gpu"] == {"used": 0.0, "total": 0.0}
    assert (dead["alive"], dead["head"], dead["cpu"]) == (False, False,
                                                          {"used": None, "total": 4.0})


def test_bridges_show_lag_when_reported_and_none_when_not() -> None:
    by_id = {b["bridge"]: b for b in build_status(**_raw())["bridges"]}
    assert list(by_id) == ["old", "redis-out", "stuck"]
    new = by_id["redis-out"]
    assert (new["state"], new["lag_s_out"], new["lag_s_in"], new["backlog"]) == (
        "connected", 0.25, 1.5, 12)
    assert (new["out"], new["in"], new["actor"]) == (600, 300, "raymas-bridge:redis-out")
    assert new["health"]["duplicates"] == 50
    old = by_id["old"]
    assert (old["lag_s_out"], old["lag_s_in"], old["backlog"]) == (None, None, None)
    assert (old["out"], old["in"]) == (0, 0)  # a Counter leaves zeros out
    stuck = by_id["stuck"]
    assert (stuck["state"], stuck["last_error"], stuck["health"], stuck["out"]) == (
        "unresponsive", "no answer within 30s", None, None)


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://raymas:s3cret@db:5432/raymas", "postgresql://raymas:***@db:5432/raymas"),
    ("postgres://u:p%40ss@db/x?sslmode=require", "postgres://u:***@db/x?sslmode=require"),
    ("postgresql://u@db/x?password=s3cret&sslmode=require",
     "postgresql://u@db/x?password=***&sslmode=require"),
    ("postgresql://db/x", "postgresql://db/x"),
    ("sqlite:////var/lib/raymas/ledger.db", "sqlite:////var/lib/raymas/ledger.db"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
])
def test_urls_are_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_ledger_kind_location_and_pool() -> None:
    assert ledger_info("postgresql://raymas:s3cret@db.example:5432/raymas") == {
        "kind": "postgresql", "location": "db.example:5432/raymas",
        "url": "postgresql://raymas:***@db.example:5432/raymas", "pool": "single connection"}
    assert ledger_info("sqlite:////srv/ledger.db")["location"] == "/srv/ledger.db"
    assert ledger_info("sqlite:///:memory:")["location"] == \
        "in memory (the Supervisor's process)"
    # without settings(), the status()'s URL past its '@' is all there is
    assert build_status(**_raw(settings=None))["ledger"]["location"] == \
        "db.example:5432/raymas"


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every table row in rendered text (rich's box drawing split off)."""
    return [[c.strip() for c in line.strip().strip("│┃").split("│")]
            for line in text.splitlines() if line.strip().startswith("│")]


def _render(data: dict[str, Any]) -> str:
    console = Console(record=True, width=200, color_system=None)
    render_status(data, console)
    return console.export_text()


def test_tables_show_the_counts() -> None:
    text = _render(build_status(**_raw()))
    rows = _table_rows(text)
    assert text.startswith("raymas on Ray at 10.0.0.1:6379, namespace raymas\n"
                           "Supervisor raymas-supervisor (contract_net): load 3/25, 2 task(s) "
                           "waiting for an agent\n")
    assert ["a1b2c3d4", "10.0.0.1", "alive", "head", "2.5 / 4", "0 / 2", "1.0 GiB / 16.0 GiB",
            "512.0 MiB / 4.0 GiB"] in rows
    assert ["e5f6a7b8", "10.0.0.2", "alive", "worker", "8 / 8", "0 / 0", "0 B / 16.0 GiB",
            "0 B / 4.0 GiB"] in rows
    assert ["deadbeef", "10.0.0.9", "dead", "worker", "- / 4", "- / 0", "- / 16.0 GiB",
            "- / 4.0 GiB"] in rows
    assert "agents (6)" in text
    assert ["task_executor", "2", "1", "0", "1", "4", "3/15"] in rows
    assert ["analyzer", "0", "0", "1", "0", "1", "0/5"] in rows
    assert ["all", "3", "1", "1", "1", "6", "3/25"] in rows
    assert "tasks (10)" in text
    assert ["done", "7"] in rows and ["failed", "1"] in rows and ["submitted", "2"] in rows
    assert ["running", "0"] in rows and ["all", "10"] in rows
    assert "bridges (3)" in text
    assert ["redis-out", "redis", "connected", "0.25s", "1.50s", "12", "600", "300", "1",
            "-"] in rows
    assert ["old", "rabbitmq", "reconnecting", "-", "-", "-", "0", "0", "3", "-"] in rows
    assert ["stuck", "-", "unresponsive", "-", "-", "-", "-", "-", "-",
            "no answer within 30s"] in rows
    assert ["postgresql", "db.example:5432/raymas", "single connection"] in rows
    assert "s3cret" not in text


def test_names_are_not_read_as_markup_and_no_bridges_is_said() -> None:
    raw = _raw(agents=[_agent("x", "[bold]odd[/bold]")], bridges=[])
    text = _render(build_status(**raw))
    assert "[bold]odd[/bold]" in text
    assert "bridges: none running" in text


def test_the_cli_prints_one_json_object(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    cfg = tmp_path / "c.yaml"
    cfg.write_text("cluster: {namespace: ns}\nsupervisor: {name: sup}\nagents: [{id: a}]\n")
    data = build_status(**_raw())
    asked: list[tuple[str, str]] = []

    def collect(supervisor: str, namespace: str, **_: Any) -> dict[str, Any]:
        asked.append((supervisor, namespace))
        return data

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(sc, "collect_status", collect)
    assert main(["status", str(cfg), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out) == data
    assert asked == [("sup", "ns")]
    assert main(["status", str(cfg)]) == 0
    assert "agents (6)" in capsys.readouterr().out


def test_no_supervisor_exits_1_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    cfg = tmp_path / "c.yaml"
    cfg.write_text("supervisor: {name: nobody}\nagents: [{id: a}]\n")

    def collect(supervisor: str, namespace: str, **_: Any) -> dict[str, Any]:
        raise sc.SupervisorUnavailable(f"no Supervisor {supervisor!r} is running at x:1 "
                                       f"(namespace {namespace!r})")

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(sc, "collect_status", collect)
    assert main(["status", str(cfg), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("raymas: no Supervisor 'nobody' is running at x:1 "
                            "(namespace 'raymas')\n")


def test_environments_and_goals_come_from_the_agents_self_reports() -> None:
    agents = [{"agent_id": "m", "report": {
        "environments": [{"environment": "sensors", "kind": "mqtt", "state": "reconnecting",
                          "reconnects": 2, "published": 10, "rejected": {"flood": 3, "x": 1},
                          "last_error": "ConnectionLost: dropped"}],
        "goals": [{"goal": "drain", "status": "act", "progress": 0.5, "missed": True,
                   "replans": 3, "last_error": None}]}},
              {"agent_id": "quiet"}]
    envs, goals = sc.sensing_rows(agents)
    assert envs == [{"agent": "m", "environment": "sensors", "kind": "mqtt",
                     "state": "reconnecting", "reconnects": 2, "published": 10, "rejected": 4,
                     "last_error": "ConnectionLost: dropped"}]
    assert goals[0]["missed"] and goals[0]["progress"] == 0.5
    console = Console(record=True, width=200)
    data = build_status(**_raw(agents=agents))
    sc.render_status(data, console)
    text = console.export_text()
    assert "environments (1)" in text and "reconnecting" in text and "missed" in text
