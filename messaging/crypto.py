"""Payload encryption (AES-256-GCM) with rotating keys, and agent identity tokens (JWT).

:class:`Keyring` seals an envelope's payload: the key id travels in the
``kid`` header so keys can rotate (old keys still open old messages), and the
envelope's routing fields are authenticated as associated data, so changing
the sender, recipient, topic or performative in transit is detected just like
a changed payload.  :class:`TokenIssuer` (held by the Supervisor) signs agent
identity tokens with Ed25519; a :class:`TokenVerifier` needs only the public
key, so bridges and the HTTP API can check tokens without being able to mint
them.

Example:
    >>> ring = Keyring.generate("k1")
    >>> env = Envelope.new("a1", recipient="a2", payload={"secret": 42})
    >>> sealed = ring.seal(env)
    >>> sealed.payload != env.payload, ring.open(sealed).payload
    (True, {'secret': 42})
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import msgpack
from cachetools import LRUCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from messaging.envelope import Envelope
from messaging.errors import AuthError, SecurityError

__all__ = ["AuthError", "Keyring", "SecurityError", "TokenIssuer", "TokenVerifier"]

_ENC = "aes-256-gcm"


def _aad(env: Envelope) -> bytes:
    return msgpack.packb([env.id, env.sender, env.recipient, env.topic,
                          env.performative.value, env.correlation_id])


class Keyring:
    """AES-256-GCM keys by id; ``current`` seals, any known key opens."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        for kid, key in keys.items():
            if len(key) != 32:
                raise SecurityError(f"key {kid!r} has {len(key)} bytes; AES-256 needs 32")
        if current not in keys:
            raise SecurityError(f"current key {current!r} is not among {sorted(keys)}")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current = current
        self.rejected = 0

    @classmethod
    def generate(cls, kid: str = "k1") -> Keyring:
        return cls({kid: AESGCM.generate_key(bit_length=256)}, kid)

    @classmethod
    def from_spec(cls, spec: str) -> Keyring:
        """Parse ``"kid1:<base64 key>,kid2:<base64 key>"``; the first key is current.

        This is the form of ``messaging.keys`` in config and of ``RAYMAS_MESSAGING__KEYS``.
        """
        keys: dict[str, bytes] = {}
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            kid, sep, b64 = part.partition(":")
            if not sep or not kid:
                raise SecurityError(f"key spec {part[:12]!r}...: expected '<id>:<base64>'")
            try:
                keys[kid] = base64.b64decode(b64, validate=True)
            except ValueError:
                raise SecurityError(f"key {kid!r}: not valid base64") from None
        if not keys:
            raise SecurityError("no keys in the key spec")
        return cls(keys, next(iter(keys)))

    def seal(self, env: Envelope) -> Envelope:
        """Encrypt the payload with the current key; routing fields are authenticated."""
        env = env.with_headers(kid=self.current, enc=_ENC)
        nonce = os.urandom(12)
        plain = msgpack.packb(env.payload, use_bin_type=True)
        sealed = nonce + self._aead[self.current].encrypt(nonce, plain, _aad(env))
        return replace(env, payload=sealed)

    def open(self, env: Envelope) -> Envelope:
        """Decrypt; raises :class:`SecurityError` (and counts it) on any failure."""
        kid = env.headers.get("kid")
        if env.headers.get("enc") != _ENC or kid is None:
            return self._reject(f"envelope {env.id} is not sealed with {_ENC}")
        aead = self._aead.get(kid)
        if aead is None:
            return self._reject(f"envelope {env.id}: unknown key id {kid!r}")
        data = env.payload
        if not isinstance(data, bytes) or len(data) < 28:
            return self._reject(f"envelope {env.id}: sealed payload is not bytes")
        try:
            plain = aead.decrypt(data[:12], data[12:], _aad(env))
        except InvalidTag:
            return self._reject(f"envelope {env.id}: tampered or wrong key (GCM tag mismatch)")
        headers = {k: v for k, v in env.headers.items() if k not in ("kid", "enc")}
        return replace(env, payload=msgpack.unpackb(plain, raw=False), headers=headers)

    def _reject(self, why: str) -> Envelope:
        self.rejected += 1
        raise SecurityError(why)


def _public_from_pem(pem: bytes) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise SecurityError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


