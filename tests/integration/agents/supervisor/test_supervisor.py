"""The Supervisor on a real Ray: strategies, resources, failures and recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest
import ray

from agents import Coordinator, ResourceUnavailableError, TaskAllocation
from agents.agent.builtin_kinds import count_primes
from tests.integration.conftest import specs, wait_until

pytestmark = pytest.mark.integration

STRATEGIES = ["contract_net", "first_price", "vickrey", "consensus", "optimal", "ssi", "cbba",
              "least_loaded", "power_of_two"]


def _primes(prefix: str, n: int, **kw: Any) -> list[TaskAllocation]:
    return [TaskAllocation(task_id=f"{prefix}-{i}", kind="count_primes",
                           args={"n": 1000 + i}, **kw) for i in range(n)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_every_task_once(make_supervisor: Any, strategy: str) -> None:
    sup = make_supervisor(strategy=strategy)
    sup.spawn(specs("s", 3, max_tasks=4))
    ids = sup.submit(_primes(strategy, 30))
    res = sup.wait(ids, timeout_s=60)
    assert all(r["state"] == "done" for r in res.values())
    assert [res[t]["value"] for t in ids] == [count_primes(1000 + i) for i in range(30)]
    history = [s for s, _, _ in ray.get(sup.handle.history.remote(ids[0]))]
    assert history[0] == "submitted" and history[-2:] == ["running", "done"]
    if strategy in ("contract_net", "first_price", "vickrey"):
        assert "announced" in history and "awarded" in history
    assert sup.status()["tasks"] == {"done": 30}


def test_seed_api_async_coordinator(make_supervisor: Any) -> None:
    handle = make_supervisor().handle

    async def go() -> tuple[str, dict[str, Any]]:
        coordinator = Coordinator(handle)
        await coordinator.register_agent("agent_001", ["planning", "execution"], 10,
                                         heartbeat_interval_s=0.5)
        winner = await coordinator.allocate_task(
            TaskAllocation(task_id="seed-1", required_capabilities=["planning"], priority=1))
        return winner, (await coordinator.wait(["seed-1"], 30))["seed-1"]

    winner, result = asyncio.run(go())
    assert winner == "agent_001" and result["state"] == "done"
    described = ray.get(handle.describe_agent.remote("agent_001"))
    assert described["capacity"] == 10 and described["completed"] == 1
    assert described["capabilities"] == ["execution", "planning"] and described["alive"]


def test_resubmitting_an_id_does_not_run_it_twice(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("d", 2))
    sup.submit([TaskAllocation(task_id="once", kind="sha256_chain", args={"rounds": 10})])
    first = sup.wait(["once"], 30)["once"]
    sup.submit([TaskAllocation(task_id="once", kind="sha256_chain", args={"rounds": 99})])
    assert sup.wait(["once"], 30)["once"]["value"] == first["value"]
    assert [s for s, _, _ in ray.get(sup.handle.history.remote("once"))].count("done") == 1


def test_failing_task_is_retried_then_reported(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("f", 2))
    sup.submit([TaskAllocation(task_id="bad", kind="fail", args={"message": "boom"},
                               max_attempts=2)])
    r = sup.wait(["bad"], 30)["bad"]
    assert r["state"] == "failed" and "boom" in r["error"] and r["attempts"] == 2


def test_task_waits_for_a_capable_agent(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("plain", 1))
    sup.submit([TaskAllocation(task_id="rare", required_capabilities=["rare"])])
    assert sup.wait(["rare"], 1.0)["rare"]["state"] == "submitted"
    sup.spawn(specs("rare", 1, capabilities=["rare"]))
    assert sup.wait(["rare"], 30)["rare"]["state"] == "done"


def test_agents_land_where_their_gpu_annotations_say(make_supervisor: Any) -> None:
    sup = make_supervisor()
    infos = sup.spawn(specs("gpu-half", 2, num_gpus=0.5) + specs("gpu-auto", 1, num_gpus="auto")
                      + specs("cpu", 1))
    half, auto, cpu = infos[:2], infos[2], infos[3]
    assert all(len(i["gpu_ids"]) == 1 for i in half)
    assert half[0]["cuda_visible_devices"] == half[0]["gpu_ids"][0]
    assert len(auto["gpu_ids"]) == 1  # the head node has (fake) GPUs, so auto asks for one
    assert cpu["gpu_ids"] == [] and not cpu["cuda_visible_devices"]
    mods = ray.get(ray.get_actor(f"raymas-agent:{cpu['agent_id']}",
                                 namespace="raymas-test").imported_modules.remote(
        ["torch", "tensorflow"]))
    assert mods == {"torch": False, "tensorflow": False}


@pytest.mark.parametrize(("spec", "resource"), [
    ({"num_gpus": 3}, "GPU"),
    ({"memory": 10**15}, "memory"),
    ({"resources": {"tpu_v9": 1}}, "tpu_v9"),
])
def test_impossible_resources_fail_fast(make_supervisor: Any, spec: dict[str, Any],
                                        resource: str) -> None:
    sup = make_supervisor()
    started = time.monotonic()
    with pytest.raises(ResourceUnavailableError) as info:
        sup.spawn(specs("bad", 1, **spec))
    assert info.value.resource == resource and resource in str(info.value)
    assert time.monotonic() - started < 30  # refused, not left pending


def test_killing_agents_mid_workload_loses_no_task(make_supervisor: Any) -> None:
    sup = make_supervisor(strategy="contract_net")
    infos = sup.spawn(specs("k", 4, max_tasks=3))
    ids = sup.submit([TaskAllocation(task_id=f"k-{i}", kind="sha256_chain",
                                     args={"rounds": 3000, "seed": str(i)}) for i in range(200)])
    wait_until(lambda: ray.get(sup.handle.progress.remote(ids, 0.2))["done"] >= 20,
               "no progress before the kills")
    for info in infos[:2]:
        ray.kill(ray.get_actor(f"raymas-agent:{info['agent_id']}", namespace="raymas-test"))
    res = sup.wait(ids, timeout_s=120)
    assert sum(r["state"] == "done" for r in res.values()) == 200
    status = sup.status()
    assert status["stats"]["deaths"] == 2 and status["alive"] == 2
    assert status["tasks"] == {"done": 200}


def test_supervisor_restart_loses_no_task(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("r", 3, max_tasks=2))
    ids = sup.submit([TaskAllocation(task_id=f"r-{i}", kind="sha256_chain",
                                     args={"rounds": 5000, "seed": str(i)}) for i in range(120)])
    wait_until(lambda: ray.get(sup.handle.progress.remote(ids, 0.2))["done"] >= 10,
               "no progress before the restart")
    ray.kill(sup.handle, no_restart=False)  # Ray restarts it; it reloads the ledger
    res = sup.wait(ids, timeout_s=120)  # retried by Ray across the restart
    assert sum(r["state"] == "done" for r in res.values()) == 120
    assert len(sup.list_agents()) == 3  # re-attached by name
    assert sup.status()["tasks"] == {"done": 120}


def test_a_paused_agent_is_suspect_not_dead_and_comes_back(make_supervisor: Any) -> None:
    """SIGSTOP: alive to Ray, silent to the Supervisor.  A slow agent is not a dead one:
    it keeps its task and gets no new work; resumed, it finishes that task, once."""
    sup = make_supervisor(heartbeat_timeout_s=1.5)
    infos = sup.spawn(specs("hb", 2, max_tasks=1))
    paused = infos[0]
    ids = sup.submit([TaskAllocation(task_id=f"hb-long-{i}", kind="sha256_chain",
                                     args={"rounds": 3_000_000, "seed": str(i)}) for i in range(2)])
    by_agent = lambda: {a["agent_id"]: a for a in sup.list_agents()}  # noqa: E731
    wait_until(lambda: by_agent()[paused["agent_id"]]["load"] == 1, "the agent got no task")
    held = next(t for t in ids if sup.result(t)["agent_id"] == paused["agent_id"])
    os.kill(paused["pid"], signal.SIGSTOP)
    try:
        wait_until(lambda: by_agent()[paused["agent_id"]]["suspect"], "never suspected",
                   timeout=20)
        rec = by_agent()[paused["agent_id"]]
        assert rec["alive"] and rec["load"] == 1 and rec["death"] is None
        more = sup.submit([TaskAllocation(task_id=f"hb-short-{i}", kind="count_primes",
                                          args={"n": 2000}) for i in range(5)])
        res = sup.wait(more, timeout_s=60)
        assert {r["agent_id"] for r in res.values()} == {infos[1]["agent_id"]}
    finally:
        os.kill(paused["pid"], signal.SIGCONT)
    wait_until(lambda: not by_agent()[paused["agent_id"]]["suspect"], "never came back")
    res = sup.wait(ids, timeout_s=120)
    assert all(r["state"] == "done" for r in res.values())
    assert res[held]["agent_id"] == paused["agent_id"]
    assert [s for s, _, _ in sup.history(held)].count("done") == 1
    stats = sup.status()["stats"]
    assert stats["deaths"] == 0 and stats["reassigned"] == 0 and stats["suspected"] >= 1


def test_postgres_ledger(make_supervisor: Any) -> None:
    from tests.conftest import require_service

    require_service("postgres")
    import psycopg

    url = "postgresql://postgres@127.0.0.1:5432/test"
    sup = make_supervisor(ledger_url=url, fresh=True)
    sup.spawn(specs("pg", 2))
    ids = sup.submit(_primes("pg", 20))
    assert all(r["state"] == "done" for r in sup.wait(ids, 60).values())
    with psycopg.connect(url) as conn:
        done = conn.execute("SELECT COUNT(*) FROM raymas_results WHERE task_id LIKE 'pg-%' "
                            "AND ok = 1").fetchone()
    assert done == (20,)


def test_consensus_votes_are_recorded(make_supervisor: Any) -> None:
    sup = make_supervisor(strategy="consensus")
    sup.spawn(specs("v", 3))
    sup.submit([TaskAllocation(task_id="vote-me")])
    assert sup.wait(["vote-me"], 30)["vote-me"]["state"] == "done"
    votes = ray.get(sup.handle.votes.remote("vote-me"))
    assert len(votes) == 3 and len({d for *_, d in votes}) == 1


def test_a_later_job_finds_the_supervisor(make_supervisor: Any, ray_cluster: Any) -> None:
    import subprocess
    import sys

    sup = make_supervisor()
    name = ray.get(sup.handle.name.remote())
    code = ("import ray; from agents import SupervisorClient\n"
            f"ray.init(address={ray_cluster.address!r}, namespace='raymas-test')\n"
            f"print(SupervisorClient(name={name!r}, namespace='raymas-test').status()['agents'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip().splitlines()[-1] == "0"


def test_agents_vote_on_a_question_with_quorum(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("vf", 2, voter="first") + specs("vl", 1, voter="least_loaded",
                                                      capabilities=["execution", "ops"]))
    opts = [{"id": "scale-up", "load": 0.9}, {"id": "hold", "load": 0.1}]
    out = sup.hold_vote("scale?", opts, rule="majority")
    # the two 'first' voters pick "scale-up", the least_loaded one picks "hold"
    assert out["accepted"] and out["choice"] == "scale-up" and len(out["votes"]) == 3
    assert sorted(c for _, c in out["votes"]) == ["hold", "scale-up", "scale-up"]
    only_ops = sup.hold_vote("ops only", opts, capabilities=["ops"], rule="quorum", quorum=1.0)
    assert only_ops["choice"] == "hold" and only_ops["turnout"] == 1.0
    assert len(ray.get(sup.handle.votes.remote(out["proposal_id"]))) == 3


def test_resource_auction_vickrey_and_first_price(make_supervisor: Any) -> None:
    sup = make_supervisor()
    sup.spawn(specs("low", 1, valuations={"gpu-slot": 3.0})
              + specs("high", 1, valuations={"gpu-slot": 7.0}) + specs("none", 1))
    v = sup.auction_resource("gpu-slot", rule="vickrey")
    assert v["winner"].startswith("high") and v["price"] == 3.0 and len(v["bids"]) == 2
    f = sup.auction_resource("gpu-slot", rule="first_price")
    assert f["winner"].startswith("high") and f["price"] == 7.0
    assert sup.auction_resource("gpu-slot", reserve=10.0)["winner"] is None


def test_bad_tasks_are_refused_at_submit(make_supervisor: Any) -> None:
    from agents import AllocationError

    sup = make_supervisor()
    with pytest.raises(AllocationError, match="did you mean 'vickrey'"):
        sup.submit([TaskAllocation(task_id="x", strategy="vickery")])
    with pytest.raises(AllocationError, match="max_attempts"):
        sup.submit([{"task_id": "y", "max_attempts": 0}])
    with pytest.raises(AllocationError, match="bad task 'z'"):
        sup.submit([{"task_id": "z", "colour": "red"}])
    assert sup.status()["tasks"] == {}


def test_adaptive_bidders_learn_from_contract_net_outcomes(make_supervisor: Any) -> None:
    sup = make_supervisor(strategy="contract_net")
    infos = sup.spawn(specs("bid", 3, bidding="ucb1"))
    ids = sup.submit([TaskAllocation(task_id=f"bid-{i}", kind="noop") for i in range(60)])
    assert all(r["state"] == "done" for r in sup.wait(ids, timeout_s=60).values())
    stats = [sup.describe_agent(i["agent_id"])["bidding"] for i in infos]
    scored = sum(sum(s["counts"].values()) for s in stats)
    assert scored >= 60  # every won proposal was scored, and the lost ones too
    assert all(set(s["counts"]) == {"0.8", "1.0", "1.25"} for s in stats)


def test_agents_inherit_the_runtime_env_and_never_load_the_supervisor(
        make_supervisor: Any) -> None:
    """The Supervisor's runtime environment reaches its agents; an agent works and answers
    its pulse (the heartbeat, pulled) without a handle to the Supervisor, whose module tree
    would cost every agent process 0.3 s of imports."""
    sup = make_supervisor(runtime_env={"env_vars": {"RAYMAS_TEST_INHERITED": "yes"}})
    info = sup.spawn(specs("inherit", 1, capabilities=["execution"]))[0]
    with open(f"/proc/{info['pid']}/environ", "rb") as f:
        assert b"RAYMAS_TEST_INHERITED=yes" in f.read().split(b"\0")
    handle = ray.get_actor(f"raymas-agent:{info['agent_id']}", namespace="raymas-test")
    ids = sup.submit([TaskAllocation(task_id="inherit-1", kind="noop",
                                     required_capabilities=["execution"])])
    assert sup.wait(ids, timeout_s=60)["inherit-1"]["state"] == "done"
    beat = ray.get(handle.pulse.remote(0.0))
    assert beat == {"stopped": False, "load": 0, "state": "idle", "mailbox": 0,
                    "report": None}
    loaded = ray.get(handle.imported_modules.remote(["agents.supervisor.actor",
                                                     "agents.supervisor.hosting_shell"]))
    assert loaded == {"agents.supervisor.actor": False,
                      "agents.supervisor.hosting_shell": False}


def test_an_agent_ray_restarts_comes_back_and_is_pulled_again(make_supervisor: Any) -> None:
    """Killed with a restart left, the agent comes back in a new process: the Supervisor's
    pulse reaches the new incarnation (a call Ray could not deliver while it restarted is
    asked again, not taken for a death), and the agent takes new work."""
    sup = make_supervisor()
    info = sup.spawn(specs("phoenix", 1, capabilities=["execution"], max_restarts=1))[0]
    aid = info["agent_id"]
    handle = ray.get_actor(f"raymas-agent:{aid}", namespace="raymas-test")
    ray.kill(handle, no_restart=False)

    def new_pid() -> bool:
        try:
            return bool(ray.get(handle.describe.remote(), timeout=5)["pid"] != info["pid"])
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return False

    wait_until(new_pid, "Ray never restarted the agent")
    ids = sup.submit([TaskAllocation(task_id="phoenix-1", kind="noop",
                                     required_capabilities=["execution"])])
    assert sup.wait(ids, timeout_s=60)["phoenix-1"]["agent_id"] == aid
    assert ray.get(handle.pulse.remote(0.0))["stopped"] is False
