"""Per-destination batching (the doctest in messaging.batcher covers the basics)."""

from __future__ import annotations

from messaging.batcher import Batcher


def test_a_destination_may_linger_longer_than_the_rest() -> None:
    b: Batcher[str, int] = Batcher(max_batch=100, linger_s=0.0)
    b.lingers["topic:t"] = 0.005
    b.add("topic:t", 1, now=0.0)
    b.add("a", 2, now=0.0)
    assert b.due(now=0.001) == [("a", [2])]
    assert b.next_deadline() == 0.005
    assert b.due(now=0.005) == [("topic:t", [1])]
