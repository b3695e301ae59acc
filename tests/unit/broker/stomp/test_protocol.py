"""STOMP as ActiveMQ speaks it, through the connection handler: CONNECT options, errors (fatal or not),
authentication, ack rules per version, transactions, durable subscriptions, browsers, temporary
queues, message headers, redelivery and bad input. Texts marked (ActiveMQ) are ActiveMQ 5.17.2's."""

from __future__ import annotations

import asyncio
import re

import pytest

from harness.broker.core.auth import Authenticator, User
from harness.broker.core.broker import CoreSettings
from harness.broker.core.policy import (
    DestinationKind,
    DestinationPattern,
    PatternMap,
    RedeliveryPolicy,
    RedeliverySettings,
)
from harness.broker.stomp.frames import V1_0, V1_1, V1_2, Frame
from harness.broker.stomp.transport import MAX_CONNECTIONS_MESSAGE
from harness.broker.store.contract import AddOp, SubscribeOp

from ..stomp_fakes import Client, Env


@pytest.fixture
def env(loop: asyncio.AbstractEventLoop) -> Env:
    return Env(loop)


def error_of(client: Client) -> Frame:
    frame = client.last()
    assert frame.command == "ERROR", f"expected an ERROR, got {frame}"
    return frame


# -- CONNECT ------------------------------------------------------------------------------------


def test_connect_receipt_and_heart_beat_header(env: Env) -> None:
    client = env.connect(V1_0, receipt="c1")
    [connected] = client.frames()
    assert connected.headers["receipt-id"] == connected.headers["response-id"] == "c1"
    assert connected.headers["heart-beat"] == "0,0"  # ActiveMQ sends it whatever the version


def test_client_id_is_the_session_and_must_be_unique(env: Env) -> None:
    first = env.connect(client_id="app-1")
    assert first.frames()[0].headers["session"] == "app-1"
    second = env.connect(client_id="app-1")
    error = error_of(second)
    assert error.headers["message"] == "Broker: t - Client: app-1 already connected from tcp://127.0.0.1:5555"
    assert second.transport.closed and not first.transport.closed
    first.send(Frame("DISCONNECT", {}))
    third = env.connect(client_id="app-1")
    assert third.commands() == ["CONNECTED"], "the id is free again once its connection is gone"


def test_already_connected_is_not_fatal(env: Env) -> None:
    client = env.connect()
    client.send(Frame("CONNECT", {"accept-version": "1.2", "receipt": "again"}))
    assert error_of(client).headers["message"] == "Already connected."
    assert not client.transport.closed


def test_invalid_heart_beat_is_fatal(env: Env) -> None:
    client = env.connect(heart_beat="abc")
    assert "Invalid heart-beat header: 'abc'" in error_of(client).headers["message"]
    assert client.transport.closed


def test_silent_client_gets_an_error_and_is_dropped(env: Env) -> None:
    client = env.connect(heart_beat="100,0")
    env.loop.run_until_complete(asyncio.sleep(0.4))
    assert "Channel was inactive for too (>150) long" in error_of(client).headers["message"]
    assert client.transport.aborted


# -- authentication -----------------------------------------------------------------------------


@pytest.fixture
def secured(loop: asyncio.AbstractEventLoop) -> Env:
    return Env(loop, authentication=Authenticator((User("admin", "secret", ("admins",)),)))


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        ({"login": "admin", "passcode": "nope"}, "User name [admin] or password is invalid."),
        ({}, "User name [null] or password is invalid."),
        ({"login": "eve", "passcode": "secret"}, "User name [eve] or password is invalid."),
    ],
)
def test_bad_credentials_are_refused_with_activemqs_text(secured: Env, login: dict[str, str], expected: str) -> None:
    client = secured.connect(**login)
    [error] = client.frames()
    assert error.command == "ERROR" and error.headers["message"] == expected
    assert client.transport.closed


def test_good_credentials_connect(secured: Env) -> None:
    assert secured.connect(login="admin", passcode="secret").commands() == ["CONNECTED"]


