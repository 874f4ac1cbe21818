"""The synchronous stepper: activation, the exchange, foreign and removed recipients, data."""

from __future__ import annotations

import gc
import pickle
import sys
from collections import Counter
from typing import Any

import pytest

from agents.errors import ConfigError, NotFoundError
from agents.hosting.stepping import PAYLOAD, SENDER, Activation, Message, StepContext, Stepper


class Recorder:
    """Logs ``(step, id)`` when it steps and keeps every message it got."""

    def __init__(self, log: list[tuple[int, str]]) -> None:
        self.log = log
        self.got: list[tuple[int, Message]] = []

    def step(self, ctx: StepContext) -> None:
        self.log.append((ctx.step, ctx.agent_id))
        self.got.extend((ctx.step, m) for m in ctx.inbox)


def population(n: int, **kwargs: Any) -> tuple[Stepper, list[tuple[int, str]]]:
    log: list[tuple[int, str]] = []
    stepper = Stepper(**kwargs)
    for i in range(n):
        stepper.add(f"a{i}", Recorder(log))
    return stepper, log


def orders(log: list[tuple[int, str]], steps: int) -> list[list[str]]:
    return [[aid for s, aid in log if s == t] for t in range(steps)]


def test_sequential_activation_is_insertion_order() -> None:
    stepper, log = population(6, activation="sequential")
    stepper.run(3)
    assert orders(log, 3) == [[f"a{i}" for i in range(6)]] * 3


def test_random_activation_is_a_fresh_seeded_shuffle() -> None:
    def run(seed: int) -> list[list[str]]:
        stepper, log = population(30, seed=seed)
        stepper.run(4)
        return orders(log, 4)

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert all(sorted(o) == sorted(first[0]) for o in first)  # everyone, once a step
    assert len({tuple(o) for o in first}) == 4                 # a new order each step
    assert first[0] != sorted(first[0], key=lambda a: int(a[1:]))


def test_bad_settings_and_ids() -> None:
    with pytest.raises(ConfigError, match="activation"):
        Stepper(activation="simultaneous")  # type: ignore[arg-type]
    stepper, _ = population(1)
    with pytest.raises(ConfigError, match="already here"):
        stepper.add("a0", Recorder([]))
    with pytest.raises(ConfigError, match="no step"):
        stepper.add("x", object())  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        stepper.remove("nobody")
    with pytest.raises(ConfigError, match="steps"):
        stepper.run(-1)


class Chatty:
    """Sends ``k`` numbered messages to each of ``peers`` every step; keeps what it got."""

    def __init__(self, peers: list[str], k: int) -> None:
        self.peers, self.k = peers, k
        self.got: list[tuple[int, Message]] = []

    def step(self, ctx: StepContext) -> None:
        self.got.extend((ctx.step, m) for m in ctx.inbox)
        for peer in self.peers:
            for j in range(self.k):
                ctx.send(peer, (ctx.agent_id, peer, ctx.step, j))


def test_every_message_arrives_exactly_once_in_the_next_step() -> None:
    ids = [f"c{i}" for i in range(12)]
    stepper = Stepper(seed=3)
    for i, aid in enumerate(ids):
        stepper.add(aid, Chatty([ids[(i + d) % 12] for d in (0, 1, 5)], k=4))
    total = stepper.run(5)
    # 12 agents x 3 peers x 4 messages x 5 steps
    assert total.delivered == 12 * 3 * 4 * 5 and total.steps == 5
    received: Counter[tuple[str, str, int, int]] = Counter()
    for aid in ids:
        agent = stepper.agents[aid]
        assert isinstance(agent, Chatty)
        for step, msg in agent.got:
            sender, to, sent_in, _ = msg[PAYLOAD]
            assert to == aid and msg[SENDER] == sender and step == sent_in + 1
            received[msg[PAYLOAD]] += 1
    # what was sent in the last step waits for the next one
    waiting = [m[PAYLOAD] for aid in ids for m in stepper.mail_for(aid)]
    assert len(waiting) == 12 * 3 * 4 and all(p[2] == 4 for p in waiting)
    assert set(received.values()) == {1} and len(received) == 12 * 3 * 4 * 4


class Prioritised:
    def __init__(self, sends: list[tuple[str, int]]) -> None:
        self.sends = sends
        self.inboxes: list[list[Any]] = []

    def step(self, ctx: StepContext) -> None:
        self.inboxes.append([m[PAYLOAD] for m in ctx.inbox])
        for label, priority in self.sends:
            ctx.send("sink", label, priority=priority)