class TokenVerifier:
    """Checks identity tokens with the issuer's public key.

    A token already verified is remembered (up to ``cache_size`` of them) until
    it expires, so a producer that stamps every message with the same token
    costs one signature check, not one per message.

    Keys rotate: a token names its signing key in the ``kid`` header, and a
    verifier may hold several public keys by kid (``keys``, plus ``public_key``
    under ``kid``).  A token without a kid, or any token when the verifier
    knows no kids, is checked against ``public_key``, as before kids existed.
    """

    def __init__(self, public_key: Ed25519PublicKey, issuer: str = "raymas-supervisor",
                 leeway_s: float = 0.0, cache_size: int = 10_000, *, kid: str | None = None,
                 keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._public = public_key
        self.kid = kid
        self._keys = dict(keys or {})
        if kid is not None:
            self._keys[kid] = public_key
        self.issuer = issuer
        self.leeway_s = leeway_s
        self.refused = 0
        self._known: LRUCache[str, dict[str, Any]] = LRUCache(maxsize=cache_size)

    @classmethod
    def from_pem(cls, pem: bytes, **kwargs: Any) -> TokenVerifier:
        """A verifier for the PEM public key (``Supervisor.public_key()``)."""
        return cls(_public_from_pem(pem), **kwargs)

    @classmethod
    def from_pems(cls, pems: Mapping[str, bytes], current: str | None = None,
                  **kwargs: Any) -> TokenVerifier:
        """A verifier for PEM public keys by kid (``Supervisor.public_keys()``).

        ``current`` (default: the first kid) checks tokens that name no kid.
        """
        if not pems:
            raise SecurityError("no public keys given")
        keys = {kid: _public_from_pem(pem) for kid, pem in pems.items()}
        kid = current if current is not None else next(iter(keys))
        if kid not in keys:
            raise SecurityError(f"current key {kid!r} is not among {sorted(keys)}")
        return cls(keys[kid], kid=kid, keys=keys, **kwargs)

    def check(self, token: str | None, agent_id: str) -> dict[str, Any]:
        """Like :meth:`verify` with ``agent_id``, remembering tokens verified before."""
        if not token:
            self.refused += 1
            raise AuthError(f"no identity token for {agent_id!r}")
        claims = self._known.get(token)
        if claims is None or claims["exp"] + self.leeway_s < time.time():
            claims = self.verify(token)
            self._known[token] = claims
        if claims["sub"] != agent_id:
            self.refused += 1
            raise AuthError(f"token is for {claims['sub']!r}, not {agent_id!r}")
        return claims

    def verify(self, token: str, *, agent_id: str | None = None) -> dict[str, Any]:
        """The token's claims.

        Raises :class:`AuthError` if the token is expired, forged, from another
        issuer, or (with ``agent_id``) names someone else.
        """
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            self.refused += 1
            raise AuthError(f"identity token refused: {exc}") from None
        key = self._public
        if kid is not None and self._keys:
            if not isinstance(kid, str) or kid not in self._keys:
                self.refused += 1
                raise AuthError(f"identity token signed with an unknown or retired key {kid!r}")
            key = self._keys[kid]
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["EdDSA"], issuer=self.issuer,
                leeway=self.leeway_s, options={"require": ["exp", "iat", "sub", "iss"]})
        except jwt.ExpiredSignatureError:
            self.refused += 1
            raise AuthError("identity token expired") from None
        except jwt.InvalidTokenError as exc:
            self.refused += 1
            raise AuthError(f"identity token refused: {exc}") from None
        if agent_id is not None and claims["sub"] != agent_id:
            self.refused += 1
            raise AuthError(f"token is for {claims['sub']!r}, not {agent_id!r}")
        return claims


class TokenIssuer(TokenVerifier):
    """Mints identity tokens (the Supervisor holds one); also verifies them."""

    def __init__(self, private_key: Ed25519PrivateKey | None = None,
                 issuer: str = "raymas-supervisor", ttl_s: float = 3600.0, *,
                 kid: str | None = None,
                 keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        """``kid`` names the signing key in every token; ``keys`` are older public keys
        (by kid) whose tokens still verify."""
        self._private = private_key or Ed25519PrivateKey.generate()
        super().__init__(self._private.public_key(), issuer, kid=kid, keys=keys)
        self.ttl_s = ttl_s

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def issue(self, agent_id: str, capabilities: Sequence[str] = (),
              ttl_s: float | None = None) -> str:
        """A signed token naming ``agent_id`` and its capabilities."""
        import jwt

        now = int(time.time())
        claims = {"sub": agent_id, "iss": self.issuer, "iat": now,
                  "exp": now + int(ttl_s if ttl_s is not None else self.ttl_s),
                  "caps": list(capabilities)}
        headers = {"kid": self.kid} if self.kid is not None else None
        return jwt.encode(claims, self._private, algorithm="EdDSA", headers=headers)
