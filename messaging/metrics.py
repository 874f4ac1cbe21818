"""raymas's metrics: Ray's metrics API (``ray.util.metrics``), recorded cheaply, sent in batches.

Every metric raymas exports is declared once, in :data:`CATALOGUE` (name,
kind, description, tag keys, histogram boundaries).  Code records with
:func:`count`, :func:`set_gauge` and :func:`observe`: a dictionary update in
this process, under a lock, with no Ray call.  A daemon thread (started by
the first record in a process where Ray is initialised) sends what was
recorded to ``ray.util.metrics`` objects every ``RAYMAS_METRICS_INTERVAL_S``
seconds (default 1.0); Ray's metrics agent on each node serves them to
Prometheus, named ``ray_`` + the name here (Ray's prefix; counters get
``_total``), with Ray's own labels (node, worker, session) besides the tags.
``RAYMAS_METRICS=0`` turns recording off (for measuring what it costs).

Recording never raises: an unknown metric name or a missing tag is a
programming error, so it is logged once and the value dropped, not a
failure of the task or message being counted.

Example:
    >>> count("raymas_messages", pattern="direct")
    >>> pending()[("raymas_messages", (("pattern", "direct"),))]
    1.0
    >>> _ = take()
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CATALOGUE", "MetricSpec", "count", "declare", "flush", "observe", "pending",
           "set_gauge", "take"]

logger = logging.getLogger(__name__)

_LATENCY_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@dataclass(frozen=True)
class MetricSpec:
    kind: str  # "counter" | "gauge" | "histogram"
    description: str
    tags: tuple[str, ...] = ()
    boundaries: tuple[float, ...] = ()


#: Every metric raymas exports; the Grafana dashboard in ``cluster/deploy`` queries these.
CATALOGUE: dict[str, MetricSpec] = {
    # -- agents and tasks (the Supervisor, every interval) --------------------------------
    "raymas_agents": MetricSpec("gauge", "Agents known to the Supervisor, by type and state "
                                "(alive, suspect, dead, leaving)", ("agent_type", "state")),
    "raymas_tasks": MetricSpec("gauge", "Tasks in the Supervisor's book, by state",
                               ("state",)),
    "raymas_tasks_finished": MetricSpec("counter", "Tasks that ended, by outcome",
                                        ("state",)),
    "raymas_task_retries": MetricSpec("counter", "Failed attempts retried", ()),
    "raymas_task_reassignments": MetricSpec(
        "counter", "Tasks taken back from an agent and queued again (death, refusal)", ()),
    "raymas_agent_deaths": MetricSpec("counter", "Agents whose actor Ray reported dead", ()),
    # -- allocation (per round) ------------------------------------------------------------
    "raymas_allocation_latency_s": MetricSpec(
        "histogram", "Seconds from a round's call for proposals to its awards",
        ("strategy",), _LATENCY_S),
    "raymas_allocation_round_size": MetricSpec(
        "histogram", "Tasks offered in one allocation round", ("strategy",), _SIZES),
    "raymas_allocation_awards": MetricSpec("counter", "Tasks awarded in allocation rounds",
                                           ("strategy",)),
    "raymas_proposals": MetricSpec("counter", "Proposals (bids) received in allocation rounds",
                                   ("strategy",)),
    "raymas_refusals": MetricSpec("counter", "Refusals received in allocation rounds",
                                  ("strategy",)),
    # -- messaging -------------------------------------------------------------------------
    "raymas_messages": MetricSpec("counter", "Envelopes sent, by pattern (direct, broadcast, "
                                  "publish, request, reply, gossip)", ("pattern",)),
    "raymas_dead_letters": MetricSpec("counter", "Undeliverable envelopes, by reason",
                                      ("reason",)),
    "raymas_mailbox_depth": MetricSpec(
        "gauge", "Envelopes waiting in the mailboxes of alive agents, by type (from their "
        "heartbeats)", ("agent_type",)),
    "raymas_bridge_messages": MetricSpec(
        "counter", "Envelopes a bridge moved, by direction (out: bus to broker, in: broker "
        "to bus)", ("bridge", "direction")),
    "raymas_bridge_lag_s": MetricSpec(
        "gauge", "Age in seconds of the last envelope a bridge moved when it moved it",
        ("bridge", "direction")),
    "raymas_bridge_backlog": MetricSpec("gauge", "Envelopes waiting in a bridge to go out",
                                        ("bridge",)),
    # -- planning, swarms, learning --------------------------------------------------------
    "raymas_plan_nodes": MetricSpec("counter", "Plan nodes that ended, by state",
                                    ("state",)),
    "raymas_swarm_iterations": MetricSpec("counter", "Swarm optimiser iterations",
                                          ("algorithm",)),
    "raymas_swarm_best_fitness": MetricSpec(
        "gauge", "Best fitness the latest swarm run of an algorithm has found, in this "
        "process", ("algorithm",)),
    "raymas_learning_episodes": MetricSpec("counter", "Training episodes run", ("algorithm",)),
    "raymas_learning_return": MetricSpec(
        "gauge", "Mean return of the latest training episodes of an algorithm, in this process",
        ("algorithm",)),
}

_Key = tuple[str, tuple[tuple[str, str], ...]]


class _Recorder:
    """This process's pending values: counters summed, gauges last-wins, histogram lists."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[_Key, float] = {}
        self.gauges: dict[_Key, float] = {}
        self.observations: dict[_Key, list[float]] = {}
        self.warned: set[str] = set()
        self.thread: threading.Thread | None = None
        self.enabled = os.environ.get("RAYMAS_METRICS", "1") not in ("0", "false", "off")
        self.interval_s = float(os.environ.get("RAYMAS_METRICS_INTERVAL_S", "1.0"))

    def key(self, name: str, kind: str, tags: Mapping[str, Any]) -> _Key | None:
        spec = CATALOGUE.get(name)
        if spec is None or spec.kind != kind or set(tags) != set(spec.tags):
            if name not in self.warned:
                self.warned.add(name)
                logger.error("metric %s: not a %s with tags %s in the catalogue; dropped",
                             name, kind, sorted(tags))
            return None
        return name, tuple((k, str(tags[k])) for k in spec.tags)

    def started(self) -> None:
        if self.thread is None and _ray_up():
            self.thread = threading.Thread(target=self._loop, name="raymas-metrics",
                                           daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.interval_s):
            try:
                flush()
            except Exception:  # metrics never take a process down
                logger.exception("sending metrics to Ray failed")


