"""Append-only journal of persistent messages: per-epoch segments, group commit, recovery.

Layout: ``<store>/journal/<epoch:010d>-<n:06d>.log``. A segment starts with an 8-byte magic and
holds records ``[u32 length][u32 crc32][payload]``; a payload is a batch of operations applied
atomically (a transaction commit is one record). Operations: add a message to a container (a
queue, or a durable topic subscription), remove one, create or delete a durable subscription, and
the checkpoint. Journals written before containers existed (``A``/``R`` operations: queue messages
keyed by id alone) are still read. A record whose length or CRC does not check out
ends its segment: that is a torn tail from a crash, and nothing after it was ever confirmed.

Each master term writes only its own segments, so the late append of a deposed master never lands
in the new master's files. A new master first writes a snapshot of the live messages followed by
a CHECKPOINT operation into segment ``<term>-000000``, fsyncs it, and only then deletes the older
segments (compaction). Recovery starts from the newest epoch whose first segment holds a complete
checkpoint and replays that epoch's segments in order; older epochs are superseded by the snapshot
and later epochs without a checkpoint are compactions that died before serving any client.

Group commit (group_commit.py): ``append`` queues a record and returns a future; one writer at a
time writes all queued records and fsyncs once (in a worker thread), then runs the fence check and
resolves the futures only if this node is still master. A receipt waits for that future.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.broker.message import Message
from harness.broker.store.contract import (
    AddOp,
    CheckpointOp,
    DurableSubscriptionRecord,
    Op,
    RemoveOp,
    StoreError,
    SubscribeOp,
    UnsubscribeOp,
)
from harness.broker.store.files import fsync_dir
from harness.broker.store.group_commit import GroupCommit
from harness.broker.store.records import CorruptRecord, decode_ops, encode_ops

MAGIC = b"PYBJRNL1"
JOURNAL_DIR = "journal"
DEFAULT_SEGMENT_MAX_BYTES = 64 * 1024 * 1024
_SNAPSHOT_RECORD_BYTES = 4 * 1024 * 1024
_RECORD_HEAD = struct.Struct(">II")
_SEGMENT_NAME = re.compile(r"^(\d{10})-(\d{6})\.log$")


class JournalError(StoreError):
    """Writing the journal failed; nothing in the failed batch may be confirmed."""


def encode_record(ops: Iterable[Op]) -> bytes:
    payload = encode_ops(ops)
    return _RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload


# -- segments and recovery ----------------------------------------------------------------------


def segment_name(epoch: int, n: int) -> str:
    return f"{epoch:010d}-{n:06d}.log"


def list_segments(journal_dir: Path) -> dict[tuple[int, int], Path]:
    segments: dict[tuple[int, int], Path] = {}
    try:
        names = os.listdir(journal_dir)
    except FileNotFoundError:
        return segments
    for name in names:
        match = _SEGMENT_NAME.match(name)
        if match:
            segments[(int(match.group(1)), int(match.group(2)))] = journal_dir / name
    return segments


@dataclass
class SegmentRead:
    records: list[list[Op]]
    size: int
    torn_bytes: int  # bytes after the last good record (0 = clean)
    reason: str = ""


def read_segment(path: Path) -> SegmentRead:
    """All good records of one segment, stopping at the first torn or corrupt one."""
    data = path.read_bytes()
    records: list[list[Op]] = []
    if data[: len(MAGIC)] != MAGIC:
        return SegmentRead(records, len(data), len(data), "bad or missing segment header")
    pos = len(MAGIC)
    end = len(data)
    while pos < end:
        if end - pos < _RECORD_HEAD.size:
            return SegmentRead(records, end, end - pos, "truncated record header")
        length, crc = _RECORD_HEAD.unpack_from(data, pos)
        start = pos + _RECORD_HEAD.size
        if start + length > end:
            return SegmentRead(records, end, end - pos, "truncated record")
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return SegmentRead(records, end, end - pos, "CRC mismatch")
        try:
            records.append(decode_ops(payload))
        except CorruptRecord as exc:
            return SegmentRead(records, end, end - pos, f"undecodable record: {exc}")
        pos = start + length
    return SegmentRead(records, end, 0)


@dataclass
class Recovery:
    """What recovery found: the live messages in journal order (each with its container), the durable
    subscriptions, and how it got there."""

    messages: list[Message]
    subscriptions: list[DurableSubscriptionRecord] = field(default_factory=list)
    base_epoch: int | None = None
    segments_read: list[Path] = field(default_factory=list)
    segments_ignored: list[Path] = field(default_factory=list)
    records: int = 0
    torn: list[str] = field(default_factory=list)


def _has_checkpoint(read: SegmentRead) -> bool:
    return any(isinstance(op, CheckpointOp) for record in read.records for op in record)


def recover(journal_dir: Path) -> Recovery:
    segments = list_segments(journal_dir)
    result = Recovery(messages=[])
    base: int | None = None
    first_read: SegmentRead | None = None
    for epoch in sorted({e for e, _ in segments}, reverse=True):
        first = segments.get((epoch, 0))
        if first is None:
            continue
        read = read_segment(first)
        if _has_checkpoint(read):
            base, first_read = epoch, read
            break
    live: dict[tuple[str, str], Message] = {}
    container_of: dict[str, str] = {}  # message id -> container, for first-format removals
    subscriptions: dict[str, DurableSubscriptionRecord] = {}
    for key in sorted(segments):
        path = segments[key]
        if key[0] != base:
            result.segments_ignored.append(path)
            continue
        read = first_read if key[1] == 0 and first_read is not None else read_segment(path)
        result.segments_read.append(path)
        if read.torn_bytes:
            result.torn.append(f"{path.name}: ignored {read.torn_bytes} bytes at the tail ({read.reason})")
        for record in read.records:
            result.records += 1
            for op in record:
                if isinstance(op, AddOp):
                    msg = op.message
                    live.setdefault((msg.container, msg.message_id), msg)
                    container_of[msg.message_id] = msg.container
                elif isinstance(op, RemoveOp):
                    container = op.container or container_of.get(op.message_id, "")
                    live.pop((container, op.message_id), None)
                elif isinstance(op, SubscribeOp):
                    subscriptions[op.record.key] = op.record
                elif isinstance(op, UnsubscribeOp):
                    subscriptions.pop(op.key, None)
                    for gone in [k for k in live if k[0] == op.key]:
                        del live[gone]
    result.base_epoch = base
    result.messages = list(live.values())
    result.subscriptions = list(subscriptions.values())
    return result


# -- the write side -----------------------------------------------------------------------------


class Journal:
    """The journal writer of one master term."""

    def __init__(
        self,
        journal_dir: Path,
        term: int,
        fd: int,
        segment: int,
        fence: Callable[[], bool],
        on_failure: Callable[[str], None],
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
        sync: bool = True,
    ) -> None:
        self.journal_dir = journal_dir
        self.term = term
        self._fd = fd
        self._segment = segment
        self._size = os.fstat(fd).st_size
        self._segment_max_bytes = segment_max_bytes
        self._sync = sync
        self._commits: GroupCommit[bytes] = GroupCommit(
            self._write_sync,
            fence,
            lambda exc: on_failure(str(exc)),
            lambda exc: JournalError(f"journal write failed: {exc}"),
            thread_name="journal",
        )

    @classmethod
    def open_term(
        cls,
        journal_dir: Path,
        term: int,
        live: Sequence[Message],
        fence: Callable[[], bool],
        on_failure: Callable[[str], None],
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
        sync: bool = True,
        subscriptions: Sequence[DurableSubscriptionRecord] = (),
    ) -> Journal:
        """Compaction: snapshot ``live`` into this term's first segment, fsync, delete older segments.

        Blocking; run it off the event loop. Call it only after the term was claimed and the
        journal was recovered under that claim.
        """
        journal_dir.mkdir(parents=True, exist_ok=True)
        path = journal_dir / segment_name(term, 0)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            chunks: list[bytes] = [MAGIC]
            batch: list[Op] = [SubscribeOp(record) for record in subscriptions]
            size = 0
            for msg in live:
                batch.append(AddOp(msg))
                size += len(msg.body) + 64
                if size >= _SNAPSHOT_RECORD_BYTES:
                    chunks.append(encode_record(batch))
                    batch, size = [], 0
            if batch:
                chunks.append(encode_record(batch))
            chunks.append(encode_record([CheckpointOp()]))
            _write_all(fd, b"".join(chunks))
            if sync:
                os.fsync(fd)
                fsync_dir(journal_dir)
        except BaseException:
            os.close(fd)
            raise
        for (epoch, _n), old in list_segments(journal_dir).items():
            if epoch < term:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
        if sync:
            fsync_dir(journal_dir)
        return cls(journal_dir, term, fd, 0, fence, on_failure, segment_max_bytes, sync)

    @property
    def failed(self) -> bool:
        return self._commits.failed

    @property
    def batches(self) -> int:
        return self._commits.batches

    @property
    def records(self) -> int:
        return self._commits.records

    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        """Queue one atomic record; the future resolves once it is on disk and the fence still holds."""
        return self._commits.submit(encode_record(ops), JournalError("the journal is closed"))

    async def flush(self) -> None:
        """Wait until everything appended so far was written (or failed)."""
        await self._commits.flush()

    async def close(self) -> None:
        """Stop accepting records, wait for the write in progress, close the segment."""
        await self._commits.close(JournalError("the journal is closed"))
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _write_sync(self, records: list[bytes]) -> None:
        data = b"".join(records)
        _write_all(self._fd, data)
        self._size += len(data)
        if self._sync:
            os.fdatasync(self._fd)
        if self._size >= self._segment_max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        path = self.journal_dir / segment_name(self.term, self._segment + 1)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        _write_all(fd, MAGIC)
        if self._sync:
            os.fsync(fd)
            fsync_dir(self.journal_dir)
        old, self._fd = self._fd, fd
        self._segment += 1
        self._size = len(MAGIC)
        os.close(old)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
