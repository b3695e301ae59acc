"""One bridge: a connection between two brokers, after the handshake.

Each end may *advertise* (send its consumers' demand and take the messages forwarded to it) and may
*forward* (keep one network consumer per queue the other end wants, and send what it is given).
The connector's end forwards; the listener's end advertises; a duplex bridge does both on the one
connection. A forwarded message is acknowledged on the sending broker only when the receiver's
RECEIPT says it is stored; when the bridge fails, whatever awaited a receipt goes back to its queue.

Both ends send a heart-beat when idle and drop the bridge after ``LIVENESS_S`` of silence, so that
a link whose bytes vanish (processes alive) is noticed within seconds, not ActiveMQ's 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from harness.broker.core.broker import Broker, RequestRefused
from harness.broker.core.destinations import AckMode, Subscription
from harness.broker.message import BROKER_PATH_HEADER, HELD_HEADER, Message
from harness.broker.network.routing import (
    Audit,
    ConsumerView,
    Demand,
    QueueFilter,
    advertised,
    broker_path,
    extended_path,
    may_forward,
)
from harness.broker.network.wire import (
    HEARTBEAT,
    demand_body,
    forward_frame,
    forwarded_message,
    frame_bytes,
    parse_demand,
    parse_resolved,
    resolved_body,
)
from harness.broker.stomp.frames import V1_2, Frame, FrameError, FrameParser

HEARTBEAT_S = 0.5
LIVENESS_S = 3.0
# No message is sent to a peer not heard from for this long, and a receiver refuses a message sent
# longer ago than MAX_AGE_S: together they keep a message the sender gave up on (after LIVENESS_S
# of silence, and sent it elsewhere) from being taken by a peer that reads it late (a paused process).
SEND_SILENCE_S = 0.8
MAX_AGE_S = 2.0
DEMAND_POLL_S = 0.1
# ActiveMQ's network consumer priority, lowered by one per hop, with decreaseNetworkConsumerPriority.
NETWORK_CONSUMER_PRIORITY = -5

VOLATILE_MEMORY = 100_000


_serial = itertools.count(1)


@dataclass(frozen=True)
class BridgeSettings:
    """What the connector that made the bridge says about forwarding (a duplex bridge's listener end
    forwards with the connector's settings too, as ActiveMQ's duplex bridges do)."""

    connector: str
    ttl: int
    conduit: bool
    decrease_priority: bool
    prefetch: int
    queues: QueueFilter


class NetworkClient:
    """The core's view of a bridge's network consumers (the ``Client`` of their subscriptions)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def deliver(self, subscription: Subscription, message: Message) -> None:
        self.bridge.send_message(subscription, message)

    def can_receive(self) -> bool:
        return self.bridge.can_send()

    def browse_end(self, subscription: Subscription) -> None:
        """Network consumers never browse."""


@dataclass
class _NetworkConsumer:
    sub: Subscription
    demand: Demand
    draining: bool = False


