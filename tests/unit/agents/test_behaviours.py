"""Behaviours, templates and the runner (agents.behaviours): pure asyncio, no Ray."""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import doctest
import importlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agents.behaviours import (
    Behaviour,
    BehaviourError,
    BehaviourRunner,
    CyclicBehaviour,
    OneShotBehaviour,
    PeriodicBehaviour,
    Template,
    TemplateError,
    TimeoutBehaviour,
    next_tick,
)
from messaging.envelope import Envelope, Performative

T = TypeVar("T")
PERIOD = 0.02


def run(factory: Callable[[], Awaitable[T]], timeout_s: float = 10.0) -> T:
    """asyncio.run with a ceiling, so a broken behaviour fails the test, not the suite."""

    async def main() -> T:
        return await asyncio.wait_for(factory(), timeout_s)

    return asyncio.run(main())


def env(sender: str = "s", **fields: Any) -> Envelope:
    if "topic" not in fields and "recipient" not in fields:
        fields["recipient"] = "me"
    return Envelope.new(sender, **fields)


class Agent:
    agent_id = "agent-7"


class Once(OneShotBehaviour):
    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.calls: list[str] = []

    async def on_start(self) -> None:
        self.calls.append("on_start")

    async def run(self) -> None:
        self.calls.append("run")

    async def on_end(self) -> None:
        self.calls.append("on_end")


