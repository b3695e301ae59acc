"""The network's records in every store: what a bridge's sender and receiver write (the store's identity,
a tombstone stored with a forwarded message's removal, a held message and its unmarked rewrite on
release) is what the next master of the same store reads back, from the journal (also after its
compaction), the JDBC rows, and the replicated store's snapshot and a slave's own journal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from harness.broker.core.broker import AckMode, Broker
from harness.broker.message import HELD_HEADER, Message
from harness.broker.store.contract import FORWARDED_CONTAINER, Op, RemoveOp
from harness.broker.store.jdbc_statements import Statements
from harness.broker.store.jdbc_store import JdbcStore, container_of, open_term
from harness.broker.store.journal import Journal, recover
from harness.broker.store.records import decode_ops, encode_ops
from harness.broker.store.replicated import (
    NO_POSITION,
    Position,
    StateMirror,
    open_epoch,
    recover_local,
    split_snapshot,
)

from ..broker_fakes import FakeClient
from ..fake_db import FakeDatabase

QUEUE = "/queue/q"


class Recorder:
    """Collects the batches a broker core hands its store, in order, confirming each at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.batches: list[list[Op]] = []

    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        # Encoded now, as a store does: a message's later changes in memory are not in this write.
        self.batches.append(decode_ops(encode_ops(ops)))
        fut: asyncio.Future[None] = self.loop.create_future()
        fut.set_result(None)
        return fut


def first_term() -> tuple[list[list[Op]], str]:
    """A broker's first term on a new store: it forwards one message (to store "store-r"), consumes
    one locally, and receives two from store "store-s", of which one is released."""
    loop = asyncio.new_event_loop()
    try:
        recorder = Recorder(loop)
        broker = Broker("amq1", 1, recorder, lambda: True, loop)
        store_id, _ = broker.store_identity()
        broker.send(QUEUE, {}, b"forwarded", True)
        broker.send(QUEUE, {}, b"consumed", True)
        bridge_side, local = FakeClient(), FakeClient()
        network = broker.subscribe(bridge_side, "net", QUEUE, AckMode.CLIENT_INDIVIDUAL, 1)
        loop.run_until_complete(asyncio.sleep(0.01))  # dispatch
        [(_, forwarded)] = bridge_side.received
        broker.ack(network, forwarded.message_id, forwarded_to="store-r")
        broker.unsubscribe(network)
        consumer = broker.subscribe(local, "local", QUEUE, AckMode.CLIENT_INDIVIDUAL)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert [m.body for _, m in local.received] == [b"consumed"]
        for _, msg in local.received:
            broker.ack(consumer, msg.message_id)
        broker.unsubscribe(consumer)
        broker.receive(Message("ID:s-1-1", QUEUE, {}, b"released", True), "store-s")
        broker.receive(Message("ID:s-1-2", QUEUE, {}, b"still held", True), "store-s")
        released = broker.release_held("ID:s-1-1")
        assert released is not None
        loop.run_until_complete(released)  # a deferred write: alone, once no other write carried it
        return recorder.batches, store_id
    finally:
        loop.close()


def check_next_master(messages: list[Message], store_id: str) -> Broker:
    loop = asyncio.new_event_loop()
    broker = Broker("amq2", 2, None, lambda: True, loop)
    broker.restore(messages)
    loop.close()
    assert broker.store_identity() == (store_id, None), "the store keeps its identity for every master"
    [(tombstone, receiver)] = broker.forwarded.items()
    assert receiver == "store-r" and tombstone.startswith("ID:amq1-1-")
    assert list(broker.held) == ["ID:s-1-2"] and broker.held["ID:s-1-2"].headers[HELD_HEADER] == "store-s"
    queue = broker.queues[QUEUE]
    assert [m.body for m in queue.waiting()] == [b"released"], "released: stored without the mark"
    assert all(HELD_HEADER not in m.headers for m in queue.waiting())
    return broker


def forget(tombstone: str) -> list[Op]:
    return [RemoveOp(tombstone, FORWARDED_CONTAINER)]


async def _write(journal: Journal, batches: list[list[Op]]) -> None:
    await asyncio.gather(*(journal.append(ops) for ops in batches))
    await journal.close()


def test_the_journal_keeps_the_records_through_recovery_and_compaction(tmp_path: Path) -> None:
    batches, store_id = first_term()
    journal = Journal.open_term(tmp_path, 1, [], lambda: True, lambda reason: None)
    asyncio.run(_write(journal, batches))
    messages = recover(tmp_path).messages
    broker = check_next_master(messages, store_id)
    # The next term compacts the journal into a snapshot: the records are part of it.
    journal = Journal.open_term(tmp_path, 2, messages, lambda: True, lambda reason: None)
    asyncio.run(_write(journal, [forget(next(iter(broker.forwarded)))]))
    loop = asyncio.new_event_loop()
    recovered = Broker("amq3", 3, None, lambda: True, loop)
    recovered.restore(recover(tmp_path).messages)
    loop.close()
    assert recovered.forwarded == {} and recovered.store_id == store_id and list(recovered.held) == ["ID:s-1-2"]


def test_the_jdbc_store_keeps_the_records_as_rows_outside_any_destination() -> None:
    batches, store_id = first_term()
    db = FakeDatabase()
    db.lock_rows[2] = [0, "pybroker epoch: x"]
    sql = Statements(db.dialect)

    async def write(store: JdbcStore, todo: list[list[Op]]) -> None:
        await asyncio.gather(*(store.append(ops) for ops in todo))
        await store.close()

    recovery, conn = open_term(db, sql, "amq1")
    asyncio.run(write(JdbcStore(db, sql, recovery, conn, lambda: True, lambda exc: None), batches))
    assert {row[2] for row in db.messages.values()} == {"queue://q", "pybroker://forwarded", "pybroker://store"}
    recovery, conn = open_term(db, sql, "amq2")
    broker = check_next_master(recovery.messages, store_id)
    store = JdbcStore(db, sql, recovery, conn, lambda: True, lambda exc: None)
    asyncio.run(write(store, [forget(next(iter(broker.forwarded)))]))
    assert "pybroker://forwarded" not in {row[2] for row in db.messages.values()}
    assert container_of(FORWARDED_CONTAINER) == "pybroker://forwarded"


def test_the_replicated_store_sends_the_records_to_a_new_slave_which_keeps_them(tmp_path: Path) -> None:
    batches, store_id = first_term()
    mirror = StateMirror([], [])
    for ops in batches:
        mirror.apply(ops)
    messages, subscriptions = split_snapshot(mirror.snapshot())
    check_next_master(messages, store_id)
    # The slave writes the snapshot into its own journal; elected later, it recovers from that.
    journal = open_epoch(tmp_path, Position(3, 0), messages, subscriptions, lambda: True, lambda reason: None)
    asyncio.run(journal.close())
    local = recover_local(tmp_path)
    assert local.position != NO_POSITION
    check_next_master(local.messages, store_id)