class Registry:
    """The bridges of one master term, the broker-wide duplicate audit, and what settles the messages
    a failed bridge left in doubt. Both sides name stores, not brokers: a receiver holds what it got
    under the sender's store identity and asks whichever broker now serves that store; the sender
    answers from its store's tombstones (``Broker.forwarded``), which every later master reads."""

    def __init__(self, broker: Broker, store_id: str) -> None:
        self.broker = broker
        self.store_id = store_id
        self.audit = Audit()
        self.bridges: set[Bridge] = set()
        # Non-persistent messages acknowledged on a receiver's RECEIPT (id -> the receiver's store):
        # they get no stored tombstone, as they do not outlive this process anyway.
        self.volatile: OrderedDict[str, str] = OrderedDict()
        # Held messages released here whose unmarked record is not stored yet: the sender keeps
        # their tombstones until it is (a restart in between holds them again).
        self.releasing: set[str] = set()

    def acked_volatile(self, receiver_store: str, message_id: str) -> None:
        self.volatile[message_id] = receiver_store
        while len(self.volatile) > VOLATILE_MEMORY:
            self.volatile.popitem(last=False)

    def answer(self, receiver_store: str, ids: list[str]) -> tuple[list[str], list[str]]:
        """Which of ``ids`` (held by ``receiver_store`` since a bridge failed) it may deliver: those
        whose tombstone names it. The others this store still holds, or they left it otherwise (a
        local consumer, another receiver), or their removal was never stored: the receiver drops them."""
        held = self.broker.holds()
        release, drop = [], []
        for message_id in ids:
            gone_to = self.broker.forwarded.get(message_id) or self.volatile.get(message_id)
            if message_id not in held and gone_to == receiver_store:
                release.append(message_id)
            else:
                drop.append(message_id)
        return release, drop

    def tombstones_for(self, receiver_store: str) -> list[str]:
        stored = [mid for mid, store in self.broker.forwarded.items() if store == receiver_store]
        return stored + [mid for mid, store in self.volatile.items() if store == receiver_store]

    def forget(self, receiver_store: str, ids: list[str]) -> None:
        """The receiver no longer holds these undelivered: drop their tombstones."""
        mine = [mid for mid in ids if self.broker.forwarded.get(mid) == receiver_store]
        for mid in ids:
            if self.volatile.get(mid) == receiver_store:
                del self.volatile[mid]
        if mine:
            self.broker.forget_forwarded(mine)

    def settled(self, ids: list[str]) -> list[str]:
        """Of ``ids`` (a sender's tombstones for this store), those neither held here nor being
        released: their release (or drop) is stored, so the sender may forget them."""
        return [mid for mid in ids if mid not in self.broker.held and mid not in self.releasing]

    def in_session(self) -> set[str]:
        """Held messages a live bridge received: their sender will confirm them on that bridge."""
        return set().union(*(b.held_here for b in self.bridges))

    def in_doubt(self, sender_store: str) -> list[str]:
        """Held messages from ``sender_store`` that no live bridge will confirm: ask its master."""
        live = self.in_session()
        return [
            mid
            for mid, msg in self.broker.held.items()
            if mid not in live and msg.headers.get(HELD_HEADER) == sender_store
        ]

    def consumer_views(self) -> dict[str, list[ConsumerView]]:
        views: dict[str, list[ConsumerView]] = {}
        for name, queue in self.broker.queues.items():
            if queue.deleted or not queue.consumers:
                continue
            found: list[ConsumerView] = []
            for sub in queue.consumers:
                if sub.closed:
                    continue
                client = sub.client
                if isinstance(client, NetworkClient):
                    consumer = client.bridge.consumer_of(sub)
                    if consumer is None or consumer.draining:
                        continue
                    found.append(ConsumerView(client.bridge.peer, consumer.demand.hops + 1, consumer.demand.path))
                else:
                    found.append(ConsumerView())
            views[name] = found
        return views


def _ids(frame: Frame) -> list[str]:
    return [i for i in frame.body.decode("utf-8").split("\n") if i]


