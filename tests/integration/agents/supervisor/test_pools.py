"""Agent pools on a real Ray: a burst grows the pool, the quiet after shrinks it (its
agents drained), no task lost; the autoscaler is asked for the pool's resources."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agents import TaskAllocation
from tests.integration.conftest import HEARTBEAT, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("hosting", ["actor", "shared"])
def test_a_burst_grows_the_pool_and_the_quiet_shrinks_it(make_supervisor: Any,
                                                          hosting: str) -> None:
    sup = make_supervisor(heartbeat_timeout_s=5.0)
    name = f"pool-{uuid.uuid4().hex[:4]}"
    status = sup.add_pool({"agent_id": name, "capabilities": ["burst"], "max_tasks": 2,
                           "hosting": hosting, **HEARTBEAT},
                          min=1, max=4, grow_after_s=0.5, idle_after_s=3.0)
    assert status["size"] == 1 and status["members"] == [f"{name}-0"]
    ids = sup.submit([TaskAllocation(task_id=f"{name}-t{i}", kind="sha256_chain",
                                     required_capabilities=["burst"],
                                     args={"rounds": 200_000, "seed": str(i)})
                      for i in range(60)])
    sizes: list[int] = []

    def grew() -> bool:
        sizes.append(sup.pools_status()[0]["size"])
        return sizes[-1] > 1

    wait_until(grew, lambda: f"the pool never grew: sizes {sizes}")
    res = sup.wait(ids, timeout_s=180)
    assert sum(r["state"] == "done" for r in res.values()) == 60
    assert len({r["agent_id"] for r in res.values()}) > 1  # the new agents took tasks
    pool = sup.pools_status()[0]
    assert pool["grown"] >= 1 and pool["size"] <= 4
    wait_until(lambda: sup.pools_status()[0]["size"] == 1,
               lambda: f"the pool never shrank back: {sup.pools_status()}", timeout=60)
    pool = sup.pools_status()[0]
    assert pool["shrunk"] == pool["grown"] and len(pool["members"]) == 1
    wait_until(lambda: [a["agent_id"] for a in sup.list_agents()] == pool["members"],
               lambda: f"retired agents still on the books: {sup.list_agents()}")
    assert sup.status()["tasks"] == {"done": 60}
    assert all([s for s, _, _ in sup.history(t)].count("done") == 1 for t in ids)
    # the next burst grows it again
    more = sup.submit([TaskAllocation(task_id=f"{name}-u{i}", kind="sha256_chain",
                                      required_capabilities=["burst"],
                                      args={"rounds": 200_000, "seed": str(i)})
                       for i in range(30)])
    assert all(r["state"] == "done" for r in sup.wait(more, timeout_s=180).values())
    assert sup.pools_status()[0]["grown"] > pool["grown"]


def test_growth_asks_the_autoscaler_for_the_pools_resources(make_supervisor: Any) -> None:
    from ray.autoscaler._private.constants import AUTOSCALER_RESOURCE_REQUEST_CHANNEL
    from ray.autoscaler.v2.utils import is_autoscaler_v2
    from ray.experimental.internal_kv import _internal_kv_get

    if is_autoscaler_v2():
        pytest.skip("this cluster runs autoscaler v2: the request goes to the GCS, not KV")
    sup = make_supervisor()
    name = f"asked-{uuid.uuid4().hex[:4]}"
    sup.add_pool({"agent_id": name, "capabilities": ["asked"], "num_cpus": 0.25,
                  "max_tasks": 1, **HEARTBEAT}, min=1, max=3, grow_after_s=0.3,
                 idle_after_s=60)

    def requested() -> list[dict[str, float]]:
        raw = _internal_kv_get(AUTOSCALER_RESOURCE_REQUEST_CHANNEL)
        return json.loads(raw) if raw else []

    assert requested() == [{"CPU": 0.25}]
    ids = sup.submit([TaskAllocation(task_id=f"{name}-{i}", kind="sha256_chain",
                                     required_capabilities=["asked"],
                                     args={"rounds": 1_000_000, "seed": str(i)})
                      for i in range(6)])
    wait_until(lambda: len(requested()) > 1,
               lambda: f"never asked for more: {requested()}, {sup.pools_status()}")
    assert all(b == {"CPU": 0.25} for b in requested()) and len(requested()) <= 3
    assert all(r["state"] == "done" for r in sup.wait(ids, timeout_s=120).values())
