"""STOMP as ActiveMQ speaks it on the wire: versions, header escaping, bodies, heart-beats, receipts, errors."""

import time

import pytest

from harness.client.plain import ErrorReply
from harness.topology import shared_file

pytestmark = pytest.mark.topology(shared_file(nodes=1))

NEGOTIATION = [  # accept-version sent (None: a STOMP 1.0 CONNECT) -> version the broker must choose
    (None, "1.0"),
    ("1.0", "1.0"),
    ("1.1", "1.1"),
    ("1.0,1.1", "1.1"),
    ("1.0,1.1,1.2", "1.2"),
    ("1.1,1.2,2.0", "1.2"),
]


def test_the_highest_common_version_is_negotiated(stomp):
    """CONNECTED names the highest version both sides accept, and the server and session it is."""
    for accept, expected in NEGOTIATION:
        headers = {} if accept is None else {"accept-version": accept}
        connected = stomp.open().connect(None, headers=headers)
        assert connected.headers.get("version") == expected, f"accept-version {accept}: got {connected}"
        assert connected.headers.get("server") and connected.headers.get("session"), str(connected)


def test_a_client_with_no_common_version_gets_an_error_and_is_closed(stomp):
    for accept in ("2.0", "1.3,2.0"):
        conn = stomp.open()
        with pytest.raises(ErrorReply) as refused:
            conn.connect(None, headers={"accept-version": accept})
        assert refused.value.frame.headers.get("message"), f"accept-version {accept}: ERROR without a message"
        assert conn.wait_closed(5), f"accept-version {accept}: the connection stayed open after the ERROR"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_header_escaping_round_trips(stomp, version):
    """Colons, line feeds and backslashes (and carriage returns in 1.2) survive in header names and values."""
    tricky = {"path": "C:\\temp\\new", "lines": "one\ntwo", "key:with:colons": "a:b"}
    if version == "1.2":
        tricky["carriage"] = "before\rafter"
    conn = stomp.connect(version)
    conn.send("/queue/escaping", "x", tricky)
    conn.subscribe("/queue/escaping")
    message = conn.receive()
    for name, value in tricky.items():
        assert message.headers.get(name) == value, f"STOMP {version}: header {name!r} came back as {message}"


def test_content_length_carries_binary_bodies_and_nul_ends_the_rest(stomp):
    binary = bytes(range(256)) * 8 + b"\x00\x00tail"
    conn = stomp.connect()
    conn.send("/queue/binary", binary)  # with content-length: NULs are part of the body
    conn.write(b"SEND\ndestination:/queue/binary\npersistent:true\nreceipt:r\n\nno length\x00")
    assert conn.next_frame().headers.get("receipt-id") == "r"
    conn.subscribe("/queue/binary")
    first, second = conn.messages(2)
    assert first.body == binary, f"binary body changed: {len(first.body)} bytes back of {len(binary)}"
    assert second.body == b"no length", f"a body without content-length must end at the first NUL: {second}"


def test_the_broker_sends_heart_beats_a_client_asks_for(stomp):
    conn = stomp.connect(heartbeats=(0, 300))
    send_ms, _ = (int(x) for x in conn.connected.headers["heart-beat"].split(","))
    assert 0 < send_ms <= 300, f"asked for heart-beats every 300 ms, CONNECTED says {conn.connected}"
    time.sleep(2.0)
    assert len(conn.heartbeats) >= 3, f"{len(conn.heartbeats)} heart-beats in 2 s at {send_ms} ms"


def test_a_silent_client_is_disconnected_and_a_beating_one_is_not(stomp):
    silent, beating = stomp.connect(heartbeats=(300, 0)), stomp.connect(heartbeats=(300, 0))
    assert silent.connected.headers["heart-beat"].split(",")[1] != "0", str(silent.connected)
    with beating.beating(100):
        assert silent.wait_closed(10), (
            "a client that promised heart-beats every 300 ms and sent none is still connected"
        )
        assert not beating.wait_closed(1), "a client that sends its heart-beats was disconnected"
    assert beating.send("/queue/alive", "still here")


