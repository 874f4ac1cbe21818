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


def test_a_held_destination_is_never_due_until_released() -> None:
    """A fan-out topic with a batch on its way is held: what comes meanwhile gathers."""
    b: Batcher[str, int] = Batcher(max_batch=100, linger_s=0.005)
    b.add("topic:t", 1, now=0.0)
    b.add("topic:t", 2, now=0.001)
    b.add("a", 3, now=0.002)
    assert b.next_deadline(held={"topic:t"}) == 0.007
    assert b.due(now=1.0, held={"topic:t"}) == [("a", [3])]
    assert b.next_deadline(held={"topic:t"}) is None
    assert b.take("topic:t") == [1, 2]
