"""The JDBC message store: persistent queue messages as rows of ACTIVEMQ_MSGS.

One row per stored message, like ActiveMQ (and one per record the broker keeps beside its messages,
under a ``pybroker://`` CONTAINER: a network's tombstones and the store's identity, see
contract.py): ID is the store sequence (MAX(ID)+1 at the start of a term), CONTAINER the queue
(``queue://NAME``), MSGID_PROD/MSGID_SEQ the message id split at its last dash, EXPIRATION and
PRIORITY the message's, XID NULL (a STOMP transaction is committed as one database transaction,
never left prepared). MSG holds pybroker's encoding of the message (a magic prefix and a journal
record, with the metadata redelivery and groups need), not ActiveMQ's OpenWire: the two vendors
share the schema and the lock, not each other's messages.

Durable topic subscriptions are not kept: ActiveMQ stores them as ACTIVEMQ_ACKS rows with a
last-acknowledged ID into the topic's single copy of each message, a model pybroker's per-subscription
containers do not map onto. ``JDBC_STORE_LIMITS`` tells the core, which refuses such subscriptions
before anything is accepted; ``append`` refuses their operations too, so none can be lost silently.

Writes go through group commit: every database transaction starts with the fencing epoch check
(jdbc_epoch), then applies the queued inserts and deletes in order and commits; only then, and
only if the local fence still holds, are the receipts released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.broker.message import QUEUE_PREFIX, TOPIC_PREFIX, Message
from harness.broker.store.contract import (
    AddOp,
    Fenced,
    Op,
    RemoveOp,
    StoreError,
    StoreLimits,
    SubscribeOp,
    UnsubscribeOp,
    is_record_container,
)
from harness.broker.store.database import Connection, Cursor, Database, close_quietly
from harness.broker.store.group_commit import GroupCommit
from harness.broker.store.jdbc_epoch import EpochMismatch, check_epoch, claim_next_epoch
from harness.broker.store.jdbc_statements import Statements
from harness.broker.store.records import CorruptRecord, decode_ops, encode_ops

MSG_MAGIC = b"PYBMSG1\n"
CONTAINER_LENGTH = 250  # ACTIVEMQ_MSGS.CONTAINER is a VARCHAR(250)
MAX_QUEUE_NAME_LENGTH = CONTAINER_LENGTH - len("queue://")
JDBC_STORE_LIMITS = StoreLimits(
    max_queue_name_length=MAX_QUEUE_NAME_LENGTH, durable_subscriptions=False, store_name="pybroker's JDBC store"
)
# A master's write transactions last milliseconds. If its process stops in the middle of one (SIGSTOP,
# a long GC-like stall), the server ends the session after this long: the transaction rolls back
# (it was never confirmed) and its locks stop blocking the next master's epoch claim and writes.
WRITER_IDLE_IN_TRANSACTION_MS = 2000
_CLOSE_TIMEOUT = 5.0


class UnsupportedOperation(StoreError):
    """An operation the JDBC store cannot keep (a durable subscription's); the core refuses them first."""


class ForeignRows(Exception):
    """ACTIVEMQ_MSGS holds rows pybroker did not write (ActiveMQ's OpenWire messages)."""


def container_of(destination: str) -> str:
    """``/queue/A`` -> ``queue://A`` (ActiveMQ's qualified destination name); the broker's own records
    (``pybroker:forwarded``) -> ``pybroker://forwarded``, a scheme no ActiveMQ destination has."""
    if is_record_container(destination):
        return destination.replace(":", "://", 1)
    if destination.startswith(QUEUE_PREFIX):
        return "queue://" + destination[len(QUEUE_PREFIX) :]
    if destination.startswith(TOPIC_PREFIX):
        return "topic://" + destination[len(TOPIC_PREFIX) :]
    raise ValueError(f"not a destination: {destination!r}")


def split_message_id(message_id: str) -> tuple[str, int]:
    """``ID:b-3-17`` -> (``ID:b-3``, 17): ActiveMQ's (producer id, producer sequence) pair."""
    producer, _, seq = message_id.rpartition("-")
    if producer and seq.isdigit():
        return producer, int(seq)
    return message_id, 0


def encode_message(msg: Message) -> bytes:
    return MSG_MAGIC + encode_ops([AddOp(msg)])


def decode_message(data: bytes) -> Message | None:
    """The message in a MSG column, or None when it was not written by pybroker."""
    if not data.startswith(MSG_MAGIC):
        return None
    try:
        ops = decode_ops(data[len(MSG_MAGIC) :])
    except CorruptRecord:
        return None
    if len(ops) != 1 or not isinstance(ops[0], AddOp):
        return None
    return ops[0].message


def message_row(row_id: int, msg: Message) -> tuple[Any, ...]:
    """Parameters of Statements.add_message for one message (stored in its queue, ``msg.container``)."""
    producer, seq = split_message_id(msg.message_id)
    priority = min(9, max(0, msg.priority))
    expiration = max(0, msg.expires)
    container = container_of(msg.container or msg.destination)
    return (row_id, producer, seq, container, expiration, priority, encode_message(msg), None)


@dataclass
class JdbcRecovery:
    """The live messages of a JDBC store in ID order, their row ids, and the next free ID."""

    epoch: int
    messages: list[Message] = field(default_factory=list)
    row_ids: dict[tuple[str, str], int] = field(default_factory=dict)  # (container, message id) -> ID
    next_row_id: int = 1
    in_doubt: int = 0  # rows with an XID: prepared XA work of ActiveMQ, not pybroker's


def open_term(db: Database, statements: Statements, broker_name: str) -> tuple[JdbcRecovery, Connection]:
    """Blocking. Claim the next epoch, then read the store under it.

    Call only while holding the lock. Returns the recovery and the connection the store will write
    through. The read runs in a transaction that starts after the epoch was committed, so it sees
    every write of any earlier master that can ever commit.
    """
    conn = db.connect(autocommit=False, idle_in_transaction_ms=WRITER_IDLE_IN_TRANSACTION_MS)
    try:
        epoch = claim_next_epoch(db, conn, statements, broker_name)
        recovery = JdbcRecovery(epoch)
        cur = conn.cursor()
        try:
            cur.execute(statements.find_all_messages)
            rows = cur.fetchall()
            top = 0
            foreign: list[tuple[int, str]] = []
            for row_id, container, xid, data in rows:
                top = max(top, int(row_id))
                if xid is not None:
                    recovery.in_doubt += 1
                    continue
                msg = None if data is None else decode_message(bytes(data))
                if msg is None:
                    foreign.append((int(row_id), str(container)))
                    continue
                recovery.messages.append(msg)
                recovery.row_ids[(msg.container, msg.message_id)] = int(row_id)
            if foreign:
                shown = ", ".join(f"ID {i} in {c}" for i, c in foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise ForeignRows(
                    f"{db.describe()}: {len(foreign)} row(s) of ACTIVEMQ_MSGS ({shown}) were not written by pybroker "
                    "(ActiveMQ's OpenWire messages?); pybroker cannot read them: give each vendor its own database"
                )
            cur.execute(statements.last_message_id)
            top = max(top, _int_or_zero(cur.fetchone()))
            cur.execute(statements.last_acked_id)
            top = max(top, _int_or_zero(cur.fetchone()))
            recovery.next_row_id = top + 1
        finally:
            cur.close()
        conn.commit()
    except BaseException:
        close_quietly(conn)
        raise
    return recovery, conn


def _int_or_zero(row: Sequence[Any] | None) -> int:
    return 0 if row is None or row[0] is None else int(row[0])


_Action = tuple[str, tuple[Any, ...]]  # ("add" | "remove", statement parameters)


class JdbcStore:
    """The write side of one master term (the core's Store)."""

    def __init__(
        self,
        db: Database,
        statements: Statements,
        recovery: JdbcRecovery,
        conn: Connection | None,
        fence: Callable[[], bool],
        on_failure: Callable[[Exception], None],
    ) -> None:
        self.db = db
        self.statements = statements
        self.epoch = recovery.epoch
        self._row_ids = dict(recovery.row_ids)
        self._next_row_id = recovery.next_row_id
        self._conn = conn
        self._commits: GroupCommit[list[_Action]] = GroupCommit(
            self._write, fence, on_failure, self._as_error, thread_name="jdbc-store"
        )

    @property
    def failed(self) -> bool:
        return self._commits.failed

    @property
    def batches(self) -> int:
        return self._commits.batches

    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        """Queue one atomic change; the future resolves once it is committed and the fence still holds.

        Raises UnsupportedOperation, before anything is queued, for what ACTIVEMQ_MSGS cannot hold.
        """
        ops = list(ops)
        for op in ops:
            if isinstance(op, SubscribeOp | UnsubscribeOp):
                raise UnsupportedOperation(
                    f"{JDBC_STORE_LIMITS.store_name} does not keep durable topic subscriptions "
                    f"({type(op).__name__} refused); use a <kahaDB> store for them"
                )
            container = op.message.container or op.message.destination if isinstance(op, AddOp) else ""
            if isinstance(op, AddOp) and not (container.startswith(QUEUE_PREFIX) or is_record_container(container)):
                raise UnsupportedOperation(
                    f"{JDBC_STORE_LIMITS.store_name} keeps queue messages only, not {op.message.container!r}"
                )
        actions: list[_Action] = []
        for op in ops:
            if isinstance(op, AddOp):
                msg = op.message
                row_id = self._next_row_id
                self._next_row_id += 1
                self._row_ids[(msg.container or msg.destination, msg.message_id)] = row_id
                actions.append(("add", message_row(row_id, msg)))
            elif isinstance(op, RemoveOp):
                row_id_or_none = self._remove_row(op)
                if row_id_or_none is not None:
                    actions.append(("remove", (row_id_or_none,)))
        return self._commits.submit(actions, StoreError("the JDBC store is closed"))

    def _remove_row(self, op: RemoveOp) -> int | None:
        if op.container:
            return self._row_ids.pop((op.container, op.message_id), None)
        # No container (the first journal format's removal): wherever the id is.
        for key in self._row_ids:
            if key[1] == op.message_id:
                return self._row_ids.pop(key)
        return None

    async def flush(self) -> None:
        await self._commits.flush()

    async def close(self) -> None:
        """Stop accepting changes; wait (a bounded time) for the transaction in progress; disconnect."""
        finished = await self._commits.close(StoreError("the JDBC store is closed"), timeout=_CLOSE_TIMEOUT)
        if finished:
            close_quietly(self._conn)
        self._conn = None

    # -- worker thread -------------------------------------------------------------------------

    def _write(self, batches: list[list[_Action]]) -> None:
        actions = [action for batch in batches for action in batch]
        if not actions:
            return
        reused = self._conn is not None
        conn = self._connection()
        cur = conn.cursor()
        try:
            check_epoch(cur, self.statements, self.epoch)
        except Exception as exc:
            cur.close()
            self._drop()
            if not reused or not self.db.is_error(exc):
                raise
            # The connection kept since the last write was dead (the server ended the session, or
            # restarted): the check is a read, nothing happened yet, so start over on a new one.
            conn = self._connection()
            cur = conn.cursor()
            try:
                check_epoch(cur, self.statements, self.epoch)
            except BaseException:
                cur.close()
                self._drop()
                raise
        try:
            run: list[tuple[Any, ...]] = []
            kind = actions[0][0]
            for action_kind, params in actions:
                if action_kind != kind:
                    self._execute(cur, kind, run)
                    kind, run = action_kind, []
                run.append(params)
            self._execute(cur, kind, run)
            conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except Exception:
                self._drop()
            raise
        finally:
            cur.close()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.db.connect(autocommit=False, idle_in_transaction_ms=WRITER_IDLE_IN_TRANSACTION_MS)
        return self._conn

    def _drop(self) -> None:
        close_quietly(self._conn)
        self._conn = None

    def _execute(self, cur: Cursor, kind: str, params: list[tuple[Any, ...]]) -> None:
        sql = self.statements.add_message if kind == "add" else self.statements.remove_message
        if len(params) == 1:
            cur.execute(sql, params[0])
        else:
            cur.executemany(sql, params)

    def _as_error(self, exc: Exception) -> Exception:
        if isinstance(exc, EpochMismatch):
            return Fenced(str(exc))
        return StoreError(f"database write failed: {type(exc).__name__}: {exc}")
