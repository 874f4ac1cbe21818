"""Agents with environments, roles and goals on a real Ray: events reach subscribers,
bad input is dead-lettered, goals are pursued without a caller, and the self-report
reaches the Supervisor."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import ray

from tests.integration.conftest import HEARTBEAT, agent_actor, wait_until

pytestmark = pytest.mark.integration


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_an_environment_in_an_agent_publishes_its_events_and_takes_actions(
        make_supervisor: Any) -> None:
    sup = make_supervisor()
    sensor, listener = _id("sensor"), _id("listener")
    sup.spawn([
        {"agent_id": sensor, **HEARTBEAT, "environments": [
            {"kind": "memory", "name": f"plant-{sensor}", "options": {"state": {"valve": "shut"}},
             "limits": {"schema": {"t": "float"}}}]},
        {"agent_id": listener, **HEARTBEAT, "subscribe": [f"env/plant-{sensor}/#"]}])
    a, b = agent_actor({"agent_id": sensor}), agent_actor({"agent_id": listener})
    assert ray.get(a.environment_observe.remote(f"plant-{sensor}")) == {"valve": "shut"}
    ray.get(a.environment_act.remote(f"plant-{sensor}", "emit",
                                     {"kind": "reading", "data": {"t": 21.5}, "subject": "s1"}))
    ray.get(a.environment_act.remote(f"plant-{sensor}", "emit",
                                     {"kind": "reading", "data": {"t": "hot"}, "subject": "s1"}))
    got: list[dict[str, Any]] = []
    wait_until(lambda: got.extend(ray.get(b.receive.remote(10, 0.2))) or got,
               "the listener never heard the reading", timeout=20)
    [record] = got
    assert record["topic"] == f"env/plant-{sensor}/reading"
    assert record["payload"]["data"] == {"t": 21.5} and record["payload"]["subject"] == "s1"
    # the wrongly typed reading was counted and went to the dead-letter topic with its reason
    [health] = ray.get(a.self_report.remote())["environments"]
    assert health["published"] == 1
    assert health["rejected"] == {"field 't' is str, not float": 1}
    directory = ray.get_actor(sup.settings()["bus_name"],
                              namespace="raymas-test")
    dead = ray.get(directory.dead_letters.remote(100))
    [(record, reason)] = [d for d in dead if sensor in d[1] or
                          d[0].get("sender") == sensor]
    assert reason == f"environment plant-{sensor}: field 't' is str, not float"
    assert record["payload"]["data"] == {"t": "hot"}
    # the self-report travels with the heartbeat to the Supervisor
    wait_until(lambda: "report" in next(x for x in sup.list_agents() if x["agent_id"] == sensor),
               "no self-report reached the Supervisor", timeout=20)


def test_an_agent_pursues_its_goal_on_its_own_and_replans_when_the_world_moves(
        make_supervisor: Any) -> None:
    sup = make_supervisor()
    keeper = _id("keeper")
    plant = f"plant-{keeper}"
    sup.spawn([{"agent_id": keeper, **HEARTBEAT,
                "environments": [{"kind": "memory", "name": plant,
                                  "options": {"state": {"valve": "shut", "level": "high"}}}],
                "pursue": [{"name": "drain", "target": {f"{plant}.level": "low"},
                            "interval_s": 0.05, "actions": [
                    {"name": "open", "pre": {f"{plant}.valve": "shut"},
                     "effects": {f"{plant}.valve": "open"},
                     "do": {"environment": plant, "action": "set",
                            "args": {"key": "valve", "value": "open"}}},
                    {"name": "pump", "pre": {f"{plant}.valve": "open"},
                     "effects": {f"{plant}.level": "low"},
                     "do": {"environment": plant, "action": "set",
                            "args": {"key": "level", "value": "low"}}}]}]}])
    a = agent_actor({"agent_id": keeper})

    def goal() -> dict[str, Any]:
        return dict(ray.get(a.self_report.remote())["goals"][0])

    wait_until(lambda: goal()["status"] == "reached", lambda: f"not reached: {goal()}",
               timeout=20)
    assert ray.get(a.environment_observe.remote(plant)) == {"valve": "open", "level": "low"}
    # the world moves: the level rises and the valve is shut; the agent acts again alone
    ray.get(a.environment_act.remote(plant, "set", {"key": "valve", "value": "shut"}))
    ray.get(a.environment_act.remote(plant, "set", {"key": "level", "value": "high"}))
    wait_until(lambda: goal()["status"] == "reached" and goal()["actions_taken"] >= 4,
               lambda: f"not reached again: {goal()}", timeout=20)
    assert goal()["replans"] >= 2


def test_a_bad_environment_entry_fails_the_spawn_naming_it(make_supervisor: Any) -> None:
    sup = make_supervisor()
    with pytest.raises(Exception, match=r"environments\[0\].*did you mean 'memory'"):
        sup.spawn([{"agent_id": _id("bad"), **HEARTBEAT,
                    "environments": [{"kind": "memroy"}]}])


def test_a_lost_environment_is_named_by_status_and_readiness(make_supervisor: Any) -> None:
    import asyncio
    import socket

    from cluster.api.backend import ApiBackend, ApiContext
    from cluster.api.settings import ServeSection
    from cluster.status_command import sensing_rows

    with socket.socket() as s:  # a port nothing listens on: the broker is "down"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sup = make_supervisor()
    deaf = _id("deaf")
    sup.spawn([{"agent_id": deaf, **HEARTBEAT, "environments": [
        {"kind": "mqtt", "name": f"mq-{deaf}", "options": {"port": port}}]}])

    def rows() -> list[dict[str, Any]]:
        return [r for r in sensing_rows(sup.list_agents())[0] if r["agent"] == deaf]

    wait_until(lambda: rows() and rows()[0]["state"] == "reconnecting" and
               rows()[0]["reconnects"] >= 2, lambda: f"not seen reconnecting: {rows()}",
               timeout=30)
    assert "refused" in (rows()[0]["last_error"] or "").lower(), rows()
    settings = sup.settings()
    backend = ApiBackend(ApiContext(serve=ServeSection(), supervisor_name=settings["name"],
                                    namespace="raymas-test", ledger_url=settings["ledger_url"],
                                    bus_name=settings["bus_name"]))
    check = asyncio.run(backend.readiness())["environments"]
    assert not check["ok"] and f"{deaf}/mq-{deaf} (mqtt) is reconnecting" in check["detail"]
    # the agent itself is fine: alive, answering, still trying
    assert next(a for a in sup.list_agents() if a["agent_id"] == deaf)["alive"]


def test_a_goal_given_at_run_time_is_pursued_and_a_message_no_behaviour_takes_is_dead_lettered(
        make_supervisor: Any) -> None:
    sup = make_supervisor()
    worker, talker = _id("worker"), _id("talker")
    plant = f"plant-{worker}"
    sup.spawn([{"agent_id": worker, **HEARTBEAT, "role": "analyzer",
                "role_options": {"template": f"env/{plant}/#"},
                "subscribe": [f"chat-{worker}/#"],
                "environments": [{"kind": "memory", "name": plant,
                                  "options": {"state": {"lamp": "off"}}}]},
               {"agent_id": talker, **HEARTBEAT}])
    a = agent_actor({"agent_id": worker})
    first = ray.get(a.pursue.remote({"name": "light", "target": {f"{plant}.lamp": "on"},
                                     "interval_s": 0.05, "actions": [
        {"name": "switch", "effects": {f"{plant}.lamp": "on"},
         "do": {"environment": plant, "action": "set", "args": {"key": "lamp",
                                                                "value": "on"}}}]}))
    assert first["goal"] == "light"
    wait_until(lambda: ray.get(a.self_report.remote())["goals"][0]["status"] == "reached",
               "the goal given at run time was not reached", timeout=20)
    # a message on a topic the agent subscribed to, which no behaviour of its wants
    b = agent_actor({"agent_id": talker})
    ray.get(b.publish.remote(f"chat-{worker}/hello", {"hi": 1}))
    ray.get(b.flush.remote())
    directory = ray.get_actor(sup.settings()["bus_name"], namespace="raymas-test")

    def refused() -> list[Any]:
        return [d for d in ray.get(directory.dead_letters.remote(100))
                if d[0].get("topic") == f"chat-{worker}/hello"]

    wait_until(refused, "the unwanted message was not dead-lettered", timeout=20)
    assert refused()[0][1].startswith(f"no behaviour of {worker} took it")
    assert ray.get(a.self_report.remote())["unhandled"] >= 1
