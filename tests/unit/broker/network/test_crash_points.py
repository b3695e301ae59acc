"""A message crossing a bridge, with the sender or the receiver killed at each point of the exchange.

Two real broker cores joined by two real bridge ends over a socket pair; each node's store keeps
only the writes that completed (what survives kill -9), and a restarted node is a new core
recovered from them, under another broker name (a pair's other node takes over the same store).
Whatever the crash point, the message is delivered once, is never stranded on the receiver, and
the sender's tombstone is eventually forgotten.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest

from harness.broker.config.network import NetworkConnectorConfig
from harness.broker.core.broker import AckMode, Broker
from harness.broker.message import Message
from harness.broker.network.bridge import Bridge, BridgeSettings, Registry
from harness.broker.network.routing import QueueFilter
from harness.broker.store.contract import FORWARDED_CONTAINER, AddOp, Op, RemoveOp

from ..broker_fakes import FakeClient

QUEUE = "/queue/q"
LOG = logging.getLogger("test.crash_points")
SETTINGS = BridgeSettings("NC", 2, True, False, 1000, QueueFilter(NetworkConnectorConfig("static")))
_epochs = itertools.count(1)


class Disk:
    """What survives a kill: the operations of the writes that completed, in order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def live(self) -> list[Message]:
        """Replayed as every store recovers: a removal drops the (container, id), an addition adds it."""
        live: dict[tuple[str, str], Message] = {}
        for op in self.ops:
            if isinstance(op, AddOp):
                msg = op.message.copy()
                msg.container = op.message.container
                live.setdefault((msg.container, msg.message_id), msg)
            elif isinstance(op, RemoveOp):
                live.pop((op.container, op.message_id), None)
        return list(live.values())

    def tombstones(self) -> list[str]:
        return [m.message_id for m in self.live() if m.container == FORWARDED_CONTAINER]


def _encoded(op: Op) -> Op:
    """The operation as a store writes it: a message's fields as they are at the write."""
    if isinstance(op, AddOp):
        msg = op.message.copy()
        msg.container = op.message.container
        return AddOp(msg)
    return op


