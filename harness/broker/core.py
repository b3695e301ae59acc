"""The broker core: destinations, subscriptions, dispatch, acknowledgements, transactions.

It knows nothing about sockets or frames: connections call it and it calls back ``Client.deliver``.
Everything runs on the event loop thread. Persistent queue messages are journaled through the
``Store``; an operation whose confirmation must wait for the disk returns the store's future.

Messages become visible to consumers as soon as they are accepted (like ActiveMQ's concurrent
store and dispatch); only the RECEIPT waits for the fsync. The journal keeps the order in which
operations were accepted, so an acknowledgement is never on disk before the message it removes.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from harness.broker.journal import AddOp, Op, RemoveOp
from harness.broker.message import DLQ, QUEUE_PREFIX, TOPIC_PREFIX, Message, MessageIds

DEFAULT_PREFETCH = 1000


class AckMode(StrEnum):
    AUTO = "auto"
    CLIENT = "client"
    CLIENT_INDIVIDUAL = "client-individual"


class BrokerError(Exception):
    """A client request the broker refuses; the connection reports it in an ERROR frame."""


class Client(Protocol):
    """What the core needs from a connection."""

    def deliver(self, subscription: Subscription, message: Message) -> None: ...

    def can_receive(self) -> bool: ...


class Store(Protocol):
    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]: ...


class Subscription:
    """One consumer: a client's subscription to one destination, with its unacknowledged messages."""

    def __init__(self, client: Client, sub_id: str, destination: Destination, ack_mode: AckMode, prefetch: int) -> None:
        self.client = client
        self.sub_id = sub_id
        self.destination = destination
        self.ack_mode = ack_mode
        self.prefetch = max(1, prefetch)
        self.inflight: dict[str, Message] = {}  # delivered, not yet acknowledged; in delivery order
        self.closed = False

    @property
    def explicit_ack(self) -> bool:
        return self.ack_mode is not AckMode.AUTO

    def has_capacity(self) -> bool:
        if self.explicit_ack and len(self.inflight) >= self.prefetch:
            return False
        return self.client.can_receive()

    def take(self, message_id: str, cumulative: bool) -> list[Message] | None:
        """Remove an acknowledged message (and, cumulatively, all delivered before it) from inflight."""
        if message_id not in self.inflight:
            return None
        if not cumulative:
            return [self.inflight.pop(message_id)]
        taken: list[Message] = []
        while True:
            key = next(iter(self.inflight))
            taken.append(self.inflight.pop(key))
            if key == message_id:
                return taken


class Destination:
    def __init__(self, name: str) -> None:
        self.name = name
        self.subscriptions: list[Subscription] = []

    def has_work(self) -> bool:
        raise NotImplementedError


class Queue(Destination):
    """Point-to-point: each message goes to one consumer, round-robin among those with capacity."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._pending: list[tuple[int, Message]] = []  # heap by seq: redeliveries keep their place
        self._next = 0

    def __len__(self) -> int:
        return len(self._pending)

    def push(self, message: Message) -> None:
        heapq.heappush(self._pending, (message.seq, message))

    def pending(self) -> list[Message]:
        return [m for _, m in sorted(self._pending, key=lambda item: item[0])]

    def has_work(self) -> bool:
        return bool(self._pending) and any(s.has_capacity() for s in self.subscriptions)

    def next_consumer(self) -> Subscription | None:
        subs = self.subscriptions
        n = len(subs)
        for i in range(n):
            sub = subs[(self._next + i) % n]
            if sub.has_capacity():
                self._next = (self._next + i + 1) % n
                return sub
        return None

    def pop(self) -> Message | None:
        return heapq.heappop(self._pending)[1] if self._pending else None


class Topic(Destination):
    """Publish/subscribe without durable subscriptions: a copy to each subscriber present at dispatch."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.outgoing: list[Message] = []

    def has_work(self) -> bool:
        if not self.subscriptions:
            self.outgoing.clear()  # nobody to receive them: non-durable topic messages are dropped
        return bool(self.outgoing)


@dataclass
class Transaction:
    tx_id: str
    sends: list[Message] = field(default_factory=list)
    # (acknowledged messages, whether they were NACKed)
    acks: list[tuple[list[Message], bool]] = field(default_factory=list)


