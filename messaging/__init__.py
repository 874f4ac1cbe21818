"""Messaging: the envelope, its security, and the pure cores of the in-cluster bus.

Envelopes (:mod:`messaging.envelope`), AES-256-GCM sealing and JWT identity
(:mod:`messaging.crypto`), bounded priority mailboxes, MQTT-style topic
matching, micro-batching and push-pull gossip.  The bus actors and the broker
bridges build on these.
"""

import logging

from messaging.batcher import Batcher
from messaging.crypto import AuthError, Keyring, SecurityError, TokenIssuer, TokenVerifier
from messaging.envelope import Envelope, EnvelopeError, Performative, new_id
from messaging.gossip import RumourStore, simulate
from messaging.mailbox import Mailbox
from messaging.topics import TopicError, TopicMatcher

logging.getLogger(__name__).addHandler(logging.NullHandler())

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
