from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigError
from cluster.config import load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]


def _problems(data: object, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env=env or {})  # type: ignore[arg-type]
    return dict(info.value.problems)


def test_shipped_config_is_the_monitoring_scenario() -> None:
    cfg = load_config(ROOT / "config.yaml", env={})
    roles = {s.role for s in cfg.agent_specs()}
    assert {"sensor_simulator", "monitor", "analyzer", "coordinator"} <= roles
    assert cfg.scenario is not None and cfg.scenario.ground_truth.startswith("/")
    monitor = next(s for s in cfg.agent_specs() if s.role == "monitor")
    assert {e["kind"] for e in monitor.environments} == {"files", "system"}
    # relative paths are anchored where the config is used: agents run elsewhere
    files = next(e for e in monitor.environments if e["kind"] == "files")
    assert all(p.startswith("/") for p in files["options"]["paths"])


@pytest.mark.parametrize("name", ["demo-goals.yaml", "monitoring-mqtt.yaml", "fleet.yaml"])
def test_shipped_example_configs_are_valid(name: str) -> None:
    cfg = load_config(ROOT / "examples" / name, env={})
    assert len(cfg.agent_specs()) >= 4
    assert cfg.goals if name != "monitoring-mqtt.yaml" else cfg.scenario
    if name == "fleet.yaml":  # robots at their own depots, deliveries with locations
        assert len({tuple(s.state["position"]) for s in cfg.agent_specs()}) == 4
        assert all(t.attributes["location"] == t.args["to"]
                   for t in cfg.goals[0].allocations())


def test_unknown_key_is_named_with_its_path() -> None:
    probs = _problems({"agents": [{"id": "a", "num_gpu": 1}]})
    assert "agents[0].num_gpu" in probs and "Extra inputs" in probs["agents[0].num_gpu"]


def test_wrong_type_and_impossible_value() -> None:
    probs = _problems({"agents": [{"id": "a", "count": 0, "max_tasks": "ten"}],
                       "cluster": {"num_cpus": -1}})
    assert set(probs) >= {"agents[0].count", "agents[0].max_tasks", "cluster.num_cpus"}
    assert "'ten'" in probs["agents[0].max_tasks"]


def test_cross_field_check_quotes_values() -> None:
    probs = _problems({"agents": [{"id": "a"}],
                       "supervisor": {"heartbeat_interval_s": 2, "heartbeat_timeout_s": 1}})
    assert "heartbeat_timeout_s (1.0) must exceed heartbeat_interval_s (2.0)" in probs["supervisor"]


def test_agents_required_and_unique() -> None:
    assert "agents" in _problems({})
    probs = _problems({"agents": [{"id": "a"}, {"id": "a"}]})
    assert "repeated: a" in probs["(top level)"]


def test_unknown_strategy_is_listed() -> None:
    probs = _problems({"agents": [{"id": "a"}], "supervisor": {"strategy": "auction"}})
    assert "contract_net" in probs["supervisor.strategy"]


def test_env_overrides(tmp_path: Path) -> None:
    cfg = parse_config({"agents": [{"id": "a"}]}, env={
        "RAY_ADDRESS": "10.0.0.1:6379",
        "RAYMAS_CLUSTER__NUM_CPUS": "8",
        "RAYMAS_LEDGER__URL": "postgresql://postgres@127.0.0.1/test",
        "RAYMAS_SUPERVISOR__STRATEGY": "vickrey",
    })
    assert cfg.cluster.address == "10.0.0.1:6379" and cfg.cluster.num_cpus == 8
    assert cfg.ledger.url.startswith("postgresql://") and cfg.supervisor.strategy == "vickrey"
    probs = _problems({"agents": [{"id": "a"}]}, env={"RAYMAS_CLUSTER__NUM_CPUS": "lots"})
    assert "cluster.num_cpus" in probs


