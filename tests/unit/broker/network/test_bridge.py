"""One bridge end on a real broker core (in memory, a recording store) fed raw inter-broker frames
over a socket pair: a forwarded message is receipted only once stored, delivered only on COMMIT,
a second copy is dropped, and a bridge that failed leaves messages the sender is asked about."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.broker.config.network import NetworkConnectorConfig
from harness.broker.core.broker import AckMode, Broker
from harness.broker.message import HELD_HEADER, Message
from harness.broker.network.bridge import Bridge, BridgeSettings, Registry
from harness.broker.network.routing import QueueFilter
from harness.broker.network.wire import forward_frame, frame_bytes, parse_resolved
from harness.broker.stomp.frames import V1_2, Frame, FrameParser
from harness.broker.store.contract import FORWARDED_CONTAINER, RECEIVER_HEADER, AddOp, RemoveOp

from ..broker_fakes import FakeClient, FakeStore

QUEUE = "/queue/q"
LOG = logging.getLogger("test.bridge")


@dataclass
class Peer:
    """The far end of the bridge, played by the test."""

    sock: socket.socket
    parser: FrameParser

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frames(self, loop: asyncio.AbstractEventLoop, command: str, count: int = 1, within: float = 5.0) -> list[Frame]:
        got: list[Frame] = []
        deadline = time.monotonic() + within
        while len(got) < count and time.monotonic() < deadline:
            self.sock.sendall(b"\n")  # a heart-beat: the bridge drops a silent peer
            loop.run_until_complete(asyncio.sleep(0.01))
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                continue
            got += [f for f in self.parser.feed(data) if f.command == command]
        return got


@dataclass
class End:
    loop: asyncio.AbstractEventLoop
    store: FakeStore
    broker: Broker
    registry: Registry
    bridge: Bridge
    peer: Peer
    task: asyncio.Future[None]

    def settle(self) -> None:
        self.loop.run_until_complete(asyncio.sleep(0.05))


def forward(message_id: str, body: bytes = b"x", path: str = "a") -> bytes:
    msg = Message(message_id, QUEUE, {}, body, True)
    return forward_frame(msg, path, int(time.time() * 1000))


@pytest.fixture
def end(loop: asyncio.AbstractEventLoop) -> Iterator[End]:
    store = FakeStore(loop, auto_resolve=False)
    broker = Broker("b", 1, store, lambda: True, loop)
    registry = Registry(broker, "store-b")
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    reader, writer = loop.run_until_complete(asyncio.open_connection(sock=ours))
    settings = BridgeSettings("NC", 1, True, False, 1000, QueueFilter(NetworkConnectorConfig("static")))
    bridge = Bridge(registry, "a", "store-a", settings, reader, writer, forward=False, advertise=True, log=LOG)
    task = asyncio.ensure_future(bridge.run(), loop=loop)
    yield End(loop, store, broker, registry, bridge, Peer(theirs, FrameParser(V1_2)), task)
    task.cancel()
    loop.run_until_complete(asyncio.sleep(0.01))
    theirs.close()


def test_a_forwarded_message_is_receipted_once_stored_and_delivered_once_committed(end: End) -> None:
    consumer = FakeClient()
    end.broker.subscribe(consumer, "s", QUEUE, AckMode.CLIENT_INDIVIDUAL)
    end.peer.send(forward("ID:a-1-1", b"hello"))
    end.settle()
    [[add]] = end.store.records
    assert isinstance(add, AddOp) and add.message.headers[HELD_HEADER] == "store-a"
    assert end.peer.frames(end.loop, "RECEIPT", within=0.3) == []  # not stored yet: no receipt
    end.store.resolve()
    [receipt] = end.peer.frames(end.loop, "RECEIPT")
    assert receipt.headers["id"] == "ID:a-1-1"
    assert consumer.received == []  # held until the sender's own ack is stored
    end.peer.send(frame_bytes("COMMIT", {"id": "ID:a-1-1"}))
    end.settle()
    assert consumer.bodies() == [b"hello"] and HELD_HEADER not in consumer.last().headers


def test_a_second_copy_of_a_delivered_message_is_receipted_and_dropped(end: End) -> None:
    end.store.auto_resolve = True
    consumer = FakeClient()
    end.broker.subscribe(consumer, "s", QUEUE, AckMode.AUTO)
    end.peer.send(forward("ID:a-1-1") + frame_bytes("COMMIT", {"id": "ID:a-1-1"}))
    end.settle()
    end.peer.send(forward("ID:a-1-1") + frame_bytes("COMMIT", {"id": "ID:a-1-1"}))  # the sender lost our receipt
    end.settle()
    assert len(end.peer.frames(end.loop, "RECEIPT", 2)) == 2
    assert len(consumer.received) == 1 and end.registry.audit.suppressed == 1


def test_messages_held_when_a_bridge_failed_are_settled_by_the_senders_answer(
    end: End, loop: asyncio.AbstractEventLoop
) -> None:
    end.store.auto_resolve = True
    consumer = FakeClient()
    end.broker.subscribe(consumer, "s", QUEUE, AckMode.AUTO)
    end.peer.send(forward("ID:a-1-1", b"kept by a") + forward("ID:a-1-2", b"acked by a"))
    end.settle()
    end.bridge.close()  # fails before either COMMIT
    end.settle()
    assert end.registry.in_doubt("store-a") == ["ID:a-1-1", "ID:a-1-2"] and consumer.received == []
    assert end.registry.in_doubt("store-c") == []
    # The next bridge from a asks about them; a still has the first and no longer the second.
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    reader, writer = loop.run_until_complete(asyncio.open_connection(sock=ours))
    # Another broker (the pair's other node) serving a's store: it is asked.
    again = Bridge(
        end.registry, "a2", "store-a", end.bridge.settings, reader, writer, forward=False, advertise=True, log=LOG
    )
    task = asyncio.ensure_future(again.run())
    peer = Peer(theirs, FrameParser(V1_2))
    [resolve] = peer.frames(loop, "RESOLVE")
    assert resolve.body.decode().split("\n") == ["ID:a-1-1", "ID:a-1-2"]
    peer.send(frame_bytes("RESOLVED", {}, b'{"release": ["ID:a-1-2"], "drop": ["ID:a-1-1"]}'))
    end.settle()
    assert consumer.bodies() == [b"acked by a"]
    assert any(isinstance(op, RemoveOp) and op.message_id == "ID:a-1-1" for ops in end.store.records for op in ops)
    assert end.broker.held == {}
    task.cancel()
    theirs.close()


def test_the_sender_answers_from_its_stores_tombstones(loop: asyncio.AbstractEventLoop) -> None:
    store = FakeStore(loop)
    broker = Broker("a", 1, store, lambda: True, loop)
    broker.send(QUEUE, {}, b"still here", True)
    # Recovered tombstones (a previous master's): ID:a-0-6 went to b's store, ID:a-0-7 to c's.
    for message_id, receiver in (("ID:a-0-6", "store-b"), ("ID:a-0-7", "store-c")):
        record = Message(message_id, FORWARDED_CONTAINER, {RECEIVER_HEADER: receiver}, b"", True)
        record.container = FORWARDED_CONTAINER
        broker.restore([record])
    registry = Registry(broker, "store-a")
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    reader, writer = loop.run_until_complete(asyncio.open_connection(sock=ours))
    settings = BridgeSettings("NC", 1, True, False, 1000, QueueFilter(NetworkConnectorConfig("static")))
    bridge = Bridge(registry, "b2", "store-b", settings, reader, writer, forward=True, advertise=False, log=LOG)
    task = asyncio.ensure_future(bridge.run())
    peer = Peer(theirs, FrameParser(V1_2))
    [listed] = peer.frames(loop, "FORWARDED")  # the tombstones for b's store, for b to say which it needs
    assert listed.body == b"ID:a-0-6"
    peer.send(frame_bytes("RESOLVE", {}, b"ID:a-1-1\nID:a-0-7\nID:a-0-6\nID:a-0-5"))
    [answer] = peer.frames(loop, "RESOLVED")
    # Deliver: its tombstone names b's store; keep: still here, went to c, left otherwise (or never).
    assert parse_resolved(answer.body) == (["ID:a-0-6"], ["ID:a-1-1", "ID:a-0-7", "ID:a-0-5"])
    peer.send(frame_bytes("FORGET", {}, b"ID:a-0-6\nID:a-0-7"))  # only b's own tombstone goes
    peer.frames(loop, "NOTHING", within=0.2)
    assert broker.forwarded == {"ID:a-0-7": "store-c"}
    assert store.records[-1] == [RemoveOp("ID:a-0-6", FORWARDED_CONTAINER)]
    task.cancel()
    loop.run_until_complete(asyncio.sleep(0.01))
    theirs.close()
