"""Hosted agents (``hosting: shared``) on a real Ray: beside agent actors in one contract
net, through a host's death under load, and on the bus within and across hosts."""

from __future__ import annotations

import os
import signal
import uuid
from typing import Any

import pytest
import ray

from agents import TaskAllocation
from agents.hosting import HostedAgentHandle, find_agent, host_actor_name
from tests.integration.conftest import HEARTBEAT, agent_actor, specs, wait_until

pytestmark = pytest.mark.integration

NS = "raymas-test"


def hosted(prefix: str, n: int, per_host: int, **kw: Any) -> list[dict[str, Any]]:
    return specs(prefix, n, hosting="shared", agents_per_host=per_host, **kw)


def bus_of(sup: Any) -> str:
    return str(sup.settings()["bus_name"])


def handle(sup: Any, agent_id: str) -> Any:
    return find_agent(agent_id, NS, bus_of(sup))


def host_pid(sup: Any, host_id: str) -> int:
    return int(ray.get(ray.get_actor(host_actor_name(host_id), namespace=NS).ready.remote())
               ["pid"])


def test_hosted_and_actor_agents_share_one_contract_net(make_supervisor: Any) -> None:
    sup = make_supervisor(strategy="contract_net", cfp_fanout=4)
    actors = sup.spawn(specs("act", 2, max_tasks=4))
    infos = sup.spawn(hosted("hst", 40, 20, max_tasks=4))
    assert {i["host_id"] for i in infos} == {infos[0]["host_id"], infos[-1]["host_id"]}
    assert len({i["host_id"] for i in infos}) == 2 and len({i["pid"] for i in infos}) == 2
    ids = sup.submit([TaskAllocation(task_id=f"mix-{i}", kind="count_primes",
                                     args={"n": 3000}) for i in range(300)])
    res = sup.wait(ids, timeout_s=120)
    assert all(r["state"] == "done" and r["value"] == 430 for r in res.values())
    ran = {r["agent_id"] for r in res.values()}
    assert ran & {a["agent_id"] for a in actors} and len(ran & {i["agent_id"] for i in infos}) > 10
    # the same agent API on a hosted agent: describe, identity, the ledger's view
    h = handle(sup, infos[3]["agent_id"])
    assert isinstance(h, HostedAgentHandle)
    described = ray.get(h.describe.remote())
    assert described["agent_id"] == infos[3]["agent_id"] and described["hosting"] == "shared"
    token = ray.get(h.identity.remote())
    claims = ray.get(sup.handle.verify_token.remote(token, infos[3]["agent_id"]))
    assert claims["sub"] == infos[3]["agent_id"]
    assert sup.status()["alive"] == 42
    assert sup.deregister_agent(infos[0]["agent_id"])
    with pytest.raises(ValueError):
        handle(sup, infos[0]["agent_id"])
    assert sup.status()["alive"] == 41


