"""The task book without Ray: every transition, and the three defects it fixes.

A small driver plays the actor shell: it takes batches, closes rounds with a
pure strategy, and answers ``Settle`` actions with outcomes it chooses, so
each test states exactly which events happen in which order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.errors import AllocationError
from agents.planning import Domain, plan_htn
from agents.protocols import Award, get_strategy
from agents.protocols.base import AllocationOutcome, StrategyBase
from agents.specs import AgentSpec, TaskAllocation, TaskState
from agents.supervisor.book import TaskBook
from agents.supervisor.ledger import Ledger
from agents.supervisor.records import Probe, Settle, Watch
from agents.supervisor.sinks import EventSink, LedgerSink


def spec(agent_id: str, slots: int = 1, caps: tuple[str, ...] = ("x",)) -> AgentSpec:
    return AgentSpec(agent_id, capabilities=list(caps), max_tasks=slots)


def task(task_id: str, **kw: Any) -> TaskAllocation:
    kw.setdefault("required_capabilities", ["x"])
    return TaskAllocation(task_id=task_id, **kw)


def flush(book: TaskBook) -> None:
    """What the shell does with the decision stream: one ledger transaction."""
    LedgerSink(book.ledger, book.stats).record(book.take_decisions())


def new_book(url: str = "sqlite:///:memory:", **kw: Any) -> TaskBook:
    return TaskBook(Ledger.open(url), default_strategy="least_loaded", **kw)


def one_round(book: TaskBook, strategy: str = "least_loaded") -> list[Settle]:
    """Take one batch and place it: the Settle actions of that round."""
    settles: list[Settle] = []
    for name, tasks in book.take_batch().items():
        tviews, views = book.round_views(tasks)
        settles += [a for a in book.close_round(get_strategy(name or strategy), tasks, tviews,
                                                views, None) if isinstance(a, Settle)]
    return settles


def run(book: TaskBook, settle: Settle, ok: bool = True, value: Any = "v") -> list[Any]:
    return book.settled(settle.agent_id, settle.tasks, settle.tokens,
                        [(ok, value)] * len(settle.tasks))


def held(book: TaskBook) -> dict[str, list[str]]:
    return {a: sorted(r.assigned) for a, r in book.agents.items() if r.assigned}


@pytest.fixture
def book() -> TaskBook:
    return new_book()


def test_a_task_goes_from_submitted_to_done_with_one_settle(book: TaskBook) -> None:
    book.agent_joined(spec("a1"), now=0.0)
    ids, _ = book.submit([task("t1", kind="echo", args={"value": 3})])
    assert ids == ["t1"] and book.pending == 1
    [settle] = one_round(book)
    assert settle.agent_id == "a1" and [t.wire for t in settle.tasks] == [
        {"task_id": "t1", "kind": "echo", "args": {"value": 3}, "correlation_id": None}]
    assert book.tasks["t1"].state is TaskState.RUNNING and held(book) == {"a1": ["t1"]}
    run(book, settle, value=3)
    assert book.describe("t1")["state"] == "done" and book.describe("t1")["value"] == 3
    flush(book)
    assert [s for s, _, _ in book.ledger.history("t1")] == [
        "submitted", "awarded", "running", "done"]
    assert held(book) == {} and book.pending == 0


def test_a_submitted_id_is_not_queued_twice(book: TaskBook) -> None:
    book.submit([task("t1")])
    book.submit([task("t1")])
    assert book.pending == 1


def test_bad_tasks_are_refused_naming_the_field(book: TaskBook) -> None:
    with pytest.raises(AllocationError, match="max_attempts"):
        book.submit([task("t1", max_attempts=0)])
    with pytest.raises(AllocationError, match="depends on itself"):
        book.submit([task("t1", depends_on=["t1"])])
    with pytest.raises(AllocationError, match="unknown task"):
        book.submit([task("t2", depends_on=["nope"])])
    with pytest.raises(AllocationError, match="did you mean"):
        book.submit([task("t3", strategy="contract_nett")])


def test_a_failed_attempt_is_retried_until_max_attempts(book: TaskBook) -> None:
    book.agent_joined(spec("a1"), now=0.0)
    book.submit([task("t1", max_attempts=2)])
    [first] = one_round(book)
    run(book, first, ok=False, value="boom")
    assert book.tasks["t1"].state is TaskState.REASSIGNED and book.pending == 1
    [second] = one_round(book)
    run(book, second, ok=False, value="boom again")
    assert book.describe("t1")["state"] == "failed"
    assert book.describe("t1")["error"] == "boom again"
    assert book.describe("t1")["attempts"] == 2


def test_a_failing_dependency_fails_its_dependents_and_nothing_else(book: TaskBook) -> None:
    book.agent_joined(spec("a1", slots=4), now=0.0)
    book.submit([task("a", max_attempts=1), task("b", depends_on=["a"]),
                 task("c", depends_on=["b"]),
                 task("d")])
    assert sorted(book.deps.waiting) == ["b", "c"]
    settles = one_round(book)
    for s in settles:
        for t, tok in zip(s.tasks, s.tokens, strict=True):
            book.settled(s.agent_id, [t], [tok], [(t.spec.task_id != "a", "x")])
    assert {t: book.describe(t)["state"] for t in "abcd"} == {
        "a": "failed", "b": "failed", "c": "failed", "d": "done"}
    assert book.describe("c")["error"] == "dependency 'b' failed"


def test_dependents_get_their_dependencies_results_as_inputs(book: TaskBook) -> None:
    book.agent_joined(spec("a1"), now=0.0)
    book.submit([task("p/a", plan_id="p"), task("p/b", plan_id="p", depends_on=["p/a"])])
    [s] = one_round(book)
    run(book, s, value=41)
    [s] = one_round(book)
    assert s.tasks[0].wire["args"]["inputs"] == {"a": 41}


# -- defect: a task requeued during a pass must not vanish ---------------------------
def test_a_task_requeued_later_in_the_same_pass_is_placed_again(book: TaskBook) -> None:
    """3 agents, one slot each; round 1 gives T1 to a1 while T2 arrives; during round 2
    a1 dies.  T1 must be queued again and placed on the idle a3 in that same pass."""
    for a in ("a1", "a2", "a3"):
        book.agent_joined(spec(a), now=0.0)
    book.submit([task("T1", submitted_at=1.0)])
    [s1] = one_round(book)
    assert s1.agent_id == "a1"
    book.submit([task("T2", submitted_at=2.0)])
    groups = book.take_batch()
    [(name, tasks)] = groups.items()
    tviews, views = book.round_views(tasks)
    book.agent_dead("a1", "actor died")          # while round 2 waits for replies
    actions = book.close_round(get_strategy(name), tasks, tviews, views, None)
    assert [(a.agent_id, [t.spec.task_id for t in a.tasks]) for a in actions
            if isinstance(a, Settle)] == [("a2", ["T2"])]
    assert book.tasks["T1"].state is TaskState.REASSIGNED
    [s3] = one_round(book)                        # the same pass goes on
    assert (s3.agent_id, s3.tasks[0].spec.task_id) == ("a3", "T1")
    assert held(book) == {"a2": ["T2"], "a3": ["T1"]}


# -- defect: a round that breaks after some awards must settle or requeue each ------
class _AwardsToEveryone(StrategyBase):
    """Awards each task to the agent named in its id, whatever the views say."""

    name = "named"

    def allocate(self, tasks: Any, agents: Any, proposals: Any, rng: Any, votes: Any = None,
                 electorate: Any = None) -> AllocationOutcome:
        return AllocationOutcome([Award(t.task_id, t.task_id.split("-")[0]) for t in tasks])


def test_an_award_to_an_agent_that_left_mid_round_leaves_its_task_queued(
        book: TaskBook) -> None:
    for a in ("a1", "a2"):
        book.agent_joined(spec(a), now=0.0)
    book.submit([task("a1-t"), task("a2-t"), task("ghost-t")])
    [(_, tasks)] = book.take_batch().items()
    tviews, views = book.round_views(tasks)
    book.agent_leaving("a2")                      # deregistered while the round ran
    book.agent_left("a2")
    actions = book.close_round(_AwardsToEveryone(), tasks, tviews, views, None)
    settles = [a for a in actions if isinstance(a, Settle)]
    assert [(s.agent_id, [t.spec.task_id for t in s.tasks]) for s in settles] == [
        ("a1", ["a1-t"])]
    running = {t for t, r in book.tasks.items() if r.state is TaskState.RUNNING}
    assert running == {t.spec.task_id for s in settles for t in s.tasks}
    book.end_pass()
    assert book.tasks["a2-t"].agent_id is None and book.tasks["a2-t"].queued
    assert book.tasks["ghost-t"].queued and book.pending == 2


def test_an_award_beyond_an_agents_free_slots_is_not_made(book: TaskBook) -> None:
    book.agent_joined(spec("a1", slots=1), now=0.0)
    book.submit([task("a1-x"), task("a1-y")])
    [(_, tasks)] = book.take_batch().items()
    tviews, views = book.round_views(tasks)
    actions = book.close_round(_AwardsToEveryone(), tasks, tviews, views, None)
    [settle] = [a for a in actions if isinstance(a, Settle)]
    assert [t.spec.task_id for t in settle.tasks] == ["a1-x"]
    assert book.tasks["a1-y"].state is TaskState.SUBMITTED


# -- defect: a missed heartbeat is not a death ---------------------------------------
def test_a_silent_agent_is_suspect_keeps_its_tasks_and_comes_back(book: TaskBook) -> None:
    book.agent_joined(spec("a1"), now=0.0)
    book.agent_joined(spec("a2"), now=0.0)
    book.submit([task("t1")])
    [s] = one_round(book)
    assert s.agent_id == "a1"
    book.heard("a2", now=10.0)
    book.tick(now=10.0)                           # a1 silent for 10 s > 5 s: busy, not dead
    a1 = book.agents["a1"]
    assert a1.suspect and a1.view.alive and held(book) == {"a1": ["t1"]}
    assert book.tasks["t1"].state is TaskState.RUNNING and book.stats["reassigned"] == 0
    book.submit([task("t2")])
    [s2] = one_round(book)
    assert s2.agent_id == "a2"                    # no new work for the suspect
    known, _ = book.heard("a1", now=11.0)
    assert known and book.agents["a1"].eligible
    run(book, s)                                  # its task finishes once, where it ran
    assert book.describe("t1")["state"] == "done" and book.stats["duplicate_results"] == 0


def test_only_the_actors_death_requeues_and_a_restarted_agent_comes_back(
        book: TaskBook) -> None:
    book.agent_joined(spec("a1"), now=0.0)
    book.submit([task("t1")])
    [s] = one_round(book)
    book.agent_dead("a1", "actor died")
    assert not book.agents["a1"].view.alive and book.pending == 1
    run(book, s, value="late")                    # a reply from the dead holder still counts
    assert book.describe("t1")["state"] == "done"
    known, actions = book.heard("a1", now=1.0)    # Ray restarted its actor, or a late beat
    assert known and actions == [Probe("a1")] and not book.agents["a1"].view.alive
    assert book.back("a1", called_at=1.5) == [Watch("a1")]   # its actor answered a call
    assert book.agents["a1"].eligible and book.stats["recovered"] == 1
    assert book.back("a1", called_at=2.0) == [] and book.stats["recovered"] == 1
    assert book.heard("nobody", now=1.0) == (False, [])


def test_a_heartbeat_sent_before_the_actor_died_does_not_revive_it(book: TaskBook) -> None:
    """Seen in CI: 3 deaths for 2 killed agents.  A beat sent just before the kill was
    taken after the death as the agent being back; its watch then killed it again."""
    book.agent_joined(spec("a1"), now=0.0)
    book.submit([task("t1")])
    one_round(book)
    book.agent_dead("a1", "actor died")
    _, actions = book.heard("a1", now=1.0)        # the late beat
    assert actions == [Probe("a1")]               # the shell's call to the dead actor fails
    assert not book.agents["a1"].view.alive and book.pending == 1
    book.agent_dead("a1", "actor died")           # its watch, or a late settle, says so again
    assert book.stats["deaths"] == 1 and book.stats["recovered"] == 0


def test_a_settle_ray_could_not_deliver_hands_the_tasks_on_but_keeps_the_agent(
        book: TaskBook) -> None:
    book.agent_joined(spec("a1"), now=0.0)
    book.agent_joined(spec("a2"), now=0.0)
    book.submit([task("t1")])
    [s] = one_round(book)
    book.settle_unanswered(s.agent_id, list(s.tasks), list(s.tokens), "unavailable")
    assert book.agents[s.agent_id].eligible and book.stats["deaths"] == 0
    assert book.pending == 1 and book.tasks["t1"].state is TaskState.REASSIGNED
    [again] = one_round(book)                     # handed on, perhaps to the same agent
    run(book, again)
    assert book.describe("t1")["state"] == "done" and book.stats["deaths"] == 0


def test_a_call_to_the_previous_actor_failing_late_leaves_the_agent_that_is_back(
        book: TaskBook) -> None:
    """Seen on a `ray start` cluster losing a node: the restarted agent was heard from,
    took new work, then a call made to its old actor failed and killed it a second
    time, requeueing the tasks it was running."""
    book.agent_joined(spec("a1"), now=0.0)
    book.submit([task("t1"), task("t2")])
    [first] = one_round(book)
    book.settle_lost("a1", list(first.tasks), list(first.tokens), "actor died", called_at=1.0)
    book.heard("a1", now=3.0)                     # heard, and its actor answers:
    book.back("a1", called_at=3.0)                # back, on another node
    [second] = one_round(book)                    # runs a task again
    book.agent_dead("a1", "actor died", called_at=2.0)  # the old actor's watch, late
    assert book.agents["a1"].eligible and book.stats["deaths"] == 1
    assert book.describe(second.tasks[0].spec.task_id)["state"] == "running"
    book.agent_dead("a1", "actor died", called_at=4.0)  # a call to the new actor: real
    assert not book.agents["a1"].view.alive and book.stats["deaths"] == 2


def test_a_leaving_agent_is_not_revived_by_its_heartbeat(book: TaskBook) -> None:
    book.agent_joined(spec("a1"), now=0.0)
    book.agent_leaving("a1")
    book.heard("a1", now=1.0)
    assert not book.agents["a1"].eligible


# -- restart: the book rebuilt from the ledger ----------------------------------------
def test_a_restarted_book_resumes_from_the_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    first = new_book(url)
    first.agent_joined(spec("a1", slots=2), now=0.0)
    first.submit([task("a"), task("b", depends_on=["a"]), task("c")])
    [s] = one_round(first)
    a, tok = next((t, k) for t, k in zip(s.tasks, s.tokens, strict=True) if t.spec.task_id == "a")
    first.settled("a1", [a], [tok], [(True, 7)])  # a done; c running when the Supervisor dies
    flush(first)
    second = new_book(url)
    second.reload()
    assert sorted(second.tasks) == ["b", "c"]     # a is done for good: never rerun
    second.agent_joined(spec("a2", slots=2), now=0.0)
    settles = one_round(second)
    placed = {t.spec.task_id: t.wire["args"] for s in settles for t in s.tasks}
    assert placed == {"b": {"inputs": {"a": 7}}, "c": {}}


# -- plans ----------------------------------------------------------------------------
REPAIR_DOMAIN = {
    "operators": {"prep": {"kind": "echo"}, "fast": {"kind": "fail"},
                  "safe": {"kind": "echo"}},
    "methods": [
        {"name": "quick", "task": "ship", "subtasks": ["prep", "fast"]},
        {"name": "careful", "task": "ship", "subtasks": ["prep", "safe"]},
    ]}


def _drive(book: TaskBook, fail_kinds: tuple[str, ...] = ("fail",)) -> list[Any]:
    """Run every placed task to its end (kinds in ``fail_kinds`` fail); the actions seen."""
    seen: list[Any] = []
    for _ in range(20):
        settles = one_round(book)
        book.end_pass()
        if not settles:
            return seen
        for s in settles:
            for t, tok in zip(s.tasks, s.tokens, strict=True):
                seen += book.settled(s.agent_id, [t], [tok],
                                     [(t.spec.kind not in fail_kinds, t.spec.kind)])
    raise AssertionError("the plan did not settle in 20 rounds")


def test_a_plan_is_repaired_around_a_task_that_failed_for_good(book: TaskBook) -> None:
    book.agent_joined(spec("a1", slots=2, caps=()), now=0.0)
    graph = plan_htn(Domain.from_config(REPAIR_DOMAIN), {}, "ship")
    plan_id = book.plans.submit(graph, "p1", domain=REPAIR_DOMAIN, state={})
    _drive(book)
    status = book.plans.status(plan_id, detail=True)
    assert status["ok"] and status["counts"] == {"done": 2}  # the failed node was replaced
    kinds = {t.spec.task_id: t.spec.kind for t in book.tasks.values()}
    assert sorted(kinds.values()).count("echo") == 2     # prep, and safe in place of fast
    fast = next(t for t, k in kinds.items() if k == "fail")
    assert book.describe(fast)["state"] == "failed"
    assert all(book.describe(t)["state"] == "done" for t, k in kinds.items() if k == "echo")
    events: list[tuple[str, dict[str, Any]]] = []
    EventSink(lambda topic, body: events.append((topic, body)), book.tasks).record(
        book.take_decisions())
    ends = {body["task_id"]: (topic, body["state"]) for topic, body in events}
    assert ends[fast] == ("raymas/events/plans/p1", "failed")
    assert all(ends[t] == ("raymas/events/plans/p1", "done") for t, k in kinds.items()
               if k == "echo")


def test_without_a_domain_a_failed_node_fails_the_rest_of_its_chain(book: TaskBook) -> None:
    book.agent_joined(spec("a1", caps=()), now=0.0)
    graph = plan_htn(Domain.from_config(REPAIR_DOMAIN), {}, "ship")
    plan_id = book.plans.submit(graph, "p2")
    _drive(book)
    status = book.plans.status(plan_id)
    assert status["finished"] and not status["ok"]
    assert status["counts"] == {"done": 1, "failed": 1}


def test_cancelling_a_plan_ends_what_has_not_run(book: TaskBook) -> None:
    book.submit([task("p/a", plan_id="p"), task("p/b", plan_id="p", depends_on=["p/a"])])
    n, _ = book.cancel(["p/b", "p/a"], "plan 'p' cancelled")
    assert n == 2 and book.describe("p/b")["state"] == "cancelled"
    assert book.take_batch() == {}
