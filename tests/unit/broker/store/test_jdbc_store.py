"""The JDBC store: rows, fenced group commit, recovery under a new epoch, schema creation (fake database)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from harness.broker.message import DLQ, Message
from harness.broker.store.contract import (
    AddOp,
    DurableSubscriptionRecord,
    Fenced,
    Op,
    RemoveOp,
    StoreError,
    SubscribeOp,
    UnsubscribeOp,
)
from harness.broker.store.jdbc_epoch import claim_next_epoch
from harness.broker.store.jdbc_schema import SchemaError, ensure_schema
from harness.broker.store.jdbc_statements import Statements
from harness.broker.store.jdbc_store import (
    JDBC_STORE_LIMITS,
    WRITER_IDLE_IN_TRANSACTION_MS,
    ForeignRows,
    JdbcRecovery,
    JdbcStore,
    UnsupportedOperation,
    container_of,
    decode_message,
    encode_message,
    open_term,
    split_message_id,
)

from ..fake_db import FakeConnection, FakeDatabase, FakeDbError

LOG = logging.getLogger("test")


def msg(n: int, destination: str = "/queue/a", priority: int = 4, expires: int = 0, **headers: str) -> Message:
    return Message(
        f"ID:amq1-1-{n}", destination, dict(headers), f"body{n}".encode(), True, priority=priority, expires=expires
    )


def seeded(db: FakeDatabase, epoch: int = 0) -> FakeDatabase:
    db.lock_rows[2] = [epoch, "pybroker epoch: x"]
    return db


class Harness:
    """A store of one term on a fake database, with its fence and failure record."""

    def __init__(self, db: FakeDatabase, name: str = "amq1") -> None:
        self.db = db
        self.fence_ok = True
        self.failures: list[Exception] = []
        recovery, conn = open_term(db, Statements(db.dialect), name)
        self.recovery = recovery
        self.store = JdbcStore(db, Statements(db.dialect), recovery, conn, lambda: self.fence_ok, self.failures.append)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_message_row_helpers() -> None:
    assert container_of("/queue/orders") == "queue://orders"
    assert container_of("/topic/t") == "topic://t"
    assert split_message_id("ID:amq1-3-17") == ("ID:amq1-3", 17)
    assert split_message_id("odd") == ("odd", 0)
    original = msg(1, priority=7, expires=1_700_000_000_000, custom="x:y")
    original.redelivery_count, original.deliver_at, original.group_id, original.group_seq = 2, 1_700_000_001_000, "g", 3
    decoded = decode_message(encode_message(original))
    assert decoded is not None
    fields = ("message_id", "destination", "headers", "body", "priority", "expires")
    fields += ("redelivery_count", "deliver_at", "group_id", "group_seq")
    assert [getattr(decoded, f) for f in fields] == [getattr(original, f) for f in fields], (
        "the row keeps what redelivery, scheduling, expiry and groups need"
    )
    assert decode_message(b"\xac\xed\x00\x05 an OpenWire message") is None


def test_a_persistent_send_is_one_fenced_transaction() -> None:
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        h = Harness(db)
        await h.store.append([AddOp(msg(1, priority=7, expires=1_700_000_000_000))])
        conn = h.store._conn
        assert isinstance(conn, FakeConnection)
        writes = [s for s in db.statements_of(conn.number) if s in (db.sql.epoch_check, db.sql.add_message)]
        assert writes == [db.sql.epoch_check, db.sql.add_message], "the epoch check comes first, in the same txn"
        assert db.sql.epoch_check == "SELECT TIME FROM ACTIVEMQ_LOCK WHERE ID = 2 FOR SHARE"
        assert conn.commits == 3  # the epoch claim, the recovery read, then this write
        assert conn.idle_in_transaction_ms == WRITER_IDLE_IN_TRANSACTION_MS, (
            "a master stopped inside a write must not block the next master for longer than this"
        )
        await h.store.close()

    run(scenario())
    [(row_id, row)] = db.messages.items()
    assert row_id == 1
    producer, seq, container, expiration, priority, data, xid = row
    assert (producer, seq, container, expiration, priority, xid) == (
        "ID:amq1-1",
        1,
        "queue://a",
        1_700_000_000_000,
        7,
        None,
    )
    decoded = decode_message(data)
    assert decoded is not None and decoded.body == b"body1"


def test_send_then_ack_in_one_batch_leaves_no_row() -> None:
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        h = Harness(db)
        first = h.store.append([AddOp(msg(1))])
        second = h.store.append([AddOp(msg(2))])
        ack = h.store.append([RemoveOp(msg(1).message_id)])  # queued behind the inserts
        await asyncio.gather(first, second, ack)
        assert h.store.batches <= 2
        await h.store.close()

    run(scenario())
    assert list(db.messages) == [2]


def test_nack_to_dlq_moves_the_row() -> None:
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        h = Harness(db)
        await h.store.append([AddOp(msg(1))])
        dead = Message(msg(1).message_id, DLQ, {"original-destination": "/queue/a"}, b"body1", True)
        await h.store.append([RemoveOp(dead.message_id), AddOp(dead)])
        await h.store.close()

    run(scenario())
    [(row_id, row)] = db.messages.items()
    assert row_id == 2 and row[2] == "queue://ActiveMQ.DLQ"


def test_old_master_cannot_commit_after_a_new_master_claimed_the_epoch() -> None:
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        old = Harness(db, "amq1")
        await old.store.append([AddOp(msg(1))])
        new = Harness(db, "amq2")  # takes over: claims the next epoch, then reads
        assert new.recovery.epoch == old.recovery.epoch + 1
        assert [m.message_id for m in new.recovery.messages] == [msg(1).message_id]
        with pytest.raises(Fenced, match="epoch"):
            await old.store.append([AddOp(msg(2))])
        assert old.failures and isinstance(old.failures[0], Fenced)
        with pytest.raises(Fenced):
            await old.store.append([AddOp(msg(3))])  # the store stays failed
        await old.store.close()
        await new.store.close()

    run(scenario())
    assert list(db.messages) == [1], "the fenced write was rolled back"


def test_database_failure_fails_the_batch_and_reports_it() -> None:
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        h = Harness(db)
        db.go_down()
        with pytest.raises(StoreError, match="database write failed"):
            await h.store.append([AddOp(msg(1))])
        assert len(h.failures) == 1 and isinstance(h.failures[0], StoreError)
        await h.store.close()

    run(scenario())
    assert db.messages == {}


def test_a_dead_idle_connection_is_replaced_before_the_next_write() -> None:
    """The server ended the writer's session between two writes: nothing was sent on it yet, so the
    write starts over on a new connection instead of ending the term."""
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        h = Harness(db)
        await h.store.append([AddOp(msg(1))])
        first = h.store._conn
        assert isinstance(first, FakeConnection)
        first.broken = True
        await h.store.append([AddOp(msg(2))])
        assert h.store._conn is not first
        assert h.failures == []
        await h.store.close()

    run(scenario())
    assert sorted(db.messages) == [1, 2]


def test_a_failure_after_the_fence_check_is_not_retried() -> None:
    db = seeded(FakeDatabase())

    def fail_insert(sql: str, params: tuple[object, ...]) -> Exception | None:
        return FakeDbError("connection lost during INSERT") if sql == db.sql.add_message else None

    async def scenario() -> None:
        h = Harness(db)
        db.fail_when = fail_insert
        with pytest.raises(StoreError, match="connection lost during INSERT"):
            await h.store.append([AddOp(msg(1))])
        inserts = [sql for _, sql, _ in db.executed if sql == db.sql.add_message]
        assert len(inserts) == 1, "the outcome of a started transaction is unknown: no second try"
        await h.store.close()

    run(scenario())
    assert db.messages == {}


def test_commit_then_lost_local_fence_confirms_nothing() -> None:
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        h = Harness(db)
        h.fence_ok = False  # e.g. the lease ran out while the COMMIT was on its way
        with pytest.raises(Fenced):
            await h.store.append([AddOp(msg(1))])
        await h.store.close()

    run(scenario())
    assert list(db.messages) == [1], "committed (the next master will deliver it) but never receipted"


def test_recovery_reads_in_id_order_and_continues_the_sequence() -> None:
    db = seeded(FakeDatabase(), epoch=4)
    sql = Statements(db.dialect)
    for row_id, n in ((7, 2), (3, 1), (9, 3)):
        m = msg(n)
        db.messages[row_id] = ("ID:amq1-1", n, "queue://a", 0, 4, encode_message(m), None)
    db.messages[8] = ("ID:x-1", 1, "queue://a", 0, 4, encode_message(msg(99)), "XID:prepared")
    recovery, conn = open_term(db, sql, "amq2")
    assert isinstance(conn, FakeConnection)
    assert recovery.epoch == 5
    assert [m.body for m in recovery.messages] == [b"body1", b"body2", b"body3"]
    assert recovery.row_ids == {("/queue/a", msg(n).message_id): row_id for n, row_id in ((1, 3), (2, 7), (3, 9))}
    assert recovery.next_row_id == 10
    assert recovery.in_doubt == 1
    assert db.lock_rows[2] == [5, "pybroker epoch: amq2"]
    statements = db.statements_of(conn.number)
    assert statements.index(sql.epoch_bump) < statements.index(sql.find_all_messages), "claim first, then read"


def test_foreign_rows_are_refused() -> None:
    db = seeded(FakeDatabase())
    db.messages[1] = ("ID:x-1", 1, "queue://a", 0, 4, b"\x00\x00\x01 OpenWire", None)
    db.messages[2] = (None, None, None, None, None, None, None)  # a row someone inserted by hand
    with pytest.raises(ForeignRows, match=r"2 row\(s\) of ACTIVEMQ_MSGS \(ID 1 in queue://a, ID 2 in None\)"):
        open_term(db, Statements(db.dialect), "amq1")


def test_epoch_row_is_created_in_a_database_made_by_activemq() -> None:
    db = FakeDatabase()  # only ActiveMQ's row ID=1
    conn = db.connect(autocommit=False)
    assert claim_next_epoch(db, conn, Statements(db.dialect), "amq1") == 1
    assert claim_next_epoch(db, conn, Statements(db.dialect), "amq1") == 2
    assert db.lock_rows[2] == [2, "pybroker epoch: amq1"]
    assert db.lock_rows[1] == [None, None], "ActiveMQ's lock row is untouched"


def test_durable_subscription_operations_are_refused_before_anything_is_queued() -> None:
    db = seeded(FakeDatabase())
    record = DurableSubscriptionRecord("durable:2:c1:s1", "c1", "s1", "/topic/t")
    for_subscription = msg(2, "/topic/t")
    for_subscription.container = record.key

    async def scenario() -> None:
        h = Harness(db)
        refused: list[list[Op]] = [
            [AddOp(msg(1)), SubscribeOp(record)],
            [UnsubscribeOp(record.key)],
            [AddOp(for_subscription)],
        ]
        for ops in refused:
            with pytest.raises(UnsupportedOperation, match="JDBC store"):
                h.store.append(ops)
        await h.store.flush()
        assert h.store.batches == 0 and not h.store.failed, "a refusal neither writes nor ends the term"
        await h.store.close()

    run(scenario())
    assert db.messages == {}
    assert JDBC_STORE_LIMITS.durable_subscriptions is False, "the core refuses them before they reach the store"
    assert JDBC_STORE_LIMITS.max_queue_name_length == 250 - len("queue://")


def test_store_writes_nothing_for_an_empty_batch() -> None:
    db = seeded(FakeDatabase())

    async def scenario() -> None:
        recovery = JdbcRecovery(epoch=0)
        store = JdbcStore(db, Statements(db.dialect), recovery, None, lambda: True, lambda exc: None)
        await store.append([RemoveOp("ID:unknown-1-1")])  # a message this store never saw
        await store.close()

    run(scenario())
    assert db.executed == []


# -- schema -------------------------------------------------------------------------------------


def test_schema_is_created_in_activemqs_order_when_missing() -> None:
    db = FakeDatabase(tables=set(), lock_rows={})
    ensure_schema(db, Statements(db.dialect), create=True, log=LOG)
    ddl = [sql for _, sql, _ in db.executed if sql.startswith(("CREATE", "ALTER", "INSERT"))]
    sql = Statements(db.dialect)
    assert ddl == [*sql.create_schema, *sql.create_lock_schema]
    assert db.tables == {"ACTIVEMQ_MSGS", "ACTIVEMQ_ACKS", "ACTIVEMQ_LOCK"}
    assert 1 in db.lock_rows


def test_existing_schema_is_left_alone() -> None:
    db = FakeDatabase()
    ensure_schema(db, Statements(db.dialect), create=True, log=LOG)
    assert not [sql for _, sql, _ in db.executed if not sql.startswith("SELECT")]


def test_missing_schema_without_create_tables_is_a_clear_error() -> None:
    db = FakeDatabase(tables={"ACTIVEMQ_LOCK"})
    with pytest.raises(SchemaError, match=r"ACTIVEMQ_MSGS, ACTIVEMQ_ACKS missing.*createTablesOnStartup=\"true\""):
        ensure_schema(db, Statements(db.dialect), create=False, log=LOG)


def test_missing_lock_row_is_seeded_or_reported() -> None:
    db = FakeDatabase(lock_rows={})
    with pytest.raises(SchemaError, match=r"no row with ID = 1.*INSERT INTO ACTIVEMQ_LOCK"):
        ensure_schema(db, Statements(db.dialect), create=False, log=LOG)
    ensure_schema(db, Statements(db.dialect), create=True, log=LOG)
    assert 1 in db.lock_rows


def test_schema_check_on_a_database_that_is_down_raises_the_driver_error() -> None:
    db = FakeDatabase(down=True)
    with pytest.raises(FakeDbError):
        ensure_schema(db, Statements(db.dialect), create=True, log=LOG)