@pytest.mark.parametrize("paused_host", [False, True], ids=["idle", "other-host-paused"])
def test_a_host_killed_mid_workload_loses_no_task(make_supervisor: Any,
                                                  paused_host: bool) -> None:
    """Ray restarts the killed host; its agents are dead together, their tasks go to other
    agents, every task is done once; with the other host paused (SIGSTOP) meanwhile, its
    agents are suspect, not dead, and keep their tasks."""
    sup = make_supervisor(strategy="contract_net", heartbeat_timeout_s=1.5)
    infos = sup.spawn(hosted("hk", 6, 3, max_tasks=2) + specs("hk-act", 1, max_tasks=2))
    hosts = sorted({i["host_id"] for i in infos if i.get("host_id")})
    victim = [i["agent_id"] for i in infos if i.get("host_id") == hosts[0]]
    ids = sup.submit([TaskAllocation(task_id=f"hk-{uuid.uuid4().hex[:4]}-{i}",
                                     kind="sha256_chain",
                                     args={"rounds": 20_000, "seed": str(i)})
                      for i in range(150)])
    wait_until(lambda: ray.get(sup.handle.progress.remote(ids, 0.2))["done"] >= 15,
               "no progress before the kill")
    other = host_pid(sup, hosts[1])
    if paused_host:
        os.kill(other, signal.SIGSTOP)
    try:
        ray.kill(ray.get_actor(host_actor_name(hosts[0]), namespace=NS), no_restart=False)
        wait_until(lambda: sup.status()["stats"]["deaths"] >= 3, "the host's agents not dead")
        if paused_host:
            wait_until(lambda: sup.status()["suspect"] >= 3, "the paused host's agents never "
                       "suspected", timeout=20)
    finally:
        if paused_host:
            os.kill(other, signal.SIGCONT)
    res = sup.wait(ids, timeout_s=180)
    assert sum(r["state"] == "done" for r in res.values()) == 150
    assert all([s for s, _, _ in sup.history(t)].count("done") == 1 for t in ids[:40])
    status = sup.status()
    assert status["stats"]["deaths"] == 3 and status["tasks"] == {"done": 150}
    # the restarted host built its agents again: they beat, are probed and come back
    wait_until(lambda: all(a["alive"] for a in sup.list_agents()), "the agents never came back")
    assert {a["agent_id"] for a in sup.list_agents() if a["alive"]} >= set(victim)
    more = sup.submit([TaskAllocation(task_id=f"hk-after-{i}") for i in range(30)])
    assert all(r["state"] == "done" for r in sup.wait(more, timeout_s=60).values())


def test_messages_within_and_across_hosts_arrive_once_in_priority_order(
        make_supervisor: Any) -> None:
    sup = make_supervisor()
    infos = sup.spawn(hosted("msg", 4, 2) + specs("msg-act", 1))
    a0, a1, b0, _b1, actor = (i["agent_id"] for i in infos)
    assert infos[0]["host_id"] == infos[1]["host_id"] != infos[2]["host_id"]
    sender = handle(sup, a0)
    sent = [(i, [1, 9, 4, 6][i % 4]) for i in range(40)]
    for to in (a1, b0, actor):
        for i, priority in sent:
            ray.get(sender.tell.remote(to, {"n": i}, priority=priority))
    ray.get(sender.flush.remote())
    expected = [i for i, _ in sorted(sent, key=lambda s: -s[1])]  # stable within a priority
    for to in (a1, b0, actor):
        h = handle(sup, to) if to != actor else agent_actor(infos[4])
        got: list[dict[str, Any]] = []
        wait_until(lambda h=h, got=got: got.extend(ray.get(h.receive.remote(100, 0.2)))
                   or len(got) >= 40, f"{to} did not get all 40")
        assert [m["payload"]["n"] for m in got] == expected, to
        assert {m["sender"] for m in got} == {a0}
        assert ray.get(h.receive.remote(100, 0.3)) == []  # once
    # in-host messages never left the host; the others went out through its endpoint
    stats = ray.get(ray.get_actor(host_actor_name(infos[0]["host_id"]), namespace=NS)
                    .stats.remote())
    assert stats["in_host"] == 40 and stats["outbound"]["sent"] == 80
    # a request to an agent of the same host is answered in-process
    reply = ray.get(sender.request.remote(a1, {"kind": "echo", "args": {"value": 5}}))
    assert reply["payload"] == 5 and reply["sender"] == a1


