"""The system environment's pure parts: thresholds with hysteresis, CPU shares, options."""

from __future__ import annotations

import asyncio
import logging
import math
from types import SimpleNamespace
from typing import Any

import pytest

from interfaces import BadInput, EnvironmentError, make_environment
from interfaces.system import SystemEnvironment
from interfaces.thresholds import Threshold, Thresholds, cpu_busy_percent


def states(thresholds: Thresholds, metric: str, values: list[Any]) -> list[str | None]:
    """The change each value makes (None: no change)."""
    out: list[str | None] = []
    for value in values:
        changes = thresholds.check({metric: value})
        assert len(changes) <= 1
        out.append(changes[0]["state"] if changes else None)
    return out


@pytest.mark.parametrize(("spec", "values", "expected"), [
    # above, no hysteresis: over the limit crosses, at or under it clears
    ({"above": 10}, [5, 10, 11, 12, 10, 9, 11], [None, None, "crossed", None, "cleared", None,
                                                 "crossed"]),
    # above with a clear value: in between changes nothing either way
    ({"above": 90, "clear": 80}, [85, 91, 85, 89, 95, 80, 85, 90.5],
     [None, "crossed", None, None, None, "cleared", None, "crossed"]),
    # below, no hysteresis
    ({"below": 10}, [15, 10, 9.9, 5, 10, 11], [None, None, "crossed", None, "cleared", None]),
    # below with a clear value
    ({"below": 10, "clear": 20}, [9, 15, 19.9, 20, 15, 5],
     [ "crossed", None, None, "cleared", None, "crossed"]),
    # negative and zero limits
    ({"above": 0.0}, [0.0, 0.001, -1], [None, "crossed", "cleared"]),
    ({"below": -5, "clear": -5}, [-4, -6, -5], [None, "crossed", "cleared"]),
    # a flapping value around the limit flaps only without hysteresis
    ({"above": 50, "clear": 40}, [51, 49, 51, 49, 51], ["crossed", None, None, None, None]),
])
def test_crossing_and_clearing_with_hysteresis(spec: dict[str, float], values: list[float],
                                               expected: list[str | None]) -> None:
    assert states(Thresholds({"m": spec}), "m", values) == expected


def test_a_change_says_what_crossed_and_how() -> None:
    ts = Thresholds({"cpu_percent": {"above": 90, "clear": 80}})
    assert ts.check({"cpu_percent": 95.5, "other": 1}) == [
        {"metric": "cpu_percent", "value": 95.5, "limit": 90.0, "clear": 80.0,
         "direction": "above", "state": "crossed"}]
    assert ts.check({"cpu_percent": 70})[0]["state"] == "cleared"


def test_missing_nan_and_text_values_change_nothing_and_booleans_count_as_0_or_1() -> None:
    ts = Thresholds({"m": {"above": 1}, "alive": {"below": 1}})
    assert ts.check({}) == []
    assert ts.check({"m": math.nan, "alive": "yes"}) == []
    assert ts.check({"m": None}) == []
    assert ts.check({"m": 2})[0]["state"] == "crossed"
    assert ts.check({"m": math.nan}) == []  # stays crossed: no reading is no news
    assert ts.as_dict()["m"]["crossed"] is True
    assert ts.check({"alive": True}) == []
    assert ts.check({"alive": False}) == [
        {"metric": "alive", "value": 0, "limit": 1.0, "clear": 1.0, "direction": "below",
         "state": "crossed"}]


def test_metrics_are_independent() -> None:
    ts = Thresholds({"a": {"above": 1}, "b": {"below": 1}})
    assert [c["metric"] for c in ts.check({"a": 2, "b": 0})] == ["a", "b"]
    assert [(c["metric"], c["state"]) for c in ts.check({"a": 0, "b": 0})] == [("a", "cleared")]


def test_changing_a_limit_keeps_the_state_so_the_next_reading_decides() -> None:
    ts = Thresholds({"m": {"above": 0.0}})
    assert states(ts, "m", [5]) == ["crossed"]
    ts.set("m", {"above": 100})
    assert states(ts, "m", [5, 5]) == ["cleared", None]
    ts.set("m", {"above": 1})
    assert states(ts, "m", [5]) == ["crossed"]
    ts.set("m", {"below": 10})  # another direction: the old state means nothing
    assert ts.as_dict()["m"] == {"below": 10.0, "clear": 10.0, "crossed": False}
    assert states(ts, "m", [5]) == ["crossed"]
    assert ts.remove("m") is True and ts.remove("m") is False
    assert ts.check({"m": 5}) == [] and ts.as_dict() == {}


