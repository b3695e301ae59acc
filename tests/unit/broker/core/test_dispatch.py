"""Queue dispatch the way ActiveMQ does it: exclusive consumers, message groups, priorities, selectors, browsing."""

from __future__ import annotations

import asyncio

import pytest

from harness.broker.core.broker import AckMode, CoreSettings
from harness.broker.core.policy import (
    DestinationKind,
    DestinationPattern,
    GroupMapKind,
    GroupMapSettings,
    PatternMap,
    PolicyEntry,
    PolicyMap,
)
from harness.broker.core.selector import parse

from ..broker_fakes import CoreEnv, FakeClient


@pytest.fixture
def env(loop: asyncio.AbstractEventLoop) -> CoreEnv:
    return CoreEnv(loop)


def with_policy(loop: asyncio.AbstractEventLoop, policy: PolicyEntry, pattern: str = ">") -> CoreEnv:
    entries = PatternMap(((DestinationPattern(DestinationKind.QUEUE, pattern), policy),))
    return CoreEnv(loop, CoreSettings(policies=PolicyMap(entries)))


# -- exclusive consumers ------------------------------------------------------------------------


def test_exclusive_consumer_gets_everything_and_the_next_takes_over(env: CoreEnv) -> None:
    first, second, plain = FakeClient(), FakeClient(), FakeClient()
    sub1 = env.broker.subscribe(first, "1", "/queue/a", AckMode.CLIENT_INDIVIDUAL, exclusive=True)
    env.broker.subscribe(second, "2", "/queue/a", AckMode.AUTO, exclusive=True)
    env.broker.subscribe(plain, "3", "/queue/a", AckMode.AUTO)
    for i in range(4):
        env.send(f"m{i}")
    env.settle()
    assert first.bodies() == [b"m0", b"m1", b"m2", b"m3"]
    assert second.received == plain.received == []
    env.broker.unsubscribe(sub1)  # unacked messages go to the next exclusive consumer, redelivered
    env.send("m4")
    env.settle()
    assert second.bodies() == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert second.redelivered == [True, True, True, True, False]
    assert plain.received == []


def test_higher_priority_exclusive_consumer_takes_over(env: CoreEnv) -> None:
    low, high = FakeClient(), FakeClient()
    env.broker.subscribe(low, "low", "/queue/a", AckMode.AUTO, exclusive=True)
    env.send("m0")
    env.settle()
    env.broker.subscribe(high, "high", "/queue/a", AckMode.AUTO, exclusive=True, priority=5)
    env.send("m1")
    env.settle()
    assert (low.bodies(), high.bodies()) == ([b"m0"], [b"m1"])


def test_all_consumers_exclusive_by_default(loop: asyncio.AbstractEventLoop) -> None:
    env = with_policy(loop, PolicyEntry(all_consumers_exclusive_by_default=True))
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/queue/a", AckMode.AUTO)
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO)
    for i in range(3):
        env.send(f"m{i}")
    env.settle()
    assert (len(a.received), len(b.received)) == (3, 0)


# -- message groups -----------------------------------------------------------------------------


def group_send(env: CoreEnv, body: str, group: str, seq: int = 0) -> None:
    env.send(body, headers={"JMSXGroupID": group}, group_id=group, group_seq=seq)


def test_a_group_sticks_to_one_consumer_and_the_first_message_is_marked(env: CoreEnv) -> None:
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/queue/a", AckMode.AUTO)
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO)
    for i in range(3):
        group_send(env, f"x{i}", "X")
        group_send(env, f"y{i}", "Y")
    env.settle()
    assert a.bodies() == [b"x0", b"x1", b"x2"]
    assert b.bodies() == [b"y0", b"y1", b"y2"]
    assert a.first_of_group == [True, False, False]
    assert b.first_of_group == [True, False, False]


def test_negative_sequence_closes_a_group_and_the_next_message_may_move(env: CoreEnv) -> None:
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/queue/a", AckMode.AUTO)
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO)
    group_send(env, "x0", "X")
    group_send(env, "x-close", "X", seq=-1)  # still goes to the owner, then the group is closed
    env.send("plain")  # round robin moves on
    group_send(env, "x-again", "X")
    env.settle()
    assert a.bodies() == [b"x0", b"x-close", b"x-again"]
    assert b.bodies() == [b"plain"]
    assert a.first_of_group == [True, False, True], "after the close, the group starts afresh"