def test_maximum_connections_refusal_is_an_error_frame(env: Env) -> None:
    client = Client(env, V1_0, admit=lambda conn: False)
    assert error_of(client).headers["message"] == MAX_CONNECTIONS_MESSAGE
    assert client.transport.closed


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"FOO\nreceipt:r\n\n\x00", "Unknown STOMP action: FOO"),
        (b"SEND\ndestination:/queue/a\nbroken\n\nx\x00", "Unable to parse header line [broken]"),
        (b"SEND\ndestination:/queue/a\ncontent-length:abc\n\nx\x00", "Specified content-length is not a valid integer"),
        (b"SEND\ndestination:/queue/a\ncontent-length:1\n\nxy\x00", "there was no trailing null byte"),
        (b"SEND\ndestination:/queue/a\nk:bad\\qescape\n\nx\x00", "undefined escape sequence '\\\\q'"),
        (b"SEND\ndestination:/queue/a\npriority:high\n\nx\x00", "Invalid priority header 'high': not an integer"),
        (b"SEND\ndestination:/queue/a\npriority:12\n\nx\x00", "Invalid priority header '12': must be 0..9"),
        (b"SEND\ndestination:/queue/a\nexpires:soon\n\nx\x00", "Invalid expires header 'soon'"),
        (b"SEND\ndestination:/queue/a\nJMSXGroupSeq:x\n\nx\x00", "Invalid JMSXGroupSeq header 'x'"),
        (b"SEND\ndestination:/queue/a\n\n" + b"x" * 300 + b"\x00", "The maximum frame size was exceeded"),
    ],
)
def test_broken_input_gets_an_error_and_closes_only_that_connection(env: Env, data: bytes, message: str) -> None:
    bystander = env.connect()
    bystander.subscribe("/queue/a", ack="auto")
    client = Client(env, V1_2, max_frame_size=200)
    client.send(Frame("CONNECT", {"accept-version": "1.2"}))
    client.raw(data)
    assert message in error_of(client).headers["message"]
    assert client.transport.closed
    producer = env.connect()
    producer.send(Frame("SEND", {"destination": "/queue/a", "receipt": "ok"}, b"still served"))
    assert producer.commands() == ["CONNECTED", "RECEIPT"]
    assert [m.body for m in bystander.messages()] == [b"still served"]


def test_half_a_frame_then_silence_is_closed_after_the_stall_timeout(env: Env) -> None:
    client = Client(env, V1_2, stall_timeout=0.1)
    client.send(Frame("CONNECT", {"accept-version": "1.2"}))
    client.raw(b"SEND\ndestination:/queue/a\n")
    env.loop.run_until_complete(asyncio.sleep(0.3))
    message = error_of(client).headers["message"]
    assert re.match(r"Incomplete frame: no data for \d+\.\d s in the middle of a frame", message), message
    assert client.transport.closed


def test_heart_beats_alone_are_not_a_stall(env: Env) -> None:
    client = Client(env, V1_2, stall_timeout=0.1)
    client.send(Frame("CONNECT", {"accept-version": "1.2"}))
    client.raw(b"\n")
    env.loop.run_until_complete(asyncio.sleep(0.3))
    assert client.commands() == ["CONNECTED"] and not client.transport.closed


def test_abrupt_disconnect_mid_frame_loses_nothing_persisted(env: Env) -> None:
    consumer = env.connect()
    consumer.subscribe("/queue/a")
    producer = env.connect()
    producer.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true", "receipt": "p"}, b"kept"))
    consumer.raw(b"ACK\nid:")  # half an ACK, then the socket dies
    env.call(consumer.conn.connection_lost, ConnectionResetError())
    assert env.broker.queue_depths() == {"/queue/a": 1}
    again = env.connect()
    again.subscribe("/queue/a")
    [message] = again.messages()
    assert message.body == b"kept" and message.headers["redelivered"] == "true"


def test_pipelined_connect_and_send_use_the_negotiated_escaping(env: Env) -> None:
    client = Client(env, V1_2)
    client.raw(b"CONNECT\naccept-version:1.2\n\n\x00SEND\ndestination:/queue/a\nk:a\\cb\nreceipt:r\n\nx\x00")
    assert client.commands() == ["CONNECTED", "RECEIPT"]
    consumer = env.connect()
    consumer.subscribe("/queue/a", ack="auto")
    assert consumer.messages()[0].headers["k"] == "a:b"


def test_repeated_header_first_wins(env: Env) -> None:
    client = env.connect()
    client.raw(b"SEND\ndestination:/queue/a\nfoo:first\nfoo:second\n\nx\x00")
    client.subscribe("/queue/a", ack="auto")
    assert client.messages()[0].headers["foo"] == "first"


# -- MESSAGE headers ----------------------------------------------------------------------------


def test_message_carries_activemqs_standard_headers(env: Env) -> None:
    client = env.connect()
    client.send(
        Frame(
            "SEND",
            {"destination": "/queue/a", "persistent": "true", "priority": "7", "type": "order", "correlation-id": "c"},
            b"x",
        )
    )
    client.subscribe("/queue/a", ack="auto")
    headers = client.messages()[0].headers
    assert (headers["priority"], headers["expires"], headers["timestamp"]) == ("7", "0", str(env.clock.ms()))
    assert (headers["type"], headers["correlation-id"], headers["persistent"]) == ("order", "c", "true")
    assert "transaction" not in headers and "receipt" not in headers