class Counter(CyclicBehaviour):
    """Counts runs; sets ``reached`` at ``target`` runs; kills itself at ``stop_at``."""

    def __init__(self, target: int = 1, stop_at: int | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.target, self.stop_at = target, stop_at
        self.reached = asyncio.Event()
        self.ended = False

    async def run(self) -> None:
        if self.runs >= self.target:
            self.reached.set()
        if self.stop_at is not None and self.runs >= self.stop_at:
            self.kill(exit_code="enough")
        await asyncio.sleep(0.001)

    async def on_end(self) -> None:
        self.ended = True


class Boom(OneShotBehaviour):
    async def run(self) -> None:
        raise ValueError("boom")


class Collector(CyclicBehaviour):
    """Receives envelopes into ``got`` until killed."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.got: list[Envelope] = []
        self.arrived = asyncio.Event()

    async def run(self) -> None:
        msg = await self.receive()
        if msg is not None:
            self.got.append(msg)
            self.arrived.set()


# -- next_tick: the pure scheduling core ------------------------------------------
@pytest.mark.parametrize("planned, now, expected", [
    (0.0, 0.0, (1.0, 0)),      # the run took no time
    (0.0, 0.99, (1.0, 0)),     # it took almost a period
    (0.0, 1.0, (1.0, 0)),      # it ended exactly on the next tick: run it
    (0.0, 1.01, (2.0, 1)),     # just overran: tick 1 is missed
    (0.0, 3.5, (4.0, 3)),      # ticks 1, 2, 3 are missed
    (5.0, 8.0, (8.0, 2)),      # on a tick after an overrun: 6 and 7 missed, 8 runs
    (5.0, 4.0, (6.0, 0)),      # clock before the plan (woke early): stays on the grid
])
def test_next_tick_stays_on_the_grid_and_counts_missed_ticks(
        planned: float, now: float, expected: tuple[float, int]) -> None:
    assert next_tick(planned, 1.0, now) == expected


def test_next_tick_refuses_a_non_positive_period() -> None:
    with pytest.raises(BehaviourError, match="period_s must be > 0, got 0"):
        next_tick(0.0, 0, 1.0)


# -- one-shot, cyclic, plain ------------------------------------------------------
def test_one_shot_runs_once_between_its_hooks() -> None:
    async def main() -> Once:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Once())
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert b.calls == ["on_start", "run", "on_end"]
    assert (b.runs, b.state, b.exit_code, b.is_done(), b.is_killed()) == (1, "done", 0, True,
                                                                         False)
    assert b.name == "Once" and b.agent.agent_id == "agent-7"


def test_cyclic_runs_until_it_kills_itself_with_an_exit_code() -> None:
    async def main() -> Counter:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Counter(stop_at=5))
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert b.runs == 5 and b.ended
    assert (b.state, b.exit_code) == ("killed", "enough")


def test_cyclic_runs_until_killed_from_outside() -> None:
    async def main() -> Counter:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Counter(target=10))
            await b.reached.wait()
            assert b.state == "running"
            b.kill()
            await b.join(timeout_s=5)
            return b

    b = run(main)
    assert b.runs >= 10 and b.ended and (b.state, b.exit_code) == ("killed", 0)
    b.kill(exit_code=99)  # killing an ended behaviour changes nothing
    assert (b.state, b.exit_code) == ("killed", 0)


def test_cyclic_ends_when_done_says_so_and_a_plain_behaviour_is_cyclic() -> None:
    class UpToThree(Behaviour):
        async def run(self) -> None:
            pass

        def done(self) -> bool:
            return self.runs >= 3

    async def main() -> UpToThree:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(UpToThree(name="three"))
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert (b.name, b.runs, b.state) == ("three", 3, "done")


def test_a_cyclic_run_that_never_awaits_does_not_starve_the_others() -> None:
    class Busy(CyclicBehaviour):
        async def run(self) -> None:
            pass  # never awaits

    async def main() -> tuple[Busy, Counter]:
        async with BehaviourRunner(Agent()) as runner:
            busy, counter = runner.add(Busy()), runner.add(Counter(target=3))
            await counter.reached.wait()
        return busy, counter

    busy, counter = run(main)
    assert busy.runs > 0 and counter.runs >= 3 and busy.state == "killed"


def test_a_behaviour_name_must_be_a_non_empty_string() -> None:
    with pytest.raises(BehaviourError, match="non-empty string, got ''"):
        Once(name="")


# -- periodic and timeout ------------------------------------------------------------
class Ticker(PeriodicBehaviour):
    """Records, for each run, when it started, when it was planned and the ticks missed."""

    def __init__(self, period_s: float, target: int, busy_s: float = 0.0,
                 start_at: dt.datetime | float | None = None, first_busy_s: float = 0.0) -> None:
        super().__init__(period_s, start_at=start_at)
        self.target, self.busy_s, self.first_busy_s = target, busy_s, first_busy_s
        self.starts: list[float] = []
        self.planned: list[float] = []
        self.missed_before: list[int] = []
        self.wall_starts: list[float] = []
        self.reached = asyncio.Event()

    async def run(self) -> None:
        assert self.planned_at is not None
        self.starts.append(asyncio.get_running_loop().time())
        self.wall_starts.append(time.time())
        self.planned.append(self.planned_at)
        self.missed_before.append(self.missed)
        if len(self.starts) >= self.target:
            self.reached.set()
        busy = self.first_busy_s if self.runs == 1 and self.first_busy_s else self.busy_s
        if busy:
            await asyncio.sleep(busy)

    def check_grid(self) -> None:
        """Every run started no earlier than planned, and the plans lie on one grid:
        consecutive plans are one period apart, plus one period per missed tick."""
        for start, planned in zip(self.starts, self.planned, strict=True):
            assert start >= planned - 0.001
        for k in range(1, len(self.planned)):
            skipped = self.missed_before[k] - self.missed_before[k - 1]
            gap = self.planned[k] - self.planned[k - 1]
            assert gap == pytest.approx((skipped + 1) * self.period_s, abs=1e-9), k


def _run_ticker(ticker: Ticker) -> tuple[Ticker, float]:
    async def main() -> tuple[Ticker, float]:
        async with BehaviourRunner(Agent()) as runner:
            began = asyncio.get_running_loop().time()
            runner.add(ticker)
            await ticker.reached.wait()
        return ticker, began

    return run(main)


def test_periodic_runs_every_period() -> None:
    ticker, began = _run_ticker(Ticker(PERIOD, target=5))
    starts = ticker.starts
    assert len(starts) >= 5 and ticker.state == "killed"
    ticker.check_grid()
    assert ticker.planned[0] - began < 0.5  # no start_at: the first run is planned at once
    # five runs take at least four periods (timers never fire early) and, loosely,
    # not much more (the whole test is bounded by run()'s ceiling as well)
    assert starts[4] - ticker.planned[0] >= 4 * PERIOD - 0.001
    assert starts[4] - starts[0] < 4 * PERIOD + 1.0


def test_periodic_is_planned_from_the_grid_not_from_the_end_of_the_last_run() -> None:
    # each run takes 3/4 of a period; planned from the end of the last run, the plans
    # would be 1.75 periods apart; on the grid they are exactly one period apart (or a
    # whole number of periods, should a busy machine make a run overrun)
    ticker, _ = _run_ticker(Ticker(PERIOD, target=10, busy_s=0.75 * PERIOD))
    ticker.check_grid()
    gaps = [b - a for a, b in itertools.pairwise(ticker.planned)]
    assert all(g / PERIOD == pytest.approx(round(g / PERIOD), abs=1e-6) for g in gaps)


def test_periodic_skips_and_counts_ticks_missed_by_an_overrun() -> None:
    # the first run takes 3.5 periods: ticks 1..3 are missed, the next run is on tick 4
    # (or later on a busy machine), and the grid is kept
    ticker, _ = _run_ticker(Ticker(PERIOD, target=3, first_busy_s=3.5 * PERIOD))
    ticker.check_grid()
    assert ticker.missed_before[1] >= 3
    assert ticker.planned[1] - ticker.planned[0] >= 4 * PERIOD - 1e-9
    assert ticker.starts[1] - ticker.starts[0] >= 3.5 * PERIOD


@pytest.mark.parametrize("as_datetime", [False, True])
def test_periodic_first_runs_at_start_at(as_datetime: bool) -> None:
    wall = time.time() + 0.1
    start_at: dt.datetime | float = (dt.datetime.fromtimestamp(wall, dt.UTC) if as_datetime
                                     else wall)
    ticker, _ = _run_ticker(Ticker(PERIOD, target=2, start_at=start_at))
    assert ticker.wall_starts[0] >= wall - 0.005
    ticker.check_grid()


@pytest.mark.parametrize("period, match", [
    (0, "period_s must be a positive number of seconds, got 0"),
    (-1.0, "got -1.0"),
    (True, "got True"),
    ("1s", "got '1s'"),
    (float("inf"), "got inf"),
])
def test_periodic_refuses_a_bad_period(period: Any, match: str) -> None:
    with pytest.raises(BehaviourError, match=match):
        Ticker(period, target=1)


def test_periodic_refuses_a_bad_start_at() -> None:
    with pytest.raises(BehaviourError, match=r"start_at must be a datetime.*got 'soon'"):
        Ticker(PERIOD, target=1, start_at="soon")  # type: ignore[arg-type]


class Alarm(TimeoutBehaviour):
    async def run(self) -> None:
        self.fired_at = time.time()


def test_timeout_behaviour_runs_once_at_its_time() -> None:
    at = time.time() + 0.1

    async def main() -> Alarm:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Alarm(start_at=at))
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert b.runs == 1 and b.state == "done" and b.fired_at >= at - 0.01


def test_timeout_behaviour_killed_before_its_time_never_runs() -> None:
    async def main() -> Alarm:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Alarm(start_at=dt.datetime.now() + dt.timedelta(hours=1)))
            await asyncio.sleep(0)
            b.kill()
            await b.join(timeout_s=5)  # wakes at once: the wait is interrupted
        return b

    b = run(main)
    assert (b.runs, b.state) == (0, "killed")


def test_timeout_behaviour_needs_a_start_at() -> None:
    with pytest.raises(BehaviourError, match="needs start_at"):
        Alarm(start_at=None)  # type: ignore[arg-type]
    with pytest.raises(BehaviourError, match="got \\[1\\]"):
        Alarm(start_at=[1])  # type: ignore[arg-type]


# -- failures --------------------------------------------------------------------------
def test_a_failing_behaviour_ends_alone_and_is_logged_with_its_names(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[Boom, Counter, bool, list[dict[str, Any]]]:
        async with BehaviourRunner(Agent()) as runner:
            counter = runner.add(Counter(target=1))
            await counter.reached.wait()
            boom = runner.add(Boom(name="boomer"))
            await boom.join(timeout_s=5)
            before = counter.runs
            counter.target = before + 3
            counter.reached.clear()
            await counter.reached.wait()  # still running after the failure
            assert counter.state == "running"
            return boom, counter, runner.running, runner.status()

    with caplog.at_level(logging.ERROR, logger="agents.behaviours"):
        boom, counter, running, status = run(main)
    assert running and counter.state == "killed"  # killed by stop(), not by the failure
    assert boom.state == "failed" and isinstance(boom.exit_code, ValueError)
    assert (boom.failures, boom.last_error) == (1, "ValueError: boom")
    row = next(r for r in status if r["name"] == "boomer")
    assert row == {"name": "boomer", "type": "Boom", "state": "failed", "runs": 1,
                   "failures": 1, "last_error": "ValueError: boom",
                   "exit_code": "ValueError: boom", "dropped": 0, "inbox": 0}
    [record] = [r for r in caplog.records if "boomer" in r.getMessage()]
    assert "agent-7" in record.getMessage() and "in run" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_a_failing_on_start_skips_run_but_still_calls_on_end() -> None:
    class BadStart(Once):
        async def on_start(self) -> None:
            raise KeyError("cfg")

    async def main() -> BadStart:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(BadStart())
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert b.calls == ["on_end"] and b.runs == 0
    assert (b.state, b.last_error) == ("failed", "KeyError: 'cfg'")


def test_a_failing_on_end_is_counted() -> None:
    class BadEnd(Once):
        async def on_end(self) -> None:
            raise RuntimeError("cleanup")

    async def main() -> BadEnd:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(BadEnd())
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert (b.runs, b.failures, b.state) == (1, 1, "failed")
    assert isinstance(b.exit_code, RuntimeError)


# -- receive -----------------------------------------------------------------------------
def test_receive_times_out_and_is_woken_by_kill() -> None:
    class Waiter(OneShotBehaviour):
        async def run(self) -> None:
            self.quick = await self.receive(timeout_s=0)
            self.timed = await self.receive(timeout_s=0.01)
            self.started = asyncio.get_running_loop().time()
            self.killed = await self.receive()  # forever, unless killed

    async def main() -> tuple[Waiter, float]:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Waiter())
            while not hasattr(b, "started"):
                await asyncio.sleep(0.001)
            b.kill()
            await b.join(timeout_s=5)
            return b, asyncio.get_running_loop().time() - b.started

    b, waited = run(main)
    assert b.quick is None and b.timed is None and b.killed is None
    assert b.state == "killed" and waited < 1.0


# -- templates ---------------------------------------------------------------------------
def test_template_fields() -> None:
    e = env("alice", recipient="bob", performative="request", headers={"lang": "en", "x": "1"})
    assert Template().match(e)
    assert Template(sender="alice").match(e) and not Template(sender="eve").match(e)
    assert Template(recipient="bob").match(e) and not Template(recipient="carol").match(e)
    assert Template(performative=Performative.REQUEST).match(e)
    assert Template(performative="request").match(e)
    assert not Template(performative="inform").match(e)
    assert Template(headers={"lang": "en"}).match(e)
    assert not Template(headers={"lang": "fr"}).match(e)
    assert not Template(headers={"missing": "1"}).match(e)
    assert not Template(topic="#").match(e)  # a direct envelope has no topic


@pytest.mark.parametrize("pattern, topic, expected", [
    ("sensors/+/temp", "sensors/room1/temp", True),
    ("sensors/+/temp", "sensors/room1/hum", False),
    ("sensors/+/temp", "sensors/a/b/temp", False),
    ("sensors/#", "sensors/a/b/temp", True),
    ("sensors/#", "sensors", True),     # as in MQTT and messaging.topics
    ("sensors/#", "other/a", False),
    ("a/b", "a/b", True),
    ("a/b", "a/+", False),              # a wildcard "topic" names no concrete topic
])
def test_template_topic_patterns(pattern: str, topic: str, expected: bool) -> None:
    assert Template(topic=pattern).match(env(topic=topic)) is expected
    assert not Template(topic=pattern, recipient="me").match(env(topic=topic))


def test_template_combinators() -> None:
    boss, req = Template(sender="boss"), Template(performative="request")
    boss_req = env("boss", performative="request")
    boss_inf = env("boss", performative="inform")
    other_req = env("x", performative="request")
    other_inf = env("x", performative="inform")
    table = {
        "and": (boss & req, [True, False, False, False]),
        "or": (boss | req, [True, True, True, False]),
        "xor": (boss ^ req, [False, True, True, False]),
        "not": (~boss, [False, False, True, True]),
        "nested": ((boss & ~req) | (~boss & req), [False, True, True, False]),
    }
    for name, (template, expected) in table.items():
        got = [template.match(e) for e in (boss_req, boss_inf, other_req, other_inf)]
        assert got == expected, name
    assert repr(boss & ~req) == "(Template(sender='boss') & ~Template(performative=" \
                                "<Performative.REQUEST: 'request'>))"


def test_template_combines_only_with_templates() -> None:
    with pytest.raises(TemplateError, match="cannot combine a template with dict using '&'"):
        Template() & {"sender": "x"}  # type: ignore[operator]


@pytest.mark.parametrize("kwargs, match", [
    ({"performative": "requets"}, "unknown performative 'requets'; did you mean 'request'"),
    ({"performative": 3}, "expected a Performative or its value, got 3"),
    ({"topic": "a/b#"}, "field 'topic'.*'#' must be a whole level"),
    ({"topic": "a/#/b"}, "field 'topic'"),
    ({"sender": ""}, "field 'sender': expected a non-empty string or None, got ''"),
    ({"recipient": 5}, "field 'recipient'"),
    ({"headers": {"a": 1}}, "field 'headers': expected a mapping of strings to strings"),
])
def test_template_refuses_bad_fields(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TemplateError, match=match):
        Template(**kwargs)


def test_template_equality() -> None:
    assert Template(sender="a", headers={"k": "v"}) == Template(sender="a", headers={"k": "v"})
    assert Template(sender="a") != Template(sender="b")
    assert Template(performative="inform") == Template(performative=Performative.INFORM)


# -- the runner: dispatch --------------------------------------------------------------------
def test_dispatch_gives_an_envelope_to_every_matching_behaviour() -> None:
    runner = BehaviourRunner(Agent())
    alarms = runner.add(Collector("alarms"), Template(topic="alarms/#"))
    room1 = runner.add(Collector("room1"), Template(topic="alarms/room1/+"))
    boss = runner.add(Collector("boss"), Template(sender="boss"))
    deaf = runner.add(Collector("deaf"))  # no template: receives nothing

    assert runner.dispatch(env("s", topic="alarms/room1/fire")) == 2
    assert runner.dispatch(env("boss", topic="alarms/room2/fire")) == 2
    assert runner.dispatch(env("boss", recipient="me")) == 1
    assert runner.dispatch(env("nobody", topic="weather")) == 0
    assert [b.inbox_size for b in (alarms, room1, boss, deaf)] == [2, 1, 2, 0]
    assert (runner.unmatched, runner.dropped) == (1, 0)

    async def main() -> None:  # the inboxes are read once the runner runs
        async with runner:
            await room1.arrived.wait()
            while len(alarms.got) < 2:
                await asyncio.sleep(0.001)

    run(main)
    assert [e.topic for e in alarms.got] == ["alarms/room1/fire", "alarms/room2/fire"]
    assert [e.topic for e in room1.got] == ["alarms/room1/fire"]


def test_a_full_inbox_drops_without_blocking_and_counts() -> None:
    runner = BehaviourRunner(Agent(), inbox_size=2)
    small = runner.add(Collector("small"), Template(sender="s"))
    other = runner.add(Collector("other"), Template(sender="s"))
    for _ in range(2):
        assert runner.dispatch(env("s")) == 2
    other._inbox.clear()  # "other" has read its messages; "small" has not
    assert runner.dispatch(env("s")) == 1  # only "other" took it
    other._inbox.clear()
    assert runner.dispatch(env("s")) == 1
    assert (small.dropped, other.dropped, runner.dropped, runner.unmatched) == (2, 0, 2, 0)
    rows = {r["name"]: r for r in runner.status()}
    assert (rows["small"]["dropped"], rows["small"]["inbox"]) == (2, 2)
    assert rows["other"]["dropped"] == 0

    full = BehaviourRunner(Agent(), inbox_size=1)
    only = full.add(Collector(), Template())
    assert full.dispatch(env()) == 1 and full.dispatch(env()) == 0  # caller dead-letters
    assert (only.dropped, full.dropped, full.unmatched) == (1, 1, 0)


def test_dispatch_skips_behaviours_that_have_ended() -> None:
    async def main() -> tuple[int, int]:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Once(), Template())
            await b.join(timeout_s=5)
            return runner.dispatch(env()), runner.unmatched

    assert run(main) == (0, 1)


# -- the runner: membership, stop, send, status -------------------------------------------------
def test_add_while_running_starts_at_once_and_add_is_checked() -> None:
    async def main() -> Once:
        runner = BehaviourRunner(Agent())
        await runner.start()
        b = runner.add(Once())
        await b.join(timeout_s=5)
        with pytest.raises(BehaviourError, match="'Once' was already added to this runner"):
            runner.add(b)
        with pytest.raises(BehaviourError, match="already added to another runner"):
            BehaviourRunner(Agent()).add(b)
        await runner.stop()
        return b

    b = run(main)
    assert b.state == "done"
    with pytest.raises(BehaviourError, match="has already run \\(done\\)"):
        fresh = BehaviourRunner(Agent())
        b.runner = None
        fresh.add(b)
    with pytest.raises(BehaviourError, match="can only add a Behaviour, got str"):
        BehaviourRunner(Agent()).add("nope")  # type: ignore[type-var]
    with pytest.raises(BehaviourError, match="template must be a Template, got dict"):
        BehaviourRunner(Agent()).add(Once(), {"sender": "x"})  # type: ignore[arg-type]


def test_remove_kills_the_behaviour_and_stops_its_messages() -> None:
    async def main() -> tuple[Collector, int, list[str]]:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Collector(), Template())
            runner.dispatch(env())
            await b.arrived.wait()
            runner.remove(b)
            await b.join(timeout_s=5)
            names = [x.name for x in runner.behaviours]
            return b, runner.dispatch(env()), names

    b, taken, names = run(main)
    assert (b.state, len(b.got), taken, names) == ("killed", 1, 0, [])
    with pytest.raises(BehaviourError, match="'Once' is not in this runner \\(behaviours: none"):
        BehaviourRunner(Agent()).remove(Once())


def test_stop_kills_all_awaits_on_end_and_cancels_the_stuck() -> None:
    class Stuck(OneShotBehaviour):
        ended = False

        async def run(self) -> None:
            await asyncio.Event().wait()  # never set, not a receive: only a cancel ends it

        async def on_end(self) -> None:
            await asyncio.sleep(0.001)  # on_end may still await after the cancel
            self.ended = True

    async def main() -> tuple[BehaviourRunner, Stuck, Counter, Collector]:
        runner = BehaviourRunner(Agent(), stop_grace_s=0.05)
        stuck, counter = runner.add(Stuck()), runner.add(Counter())
        waiting = runner.add(Collector())
        await runner.start()
        await counter.reached.wait()
        await runner.stop()
        assert not runner._tasks and not runner.running
        return runner, stuck, counter, waiting

    runner, stuck, counter, waiting = run(main)
    assert stuck.ended and counter.ended
    assert [b.state for b in (stuck, counter, waiting)] == ["killed"] * 3
    assert [r["state"] for r in runner.status()] == ["killed"] * 3


def test_status_before_start_and_for_periodic() -> None:
    runner = BehaviourRunner(Agent())
    runner.add(Once())
    runner.add(Ticker(PERIOD, target=1))
    assert runner.status() == [
        {"name": "Once", "type": "Once", "state": "pending", "runs": 0, "failures": 0,
         "last_error": None, "exit_code": None, "dropped": 0, "inbox": 0},
        {"name": "Ticker", "type": "Ticker", "state": "pending", "runs": 0, "failures": 0,
         "last_error": None, "exit_code": None, "dropped": 0, "inbox": 0, "missed": 0},
    ]


@pytest.mark.parametrize("is_async", [False, True])
def test_behaviours_send_through_the_runner(is_async: bool) -> None:
    sent: list[Envelope] = []

    async def send_async(e: Envelope) -> str:
        sent.append(e)
        return "ok"

    def send_sync(e: Envelope) -> str:
        sent.append(e)
        return "ok"

    class Publisher(OneShotBehaviour):
        async def run(self) -> None:
            assert self.runner is not None
            self.result = await self.runner.send(
                Envelope.new(self.agent_name, topic="news", payload=self.agent.agent_id))

    async def main() -> Publisher:
        async with BehaviourRunner(Agent(), send=send_async if is_async else send_sync) as r:
            b = r.add(Publisher())
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert b.result == "ok" and b.state == "done"
    assert [(e.sender, e.topic, e.payload) for e in sent] == [("agent-7", "news", "agent-7")]


def test_sending_without_send_fails_the_behaviour_with_a_clear_error() -> None:
    class Sender(OneShotBehaviour):
        async def run(self) -> None:
            assert self.runner is not None
            await self.runner.send(env())

    async def main() -> Sender:
        async with BehaviourRunner(Agent()) as runner:
            b = runner.add(Sender())
            await b.join(timeout_s=5)
        return b

    b = run(main)
    assert b.state == "failed" and b.last_error is not None
    assert "built without send=" in b.last_error and "agent-7" in b.last_error


@pytest.mark.parametrize("kwargs, match", [
    ({"inbox_size": 0}, "inbox_size must be a positive integer, got 0"),
    ({"inbox_size": True}, "got True"),
    ({"stop_grace_s": -1}, "stop_grace_s must be a number of seconds >= 0, got -1"),
    ({"send": "mqtt"}, "send must be callable, got str"),
])
def test_runner_refuses_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(BehaviourError, match=match):
        BehaviourRunner(Agent(), **kwargs)


# -- the package ----------------------------------------------------------------------------------
PACKAGE = Path(__file__).resolve().parents[3] / "agents" / "behaviours"
MODULES = ["agents.behaviours", "agents.behaviours.base", "agents.behaviours.fsm",
           "agents.behaviours.template", "agents.behaviours.runner"]


def test_the_package_imports_no_ray() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "ray" for n in names), path.name


def test_the_public_surface_is_pinned() -> None:
    import agents.behaviours as pkg

    assert {"Behaviour", "OneShotBehaviour", "CyclicBehaviour", "PeriodicBehaviour",
            "TimeoutBehaviour", "FSMBehaviour", "State", "FSMError", "FSMTransitionError",
            "Template", "BehaviourRunner", "BehaviourError"} <= set(pkg.__all__)
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