def test_every_frame_gets_its_receipt(stomp):
    conn = stomp.connect()
    conn.request("SEND", {"destination": "/queue/receipts", "persistent": "true"}, "one")
    conn.request("SEND", {"destination": "/queue/receipts", "persistent": "true"}, "two")
    conn.request("SUBSCRIBE", {"destination": "/queue/receipts", "id": "s", "ack": "client-individual"})
    first, second = conn.messages(2)
    conn.request("BEGIN", {"transaction": "t"})
    conn.request("ACK", {"id": first.headers["ack"], "transaction": "t"})
    conn.request("COMMIT", {"transaction": "t"})
    conn.request("BEGIN", {"transaction": "u"})
    conn.request("ABORT", {"transaction": "u"})
    conn.request("NACK", {"id": second.headers["ack"]})
    conn.request("UNSUBSCRIBE", {"id": "s"})
    conn.request("DISCONNECT")  # request() fails unless the RECEIPT names this very frame
    assert conn.wait_closed(5), "the broker kept the connection open after the DISCONNECT receipt"


REFUSED = [  # frames a broker must answer with ERROR (they carry a receipt: the ERROR names it)
    ("SEND", {}),  # no destination
    ("SUBSCRIBE", {"destination": "/queue/x"}),  # 1.2 needs an id
    ("UNSUBSCRIBE", {"id": "never-subscribed"}),
    ("ACK", {"id": "no-such-message"}),
    ("BEGIN", {}),  # no transaction
    ("COMMIT", {"transaction": "never-begun"}),
]


def test_refused_frames_get_an_error_with_a_message_and_the_connection_stays(stomp):
    """ActiveMQ answers a request it refuses with an ERROR naming it and keeps serving the connection
    (only broken input, a refused CONNECT or an oversize frame close it)."""
    conn = stomp.connect()
    for command, headers in REFUSED:
        error = conn.exchange(command, headers)
        assert error.command == "ERROR", f"{command} {headers} was accepted: {error}"
        assert error.headers.get("message"), f"{command} {headers}: ERROR without a message header: {error}"
        assert error.headers.get("receipt-id", "").startswith(command.lower()), f"{command}: {error}"
    assert conn.send("/queue/after-errors", "the connection still works")


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_acks_name_the_message_the_way_each_version_says(stomp, version):
    """1.0 acks by message-id, 1.1 by message-id and subscription, 1.2 by the MESSAGE's ack header."""
    stomp.connect().send("/queue/acks", "acked")
    conn = stomp.connect(version)
    conn.subscribe("/queue/acks", ack="client", id="s")
    message = conn.receive()
    assert {"message-id", "subscription", "destination"} <= set(message.headers), str(message)
    assert ("ack" in message.headers) == (version == "1.2"), f"STOMP {version}: {message}"
    conn.ack(message)
    conn.disconnect()
    again = stomp.connect()
    again.subscribe("/queue/acks")
    assert again.no_message(1.0), f"STOMP {version}: the acked message came back"


@pytest.mark.differs_on_purpose(
    vendor="pybroker",
    reason="pybroker is lenient: a STOMP 1.2 ACK naming the message-id instead of the ack header still acks "
    "the message; ActiveMQ refuses it (Unexpected ACK received for message-id [null])",
)
def test_a_1_2_ack_must_use_the_ack_header_not_the_message_id(stomp, differs):
    conn = stomp.connect("1.2")
    conn.send("/queue/ack-id", "m")
    conn.subscribe("/queue/ack-id", ack="client-individual")
    message = conn.receive()
    assert message.headers["ack"] != message.headers["message-id"], f"the ack id is the message-id: {message}"
    reply = conn.exchange("ACK", {"id": message.headers["message-id"]})
    if differs:
        assert reply.command == "RECEIPT", f"the lenient ACK by message-id was refused: {reply}"
    else:
        assert reply.command == "ERROR", f"an ACK naming the message-id, not the ack header, was accepted: {reply}"
