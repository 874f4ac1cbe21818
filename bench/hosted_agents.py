"""Hosted agents (``hosting: shared``) figures, a part of ``bench/agents.py``.

Spawn time of 10,000 and 100,000 hosted agents (and seconds per 1,000 at each,
to show the growth is linear), the host's memory per agent, contract-net
throughput with 10,000 hosted agents, in-host messages against the cross-host
bus, and a topic's fan-out to 10,000 hosted subscribers.  Baselines, same run:
as many bare Ray actors as hosts, an agent actor's memory, the contract net
over 100 agent actors (when the ``core`` part ran), the cross-host bus; and Mesa's
Boltzmann wealth model stepped by 10,000 hosted agents (one host, and two hosts in
lockstep) beside Mesa itself on the same model, same n and steps, same run (three
alternating rounds of each; the medians).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from typing import Any

import psutil
import ray

from agents import TaskAllocation
from agents.hosting import find_agent, host_actor_name
from agents.supervisor.client import SupervisorClient, start_supervisor
from bench._common import emit, log

B = "agents"
NS = "raymas-bench"
BUS = "bench-hosted-bus"
#: the same run's contract-net rate over 100 agent actors, when the core part measured it
SAME_RUN: dict[str, float] = {}


def _hosts(out: dict[str, Any]) -> list[Any]:
    return [ray.get_actor(host_actor_name(h), namespace=NS) for h in out["hosts"]]


def _uss(hosts: list[Any]) -> int:
    pids = [ray.get(h.ready.remote())["pid"] for h in hosts]
    return sum(psutil.Process(p).memory_full_info().uss for p in pids)


def _spawn(sup: SupervisorClient, prefix: str, n: int, per_host: int, **spec: Any
           ) -> tuple[float, dict[str, Any]]:
    template = {"agent_id": prefix, "capabilities": ["execution", "bench"],
                "heartbeat_interval_s": 5.0, "agents_per_host": per_host, **spec}
    t = time.perf_counter()
    out = ray.get(sup.handle.spawn_group.remote(template, n))
    return time.perf_counter() - t, out


def _bare_hosts(n: int) -> float:
    """The floor under starting ``n`` hosts: ``n`` bare Ray actors, created and answering."""
    class Bare:
        def ping(self) -> int:
            return 1

    remote: Any = ray.remote(Bare)
    t = time.perf_counter()
    actors = [remote.options(num_cpus=0).remote() for _ in range(n)]
    ray.get([a.ping.remote() for a in actors])
    took = time.perf_counter() - t
    for a in actors:
        ray.kill(a)
    return took


def _stop(sup: SupervisorClient, out: dict[str, Any]) -> None:
    for host in _hosts(out):
        ray.get(host.stop.remote())
        ray.kill(host, no_restart=True)


def hosted_figures(quick: bool) -> None:
    ray.init(num_cpus=2, include_dashboard=False, namespace=NS, log_to_driver=False)
    try:
        sup = SupervisorClient(start_supervisor({
            "name": "bench-hosted", "namespace": NS, "fresh": True, "bus_name": BUS,
            "ledger_url": "sqlite:///.raymas/bench-hosted.db", "heartbeat_timeout_s": 30,
            "agent_start_timeout_s": 300}))
        _spawn_and_memory(sup, quick)
        _contract_net(sup, quick)
        _messages(sup, quick)
        _fanout(sup, quick)
        _stepping(sup, quick)
        sup.shutdown()
    finally:
        ray.shutdown()


def _spawn_and_memory(sup: SupervisorClient, quick: bool) -> None:
    small, large = (1_000, 10_000) if quick else (10_000, 100_000)
    one = sup.spawn([{"agent_id": "mem-actor", "heartbeat_interval_s": 5.0}])[0]
    actor_uss = psutil.Process(one["pid"]).memory_full_info().uss
    sup.deregister_agent("mem-actor")
    _, empty = _spawn(sup, "mem-empty", 1, 1)
    empty_uss = _uss(_hosts(empty))
    _stop(sup, empty)
    rows = []
    for n, per_host in ((small, small), (large, 25_000 if not quick else large)):
        took, out = _spawn(sup, f"sp{n}", n, per_host)
        hosts = _hosts(out)
        bare = _bare_hosts(len(hosts))
        uss = _uss(hosts)
        rows.append((n, took))
        log(f"{n} hosted agents in {len(hosts)} hosts: {took:.1f}s, {uss / n:.0f} B each")
        emit(B, f"spawn_seconds_{n}_hosted_agents", took, "s",
             target=10 if n == 10_000 else 60 if n == 100_000 else None, better="lower",
             baseline=bare, baseline_name=f"{len(hosts)} bare ray actors (one per host)",
             hosts=len(hosts), seconds_per_1000_agents=round(took / n * 1000, 3))
        emit(B, f"hosted_agent_uss_kb_{n}_agents", uss / n / 1024, "KB", target=10,
             better="lower", baseline=actor_uss / 1024, baseline_name="one agent actor's USS",
             hosts=len(hosts), agents_per_host=per_host,
             marginal_kb=round((uss - empty_uss * len(hosts)) / n / 1024, 3),
             empty_host_uss_mb=round(empty_uss / 2**20, 1))
        _stop(sup, out)
    (n1, t1), (n2, t2) = rows
    emit(B, "hosted_spawn_growth", (t2 / n2) / (t1 / n1), "ratio", better="near 1 (linear)",
         seconds_per_1000=[round(t1 / n1 * 1000, 3), round(t2 / n2 * 1000, 3)],
         agents=[n1, n2])


def _contract_net(sup: SupervisorClient, quick: bool) -> None:
    n = 10_000
    _, out = _spawn(sup, "cn", n, 5_000)
    n_tasks = 2_000 if quick else 5_000
    rates = []
    for run in range(4):
        tag = uuid.uuid4().hex[:6]
        ids = sup.submit([TaskAllocation(task_id=f"cn-{tag}-{i}", required_capabilities=["bench"])
                          for i in range(n_tasks)])
        t = time.perf_counter()
        res = sup.wait(ids, timeout_s=600)
        took = time.perf_counter() - t
        done = sum(r["state"] == "done" for r in res.values())
        if done != n_tasks:
            raise SystemExit(f"hosted contract net: only {done}/{n_tasks} tasks done")
        if run:  # the first is a warm-up
            rates.append(n_tasks / took)
    rate = sorted(rates)[len(rates) // 2]
    log(f"contract net, {n} hosted agents: {rate:.0f}/s")
    base = SAME_RUN.get("contract_net_100_actor_agents")
    emit(B, "contract_net_allocations_per_s_10000_hosted_agents", rate, "tasks/s", target=1000,
         better="higher", tasks=n_tasks, runs=len(rates), hosts=len(out["hosts"]),
         **({"baseline": base, "baseline_name": "contract net over 100 agent actors"}
            if base else {"baseline_name": "none: run with the core part for 100 agent actors"}))
    _stop(sup, out)


def _rate(sender: Any, to: str, n: int, flush_to: Any = None) -> float:
    """Messages per second from ``sender`` to ``to`` until they are in ``to``'s mailbox."""
    chunk = 100_000
    t = time.perf_counter()
    for lo in range(0, n, chunk):
        ray.get(sender.tell_many.remote(to, list(range(lo, min(n, lo + chunk)))))
    ray.get(sender.flush.remote())
    if flush_to is not None:  # across hosts: until the other host has taken them in
        while ray.get(flush_to.stats.remote()).get("received", 0) < n:
            pass
    return n / (time.perf_counter() - t)


