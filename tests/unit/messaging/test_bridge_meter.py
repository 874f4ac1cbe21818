"""BridgeMeter: what a bridge reports about its flow, measured per batch, without Ray."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from messaging import metrics
from messaging.bridge import BridgeMeter


@pytest.fixture(autouse=True)
def _clean_metrics() -> Iterator[None]:
    metrics.take()
    yield
    metrics.take()


def test_nothing_measured_yet_reads_none() -> None:
    assert BridgeMeter("b").health() == {"lag_s_out": None, "lag_s_in": None, "backlog": None}
    assert metrics.pending() == {}


def test_each_batch_counts_its_envelopes_and_the_lag_of_the_last() -> None:
    now = [1000.0]
    meter = BridgeMeter("b1", clock=lambda: now[0])
    meter.moved("out", 300, last_created_at=997.5)
    meter.moved("out", 200, last_created_at=999.0)
    now[0] = 1010.0
    meter.moved("in", 7, last_created_at=1004.0)
    meter.waiting(42)
    assert meter.health() == {"lag_s_out": 1.0, "lag_s_in": 6.0, "backlog": 42}
    got = metrics.pending()
    out, inn = (("bridge", "b1"), ("direction", "out")), (("bridge", "b1"), ("direction", "in"))
    assert got[("raymas_bridge_messages", out)] == 500  # counts add up per direction
    assert got[("raymas_bridge_messages", inn)] == 7
    assert got[("raymas_bridge_lag_s", out)] == 1.0  # a gauge: the last batch's value
    assert got[("raymas_bridge_lag_s", inn)] == 6.0
    assert got[("raymas_bridge_backlog", (("bridge", "b1"),))] == 42


def test_a_clock_behind_the_sender_gives_no_negative_lag() -> None:
    meter = BridgeMeter("b2", clock=lambda: 100.0)
    meter.moved("in", 1, last_created_at=100.25)  # created on a node whose clock is ahead
    assert meter.health()["lag_s_in"] == 0.0
