from __future__ import annotations

from typing import Any

import pytest
import yaml

from agents.errors import ConfigError
from agents.planning import Domain, PlanError
from agents.planning.htn import plan

PIPELINE = """
name: etl
operators:
  extract: {kind: http_get, retries: 3, timeout_s: 30, resources: {num_cpus: 1}}
  transform: {effects: {"shape:{table}": clean}}
  load: {precondition: {warehouse: up}, effects: {"loaded:{table}": true}}
  notify:
  fallback_dump: {kind: write_file}
methods:
  - name: per_table
    task: ingest
    precondition: {mode: full}
    subtasks:
      - {task: extract, args: {table: "{table}"}}
      - {task: transform, args: {table: "{table}"}}
      - {task: load, args: {table: "{table}"}}
  - name: skip
    task: ingest
    precondition: {mode: quiet}
    subtasks: []
  - name: all_tables
    task: nightly
    parallel: true
    subtasks:
      - {task: ingest, args: {table: users}}
      - {task: ingest, args: {table: orders}}
  - name: when_down
    task: store
    subtasks: [fallback_dump]
"""


def domain() -> Domain:
    return Domain.from_config(yaml.safe_load(PIPELINE))


def test_config_domain_plans_a_parallel_pipeline() -> None:
    d = domain()
    assert d.name == "etl"
    g = plan(d, {"mode": "full", "warehouse": "up"}, ["nightly", "notify"])
    kinds = [n.kind for n in g.nodes.values()]
    assert kinds == ["http_get", "transform", "load"] * 2 + ["notify"]
    assert [len(level) for level in g.levels()] == [2, 2, 2, 1]
    extract = next(iter(g.nodes.values()))
    assert (extract.args, extract.retries, extract.timeout_s) == ({"table": "users"}, 3, 30)
    assert extract.resources.num_cpus == 1
    g.validate(known_kinds=d.task_kinds())


def test_config_preconditions_pick_the_method() -> None:
    d = domain()
    assert len(plan(d, {"mode": "quiet"}, [("ingest", {"table": "t"})])) == 0
    with pytest.raises(PlanError) as exc:
        plan(d, {"mode": "partial"}, [("ingest", {"table": "t"})])
    assert "every method's precondition failed: 'per_table', 'skip'" in str(exc.value)
    with pytest.raises(PlanError, match="operator 'load': precondition failed"):
        plan(d, {"mode": "full", "warehouse": "down"}, [("ingest", {"table": "t"})])


def test_methods_as_mapping_and_operators_as_list() -> None:
    d = Domain.from_config({
        "operators": [{"name": "a"}, {"name": "b", "kind": "bee"}],
        "methods": {"t": [{"subtasks": ["a", "b"]}, {"name": "other", "subtasks": ["b"]}]},
    })
    assert [m.name for m in d.methods["t"]] == ["t_0", "other"]
    assert [n.kind for n in plan(d, {}, ["t"]).nodes.values()] == ["a", "bee"]


@pytest.mark.parametrize(("config", "where", "text"), [
    ({"operators": {"a": {"kidn": "x"}}}, "operators.a.kidn", "unknown key"),
    ({"methods": [{"task": "t", "subtasks": ["ghost"]}]}, "methods[0].subtasks[0]",
     "'ghost' is neither an operator nor a compound task"),
    ({"methods": [{"subtasks": []}]}, "methods[0].task", "required"),
    ({"methods": [{"task": "t", "parallel": "yes"}]}, "methods[0].parallel", "true or false"),
    ({"methods": [{"task": "t", "precondition": ["x"]}]}, "methods[0].precondition", "mapping"),
    ({"methods": [{"task": "t", "subtasks": [{"task": "t", "argz": {}}]}]},
     "methods[0].subtasks[0]", "expected a task name"),
    ({"operators": {"a": {"resources": {"gpus": 1}}}}, "operators.a.resources", "num_gpus"),
    ({"operators": {"a": None}, "methods": [{"task": "a"}]}, "methods[0]", "primitive"),
    ({"methods": "nope"}, "methods", "must be a list"),
    ({"method": []}, "method", "unknown key"),
])
def test_config_errors_say_where(config: dict[str, Any], where: str, text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Domain.from_config(config)
    assert any(path == where and text in msg for path, msg in exc.value.problems), \
        exc.value.problems


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as exc:
        Domain.from_config({"operators": {"a": {"bad": 1}},
                            "methods": [{"task": "t", "subtasks": ["x", "y"]}]})
    paths = [p for p, _ in exc.value.problems]
    assert paths == ["operators.a.bad", "methods[0].subtasks[0]", "methods[0].subtasks[1]"]
    assert "HTN domain 'config'" in str(exc.value)
