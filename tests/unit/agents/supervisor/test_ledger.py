from __future__ import annotations

from pathlib import Path

import pytest

from agents.agent.resources import check_feasible, request_for
from agents.errors import ConfigError, ResourceUnavailableError
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


NODES = [{"CPU": 4.0, "GPU": 1.0, "memory": 8e9}, {"CPU": 2.0, "memory": 32e9, "zone_a": 1.0}]


def test_gpu_auto_follows_the_cluster() -> None:
    assert request_for({"num_gpus": "auto"}, NODES)["num_gpus"] == 1.0
    assert request_for({"num_gpus": "auto"}, [{"CPU": 2.0}])["num_gpus"] == 0.0
    assert request_for({"num_gpus": 0.25}, NODES)["num_gpus"] == 0.25


@pytest.mark.parametrize(
    ("request_", "resource", "asked", "largest"),
    [
        ({"num_gpus": 2}, "GPU", 2, 1),
        ({"memory": int(64e9)}, "memory", 64e9, 32e9),
        ({"resources": {"tpu": 1}}, "tpu", 1, 0),
    ],
)
def test_infeasible_requests_name_the_resource(
    request_: dict[str, object], resource: str, asked: float, largest: float
) -> None:
    with pytest.raises(ResourceUnavailableError) as info:
        check_feasible("ag", request_, NODES)
    err = info.value
    assert (err.resource, err.asked, err.available) == (resource, asked, largest)
    assert "'ag'" in str(err) and resource in str(err)


def test_request_must_fit_one_node() -> None:
    check_feasible("ok", {"num_gpus": 1, "memory": int(4e9)}, NODES)
    with pytest.raises(ResourceUnavailableError):
        check_feasible("split", {"num_gpus": 1, "resources": {"zone_a": 1}}, NODES)
