"""Batch frames: many envelopes in one msgpack blob, shared fields written once.

The bus moves envelopes between agents in frames, like Kafka's record
batches: envelopes that share sender, performative, recipient or topic,
priority, TTL and reply-to form a group whose common fields are written once,
and the fields each envelope has on its own (id, creation time, correlation
id, headers, payload) are written as columns.  A frame is decoded with one
msgpack call and validated group by group, so a batch costs far less than
decoding its envelopes one by one.  A
single-envelope blob (:meth:`Envelope.to_bytes`, the broker wire form) is
accepted wherever a frame is.

Rows are encoded when a message is sent, so a payload that cannot be
serialised or is over the size limit fails in the sender's hands, not later.

Example:
    >>> a = Envelope.new("a", recipient="b", payload=1)
    >>> b = Envelope.new("a", recipient="b", payload=2, priority=7)
    >>> frame = pack_frame([encode(a), encode(b)])
    >>> good, bad = decode(frame)
    >>> [e.payload for e in good], [e.priority for e in good], bad
    ([1, 2], [4, 7], [])
    >>> [Envelope.from_bytes(d).payload for d in explode(frame)]
    [1, 2]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack

from messaging.envelope import (
    _PERFORMATIVES,
    DEFAULT_MAX_BYTES,
    Envelope,
    EnvelopeError,
    _common_ok,
    _row_ok,
    new_id,
)
from messaging.mailbox import Parcel

__all__ = ["MAX_FRAME_BYTES", "Key", "Rejected", "Row", "decode", "decode_parcels", "encode",
           "encode_payloads", "explode", "pack_frame"]

FRAME_VERSION = 2
_NUMBERS = (int, float)
#: a frame larger than this is refused whole (its envelopes were size-checked when sent)
MAX_FRAME_BYTES = 256 << 20

#: the fields a group of envelopes shares: sender, performative, recipient, topic,
#: priority, ttl_s, reply_to
Key = tuple[str, str, str | None, str | None, int, float | None, str | None]
#: one envelope: its group key, id, creation time, correlation id, headers (None if
#: empty) and msgpack-encoded payload
Row = tuple[Key, str, float, str | None, dict[str, str] | None, bytes]
#: an envelope that could not be accepted, as single-envelope bytes, and why
Rejected = tuple[bytes, str]



def _packer() -> msgpack.Packer:
    """A fresh packer (packers are not thread-safe; bridges use threads)."""
    return msgpack.Packer(use_bin_type=True)


def _row(packer: msgpack.Packer, key: Key, id_: str, created_at: float,
         correlation_id: str | None, headers: Mapping[str, str], payload: Any,
         max_bytes: int) -> Row:
    try:
        data = packer.pack(payload)
    except (TypeError, ValueError) as exc:
        raise EnvelopeError(f"field 'payload': not serialisable: {exc}") from None
    if len(data) + 96 > max_bytes:  # 96: room for the envelope's own fields
        raise EnvelopeError(f"envelope {id_}: {len(data) + 96} bytes exceeds the limit of "
                            f"{max_bytes}")
    return key, id_, created_at, correlation_id, dict(headers) if headers else None, data


def _key(env: Envelope) -> Key:
    return (env.sender, env.performative.value, env.recipient, env.topic, env.priority,
            env.ttl_s, env.reply_to)


def encode(env: Envelope, max_bytes: int = DEFAULT_MAX_BYTES) -> Row:
    """The envelope as a frame row (raises :class:`EnvelopeError` if it cannot be sent)."""
    return _row(_packer(), _key(env), env.id, env.created_at, env.correlation_id,
                env.headers, env.payload, max_bytes)


def encode_payloads(template: Envelope, payloads: Iterable[Any],
                    max_bytes: int = DEFAULT_MAX_BYTES) -> list[Row]:
    """Rows for one envelope per payload, each a copy of the (already validated)
    ``template`` with a fresh id and creation time: the fast path of ``tell_many``."""
    key = _key(template)
    now, corr, headers = time.time(), template.correlation_id, template.headers
    packer = _packer()
    return [_row(packer, key, new_id(), now, corr, headers, p, max_bytes) for p in payloads]


def pack_frame(rows: Sequence[Row]) -> bytes:
    """One frame for ``rows``; consecutive rows with the same key share a group."""
    groups: list[tuple[Key, list[Row]]] = []
    for row in rows:
        if groups and groups[-1][0] == row[0]:
            groups[-1][1].append(row)
        else:
            groups.append((row[0], [row]))
    packer = _packer()
    parts = [packer.pack_array_header(2), packer.pack(FRAME_VERSION),
             packer.pack_array_header(len(groups))]
    for key, members in groups:
        parts.append(packer.pack_array_header(12))
        parts.extend(packer.pack(f) for f in key)
        for column in (1, 2, 3, 4):
            parts.append(packer.pack([r[column] for r in members]))
        parts.append(packer.pack_array_header(len(members)))
        parts.extend(r[5] for r in members)
    return b"".join(parts)


def _single(group: Sequence[Any], i: int) -> bytes:
    """Member ``i`` of a group rebuilt as single-envelope bytes (holding, dead letters)."""
    sender, perf, recipient, topic, priority, ttl, reply_to = group[:7]
    ids, created, corrs, headers, payloads = group[7:12]
    return msgpack.packb([1, ids[i], sender, perf, recipient, topic, payloads[i], priority,
                          created[i], ttl, corrs[i], reply_to, headers[i] or {}])


def _unpack(data: bytes | bytearray | memoryview, max_bytes: int) -> Any:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EnvelopeError(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise EnvelopeError(f"{len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise EnvelopeError(f"not a msgpack envelope: {exc}") from None


def _groups(obj: Any) -> list[Any] | None:
    """The groups of a decoded frame, or None if ``obj`` is not a frame."""
    if isinstance(obj, list) and len(obj) == 2 and obj[0] == FRAME_VERSION \
            and isinstance(obj[1], list):
        return obj[1]
    return None


def _group_ok(group: Any) -> bool:
    """Twelve fields whose last five are columns of one length."""
    return (isinstance(group, list) and len(group) == 12
            and all(isinstance(c, list) for c in group[7:])
            and len({len(c) for c in group[7:]}) == 1)


def decode(data: bytes | bytearray | memoryview, max_bytes: int = DEFAULT_MAX_BYTES,
           now: float | None = None) -> tuple[list[Envelope], list[Rejected]]:
    """Envelopes of a frame (or single envelope), and the rejected ones with reasons."""
    parcels, bad = decode_parcels(data, max_bytes, now)
    return [e for p in parcels for e in p.envelopes()], bad


def decode_parcels(data: bytes | bytearray | memoryview, max_bytes: int = DEFAULT_MAX_BYTES,
                   now: float | None = None) -> tuple[list[Parcel], list[Rejected]]:
    """The valid envelopes of a frame (or single envelope) as parcels, one per group,
    and the rejected ones with reasons.

    Expired envelopes are rejected here ("expired in transit"); a malformed
    group or row rejects its own envelopes only, the rest go through.
    """
    try:
        obj = _unpack(data, MAX_FRAME_BYTES)
    except EnvelopeError as exc:
        return [], [(bytes(data[:4096]), f"rejected: {exc}")]
    groups = _groups(obj)
    if groups is None:  # one envelope in the broker wire form
        try:
            env = Envelope.from_bytes(bytes(data), max_bytes)
        except EnvelopeError as exc:
            return [], [(bytes(data[:4096]), f"rejected: {exc}")]
        if env.expired(now):
            return [], [(bytes(data), "expired in transit")]
        return [Parcel.of(env)], []
    now = time.time() if now is None else now
    parcels: list[Parcel] = []
    bad: list[Rejected] = []
    for group in groups:
        if not _group_ok(group):
            bad.append((msgpack.packb(group)[:4096], "rejected: not an envelope group"))
            continue
        sender, perf_name, recipient, topic, priority, ttl, reply_to = group[:7]
        perf = _PERFORMATIVES.get(perf_name) if isinstance(perf_name, str) else None
        if perf is None or not _common_ok(sender, recipient, topic, priority, ttl, reply_to):
            bad.extend((_single(group, i), "rejected: " + _why(group, i))
                       for i in range(len(group[7])))
            continue
        ids, created, corrs, headers = group[7:11]
        deadline = now - ttl if ttl is not None else None
        keep = [i for i, (id_, c, corr, h) in enumerate(zip(ids, created, corrs, headers,
                                                                   strict=True))
                # the checks of envelope._row_ok, inlined: this loop is the bus's hot path
                if type(id_) is str and 0 < len(id_) <= 64 and type(c) in _NUMBERS
                and (corr is None or (type(corr) is str and corr != ""))
                and (h is None or _row_ok(id_, c, corr, h))
                and (deadline is None or c >= deadline)]
        key = (sender, perf, recipient, topic, priority, ttl, reply_to)
        if len(keep) == len(ids):
            parcels.append(Parcel(key, ids, created, corrs, headers, group[11]))
            continue
        kept = set(keep)
        for i in range(len(ids)):
            if i not in kept:
                expired = _row_ok(ids[i], created[i], corrs[i], headers[i] or {})
                bad.append((_single(group, i), "expired in transit" if expired
                            else "rejected: " + _why(group, i)))
        if keep:
            ids, created, corrs, headers, payloads = ([column[i] for i in keep]
                                                      for column in group[7:12])
            parcels.append(Parcel(key, ids, created, corrs, headers, payloads))
    return parcels, bad


def _why(group: Sequence[Any], i: int) -> str:
    """The validation error for a bad group member, from the envelope's own checks."""
    try:
        sender, perf, recipient, topic, priority, ttl, reply_to = group[:7]
        ids, created, corrs, headers, payloads = group[7:12]
        Envelope(id=ids[i], sender=sender, performative=perf, recipient=recipient,
                 topic=topic, payload=payloads[i], priority=priority, created_at=created[i],
                 ttl_s=ttl, correlation_id=corrs[i], reply_to=reply_to,
                 headers=headers[i] or {})
    except EnvelopeError as exc:
        return str(exc)
    except (TypeError, ValueError) as exc:
        return f"not an envelope group member: {exc}"
    return "invalid envelope"  # pragma: no cover - decode only calls this for bad rows


def explode(data: bytes) -> list[bytes]:
    """The envelopes of a frame as single-envelope bytes (a single envelope: itself).

    Used on the slow paths (holding for an absent agent, dead letters), which
    keep and report envelopes one by one.
    """
    try:
        groups = _groups(_unpack(data, MAX_FRAME_BYTES))
    except EnvelopeError:
        return [bytes(data)]
    if groups is None:
        return [bytes(data)]
    out: list[bytes] = []
    for group in groups:
        if _group_ok(group):
            out.extend(_single(group, i) for i in range(len(group[7])))
        else:
            out.append(msgpack.packb(group)[:4096])
    return out
