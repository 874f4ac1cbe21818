"""The Supervisor's agent-identity keys, kept in the ledger's database so they survive restarts.

The Supervisor signs agents' identity tokens with an Ed25519 key.  Held only
in memory, a restarted Supervisor would make a new key while bridges and
clients still hold the old public key; :class:`KeyStore` keeps the key in its
own table, ``raymas_keys`` (which a fresh ledger leaves alone), next to the
ledger, so a restarted Supervisor signs with the same key.

**The private keys rest in that table as unencrypted PEM** (PKCS#8): they are
exactly as protected as the ledger database itself.  Whoever can read the
ledger can mint identity tokens; protect its file or its PostgreSQL role
accordingly.

Keys rotate: :meth:`KeyStore.rotate` makes a new current key; the previous one
keeps verifying for ``retire_after_s`` (by default a token's lifetime, so every
token it signed expires before it retires) and is deleted once retired.  Each
key's id (``kid``) is the first 16 hex digits of the SHA-256 of its raw public
key.  No Ray here.

Example:
    >>> store = KeyStore("sqlite:///:memory:")
    >>> kid, key = store.current()
    >>> store.current()[0] == kid, list(store.verification_keys()) == [kid]
    (True, True)
    >>> new = store.rotate()
    >>> list(store.verification_keys()) == [new, kid]
    True
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agents.supervisor.ledger import TableStore, exclusive

__all__ = ["KeyStore", "key_id"]

_TABLE = "raymas_keys"
#: ``retire_at`` NULL marks the current key; a retired key's row is deleted
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
    kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL, public_pem TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, retire_at DOUBLE PRECISION)"""


def key_id(public: Ed25519PublicKey) -> str:
    """The key's id: the first 16 hex digits of the SHA-256 of its raw public bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class KeyStore(TableStore):
    """Ed25519 signing keys by kid in ``raymas_keys`` at ``url`` (the ledger's URL).

    Args:
        url: ``sqlite:///path`` or ``postgresql://...``, as the ledger.
        retire_after_s: How long a rotated-out key still verifies; the Supervisor
            passes its ``token_ttl_s``.
        clock: Wall-clock seconds (tests pass their own).
    """

    def __init__(self, url: str, retire_after_s: float = 24 * 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        if retire_after_s < 0:
            raise ValueError(f"retire_after_s must be >= 0, got {retire_after_s}")
        self.retire_after_s = float(retire_after_s)
        self._clock = clock
        super().__init__(url, _TABLE, _SCHEMA)

    def current(self) -> tuple[str, Ed25519PrivateKey]:
        """The current signing key and its kid; made (and stored) if there is none."""
        rows = self._read(f"SELECT kid, private_pem FROM {_TABLE} WHERE retire_at IS NULL")
        if not rows:
            with self._lock, exclusive(self._conn, self._ph, _TABLE) as cur:
                cur.execute(f"SELECT kid, private_pem FROM {_TABLE} WHERE retire_at IS NULL")
                rows = list(cur.fetchall())  # another process may have made it meanwhile
                if not rows:
                    rows = [self._insert(cur)]
        kid, pem = rows[0]
        key = serialization.load_pem_private_key(str(pem).encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):  # pragma: no cover - only we write the table
            raise TypeError(f"key {kid!r} is not an Ed25519 key")
        return str(kid), key

    def rotate(self) -> str:
        """Make a new current key; the previous one verifies until it retires.  Its kid."""
        with self._lock, exclusive(self._conn, self._ph, _TABLE) as cur:
            now = self._clock()
            cur.execute(self._sql(f"DELETE FROM {_TABLE} WHERE retire_at <= ?"), (now,))
            cur.execute(self._sql(f"UPDATE {_TABLE} SET retire_at = ? WHERE retire_at IS NULL"),
                        (now + self.retire_after_s,))
            kid, _ = self._insert(cur)
        return kid

    def verification_keys(self) -> dict[str, Ed25519PublicKey]:
        """Public keys that verify tokens now, by kid: the current one first, then the
        rotated-out ones not yet retired, newest first."""
        out: dict[str, Ed25519PublicKey] = {}
        for kid, pem in self._valid():
            key = serialization.load_pem_public_key(str(pem).encode())
            if isinstance(key, Ed25519PublicKey):
                out[str(kid)] = key
        return out

    def public_pems(self) -> dict[str, bytes]:
        """:meth:`verification_keys` as PEM, in the same order."""
        return {str(kid): str(pem).encode() for kid, pem in self._valid()}

    def next_retirement(self) -> float | None:
        """When the next rotated-out key retires (then :meth:`verification_keys` shrinks)."""
        rows = self._read(f"SELECT MIN(retire_at) FROM {_TABLE} WHERE retire_at > ?",
                          (self._clock(),))
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def _valid(self) -> list[tuple[Any, ...]]:
        rows = self._read(f"SELECT kid, public_pem, created_at, retire_at FROM {_TABLE} "
                          "WHERE retire_at IS NULL OR retire_at > ?", (self._clock(),))
        # the current key (no retire_at) first, then by age, newest first
        rows.sort(key=lambda r: (r[3] is not None, -float(r[2])))
        return [(kid, pem) for kid, pem, _, _ in rows]

    def _insert(self, cur: Any) -> tuple[str, str]:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        kid = key_id(key.public_key())
        cur.execute(self._sql(f"INSERT INTO {_TABLE} (kid, private_pem, public_pem, created_at, "
                              "retire_at) VALUES (?, ?, ?, ?, NULL)"),
                    (kid, private, public, self._clock()))
        return kid, private

