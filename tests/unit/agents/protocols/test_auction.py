from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.errors import AllocationError
from agents.protocols import AgentView, Auction, Bid, Proposal, TaskView, clear


def test_first_price_procurement_pays_own_bid() -> None:
    c = clear([Bid("a", 5), Bid("b", 3), Bid("c", 4)], rule="first_price", side="procure")
    assert (c.winner, c.price, c.ranked) == ("b", 3, ("b", "c", "a"))


def test_vickrey_procurement_pays_second_lowest() -> None:
    assert clear([Bid("a", 5), Bid("b", 3), Bid("c", 4)], rule="vickrey").price == 4


def test_selling_side_highest_wins() -> None:
    c = clear([Bid("a", 5), Bid("b", 3), Bid("c", 7)], rule="vickrey", side="sell")
    assert (c.winner, c.price) == ("c", 5)


def test_ties_broken_by_agent_id() -> None:
    c = clear([Bid("z", 2), Bid("m", 2), Bid("q", 2)], rule="vickrey")
    assert (c.winner, c.price) == ("m", 2)


def test_no_bidders_and_reserve() -> None:
    assert clear([]).winner is None
    assert clear([Bid("a", 9)], reserve=5).winner is None
    c = clear([Bid("a", 3)], rule="vickrey", reserve=5)
    assert (c.winner, c.price) == ("a", 5)


def test_dead_bidder_mid_auction_is_excluded() -> None:
    c = clear([Bid("a", 1), Bid("b", 2), Bid("c", 3)], rule="vickrey",
              alive=frozenset({"b", "c"}))
    assert (c.winner, c.price) == ("b", 3)


def test_double_bid_and_bad_rule_are_errors() -> None:
    with pytest.raises(AllocationError, match="bid twice"):
        clear([Bid("a", 1), Bid("a", 2)])
    with pytest.raises(AllocationError, match="unknown auction rule"):
        clear([Bid("a", 1)], rule="dutch")  # type: ignore[arg-type]


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=20))
def test_vickrey_price_is_second_best_and_never_below_winner(amounts: list[float]) -> None:
    bids = [Bid(f"a{i:02}", x) for i, x in enumerate(amounts)]
    c = clear(bids, rule="vickrey")
    ordered = sorted(amounts)
    assert c.price == ordered[1] and c.price is not None and c.price >= ordered[0]
    assert dict((b.agent_id, b.amount) for b in bids)[c.winner] == ordered[0]


def test_auction_strategy_awards_with_price() -> None:
    agents = {n: AgentView(n, frozenset({"x"}), 1) for n in "abc"}
    bids = {"t": [Proposal("t", "a", 3.0), Proposal("t", "b", 1.0), Proposal("t", "c", 2.0)]}
    out = Auction("vickrey").allocate([TaskView("t", ("x",))], agents, bids,
                                      np.random.default_rng(0))
    assert (out.awards[0].agent_id, out.awards[0].price) == ("b", 2.0)
    out = Auction("first_price").allocate([TaskView("u", ("x",))], agents,
                                          {"u": [Proposal("u", "c", 2.0)]},
                                          np.random.default_rng(0))
    assert (out.awards[0].agent_id, out.awards[0].price) == ("c", 2.0)