def test_sequence_one_reassigns_a_group(env: CoreEnv) -> None:
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/queue/a", AckMode.AUTO)
    group_send(env, "x0", "X")
    env.settle()
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO, priority=9)  # b comes first now
    group_send(env, "x1", "X")
    group_send(env, "restart", "X", seq=1)
    env.settle()
    assert a.bodies() == [b"x0", b"x1"], "an owned group stays with its owner"
    assert b.bodies() == [b"restart"] and b.first_of_group == [True]


def test_group_owner_leaving_hands_the_group_over(env: CoreEnv) -> None:
    a, b = FakeClient(), FakeClient()
    sub_a = env.broker.subscribe(a, "a", "/queue/a", AckMode.CLIENT_INDIVIDUAL)
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO)
    group_send(env, "x0", "X")
    env.settle()
    env.broker.unsubscribe(sub_a)
    group_send(env, "x1", "X")
    env.settle()
    assert b.bodies() == [b"x0", b"x1"]
    assert b.first_of_group == [True, False]
    assert b.redelivered == [True, False]


def test_a_full_owner_holds_its_group_but_not_other_messages(env: CoreEnv) -> None:
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/queue/a", AckMode.CLIENT_INDIVIDUAL, prefetch=1)
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO)
    group_send(env, "x0", "X")
    group_send(env, "x1", "X")
    env.send("free1")
    env.send("free2")
    env.settle()
    assert a.bodies() == [b"x0"]
    assert b.bodies() == [b"free1", b"free2"], "x1 waits for its owner; the others are not blocked"


def test_evicted_groups_lose_their_owner(loop: asyncio.AbstractEventLoop) -> None:
    env = with_policy(loop, PolicyEntry(groups=GroupMapSettings(kind=GroupMapKind.CACHED, cache_size=1)))
    a, b = FakeClient(), FakeClient()
    env.broker.subscribe(a, "a", "/queue/a", AckMode.AUTO)
    env.broker.subscribe(b, "b", "/queue/a", AckMode.AUTO)
    group_send(env, "x0", "X")  # a owns X
    group_send(env, "y0", "Y")  # b owns Y, X is evicted from the one-entry map
    group_send(env, "x1", "X")  # X has no owner any more: assigned afresh
    env.settle()
    assert a.bodies() == [b"x0", b"x1"] and b.bodies() == [b"y0"]
    assert a.first_of_group == [True, True], "x1 starts the group again: its owner was evicted"


# -- prefetch and priority ----------------------------------------------------------------------


def test_messages_are_fifo_without_prioritized_messages(env: CoreEnv) -> None:
    for priority in (1, 9, 4, 0, 7):
        env.send(f"p{priority}", priority=priority)
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.settle()
    assert client.bodies() == [b"p1", b"p9", b"p4", b"p0", b"p7"]  # ActiveMQ's default (probe)


def test_prioritized_messages_go_highest_first(loop: asyncio.AbstractEventLoop) -> None:
    env = with_policy(loop, PolicyEntry(prioritized_messages=True), pattern="prio.>")
    for priority in (1, 9, 4, 0, 7, 9):
        env.send(f"p{priority}", dest="/queue/prio.x", priority=priority)
        env.send(f"p{priority}", dest="/queue/other", priority=priority)
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/prio.x", AckMode.AUTO)
    env.broker.subscribe(client, "o", "/queue/other", AckMode.AUTO)
    env.settle()
    prio = [m.body for sub, m in client.received if sub == "s"]
    other = [m.body for sub, m in client.received if sub == "o"]
    assert prio == [b"p9", b"p9", b"p7", b"p4", b"p1", b"p0"]
    assert other == [b"p1", b"p9", b"p4", b"p0", b"p7", b"p9"], "the policy applies to prio.> only"


def test_redelivered_message_keeps_its_priority_place(loop: asyncio.AbstractEventLoop) -> None:
    env = with_policy(loop, PolicyEntry(prioritized_messages=True))
    first = FakeClient()
    sub = env.broker.subscribe(first, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL, prefetch=1)
    env.send("high", priority=8)
    env.settle()
    env.send("low", priority=1)
    env.send("mid", priority=5)
    env.broker.unsubscribe(sub)
    second = FakeClient()
    env.broker.subscribe(second, "s", "/queue/a", AckMode.AUTO)
    env.settle()
    assert second.bodies() == [b"high", b"mid", b"low"]


