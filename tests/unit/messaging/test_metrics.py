"""Recording metrics without Ray: batching, the catalogue's checks, the Supervisor's export."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.protocols import AgentView
from agents.specs import AgentSpec
from agents.supervisor.records import AgentEntry
from agents.supervisor.telemetry import SupervisorMetrics
from messaging import metrics


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    metrics.take()
    yield
    metrics.take()


def key(name: str, **tags: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(tags.items()))


def test_counters_add_up_gauges_keep_the_last_value_histograms_keep_each_observation() -> None:
    metrics.count("raymas_messages", pattern="direct")
    metrics.count("raymas_messages", 4, pattern="direct")
    metrics.set_gauge("raymas_tasks", 3, state="running")
    metrics.set_gauge("raymas_tasks", 5, state="running")
    metrics.observe("raymas_allocation_latency_s", 0.01, strategy="vickrey")
    metrics.observe("raymas_allocation_latency_s", 0.02, strategy="vickrey")
    counters, gauges, observations = metrics.take()
    assert counters == {key("raymas_messages", pattern="direct"): 5.0}
    assert gauges == {key("raymas_tasks", state="running"): 5.0}
    assert observations == {key("raymas_allocation_latency_s", strategy="vickrey"): [0.01, 0.02]}
    assert metrics.take() == ({}, {}, {})  # taken once


def test_a_name_outside_the_catalogue_or_wrong_tags_is_dropped_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    metrics.count("raymas_no_such_metric")
    metrics.count("raymas_messages", wrong_tag="x")
    metrics.set_gauge("raymas_messages", 1.0, pattern="direct")  # a counter, not a gauge
    assert metrics.pending() == {}
    assert "raymas_no_such_metric" in caplog.text


def test_declared_counters_exist_at_zero() -> None:
    metrics.declare("raymas_task_retries")
    assert metrics.pending() == {key("raymas_task_retries"): 0.0}


def test_flush_without_ray_sends_nothing_and_keeps_the_values(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_ray_up", lambda: False)  # the full suite has a Ray up
    metrics.count("raymas_messages", pattern="gossip")
    metrics.flush()
    assert metrics.pending() == {key("raymas_messages", pattern="gossip"): 1.0}


def entry(agent_id: str, alive: bool = True, suspect: bool = False) -> AgentEntry:
    spec = AgentSpec(agent_id, capabilities=["x"], max_tasks=1)
    return AgentEntry(spec, AgentView(agent_id, frozenset(["x"]), 1, alive=alive), 0.0,
                      suspect=suspect)


def test_the_supervisor_exports_states_and_only_what_happened_since_last_time() -> None:
    sm = SupervisorMetrics("vickrey")
    assert metrics.pending()[key("raymas_refusals", strategy="vickrey")] == 0.0
    metrics.take()
    agents = [entry("a"), entry("b", suspect=True), entry("c", alive=False)]
    sm.export(agents, {"done": 3, "running": 1}, {"deaths": 1, "reassigned": 2})
    counters, gauges, _ = metrics.take()
    t = "task_executor"
    assert gauges[key("raymas_agents", agent_type=t, state="alive")] == 1
    assert gauges[key("raymas_agents", agent_type=t, state="suspect")] == 1
    assert gauges[key("raymas_agents", agent_type=t, state="dead")] == 1
    assert gauges[key("raymas_tasks", state="done")] == 3
    assert gauges[key("raymas_tasks", state="failed")] == 0
    assert counters[key("raymas_tasks_finished", state="done")] == 3
    assert counters[key("raymas_agent_deaths")] == 1
    sm.export(agents, {"done": 5}, {"deaths": 1, "reassigned": 2})
    counters, gauges, _ = metrics.take()
    assert counters == {key("raymas_tasks_finished", state="done"): 2}  # the increments only
    assert gauges[key("raymas_tasks", state="running")] == 0  # emptied, not left at 1


def test_swarm_and_learning_runs_report_progress_in_batches() -> None:
    import gymnasium as gym

    from learning.tabular import QLearner
    from swarm.objectives import sphere
    from swarm.problem import Problem, Space
    from swarm.pso import PSO

    metrics.take()
    result = PSO(Problem(Space.box(-5.0, 5.0, dim=3)), sphere, rng=0).run(max_iterations=250)
    counters, gauges, _ = metrics.take()
    assert counters[key("raymas_swarm_iterations", algorithm="PSO")] == 250
    assert gauges[key("raymas_swarm_best_fitness", algorithm="PSO")] == result.best_fitness

    env = gym.make("FrozenLake-v1", is_slippery=False)
    QLearner(16, 4, rng=0).train(env, episodes=250, seed=0)
    counters, gauges, _ = metrics.take()
    assert counters[key("raymas_learning_episodes", algorithm="QLearner")] == 250
    assert key("raymas_learning_return", algorithm="QLearner") in gauges


def test_plan_nodes_that_end_are_counted_by_state() -> None:
    sm = SupervisorMetrics()
    metrics.take()
    sm.export([], {}, {"plan_nodes_done": 4, "plan_nodes_failed": 1})
    counters, _, _ = metrics.take()
    assert counters[key("raymas_plan_nodes", state="done")] == 4
    assert counters[key("raymas_plan_nodes", state="failed")] == 1