def test_binary_body_with_nul_bytes_round_trips(env: Env) -> None:
    body = bytes(range(256)) * 3
    client = env.connect()
    client.send(Frame("SEND", {"destination": "/queue/a"}, body))
    client.subscribe("/queue/a", ack="auto")
    [message] = client.messages()
    assert message.body == body and message.headers["content-length"] == str(len(body))


def test_group_headers_pass_through_and_the_first_is_marked(env: Env) -> None:
    client = env.connect()
    client.subscribe("/queue/g", ack="auto")
    for _ in range(2):
        client.send(Frame("SEND", {"destination": "/queue/g", "JMSXGroupID": "G"}, b"x"))
    first, second = client.messages()
    assert first.headers["JMSXGroupID"] == "G" and first.headers["JMSXGroupFirstForConsumer"] == "true"
    assert "JMSXGroupFirstForConsumer" not in second.headers


def test_selector_on_subscribe(env: Env) -> None:
    client = env.connect()
    client.subscribe("/queue/a", ack="auto", selector="n > 5 AND color IN ('red', 'blue')")
    for n, color in ((7, "red"), (3, "red"), (9, "green"), (6, "blue")):
        client.send(Frame("SEND", {"destination": "/queue/a", "n": str(n), "color": color}, f"{n}{color}".encode()))
    assert [m.body for m in client.messages()] == [b"7red", b"6blue"]


# -- acknowledgements ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "ack_headers", "message"),
    [
        (V1_2, {}, "ACK received without a ack id for acknowledge!"),
        (V1_1, {"message-id": "m"}, "ACK received without a subscription id for acknowledge!"),
        (V1_1, {"subscription": "s"}, "ACK received without a message-id to acknowledge!"),
        (V1_0, {}, "ACK received without a message-id to acknowledge!"),
        (V1_1, {"message-id": "m", "subscription": "s"}, "Unexpected ACK received for message-id [m]"),
    ],
)
def test_ack_headers_per_version(env: Env, version: str, ack_headers: dict[str, str], message: str) -> None:
    client = env.connect(version)
    client.send(Frame("ACK", {**ack_headers, "receipt": "a"}))
    error = error_of(client)
    assert error.headers["message"] == message and error.headers["receipt-id"] == "a"
    assert not client.transport.closed


def test_nack_is_not_stomp_1_0(env: Env) -> None:
    client = env.connect(None)
    client.send(Frame("NACK", {"message-id": "x"}))
    assert error_of(client).headers["message"] == "NACK received but connection is in v1.0 mode."


def test_client_ack_is_cumulative(env: Env) -> None:
    client = env.connect()
    client.subscribe("/queue/a", ack="client")
    for i in range(3):
        client.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true"}, f"m{i}".encode()))
    client.ack(client.messages()[1], receipt="a")
    assert client.last().command == "RECEIPT"
    client.send(Frame("DISCONNECT", {}))
    again = env.connect()
    again.subscribe("/queue/a", ack="auto")
    assert [m.body for m in again.messages()] == [b"m2"]


def test_abort_makes_an_ack_id_valid_again(env: Env) -> None:
    client = env.connect()
    client.subscribe("/queue/a")
    client.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true"}, b"x"))
    [message] = client.messages()
    client.send(Frame("BEGIN", {"transaction": "t"}))
    client.ack(message, transaction="t")
    client.send(Frame("ABORT", {"transaction": "t", "receipt": "ab"}))
    client.ack(message, receipt="again")
    assert [f.headers.get("receipt-id") for f in client.frames() if f.command == "RECEIPT"] == ["ab", "again"]
    assert len(client.messages()) == 1, "ActiveMQ does not redeliver on ABORT"
    assert env.broker.queue_depths() == {"/queue/a": 0}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Frame("BEGIN", {}), "Must specify the transaction you are beginning"),
        (Frame("COMMIT", {}), "Must specify the transaction you are committing"),
        (Frame("ABORT", {"transaction": "nope"}), "Invalid transaction id: nope"),
        (Frame("SEND", {"destination": "/queue/a", "transaction": "nope"}), "Invalid transaction id: nope"),
        (Frame("UNSUBSCRIBE", {"id": "zz"}), "No subscription matched."),
        (Frame("UNSUBSCRIBE", {}), "UNSUBSCRIBE received without a subscription id!"),
        (Frame("SUBSCRIBE", {"destination": "/queue/a"}), "SUBSCRIBE received without a subscription id!"),
        (Frame("SUBSCRIBE", {"id": "1"}), "Invalid empty or 'null' Destination header"),
        (Frame("SEND", {"destination": "/exchange/x"}), "Unsupported destination '/exchange/x'"),
    ],
)
def test_refused_requests_keep_the_connection(env: Env, frame: Frame, message: str) -> None:
    client = env.connect()
    client.send(frame)
    assert message in error_of(client).headers["message"]
    assert not client.transport.closed