def test_a_topic_reaches_each_subscriber_once_with_one_delivery_per_host(
        make_supervisor: Any) -> None:
    sup = make_supervisor()
    infos = sup.spawn(hosted("sub", 6, 3) + specs("sub-act", 2))
    topic = f"bench/{uuid.uuid4().hex[:6]}"
    subscribers = [i for k, i in enumerate(infos) if k != 5 and k != 7]  # one of each stays out
    for info in subscribers:
        h = handle(sup, info["agent_id"]) if info.get("host_id") else agent_actor(info)
        ray.get(h.subscribe.remote(topic))
    route = ray.get(ray.get_actor(bus_of(sup), namespace=NS).route.remote(topic))
    hosts = {f"host:{i['host_id']}" for i in infos if i.get("host_id")}
    assert set(route) == hosts | {infos[6]["agent_id"]}  # each host once
    publisher = agent_actor(infos[7])
    ray.get(publisher.publish_many.remote(topic, list(range(50))))
    ray.get(publisher.flush.remote())
    for info in infos:
        h = handle(sup, info["agent_id"]) if info.get("host_id") else agent_actor(info)
        want = 50 if info in subscribers else 0
        got: list[dict[str, Any]] = []
        if want:
            wait_until(lambda h=h, got=got, want=want: got.extend(
                ray.get(h.receive.remote(100, 0.2))) or len(got) >= want,
                f"{info['agent_id']} did not get {want}")
        got.extend(ray.get(h.receive.remote(100, 0.3)))
        assert sorted(m["payload"] for m in got) == list(range(want)), info["agent_id"]
    # a hosted agent publishing: its host-mates hear it in-process, the rest over the bus
    ray.get(handle(sup, infos[0]["agent_id"]).publish.remote(topic, "hello"))
    for info in subscribers:
        h = handle(sup, info["agent_id"]) if info.get("host_id") else agent_actor(info)
        got = []
        wait_until(lambda h=h, got=got: got.extend(ray.get(h.receive.remote(10, 0.2)))
                   or len(got) >= 1, f"{info['agent_id']} missed the hosted publish")
        assert [m["payload"] for m in got] == ["hello"]


def test_a_broadcast_reaches_every_hosted_agent(make_supervisor: Any) -> None:
    sup = make_supervisor()
    infos = sup.spawn(hosted("bc", 5, 3) + specs("bc-act", 1))
    ray.get(agent_actor(infos[5]).broadcast.remote({"hello": 1}))
    ray.get(agent_actor(infos[5]).flush.remote())
    for info in infos[:5]:
        h = handle(sup, info["agent_id"])
        got: list[dict[str, Any]] = []
        wait_until(lambda h=h, got=got: got.extend(ray.get(h.receive.remote(10, 0.2)))
                   or got, f"{info['agent_id']} missed the broadcast")
        assert [m["payload"] for m in got] == [{"hello": 1}]


def test_a_restarted_supervisor_takes_its_hosts_back(make_supervisor: Any) -> None:
    sup = make_supervisor()
    infos = sup.spawn(hosted("rs", 4, 2, max_tasks=2))
    ids = sup.submit([TaskAllocation(task_id=f"rs-{i}", kind="sha256_chain",
                                     args={"rounds": 5000, "seed": str(i)}) for i in range(60)])
    wait_until(lambda: ray.get(sup.handle.progress.remote(ids, 0.2))["done"] >= 5,
               "no progress before the restart")
    ray.kill(sup.handle, no_restart=False)
    res = sup.wait(ids, timeout_s=120)
    assert sum(r["state"] == "done" for r in res.values()) == 60
    agents = sup.list_agents()
    assert {a["agent_id"] for a in agents} == {i["agent_id"] for i in infos}
    wait_until(lambda: all(a["alive"] for a in sup.list_agents()), "hosts not taken back")
    more = sup.submit([TaskAllocation(task_id=f"rs-after-{i}") for i in range(10)])
    assert all(r["state"] == "done" for r in sup.wait(more, timeout_s=60).values())


def test_a_hosted_group_spawns_by_count(make_supervisor: Any) -> None:
    sup = make_supervisor()
    out = ray.get(sup.handle.spawn_group.remote(
        {"agent_id": "grp", "capabilities": ["execution", "grp"], **HEARTBEAT,
         "agents_per_host": 400}, 1000))
    assert out["agents"] == 1000 and len(out["hosts"]) == 3
    assert sup.status()["alive"] == 1000
    ids = sup.submit([TaskAllocation(task_id=f"grp-{i}", required_capabilities=["grp"])
                      for i in range(500)])
    assert all(r["state"] == "done" for r in sup.wait(ids, timeout_s=60).values())
    assert ray.get(handle(sup, "grp-999").describe.remote())["host_id"] == out["hosts"][2]


