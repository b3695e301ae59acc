"""Journal: records, recovery, torn tails, per-epoch segments, compaction, group commit and fencing."""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.broker.message import Message
from harness.broker.store.contract import (
    AddOp,
    CheckpointOp,
    DurableSubscriptionRecord,
    Fenced,
    Op,
    RemoveOp,
    SubscribeOp,
    UnsubscribeOp,
)
from harness.broker.store.journal import (
    MAGIC,
    Journal,
    JournalError,
    encode_record,
    list_segments,
    recover,
    segment_name,
)
from harness.broker.store.records import decode_ops, encode_ops


def msg(n: int, dest: str = "/queue/a") -> Message:
    return Message(f"ID:t-1-{n}", dest, {"seq": str(n), "odd:header": "x\ny"}, f"body-{n}".encode(), True)


def ids(messages: Sequence[Message]) -> list[str]:
    return [m.message_id for m in messages]


def open_term(journal_dir: Path, term: int, fence_ok: bool = True, segment_max_bytes: int = 1 << 26) -> Journal:
    recovery = recover(journal_dir)
    return Journal.open_term(
        journal_dir,
        term,
        recovery.messages,
        lambda: fence_ok,
        lambda reason: None,
        segment_max_bytes,
        subscriptions=recovery.subscriptions,
    )


async def write(journal: Journal, *records: Sequence[Op]) -> None:
    await asyncio.gather(*(journal.append(ops) for ops in records))
    await journal.close()


def test_ops_round_trip() -> None:
    ops: list[Op] = [AddOp(msg(1)), RemoveOp("ID:t-1-0"), CheckpointOp()]
    decoded = decode_ops(encode_ops(ops))
    assert isinstance(decoded[0], AddOp)
    assert decoded[0].message.headers == msg(1).headers
    assert decoded[0].message.body == b"body-1"
    assert decoded[1] == RemoveOp("ID:t-1-0")
    assert isinstance(decoded[2], CheckpointOp)


