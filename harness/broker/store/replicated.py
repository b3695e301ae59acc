"""The replicated store's data side: each node's own journal, its position, the master's store that
confirms a write only once a quorum holds it, and the slave that follows the master's stream.

Position: ``(term, seq)``: the master term (a ZooKeeper election's number) whose stream the node holds,
and how many writes of that term it holds. A master starts its term at seq 0 from its own journal;
a slave that attaches receives the master's state as a SNAPSHOT at the master's current seq, then every
write after it. Positions of different nodes compare as tuples: a later term, then more writes, is more
up to date (the election picks the highest, then the heaviest weight).

On disk each node keeps the journal (journal.py, in ``<directory>/journal``) and ``position.json``,
which maps each journal epoch to the master term and seq it started at. Journal epochs are local (one
per master term served or snapshot received) because a journal never reopens an epoch; the position of
a node is its newest recovered epoch's term and start seq plus the records written after its checkpoint.

Sync modes: the master always waits for its own journal's fsync (stricter than ActiveMQ's quorum_mem,
which is satisfied by the master's memory); slaves acknowledge a write on receipt (quorum_mem) or after
their fsync (quorum_disk). A write is confirmed when the master's fsync and ``replicas/2`` slave
acknowledgements are in, and the master's fence still holds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from harness.broker.fence import Fence
from harness.broker.message import Message
from harness.broker.store.contract import (
    AddOp,
    CheckpointOp,
    DurableSubscriptionRecord,
    Fenced,
    Op,
    RemoveOp,
    StoreError,
    SubscribeOp,
    UnsubscribeOp,
)
from harness.broker.store.files import fsync_dir
from harness.broker.store.group_commit import fail
from harness.broker.store.journal import JOURNAL_DIR, Journal, list_segments, read_segment, recover
from harness.broker.store.records import decode_ops, encode_ops
from harness.broker.store.replication_protocol import Acknowledger, Frame, Kind, Link, ProtocolError

POSITION_FILE = "position.json"
_KEPT_EPOCHS = 4


class Position(NamedTuple):
    term: int
    seq: int

    def __str__(self) -> str:
        return f"{self.term}:{self.seq}"


NO_POSITION = Position(0, 0)


@dataclass(frozen=True)
class ReplicationSettings:
    """What the data side needs of <replicatedLevelDB>: where the node's journal lives, how many slave
    acknowledgements a write needs, when a slave acknowledges, the token slaves present, and how long
    a silent link lives (the ZooKeeper session timeout)."""

    directory: Path
    min_slave_acks: int
    sync_to_disk: bool
    security_token: str
    silence_s: float


class ReplicationStopped(StoreError):
    """The master's term ended (deposed, stopped, quorum lost) before a quorum held the write."""


# -- each node's own journal and position -----------------------------------------------------------


def _read_epochs(directory: Path) -> dict[int, Position]:
    try:
        raw = json.loads((directory / POSITION_FILE).read_text())
        return {int(epoch): Position(int(term), int(seq)) for epoch, (term, seq) in raw["epochs"].items()}
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return {}


def record_epoch_start(directory: Path, epoch: int, start: Position) -> None:
    """Durably note that journal ``epoch`` holds master term ``start.term`` from write ``start.seq`` on.

    Written before the epoch's journal segment, so a crash in between leaves an epoch that recovery
    ignores (it has no checkpoint) rather than a journal whose position is unknown.
    """
    directory.mkdir(parents=True, exist_ok=True)
    epochs = _read_epochs(directory)
    epochs[epoch] = start
    kept = dict(sorted(epochs.items())[-_KEPT_EPOCHS:])
    tmp = directory / (POSITION_FILE + ".tmp")
    with open(tmp, "w") as out:
        json.dump({"epochs": {str(e): list(p) for e, p in kept.items()}}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, directory / POSITION_FILE)
    fsync_dir(directory)


def next_epoch(directory: Path) -> int:
    journal_epochs = {epoch for epoch, _ in list_segments(directory / JOURNAL_DIR)}
    return max([0, *journal_epochs, *_read_epochs(directory)]) + 1


@dataclass
class LocalState:
    """What a node holds when it is neither master nor following one."""

    messages: list[Message]
    subscriptions: list[DurableSubscriptionRecord]
    position: Position
    torn: list[str]


