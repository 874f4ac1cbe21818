"""Messaging: the envelope, its security, and the pure cores of the in-cluster bus.

Envelopes (:mod:`messaging.envelope`), AES-256-GCM sealing and JWT identity
(:mod:`messaging.crypto`), bounded priority mailboxes, MQTT-style topic
matching, micro-batching and push-pull gossip.  The bus actors and the broker
bridges build on these.
"""

import logging
from typing import TYPE_CHECKING, Any

from messaging.batcher import Batcher
from messaging.envelope import Envelope, EnvelopeError, Performative, new_id
from messaging.errors import AuthError, SecurityError
from messaging.gossip import RumourStore, simulate
from messaging.mailbox import Mailbox
from messaging.topics import TopicError, TopicMatcher

if TYPE_CHECKING:
    from messaging.crypto import Keyring, TokenIssuer, TokenVerifier

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: imported when first asked for: ``cryptography`` costs every agent process 7 ms of CPU at start,
#: and only agents with message keys and the Supervisor use it
_CRYPTO = ("Keyring", "TokenIssuer", "TokenVerifier")


def __getattr__(name: str) -> Any:
    if name in _CRYPTO:
        from messaging import crypto

        return getattr(crypto, name)
    raise AttributeError(f"module 'messaging' has no attribute {name!r}")

__all__ = [
    "AuthError",
    "Batcher",
    "Envelope",
    "EnvelopeError",
    "Keyring",
    "Mailbox",
    "Performative",
    "RumourStore",
    "SecurityError",
    "TokenIssuer",
    "TokenVerifier",
    "TopicError",
    "TopicMatcher",
    "new_id",
    "simulate",
]
