"""Finite-state behaviours declared as data (agents.behaviours.fsm): pure asyncio, no Ray."""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from agents.behaviours import (
    BehaviourRunner,
    CyclicBehaviour,
    FSMBehaviour,
    FSMError,
    FSMTransitionError,
    State,
    Template,
    check_fsm,
)
from messaging.envelope import Envelope

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]], timeout_s: float = 10.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(factory(), timeout_s)

    return asyncio.run(main())


def goto(name: str | None) -> Callable[[FSMBehaviour], Awaitable[str | None]]:
    async def action(fsm: FSMBehaviour) -> str | None:
        return name

    return action


async def run_alone(fsm: FSMBehaviour, *others: Any) -> FSMBehaviour:
    async with BehaviourRunner("agent-3") as runner:
        for other in others:
            runner.add(other)
        runner.add(fsm)
        await fsm.join(timeout_s=5)
    return fsm


TRIAGE: dict[str, Any] = {
    "initial": "confirm",
    "final": ["act", "dismiss"],
    "states": {"confirm": "confirm_fn", "diagnose": "diagnose_fn", "act": "act_fn",
               "dismiss": "act_fn"},
    "transitions": [["confirm", "diagnose"], ["diagnose", "act"], ["confirm", "dismiss"]],
}


def triage_actions(seen: list[str]) -> dict[str, Any]:
    async def confirm_fn(fsm: FSMBehaviour) -> str:
        seen.append("confirm")
        return "diagnose" if fsm.data.get("alarm", True) else "dismiss"

    async def diagnose_fn(fsm: FSMBehaviour) -> str:
        seen.append("diagnose")
        fsm.data["cause"] = "fan"
        return "act"

    async def act_fn(fsm: FSMBehaviour) -> None:
        seen.append(f"{fsm.current_state}:{fsm.data.get('cause')}")

    return {"confirm_fn": confirm_fn, "diagnose_fn": diagnose_fn, "act_fn": act_fn}


# -- running ------------------------------------------------------------------------------------
def test_an_fsm_walks_its_states_to_a_final_one() -> None:
    seen: list[str] = []
    fsm = FSMBehaviour.from_dict(TRIAGE, triage_actions(seen), name="triage")
    run(lambda: run_alone(fsm))
    assert seen == ["confirm", "diagnose", "act:fan"]
    assert fsm.history == ["confirm", "diagnose", "act"] and fsm.current_state == "act"
    assert (fsm.name, fsm.state, fsm.exit_code, fsm.runs) == ("triage", "done", 0, 3)


def test_the_other_branch() -> None:
    seen: list[str] = []
    fsm = FSMBehaviour.from_dict(TRIAGE, triage_actions(seen))
    fsm.data["alarm"] = False
    run(lambda: run_alone(fsm))
    assert fsm.history == ["confirm", "dismiss"] and fsm.state == "done"
    assert fsm.name == "FSMBehaviour"


