"""Environment figures: how fast and how soon events from outside reach an agent.

    python bench/interfaces.py [--quick] [--only mqtt,pg,files]

Per source two agents: a monitor holding the environment (its events go on the
bus as ``env/<name>/<kind>``) and a ``latency_probe`` agent subscribed to them,
whose figures (arrivals, first/last arrival, latency percentiles) are read with
its ``probe_figures`` task kind.  Latency is the probe's arrival time minus the
``sent`` time the publisher put in the payload (one clock: one machine).

- mqtt (Mosquitto on 127.0.0.1:1883): a QoS-0 flood from a paho publisher in a
  process of its own (messages at the probe / (last arrival - first publish)),
  and a paced stream of 1,000 msg/s for latency;
- pg (PostgreSQL on 127.0.0.1:5432, db test): 1,000 NOTIFYs/s for latency, and a
  flood of one ``pg_notify`` per row of a ``generate_series`` query;
- files: JSON files written at ~200/s (temp name + rename) into a watched
  directory (``read: json``), and a burst of 10,000 files (2,000 with --quick)
  whose ``created`` events are counted.

Baselines measured in the same run, with the same load, in the driver: a raw
paho subscriber (MQTT v5, loop_start), a raw psycopg ``conn.notifies()`` loop in
a thread, a raw watchdog Observer.  Each baseline gets its own topic, channel or
directory, run before the agents' run, so the two never compete for the cores.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import ray

from agents.supervisor.client import SupervisorClient, start_supervisor
from bench._common import emit, log, selected_parts, start

B = "interfaces"
NS = "raymas-bench"
PARTS = ("mqtt", "pg", "files")
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEBOUNCE_S = 0.05  # the files environment's default, stated so the figure says what it used


# -- the probe agent ---------------------------------------------------------------

class Probe:
    """A monitor (holding one environment) and a latency probe subscribed to its events."""

    def __init__(self, sup: SupervisorClient, tag: str, env: dict[str, Any], topic: str,
                 **options: Any) -> None:
        self.sup = sup
        self.ids = [f"probe-{tag}", f"monitor-{tag}"]
        sup.spawn([
            {"agent_id": self.ids[0], "agent_type": "analyzer", "heartbeat_interval_s": 5.0,
             "mailbox_capacity": 100_000, "subscribe": [topic], "role": "latency_probe",
             "role_options": {"template": topic, **options}},
            {"agent_id": self.ids[1], "agent_type": "monitor", "heartbeat_interval_s": 5.0,
             "environments": [env], "role": "monitor"},
        ])
        self.actor = ray.get_actor(f"raymas-agent:{self.ids[0]}", namespace=NS)
        self.monitor = ray.get_actor(f"raymas-agent:{self.ids[1]}", namespace=NS)

    def _task(self, kind: str) -> dict[str, Any]:
        return dict(ray.get(self.actor.run_task.remote(
            {"task_id": f"{kind}-{uuid.uuid4().hex}", "kind": kind, "args": {}}), timeout=60))

    def figures(self) -> dict[str, Any]:
        return self._task("probe_figures")

    def reset(self) -> None:
        self._task("probe_reset")

    def warm_up(self, send: Callable[[], Any], what: str, timeout_s: float = 30.0) -> None:
        """Send until the probe has seen something (the environment is connected and the
        subscription active), then forget it."""
        deadline = time.monotonic() + timeout_s
        while self.figures()["count"] == 0:
            if time.monotonic() > deadline:
                report: Any = ray.get(self.monitor.self_report.remote(), timeout=30)
                raise SystemExit(f"{what}: nothing reached the probe in {timeout_s:g} s; "
                                 f"monitor's report: {report}")
            send()
            time.sleep(0.2)
        time.sleep(0.5)
        self.reset()

    def wait(self, want: int, stall_s: float = 3.0, max_s: float = 120.0) -> dict[str, Any]:
        return wait_count(self.figures, want, stall_s, max_s)

    def close(self) -> None:
        for agent_id in self.ids:
            self.sup.deregister_agent(agent_id)


def wait_count(figures: Callable[[], dict[str, Any]], want: int, stall_s: float = 3.0,
               max_s: float = 120.0) -> dict[str, Any]:
    """``figures()`` once its count reaches ``want``, or has not moved for ``stall_s``."""
    deadline = time.monotonic() + max_s
    last, moved = -1, time.monotonic()
    while True:
        f = figures()
        now = time.monotonic()
        if f["count"] >= want or now > deadline:
            return f
        if f["count"] != last:
            last, moved = f["count"], now
        elif now - moved > stall_s:
            return f
        time.sleep(0.2)


class Raw:
    """What a raw client in the driver received: count, first/last arrival, latencies."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.latencies: list[float] = []
        self.seen: set[str] = set()

    def took(self, now: float, sent: float | None = None, key: str | None = None) -> None:
        self.count += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        if sent is not None:
            self.latencies.append(now - sent)
        if key is not None:
            self.seen.add(key)

    def figures(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies) * 1000
        p50, p99 = np.percentile(lat, [50, 99]) if len(lat) else (None, None)
        return {"count": self.count, "first_at": self.first_at, "last_at": self.last_at,
                "p50_ms": p50, "p99_ms": p99, "max_ms": float(lat.max()) if len(lat) else None,
                "distinct": len(self.seen)}


