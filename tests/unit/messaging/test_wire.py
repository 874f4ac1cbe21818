"""Batch frames and parcels: what the bus's hot path does, checked field by field."""

from __future__ import annotations

import msgpack
import pytest

from messaging import Envelope, EnvelopeError, Mailbox
from messaging.wire import decode, decode_parcels, encode, encode_payloads, explode, pack_frame


def _frame_with(group_edit: int, value: object) -> bytes:
    """A frame of three envelopes whose middle one has column ``group_edit`` set to value."""
    rows = [encode(Envelope.new("a", recipient="b", payload=i)) for i in range(3)]
    frame = msgpack.unpackb(pack_frame(rows), raw=False)
    frame[1][0][group_edit][1] = value
    return msgpack.packb(frame)


def test_frame_round_trip_keeps_every_field_and_order() -> None:
    envs = [Envelope.new("a", recipient="b", payload={"n": i}, priority=i % 10,
                         correlation_id=f"c{i}" if i % 2 else None,
                         headers={"h": str(i)} if i % 3 else {}, ttl_s=60.0)
            for i in range(25)]
    good, bad = decode(pack_frame([encode(e) for e in envs]))
    assert bad == [] and good == envs


def test_copies_share_one_group_and_get_their_own_ids() -> None:
    template = Envelope.new("a", topic="t/x", performative="inform", priority=7)
    rows = encode_payloads(template, ["p", "q", [1, 2]])
    parcels, bad = decode_parcels(pack_frame(rows))
    assert bad == [] and len(parcels) == 1 and len(parcels[0]) == 3
    envs = parcels[0].envelopes()
    assert [e.payload for e in envs] == ["p", "q", [1, 2]]  # lists stay lists
    assert len({e.id for e in envs}) == 3 and {e.topic for e in envs} == {"t/x"}


@pytest.mark.parametrize(("column", "value", "field"), [
    (7, 17, "id"), (8, "yesterday", "created_at"), (9, "", "correlation_id"),
    (10, {"k": 1}, "headers")])
def test_a_bad_row_is_rejected_alone_with_its_field_named(column: int, value: object,
                                                          field: str) -> None:
    good, bad = decode(_frame_with(column, value))
    assert [e.payload for e in good] == [0, 2]
    assert len(bad) == 1 and bad[0][1].startswith("rejected") and repr(field) in bad[0][1]


def test_a_bad_group_rejects_only_its_own_envelopes() -> None:
    ok = encode(Envelope.new("a", recipient="b", payload="ok"))
    bad_key = ("a", "shout", "b", None, 4, None, None)  # not a performative
    frame = pack_frame([ok, (bad_key, *ok[1:])])  # type: ignore[arg-type]
    good, bad = decode(frame)
    assert [e.payload for e in good] == ["ok"]
    assert len(bad) == 1 and "performative" in bad[0][1]


def test_expired_in_transit_and_garbage_are_reported_not_raised() -> None:
    old = Envelope.new("a", recipient="b", payload="old", ttl_s=1.0, created_at=10.0)
    fresh = Envelope.new("a", recipient="b", payload="new", ttl_s=1.0, created_at=100.0)
    good, bad = decode(pack_frame([encode(old), encode(fresh)]), now=100.5)
    assert [e.payload for e in good] == ["new"] and bad[0][1] == "expired in transit"
    assert Envelope.from_bytes(bad[0][0]).payload == "old"  # dead letters are whole envelopes
    assert decode(b"\xc1\xc1 not msgpack")[1][0][1].startswith("rejected")
    assert decode(msgpack.packb([2, [[1, 2, 3]]]))[1][0][1] == "rejected: not an envelope group"


def test_single_envelopes_are_accepted_where_frames_are() -> None:
    env = Envelope.new("a", recipient="b", payload=1)
    assert decode(env.to_bytes()) == ([env], [])
    assert explode(env.to_bytes()) == [env.to_bytes()]


def test_explode_gives_whole_envelopes() -> None:
    envs = [Envelope.new("a", topic="t", payload=i, priority=1 + i % 2) for i in range(4)]
    singles = explode(pack_frame([encode(e) for e in envs]))
    assert [Envelope.from_bytes(d) for d in singles] == envs


def test_unsendable_payloads_fail_at_the_sender() -> None:
    with pytest.raises(EnvelopeError, match="not serialisable"):
        encode(Envelope.new("a", recipient="b", payload=object()))
    with pytest.raises(EnvelopeError, match="exceeds the limit"):
        encode(Envelope.new("a", recipient="b", payload="x" * 2000), max_bytes=1000)


def test_mailbox_takes_part_of_a_parcel_and_keeps_the_rest() -> None:
    template = Envelope.new("a", recipient="b")
    parcel = decode_parcels(pack_frame(encode_payloads(template, list(range(10)))))[0][0]
    box = Mailbox(capacity=4)
    assert box.offer_parcel(parcel) == 4 and len(parcel) == 6 and box.free == 0
    assert box.offer_parcel(parcel) == 0
    got, dead = box.take_records(3)
    assert [r["payload"] for r in got] == [0, 1, 2] and dead == []
    assert box.offer_parcel(parcel) == 3 and len(parcel) == 3
    assert [e.payload for e in box.take(10)[0]] == [3, 4, 5, 6] and parcel.payloads[parcel.lo] == 7


def test_mailbox_sorts_expired_envelopes_out_of_a_parcel() -> None:
    now = [100.0]
    box = Mailbox(capacity=10, clock=lambda: now[0])
    rows = [encode(Envelope.new("a", recipient="b", payload=i, ttl_s=5.0,
                                created_at=96.0 + 3 * i)) for i in range(3)]
    for parcel in decode_parcels(pack_frame(rows), now=100.0)[0]:
        box.offer_parcel(parcel)
    now[0] = 104.0  # the first (created 96) has expired since; 99 and 102 have not
    got, dead = box.take(10)
    assert [e.payload for e in got] == [1, 2] and [e.payload for e, _ in dead] == [0]
    assert box.expired == 1 and len(box) == 0
