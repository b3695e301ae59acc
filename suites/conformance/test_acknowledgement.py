"""Acknowledgement, redelivery and dead letters, as ActiveMQ does them for STOMP clients."""

import time

import pytest

from harness.client.plain import bodies
from harness.topology import BrokerSettings, DeadLetterQueues, DestinationPolicy, RedeliveryLimit, shared_file

pytestmark = pytest.mark.topology(shared_file(nodes=1))

REDELIVERY_LIMIT = shared_file(
    nodes=1,
    broker=BrokerSettings(
        redelivery=RedeliveryLimit(maximum_redeliveries=2),
        policies=(DestinationPolicy(queue=">", dead_letter=DeadLetterQueues(queue_prefix="DLQ.")),),
    ),
)
PROMPT_EXPIRY = shared_file(
    nodes=1, broker=BrokerSettings(policies=(DestinationPolicy(expire_messages_period_ms=500),))
)


def test_client_ack_is_cumulative(stomp):
    """ack:client acknowledges the message named and every earlier one of the subscription."""
    producer = stomp.connect()
    for i in range(4):
        producer.send("/queue/orders", f"m{i}")
    consumer = stomp.connect()
    consumer.subscribe("/queue/orders", ack="client")
    received = consumer.messages(4)
    consumer.ack(received[1])
    consumer.disconnect()
    later = stomp.connect()
    later.subscribe("/queue/orders")
    left = later.drain()
    assert bodies(left) == ["m2", "m3"], f"after acking m1 cumulatively, expected m2 and m3 back, got {bodies(left)}"


def test_client_individual_ack_acknowledges_only_that_message(stomp):
    producer = stomp.connect()
    for i in range(4):
        producer.send("/queue/orders", f"m{i}")
    consumer = stomp.connect()
    consumer.subscribe("/queue/orders", ack="client-individual")
    received = consumer.messages(4)
    consumer.ack(received[1])
    consumer.ack(received[3])
    consumer.disconnect()
    later = stomp.connect()
    later.subscribe("/queue/orders")
    assert bodies(later.drain()) == ["m0", "m2"], "only the unacked m0 and m2 may come back"


def test_an_unacked_message_is_redelivered_with_redelivered_true(stomp):
    stomp.connect().send("/queue/work", "job")
    first = stomp.connect()
    first.subscribe("/queue/work", ack="client-individual")
    assert "redelivered" not in first.receive().headers, "a first delivery must not say redelivered"
    first.reset()  # the consumer crashes without acking
    second = stomp.connect()
    second.subscribe("/queue/work", ack="client-individual")
    again = second.receive()
    assert again.text == "job" and again.headers.get("redelivered") == "true", str(again)


def test_nack_moves_a_persistent_message_to_activemq_dlq(stomp):
    """NACK goes straight to ActiveMQ.DLQ; a non-persistent message is discarded instead."""
    producer = stomp.connect()
    producer.send("/queue/payments", "poison")
    producer.send("/queue/payments", "volatile", persistent=False)
    consumer = stomp.connect()
    consumer.subscribe("/queue/payments", ack="client-individual")
    for message in consumer.messages(2):
        consumer.nack(message)
    assert consumer.no_message(1.0), "a NACKed message was delivered again"
    dlq = stomp.connect()
    dlq.subscribe("/queue/ActiveMQ.DLQ")
    dead = dlq.drain()
    assert bodies(dead) == ["poison"], f"ActiveMQ.DLQ holds {bodies(dead)}"
    assert dead[0].headers.get("original-destination") == "/queue/payments", str(dead[0])


def test_transacted_sends_appear_on_commit_and_vanish_on_abort(stomp):
    producer, consumer = stomp.connect(), stomp.connect()
    consumer.subscribe("/queue/ledger")
    producer.begin("tx1")
    producer.send("/queue/ledger", "debit", transaction="tx1")
    producer.send("/queue/ledger", "credit", transaction="tx1")
    assert consumer.no_message(1.0), "a transacted send was visible before COMMIT"
    producer.commit("tx1")
    assert bodies(consumer.messages(2)) == ["debit", "credit"]
    producer.begin("tx2")
    producer.send("/queue/ledger", "rolled back", transaction="tx2")
    producer.abort("tx2")
    assert consumer.no_message(1.0), "an aborted send was delivered"


def test_aborted_acks_leave_the_messages_to_be_redelivered(stomp):
    producer = stomp.connect()
    producer.send("/queue/ledger", "k1")
    producer.send("/queue/ledger", "k2")
    consumer = stomp.connect()
    consumer.subscribe("/queue/ledger", ack="client-individual")
    received = consumer.messages(2)
    consumer.begin("acks")
    for message in received:
        consumer.ack(message, transaction="acks")
    consumer.abort("acks")
    consumer.disconnect()
    later = stomp.connect()
    later.subscribe("/queue/ledger", ack="client-individual")
    again = later.drain()
    assert bodies(again) == ["k1", "k2"], f"aborted acks: expected k1 and k2 back, got {bodies(again)}"
    assert all(m.headers.get("redelivered") == "true" for m in again), [str(m) for m in again]


def test_committed_acks_remove_the_messages(stomp):
    stomp.connect().send("/queue/ledger", "k1")
    consumer = stomp.connect()
    consumer.subscribe("/queue/ledger", ack="client-individual")
    consumer.begin("acks")
    consumer.ack(consumer.receive(), transaction="acks")
    consumer.commit("acks")
    consumer.disconnect()
    later = stomp.connect()
    later.subscribe("/queue/ledger")
    assert later.no_message(1.0), "a message acked in a committed transaction came back"


@pytest.mark.topology(REDELIVERY_LIMIT)
def test_a_redelivery_limit_dead_letters_the_message(stomp):
    """redeliveryPlugin maximumRedeliveries=2 and DLQ.<queue>: three deliveries, then the dead-letter queue."""
    stomp.connect().send("/queue/invoices", "poison")
    consumer = stomp.connect()
    consumer.subscribe("/queue/invoices", ack="client-individual")
    deliveries = []
    while not consumer.no_message(5.0):
        deliveries.append(consumer.receive())
        consumer.nack(deliveries[-1])
    flags = [m.headers.get("redelivered") for m in deliveries]
    assert flags == [None, "true", "true"], f"expected one delivery and two redeliveries, saw {flags}"
    dlq = stomp.connect()
    dlq.subscribe("/queue/DLQ.invoices")
    assert bodies(dlq.drain()) == ["poison"], "the message did not reach DLQ.invoices"


@pytest.mark.topology(PROMPT_EXPIRY)
def test_an_expired_message_goes_to_the_dead_letter_queue(stomp):
    """A persistent message past its expires time moves to ActiveMQ.DLQ without any consumer on its queue."""
    producer = stomp.connect()
    now_ms = int(time.time() * 1000)
    producer.send("/queue/quotes", "stale", {"expires": str(now_ms + 300)})
    producer.send("/queue/quotes", "fresh", {"expires": str(now_ms + 600_000)})
    time.sleep(2.0)
    dlq = stomp.connect()
    dlq.subscribe("/queue/ActiveMQ.DLQ")
    dead = dlq.drain()
    assert bodies(dead) == ["stale"], f"ActiveMQ.DLQ holds {bodies(dead)}"
    consumer = stomp.connect()
    consumer.subscribe("/queue/quotes")
    assert bodies(consumer.drain()) == ["fresh"]
