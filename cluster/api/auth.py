"""Bearer tokens for the HTTP API: issuing and verifying signed JWTs.

A pure core (PyJWT, cryptography, cachetools and pydantic; no web framework and
no Ray): the HTTP layer turns an ``Authorization`` header into a
:class:`Principal` with :meth:`TokenService.verify_header` and maps
:class:`AuthenticationError` to 401.  One algorithm is configured per deployment
(``HS256`` with a shared secret, ``RS256`` or ``EdDSA`` with a key pair) and it
is the only one a token may use, which shuts out ``alg: none`` and algorithm
confusion (an ``HS256`` token "signed" with the RSA public key).  Time checks
(``exp``, ``nbf``, ``iat``) use the service's injectable clock, and verified
tokens are cached until their own ``exp``.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn

import jwt
from cachetools import TLRUCache
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from messaging.errors import ConfigError, RaymasError, did_you_mean

__all__ = [
    "MAX_TOKEN_BYTES",
    "ROLES",
    "AuthSettings",
    "AuthenticationError",
    "Principal",
    "TokenRequestError",
    "TokenService",
    "generate_key",
    "inline_key",
    "parse_ttl",
]

#: The roles a token may carry, most powerful first.
ROLES: tuple[str, ...] = ("admin", "operator", "agent", "viewer")

#: Longer tokens are refused before any parsing.
MAX_TOKEN_BYTES = 8192

#: The source named in :class:`~messaging.errors.ConfigError` for a bad key setup.
_SOURCE = "serve.auth"
_ALGORITHMS = ("HS256", "RS256", "EdDSA")
_MIN_SECRET_BYTES = 32
_MIN_RSA_BITS = 2048
_RESERVED_CLAIMS = frozenset({"sub", "role", "iss", "aud", "iat", "nbf", "exp", "jti"})
_TTL_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TTL_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*$", re.IGNORECASE)

_SigningKey = bytes | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_VerifyingKey = bytes | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class AuthSettings(BaseModel):
    """The ``serve.auth`` settings: algorithm, where the key is, the claims and limits.

    Attributes:
        enabled: Whether the API asks for tokens at all.
        algorithm: The one signing algorithm tokens may use.
        key: The signing key itself: the HS256 shared secret or a PEM private key.
        key_env: Name of an environment variable holding the signing key.
        key_file: Path of a file holding the signing key.
        public_key_file: A PEM public key (RS256 / EdDSA) for deployments that only
            verify; without a private key :meth:`TokenService.issue` raises.
        issuer: The ``iss`` claim written and required.
        audience: The ``aud`` claim written and required.
        leeway_s: Clock skew allowed on ``exp``, ``nbf`` and ``iat``.
        default_ttl_s: Lifetime of an issued token when none is asked for.
        max_ttl_s: The longest lifetime :meth:`TokenService.issue` grants.
        cache_size: Verified tokens kept until they expire; 0 disables the cache.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    algorithm: Literal["HS256", "RS256", "EdDSA"] = "HS256"
    key: SecretStr | None = None
    key_env: str | None = None
    key_file: str | None = None
    public_key_file: str | None = None
    issuer: str = "raymas"
    audience: str = "raymas-api"
    leeway_s: float = Field(default=10.0, ge=0, le=300)
    default_ttl_s: float = Field(default=3600, gt=0)
    max_ttl_s: float = Field(default=30 * 86400, gt=0)
    cache_size: int = Field(default=10_000, ge=0)

    @model_validator(mode="after")
    def _one_key_source(self) -> AuthSettings:
        given = [name for name in ("key", "key_env", "key_file") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of key, key_env, key_file (got {', '.join(given)})")
        if self.default_ttl_s > self.max_ttl_s:
            raise ValueError(f"default_ttl_s ({self.default_ttl_s:g}) exceeds max_ttl_s "
                             f"({self.max_ttl_s:g})")
        return self


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for.

    Attributes:
        subject: The ``sub`` claim.
        role: The ``role`` claim, one of :data:`ROLES`.
        expires_at: The token's ``exp`` (seconds since the epoch).
        claims: Every claim of the token; shared with the cache, so do not mutate it.
    """

    subject: str
    role: str
    expires_at: float
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class AuthenticationError(RaymasError):
    """A request's credentials were missing or did not verify (HTTP 401).

    Args:
        reason: Why, shortly: ``"token expired"``, ``"signature invalid"``...
    """

    http_status: ClassVar[int] = 401

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TokenRequestError(RaymasError, ValueError):
    """A bad argument to :meth:`TokenService.issue`, :func:`parse_ttl` or :func:`generate_key`."""


def _config_error(key: str, problem: str) -> ConfigError:
    return ConfigError(_SOURCE, [(key, problem)])


def parse_ttl(text: str | float) -> float:
    """Read a lifetime: ``"90"``, ``"30s"``, ``"15m"``, ``"1h"``, ``"2d"`` or a number.

    Args:
        text: The lifetime; a bare number is seconds.

    Returns:
        The lifetime in seconds, finite and positive.

    Raises:
        TokenRequestError: The text is not a positive duration (the message quotes it).
    """
    if isinstance(text, bool):
        raise TokenRequestError(f"bad ttl {text!r}: expected e.g. 90, 30s, 15m, 1h or 2d")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _TTL_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise TokenRequestError(f"bad ttl {text!r}: expected e.g. 90, 30s, 15m, 1h or 2d")
        seconds = float(match.group(1)) * _TTL_UNITS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds <= 0:
        raise TokenRequestError(f"bad ttl {text!r}: must be a positive duration")
    return seconds


def generate_key(algorithm: str) -> str:
    """Make a fresh signing key for ``algorithm``.

    Args:
        algorithm: ``"HS256"``, ``"RS256"`` or ``"EdDSA"``.

    Returns:
        64 hex characters (a 32-byte secret) for HS256, an unencrypted PKCS#8 PEM
        private key (RSA 2048 or Ed25519) otherwise.

    Raises:
        TokenRequestError: Unknown algorithm.
    """
    if algorithm == "HS256":
        return secrets.token_hex(32)
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=_MIN_RSA_BITS)
    elif algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise TokenRequestError(f"unknown algorithm {algorithm!r}"
                                f"{did_you_mean(algorithm, list(_ALGORITHMS))} "
                                f"(known: {', '.join(_ALGORITHMS)})")
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode("ascii")


def _read_key(settings: AuthSettings, env: Mapping[str, str]) -> tuple[str | None, str]:
    """The signing key text and the setting it came from (``None`` when none is set)."""
    if settings.key is not None:
        text, where = settings.key.get_secret_value(), "key"
    elif settings.key_env is not None:
        value = env.get(settings.key_env)
        if value is None:
            raise _config_error("key_env", f"environment variable {settings.key_env} is not set")
        text, where = value, "key_env"
    elif settings.key_file is not None:
        text, where = _read_file(settings.key_file, "key_file"), "key_file"
    else:
        return None, "key"
    text = text.strip()
    if not text:
        raise _config_error(where, "the signing key is empty")
    return text, where


def inline_key(settings: AuthSettings, env: Mapping[str, str] | None = None) -> AuthSettings:
    """The settings with the signing key read now and carried inline (``key``), checked.

    ``raymas serve`` calls this on the machine it runs on, so API replicas on other
    nodes need neither the key file nor the environment variable; a bad key fails here,
    before anything starts, with the :class:`~messaging.errors.ConfigError` naming it.
    """
    if not settings.enabled:
        return settings
    TokenService.from_settings(settings, env)  # every check, before anything starts
    text, _ = _read_key(settings, os.environ if env is None else env)
    if text is None:  # verify-only: the public key file is read where the replica runs
        return settings
    return settings.model_copy(update={"key": SecretStr(text), "key_env": None,
                                       "key_file": None})


def _read_file(path: str, where: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise _config_error(where, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _config_error(where, f"cannot read {path}: not UTF-8 text") from None


def _looks_like_key(secret: str) -> bool:
    return "-----BEGIN" in secret or secret.startswith(("ssh-", "ecdsa-sha2-"))


def _key_type_problem(key: object, algorithm: str) -> str | None:
    """Why ``key`` (public or private) does not suit ``algorithm``, or ``None``."""
    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            return f"is {_kind(key)}; RS256 needs an RSA key"
        if key.key_size < _MIN_RSA_BITS:
            return f"RSA key has {key.key_size} bits; RS256 needs at least {_MIN_RSA_BITS}"
        return None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return f"is {_kind(key)}; EdDSA needs an Ed25519 key"
    return None


def _kind(key: object) -> str:
    name = type(key).__name__.removeprefix("_")
    for suffix in ("PrivateKey", "PublicKey"):
        name = name.removesuffix(suffix)
    return f"an {name} key" if name[:1] in "AEIOU" else f"a {name} key"


def _load_private(text: str, where: str,
                  algorithm: str) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    data = text.encode("utf-8")
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise _config_error(where, "encrypted PEM private keys are not supported") from None
    except (ValueError, UnsupportedAlgorithm):
        try:
            serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise _config_error(where, f"not a PEM private key ({algorithm} signs with a "
                                       "private key)") from None
        raise _config_error(where, "is a public key; the signing key must be the private key "
                                   "(a public key alone goes in public_key_file)") from None
    problem = _key_type_problem(private, algorithm)
    if problem is not None:
        raise _config_error(where, problem)
    assert isinstance(private, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
    return private


def _load_public(path: str, algorithm: str) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    text = _read_file(path, "public_key_file")
    try:
        public = serialization.load_pem_public_key(text.strip().encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm):
        raise _config_error("public_key_file", f"{path} is not a PEM public key") from None
    problem = _key_type_problem(public, algorithm)
    if problem is not None:
        raise _config_error("public_key_file", problem)
    assert isinstance(public, rsa.RSAPublicKey | ed25519.Ed25519PublicKey)
    return public


def _public_pem(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _principal_expiry(key: str, principal: Principal, now: float) -> float:
    """TLRU time-to-use: a cached token lives until its own ``exp``."""
    return principal.expires_at


class TokenService:
    """Issues and verifies the API's tokens with one configured algorithm and key.

    Build it with :meth:`from_settings`, which reads and checks the key.  Safe to
    share between threads.

    Args:
        settings: The auth settings (claims, leeway, lifetimes, cache size).
        signing_key: The HS256 secret or the private key; ``None`` for a
            verification-only service.
        verifying_key: The HS256 secret or the public key.
        clock: Seconds since the epoch; tests inject their own.
    """

    def __init__(self, settings: AuthSettings, signing_key: _SigningKey | None,
                 verifying_key: _VerifyingKey, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._signing_key = signing_key
        self._verifying_key = verifying_key
        self._clock = clock
        self._algorithms = [settings.algorithm]
        self._jwt = jwt.PyJWT()
        self._options: dict[str, Any] = {
            "require": ["exp", "iss", "aud", "sub"],
            # exp, nbf and iat are checked against self._clock in _check_times
            "verify_exp": False, "verify_nbf": False, "verify_iat": False,
        }
        self._lock = threading.Lock()
        self._cache: TLRUCache[str, Principal] | None = (
            TLRUCache(maxsize=settings.cache_size, ttu=_principal_expiry, timer=clock)
            if settings.cache_size > 0 else None)
        self._stats = {"verified": 0, "cache_hits": 0, "rejected": 0}

    @classmethod
    def from_settings(cls, settings: AuthSettings, env: Mapping[str, str] | None = None, *,
                      clock: Callable[[], float] = time.time) -> TokenService:
        """Read the key named by ``settings`` and build the service.

        Args:
            settings: The auth settings.
            env: Where ``key_env`` is looked up; defaults to ``os.environ``.
            clock: Seconds since the epoch, for the time checks and the cache.

        Returns:
            The service, able to issue unless only ``public_key_file`` was given.

        Raises:
            ConfigError: Naming the setting at fault: no key, the variable unset,
                the file unreadable, an HS256 secret under 32 bytes or that is a
                PEM/SSH key, a PEM that does not parse or does not suit the
                algorithm, or a public key that does not match the private one.
        """
        text, where = _read_key(settings, os.environ if env is None else env)
        if settings.algorithm == "HS256":
            if settings.public_key_file is not None:
                raise _config_error("public_key_file",
                                    "only for RS256 and EdDSA; HS256 verifies with the secret")
            if text is None:
                raise _config_error("key", "no signing key: set one of key, key_env or key_file")
            if _looks_like_key(text):
                raise _config_error(where, "is a PEM/SSH key, not a shared secret; HS256 needs a "
                                           "random secret (use RS256 or EdDSA for key pairs)")
            secret = text.encode("utf-8")
            if len(secret) < _MIN_SECRET_BYTES:
                raise _config_error(where, f"HS256 secret must be at least {_MIN_SECRET_BYTES} "
                                           f"bytes, got {len(secret)}")
            return cls(settings, secret, secret, clock=clock)
        if text is None and settings.public_key_file is None:
            raise _config_error("key", "no key: set one of key, key_env or key_file (or "
                                       "public_key_file to verify only)")
        private = None if text is None else _load_private(text, where, settings.algorithm)
        public = None
        if settings.public_key_file is not None:
            public = _load_public(settings.public_key_file, settings.algorithm)
            if private is not None and _public_pem(public) != _public_pem(private.public_key()):
                raise _config_error("public_key_file", "does not match the private key")
        if public is None:
            assert private is not None
            public = private.public_key()
        return cls(settings, private, public, clock=clock)

    @property
    def can_issue(self) -> bool:
        """Whether this service holds the signing key."""
        return self._signing_key is not None

    @property
    def cached_tokens(self) -> int:
        """How many verified tokens the cache holds now (expired ones dropped first)."""
        if self._cache is None:
            return 0
        with self._lock:
            self._cache.expire()
            return len(self._cache)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``verified`` (cache hits included), ``cache_hits``, ``rejected``."""
        with self._lock:
            return dict(self._stats)

    def issue(self, subject: str, role: str, ttl_s: float | None = None, *,
              now: float | None = None, extra: Mapping[str, Any] | None = None) -> str:
        """Sign a token for ``subject`` with ``role``.

        Args:
            subject: The ``sub`` claim; non-empty.
            role: One of :data:`ROLES`.
            ttl_s: Lifetime in seconds; ``settings.default_ttl_s`` when ``None``,
                at most ``settings.max_ttl_s``.
            now: Issue time (seconds since the epoch); the service's clock by default.
            extra: More claims; they may not replace the standard ones.

        Returns:
            The compact JWT.

        Raises:
            TokenRequestError: A bad argument; the message names it.
            ConfigError: The service has only a public key.
        """
        if self._signing_key is None:
            raise _config_error("key", "issuing tokens needs the private key; only "
                                       "public_key_file is set")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenRequestError(f"subject must be a non-empty string, got {subject!r}")
        if role not in ROLES:
            raise TokenRequestError(f"unknown role {role!r}{did_you_mean(str(role), list(ROLES))} "
                                    f"(roles: {', '.join(ROLES)})")
        ttl = self.settings.default_ttl_s if ttl_s is None else ttl_s
        if not _is_number(ttl) or ttl <= 0:
            raise TokenRequestError(f"ttl_s must be a positive number of seconds, got {ttl_s!r}")
        if ttl > self.settings.max_ttl_s:
            raise TokenRequestError(f"ttl_s {ttl:g} exceeds max_ttl_s {self.settings.max_ttl_s:g}")
        clashes = sorted(_RESERVED_CLAIMS.intersection(extra or {}))
        if clashes:
            raise TokenRequestError(f"extra may not set the claims {', '.join(clashes)}")
        issued = self._clock() if now is None else now
        claims: dict[str, Any] = {
            **(extra or {}),
            "sub": subject, "role": role, "iss": self.settings.issuer,
            "aud": self.settings.audience, "iat": int(issued), "nbf": int(issued),
            "exp": int(issued + ttl), "jti": uuid.uuid4().hex,
        }
        try:
            token = self._jwt.encode(claims, self._signing_key, algorithm=self.settings.algorithm)
        except TypeError as exc:
            raise TokenRequestError(f"extra claims are not JSON-serialisable: {exc}") from None
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRequestError(f"extra makes the token {len(token)} bytes, over the "
                                    f"{MAX_TOKEN_BYTES}-byte limit verify() accepts")
        return token

    def verify(self, token: str | None) -> Principal:
        """Check a token and say who it is for.

        Args:
            token: The compact JWT (``None`` or empty: no token was sent).

        Returns:
            The principal; from the cache when this token verified before and has
            not expired on the service's clock.

        Raises:
            AuthenticationError: Whatever is wrong, with a short reason.
        """
        try:
            token = _precheck(token)
            if self._cache is not None:
                with self._lock:
                    hit = self._cache.get(token)
                    if hit is not None and self._clock() < hit.expires_at:
                        self._stats["cache_hits"] += 1
                        self._stats["verified"] += 1
                        return hit
            principal = self._decode(token)
        except AuthenticationError:
            with self._lock:
                self._stats["rejected"] += 1
            raise
        with self._lock:
            self._stats["verified"] += 1
            if self._cache is not None:
                self._cache[token] = principal
        return principal

    def verify_header(self, authorization: str | None) -> Principal:
        """Verify an ``Authorization: Bearer <token>`` header value.

        Args:
            authorization: The header's value, or ``None`` when absent.

        Returns:
            The principal of the token.

        Raises:
            AuthenticationError: ``"missing bearer token"``, ``"malformed
                Authorization header"`` or why the token did not verify.
        """
        if authorization is None or (isinstance(authorization, str) and not authorization.strip()):
            self._reject("missing bearer token")
        if not isinstance(authorization, str):
            self._reject("malformed Authorization header")
        if len(authorization) > MAX_TOKEN_BYTES + 64:
            self._reject(f"token too large (over {MAX_TOKEN_BYTES} bytes)")
        scheme, *rest = authorization.split(None, 1)
        token = rest[0].strip() if rest else ""
        if scheme.lower() != "bearer" or (token and any(c.isspace() for c in token)):
            self._reject("malformed Authorization header")
        if not token:
            self._reject("missing bearer token")
        return self.verify(token)

    def _reject(self, reason: str) -> NoReturn:
        with self._lock:
            self._stats["rejected"] += 1
        raise AuthenticationError(reason)

    def _decode(self, token: str) -> Principal:
        try:
            claims = self._jwt.decode(
                token, self._verifying_key, algorithms=self._algorithms,
                audience=self.settings.audience, issuer=self.settings.issuer,
                options=self._options)  # type: ignore[arg-type]
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError(self._algorithm_reason(token)) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("signature invalid") from None
        except jwt.DecodeError:
            raise AuthenticationError("malformed token") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"missing claim {exc.claim!r}") from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"invalid token: {str(exc)[:100]}") from None
        except Exception:
            raise AuthenticationError("malformed token") from None
        self._check_times(claims)
        subject, role = claims["sub"], claims.get("role")
        if not isinstance(subject, str):
            raise AuthenticationError("subject must be a string")
        if not subject:
            raise AuthenticationError("empty subject")
        if role is None:
            raise AuthenticationError("missing claim 'role'")
        if not isinstance(role, str):
            raise AuthenticationError("role claim must be a string")
        if role not in ROLES:
            raise AuthenticationError(f"unknown role {role[:40]!r}")
        return Principal(subject=subject, role=role, expires_at=float(claims["exp"]),
                         claims=claims)

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self._clock(), self.settings.leeway_s
        for name in ("exp", "nbf", "iat"):
            if name in claims and not _is_number(claims[name]):
                raise AuthenticationError(f"{name} claim must be a number")
        if claims["exp"] <= now - leeway:
            raise AuthenticationError("token expired")
        if "nbf" in claims and claims["nbf"] > now + leeway:
            raise AuthenticationError("token not yet valid")
        if "iat" in claims and claims["iat"] > now + leeway:
            raise AuthenticationError("token issued in the future")

    def _algorithm_reason(self, token: str) -> str:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except Exception:
            return "malformed token"
        if alg is None:
            return "algorithm not specified"
        shown = str(alg)[:20]
        return f"algorithm {shown!r} not allowed"


def _precheck(token: object) -> str:
    """Refuse cheaply what cannot be a token: absent, not text, huge, non-ASCII, not 3 parts."""
    if token is None or token == "":
        raise AuthenticationError("missing bearer token")
    if not isinstance(token, str):
        raise AuthenticationError("malformed token")
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthenticationError(f"token too large (over {MAX_TOKEN_BYTES} bytes)")
    if not token.isascii() or token.count(".") != 2:
        raise AuthenticationError("malformed token")
    return token
