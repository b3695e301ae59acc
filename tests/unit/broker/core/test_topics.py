"""Topics: durable subscriptions (offline messages, journaling, replacement, removal), selectors,
noLocal, and temporary destinations."""

from __future__ import annotations

import asyncio

import pytest

from harness.broker.core.broker import AckMode, RequestRefused, durable_key
from harness.broker.core.selector import parse
from harness.broker.message import Message
from harness.broker.store.contract import AddOp, DurableSubscriptionRecord, RemoveOp, SubscribeOp, UnsubscribeOp

from ..broker_fakes import CoreEnv, FakeClient

KEY = durable_key("c1", "s1")


@pytest.fixture
def env(loop: asyncio.AbstractEventLoop) -> CoreEnv:
    return CoreEnv(loop)


def durable(env: CoreEnv, client: FakeClient, selector: str | None = None, topic: str = "/topic/t") -> object:
    sub, _created = env.broker.subscribe_durable(
        client,
        "d",
        "c1",
        "s1",
        topic,
        AckMode.CLIENT_INDIVIDUAL,
        selector=None if selector is None else parse(selector),
    )
    env.settle()
    return sub


def test_durable_subscriber_gets_what_was_published_while_it_was_offline(env: CoreEnv) -> None:
    sub = durable(env, FakeClient())
    assert env.store.records[-1] == [SubscribeOp(DurableSubscriptionRecord(KEY, "c1", "s1", "/topic/t"))]
    env.broker.unsubscribe(sub)  # type: ignore[arg-type]  # goes offline; the subscription stays
    env.send("persistent", dest="/topic/t")
    env.send("non-persistent", dest="/topic/t", persistent=False)
    [[add]] = env.store.records[-1:]
    assert isinstance(add, AddOp) and add.message.container == KEY, "persistent messages are journaled for it"
    client = FakeClient()
    sub = durable(env, client)
    assert client.bodies() == [b"persistent", b"non-persistent"]
    env.broker.ack(sub, client.received[0][1].message_id)  # type: ignore[arg-type]
    assert env.store.records[-1] == [RemoveOp(client.received[0][1].message_id, KEY)]


def test_each_durable_subscription_gets_its_own_copy(env: CoreEnv) -> None:
    a, b = FakeClient(), FakeClient()
    sub_a, _ = env.broker.subscribe_durable(a, "d", "ca", "s", "/topic/t", AckMode.CLIENT_INDIVIDUAL)
    env.broker.subscribe_durable(b, "d", "cb", "s", "/topic/t", AckMode.AUTO)
    env.send("hello", dest="/topic/t")
    env.settle()
    assert a.bodies() == b.bodies() == [b"hello"]
    assert a.last() is not b.last(), "one message object per subscription"
    env.broker.unsubscribe(sub_a)
    env.settle()
    assert env.broker.durables[durable_key("ca", "s")].depth() == 1
    assert env.broker.durables[durable_key("cb", "s")].depth() == 0


def test_durable_selector_filters_while_offline(env: CoreEnv) -> None:
    sub = durable(env, FakeClient(), selector="kind = 'keep'")
    env.broker.unsubscribe(sub)  # type: ignore[arg-type]
    env.send("keep", dest="/topic/t", headers={"kind": "keep"})
    env.send("skip", dest="/topic/t", headers={"kind": "skip"})
    client = FakeClient()
    durable(env, client, selector="kind = 'keep'")
    assert client.bodies() == [b"keep"]


def test_changing_the_selector_replaces_the_subscription(env: CoreEnv) -> None:
    sub = durable(env, FakeClient())
    env.broker.unsubscribe(sub)  # type: ignore[arg-type]
    env.send("lost", dest="/topic/t")
    client = FakeClient()
    durable(env, client, selector="a = 1")
    assert client.received == [], "ActiveMQ drops the old subscription and its messages"
    ops = env.store.records[-1]
    assert ops[0] == UnsubscribeOp(KEY) and isinstance(ops[1], SubscribeOp)


def test_active_durable_subscription_cannot_be_shared_or_removed(env: CoreEnv) -> None:
    durable(env, FakeClient())
    with pytest.raises(RequestRefused, match="Durable consumer is in use for client: c1 and subscriptionName: s1"):
        durable(env, FakeClient())
    with pytest.raises(RequestRefused, match=r"^Durable consumer is in use$"):
        env.broker.remove_durable("c1", "s1")