def _messages(sup: SupervisorClient, quick: bool) -> None:
    n = 200_000 if quick else 1_000_000
    _, out = _spawn(sup, "msg", 4, 2, mailbox_capacity=2 * n)
    a, b = (find_agent(f"msg-{i}", NS, BUS) for i in (0, 1))
    _rate(a, "msg-1", 10_000)  # warm-up
    ray.get(b.receive.remote(20_000))
    in_host = _rate(a, "msg-1", n)
    other = _hosts(out)[1]
    across = _rate(a, "msg-2", n, flush_to=other)
    log(f"in-host {in_host:.0f}/s, across hosts {across:.0f}/s")
    emit(B, "in_host_messages_per_s", in_host, "msg/s", target=1_000_000, better="higher",
         baseline=across, baseline_name="the same messages to an agent of another host",
         messages=n, path="tell_many -> mailbox")
    _stop(sup, out)


def _fanout(sup: SupervisorClient, quick: bool) -> None:
    n_subs, per = (2_000, 100) if quick else (10_000, 200)
    _, out = _spawn(sup, "fan", n_subs, n_subs // 2)
    hosts = _hosts(out)
    topic = f"bench/fan-{uuid.uuid4().hex[:6]}"
    for k, host in enumerate(hosts):
        ids = [f"fan-{i}" for i in range(k * n_subs // 2, (k + 1) * n_subs // 2)]
        ray.get(host.each.remote("subscribe", ids, topic))
    pub = sup.spawn([{"agent_id": "fan-pub", "heartbeat_interval_s": 5.0}])[0]
    publisher = find_agent(pub["agent_id"], NS, BUS)
    ray.get(publisher.publish_many.remote(topic, list(range(10))))  # warm-up: 10 each
    want = 10 * n_subs
    while sum(ray.get(h.stats.remote()).get("received", 0) for h in hosts) < want:
        pass
    t = time.perf_counter()
    ray.get(publisher.publish_many.remote(topic, list(range(per))))
    ray.get(publisher.flush.remote())
    want += per * n_subs
    while sum(ray.get(h.stats.remote()).get("received", 0) for h in hosts) < want:
        pass
    rate = per * n_subs / (time.perf_counter() - t)
    log(f"fan-out to {n_subs} hosted subscribers: {rate:.0f} deliveries/s")
    base = SAME_RUN.get("pubsub_fanout_100_actor_agents")
    emit(B, f"pubsub_fanout_{n_subs}_hosted_deliveries_per_s", rate, "msg/s", target=200_000,
         better="higher", subscribers=n_subs, messages=per, hosts=len(hosts),
         **({"baseline": base, "baseline_name": "fan-out to 100 agent actors"}
            if base else {"baseline_name": "none: run with the core part for agent actors"}))
    sup.deregister_agent(pub["agent_id"])
    _stop(sup, out)


def wealth_builder(agents: list[Any], options: dict[str, Any], seed: int | None
                   ) -> tuple[list[str], dict[str, Any]]:
    """The wealth model of ``bench/stepping.py`` over a host's agents (a model builder for
    :class:`~agents.hosting.simulation.Simulation`): the model is every agent's id."""
    from bench.stepping import WealthAgent

    everyone = [sys.intern(a) for a in options["everyone"]]  # see Stepper.add
    index = {a: i for i, a in enumerate(everyone)}
    return everyone, {a.agent_id: WealthAgent(index[a.agent_id]) for a in agents}


#: alternating rounds of the wealth model and Mesa (odd: the median is a run)
ROUNDS = 3


def _stepping(sup: SupervisorClient, quick: bool) -> None:
    from agents.hosting.simulation import Simulation
    from bench.stepping import mesa_wealth_model, run_mesa_wealth

    n, steps = 10_000, 20 if quick else 50
    for n_hosts in (1, 2):
        _, out = _spawn(sup, f"wealth{n_hosts}", n, n // n_hosts)
        ids = [f"wealth{n_hosts}-{i}" for i in range(n)]
        sim = Simulation.of_supervisor(sup.handle, out["hosts"],
                                       "bench.hosted_agents:wealth_builder",
                                       {"everyone": ids}, seed=0)
        sim.run(5)  # warm-up
        model: Any
        try:
            model = mesa_wealth_model(n, seed=0)
            run_mesa_wealth(model, 5)
        except ImportError:  # Mesa is a bench extra: without it, no baseline
            model = None
        # alternating rounds, medians: one pair of runs swung from 0.72 to 1.01 of Mesa
        runs: list[Any] = []
        mesa_s: list[float] = []
        for _ in range(ROUNDS):
            runs.append(sim.run(steps))
            if model is not None:
                mesa_s.append(run_mesa_wealth(model, steps))
        ours = sorted(runs, key=lambda r: r.steps_per_s)[ROUNDS // 2]  # the median run
        mesa: float | None = steps / statistics.median(mesa_s) if mesa_s else None
        log(f"wealth model, {n} hosted agents in {n_hosts} host(s): {ours.steps_per_s:.1f} "
            f"steps/s (Mesa {mesa})")
        emit(B, f"hosted_steps_per_s_wealth_{n}_agents_{n_hosts}_host" + "s" * (n_hosts > 1),
             ours.steps_per_s, "steps/s", better="higher (no worse than Mesa)",
             **({"baseline": mesa, "baseline_name": "Mesa 3, the same model, n and steps"}
                if mesa else {"baseline_name": "none: Mesa is not installed"}),
             steps=steps, runs=ROUNDS, hosts=n_hosts, messages=ours.delivered,
             each=[round(r.steps_per_s, 1) for r in runs],
             each_mesa=[round(steps / t, 1) for t in mesa_s],
             across_hosts=ours.across_hosts, undelivered=len(ours.undelivered))
        _stop(sup, out)
