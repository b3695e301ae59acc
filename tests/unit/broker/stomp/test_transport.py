"""STOMP connection handling: negotiation, receipts after durability and fencing, errors, acks."""

from __future__ import annotations

import asyncio

import pytest

from harness.broker.stomp.frames import V1_0, V1_1, V1_2, Frame
from harness.broker.store.contract import Fenced

from ..stomp_fakes import Client, Env


@pytest.fixture
def env(loop: asyncio.AbstractEventLoop) -> Env:
    return Env(loop)


@pytest.mark.parametrize(("offered", "chosen"), [(None, V1_0), ("1.0", V1_0), ("1.0,1.1", V1_1), ("1.1,1.2,1.0", V1_2)])
def test_version_negotiation(env: Env, offered: str | None, chosen: str) -> None:
    client = env.connect(offered)
    [connected] = client.frames()
    assert connected.command == "CONNECTED"
    assert connected.headers["version"] == chosen
    assert connected.headers["server"] == "pybroker/0.1"
    assert connected.headers["session"].startswith("ID:t-5-")


def test_unsupported_version_is_refused(env: Env) -> None:
    client = env.connect("2.0")
    [error] = client.frames()
    assert error.command == "ERROR"
    assert error.headers["version"] == "1.0,1.1,1.2"
    assert error.headers["message"] == "Invalid Protocol version[2.0], supported versions are: [1.2, 1.1, 1.0]"
    assert client.transport.closed


def test_heart_beat_negotiation(env: Env) -> None:
    client = env.connect(V1_2, heart_beat="1000,2500")
    # The client sends every 1000 ms and wants ours every 2500 ms.
    assert client.frames()[0].headers["heart-beat"] == "2500,1000"


def test_silent_client_is_disconnected(env: Env) -> None:
    client = env.connect(V1_2, heart_beat="100,0")
    env.loop.run_until_complete(asyncio.sleep(0.4))
    assert client.transport.aborted


def test_server_heart_beats(env: Env) -> None:
    client = env.connect(V1_2, heart_beat="0,50")
    env.loop.run_until_complete(asyncio.sleep(0.3))
    after_connected = bytes(client.transport.data).split(b"\x00", 1)[1]
    assert after_connected and set(after_connected) == {ord("\n")}
    assert len(after_connected) >= 3


def test_frame_before_connect_is_an_error(env: Env) -> None:
    client = Client(env, V1_2)
    client.send(Frame("SEND", {"destination": "/queue/a", "receipt": "r1"}))
    [error] = client.frames()
    assert error.command == "ERROR"
    assert (error.headers["message"], error.headers["receipt-id"]) == ("Not connected.", "r1")
    assert not client.transport.closed, "like ActiveMQ: the client may still CONNECT"
    client.send(Frame("CONNECT", {"accept-version": "1.2"}))
    assert client.commands() == ["ERROR", "CONNECTED"]


def test_refused_request_gets_an_error_with_its_receipt_and_the_connection_stays(env: Env) -> None:
    client = env.connect()
    client.send(Frame("SEND", {"receipt": "r9"}))
    client.send(Frame("SEND", {"destination": "/queue/a", "receipt": "after"}))
    frames = client.frames()
    assert [f.command for f in frames] == ["CONNECTED", "ERROR", "RECEIPT"]
    assert frames[1].headers["receipt-id"] == "r9"
    assert frames[1].headers["message"] == "SEND received without a Destination specified!"
    assert frames[2].headers["receipt-id"] == "after"
    assert not client.transport.closed


def test_malformed_frame_is_an_error(env: Env) -> None:
    client = env.connect()
    client.raw(b"SEND\nbroken-header\n\n\x00")
    assert client.commands() == ["CONNECTED", "ERROR"]
    assert client.transport.closed


def test_receipt_for_persistent_send_waits_for_the_journal(loop: asyncio.AbstractEventLoop) -> None:
    env = Env(loop, auto_resolve=False)
    client = env.connect()
    client.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true", "receipt": "p1"}, b"x"))
    client.send(Frame("SEND", {"destination": "/queue/a", "receipt": "n1"}, b"y"))  # non-persistent
    assert client.commands() == ["CONNECTED"]  # n1 must not overtake p1
    env.store.resolve()
    env.settle()
    assert [f.headers.get("receipt-id") for f in client.frames()[1:]] == ["p1", "n1"]


def test_no_receipt_when_the_journal_reports_fencing(loop: asyncio.AbstractEventLoop) -> None:
    env = Env(loop, auto_resolve=False)
    client = env.connect()
    client.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true", "receipt": "p1"}, b"x"))
    env.store.resolve(Fenced("deposed"))
    env.settle()
    assert client.commands() == ["CONNECTED"]


def test_fenced_master_sends_no_receipt(env: Env) -> None:
    client = env.connect()
    env.epoch = 6  # another node became master
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s", "receipt": "r"}))
    assert client.commands() == ["CONNECTED"]
    assert env.deposed and "moved to 6" in env.deposed[0]


def test_fenced_master_refuses_connect(env: Env) -> None:
    env.epoch = 6
    client = env.connect()
    assert client.transport.data == b""
    assert client.transport.aborted


def test_fenced_master_dispatches_nothing(env: Env) -> None:
    consumer = env.connect()
    consumer.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s"}))
    env.epoch = 6
    producer = env.connect()  # refused: deposed
    assert producer.transport.aborted
    env.call(env.broker.send, "/queue/a", {}, b"late", False)
    assert consumer.commands() == ["CONNECTED"]


