"""The message model shared by the broker core and the journal, and destination names."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

QUEUE_PREFIX = "/queue/"
TOPIC_PREFIX = "/topic/"
# Temporary destinations as other connections see them (ActiveMQ's STOMP names); their owner uses
# /temp-queue/<name> and /temp-topic/<name>, which its connection translates.
REMOTE_TEMP_QUEUE_PREFIX = "/remote-temp-queue/"
REMOTE_TEMP_TOPIC_PREFIX = "/remote-temp-topic/"
TEMP_QUEUE_PREFIX = "/temp-queue/"
TEMP_TOPIC_PREFIX = "/temp-topic/"
DLQ_NAME = "ActiveMQ.DLQ"
DLQ = QUEUE_PREFIX + DLQ_NAME
# The brokers a message was forwarded through (comma-separated names), kept with the message's
# headers so that it survives a restart; never shown to a consumer.
BROKER_PATH_HEADER = "pybroker-broker-path"
# Marks a message received over a bridge in its stored record, with the sender's store identity as
# its value: it is held (not delivered) until the sender confirms it gave the message up (COMMIT), or,
# after a failed bridge or a restart, until a broker serving that store says so (RESOLVE).
HELD_HEADER = "pybroker-held"
DEFAULT_PRIORITY = 4  # JMS default, and what ActiveMQ stamps on a STOMP message without a priority header


class Location(IntEnum):
    """Where a message is inside the broker (runtime only)."""

    NOWHERE = 0  # not yet accepted, or settled (acked, dead-lettered, dropped)
    FRESH = 1  # accepted, waiting for its first dispatch attempt
    PENDING = 2  # waiting in its container's pending messages
    SCHEDULED = 3  # waiting for its deliver_at time
    INFLIGHT = 4  # delivered, not yet acknowledged


@dataclass(slots=True, eq=False)
class Message:
    """One message in one container (a queue, or one topic subscription).

    ``headers`` are the sender's own headers (JMS properties and the STOMP headers passed through);
    the protocol fields have their own attributes. A topic message is copied per subscription, so
    every object has a single place in the broker at a time.
    """

    message_id: str
    destination: str
    headers: dict[str, str]
    body: bytes
    persistent: bool
    priority: int = DEFAULT_PRIORITY
    expires: int = 0  # ms since the epoch; 0 = never
    timestamp: int = 0  # ms since the epoch, when the broker accepted it (or the sender's timestamp header)
    redelivery_count: int = 0  # ActiveMQ's redeliveryCounter; JMSXDeliveryCount = this + 1
    deliver_at: int = 0  # ms since the epoch: not dispatched before (redelivery delay, AMQ_SCHEDULED_DELAY)
    group_id: str | None = None  # JMSXGroupID
    group_seq: int = 0  # JMSXGroupSeq (0: not given)
    # The connection that sent it, until it is routed (noLocal); not kept, so a stored message
    # never holds a closed connection in memory.
    publisher: object | None = field(default=None, repr=False)
    # The queue name, or the durable subscription key, it is stored under ("" = its destination).
    container: str = ""
    # Runtime state, never journaled:
    seq: int = 0  # position in its container; redeliveries go back to the same place
    location: Location = Location.NOWHERE
    heap_token: int = 0  # matches its live entry in a pending or scheduled heap
    group_first: bool = False  # this delivery is the first of its group for the consumer
    # Per-delivery encoded headers, cached per protocol version: a message is often delivered many times.
    encoded: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def redelivered(self) -> bool:
        return self.redelivery_count > 0

    def copy(self, destination: str | None = None, headers: dict[str, str] | None = None) -> Message:
        """A fresh copy for another container (same id, same body object)."""
        return Message(
            self.message_id,
            self.destination if destination is None else destination,
            dict(self.headers) if headers is None else headers,
            self.body,
            self.persistent,
            priority=self.priority,
            expires=self.expires,
            timestamp=self.timestamp,
            redelivery_count=self.redelivery_count,
            deliver_at=self.deliver_at,
            group_id=self.group_id,
            group_seq=self.group_seq,
        )


def is_queue(name: str) -> bool:
    return name.startswith(QUEUE_PREFIX) or name.startswith(REMOTE_TEMP_QUEUE_PREFIX)


def is_topic(name: str) -> bool:
    return name.startswith(TOPIC_PREFIX) or name.startswith(REMOTE_TEMP_TOPIC_PREFIX)


def is_temporary(name: str) -> bool:
    return name.startswith(REMOTE_TEMP_QUEUE_PREFIX) or name.startswith(REMOTE_TEMP_TOPIC_PREFIX)


def physical_name(name: str) -> str:
    """The name without its STOMP prefix: ``/queue/a.b`` -> ``a.b``."""
    for prefix in (QUEUE_PREFIX, TOPIC_PREFIX, REMOTE_TEMP_QUEUE_PREFIX, REMOTE_TEMP_TOPIC_PREFIX):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def qualified_name(name: str) -> str:
    """ActiveMQDestination.toString: ``queue://a``, ``topic://a``, ``temp-queue://ID:...``."""
    if name.startswith(QUEUE_PREFIX):
        return "queue://" + physical_name(name)
    if name.startswith(TOPIC_PREFIX):
        return "topic://" + physical_name(name)
    if name.startswith(REMOTE_TEMP_QUEUE_PREFIX):
        return "temp-queue://" + physical_name(name)
    return "temp-topic://" + physical_name(name)


class MessageIds:
    """Message ids ``ID:<brokerName>-<epoch>-<n>``: unique across masters because every term has its epoch."""

    def __init__(self, broker_name: str, epoch: int) -> None:
        self._prefix = f"ID:{broker_name}-{epoch}-"
        self._next = 0

    def next(self) -> str:
        self._next += 1
        return f"{self._prefix}{self._next}"
