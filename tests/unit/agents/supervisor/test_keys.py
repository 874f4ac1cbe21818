"""The identity key store (agents/supervisor/keys.py) and tokens that name their key."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from agents.supervisor.keys import KeyStore, key_id
from agents.supervisor.ledger import Ledger
from messaging.crypto import AuthError, TokenIssuer, TokenVerifier


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _raw(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw,  # type: ignore[attr-defined]
                            serialization.PublicFormat.Raw)


def _issuer(store: KeyStore) -> TokenIssuer:
    kid, key = store.current()
    return TokenIssuer(key, kid=kid, keys=store.verification_keys())


def test_the_same_key_after_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    store = KeyStore(url)
    kid, key = store.current()
    assert kid == key_id(key.public_key()) and len(kid) == 16
    assert store.current()[0] == kid
    token = _issuer(store).issue("a1", ["x"])
    store.close()
    again = KeyStore(url)
    kid2, key2 = again.current()
    assert kid2 == kid and _raw(key2.public_key()) == _raw(key.public_key())
    assert _issuer(again).verify(token, agent_id="a1")["caps"] == ["x"]


def test_a_fresh_ledger_keeps_the_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    kid = KeyStore(url).current()[0]
    Ledger.open(url).clear()
    assert KeyStore(url).current()[0] == kid


def test_rotate_keeps_the_old_key_verifying_until_it_retires(tmp_path: Path) -> None:
    clock = Clock()
    url = f"sqlite:///{tmp_path}/ledger.db"
    store = KeyStore(url, retire_after_s=600, clock=clock)
    old_kid, _ = store.current()
    old_token = _issuer(store).issue("a1", ttl_s=10_000)
    clock.now += 10
    new_kid = store.rotate()
    assert new_kid != old_kid and store.current()[0] == new_kid
    assert list(store.verification_keys()) == [new_kid, old_kid]
    assert list(store.public_pems()) == [new_kid, old_kid]
    assert store.next_retirement() == clock.now + 600
    issuer = _issuer(store)
    new_token = issuer.issue("a2")
    assert issuer.verify(old_token)["sub"] == "a1" and issuer.verify(new_token)["sub"] == "a2"
    # a verifier outside the Supervisor, from the PEMs: both keys, the first is current
    outside = TokenVerifier.from_pems(store.public_pems())
    assert outside.kid == new_kid
    assert outside.verify(old_token)["sub"] == "a1" and outside.verify(new_token)["sub"] == "a2"
    # reopened (a restarted Supervisor) before the retirement: still both
    assert list(KeyStore(url, retire_after_s=600, clock=clock).verification_keys()) == [
        new_kid, old_kid]
    clock.now += 601
    assert list(store.verification_keys()) == [new_kid] and store.next_retirement() is None
    with pytest.raises(AuthError, match="unknown or retired key"):
        _issuer(store).verify(old_token)
    assert _issuer(store).verify(new_token)["sub"] == "a2"


def test_a_rotation_prunes_retired_keys(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore(f"sqlite:///{tmp_path}/l.db", retire_after_s=5, clock=clock)
    first = store.current()[0]
    second = store.rotate()
    clock.now += 10
    third = store.rotate()
    assert list(store.verification_keys()) == [third, second]
    rows = store._read("SELECT kid FROM raymas_keys")
    assert first not in {r[0] for r in rows} and len(rows) == 2


def test_tokens_without_a_kid_and_verifiers_without_kids_work_as_before() -> None:
    plain = TokenIssuer()  # no kid: tokens as before
    legacy = plain.issue("a1")
    keyed = TokenIssuer(plain._private, kid="k1")
    assert keyed.verify(legacy)["sub"] == "a1"  # no kid: checked against the current key
    with_kid = keyed.issue("a2")
    # a verifier that knows no kids (a bridge given one PEM) checks with its one key
    assert TokenVerifier(plain.public_key).verify(with_kid)["sub"] == "a2"
    forged = TokenIssuer(kid="k1").issue("a3")  # a different key claiming kid k1
    with pytest.raises(AuthError, match="refused"):
        keyed.verify(forged)
    with pytest.raises(AuthError, match="unknown or retired"):
        keyed.verify(TokenIssuer(kid="k9").issue("a4"))
    with pytest.raises(AuthError, match="refused"):
        keyed.verify("not a token")


def test_from_pems_checks_its_arguments() -> None:
    from messaging.crypto import SecurityError

    with pytest.raises(SecurityError):
        TokenVerifier.from_pems({})
    pem = TokenIssuer().public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(SecurityError, match="not among"):
        TokenVerifier.from_pems({"a": pem}, current="b")


def test_the_docstring_examples_run() -> None:
    import agents.supervisor.keys

    result = doctest.testmod(agents.supervisor.keys)
    assert result.attempted > 0 and result.failed == 0