class Bridge:
    def __init__(
        self,
        registry: Registry,
        peer: str,
        peer_store: str,
        settings: BridgeSettings,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        forward: bool,
        advertise: bool,
        log: logging.Logger,
        parser: FrameParser | None = None,
    ) -> None:
        self.registry = registry
        self.broker = registry.broker
        self.local = registry.broker.name
        self.peer = peer
        self.peer_store = peer_store
        self.settings = settings
        self.reader = reader
        self.writer = writer
        self.forward = forward
        self.advertise = advertise
        self.log = log
        self.parser = parser or FrameParser(V1_2)
        self.closed = False
        self.client = NetworkClient(self)
        self._consumers: dict[str, list[_NetworkConsumer]] = {}
        self._by_sub: dict[int, _NetworkConsumer] = {}
        self._awaiting: dict[str, Subscription] = {}  # forwarded, no receipt yet
        self.held_here: set[str] = set()  # received and stored here, held until the sender's COMMIT
        self._last_sent = time.monotonic()
        self._last_heard = time.monotonic()
        self._advertised: dict[str, Demand] | None = None
        self._stalled = False
        self._outgoing: list[bytes] = []  # frames of this event-loop turn, not written yet
        self._forgets: list[str] = []  # released here, stored unmarked: one FORGET per event-loop turn
        self.refused_late = 0
        self.forwarded = 0
        self.received = 0
        self.name = f"{settings.connector}:{self.local}->{peer}"

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the bridge until the connection ends, goes silent, or the task is cancelled."""
        self.registry.bridges.add(self)
        tasks = [asyncio.ensure_future(self._heartbeats())]
        # Settling what earlier bridges left needs only the two stores' records, so it runs on any
        # bridge between them, whichever way it forwards: the first one up after a restart settles.
        # Tombstones the peer may no longer need (a FORGET lost with a bridge or a process):
        tombstones = self.registry.tombstones_for(self.peer_store)
        if tombstones:
            self._write(frame_bytes("FORWARDED", {}, "\n".join(tombstones).encode()))
        doubtful = self.registry.in_doubt(self.peer_store)
        if doubtful:
            self.log.info(
                "Network bridge %s: asking %s about %d message(s) held since a bridge failed",
                self.name,
                self.peer,
                len(doubtful),
            )
            self._write(frame_bytes("RESOLVE", {}, "\n".join(doubtful).encode()))
        if self.advertise:
            tasks.append(asyncio.ensure_future(self._advertise_demand()))
        try:
            await self._read()
        finally:
            for task in tasks:
                task.cancel()
            self.close()

    def close(self) -> None:
        """Drop the connection; what awaited a receipt goes back to its queue for another consumer."""
        if self.closed:
            return
        self.closed = True
        self.registry.bridges.discard(self)
        # What awaited a receipt goes back to its queue; the peer may have stored it: it asks about
        # it on the next bridge (RESOLVE), and no tombstone names it, so it drops its copy.
        for consumers in self._consumers.values():
            for consumer in consumers:
                self.broker.unsubscribe(consumer.sub)
        self._consumers.clear()
        self._by_sub.clear()
        self._awaiting.clear()
        # abort: a peer that reads on after a pause must not find frames sent before we gave up.
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    def consumer_of(self, sub: Subscription) -> _NetworkConsumer | None:
        return self._by_sub.get(id(sub))

    # -- writing ----------------------------------------------------------------------------------

    def can_send(self) -> bool:
        if self.closed:
            return False
        if time.monotonic() - self._last_heard > SEND_SILENCE_S:
            self._stalled = True
            return False
        return True

    def _write(self, data: bytes) -> None:
        """Queue a frame; the frames of one event-loop turn leave in one write (one system call)."""
        if self.closed:
            return
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._send_outgoing)
        self._outgoing.append(data)
        self._last_sent = time.monotonic()

    def _send_outgoing(self) -> None:
        frames, self._outgoing = self._outgoing, []
        if not self.closed:
            self.writer.write(b"".join(frames))

    async def _heartbeats(self) -> None:
        while not self.closed:
            await asyncio.sleep(HEARTBEAT_S / 2)
            now = time.monotonic()
            if now - self._last_heard > LIVENESS_S:
                self.log.warning(
                    "Network bridge %s: nothing heard from %s for %.1f s; closing it",
                    self.name,
                    self.peer,
                    now - self._last_heard,
                )
                self.writer.transport.abort()
                return
            if now - self._last_sent >= HEARTBEAT_S:
                self._write(HEARTBEAT)

    async def _advertise_demand(self) -> None:
        while not self.closed:
            demand = advertised(self.local, self.peer, self.settings.ttl, self.registry.consumer_views())
            if demand != self._advertised:
                self._advertised = demand
                self._write(frame_bytes("DEMAND", {}, demand_body(demand)))
            await asyncio.sleep(DEMAND_POLL_S)

    # -- reading ----------------------------------------------------------------------------------

    async def _read(self) -> None:
        for frame in self.parser.feed(b""):
            self._handle(frame)
        while not self.closed:
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError) as exc:
                self.log.info("Network bridge %s to %s failed: %s", self.name, self.peer, exc)
                return
            if not data:
                self.log.info("Network bridge %s: %s closed the connection", self.name, self.peer)
                return
            self._last_heard = time.monotonic()
            if self._stalled:
                self._stalled = False
                self.broker.wake(c.sub.container for cs in self._consumers.values() for c in cs)
            try:
                frames = self.parser.feed(data)
            except FrameError as exc:
                self.log.error("Network bridge %s: bad frame from %s: %s", self.name, self.peer, exc)
                return
            for frame in frames:
                try:
                    self._handle(frame)
                except ValueError as exc:
                    self.log.error("Network bridge %s: %s", self.name, exc)
                    return

    def _handle(self, frame: Frame) -> None:
        command = frame.command
        if command == "FORWARD" and self.advertise:
            self._on_forward(frame)
        elif command == "RECEIPT" and self.forward:
            self._on_receipt(frame.headers.get("id", ""))
        elif command == "DEMAND" and self.forward:
            self._on_demand(parse_demand(frame.body))
        elif command == "COMMIT" and self.advertise:
            self._on_commit(frame.headers.get("id", ""))
        elif command == "RESOLVE":
            self._on_resolve(_ids(frame))
        elif command == "RESOLVED":
            self._on_resolved(parse_resolved(frame.body))
        elif command == "FORWARDED":
            self._on_forwarded(_ids(frame))
        elif command == "FORGET":
            self.registry.forget(self.peer_store, _ids(frame))
        else:
            raise ValueError(f"unexpected {command} frame from {self.peer}")

    # -- receiving messages -------------------------------------------------------------------------

    def _on_forward(self, frame: Frame) -> None:
        msg = forwarded_message(frame, BROKER_PATH_HEADER)
        age = time.time() - int(frame.headers.get("sent", "0")) / 1000.0
        if age > MAX_AGE_S:
            # Read late (this process was paused, or the link held it): the sender may have given up
            # on the bridge and sent it elsewhere. No receipt: if not, it sends it again.
            self.refused_late += 1
            raise ValueError(f"{msg.message_id} from {self.peer} arrived {age:.1f} s after it was sent")
        self.received += 1
        audit = self.registry.audit
        if msg.message_id in self.broker.held:
            if msg.message_id not in self.registry.in_session():
                # Held since a bridge failed, and the sender still has it: this bridge confirms it.
                self.held_here.add(msg.message_id)
            self._write(frame_bytes("RECEIPT", {"id": msg.message_id}))
            return
        if audit.seen(msg.message_id):
            self.log.debug("Network bridge %s: duplicate %s from %s dropped", self.name, msg.message_id, self.peer)
            self._write(frame_bytes("RECEIPT", {"id": msg.message_id}))
            return
        try:
            stored = self.broker.receive(msg, self.peer_store)
        except RequestRefused as exc:
            self.log.warning("Network bridge %s: dropping %s from %s: %s", self.name, msg.message_id, self.peer, exc)
            self._write(frame_bytes("RECEIPT", {"id": msg.message_id}))
            return
        self.held_here.add(msg.message_id)
        if stored is None:
            self._write(frame_bytes("RECEIPT", {"id": msg.message_id}))
        else:
            message_id = msg.message_id
            stored.add_done_callback(lambda f: self._stored(f, message_id))

    def _stored(self, stored: asyncio.Future[None], message_id: str) -> None:
        if stored.cancelled() or stored.exception() is not None:
            # Not stored: no receipt; the sender keeps the message and sends it again.
            self.registry.audit.forget(message_id)
            self.held_here.discard(message_id)
            self.broker.held.pop(message_id, None)
            return
        self._write(frame_bytes("RECEIPT", {"id": message_id}))

    # -- forwarding -----------------------------------------------------------------------------------

    def _on_demand(self, demand: dict[str, Demand]) -> None:
        wanted: dict[str, Demand] = {}
        for queue, entry in demand.items():
            if self.settings.queues.bridges(queue):
                wanted[queue] = entry
        for queue in self.settings.queues.static_names:
            wanted.setdefault(queue, Demand(0, 1, (self.peer,)))
        for queue in list(self._consumers):
            if queue not in wanted:
                for consumer in self._consumers[queue]:
                    self._drain(consumer)
        for queue, entry in wanted.items():
            count = 1 if self.settings.conduit else max(1, entry.count)
            live = [c for c in self._consumers.get(queue, []) if not c.draining]
            for consumer in live:
                consumer.demand = entry
            for consumer in live[count:]:
                self._drain(consumer)
            for _ in range(count - len(live)):
                self._subscribe(queue, entry)

    def _subscribe(self, queue: str, demand: Demand) -> None:
        priority = 0
        if self.settings.decrease_priority:
            priority = NETWORK_CONSUMER_PRIORITY - demand.hops
        try:
            sub = self.broker.subscribe(
                self.client,
                f"network-{next(_serial)}",
                queue,
                AckMode.CLIENT_INDIVIDUAL,
                self.settings.prefetch,
                priority=priority,
            )
        except RequestRefused as exc:
            self.log.warning("Network bridge %s: cannot forward %s: %s", self.name, queue, exc)
            return
        consumer = _NetworkConsumer(sub, demand)
        sub.accepts = self._filter(consumer, queue)
        self._consumers.setdefault(queue, []).append(consumer)
        self._by_sub[id(sub)] = consumer

    def _filter(self, consumer: _NetworkConsumer, queue_name: str) -> Callable[[Message], bool]:
        peer, ttl, broker = self.peer, self.settings.ttl, self.broker

        def accepts(msg: Message) -> bool:
            if consumer.draining:
                return False
            path = broker_path(msg.headers)
            replay = False
            if peer in path:
                queue = broker.queues.get(queue_name)
                replay = (
                    queue is not None
                    and queue.policy.replay_when_no_consumers
                    and not any(not isinstance(s.client, NetworkClient) for s in queue.consumers)
                )
            return may_forward(path, peer, ttl, replay)

        return accepts

    def _drain(self, consumer: _NetworkConsumer) -> None:
        """Stop giving the consumer messages; close it once its forwarded messages are receipted."""
        consumer.draining = True
        if not consumer.sub.inflight:
            self._remove(consumer)

    def _remove(self, consumer: _NetworkConsumer) -> None:
        self.broker.unsubscribe(consumer.sub)
        self._by_sub.pop(id(consumer.sub), None)
        queue = consumer.sub.destination
        remaining = [c for c in self._consumers.get(queue, []) if c is not consumer]
        if remaining:
            self._consumers[queue] = remaining
        else:
            self._consumers.pop(queue, None)

    def _removed(self, removed: asyncio.Future[None], message_id: str) -> None:
        if removed.cancelled() or removed.exception() is not None:
            return  # our copy may survive (a failed store ends the term): the peer keeps its copy held
        self._write(frame_bytes("COMMIT", {"id": message_id}))

    def send_message(self, sub: Subscription, msg: Message) -> None:
        path = extended_path(broker_path(msg.headers), self.local)
        self._awaiting[msg.message_id] = sub
        self.forwarded += 1
        self._write(forward_frame(msg, path, int(time.time() * 1000)))

    def _on_commit(self, message_id: str) -> None:
        if message_id in self.held_here:
            self.held_here.discard(message_id)
            self._release(message_id)

    def _release(self, message_id: str) -> None:
        """Deliver a held message; once that is stored, the sender may drop its tombstone."""
        if message_id not in self.broker.held:
            return
        written = self.broker.release_held(message_id)
        if written is None:
            self._forget(message_id)
            return
        self.registry.releasing.add(message_id)
        written.add_done_callback(lambda f: self._released(f, message_id))

    def _released(self, written: asyncio.Future[None], message_id: str) -> None:
        self.registry.releasing.discard(message_id)
        if written.cancelled() or written.exception() is not None:
            return  # the term ends: the next master holds it again and asks
        # On a closed bridge nothing is written: the sender lists its tombstones on the next one.
        self._forget(message_id)

    def _forget(self, message_id: str) -> None:
        """Tell the sender to drop the tombstone; the ids of one event-loop turn go in one frame
        (a write stores many releases at once), which the sender drops in one write."""
        if not self._forgets:
            asyncio.get_running_loop().call_soon(self._send_forgets)
        self._forgets.append(message_id)

    def _send_forgets(self) -> None:
        ids, self._forgets = self._forgets, []
        self._write(frame_bytes("FORGET", {}, "\n".join(ids).encode()))

    def _on_forwarded(self, tombstones: list[str]) -> None:
        settled = self.registry.settled(tombstones)
        if settled:
            self._write(frame_bytes("FORGET", {}, "\n".join(settled).encode()))

    def _on_resolved(self, answer: tuple[list[str], list[str]]) -> None:
        release, drop = answer
        live = self.registry.in_session()
        for message_id in release:
            if message_id not in live:
                self._release(message_id)
        for message_id in drop:
            if message_id not in live and message_id in self.broker.held:
                self.broker.drop_held(message_id)
                self.registry.audit.forget(message_id)
        self.log.info(
            "Network bridge %s: %s confirmed %d held message(s), kept %d", self.name, self.peer, len(release), len(drop)
        )

    def _on_resolve(self, ids: list[str]) -> None:
        """The peer holds these since a bridge failed: it delivers the ones our store's tombstones
        say went to it, and drops the others (see ``Registry.answer``)."""
        release, drop = self.registry.answer(self.peer_store, ids)
        self._write(frame_bytes("RESOLVED", {}, resolved_body(release, drop)))

    def _on_receipt(self, message_id: str) -> None:
        sub = self._awaiting.pop(message_id, None)
        if sub is None or sub.closed:
            return
        try:
            # The removal and a tombstone naming the peer's store, in one write.
            removed = self.broker.ack(sub, message_id, forwarded_to=self.peer_store)
        except RequestRefused:
            return
        # The message left this broker: should it come back (a replay), it is no duplicate.
        self.registry.audit.forget(message_id)
        if removed is None:
            self.registry.acked_volatile(self.peer_store, message_id)
        # The peer delivers it once our own copy is gone for good (our ack stored).
        if removed is None:
            self._write(frame_bytes("COMMIT", {"id": message_id}))
        else:
            removed.add_done_callback(lambda f: self._removed(f, message_id))
        consumer = self._by_sub.get(id(sub))
        if consumer is not None and consumer.draining and not sub.inflight:
            self._remove(consumer)
