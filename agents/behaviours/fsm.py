"""Finite-state behaviours declared as data, with their transitions checked.

An :class:`FSMBehaviour` is given its ``states`` (name → a :class:`State` or a
callable, async or not, ``(fsm) -> next state name | None``), the allowed
``transitions`` (``(source, destination)`` pairs), the ``initial`` state and the
``final`` ones.  The declaration is checked when the FSM is built
(:func:`check_fsm`): a mistake raises :class:`FSMError` naming the state or
transition.  At run time each state picks the next one; a move that was not
declared raises :class:`FSMTransitionError`, which ends the FSM (its exit code)
and nothing else.  A final state ends the FSM after it has run.

Example:
    >>> import asyncio
    >>> async def confirm(fsm):
    ...     return "diagnose" if fsm.data.get("alarm") else "dismiss"
    >>> async def diagnose(fsm):
    ...     return "act"
    >>> async def finish(fsm):
    ...     return None
    >>> fsm = FSMBehaviour.from_dict(
    ...     {"initial": "confirm", "final": ["act", "dismiss"],
    ...      "states": {"confirm": "confirm", "diagnose": "diagnose",
    ...                 "act": "finish", "dismiss": "finish"},
    ...      "transitions": [["confirm", "diagnose"], ["diagnose", "act"],
    ...                      ["confirm", "dismiss"]]},
    ...     {"confirm": confirm, "diagnose": diagnose, "finish": finish})
    >>> fsm.data["alarm"] = True
    >>> from agents.behaviours.runner import BehaviourRunner
    >>> async def main() -> None:
    ...     async with BehaviourRunner("agent-1") as runner:
    ...         await runner.add(fsm).join(timeout_s=5)
    >>> asyncio.run(main())
    >>> fsm.history, fsm.state, fsm.exit_code
    (['confirm', 'diagnose', 'act'], 'done', 0)
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, TypeAlias

from agents.behaviours.base import Behaviour, BehaviourError, CyclicBehaviour, OneShotBehaviour
from messaging.envelope import Envelope
from messaging.errors import did_you_mean

__all__ = ["FSMBehaviour", "FSMError", "FSMTransitionError", "State", "StateAction",
           "check_fsm"]


class FSMError(BehaviourError):
    """An FSM is declared wrongly; ``problems`` lists each mistake found."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.message = message
        self.problems = list(problems)
        super().__init__(message, self.problems)

    def __str__(self) -> str:
        return self.message


class FSMTransitionError(FSMError):
    """A state chose a next state that its declared transitions do not allow.

    ``dest`` is None when a non-final state chose no next state at all.
    """

    def __init__(self, fsm: str, source: str, dest: str | None, allowed: list[str]) -> None:
        self.fsm = fsm
        self.source = source
        self.dest = dest
        self.allowed = list(allowed)
        self.message = str(self)
        self.problems = [self.message]
        BehaviourError.__init__(self, fsm, source, dest, self.allowed)

    def __str__(self) -> str:
        allowed = ", ".join(repr(a) for a in self.allowed) or "none"
        if self.dest is None:
            return (f"FSM {self.fsm!r}: state {self.source!r} is not final but chose no next "
                    f"state (allowed from {self.source!r}: {allowed})")
        return (f"FSM {self.fsm!r}: no transition from {self.source!r} to {self.dest!r} "
                f"(allowed from {self.source!r}: {allowed})")


class State(OneShotBehaviour):
    """A state of an :class:`FSMBehaviour` written as a behaviour, as in SPADE.

    On each visit the FSM calls ``on_start()``, ``run()`` and ``on_end()``;
    ``run()`` names the next state with :meth:`set_next_state` (a final state
    names none).  ``fsm``, ``agent`` and ``runner`` are the FSM's, and
    :meth:`receive` reads the FSM's inbox.
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.fsm: FSMBehaviour | None = None
        self._next_state: str | None = None

    def set_next_state(self, state: str) -> None:
        """The state the FSM moves to after this one (checked against the transitions)."""
        self._next_state = state

    @property
    def next_state(self) -> str | None:
        return self._next_state

    async def receive(self, timeout_s: float | None = None) -> Envelope | None:
        """The next envelope of the FSM's inbox (see :meth:`Behaviour.receive`)."""
        if self.fsm is None:
            return await super().receive(timeout_s)
        return await self.fsm.receive(timeout_s)


