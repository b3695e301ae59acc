"""The message model shared by the broker core and the journal."""

from __future__ import annotations

from dataclasses import dataclass, field

QUEUE_PREFIX = "/queue/"
TOPIC_PREFIX = "/topic/"
DLQ = QUEUE_PREFIX + "ActiveMQ.DLQ"


@dataclass(slots=True, eq=False)
class Message:
    """One message. ``headers`` are the sender's own headers (protocol headers are added on delivery)."""

    message_id: str
    destination: str
    headers: dict[str, str]
    body: bytes
    persistent: bool
    seq: int = 0  # position in its queue; redeliveries go back to the same place
    redelivered: bool = False
    # Per-delivery encoded headers, cached per protocol version: a message is often delivered many times.
    encoded: dict[str, bytes] = field(default_factory=dict, repr=False)


class MessageIds:
    """Message ids ``ID:<brokerName>-<epoch>-<n>``: unique across masters because every term has its epoch."""

    def __init__(self, broker_name: str, epoch: int) -> None:
        self._prefix = f"ID:{broker_name}-{epoch}-"
        self._next = 0

    def next(self) -> str:
        self._next += 1
        return f"{self._prefix}{self._next}"
