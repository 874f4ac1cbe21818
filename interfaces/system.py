"""The machine itself as an environment: CPU, memory, disks, network, chosen processes
and NVIDIA GPUs, sampled with psutil and NVML, with thresholds that do not flap.

Options (keyword-only): ``interval_s`` (sampling period, 1.0), ``disks`` (mount
points, ``["/"]``), ``network`` (rates since the last sample, True),
``processes`` (selectors: a pid, or a process name matching every process of
that name), ``gpu`` (True), ``per_cpu`` (False) and ``thresholds`` (metric →
``{"above": x}`` or ``{"below": x}``, optionally ``"clear": y``: see
:class:`Threshold`).

Events: every ``interval_s`` a ``reading`` (subject the host name) whose data
is a flat dict of figures: ``cpu_percent`` (0 to 100, the whole machine),
``cpu_percent_per_cpu`` (a list, with ``per_cpu``), ``load_avg_1m/5m/15m``,
``memory_percent``, ``memory_used_bytes``, ``memory_available_bytes``,
``swap_percent``, ``disk.<mount>.percent`` / ``used_bytes`` / ``free_bytes``
(or ``disk.<mount>.error``), ``net.bytes_sent_per_s``, ``net.bytes_recv_per_s``,
``net.packets_sent_per_s``, ``net.packets_recv_per_s``, per process selector
``proc.<sel>.alive`` / ``cpu_percent`` (100 per busy core) / ``rss_bytes`` /
``threads`` (and ``status`` for a pid, ``count`` for a name), and per GPU
``gpu.<i>.utilization_percent`` / ``memory_used_bytes`` / ``memory_total_bytes``
/ ``temperature_c``.  A ``threshold`` event (subject the metric; data
``metric``, ``value``, ``limit``, ``clear``, ``direction``, ``state``
``"crossed"`` or ``"cleared"``) follows the reading in which a metric crosses
its limit or comes back past its clear value.

Actions: ``sample`` (a reading now, returned; thresholds are checked on the
periodic readings only) and ``set_threshold`` (``metric``, ``above`` or
``below``, ``clear``; ``remove=True`` drops it).  A metric keeps its crossed
state when its threshold is changed in the same direction, so lowering or
raising a limit clears or crosses it at the next reading.

Guarantees: psutil has no connection; ``connect`` takes the first counters
(CPU, network, processes) so the first reading covers one interval, and probes
NVML.  Where NVML is missing (no library, no driver, no device) ``observe``
says ``{"gpu": {"available": False, "reason": ...}}``, readings have no
``gpu.*`` figures, and that is logged once.  A process that goes away is a
reading with ``proc.<sel>.alive`` False, not an error.  CPU figures are this
environment's own deltas, so other users of psutil in the process do not
disturb them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from interfaces.base import BadInput, Environment, EnvironmentError, Event, Rejected, require
from interfaces.thresholds import Threshold, Thresholds, cpu_busy_percent

__all__ = ["SystemEnvironment", "Threshold", "Thresholds", "cpu_busy_percent"]

logger = logging.getLogger(__name__)


class _Gpu:
    """NVML, or the reason there is none (told once)."""

    def __init__(self, enabled: bool, owner: str) -> None:
        self.enabled, self.owner = enabled, owner
        self.reason = "not probed yet (connect first)" if enabled else "turned off (gpu=False)"
        self._nvml: Any = None
        self._devices: list[tuple[Any, str]] = []
        self._told: set[str] = set()

    @property
    def available(self) -> bool:
        return bool(self._devices)

    def _tell(self, key: str, message: str, *args: Any) -> None:
        if key not in self._told:
            self._told.add(key)
            logger.info(message, *args)

    def start(self) -> None:
        if not self.enabled or self._nvml is not None:
            return
        try:
            nvml = require("pynvml", "GPU figures of the system environment", extra="gpu")
        except EnvironmentError as exc:
            self.reason = str(exc)
        else:
            try:
                nvml.nvmlInit()
            except nvml.NVMLError as exc:
                self.reason = f"NVML: {exc}"
            else:
                self._nvml = nvml
                self._devices = self._probe()
                if not self._devices:
                    self.reason = "NVML found no GPU"
                    self.stop()
        if not self.available:
            self._tell("absent", "system environment %r: no GPU figures: %s", self.owner,
                       self.reason)

    def _probe(self) -> list[tuple[Any, str]]:
        nvml, devices = self._nvml, []
        try:
            for i in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(i)
                name = nvml.nvmlDeviceGetName(handle)
                devices.append((handle, name.decode() if isinstance(name, bytes) else str(name)))
        except nvml.NVMLError as exc:
            self.reason = f"NVML: {exc}"
        return devices

    def stop(self) -> None:
        nvml, self._nvml, self._devices = self._nvml, None, []
        if nvml is not None:
            try:
                nvml.nvmlShutdown()
            except nvml.NVMLError as exc:
                logger.debug("nvmlShutdown: %s", exc)

    def read(self, out: dict[str, Any]) -> None:
        nvml = self._nvml
        for i, (handle, _) in enumerate(self._devices):
            for figure, get in (
                    ("utilization_percent", lambda h: nvml.nvmlDeviceGetUtilizationRates(h).gpu),
                    ("memory", nvml.nvmlDeviceGetMemoryInfo),
                    ("temperature_c", lambda h: nvml.nvmlDeviceGetTemperature(
                        h, nvml.NVML_TEMPERATURE_GPU))):
                try:
                    value = get(handle)
                except nvml.NVMLError as exc:  # not supported on this device, or it fell off
                    self._tell(f"{i}.{figure}", "system environment %r: GPU %d has no %s: %s",
                               self.owner, i, figure, exc)
                    continue
                if figure == "memory":
                    out[f"gpu.{i}.memory_used_bytes"] = int(value.used)
                    out[f"gpu.{i}.memory_total_bytes"] = int(value.total)
                else:
                    out[f"gpu.{i}.{figure}"] = value

    def info(self) -> dict[str, Any]:
        if not self.available:
            return {"available": False, "reason": self.reason}
        figures: dict[str, Any] = {}
        self.read(figures)
        return {"available": True, "devices": [
            {"index": i, "name": name, **{k.split(".", 2)[2]: v for k, v in figures.items()
                                         if k.startswith(f"gpu.{i}.")}}
            for i, (_, name) in enumerate(self._devices)]}


class SystemEnvironment(Environment):
    """The machine (see the module docstring)."""

    kind = "system"
    actions = ("sample", "set_threshold")
    connection_errors = (ConnectionError, OSError)

    def __init__(self, name: str, *, interval_s: float = 1.0, disks: Iterable[str] | str = ("/",),
                 network: bool = True, processes: Iterable[int | str] | int | str = (),
                 gpu: bool = True, per_cpu: bool = False,
                 thresholds: Mapping[str, Any] | None = None) -> None:
        super().__init__(name)
        where = f"system environment {name!r}"
        if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or \
                not interval_s > 0:
            raise EnvironmentError(f"{where}: interval_s must be a number > 0, got {interval_s!r}")
        self.disks = [disks] if isinstance(disks, str) else list(disks)
        if not all(isinstance(d, str) and d for d in self.disks):
            raise EnvironmentError(f"{where}: disks must be mount points, got {self.disks!r}")
        self.processes = ([processes] if isinstance(processes, int | str) else list(processes))
        for sel in self.processes:
            if isinstance(sel, bool) or not ((isinstance(sel, int) and sel > 0) or
                                             (isinstance(sel, str) and sel)):
                raise EnvironmentError(f"{where}: processes must be pids (int > 0) or process "
                                       f"names, got {sel!r}")
        for option, flag in (("network", network), ("gpu", gpu), ("per_cpu", per_cpu)):
            if not isinstance(flag, bool):
                raise EnvironmentError(f"{where}: {option} must be True or False, got {flag!r}")
        try:
            self.thresholds = Thresholds(thresholds)
        except ValueError as exc:
            raise EnvironmentError(f"{where}: thresholds: {exc}") from exc
        self.interval_s, self.network, self.per_cpu = float(interval_s), network, per_cpu
        self.host = socket.gethostname()
        self._psutil = require("psutil", "the system environment", extra="all")
        self._gpu = _Gpu(gpu, name)
        self._lock = threading.Lock()
        self._cpu: Any = None
        self._net: Any = None
        self._at = 0.0
        self._proc_cpu: dict[tuple[int, float], tuple[float, float]] = {}
        self._procs: dict[int, Any] = {}
        self.last_reading: dict[str, Any] | None = None

    async def connect(self) -> None:
        if self.state != "connected":
            await asyncio.to_thread(self._prime)
            self.state = "connected"

    def _prime(self) -> None:
        with self._lock:
            self._gpu.start()
            self._cpu = self._cpu_times()
            self._net = self._psutil.net_io_counters() if self.network else None
            self._at = time.monotonic()
            self._processes(self._at)

    async def close(self) -> None:
        self.state = "disconnected"
        await asyncio.to_thread(self._gpu.stop)

    def _cpu_times(self) -> Any:
        ps = self._psutil
        return ps.cpu_times()._asdict(), ([t._asdict() for t in ps.cpu_times(percpu=True)]
                                          if self.per_cpu else [])

    def sample(self) -> dict[str, Any]:
        """A reading now (blocking: a few reads of /proc); the counters move on."""
        ps = self._psutil
        with self._lock:
            if self._cpu is None:
                raise ConnectionError(f"system environment {self.name!r} is not connected")
            now = time.monotonic()
            elapsed = max(now - self._at, 1e-9)
            cpu, per_cpu = self._cpu_times()
            out: dict[str, Any] = {"cpu_percent": cpu_busy_percent(self._cpu[0], cpu)}
            if self.per_cpu:
                out["cpu_percent_per_cpu"] = [cpu_busy_percent(a, b)
                                              for a, b in zip(self._cpu[1], per_cpu, strict=False)]
            load = ps.getloadavg()
            out.update({"load_avg_1m": load[0], "load_avg_5m": load[1], "load_avg_15m": load[2]})
            mem, swap = ps.virtual_memory(), ps.swap_memory()
            out.update({"memory_percent": mem.percent, "memory_used_bytes": mem.used,
                        "memory_available_bytes": mem.available, "swap_percent": swap.percent})
            for mount in self.disks:
                try:
                    usage = ps.disk_usage(mount)
                except OSError as exc:
                    out[f"disk.{mount}.error"] = exc.strerror or str(exc)
                    continue
                out.update({f"disk.{mount}.percent": usage.percent,
                            f"disk.{mount}.used_bytes": usage.used,
                            f"disk.{mount}.free_bytes": usage.free})
            if self.network:
                net = ps.net_io_counters()
                for field in ("bytes_sent", "bytes_recv", "packets_sent", "packets_recv"):
                    delta = getattr(net, field) - getattr(self._net, field)
                    out[f"net.{field}_per_s"] = round(max(delta, 0) / elapsed, 1)
                self._net = net
            out.update(self._processes(now))
            self._gpu.read(out)
            self._cpu, self._at = (cpu, per_cpu), now
        return out

    def _processes(self, now: float) -> dict[str, Any]:
        """Figures per selector; a pid that is gone (or a zombie) is ``alive`` False."""
        ps, out = self._psutil, dict[str, Any]()
        by_name: dict[str, list[Any]] = {}
        if any(isinstance(s, str) for s in self.processes):
            for p in ps.process_iter(["name"]):
                by_name.setdefault(p.info["name"], []).append(p)
        seen: dict[tuple[int, float], tuple[float, float]] = {}
        for sel in self.processes:
            key = f"proc.{sel}"
            if isinstance(sel, int):
                procs = [self._procs.get(sel)]
                if procs[0] is None:
                    try:
                        procs = [self._procs.setdefault(sel, ps.Process(sel))]
                    except ps.NoSuchProcess:
                        procs = []
            else:
                procs = by_name.get(sel, [])
            figures = [f for f in (self._figures(p, now, seen) for p in procs if p) if f]
            alive = [f for f in figures if f["status"] != ps.STATUS_ZOMBIE]
            out[f"{key}.alive"] = bool(alive)
            if isinstance(sel, int):
                out[f"{key}.status"] = figures[0]["status"] if figures else "gone"
            else:
                out[f"{key}.count"] = len(alive)
            known = [f for f in alive if f["cpu_percent"] is not None]  # not access denied
            if known:
                out[f"{key}.cpu_percent"] = round(sum(f["cpu_percent"] for f in known), 1)
                out[f"{key}.rss_bytes"] = sum(f["rss_bytes"] for f in known)
                out[f"{key}.threads"] = sum(f["threads"] for f in known)
        self._proc_cpu = seen
        return out

    def _figures(self, p: Any, now: float, seen: dict[tuple[int, float], tuple[float, float]]
                 ) -> dict[str, Any] | None:
        ps, unknown = self._psutil, {"cpu_percent": None, "rss_bytes": None, "threads": None}
        try:
            if not p.is_running():  # gone, or its pid now belongs to another process
                return None
            with p.oneshot():
                status = p.status()
                ident = (p.pid, p.create_time())
                times = p.cpu_times()
                used = times.user + times.system
                rss, threads = p.memory_info().rss, p.num_threads()
        except ps.ZombieProcess:
            return {"status": ps.STATUS_ZOMBIE, **unknown}
        except ps.NoSuchProcess:
            return None
        except ps.AccessDenied:
            return {"status": "access denied", **unknown}
        before = self._proc_cpu.get(ident)
        seen[ident] = (used, now)
        if before is None:  # first sight: the average since it started
            cpu = used / max(time.time() - ident[1], 1e-3) * 100.0
        else:
            cpu = (used - before[0]) / max(now - before[1], 1e-9) * 100.0
        return {"status": status, "cpu_percent": max(cpu, 0.0), "rss_bytes": rss,
                "threads": threads}

    async def events(self) -> AsyncIterator[Event | Rejected]:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval_s
        while True:
            if self.state != "connected":
                raise ConnectionError(f"system environment {self.name!r} is not connected")
            await asyncio.sleep(max(0.0, due - loop.time()))  # the sampling period
            due = max(due + self.interval_s, loop.time())
            reading = await asyncio.to_thread(self.sample)
            self.last_reading = reading
            at = time.time()
            yield Event(self.name, "reading", reading, subject=self.host, at=at)
            for change in self.thresholds.check(reading):
                self.counts["thresholds"] += 1
                yield Event(self.name, "threshold", change, subject=change["metric"], at=at)

    async def observe(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._observe)

    def _observe(self) -> dict[str, Any]:
        ps = self._psutil
        disks = {}
        for mount in self.disks:
            try:
                usage = ps.disk_usage(mount)
                disks[mount] = {"total_bytes": usage.total, "used_bytes": usage.used,
                                "percent": usage.percent}
            except OSError as exc:
                disks[mount] = {"error": exc.strerror or str(exc)}
        return {"host": self.host, "cpu_count": ps.cpu_count(), "boot_time": ps.boot_time(),
                "memory_total_bytes": ps.virtual_memory().total, "disks": disks,
                "gpu": self._gpu.info(), "processes": list(self.processes),
                "thresholds": self.thresholds.as_dict(), "interval_s": self.interval_s,
                "last_reading": self.last_reading}

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        if action == "sample":
            return await asyncio.to_thread(self.sample)
        metric = args.get("metric")
        if args.get("remove"):
            return {"metric": metric, "removed": self.thresholds.remove(str(metric))}
        spec = {k: args[k] for k in ("above", "below", "clear") if args.get(k) is not None}
        try:
            threshold = self.thresholds.set(metric, spec)  # type: ignore[arg-type]
        except ValueError as exc:
            raise BadInput(f"set_threshold: {exc}") from exc
        return {"metric": threshold.metric, **threshold.as_dict()}