def test_higher_consumer_priority_is_served_first(env: CoreEnv) -> None:
    low, high = FakeClient(), FakeClient()
    env.broker.subscribe(low, "low", "/queue/a", AckMode.AUTO, priority=1)
    env.broker.subscribe(high, "high", "/queue/a", AckMode.CLIENT_INDIVIDUAL, prefetch=2, priority=9)
    for i in range(4):
        env.send(f"m{i}")
    env.settle()
    assert high.bodies() == [b"m0", b"m1"], "the high priority consumer fills its prefetch first"
    assert low.bodies() == [b"m2", b"m3"]


def test_round_robin_when_consumer_priority_is_off(loop: asyncio.AbstractEventLoop) -> None:
    env = with_policy(loop, PolicyEntry(use_consumer_priority=False))
    low, high = FakeClient(), FakeClient()
    env.broker.subscribe(low, "low", "/queue/a", AckMode.AUTO, priority=1)
    env.broker.subscribe(high, "high", "/queue/a", AckMode.AUTO, priority=9)
    for i in range(4):
        env.send(f"m{i}")
    env.settle()
    assert low.bodies() == [b"m0", b"m2"] and high.bodies() == [b"m1", b"m3"]


def test_policy_queue_prefetch_is_the_default_window(loop: asyncio.AbstractEventLoop) -> None:
    env = with_policy(loop, PolicyEntry(queue_prefetch=2))
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.CLIENT)
    for i in range(5):
        env.send(f"m{i}")
    env.settle()
    assert len(client.received) == 2


# -- selectors ----------------------------------------------------------------------------------


def test_queue_selectors_pick_messages_and_leave_the_rest(env: CoreEnv) -> None:
    reds, bigs = FakeClient(), FakeClient()
    env.broker.subscribe(reds, "r", "/queue/a", AckMode.AUTO, selector=parse("color = 'red'"))
    env.broker.subscribe(bigs, "b", "/queue/a", AckMode.AUTO, selector=parse("size > 10"))
    env.send("red-small", headers={"color": "red", "size": "1"})
    env.send("blue-big", headers={"color": "blue", "size": "50"})
    env.send("green-small", headers={"color": "green", "size": "2"})
    env.settle()
    assert reds.bodies() == [b"red-small"]
    assert bigs.bodies() == [b"blue-big"]
    assert env.broker.queue_depths() == {"/queue/a": 1}, "a message no selector takes stays on the queue"
    everyone = FakeClient()
    env.broker.subscribe(everyone, "e", "/queue/a", AckMode.AUTO)
    env.settle()
    assert everyone.bodies() == [b"green-small"]


def test_selector_sees_jms_headers(env: CoreEnv) -> None:
    client = FakeClient()
    env.broker.subscribe(
        client,
        "s",
        "/queue/a",
        AckMode.AUTO,
        selector=parse("JMSPriority > 5 AND JMSDeliveryMode = 'PERSISTENT' AND JMSType = 't'"),
    )
    env.send("hit", priority=7, headers={"type": "t"})
    env.send("low", priority=3, headers={"type": "t"})
    env.send("untyped", priority=9)
    env.send("non-persistent", persistent=False, priority=9, headers={"type": "t"})
    env.settle()
    assert client.bodies() == [b"hit"]


# -- browsing -----------------------------------------------------------------------------------


def test_browser_gets_a_snapshot_then_the_end_marker(env: CoreEnv) -> None:
    consumer = FakeClient()
    sub = env.broker.subscribe(consumer, "c", "/queue/a", AckMode.CLIENT_INDIVIDUAL, prefetch=1)
    for i in range(3):
        env.send(f"m{i}", headers={"n": str(i)})
    env.settle()
    browser = FakeClient()
    env.broker.subscribe(browser, "b", "/queue/a", AckMode.AUTO, browser=True)
    env.settle()
    assert browser.bodies() == [b"m0", b"m1", b"m2"], "unacknowledged and waiting messages, in order"
    assert browser.browse_ends == ["b"]
    env.send("later")
    env.settle()
    assert browser.bodies() == [b"m0", b"m1", b"m2"], "a browser sees nothing after its snapshot"
    assert env.broker.queue_depths() == {"/queue/a": 4}, "browsing consumes nothing"
    assert list(sub.inflight) == [consumer.received[0][1].message_id]


def test_browser_with_selector(env: CoreEnv) -> None:
    for color in ("red", "blue", "red"):
        env.send(color, headers={"color": color})
    browser = FakeClient()
    env.broker.subscribe(browser, "b", "/queue/a", AckMode.AUTO, browser=True, selector=parse("color = 'red'"))
    env.settle()
    assert browser.bodies() == [b"red", b"red"] and browser.browse_ends == ["b"]