def _records_after_checkpoint(journal_dir: Path, epoch: int) -> int:
    count, seen_checkpoint = 0, False
    for (segment_epoch, _n), path in sorted(list_segments(journal_dir).items()):
        if segment_epoch != epoch:
            continue
        for record in read_segment(path).records:
            if seen_checkpoint:
                count += 1
            elif any(isinstance(op, CheckpointOp) for op in record):
                seen_checkpoint = True
    return count


def recover_local(directory: Path) -> LocalState:
    """Recover this node's journal (blocking) and work out its position."""
    directory.mkdir(parents=True, exist_ok=True)
    journal_dir = directory / JOURNAL_DIR
    recovery = recover(journal_dir)
    position = NO_POSITION
    if recovery.base_epoch is not None:
        start = _read_epochs(directory).get(recovery.base_epoch)
        if start is not None:
            position = Position(start.term, start.seq + _records_after_checkpoint(journal_dir, recovery.base_epoch))
    return LocalState(recovery.messages, recovery.subscriptions, position, recovery.torn)


def open_epoch(
    directory: Path,
    start: Position,
    messages: Sequence[Message],
    subscriptions: Sequence[DurableSubscriptionRecord],
    fence: Callable[[], bool],
    on_failure: Callable[[str], None],
) -> Journal:
    """A new local journal epoch holding ``messages`` (a master's recovered state or a received
    snapshot), recorded as starting at ``start`` (blocking)."""
    epoch = next_epoch(directory)
    record_epoch_start(directory, epoch, start)
    return Journal.open_term(directory / JOURNAL_DIR, epoch, messages, fence, on_failure, subscriptions=subscriptions)


class StateMirror:
    """The live messages and durable subscriptions after every write so far: what a new slave is sent."""

    def __init__(self, messages: Iterable[Message], subscriptions: Iterable[DurableSubscriptionRecord]) -> None:
        self.messages: dict[tuple[str, str], Message] = {(m.container, m.message_id): m for m in messages}
        self.subscriptions: dict[str, DurableSubscriptionRecord] = {s.key: s for s in subscriptions}

    def apply(self, ops: Iterable[Op]) -> None:
        for op in ops:
            if isinstance(op, AddOp):
                self.messages.setdefault((op.message.container, op.message.message_id), op.message)
            elif isinstance(op, RemoveOp):
                if op.container:
                    self.messages.pop((op.container, op.message_id), None)
                else:
                    for key in [k for k in self.messages if k[1] == op.message_id]:
                        del self.messages[key]
            elif isinstance(op, SubscribeOp):
                self.subscriptions[op.record.key] = op.record
            elif isinstance(op, UnsubscribeOp):
                self.subscriptions.pop(op.key, None)
                for key in [k for k in self.messages if k[0] == op.key]:
                    del self.messages[key]

    def snapshot(self) -> list[Op]:
        ops: list[Op] = [SubscribeOp(s) for s in self.subscriptions.values()]
        ops += [AddOp(m) for m in self.messages.values()]
        return ops


def split_snapshot(ops: Iterable[Op]) -> tuple[list[Message], list[DurableSubscriptionRecord]]:
    messages = [op.message for op in ops if isinstance(op, AddOp)]
    subscriptions = [op.record for op in ops if isinstance(op, SubscribeOp)]
    return messages, subscriptions


# -- the master ----------------------------------------------------------------------------------------


@dataclass
class AttachedSlave:
    node_id: str
    link: Link
    acked: int = -1
    caught_up_at: int = 0  # the seq of the snapshot it was sent
    caught_up: bool = False