def test_sealed_payloads_requests_and_gossip_reach_hosted_agents(make_supervisor: Any) -> None:
    import base64
    import secrets

    key = base64.b64encode(secrets.token_bytes(32)).decode()
    sup = make_supervisor(message_keys=f"k1:{key}")
    infos = sup.spawn(hosted("sec", 3, 2) + specs("sec-act", 1))
    ids = [i["agent_id"] for i in infos]
    actor = agent_actor(infos[3])
    everyone = [handle(sup, a) for a in ids[:3]] + [actor]
    for to in ids[1:]:  # in-host (never sealed), to the other host and to the actor (sealed)
        ray.get(everyone[0].tell.remote(to, {"secret": to}))
    ray.get(everyone[0].flush.remote())
    for to, h in zip(ids[1:], everyone[1:], strict=True):
        got: list[dict[str, Any]] = []
        wait_until(lambda h=h, got=got: got.extend(ray.get(h.receive.remote(10, 0.2))) or got,
                   f"{to} got nothing")
        assert [m["payload"] for m in got] == [{"secret": to}]
    # a request from an agent actor to a hosted agent goes straight to its host
    reply = ray.get(actor.request.remote(ids[2], {"kind": "echo", "args": {"value": 9}}))
    assert reply["payload"] == 9 and reply["sender"] == ids[2]
    # gossip between agent actors and hosted agents
    ray.get(actor.spread.remote("r1", {"x": 1}))
    rounds = [0]

    def everyone_knows() -> bool:
        rounds[0] += 1
        ray.get([h.gossip_round.remote(1, 100 * rounds[0] + i) for i, h in enumerate(everyone)])
        return all("r1" in ray.get(h.rumours.remote()) for h in everyone)

    wait_until(everyone_knows, lambda: f"the rumour did not spread in {rounds[0]} rounds")


def test_hosted_agents_step_in_lockstep_across_hosts(make_supervisor: Any) -> None:
    """Mesa-style steps over two hosts: every message arrives once, in the recipient's next
    step, whether it crossed hosts or not; mail in flight between runs is kept."""
    from agents.hosting.simulation import Simulation

    sup = make_supervisor()
    infos = sup.spawn(hosted("step", 6, 3))
    ids = [i["agent_id"] for i in infos]
    hosts = sorted({i["host_id"] for i in infos})
    sim = Simulation.of_supervisor(sup.handle, hosts, "tests.integration.step_models:relay",
                                   {"ring": ids}, seed=3)
    assert sim.agents == 6
    stats = sim.run(3)
    stats.merge(sim.run(2))  # the mail of the last step of a run waits for the next
    assert stats.steps == 5 and not stats.undelivered
    assert stats.delivered == 6 * 5 and stats.across_hosts == 2 * 5  # two ring edges cross
    got = {a: g for host in sim.collected("got") for a, g in host[-1].items()}
    for k, agent_id in enumerate(ids):  # from its predecessor, steps 0..3, in order, once
        assert got[agent_id] == [[ids[k - 1], s] for s in range(4)], agent_id

    infos = sup.spawn(hosted("w", 40, 20))
    wids = [i["agent_id"] for i in infos]
    sim = Simulation.of_supervisor(sup.handle, sorted({i["host_id"] for i in infos}),
                                   "tests.integration.step_models:wealth", {"everyone": wids},
                                   seed=1)
    stats = sim.run(20)
    assert not stats.undelivered and stats.across_hosts > 0
    wealth, inboxes = sim.collected("wealth_here"), sim.collected("coins_in_inboxes")
    assert sum(h[0] for h in wealth) == 40
    assert sum(h[-1] for h in wealth) + sum(h[-1] for h in inboxes) + sim.in_flight == 40