class Ask(State):
    """Waits for a message; goes to 'yes' or 'no' by its payload; counts hook calls."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[str] = []

    async def on_start(self) -> None:
        self.hooks.append("start")

    async def run(self) -> None:
        assert self.fsm is not None and self.agent == "agent-3" and self.runner is not None
        msg = await self.receive(timeout_s=5)
        assert msg is not None
        self.fsm.data.setdefault("answers", []).append(msg.payload)
        self.set_next_state("yes" if msg.payload else "no")

    async def on_end(self) -> None:
        self.hooks.append("end")


class Done(State):
    async def run(self) -> None:
        pass  # final: names no next state


def test_state_behaviours_read_the_fsm_inbox_and_run_their_hooks_each_visit() -> None:
    ask = Ask()
    fsm = FSMBehaviour(states={"ask": ask, "no": goto("ask"), "yes": Done()},
                       transitions={("ask", "no"), ("no", "ask"), ("ask", "yes")},
                       initial="ask", final={"yes"}, name="asker")

    async def main() -> None:
        async with BehaviourRunner("agent-3") as runner:
            runner.add(fsm, Template(sender="human"))
            for answer in (False, False, True):
                assert runner.dispatch(Envelope.new("human", recipient="agent-3",
                                                    payload=answer)) == 1
            await fsm.join(timeout_s=5)

    run(main)
    assert fsm.history == ["ask", "no", "ask", "no", "ask", "yes"]
    assert fsm.data["answers"] == [False, False, True] and fsm.state == "done"
    assert ask.hooks == ["start", "end"] * 3 and ask.runs == 3 and ask.fsm is fsm


def test_a_plain_function_may_be_a_state_too() -> None:
    fsm = FSMBehaviour({"a": lambda fsm: "b", "b": lambda fsm: None}, [("a", "b")], "a", ["b"])
    run(lambda: run_alone(fsm))
    assert fsm.history == ["a", "b"] and fsm.state == "done"


def test_an_fsm_without_final_states_cycles_until_killed() -> None:
    async def ping(fsm: FSMBehaviour) -> str:
        if len(fsm.history) == 5:  # history includes the state running now
            fsm.kill()
        await asyncio.sleep(0)
        return "pong"

    fsm = FSMBehaviour({"ping": ping, "pong": goto("ping")},
                       [("ping", "pong"), ("pong", "ping")], initial="ping")
    run(lambda: run_alone(fsm))
    # the kill ends the FSM after the running state; its move is still taken
    assert fsm.history == ["ping", "pong", "ping", "pong", "ping"]
    assert (fsm.current_state, fsm.state) == ("pong", "killed")


# -- illegal moves at run time --------------------------------------------------------------------
class Steady(CyclicBehaviour):
    async def run(self) -> None:
        await asyncio.sleep(0.001)


def test_an_illegal_transition_ends_the_fsm_and_nothing_else(
        caplog: pytest.LogCaptureFixture) -> None:
    fsm = FSMBehaviour.from_dict(
        {**TRIAGE, "name": "triage"},
        {**triage_actions([]), "confirm_fn": goto("act")})  # confirm may not go to act
    steady = Steady()
    with caplog.at_level(logging.ERROR, logger="agents.behaviours"):
        run(lambda: run_alone(fsm, steady))
    err = fsm.exit_code
    assert isinstance(err, FSMTransitionError) and fsm.state == "failed"
    assert (err.fsm, err.source, err.dest, err.allowed) == ("triage", "confirm", "act",
                                                            ["diagnose", "dismiss"])
    assert str(err) == ("FSM 'triage': no transition from 'confirm' to 'act' "
                        "(allowed from 'confirm': 'diagnose', 'dismiss')")
    assert fsm.history == ["confirm"] and fsm.failures == 1
    assert fsm.last_error == f"FSMTransitionError: {err}"
    assert steady.runs > 0 and steady.state == "killed"  # it ran on, until the runner stopped
    assert any("triage" in r.getMessage() and "agent-3" in r.getMessage()
               for r in caplog.records)


def test_a_move_to_an_unknown_state_is_an_illegal_transition() -> None:
    fsm = FSMBehaviour({"a": goto("nowhere"), "b": goto(None)}, [("a", "b")], "a", ["b"])
    run(lambda: run_alone(fsm))
    assert isinstance(fsm.exit_code, FSMTransitionError)
    assert "from 'a' to 'nowhere' (allowed from 'a': 'b')" in str(fsm.exit_code)


def test_a_non_final_state_must_choose_a_next_state() -> None:
    fsm = FSMBehaviour({"a": goto(None), "b": goto(None)}, [("a", "b")], "a", ["b"], name="f")
    run(lambda: run_alone(fsm))
    err = fsm.exit_code
    assert isinstance(err, FSMTransitionError) and err.dest is None
    assert str(err) == ("FSM 'f': state 'a' is not final but chose no next state "
                        "(allowed from 'a': 'b')")


def test_a_final_state_naming_a_next_state_is_an_illegal_transition() -> None:
    fsm = FSMBehaviour({"a": goto("b"), "b": goto("a")}, [("a", "b")], "a", ["b"])
    run(lambda: run_alone(fsm))
    assert isinstance(fsm.exit_code, FSMTransitionError)
    assert "from 'b' to 'a' (allowed from 'b': none)" in str(fsm.exit_code)


def test_a_state_returning_something_odd_fails_the_fsm() -> None:
    async def odd(fsm: FSMBehaviour) -> Any:
        return 3

    fsm = FSMBehaviour({"a": odd, "b": goto(None)}, [("a", "b")], "a", ["b"])
    run(lambda: run_alone(fsm))
    assert isinstance(fsm.exit_code, FSMError) and fsm.last_error is not None
    assert "state 'a' chose 3 as next state; expected a state name or None" in fsm.last_error


def test_a_state_that_raises_fails_the_fsm_with_its_error() -> None:
    async def broken(fsm: FSMBehaviour) -> str:
        raise OSError("disk")

    fsm = FSMBehaviour({"a": goto("b"), "b": broken, "c": goto(None)},
                       [("a", "b"), ("b", "c")], "a", ["c"])
    run(lambda: run_alone(fsm))
    assert fsm.history == ["a", "b"] and fsm.state == "failed"
    assert isinstance(fsm.exit_code, OSError) and fsm.last_error == "OSError: disk"


# -- the declaration is checked when the FSM is built ------------------------------------------
def fsm_problems(states: list[str], transitions: list[tuple[str, str]], initial: str,
                 final: list[str]) -> list[str]:
    with pytest.raises(FSMError) as info:
        FSMBehaviour({s: goto(None) for s in states}, transitions, initial, final, name="x")
    assert str(info.value).startswith("FSM 'x' is declared wrongly:\n  - ")
    assert check_fsm(states, transitions, initial, final) == info.value.problems
    return info.value.problems


def test_the_initial_state_must_be_a_state() -> None:
    # (reachability is not judged from an unknown initial state)
    assert fsm_problems(["start", "end"], [("start", "end")], "strat", ["end"]) == [
        "the initial state 'strat' is not a state; did you mean 'start'? (states: end, start)"]


def test_final_states_must_be_states() -> None:
    assert fsm_problems(["a", "end"], [("a", "end")], "a", ["end", "ned"]) == [
        "the final state 'ned' is not a state; did you mean 'end'? (states: a, end)"]


def test_transitions_must_name_known_states() -> None:
    assert fsm_problems(["a", "b"], [("a", "b"), ("a", "c"), ("bb", "b")], "a", ["b"]) == [
        "transition ('a', 'c'): unknown destination 'c'",
        "transition ('bb', 'b'): unknown source 'bb'; did you mean 'b'?",
    ]


def test_every_non_final_state_needs_a_way_out() -> None:
    assert fsm_problems(["a", "b", "c"], [("a", "b"), ("a", "c")], "a", ["c"]) == [
        "state 'b' is not final and has no transition out of it"]


def test_every_state_must_be_reachable() -> None:
    assert fsm_problems(["a", "b", "island"], [("a", "b"), ("island", "b")], "a", ["b"]) == [
        "state 'island' cannot be reached from the initial state 'a'"]


def test_no_transition_leaves_a_final_state() -> None:
    assert fsm_problems(["a", "b"], [("a", "b"), ("b", "a")], "a", ["b"]) == [
        "the final state 'b' has transitions out of it (to 'a'); a final state ends the FSM"]


def test_an_fsm_needs_states_and_all_problems_are_reported_at_once() -> None:
    assert fsm_problems([], [], "a", []) == ["it has no states"]
    # q unknown, zz unknown, b and c without a way out, b and c unreachable
    assert len(fsm_problems(["a", "b", "c"], [("a", "zz")], "a", ["q"])) == 6


@pytest.mark.parametrize("kwargs, match", [
    ({"states": [("a", None)]}, "states must be a mapping of names to states, got list"),
    ({"states": {"": goto(None)}}, "state names must be non-empty strings, got ''"),
    ({"states": {"a": "a_fn"}}, "state 'a' must be a State or an async callable .* got str"),
    ({"states": {"a": Steady()}},
     "state 'a' must be a State .* got Steady"),
    ({"initial": 1}, "initial must be a state name, got 1"),
    ({"final": "a"}, "final must be a collection, got 'a'"),
    ({"final": [1]}, "final states must be names, got 1"),
    ({"transitions": [("a",)]}, "a transition must be a \\(source, destination\\) pair"),
    ({"transitions": ["ab"]}, "got 'ab'"),
])
def test_the_declaration_must_be_made_of_the_right_data(kwargs: dict[str, Any],
                                                        match: str) -> None:
    args: dict[str, Any] = {"states": {"a": goto(None)}, "transitions": [], "initial": "a",
                            "final": ["a"], **kwargs}
    with pytest.raises(FSMError, match=match):
        FSMBehaviour(**args)


def test_fsm_errors_pickle_with_their_fields() -> None:
    err = FSMTransitionError("f", "a", "b", ["c"])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is FSMTransitionError and str(back) == str(err)
    assert (back.source, back.dest, back.allowed) == ("a", "b", ["c"])
    setup = FSMError("FSM 'x' is declared wrongly", ["p1", "p2"])
    back2 = pickle.loads(pickle.dumps(setup))
    assert (str(back2), back2.problems) == ("FSM 'x' is declared wrongly", ["p1", "p2"])
    assert isinstance(err, FSMError)


# -- from_dict -------------------------------------------------------------------------------
def test_from_dict_names_an_unknown_action_with_a_did_you_mean() -> None:
    actions = triage_actions([])
    del actions["diagnose_fn"]
    actions["diagnose_fun"] = goto("act")
    with pytest.raises(FSMError) as info:
        FSMBehaviour.from_dict(TRIAGE, actions)
    assert str(info.value) == (
        "FSM 'FSMBehaviour': state 'diagnose' names unknown action 'diagnose_fn'; did you "
        "mean 'diagnose_fun'? (actions: act_fn, confirm_fn, diagnose_fun)")


@pytest.mark.parametrize("spec, match", [
    ({**TRIAGE, "transition": []}, "unknown key 'transition' in the spec; did you mean "
                                   "'transitions'"),
    ({k: v for k, v in TRIAGE.items() if k != "initial"}, "the spec has no 'initial'"),
    ({**TRIAGE, "states": ["confirm"]}, "'states' must map state names to action names"),
    ({**TRIAGE, "states": {**TRIAGE["states"], "act": 3}}, "state 'act' names unknown "
                                                            "action 3"),
    ({**TRIAGE, "final": ["act"]}, "state 'dismiss' is not final and has no transition"),
    ({**TRIAGE, "name": "t2", "initial": "x"}, "FSM 't2' is declared wrongly"),
    (["initial"], "the spec must be a mapping, got list"),
])
def test_from_dict_checks_the_spec(spec: Any, match: str) -> None:
    with pytest.raises(FSMError, match=match):
        FSMBehaviour.from_dict(spec, triage_actions([]))


def test_from_dict_takes_state_behaviours_and_the_final_list_is_optional() -> None:
    fsm = FSMBehaviour.from_dict(
        {"initial": "a", "states": {"a": "ping", "b": "pong"},
         "transitions": [["a", "b"], ["b", "a"]]},
        {"ping": Ask(), "pong": goto("a")})
    assert fsm.final == frozenset() and fsm.allowed("a") == ["b"]
    assert isinstance(fsm.states["a"], Ask)
