from __future__ import annotations

import numpy as np
import pytest

from agents.errors import AllocationError
from agents.protocols import (
    AgentView,
    Award,
    ContractNet,
    Conversation,
    Performative,
    Proposal,
    Refusal,
    TaskView,
)

RNG = np.random.default_rng(0)


def _agents(*names: str, cap: int = 2) -> dict[str, AgentView]:
    return {n: AgentView(n, frozenset({"x"}), cap) for n in names}


def test_best_bid_wins_and_others_are_rejected() -> None:
    agents = _agents("a", "b", "c")
    bids = {"t": [Proposal("t", "a", 3.0), Proposal("t", "b", 1.0), Proposal("t", "c", 2.0)]}
    out = ContractNet().allocate([TaskView("t", ("x",))], agents, bids, RNG)
    assert out.awards == [Award("t", "b", 1.0, ("a", "c"))]


def test_ties_broken_by_eta_then_load_then_id() -> None:
    agents = _agents("a", "b", "c")
    bids = {"t": [Proposal("t", "c", 1.0, eta_s=1.0), Proposal("t", "b", 1.0, eta_s=1.0),
                  Proposal("t", "a", 1.0, eta_s=2.0)]}
    out = ContractNet().allocate([TaskView("t", ("x",))], agents, bids, RNG)
    assert out.awards[0].agent_id == "b"


def test_no_bidders_leaves_task_pending_for_reannouncement() -> None:
    out = ContractNet().allocate([TaskView("t", ("x",))], _agents("a"), {}, RNG)
    assert out.awards == [] and out.pending == {"t": "no proposal before the deadline"}


def test_dead_bidder_mid_round_is_skipped() -> None:
    agents = _agents("a", "b")
    agents["b"].alive = False
    bids = {"t": [Proposal("t", "b", 0.1), Proposal("t", "a", 5.0)]}
    out = ContractNet().allocate([TaskView("t", ("x",))], agents, bids, RNG)
    assert out.awarded_to() == {"t": "a"}


def test_only_dead_bidders_leaves_pending() -> None:
    agents = _agents("a")
    agents["a"].alive = False
    out = ContractNet().allocate([TaskView("t", ("x",))], agents,
                                 {"t": [Proposal("t", "a", 1.0)]}, RNG)
    assert out.pending == {"t": "every proposing agent is gone or at capacity"}


def test_winner_capacity_is_consumed_across_tasks() -> None:
    agents = _agents("a", "b", cap=1)
    bids = {t: [Proposal(t, "a", 0.0), Proposal(t, "b", 1.0)] for t in ("t1", "t2", "t3")}
    out = ContractNet().allocate([TaskView(t, ("x",)) for t in bids], agents, bids, RNG)
    assert out.awarded_to() == {"t1": "a", "t2": "b"}
    assert "t3" in out.pending


def test_conversation_deadline_rejects_late_proposals() -> None:
    conv = Conversation("c1", frozenset({"t"}), reply_by=10.0)
    assert conv.receive(Proposal("t", "a", 1.0), now=9.0)
    assert not conv.receive(Proposal("t", "b", 0.5), now=10.5)
    conv.close()
    assert not conv.receive(Refusal("t", "c", "busy"), now=1.0)
    assert [p.agent_id for p in conv.proposals["t"]] == ["a"] and conv.late == 2


def test_conversation_rejects_replies_for_other_tasks() -> None:
    conv = Conversation("c1", frozenset({"t"}), reply_by=10.0)
    with pytest.raises(AllocationError, match="unknown task 'u'"):
        conv.receive(Proposal("u", "a", 1.0), now=0.0)


def test_awards_are_idempotent_but_not_reassignable() -> None:
    conv = Conversation("c1", frozenset({"t"}), reply_by=10.0)
    first = conv.award(Award("t", "a"))
    assert conv.award(Award("t", "a")) is first
    with pytest.raises(AllocationError, match="already awarded to 'a'"):
        conv.award(Award("t", "b"))


def test_inform_only_from_the_winner() -> None:
    conv = Conversation("c1", frozenset({"t"}), reply_by=10.0)
    conv.award(Award("t", "a"))
    with pytest.raises(AllocationError):
        conv.inform("t", "b", Performative.INFORM_DONE)
    conv.inform("t", "a", Performative.FAILURE)
    conv.inform("t", "a", Performative.INFORM_DONE)  # a repeated inform keeps the first
    assert conv.outcomes == {"t": Performative.FAILURE}


def test_drop_bidder_removes_its_proposals() -> None:
    conv = Conversation("c1", frozenset({"t"}), reply_by=10.0)
    conv.receive(Proposal("t", "a", 1.0), now=0)
    conv.receive(Proposal("t", "b", 2.0), now=0)
    conv.drop_bidder("a")
    assert [p.agent_id for p in conv.proposals["t"]] == ["b"]
