"""Tokens for the HTTP API: issue/verify round trips, every refusal, key config, the cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from cluster.api.auth import (
    MAX_TOKEN_BYTES,
    ROLES,
    AuthenticationError,
    AuthSettings,
    Principal,
    TokenRequestError,
    TokenService,
    generate_key,
    parse_ttl,
)
from cluster.token_command import token_command
from messaging.errors import ConfigError, RaymasError

SECRET = "k" * 48
T0 = 1_800_000_000.0


class Clock:
    """A settable clock for the service."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {alg: generate_key(alg) for alg in ("HS256", "RS256", "EdDSA")}


def public_pem(private_pem: str) -> bytes:
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def cfg(**values: Any) -> AuthSettings:
    """Settings as a config file would give them (plain strings for the key)."""
    return AuthSettings.model_validate(values)


def service(clock: Clock | None = None, **overrides: Any) -> TokenService:
    settings = AuthSettings.model_validate({"key": SECRET, **overrides})
    return TokenService.from_settings(settings, env={}, clock=clock or Clock())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64(json.dumps(obj).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims at T0, with ``changes`` applied (a value of ``None`` removes the claim)."""
    base: dict[str, Any] = {"sub": "alice", "role": "operator", "iss": "raymas",
                            "aud": "raymas-api", "iat": int(T0), "nbf": int(T0),
                            "exp": int(T0) + 3600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def reason(svc: TokenService, token: Any) -> str:
    with pytest.raises(AuthenticationError) as info:
        svc.verify(token)
    return info.value.reason


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("alg", ["HS256", "RS256", "EdDSA"])
def test_round_trip_per_algorithm(keys: dict[str, str], alg: str) -> None:
    clock = Clock()
    svc = TokenService.from_settings(cfg(algorithm=alg, key=keys[alg]), clock=clock)
    token = svc.issue("alice", "agent", 600, extra={"team": "blue"})
    assert jwt.get_unverified_header(token)["alg"] == alg
    principal = svc.verify(token)
    assert (principal.subject, principal.role, principal.expires_at) == ("alice", "agent", T0 + 600)
    got = principal.claims
    assert (got["iss"], got["aud"], got["team"]) == ("raymas", "raymas-api", "blue")
    assert got["iat"] == got["nbf"] == int(T0)
    assert re.fullmatch(r"[0-9a-f]{32}", got["jti"])
    assert svc.issue("alice", "agent", 600) != token  # fresh jti


def test_default_ttl_and_explicit_now() -> None:
    svc = service(default_ttl_s=120)
    token = svc.issue("bob", "viewer", now=T0 - 60)
    assert svc.verify(token).expires_at == T0 + 60


def test_principal_equality_ignores_claims() -> None:
    a = Principal("a", "admin", 1.0, {"x": 1})
    assert a == Principal("a", "admin", 1.0, {"x": 2})
    assert hash(a) == hash(Principal("a", "admin", 1.0, {}))


# ------------------------------------------------------------------ time checks


def test_expired_with_leeway_at_the_edge() -> None:
    clock = Clock()
    svc = service(clock, leeway_s=10, cache_size=0)
    token = svc.issue("alice", "admin", 100)  # exp = T0 + 100
    clock.now = T0 + 109.5
    assert svc.verify(token).subject == "alice"
    clock.now = T0 + 110
    assert reason(svc, token) == "token expired"


def test_expired_without_leeway() -> None:
    clock = Clock()
    svc = service(clock, leeway_s=0, cache_size=0)
    token = svc.issue("alice", "admin", 100)
    clock.now = T0 + 99.9
    svc.verify(token)
    clock.now = T0 + 100
    assert reason(svc, token) == "token expired"


def test_nbf_in_the_future_refused_but_leeway_honoured() -> None:
    svc = service(leeway_s=10)
    assert reason(svc, hs256(claims(nbf=int(T0) + 60, iat=None))) == "token not yet valid"
    assert svc.verify(hs256(claims(nbf=int(T0) + 9, iat=None))).subject == "alice"
    assert svc.verify(hs256(claims(nbf=None))).subject == "alice"  # nbf is optional


def test_iat_in_the_future_refused() -> None:
    assert reason(service(), hs256(claims(iat=int(T0) + 600, nbf=None))) == (
        "token issued in the future")


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_time_claims_must_be_numbers(name: str) -> None:
    assert reason(service(), hs256(claims(**{name: "soon"}))) == f"{name} claim must be a number"


def test_infinite_exp_refused() -> None:
    header, payload = b64json({"alg": "HS256", "typ": "JWT"}), b64(
        json.dumps(claims(exp=float("inf"))).encode())
    assert "Infinity" in base64.urlsafe_b64decode(payload + "==").decode()
    signing_input = f"{header}.{payload}".encode()
    sig = b64(hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest())
    assert reason(service(), f"{header}.{payload}.{sig}") == "exp claim must be a number"


# ------------------------------------------------------------------ claim checks


def test_wrong_issuer_and_audience() -> None:
    svc = service()
    assert reason(svc, service(issuer="someone-else").issue("a", "admin")) == "wrong issuer"
    assert reason(svc, service(audience="other-api").issue("a", "admin")) == "wrong audience"
    assert reason(svc, hs256(claims(aud=["x", "y"]))) == "wrong audience"
    assert svc.verify(hs256(claims(aud=["x", "raymas-api"]))).subject == "alice"


@pytest.mark.parametrize("name", ["exp", "sub", "iss", "aud", "role"])
def test_missing_claims(name: str) -> None:
    assert reason(service(), hs256(claims(**{name: None}))) == f"missing claim {name!r}"


def test_bad_subject_and_role_claims() -> None:
    svc = service()
    assert reason(svc, hs256(claims(role="root"))) == "unknown role 'root'"
    assert reason(svc, hs256(claims(role=["admin"]))) == "role claim must be a string"
    assert reason(svc, hs256(claims(role="Admin"))) == "unknown role 'Admin'"
    assert reason(svc, hs256(claims(sub=""))) == "empty subject"
    assert "must be a string" in reason(svc, hs256(claims(sub=42)))
    for role in ROLES:
        assert svc.verify(hs256(claims(role=role))).role == role


# ------------------------------------------------------------------ tampering


@pytest.mark.parametrize("alg", ["HS256", "RS256", "EdDSA"])
def test_tampered_payload(keys: dict[str, str], alg: str) -> None:
    svc = TokenService.from_settings(cfg(algorithm=alg, key=keys[alg]), clock=Clock())
    header, payload, sig = svc.issue("mallory", "viewer").split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["role"] = "admin"
    assert reason(svc, f"{header}.{b64json(body)}.{sig}") == "signature invalid"


@pytest.mark.parametrize("alg", ["HS256", "RS256", "EdDSA"])
def test_tampered_signature(keys: dict[str, str], alg: str) -> None:
    svc = TokenService.from_settings(cfg(algorithm=alg, key=keys[alg]), clock=Clock())
    header, payload, sig = svc.issue("alice", "viewer").split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[len(raw) // 2] ^= 0x01
    assert reason(svc, f"{header}.{payload}.{b64(bytes(raw))}") == "signature invalid"
    assert reason(svc, f"{header}.{payload}.") == "signature invalid"


def test_signed_with_another_secret() -> None:
    assert reason(service(), hs256(claims(), secret="z" * 48)) == "signature invalid"


@pytest.mark.parametrize("alg_value", ["none", "None", "NONE"])
def test_alg_none_refused(alg_value: str) -> None:
    token = f"{b64json({'alg': alg_value, 'typ': 'JWT'})}.{b64json(claims())}."
    assert reason(service(), token) == f"algorithm {alg_value!r} not allowed"


def test_header_without_alg_refused() -> None:
    token = f"{b64json({'typ': 'JWT'})}.{b64json(claims())}.{b64(b'x' * 32)}"
    assert reason(service(), token) == "algorithm not specified"


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_algorithm_confusion_refused(keys: dict[str, str], alg: str) -> None:
    """The attacker knows the public key and 'signs' an HS256 token with its PEM as secret."""
    svc = TokenService.from_settings(cfg(algorithm=alg, key=keys[alg]), clock=Clock())
    pem = public_pem(keys[alg])
    for secret in (pem, pem.strip()):
        signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64json(claims(role='admin'))}"
        sig = b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
        assert reason(svc, f"{signing_input}.{sig}") == "algorithm 'HS256' not allowed"


def test_other_configured_algorithms_refused(keys: dict[str, str]) -> None:
    rs = TokenService.from_settings(cfg(algorithm="RS256", key=keys["RS256"]),
                                    clock=Clock())
    ed = TokenService.from_settings(cfg(algorithm="EdDSA", key=keys["EdDSA"]),
                                    clock=Clock())
    assert reason(service(), rs.issue("a", "admin")) == "algorithm 'RS256' not allowed"
    assert reason(rs, ed.issue("a", "admin")) == "algorithm 'EdDSA' not allowed"
    assert reason(ed, service().issue("a", "admin")) == "algorithm 'HS256' not allowed"


def test_rs256_token_from_another_key_pair(keys: dict[str, str]) -> None:
    mine = TokenService.from_settings(cfg(algorithm="RS256", key=keys["RS256"]),
                                      clock=Clock())
    theirs = TokenService.from_settings(
        cfg(algorithm="RS256", key=generate_key("RS256")), clock=Clock())
    assert reason(mine, theirs.issue("a", "admin")) == "signature invalid"


@pytest.mark.parametrize("token", [
    "a.b", "a.b.c", "a.b.c.d", "...", "not a token", "é.é.é", "\x00.\x00.\x00",
    f"{b64(b'not json')}.{b64json(claims())}.x",
    f"{b64json(['alg'])}.{b64json(claims())}.x",
    f"{b64json({'alg': 'HS256'})}.{b64(b'not json')}.x",
    f"{b64json({'alg': 'HS256'})}.{b64json([1, 2])}.x",
    f"{b64json({'alg': 'HS256'})}.{b64json(claims())}.!!!!",
    f"{b64json({'alg': 'HS256', 'crit': ['exp']})}.{b64json(claims())}.x",
    f"{b64json({'alg': 123})}.{b64json(claims())}.x",
])
def test_malformed_tokens_raise_only_authentication_error(token: str) -> None:
    svc = service()
    with pytest.raises(AuthenticationError) as info:
        svc.verify(token)
    assert info.value.reason
    assert len(info.value.reason) < 120


def test_huge_and_non_string_tokens() -> None:
    svc = service()
    too_large = f"token too large (over {MAX_TOKEN_BYTES} bytes)"
    assert reason(svc, "a" * (MAX_TOKEN_BYTES + 1)) == too_large
    assert reason(svc, 12345) == "malformed token"
    assert reason(svc, b"a.b.c") == "malformed token"
    assert reason(svc, None) == "missing bearer token"
    assert reason(svc, "") == "missing bearer token"


# ------------------------------------------------------------------ key configuration


def test_key_from_env_var_and_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                   keys: dict[str, str]) -> None:
    token = service().issue("alice", "admin")
    by_env = TokenService.from_settings(cfg(key_env="RAYMAS_TEST_KEY"),
                                        env={"RAYMAS_TEST_KEY": SECRET}, clock=Clock())
    assert by_env.verify(token).subject == "alice"
    monkeypatch.setenv("RAYMAS_TEST_KEY", SECRET + "\n")
    by_os_env = TokenService.from_settings(cfg(key_env="RAYMAS_TEST_KEY"), clock=Clock())
    assert by_os_env.verify(token).subject == "alice"
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    by_file = TokenService.from_settings(cfg(key_file=str(path)), clock=Clock())
    assert by_file.verify(token).subject == "alice"
    pem = tmp_path / "ed.pem"
    pem.write_text(keys["EdDSA"])
    ed = TokenService.from_settings(cfg(algorithm="EdDSA", key_file=str(pem)),
                                    clock=Clock())
    assert ed.verify(ed.issue("bob", "agent")).role == "agent"


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_verification_only_service(tmp_path: Any, keys: dict[str, str], alg: str) -> None:
    path = tmp_path / "pub.pem"
    path.write_bytes(public_pem(keys[alg]))
    signer = TokenService.from_settings(cfg(algorithm=alg, key=keys[alg]), clock=Clock())
    checker = TokenService.from_settings(
        cfg(algorithm=alg, public_key_file=str(path)), clock=Clock())
    assert checker.verify(signer.issue("alice", "viewer")).subject == "alice"
    assert signer.can_issue and not checker.can_issue
    with pytest.raises(ConfigError) as info:
        checker.issue("alice", "viewer")
    assert info.value.problems[0][0] == "key"
    both = TokenService.from_settings(
        cfg(algorithm=alg, key=keys[alg], public_key_file=str(path)), clock=Clock())
    assert both.verify(both.issue("a", "admin")).role == "admin"


def _rsa_1024_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _encrypted_pem() -> str:
    key = serialization.load_pem_private_key(generate_key("EdDSA").encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"pw")).decode()


BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, settings, field named, words in the problem)
    ("no key", {}, "key", "no signing key"),
    ("no key asym", {"algorithm": "RS256"}, "key", "public_key_file"),
    ("env unset", {"key_env": "RAYMAS_NOPE"}, "key_env", "RAYMAS_NOPE is not set"),
    ("env empty", {"key_env": "EMPTY"}, "key_env", "empty"),
    ("file missing", {"key_file": "/nonexistent/raymas.key"}, "key_file", "cannot read"),
    ("key empty", {"key": "   "}, "key", "empty"),
    ("short secret", {"key": "short-secret"}, "key", "at least 32 bytes, got 12"),
    ("pem as hs256 secret", {"key": "@PUBLIC"}, "key", "PEM/SSH key"),
    ("private pem as hs256 secret", {"key": "@RS256"}, "key", "PEM/SSH key"),
    ("ssh key as secret", {"key": "ssh-ed25519 " + "A" * 68}, "key", "PEM/SSH key"),
    ("hs256 public key file", {"public_key_file": "/x.pem"}, "public_key_file", "only for"),
    ("garbage pem", {"algorithm": "RS256", "key": "not a pem at all"}, "key",
     "not a PEM private key"),
    ("ed key for rs256", {"algorithm": "RS256", "key": "@EdDSA"}, "key", "RS256 needs an RSA"),
    ("rsa key for eddsa", {"algorithm": "EdDSA", "key": "@RS256"}, "key",
     "EdDSA needs an Ed25519"),
    ("public key as signing key", {"algorithm": "RS256", "key": "@PUBLIC"}, "key",
     "is a public key"),
    ("short rsa", {"algorithm": "RS256", "key": "@RSA1024"}, "key", "at least 2048"),
    ("encrypted pem", {"algorithm": "EdDSA", "key": "@ENCRYPTED"}, "key", "encrypted"),
    ("public file missing", {"algorithm": "EdDSA", "public_key_file": "/nonexistent.pem"},
     "public_key_file", "cannot read"),
    ("public file not pem", {"algorithm": "EdDSA", "public_key_file": "@FILE:junk"},
     "public_key_file", "not a PEM public key"),
    ("public file wrong type", {"algorithm": "EdDSA", "public_key_file": "@FILE:PUBLIC"},
     "public_key_file", "EdDSA needs an Ed25519"),
    ("public file mismatch", {"algorithm": "RS256", "key": "@RS256",
                              "public_key_file": "@FILE:OTHER"}, "public_key_file",
     "does not match"),
]


@pytest.mark.parametrize(("settings", "where", "words"),
                         [case[1:] for case in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_config_errors_name_the_field(tmp_path: Any, keys: dict[str, str],
                                      settings: dict[str, Any], where: str, words: str) -> None:
    values = {"PUBLIC": public_pem(keys["RS256"]).decode(), "RS256": keys["RS256"],
              "EdDSA": keys["EdDSA"], "junk": "junk\n"}
    if "@RSA1024" in settings.values():
        values["RSA1024"] = _rsa_1024_pem()
    if "@ENCRYPTED" in settings.values():
        values["ENCRYPTED"] = _encrypted_pem()
    if "@FILE:OTHER" in settings.values():
        values["OTHER"] = public_pem(generate_key("RS256")).decode()
    resolved: dict[str, Any] = {}
    for name, value in settings.items():
        if isinstance(value, str) and value.startswith("@FILE:"):
            path = tmp_path / "file.pem"
            path.write_text(values[value.removeprefix("@FILE:")])
            value = str(path)
        elif isinstance(value, str) and value.startswith("@"):
            value = values[value[1:]]
        resolved[name] = value
    with pytest.raises(ConfigError) as info:
        TokenService.from_settings(AuthSettings.model_validate(resolved), env={"EMPTY": ""})
    assert info.value.source == "serve.auth"
    assert [key for key, _ in info.value.problems] == [where]
    assert words in info.value.problems[0][1]
    assert where in str(info.value)
    secret = str(resolved.get("key", "")).strip()
    if len(secret) > 40:  # the key itself is never echoed
        assert secret[20:40] not in str(info.value)


def test_settings_validation() -> None:
    with pytest.raises(ValidationError, match="at most one of key, key_env, key_file"):
        cfg(key=SECRET, key_env="X")
    with pytest.raises(ValidationError, match="extra"):
        AuthSettings.model_validate({"secret": SECRET})
    with pytest.raises(ValidationError, match="algorithm"):
        AuthSettings.model_validate({"algorithm": "none"})
    with pytest.raises(ValidationError, match="default_ttl_s"):
        cfg(default_ttl_s=100, max_ttl_s=10)
    with pytest.raises(ValidationError, match="leeway_s"):
        cfg(leeway_s=-1)
    assert "k" * 48 not in repr(cfg(key=SECRET))


# ------------------------------------------------------------------ the cache


def test_second_verify_hits_the_cache() -> None:
    svc = service()
    token = svc.issue("alice", "admin")
    first, second = svc.verify(token), svc.verify(token)
    assert first is second
    assert svc.stats == {"verified": 2, "cache_hits": 1, "rejected": 0}


def test_cached_token_stops_verifying_at_exp() -> None:
    clock = Clock()
    svc = service(clock, leeway_s=0)
    token = svc.issue("alice", "admin", 100)
    svc.verify(token)
    clock.now = T0 + 99
    svc.verify(token)
    assert svc.stats["cache_hits"] == 1
    clock.now = T0 + 100
    assert reason(svc, token) == "token expired"
    assert svc.stats == {"verified": 2, "cache_hits": 1, "rejected": 1}


def test_cache_drops_entries_at_their_own_exp() -> None:
    clock = Clock()
    svc = service(clock)
    short, long = svc.issue("a", "viewer", 60), svc.issue("b", "viewer", 600)
    svc.verify(short)
    svc.verify(long)
    assert svc.cached_tokens == 2
    clock.now = T0 + 60
    assert svc.cached_tokens == 1
    clock.now = T0 + 600
    assert svc.cached_tokens == 0
    assert service(cache_size=0).cached_tokens == 0


def test_cached_token_inside_leeway_is_rechecked_then_expires() -> None:
    clock = Clock()
    svc = service(clock, leeway_s=10)
    token = svc.issue("alice", "admin", 100)
    svc.verify(token)
    clock.now = T0 + 105  # past exp, within leeway: verified afresh, not from the cache
    svc.verify(token)
    assert svc.stats["cache_hits"] == 0
    clock.now = T0 + 111
    assert reason(svc, token) == "token expired"


def test_cache_size_zero_and_rejections_not_cached() -> None:
    svc = service(cache_size=0)
    token = svc.issue("alice", "admin")
    for _ in range(3):
        svc.verify(token)
    assert svc.stats == {"verified": 3, "cache_hits": 0, "rejected": 0}
    cached = service()
    bad = hs256(claims(role="root"))
    for _ in range(2):
        reason(cached, bad)
    assert cached.stats == {"verified": 0, "cache_hits": 0, "rejected": 2}


def test_cache_is_bounded() -> None:
    svc = service(cache_size=2)
    tokens = [svc.issue(f"user{i}", "viewer") for i in range(3)]
    for token in tokens:
        svc.verify(token)
    svc.verify(tokens[0])  # evicted (least recently used)
    assert svc.stats["cache_hits"] == 0
    svc.verify(tokens[0])
    assert svc.stats["cache_hits"] == 1


def test_verify_is_thread_safe() -> None:
    svc = service()
    tokens = [svc.issue(f"user{i}", "viewer") for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        subjects = list(pool.map(lambda i: svc.verify(tokens[i % 8]).subject, range(400)))
    assert subjects == [f"user{i % 8}" for i in range(400)]
    stats = svc.stats
    # a token first seen by several threads at once may be decoded by each of them
    assert stats["verified"] == 400 and stats["rejected"] == 0
    assert 400 - 8 * 8 <= stats["cache_hits"] <= 400 - 8


# ------------------------------------------------------------------ verify_header


@pytest.mark.parametrize("template", ["Bearer {}", "bearer {}", "BEARER   {} ", "  Bearer\t{}"])
def test_verify_header_accepts_bearer(template: str) -> None:
    svc = service()
    assert svc.verify_header(template.format(svc.issue("alice", "admin"))).subject == "alice"


@pytest.mark.parametrize(("header", "why"), [
    (None, "missing bearer token"),
    ("", "missing bearer token"),
    ("   ", "missing bearer token"),
    ("Bearer", "missing bearer token"),
    ("Bearer   ", "missing bearer token"),
    ("Basic dXNlcjpwYXNz", "malformed Authorization header"),
    ("Token abc.def.ghi", "malformed Authorization header"),
    ("Bearer a.b.c extra", "malformed Authorization header"),
    ("abc.def.ghi", "malformed Authorization header"),
    (b"Bearer a.b.c", "malformed Authorization header"),
    ("Bearer " + "a" * 9000, f"token too large (over {MAX_TOKEN_BYTES} bytes)"),
    ("Bearer a.b.c", "malformed token"),
])
def test_verify_header_refusals(header: Any, why: str) -> None:
    svc = service()
    with pytest.raises(AuthenticationError) as info:
        svc.verify_header(header)
    assert info.value.reason == why
    assert svc.stats["rejected"] == 1


# ------------------------------------------------------------------ issue


def test_issue_refusals() -> None:
    svc = service(max_ttl_s=3600)
    with pytest.raises(TokenRequestError, match="ttl_s 7200 exceeds max_ttl_s 3600"):
        svc.issue("alice", "admin", 7200)
    with pytest.raises(TokenRequestError, match="unknown role 'root'"):
        svc.issue("alice", "root")
    with pytest.raises(TokenRequestError, match="did you mean 'admin'"):
        svc.issue("alice", "admn")
    with pytest.raises(TokenRequestError, match="subject"):
        svc.issue("", "admin")
    with pytest.raises(TokenRequestError, match="subject"):
        svc.issue("  ", "admin")
    for ttl in (0, -5, float("nan"), float("inf")):
        with pytest.raises(TokenRequestError, match="ttl_s"):
            svc.issue("alice", "admin", ttl)
    with pytest.raises(TokenRequestError, match="exp, role"):
        svc.issue("alice", "viewer", extra={"role": "admin", "exp": 1})
    with pytest.raises(TokenRequestError, match="JSON"):
        svc.issue("alice", "viewer", extra={"x": object()})
    with pytest.raises(TokenRequestError, match="byte limit"):
        svc.issue("alice", "viewer", extra={"blob": "x" * MAX_TOKEN_BYTES})
    assert svc.issue("alice", "admin", 3600)


def test_errors_are_raymas_errors_and_pickle() -> None:
    err = pickle.loads(pickle.dumps(AuthenticationError("token expired")))
    assert isinstance(err, AuthenticationError) and isinstance(err, RaymasError)
    assert err.reason == "token expired" and str(err) == "token expired"
    assert AuthenticationError.http_status == 401
    assert issubclass(TokenRequestError, ValueError) and issubclass(TokenRequestError, RaymasError)
    again = pickle.loads(pickle.dumps(TokenRequestError("bad ttl")))
    assert str(again) == "bad ttl"


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), (" 1.5H ", 5400),
    ("0.5m", 30), (45, 45), (2.5, 2.5),
])
def test_parse_ttl(text: str | float, seconds: float) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1w", "-5", "0", "0s", "1h30m", "h", "1 hour",
                                  "nan", "inf", True, float("nan"), 0, -1.0])
def test_parse_ttl_refusals(text: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))) as info:
        parse_ttl(text)
    assert isinstance(info.value, TokenRequestError)


def test_generate_key() -> None:
    secret = generate_key("HS256")
    assert re.fullmatch(r"[0-9a-f]{64}", secret) and secret != generate_key("HS256")
    for alg in ("RS256", "EdDSA"):
        pem = generate_key(alg)
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
        TokenService.from_settings(cfg(algorithm=alg, key=pem))
    with pytest.raises(TokenRequestError, match="unknown algorithm 'HS512'"):
        generate_key("HS512")


def test_token_command(tmp_path: Any) -> None:
    path = tmp_path / "key"
    path.write_text(generate_key("HS256"))
    settings = cfg(key_file=str(path))
    token = token_command(settings, "ci-bot", "agent", "15m")
    principal = TokenService.from_settings(settings).verify(token)
    assert (principal.subject, principal.role) == ("ci-bot", "agent")
    assert principal.claims["exp"] - principal.claims["iat"] == 900
    default = jwt.decode(token_command(settings, "ci-bot", "agent", None),
                         options={"verify_signature": False})
    assert default["exp"] - default["iat"] == 3600
    with pytest.raises(ValueError, match="'2 weeks'"):
        token_command(settings, "ci-bot", "agent", "2 weeks")
    with pytest.raises(ConfigError):
        token_command(cfg(), "ci-bot", "agent", None)
