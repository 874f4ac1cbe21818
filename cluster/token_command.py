"""What ``raymas token --subject NAME --role ROLE [--ttl 1h]`` does once parsed.

The parser lives in :mod:`cluster.cli`; this module reads the signing key named
by the ``serve.auth`` settings and signs a bearer token for the HTTP API.  It
signs whether or not ``serve.auth.enabled`` is set: a token issued while auth is
off is good once it is turned on.
"""

from __future__ import annotations

from cluster.api.auth import AuthSettings, TokenService, parse_ttl

__all__ = ["token_command"]


def token_command(settings: AuthSettings, subject: str, role: str, ttl: str | None) -> str:
    """Sign a token for ``subject`` with ``role``.

    Args:
        settings: The ``serve.auth`` settings (algorithm and signing key).
        subject: The token's ``sub``.
        role: One of :data:`cluster.api.auth.ROLES`.
        ttl: Lifetime such as ``"90"``, ``"15m"``, ``"1h"``, ``"2d"``;
            ``settings.default_ttl_s`` when ``None``.

    Returns:
        The compact JWT.

    Raises:
        ConfigError: The key is missing or unusable, or only a public key is set.
        TokenRequestError: A bad subject, role or ttl (a ``ValueError``).
    """
    service = TokenService.from_settings(settings)
    return service.issue(subject, role, None if ttl is None else parse_ttl(ttl))