class ReplicatedMasterStore:
    """A master term's store: every write goes to the local journal and to each attached slave, and is
    confirmed once the local fsync and ``min_slave_acks`` acknowledgements are in (and the fence holds).

    ``on_slaves_changed`` hears of every slave that caught up or left, so that the lifecycle can open
    the connectors once a quorum is in sync and close them when it is lost.
    """

    def __init__(
        self,
        config: ReplicationSettings,
        term: int,
        journal: Journal,
        mirror: StateMirror,
        fence: Fence,
        log: logging.Logger,
        on_slaves_changed: Callable[[], None],
    ) -> None:
        self.config = config
        self.term = term
        self.journal = journal
        self.mirror = mirror
        self.fence = fence
        self.log = log
        self.seq = 0
        self.slaves: dict[str, AttachedSlave] = {}
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._quorum_seq = 0 if config.min_slave_acks > 0 else 1 << 62
        self._on_slaves_changed = on_slaves_changed
        self._closed = False
        self._sessions: set[asyncio.Task[None]] = set()

    # -- Store ---------------------------------------------------------------------------------------
    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[None] = loop.create_future()
        if self._closed:
            fail(result, ReplicationStopped("the master's term has ended"))
            return result
        ops = list(ops)
        self.seq += 1
        seq = self.seq
        self.mirror.apply(ops)
        frame = Frame(Kind.WAL, {"term": self.term, "seq": seq}, encode_ops(ops))
        for slave in self.slaves.values():
            slave.link.send(frame)
        local = self.journal.append(ops)
        quorum: asyncio.Future[None] = loop.create_future()
        if seq <= self._quorum_seq:
            quorum.set_result(None)
        else:
            self._waiting.append((seq, quorum))
        pending = [local, quorum]

        def settle(_: asyncio.Future[None]) -> None:
            if result.done():
                return
            for fut in pending:
                if fut.done() and (fut.cancelled() or fut.exception() is not None):
                    exc = fut.exception() if not fut.cancelled() else None
                    fail(result, exc if isinstance(exc, Exception) else ReplicationStopped("cancelled"))
                    return
            if all(fut.done() for fut in pending):
                if self.fence.check():
                    result.set_result(None)
                else:
                    fail(result, Fenced(f"deposed: {self.fence.reason}"))

        local.add_done_callback(settle)
        quorum.add_done_callback(settle)
        return result

    async def flush(self) -> None:
        await self.journal.flush()

    async def close(self) -> None:
        """End the term's replication: nothing more is confirmed, every slave link is reset."""
        self._closed = True
        for _, fut in self._waiting:
            fail(fut, ReplicationStopped("the master's term ended before a quorum held the write"))
        self._waiting.clear()
        for slave in list(self.slaves.values()):
            slave.link.abort()
        for task in list(self._sessions):
            task.cancel()
        await self.journal.close()

    # -- slaves --------------------------------------------------------------------------------------
    @property
    def in_sync(self) -> int:
        return sum(slave.caught_up for slave in self.slaves.values())

    @property
    def has_quorum(self) -> bool:
        return self.in_sync >= self.config.min_slave_acks

    def describe_slaves(self) -> str:
        return ", ".join(f"{s.node_id}@{s.acked}" for s in self.slaves.values()) or "none"

    def _acked(self, slave: AttachedSlave, seq: int) -> None:
        slave.acked = max(slave.acked, seq)
        if not slave.caught_up and slave.acked >= slave.caught_up_at:
            slave.caught_up = True
            self.log.info("Slave has now caught up: %s (position %d:%d)", slave.node_id, self.term, slave.acked)
            self._on_slaves_changed()
        needed = self.config.min_slave_acks
        acks = sorted((s.acked for s in self.slaves.values()), reverse=True)
        if len(acks) >= needed > 0:
            self._quorum_seq = max(self._quorum_seq, acks[needed - 1])
        while self._waiting and self._waiting[0][0] <= self._quorum_seq:
            _, fut = self._waiting.popleft()
            if not fut.done():
                fut.set_result(None)

    async def serve_slave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One slave's connection: login, snapshot, then acknowledgements until it goes."""
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        silence = self.config.silence_s
        link = Link(reader, writer, silence)
        slave: AttachedSlave | None = None
        heartbeats = asyncio.ensure_future(link.heartbeats(min(0.25, silence / 4)))
        try:
            login = await link.receive()
            if login.kind != Kind.LOGIN:
                raise ProtocolError(f"expected LOGIN, got {login.kind.name}")
            node_id = str(login.header.get("node_id", ""))
            if login.header.get("token", "") != self.config.security_token:
                link.send(Frame(Kind.ERROR, {"message": "Invalid security_token"}))
                self.log.warning("Slave %s at %s refused: invalid security token", node_id, link.peer)
                return
            if int(login.header.get("term", 0)) > self.term or self._closed:
                link.send(Frame(Kind.ERROR, {"message": f"master term {self.term} is over"}))
                self.log.warning("Slave %s has followed a newer master than term %d: refused", node_id, self.term)
                self.fence.depose(f"slave {node_id} has followed a newer master")
                return
            previous = self.slaves.pop(node_id, None)
            if previous is not None:
                previous.link.abort()
            # No await from here to the registration: the snapshot and the writes after it form one stream.
            slave = AttachedSlave(node_id, link, caught_up_at=self.seq)
            link.send(Frame(Kind.SNAPSHOT, {"term": self.term, "seq": self.seq}, encode_ops(self.mirror.snapshot())))
            self.slaves[node_id] = slave
            self.log.info(
                "Slave has connected: %s from %s (snapshot at %d:%d)", node_id, link.peer, self.term, self.seq
            )
            while True:
                frame = await link.receive()
                if frame.kind != Kind.ACK:
                    raise ProtocolError(f"expected ACK, got {frame.kind.name}")
                self._acked(slave, int(frame.header["seq"]))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ProtocolError, KeyError, ValueError) as exc:
            if slave is not None and not self._closed:
                self.log.warning("Slave has disconnected: %s (%s)", slave.node_id, type(exc).__name__)
        except asyncio.CancelledError:
            pass
        finally:
            heartbeats.cancel()
            if slave is not None and self.slaves.get(slave.node_id) is slave:
                del self.slaves[slave.node_id]
                if not self._closed:
                    self._on_slaves_changed()
            link.abort()
            if task is not None:
                self._sessions.discard(task)