@pytest.mark.parametrize(("metric", "spec", "message"), [
    ("", {"above": 1}, "metric must be a non-empty name"),
    (3, {"above": 1}, "metric must be a non-empty name"),
    ("m", 5, "expected a mapping"),
    ("m", {}, "give one of 'above' or 'below'"),
    ("m", {"above": 1, "below": 0}, "give one of 'above' or 'below'"),
    ("m", {"over": 1}, "give one of 'above' or 'below'"),
    ("m", {"above": "90"}, "above must be a number, got '90'"),
    ("m", {"above": True}, "above must be a number"),
    ("m", {"below": math.nan}, "below must be a number"),
    ("m", {"above": 1, "clear": "x"}, "clear must be a number"),
    ("m", {"above": 80, "clear": 90}, r"clear \(90\) must be <= above \(80\)"),
    ("m", {"below": 20, "clear": 10}, r"clear \(10\) must be >= below \(20\)"),
])
def test_bad_thresholds_are_named(metric: Any, spec: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Threshold.parse(metric, spec)


def test_cpu_share_is_psutils_formula() -> None:
    before = {"user": 10.0, "nice": 0.0, "system": 5.0, "idle": 80.0, "iowait": 5.0,
              "guest": 2.0, "guest_nice": 0.0}
    after = {"user": 16.0, "nice": 0.0, "system": 7.0, "idle": 88.0, "iowait": 7.0,
             "guest": 3.0, "guest_nice": 0.0}
    # elapsed 19 - 1 (guest, already in user) = 18; idle+iowait 10 of it; busy 8
    assert cpu_busy_percent(before, after) == round(8 / 18 * 100, 1)
    assert cpu_busy_percent(after, after) == 0.0  # no time passed
    assert cpu_busy_percent({"user": 5.0, "idle": 5.0}, {"user": 4.0, "idle": 5.0}) == 0.0
    assert cpu_busy_percent({"user": 0.0, "idle": 0.0}, {"user": 3.0, "idle": 0.0}) == 100.0


def test_it_is_registered_as_system_with_its_defaults() -> None:
    env = make_environment("system", name="box")
    assert isinstance(env, SystemEnvironment)
    assert (env.interval_s, env.disks, env.network, env.processes) == (1.0, ["/"], True, [])
    assert env.observe is not None and env.thresholds.as_dict() == {}


@pytest.mark.parametrize(("options", "message"), [
    ({"interval_s": 0}, "interval_s must be a number > 0, got 0"),
    ({"interval_s": "1"}, "interval_s must be a number > 0"),
    ({"interval_s": True}, "interval_s must be a number > 0"),
    ({"disks": [""]}, "disks must be mount points"),
    ({"processes": [0]}, "processes must be pids .* got 0"),
    ({"processes": [True]}, "processes must be pids"),
    ({"processes": [""]}, "processes must be pids"),
    ({"processes": [1.5]}, "processes must be pids"),
    ({"network": "yes"}, "network must be True or False"),
    ({"gpu": 1}, "gpu must be True or False"),
    ({"thresholds": {"cpu_percent": {"above": 90, "clear": 95}}},
     "thresholds: threshold 'cpu_percent': clear"),
])
def test_bad_options_are_refused_by_name(options: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvironmentError, match=message):
        SystemEnvironment("box", **options)


def test_one_selector_or_one_disk_may_be_given_alone() -> None:
    env = SystemEnvironment("box", processes="nginx", disks="/var")
    assert env.processes == ["nginx"] and env.disks == ["/var"]
    assert SystemEnvironment("box", processes=42).processes == [42]


def test_set_threshold_checks_its_input() -> None:
    env = SystemEnvironment("box", gpu=False)

    async def main() -> None:
        assert await env.act("set_threshold", metric="load_avg_1m", above=4, clear=3) == {
            "metric": "load_avg_1m", "above": 4.0, "clear": 3.0}
        with pytest.raises(BadInput, match="give one of 'above' or 'below'"):
            await env.act("set_threshold", metric="load_avg_1m")
        with pytest.raises(BadInput, match=r"clear \(2\) must be <="):
            await env.act("set_threshold", metric="x", above=1, clear=2)
        assert await env.act("set_threshold", metric="load_avg_1m", remove=True) == {
            "metric": "load_avg_1m", "removed": True}
        with pytest.raises(ConnectionError, match="not connected"):
            await env.act("sample")

    asyncio.run(main())


def fake_nvml(monkeypatch: pytest.MonkeyPatch, count: int = 2) -> list[str]:
    """The real pynvml (its errors, its constants) with the driver calls answered here."""
    pynvml = pytest.importorskip("pynvml")
    calls: list[str] = []

    def temperature(handle: str, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        if handle == "h1":
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 45

    answers = {
        "nvmlInit": lambda: calls.append("init"),
        "nvmlShutdown": lambda: calls.append("shutdown"),
        "nvmlDeviceGetCount": lambda: count,
        "nvmlDeviceGetHandleByIndex": lambda i: f"h{i}",
        "nvmlDeviceGetName": lambda h: "NVIDIA H200" if h == "h0" else b"NVIDIA A100",
        "nvmlDeviceGetUtilizationRates": lambda h: SimpleNamespace(gpu=37, memory=5),
        "nvmlDeviceGetMemoryInfo": lambda h: SimpleNamespace(used=1 << 30, total=1 << 34),
        "nvmlDeviceGetTemperature": temperature,
    }
    for name, answer in answers.items():
        monkeypatch.setattr(pynvml, name, answer)
    return calls


def test_gpu_figures_per_device_and_a_missing_figure_told_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    calls = fake_nvml(monkeypatch)
    env = SystemEnvironment("box", network=False)

    async def main() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        await env.connect()
        readings = [await env.act("sample") for _ in range(3)]
        seen = await env.observe()
        await env.close()
        return readings, seen

    with caplog.at_level(logging.DEBUG, logger="interfaces.system"):
        readings, seen = asyncio.run(main())
    gpu = {k: v for k, v in readings[-1].items() if k.startswith("gpu.")}
    assert gpu == {"gpu.0.utilization_percent": 37, "gpu.0.memory_used_bytes": 1 << 30,
                   "gpu.0.memory_total_bytes": 1 << 34, "gpu.0.temperature_c": 45,
                   "gpu.1.utilization_percent": 37, "gpu.1.memory_used_bytes": 1 << 30,
                   "gpu.1.memory_total_bytes": 1 << 34}
    assert seen["gpu"] == {"available": True, "devices": [
        {"index": 0, "name": "NVIDIA H200", "utilization_percent": 37,
         "memory_used_bytes": 1 << 30, "memory_total_bytes": 1 << 34, "temperature_c": 45},
        {"index": 1, "name": "NVIDIA A100", "utilization_percent": 37,
         "memory_used_bytes": 1 << 30, "memory_total_bytes": 1 << 34}]}
    told = [r.getMessage() for r in caplog.records if r.name == "interfaces.system"]
    assert told == ["system environment 'box': GPU 1 has no temperature_c: Not Supported"]
    assert calls == ["init", "shutdown"]


def test_nvml_without_devices_or_without_a_driver_is_no_gpu(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_nvml(monkeypatch, count=0)
    env = SystemEnvironment("box", network=False)

    async def main() -> dict[str, Any]:
        await env.connect()
        reading = await env.act("sample")
        assert not [k for k in reading if k.startswith("gpu.")]
        seen = await env.observe()
        await env.close()
        return seen["gpu"]

    assert asyncio.run(main()) == {"available": False, "reason": "NVML found no GPU"}
    assert calls == ["init", "shutdown"]
    pynvml = pytest.importorskip("pynvml")

    def no_driver() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    assert asyncio.run(main()) == {"available": False, "reason": "NVML: Driver Not Loaded"}
    off = SystemEnvironment("box", gpu=False)
    assert off._gpu.info() == {"available": False, "reason": "turned off (gpu=False)"}
