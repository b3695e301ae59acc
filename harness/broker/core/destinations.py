"""Message containers and their consumers: queues, topics and the per-subscription queues of a topic.

A :class:`Queue` holds messages until a consumer takes them: new messages (``fresh``), messages
waiting for a consumer (``pending``) and messages waiting for their delivery time (``scheduled``).
Consumers are kept in dispatch order like ActiveMQ's: highest consumer priority first (with the
default useConsumerPriority), and a consumer that got a message moves to the back of its priority
(round robin). An exclusive consumer, while there is one, is the only one served.

A :class:`Topic` copies each message into the :class:`SubscriptionQueue` of every subscription
whose selector (and noLocal) accepts it: durable subscriptions keep theirs while offline.

A :class:`Subscription` is one consumer of a container: a client's subscription, its ack mode,
prefetch window and unacknowledged messages. Containers and consumers refer to each other, so they
live in one module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Protocol

from harness.broker.core.groups import GroupMap, make_group_map
from harness.broker.core.pending import PendingMessages, ScheduledMessages
from harness.broker.core.policy import PolicyEntry
from harness.broker.core.properties import resolver
from harness.broker.core.selector import Selector
from harness.broker.message import Location, Message
from harness.broker.store.contract import DurableSubscriptionRecord


class AckMode(StrEnum):
    AUTO = "auto"
    CLIENT = "client"  # cumulative: an ACK covers every earlier unacknowledged message of the subscription
    CLIENT_INDIVIDUAL = "client-individual"


class Client(Protocol):
    """What the core needs from a connection."""

    def deliver(self, subscription: Subscription, message: Message) -> None: ...

    def can_receive(self) -> bool: ...

    def browse_end(self, subscription: Subscription) -> None: ...


_delivery_numbers = itertools.count(1)


class Subscription:
    """A consumer of one container: a queue, or the message queue of one topic subscription.

    ``destination`` is what the client subscribed to; ``container`` holds the messages it takes.
    A selector on a queue subscription is applied at dispatch; a topic subscription's selector is
    applied when its container is filled, so it is kept on the container instead.
    """

    def __init__(
        self,
        client: Client,
        sub_id: str,
        destination: str,
        container: Queue,
        ack_mode: AckMode,
        prefetch: int,
        *,
        selector: Selector | None = None,
        exclusive: bool = False,
        priority: int = 0,
        browser: bool = False,
        accepts: Callable[[Message], bool] | None = None,
    ) -> None:
        """``accepts``: a per-message filter besides the selector (a network bridge's forwarding rules)."""
        self.client = client
        self.accepts = accepts
        self.sub_id = sub_id
        self.destination = destination
        self.container = container
        self.ack_mode = AckMode.AUTO if browser else ack_mode
        self.prefetch = max(1, prefetch)
        self.selector = selector
        self.exclusive = exclusive
        self.priority = priority
        self.browser = browser
        self.inflight: dict[str, Message] = {}  # delivered, not yet acknowledged; in delivery order
        self._delivery_no: dict[str, int] = {}
        self.closed = False

    @property
    def explicit_ack(self) -> bool:
        return self.ack_mode is not AckMode.AUTO

    def has_capacity(self) -> bool:
        if self.closed or self.browser:
            return False
        if self.explicit_ack and len(self.inflight) >= self.prefetch:
            return False
        return self.client.can_receive()

    def track(self, message: Message) -> None:
        """A message handed to the client that it must acknowledge."""
        message.location = Location.INFLIGHT
        self.inflight[message.message_id] = message
        self._delivery_no[message.message_id] = next(_delivery_numbers)

    def take(self, message_id: str, cumulative: bool) -> list[Message] | None:
        """Remove an acknowledged message (and, cumulatively, all delivered before it) from inflight."""
        if message_id not in self.inflight:
            return None
        if not cumulative:
            self._delivery_no.pop(message_id, None)
            return [self.inflight.pop(message_id)]
        taken: list[Message] = []
        while True:
            key = next(iter(self.inflight))
            taken.append(self.inflight.pop(key))
            self._delivery_no.pop(key, None)
            if key == message_id:
                return taken

    def restore(self, messages: Iterable[Message]) -> None:
        """Put messages back as unacknowledged, in their delivery order (an aborted transaction's acks)."""
        items = list(self.inflight.values())
        for msg in messages:
            msg.location = Location.INFLIGHT
            self._delivery_no.setdefault(msg.message_id, 0)
            items.append(msg)
        items.sort(key=lambda m: self._delivery_no.get(m.message_id, 0))
        self.inflight = {m.message_id: m for m in items}

    def drain(self) -> list[Message]:
        """All unacknowledged messages, in delivery order, taken out."""
        messages = list(self.inflight.values())
        self.inflight.clear()
        self._delivery_no.clear()
        return messages


class Queue:
    def __init__(
        self,
        name: str,
        policy: PolicyEntry,
        *,
        journaled: bool = True,
        owner: object | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.journaled = journaled  # persistent messages go to the journal (not for temporary ones)
        self.owner = owner  # the connection of a temporary queue
        self.consumers: list[Subscription] = []
        self.browsers_waiting: list[Subscription] = []
        self.fresh: list[Message] = []
        self.pending = PendingMessages(policy.prioritized_messages)
        self.scheduled = ScheduledMessages()
        self.groups: GroupMap[Subscription] = make_group_map(policy.groups)
        self.exclusive: Subscription | None = None
        # Something changed on the consumer side (a consumer came, left or got room, a group owner
        # changed): every pending message must be considered again, not only the fresh ones.
        self.stale = True
        self.deleted = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- contents ---------------------------------------------------------------------------------

    def waiting(self) -> list[Message]:
        """Messages not yet delivered (scheduled ones excluded), in dispatch order."""
        messages = list(self.pending)
        messages += [m for m in self.fresh if m.location is Location.FRESH]
        return sorted(messages, key=self._order_key)

    def _order_key(self, msg: Message) -> tuple[int, int]:
        return (-msg.priority if self.policy.prioritized_messages else 0, msg.seq)

    def inflight(self) -> list[Message]:
        return [m for sub in self.consumers for m in sub.inflight.values()]

    def depth(self) -> int:
        fresh = sum(m.location is Location.FRESH for m in self.fresh)
        return len(self.pending) + fresh + len(self.scheduled) + sum(len(s.inflight) for s in self.consumers)

    def has_work(self) -> bool:
        return bool(self.fresh) or bool(self.browsers_waiting) or (self.stale and len(self.pending) > 0)

    # -- consumers --------------------------------------------------------------------------------

    def _wants_exclusive(self, sub: Subscription) -> bool:
        return sub.exclusive or self.policy.all_consumers_exclusive_by_default

    def _better_exclusive(self, sub: Subscription) -> bool:
        # The first exclusive consumer owns the queue; one with a higher priority takes it over.
        return self._wants_exclusive(sub) and (self.exclusive is None or sub.priority > self.exclusive.priority)

    def add_consumer(self, sub: Subscription) -> None:
        self.consumers.append(sub)
        self._order()
        if self._better_exclusive(sub):
            self.exclusive = sub
        self.stale = True

    def remove_consumer(self, sub: Subscription) -> None:
        if sub in self.consumers:
            self.consumers.remove(sub)
        self.groups.remove_owner(sub)
        if self.exclusive is sub:
            self.exclusive = None
            for other in self.consumers:
                if self._better_exclusive(other):
                    self.exclusive = other
        self.stale = True

    def candidates(self) -> list[Subscription]:
        return [self.exclusive] if self.exclusive is not None else self.consumers

    def any_capacity(self) -> bool:
        return any(sub.has_capacity() for sub in self.candidates())

    def rotate(self, sub: Subscription) -> None:
        """Round robin: the consumer that just got a message goes to the back of its priority."""
        consumers = self.consumers
        if len(consumers) > 1 and consumers[-1] is not sub:
            consumers.remove(sub)
            consumers.append(sub)
            self._order()

    def _order(self) -> None:
        if self.policy.use_consumer_priority:
            self.consumers.sort(key=lambda s: -s.priority)  # stable: round robin within a priority

    # -- dispatch decisions -----------------------------------------------------------------------

    def choose(self, msg: Message) -> Subscription | None:
        """The consumer that gets ``msg`` now, if any (ActiveMQ: canSelect, then assignMessageGroup)."""
        resolve = None
        for sub in self.candidates():
            if not sub.has_capacity():
                continue
            if sub.accepts is not None and not sub.accepts(msg):
                continue
            if sub.selector is not None:
                if resolve is None:
                    resolve = resolver(msg)
                if not sub.selector.matches(resolve):
                    continue
            if msg.group_id is not None and not self._assign_group(sub, msg):
                continue
            return sub
        return None

    def _assign_group(self, sub: Subscription, msg: Message) -> bool:
        group = msg.group_id
        assert group is not None
        owner = self.groups.get(group)
        if msg.group_seq == 1 or owner is None:
            # A new group, a reopened one (sequence 1), or one whose owner left or was evicted.
            self.groups.put(group, sub)
            msg.group_first = True
            self.stale = True
            return True
        if owner is sub:
            msg.group_first = False
            if msg.group_seq < 0:  # a negative sequence closes the group
                self.groups.remove_group(group)
                self.stale = True
            return True
        return False


class SubscriptionQueue(Queue):
    """The messages of one topic subscription; ``durable`` ones are journaled and outlive their consumer."""

    def __init__(
        self,
        name: str,
        topic: str,
        policy: PolicyEntry,
        *,
        selector: Selector | None = None,
        no_local: bool = False,
        subscriber: object | None = None,
        durable: DurableSubscriptionRecord | None = None,
    ) -> None:
        super().__init__(name, policy, journaled=durable is not None)
        self.topic = topic
        self.selector = selector
        self.no_local = no_local
        self.subscriber = subscriber  # the connection that subscribed (noLocal), while it is connected
        self.durable = durable

    def wants(self, msg: Message) -> bool:
        if self.no_local and msg.publisher is not None and msg.publisher is self.subscriber:
            return False
        return self.selector is None or self.selector.matches(resolver(msg))


class Topic:
    def __init__(self, name: str, owner: object | None = None) -> None:
        self.name = name
        self.owner = owner  # the connection of a temporary topic
        self.subscriptions: list[SubscriptionQueue] = []
        self.deleted = False
