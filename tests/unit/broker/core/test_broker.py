"""Broker core: queues, topics, prefetch, ack modes, NACK to the DLQ, redelivery, transactions."""

from __future__ import annotations

import asyncio

import pytest

from harness.broker.core.broker import AckMode, Broker, RequestRefused, Transaction
from harness.broker.message import DLQ, Message
from harness.broker.store.contract import AddOp, RemoveOp, StoreLimits

from ..broker_fakes import FakeClient, FakeStore


class Env:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.store = FakeStore(loop)
        self.fence_ok = True
        self.broker = Broker("t", 7, self.store, lambda: self.fence_ok, loop)

    def settle(self) -> None:
        for _ in range(3):
            self.loop.run_until_complete(asyncio.sleep(0))

    def send(self, n: int, dest: str = "/queue/a", persistent: bool = True) -> None:
        self.broker.send(dest, {"n": str(n)}, f"m{n}".encode(), persistent)


@pytest.fixture
def env(loop: asyncio.AbstractEventLoop) -> Env:
    return Env(loop)


def test_message_ids_carry_broker_name_and_epoch(env: Env) -> None:
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.send(1)
    env.send(2)
    env.settle()
    assert [m.message_id for _, m in client.received] == ["ID:t-7-1", "ID:t-7-2"]


def test_only_persistent_queue_messages_are_journaled(env: Env) -> None:
    env.send(1, persistent=True)
    env.send(2, persistent=False)
    env.send(3, dest="/topic/t", persistent=True)
    assert len(env.store.records) == 1
    [op] = env.store.records[0]
    assert isinstance(op, AddOp) and op.message.body == b"m1"


def test_round_robin_between_consumers(env: Env) -> None:
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/queue/a", AckMode.AUTO)
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO)
    for i in range(6):
        env.send(i)
    env.settle()
    assert a.bodies() == [b"m0", b"m2", b"m4"]
    assert b.bodies() == [b"m1", b"m3", b"m5"]


def test_auto_ack_removes_persistent_messages_on_dispatch(env: Env) -> None:
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.send(1)
    env.settle()
    assert isinstance(env.store.records[-1][0], RemoveOp)


def test_prefetch_limits_unacknowledged_messages(env: Env) -> None:
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL, prefetch=2)
    for i in range(5):
        env.send(i)
    env.settle()
    assert client.bodies() == [b"m0", b"m1"]
    env.broker.ack(sub, client.received[1][1].message_id)
    env.settle()
    assert client.bodies() == [b"m0", b"m1", b"m2"]
    assert list(sub.inflight) == [client.received[0][1].message_id, client.received[2][1].message_id]


def test_client_ack_is_cumulative(env: Env) -> None:
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", "/queue/a", AckMode.CLIENT)
    for i in range(4):
        env.send(i)
    env.settle()
    fut = env.broker.ack(sub, client.received[2][1].message_id)
    assert fut is not None
    assert [op.message_id for op in env.store.records[-1] if isinstance(op, RemoveOp)] == [
        m.message_id for _, m in client.received[:3]
    ]
    assert list(sub.inflight) == [client.received[3][1].message_id]


def test_unknown_or_repeated_ack_is_an_error(env: Env) -> None:
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL)
    env.send(1)
    env.settle()
    message_id = client.received[0][1].message_id
    env.broker.ack(sub, message_id)
    with pytest.raises(RequestRefused, match="Unexpected ACK"):
        env.broker.ack(sub, message_id)


def test_ack_on_auto_subscription_is_an_error(env: Env) -> None:
    sub = env.broker.subscribe(FakeClient(), "s", "/queue/a", AckMode.AUTO)
    with pytest.raises(RequestRefused):
        env.broker.ack(sub, "ID:x")


def test_nack_moves_persistent_message_to_dlq(env: Env) -> None:
    client, dead = FakeClient(), FakeClient()
    sub = env.broker.subscribe(client, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL)
    env.send(1)
    env.send(2, persistent=False)
    env.settle()
    first, second = (m for _, m in client.received)
    env.broker.nack(sub, first.message_id)
    env.broker.nack(sub, second.message_id)  # non-persistent: discarded, like ActiveMQ
    remove, add = env.store.records[-1]
    assert remove == RemoveOp(first.message_id, "/queue/a")
    assert isinstance(add, AddOp) and add.message.destination == DLQ
    env.broker.subscribe(dead, "d", DLQ, AckMode.AUTO)
    env.settle()
    [(_, msg)] = dead.received
    assert msg.message_id == first.message_id
    assert msg.headers["original-destination"] == "/queue/a"


def test_closed_subscription_messages_are_redelivered_in_order(env: Env) -> None:
    first, second = FakeClient(), FakeClient()
    sub = env.broker.subscribe(first, "s1", "/queue/a", AckMode.CLIENT_INDIVIDUAL, prefetch=3)
    for i in range(5):
        env.send(i)
    env.settle()
    assert first.bodies() == [b"m0", b"m1", b"m2"]
    env.broker.ack(sub, first.received[1][1].message_id)
    env.settle()
    assert first.bodies() == [b"m0", b"m1", b"m2", b"m3"]  # the ack made room for m3
    env.broker.unsubscribe(sub)
    env.broker.subscribe(second, "s2", "/queue/a", AckMode.AUTO)
    env.settle()
    assert second.bodies() == [b"m0", b"m2", b"m3", b"m4"]
    assert [m.redelivered for _, m in second.received] == [True, True, True, False]