def test_duplicate_begin(env: Env) -> None:
    client = env.connect()
    client.send(Frame("BEGIN", {"transaction": "t"}))
    client.send(Frame("BEGIN", {"transaction": "t"}))
    assert error_of(client).headers["message"] == "The transaction was already started: t"


# -- durable subscriptions ----------------------------------------------------------------------


def test_durable_subscription_lifecycle(env: Env) -> None:
    durable = {"activemq.subscriptionName": "news"}
    subscriber = env.connect(client_id="reader")
    subscriber.subscribe("/topic/news", sub_id="d", receipt="sub", **durable)
    assert any(isinstance(op, SubscribeOp) for op in env.store.records[-1]), "the subscription is journaled"
    subscriber.send(Frame("UNSUBSCRIBE", {"id": "d", "receipt": "off"}))  # deactivate only
    publisher = env.connect()
    publisher.send(Frame("SEND", {"destination": "/topic/news", "persistent": "true"}, b"while away"))
    assert isinstance(env.store.records[-1][0], AddOp)
    subscriber.subscribe("/topic/news", sub_id="d2", ack="auto", **durable)
    assert [m.body for m in subscriber.messages()] == [b"while away"]
    subscriber.send(Frame("UNSUBSCRIBE", {"id": "d2", "activemq.subscriptionName": "news", "receipt": "rm"}))
    assert error_of(subscriber).headers["message"] == "Durable consumer is in use"
    subscriber.send(Frame("UNSUBSCRIBE", {"id": "d2"}))
    subscriber.send(Frame("UNSUBSCRIBE", {"id": "x", "activemq.subscriptionName": "news", "receipt": "gone"}))
    assert subscriber.last().headers == {"receipt-id": "gone"}
    assert env.broker.durables == {}


@pytest.mark.parametrize(
    ("destination", "client_id", "message"),
    [
        ("/queue/q", "c", "Invalid Subscription: cannot durably subscribe to a Queue destination!"),
        ("/topic/t", None, "needs a client-id header on CONNECT"),
    ],
)
def test_durable_subscription_refusals(env: Env, destination: str, client_id: str | None, message: str) -> None:
    client = env.connect(**({"client_id": client_id} if client_id else {}))
    client.subscribe(destination, **{"activemq.subscriptionName": "d"})
    assert message in error_of(client).headers["message"]


def test_durable_subscription_receipt_waits_for_the_journal(loop: asyncio.AbstractEventLoop) -> None:
    env = Env(loop, auto_resolve=False)
    client = env.connect(client_id="c")
    client.subscribe("/topic/t", receipt="r", **{"activemq.subscriptionName": "d"})
    assert client.commands() == ["CONNECTED"]
    env.store.resolve()
    env.settle()
    assert client.commands() == ["CONNECTED", "RECEIPT"]


# -- browsers and temporary queues --------------------------------------------------------------


def test_browser_ends_with_activemqs_end_marker(env: Env) -> None:
    client = env.connect()
    for i in range(2):
        client.send(Frame("SEND", {"destination": "/queue/b"}, f"b{i}".encode()))
    client.subscribe("/queue/b", sub_id="br", browser="true", receipt="r")
    frames = client.frames()
    assert [f.command for f in frames] == ["CONNECTED", "RECEIPT", "MESSAGE", "MESSAGE", "MESSAGE"]
    assert [f.body for f in frames[2:4]] == [b"b0", b"b1"]
    assert "ack" not in frames[2].headers
    assert frames[4].headers == {"subscription": "br", "message-id": "0", "browser": "end", "destination": "/queue/b"}
    assert env.broker.queue_depths() == {"/queue/b": 2}


def test_browser_needs_stomp_1_1(env: Env) -> None:
    client = env.connect(None)
    client.send(Frame("SUBSCRIBE", {"destination": "/queue/b", "browser": "true"}))
    assert error_of(client).headers["message"] == "Queue Browser feature only valid for Stomp v1.1+ clients!"


