"""The task ledger (agents/supervisor/ledger.py): persistence, first result wins, history."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigError
from agents.supervisor.ledger import Ledger, Transition


def test_sqlite_ledger_survives_reopen_and_keeps_first_result(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    led = Ledger.open(url)
    assert led.add_tasks([("a", {"kind": "noop"}), ("b", {})]) == ["a", "b"]
    assert led.add_tasks([("a", {})]) == []
    led.record([Transition("a", "awarded", "x"), Transition("a", "running", "x")])
    assert led.save_results([("b", True, b"1", None, "x"), ("b", True, b"2", None, "y")],
                            [Transition("b", "done", "x")]) == [True, False]
    led.close()
    again = Ledger.open(url)
    assert [t for t, *_ in again.unfinished()] == ["a"]
    assert again.unfinished()[0][3] == "running"
    assert again.result("b").value == b"1"  # type: ignore[union-attr]
    assert [s for s, _, _ in again.history("a")] == ["submitted", "awarded", "running"]
    again.record_votes("p", [("v1", "x", 1.0)], "x")
    assert again.votes("p") == [("v1", "x", 1.0, "x")]


def test_bad_ledger_url() -> None:
    with pytest.raises(ConfigError, match=r"ledger\.url"):
        Ledger.open("mysql://nope")
