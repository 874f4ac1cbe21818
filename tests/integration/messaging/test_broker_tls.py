"""Redis over TLS for real: a redis-server of the test's own with a throwaway CA.

The system's Redis, RabbitMQ and Kafka (Tansu) listen without TLS and are left as
they are; RabbitMQ's and Kafka's TLS settings are checked against their client
libraries' parameters in tests/unit/messaging/test_broker_tls.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from messaging import Envelope
from messaging.brokers import BrokerError, ensure, make_broker
from messaging.brokers.tls import refused_certificate
from tests.pki import make_pki

pytestmark = pytest.mark.integration

REDIS_SERVER = "redis-server"


def _unavailable(message: str) -> None:
    if os.environ.get("RAYMAS_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_tls(port: int, ca: str) -> bool:
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"PING\r\n")
            return tls.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_redis(pki: dict[str, str], tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Callable[..., int]]:
    """Starts TLS-only redis-servers on loopback (``auth_clients``: require a client
    certificate) and returns their port; all are stopped at the end of the module."""
    server = shutil.which(REDIS_SERVER)
    if server is None:
        _unavailable(f"{REDIS_SERVER} is not installed")
    procs: list[subprocess.Popen[bytes]] = []

    def start(*, auth_clients: bool = False) -> int:
        assert server is not None
        work = tmp_path_factory.mktemp("redis-tls")
        port = _free_port()
        log = work / "redis.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                 "--tls-cert-file", pki["server_cert"], "--tls-key-file", pki["server_key"],
                 "--tls-ca-cert-file", pki["ca"],
                 "--tls-auth-clients", "yes" if auth_clients else "no",
                 "--save", "", "--appendonly", "no", "--dir", str(work)],
                stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline = time.monotonic() + 20
        # a client certificate is needed to ask a server that requires one
        probe = _accepts_tls if not auth_clients else _accepts_mutual_tls(pki)
        while not probe(port, pki["ca"]):
            if proc.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"{REDIS_SERVER} did not serve TLS on port {port} (exit code "
                             f"{proc.poll()}): {log.read_text()[-2000:]}")
            time.sleep(0.05)
        return port

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _accepts_mutual_tls(pki: dict[str, str]) -> Callable[[int, str], bool]:
    def probe(port: int, ca: str) -> bool:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(pki["client_cert"], pki["client_key"])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw, \
                    ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"PING\r\n")
                return tls.recv(64).startswith(b"+PONG")
        except OSError:
            return False
    return probe


def _round_trip(broker: Any) -> None:
    """Publish to a stream, consume it in a group, acknowledge: all of it over TLS."""
    topic = f"raymas.tls-{uuid.uuid4().hex[:6]}"
    data = [Envelope.new("t", topic="x", payload=i).to_bytes() for i in range(5)]
    assert ensure(broker, lambda: broker.publish(topic, data)) == 5
    got = ensure(broker, lambda: broker.consume(topic, "g", "c", 10, 500))
    assert [Envelope.from_bytes(d.data).payload for d in got] == list(range(5))
    broker.ack(topic, "g", [d.tag for d in got])
    assert broker.consume(topic, "g", "c", 10, 50) == []
    broker._client.delete(topic)


def test_redis_over_tls_with_the_ca(tls_redis: Callable[..., int], pki: dict[str, str]) -> None:
    port = tls_redis()
    broker = make_broker("redis", url=f"rediss://127.0.0.1:{port}/0",
                         tls={"ca_file": pki["ca"]})
    try:
        _round_trip(broker)
        assert broker.reconnects == 0
    finally:
        broker.close()


def test_redis_refuses_a_server_it_cannot_verify(tls_redis: Callable[..., int]) -> None:
    port = tls_redis()
    # rediss:// alone trusts the system's CAs, which did not sign this server
    broker = make_broker("redis", url=f"rediss://127.0.0.1:{port}/0")
    try:
        with pytest.raises(BrokerError, match=r"certificate .* was refused") as info:
            ensure(broker, lambda: broker.publish("raymas.never", [b"x"]))
        assert "check tls.ca_file" in str(info.value)
        assert broker.reconnects == 0  # refused at once: retrying cannot fix it
        assert broker.state != "connected"
    finally:
        broker.close()


def test_rabbitmq_client_verifies_a_tls_server(tls_redis: Callable[..., int],
                                               pki: dict[str, str]) -> None:
    """pika's side of TLS against a real TLS listener (Redis's: the system RabbitMQ has
    none): without the CA the server is refused at once; with it the TLS handshake
    passes and only the AMQP handshake after it fails, Redis speaking no AMQP."""
    port = tls_redis()
    url = f"amqps://guest:guest@127.0.0.1:{port}/%2F?stack_timeout=1"
    unverified = make_broker("rabbitmq", url=url)
    with pytest.raises(BrokerError, match=r"certificate .* was refused"):
        unverified.connect()
    verified = make_broker("rabbitmq", url=url, tls={"ca_file": pki["ca"]})
    with pytest.raises(Exception) as info:  # pika's error for a peer that speaks no AMQP
        verified.connect()
    assert not isinstance(info.value, BrokerError)
    assert refused_certificate(info.value) is None


def test_redis_mutual_tls(tls_redis: Callable[..., int], pki: dict[str, str]) -> None:
    port = tls_redis(auth_clients=True)
    # a redis:// URL with tls given speaks TLS too
    anonymous = make_broker("redis", url=f"redis://127.0.0.1:{port}/0",
                            tls={"ca_file": pki["ca"]})
    try:
        with pytest.raises(anonymous.connection_errors):  # the server wants a certificate
            anonymous.connect()
    finally:
        anonymous.close()
    broker = make_broker("redis", url=f"redis://127.0.0.1:{port}/0",
                         tls={"ca_file": pki["ca"], "cert_file": pki["client_cert"],
                              "key_file": pki["client_key"]})
    try:
        _round_trip(broker)
    finally:
        broker.close()
