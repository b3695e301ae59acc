"""ActiveMQ's ordering tools on a queue: exclusive consumers and message groups; also prefetch and priority."""

import pytest

from harness.client.plain import bodies
from harness.topology import BrokerSettings, DestinationPolicy, shared_file

pytestmark = pytest.mark.topology(shared_file(nodes=1))

PRIORITIZED = shared_file(nodes=1, broker=BrokerSettings(policies=(DestinationPolicy(prioritized_messages=True),)))
EXCLUSIVE = {"activemq.exclusive": "true"}


def test_an_exclusive_consumer_gets_everything_until_it_leaves(stomp):
    first, second = stomp.connect(name="first"), stomp.connect(name="second")
    first.subscribe("/queue/ledger", ack="client-individual", headers=EXCLUSIVE)
    second.subscribe("/queue/ledger", ack="client-individual", headers=EXCLUSIVE)
    producer = stomp.connect()
    for i in range(6):
        producer.send("/queue/ledger", f"e{i}")
    got = first.messages(6)
    assert second.no_message(1.0), "a second exclusive consumer received while the first was there"
    for message in got[:3]:
        first.ack(message)
    first.disconnect()
    taken_over = second.drain()
    assert bodies(taken_over) == ["e3", "e4", "e5"], f"the next exclusive consumer got {bodies(taken_over)}"
    assert all(m.headers.get("redelivered") == "true" for m in taken_over), [str(m) for m in taken_over]


def test_a_message_group_stays_with_one_consumer_in_order(stomp):
    consumers = [stomp.connect(name="a"), stomp.connect(name="b")]
    for consumer in consumers:
        consumer.subscribe("/queue/accounts", ack="client-individual")
    producer = stomp.connect()
    for i in range(12):
        group = f"account-{i % 3}"
        producer.send("/queue/accounts", f"{group}:{i}", {"JMSXGroupID": group})
    seen = {c.name: bodies(c.drain()) for c in consumers}
    for group in ("account-0", "account-1", "account-2"):
        holders = [name for name, got in seen.items() if any(b.startswith(group) for b in got)]
        assert len(holders) == 1, f"group {group} was split across consumers {holders}: {seen}"
        in_order = [b for b in seen[holders[0]] if b.startswith(group)]
        assert in_order == [f"{group}:{i}" for i in range(12) if i % 3 == int(group[-1])], in_order


def test_a_group_moves_to_another_consumer_when_its_owner_leaves(stomp):
    owner, standby = stomp.connect(name="owner"), stomp.connect(name="standby")
    owner.subscribe("/queue/accounts", ack="client-individual")
    producer = stomp.connect()
    producer.send("/queue/accounts", "g:1", {"JMSXGroupID": "g"})
    owner.ack(owner.receive())
    standby.subscribe("/queue/accounts", ack="client-individual")
    for i in (2, 3):
        producer.send("/queue/accounts", f"g:{i}", {"JMSXGroupID": "g"})
    assert bodies(owner.messages(2)) == ["g:2", "g:3"] and standby.no_message(1.0), "the group left its owner"
    owner.disconnect()  # g:2 and g:3 were not acked
    producer.send("/queue/accounts", "g:4", {"JMSXGroupID": "g"})
    assert bodies(standby.messages(3)) == ["g:2", "g:3", "g:4"], "the new owner must get the group in order"


def test_a_negative_group_sequence_closes_the_group(stomp):
    """JMSXGroupSeq -1 ends the group: its next message may go to any consumer, here the one with room."""
    first, second = stomp.connect(name="first"), stomp.connect(name="second")
    first.subscribe("/queue/sessions", ack="client-individual", headers={"activemq.prefetchSize": "1"})
    producer = stomp.connect()
    producer.send("/queue/sessions", "open", {"JMSXGroupID": "s"})
    first.ack(first.receive())
    second.subscribe("/queue/sessions", ack="client-individual", headers={"activemq.prefetchSize": "1"})
    producer.send("/queue/sessions", "close", {"JMSXGroupID": "s", "JMSXGroupSeq": "-1"})
    assert first.receive().text == "close", "the closing message must still go to the group's owner"
    producer.send("/queue/sessions", "reopen", {"JMSXGroupID": "s"})  # first is full (prefetch 1, unacked)
    assert second.receive(5).text == "reopen", "after the group closed, its next message waited for the old owner"


@pytest.mark.differs_on_purpose(
    vendor="pybroker",
    reason="pybroker tells a STOMP consumer JMSXGroupFirstForConsumer:true; ActiveMQ 5.17 sets it on the message "
    "but its STOMP translator copies only properties into MESSAGE frames, so a STOMP client never sees it",
)
def test_a_new_owner_is_told_the_group_is_first_for_it(stomp, differs):
    """The first message of a group a consumer gets (at first, and after a takeover) is marked as such."""
    owner, standby = stomp.connect(name="owner"), stomp.connect(name="standby")
    owner.subscribe("/queue/accounts", ack="client-individual")
    producer = stomp.connect()
    for i in (1, 2):
        producer.send("/queue/accounts", f"g:{i}", {"JMSXGroupID": "g"})
    first_two = owner.messages(2)
    standby.subscribe("/queue/accounts", ack="client-individual")
    owner.disconnect()
    moved = standby.messages(2)
    flags = [m.headers.get("JMSXGroupFirstForConsumer") == "true" for m in [*first_two, *moved]]
    expected = [True, False, True, False] if differs else [False] * 4
    assert flags == expected, f"JMSXGroupFirstForConsumer on g:1, g:2, then g:1, g:2 at the new owner: {flags}"


def test_prefetch_limits_unacknowledged_deliveries(stomp):
    producer = stomp.connect()
    for i in range(5):
        producer.send("/queue/jobs", f"p{i}")
    slow = stomp.connect()
    slow.subscribe("/queue/jobs", ack="client-individual", headers={"activemq.prefetchSize": "2"})
    held = slow.drain()
    assert bodies(held) == ["p0", "p1"], f"prefetch 2 delivered {bodies(held)}"
    slow.ack(held[0])
    assert bodies(slow.drain()) == ["p2"], "one ack must make room for exactly one more"
    other = stomp.connect()
    other.subscribe("/queue/jobs", ack="client-individual")
    assert bodies(other.drain()) == ["p3", "p4"]


@pytest.mark.topology(PRIORITIZED)
def test_higher_priority_messages_are_delivered_first(stomp):
    producer = stomp.connect()
    for name, priority in [("low", 1), ("mid", 5), ("urgent", 9), ("normal", 4), ("lowest", 0), ("urgent-2", 9)]:
        producer.send("/queue/alerts", name, {"priority": str(priority)})
    consumer = stomp.connect()
    consumer.subscribe("/queue/alerts")
    order = bodies(consumer.drain())
    assert order == ["urgent", "urgent-2", "mid", "normal", "low", "lowest"], order
