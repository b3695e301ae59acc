"""One consumer: a client's subscription, its ack mode, prefetch window and unacknowledged messages."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from harness.broker.core.selector import Selector
from harness.broker.message import Location, Message

if TYPE_CHECKING:
    from harness.broker.core.destinations import Queue


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
    ) -> None:
        self.client = client
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
