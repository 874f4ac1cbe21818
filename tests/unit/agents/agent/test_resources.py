"""Resource requests (agents/agent/resources.py): GPU auto, feasibility per node."""

from __future__ import annotations

import pytest

from agents.agent.resources import check_feasible, request_for
from agents.errors import ResourceUnavailableError

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
