"""The system environment on this machine: real psutil readings, real NVML (absent here)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import psutil
import pytest

from interfaces import Event, Rejected, stream
from interfaces.system import SystemEnvironment

pytestmark = pytest.mark.integration


async def wait_for(items: AsyncIterator[Event | Rejected], match: Callable[[Event], bool],
                   timeout: float = 5.0) -> Event:
    """The first event ``match`` accepts, waited for on the stream itself."""
    async def first() -> Event:
        async for item in items:
            if isinstance(item, Event) and match(item):
                return item
        raise AssertionError("the stream ended")
    return await asyncio.wait_for(first(), timeout)


def test_readings_come_every_interval_with_plausible_figures() -> None:
    async def main() -> list[Event]:
        env = SystemEnvironment("box", interval_s=0.1, per_cpu=True, gpu=False)
        await env.connect()
        items = stream(env)
        readings = [await wait_for(items, lambda e: e.kind == "reading") for _ in range(3)]
        await env.close()
        return readings

    readings = asyncio.run(main())
    ncpu = psutil.cpu_count()
    for event in readings:
        r = event.data
        assert event.source == "box" and event.subject
        assert 0.0 <= r["cpu_percent"] <= 100.0
        assert len(r["cpu_percent_per_cpu"]) == ncpu
        assert all(0.0 <= c <= 100.0 for c in r["cpu_percent_per_cpu"])
        assert r["load_avg_1m"] >= 0.0
        assert 0.0 < r["memory_percent"] < 100.0 and r["memory_used_bytes"] > 0
        assert r["memory_available_bytes"] > 0 and 0.0 <= r["swap_percent"] <= 100.0
        assert 0.0 < r["disk./.percent"] < 100.0 and r["disk./.free_bytes"] > 0
        assert r["net.bytes_recv_per_s"] >= 0.0 and r["net.packets_sent_per_s"] >= 0.0
        assert not [k for k in r if k.startswith("gpu.")]
    assert readings[0].at < readings[1].at < readings[2].at


def test_a_threshold_crosses_and_clears_when_its_limit_moves() -> None:
    async def main() -> tuple[Event, Event, dict[str, object]]:
        env = SystemEnvironment("box", interval_s=0.1, network=False, gpu=False,
                                thresholds={"memory_percent": {"above": 0.0}})
        await env.connect()
        items = stream(env)
        crossed = await wait_for(items, lambda e: e.kind == "threshold")
        assert await env.act("set_threshold", metric="memory_percent", above=100.0) == {
            "metric": "memory_percent", "above": 100.0, "clear": 100.0}
        cleared = await wait_for(items, lambda e: e.kind == "threshold")
        seen = await env.observe()
        await env.close()
        return crossed, cleared, seen

    crossed, cleared, seen = asyncio.run(main())
    assert crossed.subject == "memory_percent"
    assert crossed.data["state"] == "crossed" and crossed.data["direction"] == "above"
    assert crossed.data["limit"] == 0.0 and crossed.data["value"] > 0.0
    assert cleared.data["state"] == "cleared" and cleared.data["limit"] == 100.0
    assert seen["thresholds"] == {"memory_percent": {"above": 100.0, "clear": 100.0,
                                                     "crossed": False}}


def test_a_watched_process_burning_cpu_crosses_and_is_gone_when_it_ends() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        async def main() -> tuple[Event, Event, Event]:
            env = SystemEnvironment("box", interval_s=0.1, network=False, gpu=False,
                                    processes=[child.pid, "no-such-process-name"],
                                    thresholds={f"proc.{child.pid}.cpu_percent": {"above": 10}})
            await env.connect()
            items = stream(env)
            busy = await wait_for(items, lambda e: e.kind == "threshold")
            alive = await wait_for(items, lambda e: e.kind == "reading")
            child.kill()
            child.wait()
            gone = await wait_for(  # (a zombie until reaped, then gone)
                items, lambda e: e.kind == "reading"
                and e.data[f"proc.{child.pid}.status"] == "gone")
            await env.close()
            return busy, alive, gone

        busy, alive, gone = asyncio.run(main())
    finally:
        child.kill()
        child.wait()
    key = f"proc.{child.pid}"
    assert busy.data["metric"] == f"{key}.cpu_percent" and busy.data["state"] == "crossed"
    assert alive.data[f"{key}.alive"] is True and alive.data[f"{key}.status"] != "gone"
    assert alive.data[f"{key}.rss_bytes"] > 0 and alive.data[f"{key}.threads"] >= 1
    assert 0.0 <= alive.data[f"{key}.cpu_percent"] <= 100.0 * (psutil.cpu_count() or 1)
    assert alive.data["proc.no-such-process-name.alive"] is False
    assert alive.data["proc.no-such-process-name.count"] == 0
    assert gone.data[f"{key}.alive"] is False and f"{key}.cpu_percent" not in gone.data


def test_processes_by_name_add_up() -> None:
    async def main() -> dict[str, object]:
        name = psutil.Process().name()
        env = SystemEnvironment("box", gpu=False, network=False, processes=[name])
        await env.connect()
        reading = await env.act("sample")
        await env.close()
        return {"name": name, **reading}

    reading = asyncio.run(main())
    key = f"proc.{reading['name']}"
    assert reading[f"{key}.alive"] is True and reading[f"{key}.count"] >= 1
    assert reading[f"{key}.rss_bytes"] > 0


def nvml_devices() -> tuple[int, str]:
    """How many GPUs NVML sees here, and why none when none."""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return 0, str(exc)
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    return count, "NVML found no GPU" if count == 0 else ""


def test_without_nvidia_gpus_the_gpu_is_reported_absent_once(caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    count, why = nvml_devices()
    if count:
        pytest.skip(f"this machine has {count} NVIDIA GPU(s): the absent path needs none")

    async def main() -> tuple[dict[str, object], list[dict[str, object]]]:
        env = SystemEnvironment("box", interval_s=0.05, network=False)
        readings = []
        for _ in range(2):  # connect twice: still told once
            await env.connect()
            readings.append(await env.act("sample"))
            seen = await env.observe()
            await env.close()
        return seen, readings

    with caplog.at_level(logging.DEBUG, logger="interfaces.system"):
        seen, readings = asyncio.run(main())
    assert seen["gpu"] == {"available": False, "reason": f"NVML: {why}"}
    assert all(not [k for k in r if k.startswith("gpu.")] for r in readings)
    told = [r for r in caplog.records if r.name == "interfaces.system"]
    assert len(told) == 1 and why in told[0].getMessage()


def test_gpu_figures_where_there_is_an_nvidia_gpu() -> None:
    count, why = nvml_devices()
    if not count:
        pytest.skip(f"no NVIDIA GPU: {why}")

    async def main() -> tuple[dict[str, object], Event]:
        env = SystemEnvironment("box", interval_s=0.1, network=False,
                                thresholds={"gpu.0.memory_total_bytes": {"above": 0}})
        await env.connect()
        seen = await env.observe()
        items = stream(env)
        crossed = await wait_for(items, lambda e: e.kind == "threshold")
        await env.close()
        return seen, crossed

    seen, crossed = asyncio.run(main())
    gpu = seen["gpu"]
    assert isinstance(gpu, dict) and gpu["available"] is True and len(gpu["devices"]) == count
    first = gpu["devices"][0]
    assert first["index"] == 0 and first["name"]
    assert 0 <= first["memory_used_bytes"] <= first["memory_total_bytes"]
    assert first["memory_total_bytes"] > 0
    assert 0 <= first["utilization_percent"] <= 100
    assert 0 < first["temperature_c"] < 120
    assert crossed.data["metric"] == "gpu.0.memory_total_bytes"
