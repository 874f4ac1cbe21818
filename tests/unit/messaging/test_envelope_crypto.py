from __future__ import annotations

import base64
import time
from dataclasses import replace

import jwt
import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from messaging import (
    AuthError,
    Envelope,
    EnvelopeError,
    Keyring,
    Performative,
    SecurityError,
    TokenIssuer,
    new_id,
)


def _env(**kw: object) -> Envelope:
    fields: dict[str, object] = {"recipient": "b", "payload": {"n": 1, "blob": b"\x00\x01"}}
    fields.update(kw)
    return Envelope.new("a", **fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    env = _env(priority=9, ttl_s=5.0, correlation_id="c1", reply_to="r", headers={"h": "v"},
               performative="cfp")
    again = Envelope.from_bytes(env.to_bytes())
    assert again == env and again.performative is Performative.CFP


def test_ids_are_unique_and_time_ordered() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == 2000 and ids == sorted(ids)
    assert new_id(now_ns=1) < new_id(now_ns=2)


@pytest.mark.parametrize(("fields", "named"), [
    ({"priority": 10}, "'priority'"),
    ({"priority": "high"}, "'priority'"),
    ({"performative": "shout"}, "'performative'"),
    ({"recipient": None}, "'recipient/topic'"),
    ({"topic": "t"}, "'recipient/topic'"),
    ({"ttl_s": -1}, "'ttl_s'"),
    ({"headers": {"k": 1}}, "'headers'"),
])
def test_bad_fields_are_named(fields: dict[str, object], named: str) -> None:
    with pytest.raises(EnvelopeError, match=named):
        _env(**fields)


def test_malformed_and_oversize_bytes_are_refused() -> None:
    with pytest.raises(EnvelopeError, match="not a msgpack"):
        Envelope.from_bytes(b"\xc1garbage")
    with pytest.raises(EnvelopeError, match="13-field"):
        Envelope.from_bytes(msgpack.packb([1, 2, 3]))
    with pytest.raises(EnvelopeError, match="version"):
        Envelope.from_bytes(msgpack.packb([99] + [None] * 12))
    wire = list(msgpack.unpackb(_env().to_bytes()))
    wire[7] = "urgent"
    with pytest.raises(EnvelopeError, match="'priority'"):
        Envelope.from_bytes(msgpack.packb(wire))
    big = _env(payload=b"x" * 2000)
    with pytest.raises(EnvelopeError, match="exceeds the limit"):
        big.to_bytes(max_bytes=1000)
    with pytest.raises(EnvelopeError, match="exceeds the limit"):
        Envelope.from_bytes(big.to_bytes(), max_bytes=1000)
    with pytest.raises(EnvelopeError, match="not serialisable"):
        _env(payload=object()).to_bytes()


def test_ttl_and_reply() -> None:
    env = _env(ttl_s=1.0)
    assert not env.expired(env.created_at + 0.5) and env.expired(env.created_at + 1.5)
    reply = env.reply("b", "inform", payload=2)
    assert (reply.recipient, reply.correlation_id) == ("a", env.id)


def test_seal_open_and_tamper_detection() -> None:
    ring = Keyring.generate("k1")
    env = _env()
    sealed = ring.seal(env)
    assert sealed.headers["kid"] == "k1" and b"blob" not in sealed.to_bytes()
    assert ring.open(Envelope.from_bytes(sealed.to_bytes())).payload == env.payload
    flipped = bytearray(sealed.payload)
    flipped[-1] ^= 1
    for bad in (replace(sealed, payload=bytes(flipped)),   # payload changed
                replace(sealed, recipient="mallory"),      # routing changed
                replace(sealed, performative=Performative.FAILURE)):
        with pytest.raises(SecurityError, match="tampered"):
            ring.open(bad)
    with pytest.raises(SecurityError, match="not sealed"):
        ring.open(env)
    assert ring.rejected == 4


def test_wrong_key_and_rotation() -> None:
    old = Keyring.generate("k1")
    with pytest.raises(SecurityError, match="unknown key id 'k1'"):
        Keyring.generate("k2").open(old.seal(_env()))
    k1 = base64.b64encode(b"\x01" * 32).decode()
    k2 = base64.b64encode(b"\x02" * 32).decode()
    before = Keyring.from_spec(f"k1:{k1}")
    after = Keyring.from_spec(f"k2:{k2},k1:{k1}")  # rotated: k2 seals, k1 still opens
    assert after.open(before.seal(_env())).payload["n"] == 1
    assert after.seal(_env()).headers["kid"] == "k2"
    impostor = Keyring.from_spec(f"k1:{k2}")  # same id, different key
    with pytest.raises(SecurityError, match="tampered or wrong key"):
        after.open(impostor.seal(_env()))
    with pytest.raises(SecurityError, match="32"):
        Keyring({"k": b"short"}, "k")
    with pytest.raises(SecurityError, match="base64"):
        Keyring.from_spec("k1:!!!")


def test_identity_tokens() -> None:
    issuer = TokenIssuer(ttl_s=60)
    token = issuer.issue("agent-7", ["planning"])
    claims = issuer.verify(token, agent_id="agent-7")
    assert claims["sub"] == "agent-7" and claims["caps"] == ["planning"]
    with pytest.raises(AuthError, match="not 'agent-8'"):
        issuer.verify(token, agent_id="agent-8")
    with pytest.raises(AuthError, match="expired"):
        issuer.verify(issuer.issue("a", ttl_s=-10))
    forger = TokenIssuer(Ed25519PrivateKey.generate())
    with pytest.raises(AuthError, match="refused"):
        issuer.verify(forger.issue("agent-7"))
    unsigned = jwt.encode({"sub": "x", "iss": "raymas-supervisor", "iat": int(time.time()),
                           "exp": int(time.time()) + 60}, "s" * 32, algorithm="HS256")
    with pytest.raises(AuthError):
        issuer.verify(unsigned)
    assert issuer.refused == 4