def test_write_and_recover_in_order(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(write(journal, *([AddOp(msg(i))] for i in range(5)), [AddOp(msg(9, "/queue/b"))]))
    recovery = recover(tmp_path)
    assert ids(recovery.messages) == [f"ID:t-1-{i}" for i in (0, 1, 2, 3, 4, 9)]
    assert recovery.messages[0].headers["odd:header"] == "x\ny"
    assert recovery.messages[-1].destination == "/queue/b"
    assert recovery.base_epoch == 1


def test_acks_remove_messages(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(
        write(
            journal,
            [AddOp(msg(1))],
            [AddOp(msg(2))],
            [AddOp(msg(3))],
            [RemoveOp("ID:t-1-2")],
            [RemoveOp("ID:t-1-404")],  # unknown ids are harmless
        )
    )
    assert ids(recover(tmp_path).messages) == ["ID:t-1-1", "ID:t-1-3"]


def test_a_multi_op_record_is_atomic(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(write(journal, [AddOp(msg(1))], [RemoveOp("ID:t-1-1"), AddOp(msg(1, "/queue/ActiveMQ.DLQ"))]))
    [dead] = recover(tmp_path).messages
    assert dead.destination == "/queue/ActiveMQ.DLQ"


@pytest.mark.parametrize("cut", [1, 4, 9, 20])
def test_torn_tail_is_ignored(tmp_path: Path, cut: int) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(write(journal, [AddOp(msg(1))], [AddOp(msg(2))]))
    path = tmp_path / segment_name(1, 0)
    whole = path.read_bytes()
    last = len(encode_record([AddOp(msg(2))]))
    path.write_bytes(whole[: len(whole) - last + cut])  # the second record is torn
    recovery = recover(tmp_path)
    assert ids(recovery.messages) == ["ID:t-1-1"]
    assert recovery.torn and "ignored" in recovery.torn[0]


def test_garbage_tail_is_ignored(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(write(journal, [AddOp(msg(1))]))
    with open(tmp_path / segment_name(1, 0), "ab") as f:
        f.write(os.urandom(100))
    assert ids(recover(tmp_path).messages) == ["ID:t-1-1"]


def test_corrupt_record_stops_the_segment(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(write(journal, [AddOp(msg(1))], [AddOp(msg(2))], [AddOp(msg(3))]))
    path = tmp_path / segment_name(1, 0)
    data = bytearray(path.read_bytes())
    index = data.index(b"body-2")
    data[index] ^= 0xFF
    path.write_bytes(bytes(data))
    recovery = recover(tmp_path)
    assert ids(recovery.messages) == ["ID:t-1-1"]
    assert "CRC mismatch" in recovery.torn[0]


def test_compaction_moves_live_messages_and_deletes_old_segments(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(write(journal, [AddOp(msg(1))], [AddOp(msg(2))], [RemoveOp("ID:t-1-1")], [AddOp(msg(3))]))
    journal2 = open_term(tmp_path, 2)
    assert list(list_segments(tmp_path)) == [(2, 0)]
    asyncio.run(write(journal2, [AddOp(msg(4))]))
    recovery = recover(tmp_path)
    assert ids(recovery.messages) == ["ID:t-1-2", "ID:t-1-3", "ID:t-1-4"]
    assert recovery.base_epoch == 2


def test_a_deposed_masters_late_segment_is_ignored(tmp_path: Path) -> None:
    old = open_term(tmp_path, 1)
    asyncio.run(write(old, [AddOp(msg(1))]))
    new = open_term(tmp_path, 2)
    asyncio.run(write(new, [AddOp(msg(2))]))
    # The old master, unaware, rotates into a fresh segment of its own epoch after the compaction.
    late = tmp_path / segment_name(1, 1)
    late.write_bytes(MAGIC + encode_record([AddOp(msg(66))]) + encode_record([RemoveOp("ID:t-1-2")]))
    recovery = recover(tmp_path)
    assert ids(recovery.messages) == ["ID:t-1-1", "ID:t-1-2"]
    assert late in recovery.segments_ignored


def test_a_failed_compaction_is_ignored(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    asyncio.run(write(journal, [AddOp(msg(1))], [AddOp(msg(2))]))
    # Term 2 died while writing its snapshot: the checkpoint never made it to disk.
    (tmp_path / segment_name(2, 0)).write_bytes(MAGIC + encode_record([AddOp(msg(1))])[:-3])
    recovery = recover(tmp_path)
    assert recovery.base_epoch == 1
    assert ids(recovery.messages) == ["ID:t-1-1", "ID:t-1-2"]
    journal3 = open_term(tmp_path, 3)
    asyncio.run(journal3.close())
    assert list(list_segments(tmp_path)) == [(3, 0)]
    assert ids(recover(tmp_path).messages) == ["ID:t-1-1", "ID:t-1-2"]


def test_segments_rotate_within_a_term(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1, segment_max_bytes=200)
    asyncio.run(write(journal, *([AddOp(msg(i))] for i in range(10)), [RemoveOp("ID:t-1-0")]))

    # Group commit may put several records in one batch; rotation happens between batches.
    async def one_at_a_time() -> None:
        j = open_term(tmp_path, 2, segment_max_bytes=200)
        for i in range(10, 15):
            await j.append([AddOp(msg(i))])
        await j.close()

    asyncio.run(one_at_a_time())
    assert len([key for key in list_segments(tmp_path) if key[0] == 2]) > 2
    assert ids(recover(tmp_path).messages) == [f"ID:t-1-{i}" for i in range(1, 15)]


def test_empty_store_recovers_nothing(tmp_path: Path) -> None:
    recovery = recover(tmp_path / "missing")
    assert recovery.messages == [] and recovery.base_epoch is None


def test_group_commit_batches_concurrent_appends(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)

    async def run() -> None:
        await asyncio.gather(*(journal.append([AddOp(msg(i))]) for i in range(200)))
        await journal.close()

    asyncio.run(run())
    assert journal.records == 200
    assert journal.batches < 200
    assert len(recover(tmp_path).messages) == 200


def test_fence_failure_after_fsync_fails_the_futures(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1, fence_ok=False)

    async def run() -> None:
        with pytest.raises(Fenced):
            await journal.append([AddOp(msg(1))])
        with pytest.raises(Fenced):
            await journal.append([AddOp(msg(2))])  # the journal stays failed
        await journal.close()

    asyncio.run(run())
    # The record is on disk (a later master may see it) but was never confirmed.
    assert ids(recover(tmp_path).messages) == ["ID:t-1-1"]


def test_write_failure_reports_and_fails(tmp_path: Path) -> None:
    failures: list[str] = []
    recovery = recover(tmp_path)
    journal = Journal.open_term(tmp_path, 1, recovery.messages, lambda: True, failures.append)

    async def run() -> None:
        # Simulate an I/O error: the segment descriptor is swapped for a read-only one.
        os.close(journal._fd)
        journal._fd = os.open(tmp_path / "read-only", os.O_RDONLY | os.O_CREAT)
        with pytest.raises(JournalError):
            await journal.append([AddOp(msg(1))])
        await journal.close()

    asyncio.run(run())
    assert failures and "journal write failed" in failures[0]


def test_appends_after_close_fail(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)

    async def run() -> None:
        await journal.close()
        with pytest.raises(JournalError):
            await journal.append([AddOp(msg(1))])

    asyncio.run(run())


# -- containers, message metadata, durable subscriptions, the first format -------------------------

RECORD = DurableSubscriptionRecord("durable:2:c1:s1", "c1", "s1", "/topic/t", "n > 1", no_local=True)


def test_message_metadata_and_container_round_trip() -> None:
    original = Message(
        "ID:t-1-7",
        "/topic/t",
        {"k": "v"},
        b"\x00binary",
        True,
        priority=9,
        expires=1_700_000_123_456,
        timestamp=1_700_000_000_000,
        redelivery_count=2,
        deliver_at=1_700_000_001_000,
        group_id="G",
        group_seq=-1,
        container=RECORD.key,
    )
    [decoded] = decode_ops(encode_ops([AddOp(original)]))
    assert isinstance(decoded, AddOp)
    got = decoded.message
    fields = ("message_id", "destination", "headers", "body", "priority", "expires", "timestamp")
    assert all(getattr(got, f) == getattr(original, f) for f in fields)
    assert (got.redelivery_count, got.deliver_at, got.group_id, got.group_seq) == (2, 1_700_000_001_000, "G", -1)
    assert got.container == RECORD.key
    assert decode_ops(encode_ops([SubscribeOp(RECORD), UnsubscribeOp(RECORD.key)])) == [
        SubscribeOp(RECORD),
        UnsubscribeOp(RECORD.key),
    ]
    assert decode_ops(encode_ops([RemoveOp("ID:x", "/queue/a")])) == [RemoveOp("ID:x", "/queue/a")]


def test_durable_messages_live_per_container(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    other = "durable:2:c2:s1"
    copy_a = Message("ID:t-1-1", "/topic/t", {}, b"x", True, container=RECORD.key)
    copy_b = Message("ID:t-1-1", "/topic/t", {}, b"x", True, container=other)
    asyncio.run(
        write(
            journal,
            [SubscribeOp(RECORD), SubscribeOp(DurableSubscriptionRecord(other, "c2", "s1", "/topic/t"))],
            [AddOp(copy_a), AddOp(copy_b)],
            [RemoveOp("ID:t-1-1", RECORD.key)],
        )
    )
    recovery = recover(tmp_path)
    assert [(m.container, m.message_id) for m in recovery.messages] == [(other, "ID:t-1-1")]
    assert {r.key for r in recovery.subscriptions} == {RECORD.key, other}


def test_unsubscribe_drops_the_subscription_and_its_messages(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    stored = Message("ID:t-1-1", "/topic/t", {}, b"x", True, container=RECORD.key)
    asyncio.run(write(journal, [SubscribeOp(RECORD)], [AddOp(stored)], [UnsubscribeOp(RECORD.key)]))
    recovery = recover(tmp_path)
    assert recovery.messages == [] and recovery.subscriptions == []


def test_redelivery_copy_replaces_the_original(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    first = msg(1)
    first.container = "/queue/a"
    again = first.copy()
    again.redelivery_count, again.deliver_at = 1, 123
    asyncio.run(write(journal, [AddOp(first)], [RemoveOp(first.message_id, "/queue/a"), AddOp(again)]))
    [recovered] = recover(tmp_path).messages
    assert (recovered.redelivery_count, recovered.deliver_at) == (1, 123)


def test_compaction_keeps_subscriptions_and_containers(tmp_path: Path) -> None:
    journal = open_term(tmp_path, 1)
    stored = Message("ID:t-1-1", "/topic/t", {}, b"x", True, priority=7, container=RECORD.key)
    asyncio.run(write(journal, [SubscribeOp(RECORD)], [AddOp(stored)]))
    asyncio.run(open_term(tmp_path, 2).close())
    recovery = recover(tmp_path)
    assert recovery.base_epoch == 2
    assert recovery.subscriptions == [RECORD]
    [recovered] = recovery.messages
    assert (recovered.container, recovered.priority) == (RECORD.key, 7)


def _first_format_add(message_id: str, destination: str, body: bytes) -> bytes:
    """An 'A' operation exactly as the first journal format wrote it."""
    headers = b'{"k":"v"}'
    return (
        b"A"
        + len(message_id).to_bytes(2, "big")
        + message_id.encode()
        + len(destination).to_bytes(2, "big")
        + destination.encode()
        + len(headers).to_bytes(4, "big")
        + headers
        + len(body).to_bytes(4, "big")
        + body
    )


def test_journals_of_the_first_format_are_still_recovered(tmp_path: Path) -> None:
    """Segments written before containers existed: 'A' adds and 'R' removes keyed by message id alone."""

    def record(payload: bytes) -> bytes:
        return len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big") + payload

    def remove(message_id: str) -> bytes:
        return b"R" + len(message_id).to_bytes(2, "big") + message_id.encode()

    segment = (
        MAGIC
        + record(_first_format_add("ID:o-1", "/queue/a", b"one") + _first_format_add("ID:o-2", "/queue/a", b"two"))
        + record(b"C")
        + record(remove("ID:o-1"))  # acked
        + record(remove("ID:o-2") + _first_format_add("ID:o-2", "/queue/ActiveMQ.DLQ", b"two"))  # NACKed
    )
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / segment_name(1, 0)).write_bytes(segment)
    recovery = recover(tmp_path)
    assert [(m.container, m.message_id, m.body) for m in recovery.messages] == [
        ("/queue/ActiveMQ.DLQ", "ID:o-2", b"two")
    ]
    assert recovery.messages[0].headers == {"k": "v"} and recovery.messages[0].priority == 4