def paced(send: Callable[[], Any], rate: float, duration_s: float) -> int:
    """Call ``send`` ``rate`` times a second on a fixed grid for ``duration_s``."""
    n = int(rate * duration_s)
    t0 = time.perf_counter()
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send()
    return n


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def rate_of(figures: dict[str, Any], t0: float) -> float:
    """Arrivals per second from ``t0`` (the first send) to the last arrival."""
    if not figures["count"] or figures["last_at"] is None or figures["last_at"] <= t0:
        return 0.0
    return float(figures["count"] / (figures["last_at"] - t0))


def _ms(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def latency_figures(name: str, got: dict[str, Any], raw: dict[str, Any], baseline: str,
                    sent: int, **extra: Any) -> None:
    log(f"{name}: probe {got['count']}/{sent} p50 {_ms(got['p50_ms']):.2f} ms p99 "
        f"{_ms(got['p99_ms']):.2f} ms max {_ms(got['max_ms']):.2f} ms | {baseline} "
        f"{raw['count']}/{sent} p50 {_ms(raw['p50_ms']):.2f} ms p99 {_ms(raw['p99_ms']):.2f} ms"
        f" | environment -> probe p50 {_ms(got['seen_p50_ms']):.2f} ms p99 "
        f"{_ms(got['seen_p99_ms']):.2f} ms")
    if got["p50_ms"] is None:
        log(f"{name}: no latency measured at the probe: no figure")
        return
    common = {"sent": sent, "received": got["count"], "baseline_received": raw["count"],
              "max_ms": got["max_ms"] and round(got["max_ms"], 3),
              "environment_to_probe_p50_ms": got["seen_p50_ms"] and round(got["seen_p50_ms"], 3),
              "environment_to_probe_p99_ms": got["seen_p99_ms"] and round(got["seen_p99_ms"], 3),
              **extra}
    emit(B, f"{name}_p50_ms", got["p50_ms"], "ms", baseline=raw["p50_ms"],
         baseline_name=baseline, **common)
    emit(B, f"{name}_p99_ms", got["p99_ms"], "ms", baseline=raw["p99_ms"],
         baseline_name=baseline, target=50, better="lower", **common)


# -- MQTT ------------------------------------------------------------------------------

#: a QoS-0 flood of ``{"i": i}`` on argv[1], argv[2] messages; prints when it started
FLOOD_PUBLISHER = """
import json, sys, time
import paho.mqtt.client as mqtt
topic, n = sys.argv[1], int(sys.argv[2])
bodies = [json.dumps({"i": i}).encode() for i in range(n)]
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
c.connect("127.0.0.1", 1883)
c.loop_start()
t0 = time.time()
for body in bodies:
    c.publish(topic, body, qos=0)
c.loop_stop()
c.disconnect()
print(t0)
"""


def mqtt_part(sup: SupervisorClient, quick: bool) -> None:
    if not reachable(1883):
        log("mosquitto not reachable on 127.0.0.1:1883: no mqtt figures")
        return
    import paho.mqtt.client as mqtt

    tag = uuid.uuid4().hex[:6]
    n, duration = (5_000, 2.0) if quick else (20_000, 5.0)

    def client(on_message: Any = None) -> Any:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex}",
                        protocol=mqtt.MQTTv5)
        c.on_message = on_message
        c.connect("127.0.0.1", 1883)
        c.loop_start()
        return c

    raw = Raw()

    def on_raw(c: Any, userdata: Any, msg: Any) -> None:
        now = time.time()
        data = json.loads(msg.payload)
        raw.took(now, data.get("sent"))

    pub = client()
    sub = client(on_raw)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.subscribe(f"bench/{tag}/raw/#", qos=0)
    subscribed.wait(10)

    def flood(topic: str) -> float:
        """The flood comes from a process of its own, so the receiving side (the raw
        subscriber here, or the agents) does not share a core's GIL with it; returns
        when the publisher started sending."""
        out = subprocess.run([sys.executable, "-c", FLOOD_PUBLISHER, topic, str(n)],
                             capture_output=True, text=True, check=True, timeout=300)
        return float(out.stdout.split()[0])

    env = {"kind": "mqtt", "name": f"mq-{tag}", "options": {
        "host": "127.0.0.1", "port": 1883, "subscriptions": [f"bench/{tag}/agent/#"], "qos": 0,
        "persistent": False}}
    probe = Probe(sup, f"mq-{tag}", env, f"env/mq-{tag}/#")
    try:
        probe.warm_up(lambda: pub.publish(f"bench/{tag}/agent/warm", b"{}", qos=0), "mqtt")
        # the flood: raw subscriber first, then the agents
        while raw.count == 0:  # the raw subscription is active
            pub.publish(f"bench/{tag}/raw/warm", b"{}", qos=0)
            time.sleep(0.1)
        time.sleep(0.3)
        raw.reset()
        t0 = flood(f"bench/{tag}/raw/flood")
        base = wait_count(raw.figures, n)
        base_rate = rate_of(base, t0)
        t0 = flood(f"bench/{tag}/agent/flood")
        got = probe.wait(n)
        rate = rate_of(got, t0)
        ratio = rate / base_rate if base_rate else 0.0
        log(f"mqtt flood: probe {got['count']}/{n} at {rate:.0f}/s, raw paho {base['count']}/{n} "
            f"at {base_rate:.0f}/s: ratio {ratio:.2f} (issue's target >= 0.8)")
        emit(B, "mqtt_into_bus_msgs_per_s", rate, "msg/s", baseline=base_rate,
             baseline_name="raw paho subscriber", target=5000, better="higher", messages=n,
             received=got["count"], baseline_received=base["count"], ratio_target=0.8, qos=0,
             dropped_by_probe_inbox=got["dropped"])
        # latency at 1,000 msg/s
        time.sleep(1.0)
        probe.reset()
        raw.reset()

        def send(topic: str) -> Callable[[], Any]:
            return lambda: pub.publish(topic, json.dumps({"sent": time.time()}).encode(), qos=0)

        sent = paced(send(f"bench/{tag}/raw/lat"), 1000, duration)
        base = wait_count(raw.figures, sent)
        paced(send(f"bench/{tag}/agent/lat"), 1000, duration)
        got = probe.wait(sent)
        latency_figures("mqtt_event_to_agent", got, base, "raw paho subscriber", sent,
                        rate_per_s=1000, qos=0)
    finally:
        probe.close()
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()