class Broker:
    """The in-memory state of one master term."""

    def __init__(
        self,
        name: str,
        epoch: int,
        store: Store | None,
        fence: Callable[[], bool],
        loop: asyncio.AbstractEventLoop,
        max_queue_name_length: int | None = None,
    ) -> None:
        """``max_queue_name_length``: the longest queue name (without /queue/) the store can hold."""
        self.name = name
        self.max_queue_name_length = max_queue_name_length
        self.ids = MessageIds(name, epoch)
        self._store = store
        self._fence = fence
        self._loop = loop
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, Topic] = {}
        self._seq = 0
        self._dirty: set[Destination] = set()
        self._scheduled = False
        self._auto_removed: list[Op] = []
        self.closed = False

    # -- destinations ---------------------------------------------------------------------------

    def destination(self, name: str) -> Destination:
        if name.startswith(QUEUE_PREFIX) and len(name) > len(QUEUE_PREFIX):
            queue = self.queues.get(name)
            if queue is None:
                limit = self.max_queue_name_length
                if limit is not None and len(name) - len(QUEUE_PREFIX) > limit:
                    raise BrokerError(
                        f"Queue name too long for the store: {len(name) - len(QUEUE_PREFIX)} characters "
                        f"(at most {limit})"
                    )
                queue = self.queues[name] = Queue(name)
            return queue
        if name.startswith(TOPIC_PREFIX) and len(name) > len(TOPIC_PREFIX):
            topic = self.topics.get(name)
            if topic is None:
                topic = self.topics[name] = Topic(name)
            return topic
        raise BrokerError(f"Unsupported destination {name!r}: use /queue/NAME or /topic/NAME")

    def queue_depths(self) -> dict[str, int]:
        return {name: len(q) + sum(len(s.inflight) for s in q.subscriptions) for name, q in self.queues.items()}

    def restore(self, messages: Iterable[Message]) -> int:
        """Load recovered persistent messages (already in the journal) in their journal order."""
        count = 0
        for msg in messages:
            dest = self.destination(msg.destination)
            if isinstance(dest, Queue):
                self._seq += 1
                msg.seq = self._seq
                dest.push(msg)
                count += 1
        return count

    # -- producing ------------------------------------------------------------------------------

    def send(
        self,
        destination: str,
        headers: dict[str, str],
        body: bytes,
        persistent: bool,
        tx: Transaction | None = None,
    ) -> asyncio.Future[None] | None:
        self.destination(destination)  # validate now, even inside a transaction
        msg = Message(self.ids.next(), destination, headers, body, persistent)
        if tx is not None:
            tx.sends.append(msg)
            return None
        ops: list[Op] = []
        self._accept(msg, ops)
        return self._log(ops)

    def _accept(self, msg: Message, ops: list[Op]) -> None:
        dest = self.destination(msg.destination)
        if isinstance(dest, Queue):
            self._seq += 1
            msg.seq = self._seq
            dest.push(msg)
            if msg.persistent:
                ops.append(AddOp(msg))
        else:
            assert isinstance(dest, Topic)
            if dest.subscriptions:
                dest.outgoing.append(msg)
        self._schedule(dest)

    def _log(self, ops: list[Op]) -> asyncio.Future[None] | None:
        if not ops or self._store is None:
            return None
        return self._store.append(ops)

    # -- consuming ------------------------------------------------------------------------------

    def subscribe(
        self,
        client: Client,
        sub_id: str,
        destination: str,
        ack_mode: AckMode,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> Subscription:
        dest = self.destination(destination)
        sub = Subscription(client, sub_id, dest, ack_mode, prefetch)
        dest.subscriptions.append(sub)
        self._schedule(dest)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Close a subscription; its unacknowledged queue messages go back for redelivery."""
        if sub.closed:
            return
        sub.closed = True
        dest = sub.destination
        dest.subscriptions.remove(sub)
        inflight = list(sub.inflight.values())
        sub.inflight.clear()
        if isinstance(dest, Queue):
            self._release(inflight)

    def _release(self, messages: Iterable[Message]) -> None:
        for msg in messages:
            dest = self.queues.get(msg.destination)
            if dest is None:
                continue
            msg.redelivered = True
            dest.push(msg)
            self._schedule(dest)

    def ack(self, sub: Subscription, message_id: str, tx: Transaction | None = None) -> asyncio.Future[None] | None:
        return self._settle(sub, message_id, tx, nack=False)

    def nack(self, sub: Subscription, message_id: str, tx: Transaction | None = None) -> asyncio.Future[None] | None:
        return self._settle(sub, message_id, tx, nack=True)

    def _settle(
        self, sub: Subscription, message_id: str, tx: Transaction | None, nack: bool
    ) -> asyncio.Future[None] | None:
        verb = "NACK" if nack else "ACK"
        if not sub.explicit_ack:
            raise BrokerError(f"Unexpected {verb} received for message-id [{message_id}]: subscription uses ack:auto")
        messages = sub.take(message_id, cumulative=sub.ack_mode is AckMode.CLIENT)
        if messages is None:
            raise BrokerError(f"Unexpected {verb} received for message-id [{message_id}]")
        self._schedule(sub.destination)  # prefetch room
        if isinstance(sub.destination, Topic):
            return None  # non-durable topic messages are not stored: nothing to remove
        if tx is not None:
            tx.acks.append((messages, nack))
            return None
        ops: list[Op] = []
        self._remove(messages, nack, ops)
        return self._log(ops)

    def _remove(self, messages: list[Message], nack: bool, ops: list[Op]) -> None:
        for msg in messages:
            if msg.persistent:
                ops.append(RemoveOp(msg.message_id))
            if nack and msg.persistent:
                # Like ActiveMQ's default dead letter strategy: persistent messages go to ActiveMQ.DLQ
                # (same id), non-persistent ones are discarded.
                headers = dict(msg.headers)
                headers.setdefault("original-destination", msg.destination)
                dead = Message(msg.message_id, DLQ, headers, msg.body, True)
                self._accept(dead, ops)

    # -- transactions ---------------------------------------------------------------------------

    def commit(self, tx: Transaction) -> asyncio.Future[None] | None:
        ops: list[Op] = []
        for msg in tx.sends:
            self._accept(msg, ops)
        for messages, nack in tx.acks:
            self._remove(messages, nack, ops)
        tx.sends.clear()
        tx.acks.clear()
        return self._log(ops)

    def abort(self, tx: Transaction) -> None:
        """Drop the transaction's sends; its acknowledged messages are redelivered."""
        tx.sends.clear()
        for messages, _nack in tx.acks:
            self._release(messages)
        tx.acks.clear()

    # -- dispatch -------------------------------------------------------------------------------

    def wake(self, destinations: Iterable[Destination]) -> None:
        """A client can take more messages (its socket drained): look at its destinations again."""
        for dest in destinations:
            self._schedule(dest)

    def _schedule(self, dest: Destination) -> None:
        self._dirty.add(dest)
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        if self.closed:
            return
        dirty, self._dirty = self._dirty, set()
        work = [d for d in dirty if d.has_work()]
        if not work:
            return
        # One fence check per dispatch round: a deposed master must not hand out messages.
        if not self._fence():
            return
        for dest in work:
            if isinstance(dest, Queue):
                self._dispatch_queue(dest)
            else:
                assert isinstance(dest, Topic)
                self._dispatch_topic(dest)
        if self._auto_removed:
            ops, self._auto_removed = self._auto_removed, []
            self._log(ops)

    def _dispatch_queue(self, queue: Queue) -> None:
        while len(queue):
            sub = queue.next_consumer()
            if sub is None:
                return
            msg = queue.pop()
            assert msg is not None
            if sub.explicit_ack:
                sub.inflight[msg.message_id] = msg
            elif msg.persistent:
                # ack:auto is at-most-once, like ActiveMQ: consumed as it is handed to the socket.
                self._auto_removed.append(RemoveOp(msg.message_id))
            sub.client.deliver(sub, msg)

    def _dispatch_topic(self, topic: Topic) -> None:
        outgoing, topic.outgoing = topic.outgoing, []
        for msg in outgoing:
            for sub in list(topic.subscriptions):
                if sub.explicit_ack:
                    sub.inflight[msg.message_id] = msg
                sub.client.deliver(sub, msg)

    def close(self) -> None:
        """Stop all activity; the state is dropped with this object."""
        self.closed = True
        self._dirty.clear()
