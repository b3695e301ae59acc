"""The plain STOMP connection of the conformance scenarios, against the in-process fake server."""

from __future__ import annotations

import pytest

from harness.client.plain import ErrorReply, FrameTimeout, PeerClosed, PlainStompConnection, bodies

from .fake_stomp_server import FakeStompServer


@pytest.fixture
def server(server_a: FakeStompServer) -> FakeStompServer:
    return server_a


def open_to(server: FakeStompServer) -> PlainStompConnection:
    return PlainStompConnection("127.0.0.1", server.port, timeout=2.0)


def test_connect_negotiates_and_remembers_the_version(server: FakeStompServer) -> None:
    conn = open_to(server)
    connected = conn.connect("1.1")
    assert connected.command == "CONNECTED" and conn.version == "1.1"
    assert server.received("CONNECT")[0].headers["accept-version"] == "1.0,1.1"
    conn.close()


def test_messages_that_arrive_while_waiting_for_a_receipt_stay_queued(server: FakeStompServer) -> None:
    conn = open_to(server)
    conn.connect()
    conn.subscribe("/queue/a", ack="client-individual")
    server.publish("/queue/a", "early")
    receipt = conn.send("/queue/b", "x")
    assert receipt is not None and receipt.command == "RECEIPT"
    assert bodies(conn.messages(1)) == ["early"]
    conn.disconnect()


def test_an_error_instead_of_a_receipt_is_raised_and_exchange_returns_it(server: FakeStompServer) -> None:
    server.refuse_commands["BEGIN"] = "no transactions here"
    conn = open_to(server)
    conn.connect()
    with pytest.raises(ErrorReply, match="no transactions here"):
        conn.begin("t")
    reply = conn.exchange("BEGIN", {"transaction": "u"})
    assert reply.command == "ERROR" and reply.headers["receipt-id"].startswith("begin-")
    conn.close()


def test_a_refused_connect_raises_with_the_brokers_message(server: FakeStompServer) -> None:
    server.refuse_connect = "bad credentials"
    conn = open_to(server)
    with pytest.raises(ErrorReply, match="bad credentials"):
        conn.connect(login="x", passcode="y")
    assert server.received("CONNECT")[0].headers["login"] == "x"
    assert conn.wait_closed(2)


def test_waiting_on_a_closed_connection_says_the_broker_closed_it(server: FakeStompServer) -> None:
    conn = open_to(server)
    conn.connect()
    server.drop_connections()
    assert conn.wait_closed(2)
    with pytest.raises(PeerClosed):
        conn.receive()


def test_no_message_does_not_swallow_a_message(server: FakeStompServer) -> None:
    conn = open_to(server)
    conn.connect()
    conn.subscribe("/queue/a")
    assert conn.no_message(0.2)
    server.publish("/queue/a", "late")
    assert not conn.no_message(2.0)
    assert conn.receive().text == "late"
    with pytest.raises(FrameTimeout):
        conn.receive(0.2)
    conn.close()


def test_heart_beats_are_counted_and_sent(server: FakeStompServer) -> None:
    server.heartbeat_ms = 50
    conn = open_to(server)
    conn.connect(heartbeats=(0, 50))
    server.wait_for(lambda: len(conn.heartbeats) >= 3, what="three heart-beats from the server")
    conn.close()


def test_acks_name_messages_per_version(server: FakeStompServer) -> None:
    for version, expected in [("1.0", {"message-id"}), ("1.1", {"message-id", "subscription"}), ("1.2", {"id"})]:
        server.publish("/queue/v", version)
        conn = open_to(server)
        conn.connect(version)
        conn.subscribe("/queue/v", ack="client", id="s")
        conn.ack(conn.receive())
        ack = server.received("ACK")[-1]
        assert expected <= set(ack.headers), f"STOMP {version}: ACK headers {ack.headers}"
        conn.disconnect()
