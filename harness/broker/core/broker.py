"""The broker core: routing, dispatch, acknowledgements, transactions, redelivery, dead letters, expiry.

It knows nothing about sockets or frames: connections call it and it calls back ``Client.deliver``.
Everything runs on the event loop thread. Persistent messages of queues and durable subscriptions
are journaled through the ``Store``; an operation whose confirmation must wait for the disk returns
the store's future.

Messages become visible to consumers as soon as they are accepted (like ActiveMQ's concurrent
store and dispatch); only the RECEIPT waits for the fsync. The journal keeps the order in which
operations were accepted, so an acknowledgement is never on disk before the message it removes.

Poisoned messages (NACK) follow ActiveMQ: without a <redeliveryPlugin> they go to the dead letter
destination of their destination's policy (ActiveMQ.DLQ by default; non-persistent ones are
dropped); with one, they come back after the policy's delay, with ``redelivered:true``, until
maximumRedeliveries is used up. Expired messages go to the dead letter destination too.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from harness.broker.core.destinations import AckMode, Client, Queue, Subscription, SubscriptionQueue, Topic
from harness.broker.core.policy import PolicyMap, RedeliverySettings
from harness.broker.core.properties import resolver
from harness.broker.core.selector import Selector
from harness.broker.core.selector import parse as parse_selector
from harness.broker.message import (
    DEFAULT_PRIORITY,
    HELD_HEADER,
    QUEUE_PREFIX,
    REMOTE_TEMP_QUEUE_PREFIX,
    REMOTE_TEMP_TOPIC_PREFIX,
    TOPIC_PREFIX,
    Location,
    Message,
    MessageIds,
    is_queue,
    is_temporary,
)
from harness.broker.store.contract import (
    FORWARDED_CONTAINER,
    RECEIVER_HEADER,
    STORE_ID_CONTAINER,
    STORE_ID_HEADER,
    STORE_ID_RECORD,
    UNLIMITED,
    AddOp,
    DurableSubscriptionRecord,
    Op,
    RemoveOp,
    Store,
    StoreLimits,
    SubscribeOp,
    UnsubscribeOp,
    is_record_container,
)

__all__ = ["AckMode", "Broker", "Client", "CoreSettings", "RequestRefused", "Subscription", "Transaction"]

log = logging.getLogger("pybroker")

# How long a deferred write (``Broker._defer``) waits for another write to ride on.
DEFER_S = 0.05
# How long a forwarded message's removal waits for another write (see ``_settle``).
FORWARDED_ACK_LINGER_S = 0.002


class RequestRefused(Exception):
    """A client request the broker refuses; the connection reports it in an ERROR frame."""


@dataclass(frozen=True)
class CoreSettings:
    """What the core takes from activemq.xml."""

    policies: PolicyMap = field(default_factory=PolicyMap)
    redelivery: RedeliverySettings | None = None
    scheduler_support: bool = False


@dataclass
class TxAck:
    subscription: Subscription
    messages: list[Message]
    nack: bool


@dataclass
class Transaction:
    tx_id: str
    sends: list[Message] = field(default_factory=list)
    acks: list[TxAck] = field(default_factory=list)


class _Wakeup(Enum):
    DELIVER = "deliver"  # a scheduled message's time has come
    EXPIRE = "expire"


def _pass_on(written: asyncio.Future[None], waiters: list[asyncio.Future[None]]) -> None:
    """The outcome of a write to the futures of the deferred records it carried."""
    for waiter in waiters:
        if waiter.done():
            continue
        if written.cancelled():
            waiter.cancel()
        elif written.exception() is not None:
            waiter.set_exception(written.exception())  # type: ignore[arg-type]
        else:
            waiter.set_result(None)


def durable_key(client_id: str, name: str) -> str:
    """The container name of a durable subscription (unambiguous whatever the ids contain)."""
    return f"durable:{len(client_id)}:{client_id}:{name}"


class Broker:
    """The in-memory state of one master term."""

    def __init__(
        self,
        name: str,
        epoch: int,
        store: Store | None,
        fence: Callable[[], bool],
        loop: asyncio.AbstractEventLoop,
        settings: CoreSettings | None = None,
        clock: Callable[[], float] = time.time,
        limits: StoreLimits = UNLIMITED,
    ) -> None:
        """``limits``: what the store can hold (queue name length, durable subscriptions)."""
        self.name = name
        self.limits = limits
        self.ids = MessageIds(name, epoch)
        self.settings = settings or CoreSettings()
        self._store = store
        self._fence = fence
        self._loop = loop
        self._clock = clock
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, Topic] = {}
        self.durables: dict[str, SubscriptionQueue] = {}
        self._seq = 0
        self._subscription_serial = itertools.count(1)
        self._dirty: set[Queue] = set()
        self._scheduled = False
        self._auto_removed: list[Op] = []
        # Writes that may wait (see ``_defer``): they go first in the next write, or after DEFER_S.
        self._deferred: list[Op] = []
        self._deferred_waiters: list[asyncio.Future[None]] = []
        self._deferred_timer: asyncio.TimerHandle | None = None
        self._wakeups: list[tuple[int, int, _Wakeup, Queue, Message]] = []
        self._wakeup_serial = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0
        self.closed = False
        # Messages a bridge stored but may not deliver yet (see ``receive``), by id.
        self.held: dict[str, Message] = {}
        # Tombstones (see ``ack``): id of a message that left over a bridge -> the receiver's store id.
        self.forwarded: dict[str, str] = {}
        self.store_id: str | None = None

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- destinations ---------------------------------------------------------------------------

    def check_destination(self, name: str) -> None:
        """Raise RequestRefused unless ``name`` is a destination this broker can use."""
        for prefix in (QUEUE_PREFIX, TOPIC_PREFIX, REMOTE_TEMP_QUEUE_PREFIX, REMOTE_TEMP_TOPIC_PREFIX):
            if name.startswith(prefix) and len(name) > len(prefix):
                break
        else:
            raise RequestRefused(
                f"Unsupported destination {name!r}: use /queue/NAME, /topic/NAME, /temp-queue/NAME or /temp-topic/NAME"
            )
        if name.startswith(REMOTE_TEMP_QUEUE_PREFIX) and name not in self.queues:
            raise RequestRefused(f"Cannot publish to a deleted Destination: {name}")
        if name.startswith(REMOTE_TEMP_TOPIC_PREFIX) and name not in self.topics:
            raise RequestRefused(f"Cannot publish to a deleted Destination: {name}")
        limit = self.limits.max_queue_name_length
        if limit is not None and name.startswith(QUEUE_PREFIX) and name not in self.queues:
            length = len(name) - len(QUEUE_PREFIX)
            if length > limit:
                raise RequestRefused(f"Queue name too long for the store: {length} characters (at most {limit})")

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            self.check_destination(name)
            queue = self.queues[name] = Queue(name, self.settings.policies.policy_for(name))
        return queue

    def topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            self.check_destination(name)
            topic = self.topics[name] = Topic(name)
        return topic

    def create_temporary(self, name: str, owner: object) -> None:
        """A temporary queue or topic (``/remote-temp-...`` name) that lives as long as its connection."""
        if is_queue(name):
            policy = self.settings.policies.policy_for(name)
            self.queues[name] = Queue(name, policy, journaled=False, owner=owner)
        else:
            self.topics[name] = Topic(name, owner=owner)

    def delete_temporary(self, name: str) -> None:
        queue = self.queues.pop(name, None)
        if queue is not None:
            queue.deleted = True
            for sub in list(queue.consumers):
                self.unsubscribe(sub)
            queue.pending.clear()
            queue.scheduled.clear()
            queue.fresh.clear()
        topic = self.topics.pop(name, None)
        if topic is not None:
            topic.deleted = True
            for container in list(topic.subscriptions):
                for sub in list(container.consumers):
                    self.unsubscribe(sub)

    def queue_depths(self) -> dict[str, int]:
        """Messages held per queue (pending, scheduled and unacknowledged)."""
        return {name: q.depth() for name, q in self.queues.items()}

    def restore(self, messages: Iterable[Message], subscriptions: Iterable[DurableSubscriptionRecord] = ()) -> int:
        """Load recovered durable subscriptions and persistent messages (already journaled), in journal order."""
        for record in subscriptions:
            self._add_durable(record)
        now = self.now_ms()
        count = 0
        for msg in messages:
            name = msg.container or msg.destination
            if is_record_container(name):
                self._restore_record(msg)
                continue
            container: Queue | None = self.durables.get(name)
            if container is None and name.startswith(QUEUE_PREFIX):
                container = self.queue(name)
            if container is None:
                log.warning("Journal holds message %s for unknown container %s; skipped", msg.message_id, name)
                continue
            if HELD_HEADER in msg.headers:
                msg.container = container.name
                self.held[msg.message_id] = msg
                continue
            self._place(container, msg, now, fresh=False)
            count += 1
        return count

    def _restore_record(self, msg: Message) -> None:
        if msg.container == FORWARDED_CONTAINER:
            self.forwarded[msg.message_id] = msg.headers.get(RECEIVER_HEADER, "")
        elif msg.container == STORE_ID_CONTAINER:
            self.store_id = msg.headers.get(STORE_ID_HEADER) or None
        else:
            log.warning("Store holds record %s in unknown container %s; skipped", msg.message_id, msg.container)

    def store_identity(self) -> tuple[str, asyncio.Future[None] | None]:
        """The store's identity, and the write that stores it when this is the store's first term
        (wait for it before another broker may address anything to the identity)."""
        if self.store_id is not None:
            return self.store_id, None
        self.store_id = uuid.uuid4().hex
        record = Message(STORE_ID_RECORD, STORE_ID_CONTAINER, {STORE_ID_HEADER: self.store_id}, b"", True)
        record.container = STORE_ID_CONTAINER
        return self.store_id, self._log([AddOp(record)])

    # -- producing ------------------------------------------------------------------------------

    def send(
        self,
        destination: str,
        headers: dict[str, str],
        body: bytes,
        persistent: bool,
        tx: Transaction | None = None,
        *,
        priority: int = DEFAULT_PRIORITY,
        expires: int = 0,
        timestamp: int = 0,
        deliver_at: int = 0,
        group_id: str | None = None,
        group_seq: int = 0,
        publisher: object | None = None,
    ) -> asyncio.Future[None] | None:
        self.check_destination(destination)  # validate now, even inside a transaction
        msg = Message(
            self.ids.next(),
            destination,
            headers,
            body,
            persistent,
            priority=priority,
            expires=expires,
            timestamp=timestamp or self.now_ms(),
            deliver_at=deliver_at,
            group_id=group_id,
            group_seq=group_seq,
            publisher=publisher,
        )
        if tx is not None:
            tx.sends.append(msg)
            return None
        ops: list[Op] = []
        self._route(msg, ops)
        return self._log(ops)

    def receive(self, msg: Message, sender_store: str) -> asyncio.Future[None] | None:
        """Store a queue message another broker forwarded, under its own id, and hold it: it is
        delivered only after ``release_held`` (the sender has dropped its own copy) and removed by
        ``drop_held`` (the sender kept it). Its stored record carries HELD_HEADER with the sender's
        store identity, so that after a restart it is held again until that store's master answers.
        A tombstone of an earlier trip of the message away from here goes in the same write: the
        message is back, so the tombstone no longer says where it is."""
        if not is_queue(msg.destination) or is_temporary(msg.destination):
            raise RequestRefused(f"Only queues cross a bridge, not {msg.destination}")
        queue = self.queue(msg.destination)
        msg.headers[HELD_HEADER] = sender_store
        msg.container = queue.name
        self.held[msg.message_id] = msg
        if msg.persistent and queue.journaled:
            ops: list[Op] = []
            if self.forwarded.pop(msg.message_id, None) is not None:
                ops.append(RemoveOp(msg.message_id, FORWARDED_CONTAINER))
            ops.append(AddOp(msg))
            return self._log(ops)
        return None

    def release_held(self, message_id: str) -> asyncio.Future[None] | None:
        """Deliver a held message; the future is the write that stores it unmarked (until then a
        restart holds it again, and its sender must keep its tombstone to answer)."""
        msg = self.held.pop(message_id, None)
        if msg is None:
            return None
        queue = self.queues.get(msg.container) or self.queue(msg.container)
        msg.headers = {k: v for k, v in msg.headers.items() if k != HELD_HEADER}
        msg.encoded.clear()
        self._place(queue, msg, self.now_ms(), fresh=True)
        if msg.persistent and queue.journaled:
            # Rewritten without the mark: every store replays a removal then an addition in order.
            # Deferred: until it is stored, a restart holds the message again and asks its sender,
            # which keeps its tombstone until then; a consumer's ack of it is written after it.
            return self._defer([RemoveOp(msg.message_id, queue.name), AddOp(msg)])
        return None

    def forget_forwarded(self, ids: Iterable[str]) -> asyncio.Future[None] | None:
        """Drop the tombstones of messages their receiver no longer holds undelivered."""
        ops: list[Op] = [
            RemoveOp(message_id, FORWARDED_CONTAINER)
            for message_id in ids
            if self.forwarded.pop(message_id, None) is not None
        ]
        # Deferred: a tombstone that outlives a crash is listed to its receiver again (FORWARDED).
        return self._defer(ops)

    def drop_held(self, message_id: str) -> asyncio.Future[None] | None:
        msg = self.held.pop(message_id, None)
        if msg is None:
            return None
        queue = self.queues.get(msg.container)
        if msg.persistent and (queue is None or queue.journaled):
            return self._log([RemoveOp(msg.message_id, msg.container)])
        return None

    def holds(self) -> set[str]:
        """Ids of every message this broker holds, delivered or not (a bridge peer asks about them)."""
        ids: set[str] = set(self.held)
        for queue in self.queues.values():
            ids.update(m.message_id for m in queue.waiting())
            ids.update(m.message_id for m in queue.inflight())
            ids.update(m.message_id for m in queue.scheduled)
        return ids

    def _route(self, msg: Message, ops: list[Op]) -> None:
        if is_queue(msg.destination):
            queue = self.queues.get(msg.destination)
            msg.publisher = None
            if queue is None:
                if msg.destination.startswith(REMOTE_TEMP_QUEUE_PREFIX):
                    return  # its connection is gone (the send passed the check before a commit)
                queue = self.queue(msg.destination)
            self._accept(queue, msg, ops)
            return
        topic = self.topics.get(msg.destination)
        if topic is None:
            return  # nobody subscribed: non-durable topic messages are dropped
        wanted = [container for container in topic.subscriptions if container.wants(msg)]
        msg.publisher = None
        for i, container in enumerate(wanted):
            self._accept(container, msg if i == 0 else msg.copy(), ops)

    def _accept(self, container: Queue, msg: Message, ops: list[Op]) -> None:
        if msg.persistent and container.journaled:
            msg.container = container.name
            ops.append(AddOp(msg))
        self._place(container, msg, self.now_ms(), fresh=True)

    def _place(self, container: Queue, msg: Message, now: int, fresh: bool) -> None:
        self._seq += 1
        msg.seq = self._seq
        msg.container = container.name
        if msg.deliver_at > now:
            container.scheduled.push(msg)
            self._wake_at(msg.deliver_at, _Wakeup.DELIVER, container, msg)
        elif fresh:
            msg.location = Location.FRESH
            container.fresh.append(msg)
        else:
            container.pending.push(msg)
            container.stale = True
        if msg.expires and container.policy.expire_messages_period_ms > 0:
            self._wake_at(msg.expires, _Wakeup.EXPIRE, container, msg)
        self._schedule(container)

    def _log(self, ops: list[Op]) -> asyncio.Future[None] | None:
        if not ops or self._store is None:
            return None
        if self._deferred:
            return self._write_with_deferred(ops)
        return self._store.append(ops)

    def _write_with_deferred(self, ops: list[Op]) -> asyncio.Future[None]:
        assert self._store is not None
        # First, so that every store replays the deferred removals and additions in their order.
        ops = self._deferred + ops
        waiters, self._deferred, self._deferred_waiters = self._deferred_waiters, [], []
        if self._deferred_timer is not None:
            self._deferred_timer.cancel()
            self._deferred_timer = None
        written = self._store.append(ops)
        written.add_done_callback(lambda f: _pass_on(f, waiters))
        return written

    def _defer(self, ops: list[Op], linger_s: float = DEFER_S) -> asyncio.Future[None] | None:
        """Write ``ops`` with the next write, or on their own after ``linger_s``: for records whose delay
        only lengthens a window the bridge protocol already settles after a crash (a tombstone the
        receiver no longer needs, a released message's unmarked copy), so that they cost no write
        (no fsync, no database round trip) of their own while other writes flow. The future is that
        write's, as with ``_log``."""
        if not ops or self._store is None:
            return None
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._deferred += ops
        self._deferred_waiters.append(waiter)
        due = self._loop.time() + linger_s
        if self._deferred_timer is None or self._deferred_timer.when() > due:
            if self._deferred_timer is not None:
                self._deferred_timer.cancel()
            self._deferred_timer = self._loop.call_at(due, self.write_deferred)
        return waiter

    def write_deferred(self) -> None:
        """Write the deferred records now (their time is up, or a graceful stop)."""
        if self._deferred and not self.closed:
            self._write_with_deferred([])

    # -- consuming ------------------------------------------------------------------------------

    def subscribe(
        self,
        client: Client,
        sub_id: str,
        destination: str,
        ack_mode: AckMode,
        prefetch: int | None = None,
        *,
        selector: Selector | None = None,
        exclusive: bool = False,
        priority: int = 0,
        no_local: bool = False,
        browser: bool = False,
    ) -> Subscription:
        """A queue consumer, a queue browser, or a non-durable topic subscriber."""
        policy = self.settings.policies.policy_for(destination)
        if is_queue(destination):
            queue = self.queue(destination)
            if queue.owner is not None and queue.owner is not client:
                raise RequestRefused(f"Cannot subscribe to a remote temporary destination: {destination}")
            if browser:
                sub = Subscription(client, sub_id, destination, queue, AckMode.AUTO, 1, selector=selector, browser=True)
                queue.browsers_waiting.append(sub)
            else:
                sub = Subscription(
                    client,
                    sub_id,
                    destination,
                    queue,
                    ack_mode,
                    policy.queue_prefetch if prefetch is None else prefetch,
                    selector=selector,
                    exclusive=exclusive,
                    priority=priority,
                )
                queue.add_consumer(sub)
            self._schedule(queue)
            return sub
        if browser:
            raise RequestRefused(f"browser:true is only valid on a queue, not on {destination}")
        topic = self.topic(destination)
        if topic.owner is not None and topic.owner is not client:
            raise RequestRefused(f"Cannot subscribe to a remote temporary destination: {destination}")
        name = f"{destination}#subscription-{next(self._subscription_serial)}"
        container = SubscriptionQueue(
            name, destination, policy, selector=selector, no_local=no_local, subscriber=client
        )
        topic.subscriptions.append(container)
        sub = Subscription(
            client,
            sub_id,
            destination,
            container,
            ack_mode,
            policy.topic_prefetch if prefetch is None else prefetch,
            priority=priority,
        )
        container.add_consumer(sub)
        return sub

    def subscribe_durable(
        self,
        client: Client,
        sub_id: str,
        client_id: str,
        name: str,
        destination: str,
        ack_mode: AckMode,
        prefetch: int | None = None,
        *,
        selector: Selector | None = None,
        no_local: bool = False,
    ) -> tuple[Subscription, asyncio.Future[None] | None]:
        """Attach to (or create) the durable subscription ``client_id``/``name`` on a topic.

        Like ActiveMQ, subscribing again with another topic, selector or noLocal replaces the
        subscription (its stored messages are dropped). The future is the journaled creation.
        """
        if is_queue(destination):
            raise RequestRefused("Invalid Subscription: cannot durably subscribe to a Queue destination!")
        if is_temporary(destination):
            raise RequestRefused("Invalid Subscription: cannot durably subscribe to a temporary topic")
        self.check_destination(destination)
        if not self.limits.durable_subscriptions:
            raise RequestRefused(
                f"Durable topic subscriptions are not supported by {self.limits.store_name}: "
                "subscribe without activemq.subscriptionName, or give the broker a <kahaDB> store"
            )
        key = durable_key(client_id, name)
        ops: list[Op] = []
        container = self.durables.get(key)
        if container is not None and container.consumers:
            raise RequestRefused(f"Durable consumer is in use for client: {client_id} and subscriptionName: {name}")
        selector_text = None if selector is None else selector.text
        if container is not None:
            record = container.durable
            assert record is not None
            if (record.destination, record.selector, record.no_local) != (destination, selector_text, no_local):
                log.info("Durable subscription %s/%s changed; replacing it and dropping its messages", client_id, name)
                self._drop_durable(container, ops)
                container = None
        if container is None:
            record = DurableSubscriptionRecord(key, client_id, name, destination, selector_text, no_local)
            container = self._add_durable(record, selector)
            ops.append(SubscribeOp(record))
        container.subscriber = client
        policy = container.policy
        sub = Subscription(
            client,
            sub_id,
            destination,
            container,
            ack_mode,
            policy.durable_topic_prefetch if prefetch is None else prefetch,
        )
        container.add_consumer(sub)
        self._schedule(container)
        return sub, self._log(ops)

    def _add_durable(self, record: DurableSubscriptionRecord, selector: Selector | None = None) -> SubscriptionQueue:
        if selector is None and record.selector is not None:
            selector = parse_selector(record.selector)
        container = SubscriptionQueue(
            record.key,
            record.destination,
            self.settings.policies.policy_for(record.destination),
            selector=selector,
            no_local=record.no_local,
            durable=record,
        )
        self.durables[record.key] = container
        self.topic(record.destination).subscriptions.append(container)
        return container

    def _drop_durable(self, container: SubscriptionQueue, ops: list[Op]) -> None:
        assert container.durable is not None
        ops.append(UnsubscribeOp(container.name))
        self.durables.pop(container.name, None)
        container.deleted = True
        topic = self.topics.get(container.topic)
        if topic is not None and container in topic.subscriptions:
            topic.subscriptions.remove(container)
        container.pending.clear()
        container.scheduled.clear()
        for msg in container.fresh:
            msg.location = Location.NOWHERE
        container.fresh.clear()

    def remove_durable(self, client_id: str, name: str) -> asyncio.Future[None] | None:
        """Delete a durable subscription and its messages (UNSUBSCRIBE with activemq.subscriptionName)."""
        container = self.durables.get(durable_key(client_id, name))
        if container is None:
            raise RequestRefused(
                f"No durable subscription exists for clientID: {client_id} and subscriptionName: {name}"
            )
        if container.consumers:
            raise RequestRefused("Durable consumer is in use")
        ops: list[Op] = []
        self._drop_durable(container, ops)
        return self._log(ops)

    def unsubscribe(self, sub: Subscription) -> None:
        """Close a subscription; its unacknowledged messages go back to be delivered again."""
        if sub.closed:
            return
        sub.closed = True
        container = sub.container
        if sub.browser:
            if sub in container.browsers_waiting:
                container.browsers_waiting.remove(sub)
            return
        container.remove_consumer(sub)
        inflight = sub.drain()
        if isinstance(container, SubscriptionQueue) and container.durable is None:
            # A non-durable topic subscription ends with its consumer: so do its messages.
            topic = self.topics.get(container.topic)
            if topic is not None and container in topic.subscriptions:
                topic.subscriptions.remove(container)
            container.deleted = True
            return
        if isinstance(container, SubscriptionQueue):
            container.subscriber = None
        self._release(container, inflight)

    def _release(self, container: Queue, messages: Iterable[Message]) -> None:
        """Messages a consumer got but did not acknowledge: back to their place, redelivered."""
        if container.deleted:
            return
        for msg in messages:
            msg.redelivery_count += 1
            container.pending.push(msg)
        container.stale = True
        self._schedule(container)

    def ack(
        self, sub: Subscription, message_id: str, tx: Transaction | None = None, *, forwarded_to: str | None = None
    ) -> asyncio.Future[None] | None:
        """``forwarded_to``: the message left over a bridge to the store of that identity: a
        tombstone saying so is stored in the same write as the removal (for the receiver's RESOLVE)."""
        return self._settle(sub, message_id, tx, nack=False, forwarded_to=forwarded_to)

    def nack(self, sub: Subscription, message_id: str, tx: Transaction | None = None) -> asyncio.Future[None] | None:
        return self._settle(sub, message_id, tx, nack=True)

    def _settle(
        self, sub: Subscription, message_id: str, tx: Transaction | None, nack: bool, forwarded_to: str | None = None
    ) -> asyncio.Future[None] | None:
        verb = "NACK" if nack else "ACK"
        if not sub.explicit_ack:
            raise RequestRefused(
                f"Unexpected {verb} received for message-id [{message_id}]: subscription uses ack:auto"
            )
        messages = sub.take(message_id, cumulative=sub.ack_mode is AckMode.CLIENT)
        if messages is None:
            raise RequestRefused(f"Unexpected {verb} received for message-id [{message_id}]")
        container = sub.container
        container.stale = True  # prefetch room
        self._schedule(container)
        if tx is not None:
            tx.acks.append(TxAck(sub, messages, nack))
            return None
        ops: list[Op] = []
        self._complete(container, messages, nack, ops)
        if forwarded_to is not None:
            for removed in [op for op in ops if isinstance(op, RemoveOp)]:
                ops += self._tombstone(removed.message_id, forwarded_to)
            # The receiver holds the message until this is stored (COMMIT): a short wait for the
            # next write (a producer's send) costs it a millisecond and spares a write of its own.
            return self._defer(ops, FORWARDED_ACK_LINGER_S)
        return self._log(ops)

    def _tombstone(self, message_id: str, receiver: str) -> list[Op]:
        ops: list[Op] = []
        if message_id in self.forwarded:
            ops.append(RemoveOp(message_id, FORWARDED_CONTAINER))  # one record per id in every store
        self.forwarded[message_id] = receiver
        record = Message(message_id, FORWARDED_CONTAINER, {RECEIVER_HEADER: receiver}, b"", True)
        record.container = FORWARDED_CONTAINER
        ops.append(AddOp(record))
        return ops

    def _complete(self, container: Queue, messages: list[Message], nack: bool, ops: list[Op]) -> None:
        for msg in messages:
            msg.location = Location.NOWHERE
            if nack:
                self._poison(container, msg, ops)
            else:
                self._forget(container, msg, ops)

    def _forget(self, container: Queue, msg: Message, ops: list[Op]) -> None:
        """The message leaves its container for good."""
        msg.location = Location.NOWHERE
        if msg.persistent and container.journaled and not container.deleted:
            ops.append(RemoveOp(msg.message_id, container.name))

    # -- poison, redelivery, dead letters, expiry -----------------------------------------------

    def _poison(self, container: Queue, msg: Message, ops: list[Op]) -> None:
        """A NACKed message: redeliver it later (redelivery plugin) or dead-letter it."""
        settings = self.settings.redelivery
        if settings is not None:
            policy = settings.policies.lookup(msg.destination)
            if policy is not None:
                if policy.allows(msg.redelivery_count):
                    self._redeliver_later(container, msg, policy.delay_ms(msg.redelivery_count), ops)
                elif settings.send_to_dlq_if_max_retries_exceeded:
                    self._dead_letter(container, msg, ops)
                else:
                    log.debug("Discarding %s: it exceeded maximumRedeliveries", msg.message_id)
                    self._forget(container, msg, ops)
                return
            if not settings.fallback_to_dead_letter:
                log.debug("Discarding %s: no redelivery policy for %s and no fallback", msg.message_id, msg.destination)
                self._forget(container, msg, ops)
                return
        self._dead_letter(container, msg, ops)

    def _redeliver_later(self, container: Queue, msg: Message, delay_ms: int, ops: list[Op]) -> None:
        self._forget(container, msg, ops)
        if container.deleted:
            return
        again = msg.copy()
        again.redelivery_count = msg.redelivery_count + 1
        again.deliver_at = self.now_ms() + delay_ms
        again.headers["redeliveryDelay"] = str(delay_ms)  # the property ActiveMQ's plugin sets
        self._accept(container, again, ops)

    def _dead_letter(self, container: Queue, msg: Message, ops: list[Op], cause: str | None = None) -> None:
        self._forget(container, msg, ops)
        origin = msg.destination
        strategy = self.settings.policies.policy_for(origin).dead_letter
        expired = cause is not None
        if not strategy.accepts(msg.persistent, expired):
            log.debug("Dropping %s from %s (dead letter strategy %s)", msg.message_id, origin, strategy.kind.value)
            return
        target = strategy.dead_letter_destination(origin)
        if target == msg.destination:
            log.debug("Not re-adding %s to its own dead letter queue %s", msg.message_id, target)
            return
        headers = dict(msg.headers)
        headers.setdefault("original-destination", msg.destination)
        headers.setdefault("originalExpiration", str(msg.expires))
        if not msg.persistent:
            headers["originalDeliveryMode"] = "NON_PERSISTENT"
        if cause is not None:
            headers["dlqDeliveryFailureCause"] = cause
        dead = msg.copy(destination=target, headers=headers)
        dead.persistent = True
        dead.redelivery_count = 0
        dead.deliver_at = 0
        dead.container = ""
        dead.expires = self.now_ms() + strategy.expiration_ms if strategy.expiration_ms > 0 else 0
        self._route(dead, ops)

    def _expire(self, container: Queue, msg: Message, ops: list[Op]) -> None:
        cause = f"java.lang.Throwable: Message Expired. Expiration:{msg.expires}"
        self._dead_letter(container, msg, ops, cause)

    def _wake_at(self, when_ms: int, kind: _Wakeup, container: Queue, msg: Message) -> None:
        heapq.heappush(self._wakeups, (when_ms, next(self._wakeup_serial), kind, container, msg))
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self.closed or not self._wakeups:
            return
        first = self._wakeups[0][0]
        if self._timer is not None:
            if self._timer_at <= first:
                return
            self._timer.cancel()
        delay = max(0.0, (first - self.now_ms()) / 1000.0)
        self._timer = self._loop.call_later(delay, self._on_timer)
        self._timer_at = first

    def _on_timer(self) -> None:
        self._timer = None
        self.tick()

    def tick(self) -> None:
        """Deliver scheduled messages and expire messages whose time has come."""
        if self.closed:
            return
        now = self.now_ms()
        ops: list[Op] = []
        while self._wakeups and self._wakeups[0][0] <= now:
            _when, _serial, kind, container, msg = heapq.heappop(self._wakeups)
            if container.deleted or msg.container != container.name:
                continue
            if kind is _Wakeup.DELIVER:
                if container.scheduled.discard(msg):
                    if msg.expires and msg.expires <= now:
                        self._expire(container, msg, ops)
                    else:
                        container.pending.push(msg)
                        container.stale = True
                        self._schedule(container)
            elif self._take_waiting(container, msg):
                self._expire(container, msg, ops)
        self._arm_timer()
        self._log(ops)

    @staticmethod
    def _take_waiting(container: Queue, msg: Message) -> bool:
        """Take a message that waits in ``container`` (not delivered) out of it."""
        if msg.location is Location.FRESH:
            msg.location = Location.NOWHERE  # its entry in ``fresh`` is skipped
            return True
        return container.pending.discard(msg) or container.scheduled.discard(msg)

    # -- transactions ---------------------------------------------------------------------------

    def commit(self, tx: Transaction) -> asyncio.Future[None] | None:
        ops: list[Op] = []
        for msg in tx.sends:
            self._route(msg, ops)
        for ack in tx.acks:
            self._complete(ack.subscription.container, ack.messages, ack.nack, ops)
        tx.sends.clear()
        tx.acks.clear()
        return self._log(ops)

    def abort(self, tx: Transaction) -> None:
        """Drop the transaction's sends; its acknowledged messages are unacknowledged again.

        Like ActiveMQ: they stay with their consumer (their ack ids are valid again) and are
        redelivered only if that subscription closes without acknowledging them.
        """
        tx.sends.clear()
        for ack in tx.acks:
            sub = ack.subscription
            if sub.closed:
                self._release(sub.container, ack.messages)
            else:
                sub.restore(ack.messages)
                sub.container.stale = True
        tx.acks.clear()

    # -- dispatch -------------------------------------------------------------------------------

    def wake(self, containers: Iterable[Queue]) -> None:
        """A client can take more messages (its socket drained): look at its containers again."""
        for container in containers:
            container.stale = True
            self._schedule(container)

    def _schedule(self, container: Queue) -> None:
        self._dirty.add(container)
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        if self.closed:
            return
        dirty, self._dirty = self._dirty, set()
        work = [c for c in dirty if c.has_work() and not c.deleted]
        if not work:
            return
        # One fence check per dispatch round: a deposed master must not hand out messages.
        if not self._fence():
            return
        now = self.now_ms()
        ops: list[Op] = []
        for container in work:
            self._dispatch_container(container, now, ops)
        if self._auto_removed:
            ops += self._auto_removed
            self._auto_removed = []
        self._log(ops)

    def _dispatch_container(self, container: Queue, now: int, ops: list[Op]) -> None:
        browsers, container.browsers_waiting = container.browsers_waiting, []
        for browser in browsers:
            self._browse(container, browser, now)
        if container.stale:
            container.stale = False
            for msg in container.fresh:
                if msg.location is Location.FRESH:
                    container.pending.push(msg)
            container.fresh.clear()
            self._scan(container, now, ops)
            return
        fresh, container.fresh = container.fresh, []
        for i, msg in enumerate(fresh):
            if msg.location is not Location.FRESH:
                continue
            if not container.any_capacity():
                for rest in fresh[i:]:
                    if rest.location is Location.FRESH:
                        container.pending.push(rest)
                return
            if msg.expires and msg.expires <= now:
                msg.location = Location.NOWHERE
                self._expire(container, msg, ops)
                continue
            sub = container.choose(msg)
            if sub is None:
                container.pending.push(msg)
            else:
                self._hand_over(container, sub, msg)

    def _scan(self, container: Queue, now: int, ops: list[Op]) -> None:
        """Offer every pending message, in order, to the consumers; keep the ones nobody takes."""
        skipped: list[Message] = []
        while container.any_capacity():
            msg = container.pending.pop()
            if msg is None:
                break
            if msg.expires and msg.expires <= now:
                self._expire(container, msg, ops)
                continue
            sub = container.choose(msg)
            if sub is None:
                skipped.append(msg)
            else:
                self._hand_over(container, sub, msg)
        for msg in skipped:
            container.pending.push(msg)

    def _hand_over(self, container: Queue, sub: Subscription, msg: Message) -> None:
        if sub.explicit_ack:
            sub.track(msg)
        else:
            # ack:auto is at-most-once, like ActiveMQ: consumed as it is handed to the socket.
            msg.location = Location.NOWHERE
            if msg.persistent and container.journaled:
                self._auto_removed.append(RemoveOp(msg.message_id, container.name))
        if container.exclusive is not sub:
            container.rotate(sub)
        sub.client.deliver(sub, msg)

    def _browse(self, queue: Queue, browser: Subscription, now: int) -> None:
        """A snapshot of the queue (undelivered and unacknowledged messages), then the end marker."""
        if browser.closed:
            return
        snapshot = queue.waiting() + queue.inflight()
        snapshot.sort(key=lambda m: (-m.priority if queue.policy.prioritized_messages else 0, m.seq))
        for msg in snapshot:
            if msg.expires and msg.expires <= now:
                continue
            if browser.selector is not None and not browser.selector.matches(resolver(msg)):
                continue
            browser.client.deliver(browser, msg)
        browser.client.browse_end(browser)

    def close(self) -> None:
        """Stop all activity; the state is dropped with this object."""
        self.closed = True
        self._dirty.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._deferred_timer is not None:
            self._deferred_timer.cancel()
            self._deferred_timer = None