def test_highest_priority_first_and_first_in_first_out_within_one() -> None:
    stepper = Stepper(activation="sequential")
    stepper.add("x", Prioritised([("x1", 5), ("x2", 9), ("x3", 5)]))
    stepper.add("y", Prioritised([("y1", 9), ("y2", 1), ("y3", 5)]))
    sink = Prioritised([])
    stepper.add("sink", sink)
    stepper.run(2)
    assert sink.inboxes[1] == ["x2", "y1", "x1", "x3", "y3", "y2"]
    with pytest.raises(ConfigError, match="priority"):
        stepper._ctx.send("sink", "bad", priority="high")  # type: ignore[arg-type]


class Courier:
    """Sends one message to each of ``to`` on the first step."""

    def __init__(self, to: list[str]) -> None:
        self.to = to
        self.seen: list[Message] = []

    def step(self, ctx: StepContext) -> None:
        self.seen.extend(ctx.inbox)
        if ctx.step == 0:
            for recipient in self.to:
                ctx.send(recipient, f"for {recipient}")


def test_foreign_recipients_go_outbound_and_deliver_brings_mail_in() -> None:
    here = Stepper(seed=0)
    there = Stepper(seed=0)
    here.add("h", Courier(["t1", "t2", "t1", "h"]))
    t1, t2 = Courier([]), Courier([])
    there.add("t1", t1)
    there.add("t2", t2)
    stats = here.step()
    assert stats.delivered == 1
    assert {k: [m[PAYLOAD] for m in v] for k, v in stats.outbound.items()} == {
        "t1": ["for t1", "for t1"], "t2": ["for t2"]}
    stranger = ("h", "t9", "lost", 5, 0)
    refused = there.deliver([*stats.outbound["t1"], *stats.outbound["t2"], stranger])
    assert refused == [stranger]
    there.step()
    assert [m[PAYLOAD] for m in t1.seen] == ["for t1", "for t1"]
    assert [m[PAYLOAD] for m in t2.seen] == ["for t2"]


def test_delivered_mail_merges_into_the_inbox_in_priority_order() -> None:
    stepper = Stepper(activation="sequential")
    stepper.add("x", Prioritised([("local-5", 5), ("local-7", 7)]))
    sink = Prioritised([])
    stepper.add("sink", sink)
    stepper.step()
    stepper.deliver([("far", "sink", "far-9", 9, 0), ("far", "sink", "far-5", 5, 0)])
    stepper.step()
    assert sink.inboxes[1] == ["far-9", "local-7", "local-5", "far-5"]
    with pytest.raises(ConfigError, match="priority"):
        stepper.deliver([("far", "sink", "bad", None, 0)])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="recipient"):
        stepper.deliver([("far", 7, "bad", 5, 0)])  # type: ignore[list-item]


def test_agent_ids_are_interned() -> None:
    """A model's ids that came through Ray are copies: interned, the exchange finds each
    inbox by identity."""
    made = pickle.loads(pickle.dumps("".join(["hosted", "-", "7"])))
    stepper = Stepper()
    stepper.add(made, Prioritised([]))
    (key,) = stepper.agents
    assert key is sys.intern("hosted-7")
    stepper.deliver([("far", pickle.loads(pickle.dumps(made)), "hello", 5, 0)])
    assert [m[PAYLOAD] for m in stepper.mail_for("hosted-7")] == ["hello"]


def test_removing_an_agent_reports_its_mail_and_what_was_sent_to_it_later() -> None:
    stepper = Stepper(activation="sequential")
    stepper.add("a", Chatty(["b"], k=2))
    stepper.add("b", Chatty([], k=0))
    stepper.step()
    unread = stepper.remove("b")
    assert [m[PAYLOAD][3] for m in unread] == [0, 1] and "b" not in stepper
    stats = stepper.step()
    assert [m[PAYLOAD][:3] for m in stats.undelivered] == [("a", "b", 1)] * 2
    assert stats.delivered == 0 and not stats.outbound
    stepper.add("b", Chatty([], k=0))  # back again: mail reaches it
    assert stepper.step().delivered == 2


