"""MqttEnvironment without a broker: options, topic filters, decoding, the thread hand-off."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from interfaces import EnvironmentError, Event, Rejected, make_environment
from interfaces.mqtt import (
    MqttConnectionLost,
    MqttEnvironment,
    _Lost,
    check_topic,
    check_topic_filter,
    encode_payload,
    parse_subscriptions,
)


class Msg:
    """What paho hands ``on_message``: the fields the environment reads."""

    def __init__(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                 mid: int = 7) -> None:
        self.topic, self.payload, self.qos, self.retain, self.mid = (topic, payload, qos,
                                                                      retain, mid)


def connected(env: MqttEnvironment) -> MqttEnvironment:
    """Pretend a connection is up, so ``events`` reads the inbox."""
    env.state, env._client = "connected", object()
    env._loop = asyncio.get_running_loop()
    return env


@pytest.mark.parametrize("topic", ["a", "a/b", "a/+/c", "+", "#", "a/#", "+/+/#", "/a", "a//b"])
def test_valid_topic_filters_pass(topic: str) -> None:
    assert check_topic_filter(topic) == topic


@pytest.mark.parametrize(("topic", "why"), [
    ("", "non-empty"), (3, "non-empty"), ("a/#/b", "'#' must be a whole level and the last"),
    ("a#", "'#' must be a whole level and the last"), ("a/b+", "'\\+' must be a whole level"),
    ("a\0b", "NUL"),
])
def test_invalid_topic_filters_say_why(topic: Any, why: str) -> None:
    with pytest.raises(EnvironmentError, match=why):
        check_topic_filter(topic)


def test_a_publish_topic_has_no_wildcards() -> None:
    assert check_topic("a/b") == "a/b"
    with pytest.raises(EnvironmentError, match="wildcards are for subscribing"):
        check_topic("a/+")


def test_subscriptions_take_strings_and_mappings() -> None:
    assert parse_subscriptions(["a/#", {"topic": "b", "qos": 0}], qos=2) == {"a/#": 2, "b": 0}
    with pytest.raises(EnvironmentError, match="QoS must be 0, 1 or 2, got 3"):
        parse_subscriptions([{"topic": "b", "qos": 3}], qos=1)
    with pytest.raises(EnvironmentError, match="needs 'topic'"):
        parse_subscriptions([{"filter": "b"}], qos=1)
    with pytest.raises(EnvironmentError, match="expected a list"):
        parse_subscriptions("a/#", qos=1)


def test_payloads_are_json_unless_str_or_bytes() -> None:
    assert encode_payload({"t": 1}) == b'{"t": 1}'
    assert encode_payload("raw text") == b"raw text"
    assert encode_payload(b"\x00\x01") == b"\x00\x01"
    with pytest.raises(EnvironmentError, match="cannot be JSON-encoded"):
        encode_payload(object())


@pytest.mark.parametrize(("option", "value", "message"), [
    ("protocol", "4", "protocol: expected one of"),
    ("payload", "xml", "payload: expected one of"),
    ("qos", 3, "qos: QoS must be 0, 1 or 2"),
    ("port", 0, "port: expected 1..65535"),
    ("max_bytes", 0, "max_bytes: expected a positive number"),
    ("keepalive", -1, "keepalive: expected a positive number"),
    ("client_id", "", "client_id: must not be empty"),
    ("subscriptions", ["a/#/b"], "'#' must be a whole level and the last one"),
])
def test_bad_options_are_named(option: str, value: Any, message: str) -> None:
    with pytest.raises(EnvironmentError, match=message):
        MqttEnvironment("m", **{option: value})


def test_made_by_kind_with_a_stable_client_id_from_the_name() -> None:
    env = make_environment("mqtt", name="plant", subscriptions=["plant/#"])
    assert isinstance(env, MqttEnvironment)
    assert env.client_id == MqttEnvironment("plant").client_id == "raymas-plant"
    assert env.subscriptions == {"plant/#": 1}
    assert env.persistent and env.protocol == "5"
    with pytest.raises(EnvironmentError, match="did you mean 'subscriptions'"):
        make_environment("mqtt", name="plant", subscription=["plant/#"])


def test_messages_are_decoded_by_the_payload_option() -> None:
    env = MqttEnvironment("m", max_bytes=16)
    event = env._decode("a/b", b'{"t": 21.5}', 1, True, 3, 100.0)
    assert event == Event("m", "message", {"t": 21.5}, "a/b", 100.0,
                          {"qos": 1, "retain": True, "mid": 3})
    assert isinstance(empty := env._decode("a/b", b"", 0, True, 0, 1.0), Event)
    assert empty.data is None  # how a retained message is cleared
    bad = env._decode("a/b", b"{nope", 0, False, 0, 1.0)
    assert isinstance(bad, Rejected) and bad.subject == "a/b" and bad.raw == b"{nope"
    assert bad.reason.startswith("malformed JSON") and "'a/b'" in bad.reason
    big = env._decode("a/c", b"[" + b"1," * 20 + b"1]", 0, False, 0, 1.0)
    assert isinstance(big, Rejected) and "over the limit of 16" in big.reason
    text = MqttEnvironment("m", payload="text", max_bytes=16)
    assert text._decode("t", "héllo".encode(), 0, False, 0, 1.0).data == "héllo"  # type: ignore[union-attr]
    not_text = text._decode("t", b"\xff\xfe", 0, False, 0, 1.0)
    assert isinstance(not_text, Rejected) and "not UTF-8" in not_text.reason
    assert isinstance(text._decode("t", b"x" * 17, 0, False, 0, 1.0), Rejected)
    raw = MqttEnvironment("m", payload="bytes")
    assert raw._decode("t", b"\xff", 0, False, 0, 1.0).data == b"\xff"  # type: ignore[union-attr]
    assert env.counts["received"] == 4 and env.counts["rejected"] == 2


def test_messages_from_another_thread_arrive_in_order_then_a_drop_raises() -> None:
    async def main() -> list[Any]:
        env = connected(MqttEnvironment("m"))
        gen = env._generation

        def paho_thread() -> None:
            for i in range(500):
                env._on_message(None, gen, Msg("a", b"%d" % i))
            env._inbox.append(_Lost(gen - 1, "an old connection"))  # stale: skipped
            env._on_message(None, gen, Msg("a", b"500"))
            env._on_disconnect(None, gen, None, "Unspecified error", None)

        threading.Thread(target=paho_thread).start()
        got: list[Any] = []
        with pytest.raises(MqttConnectionLost, match="lost: Unspecified error"):
            async for item in env.events():
                got.append(item.data)  # type: ignore[union-attr]
        assert env.state == "disconnected"
        return got

    assert asyncio.run(main()) == list(range(501))


def test_an_action_cut_off_before_its_acknowledgement_is_a_connection_error() -> None:
    async def main() -> None:
        env = connected(MqttEnvironment("m"))
        waiting = asyncio.ensure_future(env._wait(5, "PUBLISH to 'a'"))
        await asyncio.sleep(0)  # let it register its future
        env._lost(env._generation, "connection to 127.0.0.1:1883 lost: Unspecified error")
        with pytest.raises(MqttConnectionLost, match="lost: Unspecified error"):
            await waiting
        assert env.state == "disconnected"

    asyncio.run(main())


def test_events_without_a_connection_is_a_connection_error() -> None:
    async def main() -> None:
        with pytest.raises(MqttConnectionLost, match="not connected"):
            await anext(MqttEnvironment("m").events())

    asyncio.run(main())


@pytest.mark.parametrize(("action", "args", "message"), [
    ("publish", {"topic": "a", "payload": 1, "qso": 1}, "unknown argument 'qso'.*'qos'"),
    ("publish", {"payload": 1}, "needs 'topic'"),
    ("publish", {"topic": "a/#"}, "wildcards are for subscribing"),
    ("publish", {"topic": "a", "qos": 5}, "QoS must be 0, 1 or 2"),
    ("subscribe", {"topic": "a/#/b"}, "'#' must be a whole level and the last one"),
])
def test_bad_action_arguments_are_named(action: str, args: dict[str, Any],
                                        message: str) -> None:
    with pytest.raises(EnvironmentError, match=message):
        asyncio.run(MqttEnvironment("m").act(action, **args))


def test_an_action_without_a_connection_is_a_connection_error() -> None:
    env = MqttEnvironment("m")
    with pytest.raises(MqttConnectionLost, match="not connected"):
        asyncio.run(env.act("publish", topic="a", payload={"t": 1}))
    assert isinstance(MqttConnectionLost("x"), env.connection_errors)