class NodeStore:
    """A store whose writes complete at once, or, while ``holding``, only on ``complete``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, disk: Disk) -> None:
        self.loop = loop
        self.disk = disk
        self.holding = False
        self.pending: list[tuple[list[Op], asyncio.Future[None]]] = []

    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = self.loop.create_future()
        batch = [_encoded(op) for op in ops]
        if self.holding:
            self.pending.append((batch, fut))
        else:
            self.disk.ops += batch
            fut.set_result(None)
        return fut

    def complete(self) -> None:
        pending, self.pending = self.pending, []
        for batch, fut in pending:
            self.disk.ops += batch
            fut.set_result(None)


@dataclass
class Node:
    name: str
    store: NodeStore
    broker: Broker
    registry: Registry
    tasks: list[asyncio.Future[None]] = field(default_factory=list)
    socks: list[socket.socket] = field(default_factory=list)
    consumers: list[FakeClient] = field(default_factory=list)

    def consume(self) -> FakeClient:
        client = FakeClient()
        self.broker.subscribe(client, f"c{len(self.consumers)}", QUEUE, AckMode.AUTO)
        self.consumers.append(client)
        return client

    def delivered(self) -> list[bytes]:
        return [body for c in self.consumers for body in c.bodies()]


def start(loop: asyncio.AbstractEventLoop, name: str, disk: Disk) -> Node:
    """A node taking over ``disk`` (a new store, or a killed node's): recover, then serve."""
    store = NodeStore(loop, disk)
    broker = Broker(name, next(_epochs), store, lambda: True, loop)
    broker.restore(disk.live())
    store_id, _written = broker.store_identity()  # written at once: the store is not holding
    return Node(name, store, broker, Registry(broker, store_id))


def bridge(loop: asyncio.AbstractEventLoop, sender: Node, receiver: Node) -> None:
    """A bridge from ``sender`` (forwarding) to ``receiver`` (advertising its consumers)."""
    ours, theirs = socket.socketpair()
    s_reader, s_writer = loop.run_until_complete(asyncio.open_connection(sock=ours))
    r_reader, r_writer = loop.run_until_complete(asyncio.open_connection(sock=theirs))
    s_end = Bridge(
        sender.registry,
        receiver.name,
        receiver.registry.store_id,
        SETTINGS,
        s_reader,
        s_writer,
        forward=True,
        advertise=False,
        log=LOG,
    )
    r_end = Bridge(
        receiver.registry,
        sender.name,
        sender.registry.store_id,
        SETTINGS,
        r_reader,
        r_writer,
        forward=False,
        advertise=True,
        log=LOG,
    )
    for node, end, sock in ((sender, s_end, ours), (receiver, r_end, theirs)):
        node.tasks.append(asyncio.ensure_future(end.run(), loop=loop))
        node.socks.append(sock)


def kill(loop: asyncio.AbstractEventLoop, node: Node) -> Disk:
    """kill -9: the writes in progress never complete, the connections drop; the disk stays."""
    for task in node.tasks:
        task.cancel()
    for sock in node.socks:
        sock.close()
    loop.run_until_complete(asyncio.sleep(0.05))
    node.broker.closed = True
    return node.store.disk


def until(loop: asyncio.AbstractEventLoop, condition: Callable[[], bool], what: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        loop.run_until_complete(asyncio.sleep(0.01))


def settle(loop: asyncio.AbstractEventLoop, seconds: float = 0.3) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    nodes: list[Node] = field(default_factory=list)

    def start(self, name: str, disk: Disk | None = None) -> Node:
        node = start(self.loop, name, disk or Disk())
        self.nodes.append(node)
        return node

    def kill(self, node: Node) -> Disk:
        self.nodes.remove(node)
        return kill(self.loop, node)


@pytest.fixture
def world(loop: asyncio.AbstractEventLoop) -> Iterator[World]:
    w = World(loop)
    yield w
    for node in list(w.nodes):
        w.kill(node)


def _sent_and_forwarded(world: World, *, sender_holding: bool, receiver_holding: bool = False) -> tuple[Node, Node]:
    """s1 holds one message, r has a consumer; the message crosses until s1's ack write (held)."""
    s1, r = world.start("s1"), world.start("r")
    s1.broker.send(QUEUE, {}, b"m", True)
    r.consume()
    s1.store.holding = sender_holding
    r.store.holding = receiver_holding
    bridge(world.loop, s1, r)
    return s1, r


def test_sender_killed_after_the_receipt_before_its_removal_is_stored(world: World) -> None:
    loop = world.loop
    s1, r = _sent_and_forwarded(world, sender_holding=True)
    until(loop, lambda: bool(s1.store.pending), "s1 acknowledges on r's receipt")
    assert list(r.broker.held) and r.delivered() == []
    s2 = world.start("s2", world.kill(s1))  # the pair's other node: the message is still in the store
    assert s2.broker.forwarded == {} and s2.broker.queue_depths()[QUEUE] == 1
    bridge(loop, s2, r)
    until(loop, lambda: r.delivered() == [b"m"], "r delivers the message s2 forwards again")
    settle(loop)
    assert r.delivered() == [b"m"] and r.broker.held == {} and s2.broker.queue_depths()[QUEUE] == 0
    until(loop, lambda: s2.store.disk.tombstones() == [], "s2 forgets the tombstone once r released it")


def test_sender_killed_after_its_removal_is_stored_before_the_commit(world: World) -> None:
    loop = world.loop
    s1, r = _sent_and_forwarded(world, sender_holding=True)
    until(loop, lambda: bool(s1.store.pending), "s1 acknowledges on r's receipt")
    disk = s1.store.disk
    disk.ops += s1.store.pending[0][0]  # the removal and its tombstone reach the disk, the COMMIT never leaves
    s2 = world.start("s2", world.kill(s1))
    assert list(s2.broker.forwarded.values()) == [r.registry.store_id]
    assert s2.broker.queue_depths().get(QUEUE, 0) == 0 and r.delivered() == []
    # s2 is another broker: r asks it because it serves the store r holds the message from.
    bridge(loop, s2, r)
    until(loop, lambda: r.delivered() == [b"m"], "r delivers on s2's answer from the tombstone")
    until(loop, lambda: disk.tombstones() == [], "s2 forgets the tombstone once r's release is stored")
    assert s2.broker.forwarded == {} and r.broker.held == {}


def test_sender_killed_after_the_commit_before_the_receivers_forget(world: World) -> None:
    loop = world.loop
    s1, r = _sent_and_forwarded(world, sender_holding=True)
    until(loop, lambda: bool(s1.store.pending), "s1 acknowledges on r's receipt")
    s1.store.complete()  # the removal and the tombstone are stored: COMMIT
    until(loop, lambda: r.delivered() == [b"m"], "r delivers on the COMMIT")
    until(loop, lambda: bool(s1.store.pending), "s1 drops the tombstone on r's FORGET (a write never completed)")
    s2 = world.start("s2", world.kill(s1))
    assert s2.broker.forwarded != {}  # the tombstone outlived s1
    bridge(loop, s2, r)
    until(loop, lambda: s2.store.disk.tombstones() == [], "r tells s2 to forget it: it holds nothing")
    assert r.delivered() == [b"m"] and s2.broker.queue_depths().get(QUEUE, 0) == 0


@pytest.mark.parametrize("first_bridge", ["from the sender", "to the sender"])
def test_receiver_killed_after_the_commit_before_its_release_is_stored(world: World, first_bridge: str) -> None:
    """Settled on the first bridge between the two stores, whichever way it forwards."""
    loop = world.loop
    s1, r1 = _sent_and_forwarded(world, sender_holding=False, receiver_holding=True)
    until(loop, lambda: bool(r1.store.pending), "r1 stores the message")
    r1.store.complete()  # the held message is stored: RECEIPT, then COMMIT
    until(loop, lambda: r1.delivered() == [b"m"], "r1 delivers on the COMMIT; its release is not stored")
    r2 = world.start("r2", world.kill(r1))
    assert list(r2.broker.held) and s1.broker.forwarded != {}  # held again; s1 kept the tombstone
    r2.consume()
    if first_bridge == "from the sender":
        bridge(loop, s1, r2)
    else:
        bridge(loop, r2, s1)
    until(loop, lambda: r2.delivered() == [b"m"], "r2 delivers on s1's answer")
    until(loop, lambda: s1.store.disk.tombstones() == [], "s1 forgets the tombstone once r2's release is stored")


def test_sender_killed_then_its_successor_delivers_locally(world: World) -> None:
    loop = world.loop
    s1, r = _sent_and_forwarded(world, sender_holding=True)
    until(loop, lambda: bool(s1.store.pending), "s1 acknowledges on r's receipt")
    s2 = world.start("s2", world.kill(s1))
    s2.consume()
    until(loop, lambda: s2.delivered() == [b"m"], "a local consumer of s2 takes the message")
    bridge(loop, s2, r)
    until(loop, lambda: r.broker.held == {}, "r drops its copy on s2's answer")
    settle(loop)
    assert r.delivered() == [] and r.broker.queue_depths().get(QUEUE, 0) == 0


def test_sender_killed_then_its_successor_forwards_to_another_receiver(world: World) -> None:
    loop = world.loop
    s1, r = _sent_and_forwarded(world, sender_holding=True)
    until(loop, lambda: bool(s1.store.pending), "s1 acknowledges on r's receipt")
    s2 = world.start("s2", world.kill(s1))
    other = world.start("other")
    other.consume()
    bridge(loop, s2, other)
    until(loop, lambda: other.delivered() == [b"m"], "s2 forwards the message to another receiver")
    bridge(loop, s2, r)
    until(loop, lambda: r.broker.held == {}, "r drops its copy: the tombstone names another store")
    settle(loop)
    assert r.delivered() == [] and other.delivered() == [b"m"]