def test_removing_a_durable_subscription_drops_its_messages(env: CoreEnv) -> None:
    sub = durable(env, FakeClient())
    env.broker.unsubscribe(sub)  # type: ignore[arg-type]
    env.send("x", dest="/topic/t")
    env.broker.remove_durable("c1", "s1")
    assert env.store.records[-1] == [UnsubscribeOp(KEY)]
    env.send("y", dest="/topic/t")
    client = FakeClient()
    durable(env, client)
    assert client.received == []
    with pytest.raises(RequestRefused, match="No durable subscription exists for clientID: c1 and subscriptionName: x"):
        env.broker.remove_durable("c1", "x")


def test_durable_subscription_on_a_queue_or_temporary_topic_is_refused(env: CoreEnv) -> None:
    with pytest.raises(RequestRefused, match="cannot durably subscribe to a Queue destination"):
        env.broker.subscribe_durable(FakeClient(), "d", "c1", "s1", "/queue/a", AckMode.AUTO)
    owner = FakeClient()
    env.broker.create_temporary("/remote-temp-topic/ID:t-7-1:1", owner)
    with pytest.raises(RequestRefused, match="cannot durably subscribe to a temporary topic"):
        env.broker.subscribe_durable(owner, "d", "c1", "s1", "/remote-temp-topic/ID:t-7-1:1", AckMode.AUTO)


def test_restore_brings_back_durable_subscriptions_and_their_messages(env: CoreEnv) -> None:
    record = DurableSubscriptionRecord(KEY, "c1", "s1", "/topic/t", "n > 1")
    stored = Message("ID:old-1", "/topic/t", {"n": "2"}, b"kept", True, container=KEY)
    assert env.broker.restore([stored], [record]) == 1
    env.send("filtered", dest="/topic/t", headers={"n": "1"})
    client = FakeClient()
    durable(env, client, selector="n > 1")
    assert client.bodies() == [b"kept"]


def test_non_durable_subscribers_with_selectors_and_no_local(env: CoreEnv) -> None:
    publisher = FakeClient()
    everyone, reds, others_only = FakeClient(), FakeClient(), FakeClient()
    env.broker.subscribe(everyone, "e", "/topic/t", AckMode.AUTO)
    env.broker.subscribe(reds, "r", "/topic/t", AckMode.AUTO, selector=parse("color = 'red'"))
    env.broker.subscribe(publisher, "self", "/topic/t", AckMode.AUTO, no_local=True)
    env.broker.subscribe(others_only, "o", "/topic/t", AckMode.AUTO, no_local=True)
    env.send("red", dest="/topic/t", headers={"color": "red"}, publisher=publisher)
    env.send("blue", dest="/topic/t", headers={"color": "blue"})
    env.settle()
    assert everyone.bodies() == [b"red", b"blue"]
    assert reds.bodies() == [b"red"]
    assert publisher.bodies() == [b"blue"], "noLocal: not its own messages"
    assert others_only.bodies() == [b"red", b"blue"]
    assert not any(isinstance(op, AddOp) for op in env.ops()), "non-durable topic messages are never journaled"


def test_non_durable_subscription_drops_its_messages_when_closed(env: CoreEnv) -> None:
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", "/topic/t", AckMode.CLIENT_INDIVIDUAL, prefetch=1)
    env.send("a", dest="/topic/t")
    env.send("b", dest="/topic/t")
    env.settle()
    env.broker.unsubscribe(sub)
    later = FakeClient()
    env.broker.subscribe(later, "s", "/topic/t", AckMode.AUTO)
    env.settle()
    assert later.received == []


def test_temporary_queue_belongs_to_its_connection(env: CoreEnv) -> None:
    owner, other = FakeClient(), FakeClient()
    name = "/remote-temp-queue/ID:t-7-1:1"
    env.broker.create_temporary(name, owner)
    env.broker.subscribe(owner, "r", name, AckMode.AUTO)
    env.send("reply", dest=name)
    env.settle()
    assert owner.bodies() == [b"reply"]
    assert not any(isinstance(op, AddOp) for op in env.ops()), "temporary queues are memory only"
    with pytest.raises(RequestRefused, match="Cannot subscribe to a remote temporary destination"):
        env.broker.subscribe(other, "x", name, AckMode.AUTO)
    env.broker.delete_temporary(name)
    with pytest.raises(RequestRefused, match=f"Cannot publish to a deleted Destination: {name}"):
        env.send("late", dest=name)


def test_unknown_destination_kinds_are_refused(env: CoreEnv) -> None:
    for bad in ("/exchange/x", "/queue/", "queue/x", "/remote-temp-queue/never-created"):
        with pytest.raises(RequestRefused):
            env.send("x", dest=bad)