# -- PostgreSQL --------------------------------------------------------------------------

class RawListener:
    """A raw psycopg ``LISTEN`` with ``conn.notifies()`` in a driver thread."""

    def __init__(self, channel: str) -> None:
        import psycopg

        self.raw = Raw()
        self.conn = psycopg.connect(PG_URL, autocommit=True)
        self.conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for note in self.conn.notifies(timeout=0.5):
                now = time.time()
                self.raw.took(now, json.loads(note.payload).get("sent"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


def pg_part(sup: SupervisorClient, quick: bool) -> None:
    import psycopg

    try:
        sender = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        log(f"postgres not reachable at {PG_URL}: no pg figures ({exc})")
        return
    tag = uuid.uuid4().hex[:6]
    n, duration = (5_000, 2.0) if quick else (20_000, 5.0)
    channel, raw_channel = f"bench_{tag}", f"bench_{tag}_raw"
    listener = RawListener(raw_channel)
    raw = listener.raw
    env = {"kind": "postgres", "name": f"pg-{tag}",
           "options": {"url": PG_URL, "channels": [channel]}}
    probe = Probe(sup, f"pg-{tag}", env, f"env/pg-{tag}/#")

    def notify(ch: str) -> Callable[[], Any]:
        return lambda: sender.execute("SELECT pg_notify(%s, %s)",
                                      (ch, json.dumps({"sent": time.time()})))

    flood_sql = ("SELECT pg_notify(%s, json_build_object('i', g, 'sent', "
                 "extract(epoch from clock_timestamp()))::text) FROM generate_series(1, %s) g")

    def flood(ch: str) -> float:
        t0 = time.time()
        sender.execute(flood_sql, (ch, n))
        return t0

    try:
        probe.warm_up(notify(channel), "postgres")
        while raw.count == 0:
            notify(raw_channel)()
            time.sleep(0.1)
        raw.reset()
        sent = paced(notify(raw_channel), 1000, duration)
        base = wait_count(raw.figures, sent)
        paced(notify(channel), 1000, duration)
        got = probe.wait(sent)
        latency_figures("pg_notify_to_agent", got, base, "raw psycopg conn.notifies() thread",
                        sent, rate_per_s=1000)
        time.sleep(0.5)
        raw.reset()
        probe.reset()
        t0 = flood(raw_channel)
        base = wait_count(raw.figures, n)
        base_rate = rate_of(base, t0)
        t0 = flood(channel)
        got = probe.wait(n)
        rate = rate_of(got, t0)
        log(f"pg flood: probe {got['count']}/{n} at {rate:.0f}/s, raw psycopg "
            f"{base['count']}/{n} at {base_rate:.0f}/s")
        emit(B, "pg_notify_into_bus_per_s", rate, "msg/s", baseline=base_rate,
             baseline_name="raw psycopg conn.notifies() thread", better="higher",
             notifications=n, received=got["count"], baseline_received=base["count"],
             how="one pg_notify per row of generate_series, one transaction",
             dropped_by_probe_inbox=got["dropped"])
    finally:
        probe.close()
        listener.close()
        sender.close()


# -- files ---------------------------------------------------------------------------------

class RawWatch:
    """A raw watchdog Observer on one directory: moved files' latency, created paths."""

    def __init__(self, folder: str) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        raw = self.raw = Raw()

        class Handler(FileSystemEventHandler):
            def on_moved(self, event: Any) -> None:
                now = time.time()
                try:
                    with open(event.dest_path, "rb") as f:
                        sent = json.load(f).get("sent")
                except (OSError, ValueError):
                    sent = None
                raw.took(now, sent)

            def on_created(self, event: Any) -> None:
                if not event.is_directory and not os.path.basename(event.src_path
                                                                   ).startswith("."):
                    raw.took(time.time(), None, event.src_path)

        self.observer = Observer()
        self.observer.schedule(Handler(), folder, recursive=False)
        self.observer.start()

    def close(self) -> None:
        self.observer.stop()
        self.observer.join(5)


def write_json(folder: str, i: int) -> None:
    """One JSON file carrying its send time, written under a hidden temp name and renamed."""
    name = f"f{i:06d}.json"
    tmp = os.path.join(folder, f".{name}.tmp")
    with open(tmp, "w") as f:
        json.dump({"sent": time.time()}, f)
    os.rename(tmp, os.path.join(folder, name))


def burst(folder: str, n: int) -> float:
    """Create ``n`` small files as fast as possible; the files per second it took."""
    t = time.perf_counter()
    for i in range(n):
        with open(os.path.join(folder, f"b{i:06d}.json"), "wb") as f:
            f.write(b"{}")
    return n / (time.perf_counter() - t)


def files_part(sup: SupervisorClient, quick: bool) -> None:
    tag = uuid.uuid4().hex[:6]
    duration, n = (2.0, 2_000) if quick else (5.0, 10_000)
    root = tempfile.mkdtemp(prefix=f"raymas-bench-{tag}-")
    folders = {k: os.path.join(root, k) for k in ("lat", "raw-lat", "burst", "raw-burst")}
    for folder in folders.values():
        os.makedirs(folder)
    try:
        _file_latency(sup, tag, folders["lat"], folders["raw-lat"], duration)
        _file_burst(sup, tag, folders["burst"], folders["raw-burst"], n)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _file_latency(sup: SupervisorClient, tag: str, folder: str, raw_folder: str,
                  duration: float) -> None:
    env = {"kind": "files", "name": f"fs-{tag}",
           "options": {"path": folder, "read": "json", "debounce_s": DEBOUNCE_S}}
    probe = Probe(sup, f"fs-{tag}", env, f"env/fs-{tag}/moved", sent_field="data.content.sent")
    watch = RawWatch(raw_folder)
    counter = iter(range(1, 10**9))
    try:
        probe.warm_up(lambda: write_json(folder, next(counter)), "files")
        write_json(raw_folder, 0)
        while watch.raw.count == 0:
            time.sleep(0.05)
        watch.raw.reset()
        sent = paced(lambda: write_json(raw_folder, next(counter)), 200, duration)
        base = wait_count(watch.raw.figures, sent)
        paced(lambda: write_json(folder, next(counter)), 200, duration)
        got = probe.wait(sent)
        log(f"files: debounce_s {DEBOUNCE_S} (coalesces repeated 'modified' events only; "
            f"a renamed file's 'moved' event is not held)")
        latency_figures("file_event_to_agent", got, base, "raw watchdog Observer (on_moved)",
                        sent, rate_per_s=200, debounce_s=DEBOUNCE_S, read="json",
                        how="temp name + rename")
        emit(B, "file_debounce_ms", DEBOUNCE_S * 1000, "ms", option="debounce_s",
             applies_to="repeated modified events of one path")
    finally:
        watch.close()
        probe.close()


def _file_burst(sup: SupervisorClient, tag: str, folder: str, raw_folder: str, n: int) -> None:
    env = {"kind": "files", "name": f"fsb-{tag}", "options": {"path": folder}}
    probe = Probe(sup, f"fsb-{tag}", env, f"env/fsb-{tag}/created", distinct=True)
    watch = RawWatch(raw_folder)
    try:
        probe.warm_up(lambda: Path(folder, f"warm-{uuid.uuid4().hex}").touch(), "files burst")
        raw_rate = burst(raw_folder, n)
        base = wait_count(watch.raw.figures, n, stall_s=5.0)
        t = time.perf_counter()
        rate = burst(folder, n)
        got = probe.wait(n, stall_s=5.0, max_s=180.0)
        took = time.perf_counter() - t
        log(f"files burst of {n} (created at {rate:.0f}/s; raw dir {raw_rate:.0f}/s): probe "
            f"{got['distinct']} distinct created ({got['count']} events) in {took:.1f} s; raw "
            f"watchdog {base['distinct']} distinct ({base['count']} events)")
        emit(B, f"file_burst_{n}_reported", got["distinct"], "files",
             baseline=base["distinct"], baseline_name="raw watchdog Observer (on_created)",
             target=n, better="higher", files=n, created_events=got["count"],
             seconds_to_report=round(took, 2), files_created_per_s=round(rate),
             dropped_by_probe_inbox=got["dropped"])
    finally:
        watch.close()
        probe.close()


def main() -> None:
    quick = start(__doc__ or "", PARTS)
    parts = selected_parts() or list(PARTS)
    ray.init(num_cpus=2, include_dashboard=False, namespace=NS, log_to_driver=False)
    name = f"bench-{uuid.uuid4().hex[:6]}"
    sup = SupervisorClient(start_supervisor({
        "name": name, "namespace": NS, "bus_name": f"bus-{name}", "fresh": True,
        "ledger_url": "sqlite:///.raymas/bench-interfaces.db", "heartbeat_timeout_s": 30}))
    try:
        for part, run in (("mqtt", mqtt_part), ("pg", pg_part), ("files", files_part)):
            if part in parts:
                t = time.perf_counter()
                run(sup, quick)
                log(f"{part}: {time.perf_counter() - t:.1f} s")
    finally:
        sup.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