def test_temporary_queue_request_reply(env: Env) -> None:
    requester = env.connect()
    requester.subscribe("/temp-queue/replies", sub_id="t", ack="auto", receipt="t")
    requester.send(Frame("SEND", {"destination": "/queue/requests", "reply-to": "/temp-queue/replies"}, b"ping"))
    server = env.connect()
    server.subscribe("/queue/requests", ack="auto")
    [request] = server.messages()
    reply_to = request.headers["reply-to"]
    assert reply_to.startswith("/remote-temp-queue/ID:t-5-"), "others see the temporary queue's real name"
    server.send(Frame("SEND", {"destination": reply_to, "receipt": "pong"}, b"pong"))
    assert server.last().command == "RECEIPT"
    [reply] = requester.messages()
    assert reply.body == b"pong" and reply.headers["destination"] == "/temp-queue/replies"
    server.subscribe(reply_to, sub_id="steal")
    assert "Cannot subscribe to a remote temporary destination" in error_of(server).headers["message"]
    requester.send(Frame("DISCONNECT", {}))
    server.send(Frame("SEND", {"destination": reply_to}))
    assert "Cannot publish to a deleted Destination" in error_of(server).headers["message"]


def test_temporary_queue_names_are_per_connection(env: Env) -> None:
    a, b = env.connect(), env.connect()
    a.subscribe("/temp-queue/x", ack="auto")
    b.subscribe("/temp-queue/x", ack="auto")
    a.send(Frame("SEND", {"destination": "/temp-queue/x"}, b"for a"))
    b.send(Frame("SEND", {"destination": "/temp-queue/x"}, b"for b"))
    assert [m.body for m in a.messages()] == [b"for a"]
    assert [m.body for m in b.messages()] == [b"for b"]


# -- redelivery, scheduling and expiry through the protocol -------------------------------------


def test_nack_with_the_redelivery_plugin(loop: asyncio.AbstractEventLoop) -> None:
    policies = PatternMap(((DestinationPattern(DestinationKind.QUEUE, ">"), RedeliveryPolicy(maximum_redeliveries=1)),))
    env = Env(loop, settings=CoreSettings(redelivery=RedeliverySettings(policies), scheduler_support=True))
    client = env.connect()
    client.subscribe("/queue/a")
    client.send(Frame("SEND", {"destination": "/queue/a", "persistent": "true"}, b"poison"))
    client.ack(client.messages()[0], command="NACK")
    env.advance(1.0)
    again = client.messages()[-1]
    assert (again.headers["redelivered"], again.headers["redeliveryDelay"]) == ("true", "1000")
    assert again.headers["message-id"] == client.messages()[0].headers["message-id"]
    client.ack(again, command="NACK")
    env.advance(1.0)
    assert len(client.messages()) == 2
    assert env.broker.queue_depths()["/queue/ActiveMQ.DLQ"] == 1


def test_scheduled_delay_needs_scheduler_support(loop: asyncio.AbstractEventLoop) -> None:
    env = Env(loop, settings=CoreSettings(scheduler_support=True))
    client = env.connect()
    client.subscribe("/queue/a", ack="auto")
    client.send(Frame("SEND", {"destination": "/queue/a", "AMQ_SCHEDULED_DELAY": "1500"}, b"later"))
    assert client.messages() == []
    env.advance(1.6)
    assert [m.body for m in client.messages()] == [b"later"]
    client.send(Frame("SEND", {"destination": "/queue/a", "AMQ_SCHEDULED_CRON": "* * * * *"}))
    assert "AMQ_SCHEDULED_CRON is not supported by pybroker" in error_of(client).headers["message"]


def test_without_scheduler_support_scheduling_headers_are_plain_properties(env: Env) -> None:
    client = env.connect()
    client.subscribe("/queue/a", ack="auto")
    client.send(Frame("SEND", {"destination": "/queue/a", "AMQ_SCHEDULED_DELAY": "60000"}, b"now"))
    [message] = client.messages()
    assert message.headers["AMQ_SCHEDULED_DELAY"] == "60000"  # ActiveMQ ignores it too


def test_expires_header_sends_expired_messages_to_the_dlq(env: Env) -> None:
    client = env.connect()
    client.send(
        Frame("SEND", {"destination": "/queue/a", "persistent": "true", "expires": str(env.clock.ms() + 100)}, b"x")
    )
    env.advance(0.2)
    client.subscribe("/queue/ActiveMQ.DLQ", ack="auto")
    [dead] = client.messages()
    assert dead.headers["original-destination"] == "/queue/a" and dead.headers["expires"] == "0"
