from __future__ import annotations

import numpy as np
import pytest

from agents.errors import AllocationError
from agents.protocols import AgentView, Consensus, TaskView, Vote, tally


def test_simple_majority_and_its_absence() -> None:
    assert tally([Vote("a", "x"), Vote("b", "x"), Vote("c", "y")]).accepted
    d = tally([Vote("a", "x"), Vote("b", "y")])
    assert not d.accepted and d.reason.startswith("no majority")


def test_weighted_votes() -> None:
    d = tally([Vote("a", "x"), Vote("b", "x"), Vote("c", "y")], rule="weighted",
              weights={"c": 3.0})
    assert (d.choice, d.accepted, d.counts) == ("y", True, {"x": 2.0, "y": 3.0})


def test_quorum_with_deadline_counts_only_votes_in_time() -> None:
    eligible = ["a", "b", "c", "d"]
    d = tally([Vote("a", "x")], rule="quorum", eligible=eligible, quorum=0.5)
    assert not d.accepted and d.reason.startswith("no quorum")
    d = tally([Vote("a", "x"), Vote("b", None), Vote("c", "x")], rule="quorum",
              eligible=eligible, quorum=0.5)
    assert d.accepted and d.choice == "x" and d.turnout == 0.75


def test_each_vote_is_recorded_and_repeats_and_strangers_ignored() -> None:
    d = tally([Vote("a", "x"), Vote("a", "y"), Vote("z", "y")], eligible=["a", "b"])
    assert d.votes == [Vote("a", "x")]


def test_tie_is_no_majority_but_choice_is_deterministic() -> None:
    d1 = tally([Vote("a", "y"), Vote("b", "x")])
    d2 = tally([Vote("b", "x"), Vote("a", "y")])
    assert d1.choice == d2.choice == "x" and not d1.accepted


def test_bad_rule() -> None:
    with pytest.raises(AllocationError):
        tally([], rule="plurality")  # type: ignore[arg-type]


def test_consensus_allocation_with_dead_voter() -> None:
    agents = {n: AgentView(n, frozenset({"x"}), 2) for n in "abc"}
    agents["c"].alive = False
    votes = {"t": [Vote("a", "b"), Vote("b", "b"), Vote("c", "a")]}
    strategy = Consensus()
    out = strategy.allocate([TaskView("t", ("x",))], agents, {}, np.random.default_rng(0),
                            votes=votes)
    assert out.awarded_to() == {"t": "b"}
    assert [v.voter for v in strategy.decisions["t"].votes] == ["a", "b"]


def test_consensus_without_votes_is_pending() -> None:
    agents = {"a": AgentView("a", frozenset({"x"}), 2)}
    out = Consensus().allocate([TaskView("t", ("x",))], agents, {}, np.random.default_rng(0))
    assert out.pending == {"t": "no votes cast"}
