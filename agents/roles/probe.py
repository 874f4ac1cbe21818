"""The latency probe role: how long events took from outside to this agent.

The probe receives the environment events it subscribes to (``subscribe:`` of
its agent group, e.g. ``env/sensors/#``) and, for each envelope, records its
arrival (``time.time()``) minus the time the event was sent outside: by
default the ``sent`` field of the event's data when the data is a mapping that
has one, else the time the environment saw the event (the payload's ``at``);
beside it, the time from the environment seeing the event to its arrival (the
bus's share).  It keeps the count, the first and last arrival and the latencies of the last
``sample`` envelopes, and drains its inbox in batches, so it keeps up with a
flood.

Its figures are read with two task kinds run on the probe agent itself:
``probe_figures`` (``{count, first_at, last_at, p50_ms, p99_ms, max_ms, ...}``)
and ``probe_reset`` — e.g. from a driver::

    actor = ray.get_actor("raymas-agent:probe", namespace=ns)
    ray.get(actor.run_task.remote({"task_id": "f1", "kind": "probe_figures"}))

Options: ``template`` (the topic pattern taken, default ``env/#``),
``sent_field`` (a dotted path into the event payload where the send time is,
e.g. ``data.content.sent`` for a JSON file's content or ``at``), ``sample``
(latencies kept, default 200,000), ``inbox`` (envelopes the behaviour's inbox
holds before the runner drops them, default 100,000: a flood arrives faster
than one run of the loop), ``distinct`` (also count distinct ``(kind,
subject)`` pairs, up to ``sample`` of them; default False).
"""

from __future__ import annotations

import array
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from agents.agent.context import current
from agents.agent.kinds import task
from agents.behaviours import CyclicBehaviour, Template
from agents.errors import ConfigError, NotFoundError
from agents.roles import RoleContext
from messaging.envelope import Envelope

__all__ = ["LatencyProbe", "LatencyStats", "latency_probe", "percentile", "probe_figures",
           "probe_reset", "sent_time"]

_OPTIONS = {"template", "sent_field", "sample", "inbox", "distinct"}
#: envelopes handled per run before the probe yields to the event loop
BATCH = 5_000