# -- a slave ---------------------------------------------------------------------------------------


class FollowEnded(Exception):
    """Following the master stopped; ``position`` is what this node holds on disk now."""

    def __init__(self, reason: str, position: Position | None, attached: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position
        self.attached = attached  # False: the master could not be reached at all (it may still be starting)


async def follow_master(
    config: ReplicationSettings,
    node_id: str,
    host: str,
    port: int,
    highest_term: int,
    log: logging.Logger,
    on_caught_up: Callable[[Position], None],
) -> None:
    """Attach to the master at host:port and hold its stream until the link ends; always raises
    FollowEnded with the position held on disk (None if nothing new was written)."""
    silence = config.silence_s
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), silence)
    except (OSError, TimeoutError) as exc:
        raise FollowEnded(f"cannot reach the master at {host}:{port}: {exc}", None, attached=False) from None
    link = Link(reader, writer, silence)
    heartbeats = asyncio.ensure_future(link.heartbeats(min(0.25, silence / 4)))
    journal: Journal | None = None
    failure: list[str] = []
    position: Position | None = None
    reason = "the master closed the link"
    try:
        link.send(Frame(Kind.LOGIN, {"node_id": node_id, "token": config.security_token, "term": highest_term}))
        first = await link.receive()
        if first.kind == Kind.ERROR:
            raise FollowEnded(f"the master refused this slave: {first.header.get('message')}", None)
        if first.kind != Kind.SNAPSHOT:
            raise ProtocolError(f"expected SNAPSHOT, got {first.kind.name}")
        start = Position(int(first.header["term"]), int(first.header["seq"]))
        if start.term < highest_term:
            raise FollowEnded(
                f"the master's term {start.term} is older than term {highest_term} already followed", None
            )
        messages, subscriptions = split_snapshot(decode_ops(first.payload))
        journal = await asyncio.to_thread(
            partial(open_epoch, config.directory, start, messages, subscriptions, lambda: True, failure.append)
        )
        position = start
        acks = Acknowledger(link)
        acks.ack(start.seq)
        on_caught_up(start)
        log.info(
            "Attached to the master at %s:%d as a replica: %d message(s) at position %s",
            host,
            port,
            len(messages),
            start,
        )
        disk = config.sync_to_disk
        while True:
            frame = await link.receive()
            if frame.kind == Kind.ERROR:
                reason = f"the master ended the link: {frame.header.get('message')}"
                break
            if frame.kind != Kind.WAL:
                raise ProtocolError(f"expected WAL, got {frame.kind.name}")
            seq = int(frame.header["seq"])
            if int(frame.header["term"]) != start.term or seq != position.seq + 1:
                raise ProtocolError(f"write {frame.header} does not follow position {position}")
            written = journal.append(decode_ops(frame.payload))
            position = Position(start.term, seq)
            if failure:
                raise FollowEnded(f"the local journal failed: {failure[0]}", None)
            if disk:
                written.add_done_callback(partial(_ack_when_written, acks, seq))
            else:
                acks.ack(seq)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        reason = f"the link to the master closed ({type(exc).__name__})"
    except TimeoutError:
        reason = f"the master was silent for {silence:.1f} s"
    except ProtocolError as exc:
        reason = f"protocol error: {exc}"
    finally:
        heartbeats.cancel()
        link.abort()
        if journal is not None:
            with contextlib.suppress(Exception):
                await journal.flush()
            await journal.close()
            if journal.failed:
                position = None
    raise FollowEnded(reason, position)


def _ack_when_written(acks: Acknowledger, seq: int, written: asyncio.Future[None]) -> None:
    if not written.cancelled() and written.exception() is None:
        acks.ack(seq)
