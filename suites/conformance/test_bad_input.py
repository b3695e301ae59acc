"""Clients that misbehave: malformed frames, broken headers, oversize frames, stalls, abrupt disconnects.

Whatever one client sends, the broker answers it (ERROR, or closing its connection), keeps serving
every other client, and loses no persisted message.
"""

import random
import threading

import pytest

from harness.client import ClientError
from harness.client.plain import bodies
from harness.topology import BrokerSettings, ConnectorLimits, shared_file

pytestmark = pytest.mark.topology(
    shared_file(nodes=1, broker=BrokerSettings(connector=ConnectorLimits(max_frame_size=65536)))
)

REFUSED = [
    pytest.param(b"FROB\n\n\x00", id="unknown-command"),
    pytest.param(b"send\ndestination:/queue/x\n\nx\x00", id="lower-case-command"),
    pytest.param(b"SEND\ndestination:/queue/x\ncontent-length:abc\n\nx\x00", id="content-length-not-a-number"),
    pytest.param(
        b"SEND\ndestination:/queue/x\ncontent-length:-5\n\nx\x00",
        id="negative-content-length",
        marks=pytest.mark.known_finding(
            vendor="activemq",
            expects=("client",),
            reason="ActiveMQ 5.17 closes the connection without an ERROR frame: new byte[-5] throws "
            "NegativeArraySizeException, which is not a ProtocolException",
        ),
    ),
    pytest.param(b"SEND\ndestination:/queue/x\ncontent-length:2\n\nxyz\x00", id="no-NUL-after-content-length"),
    pytest.param(b"SEND\ndestination:/queue/x\ncontent-length:70000\n\n" + b"x" * 70000 + b"\x00", id="oversize"),
    pytest.param(b"SEND\ndestination:/queue/x\n\n" + b"x" * 70000 + b"\x00", id="oversize-without-content-length"),
]


@pytest.mark.parametrize("frame", REFUSED)
def test_a_malformed_frame_gets_an_error_and_only_its_connection_closes(stomp, frame):
    kept = store(stomp, "/queue/kept", 5)
    bystander, offender = stomp.connect(), stomp.connect()
    offender.write(frame)
    error = offender.error()
    assert error.headers.get("message"), f"ERROR without a message header: {error}"
    assert offender.wait_closed(5), "the offending connection stayed open"
    assert bystander.send("/queue/bystander", "still served")
    assert remaining(stomp, "/queue/kept") == kept


TOLERATED_BY_ACTIVEMQ = [
    pytest.param(b"no-colon-here\n", id="header-line-without-colon"),
    pytest.param(b"x-tab:a\\tb\n", id="undefined-escape-sequence"),
    pytest.param(b"x-binary:\xff\xfe\n", id="header-not-utf-8"),
]


@pytest.mark.differs_on_purpose(
    vendor="pybroker",
    reason="pybroker refuses headers STOMP 1.2 calls malformed (no colon, an undefined escape, not UTF-8) with "
    "ERROR and closes the connection; ActiveMQ skips or keeps such a header and takes the frame",
)
@pytest.mark.parametrize("header", TOLERATED_BY_ACTIVEMQ)
def test_a_broken_header_line(stomp, header, differs):
    bystander, sender = stomp.connect(), stomp.connect()
    sender.write(b"SEND\ndestination:/queue/orders\npersistent:true\n" + header + b"receipt:r\n\nbody\x00")
    reply = sender.next_frame()
    if differs:
        assert reply.command == "ERROR" and sender.wait_closed(5), f"expected ERROR and a close, got {reply}"
        assert remaining(stomp, "/queue/orders") == []
    else:
        assert reply.headers.get("receipt-id") == "r", f"expected the frame to be taken, got {reply}"
        assert remaining(stomp, "/queue/orders") == ["body"]
    assert bystander.send("/queue/bystander", "still served")


def test_a_frame_before_connect_and_a_second_connect_are_refused_without_closing(stomp):
    """Misuse of the protocol, not broken input: an ERROR, and the connection stays (as ActiveMQ does)."""
    early = stomp.open()
    early.write(b"SEND\ndestination:/queue/orders\nreceipt:r\n\nx\x00")
    twice = stomp.connect()
    twice.write(b"CONNECT\naccept-version:1.2\nhost:localhost\nreceipt:r\n\n\x00")
    for conn in (early, twice):
        error = conn.error()
        assert error.headers.get("message"), str(error)
        assert not conn.wait_closed(1), f"{conn.name}: the connection was closed after {error}"
    assert twice.send("/queue/orders", "after the error")
    assert remaining(stomp, "/queue/orders") == ["after the error"]


