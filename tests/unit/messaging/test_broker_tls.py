"""TLS options for the broker clients: validation, the context, and how each broker
hands them to its client library, all without a network.  (Redis over TLS for real is
in tests/integration/messaging/test_broker_tls.py; RabbitMQ and Kafka have no TLS
listener in the test services, so their mapping is checked here only.)"""

from __future__ import annotations

import pickle
import ssl
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from messaging.brokers import BrokerError, make_broker
from messaging.brokers.tls import TLSOptions, raise_if_refused, refused_certificate, tls_options
from messaging.errors import ConfigError
from tests.pki import CA_NAME, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _ca_subjects(ctx: ssl.SSLContext) -> list[dict[str, str]]:
    certs: list[dict[str, Any]] = ctx.get_ca_certs()
    return [dict(rdn[0] for rdn in cert["subject"]) for cert in certs]


# -- the options ------------------------------------------------------------------------

def test_defaults_verify_against_the_system_cas() -> None:
    opts = TLSOptions()
    assert (opts.verify, opts.check_hostname, opts.min_version) == (True, True, "TLSv1.2")
    ctx = opts.context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_unknown_fields_and_bad_values_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="ca_fil"):
        TLSOptions(ca_fil="/x")  # type: ignore[call-arg]
    with pytest.raises(ConfigError) as info:
        tls_options({"ca_fil": "/x", "min_version": "TLSv1.0"})
    fields = [path for path, _ in info.value.problems]
    assert sorted(fields) == ["ca_fil", "min_version"]
    assert "TLSv1.3" in str(info.value)  # says what would be accepted
    with pytest.raises(ConfigError, match="expected a mapping"):
        tls_options("yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["cert_file", "key_file"])
def test_client_certificate_and_key_go_together(given: str) -> None:
    with pytest.raises(ConfigError) as info:
        tls_options({given: "/some/file"})
    text = str(info.value)
    assert "cert_file" in text and "key_file" in text and f"{given} is set" in text


def test_tls_options_passes_none_and_instances_through_and_takes_an_empty_mapping() -> None:
    assert tls_options(None) is None
    opts = TLSOptions(verify=False)
    assert tls_options(opts) is opts
    assert tls_options({}) == TLSOptions()
    assert pickle.loads(pickle.dumps(opts)) == opts  # crosses actor boundaries


@pytest.mark.parametrize("field", ["ca_file", "cert_file", "key_file"])
def test_a_missing_file_is_named_when_the_context_is_built(field: str, pki: dict[str, str],
                                                           tmp_path: Path) -> None:
    files = {"ca_file": pki["ca"], "cert_file": pki["client_cert"],
             "key_file": pki["client_key"], field: str(tmp_path / "gone.pem")}
    # parsing does not look at the disk: the files may be on another node
    opts = TLSOptions.model_validate(files)
    with pytest.raises(ConfigError) as info:
        opts.context()
    assert info.value.problems == [(field, f"no such file: {files[field]!r}")]
    assert pickle.loads(pickle.dumps(info.value)).problems == info.value.problems


def test_unusable_files_are_named(pki: dict[str, str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="ca_file: cannot load CA certificates"):
        TLSOptions(ca_file=str(junk)).context()
    # a key that is not the certificate's
    with pytest.raises(ConfigError, match="cert_file, key_file: cannot load the client"):
        TLSOptions(cert_file=pki["client_cert"], key_file=pki["server_key"]).context()


def test_the_context_trusts_the_ca_and_carries_the_client_certificate(
        pki: dict[str, str]) -> None:
    ctx = TLSOptions(ca_file=pki["ca"], cert_file=pki["client_cert"],
                     key_file=pki["client_key"], min_version="TLSv1.3").context()
    assert _ca_subjects(ctx) == [{"commonName": CA_NAME}]  # only ours, not the system's
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3


def test_verify_off_turns_off_the_host_name_check_too(pki: dict[str, str]) -> None:
    opts = TLSOptions(ca_file=pki["ca"], verify=False)
    assert opts.check_hostname and not opts.hostname_checked
    ctx = opts.context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    ctx = TLSOptions(check_hostname=False).context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and not ctx.check_hostname


def test_a_refused_certificate_is_found_behind_a_client_error() -> None:
    refused = ssl.SSLCertVerificationError(1, "certificate verify failed")
    refused.verify_message = "self-signed certificate in certificate chain"
    try:
        try:
            raise refused
        except OSError:
            raise ConnectionError("Error 1 connecting") from None  # only __context__
    except ConnectionError as exc:
        assert refused_certificate(exc) is refused
        with pytest.raises(BrokerError, match="self-signed certificate in certificate chain"):
            raise_if_refused("redis", "127.0.0.1:6379", exc)
    nested = ConnectionError("workflow failed", [OSError("dns"), ConnectionError(refused)])
    assert refused_certificate(nested) is refused  # pika keeps them in args
    assert refused_certificate(ConnectionError("reset")) is None
    raise_if_refused("redis", "x", ConnectionError("reset"))  # not refused: no error


# -- Redis ------------------------------------------------------------------------------

def test_redis_without_tls_is_unchanged() -> None:
    broker = make_broker("redis")
    assert broker.tls is None  # type: ignore[attr-defined]
    assert broker._client_kwargs() == {  # type: ignore[attr-defined]
        "socket_timeout": 10, "socket_connect_timeout": 5, "client_name": "raymas-bridge"}


def _redis_connection(broker: Any) -> Any:
    """The connection redis-py would open, built but not connected."""
    import redis

    client = redis.Redis.from_url(broker.url, **broker._client_kwargs())
    return client.connection_pool.make_connection()


def test_redis_maps_the_options_to_redis_py(pki: dict[str, str]) -> None:
    import redis

    tls = {"ca_file": pki["ca"], "cert_file": pki["client_cert"],
           "key_file": pki["client_key"], "min_version": "TLSv1.3"}
    broker: Any = make_broker("redis", url="rediss://127.0.0.1:6380/0", tls=tls)
    assert broker.tls == TLSOptions.model_validate(tls)
    kwargs = broker._client_kwargs()
    assert "connection_class" not in kwargs  # the rediss:// scheme chooses it
    assert {k: v for k, v in kwargs.items() if k.startswith("ssl_")} == {
        "ssl_ca_certs": pki["ca"], "ssl_certfile": pki["client_cert"],
        "ssl_keyfile": pki["client_key"], "ssl_cert_reqs": "required",
        "ssl_check_hostname": True, "ssl_min_version": ssl.TLSVersion.TLSv1_3}
    conn = _redis_connection(broker)
    assert isinstance(conn, redis.SSLConnection)
    assert (conn.ca_certs, conn.certfile, conn.keyfile) == (
        pki["ca"], pki["client_cert"], pki["client_key"])
    assert conn.cert_reqs == ssl.CERT_REQUIRED and conn.check_hostname
    assert conn.ssl_min_version == ssl.TLSVersion.TLSv1_3
    assert (conn.host, conn.port) == ("127.0.0.1", 6380)


def test_redis_tls_given_with_a_redis_url_and_verify_off(pki: dict[str, str]) -> None:
    import redis

    broker: Any = make_broker("redis", url="redis://127.0.0.1:6380/0",
                              tls=TLSOptions(verify=False))
    assert broker._client_kwargs()["connection_class"] is redis.SSLConnection
    conn = _redis_connection(broker)
    assert isinstance(conn, redis.SSLConnection)
    assert conn.cert_reqs == ssl.CERT_NONE and not conn.check_hostname
    assert conn.ca_certs is None and conn.certfile is None


def test_redis_rediss_url_alone_gets_the_defaults() -> None:
    import redis

    broker: Any = make_broker("redis", url="rediss://127.0.0.1:6380/0")
    assert broker.tls == TLSOptions()
    conn = _redis_connection(broker)
    assert isinstance(conn, redis.SSLConnection) and conn.cert_reqs == ssl.CERT_REQUIRED


def test_redis_refuses_bad_tls_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_file: no such file"):
        make_broker("redis", url="rediss://127.0.0.1:6380/0",
                    tls={"ca_file": str(tmp_path / "nope.pem")})
    with pytest.raises(ValueError, match="unix"):
        make_broker("redis", url="unix:///tmp/redis.sock", tls={})


# -- RabbitMQ ---------------------------------------------------------------------------

def test_rabbitmq_without_tls_is_unchanged() -> None:
    broker: Any = make_broker("rabbitmq")
    assert broker.tls is None
    params = broker._parameters()
    assert params.ssl_options is None and params.port == 5672


def test_rabbitmq_amqps_url_gets_a_verifying_context_and_the_server_name() -> None:
    broker: Any = make_broker("rabbitmq", url="amqps://guest:guest@broker.example/%2F")
    params = broker._parameters()
    assert params.port == 5671
    assert params.ssl_options.server_hostname == "broker.example"
    ctx = params.ssl_options.context
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_rabbitmq_maps_the_options_to_pika(pki: dict[str, str]) -> None:
    tls = TLSOptions(ca_file=pki["ca"], cert_file=pki["client_cert"],
                     key_file=pki["client_key"], check_hostname=False)
    broker: Any = make_broker("rabbitmq", url="amqp://u:p@127.0.0.1/vh", tls=tls)
    params = broker._parameters()
    assert params.port == 5671  # tls given: the TLS port unless the URL names one
    assert (params.host, params.virtual_host) == ("127.0.0.1", "vh")
    assert params.credentials.username == "u"
    ctx = params.ssl_options.context
    assert _ca_subjects(ctx) == [{"commonName": CA_NAME}]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and not ctx.check_hostname
    assert params.ssl_options.server_hostname == "127.0.0.1"
    explicit: Any = make_broker("rabbitmq", url="amqp://127.0.0.1:5673/%2F", tls=tls)
    assert explicit._parameters().port == 5673


def test_the_confirming_publisher_connects_with_the_same_parameters(
        pki: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import pika

    from messaging.brokers.amqp_confirms import ConfirmingPublisher

    seen: list[Any] = []

    class NoNetwork:
        """Stands in for pika.SelectConnection: records its parameters, fails to open."""

        is_closed = True
        is_closing = False

        def __init__(self, params: Any, on_open_callback: Any, on_open_error_callback: Any,
                     on_close_callback: Any) -> None:
            seen.append(params)
            self.ioloop = self
            self._fail = on_open_error_callback

        def start(self) -> None:
            self._fail(self, pika.exceptions.AMQPConnectionError("no network in unit tests"))

        def stop(self) -> None:
            pass

    monkeypatch.setattr(pika, "SelectConnection", NoNetwork)
    with pytest.raises(pika.exceptions.AMQPConnectionError, match="no network"):
        ConfirmingPublisher("amqp://127.0.0.1/%2F", timeout_s=5,
                            tls=TLSOptions(ca_file=pki["ca"]))
    with pytest.raises(pika.exceptions.AMQPConnectionError, match="no network"):
        ConfirmingPublisher("amqp://127.0.0.1/%2F", timeout_s=5)
    with_tls, without = seen
    assert with_tls.port == 5671
    assert _ca_subjects(with_tls.ssl_options.context) == [{"commonName": CA_NAME}]
    assert without.ssl_options is None and without.port == 5672


# -- Kafka ------------------------------------------------------------------------------

@pytest.fixture
def kafka_clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """kafka-python's clients replaced by recorders of the keywords they are given."""
    import kafka

    made: dict[str, list[dict[str, Any]]] = {"producer": [], "consumer": [], "admin": []}

    def recorder(kind: str) -> type:
        class Client:
            def __init__(self, *topics: str, **kwargs: Any) -> None:
                made[kind].append(kwargs)

            def create_topics(self, topics: list[Any]) -> None:
                pass

            def close(self, **kwargs: Any) -> None:
                pass
        return Client

    monkeypatch.setattr(kafka, "KafkaProducer", recorder("producer"))
    monkeypatch.setattr(kafka, "KafkaConsumer", recorder("consumer"))
    monkeypatch.setattr(kafka, "KafkaAdminClient", recorder("admin"))
    return made


def _use_every_client(broker: Any) -> None:
    broker.connect()
    broker._consumer("raymas.t", "g", "c")  # makes the topic first: the admin client


def test_kafka_without_tls_is_unchanged(kafka_clients: dict[str, list[dict[str, Any]]]) -> None:
    _use_every_client(make_broker("kafka", bootstrap_servers="127.0.0.1:9092"))
    assert kafka_clients["producer"] == [{"bootstrap_servers": "127.0.0.1:9092", "acks": "all",
                                          "linger_ms": 5, "retries": 5}]
    assert kafka_clients["admin"] == [{"bootstrap_servers": "127.0.0.1:9092"}]
    (consumer,) = kafka_clients["consumer"]
    assert not any(k.startswith(("ssl_", "security_")) for k in consumer)


def test_kafka_gives_every_client_ssl_and_the_context(
        pki: dict[str, str], kafka_clients: dict[str, list[dict[str, Any]]]) -> None:
    broker: Any = make_broker("kafka", tls={"ca_file": pki["ca"], "cert_file": pki["client_cert"],
                                            "key_file": pki["client_key"]})
    _use_every_client(broker)
    for kind in ("producer", "consumer", "admin"):
        (kwargs,) = kafka_clients[kind]
        assert kwargs["security_protocol"] == "SSL", kind
        assert kwargs["ssl_check_hostname"] is True
        ctx = kwargs["ssl_context"]
        assert isinstance(ctx, ssl.SSLContext)
        assert _ca_subjects(ctx) == [{"commonName": CA_NAME}]
        assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_kafka_refuses_bad_tls_at_construction() -> None:
    with pytest.raises(ConfigError, match="cert_file"):
        make_broker("kafka", tls={"key_file": "/k.pem"})


def test_make_broker_passes_tls_through_only_when_given() -> None:
    assert make_broker("kafka").tls is None  # type: ignore[attr-defined]
    assert make_broker("kafka", tls={}).tls == TLSOptions()  # type: ignore[attr-defined]