#: A state written as a function: given the FSM, returns (or, async, resolves to) the next
#: state's name or None.
StateAction: TypeAlias = (State | Callable[["FSMBehaviour"], Awaitable[str | None]]
                          | Callable[["FSMBehaviour"], str | None])


def check_fsm(states: Collection[str], transitions: Collection[tuple[str, str]],
              initial: str, final: Collection[str]) -> list[str]:
    """Every mistake in an FSM's declaration, as sentences; [] when it is sound.

    Checks that ``initial`` and each of ``final`` are states, that every
    transition names known states, that no transition leaves a final state,
    that every non-final state has a way out and that every state is reachable
    from ``initial``.

    Example:
        >>> check_fsm({"a", "b"}, {("a", "b")}, "a", {"b"})
        []
        >>> check_fsm({"a", "b", "c"}, {("a", "b"), ("a", "x")}, "a", {"b"})
        ["transition ('a', 'x'): unknown destination 'x'", "state 'c' is not final and \
has no transition out of it", "state 'c' cannot be reached from the initial state 'a'"]
    """
    names = sorted(states)
    problems: list[str] = []
    if not names:
        return ["it has no states"]
    if initial not in states:
        problems.append(f"the initial state {initial!r} is not a state"
                        f"{did_you_mean(str(initial), names)} (states: {', '.join(names)})")
    for f in sorted(final, key=str):
        if f not in states:
            problems.append(f"the final state {f!r} is not a state"
                            f"{did_you_mean(str(f), names)} (states: {', '.join(names)})")
    out: dict[str, set[str]] = {}
    for source, dest in sorted(transitions, key=str):
        for role, value in (("source", source), ("destination", dest)):
            if value not in states:
                problems.append(f"transition {(source, dest)!r}: unknown {role} {value!r}"
                                f"{did_you_mean(str(value), names)}")
        out.setdefault(source, set()).add(dest)
    for name in names:
        if name in final and out.get(name):
            problems.append(f"the final state {name!r} has transitions out of it (to "
                            f"{', '.join(map(repr, sorted(out[name])))}); a final state ends "
                            "the FSM")
        elif name not in final and not out.get(name):
            problems.append(f"state {name!r} is not final and has no transition out of it")
    if initial in states:
        seen = {initial}
        todo = deque([initial])
        while todo:
            for nxt in out.get(todo.popleft(), ()):
                if nxt in states and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        problems += [f"state {name!r} cannot be reached from the initial state {initial!r}"
                     for name in names if name not in seen]
    return problems


def _check_types(fsm: str, states: Any, transitions: Any, initial: Any, final: Any) -> None:
    """Raise :class:`FSMError` when the declaration is not made of the right kinds of data."""
    if not isinstance(states, Mapping):
        raise FSMError(f"FSM {fsm!r}: states must be a mapping of names to states, "
                       f"got {type(states).__name__}")
    for key, action in states.items():
        if not isinstance(key, str) or not key:
            raise FSMError(f"FSM {fsm!r}: state names must be non-empty strings, got {key!r}")
        if not (isinstance(action, State) or (callable(action)
                                              and not isinstance(action, Behaviour))):
            raise FSMError(f"FSM {fsm!r}: state {key!r} must be a State or an async callable "
                           f"(fsm) -> next state, got {type(action).__name__}")
    if not isinstance(initial, str):
        raise FSMError(f"FSM {fsm!r}: initial must be a state name, got {initial!r}")
    for what, value in (("final", final), ("transitions", transitions)):
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise FSMError(f"FSM {fsm!r}: {what} must be a collection, got {value!r}")
    for name in final:
        if not isinstance(name, str):
            raise FSMError(f"FSM {fsm!r}: final states must be names, got {name!r}")
    for pair in transitions:
        if (isinstance(pair, str) or not isinstance(pair, Iterable)
                or len(tuple(pair)) != 2 or not all(isinstance(p, str) for p in pair)):
            raise FSMError(f"FSM {fsm!r}: a transition must be a (source, destination) pair "
                           f"of state names, got {pair!r}")