_REC = _Recorder()


def _ray_up() -> bool:
    import sys

    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def _record(kind: str, name: str, tags: Mapping[str, Any],
            update: Callable[[_Key], None]) -> None:
    """Check ``name`` and ``tags`` against the catalogue, then ``update`` under the lock."""
    if not _REC.enabled:
        return
    key = _REC.key(name, kind, tags)
    if key is None:
        return
    with _REC.lock:
        update(key)
    if _REC.thread is None:
        _REC.started()


def count(name: str, value: float = 1.0, **tags: Any) -> None:
    """Add ``value`` to a counter."""
    def add(key: _Key) -> None:
        _REC.counters[key] = _REC.counters.get(key, 0.0) + value

    _record("counter", name, tags, add)


def declare(name: str, **tags: Any) -> None:
    """Make a counter's series exist at 0 before its first event.

    Prometheus's convention: a label set that will be counted is exported from the
    start, so ``rate()`` and dashboards see 0, not "no data", until something happens.
    """
    count(name, 0.0, **tags)


def set_gauge(name: str, value: float, **tags: Any) -> None:
    """Set a gauge (the last value set before a flush is the one sent)."""
    def put(key: _Key) -> None:
        _REC.gauges[key] = float(value)

    _record("gauge", name, tags, put)


def observe(name: str, value: float, **tags: Any) -> None:
    """Record one observation in a histogram."""
    def append(key: _Key) -> None:
        _REC.observations.setdefault(key, []).append(float(value))

    _record("histogram", name, tags, append)


def pending() -> dict[_Key, Any]:
    """What would be sent now (counters, gauges and observation lists), for tests."""
    with _REC.lock:
        return {**_REC.counters, **_REC.gauges, **{k: list(v) for k, v in
                                                   _REC.observations.items()}}


def take() -> tuple[dict[_Key, float], dict[_Key, float], dict[_Key, list[float]]]:
    """Take (and clear) what was recorded since the last flush."""
    with _REC.lock:
        out = (_REC.counters, _REC.gauges, _REC.observations)
        _REC.counters, _REC.gauges, _REC.observations = {}, {}, {}
    return out


_RAY_METRICS: dict[str, Any] = {}


def _metric(name: str) -> Any:
    metric = _RAY_METRICS.get(name)
    if metric is None:
        from ray.util import metrics

        spec = CATALOGUE[name]
        if spec.kind == "counter":
            metric = metrics.Counter(name, description=spec.description, tag_keys=spec.tags)
        elif spec.kind == "gauge":
            metric = metrics.Gauge(name, description=spec.description, tag_keys=spec.tags)
        else:
            metric = metrics.Histogram(name, description=spec.description,
                                       boundaries=list(spec.boundaries), tag_keys=spec.tags)
        _RAY_METRICS[name] = metric
    return metric


def flush() -> None:
    """Send what was recorded to Ray now (the flusher thread does this every interval)."""
    if not _ray_up():
        return
    counters, gauges, observations = take()
    for (name, tags), value in counters.items():
        if value > 0:
            _metric(name).inc(value, tags=dict(tags))
        else:  # declared: the series exists at 0 (inc refuses 0; _record is what inc calls)
            _metric(name)._record(0.0, tags=dict(tags))
    for (name, tags), value in gauges.items():
        _metric(name).set(value, tags=dict(tags))
    for (name, tags), values in observations.items():
        metric = _metric(name)
        for v in values:
            metric.observe(v, tags=dict(tags))