def test_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: [\n")
    with pytest.raises(ConfigError, match=r"\(yaml\)"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", env={})
    bad.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(bad, env={})


def test_memory_sizes_and_gpu_auto() -> None:
    cfg = parse_config({"agents": [{"id": "g", "memory": "512MiB", "num_gpus": "auto",
                                    "count": 2}]}, env={})
    specs = cfg.agent_specs()
    assert [s.agent_id for s in specs] == ["g-1", "g-2"]
    assert specs[0].memory == 512 * 2**20 and specs[0].num_gpus == "auto"
    assert "agents[0].num_gpus" in " ".join(_problems({"agents": [{"id": "g",
                                                                    "num_gpus": "many"}]}))


def test_goal_allocations() -> None:
    cfg = parse_config({"agents": [{"id": "a"}], "goals": [{
        "name": "g", "priority": 3, "strategy": "vickrey",
        "tasks": [{"kind": "noop", "count": 2}, {"kind": "echo", "priority": 9}]}]}, env={})
    tasks = cfg.goals[0].allocations()
    assert [t.task_id for t in tasks] == ["g/0-noop-0", "g/0-noop-1", "g/1-echo-0"]
    assert [t.priority for t in tasks] == [3, 3, 9] and tasks[0].strategy == "vickrey"


def test_messaging_keys_are_checked_and_kept_secret() -> None:
    import base64

    good = "k1:" + base64.b64encode(b"\x01" * 32).decode()
    cfg = parse_config({"agents": [{"id": "a"}], "messaging": {"keys": good}}, env={})
    assert cfg.supervisor_settings().message_keys == good
    assert good not in repr(cfg)  # SecretStr: not printed
    probs = _problems({"agents": [{"id": "a"}], "messaging": {"keys": "k1:c2hvcnQ="}})
    assert "32" in probs["messaging"]


REDIS = {"kind": "redis", "url": "redis://127.0.0.1:6379/0"}


def _with_bridges(bridges: list[dict[str, object]], **messaging: object) -> dict[str, object]:
    return {"agents": [{"id": "a"}],
            "messaging": {"brokers": {"cache": REDIS}, "bridges": bridges, **messaging}}


def test_bridge_section_parses_in_by_its_yaml_key() -> None:
    cfg = parse_config(_with_bridges([
        {"id": "to-cache", "broker": "cache", "out": ["orders/#", "alerts/+/high"],
         "in": ["replies"], "group": "g1", "prefix": "acme.", "authenticate": True},
        {"id": "from-cache", "broker": "cache", "in": ["sensors"]}]), env={})
    first, second = cfg.messaging.bridges
    assert (first.id, first.broker, first.out, first.in_) == (
        "to-cache", "cache", ["orders/#", "alerts/+/high"], ["replies"])
    assert (first.group, first.prefix, first.authenticate) == ("g1", "acme.", True)
    assert (second.out, second.in_, second.group, second.prefix, second.authenticate) == (
        [], ["sensors"], "raymas-bridge", "raymas.", False)
    # the Python name is not a YAML key
    probs = _problems(_with_bridges([{"id": "b", "broker": "cache", "in_": ["x"]}]))
    assert "Extra inputs" in probs["messaging.bridges[0].in_"]


def test_bridge_naming_an_unknown_broker_names_both() -> None:
    probs = _problems(_with_bridges([{"id": "ok", "broker": "cache", "out": ["a/#"]},
                                     {"id": "lost", "broker": "cahce", "out": ["b/#"]}]))
    why = probs["messaging.bridges"]
    assert "bridges[1] ('lost')" in why and "'cahce' is not in messaging.brokers" in why
    assert "did you mean 'cache'" in why and "known: cache" in why


def test_bridge_ids_are_unique_and_checked() -> None:
    probs = _problems(_with_bridges([{"id": "b", "broker": "cache", "out": ["a/#"]},
                                     {"id": "b", "broker": "cache", "in": ["c"]}]))
    assert "repeated: b" in probs["messaging.bridges"]
    probs = _problems(_with_bridges([{"id": "a b", "broker": "cache", "out": ["a/#"]}]))
    assert "pattern" in probs["messaging.bridges[0].id"]


def test_bridges_need_the_bus() -> None:
    probs = _problems(_with_bridges([{"id": "b", "broker": "cache", "out": ["a/#"]}],
                                    bus=None))
    assert "messaging.bus is null" in probs["messaging.bridges"]
    assert parse_config({"agents": [{"id": "a"}], "messaging": {"bus": None}}, env={})


def test_bridge_topics_and_directions_are_checked() -> None:
    probs = _problems(_with_bridges([
        {"id": "b", "broker": "cache", "out": ["a/#/b"], "in": ["c/+"]},
        {"id": "idle", "broker": "cache"}]))
    assert "'#' must be a whole level and the last one" in probs["messaging.bridges[0].out[0]"]
    assert "wildcard" in probs["messaging.bridges[0].in[0]"]
    assert "'idle' moves nothing" in probs["messaging.bridges[1]"]


def test_bridges_from_the_environment() -> None:
    cfg = parse_config({"agents": [{"id": "a"}], "messaging": {"brokers": {"cache": REDIS}}},
                       env={"RAYMAS_MESSAGING__BRIDGES":
                            "[{id: b, broker: cache, in: [x]}]"})
    assert [(b.id, b.in_) for b in cfg.messaging.bridges] == [("b", ["x"])]


def test_the_commented_bridge_example_in_config_yaml_is_valid() -> None:
    import yaml

    text = (ROOT / "config.yaml").read_text()
    start = text.index("  # brokers:")
    end = text.index("\n", text.index("  #     ready_timeout_s:"))
    example = "\n".join(line.replace("  # ", "  ", 1) for line in text[start:end].splitlines())
    cfg = parse_config(yaml.safe_load(text[:start] + example + text[end:]), env={})
    [bridge] = cfg.messaging.bridges
    assert bridge.broker in cfg.messaging.brokers and bridge.out and bridge.in_


def test_shared_hosting_allows_large_groups_and_refuses_resources() -> None:
    from cluster.config import AgentGroup

    group = AgentGroup(id="boids", count=100_000, hosting="shared", agents_per_host=25_000)
    assert group.count == 100_000
    with pytest.raises(ValueError, match="at most 10,000 agents with hosting: actor"):
        AgentGroup(id="boids", count=20_000)
    with pytest.raises(ValueError, match="cannot ask for num_cpus; use hosting: actor"):
        AgentGroup(id="boids", count=2, hosting="shared", num_cpus=1)


def test_a_group_with_min_and_max_is_a_pool() -> None:
    from cluster.config import AgentGroup, parse_config

    cfg = parse_config({"agents": [
        {"id": "workers", "capabilities": ["burst"], "min": 1, "max": 8, "grow_after_s": 0.5},
        {"id": "fixed", "count": 2}]}, env={})
    assert [s.agent_id for s in cfg.agent_specs()] == ["fixed-1", "fixed-2"]
    (pool,) = cfg.pools()
    assert pool["template"]["agent_id"] == "workers" and pool["template"]["capabilities"] == [
        "burst"]
    assert (pool["min"], pool["max"], pool["grow_after_s"]) == (1, 8, 0.5)
    with pytest.raises(ValueError, match="min without max"):
        AgentGroup(id="w", min=1)
    with pytest.raises(ValueError, match=r"a pool \(min/max\) takes no count"):
        AgentGroup(id="w", count=3, max=4)
    with pytest.raises(ValueError, match=r"min \(5\) must not exceed max \(4\)"):
        AgentGroup(id="w", min=5, max=4)