def test_topic_fans_out_to_current_subscribers(env: Env) -> None:
    env.send(0, dest="/topic/t")  # nobody listening: dropped
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/topic/t", AckMode.AUTO)
    sub_b = env.broker.subscribe(b, "b", "/topic/t", AckMode.CLIENT)
    env.send(1, dest="/topic/t")
    env.send(2, dest="/topic/t")
    env.settle()
    assert a.bodies() == b.bodies() == [b"m1", b"m2"]
    assert env.broker.ack(sub_b, b.received[1][1].message_id) is None
    assert sub_b.inflight == {}


def test_transaction_sends_are_invisible_until_commit(env: Env) -> None:
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    tx = Transaction("tx1")
    env.broker.send("/queue/a", {}, b"x", True, tx)
    env.broker.send("/queue/a", {}, b"y", True, tx)
    env.settle()
    assert client.received == []
    assert env.store.records == []
    env.broker.commit(tx)
    env.settle()
    assert client.bodies() == [b"x", b"y"]
    assert len(env.store.records[0]) == 2  # one atomic record for the whole commit


def test_abort_drops_sends_and_makes_acked_messages_unacknowledged_again(env: Env) -> None:
    """ActiveMQ: after ABORT the acks are undone, the messages stay with their consumer, ack ids valid again."""
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL)
    env.send(1)
    env.settle()
    message_id = client.received[0][1].message_id
    tx = Transaction("tx")
    env.broker.ack(sub, message_id, tx)
    assert sub.inflight == {}
    env.broker.send("/queue/a", {}, b"never", True, tx)
    env.broker.abort(tx)
    env.settle()
    assert client.bodies() == [b"m1"], "ABORT does not redeliver to the same consumer"
    assert list(sub.inflight) == [message_id]
    assert all(isinstance(op, AddOp) for record in env.store.records for op in record)
    env.broker.ack(sub, message_id)  # the ack id is valid again
    assert env.store.records[-1] == [RemoveOp(message_id, "/queue/a")]


def test_abort_then_disconnect_redelivers_to_another_consumer(env: Env) -> None:
    first, second = FakeClient(), FakeClient()
    sub = env.broker.subscribe(first, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL)
    env.send(1)
    env.settle()
    tx = Transaction("tx")
    env.broker.ack(sub, first.received[0][1].message_id, tx)
    env.broker.abort(tx)
    env.broker.unsubscribe(sub)
    env.broker.subscribe(second, "s2", "/queue/a", AckMode.AUTO)
    env.settle()
    assert second.bodies() == [b"m1"]
    assert second.redelivered == [True]


def test_commit_of_acks_journals_removals(env: Env) -> None:
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL)
    env.send(1)
    env.send(2)
    env.settle()
    tx = Transaction("tx")
    for _, m in client.received:
        env.broker.ack(sub, m.message_id, tx)
    assert env.broker.commit(tx) is not None
    assert [type(op) for op in env.store.records[-1]] == [RemoveOp, RemoveOp]


def test_no_dispatch_when_the_fence_fails(env: Env) -> None:
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.fence_ok = False
    env.send(1)
    env.settle()
    assert client.received == []


def test_backpressure_pauses_dispatch(env: Env) -> None:
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    client.open = False
    env.send(1)
    env.settle()
    assert client.received == []
    client.open = True
    env.broker.wake([sub.container])
    env.settle()
    assert client.bodies() == [b"m1"]


def test_restore_keeps_journal_order(env: Env) -> None:
    messages = [Message(f"ID:old-{i}", "/queue/a", {}, str(i).encode(), True) for i in range(3)]
    assert env.broker.restore(messages) == 3
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.settle()
    assert [m.message_id for _, m in client.received] == ["ID:old-0", "ID:old-1", "ID:old-2"]
    assert env.broker.queue_depths() == {"/queue/a": 0}


def test_bad_destination(env: Env) -> None:
    with pytest.raises(RequestRefused, match="Unsupported destination"):
        env.broker.send("/exchange/x", {}, b"", False)
    with pytest.raises(RequestRefused):
        env.broker.subscribe(FakeClient(), "s", "/queue/", AckMode.AUTO)


def test_queue_names_longer_than_the_store_holds_are_refused(loop: asyncio.AbstractEventLoop) -> None:
    store = FakeStore(loop)
    broker = Broker("t", 1, store, lambda: True, loop, limits=StoreLimits(max_queue_name_length=10))
    broker.send("/queue/" + "q" * 10, {}, b"fits", True)
    with pytest.raises(RequestRefused, match=r"Queue name too long for the store: 11 characters \(at most 10\)"):
        broker.send("/queue/" + "q" * 11, {}, b"too long", True)
    assert len(store.records) == 1, "the refused message was neither accepted nor stored"
    broker.send("/topic/" + "t" * 50, {}, b"topics are not stored", True)


def test_durable_subscriptions_are_refused_when_the_store_cannot_keep_them(loop: asyncio.AbstractEventLoop) -> None:
    store = FakeStore(loop)
    limits = StoreLimits(durable_subscriptions=False, store_name="the test store")
    broker = Broker("t", 1, store, lambda: True, loop, limits=limits)
    with pytest.raises(RequestRefused, match="Durable topic subscriptions are not supported by the test store"):
        broker.subscribe_durable(FakeClient(), "d", "c1", "s1", "/topic/t", AckMode.AUTO)
    assert broker.durables == {} and store.records == [], "nothing was created or stored"
    client = FakeClient()
    broker.subscribe(client, "s", "/topic/t", AckMode.AUTO)  # a non-durable subscription still works
    broker.send("/topic/t", {}, b"live", True)
    for _ in range(3):
        loop.run_until_complete(asyncio.sleep(0))
    assert client.bodies() == [b"live"]
    assert store.records == [], "messages of non-durable topic subscriptions are not stored"