def test_the_first_of_duplicated_headers_wins(stomp):
    conn = stomp.connect()
    conn.write(b"SEND\ndestination:/queue/first\ndestination:/queue/second\ncolour:red\ncolour:blue\n\nd\x00")
    conn.subscribe("/queue/first")
    message = conn.receive()
    assert message.headers.get("colour") == "red", f"STOMP 1.2: the first header wins, got {message}"
    assert remaining(stomp, "/queue/second") == []


def test_a_client_stalling_mid_frame_holds_up_no_one_and_is_dropped_by_its_heart_beat(stomp):
    kept = store(stomp, "/queue/kept", 3)
    staller = stomp.connect(heartbeats=(500, 0))
    staller.write(b"SEND\ndestination:/queue/kept\npersist")
    others = [stomp.connect() for _ in range(3)]
    assert all(conn.send("/queue/bystander", "served meanwhile") for conn in others)
    assert staller.wait_closed(10), "a client silent mid-frame past its heart-beat deadline is still connected"
    assert remaining(stomp, "/queue/kept") == kept, "the half frame must not be stored"


def test_a_client_stalling_without_heart_beats_may_finish_its_frame_later(stomp):
    slow = stomp.connect()
    slow.write(b"SEND\ndestination:/queue/slow\npersis")
    assert stomp.connect().send("/queue/bystander", "served meanwhile")
    assert not slow.wait_closed(2), "a connection without heart-beats was dropped mid-frame"
    slow.write(b"tent:true\nreceipt:late\n\nfinished\x00")
    assert slow.next_frame().headers.get("receipt-id") == "late"
    assert remaining(stomp, "/queue/slow") == ["finished"]


def test_abrupt_disconnects_mid_frame_store_nothing_of_the_frame(stomp):
    kept = store(stomp, "/queue/kept", 3)
    mid_body = stomp.connect()
    mid_body.write(b"SEND\ndestination:/queue/kept\npersistent:true\ncontent-length:100\n\nonly part")
    mid_body.reset()  # TCP RST
    mid_headers = stomp.connect()
    mid_headers.write(b"SEND\ndestination:/queue/kept\npersis")
    mid_headers.close()  # TCP FIN
    assert stomp.connect().send("/queue/bystander", "still served")
    assert remaining(stomp, "/queue/kept") == kept


def test_bad_clients_under_load_then_a_crash_lose_no_receipted_message(stomp, cluster, faults, rng):
    """Receipted sends survive a storm of malformed frames and abrupt disconnects, and then a kill -9."""
    stop, misbehaved = threading.Event(), []
    storm = threading.Thread(target=misbehave, args=(stomp, random.Random(rng.random()), stop, misbehaved))
    storm.start()
    try:
        receipted = store(stomp, "/queue/ledger", 200)
    finally:
        stop.set()
        storm.join(timeout=30)
    assert len(misbehaved) >= 20, f"only {len(misbehaved)} bad connections were made while sending"
    with faults.kill(cluster.master()):
        pass  # healing restarts the broker from its journal
    cluster.wait_for_master(timeout=60)
    assert remaining(stomp, "/queue/ledger") == receipted


GARBAGE = [
    b"FROB\n\n\x00",
    b"SEND\ndestination:/queue/ledger\ncontent-length:zz\n\nx\x00",
    b"SEND\ndestination:/queue/ledger\ncontent-length:3\n\nxyzw\x00",
    b"SEND\ndestination:/queue/ledger\npersistent:true\ncontent-length:50\n\nshort",
    b"SEND\ndestination:/queue/ledger\npersis",
    b"\x00\xff\n\n\x00",
]


def misbehave(stomp, rng, stop, made):
    """Open connections that send one piece of garbage each and then vanish, until ``stop`` is set."""
    while not stop.is_set():
        made.append(1)
        try:
            conn = stomp.open()
            if rng.random() < 0.5:
                conn.connect()
            conn.write(rng.choice(GARBAGE))
        except (ClientError, OSError):
            continue  # the broker may close a bad connection before we are done with it
        if rng.random() < 0.5:
            conn.reset()
        else:
            conn.close()


def store(stomp, queue, count):
    """Send ``count`` persistent messages with receipts; return their bodies."""
    producer = stomp.connect()
    sent = [f"{queue}#{i}" for i in range(count)]
    for body in sent:
        producer.send(queue, body)
    producer.disconnect()
    return sent


def remaining(stomp, queue):
    """Consume and acknowledge everything left on ``queue``; return the bodies in delivery order."""
    consumer = stomp.connect()
    consumer.subscribe(queue, ack="client-individual")
    messages = consumer.drain()
    for message in messages:
        consumer.ack(message)
    consumer.disconnect()
    return bodies(messages)