class FSMBehaviour(CyclicBehaviour):
    """A behaviour that moves between declared states along declared transitions.

    Args:
        states: state name → a :class:`State` or an async callable ``(fsm) -> name | None``.
        transitions: the allowed ``(source, destination)`` moves.
        initial: the state to start in.
        final: states that end the FSM once they have run.
        name: defaults to the class name.

    Attributes:
        current_state: the state running or about to run.
        history: every state visited, in order (the current one last).
        data: a dict the states may share values through.

    Raises:
        FSMError: the declaration is unsound; the message lists each problem.
    """

    def __init__(self, states: Mapping[str, StateAction],
                 transitions: Iterable[tuple[str, str]], initial: str,
                 final: Iterable[str] = (), name: str | None = None) -> None:
        super().__init__(name)
        transitions = list(transitions) if not isinstance(transitions, str) else transitions
        final = list(final) if not isinstance(final, str) else final
        _check_types(self.name, states, transitions, initial, final)
        self.states: dict[str, StateAction] = dict(states)
        self.transitions: frozenset[tuple[str, str]] = frozenset(
            (s, d) for s, d in transitions)
        self.initial = initial
        self.final: frozenset[str] = frozenset(final)
        problems = check_fsm(self.states.keys(), self.transitions, initial, self.final)
        if problems:
            raise FSMError(f"FSM {self.name!r} is declared wrongly:\n"
                           + "\n".join(f"  - {p}" for p in problems), problems)
        self.current_state = initial
        self.history: list[str] = []
        self.data: dict[str, Any] = {}
        self._finished = False

    def allowed(self, state: str) -> list[str]:
        """The states ``state`` may move to, sorted."""
        return sorted(d for s, d in self.transitions if s == state)

    def done(self) -> bool:
        return self._finished

    async def run(self) -> None:
        """Run the current state once and move to the state it chose."""
        name = self.current_state
        self.history.append(name)
        action = self.states[name]
        if isinstance(action, State):
            nxt: Any = await self._visit(action)
        else:
            nxt = action(self)
            if inspect.isawaitable(nxt):
                nxt = await nxt
        if nxt is not None and not isinstance(nxt, str):
            raise FSMError(f"FSM {self.name!r}: state {name!r} chose {nxt!r} as next state; "
                           "expected a state name or None")
        if nxt is None and name in self.final:
            self._finished = True
            return
        if nxt is None or (name, nxt) not in self.transitions:
            raise FSMTransitionError(self.name, name, nxt, self.allowed(name))
        self.current_state = nxt

    async def _visit(self, state: State) -> str | None:
        state.fsm, state.agent, state.runner = self, self.agent, self.runner
        state._next_state = None
        await state.on_start()
        state.runs += 1
        await state.run()
        await state.on_end()
        return state.next_state

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], actions: Mapping[str, StateAction],
                  name: str | None = None) -> FSMBehaviour:
        """Build an FSM from plain config data, looking its states' actions up by name.

        ``spec`` has ``initial``, ``states`` (state → action name), ``transitions``
        (``[source, destination]`` pairs) and optionally ``final`` (a list) and
        ``name``; ``actions`` maps action names to what :class:`FSMBehaviour` takes
        as states.

        Raises:
            FSMError: a missing or unknown key, an unknown action (with a "did you
                mean"), or an unsound FSM.
        """
        label = name or (spec.get("name") if isinstance(spec, Mapping) else None) or cls.__name__
        if not isinstance(spec, Mapping):
            raise FSMError(f"FSM {label!r}: the spec must be a mapping, got "
                           f"{type(spec).__name__}")
        known = ["final", "initial", "name", "states", "transitions"]
        for key in spec:
            if key not in known:
                raise FSMError(f"FSM {label!r}: unknown key {key!r} in the spec"
                               f"{did_you_mean(str(key), known)} (known: {', '.join(known)})")
        for key in ("initial", "states", "transitions"):
            if key not in spec:
                raise FSMError(f"FSM {label!r}: the spec has no {key!r}")
        if not isinstance(spec["states"], Mapping):
            raise FSMError(f"FSM {label!r}: 'states' must map state names to action names, "
                           f"got {spec['states']!r}")
        names = sorted(actions)
        states: dict[str, StateAction] = {}
        for state, action_name in spec["states"].items():
            if not isinstance(action_name, str) or action_name not in actions:
                raise FSMError(f"FSM {label!r}: state {state!r} names unknown action "
                               f"{action_name!r}{did_you_mean(str(action_name), names)} "
                               f"(actions: {', '.join(names) or 'none'})")
            states[state] = actions[action_name]
        return cls(states, spec["transitions"], spec["initial"], spec.get("final", ()),
                   name=name or spec.get("name"))
