"""The latency probe role without Ray: figures, reset, the sent field, options, task kinds."""

from __future__ import annotations

import asyncio
import time

import pytest

from agents.agent.context import AgentContext, running_on
from agents.agent.kinds import resolve_task
from agents.behaviours import BehaviourRunner
from agents.errors import ConfigError, NotFoundError
from agents.roles import RoleContext, resolve_role
from agents.roles import probe as probe_module
from agents.roles.probe import LatencyStats, latency_probe, percentile, sent_time
from messaging.envelope import Envelope


def _ctx(agent_id: str) -> RoleContext:
    return RoleContext(agent_id, publish=lambda topic, payload: None, supervisor=lambda: None)


def _event(data: object, at: float = 0.0, kind: str = "message", subject: str = "s") -> Envelope:
    return Envelope.new("monitor", topic=f"env/x/{kind}", payload={
        "source": "x", "kind": kind, "subject": subject, "data": data, "at": at, "meta": {}})


@pytest.fixture(autouse=True)
def _no_probes_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_module, "_PROBES", {})


def test_percentile_interpolates_as_numpy() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 100.0


def test_figures_by_hand() -> None:
    stats = LatencyStats()
    for arrived, sent in [(10.0, 9.99), (10.5, 10.48), (11.0, 10.97), (12.0, None)]:
        stats.record(arrived, sent)
    f = stats.figures()
    assert (f["count"], f["samples"], f["unmeasured"]) == (4, 3, 1)
    assert (f["first_at"], f["last_at"]) == (10.0, 12.0)
    assert f["p50_ms"] == pytest.approx(20.0)   # of 10, 20 and 30 ms
    assert f["p99_ms"] == pytest.approx(29.8)
    assert f["max_ms"] == pytest.approx(30.0)
    assert f["mean_ms"] == pytest.approx(20.0)
    assert "distinct" not in f


def test_no_samples_no_percentiles() -> None:
    f = LatencyStats().figures()
    assert f["count"] == 0 and f["first_at"] is None
    assert f["p50_ms"] is None and f["p99_ms"] is None and f["max_ms"] is None


def test_the_sample_keeps_the_latest() -> None:
    stats = LatencyStats(sample=4)
    for i in range(10):
        stats.record(float(i), float(i) - (i + 1) / 1000)
    f = stats.figures()
    assert f["count"] == 10 and f["samples"] == 4
    assert f["max_ms"] == pytest.approx(10.0)
    assert sorted(stats._latencies) == pytest.approx([0.007, 0.008, 0.009, 0.010])


def test_reset_forgets_everything() -> None:
    stats = LatencyStats(distinct=True)
    stats.record(1.0, 0.5, ("created", "/a"))
    stats.reset()
    f = stats.figures()
    assert f == {"count": 0, "first_at": None, "last_at": None, "p50_ms": None, "p99_ms": None,
                 "max_ms": None, "mean_ms": None, "seen_p50_ms": None, "seen_p99_ms": None,
                 "samples": 0, "unmeasured": 0, "distinct": 0}


def test_distinct_counts_kind_and_subject_pairs() -> None:
    stats = LatencyStats(distinct=True)
    for key in [("created", "/a"), ("created", "/a"), ("created", "/b"), ("deleted", "/a")]:
        stats.record(1.0, None, key)
    assert stats.figures()["distinct"] == 3


def test_sent_time() -> None:
    assert sent_time({"data": {"sent": 3}, "at": 9.0}) == 3.0
    assert sent_time({"data": {"other": 1}, "at": 9.0}) == 9.0
    assert sent_time({"data": [1, 2], "at": 9}) == 9.0
    assert sent_time({"data": {"sent": "soon"}, "at": 9.0}) is None
    assert sent_time({"at": True}) is None
    assert sent_time("not a payload") is None
    assert sent_time({"at": 1.0, "data": {"content": {"sent": 2.0}}},
                     ["data", "content", "sent"]) == 2.0
    assert sent_time({"at": 1.0, "data": {"content": "text"}}, ["data", "content", "sent"]) is None
    assert sent_time({"at": 1.0}, ["at"]) == 1.0


def test_unknown_and_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError) as err:
        latency_probe(_ctx("p"), {"templat": "env/#"})
    assert err.value.problems[0][0] == "templat" and "template" in err.value.problems[0][1]
    for bad in ({"sample": 0}, {"inbox": "many"}, {"sent_field": "data..sent"},
                {"sent_field": 3}, {"distinct": "yes"}):
        with pytest.raises(ConfigError):
            latency_probe(_ctx("p"), bad)
    assert probe_module._PROBES == {}


def test_the_role_is_registered_and_builds_a_probe_with_its_template() -> None:
    assert resolve_role("latency_probe") is latency_probe
    [(probe, template)] = latency_probe(_ctx("p1"), {"template": "env/fs/#",
                                                     "sent_field": "data.content.sent"})
    assert probe_module._PROBES["p1"] is probe
    assert template.topic == "env/fs/#"
    assert probe.sent_field == ("data", "content", "sent")
    assert latency_probe(_ctx("p2"), {})[0][1].topic == "env/#"


def test_take_uses_the_sent_field() -> None:
    [(probe, _)] = latency_probe(_ctx("p"), {"sent_field": "data.content.sent"})
    probe.take(_event({"content": {"sent": 99.5}}, at=99.9), now=100.0)
    probe.take(_event({"path": "/a"}, at=99.9), now=100.0)
    f = probe.figures()
    assert f["count"] == 2 and f["unmeasured"] == 1 and f["dropped"] == 0
    assert f["p50_ms"] == pytest.approx(500.0)
    assert f["seen_p50_ms"] == pytest.approx(100.0) and f["seen_p99_ms"] == pytest.approx(100.0)


def test_the_behaviour_drains_what_the_runner_dispatches() -> None:
    async def main() -> dict[str, object]:
        [(probe, template)] = latency_probe(_ctx("p"), {"template": "env/x/#", "inbox": 5000})
        async with BehaviourRunner("p") as runner:
            runner.add(probe, template)
            now = time.time()
            taken = sum(runner.dispatch(_event({"sent": now}, at=now)) for _ in range(3000))
            for _ in range(200):
                if probe.stats.count == 3000:
                    break
                await asyncio.sleep(0.01)
        return {"taken": taken, **probe.figures()}

    f = asyncio.run(main())
    assert f["taken"] == 3000 and f["count"] == 3000 and f["dropped"] == 0
    assert f["unmeasured"] == 0 and f["max_ms"] is not None and f["max_ms"] < 5000


def test_task_kinds_read_and_reset_the_probe_of_the_agent_running_them() -> None:
    [(probe, _)] = latency_probe(_ctx("p"), {})
    probe.take(_event({"sent": 1.0}), now=1.25)
    figures, reset = resolve_task("probe_figures"), resolve_task("probe_reset")
    assert getattr(figures, "__raymas_inline__", False)

    async def on_agent() -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
        ctx = AgentContext("p", asyncio.get_running_loop(), lambda topic, payload: None)
        with running_on(ctx):
            return figures(), reset(), figures()

    seen, before, after = asyncio.run(on_agent())
    assert seen["count"] == 1 and seen["p50_ms"] == pytest.approx(250.0)
    assert before == seen and after["count"] == 0
    assert figures(agent_id="p")["count"] == 0
    with pytest.raises(NotFoundError, match="latency probe"):
        figures()  # no agent runs this: no probe to read
    with pytest.raises(NotFoundError):
        figures(agent_id="nobody")