class Remover:
    def __init__(self, victim: str, log: list[tuple[int, str]]) -> None:
        self.victim, self.log = victim, log

    def step(self, ctx: StepContext) -> None:
        self.log.append((ctx.step, ctx.agent_id))
        stepper = ctx.stepper
        if self.victim in stepper:
            stepper.remove(self.victim)
            stepper.add("newcomer", Recorder(self.log))


def test_an_agent_removed_during_a_step_does_not_step_and_a_new_one_waits() -> None:
    log: list[tuple[int, str]] = []
    stepper = Stepper(activation="sequential")
    stepper.add("killer", Remover("victim", log))
    stepper.add("victim", Recorder(log))
    stepper.run(2)
    assert log == [(0, "killer"), (1, "killer"), (1, "newcomer")]


class Mover:
    """Staged: reads its neighbour's value in ``step``, writes its own in ``advance``."""

    def __init__(self, value: int, neighbour: str) -> None:
        self.value, self.neighbour, self.next = value, neighbour, value

    def step(self, ctx: StepContext) -> None:
        other = ctx.model[self.neighbour]
        self.next = other.value

    def advance(self, ctx: StepContext) -> None:
        self.value = self.next


@pytest.mark.parametrize("activation", ["sequential", "random"])
def test_staged_agents_advance_after_every_step(activation: Activation) -> None:
    movers: dict[str, Mover] = {}
    stepper = Stepper(activation=activation, seed=5, model=movers)
    for i in range(5):
        movers[f"m{i}"] = Mover(i, f"m{(i + 1) % 5}")
        stepper.add(f"m{i}", movers[f"m{i}"])
    stepper.run(2)  # a rotation by two, whatever the order
    assert [movers[f"m{i}"].value for i in range(5)] == [2, 3, 4, 0, 1]


def test_broadcast_to_everyone_else_or_to_a_group() -> None:
    class Shouter(Courier):
        group = "red"

        def step(self, ctx: StepContext) -> None:
            self.seen.extend(ctx.inbox)
            if ctx.step == 0 and ctx.agent_id == "r0":
                assert ctx.broadcast("all") == 4
                assert ctx.broadcast("reds", group="red") == 1
                assert ctx.broadcast("blues", group="blue") == 2
                assert ctx.broadcast("nobody", group="green") == 0

    stepper = Stepper()
    agents = {"r0": Shouter([]), "r1": Shouter([]), "b0": Courier([]), "b1": Courier([]),
              "x": Courier([])}
    for aid, agent in agents.items():
        stepper.add(aid, agent, group="blue" if aid.startswith("b") else None)
    stepper.run(2)
    got = {aid: sorted(m[PAYLOAD] for m in a.seen) for aid, a in agents.items()}
    assert got == {"r0": [], "r1": ["all", "reds"], "b0": ["all", "blues"],
                   "b1": ["all", "blues"], "x": ["all"]}


def test_collect_records_now_and_after_every_step() -> None:
    stepper = Stepper()
    stepper.add("c", Chatty(["c"], k=3))
    stepper.collect("waiting", lambda s: len(s.mail_for("c")))
    stepper.collect("steps", lambda s: s.steps)
    stepper.run(3)
    assert stepper.data == {"waiting": [0, 3, 3, 3], "steps": [0, 1, 2, 3]}


def test_the_garbage_collector_is_paused_only_during_a_step() -> None:
    seen: list[bool] = []

    class Probe:
        def step(self, ctx: StepContext) -> None:
            seen.append(gc.isenabled())

    for pause in (True, False):
        stepper = Stepper(pause_gc=pause)
        stepper.add("p", Probe())
        stepper.step()
        assert gc.isenabled()
    assert seen == [False, True]


def test_the_wealth_model_conserves_wealth_and_spreads_it_like_mesa() -> None:
    from bench.stepping import gini, stepper_wealth, wealth_stepper

    stepper = wealth_stepper(1000, seed=2)
    for _ in range(4):
        stepper.run(25)
        assert sum(stepper_wealth(stepper)) == 1000  # held, or on its way in a message
    ours_gini = gini(stepper_wealth(stepper))
    assert 0.4 < ours_gini < 0.8  # from 0: everyone started with one coin
    pytest.importorskip("mesa")
    from bench.stepping import mesa_wealth_model, run_mesa_wealth

    model = mesa_wealth_model(1000, seed=2)
    run_mesa_wealth(model, 100)
    wealth = [a.wealth for a in model.people]
    assert sum(wealth) == 1000 and min(wealth) >= 0
    assert abs(gini(wealth) - ours_gini) < 0.1
