"""Subscriptions beyond a plain queue consumer: durable topic subscribers, browsers, temporary queues."""

import pytest

from harness.client.plain import bodies
from harness.topology import shared_file

pytestmark = pytest.mark.topology(shared_file(nodes=1))

DURABLE = {"activemq.subscriptionName": "news-feed"}


def test_a_durable_subscriber_gets_what_was_published_while_it_was_away(stomp):
    """client-id + activemq.subscriptionName name a subscription that outlives the connection."""
    reader = stomp.connect(headers={"client-id": "reader"})
    reader.subscribe("/topic/news", id="news", ack="client-individual", headers=DURABLE)
    casual = stomp.connect()
    casual.subscribe("/topic/news")
    publisher = stomp.connect()
    publisher.send("/topic/news", "while connected")
    reader.ack(reader.receive())
    reader.disconnect()
    publisher.send("/topic/news", "while away 1")
    publisher.send("/topic/news", "while away 2")
    back = stomp.connect(headers={"client-id": "reader"})
    back.subscribe("/topic/news", id="news", ack="client-individual", headers=DURABLE)
    assert bodies(back.drain()) == ["while away 1", "while away 2"], "the durable subscription lost messages"
    assert bodies(casual.drain()) == ["while connected", "while away 1", "while away 2"]


def test_an_unsubscribed_durable_subscription_keeps_nothing(stomp):
    """UNSUBSCRIBE by id only deactivates it; with activemq.subscriptionName it is removed."""
    reader = stomp.connect(headers={"client-id": "reader"})
    reader.subscribe("/topic/news", id="news", headers=DURABLE)
    reader.unsubscribe("news")
    reader.request("UNSUBSCRIBE", {"id": "news", **DURABLE})
    stomp.connect().send("/topic/news", "nobody is subscribed")
    reader.subscribe("/topic/news", id="news", headers=DURABLE)
    assert reader.no_message(1.0), "a removed durable subscription kept a message"


def test_a_queue_cannot_be_subscribed_durably(stomp):
    conn = stomp.connect(headers={"client-id": "reader"})
    reply = conn.exchange("SUBSCRIBE", {"destination": "/queue/news", "id": "s", **DURABLE})
    assert reply.command == "ERROR", f"a durable subscription to a queue was accepted: {reply}"


def test_a_browser_sees_the_queue_without_consuming_it(stomp):
    producer = stomp.connect()
    for i in range(3):
        producer.send("/queue/backlog", f"b{i}")
    browser = stomp.connect()
    browser.subscribe("/queue/backlog", headers={"browser": "true"})
    *seen, end = browser.messages(4)
    assert bodies(seen) == ["b0", "b1", "b2"], f"the browser saw {bodies(seen)}"
    assert end.headers.get("browser") == "end" and not end.body, f"no end-of-browse MESSAGE: {end}"
    consumer = stomp.connect()
    consumer.subscribe("/queue/backlog")
    left = consumer.drain()
    assert bodies(left) == ["b0", "b1", "b2"], "browsing consumed messages"
    assert not any("redelivered" in m.headers for m in left), "browsing must not count as a delivery"


def test_browsing_needs_stomp_1_1(stomp):
    conn = stomp.connect("1.0")
    reply = conn.exchange("SUBSCRIBE", {"destination": "/queue/backlog", "browser": "true"})
    assert reply.command == "ERROR", f"a STOMP 1.0 browser was accepted: {reply}"


def test_a_reply_to_a_temporary_queue_reaches_only_its_creator(stomp):
    requester, other, server = stomp.connect(name="requester"), stomp.connect(name="other"), stomp.connect()
    requester.subscribe("/temp-queue/replies")
    other.subscribe("/temp-queue/replies")  # the same name on another connection is another queue
    server.subscribe("/queue/requests", ack="client-individual")
    requester.send("/queue/requests", "ping", {"reply-to": "/temp-queue/replies"})
    request = server.receive()
    reply_to = request.headers.get("reply-to", "")
    assert reply_to and reply_to != "/temp-queue/replies", f"reply-to must name the requester's queue: {request}"
    server.send(reply_to, "pong", {"correlation-id": "c1"})
    server.ack(request)
    reply = requester.receive()
    assert reply.text == "pong" and reply.headers.get("correlation-id") == "c1", str(reply)
    assert other.no_message(1.0), "another connection's temporary queue got the reply"


def test_a_temporary_queue_ends_with_its_connection(stomp):
    requester, server = stomp.connect(), stomp.connect()
    requester.subscribe("/temp-queue/replies")
    server.subscribe("/queue/requests")
    requester.send("/queue/requests", "ping", {"reply-to": "/temp-queue/replies"})
    reply_to = server.receive().headers["reply-to"]
    requester.disconnect()
    late = stomp.connect().exchange("SEND", {"destination": reply_to}, "too late")
    assert late.command == "ERROR", f"a send to a deleted temporary queue was accepted: {late}"