#: the probe behaviour of each agent in this process, by agent id (set when the role is built)
_PROBES: dict[str, LatencyProbe] = {}


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of sorted values, interpolated linearly (as
    numpy's default); None for no values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    >>> percentile([5.0], 99), percentile([], 50)
    (5.0, None)
    """
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def sent_time(payload: Any, path: Sequence[str] | None = None) -> float | None:
    """When the event in ``payload`` was sent outside, or None when it does not say.

    With ``path`` (keys into the payload), the number found there; without, the
    ``sent`` of the event's data when the data is a mapping that has it, else
    the payload's ``at``.

    >>> sent_time({"data": {"sent": 5.0}, "at": 7.0}), sent_time({"data": 1, "at": 7.0})
    (5.0, 7.0)
    >>> sent_time({"data": {"content": {"sent": 4}}}, ["data", "content", "sent"])
    4.0
    >>> sent_time({"data": {}}, ["data", "sent"]) is None
    True
    """
    if not isinstance(payload, Mapping):
        return None
    value: Any
    if path is None:
        data = payload.get("data")
        value = data.get("sent") if isinstance(data, Mapping) and "sent" in data \
            else payload.get("at")
    else:
        value = payload
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class LatencyStats:
    """Arrivals and latencies, with nothing of asyncio or Ray (the probe's pure core).

    ``record(arrived, sent)`` counts an arrival at wall-clock ``arrived`` and,
    when ``sent`` is known, keeps ``arrived - sent`` among the last ``sample``
    latencies.

    >>> s = LatencyStats(sample=3)
    >>> for i in range(5):
    ...     s.record(100.0 + i, 100.0 + i - 0.001 * (i + 1))
    >>> f = s.figures()
    >>> f["count"], f["samples"], f["first_at"], f["last_at"], round(f["max_ms"], 6)
    (5, 3, 100.0, 104.0, 5.0)
    """

    def __init__(self, sample: int = 200_000, *, distinct: bool = False) -> None:
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise ValueError(f"sample must be a positive integer, got {sample!r}")
        self.sample = sample
        self.distinct = distinct
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded."""
        self.count = 0
        self.unmeasured = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._latencies = array.array("d")
        self._since_seen = array.array("d")
        self._next = 0  # where the next latency goes once the sample is full
        self._next_seen = 0
        self._seen: set[tuple[str, str]] = set()

    def record(self, arrived: float, sent: float | None, key: tuple[str, str] | None = None,
               seen: float | None = None) -> None:
        """One arrival at ``arrived``: sent outside at ``sent`` and seen by the environment
        at ``seen`` (when known); ``key`` is what ``distinct`` counts."""
        self.count += 1
        if self.first_at is None:
            self.first_at = arrived
        self.last_at = arrived
        if self.distinct and key is not None and len(self._seen) < self.sample:
            self._seen.add(key)
        if seen is not None:
            self._next_seen = self._keep(self._since_seen, self._next_seen, arrived - seen)
        if sent is None:
            self.unmeasured += 1
            return
        self._next = self._keep(self._latencies, self._next, arrived - sent)

    def _keep(self, sample: array.array[float], at: int, value: float) -> int:
        """Put ``value`` in ``sample`` (at ``at`` once full); where the next one goes."""
        if len(sample) < self.sample:
            sample.append(value)
            return at
        sample[at] = value
        return (at + 1) % self.sample

    def figures(self) -> dict[str, Any]:
        """``count``, ``first_at``, ``last_at``, ``p50_ms``, ``p99_ms``, ``max_ms``
        (None without samples), ``mean_ms``, ``samples``, ``unmeasured``; the time
        from the environment seeing an event to its arrival here, ``seen_p50_ms`` and
        ``seen_p99_ms``; and, when counting them, ``distinct``."""
        ordered = sorted(self._latencies)
        seen = sorted(self._since_seen)
        ms = {name: (None if v is None else v * 1000.0) for name, v in (
            ("p50_ms", percentile(ordered, 50)), ("p99_ms", percentile(ordered, 99)),
            ("max_ms", ordered[-1] if ordered else None),
            ("mean_ms", sum(ordered) / len(ordered) if ordered else None),
            ("seen_p50_ms", percentile(seen, 50)), ("seen_p99_ms", percentile(seen, 99)))}
        out: dict[str, Any] = {"count": self.count, "first_at": self.first_at,
                               "last_at": self.last_at, **ms, "samples": len(ordered),
                               "unmeasured": self.unmeasured}
        if self.distinct:
            out["distinct"] = len(self._seen)
        return out


class LatencyProbe(CyclicBehaviour):
    """Record each envelope's latency as it arrives (see the module docstring)."""

    def __init__(self, stats: LatencyStats, *, sent_field: Sequence[str] | None = None,
                 inbox: int = 100_000) -> None:
        super().__init__(name="latency_probe")
        self.stats = stats
        self.sent_field = tuple(sent_field) if sent_field is not None else None
        self.inbox = inbox
        self.inbox_capacity = inbox  # a flood must not overflow it: the runner keeps this

    async def run(self) -> None:
        env = await self.receive(timeout_s=1.0)
        handled = 0
        while env is not None:
            self.take(env)
            handled += 1
            if handled >= BATCH:
                return
            env = await self.receive(timeout_s=0)

    def take(self, env: Envelope, now: float | None = None) -> None:
        """Record one envelope arriving at ``now`` (default: the wall clock)."""
        payload = env.payload
        key = seen = None
        if isinstance(payload, Mapping):
            at = payload.get("at")
            seen = float(at) if isinstance(at, int | float) and not isinstance(at, bool) \
                else None
            if self.stats.distinct:
                key = (str(payload.get("kind")), str(payload.get("subject")))
        self.stats.record(time.time() if now is None else now,
                          sent_time(payload, self.sent_field), key, seen)

    def figures(self) -> dict[str, Any]:
        """The stats' figures with the envelopes the inbox refused (``dropped``)."""
        return {**self.stats.figures(), "dropped": self.dropped}

    def reset(self) -> None:
        self.stats.reset()
        self.dropped = 0


def _positive_int(options: Mapping[str, Any], name: str, default: int
                  ) -> tuple[int, tuple[str, str] | None]:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return default, (name, f"expected a positive integer, got {value!r}")
    return value, None


def latency_probe(ctx: RoleContext, options: Mapping[str, Any]
                  ) -> list[tuple[LatencyProbe, Template]]:
    """Build the probe behaviour and register it as this agent's probe."""
    problems = [(k, f"unknown option; known: {sorted(_OPTIONS)}")
                for k in sorted(set(options) - _OPTIONS)]
    sample, bad_sample = _positive_int(options, "sample", 200_000)
    inbox, bad_inbox = _positive_int(options, "inbox", 100_000)
    problems += [p for p in (bad_sample, bad_inbox) if p is not None]
    sent_field = options.get("sent_field")
    if sent_field is not None and (not isinstance(sent_field, str) or not sent_field
                                   or "" in sent_field.split(".")):
        problems.append(("sent_field", f"expected a dotted path such as 'data.sent', "
                                       f"got {sent_field!r}"))
    distinct = options.get("distinct", False)
    if not isinstance(distinct, bool):
        problems.append(("distinct", f"expected true or false, got {distinct!r}"))
    if problems:
        raise ConfigError("role latency_probe", problems)
    probe = LatencyProbe(LatencyStats(sample, distinct=distinct),
                         sent_field=sent_field.split(".") if sent_field else None, inbox=inbox)
    _PROBES[ctx.agent_id] = probe
    return [(probe, Template(topic=str(options.get("template", "env/#"))))]


def _probe(agent_id: str | None) -> LatencyProbe:
    if agent_id is None:
        ctx = current()
        agent_id = ctx.agent_id if ctx is not None else None
    probe = _PROBES.get(agent_id) if agent_id is not None else None
    if probe is None:
        raise NotFoundError("latency probe on agent", str(agent_id))
    return probe


@task("probe_figures", inline=True)
def probe_figures(agent_id: str | None = None) -> dict[str, Any]:
    """The figures of the probe of the agent running this task (or of ``agent_id``)."""
    return _probe(agent_id).figures()


@task("probe_reset", inline=True)
def probe_reset(agent_id: str | None = None) -> dict[str, Any]:
    """Forget what the probe recorded; returns the figures it had."""
    probe = _probe(agent_id)
    before = probe.figures()
    probe.reset()
    return before
