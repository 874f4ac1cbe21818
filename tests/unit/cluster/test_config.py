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


def test_shipped_config_is_valid() -> None:
    cfg = load_config(ROOT / "config.yaml", env={})
    assert len(cfg.agent_specs()) >= 4 and cfg.goals


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
