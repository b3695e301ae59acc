"""Deferred writes: a released message's unmarked rewrite and a forgotten tombstone ride on the next
write, first and in order, or go alone after DEFER_S; a forwarded message's removal and tombstone
after FORWARDED_ACK_LINGER_S. Their futures are that write's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

import pytest

from harness.broker.core.broker import DEFER_S, FORWARDED_ACK_LINGER_S, AckMode, Broker, Subscription
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


def with_network_consumer(loop: asyncio.AbstractEventLoop) -> tuple[Broker, Store, FakeClient, Subscription]:
    """A sender with one message, delivered to a bridge's network consumer (prefetch 1)."""
    store = Store(loop)
    broker = Broker("amq1", 1, store, lambda: True, loop)
    broker.send(QUEUE, {}, b"m", True)
    network = FakeClient()
    sub = broker.subscribe(network, "net", QUEUE, AckMode.CLIENT_INDIVIDUAL, 1)
    loop.run_until_complete(asyncio.sleep(0))
    return broker, store, network, sub


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
    broker, store, network, sub = with_network_consumer(loop)
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


def test_a_forwarded_messages_removal_rides_on_the_next_send(loop: asyncio.AbstractEventLoop) -> None:
    broker, store, network, sub = with_network_consumer(loop)
    [(_, msg)] = network.received
    store.writes.clear()
    removed = broker.ack(sub, msg.message_id, forwarded_to="store-r")
    assert removed is not None and store.writes == []  # the receiver's COMMIT waits for this
    sent = broker.send(QUEUE, {}, b"next", True)
    assert sent is not None
    loop.run_until_complete(sent)
    assert removed.done() and removed.exception() is None
    [write] = store.writes
    assert described(write)[:2] == [f"remove {QUEUE} {msg.message_id}", f"add {FORWARDED_CONTAINER} {msg.message_id}"]
    assert len(write) == 3  # and the send's message


def test_a_forwarded_messages_removal_is_written_alone_after_its_linger(loop: asyncio.AbstractEventLoop) -> None:
    broker, _store, network, sub = with_network_consumer(loop)
    [(_, msg)] = network.received
    released_later = broker._defer([RemoveOp("ID:x", QUEUE)])  # a 50 ms deferral already waiting
    removed = broker.ack(sub, msg.message_id, forwarded_to="store-r")
    assert removed is not None and released_later is not None
    timer = broker._deferred_timer  # the shorter linger brings the waiting write forward
    assert timer is not None and timer.when() - loop.time() <= FORWARDED_ACK_LINGER_S
    loop.run_until_complete(removed)
    assert released_later.done() and released_later.exception() is None