def test_message_headers_and_1_2_ack(env: Env) -> None:
    client = env.connect(V1_2)
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s1", "ack": "client-individual"}))
    client.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true", "color": "a:b"}, b"body"))
    message = client.frames()[1]
    assert message.command == "MESSAGE"
    assert message.headers["message-id"] == "ID:t-5-1"
    assert message.headers["destination"] == "/queue/a"
    assert message.headers["subscription"] == "s1"
    assert message.headers["persistent"] == "true"
    assert message.headers["color"] == "a:b"
    assert message.headers["content-length"] == "4"
    assert "redelivered" not in message.headers
    assert message.body == b"body"
    assert b"message-id:ID\\ct-5-1" in client.transport.data  # escaped on the wire in 1.2
    client.send(Frame("ACK", {"id": message.headers["ack"], "receipt": "a1"}))
    assert client.frames()[-1].headers == {"receipt-id": "a1"}
    assert env.broker.queue_depths() == {"/queue/a": 0}


def test_1_1_ack_by_message_id_and_subscription(env: Env) -> None:
    client = env.connect(V1_1)
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s1", "ack": "client"}))
    client.send(Frame("SEND", {"destination": "/queue/a"}, b"x"))
    message = client.frames()[1]
    assert "ack" not in message.headers
    client.send(Frame("ACK", {"message-id": message.headers["message-id"], "subscription": "s1", "receipt": "a"}))
    assert client.commands()[-1] == "RECEIPT"


def test_1_0_ack_by_message_id_without_escaping(env: Env) -> None:
    client = env.connect(None)
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "ack": "client"}))
    client.send(Frame("SEND", {"destination": "/queue/a"}, b"x"))
    assert b"message-id:ID:t-5-1\n" in client.transport.data
    message = client.frames()[1]
    client.send(Frame("ACK", {"message-id": message.headers["message-id"], "receipt": "a"}))
    assert client.commands()[-1] == "RECEIPT"


def test_unexpected_ack_is_an_error(env: Env) -> None:
    client = env.connect()
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s1", "ack": "client"}))
    client.send(Frame("ACK", {"id": "1:ID:nope", "receipt": "a"}))
    error = client.frames()[-1]
    assert error.command == "ERROR"
    assert error.headers["message"] == "Unexpected ACK received for message-id [1:ID:nope]"


def test_disconnect_redelivers_unacked_to_other_consumer(env: Env) -> None:
    first = env.connect()
    first.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s", "ack": "client-individual"}))
    first.send(Frame("SEND", {"destination": "/queue/a"}, b"x"))
    first.send(Frame("DISCONNECT", {"receipt": "bye"}))
    assert first.commands() == ["CONNECTED", "MESSAGE", "RECEIPT"]
    assert first.transport.closed
    second = env.connect()
    second.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s"}))
    message = second.frames()[1]
    assert message.headers["redelivered"] == "true"


def test_transaction_commit_and_abort(env: Env) -> None:
    client = env.connect()
    client.send(Frame("BEGIN", {"transaction": "t1"}))
    client.send(Frame("SEND", {"destination": "/queue/a", "transaction": "t1", "persistent": "true"}, b"x"))
    client.send(Frame("COMMIT", {"transaction": "t1", "receipt": "c"}))
    client.send(Frame("BEGIN", {"transaction": "t2"}))
    client.send(Frame("SEND", {"destination": "/queue/a", "transaction": "t2"}, b"y"))
    client.send(Frame("ABORT", {"transaction": "t2", "receipt": "ab"}))
    assert [f.headers.get("receipt-id") for f in client.frames()[1:]] == ["c", "ab"]
    assert env.broker.queue_depths() == {"/queue/a": 1}
    client.send(Frame("COMMIT", {"transaction": "t2"}))
    assert client.frames()[-1].headers["message"] == "Invalid transaction id: t2"


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("activemq.retroactive", "true", "SUBSCRIBE header activemq.retroactive is not supported by pybroker"),
        ("activemq.maximumPendingMessageLimit", "10", "activemq.maximumPendingMessageLimit is not supported"),
        ("durable-subscription-name", "d", "use activemq.subscriptionName (ActiveMQ Classic's header)"),
        ("transformation", "jms-json", "SUBSCRIBE header transformation is not supported by pybroker"),
        ("activemq.prefetchSize", "0", "must be >= 1 (STOMP consumers cannot pull)"),
        ("activemq.prefetchSize", "many", "Invalid activemq.prefetchSize 'many': not an integer"),
        ("activemq.priority", "200", "Invalid activemq.priority '200': must be 0..127"),
        ("ack", "sometimes", "Unsupported ack mode 'sometimes': use auto, client or client-individual"),
        ("selector", "a = ", "Invalid selector [a = ]: expected a value, a header name or '(' at column 5"),
        ("selector", "XPATH '//x'", "XPATH selectors (column 1) are not supported by pybroker"),
    ],
)
def test_unsupported_or_bad_subscribe_headers_are_refused(env: Env, header: str, value: str, message: str) -> None:
    client = env.connect()
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s", header: value, "receipt": "r"}))
    error = client.last()
    assert error.command == "ERROR" and error.headers["receipt-id"] == "r"
    assert message in error.headers["message"]
    assert not client.transport.closed
    assert env.broker.queues.get("/queue/a") is None or not env.broker.queues["/queue/a"].consumers


def test_nack_sends_to_dlq(env: Env) -> None:
    client = env.connect()
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/a", "id": "s", "ack": "client-individual"}))
    client.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true"}, b"x"))
    message = client.frames()[1]
    client.send(Frame("NACK", {"id": message.headers["ack"], "receipt": "n"}))
    assert client.commands()[-1] == "RECEIPT"
    assert env.broker.queue_depths() == {"/queue/a": 0, "/queue/ActiveMQ.DLQ": 1}
