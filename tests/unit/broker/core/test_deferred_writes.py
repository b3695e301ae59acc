"""Deferred writes: a released message's unmarked rewrite and a forgotten tombstone ride on the next
write, first and in order, or go alone after DEFER_S; their futures are that write's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

import pytest

from harness.broker.core.broker import DEFER_S, AckMode, Broker
from harness.broker.message import HELD_HEADER, Message
from harness.broker.store.contract import FORWARDED_CONTAINER, AddOp, Op, RemoveOp

from ..broker_fakes import FakeClient

QUEUE = "/queue/q"


class Store:
    """Records each write's operations; a write completes at once, or fails while ``failing``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.writes: list[list[Op]] = []
        self.failing = False

    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        self.writes.append(list(ops))
        fut: asyncio.Future[None] = self.loop.create_future()
        if self.failing:
            fut.set_exception(OSError("disk gone"))
        else:
            fut.set_result(None)
        return fut


def described(ops: list[Op]) -> list[str]:
    out = []
    for op in ops:
        if isinstance(op, AddOp):
            held = " held" if HELD_HEADER in op.message.headers else ""
            out.append(f"add {op.message.container} {op.message.message_id}{held}")
        elif isinstance(op, RemoveOp):
            out.append(f"remove {op.container} {op.message_id}")
    return out


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def held_broker(loop: asyncio.AbstractEventLoop) -> tuple[Broker, Store]:
    store = Store(loop)
    broker = Broker("amq2", 1, store, lambda: True, loop)
    broker.receive(Message("ID:s-1-1", QUEUE, {}, b"m", True), "store-s")
    store.writes.clear()
    return broker, store


def test_a_release_rides_first_on_the_consumers_ack(loop: asyncio.AbstractEventLoop) -> None:
    broker, store = held_broker(loop)
    consumer = FakeClient()
    sub = broker.subscribe(consumer, "c", QUEUE, AckMode.CLIENT_INDIVIDUAL)
    released = broker.release_held("ID:s-1-1")
    assert released is not None and store.writes == []  # delivered, not written yet
    loop.run_until_complete(asyncio.sleep(0))  # dispatch
    [(_, msg)] = consumer.received
    acked = broker.ack(sub, msg.message_id)
    assert acked is not None
    loop.run_until_complete(acked)
    assert released.done() and released.exception() is None
    assert [described(w) for w in store.writes] == [
        [f"remove {QUEUE} ID:s-1-1", f"add {QUEUE} ID:s-1-1", f"remove {QUEUE} ID:s-1-1"]
    ]


def test_a_release_is_written_alone_when_nothing_else_is(loop: asyncio.AbstractEventLoop) -> None:
    broker, store = held_broker(loop)
    released = broker.release_held("ID:s-1-1")
    assert released is not None
    loop.run_until_complete(asyncio.wait_for(released, DEFER_S * 20))
    assert [described(w) for w in store.writes] == [[f"remove {QUEUE} ID:s-1-1", f"add {QUEUE} ID:s-1-1"]]


def test_a_failed_write_fails_the_deferred_records_it_carried(loop: asyncio.AbstractEventLoop) -> None:
    broker, store = held_broker(loop)
    released = broker.release_held("ID:s-1-1")
    assert released is not None
    store.failing = True
    broker.send(QUEUE, {}, b"other", True)
    loop.run_until_complete(asyncio.sleep(0))
    assert released.done() and isinstance(released.exception(), OSError)  # the bridge sends no FORGET


def test_a_forgotten_tombstone_is_removed_before_the_message_leaves_again(loop: asyncio.AbstractEventLoop) -> None:
    """Forgotten (deferred), then the message comes back and is forwarded again: the replay must end
    with the new tombstone, so the old one's removal is written before it."""
    store = Store(loop)
    broker = Broker("amq1", 1, store, lambda: True, loop)
    broker.send(QUEUE, {}, b"m", True)
    network = FakeClient()
    sub = broker.subscribe(network, "net", QUEUE, AckMode.CLIENT_INDIVIDUAL, 1)
    loop.run_until_complete(asyncio.sleep(0))
    [(_, msg)] = network.received
    broker.ack(sub, msg.message_id, forwarded_to="store-r")
    broker.forget_forwarded([msg.message_id])
    broker.receive(Message(msg.message_id, QUEUE, {}, b"m", True), "store-r")  # back, held
    broker.release_held(msg.message_id)
    loop.run_until_complete(asyncio.sleep(0))  # dispatch: the network consumer takes it again
    assert [m.message_id for _, m in network.received] == [msg.message_id, msg.message_id]
    written = broker.ack(sub, msg.message_id, forwarded_to="store-r2")
    assert written is not None
    loop.run_until_complete(written)
    tombstone_ops = [d for w in store.writes for d in described(w) if FORWARDED_CONTAINER in d]
    assert [d.split()[0] for d in tombstone_ops] == ["add", "remove", "add"]
    assert broker.forwarded == {msg.message_id: "store-r2"}
