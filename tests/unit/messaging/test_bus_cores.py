from __future__ import annotations

import math

import numpy as np
import pytest

from messaging import Batcher, Envelope, Mailbox, RumourStore, TopicError, TopicMatcher, simulate


def _env(priority: int = 4, ttl_s: float | None = None, created_at: float = 100.0) -> Envelope:
    return Envelope.new("a", recipient="b", priority=priority, ttl_s=ttl_s,
                        created_at=created_at)


def test_mailbox_priority_then_fifo_and_bounded() -> None:
    box = Mailbox(capacity=4, clock=lambda: 100.0)
    envs = [_env(1), _env(5), _env(5), _env(9)]
    assert all(box.offer(e) for e in envs) and not box.offer(_env(9))
    got, dead = box.take(10)
    assert [e.id for e in got] == [envs[3].id, envs[1].id, envs[2].id, envs[0].id]
    assert dead == [] and len(box) == 0 and box.delivered == 4


def test_mailbox_never_delivers_expired() -> None:
    now = [100.0]
    box = Mailbox(capacity=10, clock=lambda: now[0])
    keep, drop = _env(ttl_s=10.0), _env(priority=9, ttl_s=1.0)
    box.offer(keep)
    box.offer(drop)
    now[0] = 105.0
    got, dead = box.take(10)
    assert got == [keep] and dead == [(drop, "expired before delivery")] and box.expired == 1


def test_mailbox_take_respects_max() -> None:
    box = Mailbox(capacity=10)
    for _ in range(5):
        box.offer(_env())
    assert len(box.take(2)[0]) == 2 and len(box) == 3
    with pytest.raises(ValueError):
        Mailbox(0)


def test_topic_wildcards() -> None:
    t = TopicMatcher()
    t.subscribe("a/+/c", "plus")
    t.subscribe("a/#", "hash")
    t.subscribe("a/b/c", "exact")
    t.subscribe("#", "all")
    assert t.match("a/b/c") == {"plus", "hash", "exact", "all"}
    assert t.match("a") == {"hash", "all"}
    assert t.match("a/b/c/d") == {"hash", "all"}
    assert t.match("x/b/c") == {"all"}
    t.unsubscribe_all("hash")
    assert t.match("a/b") == {"all"} and t.patterns("hash") == set()


@pytest.mark.parametrize("bad", ["a/#/b", "a/b#", "a+/b", ""])
def test_bad_patterns(bad: str) -> None:
    with pytest.raises(TopicError):
        TopicMatcher().subscribe(bad, "x")


def test_cannot_publish_to_wildcards() -> None:
    with pytest.raises(TopicError, match="wildcard"):
        TopicMatcher().match("a/+")


def test_batcher_size_and_linger() -> None:
    b: Batcher[str, int] = Batcher(max_batch=3, linger_s=0.01)
    assert b.add("x", 1, now=0.0) == [] and b.add("y", 9, now=0.004) == []
    assert b.add("x", 2, now=0.001) == []
    assert b.add("x", 3, now=0.002) == [("x", [1, 2, 3])]
    assert b.next_deadline() == pytest.approx(0.014)
    assert b.due(now=0.01) == [] and b.due(now=0.015) == [("y", [9])]
    b.add("z", 5, now=1.0)
    assert b.take("z") == [5] and b.take("z") == [] and b.next_deadline() is None
    b.add("z", 6, now=2.0)
    assert b.flush_all() == [("z", [6])] and len(b) == 0


def test_rumour_store_push_pull() -> None:
    a, b = RumourStore(max_rounds=2), RumourStore()
    a.add("r1", "hello")
    b.add("r2", "world")
    assert b.absorb(a.missing_from(b.digest())) == ["r1"]
    assert a.absorb(b.missing_from(a.digest())) == ["r2"]
    assert a.digest() == b.digest() == {"r1", "r2"}
    a.tick()
    a.tick()
    assert a.hot() == {}


@pytest.mark.parametrize("n", [16, 256, 4096])
def test_gossip_reaches_everyone_in_log_rounds(n: int) -> None:
    rounds = [simulate(n, fanout=1, rng=np.random.default_rng(seed)) for seed in range(10)]
    assert max(rounds) <= 2 * math.log2(n) + 2
    assert min(rounds) >= math.log2(n) / 3  # not instant either: it is an epidemic


def test_more_fanout_means_fewer_rounds() -> None:
    rng = np.random.default_rng(1)
    one = np.mean([simulate(2048, 1, rng) for _ in range(10)])
    four = np.mean([simulate(2048, 4, rng) for _ in range(10)])
    assert four < one
